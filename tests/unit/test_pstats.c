/*
 * test_pstats.c - pstats in and out: loading dumps (import/pstats.c), telling
 * formats apart by content, the print_stats() table (report/table.c) against
 * text captured from CPython's pstats, and the pstats writer
 * (format/pstats.c) read back through the loader.
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
#include "import/pstats.h"
#include "import/sniff.h"
#include "profile/profile.h"
#include "pstats_fixtures.h"
#include "report/table.h"
#include "util/err.h"

#define LOAD(st, lit) pstats_load((st), (const uint8_t *)(lit), sizeof(lit) - 1)

static size_t find(const struct pstats *st, const char *file, int64_t line, const char *name)
{
    size_t i = pstats_find(st, file, line, name);
    if (i == PSTATS_NO_FUNC)
        print_error("no function %s:%lld(%s)\n", file, (long long)line, name);
    assert_true(i != PSTATS_NO_FUNC);
    return i;
}

/* Expects loading lit to fail with a message containing want. */
static void load_fails(const char *bytes, size_t len, const char *want)
{
    struct pstats st;
    assert_int_equal(pstats_load(&st, (const uint8_t *)bytes, len), -SG_ECORRUPT);
    if (!strstr(st.error, want))
        print_error("error \"%s\" lacks \"%s\"\n", st.error, want);
    assert_non_null(strstr(st.error, want));
    pstats_release(&st);
}
#define LOAD_FAILS(lit, want) load_fails((lit), sizeof(lit) - 1, (want))

/* ---- loading ---- */

static void test_pstats_load_cprofile_311_dump(void **state)
{
    struct pstats st;
    assert_int_equal(pstats_load(&st, pstats_tiny_311, pstats_tiny_311_len), 0);
    assert_int_equal(st.count, 5);
    assert_true(st.caller_tuples);
    size_t f = find(&st, "tiny.py", 1, "f");
    size_t module = find(&st, "tiny.py", 1, "<module>");
    size_t len = find(&st, "~", 0, "<built-in method builtins.len>");
    find(&st, "~", 0, "<built-in method builtins.exec>");
    find(&st, "~", 0, "<method 'disable' of '_lsprof.Profiler' objects>");
    /* f(2) recursed twice: 3 calls, 1 primitive. */
    assert_int_equal(st.funcs[f].nc, 3);
    assert_int_equal(st.funcs[f].cc, 1);
    assert_true(st.funcs[f].tt > 0 && st.funcs[f].ct >= st.funcs[f].tt);
    /* Its callers, linked to their entries: itself (2 calls, 1 primitive
     * - cProfile's caller tuples are (nc, cc, ...)) and <module>. */
    assert_int_equal(st.funcs[f].caller_count, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct pstats_caller *c = &st.funcs[f].callers[i];
        if (c->func == f) {
            assert_int_equal(c->nc, 2);
            assert_int_equal(c->cc, 1);
        } else {
            assert_int_equal(c->func, module);
            assert_string_equal(c->key.name, "<module>");
            assert_int_equal(c->nc, 1);
        }
    }
    assert_int_equal(st.funcs[len].caller_count, 1);
    assert_int_equal(st.funcs[len].callers[0].func, f);
    pstats_release(&st);
}

static void test_pstats_load_python27_dump(void **state)
{
    struct pstats st;
    assert_int_equal(pstats_load(&st, pstats_tiny_27, pstats_tiny_27_len), 0);
    assert_int_equal(st.count, 4);
    size_t f = find(&st, "tiny.py", 1, "f");
    assert_int_equal(st.funcs[f].nc, 3);
    assert_int_equal(st.funcs[f].cc, 1);
    find(&st, "~", 0, "<len>");
    pstats_release(&st);
}

