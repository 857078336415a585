/*
 * sampler.h - the sampling loop: a timer on absolute deadlines, one walk of
 * every thread per tick, and honest statistics about how it went.
 */
#ifndef SPYGLASS_SAMPLE_SAMPLER_H
#define SPYGLASS_SAMPLE_SAMPLER_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/walk.h"

struct sampler_options {
    double rate_hz;    /* ticks per second */
    double duration_s; /* 0: until the target exits or we are stopped */
    int nonblocking;   /* never pause the target */
    pid_t child;       /* spawn mode: our child (reaped by the sampler), else 0 */
    /* --native: unwind every stopped thread into it at each tick (needs
     * nonblocking 0: only a stopped thread can be unwound), and hand it to
     * the callback as walker->native. NULL: Python frames only. */
    struct native_stacks *native;
    int native_idle; /* also unwind threads that wait (else they get no frames) */
};

/* Why the loop ended. */
enum sampler_end {
    SAMPLER_END_DURATION = 0,
    SAMPLER_END_STOPPED = 1, /* *stop became non-zero (Ctrl-C, SIGTERM) */
    SAMPLER_END_EXITED = 2,  /* the target exited (or exec'd another program: execed) */
    SAMPLER_END_ERROR = 3,   /* could not pause (permission) */
};

#define SAMPLER_COST_BUCKETS 64
#define SAMPLER_WORK_EVERY 32

struct sampler_stats {
    uint64_t ticks;       /* ticks attempted */
    uint64_t walks;       /* process walks attempted (several per tick with a process set) */
    uint64_t walk_errors; /* process walks that failed (a process set's ticks can half fail) */
    uint64_t ok;          /* ticks whose walk succeeded */
    uint64_t errors;      /* ticks whose walk failed (torn read, ...) */
    uint64_t late;        /* ticks that started more than one period after their deadline */
    uint64_t missed;      /* ticks skipped because we fell behind */
    uint64_t max_lag_ns;  /* worst lateness */
    uint64_t cost_ns;     /* total time spent sampling (pause + walk + resume + callback) */
    uint64_t cost_hist[SAMPLER_COST_BUCKETS]; /* log2 histogram of per-tick cost in ns */
    uint64_t start_ns, end_ns;                /* CLOCK_MONOTONIC */
    uint64_t cpu_ns;                  /* our user+sys CPU time during the loop (thread CPU clock) */
    uint64_t work_cpu_ns, work_ticks; /* the CPU of every SAMPLER_WORK_EVERY-th tick from
                                         its wake-up to its sleep: sampling without the
                                         cost of sleeping (two clock reads, not
                                         free: hence not every tick) */
    uint64_t reads;                   /* reads of target memory during the loop */
    int child_status;                 /* spawn mode: wait status of the child */
    int child_reaped;
    int last_error; /* SG_E* code of the last failed tick */
    int execed;     /* ended because the target exec'd another program */
    enum sampler_end end;
};

/* Called after every successful walk, with the time since the start. */
typedef void (*sampler_fn)(struct walker *w, uint64_t elapsed_ns, void *ctx);

/* Samples until the duration passes, *stop becomes non-zero, or the target
 * exits. Fills *stats. Returns 0, or a negative SG_E* code if pausing is not
 * permitted (the target is left running). */
int sampler_run(struct walker *w, const struct sampler_options *opt, volatile sig_atomic_t *stop,
                sampler_fn fn, void *ctx, struct sampler_stats *stats);

struct procset;

/* Like sampler_run, for every Python process of a process tree
 * (sample/procset.h): each tick refreshes the tree (at most every
 * PROCSET_SCAN_MS) and walks each process in turn, pausing only that one
 * while it is read. fn is called once per process walked, with that process's
 * walker (w->rt->pid tells which). A tick counts as ok if no walk failed.
 * Ends when set->root exits (a set without a root: by duration or *stop).
 * Returns 0, or -SG_EPERM if the root may not be
 * paused. */
int sampler_run_set(struct procset *set, const struct sampler_options *opt,
                    volatile sig_atomic_t *stop, sampler_fn fn, void *ctx,
                    struct sampler_stats *stats);

/* The q-quantile (0..1) of the per-tick cost, in microseconds (from the histogram). */
double sampler_cost_quantile_us(const struct sampler_stats *s, double q);

/* Current CLOCK_MONOTONIC time in ns. */
uint64_t sampler_now_ns(void);

#endif
