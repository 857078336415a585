/*
 * attach.h - getting hold of a target: attach to a running process (--pid),
 * or spawn a command (-- CMD ARGS...) and wait until Python runs in it; for
 * --subprocesses, the Python processes of the tree under it.
 *
 * `record`, `top` and `dump` all start here. Nothing is printed: a failure
 * comes back as a negative SG_E* code, a sentence in `why` and the step that
 * failed (attach_failure), from which the command layer picks its hint.
 */
#ifndef SPYGLASS_COLLECT_ATTACH_H
#define SPYGLASS_COLLECT_ATTACH_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "proc/mem.h"
#include "python/detect.h"
#include "sample/procset.h"

/* How long a spawned command may take to start Python. */
#define ATTACH_WAIT_S 30

struct attach_options {
    pid_t pid;                        /* attach to this process, or 0 */
    char *const *command;             /* else spawn this argv */
    int tree;                         /* --subprocesses: the tree under the process */
    int follow;                       /* spawn mode: sample every Python process of the
                                         command's tree (wrappers, reloaders, pools)
                                         as one program, without process roots */
    int quiet_child;                  /* spawn with stdin, stdout, stderr on /dev/null */
    volatile sig_atomic_t *stop;      /* set by a signal: give up waiting */
    volatile sig_atomic_t *child_pid; /* if set, receives the child's pid at once */
};

/* Which step failed, for the command layer's hint. */
enum attach_failure {
    ATTACH_OK = 0,
    ATTACH_SPAWN,       /* the command could not be started (not found, ...) */
    ATTACH_DETECT,      /* the process is not a Python we can read (err says why) */
    ATTACH_NO_PYTHON,   /* a spawned command ended or timed out before Python ran */
    ATTACH_TREE_EMPTY,  /* no process of the tree runs Python */
    ATTACH_INTERRUPTED, /* *stop was set while waiting */
    ATTACH_WRAPPER,     /* the spawned command is not Python but started it (wrapped) */
};

/* A target being sampled: one process (reader, rt) or, with tree, a set. */
struct attach_target {
    pid_t pid;        /* the process given or spawned (the tree's root) */
    pid_t child;      /* spawn mode: our child, else 0 */
    int child_status; /* its wait status, if child_reaped */
    int child_reaped; /* 1 once it exited and was reaped */
    pid_t wrapped;    /* ATTACH_WRAPPER: the Python process the command started */
    int tree;         /* set below is in use (else mp, reader, rt) */
    int followed;     /* tree because the spawned command is followed (not --subprocesses) */
    struct mem_proc mp;
    struct mem_reader reader;
    struct py_runtime rt;
    struct procset set;
    enum attach_failure failure;
};

/* Attaches to o->pid or spawns o->command, then finds its Python runtime
 * (with o->tree: every Python process of the tree). Returns 0, or a negative
 * SG_E* code with a sentence in why and t->failure set; on failure a child
 * we started is terminated and reaped, and t needs no release. */
int attach_start(const struct attach_options *o, struct attach_target *t, char *why,
                 size_t why_size);

/* Releases what attach_start set up (not the child: see attach_end_child). */
void attach_release(struct attach_target *t);

/* Ends a child we spawned that is still running: SIGTERM, then SIGKILL if
 * it has not exited within grace_ms. Returns 1 if it had to be killed. */
int attach_end_child(struct attach_target *t, int grace_ms);

/* Waits until a child we spawned exits by itself (no signal is sent). */
void attach_wait_child(struct attach_target *t);

/* The exit status a shell would give for a wait status (128 + signal). */
int attach_exit_status(int wait_status);

/* The Python runtime shown in headers: the process's own, or with a tree the
 * first Python process's (NULL if there is none). */
const struct py_runtime *attach_runtime(const struct attach_target *t);

#endif