static void test_pstats_count_only_callers_from_profile_module(void **state)
{
    /* {("a.py", 1, "f"): (1, 1, 0.5, 0.5, {("a.py", 2, "g"): 3})} */
    struct pstats st;
    int err = LOAD(&st, "{)\x03z\x04"
                        "a.pyi\x01\x00\x00\x00z\x01"
                        "f"
                        ")\x05i\x01\x00\x00\x00i\x01\x00\x00\x00"
                        "g\x00\x00\x00\x00\x00\x00\xe0\x3fg\x00\x00\x00\x00\x00\x00\xe0\x3f"
                        "{)\x03z\x04"
                        "a.pyi\x02\x00\x00\x00z\x01"
                        "gi\x03\x00\x00\x00"
                        "00");
    assert_int_equal(err, 0);
    assert_int_equal(st.count, 1);
    assert_false(st.caller_tuples);
    const struct pstats_caller *c = &st.funcs[0].callers[0];
    assert_int_equal(c->nc, 3);
    assert_int_equal(c->cc, 3);
    assert_true(c->tt == 0 && c->ct == 0);
    assert_int_equal(c->func, PSTATS_NO_FUNC); /* g has no entry of its own */
    assert_true(st.funcs[0].tt == 0.5);
    pstats_release(&st);
}

static void test_pstats_integer_times_and_top_level(void **state)
{
    /* Times given as ints; a caller ("jprofile", 0, "profiler") marks a
     * top-level function, as the old profile module wrote. */
    struct pstats st;
    int err = LOAD(&st, "{)\x03z\x04"
                        "a.pyi\x01\x00\x00\x00z\x01"
                        "f"
                        ")\x05i\x01\x00\x00\x00i\x01\x00\x00\x00i\x02\x00\x00\x00i\x03\x00\x00\x00"
                        "{)\x03z\x08"
                        "jprofilei\x00\x00\x00\x00z\x08"
                        "profileri\x01\x00\x00\x00"
                        "00");
    assert_int_equal(err, 0);
    assert_true(st.funcs[0].tt == 2.0 && st.funcs[0].ct == 3.0);
    assert_true(st.funcs[0].top_level);
    pstats_release(&st);
}

static void test_pstats_duplicate_keys_keep_first_place_last_value(void **state)
{
    /* Keys f, g, f: f stays first with the second value. */
    struct pstats st;
    int err =
        LOAD(&st, "{)\x03z\x01"
                  "ai\x01\x00\x00\x00z\x01"
                  "f"
                  ")\x05i\x01\x00\x00\x00i\x01\x00\x00\x00i\x00\x00\x00\x00i\x00\x00\x00\x00{0"
                  ")\x03z\x01"
                  "ai\x02\x00\x00\x00z\x01"
                  "g"
                  ")\x05i\x02\x00\x00\x00i\x02\x00\x00\x00i\x00\x00\x00\x00i\x00\x00\x00\x00{0"
                  ")\x03z\x01"
                  "ai\x01\x00\x00\x00z\x01"
                  "f"
                  ")\x05i\x07\x00\x00\x00i\x09\x00\x00\x00i\x00\x00\x00\x00i\x00\x00\x00\x00{0"
                  "0");
    assert_int_equal(err, 0);
    assert_int_equal(st.count, 2);
    assert_string_equal(st.funcs[0].key.name, "f");
    assert_int_equal(st.funcs[0].cc, 7);
    assert_int_equal(st.funcs[0].nc, 9);
    assert_string_equal(st.funcs[1].key.name, "g");
    pstats_release(&st);
}

