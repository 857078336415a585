/*
 * test_linetable.c - mapping bytecode offsets to source lines, for all four
 * line-table encodings.
 *
 * Two kinds of test. Hand-built tables pin down each rule of each format
 * (negative deltas, lines past 65535, "no line" ranges, long forms, varints of
 * several chunks, truncation, garbage). Real tables, generated from every
 * interpreter by tools/gen_linetable_fixtures.py into linetable_fixtures.h,
 * prove the decoders agree with CPython at every instruction it reported.
 *
 * Every table is copied into a heap block of exactly its length before it is
 * decoded, so a read one byte past the end is caught under AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "linetable_fixtures.h"
#include "python/linetable.h"
#include "util/err.h"

/* Decodes offset in a heap copy of table; returns the decoder's result code. */
static int decode(enum py_line_kind kind, const uint8_t *table, size_t len, int firstlineno,
                  uint64_t offset, int *line)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, table, len);
    *line = INT32_MIN;
    int rc = linetable_line(kind, copy, len, firstlineno, offset, line);
    free(copy);
    return rc;
}

/* The line at offset, which must decode. */
static int line_at(enum py_line_kind kind, const uint8_t *table, size_t len, int firstlineno,
                   uint64_t offset)
{
    int line;
    assert_int_equal(decode(kind, table, len, firstlineno, offset, &line), 0);
    return line;
}

/* The result code at offset. */
static int rc_at(enum py_line_kind kind, const uint8_t *table, size_t len, int firstlineno,
                 uint64_t offset)
{
    int line;
    return decode(kind, table, len, firstlineno, offset, &line);
}

/* ---- a 3.11+ location-table writer for building tables by hand ---- */

struct loc_buf {
    uint8_t *bytes;
    size_t len, cap;
};

static void put(struct loc_buf *b, uint8_t byte)
{
    if (b->len == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->bytes = realloc(b->bytes, b->cap);
        assert_non_null(b->bytes);
    }
    b->bytes[b->len++] = byte;
}

static void put_varint(struct loc_buf *b, uint64_t val)
{
    while (val >= 64) {
        put(b, (uint8_t)(0x40 | (val & 63)));
        val >>= 6;
    }
    put(b, (uint8_t)val);
}

static void put_signed_varint(struct loc_buf *b, int64_t val)
{
    put_varint(b, val < 0 ? ((uint64_t)-val << 1) | 1 : (uint64_t)val << 1);
}

/* The first byte of an entry: 1CCCCLLL, units = L + 1 code units. */
static void put_head(struct loc_buf *b, unsigned code, unsigned units)
{
    assert_true(units >= 1 && units <= 8);
    put(b, (uint8_t)(0x80 | (code << 3) | (units - 1)));
}

/* Codes 0 - 9: same line, column packed into the code and one byte. */
static void put_short(struct loc_buf *b, unsigned units)
{
    put_head(b, 3, units);
    put(b, 0x25);
}

/* Codes 10 - 12: line delta 0 - 2, then column and end column bytes. */
static void put_one_line(struct loc_buf *b, unsigned delta, unsigned units)
{
    put_head(b, 10 + delta, units);
    put(b, 4);
    put(b, 17);
}

static void put_no_columns(struct loc_buf *b, int64_t delta, unsigned units)
{
    put_head(b, 13, units);
    put_signed_varint(b, delta);
}

static void put_long(struct loc_buf *b, int64_t delta, unsigned units)
{
    put_head(b, 14, units);
    put_signed_varint(b, delta);
    put_varint(b, 3);   /* end line delta */
    put_varint(b, 200); /* column + 1: two chunks */
    put_varint(b, 9);   /* end column + 1 */
}

static void put_no_location(struct loc_buf *b, unsigned units)
{
    put_head(b, 15, units);
}

static int line311(struct loc_buf *b, int firstlineno, uint64_t offset)
{
    return line_at(PY_LINES_311, b->bytes, b->len, firstlineno, offset);
}

