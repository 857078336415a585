/*
 * test_marshal.c - the bounded marshal reader: every type code a pstats dump
 * can hold, built by hand byte by byte; the reference tables (3.4+ FLAG_REF
 * and 2.7 string references); code objects as Python 2.7, 3.6, 3.8, 3.11 and
 * 3.13 write them; real dumps from CPython 3.11 and 2.7; and
 * hostile input: truncation at every byte, depth bombs, counts larger than
 * the file, bad references and unknown type codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "import/marshal.h"
#include "pstats_fixtures.h"
#include "util/err.h"

/* Parses a byte-string literal (sizeof - 1 drops its NUL). */
#define PARSE(doc, lit) marshal_parse((doc), (const uint8_t *)(lit), sizeof(lit) - 1)

/* Parses lit, expecting success; returns the root. */
static struct marshal_value *parse_ok(struct marshal_doc *doc, const char *bytes, size_t len)
{
    int err = marshal_parse(doc, (const uint8_t *)bytes, len);
    if (err)
        print_error("unexpected error: %s\n", doc->error);
    assert_int_equal(err, 0);
    assert_non_null(doc->root);
    return doc->root;
}
#define OK(doc, lit) parse_ok((doc), (lit), sizeof(lit) - 1)

/* Parses lit, expecting failure with a message containing want. */
static void parse_fails(const char *bytes, size_t len, const char *want)
{
    struct marshal_doc doc;
    assert_int_equal(marshal_parse(&doc, (const uint8_t *)bytes, len), -SG_ECORRUPT);
    assert_null(doc.root);
    if (!strstr(doc.error, want))
        print_error("error \"%s\" lacks \"%s\"\n", doc.error, want);
    assert_non_null(strstr(doc.error, want));
    marshal_release(&doc);
}
#define FAILS(lit, want) parse_fails((lit), sizeof(lit) - 1, (want))

/* ---- scalars ---- */

static void test_marshal_singletons(void **state)
{
    struct marshal_doc doc;
    assert_int_equal(OK(&doc, "N")->kind, MARSHAL_NONE);
    marshal_release(&doc);
    struct marshal_value *v = OK(&doc, "T");
    assert_int_equal(v->kind, MARSHAL_BOOL);
    assert_int_equal(v->i, 1);
    marshal_release(&doc);
    v = OK(&doc, "F");
    assert_int_equal(v->kind, MARSHAL_BOOL);
    assert_int_equal(v->i, 0);
    marshal_release(&doc);
}

static void test_marshal_int_is_signed_little_endian(void **state)
{
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, "i\x2a\x00\x00\x00");
    assert_int_equal(v->kind, MARSHAL_INT);
    assert_int_equal(v->i, 42);
    marshal_release(&doc);
    v = OK(&doc, "i\xfe\xff\xff\xff");
    assert_int_equal(v->i, -2);
    marshal_release(&doc);
    v = OK(&doc, "\xe9\x00\x01\x00\x00"); /* with FLAG_REF */
    assert_int_equal(v->i, 256);
    marshal_release(&doc);
}

static void test_marshal_int64_from_python27(void **state)
{
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, "I\x00\x00\x00\x00\x01\x00\x00\x00");
    assert_int_equal(v->kind, MARSHAL_INT);
    assert_true(v->i == (int64_t)1 << 32);
    marshal_release(&doc);
}

static void test_marshal_long_uses_15_bit_digits(void **state)
{
    struct marshal_doc doc;
    /* 2**31 = digits 0, 0, 2 (15 bits each). */
    struct marshal_value *v = OK(&doc, "l\x03\x00\x00\x00\x00\x00\x00\x00\x02\x00");
    assert_int_equal(v->kind, MARSHAL_INT);
    assert_true(v->i == (int64_t)1 << 31);
    marshal_release(&doc);
    /* -(2**40 + 5): a negative digit count means a negative number. */
    v = OK(&doc, "l\xfd\xff\xff\xff\x05\x00\x00\x00\x00\x04");
    assert_true(v->i == -(((int64_t)1 << 40) + 5));
    marshal_release(&doc);
    /* 0 has no digits. */
    v = OK(&doc, "l\x00\x00\x00\x00");
    assert_int_equal(v->i, 0);
    marshal_release(&doc);
}

