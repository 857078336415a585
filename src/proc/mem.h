/*
 * mem.h - reading another process's memory.
 *
 * Everything above proc/ reads target memory only through a struct
 * mem_reader: a read function plus its context. The live implementation uses
 * process_vm_readv (falling back to /proc/PID/mem); unit tests and fuzzers
 * plug in a snapshot or a hand-built fake. Nothing here ever writes to the
 * target.
 */
#ifndef SPYGLASS_PROC_MEM_H
#define SPYGLASS_PROC_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/* One read of a batch (mem_read_batch). */
struct mem_span {
    uint64_t addr;
    void *buf;
    size_t size;
    int err; /* set by the batch: 0, or a negative SG_E* code */
};

struct mem_reader {
    /* Reads size bytes at addr into buf; returns 0 or a negative SG_E* code. */
    int (*read)(void *ctx, uint64_t addr, void *buf, size_t size);
    /* Optional: reads every span, setting each one's err, in as few calls
     * to the target as it can; returns the calls made. NULL: one read each. */
    uint64_t (*read_batch)(void *ctx, struct mem_span *spans, size_t count);
    void *ctx;
    uint64_t reads; /* number of read calls made, for statistics */
};

/* A live process reader. */
struct mem_proc {
    pid_t pid;
    int mem_fd; /* /proc/PID/mem, opened lazily if process_vm_readv fails */
    int use_fd; /* process_vm_readv unavailable: always use mem_fd */
};

/* Prepares a reader for process pid. Does not touch the process. */
void mem_proc_init(struct mem_proc *mp, struct mem_reader *reader, pid_t pid);
void mem_proc_release(struct mem_proc *mp);

/* Reads target memory; returns 0 or a negative SG_E* code. */
static inline int mem_read(struct mem_reader *r, uint64_t addr, void *buf, size_t size)
{
    r->reads++;
    return r->read(r->ctx, addr, buf, size);
}

/* Reads count independent spans (one system call for many, where the
 * reader can), setting each span's err. */
void mem_read_batch(struct mem_reader *r, struct mem_span *spans, size_t count);

/* Reads one pointer-sized / fixed-size value. */
int mem_read_u64(struct mem_reader *r, uint64_t addr, uint64_t *out);
int mem_read_u32(struct mem_reader *r, uint64_t addr, uint32_t *out);
int mem_read_i32(struct mem_reader *r, uint64_t addr, int32_t *out);
int mem_read_u8(struct mem_reader *r, uint64_t addr, uint8_t *out);

/* Reads a NUL-terminated string of at most size-1 bytes into buf (always
 * terminated). Returns 0, or a negative code if nothing could be read. */
int mem_read_cstr(struct mem_reader *r, uint64_t addr, char *buf, size_t size);

/* A reader over a local buffer that pretends to live at base: for tests and
 * fuzzers. Reads outside [base, base+size) fail with -SG_EFAULT. */
struct mem_snapshot {
    uint64_t base;
    const uint8_t *data;
    size_t size;
};
void mem_snapshot_init(struct mem_snapshot *ms, struct mem_reader *reader, uint64_t base,
                       const uint8_t *data, size_t size);

#endif