static int rc311(struct loc_buf *b, int firstlineno, uint64_t offset)
{
    return rc_at(PY_LINES_311, b->bytes, b->len, firstlineno, offset);
}

/* ---- 2.7 co_lnotab ---- */

static void test_linetable_27_pairs_map_offsets_to_lines(void **state)
{
    /* line 10 for [0,6), line 11 for [6,9), line 14 from 9 on */
    const uint8_t t[] = {6, 1, 3, 3};
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 10, 0), 10);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 10, 5), 10);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 10, 6), 11);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 10, 8), 11);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 10, 9), 14);
}

static void test_linetable_27_line_increment_is_unsigned(void **state)
{
    /* 0xc8 is +200 in 2.7, where it would be -56 from 3.6 on */
    const uint8_t t[] = {4, 0xc8};
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 4), 201);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 100, 4), 44);
}

static void test_linetable_27_large_deltas_split_across_pairs(void **state)
{
    /* address +300 as (255,0),(45,..); line +300 as (0,255),(..,45) */
    const uint8_t t[] = {255, 0, 45, 255, 0, 45, 2, 1};
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 299), 1);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 300), 301);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 301), 301);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 302), 302);
}

static void test_linetable_27_lines_beyond_65535(void **state)
{
    /* 300 pairs of (0,255) then (2,1): line 1 + 76500 + 1 from offset 2 */
    uint8_t t[602];
    for (int i = 0; i < 300; i++) {
        t[2 * i] = 0;
        t[2 * i + 1] = 255;
    }
    t[600] = 2;
    t[601] = 1;
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 0), 76501);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 2), 76502);
}

static void test_linetable_27_empty_table_is_firstlineno(void **state)
{
    assert_int_equal(line_at(PY_LINES_LNOTAB27, NULL, 0, 42, 0), 42);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, NULL, 0, 42, 1000), 42);
}

static void test_linetable_27_offset_past_end_is_last_line(void **state)
{
    const uint8_t t[] = {3, 1, 3, 1, 3, 5};
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 9), 8);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 70000), 8);
    assert_int_equal(line_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, UINT64_MAX), 8);
}

static void test_linetable_lnotab_dangling_byte_only_fails_when_needed(void **state)
{
    /* the last pair lost its line byte: offsets before it still decode */
    const uint8_t t[] = {4, 1, 4};
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1, 3), 1);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1, 7), 2);
    assert_int_equal(rc_at(PY_LINES_LNOTAB, t, sizeof(t), 1, 8), -SG_ECORRUPT);
    assert_int_equal(rc_at(PY_LINES_LNOTAB27, t, sizeof(t), 1, 8), -SG_ECORRUPT);
}

/* ---- 3.6 - 3.9 co_lnotab ---- */

static void test_linetable_lnotab_negative_line_delta(void **state)
{
    /* a loop test after its body: line 5, 6, then back to 4 */
    const uint8_t t[] = {0, 1, 4, 1, 6, 0xfe, 2, 2};
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 4, 0), 5);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 4, 4), 6);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 4, 10), 4);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 4, 12), 6);
}

static void test_linetable_lnotab_large_negative_delta_split(void **state)
{
    /* -300 as (0,-128),(0,-128),(6,-44) */
    const uint8_t t[] = {0, 100, 4, 0x80, 0, 0x80, 6, 0xd4};
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1000, 0), 1100);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1000, 9), 844);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1000, 10), 800);
}

static void test_linetable_lnotab_offsets_beyond_64k(void **state)
{
    /* 1000 pairs (254, 1): line 1 + k from offset 254k */
    uint8_t t[2000];
    for (int i = 0; i < 1000; i++) {
        t[2 * i] = 254;
        t[2 * i + 1] = 1;
    }
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1, 65535), 1 + 65535 / 254);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1, 254 * 999), 1000);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1, 254 * 1000 - 1), 1000);
    assert_int_equal(line_at(PY_LINES_LNOTAB, t, sizeof(t), 1, 254 * 1000), 1001);
}

/* ---- 3.10 co_linetable ---- */

