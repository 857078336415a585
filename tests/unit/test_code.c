/*
 * test_code.c - the code-object cache stays bounded in bytes, not only in
 * entries: a target whose code objects carry huge line tables (a flood of
 * generated code) must not grow spyglass past CODE_CACHE_MAX_BYTES between
 * trims. The code objects are fakes in a snapshot (3.11 layout), all
 * pointing at one 1 MiB bytes object as their line table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"
#include "python/code.h"
#include "python/layout.h"

#define BASE 0x10000000ull
#define TABLE_LEN ((size_t)1 << 20)
#define CODE_SIZE 512
#define CODES 200

static void put_u64(uint8_t *image, size_t off, uint64_t v)
{
    memcpy(image + off, &v, sizeof(v));
}

static void test_code_cache_is_capped_in_bytes(void **state)
{
    (void)state;
    const struct py_layout *l = layout_find(3, 11);
    assert_non_null(l);
    size_t codes_at = l->bytes.ob_sval + TABLE_LEN + 64;
    size_t size = codes_at + (size_t)CODES * CODE_SIZE;
    uint8_t *image = calloc(1, size);
    assert_non_null(image);
    put_u64(image, l->object.ob_size, TABLE_LEN); /* the shared line table at BASE */
    for (int i = 0; i < CODES; i++) {
        size_t code = codes_at + (size_t)i * CODE_SIZE;
        put_u64(image, code + l->code.co_linetable, BASE);
        int32_t first_line = i + 1;
        memcpy(image + code + l->code.co_firstlineno, &first_line, sizeof(first_line));
    }
    struct mem_snapshot ms;
    struct mem_reader r;
    mem_snapshot_init(&ms, &r, BASE, image, size);
    struct code_cache cc;
    code_cache_init(&cc);
    size_t most = 0;
    int trimmed = 0;
    for (int i = 0; i < CODES; i++) {
        struct code_info *ci;
        uint64_t addr = BASE + codes_at + (uint64_t)i * CODE_SIZE;
        assert_int_equal(code_cache_get(&cc, &r, l, 0, addr, &ci), 0);
        assert_int_equal(ci->linetable_len, TABLE_LEN);
        size_t before = cc.count;
        code_cache_trim(&cc); /* between samples */
        trimmed += cc.count < before;
        most = cc.bytes > most ? cc.bytes : most;
    }
    assert_true(trimmed > 0);
    assert_true(most <= CODE_CACHE_MAX_BYTES + TABLE_LEN + 4096);
    code_cache_release(&cc);
    free(image);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_cache_is_capped_in_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
