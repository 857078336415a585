/*
 * tasks_read.c - what asyncio's objects are, and reading tasks and their
 * coroutine chains (python/tasks.h).
 *
 * Types are recognised by name once per type object: the static ones
 * (coroutine, generator, ..., and _asyncio's, heap types from 3.12 but with
 * the module in their tp_name) directly; a heap type through its MRO, so a
 * subclass of _asyncio.Task keeps the C layout and a subclass of the
 * pure-Python Task its attributes. The pure-Python Task and Future are told
 * from user classes of the same name by their __module__.
 *
 * Chains are read level by level over all tasks at once: every task's
 * coroutine in one batched read, then (<= 3.10) every coroutine's frame,
 * then the objects those frames await, and so on, so a sample of 200 tasks
 * costs a few system calls per level, not a few per task.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/locals.h"
#include "python/pystr.h"
#include "python/tasks_impl.h"
#include "python/value.h"
#include "util/util.h"

#define TPFLAGS_HEAPTYPE (1UL << 9)
#define TPFLAGS_LIST_SUBCLASS (1UL << 25)
#define TPFLAGS_TUPLE_SUBCLASS (1UL << 26)
/* Bytes read of a task (at least), a generator's header (<= 3.10), and the
 * value-stack slots read with a frame (3.11+: inside the generator): a
 * coroutine suspended deeper in its stack costs one more read. */
#define TASK_SPAN 64
#define GEN_SPAN_OLD 64
#define STACK_SLOTS 24
#define MIN_SPAN 64
/* Most entries of an MRO looked at. */
#define MRO_MAX 32

/* Opcodes the yield-from rules look for (CPython's opcode.h). */
#define OP_YIELD_FROM 72           /* <= 3.10 */
#define OP_RESUME 151              /* 3.11, 3.12 */
#define OP_RESUME_QUICK 150        /* 3.11 */
#define OP_INSTRUMENTED_RESUME 240 /* 3.12 */
#define FRAME_SUSPENDED (-1)       /* 3.10 - 3.12: SUSPENDED; 3.13: SUSPENDED_YIELD_FROM */

static uint64_t u64_at(const uint8_t *buf, size_t size, uint32_t off)
{
    return layout_u64(buf, size, off);
}

/* ---- types ------------------------------------------------------------- */

static const struct {
    const char *name;
    uint8_t kind;
    int any_type; /* also a heap type (3.12+ _asyncio types are) */
} known_types[] = {
    {"coroutine", TK_COROUTINE, 0},
    {"generator", TK_GENERATOR, 0},
    {"async_generator", TK_ASYNC_GEN, 0},
    {"async_generator_asend", TK_ASEND, 0},
    {"_asyncio.FutureIter", TK_FUTURE_ITER, 1},
    {"_asyncio.Task", TK_C_TASK, 1},
    {"_asyncio.Future", TK_C_FUTURE, 1},
    {"TaskWakeupMethWrapper", TK_WAKEUP, 0},
    {"weakref", TK_WEAKREF, 0},
    {"weakref.ReferenceType", TK_WEAKREF, 0},
    {"str", TK_STR, 0},
    {"int", TK_INT, 0},
    {"float", TK_FLOAT, 0},
    {"list", TK_LIST, 0},
    {"tuple", TK_TUPLE, 0},
    {"set", TK_SET, 0},
    {"dict", TK_DICT, 0},
    {"function", TK_FUNCTION, 0},
    {"NoneType", TK_NONE, 0},
};

static int read_type_name(struct tasks_ctx *c, uint64_t type, char *buf, size_t size)
{
    uint64_t name;
    int err = mem_read_u64(c->r, type + c->l->object.tp_name, &name);
    if (!err)
        err = mem_read_cstr(c->r, name, buf, size);
    return err;
}

/* Returns 1 if the heap type's __module__ is module. */
static int type_module_is(struct tasks_ctx *c, uint64_t type, const char *module)
{
    uint64_t dict, value;
    char text[32];
    return mem_read_u64(c->r, type + c->l->more.tp_dict, &dict) == 0 &&
           value_dict_get_str(c->r, c->l, dict, "__module__", &value) == 0 &&
           pystr_read(c->r, c->l, value, text, sizeof(text)) == 0 && strcmp(text, module) == 0;
}