static void test_linetable_310_ranges_map_offsets_to_lines(void **state)
{
    /* [0,6) line 3, [6,10) line 4, [10,12) line 2 */
    const uint8_t t[] = {6, 2, 4, 1, 2, 0xfe};
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 0), 3);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 5), 3);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 6), 4);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 10), 2);
}

static void test_linetable_310_no_line_is_preceding_line(void **state)
{
    /* [0,4) line 8, [4,8) none, [8,10) line 9: the running line is untouched */
    const uint8_t t[] = {4, 1, 4, 0x80, 2, 1};
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 7, 4), 8);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 7, 7), 8);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 7, 8), 9);
}

static void test_linetable_310_no_line_at_start_is_firstlineno(void **state)
{
    const uint8_t t[] = {2, 0x80, 2, 3};
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 50, 0), 50);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 50, 2), 53);
}

static void test_linetable_310_zero_width_pairs_carry_line_deltas(void **state)
{
    /* +300 as (0,127),(0,127),(6,46); then -300 as (0,-127),(0,-127),(2,-46) */
    const uint8_t t[] = {0, 127, 0, 127, 6, 46, 0, 0x81, 0, 0x81, 2, 0xd2};
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 70000, 0), 70300);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 70000, 6), 70000);
}

static void test_linetable_310_wide_ranges_split_across_pairs(void **state)
{
    /* a 600-byte range on line 2 as (254,1),(254,0),(92,0) */
    const uint8_t t[] = {254, 1, 254, 0, 92, 0, 2, 1};
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 599), 2);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 600), 3);
}

static void test_linetable_310_offset_past_end_is_last_line(void **state)
{
    const uint8_t t[] = {4, 1, 4, 2};
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 8), 4);
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, UINT64_MAX), 4);
    /* ... or the line before a trailing no-line range */
    const uint8_t none_last[] = {4, 1, 4, 0x80};
    assert_int_equal(line_at(PY_LINES_310, none_last, sizeof(none_last), 1, 100), 2);
}

static void test_linetable_310_truncated_pair(void **state)
{
    const uint8_t t[] = {4, 1, 4};
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 3), 2);
    assert_int_equal(rc_at(PY_LINES_310, t, sizeof(t), 1, 4), -SG_ECORRUPT);
}

static void test_linetable_310_lines_beyond_65535(void **state)
{
    /* 600 zero-width (0,127) pairs: +76200 */
    uint8_t t[1202];
    for (int i = 0; i < 600; i++) {
        t[2 * i] = 0;
        t[2 * i + 1] = 127;
    }
    t[1200] = 2;
    t[1201] = 0;
    assert_int_equal(line_at(PY_LINES_310, t, sizeof(t), 1, 0), 76201);
}

/* ---- 3.11+ location table ---- */

static void test_linetable_311_short_and_one_line_forms(void **state)
{
    struct loc_buf b = {0};
    put_short(&b, 2);       /* [0,4) line 10 */
    put_one_line(&b, 1, 1); /* [4,6) line 11 */
    put_one_line(&b, 2, 3); /* [6,12) line 13 */
    put_one_line(&b, 0, 8); /* [12,28) line 13 */
    assert_int_equal(line311(&b, 10, 0), 10);
    assert_int_equal(line311(&b, 10, 3), 10);
    assert_int_equal(line311(&b, 10, 4), 11);
    assert_int_equal(line311(&b, 10, 11), 13);
    assert_int_equal(line311(&b, 10, 27), 13);
    free(b.bytes);
}

static void test_linetable_311_negative_line_delta(void **state)
{
    struct loc_buf b = {0};
    put_no_columns(&b, 2, 1);  /* [0,2) line 22 */
    put_long(&b, -5, 2);       /* [2,6) line 17 */
    put_no_columns(&b, -1, 1); /* [6,8) line 16 */
    assert_int_equal(line311(&b, 20, 0), 22);
    assert_int_equal(line311(&b, 20, 2), 17);
    assert_int_equal(line311(&b, 20, 6), 16);
    free(b.bytes);
}

