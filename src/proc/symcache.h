/*
 * symcache.h - the module and function names of code addresses in another
 * process, from libdwfl's symbol tables, cached.
 *
 * A profiler meets the same few hundred functions at ever new addresses (a
 * sampled pc can be anywhere in _PyEval_EvalFrameDefault), and libdwfl's
 * own lookup (dwfl_module_addrinfo) scans a module's whole symbol table per
 * call: 18 ms for the 170 frames of a depth-50 Python 3.8 stack. So each
 * module's functions are read once and sorted, and each address seen is
 * kept in a hash table. Names are C++-demangled (libstdc++'s __cxa_demangle,
 * loaded on first need: libdw has no demangler) and lose their symbol
 * version ("memcpy@@GLIBC_2.14" is "memcpy"). Memory: a hash entry per
 * address seen, 32 bytes per function of each module met.
 */
#ifndef SPYGLASS_PROC_SYMCACHE_H
#define SPYGLASS_PROC_SYMCACHE_H

#include <elfutils/libdwfl.h>
#include <stddef.h>
#include <stdint.h>

struct symcache;

/* What an address is. The strings belong to the cache: they stay valid
 * until symcache_clear or symcache_free. */
struct symcache_name {
    const char *module; /* basename of the module's file ("[vdso]"), or NULL if none */
    const char *symbol; /* function name, or NULL if no symbol covers the address */
    uint64_t start;     /* the function's first address, when symbol is set */
    uint64_t bias;      /* the module's load bias: address - bias is the address in its file */
};

struct symcache *symcache_new(void);
/* Frees the cache and every string it handed out; no-op on NULL. */
void symcache_free(struct symcache *c);

/* Forgets every address and module table: after the module list changed
 * (a module removed from dwfl takes its string table with it), or to bound
 * memory. Module basenames stay, so they remain valid. */
void symcache_clear(struct symcache *c);

/* Addresses held: the caller clears when this grows past its bound. */
size_t symcache_count(const struct symcache *c);

/* Lookups of addresses not seen before (since symcache_new). */
uint64_t symcache_misses(const struct symcache *c);

/* Fills *out with what addr is in dwfl's modules. addr is the address to
 * name: for a return address, subtract 1 first (a call can be the last
 * instruction of its function). Never fails: unknown parts are NULL. */
void symcache_lookup(struct symcache *c, Dwfl *dwfl, uint64_t addr, struct symcache_name *out);

#endif