/* A heap type: what its MRO makes it. */
static void classify_heap(struct tasks_ctx *c, struct tk_type *t)
{
    uint64_t mro, items[MRO_MAX];
    size_t n = 0;
    int py_task = 0, py_future = 0;
    if (mem_read_u64(c->r, t->addr + c->l->more.tp_mro, &mro) ||
        tasks_items(c, mro, items, MRO_MAX, &n))
        return;
    for (size_t i = 0; i < n && t->kind == TK_OTHER; i++) {
        char name[40];
        uint64_t flags = 0;
        if (read_type_name(c, items[i], name, sizeof(name)) ||
            mem_read_u64(c->r, items[i] + c->l->object.tp_flags, &flags))
            return;
        if (strcmp(name, "_GatheringFuture") == 0)
            t->gathering = 1;
        if (strcmp(name, "_asyncio.Task") == 0)
            t->kind = TK_C_TASK;
        else if (strcmp(name, "_asyncio.Future") == 0)
            t->kind = TK_C_FUTURE;
        else if ((flags & TPFLAGS_HEAPTYPE) && strcmp(name, "Task") == 0)
            py_task |= type_module_is(c, items[i], "asyncio.tasks");
        else if ((flags & TPFLAGS_HEAPTYPE) && strcmp(name, "Future") == 0)
            py_future |= type_module_is(c, items[i], "asyncio.futures");
    }
    if (t->kind == TK_OTHER && py_future)
        t->kind = py_task ? TK_PY_TASK : TK_PY_FUTURE;
}

int tasks_kind(struct tasks_ctx *c, uint64_t type, const struct tk_type **out)
{
    struct tk_type *t = &c->p->types[(type >> 4) & (TASKS_TYPES - 1)], fresh;
    uint64_t flags;
    if (!type)
        return -SG_ECORRUPT;
    if (t->addr == type && t->kind != TK_UNKNOWN) {
        *out = t;
        return 0;
    }
    /* Built apart: looking through an MRO classifies other types, which
     * may take the same slot. */
    memset(&fresh, 0, sizeof(fresh));
    int err = read_type_name(c, type, fresh.name, sizeof(fresh.name));
    if (!err)
        err = mem_read_u64(c->r, type + c->l->object.tp_flags, &flags);
    if (err)
        return err;
    fresh.addr = type;
    fresh.kind = TK_OTHER;
    for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++) {
        if (strcmp(fresh.name, known_types[i].name) == 0 &&
            (known_types[i].any_type || !(flags & TPFLAGS_HEAPTYPE)))
            fresh.kind = known_types[i].kind;
    }
    if (fresh.kind == TK_OTHER && (flags & TPFLAGS_HEAPTYPE))
        classify_heap(c, &fresh);
    /* A namedtuple (SelectorKey) is read as the tuple it is. */
    if (fresh.kind == TK_OTHER && (flags & TPFLAGS_TUPLE_SUBCLASS))
        fresh.kind = TK_TUPLE;
    if (fresh.kind == TK_OTHER && (flags & TPFLAGS_LIST_SUBCLASS))
        fresh.kind = TK_LIST;
    *t = fresh;
    *out = t;
    return 0;
}

int tasks_kind_of(struct tasks_ctx *c, uint64_t obj, const struct tk_type **out)
{
    uint64_t type;
    int err = obj ? mem_read_u64(c->r, obj + c->l->object.ob_type, &type) : -SG_ECORRUPT;
    return err ? err : tasks_kind(c, type, out);
}

/* ---- small object reads ------------------------------------------------ */

/* A set's live keys: its table read CHUNK slots at a time. */
static int set_items(struct tasks_ctx *c, uint64_t mask, uint64_t table, uint64_t *items,
                     size_t max, size_t *count)
{
    const struct py_layout *l = c->l;
    uint64_t entries[2 * 64];
    if (mask >= (1u << 20) || (mask & (mask + 1)) || !table)
        return -SG_ECORRUPT;
    for (uint64_t i = 0; i <= mask && *count < max; i += 64) {
        size_t n = mask + 1 - i < 64 ? (size_t)(mask + 1 - i) : 64;
        int err = mem_read(c->r, table + i * 16, entries, n * 16);
        if (err)
            return err;
        for (size_t k = 0; k < n && *count < max; k++) {
            uint64_t key = entries[2 * k + (l->obj.set_entry_key ? 1 : 0)];
            uint64_t hash = entries[2 * k + (l->obj.set_entry_key ? 0 : 1)];
            if (key && hash != UINT64_MAX)
                items[(*count)++] = key;
        }
    }
    return 0;
}

int tasks_items(struct tasks_ctx *c, uint64_t container, uint64_t *items, size_t max, size_t *count)
{
    const struct py_layout *l = c->l;
    const struct tk_type *t;
    uint8_t head[64];
    size_t to_page = 4096 - (size_t)(container & 4095);
    *count = 0;
    /* One read for the header of any of them: type, size, item pointer, set
     * table and mask (a small tuple at the end of a mapping: up to there). */
    memset(head, 0, sizeof(head));
    int err = container ? mem_read(c->r, container, head, sizeof(head)) : -SG_ECORRUPT;
    if (err && container && to_page < sizeof(head) && to_page >= 24)
        err = mem_read(c->r, container, head, to_page);
    if (!err)
        err = tasks_kind(c, u64_at(head, sizeof(head), l->object.ob_type), &t);
    if (err)
        return err;
    if (t->kind == TK_SET)
        return set_items(c, u64_at(head, sizeof(head), l->obj.set_mask),
                         u64_at(head, sizeof(head), l->obj.set_table), items, max, count);
    if (t->kind != TK_LIST && t->kind != TK_TUPLE)
        return -SG_ECORRUPT;
    int64_t size = (int64_t)u64_at(head, sizeof(head), l->object.ob_size);
    if (size < 0 || size > (1 << 24))
        return -SG_ECORRUPT;
    uint64_t at = t->kind == TK_LIST ? u64_at(head, sizeof(head), l->obj.list_item)
                                     : container + l->obj.tuple_item;
    *count = (size_t)size < max ? (size_t)size : max;
    return *count ? mem_read(c->r, at, items, *count * 8) : 0;
}