static void test_linetable_311_varint_spanning_three_chunks(void **state)
{
    /* code 13, one unit; delta +70000 is zigzag 140000 = chunks 32, 11, 34 */
    const uint8_t t[] = {0xe8, 0x60, 0x4b, 0x22, 0xe8, 0x07};
    assert_int_equal(line_at(PY_LINES_311, t, sizeof(t), 1, 0), 70001);
    /* then -3 (zigzag 7) */
    assert_int_equal(line_at(PY_LINES_311, t, sizeof(t), 1, 2), 69998);
}

static void test_linetable_311_lines_beyond_65535(void **state)
{
    struct loc_buf b = {0};
    put_long(&b, 100000, 1);
    put_long(&b, 1000000, 1);
    put_long(&b, -1099999, 1);
    assert_int_equal(line311(&b, 1, 0), 100001);
    assert_int_equal(line311(&b, 1, 2), 1100001);
    assert_int_equal(line311(&b, 1, 4), 2);
    free(b.bytes);
}

static void test_linetable_311_no_location_is_preceding_line(void **state)
{
    struct loc_buf b = {0};
    put_no_location(&b, 2); /* [0,4) none: firstlineno */
    put_one_line(&b, 2, 1); /* [4,6) line 7 */
    put_no_location(&b, 1); /* [6,8) none: 7 */
    put_no_location(&b, 1); /* [8,10) none: 7 */
    put_one_line(&b, 1, 1); /* [10,12) line 8: no-location did not move it */
    assert_int_equal(line311(&b, 5, 0), 5);
    assert_int_equal(line311(&b, 5, 4), 7);
    assert_int_equal(line311(&b, 5, 6), 7);
    assert_int_equal(line311(&b, 5, 9), 7);
    assert_int_equal(line311(&b, 5, 10), 8);
    free(b.bytes);
}

static void test_linetable_311_offset_is_in_bytes(void **state)
{
    struct loc_buf b = {0};
    put_short(&b, 1);       /* one code unit: bytes 0 and 1 */
    put_one_line(&b, 1, 1); /* bytes 2 and 3 */
    assert_int_equal(line311(&b, 1, 1), 1);
    assert_int_equal(line311(&b, 1, 2), 2);
    free(b.bytes);
}

static void test_linetable_311_offset_past_end_is_last_line(void **state)
{
    struct loc_buf b = {0};
    put_one_line(&b, 1, 1);
    put_one_line(&b, 2, 1);
    assert_int_equal(line311(&b, 1, 4), 4);
    assert_int_equal(line311(&b, 1, UINT64_MAX), 4);
    put_no_location(&b, 1);
    assert_int_equal(line311(&b, 1, 1000), 4);
    free(b.bytes);
}

static void test_linetable_311_huge_function(void **state)
{
    /* 200,000 entries of 8 units (3.2 MB of bytecode), one line each */
    struct loc_buf b = {0};
    for (int i = 0; i < 200000; i++)
        put_one_line(&b, 1, 8);
    assert_int_equal(line311(&b, 0, 0), 1);
    assert_int_equal(line311(&b, 0, 65535), 65535 / 16 + 1);
    assert_int_equal(line311(&b, 0, 65536), 65536 / 16 + 1);
    assert_int_equal(line311(&b, 0, 16 * 199999), 200000);
    assert_int_equal(line311(&b, 0, 16 * 200000), 200000);
    free(b.bytes);
}

static void test_linetable_311_truncated_entry(void **state)
{
    struct loc_buf b = {0};
    put_one_line(&b, 1, 1); /* [0,2) line 2 */
    put_long(&b, 70000, 1); /* [2,4) line 70002, cut short below */
    size_t whole = b.len;
    /* cut between the entries, the table just ends after line 2 */
    assert_int_equal(line_at(PY_LINES_311, b.bytes, 3, 1, 100), 2);
    for (size_t len = 4; len < whole; len++) {
        assert_int_equal(line_at(PY_LINES_311, b.bytes, len, 1, 1), 2);
        assert_int_equal(rc_at(PY_LINES_311, b.bytes, len, 1, 2), -SG_ECORRUPT);
        assert_int_equal(rc_at(PY_LINES_311, b.bytes, len, 1, 100), -SG_ECORRUPT);
    }
    assert_int_equal(line311(&b, 1, 2), 70002);
    free(b.bytes);
}

