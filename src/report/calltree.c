/*
 * calltree.c - rebuild a call tree from a pstats dump's caller edges.
 *
 * First the edges are turned around: for every function, the functions it
 * calls with the time on each edge, and each function's root time (calls no
 * edge covers). Then nodes are expanded heaviest first from a binary heap,
 * each splitting its time into own time and callee nodes; last, own times
 * are scaled per function to the dump's and written as stacks, function by
 * function, rounded to microseconds with the rounding error carried along.
 * See calltree.h for the model and its limits.
 */
#include "report/calltree.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define NO_NODE UINT32_MAX

/* One callee of a function: the time and calls on that edge. */
struct callee {
    size_t func;
    double time;
    int64_t calls;
};

struct func_info {
    struct callee *callees;
    size_t count, cap;
    int64_t out_calls; /* calls it made, over all its edges */
    double root_s;     /* time of its calls no caller edge covers */
    double root_calls; /* how many they are */
    double placed_s;   /* own time given to its nodes */
    uint32_t frame;    /* its profile frame */
};

struct node {
    uint32_t func, parent, depth;
    double time; /* what it stands for */
    double own;  /* the part that is its function's own time */
};

struct heap_item {
    double time;
    uint32_t node;
};

struct builder {
    const struct pstats *st;
    struct func_info *fi;
    struct node *nodes;
    size_t node_count, node_cap;
    struct heap_item *heap;
    size_t heap_count, heap_cap;
    double min_time; /* subtrees below this many seconds are not expanded */
    struct calltree_result *res;
};

/* A time or count from the dump as a usable non-negative number. */
static double clean(double v)
{
    return isfinite(v) && v > 0 ? v : 0;
}

static double calls_of(int64_t n)
{
    return n > 0 ? (double)n : 0;
}

static int recursive(const struct pstats_func *f)
{
    return f->cc < f->nc;
}

/* ---- edges and roots ---- */

/* A caller edge counts as a caller only if that caller is in the dump and
 * was called itself: the profile module's ("profiler", 0 calls) entry and
 * callers missing from the dump leave their calls to the roots. */
static int covered(const struct pstats *st, const struct pstats_caller *c)
{
    return c->func != PSTATS_NO_FUNC && st->funcs[c->func].nc > 0;
}

/* The time on caller edge c of g: its cumulative time where the dump keeps
 * edge times, else g's cumulative time shared by calls. */
static double edge_time(const struct pstats_func *g, const struct pstats_caller *c, int timed)
{
    if (timed)
        return clean(c->ct);
    double calls = calls_of(g->nc);
    return calls > 0 ? clean(g->ct) * calls_of(c->nc) / calls : 0;
}

/* Turns g's caller edges into callee entries of its callers and estimates
 * the time of g's uncovered calls. */
static void add_edges(struct builder *b, size_t g)
{
    const struct pstats_func *f = &b->st->funcs[g];
    int timed = 0;
    for (size_t i = 0; i < f->caller_count; i++)
        timed |= clean(f->callers[i].ct) > 0;
    double covered_calls = 0, covered_time = 0;
    for (size_t i = 0; i < f->caller_count; i++) {
        const struct pstats_caller *c = &f->callers[i];
        if (!covered(b->st, c))
            continue;
        double time = edge_time(f, c, timed);
        covered_calls += calls_of(c->nc);
        covered_time += time;
        struct func_info *caller = &b->fi[c->func];
        caller->out_calls += c->nc > 0 ? c->nc : 0;
        if (time <= 0)
            continue;
        caller->callees =
            xgrow(caller->callees, sizeof(*caller->callees), caller->count + 1, &caller->cap);
        caller->callees[caller->count++] = (struct callee){g, time, c->nc};
    }
    double uncovered = calls_of(f->nc) - covered_calls;
    if (uncovered <= 0)
        return;
    b->fi[g].root_calls = uncovered;
    if (recursive(f)) /* root calls are outermost ones, which ct counts */
        b->fi[g].root_s = clean(f->ct) * fmin(1, uncovered / fmax(1, calls_of(f->cc)));
    else if (timed)
        b->fi[g].root_s = fmax(0, clean(f->ct) - covered_time);
    else
        b->fi[g].root_s = clean(f->ct) * uncovered / calls_of(f->nc);
}

