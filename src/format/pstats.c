/*
 * pstats.c - the profile as a pstats dump: the marshalled dict
 *     {(file, line, name): (cc, nc, tt, ct, {caller key: (nc, cc, tt, ct)})}
 * that pstats.Stats(path) loads, on Python 2.7 and every Python 3.
 *
 * A sampled profile knows where time went, not how often functions were
 * called, so the numbers are built from stacks:
 *   - one entry per function: Python frames grouped by (file, name), so that
 *     a by-line profile still gives one row per function; its line is where
 *     the function starts (its def line, as cProfile's keys have it) when
 *     the frames know it, else the smallest line seen in it (0 if the
 *     profile has no lines). Native markers (e.g. "(idle)") become
 *     builtin-style entries ("~", 0, name); thread, process and endpoint
 *     roots are groupings, not functions, and are left out. A function no
 *     stack holds (the "(idle)" marker of a record without --idle) has no
 *     entry: pstats would list it with 0 calls;
 *   - tt = weight of the stacks the function is the leaf of, ct = weight of
 *     the stacks it appears in, counted once per stack however often it
 *     recurses there; both times the sampling interval (1 / rate_hz seconds,
 *     or 1 when the rate is unknown);
 *   - nc = cc = the number of samples (weight) the function appears in:
 *     a stand-in for call counts, which sampling cannot know;
 *   - callers: for each adjacent (caller, callee) pair, the same numbers
 *     restricted to the stacks holding that pair, again once per stack.
 *
 * Encodings are those marshal version 2 already had, which every Python
 * reads: '{' dicts, '(' tuples, 'u' UTF-8 strings (invalid UTF-8 replaced by
 * U+FFFD, since Python would refuse the file), 'i' / 'l' ints and 'g' binary
 * floats. Output is deterministic: entries in order of first appearance.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "util/err.h"
#include "util/hash.h"
#include "util/marshal_out.h"
#include "util/util.h"

#define NO_FUNC UINT32_MAX

struct func {
    const char *file; /* "~" for a builtin-style entry */
    const char *name;
    int line;             /* smallest line seen */
    int first_line;       /* where it starts, if a frame knows it */
    uint32_t first_frame; /* lowest frame id of the function: decides order */
    uint64_t self, incl;  /* weights */
    size_t last_stack;    /* stack id + 1 that last counted incl */
};

struct edge {
    uint32_t caller, callee;
    uint64_t self, incl;
    size_t last_stack;
};

struct builder {
    const struct profile *p;
    uint32_t *frame_func; /* frame id -> function index or NO_FUNC */
    struct func *funcs;
    size_t func_count;
    struct edge *edges;
    size_t edge_count, edge_cap;
    struct hash_index edge_index; /* (caller, callee) -> edge */
};

/* ---- grouping frames into functions ---- */

static int kept(const struct profile_frame *f)
{
    return f->kind == PF_PYTHON || f->kind == PF_NATIVE || f->kind == PF_NATIVE_CODE;
}

/* The file a frame's function goes under. */
static const char *func_file(const struct profile_frame *f)
{
    return f->kind == PF_NATIVE ? "~" : f->file;
}

/* Orders frame ids by (file, name, id); ctx is the profile. */
static int compare_frames(const void *pa, const void *pb, void *ctx)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    const struct profile_frame *x = profile_frame(ctx, a);
    const struct profile_frame *y = profile_frame(ctx, b);
    int c = strcmp(func_file(x), func_file(y));
    if (!c)
        c = strcmp(x->name, y->name);
    return c ? c : (a > b) - (a < b);
}

static int compare_funcs(const void *pa, const void *pb)
{
    const struct func *a = pa, *b = pb;
    return (a->first_frame > b->first_frame) - (a->first_frame < b->first_frame);
}

/* Fills b->funcs and b->frame_func: frames with the same (file, name) share
 * a function; functions are numbered by their first frame id. */
