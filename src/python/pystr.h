/*
 * pystr.h - reading Python strings and bytes out of a target as UTF-8.
 */
#ifndef SPYGLASS_PYTHON_PYSTR_H
#define SPYGLASS_PYTHON_PYSTR_H

#include <stddef.h>
#include <stdint.h>

#include "proc/mem.h"
#include "python/layout.h"

/* Longest string we ever read out of a target, in code points. */
#define PYSTR_MAX_CHARS 4096

/* Reads the str object at addr (3.x unicode; on 2.7, str or unicode) and
 * writes it as NUL-terminated UTF-8 into out (truncated to fit, on a
 * character boundary). Lone surrogates and invalid code points become U+FFFD.
 * Returns 0, or a negative SG_E* code (-SG_ECORRUPT if the object does not
 * look like a string). */
int pystr_read(struct mem_reader *r, const struct py_layout *l, uint64_t addr, char *out,
               size_t size);

/* Reads a bytes object (2.7: str) into a newly allocated buffer (caller
 * frees), at most max_len bytes. Returns 0 and sets *data and *len. */
int pystr_read_bytes(struct mem_reader *r, const struct py_layout *l, uint64_t addr, size_t max_len,
                     uint8_t **data, size_t *len);

/* Appends code point cp as UTF-8 to out at *pos if it fits in size-1; returns
 * 0 if it did not fit. */
int pystr_put_utf8(char *out, size_t size, size_t *pos, uint32_t cp);

#endif