/* ---- the heap of nodes to expand, heaviest on top ---- */

static void heap_push(struct builder *b, double time, uint32_t node)
{
    b->heap = xgrow(b->heap, sizeof(*b->heap), b->heap_count + 1, &b->heap_cap);
    size_t i = b->heap_count++;
    while (i > 0 && b->heap[(i - 1) / 2].time < time) {
        b->heap[i] = b->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    b->heap[i] = (struct heap_item){time, node};
}

static struct heap_item heap_pop(struct builder *b)
{
    struct heap_item top = b->heap[0], last = b->heap[--b->heap_count];
    size_t i = 0, n = b->heap_count;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && b->heap[child + 1].time > b->heap[child].time)
            child++;
        if (b->heap[child].time <= last.time)
            break;
        b->heap[i] = b->heap[child];
        i = child;
    }
    if (n)
        b->heap[i] = last;
    return top;
}

/* Adds a node of func under parent standing for time seconds, or counts
 * the time as cut when it is too small, too deep or past the budget. */
static void add_node(struct builder *b, size_t func, uint32_t parent, double time)
{
    uint32_t depth = parent == NO_NODE ? 0 : b->nodes[parent].depth + 1;
    if (time < b->min_time || depth >= CALLTREE_MAX_DEPTH || b->node_count >= CALLTREE_MAX_NODES) {
        if (depth >= CALLTREE_MAX_DEPTH || b->node_count >= CALLTREE_MAX_NODES)
            b->res->truncated = 1;
        b->res->cut_s += time;
        return;
    }
    b->nodes = xgrow(b->nodes, sizeof(*b->nodes), b->node_count + 1, &b->node_cap);
    b->nodes[b->node_count] = (struct node){(uint32_t)func, parent, depth, time, 0};
    heap_push(b, time, (uint32_t)b->node_count++);
}

/* ---- expanding one node ---- */

/* Whether func is on the path from the root to node (inclusive). */
static int on_path(const struct builder *b, uint32_t node, size_t func)
{
    for (; node != NO_NODE; node = b->nodes[node].parent)
        if (b->nodes[node].func == func)
            return 1;
    return 0;
}

/* Whether callee c of a function may be drawn under node: a function that
 * is never nested in itself is not drawn under itself. */
static int allowed(const struct builder *b, uint32_t node, const struct callee *c)
{
    return recursive(&b->st->funcs[c->func]) || !on_path(b, node, c->func);
}

/* A node that holds all the time of a recursive function's outermost
 * calls, when the function makes at most one call per call, encloses its
 * nested calls: see calltree.h. (1% of slack for the roots' scaling.) */
static int fills_largest_first(const struct builder *b, uint32_t node, double time, double sum)
{
    const struct node *n = &b->nodes[node];
    const struct pstats_func *f = &b->st->funcs[n->func];
    return recursive(f) && b->fi[n->func].out_calls <= f->nc && sum > time &&
           time >= 0.99 * clean(f->ct) && !on_path(b, n->parent, n->func);
}

static int by_time_desc(const void *a, const void *b)
{
    const struct callee *x = *(const struct callee *const *)a;
    const struct callee *y = *(const struct callee *const *)b;
    if (x->time != y->time)
        return x->time < y->time ? 1 : -1;
    return x->func < y->func ? -1 : x->func > y->func;
}

/* Gives the node's time to its largest callees, each up to its edge's
 * time, at most one per primitive call; what they do not take is own time. */
