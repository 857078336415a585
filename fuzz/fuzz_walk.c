/*
 * fuzz_walk.c - libFuzzer harness for the stack walker over a fake process image.
 *
 * The input is a capture file (tests/support/capture.h): memory recorded while
 * walking a real interpreter (the seed corpus fuzz/corpus/walk/, one per
 * interpreter, made by tools/walk_corpus.sh), mutated. Its header says what
 * reads outside the recorded memory return (a fault, hashed random bytes, or
 * zeros), so the walker meets torn frames, lying pointers, cycles and
 * garbage in every field it reads, as it could from a target racing it.
 *
 * Per input it walks the image twice, as a recording does (the second time
 * with warm caches), with thread names and HTTP endpoints on, and reads the
 * locals of each thread's innermost frames. Besides the sanitizers' checks it
 * asserts what must hold for any input: the result is 0 or a negative SG_E*
 * code; at most WALK_MAX_THREADS threads of at most WALK_MAX_DEPTH frames;
 * every string NUL-terminated in its buffer; a walk makes at most
 * READS_BUDGET reads. libFuzzer's -timeout and -rss_limit_mb (fuzz/run.sh)
 * bound the time and memory of each input.
 *
 * Never touches a real process: the OS thread states come from the image,
 * and the glibc tid offset is never left unknown (which would list
 * /proc/PID/task).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "proc/mem.h"
#include "python/endpoint.h"
#include "python/locals.h"
#include "python/walk.h"

/* Innermost frames per thread whose locals are read. */
#define LOCALS_FRAMES 3
/* Reads one walk may make. Far above a real walk (a 50-frame stack costs
 * 12-66 reads; the corpus's 8 threads about 600 cold), far below what a
 * loop through the bounds would cost (1,024 threads x 4,096 frames). */
#define READS_BUDGET 200000

static void check_string(const char *s, size_t size)
{
    if (!memchr(s, '\0', size))
        abort();
}

static void check_local(const char *name, const char *repr, void *ctx)
{
    (void)ctx;
    if (!name || !repr)
        abort();
    check_string(repr, LOCALS_REPR_SIZE);
}

static void check_walk(struct walker *w, int err, uint64_t reads)
{
    if (err > 0 || err < -SG_ENOMEM)
        abort();
    if (reads > READS_BUDGET || w->nthreads > WALK_MAX_THREADS)
        abort();
    for (size_t i = 0; i < w->nthreads; i++) {
        const struct py_thread *t = &w->threads[i];
        if (t->depth > WALK_MAX_DEPTH || t->error > 0)
            abort();
        check_string(t->name, sizeof(t->name));
        check_string(t->endpoint, sizeof(t->endpoint));
        for (size_t d = 0; d < t->depth; d++) {
            const struct code_info *ci = t->frames[d].code;
            if (!ci || !ci->qualname || !ci->filename || !ci->name)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct capture_image img;
    if (capture_parse(data, size, &img))
        return 0;
    if (img.nstates == 0) { /* else the walker would read /proc for the states */
        img.tids[0] = -1;
        img.states[0] = '?';
        img.nstates = 1;
    }
    struct mem_reader reader;
    capture_reader_init(&img, &reader);
    struct walker w;
    struct endpoint_reader er;
    walk_init(&w, &reader, &img.rt);
    endpoint_init(&er);
    w.endpoints = &er;
    w.tid_offset = img.tid_offset >= 0 ? img.tid_offset % 4096 : 0;
    tid_map_no_proc(&w.tids, img.rt.pid);
    w.state_tids = img.tids;
    w.states = img.states;
    w.nstates = img.nstates;
    for (int round = 0; round < 2; round++) {
        uint64_t before = reader.reads;
        int err = walk_sample(&w);
        check_walk(&w, err, reader.reads - before);
    }
    for (size_t i = 0; i < w.nthreads; i++) {
        for (size_t d = 0; d < w.threads[i].depth && d < LOCALS_FRAMES; d++)
            locals_read(&w, &w.threads[i].frames[d], check_local, NULL);
    }
    endpoint_release(&er);
    walk_release(&w);
    capture_image_release(&img);
    return 0;
}
