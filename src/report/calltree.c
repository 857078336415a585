/*
 * calltree.c - rebuild a call tree from a pstats dump's caller edges.
 *
 * First the edges are turned around: for every function f, the list of
 * functions it calls, each with the share of the callee's calls that came
 * from f (edge time over the callee's total edge time, or edge calls over
 * total calls). Then a depth-first walk from the roots adds one stack per
 * node, weighed by the node's fraction of the function's own time. See
 * calltree.h for the model and its limits.
 */
#include "report/calltree.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* One callee of a function, with the share of the callee's calls it made. */
struct callee {
    size_t func;
    double share;
};

struct callees {
    struct callee *items;
    size_t count, cap;
};

struct builder {
    const struct pstats *st;
    struct profile *p;
    struct callees *out; /* per function: whom it calls */
    double *root_share;  /* per function: share of calls from outside the dump */
    uint32_t *frame;     /* per function: its profile frame id */
    uint32_t path[CALLTREE_MAX_DEPTH];
    double min_time; /* subtrees below this many seconds are left out */
    double kept_s;   /* own time put into stacks */
    struct calltree_result *res;
};

/* A time or count from the dump as a usable non-negative number. */
static double clean(double v)
{
    return isfinite(v) && v > 0 ? v : 0;
}

/* The weight of one caller edge for sharing out the callee's time: its
 * time when by_time, else its call count. */
static double edge_weight(const struct pstats_caller *c, int by_time)
{
    return by_time ? clean(c->ct) : clean((double)c->nc);
}

/* Shares out function g's calls over its callers: appends g to each
 * caller's callee list and sets g's root share (callers not in the dump,
 * or no callers at all). */
static void share_callers(struct builder *b, size_t g)
{
    const struct pstats_func *f = &b->st->funcs[g];
    double by_time_total = 0, by_count_total = 0;
    for (size_t i = 0; i < f->caller_count; i++) {
        by_time_total += edge_weight(&f->callers[i], 1);
        by_count_total += edge_weight(&f->callers[i], 0);
    }
    int by_time = by_time_total > 0;
    double total = by_time ? by_time_total : by_count_total;
    if (total <= 0) {
        b->root_share[g] = 1;
        return;
    }
    for (size_t i = 0; i < f->caller_count; i++) {
        const struct pstats_caller *c = &f->callers[i];
        double share = edge_weight(c, by_time) / total;
        if (share <= 0)
            continue;
        if (c->func == PSTATS_NO_FUNC) {
            b->root_share[g] += share;
            continue;
        }
        struct callees *list = &b->out[c->func];
        list->items = xgrow(list->items, sizeof(*list->items), list->count + 1, &list->cap);
        list->items[list->count++] = (struct callee){g, share};
    }
}

/* Microseconds, rounded; negative and huge values are clamped. */
static uint64_t to_us(double seconds)
{
    double us = seconds * 1e6;
    if (!(us > 0))
        return 0;
    return us >= 1.8e19 ? UINT64_MAX / 2 : (uint64_t)llround(us);
}

/* Adds the node of function g at path[depth] with fraction q, and its
 * subtree. */
static void add_node(struct builder *b, size_t g, size_t depth, double q)
{
    const struct pstats_func *f = &b->st->funcs[g];
    if (depth >= CALLTREE_MAX_DEPTH || b->res->nodes >= CALLTREE_MAX_NODES) {
        b->res->truncated = 1;
        return;
    }
    b->res->nodes++;
    b->path[depth] = b->frame[g];
    double own = q * clean(f->tt);
    uint64_t weight = to_us(own);
    if (weight) {
        profile_add_stack(b->p, b->path, depth + 1, weight);
        b->kept_s += own;
    }
    const struct callees *list = &b->out[g];
    for (size_t i = 0; i < list->count; i++) {
        const struct callee *c = &list->items[i];
        double child_q = q * c->share;
        if (child_q * clean(b->st->funcs[c->func].ct) < b->min_time)
            continue;
        add_node(b, c->func, depth + 1, child_q);
    }
}

/* Interns one frame per function: builtins ("~", 0) keep only their name. */
static uint32_t function_frame(struct profile *p, const struct pstats_key *k)
{
    int builtin = k->line == 0 && !strcmp(k->file, "~");
    int line = k->line > 0 && k->line <= INT32_MAX ? (int)k->line : 0;
    return profile_frame_id(p, k->name, builtin ? "" : k->file, line, PF_PYTHON);
}

void calltree_build(const struct pstats *st, struct profile *p, struct calltree_result *res)
{
    memset(res, 0, sizeof(*res));
    profile_set_meta_str(p, &profile_meta(p)->unit, "microseconds");
    struct builder b = {.st = st, .p = p, .res = res};
    b.out = xcalloc(st->count ? st->count : 1, sizeof(*b.out));
    b.root_share = xcalloc(st->count ? st->count : 1, sizeof(*b.root_share));
    b.frame = xcalloc(st->count ? st->count : 1, sizeof(*b.frame));
    for (size_t g = 0; g < st->count; g++) {
        res->total_s += clean(st->funcs[g].tt);
        b.frame[g] = function_frame(p, &st->funcs[g].key);
        share_callers(&b, g);
    }
    b.min_time = res->total_s * CALLTREE_MIN_SHARE;
    for (size_t g = 0; g < st->count; g++) {
        if (b.root_share[g] > 0)
            add_node(&b, g, 0, b.root_share[g] > 1 ? 1 : b.root_share[g]);
    }
    res->dropped_s = res->total_s > b.kept_s ? res->total_s - b.kept_s : 0;
    for (size_t g = 0; g < st->count; g++)
        free(b.out[g].items);
    free(b.out);
    free(b.root_share);
    free(b.frame);
}
