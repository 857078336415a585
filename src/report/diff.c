/*
 * diff.c - two profiles at function level over one frame numbering, and
 * the text report of what changed (see diff.h).
 */
#include "report/diff.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "util/err.h"
#include "util/util.h"

/* ---- the pair ---- */

/* Interns in into both copies as its function; returns the (shared) id. */
static uint32_t function_frame(struct diff_pair *d, const struct profile_frame *f)
{
    char *file = f->kind == PF_PYTHON ? format_display_path(f->file, 0) : xstrdup(f->file);
    uint32_t id = profile_frame_id(d->after, f->name, file, 0, f->kind);
    /* The same keys in the same order: the ids agree (both start empty). */
    uint32_t again = profile_frame_id(d->before, f->name, file, 0, f->kind);
    free(file);
    profile_set_first_line(d->after, id, f->first_line);
    profile_set_first_line(d->before, again, f->first_line);
    return id;
}

/* Adds every stack of in to out through map (in's frame id -> pair id). */
static void copy_stacks(const struct profile *in, struct profile *out, const uint32_t *map)
{
    uint32_t *path = NULL;
    size_t cap = 0;
    for (uint32_t s = 0; s < profile_stack_count(in); s++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(in, s, &depth, &weight);
        path = xgrow(path, sizeof(*path), depth ? depth : 1, &cap);
        for (size_t i = 0; i < depth; i++)
            path[i] = map[frames[i]];
        profile_add_stack(out, path, depth, weight);
    }
    free(path);
}

/* Copies the metadata of in to out. */
static void copy_meta(const struct profile *in, struct profile *out)
{
    const struct profile_meta *m = profile_meta_const(in);
    struct profile_meta *o = profile_meta(out);
    char *const *from[] = {&m->title, &m->target, &m->python_version, &m->unit, &m->note};
    char **to[] = {&o->title, &o->target, &o->python_version, &o->unit, &o->note};
    for (size_t i = 0; i < 5; i++)
        profile_set_meta_str(out, to[i], *from[i]);
    o->rate_hz = m->rate_hz;
    o->duration_s = m->duration_s;
    o->samples = m->samples;
    o->errors = m->errors;
}

void diff_pair_build(const struct profile *before, const struct profile *after, struct diff_pair *d)
{
    d->before = profile_new();
    d->after = profile_new();
    const struct profile *in[2] = {before, after};
    uint32_t *map[2];
    for (int k = 0; k < 2; k++) {
        size_t n = profile_frame_count(in[k]);
        map[k] = xcalloc(n ? n : 1, sizeof(uint32_t));
        for (uint32_t id = 0; id < n; id++)
            map[k][id] = function_frame(d, profile_frame(in[k], id));
    }
    copy_stacks(before, d->before, map[0]);
    copy_stacks(after, d->after, map[1]);
    copy_meta(before, d->before);
    copy_meta(after, d->after);
    free(map[0]);
    free(map[1]);
}

void diff_pair_release(struct diff_pair *d)
{
    profile_free(d->before);
    profile_free(d->after);
    d->before = d->after = NULL;
}

/* ---- shares ---- */

/* Adds p's own and total weights per frame into own[] and total[] (frame
 * count long), a frame counted once per stack however often it recurses;
 * seen[] is scratch. */
static void add_weights(const struct profile *p, double *own, double *total, uint32_t *seen)
{
    for (uint32_t s = 0; s < profile_stack_count(p); s++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(p, s, &depth, &weight);
        if (!depth || !weight)
            continue;
        own[frames[depth - 1]] += (double)weight;
        for (size_t i = 0; i < depth; i++) {
            if (seen[frames[i]] != s + 1) {
                seen[frames[i]] = s + 1;
                total[frames[i]] += (double)weight;
            }
        }
    }
}

/* Divides v[0 .. n) by p's total weight. */
static void to_shares(double *v, size_t n, const struct profile *p)
{
    double sum = (double)profile_total_weight(p);
    for (size_t i = 0; i < n; i++)
        v[i] = sum > 0 ? v[i] / sum : 0;
}

