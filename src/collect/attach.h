/*
 * attach.h - what `record` and `top` share to get hold of a target: attach to
 * a running process (--pid), or spawn a command (-- CMD ARGS...) and wait
 * until its Python runtime is up. Errors are printed here (cmd layer).
 */
#ifndef SPYGLASS_ATTACH_H
#define SPYGLASS_ATTACH_H

#include <signal.h>
#include <sys/types.h>

#include "proc/mem.h"
#include "python/detect.h"

struct attach_options {
    pid_t pid;                        /* attach to this process, or 0 */
    char *const *command;             /* else spawn this argv */
    int quiet_child;                  /* spawn with stdin, stdout, stderr on /dev/null */
    volatile sig_atomic_t *stop;      /* set by a signal: give up waiting for the runtime */
    volatile sig_atomic_t *child_pid; /* set to the child's pid as soon as it exists */
};

/* The result: where the target is, and in spawn mode the state of our child. */
struct attach_target {
    pid_t pid;        /* the process to sample */
    pid_t child;      /* spawn mode: our child, else 0 */
    int child_status; /* its wait status, if child_reaped */
    int child_reaped; /* 1 if it already exited (and was reaped) */
};

/* Spawns o->command, or attaches to o->pid, and finds its Python runtime
 * (reader must already be set up with mem_proc_init on mp; mp->pid is set to
 * the child in spawn mode). Returns 0, or a negative SG_E* code after printing
 * "spyglass: error: ..." and a hint. On failure a child we started that is
 * still running is terminated and reaped. */
int attach_or_spawn(const struct attach_options *o, struct mem_proc *mp, struct mem_reader *r,
                    struct py_runtime *rt, struct attach_target *t);

#endif
