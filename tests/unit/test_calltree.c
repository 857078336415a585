/*
 * test_calltree.c - the call tree rebuilt from a pstats dump's caller edges
 * (report/calltree.c), and pstats_save (import/pstats.c) with the marshal
 * writer under it (util/marshal_out.c).
 *
 * Dumps are built with marshal_out and loaded with pstats_load, so the tree
 * sees exactly what it would see from a file. Expected weights follow from
 * the model stated in calltree.h: a node of f standing for t seconds gives
 * each callee t x (edge time) / (f's own time + its edge times), keeps the
 * rest as own time, and own times are scaled per function to the dump's;
 * in microseconds.
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

#include "import/marshal.h"
#include "import/pstats.h"
#include "profile/profile.h"
#include "pstats_fixtures.h"
#include "report/calltree.h"
#include "util/marshal_out.h"
#include "util/util.h"

#define MAX_EDGES 8

/* One function of a hand-made dump; its key is ("app.py", line, name) with
 * line = its index + 1, or ("~", 0, name) for a builtin. Callers are named
 * by index. count_only writes bare call counts as the profile module does. */
struct fn {
    const char *name;
    int builtin;
    long cc, nc;
    double tt, ct;
    int callers[MAX_EDGES]; /* indices, -1 ends; -2 - k: a key not in the dump */
    long edge_nc[MAX_EDGES];
    double edge_ct[MAX_EDGES];
};

static void put_key(struct strbuf *sb, const struct fn *fns, int i)
{
    marshal_out_tuple(sb, 3);
    if (i < 0) { /* a caller that is not in the dump */
        marshal_out_str(sb, "gone.py");
        marshal_out_int(sb, -i);
        marshal_out_str(sb, "gone");
        return;
    }
    marshal_out_str(sb, fns[i].builtin ? "~" : "app.py");
    marshal_out_int(sb, fns[i].builtin ? 0 : i + 1);
    marshal_out_str(sb, fns[i].name);
}

/* Marshals fns[0 .. n) as a dump and loads it into st. */
static void load(struct pstats *st, const struct fn *fns, int n, int count_only)
{
    struct strbuf sb;
    strbuf_init(&sb);
    marshal_out_dict_begin(&sb);
    for (int i = 0; i < n; i++) {
        const struct fn *f = &fns[i];
        put_key(&sb, fns, i);
        marshal_out_tuple(&sb, 5);
        marshal_out_int(&sb, f->cc);
        marshal_out_int(&sb, f->nc);
        marshal_out_float(&sb, f->tt);
        marshal_out_float(&sb, f->ct);
        marshal_out_dict_begin(&sb);
        for (int e = 0; e < MAX_EDGES && f->callers[e] != -1; e++) {
            put_key(&sb, fns, f->callers[e]);
            if (count_only) {
                marshal_out_int(&sb, f->edge_nc[e]);
                continue;
            }
            marshal_out_tuple(&sb, 4);
            marshal_out_int(&sb, f->edge_nc[e]);
            marshal_out_int(&sb, f->edge_nc[e]);
            marshal_out_float(&sb, 0);
            marshal_out_float(&sb, f->edge_ct[e]);
        }
        marshal_out_dict_end(&sb);
    }
    marshal_out_dict_end(&sb);
    int err = pstats_load(st, (const uint8_t *)sb.buf, sb.len);
    if (err)
        print_error("%s\n", st->error);
    assert_int_equal(err, 0);
    strbuf_release(&sb);
}

/* The weight of the stack given as frame names, root first ("a;b;c"), or
 * 0 if the tree has no such stack. */
static uint64_t weight_of(const struct profile *p, const char *path)
{
    for (uint32_t id = 0; id < profile_stack_count(p); id++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(p, id, &depth, &weight);
        struct strbuf sb;
        strbuf_init(&sb);
        for (size_t i = 0; i < depth; i++)
            strbuf_addf(&sb, "%s%s", i ? ";" : "", profile_frame(p, frames[i])->name);
        int same = sb.buf && !strcmp(sb.buf, path);
        strbuf_release(&sb);
        if (same)
            return weight;
    }
    return 0;
}

