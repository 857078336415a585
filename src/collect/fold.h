/*
 * fold.h - one walk's threads turned into profile stacks.
 *
 * After each walk of a process the sampler calls back `record` and `top`
 * (and whatever else samples); both hand the walker to fold_walk, which
 * decides per thread what becomes a stack and what it is made of:
 *
 *   [endpoint] [process] [thread] <module> ... [(N frames omitted)] ... leaf
 *   [(idle) | (unknown state)]
 *
 * and with --async, for each asyncio task waiting (python/tasks.h):
 *
 *   [endpoint] [process] [thread] <module> ... _run_once  (its loop's thread)
 *       awaiting tasks' coroutines ... its coroutines ... (idle)
 *
 * while the task running on a thread gets the coroutines of the tasks
 * awaiting it put in front of its own, in that thread's stack.
 *
 * With --native (the walker carries native stacks, walker.native), the
 * Python frames are merged into each thread's native stack
 * (collect/merge.h), and threads with no Python state (C threads, BLAS
 * pools) become stacks of their own, after the Python threads.
 *
 * - roots first (collect/roots.h): the HTTP endpoint (--by-endpoint), the
 *   process (--subprocesses), the thread (--threads);
 * - then the Python frames, outermost first, each interned once in the
 *   profile and remembered by (code object serial, line), so a frame seen
 *   before costs one memo probe, not a string hash;
 * - of a stack deeper than WALK_MAX_DEPTH, both ends, with one
 *   "(N frames omitted)" frame between them;
 * - an "(idle)" leaf for a waiting thread, when asked; "(unknown state)"
 *   for a thread whose OS thread is unknown (python/tid.h): it is never
 *   counted as running, and kept only where idle threads are.
 *
 * Filters are counted, never silent: threads dropped for being idle, for
 * not holding the GIL, for an unknown state, for a stack that could not be
 * read whole (torn or unreadable), or for having no Python frame are in
 * struct fold_stats.
 * Each kept stack is handed to the caller's function, which adds it to a
 * profile (record), a top model (top), or anything else; nothing here
 * prints or decides weights.
 */
#ifndef SPYGLASS_COLLECT_FOLD_H
#define SPYGLASS_COLLECT_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "collect/merge.h"
#include "collect/roots.h"
#include "profile/charge.h"
#include "profile/profile.h"
#include "python/walk.h"

struct fold_options {
    int idle;        /* keep the stacks of waiting threads (else counted and dropped) */
    int idle_leaf;   /* end a waiting thread's stack with an "(idle)" frame */
    int gil;         /* keep only the stack of the thread holding the GIL */
    int threads;     /* root each stack at its thread ("thread \"name\" (tid N)") */
    int function;    /* one frame per function (line 0), not per line */
    int by_process;  /* root each stack at its process (--subprocesses) */
    int by_endpoint; /* root each stack at its HTTP endpoint (counted for the table) */
    int keep_empty;  /* also hand over threads with no Python frame (depth 0) */
    int async;       /* asyncio tasks too (walker.tasks): a waiting task's chain is a
                        stack of its own, rooted at its loop's thread; the running
                        task's is joined to its thread's stack */
    int native_all;  /* --native-all: keep the interpreter's own C frames */
};

/* One frame of a folded stack. Strings belong to the profile. */
struct fold_frame {
    uint32_t id;      /* the profile frame */
    const char *name; /* function (qualified name), or a root's label */
    const char *file; /* "" for synthetic frames */
    int line;         /* the line running (0 with function) */
    int first_line;   /* the function's first line; 0 for synthetic frames */
    enum profile_frame_kind kind;
};

/* One thread's stack from one walk, handed to a fold_fn. */
struct fold_stack {
    const struct walker *walker;    /* the process walked (walker->rt->pid) */
    const struct py_thread *thread; /* the thread, as the walker read it; for a thread
                                       without Python (--native) one made up with its
                                       tid, OS name and state, and no frames */
    const struct fold_frame *frames;
    const uint32_t *ids;        /* the frames' ids, for profile_add_stack */
    size_t depth;               /* frames[0..depth), root first */
    size_t nroots;              /* how many of them are roots (endpoint, process, thread) */
    int idle;                   /* the thread was waiting */
    const struct py_task *task; /* --async: the waiting task the stack is of (its
                                   thread is its loop's), else NULL */
};

