/*
 * walk_capture.c - capture a real interpreter's walk to a file (tests/support/capture.h).
 *
 *   build/tools/walk_capture [--tasks] PID OUT
 *
 * Finds the runtime of PID (a Python process you started), stops it, walks
 * every thread twice (the second walk with warm caches, as in a recording)
 * with the HTTP request of each thread looked up (as --by-endpoint does), and
 * reads the locals of each thread's innermost frames, all through a
 * recording reader; lets it go; writes what was read as OUT. It prints what
 * it saw, including each endpoint ("endpoint: GET /w/slow"). The result is
 * the seed corpus of fuzz/fuzz_walk.c and the input of the capture unit
 * test: tools/walk_corpus.sh runs this against every interpreter. With
 * --tasks the walks also read every asyncio task, with names and waits as
 * `dump --tasks` does (python/tasks.h), and it prints how many.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "proc/mem.h"
#include "proc/pause.h"
#include "python/detect.h"
#include "python/endpoint.h"
#include "python/locals.h"
#include "python/tasks.h"
#include "python/walk.h"
#include "util/util.h"

/* Innermost frames per thread whose locals are read. */
#define LOCALS_FRAMES 3

static void ignore_local(const char *name, const char *repr, void *ctx)
{
    (void)name;
    (void)repr;
    (*(size_t *)ctx)++;
}

/* Walks twice and reads locals through w's (recording) reader. Returns 0 or
 * a negative SG_E* code; prints what it saw to stderr. */
static int walk_all(struct walker *w)
{
    int err = 0;
    for (int round = 0; round < 2 && !err; round++)
        err = walk_sample(w);
    if (err)
        return err;
    size_t frames = 0, locals = 0;
    for (size_t i = 0; i < w->nthreads; i++) {
        const struct py_thread *t = &w->threads[i];
        frames += t->depth;
        for (size_t d = 0; d < t->depth && d < LOCALS_FRAMES; d++)
            locals_read(w, &t->frames[d], ignore_local, &locals);
    }
    fprintf(stderr, "walk_capture: %zu threads, %zu frames, %zu locals\n", w->nthreads, frames,
            locals);
    for (size_t i = 0; i < w->nthreads; i++) {
        if (w->threads[i].endpoint[0])
            fprintf(stderr, "walk_capture: endpoint: %s\n", w->threads[i].endpoint);
    }
    if (w->tasks)
        fprintf(stderr, "walk_capture: tasks: %zu in %zu loops, %zu on deadlock cycles\n",
                w->tasks->ntasks, w->tasks->nloops, w->tasks->cycles);
    return 0;
}

int main(int argc, char **argv)
{
    int with_tasks = argc == 4 && strcmp(argv[1], "--tasks") == 0;
    argv += with_tasks;
    argc -= with_tasks;
    if (argc != 3) {
        fprintf(stderr, "usage: %s [--tasks] PID OUT\n", argv[0]);
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[1]);
    if (pid <= 1) {
        fprintf(stderr, "walk_capture: not a pid for a process of yours: %s\n", argv[1]);
        return 2;
    }
    struct mem_proc mp;
    struct mem_reader live, recording;
    struct py_runtime rt;
    char why[512];
    mem_proc_init(&mp, &live, pid);
    int err = detect_runtime(pid, &live, &rt, why, sizeof(why));
    if (err) {
        fprintf(stderr, "walk_capture: %s\n", why);
        return 1;
    }
    struct capture_recorder cr;
    capture_recorder_init(&cr, &live, &recording);
    struct walker w;
    struct endpoint_reader er;
    struct task_reader tr;
    walk_init(&w, &recording, &rt);
    endpoint_init(&er);
    tasks_init(&tr, 1);
    w.endpoints = &er;
    w.tasks = with_tasks ? &tr : NULL;
    struct pause_set ps;
    pause_init(&ps, pid);
    err = pause_all(&ps);
    /* The states the threads had before they were stopped (resuming forgets them). */
    size_t nstates = err ? 0 : ps.count;
    pid_t *tids = xcalloc(nstates + 1, sizeof(*tids));
    char *states = xcalloc(nstates + 1, 1);
    if (!err) {
        memcpy(tids, ps.tids, nstates * sizeof(*tids));
        memcpy(states, ps.states, nstates);
        w.state_tids = tids;
        w.states = states;
        w.nstates = nstates;
        err = walk_all(&w);
    }
    pause_resume(&ps);
    if (err) {
        fprintf(stderr, "walk_capture: process %d: %s\n", (int)pid, sg_strerror(err));
    } else {
        FILE *out = fopen(argv[2], "wb");
        err = out ? capture_write(&cr, &rt, w.tid_offset, tids, states, nstates, out) : -SG_EIO;
        if (out && fclose(out) != 0)
            err = -SG_EIO;
        if (err)
            fprintf(stderr, "walk_capture: cannot write %s: %s\n", argv[2], strerror(errno));
    }
    pause_release(&ps);
    free(tids);
    free(states);
    endpoint_release(&er);
    tasks_release(&tr);
    walk_release(&w);
    capture_recorder_release(&cr);
    mem_proc_release(&mp);
    return err ? 1 : 0;
}