static void test_linetable_311_entry_without_top_bit_is_corrupt(void **state)
{
    const uint8_t t[] = {0xd0, 4, 9, 0x50, 4, 9};
    assert_int_equal(line_at(PY_LINES_311, t, sizeof(t), 1, 0), 1);
    assert_int_equal(rc_at(PY_LINES_311, t, sizeof(t), 1, 2), -SG_ECORRUPT);
}

static void test_linetable_311_varint_running_into_next_entry_is_corrupt(void **state)
{
    /* the line delta's continuation bit leads into a byte with the top bit set */
    const uint8_t t[] = {0xe8, 0x42, 0xd0, 4, 9};
    assert_int_equal(rc_at(PY_LINES_311, t, sizeof(t), 1, 0), -SG_ECORRUPT);
}

static void test_linetable_311_overlong_varint_is_corrupt(void **state)
{
    const uint8_t t[] = {0xe8, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01};
    assert_int_equal(rc_at(PY_LINES_311, t, sizeof(t), 1, 0), -SG_ECORRUPT);
    /* six chunks is the most CPython writes (32-bit values), and decodes */
    const uint8_t six[] = {0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x01};
    assert_int_equal(line_at(PY_LINES_311, six, sizeof(six), 1, 0), 1 + (1 << 29));
    const uint8_t small[] = {0xe8, 0x42, 0x40, 0x40, 0x40, 0x40, 0x00};
    assert_int_equal(line_at(PY_LINES_311, small, sizeof(small), 1, 0), 2);
}

/* ---- all kinds ---- */

static void test_linetable_line_outside_int_is_corrupt(void **state)
{
    const uint8_t lnotab[] = {0, 1, 2, 1};
    assert_int_equal(rc_at(PY_LINES_LNOTAB27, lnotab, sizeof(lnotab), INT32_MAX, 2), -SG_ECORRUPT);
    const uint8_t back[] = {0, 0xff};
    assert_int_equal(rc_at(PY_LINES_LNOTAB, back, sizeof(back), INT32_MIN, 0), -SG_ECORRUPT);
    const uint8_t t310[] = {2, 1};
    assert_int_equal(rc_at(PY_LINES_310, t310, sizeof(t310), INT32_MAX, 0), -SG_ECORRUPT);
    struct loc_buf b = {0};
    for (int i = 0; i < 3; i++)
        put_long(&b, 2000000000, 1);
    assert_int_equal(line311(&b, 1, 0), 2000000001);
    assert_int_equal(rc311(&b, 1, 2), -SG_ECORRUPT);
    free(b.bytes);
}

static void test_linetable_unknown_kind_is_rejected(void **state)
{
    const uint8_t t[] = {2, 1};
    assert_int_equal(rc_at((enum py_line_kind)0, t, sizeof(t), 1, 0), -SG_EVERSION);
    assert_int_equal(rc_at((enum py_line_kind)99, t, sizeof(t), 1, 0), -SG_EVERSION);
}

static void test_linetable_empty_tables_give_firstlineno(void **state)
{
    const enum py_line_kind kinds[] = {PY_LINES_LNOTAB27, PY_LINES_LNOTAB, PY_LINES_310,
                                       PY_LINES_311};
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(line_at(kinds[k], NULL, 0, 9, 0), 9);
        assert_int_equal(line_at(kinds[k], NULL, 0, 9, UINT64_MAX), 9);
    }
}