int tasks_slot(struct tasks_ctx *c, uint64_t obj, const char *name, uint64_t *value)
{
    struct tasks_proc *p = c->p;
    uint64_t type;
    int err = mem_read_u64(c->r, obj + c->l->object.ob_type, &type);
    if (err)
        return err;
    struct tasks_slot *s = NULL;
    for (size_t i = 0; i < p->nslots && !s; i++) {
        if (p->slots[i].type == type && p->slots[i].name == name)
            s = &p->slots[i];
    }
    if (!s) {
        s = &p->slots[p->nslots < TASKS_SLOTS ? p->nslots++ : (type >> 4) % TASKS_SLOTS];
        *s = (struct tasks_slot){.type = type, .name = name, .offset = -1};
        uint64_t mro, items[MRO_MAX], dict, descr, member;
        size_t n = 0;
        if (mem_read_u64(c->r, type + c->l->more.tp_mro, &mro) == 0)
            tasks_items(c, mro, items, MRO_MAX, &n);
        for (size_t i = 0; i < n && s->offset < 0; i++) {
            int64_t off;
            if (mem_read_u64(c->r, items[i] + c->l->more.tp_dict, &dict) == 0 && dict &&
                value_dict_get_str(c->r, c->l, dict, name, &descr) == 0 &&
                mem_read_u64(c->r, descr + c->l->more.member_def, &member) == 0 &&
                mem_read(c->r, member + c->l->more.member_offset, &off, 8) == 0 && off >= 16 &&
                off < 4096)
                s->offset = off;
        }
    }
    if (s->offset < 0)
        return -SG_ENOTPY;
    err = mem_read_u64(c->r, obj + (uint64_t)s->offset, value);
    return err ? err : (*value ? 0 : -SG_ENOTPY);
}

/* ---- code objects -------------------------------------------------------- */

static struct tasks_code_memo *code_memo(struct tasks_ctx *c, const struct code_info *ci)
{
    struct tasks_code_memo *m = &c->tr->memo->codes[ci->serial & (TASKS_MEMO - 1)];
    if (m->serial != ci->serial) {
        memset(m, 0, sizeof(*m));
        m->serial = ci->serial;
        for (int i = 0; i < 4; i++)
            m->local[i] = -2;
    }
    return m;
}

static const struct {
    const char *file, *name;
    uint8_t cls;
} code_classes[] = {
    {"/asyncio/futures.py", "__await__", CC_FUTURE_AWAIT},
    {"/asyncio/futures.py", "__iter__", CC_FUTURE_AWAIT},
    {"/asyncio/tasks.py", "sleep", CC_SLEEP},
    {"/asyncio/tasks.py", "_wait", CC_WAIT},
    {"/asyncio/locks.py", "acquire", CC_LOCKS_ACQUIRE},
    {"/asyncio/locks.py", "wait", CC_LOCKS_WAIT},
    {"/asyncio/queues.py", "get", CC_QUEUE},
    {"/asyncio/queues.py", "put", CC_QUEUE},
    {"/asyncio/selector_events.py", "sock_recv", CC_SOCKET},
    {"/asyncio/selector_events.py", "sock_recv_into", CC_SOCKET},
    {"/asyncio/selector_events.py", "sock_recvfrom", CC_SOCKET},
    {"/asyncio/selector_events.py", "sock_sendall", CC_SOCKET},
    {"/asyncio/selector_events.py", "sock_accept", CC_SOCKET},
    {"/asyncio/selector_events.py", "sock_connect", CC_SOCKET},
    {"/asyncio/streams.py", "_wait_for_data", CC_STREAM},
    {"/asyncio/taskgroups.py", "__aexit__", CC_TASKGROUP},
    {"/asyncio/base_events.py", "_run_once", CC_RUN_ONCE},
    {"/asyncio/base_events.py", "run_forever", CC_RUN_FOREVER},
    {"/asyncio/base_events.py", "run_until_complete", CC_RUN_UNTIL},
    {"/asyncio/events.py", "_run", CC_HANDLE_RUN},
};

int tasks_code_class(struct tasks_ctx *c, const struct code_info *ci)
{
    struct tasks_code_memo *m = code_memo(c, ci);
    if (m->cls == CC_UNKNOWN) {
        m->cls = CC_OTHER;
        for (size_t i = 0; i < sizeof(code_classes) / sizeof(code_classes[0]); i++) {
            if (strcmp(ci->name, code_classes[i].name) == 0 &&
                str_endswith(ci->filename, code_classes[i].file))
                m->cls = code_classes[i].cls;
        }
    }
    return m->cls;
}

