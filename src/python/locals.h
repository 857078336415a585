/*
 * locals.h - a frame's local variables, as (name, short repr) pairs.
 */
#ifndef SPYGLASS_PYTHON_LOCALS_H
#define SPYGLASS_PYTHON_LOCALS_H

#include "python/walk.h"

/* Most locals shown per frame. */
#define LOCALS_MAX 64

/* Calls fn(name, repr, ctx) for each bound local variable of frame f (cells
 * are shown by their contents). Unbound locals are skipped. Returns 0 or a
 * negative SG_E* code. */
int locals_read(struct walker *w, const struct py_frame *f,
                void (*fn)(const char *name, const char *repr, void *ctx), void *ctx);

#endif
