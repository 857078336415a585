/*
 * tasks_find.c - where asyncio registers its tasks, and reading that
 * registry every sample (python/tasks.h).
 *
 *   3.6   pure Task: the class attribute Task._all_tasks (a WeakSet).
 *         C Task: a static of _asyncio, reachable from no namespace. Every C
 *         task is weakly referenced by that WeakSet, and the weak reference's
 *         callback is the WeakSet's _remove function, whose default argument
 *         is a weak reference to the WeakSet itself. So one task leads to
 *         all: tasks are looked for where a loop keeps them (the future of a
 *         run_until_complete frame, the timers in loop._scheduled, whose
 *         futures' callbacks wake tasks), loops where threads run them.
 *   3.7 - 3.11  _asyncio._all_tasks (WeakSet); asyncio.tasks._all_tasks is
 *         the same object, unless _asyncio was imported before asyncio (then
 *         both are read and merged).
 *   3.12+ _scheduled_tasks (WeakSet) and _eager_tasks (a set of the tasks
 *         running their eager first step), in the same two modules.
 *
 * A WeakSet keeps a set of weak references in its `data` attribute. Each
 * sample reads that set's table in one read and every weak reference in one
 * batch; the objects they refer to are then checked by tasks_read.c. The
 * registry's addresses are kept between samples: the sets live as long as
 * the process's asyncio does.
 */
#include <stdlib.h>
#include <string.h>

#include "python/tasks_impl.h"
#include "python/value.h"
#include "util/util.h"

/* Most set slots read (a set of 16,384 tasks has 32,768 or 65,536). */
#define SET_MAX_SLOTS (1u << 17)
/* Most weak references of one object looked through (3.6 C route). */
#define WEAKREFS_MAX 64
/* Timers of a loop looked at for a first task (3.6 C route). */
#define TIMERS_MAX 256

/* The dict of module sys.modules[name], or 0. */
static uint64_t module_dict(struct tasks_ctx *c, uint64_t modules, const char *name)
{
    uint64_t module, dict;
    char type[16];
    if (value_dict_get_str(c->r, c->l, modules, name, &module) ||
        value_type_name(c->r, c->l, module, type, sizeof(type)) || strcmp(type, "module") != 0 ||
        mem_read_u64(c->r, module + c->l->obj.module_dict, &dict))
        return 0;
    return dict;
}

static void add_set(struct tasks_ctx *c, uint64_t set, int weak, int eager)
{
    struct tasks_proc *p = c->p;
    const struct tk_type *k;
    if (!set || p->nsets >= TASKS_SETS || tasks_kind_of(c, set, &k) || k->kind != TK_SET)
        return;
    for (size_t i = 0; i < p->nsets; i++) {
        if (p->sets[i] == set)
            return;
    }
    p->sets[p->nsets] = set;
    p->weak[p->nsets] = (uint8_t)weak;
    p->eager[p->nsets] = (uint8_t)eager;
    p->nsets++;
}

/* A weakref.WeakSet: its `data` set of weak references. */
static void add_weakset(struct tasks_ctx *c, uint64_t weakset)
{
    uint64_t data;
    if (weakset && value_getattr(c->r, c->l, weakset, "data", &data) == 0)
        add_set(c, data, 1, 0);
}

/* The WeakSet holding a weak reference to task: the reference's callback is
 * WeakSet._remove, whose default `selfref` refers to the WeakSet. */
static uint64_t weakset_of(struct tasks_ctx *c, uint64_t task)
{
    const struct py_layout *l = c->l;
    uint64_t type, ref = 0, items[2];
    int64_t offset = 0;
    if (mem_read_u64(c->r, task + l->object.ob_type, &type) ||
        mem_read(c->r, type + l->more.tp_weaklistoffset, &offset, 8) || offset <= 0 ||
        offset > 4096 || mem_read_u64(c->r, task + (uint64_t)offset, &ref))
        return 0;
    for (int i = 0; ref && i < WEAKREFS_MAX; i++) {
        uint64_t callback = 0, defaults, selfref, weakset;
        const struct tk_type *k;
        size_t n;
        if (mem_read_u64(c->r, ref + l->more.wr_callback, &callback) == 0 &&
            tasks_kind_of(c, callback, &k) == 0 && k->kind == TK_FUNCTION &&
            mem_read_u64(c->r, callback + l->more.func_defaults, &defaults) == 0 &&
            tasks_items(c, defaults, items, 2, &n) == 0 && n >= 1 &&
            tasks_kind_of(c, items[0], &k) == 0 && k->kind == TK_WEAKREF &&
            mem_read_u64(c->r, items[0] + l->more.wr_object, &selfref) == 0 &&
            value_getattr(c->r, l, selfref, "data", &weakset) == 0)
            return selfref;
        if (mem_read_u64(c->r, ref + l->more.wr_next, &ref))
            return 0;
    }
    return 0;
}