int tasks_local(struct tasks_ctx *c, const struct py_frame *f, enum memo_local which,
                uint64_t *value)
{
    static const char *const names[] = {
        [LOCAL_SELF] = "self", [LOCAL_H] = "h", [LOCAL_FS] = "fs", [LOCAL_FUTURE] = "future"};
    struct tasks_code_memo *m = code_memo(c, f->code);
    if (m->local[which] == -2) {
        int cell, ix = locals_find(c->w, f->code, names[which], &cell);
        if (ix < 0 && ix != -SG_ENOTPY)
            return ix; /* the names could not be read: ask again next time */
        m->local[which] = (int16_t)(ix < 0 ? -1 : ix);
        m->cell[which] = (uint8_t)(ix < 0 ? 0 : cell);
    }
    if (m->local[which] < 0)
        return -SG_ENOTPY;
    return locals_get(c->w, f, m->local[which], m->cell[which], value);
}

/* ---- tasks --------------------------------------------------------------- */

static uint64_t task_hash(const void *ctx, uint32_t id)
{
    const struct task_reader *tr = ctx;
    return hash_mix(tr->tasks[id].addr);
}

static int task_same(const void *ctx, uint32_t id, const void *key)
{
    const struct task_reader *tr = ctx;
    return tr->tasks[id].addr == *(const uint64_t *)key;
}

int64_t tasks_index_of(const struct tasks_ctx *c, uint64_t addr)
{
    if (!addr || !c->s->task_ix.cap)
        return -1;
    uint32_t *slot = hash_index_find(&c->s->task_ix, hash_mix(addr), task_same, c->tr, &addr);
    return *slot ? (int64_t)*slot - 1 : -1;
}

void *tasks_scratch_buf(struct tasks_ctx *c, size_t spans, size_t bytes)
{
    struct tasks_scratch *s = c->s;
    s->spans = xgrow(s->spans, sizeof(*s->spans), spans, &s->spans_cap);
    s->buf = xgrow(s->buf, 1, bytes, &s->buf_cap);
    return s->buf;
}

/* Adds the task built in tr->tasks[tr->ntasks] to the reader and its index. */
static void add_task(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    uint64_t addr = tr->tasks[tr->ntasks].addr;
    hash_index_reserve(&c->s->task_ix, tr->ntasks, task_hash, tr);
    uint32_t *slot = hash_index_find(&c->s->task_ix, hash_mix(addr), task_same, tr, &addr);
    *slot = (uint32_t)tr->ntasks + 1;
    tr->ntasks++;
}

/* The pure-Python Task keeps _state in the instance only once it changed:
 * a pending task reads the class attribute 'PENDING'. */
static int py_state(struct tasks_ctx *c, uint64_t task, int *state)
{
    static const char *const states[] = {"PENDING", "CANCELLED", "FINISHED"};
    uint64_t value;
    char text[16];
    int err = value_getattr(c->r, c->l, task, "_state", &value);
    *state = TASK_PENDING;
    if (err == -SG_ENOTPY)
        return 0;
    if (err || (err = pystr_read(c->r, c->l, value, text, sizeof(text))) != 0)
        return err;
    for (int i = 0; i < 3; i++) {
        if (strcmp(text, states[i]) == 0) {
            *state = i;
            return 0;
        }
    }
    return -SG_ECORRUPT;
}

/* An attribute that is a task, a future or None (0). */
static int py_object_attr(struct tasks_ctx *c, uint64_t obj, const char *name, uint64_t *value)
{
    const struct tk_type *t;
    int err = value_getattr(c->r, c->l, obj, name, value);
    if (!err && (err = tasks_kind_of(c, *value, &t)) == 0 && t->kind == TK_NONE)
        *value = 0;
    return err;
}

/* The memo slot of a pure-Python task: its own, else the one read longest
 * ago among the few it may use. */
static struct tasks_pure_memo *pure_memo(struct tasks_ctx *c, uint64_t task)
{
    size_t h = (size_t)hash_mix(task);
    struct tasks_pure_memo *oldest = NULL;
    for (size_t k = 0; k < 4; k++) {
        struct tasks_pure_memo *m = &c->p->pure[(h + k) & (TASKS_PURE_MEMO - 1)];
        if (m->task == task)
            return m;
        if (!oldest || !m->task || (oldest->task && m->read_at < oldest->read_at))
            oldest = m;
    }
    return oldest;
}

/* A pure-Python task: every attribute with names (dump); when recording,
 * _coro and _loop from the memo (struct tasks_pure_memo), the waiter from
 * its chain (take_frame), and pending as long as its coroutine has a frame. */
