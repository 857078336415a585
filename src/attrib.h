/*
 * attrib.h - synthetic root frames shared by `record` (and `top`): the
 * process a stack came from (--subprocesses) and the HTTP endpoint its thread
 * was serving (--by-endpoint), plus the per-endpoint table.
 *
 * A stack is rooted as: endpoint; process; thread (--threads); Python frames.
 * The endpoint goes first so that one endpoint's time adds up across worker
 * processes in a flame graph.
 */
#ifndef SPYGLASS_ATTRIB_H
#define SPYGLASS_ATTRIB_H

#include <stdint.h>
#include <stdio.h>

#include "profile/profile.h"
#include "python/endpoint.h"
#include "python/walk.h"

/* Most root frames attrib_roots writes. */
#define ATTRIB_MAX_ROOTS 2
/* Distinct endpoints kept; later ones are counted as "(other endpoints)". */
#define ATTRIB_MAX_ENDPOINTS 500
/* The label of samples taken outside any request. */
#define ATTRIB_NO_REQUEST "(no request)"

struct attrib_endpoint {
    uint32_t frame;  /* profile frame id (PF_ENDPOINT) */
    uint64_t active; /* samples of threads the OS had running */
    uint64_t idle;   /* samples of threads waiting (sleep, I/O, locks) */
};

struct attrib_proc {
    pid_t pid;
    uint64_t runtime_addr; /* tells a process that exec'd another Python apart */
    uint32_t frame;
};

struct attrib {
    struct profile *profile;
    int by_process, by_endpoint;
    struct endpoint_reader endpoints_reader;
    struct attrib_proc *procs;
    size_t nprocs, procs_cap;
    struct attrib_endpoint *endpoints;
    size_t nendpoints, endpoints_cap;
};

void attrib_init(struct attrib *a, struct profile *p, int by_process, int by_endpoint);
void attrib_release(struct attrib *a);

/* Writes the root frame ids for thread t of the process w reads into roots
 * (outermost first) and returns how many (0 .. ATTRIB_MAX_ROOTS). With
 * by_endpoint, also counts the sample (active or idle) for its endpoint
 * (t->endpoint: set w->endpoints = &a->endpoints_reader before sampling):
 * call it for idle threads too, before dropping them. */
size_t attrib_roots(struct attrib *a, struct walker *w, const struct py_thread *t, uint32_t *roots);

/* Prints the per-endpoint table: samples, share of all active samples, and
 * the endpoint's own idle share, busiest first. */
void attrib_print_endpoints(const struct attrib *a, FILE *out);

#endif
