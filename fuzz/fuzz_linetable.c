/*
 * fuzz_linetable.c - libFuzzer harness for the four line-table decoders.
 *
 * Input: 4 bytes firstlineno, 4 bytes offset (both little-endian), 1 byte
 * saying where to cut a prefix, then the table. Every decoder gets the table,
 * so one input explores all four formats. Besides the sanitizers' checks,
 * it asserts what must hold for any bytes:
 *
 *   - the result is 0 or -SG_ECORRUPT;
 *   - cutting the table short never changes a line it could still decode:
 *     the prefix gives the full table's line, or the line past its own end,
 *     or -SG_ECORRUPT.
 *
 * Build and run (clang):
 *   clang -g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=undefined -Isrc fuzz/fuzz_linetable.c \
 *       src/python/linetable.c -o build/fuzz_linetable
 *   build/fuzz_linetable -max_total_time=120 CORPUS_DIR
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "python/linetable.h"
#include "util/err.h"

#define HEADER_LEN 9

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Decodes with a result code that must be 0 or -SG_ECORRUPT. */
static int checked_line(enum py_line_kind kind, const uint8_t *table, size_t len, int firstlineno,
                        uint64_t offset, int *line)
{
    int rc = linetable_line(kind, table, len, firstlineno, offset, line);
    if (rc != 0 && rc != -SG_ECORRUPT)
        abort();
    return rc;
}

/* A copy of table[0, len) in a block of its own exact size, so ASan sees
 * any read past len. NULL if out of memory. */
static uint8_t *exact_copy(const uint8_t *table, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy && len)
        memcpy(copy, table, len);
    return copy;
}

static void fuzz_kind(enum py_line_kind kind, const uint8_t *table, size_t len,
                      const uint8_t *prefix_table, size_t cut, int firstlineno, uint64_t offset)
{
    int full, prefix, prefix_end;
    int full_rc = checked_line(kind, table, len, firstlineno, offset, &full);
    int prefix_rc = checked_line(kind, prefix_table, cut, firstlineno, offset, &prefix);
    int end_rc = checked_line(kind, prefix_table, cut, firstlineno, UINT64_MAX, &prefix_end);
    if (full_rc || prefix_rc || prefix == full)
        return;
    if (end_rc || prefix != prefix_end)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER_LEN)
        return 0;
    int32_t firstlineno;
    uint32_t raw_first = le32(data);
    memcpy(&firstlineno, &raw_first, sizeof(firstlineno));
    uint64_t offset = le32(data + 4);
    size_t len = size - HEADER_LEN;
    size_t cut = len * data[8] / 255;

    uint8_t *table = exact_copy(data + HEADER_LEN, len);
    uint8_t *prefix_table = exact_copy(data + HEADER_LEN, cut);
    const enum py_line_kind kinds[] = {PY_LINES_LNOTAB27, PY_LINES_LNOTAB, PY_LINES_310,
                                       PY_LINES_311};
    for (size_t k = 0; table && prefix_table && k < sizeof(kinds) / sizeof(kinds[0]); k++)
        fuzz_kind(kinds[k], table, len, prefix_table, cut, firstlineno, offset);
    free(table);
    free(prefix_table);
    return 0;
}