static void test_marshal_long_limits(void **state)
{
    struct marshal_doc doc;
    /* INT64_MIN = -2**63: digits 0,0,0,0 and 2**3 at 60. */
    struct marshal_value *v = OK(&doc, "l\xfb\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00");
    assert_true(v->i == INT64_MIN);
    marshal_release(&doc);
    FAILS("l\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00", "does not fit in 64 bits");
    FAILS("l\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00", "64 bits");
    /* Found by fuzz_marshal: zero digits past bit 64 before a non-zero one
     * (shifting them was undefined behaviour, caught by UBSan). */
    FAILS("l\x07\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00",
          "does not fit in 64 bits");
    FAILS("l\x02\x00\x00\x00\x01\x00\x00\x00", "unnormalised long");
    FAILS("l\x01\x00\x00\x00\x00\x80", "digit out of range");
    FAILS("l\x05\x00\x00\x00\x01\x00", "truncated");
}

static void test_marshal_binary_float(void **state)
{
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, "g\x00\x00\x00\x00\x00\x00\xf8\x3f");
    assert_int_equal(v->kind, MARSHAL_FLOAT);
    assert_true(v->f == 1.5);
    marshal_release(&doc);
}

static void test_marshal_text_float(void **state)
{
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, "f\x05-0.25");
    assert_int_equal(v->kind, MARSHAL_FLOAT);
    assert_true(v->f == -0.25);
    marshal_release(&doc);
    v = OK(&doc, "f\x06"
                 "1e-300");
    assert_true(v->f == 1e-300);
    marshal_release(&doc);
    FAILS("f\x04"
          "1.5x",
          "bad float text");
    FAILS("f\x00", "bad float text");
    FAILS("f\x09"
          "1.5",
          "truncated");
}

/* ---- strings ---- */

static void check_string(const char *bytes, size_t len, enum marshal_kind kind, const char *want,
                         size_t want_len)
{
    struct marshal_doc doc;
    struct marshal_value *v = parse_ok(&doc, bytes, len);
    assert_int_equal(v->kind, kind);
    assert_int_equal(v->len, want_len);
    assert_memory_equal(v->str, want, want_len + 1); /* NUL-terminated too */
    marshal_release(&doc);
}
#define STRING(lit, kind, want)                                                                    \
    check_string((lit), sizeof(lit) - 1, (kind), (want), sizeof(want) - 1)

static void test_marshal_every_string_kind(void **state)
{
    STRING("s\x03\x00\x00\x00"
           "abc",
           MARSHAL_BYTES, "abc");
    STRING("t\x03\x00\x00\x00"
           "abc",
           MARSHAL_STR, "abc");
    STRING("u\x04\x00\x00\x00"
           "\xc3\xa9t\xc3",
           MARSHAL_STR, "\xc3\xa9t\xc3");
    STRING("a\x02\x00\x00\x00"
           "ab",
           MARSHAL_STR, "ab");
    STRING("A\x02\x00\x00\x00"
           "ab",
           MARSHAL_STR, "ab");
    STRING("z\x02"
           "ab",
           MARSHAL_STR, "ab");
    STRING("Z\x00", MARSHAL_STR, "");
    STRING("\xfa\x01~", MARSHAL_STR, "~"); /* short ASCII with FLAG_REF */
    STRING("u\x03\x00\x00\x00"
           "a\0b",
           MARSHAL_STR, "a\0b");
}

static void test_marshal_ascii_kinds_read_as_latin1(void **state)
{
    /* CPython builds ASCII-kind strings from the raw bytes (Latin-1). */
    STRING("z\x02"
           "\xe9x",
           MARSHAL_STR, "\xc3\xa9x");
}

