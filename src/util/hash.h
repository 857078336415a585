/*
 * hash.h - one hash function family and one hash index for the whole program.
 *
 * Strings hash with 64-bit FNV-1a (hash_str, hash_bytes: simple, and good
 * enough for identifier-like keys); numbers and pointers with splitmix64's
 * finaliser (hash_mix), which spreads every input bit over the whole word.
 *
 * struct hash_index is the open-addressing index the program's tables are
 * built on: records live in the caller's dense array, in insertion order (so
 * iterating them is deterministic), and the index maps a key to a record's
 * position. Its slots hold id + 1, 0 marking an empty one; linear probing;
 * the load factor stays at or under 1/2. The caller says how to hash a
 * stored id and how to compare one with a key it is looking for.
 */
#ifndef SPYGLASS_UTIL_HASH_H
#define SPYGLASS_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a's offset basis: the h to start hash_bytes / hash_str with. */
#define HASH_SEED 0xcbf29ce484222325ull

/* Folds len bytes at data into h (FNV-1a). */
static inline uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Folds the NUL-terminated string s into h (FNV-1a). */
static inline uint64_t hash_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

/* splitmix64's finaliser: a well-spread hash of a number or pointer. */
static inline uint64_t hash_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

struct hash_index {
    uint32_t *slots; /* id + 1; 0: empty */
    size_t cap;      /* 0 or a power of two */
};

/* The hash of the record stored as id (for rehashing). */
typedef uint64_t (*hash_of_fn)(const void *ctx, uint32_t id);
/* Whether the record stored as id has the key being looked for. */
typedef int (*hash_same_fn)(const void *ctx, uint32_t id, const void *key);

/* Returns the slot for key: the one holding its id + 1, or the empty slot
 * where it belongs (store id + 1 there to add it). The index must have room
 * (hash_index_reserve). */
uint32_t *hash_index_find(const struct hash_index *ix, uint64_t hash, hash_same_fn same,
                          const void *ctx, const void *key);

/* Makes room for one more than count ids, rehashing the ids 0..count with
 * hash_of when the load factor would pass 1/2. Returns 1 if it rehashed. */
int hash_index_reserve(struct hash_index *ix, size_t count, hash_of_fn hash_of, const void *ctx);

/* Rebuilds the index over ids 0..count (after the records were compacted),
 * keeping its capacity unless it must grow. */
void hash_index_rebuild(struct hash_index *ix, size_t count, hash_of_fn hash_of, const void *ctx);

/* Empties the index, keeping its capacity. */
void hash_index_clear(struct hash_index *ix);

void hash_index_release(struct hash_index *ix);

#endif
