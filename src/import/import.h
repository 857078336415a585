/*
 * import.h - readers that turn saved profiles back into a struct profile.
 *
 * Readers treat their input as untrusted: every length and count is bounded,
 * and a malformed file gives a negative SG_E* code and a one-line message
 * naming the place ("line 12: missing sample count"), never a crash.
 */
#ifndef SPYGLASS_IMPORT_H
#define SPYGLASS_IMPORT_H

#include <stddef.h>
#include <stdio.h>

#include "profile/profile.h"

/* Limits of the collapsed-stack reader. */
#define IMPORT_COLLAPSED_MAX_LINE (1u << 20) /* bytes per line, newline excluded */
#define IMPORT_COLLAPSED_MAX_FRAMES 16384    /* frames per stack */

/* Reads collapsed stacks ("frame;frame;frame count" lines, root first, as
 * written by flamegraph.pl's stackcollapse tools, inferno, py-spy and
 * format/collapsed.c) from in and adds them to p.
 *
 * A frame "name (file:line)" or "name (file)" is split into its parts (the
 * parenthesis that closes the text, matched with nesting, starts the
 * location); other frames keep their whole text as the name. Frames without
 * a location whose text starts with "thread " or "process ", looks like
 * "GET /path", or is parenthesised like "(idle)" get the matching synthetic
 * kind, so writers colour them as they were. Blank lines are skipped, a
 * trailing CR and a leading UTF-8 byte-order mark are ignored.
 *
 * Returns 0, -SG_ECORRUPT for malformed input, or -SG_EIO when reading
 * fails; on error err (if errsize > 0) holds a message such as
 * "line 12: missing sample count", and p keeps the lines read before it. */
int import_collapsed(FILE *in, struct profile *p, char *err, size_t errsize);

/* Reads spyglass's own profile file (format/spyglass.c) from the len bytes
 * at data into p: frames, stacks, weights, memory weights and metadata.
 * Returns 0 or -SG_ECORRUPT with err holding "line N: WHAT"; p keeps what
 * was read before the error. */
int import_spyglass(const char *data, size_t len, struct profile *p, char *err, size_t errsize);

#endif