static void test_marshal_string_lengths_are_checked(void **state)
{
    FAILS("u\x05\x00\x00\x00"
          "abc",
          "truncated at byte 1");
    FAILS("z\x05"
          "abc",
          "truncated at byte 2");
    FAILS("s\xff\xff\xff\xff", "negative string length");
    FAILS("a\xff\xff\xff\x7f"
          "abc",
          "exceeds the 3 bytes left");
}

/* ---- containers ---- */

static void test_marshal_tuple_list_dict(void **state)
{
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, "(\x02\x00\x00\x00Ni\x07\x00\x00\x00");
    assert_int_equal(v->kind, MARSHAL_TUPLE);
    assert_int_equal(v->count, 2);
    assert_int_equal(v->items[0]->kind, MARSHAL_NONE);
    assert_int_equal(v->items[1]->i, 7);
    marshal_release(&doc);

    v = OK(&doc, ")\x03TFN");
    assert_int_equal(v->kind, MARSHAL_TUPLE);
    assert_int_equal(v->count, 3);
    marshal_release(&doc);

    v = OK(&doc, "[\x01\x00\x00\x00)\x00");
    assert_int_equal(v->kind, MARSHAL_LIST);
    assert_int_equal(v->count, 1);
    assert_int_equal(v->items[0]->kind, MARSHAL_TUPLE);
    assert_int_equal(v->items[0]->count, 0);
    marshal_release(&doc);

    v = OK(&doc, "{z\x01"
                 "ai\x01\x00\x00\x00z\x01"
                 "bN0");
    assert_int_equal(v->kind, MARSHAL_DICT);
    assert_int_equal(v->count, 2);
    assert_string_equal(v->items[0]->str, "a");
    assert_int_equal(v->items[1]->i, 1);
    assert_string_equal(v->items[2]->str, "b");
    assert_int_equal(v->items[3]->kind, MARSHAL_NONE);
    marshal_release(&doc);

    v = OK(&doc, "{0");
    assert_int_equal(v->kind, MARSHAL_DICT);
    assert_int_equal(v->count, 0);
    marshal_release(&doc);
}

static void test_marshal_null_value_ends_a_dict(void **state)
{
    /* As in CPython: a key followed by '0' ends the dict (the key is lost). */
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, "{NNT0");
    assert_int_equal(v->count, 1);
    marshal_release(&doc);
}

static void test_marshal_null_is_an_error_elsewhere(void **state)
{
    FAILS("0", "NULL object");
    FAILS(")\x02N0", "NULL item in a tuple at byte 3");
    FAILS("[\x01\x00\x00\x00"
          "0",
          "NULL item in a list");
}

static void test_marshal_trailing_bytes_are_ignored(void **state)
{
    struct marshal_doc doc;
    OK(&doc, "N garbage");
    assert_int_equal(doc.used, 1);
    marshal_release(&doc);
}

static void test_marshal_counts_larger_than_the_input_fail_fast(void **state)
{
    FAILS("(\xff\xff\xff\x7f", "exceeds the 0 bytes left");
    FAILS("[\x10\x00\x00\x00NN", "truncated at byte 1");
    FAILS(")\x05NN", "tuple of 5 items");
    FAILS("(\xfe\xff\xff\xff", "negative tuple size");
    FAILS("{NN", "truncated at byte 3");
}

/* ---- references ---- */

static void test_marshal_flag_ref_and_type_ref(void **state)
{
    /* ("~", "~", 5, 5): the string and the int are flagged, then referenced.
     * The flagged tuple takes slot 0 before its items: "~" is 1, 5 is 2. */
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, "\xa9\x04\xfa\x01~r\x01\x00\x00\x00"
                                       "\xe9\x05\x00\x00\x00r\x02\x00\x00\x00");
    assert_int_equal(v->count, 4);
    assert_ptr_equal(v->items[0], v->items[1]);
    assert_string_equal(v->items[1]->str, "~");
    assert_ptr_equal(v->items[2], v->items[3]);
    assert_int_equal(v->items[3]->i, 5);
    marshal_release(&doc);
}