static void test_pstats_shape_errors_name_the_byte(void **state)
{
    LOAD_FAILS("[\x00\x00\x00\x00", "top value is a list, not a dict");
    LOAD_FAILS("{)\x02NN"
               "N0",
               "expected a (file, line, name) key at byte 1, found a tuple of 2 items");
    LOAD_FAILS("{)\x03z\x01"
               "ai\x01\x00\x00\x00z\x01"
               "f)\x04NNNN0",
               "expected a (cc, nc, tt, ct, callers) tuple at byte 14, found a tuple of 4 items");
    LOAD_FAILS("{)\x03z\x01"
               "ai\x01\x00\x00\x00z\x01"
               "f"
               ")\x05g\x00\x00\x00\x00\x00\x00\x00\x00NNNN0",
               "expected a count at byte 16, found a float");
    LOAD_FAILS("{)\x03z\x01"
               "ai\x01\x00\x00\x00z\x01"
               "f"
               ")\x05i\x01\x00\x00\x00i\x01\x00\x00\x00z\x00i\x00\x00\x00\x00N0",
               "expected a time at byte 26, found a str");
    LOAD_FAILS("{)\x03z\x01"
               "ai\x01\x00\x00\x00z\x01"
               "f"
               ")\x05i\x01\x00\x00\x00i\x01\x00\x00\x00i\x00\x00\x00\x00i\x00\x00\x00\x00N0",
               "expected a callers dict at item 4 of the tuple at byte 14, found a None");
    LOAD_FAILS("{)\x03z\x01"
               "ai\x01\x00\x00\x00z\x01"
               "f"
               ")\x05i\x01\x00\x00\x00i\x01\x00\x00\x00i\x00\x00\x00\x00i\x00\x00\x00\x00"
               "{)\x03z\x01"
               "ai\x01\x00\x00\x00z\x01"
               "f)\x02NN00",
               "expected a caller's (nc, cc, tt, ct) or a count at byte 50");
    LOAD_FAILS("{)", "bad marshal data: truncated at byte 2");
}

static void test_pstats_every_prefix_of_a_real_dump_fails_cleanly(void **state)
{
    for (size_t cut = 0; cut < pstats_tiny_311_len; cut++) {
        struct pstats st;
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, pstats_tiny_311, cut);
        assert_int_equal(pstats_load(&st, copy, cut), -SG_ECORRUPT);
        assert_true(st.error[0] != '\0');
        pstats_release(&st);
        free(copy);
    }
}

/* ---- detection ---- */

static void test_sniff_format_by_content(void **state)
{
    assert_int_equal(sniff_format(pstats_tiny_311, pstats_tiny_311_len), SNIFF_PSTATS);
    assert_int_equal(sniff_format(pstats_tiny_27, pstats_tiny_27_len), SNIFF_PSTATS);
    assert_int_equal(sniff_format(pstats_table_dump, sizeof(pstats_table_dump)), SNIFF_PSTATS);
    assert_int_equal(sniff_format((const uint8_t *)"{0", 2), SNIFF_PSTATS);
#define DETECT(lit) sniff_format((const uint8_t *)(lit), sizeof(lit) - 1)
    assert_int_equal(DETECT("main;work;leaf 12\nmain 3\n"), SNIFF_COLLAPSED);
    assert_int_equal(DETECT("\n# comment\nmain (app.py:3);f (app.py:9) 7\r\n"), SNIFF_COLLAPSED);
    assert_int_equal(DETECT("{built-in method} 4\n"), SNIFF_COLLAPSED);
    assert_int_equal(DETECT("{(not marshal) 4\n"), SNIFF_COLLAPSED);
    assert_int_equal(DETECT("main;work;leaf twelve\n"), SNIFF_UNKNOWN);
    assert_int_equal(DETECT(" 12\n"), SNIFF_UNKNOWN);
    assert_int_equal(DETECT("\x1f\x8b\x08\x00"), SNIFF_UNKNOWN); /* gzip (pprof) */
    assert_int_equal(DETECT("{\"shared\": {}}"), SNIFF_UNKNOWN); /* speedscope JSON */
    assert_int_equal(DETECT(""), SNIFF_UNKNOWN);
    assert_int_equal(DETECT("{"), SNIFF_UNKNOWN);
#undef DETECT
}

/* ---- the table ---- */

/* Renders the fixture dump with keys (NULL-terminated) and limit. */
static char *render(const char *const *keys, long limit)
{
    struct pstats st;
    assert_int_equal(pstats_load(&st, pstats_table_dump, sizeof(pstats_table_dump)), 0);
    struct table_options opt = {.limit = limit};
    for (; *keys; keys++) {
        int key = table_sort_key(*keys);
        assert_true(key >= 0);
        opt.sort[opt.sort_count++] = key;
    }
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_int_equal(table_print(&st, out, &opt), 0);
    fclose(out);
    pstats_release(&st);
    return buf;
}

