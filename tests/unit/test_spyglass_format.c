/*
 * test_spyglass_format.c - spyglass's own profile file: the writer
 * (format/spyglass.c) and the reader (import/spyglass.c), round trips of
 * frames (with their first lines), stacks, memory weights and metadata,
 * files from before first lines, and bad lines named by number.
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

/* Writes p; the caller frees the text. */
static char *render(const struct profile *p, size_t *len)
{
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    assert_non_null(out);
    assert_int_equal(spyglass_write(p, out, &(struct format_options){0}), 0);
    fclose(out);
    return buf;
}

static void test_spyglass_format_round_trips_first_lines(void **state)
{
    struct profile *p = profile_new();
    profile_meta(p)->rate_hz = 100;
    uint32_t main_ = profile_frame_id(p, "main", "/srv/app.py", 12, PF_PYTHON);
    uint32_t spin = profile_frame_id(p, "spin", "/srv/app.py", 5, PF_PYTHON);
    uint32_t thread = profile_frame_id(p, "thread main", "", 0, PF_THREAD);
    profile_set_first_line(p, main_, 10);
    profile_set_first_line(p, spin, 3);
    profile_add_stack(p, (uint32_t[]){thread, main_, spin}, 3, 7);
    size_t len;
    char *text = render(p, &len);
    assert_non_null(strstr(text, "frame\tpython\t5\t/srv/app.py\tspin\t3\n"));
    assert_non_null(strstr(text, "frame\tthread\t0\t\tthread main\n")); /* none known */
    struct profile *back = profile_new();
    char err[200];
    assert_int_equal(import_spyglass(text, len, back, err, sizeof(err)), 0);
    assert_int_equal(profile_frame_count(back), 3);
    assert_int_equal(profile_frame(back, 0)->first_line, 10);
    assert_int_equal(profile_frame(back, 1)->first_line, 3);
    assert_int_equal(profile_frame(back, 1)->line, 5);
    assert_int_equal(profile_frame(back, 2)->first_line, 0);
    assert_int_equal(profile_total_weight(back), 7);
    profile_free(back);
    profile_free(p);
    free(text);
}

static void test_spyglass_format_reads_files_without_first_lines(void **state)
{
    static const char old[] = "spyglass-profile 1\n"
                              "meta\tunit\tsamples\n"
                              "frame\tpython\t5\tapp.py\tspin\n"
                              "stack\t4\t0\t0\t0\t0\t0\n";
    struct profile *p = profile_new();
    char err[200];
    assert_int_equal(import_spyglass(old, sizeof(old) - 1, p, err, sizeof(err)), 0);
    assert_int_equal(profile_frame(p, 0)->line, 5);
    assert_int_equal(profile_frame(p, 0)->first_line, 0);
    assert_int_equal(profile_total_weight(p), 4);
    profile_free(p);
}

static void test_spyglass_format_bad_first_line_names_the_line(void **state)
{
    static const char bad[] = "spyglass-profile 1\n"
                              "frame\tpython\t5\tapp.py\tspin\tx3\n";
    struct profile *p = profile_new();
    char err[200];
    assert_int_equal(import_spyglass(bad, sizeof(bad) - 1, p, err, sizeof(err)), -SG_ECORRUPT);
    assert_string_equal(err, "line 2: bad first line number 'x3'");
    static const char extra[] = "spyglass-profile 1\n"
                                "frame\tpython\t5\tapp.py\tspin\t3\t4\n";
    assert_int_equal(import_spyglass(extra, sizeof(extra) - 1, p, err, sizeof(err)), -SG_ECORRUPT);
    assert_non_null(strstr(err, "line 2: a frame line has"));
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spyglass_format_round_trips_first_lines),
        cmocka_unit_test(test_spyglass_format_reads_files_without_first_lines),
        cmocka_unit_test(test_spyglass_format_bad_first_line_names_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
