/*
 * test_format.c - the writer table (lookup by name and by file name, the
 * longest extension winning), the format list, path shortening and frame
 * classes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format/format.h"

static const char *writer_for(const char *path)
{
    const struct format_writer *w = format_for_path(path);
    return w ? w->name : NULL;
}

static void test_format_for_path_picks_by_extension(void **state)
{
    assert_string_equal(writer_for("x.svg"), "flamegraph");
    assert_string_equal(writer_for("out/profile.folded"), "collapsed");
    assert_string_equal(writer_for("x.txt"), "collapsed");
    assert_string_equal(writer_for("x.collapsed"), "collapsed");
    assert_string_equal(writer_for("x.json"), "speedscope");
    assert_string_equal(writer_for("x.speedscope.json"), "speedscope");
    assert_null(writer_for("x.bin"));
    assert_null(writer_for("svg"));
    assert_null(writer_for(""));
}

static void test_format_for_path_longest_extension_wins(void **state)
{
    assert_string_equal(writer_for("x.trace.json"), "chrometrace");
    assert_string_equal(writer_for("/tmp/a.b.trace.json"), "chrometrace");
    assert_string_equal(writer_for("x.trace.json.json"), "speedscope");
    assert_string_equal(writer_for("xtrace.json"), "speedscope");
}

static void test_format_for_path_interop_formats(void **state)
{
    assert_string_equal(writer_for("app_profile.prof"), "pstats");
    assert_string_equal(writer_for("x.pstats"), "pstats");
    assert_string_equal(writer_for("cpu.pb.gz"), "pprof");
    assert_string_equal(writer_for("cpu.pprof"), "pprof");
    assert_null(writer_for("x.gz"));
    assert_null(writer_for("x.pb"));
    assert_ptr_equal(format_find("pstats")->write, pstats_write);
    assert_ptr_equal(format_find("pprof")->write, pprof_write);
    assert_int_equal(format_find("pstats")->needs_timeline, 0);
    assert_int_equal(format_find("pprof")->needs_timeline, 0);
    /* pstats' columns are seconds: it cannot hold record --memory's bytes. */
    assert_int_equal(format_find("pstats")->time_only, 1);
    assert_int_equal(format_find("pprof")->time_only, 0);
    assert_int_equal(format_find("flamegraph")->time_only, 0);
}

static void test_format_for_path_ignores_case(void **state)
{
    assert_string_equal(writer_for("PROFILE.SVG"), "flamegraph");
    assert_string_equal(writer_for("x.Trace.Json"), "chrometrace");
}

static void test_format_find_by_name(void **state)
{
    const char *names[] = {"flamegraph", "collapsed", "speedscope", "chrometrace"};
    for (size_t i = 0; i < 4; i++) {
        const struct format_writer *w = format_find(names[i]);
        assert_non_null(w);
        assert_string_equal(w->name, names[i]);
        assert_non_null(w->write);
        assert_true(strlen(w->description) > 10);
    }
    assert_null(format_find("svg"));
    assert_null(format_find(""));
    assert_null(format_find("Flamegraph"));
    assert_int_equal(format_find("flamegraph")->needs_timeline, 0);
    assert_int_equal(format_find("collapsed")->needs_timeline, 0);
    assert_int_equal(format_find("speedscope")->needs_timeline, 1);
    assert_int_equal(format_find("chrometrace")->needs_timeline, 1);
    assert_ptr_equal(format_find("collapsed")->write, collapsed_write);
}

static void test_format_list_names_every_writer(void **state)
{
    char buf[256];
    format_list(buf, sizeof(buf));
    /* Table order; writers added later come after these four. */
    const char *first = "flamegraph, collapsed, speedscope, chrometrace";
    assert_memory_equal(buf, first, strlen(first));
    assert_true(buf[strlen(first)] == '\0' || buf[strlen(first)] == ',');
    char small[8];
    format_list(small, sizeof(small));
    assert_string_equal(small, "flamegr");
}

/* Checks format_short_path(path) == want, and that it points into path. */
static void check_short(const char *path, const char *want)
{
    const char *got = format_short_path(path);
    assert_string_equal(got, want);
    assert_true(got >= path && got <= path + strlen(path));
}

static void test_format_short_path_cuts_site_packages_to_the_package(void **state)
{
    check_short("/venv/lib/python3.11/site-packages/requests/api.py", "requests/api.py");
    check_short("/usr/lib/python3/dist-packages/apt/cache.py", "apt/cache.py");
    check_short("/a/site-packages/pkg/_vendor/site-packages/inner.py", "inner.py");
    check_short("site-packages/x.py", "x.py");
}

