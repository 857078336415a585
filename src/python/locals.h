/*
 * locals.h - a frame's local variables, as (name, short repr) pairs.
 */
#ifndef SPYGLASS_PYTHON_LOCALS_H
#define SPYGLASS_PYTHON_LOCALS_H

#include "python/walk.h"

/* Most locals shown per frame. */
#define LOCALS_MAX 64
/* Most variable slots (locals, cells, free variables) looked at per frame. */
#define LOCALS_SLOTS_MAX 1024
/* Bytes of one value's repr, with the NUL: longer reprs end in "...". */
#define LOCALS_REPR_SIZE 256

/* Calls fn(name, repr, ctx) for each bound variable of frame f, in the order
 * Python's f_locals has them: plain locals, then cell variables, then free
 * variables (cells are shown by their contents; a 2.7 argument that is also
 * a cell is shown once, by its cell). Unbound variables are skipped. Returns
 * how many bound variables were left out past LOCALS_MAX (0 normally), or a
 * negative SG_E* code if the frame's variables could not be read. */
int locals_read(struct walker *w, const struct py_frame *f,
                void (*fn)(const char *name, const char *repr, void *ctx), void *ctx);

/* Returns the index of the local variable called name in code ci, or
 * -SG_ENOTPY if there is none, or another negative SG_E* code. Sets *cell to
 * 1 if the slot may hold a cell (a cell or free variable). Reads the
 * code's names: callers cache the answer per code object (code_info.serial). */
int locals_find(struct walker *w, const struct code_info *ci, const char *name, int *cell);

/* Reads the object bound to local variable index (and cell, from
 * locals_find) of frame f into *value, looking through a cell. Returns 0,
 * -SG_ENOTPY if the variable is unbound, or another negative SG_E* code. One
 * read for a plain variable. */
int locals_get(struct walker *w, const struct py_frame *f, int index, int cell, uint64_t *value);

#endif