/* A small deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static void test_linetable_garbage_never_fails_badly(void **state)
{
    const enum py_line_kind kinds[] = {PY_LINES_LNOTAB27, PY_LINES_LNOTAB, PY_LINES_310,
                                       PY_LINES_311};
    uint64_t seed = 0x5eed5eed5eedull;
    uint8_t t[64];
    for (int round = 0; round < 20000; round++) {
        size_t len = next_random(&seed) % sizeof(t);
        for (size_t i = 0; i < len; i++)
            t[i] = (uint8_t)next_random(&seed);
        uint64_t offset = next_random(&seed) % 512;
        for (size_t k = 0; k < 4; k++) {
            int rc = rc_at(kinds[k], t, len, (int)(next_random(&seed) % 100000), offset);
            assert_true(rc == 0 || rc == -SG_ECORRUPT);
        }
    }
}

/* ---- real tables from every interpreter ---- */

static const char *kind_name(enum py_line_kind kind)
{
    switch (kind) {
    case PY_LINES_LNOTAB27:
        return "lnotab27";
    case PY_LINES_LNOTAB:
        return "lnotab";
    case PY_LINES_310:
        return "3.10";
    case PY_LINES_311:
        return "3.11";
    }
    return "?";
}

/* A heap copy of a fixture's table, exactly its length (freed by the caller). */
static uint8_t *fixture_table(const struct lt_fixture *f)
{
    uint8_t *copy = malloc(f->table_len ? f->table_len : 1);
    assert_non_null(copy);
    memcpy(copy, f->table, f->table_len);
    return copy;
}

/* Fails, naming the fixture, unless table (a copy of the fixture's) gives want
 * at offset. */
static void expect_fixture_line(const struct lt_fixture *f, const uint8_t *table, uint64_t offset,
                                int want)
{
    int got = INT32_MIN;
    int rc = linetable_line(f->kind, table, f->table_len, f->firstlineno, offset, &got);
    if (rc != 0 || got != want) {
        print_error("%s %s (%s): offset %llu: got rc %d line %d, want line %d\n", f->python,
                    f->name, kind_name(f->kind), (unsigned long long)offset, rc, got, want);
        fail();
    }
}

static void test_linetable_real_tables_every_instruction(void **state)
{
    size_t checked = 0;
    for (size_t i = 0; i < sizeof(lt_fixtures) / sizeof(lt_fixtures[0]); i++) {
        const struct lt_fixture *f = &lt_fixtures[i];
        uint8_t *table = fixture_table(f);
        for (size_t p = 0; p < f->point_count; p++) {
            expect_fixture_line(f, table, f->points[p].offset, f->points[p].line);
            /* 3.6+: the second byte of a code unit is on the same line */
            if (f->kind != PY_LINES_LNOTAB27)
                expect_fixture_line(f, table, f->points[p].offset + 1, f->points[p].line);
            checked++;
        }
        expect_fixture_line(f, table, f->code_len, f->end_line);
        expect_fixture_line(f, table, UINT64_MAX, f->end_line);
        free(table);
    }
    print_message("checked %zu instruction offsets in %zu code objects\n", checked,
                  sizeof(lt_fixtures) / sizeof(lt_fixtures[0]));
}

/* Cut short anywhere, a real table still gives the right line, or the line
 * past its (shortened) end, or -SG_ECORRUPT; never anything else. */
static void test_linetable_real_tables_truncated_anywhere(void **state)
{
    for (size_t i = 0; i < sizeof(lt_fixtures) / sizeof(lt_fixtures[0]); i++) {
        const struct lt_fixture *f = &lt_fixtures[i];
        if (f->sampled)
            continue;
        for (size_t len = 0; len < f->table_len; len++) {
            int end_line;
            int end_rc = decode(f->kind, f->table, len, f->firstlineno, UINT64_MAX, &end_line);
            for (size_t p = 0; p < f->point_count; p++) {
                int got;
                int rc = decode(f->kind, f->table, len, f->firstlineno, f->points[p].offset, &got);
                if (rc == -SG_ECORRUPT || got == f->points[p].line)
                    continue;
                assert_int_equal(rc, 0);
                assert_int_equal(end_rc, 0);
                assert_int_equal(got, end_line);
            }
        }
    }
}

/* The fixture must keep exercising the hard cases, whatever the interpreters
 * compile the snippets to. */
