/*
 * test_dictorder.c - Python 2.7's dict iteration order (report/dictorder.c).
 *
 * The expected orders were printed by CPython 2.7.18 itself:
 *     d = {}
 *     for k in keys: d[k] = 0
 *     print([keys.index(k) for k in d])
 * for the keys each test builds (tests/e2e/test_interop.py compares whole
 * tables of real 2.7 dumps with 2.7's pstats as well).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "import/pstats.h"
#include "report/dictorder.h"
#include "util/marshal_out.h"
#include "util/util.h"

/* Loads a dump of the keys (file[i], line[i], name[i]), no callers. */
static void load(struct pstats *st, char **files, const int64_t *lines, char **names, size_t n)
{
    struct strbuf sb;
    strbuf_init(&sb);
    marshal_out_dict_begin(&sb);
    for (size_t i = 0; i < n; i++) {
        marshal_out_tuple(&sb, 3);
        marshal_out_str(&sb, files[i]);
        marshal_out_int(&sb, lines[i]);
        marshal_out_str(&sb, names[i]);
        marshal_out_tuple(&sb, 5);
        for (int j = 0; j < 4; j++)
            marshal_out_int(&sb, 1);
        marshal_out_dict_begin(&sb);
        marshal_out_dict_end(&sb);
    }
    marshal_out_dict_end(&sb);
    assert_int_equal(pstats_load(st, (const uint8_t *)sb.buf, sb.len), 0);
    strbuf_release(&sb);
}

static void test_dictorder_py27_small_table(void **state)
{
    char *files[] = {"~", "tiny.py", "tiny.py", "~", ""};
    int64_t lines[] = {0, 1, 1, 0, -1}; /* -1 hashes as -2, "" as 0 */
    char *names[] = {"<built-in method exec>", "f", "<module>",
                     "<method 'disable' of '_lsprof.Profiler' objects>", ""};
    struct pstats st;
    load(&st, files, lines, names, 5);
    size_t order[5];
    assert_int_equal(dictorder_py27(&st, order), 0);
    const size_t want[] = {0, 3, 2, 1, 4};
    assert_memory_equal(order, want, sizeof(want));
    pstats_release(&st);
}

static void test_dictorder_py27_through_two_resizes(void **state)
{
    /* 40 keys: the table grows from 8 to 32 slots at the 6th key and to
     * 128 at the 22nd, re-inserting in slot order each time. */
    char *files[40], *names[40];
    int64_t lines[40];
    for (int i = 0; i < 40; i++) {
        files[i] = xasprintf("mod%d.py", i % 7);
        names[i] = xasprintf("fn%d", i);
        lines[i] = i * 3;
    }
    struct pstats st;
    load(&st, files, lines, names, 40);
    size_t order[40];
    assert_int_equal(dictorder_py27(&st, order), 0);
    const size_t want[] = {3,  27, 10, 4,  5,  0,  25, 15, 39, 24, 1,  35, 36, 31,
                           29, 18, 38, 14, 37, 2,  7,  26, 8,  11, 28, 34, 12, 20,
                           22, 23, 9,  6,  19, 32, 33, 30, 16, 17, 21, 13};
    assert_memory_equal(order, want, sizeof(want));
    pstats_release(&st);
    for (int i = 0; i < 40; i++) {
        free(files[i]);
        free(names[i]);
    }
}

static void test_dictorder_py27_empty_dump(void **state)
{
    struct pstats st;
    load(&st, NULL, NULL, NULL, 0);
    size_t order[1];
    assert_int_equal(dictorder_py27(&st, order), 0);
    pstats_release(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dictorder_py27_small_table),
        cmocka_unit_test(test_dictorder_py27_through_two_resizes),
        cmocka_unit_test(test_dictorder_py27_empty_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