static void expect_table(const char *const *keys, long limit, const char *want)
{
    char *got = render(keys, limit);
    if (strcmp(got, want))
        print_error("got:\n%s\nwant:\n%s\n", got, want);
    assert_string_equal(got, want);
    free(got);
}

static void test_table_matches_pstats_cumulative(void **state)
{
    expect_table((const char *[]){"cumulative", NULL}, -1, pstats_table_cumulative);
}

static void test_table_matches_pstats_tottime(void **state)
{
    expect_table((const char *[]){"tottime", NULL}, -1, pstats_table_tottime);
}

static void test_table_matches_pstats_two_keys(void **state)
{
    expect_table((const char *[]){"ncalls", "name", NULL}, -1, pstats_table_ncalls_name);
}

static void test_table_matches_pstats_limit(void **state)
{
    expect_table((const char *[]){"name", NULL}, 2, pstats_table_name_limit_2);
}

static void test_table_matches_pstats_unsorted(void **state)
{
    expect_table((const char *[]){NULL}, -1, pstats_table_unsorted);
}

static void test_table_limit_zero_prints_only_the_header(void **state)
{
    /* pstats drops even the "Ordered by" block when nothing is left. */
    char *got = render((const char *[]){"name", NULL}, 0);
    assert_string_equal(got, "         491 function calls (313 primitive calls) in 12347.681 "
                             "seconds\n\n");
    free(got);
}

static void test_table_sort_key_abbreviations_follow_pstats(void **state)
{
    /* Checked against pstats 3.11: "cum" and "t" are ambiguous (KeyError),
     * "cu" and "tot" are not. */
    const char *ok[][2] = {{"cu", "cumulative"}, {"cumu", "cumulative"}, {"tot", "tottime"},
                           {"ti", "time"},       {"na", "name"},         {"ca", "calls"},
                           {"p", "pcalls"},      {"l", "line"},          {"f", "filename"},
                           {"mod", "module"},    {"std", "stdname"},     {"nfl", "nfl"}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int a = table_sort_key(ok[i][0]), b = table_sort_key(ok[i][1]);
        assert_true(a >= 0);
        assert_true(b >= 0);
    }
    /* An abbreviation means the same as its word: render both and compare. */
    char *a = render((const char *[]){"cu", NULL}, -1);
    assert_string_equal(a, pstats_table_cumulative);
    free(a);
    const char *bad[] = {"cum", "t", "n", "c", "", "cumulativex", "CUMULATIVE"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(table_sort_key(bad[i]), -1);
}

static void test_table_source_line_is_ctime_then_path(void **state)
{
    char buf[128];
    setenv("TZ", "UTC", 1);
    tzset();
    table_source_line(buf, sizeof(buf), "out.prof", 1700000000); /* 2023-11-14 22:13:20 */
    assert_string_equal(buf, "Tue Nov 14 22:13:20 2023    out.prof");
    table_source_line(buf, sizeof(buf), "x", 0);
    assert_string_equal(buf, "Thu Jan  1 00:00:00 1970    x");
}

/* ---- the writer ---- */

/* Writes p as pstats and loads it back into st. */
static void round_trip(const struct profile *p, struct pstats *st)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    struct format_options opt = {0};
    assert_int_equal(pstats_write(p, out, &opt), 0);
    fclose(out);
    int err = pstats_load(st, (const uint8_t *)buf, size);
    if (err)
        print_error("%s\n", st->error);
    assert_int_equal(err, 0);
    free(buf);
}

static uint32_t py(struct profile *p, const char *name, const char *file, int line)
{
    return profile_frame_id(p, name, file, line, PF_PYTHON);
}

