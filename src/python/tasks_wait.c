/*
 * tasks_wait.c - what each pending task waits on (python/tasks.h).
 *
 * No synchronisation primitive is pointed to by the futures its waiters
 * hold, so a wait is named by the task's innermost coroutine (the function
 * it is suspended in: asyncio.sleep, Lock.acquire, Queue.get, ...), whose
 * frame's locals name the object: `self` (the lock, the queue, the
 * TaskGroup, the stream), sleep's `h` (the TimerHandle, whose _when is the
 * due time), _wait's `fs` (the futures asyncio.wait waits for). The future
 * itself says the rest: another task, or a gather (_GatheringFuture, with
 * its _children). A plain future that a loop's selector will complete when
 * a file descriptor is readable is a socket read (3.6's sock_recv is no
 * coroutine: this is the only way to tell there).
 *
 * Task-to-task edges (awaits, gather, TaskGroup, asyncio.wait) are read
 * every sample: they decide how stacks are built. The rest only with names
 * (dump --tasks).
 */
#include <stdlib.h>
#include <string.h>

#include "python/tasks_impl.h"
#include "python/value.h"
#include "util/util.h"

/* Most registered file descriptors looked at per loop. */
#define SELECTOR_MAX 1024

/* A future a selector's reader will complete, and the descriptor. */
struct fd_future {
    uint64_t future;
    int64_t fd;
};

struct fd_map {
    struct fd_future *items;
    size_t count, cap;
};

static void add_children(struct tasks_ctx *c, struct py_task *t, uint64_t container)
{
    struct task_reader *tr = c->tr;
    uint64_t *items = xmalloc(TASKS_MAX_CHILDREN * sizeof(*items));
    size_t n = 0;
    if (tasks_items(c, container, items, TASKS_MAX_CHILDREN, &n) != 0)
        n = 0;
    t->child0 = tr->nchildren;
    tr->children =
        xgrow(tr->children, sizeof(*tr->children), tr->nchildren + n + 1, &tr->children_cap);
    for (size_t i = 0; i < n; i++)
        tr->children[tr->nchildren++] = tasks_index_of(c, items[i]);
    t->nchildren = n;
    free(items);
}

/* The object a local of frame f holds (0 if none). */
static uint64_t local(struct tasks_ctx *c, const struct py_frame *f, enum memo_local which)
{
    uint64_t value;
    return tasks_local(c, f, which, &value) == 0 ? value : 0;
}

/* An attribute of obj that is an int (0 and -1 on failure). */
static int64_t int_attr(struct tasks_ctx *c, uint64_t obj, const char *name)
{
    uint64_t value;
    int64_t out;
    if (!obj || value_getattr(c->r, c->l, obj, name, &value) ||
        value_read_int(c->r, c->l, value, &out))
        return -1;
    return out;
}

/* The memo of where task t's children are, if it has one (NULL), or the
 * slot to keep it in (*free_slot). Probes a few slots: only tasks with
 * children are kept, so they are few. */
#define WAIT_PROBES 4
static struct tasks_wait_memo *wait_memo(struct tasks_ctx *c, const struct py_task *t,
                                         struct tasks_wait_memo **free_slot)
{
    size_t h = (size_t)hash_mix(t->addr);
    *free_slot = &c->p->waits[h & (TASKS_WAIT_MEMO - 1)];
    for (size_t k = 0; k < WAIT_PROBES; k++) {
        struct tasks_wait_memo *m = &c->p->waits[(h + k) & (TASKS_WAIT_MEMO - 1)];
        if (m->task == t->addr && m->waiter == t->waiter)
            return m;
        if (!m->task && *free_slot == &c->p->waits[h & (TASKS_WAIT_MEMO - 1)])
            *free_slot = m;
    }
    return NULL;
}

/* The container of a task's children, looked for when the task (or the
 * future it waits on) is new: gather's _children, TaskGroup._tasks (the
 * group is `self` of __aexit__), asyncio.wait's `fs`. Sets *wait. */
