/*
 * locals.c - reading a frame's local variables.
 *
 * Before 3.11 the variables sit in PyFrameObject.f_localsplus: co_nlocals
 * plain locals named by co_varnames, then one cell object per name in
 * co_cellvars, then one per name in co_freevars. From 3.11 they sit in
 * _PyInterpreterFrame.localsplus, all named by co_localsplusnames, with
 * co_localspluskinds telling cells and free variables (whose slot holds a
 * cell object) from plain locals. From 3.14 a slot is a _PyStackRef whose
 * low bits are tags (a borrowed or deferred reference; an empty slot is a
 * tag alone): untagged, it is the object. Values are shown through
 * value_repr, so every read stays bounded however torn the frame is.
 */
#include "python/locals.h"

#include <stdlib.h>
#include <string.h>

#include "python/pystr.h"
#include "python/value.h"
#include "util/util.h"

/* co_localspluskinds bits (CPython's CO_FAST_*). */
#define KIND_CELL 0x40
#define KIND_FREE 0x80

/* A frame's variable slots: name and value pointers, and whether the slot
 * holds a cell (or, before MAKE_CELL has run, the value a cell will get). */
struct slots {
    size_t count;
    uint64_t names[LOCALS_SLOTS_MAX];
    uint64_t values[LOCALS_SLOTS_MAX];
    uint8_t cell[LOCALS_SLOTS_MAX];
};

/* Returns 1 if the object at obj has the built-in type name want. */
static int has_type(struct mem_reader *r, const struct py_layout *l, uint64_t obj, const char *want)
{
    char name[16];
    return value_type_name(r, l, obj, name, sizeof(name)) == 0 && strcmp(name, want) == 0;
}

/* Reads at most max item pointers of the tuple at tuple into items. Returns
 * how many were read (0 for a NULL pointer), or a negative SG_E* code. */
static int read_tuple(struct mem_reader *r, const struct py_layout *l, uint64_t tuple,
                      uint64_t *items, size_t max)
{
    int64_t size;
    if (!tuple)
        return 0;
    if (!has_type(r, l, tuple, "tuple"))
        return -SG_ECORRUPT;
    int err = mem_read(r, tuple + l->object.ob_size, &size, sizeof(size));
    if (err)
        return err;
    if (size < 0)
        return -SG_ECORRUPT;
    size_t n = (uint64_t)size < max ? (size_t)size : max;
    err = mem_read(r, tuple + l->obj.tuple_item, items, n * sizeof(*items));
    return err ? err : (int)n;
}

/* <= 3.10: co_varnames, then co_cellvars and co_freevars (cells). */
static int slots_of_frame_object(struct walker *w, const struct py_frame *f, struct slots *s)
{
    const struct py_layout *l = &w->rt->layout;
    const struct code_info *ci = f->code;
    uint64_t cellvars = 0, freevars = 0;
    size_t nlocals =
        (size_t)ci->nlocals < LOCALS_SLOTS_MAX ? (size_t)ci->nlocals : LOCALS_SLOTS_MAX;
    int got = read_tuple(w->r, l, ci->varnames, s->names, nlocals);
    if (got >= 0 && (size_t)got != nlocals)
        got = -SG_ECORRUPT; /* co_varnames has one name per local */
    if (got < 0)
        return got;
    s->count = nlocals;
    int err = mem_read_u64(w->r, ci->addr + l->code.co_cellvars, &cellvars);
    if (!err)
        err = mem_read_u64(w->r, ci->addr + l->code.co_freevars, &freevars);
    if (err)
        return err;
    uint64_t tuples[2] = {cellvars, freevars};
    for (size_t t = 0; t < 2; t++) {
        got = read_tuple(w->r, l, tuples[t], s->names + s->count, LOCALS_SLOTS_MAX - s->count);
        if (got < 0)
            return got;
        memset(s->cell + s->count, 1, (size_t)got);
        s->count += (size_t)got;
    }
    return mem_read(w->r, f->frame_addr + l->frame.f_localsplus, s->values,
                    s->count * sizeof(s->values[0]));
}

/* >= 3.11: co_localsplusnames, with co_localspluskinds marking cells. */
static int slots_of_interp_frame(struct walker *w, const struct py_frame *f, struct slots *s)
{
    const struct py_layout *l = &w->rt->layout;
    const struct code_info *ci = f->code;
    size_t count = (size_t)ci->nlocals < LOCALS_SLOTS_MAX ? (size_t)ci->nlocals : LOCALS_SLOTS_MAX;
    uint8_t *kinds = NULL;
    size_t nkinds = 0;
    int got = read_tuple(w->r, l, ci->varnames, s->names, count);
    if (got >= 0 && (size_t)got != count)
        got = -SG_ECORRUPT;
    if (got < 0)
        return got;
    s->count = count;
    if (ci->kinds && pystr_read_bytes(w->r, l, ci->kinds, count, &kinds, &nkinds) == 0) {
        for (size_t i = 0; i < nkinds; i++)
            s->cell[i] = (kinds[i] & (KIND_CELL | KIND_FREE)) != 0;
        free(kinds);
    }
    int err = mem_read(w->r, f->frame_addr + l->iframe.localsplus, s->values,
                       s->count * sizeof(s->values[0]));
    for (size_t i = 0; !err && i < s->count; i++)
        s->values[i] = layout_untag(l, s->values[i]);
    return err;
}

