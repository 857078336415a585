/*
 * roots.h - synthetic root frames shared by `record` (and `top`): the
 * process a stack came from (--subprocesses) and the HTTP endpoint its thread
 * was serving (--by-endpoint), with the counts the endpoint table is made of
 * (printed by the command layer).
 *
 * A stack is rooted as: endpoint; process; thread (--threads); Python frames.
 * The endpoint goes first so that one endpoint's time adds up across worker
 * processes in a flame graph.
 */
#ifndef SPYGLASS_COLLECT_ROOTS_H
#define SPYGLASS_COLLECT_ROOTS_H

#include <stdint.h>
#include <stdio.h>

#include "profile/profile.h"
#include "python/endpoint.h"
#include "python/walk.h"

/* Most root frames roots_for_thread writes. */
#define ROOTS_MAX 2
/* Distinct endpoints kept; later ones are counted as "(other endpoints)". */
#define ROOTS_MAX_ENDPOINTS 500
/* The label of samples taken outside any request. */
#define ROOTS_NO_REQUEST "(no request)"
/* Distinct processes given a frame of their own (--subprocesses); later ones,
 * say of a server that forks a worker per task for days, share
 * ROOTS_OTHER_PROCESSES. */
#define ROOTS_MAX_PROCESSES 4096
#define ROOTS_OTHER_PROCESSES "(other processes)"

struct roots_endpoint {
    uint32_t frame;  /* profile frame id (PF_ENDPOINT) */
    uint64_t active; /* samples of threads the OS had running */
    uint64_t idle;   /* samples of threads waiting (sleep, I/O, locks) */
};

struct roots_proc {
    pid_t pid;
    uint64_t runtime_addr; /* tells a process that exec'd another Python apart */
    uint32_t frame;
};

struct roots {
    struct profile *profile;
    int by_process, by_endpoint;
    struct endpoint_reader endpoints_reader;
    uint64_t *counted; /* requests (their dicts) counted since roots_walk_begin */
    size_t ncounted, counted_cap;
    struct roots_proc *procs;
    size_t nprocs, procs_cap;
    struct roots_endpoint *endpoints;
    size_t nendpoints, endpoints_cap;
};

void roots_init(struct roots *a, struct profile *p, int by_process, int by_endpoint);
void roots_release(struct roots *a);

/* Writes the root frame ids for thread t of the process w reads into roots
 * (outermost first) and returns how many (0 .. ROOTS_MAX). With
 * by_endpoint, also counts the sample (active or idle) for its endpoint
 * (t->endpoint: set w->endpoints = &a->endpoints_reader before sampling):
 * call it for idle threads too, before dropping them. */
size_t roots_for_thread(struct roots *a, const struct walker *w, const struct py_thread *t,
                        uint32_t *roots);

/* The same for a stack that is not a thread's (an asyncio task waiting:
 * python/tasks.h): its endpoint label ("" outside requests), whether it
 * waits, and the request's dict (0 if unknown). A request already counted
 * since roots_walk_begin (served by a thread, or by another task of the
 * same request) is not counted again: the endpoint table counts each
 * request in flight once per sample, its wall time. */
size_t roots_for(struct roots *a, const struct walker *w, const char *endpoint, int idle,
                 uint64_t request, uint32_t *roots);

/* Starts a walk of w's process: forgets the requests counted before. */
void roots_walk_begin(struct roots *a);

#endif
