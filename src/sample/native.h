/*
 * native.h - the native (C/C++) stack of every stopped thread, once per tick
 * (--native).
 *
 * The sampler stops the target's threads (proc/pause.h), walks the Python
 * stacks, then calls native_unwind on the same thread (PTRACE_GETREGSET
 * works only for the tracer thread) before it lets them go. Each thread's
 * frames are copied out of the unwinder at once, with their names: the
 * unwinder's strings live only until its next call. What a tick unwound
 * stays readable until the next native_unwind; collect/fold.c merges it with
 * the Python frames of the same OS thread.
 *
 * Threads that are waiting can be skipped (skip_idle) when nobody keeps
 * their stacks: a walk costs 20-75 us of CPU, and most threads of a server
 * wait most of the time.
 */
#ifndef SPYGLASS_SAMPLE_NATIVE_H
#define SPYGLASS_SAMPLE_NATIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc/unwind.h"

/* Deepest native stack kept per thread. */
#define NATIVE_MAX_DEPTH 512

/* One native frame of a tick. Strings stay valid until the next native_unwind. */
struct native_sym {
    uint64_t pc;
    const char *symbol; /* function name, C++ demangled; NULL when no symbol covers pc */
    const char *module; /* basename of the mapped file ("libz.so.1.2.13"); NULL if none */
    uint64_t offset;    /* pc in the module's file, when symbol is NULL (addr2line's input) */
};

/* One thread's native stack in this tick. */
struct native_stack {
    pid_t tid;
    char state;                      /* its /proc state letter, read before it was stopped */
    int err;                         /* 0, or the SG_E* code that kept it from being unwound */
    enum unwind_end end;             /* how the walk ended (when err is 0) */
    const struct native_sym *frames; /* innermost first */
    size_t depth;
};

/* Counters since native_init, for the summary. */
struct native_stats {
    uint64_t ticks;   /* native_unwind calls */
    uint64_t walks;   /* threads unwound */
    uint64_t failed;  /* threads that could not be unwound (not the ones that exited) */
    uint64_t gone;    /* threads that exited or were being killed while we looked */
    uint64_t skipped; /* waiting threads not unwound (skip_idle) */
    uint64_t partial; /* walks that did not reach the outermost frame */
    uint64_t frames;  /* frames kept */
    uint64_t cpu_ns;  /* CPU time spent in native_unwind (this thread's clock) */
};

struct native_names; /* tid -> /proc/PID/task/TID/comm, cached */

struct native_stacks {
    pid_t pid;
    struct unwinder *unwinder;
    struct native_stack *stacks; /* this tick's threads, in the order given */
    size_t count, cap;
    struct native_sym *syms; /* every frame of this tick */
    size_t nsyms, syms_cap;
    char *text; /* this tick's names, NUL-separated */
    size_t text_len, text_cap;
    struct native_names *names;
    struct native_stats stats;
};

/* Prepares n for process pid (reads its module list; touches no thread).
 * Returns 0, or -SG_ENOPROC, -SG_EPERM, -SG_EIO as unwind_new does. */
int native_init(struct native_stacks *n, pid_t pid);
void native_release(struct native_stacks *n);

/*
 * Unwinds threads tids[0..count), which the calling thread has stopped
 * (states[i] is each one's /proc state from before; 'R' runs). With
 * skip_idle, threads whose state says they wait are listed without frames.
 * Replaces the previous tick's stacks. A thread that cannot be unwound is
 * listed with its error; nothing here fails the tick.
 */
void native_unwind(struct native_stacks *n, const pid_t *tids, const char *states, size_t count,
                   int skip_idle);

/* This tick's stack of thread tid, or NULL if it was not unwound. */
const struct native_stack *native_find(const struct native_stacks *n, pid_t tid);

/* The OS name of thread tid (its comm, "" if unreadable), read once and
 * cached: valid until native_release. */
const char *native_thread_name(const struct native_stacks *n, pid_t tid);

#endif
