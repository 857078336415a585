/*
 * roots.c - process and endpoint root frames, with per-endpoint counters.
 *
 * Process frames are made once per (pid, runtime) from /proc/PID/cmdline,
 * for at most ROOTS_MAX_PROCESSES processes (the lookup is linear, and a
 * forking server can make processes without end).
 * Endpoint labels come from python/endpoint.c; each distinct label becomes a
 * PF_ENDPOINT frame (interned by the profile) with active and idle counters,
 * and past ROOTS_MAX_ENDPOINTS labels the rest share "(other endpoints)" so
 * that a server hit by random URLs cannot grow the profile without bound.
 */
#include "collect/roots.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proc/proc.h"
#include "util/utf8.h"
#include "util/util.h"

/* Longest command line shown in a process frame. */
#define CMDLINE_SHOWN 96

void roots_init(struct roots *a, struct profile *p, int by_process, int by_endpoint)
{
    memset(a, 0, sizeof(*a));
    a->profile = p;
    a->by_process = by_process;
    a->by_endpoint = by_endpoint;
    if (by_endpoint)
        endpoint_init(&a->endpoints_reader);
}

void roots_release(struct roots *a)
{
    if (a->by_endpoint)
        endpoint_release(&a->endpoints_reader);
    free(a->procs);
    free(a->endpoints);
    free(a->counted);
    memset(a, 0, sizeof(*a));
}

/* The frame "process PID (command line)" for the process w reads. */
static uint32_t process_frame(struct roots *a, const struct walker *w)
{
    pid_t pid = w->rt->pid;
    uint64_t rt = w->rt->runtime_addr ? w->rt->runtime_addr : w->rt->interp_head_addr;
    for (size_t i = 0; i < a->nprocs; i++) {
        if (a->procs[i].pid == pid && a->procs[i].runtime_addr == rt)
            return a->procs[i].frame;
    }
    char raw[512] = "", cmdline[4 * sizeof(raw)], name[CMDLINE_SHOWN + 64];
    if (a->nprocs >= ROOTS_MAX_PROCESSES)
        return profile_frame_id(a->profile, ROOTS_OTHER_PROCESSES, "", 0, PF_PROCESS);
    if (proc_cmdline(pid, raw, sizeof(raw)) != 0 || !raw[0])
        proc_comm(pid, raw, sizeof(raw));
    /* the process chose these bytes: every output gets them well-formed,
     * controls escaped, as dump shows them, and cut at a whole character */
    if (utf8_escape(raw, cmdline, sizeof(cmdline)) > CMDLINE_SHOWN)
        strcpy(cmdline + utf8_escape(raw, cmdline, CMDLINE_SHOWN - 2), "...");
    snprintf(name, sizeof(name), "process %d (%.*s)", (int)pid, CMDLINE_SHOWN, cmdline);
    a->procs = xgrow(a->procs, sizeof(*a->procs), a->nprocs + 1, &a->procs_cap);
    struct roots_proc *p = &a->procs[a->nprocs++];
    p->pid = pid;
    p->runtime_addr = rt;
    p->frame = profile_frame_id(a->profile, name, "", 0, PF_PROCESS);
    return p->frame;
}

/* The counters of the endpoint called label, added if new. Once the table
 * is full, new labels are neither interned nor added: they share
 * "(other endpoints)". */
static struct roots_endpoint *endpoint_counts(struct roots *a, const char *label)
{
    if (a->nendpoints >= ROOTS_MAX_ENDPOINTS) {
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
    struct roots_endpoint *e = &a->endpoints[a->nendpoints++];
    memset(e, 0, sizeof(*e));
    e->frame = frame;
    return e;
}

/* Returns 1 the first time request is seen since roots_walk_begin. */
static int first_count(struct roots *a, uint64_t request)
{
    if (!request)
        return 1;
    for (size_t i = 0; i < a->ncounted; i++) {
        if (a->counted[i] == request)
            return 0;
    }
    a->counted = xgrow(a->counted, sizeof(*a->counted), a->ncounted + 1, &a->counted_cap);
    a->counted[a->ncounted++] = request;
    return 1;
}

static uint32_t endpoint_frame(struct roots *a, const char *label, int idle, uint64_t request)
{
    struct roots_endpoint *e = endpoint_counts(a, label[0] ? label : ROOTS_NO_REQUEST);
    if (first_count(a, request)) {
        if (idle)
            e->idle++;
        else
            e->active++;
    }
    return e->frame;
}

void roots_walk_begin(struct roots *a)
{
    a->ncounted = 0;
}

size_t roots_for(struct roots *a, const struct walker *w, const char *endpoint, int idle,
                 uint64_t request, uint32_t *roots)
{
    size_t n = 0;
    if (a->by_endpoint)
        roots[n++] = endpoint_frame(a, endpoint, idle, request);
    if (a->by_process)
        roots[n++] = process_frame(a, w);
    return n;
}

size_t roots_for_thread(struct roots *a, const struct walker *w, const struct py_thread *t,
                        uint32_t *roots)
{
    uint64_t request = 0;
    if (a->by_endpoint && t->endpoint[0] && w->tasks)
        request = endpoint_request(&a->endpoints_reader, w->rt->pid, t->tstate);
    return roots_for(a, w, t->endpoint, t->idle, request, roots);
}
