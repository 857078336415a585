/*
 * blocked.c - callbacks that held an asyncio loop too long (collect/blocked.h).
 */
#include "collect/blocked.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void blocked_init(struct blocked *b, uint64_t threshold_ns)
{
    memset(b, 0, sizeof(*b));
    b->threshold_ns = threshold_ns;
    b->steps = xcalloc(BLOCKED_KEEP, sizeof(*b->steps));
}

void blocked_release(struct blocked *b)
{
    for (size_t i = 0; i < b->nloops; i++)
        free(b->loops[i].step.ids);
    for (size_t i = 0; i < b->nsteps; i++)
        free(b->steps[i].ids);
    free(b->loops);
    free(b->steps);
    memset(b, 0, sizeof(*b));
}

static struct blocked_loop *loop_of(struct blocked *b, pid_t pid, uint64_t loop)
{
    for (size_t i = 0; i < b->nloops; i++) {
        if (b->loops[i].pid == pid && b->loops[i].loop == loop)
            return &b->loops[i];
    }
    b->loops = xgrow(b->loops, sizeof(*b->loops), b->nloops + 1, &b->loops_cap);
    struct blocked_loop *l = &b->loops[b->nloops++];
    memset(l, 0, sizeof(*l));
    l->pid = pid;
    l->loop = loop;
    return l;
}

/* Keeps step (taking its stack) if it lasted the threshold: among the
 * BLOCKED_KEEP longest. */
static void close_step(struct blocked *b, struct blocked_loop *l)
{
    struct blocked_step *s = &l->step;
    l->in_step = 0;
    if (s->end_ns - s->start_ns < b->threshold_ns || s->samples < 2)
        return;
    b->slow++;
    size_t at = b->nsteps;
    if (b->nsteps == BLOCKED_KEEP) { /* replace the shortest, if shorter */
        at = 0;
        for (size_t i = 1; i < b->nsteps; i++) {
            if (b->steps[i].end_ns - b->steps[i].start_ns <
                b->steps[at].end_ns - b->steps[at].start_ns)
                at = i;
        }
        if (b->steps[at].end_ns - b->steps[at].start_ns >= s->end_ns - s->start_ns)
            return;
        free(b->steps[at].ids);
    } else {
        b->nsteps++;
    }
    b->steps[at] = *s;
    s->ids = NULL; /* now the kept step's */
    s->depth = 0;
}

/* Remembers the stack of the loop's thread (and the running task's name)
 * as the step's latest. */
static void note_stack(struct blocked_loop *l, struct fold *f, const struct walker *w,
                       const struct py_loop *loop)
{
    const struct task_reader *tr = w->tasks;
    const uint32_t *ids;
    size_t depth = fold_thread_frames(f, w, &w->threads[loop->thread], &ids);
    l->step.ids = xrealloc(l->step.ids, (depth ? depth : 1) * sizeof(*ids));
    memcpy(l->step.ids, ids, depth * sizeof(*ids));
    l->step.depth = depth;
    l->step.task[0] = l->step.coro[0] = '\0';
    if (loop->running_task >= 0) {
        const struct py_task *t = &tr->tasks[loop->running_task];
        strlcpy_safe(l->step.task, t->name, sizeof(l->step.task));
        if (t->nframes)
            strlcpy_safe(l->step.coro,
                         tasks_frames(tr, (size_t)loop->running_task)[0].code->qualname,
                         sizeof(l->step.coro));
    }
}

static void observe_loop(struct blocked *b, struct fold *f, const struct walker *w,
                         const struct py_loop *loop, uint64_t now_ns)
{
    struct blocked_loop *l = loop_of(b, w->rt->pid, loop->addr);
    int busy = loop->busy && loop->thread >= 0;
    /* Appends and pops both count in state; appends alone in len. */
    int64_t changes = (int64_t)(loop->ready_state - l->state);
    int64_t grown = (int64_t)(loop->ready_len - l->len);
    int same = l->busy && busy && changes - grown == 0;
    b->watched++;
    if (l->in_step && !same)
        close_step(b, l);
    if (busy && !l->in_step) {
        l->in_step = 1;
        l->step.pid = w->rt->pid;
        l->step.loop = loop->addr;
        l->step.start_ns = now_ns;
        l->step.samples = 0;
    }
    if (l->in_step) {
        l->step.end_ns = now_ns;
        l->step.samples++;
        note_stack(l, f, w, loop);
    }
    l->len = loop->ready_len;
    l->state = loop->ready_state;
    l->busy = busy;
}

void blocked_observe(struct blocked *b, struct fold *f, const struct walker *w, uint64_t now_ns)
{
    const struct task_reader *tr = w->tasks;
    if (!tr || !tr->found)
        return;
    for (size_t i = 0; i < tr->nloops; i++) {
        if (tr->loops[i].has_ready)
            observe_loop(b, f, w, &tr->loops[i], now_ns);
    }
}

static int longest_first(const void *pa, const void *pb)
{
    const struct blocked_step *x = pa, *y = pb;
    uint64_t dx = x->end_ns - x->start_ns, dy = y->end_ns - y->start_ns;
    if (dx != dy)
        return dx < dy ? 1 : -1;
    return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

void blocked_finish(struct blocked *b)
{
    for (size_t i = 0; i < b->nloops; i++) {
        if (b->loops[i].in_step)
            close_step(b, &b->loops[i]);
    }
    qsort(b->steps, b->nsteps, sizeof(*b->steps), longest_first);
}
