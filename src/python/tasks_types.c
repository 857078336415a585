/*
 * tasks_types.c - what asyncio's objects are (python/tasks.h).
 *
 * Types are recognised by name once per type object: the static ones
 * (coroutine, generator, ..., and _asyncio's, heap types from 3.12 but with
 * the module in their tp_name) directly; a heap type through its MRO, so a
 * subclass of _asyncio.Task keeps the C layout and a subclass of the
 * pure-Python Task its attributes. The pure-Python Task and Future are told
 * from user classes of the same name by their __module__. Also here: the
 * items of lists, tuples and sets, __slots__ members, and per code object
 * what a function is to asyncio and where its locals are.
 */
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
/* Most entries of an MRO looked at. */
#define MRO_MAX 32

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
