/*
 * test_collapsed.c - the collapsed-stack writer (exact output, escaping,
 * sorting, merging) and reader (frame parsing, limits, error messages), and
 * the round trip from one to the other.
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
#include "import/import.h"
#include "profile/profile.h"
#include "util/err.h"
#include "util/util.h"

/* Writes p as collapsed text; the caller frees the result. */
static char *render(const struct profile *p, int full_filenames)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_non_null(out);
    struct format_options opt = {.full_filenames = full_filenames};
    assert_int_equal(collapsed_write(p, out, &opt), 0);
    fclose(out);
    return buf;
}

/* Reads text into p; returns import_collapsed's result, message in err. */
static int import_text(struct profile *p, const char *text, size_t len, char *err, size_t errsize)
{
    FILE *in = fmemopen((void *)text, len, "r");
    assert_non_null(in);
    int rc = import_collapsed(in, p, err, errsize);
    fclose(in);
    return rc;
}

static uint32_t py(struct profile *p, const char *name, const char *file, int line)
{
    return profile_frame_id(p, name, file, line, PF_PYTHON);
}

/* A small profile with every kind of frame text the writer produces. */
static struct profile *sample_profile(void)
{
    struct profile *p = profile_new();
    uint32_t thread = profile_frame_id(p, "thread \"MainThread\" (tid 42)", "", 0, PF_THREAD);
    uint32_t main_ = py(p, "<module>", "/srv/app/main.py", 10);
    uint32_t handle = py(p, "handle", "/srv/app/main.py", 0);
    uint32_t get = py(p, "Session.get", "/venv/lib/python3.11/site-packages/requests/api.py", 73);
    uint32_t loads = py(p, "loads", "/usr/lib/python3.11/json/__init__.py", 346);
    uint32_t idle = profile_frame_id(p, "(idle)", "", 0, PF_NATIVE);
    uint32_t nofile = py(p, "builtin_call", "", 0);
    profile_add_stack(p, (uint32_t[]){thread, main_, handle, get}, 4, 5);
    profile_add_stack(p, (uint32_t[]){thread, main_, handle, loads}, 4, 2);
    profile_add_stack(p, (uint32_t[]){thread, main_, idle}, 3, 7);
    profile_add_stack(p, (uint32_t[]){main_, nofile}, 2, 1);
    return p;
}

static void test_collapsed_writes_sorted_lines_root_first(void **state)
{
    struct profile *p = sample_profile();
    char *text = render(p, 0);
    assert_string_equal(text,
                        "<module> (/srv/app/main.py:10);builtin_call 1\n"
                        "thread \"MainThread\" (tid 42);<module> (/srv/app/main.py:10);(idle) 7\n"
                        "thread \"MainThread\" (tid 42);<module> (/srv/app/main.py:10);handle "
                        "(/srv/app/main.py);Session.get (requests/api.py:73) 5\n"
                        "thread \"MainThread\" (tid 42);<module> (/srv/app/main.py:10);handle "
                        "(/srv/app/main.py);loads (lib/python3.11/json/__init__.py:346) 2\n");
    free(text);
    profile_free(p);
}

static void test_collapsed_full_filenames_keeps_paths(void **state)
{
    struct profile *p = sample_profile();
    char *text = render(p, 1);
    assert_non_null(
        strstr(text, ";Session.get (/venv/lib/python3.11/site-packages/requests/api.py:73) 5\n"));
    free(text);
    profile_free(p);
}

static void test_collapsed_substitutes_separators_and_control_chars(void **state)
{
    struct profile *p = profile_new();
    uint32_t evil = py(p, "a;b\nc\rd\te\x7f", "dir;x/f\n.py", 3);
    uint32_t empty = py(p, "", "", 0);
    uint32_t endpoint = profile_frame_id(p, "GET /a;b\n", "", 0, PF_ENDPOINT);
    profile_add_stack(p, (uint32_t[]){endpoint, evil, empty}, 3, 9);
    char *text = render(p, 1);
    assert_string_equal(text, "GET /a,b?;a,b?c?d?e? (dir,x/f?.py:3);? 9\n");
    assert_null(strchr(text, '\r'));
    free(text);
    profile_free(p);
}