static void test_marshal_ref_to_a_finished_container(void **state)
{
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, ")\x02\xa9\x01Nr\x00\x00\x00\x00");
    assert_ptr_equal(v->items[0], v->items[1]);
    assert_int_equal(v->items[1]->kind, MARSHAL_TUPLE);
    marshal_release(&doc);
}

static void test_marshal_bad_refs_are_rejected(void **state)
{
    FAILS("r\x00\x00\x00\x00", "bad reference 0 at byte 0 (0 values remembered)");
    FAILS(")\x02\xe9\x01\x00\x00\x00r\x01\x00\x00\x00", "bad reference 1 at byte 7");
    FAILS("r\xff\xff\xff\xff", "bad reference -1");
    /* A tuple containing a reference to itself would be a cycle. */
    FAILS("\xa9\x01r\x00\x00\x00\x00", "still being read");
    FAILS("\xfb"
          "Nr\x00\x00\x00\x00"
          "0",
          "still being read");
    FAILS("r\x00\x00", "truncated at byte 1");
}

static void test_marshal_singletons_take_no_ref_slot(void **state)
{
    /* CPython ignores FLAG_REF on None: the int below is slot 0. */
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, ")\x03\xce\xe9\x09\x00\x00\x00r\x00\x00\x00\x00");
    assert_int_equal(v->items[2]->i, 9);
    marshal_release(&doc);
}

static void test_marshal_python27_string_refs(void **state)
{
    struct marshal_doc doc;
    struct marshal_value *v = OK(&doc, ")\x03t\x01\x00\x00\x00"
                                       "at\x01\x00\x00\x00"
                                       "b"
                                       "R\x00\x00\x00\x00");
    assert_string_equal(v->items[2]->str, "a");
    assert_ptr_equal(v->items[0], v->items[2]);
    marshal_release(&doc);
    FAILS("R\x00\x00\x00\x00", "bad string reference 0");
    /* Only interned strings count: an 'u' string is not in the list. */
    FAILS(")\x02u\x01\x00\x00\x00"
          "aR\x00\x00\x00\x00",
          "bad string reference 0 at byte 8");
}

/* ---- hostile input ---- */

static void test_marshal_unknown_type_codes(void **state)
{
    FAILS("x", "unknown marshal type 0x78 at byte 0"); /* complex */
    FAILS("c", "truncated at byte 1");                 /* a code object, cut */
    FAILS(")\x01\x80", "unknown marshal type 0x80 at byte 2");
    FAILS("<\x00\x00\x00\x00", "unknown marshal type 0x3c");
    FAILS("", "truncated at byte 0");
}

static void test_marshal_depth_bomb(void **state)
{
    /* 10000 nested one-item tuples: stopped at MARSHAL_MAX_DEPTH. */
    size_t n = 10000;
    char *bomb = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        bomb[2 * i] = ')';
        bomb[2 * i + 1] = 1;
    }
    bomb[2 * n] = 'N';
    parse_fails(bomb, 2 * n + 1, "nested deeper than 100 at byte 200");
    /* Exactly MARSHAL_MAX_DEPTH levels are fine. */
    size_t ok_len = 2 * MARSHAL_MAX_DEPTH;
    bomb[ok_len] = 'N';
    struct marshal_doc doc;
    parse_ok(&doc, bomb, ok_len + 1);
    marshal_release(&doc);
    free(bomb);
}

