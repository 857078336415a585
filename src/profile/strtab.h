/*
 * strtab.h - a string interning table.
 *
 * Each distinct string is stored once, in large arena blocks, and lives until
 * the table is released; interning a string already present allocates
 * nothing. The profile uses one table for every name and file name, so equal
 * strings have equal pointers and frames compare by pointer.
 */
#ifndef SPYGLASS_STRTAB_H
#define SPYGLASS_STRTAB_H

#include <stddef.h>
#include <stdint.h>

struct strtab {
    struct strtab_slot *slots; /* open addressing, power-of-two capacity */
    size_t cap, count;
    size_t bytes;                /* of the distinct strings, with their NULs */
    struct strtab_block *blocks; /* arena blocks holding the string bytes */
};

void strtab_init(struct strtab *t);
/* Frees every interned string; pointers returned earlier become invalid. */
void strtab_release(struct strtab *t);

/* Returns the interned copy of s (adding it if new); never NULL. */
const char *strtab_intern(struct strtab *t, const char *s);
/* Returns the interned copy of s, or NULL if s was never interned; adds nothing. */
const char *strtab_find(const struct strtab *t, const char *s);
/* The number of distinct strings interned. */
size_t strtab_count(const struct strtab *t);
/* Their bytes, NULs included. */
size_t strtab_bytes(const struct strtab *t);

#endif