static void test_collapsed_merges_lines_that_print_the_same(void **state)
{
    struct profile *p = profile_new();
    uint32_t a = py(p, "get", "/venv1/lib/python3.11/site-packages/r/api.py", 5);
    uint32_t b = py(p, "get", "/venv2/lib/python3.11/site-packages/r/api.py", 5);
    profile_add_stack(p, &a, 1, 2);
    profile_add_stack(p, &b, 1, 3);
    char *text = render(p, 0);
    assert_string_equal(text, "get (r/api.py:5) 5\n");
    free(text);
    text = render(p, 1);
    assert_string_equal(text, "get (/venv1/lib/python3.11/site-packages/r/api.py:5) 2\n"
                              "get (/venv2/lib/python3.11/site-packages/r/api.py:5) 3\n");
    free(text);
    profile_free(p);
}

static void test_collapsed_skips_empty_and_weightless_stacks(void **state)
{
    struct profile *p = profile_new();
    uint32_t a = py(p, "a", "", 0);
    profile_add_stack(p, NULL, 0, 4);
    profile_add_stack(p, &a, 1, 0);
    char *text = render(p, 0);
    assert_string_equal(text, "");
    free(text);
    profile_free(p);
}

static void test_collapsed_sorts_bytewise_on_the_whole_line(void **state)
{
    /* "a b" sorts before "a;..." because ' ' < ';': the joined text decides,
     * not frame-by-frame comparison. */
    struct profile *p = profile_new();
    uint32_t a = py(p, "a", "", 0), ab = py(p, "a b", "", 0), z = py(p, "z", "", 0);
    profile_add_stack(p, (uint32_t[]){a, z}, 2, 1);
    profile_add_stack(p, &ab, 1, 1);
    profile_add_stack(p, &a, 1, 1);
    char *text = render(p, 0);
    assert_string_equal(text, "a 1\na b 1\na;z 1\n");
    free(text);
    profile_free(p);
}

static void test_collapsed_round_trip_keeps_stacks_and_weights(void **state)
{
    struct profile *p = sample_profile();
    char *first = render(p, 1);
    struct profile *q = profile_new();
    char err[128];
    assert_int_equal(import_text(q, first, strlen(first), err, sizeof(err)), 0);
    assert_int_equal(profile_stack_count(q), profile_stack_count(p));
    assert_int_equal(profile_frame_count(q), profile_frame_count(p));
    assert_int_equal(profile_total_weight(q), profile_total_weight(p));
    char *second = render(q, 1);
    assert_string_equal(second, first);

    /* Every frame of p exists in q with the same four fields. */
    for (uint32_t i = 0; i < profile_frame_count(p); i++) {
        const struct profile_frame *f = profile_frame(p, i);
        size_t before = profile_frame_count(q);
        profile_frame_id(q, f->name, f->file, f->line, f->kind);
        assert_int_equal(profile_frame_count(q), before);
    }
    free(first);
    free(second);
    profile_free(p);
    profile_free(q);
}

static const struct profile_frame *only_frame(const char *line)
{
    static struct profile *p;
    profile_free(p);
    p = profile_new();
    char err[128];
    assert_int_equal(import_text(p, line, strlen(line), err, sizeof(err)), 0);
    assert_int_equal(profile_frame_count(p), 1);
    return profile_frame(p, 0);
}

static void check_frame(const char *line, const char *name, const char *file, int lineno,
                        enum profile_frame_kind kind)
{
    const struct profile_frame *f = only_frame(line);
    assert_string_equal(f->name, name);
    assert_string_equal(f->file, file);
    assert_int_equal(f->line, lineno);
    assert_int_equal(f->kind, kind);
}

