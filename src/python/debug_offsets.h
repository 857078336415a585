/*
 * debug_offsets.h - reading a 3.13+ interpreter's own description of its
 * layout, _Py_DebugOffsets, and deciding where each offset comes from.
 *
 * From 3.13 on the runtime starts with a cookie ("xdebugpy"), PY_VERSION_HEX,
 * a free-threaded flag and the offsets a remote reader needs. They are right
 * for every patch release (3.14.5 moved interpreter-state fields that a table
 * made from 3.14.0's headers has elsewhere), so by default they correct our
 * table; the table supplies what they lack (tag bits, owner values, string
 * bits, dict internals, ...).
 *
 * SPYGLASS_LAYOUT picks the source:
 *   auto (default)  3.13+: the table, corrected by the debug offsets; before: the table
 *   table           the table only (the debug offsets are read for the build flag alone)
 *   offsets         every field the debug offsets give comes from them, none from the
 *                   table (its values are erased first); the table only for the rest.
 *                   Refused before 3.13.
 * A version newer than any table (3.16) always takes the offsets path, with the
 * newest table for what they lack.
 */
#ifndef SPYGLASS_PYTHON_DEBUG_OFFSETS_H
#define SPYGLASS_PYTHON_DEBUG_OFFSETS_H

#include <stddef.h>

#include "proc/mem.h"
#include "python/detect.h"

enum debug_offsets_mode {
    DEBUG_OFFSETS_AUTO = 0,
    DEBUG_OFFSETS_TABLE = 1,
    DEBUG_OFFSETS_ONLY = 2,
};

/* Parses SPYGLASS_LAYOUT's value (NULL or "" is auto). Returns 0 and sets
 * *mode, or -1 for anything else. */
int debug_offsets_parse_mode(const char *text, enum debug_offsets_mode *mode);

/* Reads the target's _Py_DebugOffsets (rt->runtime_addr, a 3.13+ version) and
 * fixes rt->layout: the build (a free-threaded target gets the "t" entry),
 * then the offsets as mode says. Sets rt->layout_source, rt->offsets_used,
 * rt->debug_mismatches and rt->free_threaded. For an older version it only
 * checks that mode is not DEBUG_OFFSETS_ONLY. Returns 0, or a negative SG_E*
 * code with a sentence in why (offsets asked for but absent or unreadable; a
 * newer version whose offsets do not have the shape we know). */
int debug_offsets_apply(struct py_runtime *rt, struct mem_reader *r, enum debug_offsets_mode mode,
                        char *why, size_t why_size);

/* Writes one line saying where rt's layout came from and how far it was
 * tested: "the 3.14 table, checked against the process's _Py_DebugOffsets
 * (47 fields, 0 corrected); tested here on source build 3.14.7, ..." */
void debug_offsets_describe(const struct py_runtime *rt, char *buf, size_t size);

/* The short name of rt's layout source: "table", "checked" or "offsets". */
const char *debug_offsets_source_name(enum py_layout_source source);

#endif
