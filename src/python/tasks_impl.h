/*
 * tasks_impl.h - what tasks.c, tasks_find.c, tasks_types.c, tasks_read.c,
 * tasks_chain.c, tasks_wait.c and tasks_batch.c share; not for other modules.
 *
 * One tasks_sample call is one struct tasks_ctx. What stays valid between
 * samples lives in struct tasks_proc (per process: where the registry is,
 * what each type object is, slot offsets, loops' attributes) and in struct
 * tasks_memo (per code object, by serial: what a function is to asyncio,
 * where its locals are, whether an instruction is a `yield from`).
 */
#ifndef SPYGLASS_PYTHON_TASKS_IMPL_H
#define SPYGLASS_PYTHON_TASKS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "proc/mem.h"
#include "python/tasks.h"
#include "util/hash.h"

/* What an object is, decided once per type object. */
enum tk_kind {
    TK_UNKNOWN = 0, /* not looked at yet */
    TK_OTHER,
    TK_COROUTINE,
    TK_GENERATOR,
    TK_ASYNC_GEN,
    TK_ASEND,       /* async_generator_asend: go on to its generator */
    TK_FUTURE_ITER, /* _asyncio.FutureIter: the end of a C chain */
    TK_C_TASK,      /* _asyncio.Task or a subclass */
    TK_C_FUTURE,    /* _asyncio.Future or a subclass */
    TK_PY_TASK,     /* the pure-Python Task (or a subclass) */
    TK_PY_FUTURE,
    TK_WEAKREF,
    TK_WAKEUP, /* 3.6 - 3.9 TaskWakeupMethWrapper */
    TK_STR,
    TK_INT,
    TK_FLOAT,
    TK_LIST,
    TK_TUPLE,
    TK_SET,
    TK_DICT,
    TK_FUNCTION,
    TK_NONE,
};

struct tk_type {
    uint64_t addr;
    uint8_t kind;      /* enum tk_kind */
    uint8_t gathering; /* tasks._GatheringFuture (or a subclass) */
    char name[40];     /* tp_name, cut */
};

/* What a function is to asyncio, by its code object (name and file). */
enum code_class {
    CC_UNKNOWN = 0,
    CC_OTHER,
    CC_FUTURE_AWAIT, /* a pure-Python Future's __await__ / __iter__: its end */
    CC_SLEEP,
    CC_LOCKS_ACQUIRE, /* locks.py acquire: Lock, Semaphore, BoundedSemaphore */
    CC_LOCKS_WAIT,    /* locks.py wait: Event, Condition */
    CC_QUEUE,         /* queues.py get / put */
    CC_SOCKET,        /* selector_events.py sock_* */
    CC_STREAM,        /* streams.py _wait_for_data */
    CC_TASKGROUP,     /* taskgroups.py __aexit__ */
    CC_WAIT,          /* tasks.py _wait */
    CC_RUN_ONCE,      /* base_events.py _run_once: a loop's thread */
    CC_RUN_FOREVER,   /* base_events.py run_forever */
    CC_RUN_UNTIL,     /* base_events.py run_until_complete */
    CC_HANDLE_RUN,    /* events.py Handle._run: a callback running */
};

#define TASKS_TYPES 128 /* per process, a power of two */
#define TASKS_SLOTS 32
#define TASKS_SETS 4
#define TASKS_PROCS 32       /* a power of two */
#define TASKS_MEMO 4096      /* a power of two */
#define TASKS_LOOK_AGAIN 256 /* samples before a missing registry is looked for again */

/* A __slots__ member's offset, by type and name. */
struct tasks_slot {
    uint64_t type;
    const char *name; /* a string constant */
    int64_t offset;   /* -1: the type has no such slot */
};

/* Where a task's children are (gather's _children, a TaskGroup's _tasks,
 * asyncio.wait's fs), kept while it waits on the same future. */
struct tasks_wait_memo {
    uint64_t task, waiter;
    uint64_t container;
    uint8_t wait; /* enum task_wait */
};

#define TASKS_WAIT_MEMO 1024 /* per process, a power of two */

/* A waiting task whose frames serve no request: while its frames (and its
 * awaiters') stay the same, they are not looked through again. (A stack
 * with several frames holding a dict that is no request, such as an ASGI
 * lifespan scope, would cost a full read of that dict per frame.) */
struct tasks_ep_memo {
    uint64_t task;
    uint64_t frames; /* a hash of the frames looked through */
};

#define TASKS_EP_MEMO 1024 /* per process, a power of two */

/* A pure-Python task's _coro and _loop (they never change), read again
 * at most every TASKS_PURE_REFRESH samples in case another task took its
 * address.
 * Its _fut_waiter is what its chain ends in (Future.__await__'s self), and a
 * task whose coroutine has finished has no chain: so recording reads no
 * attribute of it at all most samples. */
struct tasks_pure_memo {
    uint64_t task, coro, loop;
    uint64_t read_at;
};

#define TASKS_PURE_MEMO 1024 /* per process, a power of two */
#define TASKS_PURE_REFRESH 64

/* A loop's attributes, kept between samples. */
struct tasks_loop_memo {
    uint64_t addr;
    uint64_t ready;        /* loop._ready (a deque), 0 if none */
    uint64_t thread_ident; /* loop._thread_id */
    uint64_t read_at;      /* tr->samples when _thread_id was read */
};

