/*
 * test_lines.c - the line report (report/lines.c): which function a name
 * selects, how a stack's weights land on the innermost line of that
 * function, the def-to-end-of-body range from the source, and the columns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "profile/profile.h"
#include "report/lines.h"

#define MIB (1024ull * 1024ull)

static const char source[] = "import time\n"             /* 1 */
                             "\n"                        /* 2 */
                             "def load():\n"             /* 3 */
                             "    return bytearray(9)\n" /* 4 */
                             "\n"                        /* 5 */
                             "def main():\n"             /* 6 */
                             "    data = load()\n"       /* 7 */
                             "\n"                        /* 8 */
                             "    del data\n"            /* 9 */
                             "    time.sleep(1)\n"       /* 10 */
                             "\n"                        /* 11 */
                             "main()\n";                 /* 12 */

/* Writes the source to a temporary file; returns its path (static). */
static const char *source_file(void)
{
    static char path[] = "/tmp/spyglass-test-lines-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, source, sizeof(source) - 1), (ssize_t)(sizeof(source) - 1));
    close(fd);
    return path;
}

/* Adds a stack module:12 -> main:line [-> load:4] with memory weights. */
static void add(struct profile *p, const char *file, int main_line, int in_load,
                struct profile_memory w)
{
    uint32_t frames[3];
    size_t n = 0;
    frames[n++] = profile_frame_id(p, "<module>", file, 12, PF_PYTHON);
    frames[n++] = profile_frame_id(p, "main", file, main_line, PF_PYTHON);
    if (in_load)
        frames[n++] = profile_frame_id(p, "load", file, 4, PF_PYTHON);
    uint32_t id = profile_add_stack(p, frames, n, w.grown);
    profile_add_memory(p, id, &w);
}

static char *report(const struct profile *p, const char *what, int *rc)
{
    char *buf = NULL, err[256] = "";
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    *rc = lines_print(p, what, out, err, sizeof(err));
    fclose(out);
    if (*rc) {
        free(buf);
        return strdup(err);
    }
    return buf;
}

static void test_lines_charge_the_calling_line_and_show_the_whole_body(void **state)
{
    const char *file = source_file();
    struct profile *p = profile_new();
    profile_enable_memory(p);
    add(p, file, 7, 1, (struct profile_memory){3, 200 * MIB, 0, 210 * MIB});
    add(p, file, 7, 0, (struct profile_memory){1, 0, 0, 12 * MIB});
    add(p, file, 9, 0, (struct profile_memory){1, 0, 200 * MIB, 208 * MIB});
    int rc;
    char *text = report(p, "main", &rc);
    assert_int_equal(rc, 0);
    /* load()'s allocation counts for the line in main that called it */
    assert_non_null(strstr(text, "     7    210.0 MiB    200.0 MiB            4    80.0%"
                                 "       data = load()\n"));
    assert_non_null(strstr(text, "     9    208.0 MiB   -200.0 MiB            1    20.0%"
                                 "       del data\n"));
    /* from the def line to the end of the body, lines without figures blank */
    assert_non_null(strstr(text, "     6                                                   "
                                 "def main():\n"));
    assert_non_null(strstr(text, "    10                                                   "
                                 "    time.sleep(1)\n"));
    assert_null(strstr(text, "main()\n"));
    assert_null(strstr(text, "Function: load"));
    free(text);
    profile_free(p);
    unlink(file);
}

static void test_lines_select_by_file_tail_and_say_what_exists(void **state)
{
    struct profile *p = profile_new();
    add(p, "/nowhere/pkg/app.py", 7, 1, (struct profile_memory){1, 0, 0, 0});
    int rc;
    char *text = report(p, "pkg/app.py", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "Function: <module>"));
    assert_non_null(strstr(text, "Function: main"));
    assert_non_null(strstr(text, "Function: load"));
    assert_non_null(strstr(text, "source not readable"));
    free(text);
    text = report(p, "kg/app.py", &rc); /* a tail must start at a '/' */
    assert_int_equal(rc, -1);
    assert_non_null(strstr(text, "it has: <module>, main, load"));
    free(text);
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_charge_the_calling_line_and_show_the_whole_body),
        cmocka_unit_test(test_lines_select_by_file_tail_and_say_what_exists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
