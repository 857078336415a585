/*
 * linetable.c - decoding CPython's three line-table encodings.
 *
 * All three describe consecutive ranges of bytecode and how the line number
 * changes from one range to the next, starting at co_firstlineno:
 *
 *   co_lnotab (2.7 - 3.9)       (address increment, line increment) byte
 *                               pairs; the line increment is unsigned in 2.7
 *                               and signed from 3.6. An offset takes the line
 *                               after the last pair whose address is <= it.
 *   co_linetable (3.10)         (range width, line delta) byte pairs; width in
 *                               bytes, delta signed, -128 meaning "no line".
 *                               Zero-width pairs only carry a delta.
 *   co_linetable (3.11 - 3.13)  the location table: one entry per range,
 *                               first byte 1CCCCLLL (code, width-1 in code
 *                               units), then 0 - 4 more bytes or varints whose
 *                               shape depends on the code.
 *
 * Each decoder walks the table from the start until it reaches the range that
 * holds the offset; every step consumes at least one byte, so a lookup is
 * bounded by the table's length. Lines are summed in 64 bits and any line
 * outside int makes the table corrupt, so no delta can overflow.
 */
#include "python/linetable.h"

#include <limits.h>
#include <stdbool.h>

#include "util/err.h"

/* A varint longer than this many 6-bit chunks (36 bits) is garbage: CPython
 * writes at most 32-bit values. */
#define VARINT_MAX_CHUNKS 6

/* 3.11+ entry codes (bits 3-6 of an entry's first byte), from locations.md. */
enum {
    LOC_SHORT_LAST = 9, /* 0 - 9: same line, short column form */
    LOC_ONE_LINE0 = 10, /* 10 - 12: line delta 0, 1, 2, then two column bytes */
    LOC_ONE_LINE2 = 12,
    LOC_NO_COLUMNS = 13,  /* signed varint line delta */
    LOC_LONG = 14,        /* signed varint line delta, then three varints */
    LOC_NO_LOCATION = 15, /* the range has no line */
};

/* Adds delta to *line; fails if the result leaves the range of int. */
static int add_line(int64_t *line, int64_t delta)
{
    int64_t sum = *line + delta;
    if (sum < INT_MIN || sum > INT_MAX)
        return -SG_ECORRUPT;
    *line = sum;
    return 0;
}

/* A byte read as a two's complement signed char, without relying on the
 * implementation-defined conversion. */
static int signed_byte(uint8_t b)
{
    return b < 128 ? b : (int)b - 256;
}

/* 2.7 - 3.9: co_lnotab. As PyCode_Addr2Line: walk the pairs, adding each
 * address increment, and stop before the first pair whose address passes the
 * offset. A dangling final byte is fine unless the offset needs its pair. */
static int lnotab_line(const uint8_t *table, size_t len, int firstlineno, bool signed_deltas,
                       uint64_t offset, int *line)
{
    int64_t cur = firstlineno;
    uint64_t addr = 0;
    for (size_t i = 0; i < len; i += 2) {
        addr += table[i];
        if (addr > offset)
            break;
        if (i + 1 >= len)
            return -SG_ECORRUPT;
        uint8_t b = table[i + 1];
        int err = add_line(&cur, signed_deltas ? signed_byte(b) : b);
        if (err)
            return err;
    }
    *line = (int)cur;
    return 0;
}

/* 3.10: co_linetable. As _PyCode_CheckLineNumber: find the non-empty range
 * [start, end) holding the offset. The running line moves with every pair
 * that has one, zero-width pairs included; last_real is the line of the
 * latest non-empty range that had a line. */
static int linetable310_line(const uint8_t *table, size_t len, int firstlineno, uint64_t offset,
                             int *line)
{
    int64_t cur = firstlineno, last_real = firstlineno;
    uint64_t end = 0;
    for (size_t i = 0; i < len; i += 2) {
        if (i + 1 >= len)
            return -SG_ECORRUPT;
        int delta = signed_byte(table[i + 1]);
        bool has_line = delta != -128;
        if (has_line) {
            int err = add_line(&cur, delta);
            if (err)
                return err;
        }
        if (table[i] == 0)
            continue;
        end += table[i];
        if (has_line)
            last_real = cur;
        if (offset < end)
            break;
    }
    *line = (int)last_real;
    return 0;
}

/* A cursor over a 3.11+ location table. */
struct loc_cursor {
    const uint8_t *table;
    size_t len;
    size_t pos;
};

/* Consumes one byte that continues the current entry. Such bytes never have
 * the top bit set (it marks an entry's first byte), so one that does means
 * the entry was cut short or the table is garbage. */