typedef void (*fold_fn)(const struct fold_stack *s, void *ctx);

/* Threads seen and what became of them. */
struct fold_stats {
    uint64_t threads;            /* thread samples seen */
    uint64_t kept;               /* stacks handed over */
    uint64_t idle_dropped;       /* waiting threads left out (no --idle) */
    uint64_t gil_dropped;        /* threads left out by --gil */
    uint64_t gil_dropped_active; /* of those, the ones the OS was running (C code
                                    that released the GIL: hashing, compression, I/O) */
    uint64_t empty;              /* threads with no Python frame */
    uint64_t tid_fixed;          /* threads whose thread state named another process's
                                    thread (uWSGI workers), found through glibc */
    uint64_t unknown;            /* threads whose OS state is unknown (kept as such
                                    with idle, else left out) */
    uint64_t torn;               /* threads left out: their stack changed under two walks */
    uint64_t retried;            /* threads kept whose stack was read twice (it moved once) */
    uint64_t unreadable;         /* threads left out: their stack could not be read */
    uint64_t deep;               /* stacks deeper than WALK_MAX_DEPTH (frames omitted) */
    uint64_t cut;                /* of those, longer than WALK_MAX_CHAIN: root unknown */
    size_t deepest;              /* the most frames seen in one stack */
    uint64_t tasks;              /* --async: stacks of waiting tasks kept (also in kept) */
    uint64_t tasks_joined;       /* running tasks whose awaiters were put on their
                                    thread's stack */
    /* --native */
    uint64_t native_dropped;   /* Python threads left out: not stopped in time for their
                                  native stack to be read, or it could not be read */
    uint64_t native_threads;   /* stacks of threads without Python state */
    uint64_t native_unmatched; /* Python threads kept without native frames: their OS tid
                                  is unknown (then threads without Python are left out) */
};

struct fold {
    struct profile *profile;
    struct fold_options opt;
    struct roots roots; /* process and endpoint roots, endpoint counts */
    struct fold_stats stats;
    uint32_t idle_frame;
    uint32_t unknown_frame;
    struct fold_frame *frames; /* scratch, root first */
    uint32_t *ids;             /* scratch, parallel to frames */
    size_t cap;
    struct fold_memo *memo;     /* (code serial, line) -> frame id */
    size_t memo_cap;            /* a power of two */
    struct py_thread no_thread; /* stands for the thread of a loop that runs nowhere */
    struct merge merge;         /* --native */
    struct py_thread bare;      /* a thread without Python state, as handed over */
};

/* Prepares f to fold into profile p (which must outlive it). */
void fold_init(struct fold *f, struct profile *p, const struct fold_options *opt);
void fold_release(struct fold *f);

/* Folds every thread w has just read, calling fn(stack, ctx) for each one
 * kept, in the walker's thread order. Returns the number kept. */
size_t fold_walk(struct fold *f, const struct walker *w, fold_fn fn, void *ctx);

/* Writes into *ids (the fold's scratch: valid until its next call) the
 * profile frames of thread t's Python stack as a stack of it would have
 * them, with no roots and no (idle) leaf (with --async, the tasks awaiting
 * its running task joined in); returns how many. */
size_t fold_thread_frames(struct fold *f, const struct walker *w, const struct py_thread *t,
                          const uint32_t **ids);

/* Interns thread t's stack with weight 0, whatever the filters, and returns
 * its id, or -1 if it has no Python frame: for charging memory to a stack.
 * It is rooted at the thread with --threads (not at a process or endpoint)
 * and ends in (idle) when the thread waits (with idle_leaf). */
int64_t fold_bare_stack(struct fold *f, const struct py_thread *t);

/* record --memory: charges the RSS change since the last sample (rss, at
 * elapsed_ns) to the stack of the thread holding the GIL, else one the OS
 * runs; a fall back for when none runs is the main thread (tid == pid)
 * where it waits (profile/charge.h has the rules). */
void fold_charge_rss(struct fold *f, const struct walker *w, struct charge *c, uint64_t elapsed_ns,
                     uint64_t rss);

#endif
