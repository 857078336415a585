/*
 * test_blocked.c - steps that held an asyncio loop (collect/blocked.c): a
 * hand-made loop whose ready queue and thread are set per sample.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collect/blocked.h"
#include "collect/fold.h"
#include "profile/profile.h"
#include "python/tasks.h"

#define MS 1000000ull

static struct code_info codes[] = {
    {.serial = 301, .name = "burn", .qualname = "burn", .filename = "app.py"},
    {.serial = 302, .name = "_run_once", .qualname = "_run_once", .filename = "base_events.py"},
};

struct loop_world {
    struct py_runtime rt;
    struct walker w;
    struct py_thread thread;
    struct py_frame frames[2];
    struct task_reader tr;
    struct py_task task;
    struct py_frame chain[1];
    struct task_link links[1];
    struct profile *p;
    struct fold f;
    struct blocked b;
};

static void world_init(struct loop_world *lw)
{
    memset(lw, 0, sizeof(*lw));
    lw->rt.pid = getpid();
    lw->w.rt = &lw->rt;
    lw->w.threads = &lw->thread;
    lw->w.nthreads = 1;
    lw->frames[0] = (struct py_frame){.code = &codes[0], .frame_addr = 0x100, .line = 7};
    lw->frames[1] = (struct py_frame){.code = &codes[1], .frame_addr = 0x200, .line = 1900};
    lw->thread.frames = lw->frames;
    lw->thread.depth = 2;
    lw->chain[0] = lw->frames[0];
    lw->tr.found = 1;
    lw->tr.tasks = &lw->task;
    lw->tr.frames = lw->chain;
    lw->tr.links = lw->links;
    lw->tr.nframes = 1;
    lw->tr.nloops = 1;
    lw->task = (struct py_task){.nframes = 1, .running = 1, .awaited_by = -1, .awaits = -1};
    snprintf(lw->task.name, sizeof(lw->task.name), "blocker");
    lw->w.tasks = &lw->tr;
    lw->p = profile_new();
    struct fold_options o = {.async = 1};
    fold_init(&lw->f, lw->p, &o);
    blocked_init(&lw->b, 100 * MS);
}

static void world_release(struct loop_world *lw)
{
    blocked_release(&lw->b);
    fold_release(&lw->f);
    profile_free(lw->p);
}

/* One sample at ms: the loop's thread busy in a callback or not, and its
 * ready queue's length and mutation count. */
static void sample(struct loop_world *lw, uint64_t ms, int busy, uint64_t len, uint64_t state)
{
    lw->tr.ntasks = busy ? 1 : 0;
    lw->tr.loops[0] = (struct py_loop){.addr = 0x7000,
                                       .thread = 0,
                                       .running_task = busy ? 0 : -1,
                                       .busy = busy,
                                       .has_ready = 1,
                                       .ready_len = len,
                                       .ready_state = state};
    blocked_observe(&lw->b, &lw->f, &lw->w, ms * MS);
}

static void test_blocked_appends_do_not_end_a_step_a_pop_does(void **state)
{
    struct loop_world lw;
    world_init(&lw);
    sample(&lw, 0, 1, 0, 10);
    sample(&lw, 10, 1, 1, 11);  /* the callback scheduled another: an append */
    sample(&lw, 150, 1, 3, 13); /* two more */
    sample(&lw, 160, 1, 2, 15); /* a pop and an append: another callback runs */
    sample(&lw, 170, 0, 2, 15); /* the loop is waiting */
    blocked_finish(&lw.b);
    assert_int_equal(lw.b.slow, 1);
    assert_int_equal(lw.b.nsteps, 1);
    const struct blocked_step *s = &lw.b.steps[0];
    assert_int_equal(s->end_ns - s->start_ns, 150 * MS);
    assert_int_equal(s->samples, 3);
    assert_string_equal(s->task, "blocker");
    assert_string_equal(s->coro, "burn");
    assert_int_equal(s->depth, 2); /* the thread's stack, root first */
    assert_string_equal(profile_frame(lw.p, s->ids[0])->name, "_run_once");
    assert_string_equal(profile_frame(lw.p, s->ids[1])->name, "burn");
    world_release(&lw);
}

static void test_blocked_short_steps_are_not_kept_and_long_ones_come_first(void **state)
{
    struct loop_world lw;
    world_init(&lw);
    uint64_t st = 0;
    for (uint64_t t = 0; t < 500; t += 10, st += 2) /* a new callback every sample */
        sample(&lw, t, 1, 0, st);
    sample(&lw, 500, 1, 0, st);
    sample(&lw, 620, 1, 0, st); /* 120 ms */
    sample(&lw, 630, 1, 0, st += 2);
    sample(&lw, 900, 1, 0, st); /* 270 ms, still running at the end */
    blocked_finish(&lw.b);
    assert_int_equal(lw.b.slow, 2);
    assert_int_equal(lw.b.steps[0].end_ns - lw.b.steps[0].start_ns, 270 * MS);
    assert_int_equal(lw.b.steps[1].end_ns - lw.b.steps[1].start_ns, 120 * MS);
    world_release(&lw);
}

static void test_blocked_idle_loop_ends_a_step(void **state)
{
    struct loop_world lw;
    world_init(&lw);
    sample(&lw, 0, 1, 0, 4);
    sample(&lw, 50, 0, 0, 4); /* waiting in select: the callback returned */
    sample(&lw, 200, 1, 0, 4);
    sample(&lw, 250, 1, 0, 4);
    blocked_finish(&lw.b);
    assert_int_equal(lw.b.slow, 0);
    assert_int_equal(lw.b.watched, 4);
    world_release(&lw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_appends_do_not_end_a_step_a_pop_does),
        cmocka_unit_test(test_blocked_short_steps_are_not_kept_and_long_ones_come_first),
        cmocka_unit_test(test_blocked_idle_loop_ends_a_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
