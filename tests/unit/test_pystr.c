/*
 * test_pystr.c - decoding every string representation into UTF-8, through
 * the snapshot reader (hand-built objects in a fake address space).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "python/pystr.h"

#define BASE 0x10000
#define OB_TYPE 8
#define LENGTH 16
#define STATE 32
#define ASCII_SIZE 40
#define COMPACT_SIZE 56

static struct py_layout fake_layout(void)
{
    struct py_layout l;
    memset(&l, 0xff, sizeof(l));
    l.major = 3;
    l.minor = 12;
    l.string_kind = PY_STR_3;
    l.object.ob_type = OB_TYPE;
    l.object.ob_size = 16;
    l.object.tp_name = 24;
    l.unicode.length = LENGTH;
    l.unicode.state = STATE;
    l.unicode.ascii_size = ASCII_SIZE;
    l.unicode.compact_size = COMPACT_SIZE;
    l.unicode.kind_shift = 2; /* interned:2, kind:3, compact:1, ascii:1 */
    l.unicode.compact_shift = 5;
    l.unicode.ascii_shift = 6;
    l.bytes.ob_sval = 32;
    return l;
}

/* Builds a compact string object of `kind` (1, 2, 4) at offset 0 of mem. */
static size_t build_str(uint8_t *mem, unsigned kind, int ascii, const void *units, size_t count)
{
    int64_t length = (int64_t)count;
    uint32_t state = (kind << 2) | (1u << 5) | ((unsigned)ascii << 6);
    memcpy(mem + LENGTH, &length, 8);
    memcpy(mem + STATE, &state, 4);
    size_t data = ascii ? ASCII_SIZE : COMPACT_SIZE;
    memcpy(mem + data, units, count * kind);
    return data + count * kind;
}

static void decode(unsigned kind, int ascii, const void *units, size_t count, char *out,
                   size_t size, int expect_err)
{
    uint8_t mem[1024] = {0};
    build_str(mem, kind, ascii, units, count);
    struct py_layout l = fake_layout();
    struct mem_snapshot ms;
    struct mem_reader r;
    mem_snapshot_init(&ms, &r, BASE, mem, sizeof(mem));
    assert_int_equal(pystr_read(&r, &l, BASE, out, size), expect_err);
}

static void test_pystr_ascii(void **state)
{
    (void)state;
    char out[64];
    decode(1, 1, "hello", 5, out, sizeof(out), 0);
    assert_string_equal(out, "hello");
}

static void test_pystr_latin1(void **state)
{
    (void)state;
    char out[64];
    const uint8_t units[] = {'c', 'a', 'f', 0xe9};
    decode(1, 0, units, 4, out, sizeof(out), 0);
    assert_string_equal(out, "caf\xc3\xa9");
}

static void test_pystr_ucs2(void **state)
{
    (void)state;
    char out[64];
    const uint16_t units[] = {0x03bb, 0x6a21, 'x'};
    decode(2, 0, units, 3, out, sizeof(out), 0);
    assert_string_equal(out, "\xce\xbb\xe6\xa8\xa1x");
}

static void test_pystr_ucs4_emoji(void **state)
{
    (void)state;
    char out[64];
    const uint32_t units[] = {0x1f600, 'a'};
    decode(4, 0, units, 2, out, sizeof(out), 0);
    assert_string_equal(out, "\xf0\x9f\x98\x80"
                             "a");
}

static void test_pystr_lone_surrogate_becomes_replacement(void **state)
{
    (void)state;
    char out[64];
    const uint16_t units[] = {0xd800, 'z'};
    decode(2, 0, units, 2, out, sizeof(out), 0);
    assert_string_equal(out, "\xef\xbf\xbdz");
}

static void test_pystr_truncates_on_character_boundary(void **state)
{
    (void)state;
    char out[6];
    const uint16_t units[] = {0x6a21, 0x6a21, 0x6a21};
    decode(2, 0, units, 3, out, sizeof(out), 0);
    assert_string_equal(out, "\xe6\xa8\xa1"); /* the second 3-byte char does not fit */
}

static void test_pystr_rejects_bad_kind_and_negative_length(void **state)
{
    (void)state;
    uint8_t mem[256] = {0};
    struct py_layout l = fake_layout();
    struct mem_snapshot ms;
    struct mem_reader r;
    char out[32];
    uint32_t bad_state = (3u << 2) | (1u << 5);
    memcpy(mem + STATE, &bad_state, 4);
    mem_snapshot_init(&ms, &r, BASE, mem, sizeof(mem));
    assert_int_equal(pystr_read(&r, &l, BASE, out, sizeof(out)), -SG_ECORRUPT);
    int64_t negative = -1;
    uint32_t ok_state = (1u << 2) | (1u << 5) | (1u << 6);
    memcpy(mem + STATE, &ok_state, 4);
    memcpy(mem + LENGTH, &negative, 8);
    assert_int_equal(pystr_read(&r, &l, BASE, out, sizeof(out)), -SG_ECORRUPT);
    assert_int_equal(pystr_read(&r, &l, 0, out, sizeof(out)), -SG_ECORRUPT);
}