static void test_import_parses_frame_locations_and_kinds(void **state)
{
    check_frame("f (app.py:12) 1", "f", "app.py", 12, PF_PYTHON);
    check_frame("<module> (app.py) 1", "<module>", "app.py", 0, PF_PYTHON);
    check_frame("<lambda> (<string>:1) 1", "<lambda>", "<string>", 1, PF_PYTHON);
    check_frame("f (/My Dir (copy)/a.py:3) 1", "f", "/My Dir (copy)/a.py", 3, PF_PYTHON);
    check_frame("f (C:\\x.py:7) 1", "f", "C:\\x.py", 7, PF_PYTHON);
    check_frame("plain_name 1", "plain_name", "", 0, PF_PYTHON);
    check_frame("thread \"w (a.b)\" (tid 5) 1", "thread \"w (a.b)\" (tid 5)", "", 0, PF_THREAD);
    check_frame("process 99 python app.py 1", "process 99 python app.py", "", 0, PF_PROCESS);
    check_frame("GET /users/{n} 1", "GET /users/{n}", "", 0, PF_ENDPOINT);
    check_frame("(idle) 1", "(idle)", "", 0, PF_NATIVE);
    check_frame("f (note) 1", "f (note)", "", 0, PF_PYTHON);
    check_frame("f (x.py:99999999999) 1", "f", "x.py:99999999999", 0, PF_PYTHON);
    only_frame("x 1"); /* frees the last profile on the next call */
}

static void test_import_tolerates_crlf_blank_lines_bom_and_tabs(void **state)
{
    static const char text[] = "\xef\xbb\xbf"
                               "a;b 2\r\n"
                               "\n"
                               "   \r\n"
                               "a;b\t3  \n"
                               "a;c  4"; /* no final newline */
    struct profile *p = profile_new();
    char err[128];
    assert_int_equal(import_text(p, text, sizeof(text) - 1, err, sizeof(err)), 0);
    assert_int_equal(profile_stack_count(p), 2);
    size_t depth;
    uint64_t weight;
    profile_stack(p, 0, &depth, &weight);
    assert_int_equal(depth, 2);
    assert_int_equal(weight, 5);
    assert_string_equal(profile_frame(p, 0)->name, "a");
    assert_int_equal(profile_total_weight(p), 9);
    profile_free(p);
}

/* Imports text and checks the return code and message. */
static void check_error(const char *text, size_t len, int code, const char *message)
{
    struct profile *p = profile_new();
    char err[128];
    assert_int_equal(import_text(p, text, len, err, sizeof(err)), code);
    assert_string_equal(err, message);
    profile_free(p);
}

static void test_import_reports_malformed_lines(void **state)
{
    check_error("a;b 1\na;b\n", 10, -SG_ECORRUPT, "line 2: missing sample count");
    check_error("a;b x\n", 6, -SG_ECORRUPT, "line 1: missing sample count");
    check_error("a;b 1.5\n", 8, -SG_ECORRUPT, "line 1: sample count is not a whole number");
    check_error("a;b -1\n", 7, -SG_ECORRUPT, "line 1: missing sample count");
    check_error("12\n", 3, -SG_ECORRUPT, "line 1: missing sample count");
    check_error(" 12\n", 4, -SG_ECORRUPT, "line 1: no frames before the sample count");
    check_error("a;;b 1\n", 7, -SG_ECORRUPT, "line 1: empty frame name (frame 2)");
    check_error("a; 1\n", 5, -SG_ECORRUPT, "line 1: empty frame name (frame 2)");
    check_error("a 18446744073709551616\n", 23, -SG_ECORRUPT, "line 1: sample count too large");
    check_error("a 18446744073709551615\nb 1\n", 27, -SG_ECORRUPT,
                "line 2: total sample count overflows");
    check_error("a\0b 1\n", 6, -SG_ECORRUPT, "line 1: contains a NUL byte");
}

static void test_import_accepts_the_largest_count(void **state)
{
    struct profile *p = profile_new();
    char err[128];
    const char *text = "a 18446744073709551615\n";
    assert_int_equal(import_text(p, text, strlen(text), err, sizeof(err)), 0);
    assert_true(profile_total_weight(p) == UINT64_MAX);
    profile_free(p);
}