/* Orders rows by change (see diff_rows); ctx is the profile naming them. */
static int by_change(const void *pa, const void *pb, void *ctx)
{
    const struct diff_row *a = pa, *b = pb;
    const struct profile *names = ctx;
    double ca = fabs(a->own_after - a->own_before), cb = fabs(b->own_after - b->own_before);
    if (ca != cb)
        return ca < cb ? 1 : -1;
    ca = fabs(a->total_after - a->total_before);
    cb = fabs(b->total_after - b->total_before);
    if (ca != cb)
        return ca < cb ? 1 : -1;
    int c = strcmp(profile_frame(names, a->frame)->name, profile_frame(names, b->frame)->name);
    return c ? c : (a->frame > b->frame) - (a->frame < b->frame);
}

struct diff_row *diff_rows(const struct diff_pair *d, size_t *count)
{
    size_t n = profile_frame_count(d->after);
    double *v = xcalloc(4 * (n ? n : 1), sizeof(*v)); /* own/total, before/after */
    uint32_t *seen = xcalloc(n ? n : 1, sizeof(*seen));
    add_weights(d->before, v, v + n, seen);
    memset(seen, 0, (n ? n : 1) * sizeof(*seen));
    add_weights(d->after, v + 2 * n, v + 3 * n, seen);
    to_shares(v, 2 * n, d->before);
    to_shares(v + 2 * n, 2 * n, d->after);
    struct diff_row *rows = xcalloc(n ? n : 1, sizeof(*rows));
    size_t kept = 0;
    for (uint32_t f = 0; f < n; f++) {
        if (v[n + f] > 0 || v[3 * n + f] > 0)
            rows[kept++] = (struct diff_row){f, v[f], v[2 * n + f], v[n + f], v[3 * n + f]};
    }
    qsort_r(rows, kept, sizeof(*rows), by_change, d->after);
    free(v);
    free(seen);
    *count = kept;
    return rows;
}

/* ---- the text report ---- */

/* "1,234 samples", "0.152 s", or "N UNIT": a profile's total for the header. */
static void put_total(FILE *out, const struct profile *p)
{
    const struct profile_meta *m = profile_meta_const(p);
    uint64_t total = profile_total_weight(p);
    double ns = format_unit_ns(m->unit);
    if (ns > 0)
        fprintf(out, "%.3f s", (double)total * ns / 1e9);
    else
        fprintf(out, "%" PRIu64 " %s", total, m->unit && m->unit[0] ? m->unit : "samples");
}

/* Writes s with control characters as '?', so that a name is one line. */
static void put_clean(FILE *out, const char *s)
{
    for (; *s; s++)
        putc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* The function as the writers name it: "name (file:first line)", "name
 * (file)" or the bare name. */
static void put_function(FILE *out, const struct profile_frame *f)
{
    put_clean(out, f->name);
    if (f->kind == PF_PYTHON && f->file[0]) {
        fputs(" (", out);
        put_clean(out, f->file);
        if (f->first_line > 0)
            fprintf(out, ":%d", f->first_line);
        putc(')', out);
    }
}

static void put_change(FILE *out, double before, double after)
{
    double points = 100.0 * (after - before);
    if (fabs(points) < 0.005)
        fputs("     0.00", out);
    else
        fprintf(out, " %+8.2f", points);
}

int diff_print(const struct diff_pair *d, FILE *out, const struct diff_print_options *opt)
{
    size_t count;
    struct diff_row *rows = diff_rows(d, &count);
    size_t shown = opt->limit >= 0 && (size_t)opt->limit < count ? (size_t)opt->limit : count;
    fputs("spyglass report --diff\n  before: ", out);
    put_clean(out, opt->before_name);
    fputs(" (", out);
    put_total(out, d->before);
    fputs(")\n  after:  ", out);
    put_clean(out, opt->after_name);
    fputs(" (", out);
    put_total(out, d->after);
    fputs(")\nShares of each profile's total, in percent; changes in percentage points.\n", out);
    if (shown < count)
        fprintf(out, "The %zu biggest changes of %zu functions.\n", shown, count);
    fputs("\n  own before   own after   change  total before  total after   change  function\n",
          out);
    for (size_t i = 0; i < shown; i++) {
        const struct diff_row *r = &rows[i];
        fprintf(out, "  %9.2f%% %10.2f%%", 100 * r->own_before, 100 * r->own_after);
        put_change(out, r->own_before, r->own_after);
        fprintf(out, "  %11.2f%% %11.2f%%", 100 * r->total_before, 100 * r->total_after);
        put_change(out, r->total_before, r->total_after);
        fputs("  ", out);
        put_function(out, profile_frame(d->after, r->frame));
        putc('\n', out);
    }
    free(rows);
    return fflush(out) != 0 || ferror(out) ? -SG_EIO : 0;
}