static void test_format_short_path_keeps_stdlib_from_lib_python(void **state)
{
    check_short("/usr/lib/python3.11/json/decoder.py", "lib/python3.11/json/decoder.py");
    check_short("/root/.pyenv/versions/3.12.1/lib/python3.12/threading.py",
                "lib/python3.12/threading.py");
    check_short("/usr/lib64/python3.9/os.py", "lib64/python3.9/os.py");
    check_short("/opt/py/lib/python3.13t/socket.py", "lib/python3.13t/socket.py");
    check_short("/usr/lib/python2.7/os.py", "lib/python2.7/os.py");
}

static void test_format_short_path_leaves_other_paths_alone(void **state)
{
    check_short("/home/me/app/server.py", "/home/me/app/server.py");
    check_short("app.py", "app.py");
    check_short("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap>");
    check_short("/src/mylib/python3.11/x.py", "/src/mylib/python3.11/x.py");
    check_short("/usr/lib/python3/x.py", "/usr/lib/python3/x.py");
    check_short("/x/not-site-packages/y.py", "/x/not-site-packages/y.py");
    check_short("/x/site-packages/", "/x/site-packages/");
    check_short("", "");
}

/* Checks format_display_path(path, full) == want. */
static void check_display(const char *path, int full, const char *want)
{
    char *got = format_display_path(path, full);
    assert_string_equal(got, want);
    free(got);
}

static void test_format_display_path_resolves_dot_segments(void **state)
{
    check_display("/a/fmt/../b.py", 1, "/a/b.py");
    check_display("/a/./b//c.py", 1, "/a/b/c.py");
    check_display("/a/../../b.py", 1, "/b.py"); /* nothing above the root */
    check_display("/..", 1, "/");
    check_display("x/../../y.py", 1, "../y.py"); /* relative: leading .. stays */
    check_display("../../y.py", 1, "../../y.py");
    check_display("a/..", 1, ".");
    check_display("<frozen importlib._bootstrap>", 1, "<frozen importlib._bootstrap>");
    check_display("", 1, "");
    /* Shortened after normalising: the stdlib part is found through "..". */
    check_display("/usr/lib/python3.11/json/../json/decoder.py", 0,
                  "lib/python3.11/json/decoder.py");
    check_display("/srv/venv/lib/python3.11/site-packages/flask/../flask/app.py", 0,
                  "flask/app.py");
}

static int frame_class(const char *file, enum profile_frame_kind kind)
{
    struct profile_frame f = {"f", file, 1, kind, 0};
    return format_frame_class(&f);
}

static void test_format_frame_class_by_kind_and_path(void **state)
{
    assert_int_equal(frame_class("/home/me/app.py", PF_PYTHON), 0);
    assert_int_equal(frame_class("/usr/lib/python3.11/json/decoder.py", PF_PYTHON), 1);
    assert_int_equal(frame_class("<frozen importlib._bootstrap>", PF_PYTHON), 1);
    assert_int_equal(frame_class("/venv/lib/python3.11/site-packages/flask/app.py", PF_PYTHON), 2);
    assert_int_equal(frame_class("/usr/lib/python3/dist-packages/apt/x.py", PF_PYTHON), 2);
    assert_int_equal(frame_class("", PF_THREAD), 3);
    assert_int_equal(frame_class("", PF_PROCESS), 3);
    assert_int_equal(frame_class("", PF_ENDPOINT), 3);
    assert_int_equal(frame_class("", PF_NATIVE), 4);
    assert_int_equal(frame_class("libz.so.1.2.13", PF_NATIVE_CODE), 5);
    /* A cProfile dump's built-ins have no file: C code, not user code. */
    assert_int_equal(frame_class("", PF_PYTHON), 4);
    assert_int_equal(frame_class("<string>", PF_PYTHON), 0);
}

static void test_format_raw_is_py_spys_name_for_collapsed(void **state)
{
    assert_ptr_equal(format_find("raw"), format_find("collapsed"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_raw_is_py_spys_name_for_collapsed),
        cmocka_unit_test(test_format_for_path_picks_by_extension),
        cmocka_unit_test(test_format_for_path_longest_extension_wins),
        cmocka_unit_test(test_format_for_path_ignores_case),
        cmocka_unit_test(test_format_find_by_name),
        cmocka_unit_test(test_format_list_names_every_writer),
        cmocka_unit_test(test_format_for_path_interop_formats),
        cmocka_unit_test(test_format_short_path_cuts_site_packages_to_the_package),
        cmocka_unit_test(test_format_short_path_keeps_stdlib_from_lib_python),
        cmocka_unit_test(test_format_short_path_leaves_other_paths_alone),
        cmocka_unit_test(test_format_display_path_resolves_dot_segments),
        cmocka_unit_test(test_format_frame_class_by_kind_and_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