/* Sum over the tree of the own time given to the function called name. */
static uint64_t own_total(const struct profile *p, const char *name)
{
    uint64_t sum = 0;
    for (uint32_t id = 0; id < profile_stack_count(p); id++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(p, id, &depth, &weight);
        if (depth && !strcmp(profile_frame(p, frames[depth - 1])->name, name))
            sum += weight;
    }
    return sum;
}

/* Every adjacent (caller, callee) pair of every stack is an edge of st. */
static void assert_no_invented_edges(const struct profile *p, const struct pstats *st)
{
    for (uint32_t id = 0; id < profile_stack_count(p); id++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(p, id, &depth, &weight);
        for (size_t i = 1; i < depth; i++) {
            const char *caller = profile_frame(p, frames[i - 1])->name;
            const char *callee = profile_frame(p, frames[i])->name;
            int found = 0;
            for (size_t g = 0; g < st->count && !found; g++) {
                if (strcmp(st->funcs[g].key.name, callee))
                    continue;
                for (size_t c = 0; c < st->funcs[g].caller_count; c++)
                    found |= !strcmp(st->funcs[g].callers[c].key.name, caller);
            }
            if (!found)
                print_error("invented edge %s -> %s\n", caller, callee);
            assert_true(found);
        }
    }
}

#define END                                                                                        \
    {                                                                                              \
        -1                                                                                         \
    }