static void test_pystr_huge_length_is_bounded(void **state)
{
    (void)state;
    uint8_t mem[256] = {0};
    struct py_layout l = fake_layout();
    struct mem_snapshot ms;
    struct mem_reader r;
    char out[32];
    int64_t huge = (int64_t)1 << 39;
    uint32_t st = (1u << 2) | (1u << 5) | (1u << 6);
    memcpy(mem + STATE, &st, 4);
    memcpy(mem + LENGTH, &huge, 8);
    memset(mem + ASCII_SIZE, 'a', sizeof(mem) - ASCII_SIZE);
    mem_snapshot_init(&ms, &r, BASE, mem, sizeof(mem));
    /* Reads only what fits in out: succeeds with a truncated string. */
    assert_int_equal(pystr_read(&r, &l, BASE, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), sizeof(out) - 1);
}

/* A str of a real table's layout at offset 0 of mem: header fields and
 * state bits where that table puts them. */
static void build_str_of(const struct py_layout *l, uint8_t *mem, unsigned kind, const void *units,
                         size_t count)
{
    int64_t length = (int64_t)count;
    uint32_t state = (kind << l->unicode.kind_shift) | (1u << l->unicode.compact_shift);
    memcpy(mem + l->unicode.length, &length, 8);
    memcpy(mem + l->unicode.state, &state, 4);
    memcpy(mem + l->unicode.compact_size, units, count * kind);
}

/* 3.14t made the interned flag a byte of its own: kind, compact and ascii
 * moved up (bits 8-10, 11, 12), and the object header is 32 bytes. A
 * function named fünf or 函数 must read right with the 3.14t table, and the
 * default build's bit positions must not read that state word as a str. */
static void test_pystr_free_threaded_state_bits(void **state)
{
    (void)state;
    const struct py_layout *ft = layout_find_build(3, 14, 1);
    const struct py_layout *plain = layout_find(3, 14);
    assert_non_null(ft);
    assert_non_null(plain);
    assert_int_equal(ft->unicode.kind_shift, 8);
    assert_int_equal(plain->unicode.kind_shift, 2);
    const uint8_t latin1[] = {'f', 0xfc, 'n', 'f'};
    const uint16_t ucs2[] = {0x51fd, 0x6570};
    struct {
        unsigned kind;
        const void *units;
        size_t count;
        const char *utf8;
    } cases[] = {{1, latin1, 4, "f\xc3\xbcnf"}, {2, ucs2, 2, "\xe5\x87\xbd\xe6\x95\xb0"}};
    for (size_t i = 0; i < 2; i++) {
        uint8_t mem[256] = {0};
        char out[64];
        struct mem_snapshot ms;
        struct mem_reader r;
        build_str_of(ft, mem, cases[i].kind, cases[i].units, cases[i].count);
        mem_snapshot_init(&ms, &r, BASE, mem, sizeof(mem));
        assert_int_equal(pystr_read(&r, ft, BASE, out, sizeof(out)), 0);
        assert_string_equal(out, cases[i].utf8);
        /* The same header with the default build's bit positions: kind 0,
         * not a str. */
        struct py_layout wrong = *ft;
        wrong.unicode.kind_shift = plain->unicode.kind_shift;
        wrong.unicode.compact_shift = plain->unicode.compact_shift;
        wrong.unicode.ascii_shift = plain->unicode.ascii_shift;
        assert_int_equal(pystr_read(&r, &wrong, BASE, out, sizeof(out)), -SG_ECORRUPT);
    }
}

static void test_pystr_bytes(void **state)
{
    (void)state;
    uint8_t mem[128] = {0};
    struct py_layout l = fake_layout();
    int64_t size = 3;
    memcpy(mem + 16, &size, 8);
    memcpy(mem + 32, "\x01\x02\x03", 3);
    struct mem_snapshot ms;
    struct mem_reader r;
    mem_snapshot_init(&ms, &r, BASE, mem, sizeof(mem));
    uint8_t *data;
    size_t len;
    assert_int_equal(pystr_read_bytes(&r, &l, BASE, 100, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "\x01\x02\x03", 3);
    free(data);
    assert_int_equal(pystr_read_bytes(&r, &l, BASE, 2, &data, &len), 0);
    assert_int_equal(len, 2);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pystr_ascii),
        cmocka_unit_test(test_pystr_latin1),
        cmocka_unit_test(test_pystr_ucs2),
        cmocka_unit_test(test_pystr_ucs4_emoji),
        cmocka_unit_test(test_pystr_lone_surrogate_becomes_replacement),
        cmocka_unit_test(test_pystr_truncates_on_character_boundary),
        cmocka_unit_test(test_pystr_rejects_bad_kind_and_negative_length),
        cmocka_unit_test(test_pystr_huge_length_is_bounded),
        cmocka_unit_test(test_pystr_free_threaded_state_bits),
        cmocka_unit_test(test_pystr_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
