/*
 * tid.h - which OS thread runs each thread state, and what the OS says it
 * is doing (python/walk.c calls it once per sample).
 *
 * A thread state's own idea of its thread id cannot be trusted as is:
 * - a server that forks without PyOS_AfterFork_Child (uWSGI without
 *   --py-call-osafterfork) leaves each worker's main thread state with the
 *   master's native_thread_id, which is no thread of the worker;
 * - a process in its own PID namespace (a container, `unshare --pid`)
 *   knows its threads by numbers that mean other threads, or none, to us;
 * - before 3.11 a thread state has no native id at all.
 * So every id is mapped into our namespace (NSpid) and checked against the
 * process's threads; one that is not among them is looked up in glibc's
 * struct pthread (whose address is the thread's ident), and if that fails
 * too, the thread's state is unknown: shown as such, never as running.
 */
#ifndef SPYGLASS_PYTHON_TID_H
#define SPYGLASS_PYTHON_TID_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc/task.h"

/* How far into glibc's struct pthread we look for the thread's tid. */
#define TID_PTHREAD_SCAN 2048
/* Most thread structs compared when looking for the tid's offset. */
#define TID_PROBE_THREADS 64
/* Most samples in a row an idle thread whose stack stays still keeps its
 * state without a read of /proc (tid_confirm): a thread woken inside the C
 * call it waited in, still in it, is shown idle for at most this many. */
#define TID_STATE_KEEP 16

/* What the walker remembers about thread ids between samples. */
struct tid_map {
    int ns_checked;           /* the target's PID namespace was looked at */
    int nested;               /* the target has a PID namespace of its own */
    pid_t inner_pid;          /* its pid in there (its pid, when not nested) */
    struct task_ids *ids;     /* nested: its threads by both numbers */
    size_t nids;              /* entries in ids */
    unsigned ids_epoch;       /* the sample ids was last read in */
    unsigned epoch;           /* samples resolved so far */
    unsigned probe_epoch;     /* no pthread offset search before this sample */
    struct tid_fix *fixes;    /* thread states whose own id proved wrong */
    size_t nfixes, fixes_cap; /* entries used and allocated in fixes */
};

void tid_map_init(struct tid_map *m);
void tid_map_release(struct tid_map *m);
/* For a walk of a capture (no process): pid is not nested, and /proc is
 * never asked about it. */
void tid_map_no_proc(struct tid_map *m, pid_t pid);

struct walker;

/* Sets every thread's tid (host), inner_tid, os_state, idle and unknown for
 * the sample w just listed (w->threads, with the native ids read from the
 * thread states in their tid field). */
void tid_resolve(struct walker *w);

/* After the walk: a thread whose state tid_resolve kept (an idle thread
 * whose stack had not moved) has it read after all if its walk was not kept
 * or it holds the GIL; then every thread's state is remembered for the next
 * sample. */
void tid_confirm(struct walker *w);

/* Finds the offset of the tid in glibc's struct pthread from nthreads
 * structs of TID_PTHREAD_SCAN bytes each (structs, one after the other):
 * the offset that holds a thread of the process (tasks: their ids in its
 * own namespace) in the most structs, never the same one twice, exactly
 * known[i] where known[i] is not 0, and, when nothing is known, the
 * process's pid (inner_pid) in one of them (its main thread). Returns the
 * offset, or -1 if none fits. */
int64_t tid_find_offset(const uint8_t *structs, size_t nthreads, const pid_t *known,
                        const pid_t *tasks, size_t ntasks, pid_t inner_pid);

#endif
