/*
 * locals.c - reading a frame's local variables.
 *
 * Before 3.11 the fast locals sit in PyFrameObject.f_localsplus, named by
 * co_varnames. From 3.11 they sit in _PyInterpreterFrame.localsplus, named by
 * co_localsplusnames, with co_localspluskinds telling cells and free
 * variables (whose slot holds a cell object) from plain locals.
 */
#include "python/locals.h"

#include <stdlib.h>

#include "python/pystr.h"
#include "python/value.h"

/* co_localspluskinds bits (CPython's CO_FAST_*). */
#define KIND_CELL 0x40
#define KIND_FREE 0x80

int locals_read(struct walker *w, const struct py_frame *f,
                void (*fn)(const char *name, const char *repr, void *ctx), void *ctx)
{
    const struct py_layout *l = &w->rt->layout;
    const struct code_info *ci = f->code;
    int count = ci->nlocals;
    if (count <= 0 || !ci->varnames)
        return 0;
    if (count > LOCALS_MAX)
        count = LOCALS_MAX;
    uint64_t base = f->frame_addr + (l->frame_kind == PY_FRAME_INTERP ? l->iframe.localsplus
                                                                      : l->frame.f_localsplus);
    uint64_t slots[LOCALS_MAX], names[LOCALS_MAX];
    int err = mem_read(w->r, base, slots, (size_t)count * 8);
    if (!err)
        err = mem_read(w->r, ci->varnames + l->obj.tuple_item, names, (size_t)count * 8);
    if (err)
        return err;
    uint8_t *kinds = NULL;
    size_t nkinds = 0;
    if (ci->kinds)
        pystr_read_bytes(w->r, l, ci->kinds, (size_t)count, &kinds, &nkinds);
    for (int i = 0; i < count; i++) {
        char name[256], repr[512];
        uint64_t value = slots[i];
        if (!value || pystr_read(w->r, l, names[i], name, sizeof(name)))
            continue;
        if ((size_t)i < nkinds && (kinds[i] & (KIND_CELL | KIND_FREE))) {
            char tname[16];
            /* A cell not yet made by MAKE_CELL still holds the raw value. */
            if (value_type_name(w->r, l, value, tname, sizeof(tname)) == 0 &&
                tname[0] == 'c' && tname[1] == 'e' && tname[2] == 'l' && tname[3] == 'l' &&
                !tname[4]) {
                if (mem_read_u64(w->r, value + l->obj.cell_ref, &value) || !value)
                    continue;
            }
        }
        if (value_repr(w->r, l, value, repr, sizeof(repr)))
            continue;
        fn(name, repr, ctx);
    }
    free(kinds);
    return 0;
}