struct tasks_proc {
    pid_t pid;
    uint64_t runtime;
    int state;           /* 0 not looked for, 1 found, 2 absent */
    uint64_t look_after; /* tr->samples when to look again (absent) */
    uint64_t sets[TASKS_SETS];
    uint8_t weak[TASKS_SETS]; /* the set holds weak references to tasks */
    uint8_t eager[TASKS_SETS];
    size_t nsets;
    struct tk_type types[TASKS_TYPES];
    struct tasks_slot slots[TASKS_SLOTS];
    size_t nslots;
    struct tasks_loop_memo loops[TASKS_MAX_LOOPS];
    size_t nloops;
    struct tasks_wait_memo waits[TASKS_WAIT_MEMO];
    struct tasks_ep_memo no_request[TASKS_EP_MEMO];
    struct tasks_pure_memo pure[TASKS_PURE_MEMO];
};

/* Per code object (by serial). */
struct tasks_code_memo {
    uint64_t serial;
    uint8_t cls;      /* enum code_class */
    int16_t local[4]; /* slot of the locals named by enum memo_local; -1 none, -2 unknown */
    uint8_t cell[4];
};

enum memo_local { LOCAL_SELF = 0, LOCAL_H, LOCAL_FS, LOCAL_FUTURE };

/* Per (code, instruction): is it suspended in a `yield from` / await? */
struct tasks_yf_memo {
    uint64_t serial;
    int64_t offset;
    int8_t yf; /* 1 yes, 0 no */
};

struct tasks_memo {
    struct tasks_code_memo codes[TASKS_MEMO];
    struct tasks_yf_memo yf[TASKS_MEMO];
};

/* A frame on a thread's stack, for telling which task runs where. */
struct tasks_frame_ref {
    uint64_t addr;
    size_t thread;
};

/* A chain being walked: the next object of a task's chain. */
struct tasks_chain_cur {
    size_t task;
    uint64_t obj;
    uint64_t gen;      /* <= 3.10: the generator whose frame obj is */
    uint64_t qualname; /* its gi_qualname (a str) */
    uint8_t kind;      /* its enum task_coro_kind */
    uint16_t steps;
};

/* A frame found, before it is put in its task's place. */
struct tasks_chain_out {
    size_t task;
    uint64_t qualname;
    struct py_frame frame;
    struct task_link link;
};

/* Scratch space of one sample. */
struct tasks_scratch {
    uint64_t *cand; /* registry entries: task addresses */
    uint8_t *cand_eager;
    size_t ncand, cand_cap, cand_eager_cap;
    struct hash_index task_ix; /* task address -> index into tr->tasks */
    struct tasks_frame_ref *frames;
    size_t nframes, frames_cap;
    struct hash_index frame_ix; /* thread frame address -> frames[] */
    uint8_t *buf;               /* batched reads land here */
    size_t buf_cap;
    struct mem_span *spans;
    size_t spans_cap;
    struct tasks_chain_cur *cur, *next; /* chain walk: one per task still going */
    size_t cur_cap, next_cap, nnext;
    struct tasks_chain_out *out; /* frames found, in the order found */
    size_t nout, out_cap;
    uint64_t *waiter_types; /* per task: its waiter's type object (tasks_wait.c) */
    size_t waiter_types_cap;
    struct batch_scratch *batch; /* tasks_batch.c */
};

/* One tasks_sample call. */
struct tasks_ctx {
    struct task_reader *tr;
    struct walker *w;
    struct mem_reader *r;
    const struct py_layout *l;
    struct tasks_proc *p;
    struct tasks_scratch *s;
};

/* tasks_find.c: the registry. */
int tasks_find_registry(struct tasks_ctx *c, uint64_t interp);
int tasks_list(struct tasks_ctx *c);

/* tasks_types.c: what objects are (tasks_kind's answer lives in the
 * per-process type cache: valid until the next tasks_kind call), items,
 * slots, code classes and locals; tasks_read.c: the tasks; tasks_chain.c:
 * their chains. */
int tasks_kind(struct tasks_ctx *c, uint64_t type, const struct tk_type **out);
int tasks_kind_of(struct tasks_ctx *c, uint64_t obj, const struct tk_type **out);
void tasks_read_tasks(struct tasks_ctx *c);
void tasks_read_chains(struct tasks_ctx *c);
void tasks_read_name(struct tasks_ctx *c, struct py_task *t);
void *tasks_scratch_buf(struct tasks_ctx *c, size_t spans, size_t bytes);
int tasks_code_class(struct tasks_ctx *c, const struct code_info *ci);
int tasks_local(struct tasks_ctx *c, const struct py_frame *f, enum memo_local which,
                uint64_t *value);
int tasks_slot(struct tasks_ctx *c, uint64_t obj, const char *name, uint64_t *value);
int tasks_items(struct tasks_ctx *c, uint64_t container, uint64_t *items, size_t max,
                size_t *count);
int64_t tasks_index_of(const struct tasks_ctx *c, uint64_t addr);
/* tasks_batch.c: reads count spans in as few system calls and page lookups
 * as it can (spans close together are read as one); a span that fails is
 * read again shorter (to min_size, or the end of its page). Returns how
 * many failed. */
size_t tasks_batch(struct tasks_ctx *c, struct mem_span *spans, size_t count, size_t min_size);
void tasks_batch_release(struct tasks_scratch *s);

/* tasks_wait.c: what each task waits on. */
void tasks_read_waits(struct tasks_ctx *c);

#endif
