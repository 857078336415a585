/*
 * walk.h - every thread's Python stack, read from outside the process.
 *
 * A walker holds what stays valid between samples: the runtime found by
 * detect.c, the code-object cache and the pthread -> OS tid mapping. Each
 * walk_sample() call reads the thread list and every stack afresh.
 */
#ifndef SPYGLASS_PYTHON_WALK_H
#define SPYGLASS_PYTHON_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc/task.h"
#include "python/code.h"
#include "python/detect.h"
#include "python/plan.h"
#include "python/tid.h"

/* Most frames kept per stack: of a deeper one, the WALK_KEEP_OUTER
 * outermost and the rest of the innermost, with the count of those left out
 * between them (py_thread.omitted). */
#define WALK_MAX_DEPTH 4096
#define WALK_KEEP_OUTER 2048
#define WALK_KEEP_INNER (WALK_MAX_DEPTH - WALK_KEEP_OUTER)
/* Most frames walked per stack; past this its outermost frames are unknown
 * (py_thread.truncated). A walk costs a read per frame before 3.11. */
#define WALK_MAX_CHAIN 100000
/* Most threads we read per sample. */
#define WALK_MAX_THREADS 1024

/* Room for a thread's endpoint label ("GET /users/{n}", python/endpoint.h). */
#define WALK_ENDPOINT_MAX 160

/* Samples after which cached thread names are read again (names can change). */
#define WALK_NAMES_REFRESH 256

struct walk_name {
    uint64_t ident;
    char name[128];
};

struct py_frame {
    struct code_info *code; /* owned by the walker's cache: valid until the next sample */
    uint64_t frame_addr;    /* PyFrameObject or _PyInterpreterFrame address (for locals) */
    int line;
    int owner;      /* 3.11+ frame owner (PY_OWNED_BY_*), else 0 */
    uint64_t instr; /* the position word the line came from (instruction
                       pointer, or f_lasti before 3.11): a caller's stays
                       put while its callee runs (walk.c's caller check) */
    /* How many of the interpreter's C evaluation calls (_PyEval_EvalFrameDefault,
     * PyEval_EvalFrameEx on 2.7) end with this frame, counting from the leaf:
     * 1 for the frame such a call was entered with, 0 for the frames it runs
     * inline (3.11+: Python-to-Python calls), 2+ when a call that has no Python
     * frame yet sits right above it. Before 3.11 every frame has its own call.
     * --native puts each call's frames where its C frame is (collect/fold.c). */
    uint8_t eval_entry;
};

/* A thread's last walk (walk_checked): where it started and which reads of
 * that sample's batched read it made (python/plan.h). A walk from the same
 * place over the same bytes gives the same frames: when the next sample's
 * batch holds the same bytes for all those reads, its frames are kept as
 * they are instead of walked again (a thread waiting in a pool). */
struct walk_memo {
    int valid;
    uint64_t tstate, top, chunk; /* where it started */
    uint64_t codes;              /* the code cache's generation after it */
    size_t from, to;             /* its reads, in that sample's record */
    size_t depth, omitted;
    int truncated;
    uint64_t frame0;
};

/* What the OS said of an idle thread at the last sample (python/tid.c): kept
 * instead of read again while the thread's walk is kept (walk_memo). */
struct tid_state_memo {
    int valid;       /* it was idle, its thread known and not fixed */
    uint64_t tstate; /* the thread state it was said of */
    pid_t id, tid, inner_tid;
    char os_state;
    unsigned age; /* samples kept since it was last read */
};

struct py_thread {
    uint64_t tstate;
    uint64_t top;            /* where its walk starts: frame, or 3.11/3.12 _PyCFrame */
    uint64_t frame0;         /* the first frame of its last walk (the leaf) */
    uint64_t chunk;          /* 3.11+: its live data-stack chunk (_PyStackChunk *), or 0 */
    uint64_t ident;          /* threading.get_ident() */
    pid_t tid;               /* OS thread id in our PID namespace, 0 if unknown (python/tid.h) */
    pid_t inner_tid;         /* its id in the target's own PID namespace, if it has one; else 0 */
    pid_t native_tid;        /* the id the thread state gives (3.11+), right or not */
    int tid_fixed;           /* native_tid is no thread of the process: tid was read from
                                glibc's struct pthread instead (python/tid.h) */
    char name[128];          /* threading name, "" if unknown */
    int holds_gil;           /* holds the GIL; without one (walker.gil_off): attached */
    int attached;            /* 3.13+: PyThreadState.state says it runs Python (1) or
                                waits in C (0); -1 before 3.13 */
    int idle;                /* the OS says it is not running (or unknown is set) */
    int unknown;             /* its OS thread, hence its state, is unknown: never
                                counted as running (idle is set too) */
    char os_state;           /* 'R', 'S', ... or '?' */
    struct py_frame *frames; /* leaf (most recent call) first */
    size_t depth;            /* frames kept */
    size_t cap;
    size_t omitted;                   /* frames left out between frames[WALK_KEEP_INNER - 1]
                                         and frames[WALK_KEEP_INNER]: the true depth is
                                         depth + omitted */
    int truncated;                    /* longer than WALK_MAX_CHAIN: the outermost frames
                                         are not known (omitted counts only those walked) */
    unsigned eval_leaf;               /* evaluation calls innermost of all frames that run no
                                         Python frame yet (entered with a frame still being
                                         set up, which the walk skips) */
    int error;                        /* 0, or the SG_E* code that cut the walk short */
    int torn;                         /* error is set because the stack kept changing
                                         while it was read (see walk_sample) */
    int retried;                      /* it was read twice: it moved during the first */
    int batched;                      /* its thread state came from the sample's batched
                                         read (python/plan.h) */
    struct walk_memo memo;            /* its last walk, kept while its bytes stay */
    int kept;                         /* this sample's walk is the memo's */
    pid_t state_id;                   /* the id tid_resolve started from */
    int state_kept;                   /* its OS state is the memo's, not read (tid.c) */
    struct tid_state_memo state_memo; /* its last OS state, if idle */
    char endpoint[WALK_ENDPOINT_MAX]; /* the HTTP request it serves, "" if none or
                                         not asked for (walker.endpoints) */
};