static void test_marshal_wide_dict_stays_linear(void **state)
{
    /* A dict with 100000 small entries parses; memory is bounded by the input. */
    size_t n = 100000, len = 0;
    char *buf = malloc(n * 2 + 2);
    buf[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        buf[len++] = 'N';
        buf[len++] = 'T';
    }
    buf[len++] = '0';
    struct marshal_doc doc;
    struct marshal_value *v = parse_ok(&doc, buf, len);
    assert_int_equal(v->count, n);
    marshal_release(&doc);
    free(buf);
}

/* Every prefix of a real file is an error (never a crash); the whole file
 * parses, and flipping any single byte gives success or a clean error. */
static void truncate_everywhere(const unsigned char *data, size_t len)
{
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
        memcpy(copy, data, cut);
        struct marshal_doc doc;
        int err = marshal_parse(&doc, copy, cut);
        if (err != -SG_ECORRUPT)
            print_error("prefix of %zu bytes: %d\n", cut, err);
        assert_int_equal(err, -SG_ECORRUPT);
        assert_true(doc.error[0] != '\0');
        marshal_release(&doc);
        free(copy);
    }
    for (size_t at = 0; at < len; at++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, data, len);
        copy[at] ^= 0xFF;
        struct marshal_doc doc;
        int err = marshal_parse(&doc, copy, len);
        assert_true(err == 0 || err == -SG_ECORRUPT);
        marshal_release(&doc);
        free(copy);
    }
}

static void test_marshal_real_dump_311_truncated_at_every_byte(void **state)
{
    struct marshal_doc doc;
    int err = marshal_parse(&doc, pstats_tiny_311, pstats_tiny_311_len);
    assert_int_equal(err, 0);
    assert_int_equal(doc.used, pstats_tiny_311_len);
    assert_int_equal(doc.root->kind, MARSHAL_DICT);
    assert_int_equal(doc.root->count, 5);
    /* The first key is ("tiny.py", 1, "f"). */
    struct marshal_value *key = doc.root->items[0];
    assert_int_equal(key->kind, MARSHAL_TUPLE);
    assert_string_equal(key->items[0]->str, "tiny.py");
    assert_int_equal(key->items[1]->i, 1);
    assert_string_equal(key->items[2]->str, "f");
    marshal_release(&doc);
    truncate_everywhere(pstats_tiny_311, pstats_tiny_311_len);
}

static void test_marshal_real_dump_27_truncated_at_every_byte(void **state)
{
    struct marshal_doc doc;
    assert_int_equal(marshal_parse(&doc, pstats_tiny_27, pstats_tiny_27_len), 0);
    assert_int_equal(doc.root->kind, MARSHAL_DICT);
    assert_int_equal(doc.root->count, 4);
    marshal_release(&doc);
    truncate_everywhere(pstats_tiny_27, pstats_tiny_27_len);
}

/* ---- code objects ---- */

/* Checks a compiled "def f(a): return a" module: the module's code and f's
 * code among its constants. */
static void check_module_code(const unsigned char *data, size_t len)
{
    struct marshal_doc doc;
    int err = marshal_parse(&doc, data, len);
    if (err)
        print_error("%s\n", doc.error);
    assert_int_equal(err, 0);
    assert_int_equal(doc.used, len);
    struct marshal_value *v = doc.root;
    assert_int_equal(v->kind, MARSHAL_CODE);
    assert_string_equal(v->code_name->str, "<module>");
    assert_string_equal(v->code_file->str, "m.py");
    assert_int_equal(v->code_line, 1);
    marshal_release(&doc);
}

static void test_marshal_code_objects_of_every_layout(void **state)
{
    check_module_code(marshal_code_27, sizeof(marshal_code_27));
    check_module_code(marshal_code_36, sizeof(marshal_code_36));
    check_module_code(marshal_code_38, sizeof(marshal_code_38));
    check_module_code(marshal_code_311, sizeof(marshal_code_311));
    check_module_code(marshal_code_313, sizeof(marshal_code_313));
}

static void test_marshal_code_object_truncated_at_every_byte(void **state)
{
    truncate_everywhere(marshal_code_311, sizeof(marshal_code_311));
    truncate_everywhere(marshal_code_27, sizeof(marshal_code_27));
}