static int next_payload_byte(struct loc_cursor *c, uint8_t *out)
{
    if (c->pos >= c->len || (c->table[c->pos] & 0x80))
        return -SG_ECORRUPT;
    *out = c->table[c->pos++];
    return 0;
}

/* Reads an unsigned varint: 6-bit chunks, least significant first, 0x40 set
 * on every chunk but the last. */
static int read_varint(struct loc_cursor *c, uint64_t *out)
{
    uint64_t val = 0;
    for (unsigned chunk = 0; chunk < VARINT_MAX_CHUNKS; chunk++) {
        uint8_t b;
        int err = next_payload_byte(c, &b);
        if (err)
            return err;
        val |= (uint64_t)(b & 0x3f) << (6 * chunk);
        if (!(b & 0x40)) {
            *out = val;
            return 0;
        }
    }
    return -SG_ECORRUPT;
}

/* Reads a signed varint: the magnitude shifted left once, sign in bit 0. */
static int read_signed_varint(struct loc_cursor *c, int64_t *out)
{
    uint64_t raw;
    int err = read_varint(c, &raw);
    if (err)
        return err;
    int64_t magnitude = (int64_t)(raw >> 1);
    *out = (raw & 1) ? -magnitude : magnitude;
    return 0;
}

/* Skips count payload bytes (columns we do not need). */
static int skip_payload(struct loc_cursor *c, unsigned count)
{
    uint8_t ignored;
    for (unsigned i = 0; i < count; i++) {
        int err = next_payload_byte(c, &ignored);
        if (err)
            return err;
    }
    return 0;
}

/* Skips count unsigned varints. */
static int skip_varints(struct loc_cursor *c, unsigned count)
{
    uint64_t ignored;
    for (unsigned i = 0; i < count; i++) {
        int err = read_varint(c, &ignored);
        if (err)
            return err;
    }
    return 0;
}

/* Reads the 3.11+ entry at the cursor, which must be inside the table: its
 * width in bytes of bytecode, its line delta, and whether it has a line at
 * all. The whole entry must be present and well formed. */
static int read_location_entry(struct loc_cursor *c, uint64_t *width, int64_t *delta,
                               bool *has_line)
{
    uint8_t first = c->table[c->pos];
    if (!(first & 0x80))
        return -SG_ECORRUPT;
    c->pos++;
    unsigned code = (first >> 3) & 15;
    *width = ((uint64_t)(first & 7) + 1) * 2;
    *delta = 0;
    *has_line = code != LOC_NO_LOCATION;
    if (code <= LOC_SHORT_LAST)
        return skip_payload(c, 1);
    if (code <= LOC_ONE_LINE2) {
        *delta = code - LOC_ONE_LINE0;
        return skip_payload(c, 2);
    }
    if (code == LOC_NO_LOCATION)
        return 0;
    int err = read_signed_varint(c, delta);
    if (err || code == LOC_NO_COLUMNS)
        return err;
    return skip_varints(c, 3); /* LOC_LONG: end line delta, column, end column */
}

/* 3.11+: the location table. Ranges are never empty (an entry covers 1 - 8
 * code units); a "no location" entry leaves the running line alone. */
static int linetable311_line(const uint8_t *table, size_t len, int firstlineno, uint64_t offset,
                             int *line)
{
    struct loc_cursor c = {.table = table, .len = len, .pos = 0};
    int64_t cur = firstlineno, last_real = firstlineno;
    uint64_t end = 0;
    while (c.pos < c.len) {
        uint64_t width;
        int64_t delta;
        bool has_line;
        int err = read_location_entry(&c, &width, &delta, &has_line);
        if (!err)
            err = add_line(&cur, delta);
        if (err)
            return err;
        end += width;
        if (has_line)
            last_real = cur;
        if (offset < end)
            break;
    }
    *line = (int)last_real;
    return 0;
}

int linetable_line(enum py_line_kind kind, const uint8_t *table, size_t len, int firstlineno,
                   uint64_t offset, int *line)
{
    if (!table)
        len = 0;
    switch (kind) {
    case PY_LINES_LNOTAB27:
        return lnotab_line(table, len, firstlineno, false, offset, line);
    case PY_LINES_LNOTAB:
        return lnotab_line(table, len, firstlineno, true, offset, line);
    case PY_LINES_310:
        return linetable310_line(table, len, firstlineno, offset, line);
    case PY_LINES_311:
        return linetable311_line(table, len, firstlineno, offset, line);
    }
    return -SG_EVERSION;
}
