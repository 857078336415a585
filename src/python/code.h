/*
 * code.h - decoded code objects, cached by address.
 *
 * A code object never changes once created, but its memory can be freed and
 * reused for another one. Each lookup re-reads the object's fixed header (one
 * read) and checks that the name, file name and first line still match the
 * cached entry; a mismatch evicts and re-decodes.
 */
#ifndef SPYGLASS_PYTHON_CODE_H
#define SPYGLASS_PYTHON_CODE_H

#include <stddef.h>
#include <stdint.h>

#include "proc/mem.h"
#include "python/layout.h"

#define CODE_LINE_MEMO 4

struct code_info {
    uint64_t addr;
    uint64_t serial; /* unique per decoded object: a safe cache key for callers */
    char *name;      /* co_name (UTF-8) */
    char *qualname;  /* co_qualname on 3.11+, else co_name */
    char *filename;  /* co_filename (UTF-8) */
    int firstlineno;
    uint8_t *linetable; /* co_lnotab / co_linetable bytes */
    size_t linetable_len;
    uint64_t name_ptr, filename_ptr, linetable_ptr; /* for validation */
    uint64_t varnames; /* tuple of local names: co_varnames / co_localsplusnames */
    uint64_t kinds;    /* 3.11+: co_localspluskinds bytes object */
    int nlocals;       /* locals to show: co_nlocals (<= 3.10) or co_nlocalsplus (3.11+) */
    int argcount;
    /* The last CODE_LINE_MEMO (offset -> line) lookups: a function on the
     * stack sits at a few offsets (a recursion's calls, a loop's lines), and
     * decoding the line table for each frame of each sample costs more than
     * all the rest of the frame. */
    int memo_offset[CODE_LINE_MEMO], memo_line[CODE_LINE_MEMO];
    unsigned memo_next; /* the entry replaced next */
    uint64_t epoch;     /* the cache epoch in which it was last checked */
    /* Free-threaded 3.14+: the last thread-local bytecode copy looked up
     * (valid for the epoch it was read in: copies can be freed). */
    uint64_t tlbc_epoch, tlbc_base;
    int32_t tlbc_index;
};

struct code_cache {
    struct code_info **slots; /* open addressing by address */
    size_t cap;               /* power of two */
    size_t count;
    size_t bytes; /* held by the entries: names, file names, line tables */
    uint64_t hits, misses, evictions;
    uint64_t next_serial;
    uint64_t epoch; /* code_cache_trim starts a new one, once per sample */
    /* While set, a cached entry not yet checked in this epoch is trusted
     * and queued instead of read; code_cache_verify checks the queue in one
     * batch. */
    int defer;
    struct code_info **pending;
    size_t npending, pending_cap;
    uint64_t deferred, stale; /* entries checked in batches; found changed */
    uint64_t generation;      /* changes whenever an entry is freed (a trim, an
                                 eviction): entries held since are valid while
                                 it stays */
};

void code_cache_init(struct code_cache *cc);
void code_cache_release(struct code_cache *cc);
/* Starts a new epoch: an entry is checked against the target (one read of
 * the code object's header) at most once per epoch, since within one sample
 * an address seen twice is the same object. Also empties the cache if it
 * holds more than CODE_CACHE_MAX entries or CODE_CACHE_MAX_BYTES (a program
 * that keeps creating code objects, or huge ones, must not grow us without
 * bound). Call only between samples: it frees entries that frames may point at. */
void code_cache_trim(struct code_cache *cc);

#define CODE_CACHE_MAX 65536
/* A line table may be 4 MiB and a name 1 KiB: entries are also capped in bytes. */
#define CODE_CACHE_MAX_BYTES ((size_t)64 << 20)

/* Returns the decoded code object at addr in *out (owned by the cache, valid
 * until the next lookup that evicts it). Returns 0 or a negative SG_E* code;
 * -SG_ECORRUPT if the object does not look like a code object. code_type, if
 * non-zero, is &PyCode_Type and is checked. */
int code_cache_get(struct code_cache *cc, struct mem_reader *r, const struct py_layout *l,
                   uint64_t code_type, uint64_t addr, struct code_info **out);

/* Queues ci, an entry got from cc while cc->generation was what it is now,
 * for code_cache_verify, as code_cache_get does with a cached entry while
 * cc->defer is set: for a caller that kept the entries of an earlier
 * sample (a thread whose stack did not change). */
void code_cache_keep(struct code_cache *cc, struct code_info *ci);

/* Checks every entry code_cache_get trusted while cc->defer was set: one
 * batched read of their headers. An entry whose object is gone or changed is
 * marked unchecked, so the next lookup reads it again. Returns how many
 * failed the check (0: everything handed out this epoch was right). */
size_t code_cache_verify(struct code_cache *cc, struct mem_reader *r, const struct py_layout *l,
                         uint64_t code_type);

/* Most thread-local bytecode copies we believe a code object has. */
#define CODE_TLBC_MAX 4096

/* Sets *base to where the bytecode a frame of ci runs starts, which its
 * instruction pointer is relative to: co_code_adaptive inside the code
 * object, or on a free-threaded 3.14+ build a thread's own copy
 * (co_tlbc->entries[tlbc_index], for tlbc_index > 0; read at most once per
 * sample and code object). Returns 0 or a negative SG_E* code. */
int code_bytecode(struct code_cache *cc, struct mem_reader *r, const struct py_layout *l,
                  struct code_info *ci, int32_t tlbc_index, uint64_t *base);

/* Returns the line of the instruction at byte offset `offset` into the
 * bytecode (negative: not started yet, gives the first line). */
int code_line(struct code_info *ci, const struct py_layout *l, int64_t offset);

#endif
