/*
 * tasks_read.c - every task of the registry, C or pure-Python (python/tasks.h).
 *
 * The registry's entries are read in one batch as C tasks; a C task's fields
 * come from that copy, a pure-Python task's from its attributes (when
 * recording, mostly from what the last samples read: struct
 * tasks_pure_memo). Tasks that are not pending are counted, not kept.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "python/pystr.h"
#include "python/tasks_impl.h"
#include "python/value.h"
#include "util/util.h"

/* Bytes read of a task at least (a C task: all of it). */
#define TASK_SPAN 64

static uint64_t u64_at(const uint8_t *buf, size_t size, uint32_t off)
{
    return layout_u64(buf, size, off);
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
