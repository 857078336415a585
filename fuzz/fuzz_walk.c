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
 * with warm caches), with thread names, HTTP endpoints and asyncio tasks
 * (with names and waits, as dump --tasks reads them: python/tasks.h) on, and
 * reads the locals of each thread's innermost frames. Besides the sanitizers' checks it
 * asserts what must hold for any input: the result is 0 or a negative SG_E*
 * code; at most WALK_MAX_THREADS threads of at most WALK_MAX_DEPTH frames;
 * every string NUL-terminated in its buffer; every task's chain, children,
 * loop and awaiter inside the reader's arrays, and the awaiter chains and
 * leaf tests it offers finite; a walk makes at most READS_BUDGET reads. libFuzzer's -timeout and
 * -rss_limit_mb (fuzz/run.sh) bound the time and memory of each input.
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
#include "python/tasks.h"
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

static void check_tasks(const struct task_reader *tr)
{
    size_t order[TASKS_MAX_AWAITERS];
    if (tr->ntasks > TASKS_MAX || tr->nloops > TASKS_MAX_LOOPS)
        abort();
    for (size_t i = 0; i < tr->ntasks; i++) {
        const struct py_task *t = &tr->tasks[i];
        if (t->frame0 + t->nframes > tr->nframes || t->nframes > TASKS_MAX_CHAIN + 8 ||
            t->loop_index >= (int)tr->nloops || t->awaits >= (int64_t)tr->ntasks ||
            t->awaited_by >= (int64_t)tr->ntasks || t->child0 + t->nchildren > tr->nchildren)
            abort();
        check_string(t->name, sizeof(t->name));
        check_string(t->endpoint, sizeof(t->endpoint));
        for (size_t k = 0; k < t->nframes; k++) {
            const struct code_info *ci = tasks_frames(tr, i)[k].code;
            const char *q = tasks_qualname(tr, t->frame0 + k);
            if (!ci || !ci->qualname || !ci->filename || (q && !memchr(q, '\0', TASKS_NAME_MAX)))
                abort();
        }
        int64_t e;
        for (size_t k = 0; (e = tasks_edge(tr, i, k)) != -2; k++) {
            if (e < -1 || e >= (int64_t)tr->ntasks || k > tr->nchildren + 1)
                abort();
        }
        if (tasks_awaiters(tr, i, order, TASKS_MAX_AWAITERS) > TASKS_MAX_AWAITERS)
            abort();
        (void)tasks_is_leaf(tr, i);
        (void)tasks_wait_name(t->wait);
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
    struct task_reader tr;
    walk_init(&w, &reader, &img.rt);
    endpoint_init(&er);
    tasks_init(&tr, 1);
    w.endpoints = &er;
    w.tasks = &tr;
    w.tid_offset = img.tid_offset >= 0 ? img.tid_offset % 4096 : 0;
    tid_map_no_proc(&w.tids, img.rt.pid);
    w.state_tids = img.tids;
    w.states = img.states;
    w.nstates = img.nstates;
    for (int round = 0; round < 2; round++) {
        uint64_t before = reader.reads;
        int err = walk_sample(&w);
        check_walk(&w, err, reader.reads - before);
        check_tasks(&tr);
    }
    for (size_t i = 0; i < w.nthreads; i++) {
        for (size_t d = 0; d < w.threads[i].depth && d < LOCALS_FRAMES; d++)
            locals_read(&w, &w.threads[i].frames[d], check_local, NULL);
    }
    endpoint_release(&er);
    tasks_release(&tr);
    walk_release(&w);
    capture_image_release(&img);
    return 0;
}
