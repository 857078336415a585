/*
 * hash.c - the open-addressing id index (util/hash.h).
 */
#include "util/hash.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Capacity of a new index. */
#define HASH_MIN_CAP 64

uint32_t *hash_index_find(const struct hash_index *ix, uint64_t hash, hash_same_fn same,
                          const void *ctx, const void *key)
{
    size_t mask = ix->cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        uint32_t slot = ix->slots[i];
        if (slot == 0 || same(ctx, slot - 1, key))
            return &ix->slots[i];
    }
}

int hash_index_reserve(struct hash_index *ix, size_t count, hash_of_fn hash_of, const void *ctx)
{
    if (count + 1 <= ix->cap / 2)
        return 0;
    size_t cap = ix->cap ? ix->cap : HASH_MIN_CAP;
    while (count + 1 > cap / 2)
        cap *= 2;
    uint32_t *slots = xcalloc(cap, sizeof(*slots));
    for (size_t id = 0; id < count; id++) {
        size_t i = (size_t)hash_of(ctx, (uint32_t)id) & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)id + 1;
    }
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    return 1;
}

void hash_index_rebuild(struct hash_index *ix, size_t count, hash_of_fn hash_of, const void *ctx)
{
    hash_index_clear(ix);
    if (count + 1 > ix->cap / 2) {
        hash_index_reserve(ix, count, hash_of, ctx);
        return;
    }
    size_t mask = ix->cap - 1;
    for (size_t id = 0; id < count; id++) {
        size_t i = (size_t)hash_of(ctx, (uint32_t)id) & mask;
        while (ix->slots[i])
            i = (i + 1) & mask;
        ix->slots[i] = (uint32_t)id + 1;
    }
}

void hash_index_clear(struct hash_index *ix)
{
    if (ix->slots)
        memset(ix->slots, 0, ix->cap * sizeof(*ix->slots));
}

void hash_index_release(struct hash_index *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->cap = 0;
}