static int read_py_task(struct tasks_ctx *c, struct py_task *t)
{
    t->pure = 1;
    if (!c->tr->names) {
        struct tasks_pure_memo *m = pure_memo(c, t->addr);
        if (m->task != t->addr || c->tr->samples - m->read_at >= TASKS_PURE_REFRESH) {
            int first = m->task != t->addr;
            if (py_object_attr(c, t->addr, "_loop", &m->loop) != 0 ||
                py_object_attr(c, t->addr, "_coro", &m->coro) != 0) {
                m->task = 0;
                return -SG_ECORRUPT;
            }
            m->task = t->addr;
            /* Tasks first seen together are read again at different samples. */
            m->read_at = c->tr->samples - (first ? hash_mix(t->addr) % TASKS_PURE_REFRESH : 0);
        }
        t->loop = m->loop;
        t->coro = m->coro;
        t->state = TASK_PENDING;
        return 0;
    }
    int err = py_state(c, t->addr, &t->state);
    if (!err)
        err = py_object_attr(c, t->addr, "_loop", &t->loop);
    if (!err)
        err = py_object_attr(c, t->addr, "_coro", &t->coro);
    if (!err)
        err = py_object_attr(c, t->addr, "_fut_waiter", &t->waiter);
    return err;
}

static void read_c_task(struct tasks_ctx *c, const uint8_t *buf, size_t size, struct py_task *t)
{
    const struct py_layout *l = c->l;
    t->loop = u64_at(buf, size, l->asyncio.fut_loop);
    t->coro = u64_at(buf, size, l->asyncio.task_coro);
    t->waiter = u64_at(buf, size, l->asyncio.task_fut_waiter);
    t->state = layout_i32(buf, size, l->asyncio.fut_state);
}

void tasks_read_name(struct tasks_ctx *c, struct py_task *t)
{
    const struct tk_type *k;
    uint64_t obj = 0;
    int64_t number;
    t->name[0] = '\0';
    if (t->pure ? value_getattr(c->r, c->l, t->addr, "_name", &obj)
                : (c->l->asyncio.task_name == PY_NO_FIELD ||
                   mem_read_u64(c->r, t->addr + c->l->asyncio.task_name, &obj)))
        return;
    if (tasks_kind_of(c, obj, &k) != 0)
        return;
    if (k->kind == TK_STR && pystr_read(c->r, c->l, obj, t->name, sizeof(t->name)) != 0)
        t->name[0] = '\0';
    /* 3.12+ numbers an unnamed task and makes its name "Task-N" only when
     * someone asks for it. */
    if (k->kind == TK_INT && value_read_int(c->r, c->l, obj, &number) == 0)
        snprintf(t->name, sizeof(t->name), "Task-%" PRId64, number);
}

/* One registry entry: a task, pending or not, C or pure. Built in place,
 * in the slot after the last task. */
static void take_task(struct tasks_ctx *c, uint64_t addr, int eager, const uint8_t *buf,
                      size_t size)
{
    struct task_reader *tr = c->tr;
    const struct tk_type *k;
    if (tasks_index_of(c, addr) >= 0)
        return; /* in two registries (3.7 with _asyncio imported first) */
    int err = tasks_kind(c, u64_at(buf, size, c->l->object.ob_type), &k);
    if (err == 0 && k->kind == TK_NONE)
        return; /* a dead weak reference the WeakSet has not dropped yet */
    if (err != 0 || (k->kind != TK_C_TASK && k->kind != TK_PY_TASK) ||
        (k->kind == TK_C_TASK && size < c->l->asyncio.task_size)) {
        tr->torn++;
        return;
    }
    tr->tasks = xgrow(tr->tasks, sizeof(*tr->tasks), tr->ntasks + 1, &tr->tasks_cap);
    struct py_task *t = &tr->tasks[tr->ntasks];
    memset(t, 0, offsetof(struct py_task, name));
    t->name[0] = t->endpoint[0] = '\0';
    t->addr = addr;
    t->eager = eager;
    t->loop_index = -1;
    t->awaits = t->awaited_by = -1;
    t->fd = -1;
    if (k->kind == TK_C_TASK)
        read_c_task(c, buf, size, t);
    else if (read_py_task(c, t) != 0) {
        tr->torn++;
        return;
    }
    if (t->state != TASK_PENDING) {
        tr->done += t->state == TASK_CANCELLED || t->state == TASK_FINISHED;
        tr->torn += t->state != TASK_CANCELLED && t->state != TASK_FINISHED;
        return;
    }
    if (tr->names)
        tasks_read_name(c, t);
    add_task(c);
}

void tasks_read_tasks(struct tasks_ctx *c)
{
    struct tasks_scratch *s = c->s;
    size_t n = s->ncand;
    c->tr->ntasks = 0;
    c->tr->done = 0;
    hash_index_clear(&s->task_ix);
    size_t span = c->l->asyncio.task_size > TASK_SPAN ? c->l->asyncio.task_size : TASK_SPAN;
    uint8_t *buf = tasks_scratch_buf(c, n, n * span);
    for (size_t i = 0; i < n; i++)
        s->spans[i] = (struct mem_span){s->cand[i], buf + i * span, span, 0};
    tasks_batch(c, s->spans, n, c->l->asyncio.task_size);
    for (size_t i = 0; i < n; i++) {
        if (s->spans[i].err) {
            c->tr->torn++;
            continue;
        }
        take_task(c, s->cand[i], s->cand_eager[i], s->spans[i].buf, s->spans[i].size);
    }
}