static void test_calltree_shares_a_callee_by_edge_time(void **state)
{
    /* main calls a and b; both call leaf, a for 1 s of its 4 s, b for 3 s. */
    const struct fn fns[] = {
        {"main", 0, 1, 1, 0.5, 10.0, END, {0}, {0}},
        {"a", 0, 1, 1, 1.0, 2.0, {0, -1}, {1}, {2.0}},
        {"b", 0, 2, 2, 4.5, 7.5, {0, -1}, {2}, {7.5}},
        {"leaf", 0, 8, 8, 4.0, 4.0, {1, 2, -1}, {2, 6}, {1.0, 3.0}},
    };
    struct pstats st;
    load(&st, fns, 4, 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_true(fabs(r.total_s - 10.0) < 1e-9);
    assert_int_equal(weight_of(p, "main"), 500000);
    assert_int_equal(weight_of(p, "main;a"), 1000000);
    assert_int_equal(weight_of(p, "main;b"), 4500000);
    assert_int_equal(weight_of(p, "main;a;leaf"), 1000000);
    assert_int_equal(weight_of(p, "main;b;leaf"), 3000000);
    assert_int_equal(profile_total_weight(p), 10000000);
    assert_true(r.unplaced_s == 0);
    assert_int_equal(r.nodes, 5);
    assert_false(r.truncated);
    assert_string_equal(profile_meta(p)->unit, "microseconds");
    assert_no_invented_edges(p, &st);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_recursion_keeps_every_functions_own_time(void **state)
{
    /* cProfile's numbers for main -> fib(n) recursing: fib's ct counts the
     * outermost call; its self edge holds the nested calls' time. */
    const struct fn fns[] = {
        {"main", 0, 1, 1, 0.1, 3.1, END, {0}, {0}},
        {"fib", 0, 1, 177, 3.0, 3.0, {0, 1, -1}, {1, 176}, {3.0, 2.9}},
    };
    struct pstats st;
    load(&st, fns, 2, 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    /* The outermost fib holds all of fib's ct and makes at most one call
     * per call (176 of 177): its self edge takes 2.9 s, the 0.1 s left is
     * its own. Below, the nested calls split 3.0 : 2.9, a geometric series. */
    uint64_t top = weight_of(p, "main;fib");
    assert_true(llabs((long long)top - 100000) <= 2);
    uint64_t second = weight_of(p, "main;fib;fib");
    assert_true(llabs((long long)second - (long long)llround(2.9e6 * 3.0 / 5.9)) <= 2);
    assert_int_equal(own_total(p, "fib"), 3000000);
    assert_int_equal(own_total(p, "main"), 100000);
    assert_int_equal(profile_total_weight(p), 3100000);
    assert_no_invented_edges(p, &st);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_root_exec_holds_the_script_not_the_imports(void **state)
{
    /* python -m cProfile script.py on Python 3: the root exec runs the
     * script, which imports m1 and m2 through imp, which calls exec again
     * (nested). exec has callers, so "no callers" finds no root; its one
     * uncovered call is the root. */
    const struct fn fns[] = {
        {"<built-in method builtins.exec>", 1, 1, 3, 0.3, 10.0, {2, -1}, {2}, {4.1}},
        {"<module>", 0, 1, 1, 1.0, 9.9, {0, -1}, {1}, {9.9}},
        {"imp", 0, 2, 2, 0.2, 4.3, {1, -1}, {2}, {4.3}},
        {"m1", 0, 1, 1, 1.9, 1.9, {0, -1}, {1}, {1.9}},
        {"m2", 0, 1, 1, 2.0, 2.0, {0, -1}, {1}, {2.0}},
        {"work", 0, 1, 1, 4.6, 4.6, {1, -1}, {1}, {4.6}},
    };
    struct pstats st;
    load(&st, fns, 6, 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    const char *exec = "<built-in method builtins.exec>";
    char path[256];
    snprintf(path, sizeof(path), "%s;<module>;work", exec);
    assert_int_equal(weight_of(p, path), 4600000);
    snprintf(path, sizeof(path), "%s;<module>", exec);
    assert_int_equal(weight_of(p, path), 1000000);
    snprintf(path, sizeof(path), "%s;<module>;imp;%s;m1", exec, exec);
    assert_int_equal(weight_of(p, path), 1900000);
    snprintf(path, sizeof(path), "%s;<module>;imp;%s;m2", exec, exec);
    assert_int_equal(weight_of(p, path), 2000000);
    /* Not under the root exec directly, and the script not under the
     * nested exec (its one call is not nested in itself). */
    snprintf(path, sizeof(path), "%s;m1", exec);
    assert_int_equal(weight_of(p, path), 0);
    snprintf(path, sizeof(path), "%s;<module>;imp;%s;<module>", exec, exec);
    assert_int_equal(weight_of(p, path), 0);
    assert_int_equal(own_total(p, exec), 300000);
    assert_int_equal(profile_total_weight(p), 10000000);
    assert_true(fabs(r.total_s - 10.0) < 1e-9);
    assert_true(r.unplaced_s == 0);
    assert_no_invented_edges(p, &st);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_profile_module_entry_is_a_root(void **state)
{
    /* The profile module's dumps: its ("profile", 0, "profiler") entry has
     * 0 calls and calls the code it was given; callers are bare counts. */
    const struct fn fns[] = {
        {"profiler", 0, 0, 0, 0, 0, END, {0}, {0}},
        {"<code object <module>>", 0, 1, 1, 0.5, 2.5, {0, -1}, {1}, {0}},
        {"f", 0, 2, 2, 2.0, 2.0, {1, -1}, {2}, {0}},
    };
    struct pstats st;
    load(&st, fns, 3, 1);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_int_equal(weight_of(p, "<code object <module>>"), 500000);
    assert_int_equal(weight_of(p, "<code object <module>>;f"), 2000000);
    assert_int_equal(profile_total_weight(p), 2500000);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_count_only_callers_share_by_calls(void **state)
{
    /* The profile module's dumps: callers are bare call counts. */
    const struct fn fns[] = {
        {"main", 0, 1, 1, 0, 4.0, END, {0}, {0}},
        {"x", 0, 1, 1, 0, 1.0, {0, -1}, {1}, {0}},
        {"y", 0, 1, 1, 0, 3.0, {0, -1}, {1}, {0}},
        {"leaf", 0, 4, 4, 4.0, 4.0, {1, 2, -1}, {1, 3}, {0}},
    };
    struct pstats st;
    load(&st, fns, 4, 1);
    assert_false(st.caller_tuples);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_int_equal(weight_of(p, "main;x;leaf"), 1000000);
    assert_int_equal(weight_of(p, "main;y;leaf"), 3000000);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_zero_edge_times_fall_back_to_calls(void **state)
{
    /* A coarse clock: main's own and cumulative time read 0, its callee's
     * do not. The root is still main, by calls. */
    const struct fn fns[] = {
        {"main", 0, 1, 1, 0, 0, END, {0}, {0}},
        {"leaf", 1, 4, 4, 2.0, 2.0, {0, -1}, {4}, {0.0}},
    };
    struct pstats st;
    load(&st, fns, 2, 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_int_equal(weight_of(p, "main;leaf"), 2000000);
    assert_int_equal(profile_total_weight(p), 2000000);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_missing_callers_make_a_root(void **state)
{
    /* f is called by main (1 s) and by a function the dump lacks (3 s). */
    const struct fn fns[] = {
        {"main", 0, 1, 1, 0, 1.0, END, {0}, {0}},
        {"f", 0, 2, 2, 4.0, 4.0, {0, -2, -1}, {1, 1}, {1.0, 3.0}},
    };
    struct pstats st;
    load(&st, fns, 2, 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_int_equal(weight_of(p, "main;f"), 1000000);
    assert_int_equal(weight_of(p, "f"), 3000000);
    assert_no_invented_edges(p, &st);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_function_below_the_cut_goes_under_its_caller(void **state)
{
    /* leaf's 1 ms is under the 1e-6 share of main's 10,000 s that the
     * expansion stops at: it is drawn under main, not as a root. */
    const struct fn fns[] = {
        {"main", 0, 1, 1, 1e4, 1e4 + 1e-3, END, {0}, {0}},
        {"leaf", 0, 1, 1, 1e-3, 1e-3, {0, -1}, {1}, {1e-3}},
    };
    struct pstats st;
    load(&st, fns, 2, 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_int_equal(weight_of(p, "main;leaf"), 1000);
    assert_int_equal(weight_of(p, "leaf"), 0);
    assert_true(fabs(r.adopted_s - 1e-3) < 1e-12 && r.unplaced_s == 0);
    assert_no_invented_edges(p, &st);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_builtins_and_lines_in_frames(void **state)
{
    const struct fn fns[] = {
        {"main", 0, 1, 1, 0, 1.0, END, {0}, {0}},
        {"<built-in method builtins.len>", 1, 1, 1, 1.0, 1.0, {0, -1}, {1}, {1.0}},
    };
    struct pstats st;
    load(&st, fns, 2, 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_int_equal(profile_frame_count(p), 2);
    const struct profile_frame *main_frame = profile_frame(p, 0), *len = profile_frame(p, 1);
    assert_string_equal(main_frame->file, "app.py");
    assert_int_equal(main_frame->line, 1);
    assert_string_equal(len->name, "<built-in method builtins.len>");
    assert_string_equal(len->file, "");
    assert_int_equal(len->line, 0);
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_hostile_numbers_and_cycles_stay_bounded(void **state)
{
    /* NaN, infinite and negative times; a cycle nobody enters (a <-> b);
     * a dense knot where every function calls every other; and a function
     * recursing into itself with nearly all its time on the self edge. */
    struct fn fns[13] = {
        {"nan", 0, 1, 1, NAN, INFINITY, END, {0}, {0}},
        {"neg", 0, 1, 1, -5.0, -1.0, {0, -1}, {1}, {-3.0}},
        {"a", 0, 1, 1, 1.0, 1.0, {3, -1}, {1}, {1.0}},
        {"b", 0, 1, 1, 1.0, 1.0, {2, -1}, {1}, {1.0}},
    };
    for (int i = 4; i < 12; i++) {
        fns[i] = (struct fn){"knot", 0, 1, 1, 1.0, 1e9, {0}, {0}, {0}};
        for (int e = 0; e < MAX_EDGES; e++) {
            fns[i].callers[e] = 4 + e;
            fns[i].edge_nc[e] = 1;
            fns[i].edge_ct[e] = 1e9;
        }
    }
    fns[4].callers[0] = -2; /* the knot is entered from outside the dump */
    fns[12] = (struct fn){"deep", 0, 1, 1000, 1.0, 1e9, {12, -2, -1}, {999, 1}, {1e9, 1e9}};
    struct pstats st;
    load(&st, fns, 13, 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_true(r.nodes <= CALLTREE_MAX_NODES);
    assert_true(r.truncated);
    assert_int_equal(weight_of(p, "nan"), 0);
    assert_int_equal(weight_of(p, "neg"), 0);
    /* a and b call each other and nobody enters them: the tree never
     * reaches them, so they are drawn as roots of their own. */
    assert_int_equal(weight_of(p, "a"), 1000000);
    assert_int_equal(weight_of(p, "b"), 1000000);
    assert_true(r.unplaced_s >= 2.0 && r.unplaced_s < 11.0);
    /* Every function keeps its own time, the knot included. */
    assert_int_equal(own_total(p, "knot"), 8000000);
    assert_int_equal(own_total(p, "deep"), 1000000);
    assert_int_equal(profile_total_weight(p), 11000000);
    for (uint32_t id = 0; id < profile_stack_count(p); id++) {
        size_t depth;
        uint64_t weight;
        profile_stack(p, id, &depth, &weight);
        assert_true(depth <= CALLTREE_MAX_DEPTH);
    }
    profile_free(p);
    pstats_release(&st);
}

static void test_calltree_empty_dump(void **state)
{
    struct pstats st;
    assert_int_equal(pstats_load(&st, (const uint8_t *)"{0", 2), 0);
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(&st, p, &r);
    assert_int_equal(profile_stack_count(p), 0);
    assert_true(r.total_s == 0 && r.unplaced_s == 0);
    profile_free(p);
    pstats_release(&st);
}

/* ---- pstats_save and the marshal writer ---- */

/* Saves st into a buffer; the caller frees it. */
static uint8_t *save(const struct pstats *st, size_t *len)
{
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    assert_int_equal(pstats_save(st, out), 0);
    fclose(out);
    return (uint8_t *)buf;
}

static void assert_same_stats(const struct pstats *a, const struct pstats *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->caller_tuples, b->caller_tuples);
    for (size_t i = 0; i < a->count; i++) {
        const struct pstats_func *x = &a->funcs[i], *y = &b->funcs[i];
        assert_string_equal(x->key.file, y->key.file);
        assert_string_equal(x->key.name, y->key.name);
        assert_int_equal(x->key.line, y->key.line);
        assert_int_equal(x->cc, y->cc);
        assert_int_equal(x->nc, y->nc);
        assert_memory_equal(&x->tt, &y->tt, sizeof(double));
        assert_memory_equal(&x->ct, &y->ct, sizeof(double));
        assert_int_equal(x->caller_count, y->caller_count);
        for (size_t c = 0; c < x->caller_count; c++) {
            assert_string_equal(x->callers[c].key.name, y->callers[c].key.name);
            assert_int_equal(x->callers[c].func, y->callers[c].func);
            assert_int_equal(x->callers[c].nc, y->callers[c].nc);
            assert_int_equal(x->callers[c].cc, y->callers[c].cc);
            assert_memory_equal(&x->callers[c].ct, &y->callers[c].ct, sizeof(double));
        }
    }
}

static void test_pstats_save_round_trips_a_python27_dump(void **state)
{
    struct pstats st, again;
    assert_int_equal(pstats_load(&st, pstats_tiny_27, pstats_tiny_27_len), 0);
    size_t len;
    uint8_t *buf = save(&st, &len);
    /* (That Python 3 loads it is checked in tests/e2e/test_interop.py.) */
    struct marshal_doc doc;
    assert_int_equal(marshal_parse(&doc, buf, len), 0);
    assert_int_equal(doc.used, len);
    marshal_release(&doc);
    assert_int_equal(pstats_load(&again, buf, len), 0);
    assert_same_stats(&st, &again);
    free(buf);
    pstats_release(&again);
    pstats_release(&st);
}

static void test_pstats_save_keeps_count_only_callers(void **state)
{
    const struct fn fns[] = {
        {"main", 0, 1, 1, 0, 4.0, END, {0}, {0}},
        {"x", 0, 3, 3, 4.0, 4.0, {0, -1}, {3}, {0}},
    };
    struct pstats st, again;
    load(&st, fns, 2, 1);
    size_t len;
    uint8_t *buf = save(&st, &len);
    assert_int_equal(pstats_load(&again, buf, len), 0);
    assert_false(again.caller_tuples);
    assert_same_stats(&st, &again);
    free(buf);
    pstats_release(&again);
    pstats_release(&st);
}

static void test_marshal_out_ints_of_every_size(void **state)
{
    const int64_t values[] = {0,
                              1,
                              -1,
                              INT32_MAX,
                              INT32_MIN,
                              1ll << 31,
                              -(1ll << 31) - 1,
                              1ll << 45,
                              -(1ll << 45),
                              INT64_MAX,
                              INT64_MIN};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct strbuf sb;
        strbuf_init(&sb);
        marshal_out_int(&sb, values[i]);
        struct marshal_doc doc;
        assert_int_equal(marshal_parse(&doc, (const uint8_t *)sb.buf, sb.len), 0);
        assert_int_equal(doc.root->kind, MARSHAL_INT);
        assert_true(doc.root->i == values[i]);
        assert_int_equal(sb.buf[0], values[i] >= INT32_MIN && values[i] <= INT32_MAX ? 'i' : 'l');
        marshal_release(&doc);
        strbuf_release(&sb);
    }
}

static void test_marshal_out_str_replaces_invalid_utf8(void **state)
{
    struct strbuf sb;
    strbuf_init(&sb);
    marshal_out_str(&sb, "a\xff\xc3\xa9\xed\xa0\x80z");
    struct marshal_doc doc;
    assert_int_equal(marshal_parse(&doc, (const uint8_t *)sb.buf, sb.len), 0);
    assert_int_equal(doc.root->kind, MARSHAL_STR);
    /* 0xff and the encoded surrogate (3 bytes) become U+FFFD each. */
    assert_string_equal(doc.root->str,
                        "a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
    marshal_release(&doc);
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calltree_shares_a_callee_by_edge_time),
        cmocka_unit_test(test_calltree_recursion_keeps_every_functions_own_time),
        cmocka_unit_test(test_calltree_root_exec_holds_the_script_not_the_imports),
        cmocka_unit_test(test_calltree_profile_module_entry_is_a_root),
        cmocka_unit_test(test_calltree_count_only_callers_share_by_calls),
        cmocka_unit_test(test_calltree_zero_edge_times_fall_back_to_calls),
        cmocka_unit_test(test_calltree_missing_callers_make_a_root),
        cmocka_unit_test(test_calltree_function_below_the_cut_goes_under_its_caller),
        cmocka_unit_test(test_calltree_builtins_and_lines_in_frames),
        cmocka_unit_test(test_calltree_hostile_numbers_and_cycles_stay_bounded),
        cmocka_unit_test(test_calltree_empty_dump),
        cmocka_unit_test(test_pstats_save_round_trips_a_python27_dump),
        cmocka_unit_test(test_pstats_save_keeps_count_only_callers),
        cmocka_unit_test(test_marshal_out_ints_of_every_size),
        cmocka_unit_test(test_marshal_out_str_replaces_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