struct endpoint_reader;
struct native_stacks;
struct task_reader;

struct walker {
    struct mem_reader *r; /* the target, read through the plan (python/plan.h) */
    struct plan plan;     /* last sample's reads, made again in one batch */
    struct py_runtime *rt;
    struct code_cache codes;
    int64_t tid_offset;  /* offset of the tid in glibc's struct pthread; -1 unknown */
    struct tid_map tids; /* PID namespace, fixed ids (python/tid.h) */
    int want_names;      /* read thread names (cached; see names below) */
    struct py_thread *threads;
    size_t nthreads;
    size_t threads_cap;
    uint64_t errors;  /* frames or threads that failed to read */
    uint64_t retried; /* thread walks done again because the stack moved */
    uint64_t torn;    /* thread walks given up because it moved twice */
    uint64_t kept;    /* thread walks not made again: the bytes they read had not
                         changed (struct walk_memo) */
    int gil_off;      /* the last sample's target ran without a GIL (free-threaded) */
    /* If set, walk_sample also finds each thread's HTTP request (while the
     * target is still paused, so the dicts read are consistent). */
    struct endpoint_reader *endpoints;
    /* If set, walk_sample also reads every asyncio task (python/tasks.h),
     * right after the stacks. */
    struct task_reader *tasks;
    /* OS thread states read by the caller before it stopped the threads (a
     * stopped thread reads 't'); when nstates is 0, walk_sample reads
     * /proc itself. */
    struct walk_name *names; /* ident -> threading name, re-read when a thread
                                appears or every WALK_NAMES_REFRESH samples */
    size_t nnames, names_cap;
    unsigned names_age, names_gap; /* a thread without a name yet (threading
                                      registers it after its thread state
                                      exists) is retried with a doubling gap */
    struct plan names_plan;        /* the last names read's reads (sys.modules,
                                      threading's registry: over a hundred),
                                      made again in one call at the next */
    uint8_t *block;                /* 3.11+: a copy of target memory below the last frame
                                      read, so that the callers' frames (lower in the
                                      same data-stack chunk) need no read of their own */
    const uint8_t *block_data;     /* where that memory is: block, or the sample's
                                      batch (python/plan.h) when it holds it */
    uint64_t block_base;
    size_t block_len;
    uint64_t block_reads;         /* reads made for blocks (for the benchmark) */
    struct task_stat_cache stats; /* open /proc stat files of the threads */
    const pid_t *state_tids;
    const char *states;
    size_t nstates;
    int paused; /* set by the caller while the target's threads are stopped: their
                   stacks cannot move, so walks are not checked for it */
    /* --native: the native stacks of the threads, unwound by the sampler
     * while they were stopped for this walk (sample/native.h); else NULL. */
    const struct native_stacks *native;
};

/* Prepares a walker that reads the target through r (a reader of its own,
 * python/plan.h, answers most reads of a sample from one batched read). */
void walk_init(struct walker *w, struct mem_reader *r, struct py_runtime *rt);
void walk_release(struct walker *w);

/* Reads the target through r from now on. */
void walk_set_reader(struct walker *w, struct mem_reader *r);

/* Calls made to the target so far (batched reads count their calls). */
static inline uint64_t walk_target_reads(const struct walker *w)
{
    return w->plan.live->reads;
}

/* Reads all threads and their stacks. Results in w->threads[0..w->nthreads),
 * valid until the next call. Returns 0 if the thread list was read (single
 * threads may still carry an error), or a negative SG_E* code. */
int walk_sample(struct walker *w);

/* Reads one thread's stack starting at its thread state into t. */
int walk_stack(struct walker *w, uint64_t tstate, struct py_thread *t);

#endif
