/*
 * test_diff.c - two profiles compared (report/diff.c): the function-level
 * pair over one frame numbering, shares per function ordered by change,
 * and the text table.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "profile/profile.h"
#include "report/diff.h"

static uint32_t py(struct profile *p, const char *name, const char *file, int line)
{
    return profile_frame_id(p, name, file, line, PF_PYTHON);
}

/* before: main -> parse (80), main -> render (20), by line, in samples.
 * after: a cProfile-like tree in microseconds, other lines, a full venv
 * path for the library, and a function only it has. */
static void make_pair(struct profile **before, struct profile **after)
{
    struct profile *b = profile_new();
    uint32_t main_b = py(b, "main", "app.py", 30), parse_b = py(b, "parse", "app.py", 12);
    uint32_t render_b = py(b, "render", "app.py", 21), render_b2 = py(b, "render", "app.py", 22);
    uint32_t lib_b = py(b, "dumps", "/usr/lib/python3.11/json/__init__.py", 231);
    profile_add_stack(b, (uint32_t[]){main_b, parse_b}, 2, 80);
    profile_add_stack(b, (uint32_t[]){main_b, render_b}, 2, 10);
    profile_add_stack(b, (uint32_t[]){main_b, render_b2, lib_b}, 3, 10);
    struct profile *a = profile_new();
    profile_set_meta_str(a, &profile_meta(a)->unit, "microseconds");
    uint32_t main_a = py(a, "main", "app.py", 28), parse_a = py(a, "parse", "app.py", 10);
    uint32_t render_a = py(a, "render", "app.py", 19), cache = py(a, "cache", "app.py", 40);
    uint32_t lib_a = py(a, "dumps", "/srv/venv/../../usr/lib/python3.11/json/__init__.py", 0);
    profile_set_first_line(a, render_a, 19);
    profile_add_stack(a, (uint32_t[]){main_a, parse_a}, 2, 200);
    profile_add_stack(a, (uint32_t[]){main_a, render_a}, 2, 500);
    profile_add_stack(a, (uint32_t[]){main_a, render_a, lib_a}, 3, 200);
    profile_add_stack(a, (uint32_t[]){main_a, cache}, 2, 100);
    *before = b;
    *after = a;
}

static const struct diff_row *row_of(const struct diff_pair *d, const struct diff_row *rows,
                                     size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (!strcmp(profile_frame(d->after, rows[i].frame)->name, name))
            return &rows[i];
    }
    return NULL;
}

static int near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

static void test_diff_pair_is_function_level_over_one_numbering(void **state)
{
    struct profile *b, *a;
    make_pair(&b, &a);
    struct diff_pair d;
    diff_pair_build(b, a, &d);
    /* main, parse, render (both lines), dumps (one path once normalised
     * and shortened), cache: five functions in both copies. */
    assert_int_equal(profile_frame_count(d.before), 5);
    assert_int_equal(profile_frame_count(d.after), 5);
    for (uint32_t id = 0; id < 5; id++) {
        const struct profile_frame *x = profile_frame(d.before, id);
        const struct profile_frame *y = profile_frame(d.after, id);
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->file, y->file);
        assert_int_equal(x->line, 0);
    }
    assert_string_equal(profile_frame(d.after, 4)->name, "cache");
    assert_string_equal(profile_frame(d.after, 3)->file, "lib/python3.11/json/__init__.py");
    assert_int_equal(profile_total_weight(d.before), 100);
    assert_int_equal(profile_total_weight(d.after), 1000);
    assert_string_equal(profile_meta(d.after)->unit, "microseconds");
    diff_pair_release(&d);
    profile_free(b);
    profile_free(a);
}

static void test_diff_rows_are_shares_biggest_change_first(void **state)
{
    struct profile *b, *a;
    make_pair(&b, &a);
    struct diff_pair d;
    diff_pair_build(b, a, &d);
    size_t count;
    struct diff_row *rows = diff_rows(&d, &count);
    assert_int_equal(count, 5);
    /* parse: own 80% -> 20% (-60); render 10% -> 50% (+40); cache 0 -> 10%;
     * dumps 10% -> 20%; main has no own time (0 change, total 100%). */
    assert_string_equal(profile_frame(d.after, rows[0].frame)->name, "parse");
    assert_string_equal(profile_frame(d.after, rows[1].frame)->name, "render");
    const struct diff_row *r = row_of(&d, rows, count, "render");
    assert_true(near(r->own_before, 0.10) && near(r->own_after, 0.50));
    assert_true(near(r->total_before, 0.20) && near(r->total_after, 0.70));
    r = row_of(&d, rows, count, "cache");
    assert_true(near(r->own_before, 0) && near(r->own_after, 0.10));
    r = row_of(&d, rows, count, "main");
    assert_true(near(r->total_before, 1) && near(r->total_after, 1));
    assert_ptr_equal(r, &rows[4]);
    free(rows);
    diff_pair_release(&d);
    profile_free(b);
    profile_free(a);
}

static void test_diff_print_table(void **state)
{
    struct profile *b, *a;
    make_pair(&b, &a);
    struct diff_pair d;
    diff_pair_build(b, a, &d);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct diff_print_options opt = {"v1.prof", "v2\n.prof", 2};
    assert_int_equal(diff_print(&d, out, &opt), 0);
    fclose(out);
    assert_non_null(strstr(buf, "  before: v1.prof (100 samples)\n"));
    assert_non_null(strstr(buf, "  after:  v2?.prof (0.001 s)\n")); /* one line, whatever */
    assert_non_null(strstr(buf, "The 2 biggest changes of 5 functions.\n"));
    assert_non_null(strstr(buf, "      80.00%      20.00%   -60.00        80.00%       20.00%"
                                "   -60.00  parse (app.py)\n"));
    assert_non_null(strstr(buf, "      10.00%      50.00%   +40.00        20.00%       70.00%"
                                "   +50.00  render (app.py:19)\n"));
    assert_null(strstr(buf, "cache"));
    free(buf);
    diff_pair_release(&d);
    profile_free(b);
    profile_free(a);
}

static void test_diff_of_empty_profiles(void **state)
{
    struct profile *b = profile_new(), *a = profile_new();
    struct diff_pair d;
    diff_pair_build(b, a, &d);
    size_t count;
    free(diff_rows(&d, &count));
    assert_int_equal(count, 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct diff_print_options opt = {"a", "b", -1};
    assert_int_equal(diff_print(&d, out, &opt), 0);
    fclose(out);
    assert_non_null(strstr(buf, "function\n"));
    free(buf);
    diff_pair_release(&d);
    profile_free(b);
    profile_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_pair_is_function_level_over_one_numbering),
        cmocka_unit_test(test_diff_rows_are_shares_biggest_change_first),
        cmocka_unit_test(test_diff_print_table),
        cmocka_unit_test(test_diff_of_empty_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
