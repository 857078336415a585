/*
 * test_utf8.c - the one UTF-8 policy (util/utf8.c) and the hash index
 * (util/hash.c) the program's tables are built on; and the terminal escaping
 * that dump's text, error messages, the endpoint table and process root
 * frames share: printable UTF-8 passes, controls (C0, DEL, C1) and malformed
 * bytes become \xNN, a newline \n, and a cut never splits a character or an
 * escape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/hash.h"
#include "util/utf8.h"

#define DECODE(lit, cp) utf8_decode((const unsigned char *)(lit), sizeof(lit) - 1, (cp))

static void test_utf8_decodes_every_length(void **state)
{
    uint32_t cp;
    assert_int_equal(DECODE("A", &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(DECODE("\xC3\xA9", &cp), 2); /* é */
    assert_int_equal(cp, 0xE9);
    assert_int_equal(DECODE("\xE2\x82\xAC", &cp), 3); /* € */
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(DECODE("\xF0\x9F\x94\xA5", &cp), 4); /* U+1F525 */
    assert_int_equal(cp, 0x1F525);
    assert_int_equal(DECODE("\xF4\x8F\xBF\xBF", &cp), 4); /* U+10FFFF, the last */
    assert_int_equal(cp, 0x10FFFF);
}

static void test_utf8_rejects_surrogates_overlongs_and_strays(void **state)
{
    uint32_t cp = 7;
    assert_int_equal(DECODE("\xED\xA0\x80", &cp), 0); /* U+D800, a surrogate */
    assert_int_equal(DECODE("\xED\xBF\xBF", &cp), 0); /* U+DFFF */
    assert_int_equal(DECODE("\xC0\xAF", &cp), 0);     /* overlong '/' */
    assert_int_equal(DECODE("\xC1\xBF", &cp), 0);
    assert_int_equal(DECODE("\xE0\x9F\xBF", &cp), 0);     /* overlong 3-byte */
    assert_int_equal(DECODE("\xF0\x8F\xBF\xBF", &cp), 0); /* overlong 4-byte */
    assert_int_equal(DECODE("\xF4\x90\x80\x80", &cp), 0); /* past U+10FFFF */
    assert_int_equal(DECODE("\xF5\x80\x80\x80", &cp), 0);
    assert_int_equal(DECODE("\x80", &cp), 0); /* a stray continuation byte */
    assert_int_equal(DECODE("\xFF", &cp), 0);
    assert_int_equal(cp, 7);                          /* left alone */
    assert_int_equal(DECODE("\xED\x9F\xBF", &cp), 3); /* U+D7FF, just below */
}

static void test_utf8_stops_at_truncation_and_nul(void **state)
{
    uint32_t cp;
    /* the length given cuts the sequence */
    assert_int_equal(utf8_decode((const unsigned char *)"\xE2\x82\xAC", 2, &cp), 0);
    assert_int_equal(utf8_decode((const unsigned char *)"\xE2", 0, &cp), 0);
    /* a NUL fails the continuation check: safe to pass 4 on a C string */
    assert_int_equal(utf8_decode((const unsigned char *)"\xE2\x82", 4, &cp), 0);
}

static void test_utf8_encode_round_trips_and_replaces(void **state)
{
    unsigned char buf[4];
    uint32_t cps[] = {0x24, 0xA2, 0x20AC, 0x10348, 0x10FFFF};
    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        uint32_t back;
        size_t n = utf8_encode(cps[i], buf);
        assert_int_equal(utf8_decode(buf, n, &back), n);
        assert_int_equal(back, cps[i]);
    }
    assert_int_equal(utf8_encode(0xD800, buf), 3);
    assert_memory_equal(buf, UTF8_REPLACEMENT, 3);
    assert_int_equal(utf8_encode(0x110000, buf), 3);
    assert_memory_equal(buf, UTF8_REPLACEMENT, 3);
}

static void test_utf8_valid_whole_strings(void **state)
{
    assert_true(utf8_valid((const unsigned char *)"caf\xC3\xA9", 5));
    assert_false(utf8_valid((const unsigned char *)"caf\xC3", 4));
    assert_false(utf8_valid((const unsigned char *)"a\0b", 3)); /* no NUL inside */
    assert_false(utf8_valid((const unsigned char *)"\xED\xA0\x80", 3));
    assert_true(utf8_valid((const unsigned char *)"", 0));
}

/* A table of numbers over the hash index, as the program's tables are. */
struct numbers {
    uint64_t *values;
    size_t count;
    struct hash_index index;
};

static uint64_t number_hash_of(const void *ctx, uint32_t id)
{
    return hash_mix(((const struct numbers *)ctx)->values[id]);
}

static int number_same(const void *ctx, uint32_t id, const void *key)
{
    return ((const struct numbers *)ctx)->values[id] == *(const uint64_t *)key;
}

