/*
 * blocked.h - callbacks that held an asyncio loop too long (record --async).
 *
 * asyncio's debug mode warns about a callback that runs longer than
 * loop.slow_callback_duration (0.1 s) without yielding. From outside, with
 * no restart, the same can be seen between samples: a loop runs callbacks
 * popped one at a time from its ready queue (loop._ready, a deque), and a
 * deque counts every change made to it (its `state`). Between two samples
 * that find the loop's thread inside a callback (Handle._run above
 * _run_once), the queue's changes are appends (its length grows) and pops;
 * if nothing was popped, the same callback has run all along:
 *
 *     pops = ((state now - state then) - (length now - length then)) / 2
 *
 * A run of such samples is one step of one task (or one plain callback); a
 * step seen for at least the threshold is kept with the task's name and the
 * stack of its last sample, and listed at the end. The time is that between
 * the first and the last sample that saw the step: the step took at least
 * that long (and less than one sampling interval more on each side).
 *
 * Loops that are not asyncio's BaseEventLoop (uvloop) have no _ready deque
 * and are not watched.
 */
#ifndef SPYGLASS_COLLECT_BLOCKED_H
#define SPYGLASS_COLLECT_BLOCKED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collect/fold.h"
#include "python/tasks.h"

/* Most slow steps kept (the longest win). */
#define BLOCKED_KEEP 64

struct blocked_step {
    pid_t pid;
    uint64_t loop;
    uint64_t start_ns, end_ns; /* the first and the last sample that saw it */
    uint64_t samples;
    char task[TASKS_NAME_MAX]; /* the task it was a step of: its name (3.8+) */
    char coro[TASKS_NAME_MAX]; /* ... and its outermost coroutine's function; both ""
                                  for a plain callback */
    uint32_t *ids;             /* the loop thread's stack at its last sample (profile
                                  frames, root first) */
    size_t depth;
};

struct blocked_loop {
    pid_t pid;
    uint64_t loop;
    uint64_t len, state; /* its ready queue at the last sample */
    int busy;            /* a callback ran at the last sample */
    int in_step;         /* step holds the step seen since */
    struct blocked_step step;
};

struct blocked {
    uint64_t threshold_ns;
    struct blocked_loop *loops;
    size_t nloops, loops_cap;
    struct blocked_step *steps; /* at most BLOCKED_KEEP, over the threshold */
    size_t nsteps;
    uint64_t slow;    /* steps over the threshold, all told */
    uint64_t watched; /* samples of a loop that could be watched */
};

void blocked_init(struct blocked *b, uint64_t threshold_ns);
void blocked_release(struct blocked *b);

/* Looks at the loops of the walk w (its tasks read: walker.tasks) at
 * now_ns; f folds the stack of a loop's thread for the record. */
void blocked_observe(struct blocked *b, struct fold *f, const struct walker *w, uint64_t now_ns);

/* Ends the steps still running (at the end of a recording), and sorts the
 * kept ones, longest first. */
void blocked_finish(struct blocked *b);

#endif