/* Replaces a cell by what it holds (0 if empty). A slot marked as a cell may
 * still hold the plain value: before MAKE_CELL (3.11+), or when an inlined
 * comprehension (3.12+) reuses the name. */
static int unwrap_cell(struct walker *w, uint64_t *value)
{
    const struct py_layout *l = &w->rt->layout;
    if (!has_type(w->r, l, *value, "cell"))
        return 0;
    return mem_read_u64(w->r, *value + l->obj.cell_ref, value);
}

/* Returns 1 if slot i is a plain local that a later cell slot shadows (2.7
 * copies an argument that is also a cell variable into the cell and keeps
 * the stale argument slot; the names are the same interned string). */
static int shadowed(const struct slots *s, size_t i)
{
    for (size_t j = i + 1; !s->cell[i] && j < s->count; j++) {
        if (s->cell[j] && s->names[j] == s->names[i])
            return 1;
    }
    return 0;
}

int locals_read(struct walker *w, const struct py_frame *f,
                void (*fn)(const char *name, const char *repr, void *ctx), void *ctx)
{
    const struct py_layout *l = &w->rt->layout;
    if (f->code->nlocals < 0)
        return -SG_ECORRUPT;
    struct slots *s = xcalloc(1, sizeof(*s));
    int err = l->frame_kind == PY_FRAME_INTERP ? slots_of_interp_frame(w, f, s)
                                               : slots_of_frame_object(w, f, s);
    int shown = 0, more = 0;
    for (size_t i = 0; !err && i < s->count; i++) {
        char name[256], repr[LOCALS_REPR_SIZE];
        uint64_t value = s->values[i];
        if (value && s->cell[i] && unwrap_cell(w, &value))
            continue;
        if (!value || shadowed(s, i) || pystr_read(w->r, l, s->names[i], name, sizeof(name)))
            continue;
        if (shown == LOCALS_MAX) {
            more++;
            continue;
        }
        value_repr(w->r, l, value, repr, sizeof(repr)); /* "<unreadable>" on failure */
        fn(name, repr, ctx);
        shown++;
    }
    free(s);
    return err ? err : more;
}

/* The names of code ci's variable slots (locals, then on <= 3.10 cell and
 * free variables) and which ones may hold a cell. Returns the count or a
 * negative SG_E* code. */
static int slot_names(struct walker *w, const struct code_info *ci, struct slots *s)
{
    const struct py_layout *l = &w->rt->layout;
    size_t count = (size_t)ci->nlocals < LOCALS_SLOTS_MAX ? (size_t)ci->nlocals : LOCALS_SLOTS_MAX;
    int got = read_tuple(w->r, l, ci->varnames, s->names, count);
    if (got < 0)
        return got;
    s->count = (size_t)got;
    memset(s->cell, 0, sizeof(s->cell));
    if (l->frame_kind == PY_FRAME_OBJECT) {
        uint64_t tuples[2] = {0, 0};
        int err = mem_read_u64(w->r, ci->addr + l->code.co_cellvars, &tuples[0]);
        if (!err)
            err = mem_read_u64(w->r, ci->addr + l->code.co_freevars, &tuples[1]);
        for (size_t t = 0; !err && t < 2; t++) {
            got = read_tuple(w->r, l, tuples[t], s->names + s->count, LOCALS_SLOTS_MAX - s->count);
            if (got < 0)
                return got;
            memset(s->cell + s->count, 1, (size_t)got);
            s->count += (size_t)got;
        }
        return err ? err : (int)s->count;
    }
    uint8_t *kinds = NULL;
    size_t nkinds = 0;
    if (ci->kinds && pystr_read_bytes(w->r, l, ci->kinds, s->count, &kinds, &nkinds) == 0) {
        for (size_t i = 0; i < nkinds; i++)
            s->cell[i] = (kinds[i] & (KIND_CELL | KIND_FREE)) != 0;
        free(kinds);
    }
    return (int)s->count;
}

int locals_find(struct walker *w, const struct code_info *ci, const char *name, int *cell)
{
    struct slots *s = xmalloc(sizeof(*s));
    int found = -SG_ENOTPY, err = slot_names(w, ci, s);
    *cell = 0;
    /* The last match wins: before 3.11 an argument that is also a cell
     * variable has a slot of each kind, and the cell is the live one. */
    for (int i = 0; i < err; i++) {
        char text[64];
        if (pystr_read(w->r, &w->rt->layout, s->names[i], text, sizeof(text)) == 0 &&
            strcmp(text, name) == 0) {
            found = i;
            *cell = s->cell[i];
        }
    }
    free(s);
    return err < 0 ? err : found;
}

int locals_get(struct walker *w, const struct py_frame *f, int index, int cell, uint64_t *value)
{
    const struct py_layout *l = &w->rt->layout;
    uint64_t base = f->frame_addr + (l->frame_kind == PY_FRAME_INTERP ? l->iframe.localsplus
                                                                      : l->frame.f_localsplus);
    if (index < 0 || index >= LOCALS_SLOTS_MAX)
        return -SG_ENOTPY;
    int err = mem_read_u64(w->r, base + (uint64_t)index * 8, value);
    if (!err && l->frame_kind == PY_FRAME_INTERP)
        *value = layout_untag(l, *value);
    if (!err && *value && cell)
        err = unwrap_cell(w, value);
    if (!err && !*value)
        err = -SG_ENOTPY;
    return err;
}
