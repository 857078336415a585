/*
 * strtab.c - string interning: an open-addressing hash set of strings whose
 * bytes live in arena blocks.
 *
 * The profile interns every function and file name here, so a frame holds
 * pointers that compare equal exactly when the strings do. Looking up a
 * string already present costs one hash and usually one strcmp and never
 * allocates; new strings are copied into the current arena block (large ones
 * get a block of their own), so the table makes few, large allocations.
 */
#include "profile/strtab.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/util.h"

#define BLOCK_SIZE 16384 /* bytes per ordinary arena block */

struct strtab_slot {
    const char *s; /* NULL: empty slot */
    uint64_t hash;
};

struct strtab_block {
    struct strtab_block *next;
    size_t used, size;
    char data[];
};

void strtab_init(struct strtab *t)
{
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
    t->bytes = 0;
    t->blocks = NULL;
}

void strtab_release(struct strtab *t)
{
    struct strtab_block *b = t->blocks;
    while (b) {
        struct strtab_block *next = b->next;
        free(b);
        b = next;
    }
    free(t->slots);
    strtab_init(t);
}

size_t strtab_count(const struct strtab *t)
{
    return t->count;
}

size_t strtab_bytes(const struct strtab *t)
{
    return t->bytes;
}

/* Returns the slot holding s, or the empty slot where it belongs. */
static struct strtab_slot *find_slot(struct strtab_slot *slots, size_t cap, const char *s,
                                     uint64_t hash)
{
    size_t mask = cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        struct strtab_slot *slot = &slots[i];
        if (!slot->s || (slot->hash == hash && strcmp(slot->s, s) == 0))
            return slot;
    }
}

/* Doubles the slot array (load factor stays at or under 1/2). */
static void grow(struct strtab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64; /* calloc checks cap * size for overflow */
    struct strtab_slot *slots = xcalloc(cap, sizeof(*slots));
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].s)
            *find_slot(slots, cap, t->slots[i].s, t->slots[i].hash) = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
}

/* Copies len bytes of s plus a NUL into the arena; returns the copy. */
static const char *arena_copy(struct strtab *t, const char *s, size_t len)
{
    struct strtab_block *b = t->blocks;
    if (!b || b->size - b->used < len + 1) {
        size_t size = len + 1 > BLOCK_SIZE / 4 ? len + 1 : BLOCK_SIZE;
        b = xmalloc(sizeof(*b) + size);
        b->used = 0;
        b->size = size;
        if (size == BLOCK_SIZE || !t->blocks) {
            b->next = t->blocks;
            t->blocks = b;
        } else {
            /* A dedicated block for one large string goes behind the
             * current block, which keeps its free space. */
            b->next = t->blocks->next;
            t->blocks->next = b;
        }
    }
    char *copy = b->data + b->used;
    memcpy(copy, s, len);
    copy[len] = '\0';
    b->used += len + 1;
    return copy;
}

const char *strtab_find(const struct strtab *t, const char *s)
{
    if (t->count == 0)
        return NULL;
    return find_slot(t->slots, t->cap, s, hash_bytes(HASH_SEED, s, strlen(s)))->s;
}

const char *strtab_intern(struct strtab *t, const char *s)
{
    size_t len = strlen(s);
    uint64_t hash = hash_bytes(HASH_SEED, s, len);
    if (t->count + 1 > t->cap / 2)
        grow(t);
    struct strtab_slot *slot = find_slot(t->slots, t->cap, s, hash);
    if (!slot->s) {
        slot->s = arena_copy(t, s, len);
        slot->hash = hash;
        t->count++;
        t->bytes += len + 1;
    }
    return slot->s;
}