/* ---- coroutine chains ---------------------------------------------------- */

/* Is the code at offset (bytes) suspended in a `yield from` / await? (The
 * next instruction decides: <= 3.10 YIELD_FROM, 3.11/3.12 a RESUME after a
 * yield from or await.) Remembered per code object and offset. */
static int yf_at(struct tasks_ctx *c, const struct code_info *ci, int64_t offset)
{
    const struct py_layout *l = c->l;
    struct tasks_yf_memo *m =
        &c->tr->memo->yf[hash_mix(ci->serial ^ ((uint64_t)offset << 32)) & (TASKS_MEMO - 1)];
    if (m->serial == ci->serial && m->offset == offset)
        return m->yf;
    uint8_t unit[2] = {0, 0};
    int64_t size = 0;
    int yf = 0;
    if (l->frame_kind == PY_FRAME_OBJECT) {
        uint64_t bytes;
        if (mem_read_u64(c->r, ci->addr + l->code.co_code, &bytes) ||
            mem_read(c->r, bytes + l->object.ob_size, &size, 8) || offset + 2 >= size ||
            mem_read(c->r, bytes + l->bytes.ob_sval + (uint64_t)offset + 2, unit, 1))
            return 0; /* not remembered: a read failed */
        yf = unit[0] == OP_YIELD_FROM;
    } else {
        if (mem_read(c->r, ci->addr + l->object.ob_size, &size, 8) || offset / 2 + 1 >= size ||
            mem_read(c->r, ci->addr + l->code.co_code_adaptive + (uint64_t)offset + 2, unit, 2))
            return 0;
        yf = (unit[0] == OP_RESUME || (l->minor == 11 && unit[0] == OP_RESUME_QUICK) ||
              (l->minor == 12 && unit[0] == OP_INSTRUMENTED_RESUME)) &&
             unit[1] >= 2;
    }
    *m = (struct tasks_yf_memo){ci->serial, offset, (int8_t)yf};
    return yf;
}

/* What a generator's frame says, read from buf (size bytes at frame). */
struct gen_view {
    uint64_t frame, code;
    int64_t offset; /* bytes into the bytecode; negative: not started */
    int suspended;  /* stopped where it may await something */
    uint64_t slot;  /* the value-stack slot holding what it awaits */
};

/* <= 3.10: a PyFrameObject read into buf. */
static int view_frame_object(struct tasks_ctx *c, uint64_t frame, const uint8_t *buf, size_t size,
                             struct gen_view *v)
{
    const struct py_layout *l = c->l;
    uint64_t type = u64_at(buf, size, l->object.ob_type);
    if (size < l->frame.f_localsplus || (c->w->rt->frame_type && type != c->w->rt->frame_type))
        return -SG_ECORRUPT;
    v->frame = frame;
    v->code = u64_at(buf, size, l->frame.f_code);
    int64_t lasti = layout_i32(buf, size, l->frame.f_lasti);
    v->offset = l->line_kind == PY_LINES_310 && lasti >= 0 ? lasti * 2 : lasti;
    uint64_t stack = u64_at(buf, size, l->genframe.f_valuestack);
    if (l->genframe.f_stacktop != PY_NO_FIELD) {
        uint64_t top = u64_at(buf, size, l->genframe.f_stacktop);
        v->suspended = top > stack && top - stack < (1u << 20) && lasti >= 0;
        v->slot = top - 8;
    } else {
        int32_t depth = layout_i32(buf, size, l->genframe.f_stackdepth);
        int8_t state = (int8_t)buf[l->genframe.f_state];
        v->suspended = state == FRAME_SUSPENDED && depth > 0 && depth < 4096 && lasti >= 0;
        v->slot = stack + 8 * (uint64_t)(depth - 1);
    }
    return 0;
}

/* 3.11+: the generator object (with its frame inside) read into buf.
 * Returns 1 if the generator has finished (no frame). */
static int view_gen_frame(struct tasks_ctx *c, uint64_t gen, const uint8_t *buf, size_t size,
                          struct gen_view *v)
{
    const struct py_layout *l = c->l;
    uint32_t f = l->gen.gi_iframe;
    int8_t state = (int8_t)buf[l->gen.gi_frame_state];
    if (state >= 1) /* completed, or cleared */
        return 1;
    if (size < f + l->iframe.localsplus)
        return -SG_ECORRUPT;
    v->frame = gen + f;
    v->code = u64_at(buf, size, f + l->iframe.code);
    v->offset =
        (int64_t)(u64_at(buf, size, f + l->iframe.instr) - (v->code + l->code.co_code_adaptive));
    int32_t top = layout_i32(buf, size, f + l->iframe.stacktop);
    v->suspended = state == FRAME_SUSPENDED && top > 0 && top < 4096 && v->offset >= 0;
    v->slot = v->frame + l->iframe.localsplus + 8 * (uint64_t)(top - 1);
    return 0;
}

