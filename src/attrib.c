/*
 * attrib.c - process and endpoint root frames, and the endpoint table.
 *
 * Process frames are made once per (pid, runtime) from /proc/PID/cmdline.
 * Endpoint labels come from python/endpoint.c; each distinct label becomes a
 * PF_ENDPOINT frame (interned by the profile) with active and idle counters,
 * and past ATTRIB_MAX_ENDPOINTS labels the rest share "(other endpoints)" so
 * that a server hit by random URLs cannot grow the profile without bound.
 */
#include "attrib.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proc/task.h"
#include "util/util.h"

/* Longest command line shown in a process frame. */
#define CMDLINE_SHOWN 96
/* Rows of the endpoint table before "... N more". */
#define TABLE_ROWS 25

void attrib_init(struct attrib *a, struct profile *p, int by_process, int by_endpoint)
{
    memset(a, 0, sizeof(*a));
    a->profile = p;
    a->by_process = by_process;
    a->by_endpoint = by_endpoint;
    if (by_endpoint)
        endpoint_init(&a->endpoints_reader);
}

void attrib_release(struct attrib *a)
{
    if (a->by_endpoint)
        endpoint_release(&a->endpoints_reader);
    free(a->procs);
    free(a->endpoints);
    memset(a, 0, sizeof(*a));
}

/* The frame "process PID (command line)" for the process w reads. */
static uint32_t process_frame(struct attrib *a, struct walker *w)
{
    pid_t pid = w->rt->pid;
    uint64_t rt = w->rt->runtime_addr ? w->rt->runtime_addr : w->rt->interp_head_addr;
    for (size_t i = 0; i < a->nprocs; i++) {
        if (a->procs[i].pid == pid && a->procs[i].runtime_addr == rt)
            return a->procs[i].frame;
    }
    char cmdline[512] = "", name[CMDLINE_SHOWN + 64];
    if (proc_cmdline(pid, cmdline, sizeof(cmdline)) != 0 || !cmdline[0])
        proc_comm(pid, cmdline, sizeof(cmdline));
    if (strlen(cmdline) > CMDLINE_SHOWN)
        memcpy(cmdline + CMDLINE_SHOWN - 3, "...", 4);
    snprintf(name, sizeof(name), "process %d (%.*s)", (int)pid, CMDLINE_SHOWN, cmdline);
    a->procs = xgrow(a->procs, sizeof(*a->procs), a->nprocs + 1, &a->procs_cap);
    struct attrib_proc *p = &a->procs[a->nprocs++];
    p->pid = pid;
    p->runtime_addr = rt;
    p->frame = profile_frame_id(a->profile, name, "", 0, PF_PROCESS);
    return p->frame;
}

/* The counters of the endpoint called label, added if new. Once the table
 * is full, new labels are neither interned nor added: they share
 * "(other endpoints)". */
static struct attrib_endpoint *endpoint_counts(struct attrib *a, const char *label)
{
    if (a->nendpoints >= ATTRIB_MAX_ENDPOINTS) {
        for (size_t i = 0; i < a->nendpoints; i++) {
            if (strcmp(profile_frame(a->profile, a->endpoints[i].frame)->name, label) == 0)
                return &a->endpoints[i];
        }
        label = "(other endpoints)";
    }
    uint32_t frame = profile_frame_id(a->profile, label, "", 0, PF_ENDPOINT);
    for (size_t i = 0; i < a->nendpoints; i++) {
        if (a->endpoints[i].frame == frame)
            return &a->endpoints[i];
    }
    a->endpoints = xgrow(a->endpoints, sizeof(*a->endpoints), a->nendpoints + 1, &a->endpoints_cap);
    struct attrib_endpoint *e = &a->endpoints[a->nendpoints++];
    memset(e, 0, sizeof(*e));
    e->frame = frame;
    return e;
}

static uint32_t endpoint_frame(struct attrib *a, const struct py_thread *t)
{
    struct attrib_endpoint *e =
        endpoint_counts(a, t->endpoint[0] ? t->endpoint : ATTRIB_NO_REQUEST);
    if (t->idle)
        e->idle++;
    else
        e->active++;
    return e->frame;
}

size_t attrib_roots(struct attrib *a, struct walker *w, const struct py_thread *t, uint32_t *roots)
{
    size_t n = 0;
    if (a->by_endpoint)
        roots[n++] = endpoint_frame(a, t);
    if (a->by_process)
        roots[n++] = process_frame(a, w);
    return n;
}

static int busiest_first(const void *pa, const void *pb)
{
    const struct attrib_endpoint *x = pa, *y = pb;
    if (x->active != y->active)
        return x->active < y->active ? 1 : -1;
    uint64_t sx = x->active + x->idle, sy = y->active + y->idle;
    if (sx != sy)
        return sx < sy ? 1 : -1;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

void attrib_print_endpoints(const struct attrib *a, FILE *out)
{
    uint64_t active = 0, samples = 0;
    size_t n = a->nendpoints;
    if (!a->by_endpoint)
        return;
    struct attrib_endpoint *rows = xmalloc((n ? n : 1) * sizeof(*rows));
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
        const struct attrib_endpoint *e = &rows[i];
        uint64_t total = e->active + e->idle;
        const char *name = profile_frame(a->profile, e->frame)->name;
        fprintf(out, "  %-44.*s %9" PRIu64 " %8.1f%% %6.1f%%\n", 44, name, total,
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
