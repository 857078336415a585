/*
 * test_top.c - the `top` model and view: own and total counts (recursion
 * counted once), idle kept apart, the sliding window's exact edges, reset,
 * compaction, thread names; rows merged across threads or split, filtered to
 * one thread, sorted four ways and reversed; the key table and its help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tui/top.h"
#include "tui/view.h"

#define MS 1000000ull
#define SEC 1000000000ull

static void tick(struct top_model *m, uint64_t now_ns)
{
    struct top_tick t = {.now_ns = now_ns, .gil_held = 1, .threads = 1, .active = 1};
    top_model_tick(m, &t);
}

/* Adds a stack given leaf first as "name:line" strings (first line = 1). */
static void add(struct top_model *m, uint64_t thread, int idle, const char *const *frames,
                size_t depth)
{
    struct top_frame f[16];
    char names[16][32];
    for (size_t i = 0; i < depth; i++) {
        const char *colon = strchr(frames[i], ':');
        snprintf(names[i], sizeof(names[i]), "%.*s", (int)(colon - frames[i]), frames[i]);
        f[i] = (struct top_frame){names[i], "app.py", atoi(colon + 1), 1};
    }
    struct top_stack s = {
        .thread = thread, .thread_name = "", .frames = f, .depth = depth, .idle = idle};
    top_model_add(m, &s);
}

static void add1(struct top_model *m, const char *frame)
{
    add(m, 1, 0, &frame, 1);
}

/* The snapshot entry of thread index `thread` for name (and line, if > 0), or NULL. */
static const struct top_entry *find_in(const struct top_snapshot *s, uint32_t thread, int funcs,
                                       const char *name, int line)
{
    const struct top_entry *e = funcs ? s->funcs : s->lines;
    size_t n = funcs ? s->nfuncs : s->nlines;
    for (size_t i = 0; i < n; i++) {
        if (e[i].thread == thread && strcmp(e[i].name, name) == 0 &&
            (line <= 0 || e[i].line == line))
            return &e[i];
    }
    return NULL;
}

/* The all-threads entry for name (and line, if > 0), or NULL. */
static const struct top_entry *find(const struct top_snapshot *s, int funcs, const char *name,
                                    int line)
{
    return find_in(s, TOP_ALL_THREADS, funcs, name, line);
}

static void test_top_own_at_the_leaf_total_once_per_stack(void **state)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    const char *stack[] = {"f:10", "g:20", "f:30", "main:40"}; /* f recursive via g */
    tick(m, 0);
    add(m, 1, 0, stack, 4);
    top_model_snapshot(m, &s);
    const struct top_entry *f10 = find(&s, 0, "f", 10), *f30 = find(&s, 0, "f", 30);
    assert_non_null(f10);
    assert_non_null(f30);
    assert_int_equal(f10->own[0], 1);
    assert_int_equal(f10->total[0], 1);
    assert_int_equal(f30->own[0], 0);
    assert_int_equal(f30->total[0], 1);
    const struct top_entry *ff = find(&s, 1, "f", 0);
    assert_int_equal(ff->own[0], 1);
    assert_int_equal(ff->total[0], 1); /* two frames of f, one sample */
    assert_int_equal(ff->line, 1);     /* function rows carry the first line */
    assert_int_equal(find(&s, 1, "g", 0)->own[0], 0);
    assert_int_equal(find(&s, 1, "main", 0)->total[0], 1);
    assert_int_equal(s.samples[0], 1);
    assert_int_equal(s.ticks, 1);
    /* the same again for the one thread */
    assert_int_equal(s.nlines, 2 * 4);
    assert_int_equal(s.nfuncs, 2 * 3);
    assert_int_equal(find_in(&s, 0, 1, "f", 0)->total[0], 1);
    assert_int_equal(find_in(&s, 0, 0, "f", 10)->own[0], 1);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_idle_samples_are_counted_apart(void **state)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    const char *busy = "work:5", *waiting = "wait:9";
    tick(m, 0);
    add(m, 1, 0, &busy, 1);
    add(m, 2, 1, &waiting, 1);
    top_model_snapshot(m, &s);
    assert_int_equal(find(&s, 0, "work", 5)->own[0], 1);
    assert_int_equal(find(&s, 0, "wait", 9)->own[0], 0);
    assert_int_equal(find(&s, 0, "wait", 9)->own[1], 1);
    assert_int_equal(find(&s, 0, "wait", 9)->total[1], 1);
    assert_int_equal(s.samples[0], 1);
    assert_int_equal(s.samples[1], 1);
    assert_int_equal(s.nthreads, 2);
    top_snapshot_release(&s);
    top_model_free(m);
}