static void test_linetable_real_tables_cover_hard_cases(void **state)
{
    int big_line[5] = {0}, big_code[5] = {0}, went_back[5] = {0}, no_line[5] = {0};
    for (size_t i = 0; i < sizeof(lt_fixtures) / sizeof(lt_fixtures[0]); i++) {
        const struct lt_fixture *f = &lt_fixtures[i];
        for (size_t p = 0; p < f->point_count; p++) {
            big_line[f->kind] |= f->points[p].line > 65535;
            no_line[f->kind] |= f->points[p].no_line;
            if (p > 0)
                went_back[f->kind] |= f->points[p].line < f->points[p - 1].line;
        }
        big_code[f->kind] |= f->code_len > 65536;
    }
    for (int kind = PY_LINES_LNOTAB27; kind <= PY_LINES_311; kind++) {
        assert_true(big_line[kind]);
        assert_true(big_code[kind]);
        if (kind != PY_LINES_LNOTAB27)
            assert_true(went_back[kind]);
    }
    assert_true(no_line[PY_LINES_310]);
    assert_true(no_line[PY_LINES_311]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linetable_27_pairs_map_offsets_to_lines),
        cmocka_unit_test(test_linetable_27_line_increment_is_unsigned),
        cmocka_unit_test(test_linetable_27_large_deltas_split_across_pairs),
        cmocka_unit_test(test_linetable_27_lines_beyond_65535),
        cmocka_unit_test(test_linetable_27_empty_table_is_firstlineno),
        cmocka_unit_test(test_linetable_27_offset_past_end_is_last_line),
        cmocka_unit_test(test_linetable_lnotab_dangling_byte_only_fails_when_needed),
        cmocka_unit_test(test_linetable_lnotab_negative_line_delta),
        cmocka_unit_test(test_linetable_lnotab_large_negative_delta_split),
        cmocka_unit_test(test_linetable_lnotab_offsets_beyond_64k),
        cmocka_unit_test(test_linetable_310_ranges_map_offsets_to_lines),
        cmocka_unit_test(test_linetable_310_no_line_is_preceding_line),
        cmocka_unit_test(test_linetable_310_no_line_at_start_is_firstlineno),
        cmocka_unit_test(test_linetable_310_zero_width_pairs_carry_line_deltas),
        cmocka_unit_test(test_linetable_310_wide_ranges_split_across_pairs),
        cmocka_unit_test(test_linetable_310_offset_past_end_is_last_line),
        cmocka_unit_test(test_linetable_310_truncated_pair),
        cmocka_unit_test(test_linetable_310_lines_beyond_65535),
        cmocka_unit_test(test_linetable_311_short_and_one_line_forms),
        cmocka_unit_test(test_linetable_311_negative_line_delta),
        cmocka_unit_test(test_linetable_311_varint_spanning_three_chunks),
        cmocka_unit_test(test_linetable_311_lines_beyond_65535),
        cmocka_unit_test(test_linetable_311_no_location_is_preceding_line),
        cmocka_unit_test(test_linetable_311_offset_is_in_bytes),
        cmocka_unit_test(test_linetable_311_offset_past_end_is_last_line),
        cmocka_unit_test(test_linetable_311_huge_function),
        cmocka_unit_test(test_linetable_311_truncated_entry),
        cmocka_unit_test(test_linetable_311_entry_without_top_bit_is_corrupt),
        cmocka_unit_test(test_linetable_311_varint_running_into_next_entry_is_corrupt),
        cmocka_unit_test(test_linetable_311_overlong_varint_is_corrupt),
        cmocka_unit_test(test_linetable_line_outside_int_is_corrupt),
        cmocka_unit_test(test_linetable_unknown_kind_is_rejected),
        cmocka_unit_test(test_linetable_empty_tables_give_firstlineno),
        cmocka_unit_test(test_linetable_garbage_never_fails_badly),
        cmocka_unit_test(test_linetable_real_tables_every_instruction),
        cmocka_unit_test(test_linetable_real_tables_truncated_anywhere),
        cmocka_unit_test(test_linetable_real_tables_cover_hard_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
