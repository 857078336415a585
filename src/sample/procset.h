/*
 * procset.h - the Python processes of a process tree, kept up to date.
 *
 * `--subprocesses` samples a process and all its descendants. A procset holds
 * one target per process of the tree: a memory reader, the runtime found by
 * detect.c, a walker and a pause set. procset_refresh() looks at the tree
 * again: new processes (workers started or restarted mid-run) are detected,
 * processes that exited are dropped. Processes that are not Python (a shell,
 * a compiler) are skipped silently; one that may still become Python (just
 * forked, about to exec an interpreter, or still initialising one) is looked
 * at again for PROCSET_RETRY_S seconds, or whenever its executable changes.
 */
#ifndef SPYGLASS_SAMPLE_PROCSET_H
#define SPYGLASS_SAMPLE_PROCSET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc/mem.h"
#include "proc/pause.h"
#include "proc/ptree.h"
#include "python/detect.h"
#include "python/walk.h"

/* How long a new process that is not (yet) Python keeps being re-checked. */
#define PROCSET_RETRY_S 5
/* How often the whole tree is re-read while sampling. Between scans, every
 * refresh asks the kernel whether any pid was allocated (ptree_watch) and
 * reads only the new ones: a short-lived worker is found at the next tick,
 * not up to 200 ms later. */
#define PROCSET_SCAN_MS 200
/* A Python process walked in fewer ticks than this was seen only briefly. */
#define PROCSET_BRIEF_WALKS 3
/* Consecutive failed walks after which a process's runtime is looked for
 * again (it may have exec'd another program). */
#define PROCSET_REDETECT_ERRORS 3

enum proc_target_state {
    PT_PENDING = 0, /* not Python yet: re-checked until retry_until_ns */
    PT_PYTHON = 1,  /* runtime found: sampled */
    PT_OTHER = 2,   /* not Python: skipped */
};

struct proc_target {
    struct walker w; /* valid while state == PT_PYTHON */
    pid_t pid;
    uint64_t start_time; /* with pid, names the process (pids are reused) */
    enum proc_target_state state;
    uint64_t retry_until_ns;
    char exe[256]; /* /proc/PID/exe when last checked */
    int consecutive_errors;
    int sampling; /* w and pause are initialised */
    int seen;     /* found in the latest scan */
    struct mem_proc mp;
    struct mem_reader reader;
    struct py_runtime rt;
    struct pause_set pause;
    int pause_err;          /* what pause_interrupt said this tick */
    uint64_t walks, errors; /* for the summary */
    size_t history;         /* its entry in procset.history (SIZE_MAX: none) */
    uint64_t binary_base;   /* where the file holding its runtime is mapped */
    int inherited;          /* its runtime was its parent's (forked, no exec) */
};

/* A Python process that was sampled at some point: the summary says which
 * processes were followed. */
struct procset_seen {
    pid_t pid;
    uint64_t start_time; /* with pid, names the process */
    char command[96];    /* its command line, cut */
    uint64_t walks;      /* ticks in which it was walked */
    int gone;            /* it exited while we sampled */
};

/* A procset without a root (the agent): the processes to follow come from
 * a function, called at every scan, which fills a newly allocated array of
 * pids (the caller frees) and returns the count, or a negative SG_E* code. */
typedef int (*procset_list_fn)(void *ctx, pid_t **pids);

struct procset {
    pid_t root; /* 0 with a list function */
    int follow; /* 0: only root (the plain single-process case) */
    struct proc_target **targets;
    size_t count, cap;
    uint64_t next_scan_ns;
    uint64_t scans;
    uint64_t scan_ns;             /* time spent scanning and detecting */
    size_t python_ever;           /* Python processes sampled at some point */
    size_t exited;                /* Python processes that went away */
    size_t unreadable;            /* descendants we were not allowed to pause */
    size_t ended_unread;          /* found already ended: never sampled */
    struct procset_seen *history; /* every Python process sampled, in order found
                                   * (none with a list function: the agent) */
    size_t nhistory, history_cap;
    struct ptree_watch watch;           /* new pids between scans */
    uint64_t quick_checks, quick_found; /* refreshes that asked the kernel; found so */
    uint64_t inherited;                 /* runtimes taken from a forking parent */
    struct endpoint_reader *endpoints;  /* given to every walker (walker.endpoints) */
    struct task_reader *tasks;          /* given to every walker (walker.tasks) */
    procset_list_fn list;               /* with root 0: who to follow */
    void *list_ctx;
    uint64_t scan_ms; /* how often the processes are listed again (PROCSET_SCAN_MS) */
};

/* Prepares a set for the tree under root (follow = 1) or root alone. */
void procset_init(struct procset *ps, pid_t root, int follow);
/* Prepares a set of the processes list() names at every scan, at most every
 * scan_ms; it has no root, so nothing ends it but the caller. */
void procset_init_list(struct procset *ps, procset_list_fn list, void *ctx, uint64_t scan_ms);
/* Releases every target (resuming anything paused). */
void procset_release(struct procset *ps);

/* Re-reads the tree and detects new processes, at most once per
 * PROCSET_SCAN_MS unless force. now_ns is CLOCK_MONOTONIC. Returns the number
 * of Python targets. */
size_t procset_refresh(struct procset *ps, uint64_t now_ns, int force);

/* Notes a failed walk of t: drops it if the process is gone, looks for its
 * runtime again after PROCSET_REDETECT_ERRORS failures in a row. Returns 1 if
 * the process is gone. */
int procset_walk_failed(struct procset *ps, struct proc_target *t, uint64_t now_ns);

/* Stops sampling t for good (e.g. it may not be paused); counted in
 * ps->unreadable. */
void procset_skip(struct procset *ps, struct proc_target *t);

/* Brings ps->history's walk counts up to date. */
void procset_history_sync(struct procset *ps);

/* Number of targets currently sampled. */
size_t procset_python_count(const struct procset *ps);

/* The target for pid, or NULL. */
struct proc_target *procset_find(struct procset *ps, pid_t pid);

#endif
