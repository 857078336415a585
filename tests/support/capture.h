/*
 * capture.h - a walk captured to a file, to be walked again without the process.
 *
 * tools/walk_capture records every byte the walker reads from a live
 * interpreter (through a recording struct mem_reader) and writes it, with
 * what the walker needs besides memory (version, runtime addresses, layout
 * corrections, OS thread states), as a capture file. The walker fuzz harness
 * (fuzz/fuzz_walk.c) and the unit tests load such a file as a fake process
 * image and walk it: real memory, then mutated memory, with no process.
 *
 * The format (little-endian, fixed-width fields):
 *
 *   "SGCAPT1\n"
 *   u8 major, u8 minor, u8 fill, u8 flags, i32 pid
 *                                         (flags: CAPTURE_FREE_THREADED for a
 *                                          --disable-gil build's table)
 *   u64 runtime_addr, interp_head_addr, tstate_current_addr, code_type, frame_type
 *   i64 tid_offset                        (glibc struct pthread -> tid; -1 unknown)
 *   u32 npatches, then npatches x {u32 offset, u32 value}
 *                                         (struct py_layout words that differ from
 *                                          the table: 3.13+'s _Py_DebugOffsets)
 *   u32 nstates, then nstates x {i32 tid, u32 state}   ('R', 'S', ...)
 *   u32 nsegments, then nsegments x {u64 addr, u32 len, len bytes}
 *
 * fill says what a read that is not all inside one segment returns:
 * CAPTURE_FILL_FAULT (-SG_EFAULT, as an unmapped address), or the captured
 * bytes it covers with the rest CAPTURE_FILL_RANDOM (bytes that are a hash
 * of the address: "random memory around the snapshot") or CAPTURE_FILL_ZERO.
 * The parser is lenient so a fuzzer's mutations still
 * load: counts are capped and a truncated tail keeps what came before it.
 */
#ifndef SPYGLASS_PYTHON_CAPTURE_H
#define SPYGLASS_PYTHON_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "proc/mem.h"
#include "python/detect.h"

#define CAPTURE_MAGIC "SGCAPT1\n"
#define CAPTURE_MAX_PATCHES 512
#define CAPTURE_MAX_STATES 1024
#define CAPTURE_MAX_SEGMENTS 65536

/* Bits of the header's flags byte. */
#define CAPTURE_FREE_THREADED 1

enum capture_fill {
    CAPTURE_FILL_FAULT = 0,
    CAPTURE_FILL_RANDOM = 1,
    CAPTURE_FILL_ZERO = 2,
};

/* Records the successful reads made through it (while it is in use the
 * target should be stopped, so that the bytes agree with each other). */
struct capture_recorder {
    struct mem_reader *live;
    struct capture_read *reads;
    size_t nreads, reads_cap;
};

/* Makes *reader a reader that reads through live and remembers the bytes. */
void capture_recorder_init(struct capture_recorder *cr, struct mem_reader *live,
                           struct mem_reader *reader);
void capture_recorder_release(struct capture_recorder *cr);

/* Writes the capture file: the recorded memory, merged into segments, and
 * rt (its layout compared with the table). tids/states are the threads' OS
 * states (count of them). Returns 0 or -SG_EIO. */
int capture_write(struct capture_recorder *cr, const struct py_runtime *rt, int64_t tid_offset,
                  const pid_t *tids, const char *states, size_t count, FILE *out);

struct capture_segment {
    uint64_t addr;
    const uint8_t *data; /* into the parsed buffer */
    uint32_t len;
};

/* A parsed capture: points into the buffer given to capture_parse, which
 * must outlive it. */
struct capture_image {
    struct py_runtime rt; /* layout from the table with the patches applied */
    int64_t tid_offset;
    enum capture_fill fill;
    pid_t tids[CAPTURE_MAX_STATES];
    char states[CAPTURE_MAX_STATES];
    size_t nstates;
    struct capture_segment *segments; /* sorted by address */
    size_t nsegments;
    uint64_t bytes_read; /* by readers made with capture_reader_init */
};

/* Parses a capture file. Returns 0, or -SG_ECORRUPT if it is not one (bad
 * magic, truncated header, unknown version); a truncated or over-long tail
 * is cut, not refused. Release with capture_image_release. */
int capture_parse(const uint8_t *data, size_t size, struct capture_image *img);
void capture_image_release(struct capture_image *img);

/* Makes *reader read the image's memory (a batch of reads counts as one
 * call, as one process_vm_readv would). */
void capture_reader_init(struct capture_image *img, struct mem_reader *reader);

#endif
