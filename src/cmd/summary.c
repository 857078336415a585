/*
 * summary.c - the tables and notes `record` and `top` print to stderr when
 * they end.
 */
#include "cmd/cmd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "collect/blocked.h"
#include "collect/fold.h"
#include "collect/roots.h"
#include "profile/profile.h"
#include "python/tasks.h"
#include "sample/native.h"
#include "sample/sampler.h"
#include "util/utf8.h"
#include "util/util.h"

/* Rows of the endpoint table before "... N more". */
#define TABLE_ROWS 25

static int busiest_first(const void *pa, const void *pb)
{
    const struct roots_endpoint *x = pa, *y = pb;
    if (x->active != y->active)
        return x->active < y->active ? 1 : -1;
    uint64_t sx = x->active + x->idle, sy = y->active + y->idle;
    if (sx != sy)
        return sx < sy ? 1 : -1;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

void cmd_print_endpoints(const struct roots *a, FILE *out)
{
    uint64_t active = 0, samples = 0;
    size_t n = a->nendpoints;
    if (!a->by_endpoint)
        return;
    struct roots_endpoint *rows = xmalloc((n ? n : 1) * sizeof(*rows));
    memcpy(rows, a->endpoints, n * sizeof(*rows));
    qsort(rows, n, sizeof(*rows), busiest_first);
    for (size_t i = 0; i < n; i++) {
        active += rows[i].active;
        samples += rows[i].active + rows[i].idle;
    }
    fprintf(out, "spyglass: time by endpoint (%" PRIu64 " thread samples, %" PRIu64 " active)\n",
            samples, active);
    fprintf(out, "  %-44s %9s %9s %7s\n", "endpoint", "samples", "active%", "idle%");
    for (size_t i = 0; i < n && i < TABLE_ROWS; i++) {
        const struct roots_endpoint *e = &rows[i];
        uint64_t total = e->active + e->idle;
        char name[45]; /* a request path is the client's: escaped, cut at a whole character */
        utf8_escape(profile_frame(a->profile, e->frame)->name, name, sizeof(name));
        fprintf(out, "  %-44s %9" PRIu64 " %8.1f%% %6.1f%%\n", name, total,
                active ? 100.0 * (double)e->active / (double)active : 0.0,
                total ? 100.0 * (double)e->idle / (double)total : 0.0);
    }
    if (n > TABLE_ROWS)
        fprintf(out, "  ... %zu more endpoints (all are in the profile)\n", n - TABLE_ROWS);
    fprintf(out, "  active%%: share of all on-CPU samples; idle%%: share of the endpoint's own "
                 "samples spent waiting (sleep, I/O, locks)\n");
    const struct endpoint_reader *er = &a->endpoints_reader;
    if (er->in_request)
        fprintf(out,
                "spyglass: endpoints: %" PRIu64 " of %" PRIu64 " thread samples in a request, "
                "%.0f%% of those from the cache; %.1f reads of target memory per sample\n",
                er->in_request, er->lookups, 100.0 * (double)er->hits / (double)er->in_request,
                (double)er->target_reads / (double)er->lookups);
    free(rows);
}

static double share(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* Stacks that could not be read whole. */
static void print_torn(const struct fold_stats *fs, FILE *out)
{
    if (!fs->torn && !fs->unreadable)
        return;
    fprintf(out,
            "spyglass: %" PRIu64 " thread stacks (%.2f%% of %" PRIu64 ") left out as torn: "
            "the thread called or returned while its stack was read, twice in a row (%" PRIu64
            " more were read again and kept)",
            fs->torn, share(fs->torn, fs->threads), fs->threads, fs->retried);
    if (fs->unreadable)
        fprintf(out, "; %" PRIu64 " left out as unreadable", fs->unreadable);
    fputc('\n', out);
}

void cmd_print_fold_notes(const struct fold *f, FILE *out)
{
    const struct fold_stats *fs = &f->stats;
    print_torn(fs, out);
    if (fs->unknown)
        fprintf(out,
                "spyglass: %" PRIu64 " thread samples (%.1f%%) had an unknown OS state (no "
                "thread of the process carries their thread id): never counted as active; "
                "%s\n",
                fs->unknown, share(fs->unknown, fs->threads),
                !f->opt.idle       ? "left out, as idle ones are"
                : f->opt.idle_leaf ? "kept under an (unknown state) leaf"
                                   : "counted with the idle ones");
    if (fs->tid_fixed)
        fprintf(out,
                "spyglass: %" PRIu64 " thread samples came from thread states holding the id of "
                "a thread of another process (a fork without PyOS_AfterFork_Child, as uWSGI "
                "does): their own was found through glibc\n",
                fs->tid_fixed);
    if (fs->gil_dropped_active)
        fprintf(out,
                "spyglass: --gil left out %" PRIu64 " active samples of threads running without "
                "the GIL (C code that releases it: hashing, compression, I/O)\n",
                fs->gil_dropped_active);
    if (fs->deep) {
        fprintf(out,
                "spyglass: %" PRIu64 " stacks were deeper than %d frames (deepest %zu): each "
                "keeps its %d outermost and %d innermost frames, with one \"(N frames "
                "omitted)\" frame between them",
                fs->deep, WALK_MAX_DEPTH, fs->deepest, WALK_KEEP_OUTER, WALK_KEEP_INNER);
        if (fs->cut)
            fprintf(out,
                    "; %" PRIu64 " were longer than the %d frames walked at most: their "
                    "outermost frames are unknown",
                    fs->cut, WALK_MAX_CHAIN);
        fputc('\n', out);
    }
}

void cmd_print_tasks(const struct task_reader *tr, const struct fold_stats *fs, uint64_t ticks,
                     FILE *out)
{
    if (!tr->found_samples) {
        fprintf(out,
                "spyglass: asyncio: no tasks found in %" PRIu64
                " samples (the program has not imported asyncio)\n",
                ticks);
        return;
    }
    double n = (double)tr->samples;
    fprintf(out,
            "spyglass: asyncio: %.1f tasks per sample (mean), %zu loops; %" PRIu64
            " waiting-task stacks kept%s, %" PRIu64 " running tasks joined to their awaiters\n",
            (double)tr->tasks_seen / (double)tr->found_samples, tr->nloops, fs->tasks,
            fs->tasks ? "" : " (waiting tasks are kept with --idle)", fs->tasks_joined);
    fprintf(out,
            "spyglass: asyncio: reading the tasks cost %.0f us of CPU (%.0f us of time) and %.1f "
            "reads of target memory per sample (mean); %" PRIu64
            " objects that changed while read were left out\n",
            (double)tr->cpu_ns / n / 1000.0, (double)tr->ns / n / 1000.0, (double)tr->reads / n,
            tr->torn);
}

/* Frames of a kept step shown, innermost first. */
#define BLOCKED_FRAMES 6
/* Steps shown. */
#define BLOCKED_ROWS 10

void cmd_print_blocked(const struct blocked *b, const struct profile *p, uint64_t threshold_ns,
                       FILE *out)
{
    if (!b->slow) {
        fprintf(out,
                "spyglass: slow callbacks: none held an asyncio loop for %.0f ms or more "
                "(%" PRIu64 " loop samples watched)\n",
                (double)threshold_ns / 1e6, b->watched);
        return;
    }
    fprintf(out,
            "spyglass: slow callbacks: %" PRIu64 " steps held an asyncio loop for %.0f ms or "
            "more without yielding (longest first; at least that long):\n",
            b->slow, (double)threshold_ns / 1e6);
    for (size_t i = 0; i < b->nsteps && i < BLOCKED_ROWS; i++) {
        const struct blocked_step *s = &b->steps[i];
        fprintf(out, "  %6.0f ms from %.2f s, pid %d, ", (double)(s->end_ns - s->start_ns) / 1e6,
                (double)s->start_ns / 1e9, (int)s->pid);
        if (s->task[0])
            fprintf(out, "task \"%s\" (%s)", s->task, s->coro);
        else if (s->coro[0])
            fprintf(out, "a task of %s", s->coro);
        else
            fputs("a callback", out);
        fprintf(out, ", %" PRIu64 " samples\n", s->samples);
        for (size_t d = 0; d < s->depth && d < BLOCKED_FRAMES; d++) {
            const struct profile_frame *f = profile_frame(p, s->ids[s->depth - 1 - d]);
            fprintf(out, "      %s (%s:%d)\n", f->name, f->file, f->line);
        }
    }
    if (b->slow > BLOCKED_ROWS)
        fprintf(out, "  ... %" PRIu64 " more\n", b->slow - BLOCKED_ROWS);
}

void cmd_print_unnamed(const struct merge *m, FILE *out)
{
    if (!m->stats.unnamed || !m->interp_file)
        return;
    fprintf(out,
            "spyglass: native: %" PRIu64 " frames in %s have no symbol (a stripped interpreter, "
            "and no debug file for its build id under /usr/lib/debug): they show as "
            "%s+0xOFFSET, and the interpreter's own calls among them are not hidden; its debug "
            "symbols would name them\n",
            m->stats.unnamed, m->interp_file, m->interp_file);
}

void cmd_print_native(const struct native_stacks *n, const struct fold *f,
                      const struct sampler_stats *st, FILE *out)
{
    const struct native_stats *ns = &n->stats;
    const struct merge_stats *ms = &f->merge.stats;
    double ticks = st->ticks ? (double)st->ticks : 1;
    fprintf(out,
            "spyglass: native: %" PRIu64 " thread stacks unwound, %.1f frames each; unwinding "
            "took %.1f us of CPU per sample (of the %.1f above)",
            ns->walks, ns->walks ? (double)ns->frames / (double)ns->walks : 0,
            (double)ns->cpu_ns / ticks / 1000.0, (double)st->cpu_ns / ticks / 1000.0);
    if (ns->failed || ns->partial)
        fprintf(out, "; %" PRIu64 " could not be unwound, %" PRIu64 " only in part", ns->failed,
                ns->partial);
    fputc('\n', out);
    fprintf(out,
            "spyglass: native: %" PRIu64 " Python stacks merged (%" PRIu64
            " where evaluation calls and Python frames did not pair up), %" PRIu64
            " stacks of threads without Python",
            ms->merged, ms->mismatch, f->stats.native_threads);
    if (f->stats.native_dropped)
        fprintf(out, "; %" PRIu64 " thread stacks left out (not stopped in time, or not unwound)",
                f->stats.native_dropped);
    if (f->stats.native_unmatched)
        fprintf(out, "; %" PRIu64 " kept without native frames (OS thread id unknown)",
                f->stats.native_unmatched);
    fputc('\n', out);
    cmd_print_unnamed(&f->merge, out);
}