static uint64_t find_children(struct tasks_ctx *c, const struct py_task *t,
                              const struct py_frame *inner, int cls, uint64_t waiter_type,
                              int *wait)
{
    const struct tk_type *k;
    uint64_t value;
    if (tasks_kind(c, waiter_type, &k) == 0 && k->gathering &&
        value_getattr(c->r, c->l, t->waiter, "_children", &value) == 0) {
        *wait = TASK_WAIT_GATHER;
        return value;
    }
    if (cls == CC_TASKGROUP && (value = local(c, inner, LOCAL_SELF)) != 0 &&
        value_getattr(c->r, c->l, value, "_tasks", &value) == 0) {
        *wait = TASK_WAIT_TASKGROUP;
        return value;
    }
    if (cls == CC_WAIT && (value = local(c, inner, LOCAL_FS)) != 0) {
        *wait = TASK_WAIT_WAIT;
        return value;
    }
    return 0;
}

/* Edges to other tasks; returns 1 if the wait was named. The container of
 * a task's children is kept while the task waits on the same future. */
static int wait_on_tasks(struct tasks_ctx *c, struct py_task *t, const struct py_frame *inner,
                         int cls, uint64_t waiter_type)
{
    struct tasks_wait_memo *slot, *m;
    int64_t j = tasks_index_of(c, t->waiter);
    if (j >= 0) {
        t->wait = TASK_WAIT_TASK;
        t->awaits = j;
        return 1;
    }
    if ((m = wait_memo(c, t, &slot)) == NULL) {
        int wait = TASK_WAIT_NONE;
        uint64_t container = inner ? find_children(c, t, inner, cls, waiter_type, &wait) : 0;
        if (!container)
            return 0;
        m = slot;
        *m = (struct tasks_wait_memo){t->addr, t->waiter, container, (uint8_t)wait};
    }
    t->wait = m->wait;
    if (t->wait == TASK_WAIT_TASKGROUP && c->tr->names)
        t->object = local(c, inner, LOCAL_SELF);
    add_children(c, t, m->container);
    return 1;
}

/* The type of the future each task waits on that is no task, in one batch. */
static void read_waiter_types(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_scratch *s = c->s;
    size_t n = 0;
    s->waiter_types =
        xgrow(s->waiter_types, sizeof(*s->waiter_types), tr->ntasks + 1, &s->waiter_types_cap);
    uint8_t *buf = tasks_scratch_buf(c, tr->ntasks + 1, (tr->ntasks + 1) * 16);
    for (size_t i = 0; i < tr->ntasks; i++) {
        const struct py_task *t = &tr->tasks[i];
        s->waiter_types[i] = 0;
        if (t->waiter && !t->running && tasks_index_of(c, t->waiter) < 0)
            s->spans[n++] = (struct mem_span){t->waiter, buf + 16 * i, 16, 0};
    }
    tasks_batch(c, s->spans, n, 16);
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)((uint8_t *)s->spans[k].buf - buf) / 16;
        if (!s->spans[k].err)
            s->waiter_types[i] = layout_u64(s->spans[k].buf, 16, c->l->object.ob_type);
    }
}

/* asyncio.sleep: the TimerHandle in the local `h`, its _when a float. */
static void sleep_due(struct tasks_ctx *c, struct py_task *t, const struct py_frame *inner)
{
    const struct tk_type *k;
    uint64_t handle = local(c, inner, LOCAL_H), when;
    double due;
    if (handle && tasks_slot(c, handle, "_when", &when) == 0 && tasks_kind_of(c, when, &k) == 0 &&
        k->kind == TK_FLOAT && mem_read(c->r, when + c->l->obj.float_fval, &due, 8) == 0) {
        t->when = due;
        t->has_when = 1;
        t->object = handle;
    }
}

/* Lock.acquire, Semaphore.acquire, Event.wait, Condition.wait: by the type
 * of `self`. */
static int lock_kind(struct tasks_ctx *c, struct py_task *t, const struct py_frame *inner, int cls)
{
    const struct tk_type *k;
    uint64_t self = local(c, inner, LOCAL_SELF);
    if (!self || tasks_kind_of(c, self, &k) != 0)
        return cls == CC_LOCKS_ACQUIRE ? TASK_WAIT_LOCK : TASK_WAIT_EVENT;
    t->object = self;
    if (cls == CC_LOCKS_ACQUIRE)
        return strstr(k->name, "Semaphore") ? TASK_WAIT_SEMAPHORE : TASK_WAIT_LOCK;
    return strstr(k->name, "Condition") ? TASK_WAIT_CONDITION : TASK_WAIT_EVENT;
}