static void test_marshal_code_object_that_fits_no_layout(void **state)
{
    /* Eight zero ints, then None where the bytecode should be. */
    FAILS("c\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0NNNNNNNNNNNNNNNNN",
          "code object at byte 0 fits no known layout");
    FAILS("c\xff\xff\xff\xff", "fits no known layout");
}

static void test_marshal_code_layouts_are_fixed_by_the_first(void **state)
{
    /* A 3.11 code object then a 2.7 one in one tuple: the second must be
     * read with the first's layout, and so fails. */
    size_t a = sizeof(marshal_code_311), b = sizeof(marshal_code_27);
    char *both = malloc(2 + 2 * (a > b ? a : b));
    both[0] = ')';
    both[1] = 2;
    memcpy(both + 2, marshal_code_311, a);
    memcpy(both + 2 + a, marshal_code_27, b);
    struct marshal_doc doc;
    assert_int_equal(marshal_parse(&doc, (const uint8_t *)both, 2 + a + b), -SG_ECORRUPT);
    marshal_release(&doc);
    /* The same code object twice is fine. */
    memcpy(both + 2 + a, marshal_code_311, a);
    assert_int_equal(marshal_parse(&doc, (const uint8_t *)both, 2 + 2 * a), 0);
    assert_int_equal(doc.root->items[1]->kind, MARSHAL_CODE);
    marshal_release(&doc);
    free(both);
}

static void test_marshal_release_twice_is_safe(void **state)
{
    struct marshal_doc doc;
    OK(&doc, "N");
    marshal_release(&doc);
    marshal_release(&doc);
    assert_null(doc.root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marshal_singletons),
        cmocka_unit_test(test_marshal_int_is_signed_little_endian),
        cmocka_unit_test(test_marshal_int64_from_python27),
        cmocka_unit_test(test_marshal_long_uses_15_bit_digits),
        cmocka_unit_test(test_marshal_long_limits),
        cmocka_unit_test(test_marshal_binary_float),
        cmocka_unit_test(test_marshal_text_float),
        cmocka_unit_test(test_marshal_every_string_kind),
        cmocka_unit_test(test_marshal_ascii_kinds_read_as_latin1),
        cmocka_unit_test(test_marshal_string_lengths_are_checked),
        cmocka_unit_test(test_marshal_tuple_list_dict),
        cmocka_unit_test(test_marshal_null_value_ends_a_dict),
        cmocka_unit_test(test_marshal_null_is_an_error_elsewhere),
        cmocka_unit_test(test_marshal_trailing_bytes_are_ignored),
        cmocka_unit_test(test_marshal_counts_larger_than_the_input_fail_fast),
        cmocka_unit_test(test_marshal_flag_ref_and_type_ref),
        cmocka_unit_test(test_marshal_ref_to_a_finished_container),
        cmocka_unit_test(test_marshal_bad_refs_are_rejected),
        cmocka_unit_test(test_marshal_singletons_take_no_ref_slot),
        cmocka_unit_test(test_marshal_python27_string_refs),
        cmocka_unit_test(test_marshal_unknown_type_codes),
        cmocka_unit_test(test_marshal_depth_bomb),
        cmocka_unit_test(test_marshal_wide_dict_stays_linear),
        cmocka_unit_test(test_marshal_real_dump_311_truncated_at_every_byte),
        cmocka_unit_test(test_marshal_real_dump_27_truncated_at_every_byte),
        cmocka_unit_test(test_marshal_code_objects_of_every_layout),
        cmocka_unit_test(test_marshal_code_object_truncated_at_every_byte),
        cmocka_unit_test(test_marshal_code_object_that_fits_no_layout),
        cmocka_unit_test(test_marshal_code_layouts_are_fixed_by_the_first),
        cmocka_unit_test(test_marshal_release_twice_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