/* Window 1 s: buckets of 100 ms. A sample taken in bucket k counts until
 * the window reaches bucket k + 10. */
static void test_top_window_forgets_exactly_one_window_later(void **state)
{
    struct top_model *m = top_model_new(1.0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    tick(m, 0);
    add1(m, "old:1");
    tick(m, 950 * MS); /* bucket 9 */
    add1(m, "late:2");
    tick(m, 999 * MS);
    top_model_snapshot(m, &s);
    assert_non_null(find(&s, 0, "old", 1));
    assert_int_equal(s.ticks, 3);

    tick(m, 1000 * MS); /* bucket 10: bucket 0 falls out */
    top_model_snapshot(m, &s);
    assert_null(find(&s, 0, "old", 1));
    assert_null(find(&s, 1, "old", 0));
    assert_non_null(find(&s, 0, "late", 2));
    assert_int_equal(s.ticks, 3); /* ticks at 950, 999 and 1000 ms */
    assert_int_equal(s.samples[0], 1);

    tick(m, 1899 * MS); /* bucket 18: bucket 9 still in */
    top_model_snapshot(m, &s);
    assert_non_null(find(&s, 0, "late", 2));
    tick(m, 1900 * MS); /* bucket 19: gone */
    top_model_snapshot(m, &s);
    assert_null(find(&s, 0, "late", 2));
    assert_int_equal(s.samples[0], 0);
    assert_int_equal(s.ticks, 3);             /* at 1000 (bucket 10), 1899 and 1900 ms */
    assert_int_equal(s.ticks_since_reset, 6); /* the run's total is not windowed */

    tick(m, 100 * SEC); /* a long jump empties everything */
    top_model_snapshot(m, &s);
    assert_int_equal(s.ticks, 1);
    assert_int_equal(s.nlines, 0);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_window_span_gives_seconds(void **state)
{
    struct top_model *m = top_model_new(1.0, 10 * MS);
    struct top_snapshot s;
    struct top_view v;
    struct top_row *rows = NULL;
    size_t cap = 0;
    top_snapshot_init(&s);
    top_view_init(&v);
    for (int i = 0; i < 300; i++) { /* 3 s at 100 Hz, f in every other tick */
        tick(m, (uint64_t)i * 10 * MS);
        add1(m, i % 2 ? "f:1" : "g:2");
    }
    top_model_snapshot(m, &s);
    /* Last tick at 2.99 s, bucket 29: the window holds buckets 20..29,
     * from 2.0 s to the end of the last tick's period at 3.0 s. */
    assert_int_equal(s.span_ns, 1000 * MS);
    assert_int_equal(s.ticks, 100);
    size_t n = top_rows(&s, &v, &rows, &cap);
    assert_int_equal(n, 2);
    assert_float_equal(rows[0].own_pct, 50.0, 1e-9);
    assert_float_equal(rows[0].own_s, 0.5, 1e-9);
    free(rows);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_all_time_never_forgets(void **state)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    tick(m, 0);
    add1(m, "first:1");
    tick(m, 100000 * SEC);
    add1(m, "later:1");
    top_model_snapshot(m, &s);
    assert_non_null(find(&s, 0, "first", 1));
    assert_int_equal(s.ticks, 2);
    assert_int_equal(s.span_ns, 100000 * SEC + 10 * MS);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_reset_forgets_counts_but_not_names(void **state)
{
    struct top_model *m = top_model_new(5, 10 * MS);
    struct top_snapshot before, after;
    top_snapshot_init(&before);
    top_snapshot_init(&after);
    tick(m, 0);
    add1(m, "f:1");
    top_model_snapshot(m, &before);
    top_model_reset(m);
    top_model_snapshot(m, &after);
    assert_int_equal(after.nlines, 0);
    assert_int_equal(after.nthreads, 0);
    assert_int_equal(after.ticks, 0);
    assert_int_equal(after.ticks_since_reset, 0);
    assert_int_equal(after.span_ns, 0);
    assert_string_equal(before.lines[0].name, "f"); /* still readable */
    tick(m, 7 * SEC);                               /* a new window starts here */
    add1(m, "g:1");
    top_model_snapshot(m, &after);
    assert_non_null(find(&after, 0, "g", 1));
    assert_null(find(&after, 0, "f", 1));
    assert_int_equal(after.span_ns, 10 * MS);
    top_snapshot_release(&before);
    top_snapshot_release(&after);
    top_model_free(m);
}

static void test_top_thread_names_stick_when_unknown_later(void **state)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    struct top_frame f = {"f", "a.py", 1, 1};
    struct top_stack st = {.thread = 42, .thread_name = "worker", .frames = &f, .depth = 1};
    tick(m, 0);
    top_model_add(m, &st);
    st.thread_name = "";
    tick(m, 10 * MS);
    top_model_add(m, &st);
    top_model_snapshot(m, &s);
    assert_int_equal(s.nthreads, 1);
    assert_int_equal(s.threads[0].key, 42);
    assert_string_equal(s.threads[0].name, "worker");
    assert_int_equal(s.threads[0].samples[0], 2);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_compaction_keeps_live_entries_exact(void **state)
{
    struct top_model *m = top_model_new(1.0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    char name[32];
    tick(m, 0);
    for (int i = 0; i < 5000; i++) { /* many short-lived threads and functions */
        snprintf(name, sizeof(name), "dead%d:1", i);
        add(m, (uint64_t)(1000 + i), 0, (const char *const[]){name}, 1);
    }
    tick(m, 500 * MS); /* 20000 entries: all alive a tick ago, none dropped */
    assert_int_equal(top_model_entries(m), 4 * 5000);
    add(m, 7, 0, (const char *const[]){"live:3", "main:1"}, 2);
    assert_int_equal(top_model_entries(m), 4 * 5000 + 8);
    tick(m, 1000 * MS); /* bucket 0 falls out: the dead are the majority */
    assert_int_equal(top_model_entries(m), 8);
    add(m, 7, 0, (const char *const[]){"live:3", "main:1"}, 2);
    top_model_snapshot(m, &s);
    assert_int_equal(s.nthreads, 1);
    assert_int_equal(s.threads[0].key, 7);
    assert_int_equal(s.threads[0].samples[0], 2);
    assert_int_equal(find(&s, 0, "live", 3)->own[0], 2);
    assert_int_equal(find(&s, 1, "main", 0)->total[0], 2);
    assert_int_equal(find_in(&s, 0, 0, "live", 3)->own[0], 2); /* thread 7 is now index 0 */
    tick(m, 2600 * MS);                                        /* and later they expire normally */
    top_model_snapshot(m, &s);
    assert_int_equal(s.nlines, 0);
    top_snapshot_release(&s);
    top_model_free(m);
}

/* A server that starts a thread per request, watched for all time: the
 * all-threads counts keep every sample, the per-thread rows of threads that
 * ended are dropped, and memory stays flat. */
static void test_top_thread_churn_keeps_totals_and_bounded_memory(void **state)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    size_t most = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        tick(m, i * 10 * MS);
        add(m, 100 + i, 0, (const char *const[]){"handle:5", "serve:1"}, 2);
        if (top_model_entries(m) > most)
            most = top_model_entries(m);
    }
    assert_true(most <= 2 * 4096 + 8);
    top_model_snapshot(m, &s);
    assert_int_equal(find(&s, 0, "handle", 5)->own[0], 20000);
    assert_int_equal(find(&s, 1, "serve", 0)->total[0], 20000);
    assert_int_equal(s.samples[0], 20000);
    assert_true(s.nthreads < 2100);
    /* the thread alive now is still there, with its own rows */
    assert_int_equal(s.threads[s.nthreads - 1].key, 100 + 19999);
    assert_int_equal(find_in(&s, (uint32_t)(s.nthreads - 1), 0, "handle", 5)->own[0], 1);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_add_before_any_tick_is_ignored(void **state)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    add1(m, "f:1");
    top_model_snapshot(m, &s);
    assert_int_equal(s.nlines, 0);
    top_snapshot_release(&s);
    top_model_free(NULL);
    top_model_free(m);
}

/* A snapshot with three functions over two threads, for the view tests:
 * thread 1: a (own 6), b (own 2), both under main; thread 2: a (own 1, idle 3). */
static struct top_model *two_threads(void)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    for (int i = 0; i < 8; i++) {
        tick(m, (uint64_t)i * 10 * MS);
        add(m, 1, 0, (const char *const[]){i < 6 ? "a:10" : "b:20", "main:1"}, 2);
    }
    tick(m, 80 * MS);
    add(m, 2, 0, (const char *const[]){"a:11"}, 1);
    for (int i = 0; i < 3; i++) {
        tick(m, (uint64_t)(90 + i * 10) * MS);
        add(m, 2, 1, (const char *const[]){"a:11"}, 1);
    }
    return m;
}

static void test_top_rows_merge_threads_and_sort_by_own(void **state)
{
    struct top_model *m = two_threads();
    struct top_snapshot s;
    struct top_view v;
    struct top_row *rows = NULL;
    size_t cap = 0;
    top_snapshot_init(&s);
    top_view_init(&v);
    top_model_snapshot(m, &s);
    v.by_function = 1;
    size_t n = top_rows(&s, &v, &rows, &cap);
    assert_int_equal(n, 3); /* a (both threads merged), b, main */
    assert_string_equal(rows[0].name, "a");
    assert_int_equal(rows[0].own, 7);
    assert_null(rows[0].thread);
    assert_float_equal(rows[0].own_pct, 100.0 * 7 / 9, 1e-9);
    assert_string_equal(rows[1].name, "b");
    assert_string_equal(rows[2].name, "main");
    assert_int_equal(rows[2].total, 8);

    v.idle = 1; /* idle samples count, and so does the denominator */
    n = top_rows(&s, &v, &rows, &cap);
    assert_int_equal(rows[0].own, 10);
    assert_float_equal(rows[0].own_pct, 100.0 * 10 / 12, 1e-9);

    v.by_function = 0; /* lines: a:10 and a:11 are two rows */
    v.idle = 0;
    n = top_rows(&s, &v, &rows, &cap);
    assert_int_equal(n, 4);
    assert_int_equal(rows[0].line, 10);
    assert_int_equal(rows[0].own, 6);
    free(rows);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_rows_sort_four_ways_and_reverse(void **state)
{
    struct top_model *m = two_threads();
    struct top_snapshot s;
    struct top_view v;
    struct top_row *rows = NULL;
    size_t cap = 0;
    top_snapshot_init(&s);
    top_view_init(&v);
    top_model_snapshot(m, &s);
    /* Functions: main is on all 8 stacks of thread 1, a on 7 stacks, b on 2. */
    top_view_init(&v);
    v.by_function = 1;
    top_view_apply(&v, TOP_ACT_SORT_TOTAL, &s, 10);
    top_rows(&s, &v, &rows, &cap);
    assert_string_equal(rows[0].name, "main");
    assert_string_equal(rows[1].name, "a");
    top_view_apply(&v, TOP_ACT_SORT_TOTAL, &s, 10); /* again: reversed */
    assert_true(v.reverse);
    top_rows(&s, &v, &rows, &cap);
    assert_string_equal(rows[0].name, "b");
    assert_string_equal(rows[2].name, "main");
    top_view_apply(&v, TOP_ACT_SORT_NAME, &s, 10);
    assert_false(v.reverse);
    top_rows(&s, &v, &rows, &cap);
    assert_string_equal(rows[0].name, "a");
    assert_string_equal(rows[1].name, "b");
    assert_string_equal(rows[2].name, "main");
    v.by_function = 0;
    top_view_apply(&v, TOP_ACT_SORT_FILE, &s, 10);
    size_t n = top_rows(&s, &v, &rows, &cap);
    for (size_t i = 1; i < n; i++)
        assert_true(rows[i - 1].line < rows[i].line); /* all in app.py */
    free(rows);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_rows_split_and_one_thread(void **state)
{
    struct top_model *m = two_threads();
    struct top_snapshot s;
    struct top_view v;
    struct top_row *rows = NULL;
    size_t cap = 0;
    top_snapshot_init(&s);
    top_view_init(&v);
    top_model_snapshot(m, &s);
    v.by_function = 1;
    v.split_threads = 1;
    size_t n = top_rows(&s, &v, &rows, &cap);
    assert_int_equal(n, 4); /* a twice */
    assert_string_equal(rows[0].name, "a");
    assert_int_equal(rows[0].thread_key, 1);
    assert_non_null(rows[0].thread);

    v.split_threads = 0;
    assert_true(top_view_apply(&v, TOP_ACT_THREADS, &s, 10)); /* all -> thread 1 */
    assert_true(v.one_thread);
    assert_int_equal(v.thread, 1);
    n = top_rows(&s, &v, &rows, &cap);
    assert_int_equal(n, 3);
    assert_float_equal(rows[0].own_pct, 75.0, 1e-9); /* 6 of thread 1's 8 */
    top_view_apply(&v, TOP_ACT_THREADS, &s, 10);     /* -> thread 2 */
    assert_int_equal(v.thread, 2);
    n = top_rows(&s, &v, &rows, &cap);
    assert_int_equal(n, 1);
    assert_float_equal(rows[0].own_pct, 100.0, 1e-9);
    top_view_apply(&v, TOP_ACT_THREADS, &s, 10); /* -> all */
    assert_false(v.one_thread);
    top_view_apply(&v, TOP_ACT_THREADS, &s, 10);
    assert_true(top_view_apply(&v, TOP_ACT_ALL_THREADS, &s, 10));
    assert_false(v.one_thread);
    assert_false(top_view_apply(&v, TOP_ACT_ALL_THREADS, &s, 10));
    free(rows);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_view_cycles_threads_by_key_skipping_silent_ones(void **state)
{
    struct top_model *m = top_model_new(1.0, 10 * MS);
    struct top_snapshot s;
    struct top_view v;
    top_snapshot_init(&s);
    top_view_init(&v);
    tick(m, 0);
    add(m, 40, 0, (const char *const[]){"gone:1"}, 1);
    tick(m, 500 * MS); /* seen newest first, as CPython lists threads */
    add(m, 30, 0, (const char *const[]){"f:1"}, 1);
    add(m, 10, 1, (const char *const[]){"f:1"}, 1); /* idle only: still a thread to show */
    add(m, 20, 0, (const char *const[]){"f:1"}, 1);
    tick(m, 1000 * MS); /* thread 40's sample leaves the window */
    top_model_snapshot(m, &s);
    assert_int_equal(s.nthreads, 4);
    uint64_t want[] = {10, 20, 30};
    for (size_t i = 0; i < 3; i++) {
        assert_true(top_view_apply(&v, TOP_ACT_THREADS, &s, 10));
        assert_true(v.one_thread);
        assert_int_equal(v.thread, want[i]);
        size_t count;
        assert_int_equal(top_thread_position(&s, v.thread, &count), i + 1);
        assert_int_equal(count, 3);
    }
    top_view_apply(&v, TOP_ACT_THREADS, &s, 10);
    assert_false(v.one_thread);
    top_snapshot_release(&s);
    top_model_free(m);
}

static void test_top_view_scrolls_within_bounds(void **state)
{
    struct top_view v;
    struct top_snapshot s;
    top_snapshot_init(&s);
    top_view_init(&v);
    assert_false(top_view_apply(&v, TOP_ACT_UP, &s, 10));
    assert_true(top_view_apply(&v, TOP_ACT_PAGE_DOWN, &s, 10));
    assert_int_equal(v.scroll, 10);
    top_view_apply(&v, TOP_ACT_DOWN, &s, 10);
    top_view_apply(&v, TOP_ACT_PAGE_UP, &s, 4);
    assert_int_equal(v.scroll, 7);
    top_view_apply(&v, TOP_ACT_PAGE_UP, &s, 40);
    assert_int_equal(v.scroll, 0);
    top_view_apply(&v, TOP_ACT_DOWN, &s, 10);
    top_view_apply(&v, TOP_ACT_SORT_TOTAL, &s, 10); /* a new order starts at the top */
    assert_int_equal(v.scroll, 0);
    assert_false(top_view_apply(&v, TOP_ACT_QUIT, &s, 10));
    assert_false(top_view_apply(&v, TOP_ACT_RESET, &s, 10));
}

static void test_top_key_table_and_help_agree(void **state)
{
    char lines[64][128];
    size_t n = top_help_lines(lines, 64);
    assert_true(n >= 10);
    for (size_t i = 0; i < top_nkeys; i++) {
        const struct top_key *k = &top_keys[i];
        assert_ptr_equal(top_key_find(k->key), k); /* no key listed twice */
        int found = 0;
        for (size_t j = 0; j < n; j++) {
            found |= strstr(lines[j], k->help) != NULL && strstr(lines[j], k->label) != NULL;
        }
        assert_true(found);
    }
    const int required[] = {'1', '2', '3', '4', 'l', 'i', 't', ' ', 'r', 'q', '?'};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        assert_non_null(top_key_find(required[i]));
    assert_int_equal(top_key_find('q')->action, TOP_ACT_QUIT);
    assert_int_equal(top_key_find(' ')->action, TOP_ACT_PAUSE);
    assert_null(top_key_find('Z'));
    assert_non_null(strstr(lines[0], "1"));
}

/* top --subprocesses reads several processes per tick: their figures add up
 * in one tick, and a GIL held in any of them counts the tick once. */
static void test_top_tick_more_adds_processes_to_one_tick(void **state)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    struct top_tick first = {.now_ns = 0, .gil_held = 0, .threads = 2, .active = 1};
    struct top_tick second = {.now_ns = 0, .gil_held = 1, .threads = 3, .active = 2};
    struct top_tick third = {.now_ns = 0, .gil_held = 1, .threads = 1, .active = 0};
    top_model_tick(m, &first);
    top_model_tick_more(m, &second);
    top_model_tick_more(m, &third);
    top_model_snapshot(m, &s);
    assert_int_equal(s.ticks, 1);
    assert_int_equal(s.gil_ticks, 1);
    assert_int_equal(s.last_threads, 6);
    assert_int_equal(s.last_active, 3);
    top_model_tick(m, &first); /* the next tick starts afresh */
    top_model_snapshot(m, &s);
    assert_int_equal(s.ticks, 2);
    assert_int_equal(s.gil_ticks, 1);
    assert_int_equal(s.last_threads, 2);
    top_snapshot_release(&s);
    top_model_free(m);
}

/* A target that never stops making functions: past the cap on entries a new
 * frame is counted as "(other)" (for all threads and its thread), frames
 * already known keep their rows, and the stacks are counted for the summary. */
static void test_top_entry_cap_counts_new_frames_as_other(void **state)
{
    struct top_model *m = top_model_new(0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    top_model_set_max_entries(m, 40);
    tick(m, 0);
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "gen%d:%d", i, i + 1);
        add(m, 1, 0, (const char *const[]){name, "main:1"}, 2);
    }
    /* main and 9 gens fill the 40 entries; "(other)" adds its 4 */
    assert_int_equal(top_model_entries(m), 44);
    top_model_snapshot(m, &s);
    assert_int_equal(find(&s, 0, TOP_OTHER, 0)->own[0], 91);
    assert_int_equal(find_in(&s, 0, 1, TOP_OTHER, 0)->total[0], 91);
    assert_int_equal(find(&s, 0, "gen8", 9)->own[0], 1);
    assert_int_equal(find(&s, 0, "main", 1)->total[0], 100);
    assert_int_equal(s.other_stacks, 91);
    uint64_t all;
    assert_int_equal(top_model_other(m, &all), 91);
    assert_int_equal(all, 100);
    top_snapshot_release(&s);
    top_model_free(m);
}

/* Watched with a window, a program that makes new functions forever: the
 * rows that left the window are dropped and so are their names. */
static void test_top_window_flood_keeps_names_bounded(void **state)
{
    struct top_model *m = top_model_new(1.0, 10 * MS);
    struct top_snapshot s;
    top_snapshot_init(&s);
    char name[32];
    size_t most = 0;
    for (int i = 0; i < 100000; i++) {
        tick(m, (uint64_t)i * 10 * MS);
        snprintf(name, sizeof(name), "gen%d:%d", i, i % 1000 + 1);
        add(m, 1, 0, (const char *const[]){name, "main:1"}, 2);
        if (top_model_string_count(m) > most)
            most = top_model_string_count(m);
    }
    assert_true(most < 3 * 4096);
    top_model_snapshot(m, &s);
    assert_non_null(find(&s, 0, "gen99999", 99999 % 1000 + 1));
    assert_int_equal(find(&s, 0, "main", 1)->total[0], 100); /* the last second */
    assert_int_equal(s.other_stacks, 0);
    top_snapshot_release(&s);
    top_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_entry_cap_counts_new_frames_as_other),
        cmocka_unit_test(test_top_window_flood_keeps_names_bounded),
        cmocka_unit_test(test_top_own_at_the_leaf_total_once_per_stack),
        cmocka_unit_test(test_top_idle_samples_are_counted_apart),
        cmocka_unit_test(test_top_window_forgets_exactly_one_window_later),
        cmocka_unit_test(test_top_window_span_gives_seconds),
        cmocka_unit_test(test_top_all_time_never_forgets),
        cmocka_unit_test(test_top_reset_forgets_counts_but_not_names),
        cmocka_unit_test(test_top_thread_names_stick_when_unknown_later),
        cmocka_unit_test(test_top_compaction_keeps_live_entries_exact),
        cmocka_unit_test(test_top_thread_churn_keeps_totals_and_bounded_memory),
        cmocka_unit_test(test_top_add_before_any_tick_is_ignored),
        cmocka_unit_test(test_top_rows_merge_threads_and_sort_by_own),
        cmocka_unit_test(test_top_rows_sort_four_ways_and_reverse),
        cmocka_unit_test(test_top_rows_split_and_one_thread),
        cmocka_unit_test(test_top_view_cycles_threads_by_key_skipping_silent_ones),
        cmocka_unit_test(test_top_view_scrolls_within_bounds),
        cmocka_unit_test(test_top_key_table_and_help_agree),
        cmocka_unit_test(test_top_tick_more_adds_processes_to_one_tick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