static void group_functions(struct builder *b)
{
    size_t frames = profile_frame_count(b->p), n = 0;
    uint32_t *ids = xcalloc(frames, sizeof(*ids));
    b->frame_func = xcalloc(frames, sizeof(*b->frame_func));
    b->funcs = xcalloc(frames, sizeof(*b->funcs));
    for (uint32_t id = 0; id < frames; id++) {
        b->frame_func[id] = NO_FUNC;
        if (kept(profile_frame(b->p, id)))
            ids[n++] = id;
    }
    qsort_r(ids, n, sizeof(*ids), compare_frames, (void *)b->p);
    for (size_t i = 0; i < n; i++) {
        const struct profile_frame *f = profile_frame(b->p, ids[i]);
        struct func *last = b->func_count ? &b->funcs[b->func_count - 1] : NULL;
        if (!last || strcmp(last->file, func_file(f)) || strcmp(last->name, f->name)) {
            last = &b->funcs[b->func_count++];
            *last = (struct func){func_file(f), f->name, 0, 0, ids[i], 0, 0, 0};
        }
        if (f->kind == PF_PYTHON && f->line > 0 && (!last->line || f->line < last->line))
            last->line = f->line;
        if (f->kind == PF_PYTHON && f->first_line > 0 && !last->first_line)
            last->first_line = f->first_line;
    }
    qsort(b->funcs, b->func_count, sizeof(*b->funcs), compare_funcs);
    /* Map every frame to its function's new index, through the sorted ids. */
    for (size_t i = 0; i < b->func_count; i++)
        b->frame_func[b->funcs[i].first_frame] = (uint32_t)i;
    for (size_t i = 0; i < n; i++) {
        if (b->frame_func[ids[i]] == NO_FUNC)
            b->frame_func[ids[i]] = b->frame_func[ids[i - 1]];
    }
    free(ids);
}

/* ---- caller edges ---- */

static uint64_t edge_hash(uint32_t caller, uint32_t callee)
{
    return hash_mix((uint64_t)caller << 32 | callee);
}

static uint64_t edge_hash_of(const void *ctx, uint32_t id)
{
    const struct builder *b = ctx;
    return edge_hash(b->edges[id].caller, b->edges[id].callee);
}

static int edge_same(const void *ctx, uint32_t id, const void *key)
{
    const struct builder *b = ctx;
    const struct edge *k = key;
    return b->edges[id].caller == k->caller && b->edges[id].callee == k->callee;
}

/* Returns the edge caller -> callee, adding it if new. */
static struct edge *edge_get(struct builder *b, uint32_t caller, uint32_t callee)
{
    struct edge key = {caller, callee, 0, 0, 0};
    hash_index_reserve(&b->edge_index, b->edge_count, edge_hash_of, b);
    uint32_t *slot = hash_index_find(&b->edge_index, edge_hash(caller, callee), edge_same, b, &key);
    if (*slot)
        return &b->edges[*slot - 1];
    b->edges = xgrow(b->edges, sizeof(*b->edges), b->edge_count + 1, &b->edge_cap);
    b->edges[b->edge_count] = key;
    *slot = (uint32_t)++b->edge_count;
    return &b->edges[b->edge_count - 1];
}

static int compare_edges(const void *pa, const void *pb)
{
    const struct edge *a = pa, *b = pb;
    if (a->callee != b->callee)
        return a->callee < b->callee ? -1 : 1;
    return (a->caller > b->caller) - (a->caller < b->caller);
}

/* ---- weights ---- */

/* Adds one stack: seq holds its functions (root first) with the dropped
 * frames taken out; stack_mark is the stack id + 1. */
static void add_stack(struct builder *b, const uint32_t *seq, size_t n, uint64_t weight,
                      size_t stack_mark)
{
    if (!n)
        return;
    b->funcs[seq[n - 1]].self += weight;
    for (size_t i = 0; i < n; i++) {
        struct func *f = &b->funcs[seq[i]];
        if (f->last_stack != stack_mark) {
            f->last_stack = stack_mark;
            f->incl += weight;
        }
        if (i == 0)
            continue;
        struct edge *e = edge_get(b, seq[i - 1], seq[i]);
        if (e->last_stack != stack_mark) {
            e->last_stack = stack_mark;
            e->incl += weight;
        }
        if (i == n - 1)
            e->self += weight;
    }
}