static int64_t fd_of(const struct fd_map *m, uint64_t future)
{
    for (size_t i = 0; future && i < m->count; i++) {
        if (m->items[i].future == future)
            return m->items[i].fd;
    }
    return -1;
}

/* Names the wait of a task that waits on no task (with names only). */
static void name_wait(struct tasks_ctx *c, struct py_task *t, const struct py_frame *inner, int cls,
                      const struct fd_map *fds)
{
    t->object = t->waiter;
    switch (cls) {
    case CC_SLEEP:
        t->wait = TASK_WAIT_SLEEP;
        sleep_due(c, t, inner);
        return;
    case CC_LOCKS_ACQUIRE:
    case CC_LOCKS_WAIT:
        t->wait = lock_kind(c, t, inner, cls);
        return;
    case CC_QUEUE:
        t->wait = TASK_WAIT_QUEUE;
        t->object = local(c, inner, LOCAL_SELF);
        return;
    case CC_STREAM: {
        uint64_t transport = 0, self = local(c, inner, LOCAL_SELF);
        t->wait = TASK_WAIT_STREAM;
        t->object = self;
        if (self && value_getattr(c->r, c->l, self, "_transport", &transport) == 0)
            t->fd = int_attr(c, transport, "_sock_fd");
        return;
    }
    default:
        break;
    }
    t->fd = fd_of(fds, t->waiter);
    t->wait = cls == CC_SOCKET || t->fd >= 0 ? TASK_WAIT_SOCKET : TASK_WAIT_FUTURE;
}

/* One registered descriptor of a selector: if its reader is a Handle whose
 * first argument is a future (sock_recv and friends), remember it. */
static int selector_key(uint64_t fd_obj, uint64_t key, void *ctx)
{
    void **args = ctx;
    struct tasks_ctx *c = args[0];
    struct fd_map *m = args[1];
    uint64_t fields[4], handles[2], call[1];
    size_t n;
    int64_t fd;
    if (tasks_items(c, key, fields, 4, &n) || n != 4 || tasks_items(c, fields[3], handles, 2, &n) ||
        n != 2 || !handles[0] || tasks_slot(c, handles[0], "_args", &call[0]) ||
        tasks_items(c, call[0], call, 1, &n) || n != 1 || value_read_int(c->r, c->l, fd_obj, &fd))
        return 0;
    m->items = xgrow(m->items, sizeof(*m->items), m->count + 1, &m->cap);
    m->items[m->count++] = (struct fd_future){call[0], fd};
    return 0;
}

/* The futures the loops' selectors will complete: loop._selector._fd_to_key
 * maps a descriptor to a SelectorKey (fileobj, fd, events, data), data the
 * (reader, writer) handles. */
static void read_selectors(struct tasks_ctx *c, struct fd_map *m)
{
    struct task_reader *tr = c->tr;
    for (size_t i = 0; i < tr->nloops; i++) {
        uint64_t selector, map;
        void *args[2] = {c, m};
        if (value_getattr(c->r, c->l, tr->loops[i].addr, "_selector", &selector) == 0 &&
            value_getattr(c->r, c->l, selector, "_fd_to_key", &map) == 0)
            value_dict_foreach(c->r, c->l, map, SELECTOR_MAX, selector_key, args);
    }
}

void tasks_read_waits(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct fd_map fds = {0};
    tr->nchildren = 0;
    read_waiter_types(c);
    if (tr->names)
        read_selectors(c, &fds);
    for (size_t i = 0; i < tr->ntasks; i++) {
        struct py_task *t = &tr->tasks[i];
        const struct py_frame *inner = t->nframes ? &tasks_frames(tr, i)[t->nframes - 1] : NULL;
        int cls = inner ? tasks_code_class(c, inner->code) : CC_OTHER;
        t->wait = TASK_WAIT_NONE;
        t->child0 = t->nchildren = 0;
        if (t->running || !t->waiter)
            continue;
        if (wait_on_tasks(c, t, inner, cls, c->s->waiter_types[i]))
            continue;
        if (tr->names)
            name_wait(c, t, inner, cls, &fds);
        else
            t->wait = TASK_WAIT_FUTURE;
    }
    free(fds.items);
}