/* Returns v's position, adding it if new. */
static uint32_t number_id(struct numbers *n, uint64_t v)
{
    hash_index_reserve(&n->index, n->count, number_hash_of, n);
    uint32_t *slot = hash_index_find(&n->index, hash_mix(v), number_same, n, &v);
    if (!*slot) {
        n->values[n->count] = v;
        *slot = (uint32_t)++n->count;
    }
    return *slot - 1;
}

static void test_hash_index_finds_what_it_stored_through_growth(void **state)
{
    struct numbers n = {calloc(5000, sizeof(uint64_t)), 0, {NULL, 0}};
    for (uint64_t v = 0; v < 5000; v++)
        assert_int_equal(number_id(&n, v * 7919), v);
    for (uint64_t v = 0; v < 5000; v++)
        assert_int_equal(number_id(&n, v * 7919), v);
    assert_int_equal(n.count, 5000);
    assert_true(n.index.cap >= 2 * n.count);
    /* compacted to the odd half, rebuilt in place */
    for (size_t i = 0; i < 2500; i++)
        n.values[i] = n.values[2 * i + 1];
    n.count = 2500;
    size_t cap = n.index.cap;
    hash_index_rebuild(&n.index, n.count, number_hash_of, &n);
    assert_int_equal(n.index.cap, cap);
    assert_int_equal(number_id(&n, 7919), 0);
    assert_int_equal(number_id(&n, 3 * 7919), 1);
    assert_int_equal(n.count, 2500);
    hash_index_clear(&n.index);
    n.count = 0;
    assert_int_equal(number_id(&n, 42), 0);
    hash_index_release(&n.index);
    free(n.values);
}

static void test_hash_str_is_fnv1a(void **state)
{
    /* FNV-1a 64 of "a", from the algorithm's published test vectors */
    assert_true(hash_str(HASH_SEED, "a") == 0xaf63dc4c8601ec8cull);
    assert_true(hash_bytes(HASH_SEED, "a", 1) == hash_str(HASH_SEED, "a"));
    assert_true(hash_str(HASH_SEED, "") == HASH_SEED);
}

static void test_escape_keeps_printable_utf8(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(utf8_escape("funci\xc3\xb3n_\xce\xbb <ok>", out, sizeof(out)), 16);
    assert_string_equal(out, "funci\xc3\xb3n_\xce\xbb <ok>");
}

static void test_escape_controls_and_malformed_bytes(void **state)
{
    (void)state;
    char out[128];
    utf8_escape("a\nb\x1b[31m\x7f\xc2\x9b\xff\xed\xa0\x80z", out, sizeof(out));
    /* newline, ESC, DEL, C1 CSI (two bytes), a stray byte, a surrogate's bytes */
    assert_string_equal(out, "a\\nb\\x1b[31m\\x7f\\xc2\\x9b\\xff\\xed\\xa0\\x80z");
}

static void test_escape_cuts_at_whole_characters(void **state)
{
    (void)state;
    char out[7];
    assert_int_equal(utf8_escape("abc\x1b", out, sizeof(out)), 3); /* "\x1b" needs 4 more */
    assert_string_equal(out, "abc");
    assert_int_equal(utf8_escape("abcd\xce\xbb", out, sizeof(out)), 6);
    assert_string_equal(out, "abcd\xce\xbb");
    assert_int_equal(utf8_escape("abcde\xce\xbb", out, sizeof(out)), 5);
    assert_string_equal(out, "abcde");
    assert_int_equal(utf8_escape("x", out, 1), 0);
    assert_string_equal(out, "");
}

static void test_escape_char_steps_one_character(void **state)
{
    (void)state;
    char piece[UTF8_ESCAPE_MAX];
    assert_int_equal(utf8_escape_char("\xe2\x82\xac!", piece), 3);
    assert_string_equal(piece, "\xe2\x82\xac");
    assert_int_equal(utf8_escape_char("\xe2\x82", piece), 1); /* truncated: one byte */
    assert_string_equal(piece, "\\xe2");
    assert_int_equal(utf8_escape_char("", piece), 0);
    assert_string_equal(piece, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_decodes_every_length),
        cmocka_unit_test(test_utf8_rejects_surrogates_overlongs_and_strays),
        cmocka_unit_test(test_utf8_stops_at_truncation_and_nul),
        cmocka_unit_test(test_utf8_encode_round_trips_and_replaces),
        cmocka_unit_test(test_utf8_valid_whole_strings),
        cmocka_unit_test(test_escape_keeps_printable_utf8),
        cmocka_unit_test(test_escape_controls_and_malformed_bytes),
        cmocka_unit_test(test_escape_cuts_at_whole_characters),
        cmocka_unit_test(test_escape_char_steps_one_character),
        cmocka_unit_test(test_hash_index_finds_what_it_stored_through_growth),
        cmocka_unit_test(test_hash_str_is_fnv1a),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
