/*
 * tasks.h - every asyncio task of a live interpreter: its coroutine chain,
 * what it awaits, and which thread runs its loop (CPython 3.6 - 3.13, the C
 * _asyncio Task and the pure-Python one).
 *
 * An awaiting coroutine is on no thread's stack: its frame hangs off the
 * coroutine object, and the coroutine off its Task. So the tasks are found
 * where asyncio registers them (a WeakSet of all tasks, and on 3.12+ a set
 * of tasks running their eager first step), each Task's coroutine is
 * followed through what it awaits (cr_await / gi_yieldfrom: the object on
 * the top of a suspended frame's value stack) down to the future it waits
 * on, and the wait is named by the innermost coroutine (asyncio.sleep,
 * Lock.acquire, Queue.get, ...) or by the future itself (another task, a
 * gather). Tasks awaiting each other in a cycle are a deadlock.
 *
 * A task whose outermost coroutine frame is on a thread's stack is running
 * on that thread. Every loop is mapped to the thread that runs it through
 * the loop's own _thread_id.
 *
 * The reader is given to a walker (walker.tasks) and runs inside
 * walk_sample, right after the thread stacks (so, with --blocking, while the
 * target is still stopped). Reads are batched level by level over all tasks
 * (the registry, then every task, then every coroutine, then every frame:
 * one process_vm_readv per level), every object's type is checked before its
 * memory is interpreted, chains are bounded and cut on cycles, and anything
 * torn is left out and counted, never trusted.
 */
#ifndef SPYGLASS_PYTHON_TASKS_H
#define SPYGLASS_PYTHON_TASKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/walk.h"

/* Most tasks read per sample, coroutines per task, loops per process. */
#define TASKS_MAX 16384
#define TASKS_MAX_CHAIN 64
#define TASKS_MAX_LOOPS 64
/* Most children (gather, TaskGroup, asyncio.wait) kept per task. */
#define TASKS_MAX_CHILDREN 4096
/* Room for a task's name. */
#define TASKS_NAME_MAX 96
/* Most tasks (awaiters) put in front of a task's own chain in a stack. */
#define TASKS_MAX_AWAITERS 16

enum task_state {
    TASK_PENDING = 0,
    TASK_CANCELLED = 1,
    TASK_FINISHED = 2,
};

/* What a pending task waits on. */
enum task_wait {
    TASK_WAIT_NONE = 0,  /* nothing: running, or ready to run (sleep(0), just woken) */
    TASK_WAIT_TASK,      /* another task (awaits) */
    TASK_WAIT_GATHER,    /* asyncio.gather(...) of children */
    TASK_WAIT_TASKGROUP, /* 3.11+ TaskGroup.__aexit__: the group's children */
    TASK_WAIT_WAIT,      /* asyncio.wait(fs): children */
    TASK_WAIT_SLEEP,     /* asyncio.sleep: when */
    TASK_WAIT_LOCK,
    TASK_WAIT_EVENT,
    TASK_WAIT_CONDITION,
    TASK_WAIT_SEMAPHORE,
    TASK_WAIT_QUEUE,  /* Queue.get / put */
    TASK_WAIT_SOCKET, /* loop.sock_recv & co.: a reader on fd */
    TASK_WAIT_STREAM, /* StreamReader: data from a transport (fd) */
    TASK_WAIT_FUTURE, /* a plain future */
    TASK_WAIT_COUNT
};

/* What kind of object a chain element is. */
enum task_coro_kind {
    TASK_CORO_COROUTINE = 0,
    TASK_CORO_GENERATOR = 1, /* 3.6's @asyncio.coroutine functions, @types.coroutine */
    TASK_CORO_ASYNC_GEN = 2,
};

/* One coroutine of a chain, beside its struct py_frame. */
struct task_link {
    uint64_t gen;     /* the coroutine / generator object */
    uint8_t kind;     /* enum task_coro_kind */
    int32_t qualname; /* its __qualname__ (read with names): tr->qualnames[it]; -1 none */
};

struct py_task {
    uint64_t addr, loop, coro;
    uint64_t waiter;          /* the future it waits on (_fut_waiter), 0 if none */
    int state;                /* enum task_state */
    int pure;                 /* the pure-Python Task class (no _asyncio) */
    int eager;                /* 3.12+: found running its eager first step */
    int running;              /* its outermost coroutine's frame is on a thread's stack */
    size_t thread;            /* with running: the walker's thread index */
    int loop_index;           /* into task_reader.loops, -1 if unknown */
    size_t frame0, nframes;   /* its chain: frames[frame0 ..], outermost first */
    int wait;                 /* enum task_wait */
    int64_t awaits;           /* TASK_WAIT_TASK: the task index */
    size_t child0, nchildren; /* gather / TaskGroup / wait: children[child0 ..] */
    double when;              /* sleep: the timer's due time in loop time (time.monotonic) */
    int has_when;
    uint64_t object;    /* lock, event, queue, ...: the object waited on; else the future */
    int64_t fd;         /* socket / stream: the file descriptor, -1 if unknown */
    int64_t awaited_by; /* the task put in front of it in a stack: one that awaits it
                           (directly first, else as a child), -1 if none */
    size_t fronted;     /* how many tasks have it as their awaited_by */
    int cycle;          /* it is on a cycle of tasks awaiting each other: a deadlock */
    uint64_t request;   /* the request its frames serve: its dict, for counting it once */
    /* The strings last: a new task clears everything before them. */
    char name[TASKS_NAME_MAX];        /* 3.8+ task name ("Task-12" when unnamed), else "" */
    char endpoint[WALK_ENDPOINT_MAX]; /* that request's label (walker.endpoints) */
};

