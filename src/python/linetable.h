/*
 * linetable.h - which source line an instruction offset belongs to.
 *
 * A code object's line table is read out of the target as plain bytes
 * (co_lnotab up to 3.9, co_linetable from 3.10) and decoded here, in this
 * process. The decoders trust nothing in those bytes: a torn read or garbage
 * gives an error or a wrong line, never a read past the table or a hang.
 */
#ifndef SPYGLASS_PYTHON_LINETABLE_H
#define SPYGLASS_PYTHON_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

#include "python/layout.h"

/* Returns the source line of the instruction starting at byte offset `offset`
 * in the code object's bytecode (for 3.10 and 3.11+, offset is in BYTES: i.e.
 * code units * 2).
 *
 * Returns 0 and sets *line; or a negative SG_E* code: -SG_ECORRUPT for a table
 * that does not decode as far as the offset needs (a 3.11+ entry that is cut
 * short or malformed, a 3.10/lnotab pair missing its second byte, a line
 * outside the range of int), -SG_EVERSION for an unknown kind.
 *
 * Instructions with no line (3.10 entries with line delta -128, 3.11+ "no
 * location" entries) are reported as the nearest preceding real line if any,
 * else firstlineno. An offset past the end of the table gets the last line. */
int linetable_line(enum py_line_kind kind, const uint8_t *table, size_t len, int firstlineno,
                   uint64_t offset, int *line);

#endif