static void fill_largest_first(struct builder *b, uint32_t node, const struct callee **kids,
                               size_t count, double left)
{
    qsort(kids, count, sizeof(*kids), by_time_desc);
    int64_t calls = b->st->funcs[b->nodes[node].func].cc;
    for (size_t i = 0; i < count && (int64_t)i < calls && left > 0; i++) {
        double take = fmin(kids[i]->time, left);
        left -= take;
        add_node(b, kids[i]->func, node, take);
    }
    b->nodes[node].own += fmax(0, left);
}

/* Splits the time of node into its own time and its callees' nodes. */
static void expand(struct builder *b, uint32_t node, double time)
{
    size_t g = b->nodes[node].func;
    const struct func_info *fi = &b->fi[g];
    const struct callee **kids = xcalloc(fi->count ? fi->count : 1, sizeof(*kids));
    size_t count = 0;
    double sum = clean(b->st->funcs[g].tt);
    for (size_t i = 0; i < fi->count; i++) {
        if (allowed(b, node, &fi->callees[i])) {
            kids[count++] = &fi->callees[i];
            sum += fi->callees[i].time;
        }
    }
    if (sum <= 0) {
        b->nodes[node].own += time;
    } else if (fills_largest_first(b, node, time, sum)) {
        fill_largest_first(b, node, kids, count, time);
    } else {
        b->nodes[node].own += time * clean(b->st->funcs[g].tt) / sum;
        for (size_t i = 0; i < count; i++)
            add_node(b, kids[i]->func, node, time * kids[i]->time / sum);
    }
    free(kids);
}

/* ---- writing the stacks ---- */

/* Interns one frame per function: builtins ("~", 0) keep only their name.
 * A key's line is where the function starts (cProfile keys functions by
 * their code object's first line). */
static uint32_t function_frame(struct profile *p, const struct pstats_key *k)
{
    int builtin = k->line == 0 && !strcmp(k->file, "~");
    int line = k->line > 0 && k->line <= INT32_MAX ? (int)k->line : 0;
    uint32_t id = profile_frame_id(p, k->name, builtin ? "" : k->file, line, PF_PYTHON);
    profile_set_first_line(p, id, line);
    return id;
}

/* Microseconds still to write so that the running total stays within half
 * a microsecond of the exact one (*exact_us grows by us). */
static uint64_t carry_round(double us, double *exact_us, uint64_t *written)
{
    *exact_us += us;
    double target = floor(*exact_us + 0.5);
    if (!(target > (double)*written))
        return 0;
    uint64_t w = target >= 1.8e19 ? 0 : (uint64_t)target - *written;
    *written += w;
    return w;
}

/* Adds a stack of weight us (rounded with the running error): the path to
 * node (none: NO_NODE), then extra unless it is NO_NODE. */
static void add_path(struct builder *b, struct profile *p, uint32_t node, uint32_t extra, double us,
                     double *exact_us, uint64_t *written)
{
    uint64_t weight = carry_round(us, exact_us, written);
    if (!weight)
        return;
    uint32_t path[CALLTREE_MAX_DEPTH + 1];
    size_t depth = node == NO_NODE ? 0 : b->nodes[node].depth + 1;
    for (uint32_t at = node; at != NO_NODE; at = b->nodes[at].parent)
        path[b->nodes[at].depth] = b->fi[b->nodes[at].func].frame;
    if (extra != NO_NODE)
        path[depth++] = extra;
    profile_add_stack(p, path, depth, weight);
}

/* Where a function the expansion never reached is drawn: under the
 * heaviest node of its caller with the most time on its edge, or NO_NODE
 * (as a root) when no caller of it was reached. */
static uint32_t adoptive_parent(const struct builder *b, size_t g, const uint32_t *first,
                                const uint32_t *next)
{
    const struct pstats_func *f = &b->st->funcs[g];
    uint32_t best = NO_NODE;
    double best_edge = -1;
    for (size_t i = 0; i < f->caller_count; i++) {
        const struct pstats_caller *c = &f->callers[i];
        if (!covered(b->st, c) || first[c->func] == NO_NODE)
            continue;
        double edge = clean(c->ct) + calls_of(c->nc) * 1e-12; /* count-only edges: by calls */
        if (edge <= best_edge)
            continue;
        best_edge = edge;
        best = first[c->func];
        for (uint32_t n = next[best]; n != NO_NODE; n = next[n])
            if (b->nodes[n].time > b->nodes[best].time)
                best = n;
    }
    if (best != NO_NODE && b->nodes[best].depth + 1 >= CALLTREE_MAX_DEPTH)
        return NO_NODE;
    return best;
}

