/*
 * dictorder.c - Python 2.7's dict iteration order for a pstats dump (see
 * dictorder.h). Every formula follows CPython 2.7's Objects/stringobject.c
 * (string_hash), intobject.c (int_hash), tupleobject.c (tuplehash) and
 * dictobject.c (lookdict, insertdict_clean, dictresize), on a 64-bit build
 * where a C long is 64 bits; arithmetic is unsigned so that it wraps as
 * those builds do.
 *
 * A 2.7 dump's strings are byte strings, hashed byte by byte. A unicode
 * string hashes the same when it is ASCII; a non-ASCII one would hash its
 * code units, which this does not do (cProfile on 2.7 writes none).
 */
#include "report/dictorder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define DICT_MINSIZE 8
#define PERTURB_SHIFT 5

/* Hashes are C longs; -1 is an error code there, so a hash of -1 is -2. */
static uint64_t not_minus_one(uint64_t h)
{
    return h == UINT64_MAX ? UINT64_MAX - 1 : h;
}

static uint64_t str_hash(const char *s)
{
    size_t len = strlen(s);
    if (!len)
        return 0;
    uint64_t x = (uint64_t)(unsigned char)s[0] << 7;
    for (size_t i = 0; i < len; i++)
        x = (1000003 * x) ^ (unsigned char)s[i];
    x ^= (uint64_t)len;
    return not_minus_one(x);
}

static uint64_t key_hash(const struct pstats_key *k)
{
    uint64_t items[3] = {str_hash(k->file), not_minus_one((uint64_t)k->line), str_hash(k->name)};
    uint64_t x = 0x345678, mult = 1000003;
    for (size_t i = 0, left = 3; i < 3; i++) {
        left--;
        x = (x ^ items[i]) * mult;
        mult += 82520 + left + left;
    }
    return not_minus_one(x + 97531);
}

struct dict {
    size_t *slots; /* function index + 1, 0 empty */
    size_t mask, used;
};

/* The empty slot key's probe sequence reaches first. */
static size_t free_slot(const struct dict *d, uint64_t hash)
{
    size_t i = (size_t)hash & d->mask;
    for (uint64_t perturb = hash; d->slots[i & d->mask]; perturb >>= PERTURB_SHIFT)
        i = (i << 2) + i + (size_t)perturb + 1;
    return i & d->mask;
}

/* dictresize: the smallest power of two above minused, entries re-inserted
 * in slot order. */
static void resize(struct dict *d, const uint64_t *hashes, size_t minused)
{
    size_t size = DICT_MINSIZE;
    while (size <= minused)
        size <<= 1;
    struct dict bigger = {xcalloc(size, sizeof(size_t)), size - 1, d->used};
    for (size_t i = 0; i <= d->mask; i++) {
        size_t f = d->slots[i];
        if (f)
            bigger.slots[free_slot(&bigger, hashes[f - 1])] = f;
    }
    free(d->slots);
    *d = bigger;
}

int dictorder_py27(const struct pstats *st, size_t *order)
{
    for (size_t i = 0; i < st->count; i++)
        order[i] = i;
    if (st->code_keys)
        return -1;
    uint64_t *hashes = xcalloc(st->count ? st->count : 1, sizeof(*hashes));
    struct dict d = {xcalloc(DICT_MINSIZE, sizeof(size_t)), DICT_MINSIZE - 1, 0};
    /* Keys are unique and in order of first appearance: a repeated key in
     * the file only replaces its value, as PyDict_SetItem does. */
    for (size_t f = 0; f < st->count; f++) {
        hashes[f] = key_hash(&st->funcs[f].key);
        d.slots[free_slot(&d, hashes[f])] = f + 1;
        d.used++;
        if (d.used * 3 >= (d.mask + 1) * 2)
            resize(&d, hashes, (d.used > 50000 ? 2 : 4) * d.used);
    }
    size_t n = 0;
    for (size_t i = 0; i <= d.mask; i++) {
        if (d.slots[i])
            order[n++] = d.slots[i] - 1;
    }
    free(d.slots);
    free(hashes);
    return 0;
}