/* The tasks a future's callbacks would wake (3.6: a list of callbacks,
 * each a TaskWakeupMethWrapper for a task's await). */
static uint64_t task_of_future(struct tasks_ctx *c, uint64_t fut)
{
    const struct tk_type *k;
    uint64_t list, items[8], task;
    size_t n = 0;
    if (tasks_kind_of(c, fut, &k) || (k->kind != TK_C_TASK && k->kind != TK_C_FUTURE))
        return 0;
    if (k->kind == TK_C_TASK)
        return fut;
    if (mem_read_u64(c->r, fut + c->l->asyncio.fut_callbacks, &list) || !list ||
        tasks_items(c, list, items, 8, &n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (tasks_kind_of(c, items[i], &k) == 0 && k->kind == TK_WAKEUP &&
            c->l->asyncio.wakeup_task != PY_NO_FIELD &&
            mem_read_u64(c->r, items[i] + c->l->asyncio.wakeup_task, &task) == 0 &&
            tasks_kind_of(c, task, &k) == 0 && k->kind == TK_C_TASK)
            return task;
    }
    return 0;
}

/* A C task of loop: from the futures its timers will complete. */
static uint64_t task_of_loop(struct tasks_ctx *c, uint64_t loop)
{
    uint64_t scheduled, *timers = xmalloc(TIMERS_MAX * sizeof(*timers)), task = 0;
    size_t n = 0;
    if (value_getattr(c->r, c->l, loop, "_scheduled", &scheduled) == 0)
        tasks_items(c, scheduled, timers, TIMERS_MAX, &n);
    for (size_t i = 0; i < n && !task; i++) {
        uint64_t args, first[1];
        size_t got;
        if (tasks_slot(c, timers[i], "_args", &args) == 0 &&
            tasks_items(c, args, first, 1, &got) == 0 && got == 1)
            task = task_of_future(c, first[0]);
    }
    free(timers);
    return task;
}

/* 3.6 with C tasks: from a task found through a thread running a loop. */
static void find_36_c(struct tasks_ctx *c)
{
    struct walker *w = c->w;
    for (size_t i = 0; i < w->nthreads && !c->p->nsets; i++) {
        const struct py_thread *t = &w->threads[i];
        for (size_t d = 0; d < t->depth && !c->p->nsets; d++) {
            const struct py_frame *f = &t->frames[d];
            int cls = tasks_code_class(c, f->code);
            uint64_t loop, task = 0;
            if (cls != CC_RUN_FOREVER && cls != CC_RUN_UNTIL && cls != CC_RUN_ONCE)
                continue;
            if (cls == CC_RUN_UNTIL && tasks_local(c, f, LOCAL_FUTURE, &task) == 0)
                task = task_of_future(c, task);
            if (!task && tasks_local(c, f, LOCAL_SELF, &loop) == 0)
                task = task_of_loop(c, loop);
            if (task)
                add_weakset(c, weakset_of(c, task));
        }
    }
}

int tasks_find_registry(struct tasks_ctx *c, uint64_t interp)
{
    struct tasks_proc *p = c->p;
    const struct py_layout *l = c->l;
    uint64_t modules, value;
    p->nsets = 0;
    int err = mem_read_u64(c->r, interp + l->interp.modules, &modules);
    if (err)
        return err;
    uint64_t dicts[2] = {module_dict(c, modules, "_asyncio"),
                         module_dict(c, modules, "asyncio.tasks")};
    for (int i = 0; i < 2; i++) {
        if (!dicts[i])
            continue;
        if (l->minor >= 12) {
            if (value_dict_get_str(c->r, l, dicts[i], "_scheduled_tasks", &value) == 0)
                add_weakset(c, value);
            if (value_dict_get_str(c->r, l, dicts[i], "_eager_tasks", &value) == 0)
                add_set(c, value, 0, 1);
        } else if (l->minor >= 7) {
            if (value_dict_get_str(c->r, l, dicts[i], "_all_tasks", &value) == 0)
                add_weakset(c, value);
        }
    }
    if (l->minor == 6 && dicts[1] && value_dict_get_str(c->r, l, dicts[1], "Task", &value) == 0) {
        uint64_t all;
        const struct tk_type *k;
        if (tasks_kind(c, value, &k) == 0 && k->kind == TK_C_TASK)
            find_36_c(c);
        else if (value_getattr(c->r, l, value, "_all_tasks", &all) == 0)
            add_weakset(c, all);
    }
    p->state = p->nsets ? 1 : 2;
    return 0;
}

/* Appends the set's live entries to the candidates (weak: the objects its
 * weak references refer to). Returns 0 or a negative SG_E* code. */
static int list_set(struct tasks_ctx *c, uint64_t set, int weak, int eager)
{
    const struct py_layout *l = c->l;
    struct tasks_scratch *s = c->s;
    uint8_t head[64];
    uint64_t mask, table;
    int64_t used;
    int err = mem_read(c->r, set, head, sizeof(head));
    if (err)
        return err;
    mask = layout_u64(head, sizeof(head), l->obj.set_mask);
    table = layout_u64(head, sizeof(head), l->obj.set_table);
    used = (int64_t)layout_u64(head, sizeof(head), l->obj.set_used);
    if (mask + 1 > SET_MAX_SLOTS || (mask & (mask + 1)) || !table || used < 0 ||
        (uint64_t)used > mask + 1)
        return -SG_ECORRUPT;
    size_t slots = (size_t)mask + 1;
    uint64_t *entries = xmalloc(slots * 16);
    err = mem_read(c->r, table, entries, slots * 16);
    size_t first = s->ncand, live = 0;
    for (size_t i = 0; !err && i < slots && s->ncand < TASKS_MAX; i++) {
        uint64_t key = entries[2 * i + (l->obj.set_entry_key ? 1 : 0)];
        uint64_t hash = entries[2 * i + (l->obj.set_entry_key ? 0 : 1)];
        if (!key || hash == UINT64_MAX)
            continue; /* empty, or a deleted entry's dummy */
        s->cand = xgrow(s->cand, sizeof(*s->cand), s->ncand + 1, &s->cand_cap);
        s->cand_eager = xgrow(s->cand_eager, 1, s->ncand + 1, &s->cand_eager_cap);
        s->cand[s->ncand] = key;
        s->cand_eager[s->ncand++] = (uint8_t)eager;
        live++;
    }
    free(entries);
    if (!err && live != (size_t)used)
        c->tr->torn++; /* the set changed while we read it: take what we saw */
    if (err || !weak)
        return err;
    /* Each weak reference, in one batch: its type and referent. */
    size_t n = s->ncand - first;
    uint8_t *buf = tasks_scratch_buf(c, n, n * 24);
    for (size_t i = 0; i < n; i++)
        s->spans[i] = (struct mem_span){s->cand[first + i], buf + i * 24, 24, 0};
    tasks_batch(c, s->spans, n, 24);
    size_t kept = first;
    for (size_t i = 0; i < n; i++) {
        const struct tk_type *k;
        if (s->spans[i].err ||
            tasks_kind(c, layout_u64(s->spans[i].buf, 24, l->object.ob_type), &k) != 0 ||
            k->kind != TK_WEAKREF) {
            c->tr->torn++;
            continue;
        }
        s->cand[kept] = layout_u64(s->spans[i].buf, 24, l->more.wr_object);
        s->cand_eager[kept++] = (uint8_t)eager;
    }
    s->ncand = kept;
    return 0;
}

int tasks_list(struct tasks_ctx *c)
{
    int err = 0, ok = 0;
    c->s->ncand = 0;
    for (size_t i = 0; i < c->p->nsets; i++) {
        int e = list_set(c, c->p->sets[i], c->p->weak[i], c->p->eager[i]);
        ok |= e == 0;
        err = e ? e : err;
    }
    return ok ? 0 : err;
}