/* Writes every node's own time, scaled to its function's tt, function by
 * function (so that rounding keeps each function's total too). A function
 * the expansion never reached goes under adoptive_parent. */
static void write_stacks(struct builder *b, struct profile *p)
{
    const struct pstats *st = b->st;
    uint32_t *first = xmalloc((st->count ? st->count : 1) * sizeof(*first));
    uint32_t *next = xmalloc((b->node_count ? b->node_count : 1) * sizeof(*next));
    for (size_t g = 0; g < st->count; g++)
        first[g] = NO_NODE;
    for (size_t i = b->node_count; i-- > 0;) { /* lists in node order */
        next[i] = first[b->nodes[i].func];
        first[b->nodes[i].func] = (uint32_t)i;
        b->fi[b->nodes[i].func].placed_s += b->nodes[i].own;
    }
    double exact_us = 0;
    uint64_t written = 0;
    for (size_t g = 0; g < st->count; g++) {
        double tt = clean(st->funcs[g].tt), placed = b->fi[g].placed_s;
        if (placed > 0) {
            for (uint32_t i = first[g]; i != NO_NODE; i = next[i])
                add_path(b, p, i, NO_NODE, b->nodes[i].own * tt / placed * 1e6, &exact_us,
                         &written);
        } else if (tt > 0) {
            uint32_t parent = adoptive_parent(b, g, first, next);
            *(parent == NO_NODE ? &b->res->unplaced_s : &b->res->adopted_s) += tt;
            add_path(b, p, parent, b->fi[g].frame, tt * 1e6, &exact_us, &written);
        }
    }
    free(first);
    free(next);
}

/* ---- the whole ---- */

/* Adds a root node per function with uncovered calls, their times scaled
 * to hold the total (every timed call runs inside a root call). When no
 * root call has a time (a coarse clock), they share it by calls. */
static void add_roots(struct builder *b)
{
    double sum = 0, calls = 0;
    for (size_t g = 0; g < b->st->count; g++) {
        sum += b->fi[g].root_s;
        calls += b->fi[g].root_calls;
    }
    int by_time = sum > 0;
    if (!by_time && !(calls > 0))
        return;
    for (size_t g = 0; g < b->st->count; g++) {
        double share = by_time ? b->fi[g].root_s / sum : b->fi[g].root_calls / calls;
        if (share > 0)
            add_node(b, g, NO_NODE, share * b->res->total_s);
    }
}

void calltree_build(const struct pstats *st, struct profile *p, struct calltree_result *res)
{
    memset(res, 0, sizeof(*res));
    profile_set_meta_str(p, &profile_meta(p)->unit, "microseconds");
    struct builder b = {.st = st, .res = res};
    b.fi = xcalloc(st->count ? st->count : 1, sizeof(*b.fi));
    for (size_t g = 0; g < st->count; g++) {
        res->total_s += clean(st->funcs[g].tt);
        b.fi[g].frame = function_frame(p, &st->funcs[g].key);
    }
    for (size_t g = 0; g < st->count; g++)
        add_edges(&b, g);
    b.min_time = res->total_s * CALLTREE_MIN_SHARE;
    add_roots(&b);
    while (b.heap_count) {
        struct heap_item top = heap_pop(&b);
        expand(&b, top.node, top.time);
    }
    res->nodes = b.node_count;
    write_stacks(&b, p);
    for (size_t g = 0; g < st->count; g++)
        free(b.fi[g].callees);
    free(b.fi);
    free(b.nodes);
    free(b.heap);
}