static void test_import_bounds_line_length_and_depth(void **state)
{
    size_t len = IMPORT_COLLAPSED_MAX_LINE + 10;
    char *text = xmalloc(len);
    memset(text, 'x', len);
    text[len - 3] = ' ';
    text[len - 2] = '1';
    text[len - 1] = '\n';
    check_error(text, len, -SG_ECORRUPT, "line 1: longer than 1048576 bytes");
    free(text);

    struct strbuf sb;
    strbuf_init(&sb);
    for (int i = 0; i <= IMPORT_COLLAPSED_MAX_FRAMES; i++)
        strbuf_addstr(&sb, i ? ";f" : "f");
    strbuf_addstr(&sb, " 1\n");
    check_error(sb.buf, sb.len, -SG_ECORRUPT, "line 1: more than 16384 frames");
    strbuf_release(&sb);

    strbuf_init(&sb);
    for (int i = 0; i < IMPORT_COLLAPSED_MAX_FRAMES; i++)
        strbuf_addstr(&sb, i ? ";f" : "f");
    strbuf_addstr(&sb, " 1\n");
    struct profile *p = profile_new();
    char err[128];
    assert_int_equal(import_text(p, sb.buf, sb.len, err, sizeof(err)), 0);
    size_t depth;
    uint64_t weight;
    profile_stack(p, 0, &depth, &weight);
    assert_int_equal(depth, IMPORT_COLLAPSED_MAX_FRAMES);
    profile_free(p);
    strbuf_release(&sb);
}

static void test_import_keeps_lines_before_an_error(void **state)
{
    struct profile *p = profile_new();
    const char *text = "a;b 3\nc 1\nbroken\n";
    assert_int_equal(import_text(p, text, strlen(text), NULL, 0), -SG_ECORRUPT);
    assert_int_equal(profile_stack_count(p), 2);
    assert_int_equal(profile_total_weight(p), 4);
    profile_free(p);
}

static void test_collapsed_native_frames_as_py_spy_writes_them(void **state)
{
    struct profile *p = profile_new();
    uint32_t ids[4] = {
        py(p, "<module>", "/srv/z.py", 7),
        profile_frame_id(p, "zlib_compress", "zlib.cpython-311-x86_64-linux-gnu.so", 0,
                         PF_NATIVE_CODE),
        profile_frame_id(p, "deflate", "libz.so.1.2.13", 0, PF_NATIVE_CODE),
        profile_frame_id(p, "libz.so.1.2.13+0x4a00", "libz.so.1.2.13", 0, PF_NATIVE_CODE)};
    profile_add_stack(p, ids, 4, 3);
    char *text = render(p, 0);
    assert_string_equal(text, "<module> (/srv/z.py:7);zlib_compress "
                              "(zlib.cpython-311-x86_64-linux-gnu.so);deflate (libz.so.1.2.13);"
                              "libz.so.1.2.13+0x4a00 (libz.so.1.2.13) 3\n");
    free(text);
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collapsed_native_frames_as_py_spy_writes_them),
        cmocka_unit_test(test_collapsed_writes_sorted_lines_root_first),
        cmocka_unit_test(test_collapsed_full_filenames_keeps_paths),
        cmocka_unit_test(test_collapsed_substitutes_separators_and_control_chars),
        cmocka_unit_test(test_collapsed_merges_lines_that_print_the_same),
        cmocka_unit_test(test_collapsed_skips_empty_and_weightless_stacks),
        cmocka_unit_test(test_collapsed_sorts_bytewise_on_the_whole_line),
        cmocka_unit_test(test_collapsed_round_trip_keeps_stacks_and_weights),
        cmocka_unit_test(test_import_parses_frame_locations_and_kinds),
        cmocka_unit_test(test_import_tolerates_crlf_blank_lines_bom_and_tabs),
        cmocka_unit_test(test_import_reports_malformed_lines),
        cmocka_unit_test(test_import_accepts_the_largest_count),
        cmocka_unit_test(test_import_bounds_line_length_and_depth),
        cmocka_unit_test(test_import_keeps_lines_before_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