static void add_stacks(struct builder *b)
{
    uint32_t *seq = NULL;
    size_t seq_cap = 0;
    for (uint32_t id = 0; id < profile_stack_count(b->p); id++) {
        size_t depth, n = 0;
        uint64_t weight;
        const uint32_t *frames = profile_stack(b->p, id, &depth, &weight);
        seq = xgrow(seq, sizeof(*seq), depth, &seq_cap);
        for (size_t i = 0; i < depth; i++) {
            if (b->frame_func[frames[i]] != NO_FUNC)
                seq[n++] = b->frame_func[frames[i]];
        }
        add_stack(b, seq, n, weight, (size_t)id + 1);
    }
    free(seq);
    if (b->edge_count)
        qsort(b->edges, b->edge_count, sizeof(*b->edges), compare_edges);
}

/* ---- marshal output ---- */

/* Counts are uint64_t weights; marshal ints are signed. */
static int64_t count_value(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void put_key(struct strbuf *sb, const struct func *f)
{
    marshal_out_tuple(sb, 3);
    marshal_out_str(sb, f->file);
    marshal_out_int(sb, f->first_line ? f->first_line : f->line);
    marshal_out_str(sb, f->name);
}

/* (nc, cc, tt, ct) as a caller value, or the first four items of an entry
 * (cc, nc, tt, ct) - the same here, since cc = nc. */
static void put_numbers(struct strbuf *sb, uint64_t count, uint64_t self, uint64_t incl,
                        double interval)
{
    marshal_out_int(sb, count_value(count));
    marshal_out_int(sb, count_value(count));
    marshal_out_float(sb, (double)self * interval);
    marshal_out_float(sb, (double)incl * interval);
}

/* Writes the dict; edges are sorted by callee, then caller, so each
 * function's callers are one run of them. */
static void put_stats(struct strbuf *sb, const struct builder *b, double interval)
{
    size_t e = 0;
    marshal_out_dict_begin(sb);
    for (uint32_t i = 0; i < b->func_count; i++) {
        const struct func *f = &b->funcs[i];
        if (!f->incl) { /* on no stack: no row */
            for (; e < b->edge_count && b->edges[e].callee == i; e++)
                ;
            continue;
        }
        put_key(sb, f);
        marshal_out_tuple(sb, 5);
        put_numbers(sb, f->incl, f->self, f->incl, interval);
        marshal_out_dict_begin(sb);
        for (; e < b->edge_count && b->edges[e].callee == i; e++) {
            const struct edge *edge = &b->edges[e];
            if (!edge->incl || !b->funcs[edge->caller].incl)
                continue;
            put_key(sb, &b->funcs[edge->caller]);
            marshal_out_tuple(sb, 4);
            put_numbers(sb, edge->incl, edge->self, edge->incl, interval);
        }
        marshal_out_dict_end(sb);
    }
    marshal_out_dict_end(sb);
}

int pstats_write(const struct profile *p, FILE *out, const struct format_options *opt)
{
    const struct profile_meta *meta = profile_meta_const(p);
    double interval = meta->rate_hz > 0 ? 1.0 / meta->rate_hz : 1.0;
    struct builder b = {.p = p};
    group_functions(&b);
    add_stacks(&b);
    struct strbuf sb;
    strbuf_init(&sb);
    put_stats(&sb, &b, interval);
    size_t written = fwrite(sb.buf, 1, sb.len, out);
    int err = written != sb.len || ferror(out) ? -SG_EIO : 0;
    strbuf_release(&sb);
    free(b.frame_func);
    free(b.funcs);
    free(b.edges);
    hash_index_release(&b.edge_index);
    return err;
}