static void add_out(struct tasks_ctx *c, const struct tasks_chain_cur *cur, struct code_info *ci,
                    const struct gen_view *v)
{
    struct tasks_scratch *s = c->s;
    s->out = xgrow(s->out, sizeof(*s->out), s->nout + 1, &s->out_cap);
    struct tasks_chain_out *o = &s->out[s->nout++];
    o->task = cur->task;
    o->frame = (struct py_frame){
        .code = ci, .frame_addr = v->frame, .line = code_line(ci, c->l, v->offset), .owner = 0};
    o->qualname = cur->qualname;
    o->link.gen = cur->gen;
    o->link.kind = cur->kind;
    o->link.qualname = -1;
}

static void push_next(struct tasks_ctx *c, const struct tasks_chain_cur *cur, uint64_t obj)
{
    struct tasks_scratch *s = c->s;
    if (!obj || cur->steps + 1 >= TASKS_MAX_CHAIN + 8)
        return;
    s->next = xgrow(s->next, sizeof(*s->next), s->nnext + 1, &s->next_cap);
    s->next[s->nnext++] = (struct tasks_chain_cur){
        .task = cur->task, .obj = obj, .steps = (uint16_t)(cur->steps + 1)};
}

/* A generator's frame, viewed: records it and goes on to what it awaits
 * (read from buf when the slot is inside it, else read now). */
static void take_frame(struct tasks_ctx *c, const struct tasks_chain_cur *cur,
                       const struct gen_view *v, const uint8_t *buf, uint64_t buf_addr, size_t size)
{
    struct code_info *ci;
    if (code_cache_get(&c->w->codes, c->r, c->l, c->w->rt->code_type, v->code, &ci) != 0) {
        c->tr->torn++;
        return;
    }
    if (tasks_code_class(c, ci) == CC_FUTURE_AWAIT) {
        /* A pure-Python Future's own __await__: the end. Its `self` (its
         * first local) is the future the task waits on. */
        struct py_task *t = &c->tr->tasks[cur->task];
        uint64_t self = v->frame + (c->l->frame_kind == PY_FRAME_INTERP ? c->l->iframe.localsplus
                                                                        : c->l->frame.f_localsplus);
        if (t->pure && !c->tr->names && !t->waiter && self >= buf_addr &&
            self + 8 <= buf_addr + size)
            memcpy(&t->waiter, buf + (self - buf_addr), 8);
        return;
    }
    add_out(c, cur, ci, v);
    /* 3.13 has a frame state of its own for it (SUSPENDED_YIELD_FROM). */
    if (!v->suspended || (c->l->minor < 13 && !yf_at(c, ci, v->offset)))
        return;
    uint64_t next = 0;
    if (v->slot >= buf_addr && v->slot + 8 <= buf_addr + size)
        memcpy(&next, buf + (v->slot - buf_addr), 8);
    else if (mem_read_u64(c->r, v->slot, &next))
        return;
    push_next(c, cur, next);
}

/* One level of every chain: the objects in s->cur. Generators' frames are
 * read inside their object (3.11+) or in a second batch (<= 3.10). */