struct py_loop {
    uint64_t addr;
    uint64_t thread_ident;           /* loop._thread_id: the thread running it; 0 if not running */
    int64_t thread;                  /* the walker's thread index, -1 if not among them */
    int64_t running_task;            /* the task running on it now, -1 if none */
    size_t ntasks;                   /* pending tasks */
    size_t base_depth;               /* its thread's frames from the outermost through _run_once:
                                        where waiting tasks' stacks are rooted (0: not found) */
    int busy;                        /* its thread runs a callback (Handle._run above _run_once) */
    int has_ready;                   /* ready_state below was read */
    uint64_t ready_len, ready_state; /* loop._ready deque: length and mutation count */
};

struct tasks_proc; /* per process: where its registry is (tasks.c) */

struct task_reader {
    int names; /* also read names, wait kinds, due times, qualnames (dump) */
    struct py_task *tasks;
    size_t ntasks, tasks_cap;
    struct py_frame *frames; /* chains, parallel to links */
    struct task_link *links;
    size_t nframes, frames_cap, links_cap;
    char (*qualnames)[TASKS_NAME_MAX]; /* the distinct qualnames of this sample */
    size_t nqualnames, qualnames_cap;
    int64_t *children; /* task indices, -1 for a future that is no task */
    size_t nchildren, children_cap;
    struct py_loop loops[TASKS_MAX_LOOPS];
    size_t nloops;
    size_t done;      /* finished or cancelled tasks still registered (not listed) */
    size_t cycles;    /* tasks on deadlock cycles */
    int found;        /* the process has asyncio's registry */
    uint64_t torn;    /* objects left out because they did not check out */
    uint64_t errors;  /* samples whose tasks could not be read at all */
    uint64_t samples; /* tasks_sample calls */
    uint64_t found_samples, tasks_seen; /* of which found the registry; tasks in them */
    uint64_t reads;                     /* reads of target memory they made */
    uint64_t ns;                        /* and the time they took */
    uint64_t cpu_ns;                    /* and the CPU time (of the thread calling) */
    /* internals (tasks.c) */
    struct tasks_proc *procs;
    struct tasks_memo *memo;
    struct tasks_scratch *scratch;
};

void tasks_init(struct task_reader *tr, int names);
void tasks_release(struct task_reader *tr);

/* Reads every task of the process w walks; w's threads must have been walked
 * this sample (walk_sample calls it when walker.tasks is set). With
 * walker.endpoints, also finds the request each waiting task serves. Results
 * are in tr until the next call. Returns 0 (also when the process has no
 * asyncio: tr->found is 0 then), or a negative SG_E* code if nothing could be
 * read. */
int tasks_sample(struct task_reader *tr, struct walker *w);

/* Whether tasks_sample can read this version's tasks: 3.6 to 3.13, not
 * free-threaded. 3.14 keeps a thread's tasks in a linked list of its own
 * (TaskObj.task_node, the thread state's asyncio_tasks_head), 3.15
 * renumbered the frame states, and on 3.13t every task found is refused as
 * unreadable (not looked into yet): there tr->found stays 0. */
int tasks_version_supported(const struct py_layout *l);

/* The task at index i's frames: frames[0] is its outermost coroutine. */
static inline const struct py_frame *tasks_frames(const struct task_reader *tr, size_t i)
{
    return tr->frames + tr->tasks[i].frame0;
}

/* The __qualname__ of the coroutine of frames[frame] (read with names), or
 * NULL. */
static inline const char *tasks_qualname(const struct task_reader *tr, size_t frame)
{
    int32_t q = tr->links[frame].qualname;
    return q >= 0 ? tr->qualnames[q] : NULL;
}

/* Names a wait kind: "sleep", "lock", "gather", ... */
const char *tasks_wait_name(int wait);

/* The k-th (from 0) of what task i waits on that may be a task: the task
 * it awaits, then its gather / TaskGroup / asyncio.wait children. Returns
 * the task's index, -1 for a child that is no task (a plain future), -2
 * past the last. */
int64_t tasks_edge(const struct task_reader *tr, size_t i, size_t k);

/* Writes into order[] the tasks that stand in front of task i in a stack,
 * outermost first (the one that awaits it, the one that awaits that, ...),
 * at most max, stopping at a cycle. Returns how many. */
size_t tasks_awaiters(const struct task_reader *tr, size_t i, size_t *order, size_t max);

/* Returns 1 if task i shows as a stack of its own in a profile: it is
 * pending, not running, and waits on no pending task (else its chain is in
 * front of the chains of the tasks it waits on), or it is on a deadlock
 * cycle. */
int tasks_is_leaf(const struct task_reader *tr, size_t i);

#endif