static const struct pstats_caller *caller(const struct pstats *st, size_t callee, size_t from)
{
    for (size_t i = 0; i < st->funcs[callee].caller_count; i++) {
        if (st->funcs[callee].callers[i].func == from)
            return &st->funcs[callee].callers[i];
    }
    fail_msg("no caller edge %zu -> %zu", from, callee);
    return NULL;
}

static void test_pstats_write_times_counts_and_callers(void **state)
{
    struct profile *p = profile_new();
    profile_meta(p)->rate_hz = 100; /* 10 ms per sample */
    uint32_t thread = profile_frame_id(p, "thread main", "", 0, PF_THREAD);
    uint32_t main_a = py(p, "main", "app.py", 12), main_b = py(p, "main", "app.py", 10);
    uint32_t work = py(p, "work", "app.py", 20), leaf = py(p, "leaf", "lib.py", 5);
    uint32_t idle = profile_frame_id(p, "(idle)", "", 0, PF_NATIVE);
    /* main -> work -> leaf (30), main -> work -> work -> leaf (10: recursion),
     * main (5), thread root -> main -> work -> (idle) (5). */
    profile_add_stack(p, (uint32_t[]){main_a, work, leaf}, 3, 30);
    profile_add_stack(p, (uint32_t[]){main_b, work, work, leaf}, 4, 10);
    profile_add_stack(p, (uint32_t[]){main_a}, 1, 5);
    profile_add_stack(p, (uint32_t[]){thread, main_a, work, idle}, 4, 5);
    uint32_t unused = py(p, "never", "app.py", 40); /* on no stack: no row */
    profile_add_stack(p, &unused, 1, 0);
    struct pstats st;
    round_trip(p, &st);
    assert_int_equal(st.count, 4); /* main, work, leaf, (idle); no thread */
    /* One entry per function, at the smallest line seen. */
    size_t m = find(&st, "app.py", 10, "main"), w = find(&st, "app.py", 20, "work");
    size_t l = find(&st, "lib.py", 5, "leaf"), i = find(&st, "~", 0, "(idle)");
    assert_int_equal(m, 0); /* order of first appearance */
    assert_int_equal(st.funcs[m].nc, 50);
    assert_int_equal(st.funcs[m].cc, 50);
    assert_true(st.funcs[m].tt == 5 * 0.01);
    assert_true(st.funcs[m].ct == 50 * 0.01);
    /* work recursed in 10 samples: still counted once per stack. */
    assert_int_equal(st.funcs[w].nc, 45);
    assert_true(st.funcs[w].tt == 0);
    assert_true(st.funcs[w].ct == 45 * 0.01);
    assert_true(st.funcs[l].tt == 40 * 0.01);
    assert_true(st.funcs[i].tt == 5 * 0.01);
    assert_int_equal(st.funcs[m].caller_count, 0);
    const struct pstats_caller *c = caller(&st, w, m);
    assert_int_equal(c->nc, 45);
    assert_true(c->ct == 45 * 0.01 && c->tt == 0);
    c = caller(&st, w, w);
    assert_int_equal(c->nc, 10);
    c = caller(&st, l, w);
    assert_int_equal(c->nc, 40);
    assert_true(c->tt == 40 * 0.01);
    assert_int_equal(st.funcs[l].caller_count, 1);
    assert_true(st.caller_tuples);
    pstats_release(&st);
    profile_free(p);
}

static void test_pstats_write_no_phantom_idle_row(void **state)
{
    /* record makes its "(idle)" frame up front; without --idle no stack
     * holds it, and pstats listed it with 0 calls. */
    struct profile *p = profile_new();
    profile_meta(p)->rate_hz = 100;
    profile_frame_id(p, "(idle)", "", 0, PF_NATIVE);
    profile_add_stack(p, (uint32_t[]){py(p, "f", "a.py", 3)}, 1, 2);
    struct pstats st;
    round_trip(p, &st);
    assert_int_equal(st.count, 1);
    assert_string_equal(st.funcs[0].key.name, "f");
    pstats_release(&st);
    profile_free(p);
}