static void chain_level(struct tasks_ctx *c, size_t n)
{
    struct tasks_scratch *s = c->s;
    const struct py_layout *l = c->l;
    int old = l->frame_kind == PY_FRAME_OBJECT;
    size_t frame_span = l->frame.f_localsplus + 8 * STACK_SLOTS;
    size_t span = old ? GEN_SPAN_OLD : l->gen.gi_iframe + l->iframe.localsplus + 8 * STACK_SLOTS;
    uint8_t *buf = tasks_scratch_buf(c, n, n * (span > frame_span ? span : frame_span));
    for (size_t i = 0; i < n; i++)
        s->spans[i] = (struct mem_span){s->cur[i].obj, buf + i * span, span, 0};
    tasks_batch(c, s->spans, n, old ? MIN_SPAN : l->gen.gi_iframe + l->iframe.localsplus);
    size_t frames = 0;
    for (size_t i = 0; i < n; i++) {
        struct tasks_chain_cur *cur = &s->cur[i];
        const uint8_t *b = s->spans[i].buf;
        size_t size = s->spans[i].size;
        const struct tk_type *k;
        if (s->spans[i].err || tasks_kind(c, u64_at(b, size, l->object.ob_type), &k) != 0) {
            c->tr->torn++;
            continue;
        }
        if (k->kind == TK_ASEND) { /* async for: go on to the async generator */
            push_next(c, cur, u64_at(b, size, l->gen.ags_gen));
            continue;
        }
        if (k->kind != TK_COROUTINE && k->kind != TK_GENERATOR && k->kind != TK_ASYNC_GEN)
            continue; /* a FutureIter, a future, anything else: the end */
        cur->gen = cur->obj;
        cur->qualname = u64_at(b, size, l->gen.gi_qualname);
        cur->kind = k->kind == TK_COROUTINE   ? TASK_CORO_COROUTINE
                    : k->kind == TK_GENERATOR ? TASK_CORO_GENERATOR
                                              : TASK_CORO_ASYNC_GEN;
        struct gen_view v = {0};
        if (!old) {
            int r = view_gen_frame(c, cur->obj, b, size, &v);
            if (r < 0)
                c->tr->torn++;
            if (r == 0)
                take_frame(c, cur, &v, b, cur->obj, size);
            continue;
        }
        cur->obj = u64_at(b, size, l->gen.gi_frame); /* NULL: finished */
        if (cur->obj)
            s->cur[frames++] = *cur;
    }
    if (!old || !frames)
        return;
    for (size_t i = 0; i < frames; i++)
        s->spans[i] = (struct mem_span){s->cur[i].obj, buf + i * frame_span, frame_span, 0};
    tasks_batch(c, s->spans, frames, l->frame.f_localsplus);
    for (size_t i = 0; i < frames; i++) {
        struct gen_view v = {0};
        if (s->spans[i].err ||
            view_frame_object(c, s->cur[i].obj, s->spans[i].buf, s->spans[i].size, &v) != 0) {
            c->tr->torn++;
            continue;
        }
        take_frame(c, &s->cur[i], &v, s->spans[i].buf, s->cur[i].obj, s->spans[i].size);
    }
}

/* The qualname of each frame's coroutine (names only): one read per
 * distinct str object (most tasks share their coroutines' functions). */
static void read_qualnames(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_scratch *s = c->s;
    struct {
        uint64_t obj;
        int32_t index;
    } seen[256];
    memset(seen, 0, sizeof(seen));
    tr->nqualnames = 0;
    for (size_t i = 0; i < s->nout; i++) {
        uint64_t q = s->out[i].qualname;
        size_t h = (size_t)hash_mix(q) & 255;
        if (!q)
            continue;
        if (seen[h].obj == q) {
            s->out[i].link.qualname = seen[h].index;
            continue;
        }
        tr->qualnames =
            xgrow(tr->qualnames, sizeof(*tr->qualnames), tr->nqualnames + 1, &tr->qualnames_cap);
        if (pystr_read(c->r, c->l, q, tr->qualnames[tr->nqualnames], TASKS_NAME_MAX) != 0)
            continue;
        seen[h].obj = q;
        seen[h].index = (int32_t)tr->nqualnames;
        s->out[i].link.qualname = (int32_t)tr->nqualnames++;
    }
}

/* Puts the frames found into their tasks' places, outermost first. */
static void place_frames(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_scratch *s = c->s;
    size_t need = s->nout, pos = 0;
    tr->frames = xgrow(tr->frames, sizeof(*tr->frames), need ? need : 1, &tr->frames_cap);
    tr->links = xgrow(tr->links, sizeof(*tr->links), need ? need : 1, &tr->links_cap);
    for (size_t i = 0; i < tr->ntasks; i++)
        tr->tasks[i].nframes = 0;
    for (size_t i = 0; i < s->nout; i++)
        tr->tasks[s->out[i].task].nframes++;
    for (size_t i = 0; i < tr->ntasks; i++) {
        tr->tasks[i].frame0 = pos;
        pos += tr->tasks[i].nframes;
        tr->tasks[i].nframes = 0;
    }
    for (size_t i = 0; i < s->nout; i++) { /* stable: levels were walked in order */
        struct py_task *t = &tr->tasks[s->out[i].task];
        tr->frames[t->frame0 + t->nframes] = s->out[i].frame;
        tr->links[t->frame0 + t->nframes] = s->out[i].link;
        t->nframes++;
    }
    tr->nframes = s->nout;
}

void tasks_read_chains(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_scratch *s = c->s;
    size_t n = 0;
    s->nout = 0;
    s->cur = xgrow(s->cur, sizeof(*s->cur), tr->ntasks ? tr->ntasks : 1, &s->cur_cap);
    for (size_t i = 0; i < tr->ntasks; i++) {
        if (tr->tasks[i].coro)
            s->cur[n++] = (struct tasks_chain_cur){.task = i, .obj = tr->tasks[i].coro};
    }
    for (int level = 0; n && level < TASKS_MAX_CHAIN + 8; level++) {
        s->nnext = 0;
        chain_level(c, n);
        n = s->nnext;
        struct tasks_chain_cur *swap = s->cur;
        size_t swap_cap = s->cur_cap;
        s->cur = s->next;
        s->cur_cap = s->next_cap;
        s->next = swap;
        s->next_cap = swap_cap;
    }
    if (tr->names)
        read_qualnames(c);
    place_frames(c);
}
