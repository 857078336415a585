/*
 * marshal_out.h - writing Python marshal data (the subset every Python from
 * 2.7 to 3.13 reads: marshal version 2 type codes, no references).
 *
 * Shared by the pstats writer (format/pstats.c, from a sampled profile) and
 * pstats_save (import/pstats.c, re-saving a loaded dump). Values are
 * appended to a struct strbuf; containers are written as a header followed
 * by their items (tuples) or key/value pairs and an end mark (dicts).
 */
#ifndef SPYGLASS_UTIL_MARSHAL_OUT_H
#define SPYGLASS_UTIL_MARSHAL_OUT_H

#include <stdint.h>

#include "util/util.h"

/* An int: 'i' when it fits in 32 bits, else an 'l' long of 15-bit digits. */
void marshal_out_int(struct strbuf *sb, int64_t v);
/* A float, as an 8-byte IEEE 754 binary float ('g'). */
void marshal_out_float(struct strbuf *sb, double d);
/* A text string ('u', UTF-8). Invalid UTF-8 is replaced by U+FFFD, since
 * Python refuses to load a 'u' string that does not decode. */
void marshal_out_str(struct strbuf *sb, const char *s);
/* The header of a tuple of count items; the items follow. */
void marshal_out_tuple(struct strbuf *sb, uint32_t count);
/* A dict: begin, then key and value pairs, then end. */
void marshal_out_dict_begin(struct strbuf *sb);
void marshal_out_dict_end(struct strbuf *sb);

#endif