static void test_pstats_write_keys_functions_by_their_def_line(void **state)
{
    /* cProfile keys a function by its code object's first line; so do we
     * when the frames know it, whatever lines were sampled. */
    struct profile *p = profile_new();
    uint32_t a = py(p, "spin", "a.py", 5), b = py(p, "spin", "a.py", 7);
    profile_set_first_line(p, b, 3);
    profile_add_stack(p, &a, 1, 1);
    profile_add_stack(p, &b, 1, 1);
    struct pstats st;
    round_trip(p, &st);
    assert_int_equal(st.count, 1);
    assert_int_equal(st.funcs[0].key.line, 3);
    pstats_release(&st);
    profile_free(p);
}

static void test_pstats_write_unknown_rate_counts_seconds_as_samples(void **state)
{
    struct profile *p = profile_new();
    profile_add_stack(p, (uint32_t[]){py(p, "f", "a.py", 0)}, 1, 7);
    struct pstats st;
    round_trip(p, &st);
    assert_int_equal(st.count, 1);
    assert_int_equal(st.funcs[0].key.line, 0);
    assert_true(st.funcs[0].tt == 7.0 && st.funcs[0].ct == 7.0);
    pstats_release(&st);
    profile_free(p);
}

static void test_pstats_write_big_counts_and_bad_utf8(void **state)
{
    struct profile *p = profile_new();
    uint64_t big = (uint64_t)1 << 40;
    profile_add_stack(p,
                      (uint32_t[]){py(p,
                                      "bad\xff"
                                      "name",
                                      "f\xc3.py", 3)},
                      1, big);
    struct pstats st;
    round_trip(p, &st);
    assert_int_equal(st.funcs[0].nc, (int64_t)big); /* written as a 'l' long */
    assert_string_equal(st.funcs[0].key.name, "bad\xef\xbf\xbdname");
    assert_string_equal(st.funcs[0].key.file, "f\xef\xbf\xbd.py");
    pstats_release(&st);
    profile_free(p);
}

static void test_pstats_write_empty_profile(void **state)
{
    struct profile *p = profile_new();
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_int_equal(pstats_write(p, out, &(struct format_options){0}), 0);
    fclose(out);
    assert_int_equal(size, 2);
    assert_memory_equal(buf, "{0", 2);
    free(buf);
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pstats_load_cprofile_311_dump),
        cmocka_unit_test(test_pstats_load_python27_dump),
        cmocka_unit_test(test_pstats_count_only_callers_from_profile_module),
        cmocka_unit_test(test_pstats_integer_times_and_top_level),
        cmocka_unit_test(test_pstats_duplicate_keys_keep_first_place_last_value),
        cmocka_unit_test(test_pstats_shape_errors_name_the_byte),
        cmocka_unit_test(test_pstats_every_prefix_of_a_real_dump_fails_cleanly),
        cmocka_unit_test(test_sniff_format_by_content),
        cmocka_unit_test(test_table_matches_pstats_cumulative),
        cmocka_unit_test(test_table_matches_pstats_tottime),
        cmocka_unit_test(test_table_matches_pstats_two_keys),
        cmocka_unit_test(test_table_matches_pstats_limit),
        cmocka_unit_test(test_table_matches_pstats_unsorted),
        cmocka_unit_test(test_table_limit_zero_prints_only_the_header),
        cmocka_unit_test(test_table_sort_key_abbreviations_follow_pstats),
        cmocka_unit_test(test_table_source_line_is_ctime_then_path),
        cmocka_unit_test(test_pstats_write_times_counts_and_callers),
        cmocka_unit_test(test_pstats_write_no_phantom_idle_row),
        cmocka_unit_test(test_pstats_write_keys_functions_by_their_def_line),
        cmocka_unit_test(test_pstats_write_unknown_rate_counts_seconds_as_samples),
        cmocka_unit_test(test_pstats_write_big_counts_and_bad_utf8),
        cmocka_unit_test(test_pstats_write_empty_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
