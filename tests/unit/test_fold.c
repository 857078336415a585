/*
 * test_fold.c - one walk's threads turned into profile stacks
 * (collect/fold.c): a hand-made walk in, the stacks handed over out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collect/fold.h"
#include "profile/profile.h"
#include "python/tasks.h"

/* Three functions: <module> at line 30 calls handler at 12, which calls
 * leaf at 5 (def lines 1, 10, 3). Serials are what the code cache gives. */
static struct code_info codes[] = {
    {.serial = 101, .name = "<module>", .qualname = "<module>", .filename = "app.py"},
    {.serial = 102, .name = "handler", .qualname = "App.handler", .filename = "app.py"},
    {.serial = 103, .name = "leaf", .qualname = "leaf", .filename = "lib.py"},
};

/* A walk with up to four threads over a fake runtime. */
struct walk {
    struct py_runtime rt;
    struct walker w;
    struct py_thread threads[4];
    struct py_frame frames[4][3];
};

/* Thread i runs the three functions (leaf first, as the walker lists them),
 * or none when depth is 0. */
static void add_thread(struct walk *wk, int idle, int gil, size_t depth, const char *name)
{
    size_t i = wk->w.nthreads++;
    struct py_thread *t = &wk->threads[i];
    static const int lines[3] = {5, 12, 30};
    codes[0].firstlineno = 1;
    codes[1].firstlineno = 10;
    codes[2].firstlineno = 3;
    memset(t, 0, sizeof(*t));
    t->ident = 0x1000 + i;
    t->tid = (pid_t)(4000 + i);
    t->idle = idle;
    t->holds_gil = gil;
    snprintf(t->name, sizeof(t->name), "%s", name);
    for (size_t d = 0; d < depth; d++)
        wk->frames[i][d] = (struct py_frame){.code = &codes[2 - d], .line = lines[d]};
    t->frames = wk->frames[i];
    t->depth = depth;
}

static void walk_setup(struct walk *wk)
{
    memset(wk, 0, sizeof(*wk));
    wk->rt.pid = getpid();
    wk->w.rt = &wk->rt;
    wk->w.threads = wk->threads;
}

/* What the callback saw: each stack as "name:line;name:line" root first. */
struct seen {
    char stacks[8][256];
    int idle[8];
    size_t nroots[8];
    size_t count;
    struct profile *p;
};

static void collect(const struct fold_stack *s, void *ctx)
{
    struct seen *seen = ctx;
    char *out = seen->stacks[seen->count];
    size_t pos = 0;
    for (size_t i = 0; i < s->depth; i++) {
        const struct profile_frame *pf = profile_frame(seen->p, s->ids[i]);
        assert_string_equal(pf->name, s->frames[i].name);
        pos += (size_t)snprintf(out + pos, 256 - pos, "%s%s:%d", i ? ";" : "", s->frames[i].name,
                                s->frames[i].line);
    }
    seen->idle[seen->count] = s->idle;
    seen->nroots[seen->count] = s->nroots;
    seen->count++;
}

static void test_fold_roots_first_leaf_last_with_an_idle_leaf(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 0, 1, 3, "MainThread");
    add_thread(&wk, 1, 0, 3, "worker");
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.idle = 1, .idle_leaf = 1};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    assert_int_equal(fold_walk(&f, &wk.w, collect, &seen), 2);
    assert_string_equal(seen.stacks[0], "<module>:30;App.handler:12;leaf:5");
    assert_string_equal(seen.stacks[1], "<module>:30;App.handler:12;leaf:5;(idle):0");
    assert_int_equal(seen.idle[1], 1);
    assert_int_equal(f.stats.kept, 2);
    fold_release(&f);
    profile_free(p);
}

static void test_fold_counts_what_it_drops(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 0, 1, 3, "holder");  /* kept */
    add_thread(&wk, 1, 0, 3, "sleeper"); /* idle: dropped */
    add_thread(&wk, 0, 0, 3, "spinner"); /* no GIL: dropped with --gil */
    add_thread(&wk, 0, 1, 0, "native");  /* no Python frame */
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.gil = 1};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    assert_int_equal(fold_walk(&f, &wk.w, collect, &seen), 1);
    assert_int_equal(f.stats.kept, 1);
    assert_int_equal(f.stats.gil_dropped, 2);
    assert_int_equal(f.stats.gil_dropped_active, 1); /* the spinner, not the sleeper */
    assert_int_equal(f.stats.empty, 1);
    fold_release(&f);
    profile_free(p);
    /* without --gil the sleeper is the one counted as idle */
    p = profile_new();
    struct fold_options o2 = {0};
    fold_init(&f, p, &o2);
    seen = (struct seen){.p = p};
    assert_int_equal(fold_walk(&f, &wk.w, collect, &seen), 2);
    assert_int_equal(f.stats.idle_dropped, 1);
    assert_int_equal(f.stats.empty, 1);
    fold_release(&f);
    profile_free(p);
}

static void test_fold_function_mode_and_thread_roots(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 0, 1, 3, "MainThread");
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.function = 1, .threads = 1};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    fold_walk(&f, &wk.w, collect, &seen);
    assert_string_equal(seen.stacks[0],
                        "thread \"MainThread\" (tid 4000):0;<module>:0;App.handler:0;leaf:0");
    assert_int_equal(seen.nroots[0], 1);
    fold_release(&f);
    profile_free(p);
}

static void test_fold_endpoint_and_process_roots(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 0, 1, 3, "w1");
    add_thread(&wk, 1, 0, 3, "w2");
    snprintf(wk.threads[0].endpoint, sizeof(wk.threads[0].endpoint), "GET /users/{n}");
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.by_endpoint = 1, .by_process = 1, .idle = 1};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    fold_walk(&f, &wk.w, collect, &seen);
    char process[64];
    snprintf(process, sizeof(process), "process %d (", (int)getpid());
    assert_int_equal(seen.nroots[0], 2);
    assert_true(strncmp(seen.stacks[0], "GET /users/{n}:0;", 17) == 0);
    assert_non_null(strstr(seen.stacks[0], process));
    assert_true(strncmp(seen.stacks[1], "(no request):0;", 15) == 0);
    /* the endpoint table counts the active and the waiting sample */
    assert_int_equal(f.roots.nendpoints, 2);
    assert_int_equal(f.roots.endpoints[0].active, 1);
    assert_int_equal(f.roots.endpoints[1].idle, 1);
    fold_release(&f);
    profile_free(p);
}

static void test_fold_same_frames_same_ids_across_walks(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 0, 1, 3, "MainThread");
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {0};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    fold_walk(&f, &wk.w, collect, &seen);
    size_t frames = profile_frame_count(p);
    fold_walk(&f, &wk.w, collect, &seen);
    assert_int_equal(profile_frame_count(p), frames);
    assert_string_equal(seen.stacks[0], seen.stacks[1]);
    fold_release(&f);
    profile_free(p);
}

static void test_fold_keep_empty_hands_over_threads_without_frames(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 1, 0, 0, "native");
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.idle = 1, .keep_empty = 1};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    assert_int_equal(fold_walk(&f, &wk.w, collect, &seen), 1);
    assert_string_equal(seen.stacks[0], "");
    assert_int_equal(f.stats.empty, 1);
    fold_release(&f);
    profile_free(p);
}

static void test_fold_first_lines_come_from_the_code(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 0, 1, 3, "MainThread");
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {0};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    fold_walk(&f, &wk.w, collect, &seen);
    assert_int_equal(f.frames[0].first_line, 1);
    assert_int_equal(f.frames[1].first_line, 10);
    assert_int_equal(f.frames[2].first_line, 3);
    fold_release(&f);
    profile_free(p);
}

static void test_fold_charge_goes_to_the_gil_holder(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 1, 0, 3, "sleeper");
    add_thread(&wk, 0, 1, 2, "holder");
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.idle_leaf = 1};
    fold_init(&f, p, &o);
    struct charge c;
    charge_init(&c, p);
    fold_charge_rss(&f, &wk.w, &c, 0, 1000);
    fold_charge_rss(&f, &wk.w, &c, 10, 5000);
    assert_int_equal(c.grown, 4000);
    assert_int_equal(c.by_rule[0], 1);
    /* the holder's stack (two frames, no idle leaf) carries the growth */
    int found = 0;
    for (uint32_t id = 0; id < profile_stack_count(p); id++) {
        size_t depth;
        uint64_t weight;
        profile_stack(p, id, &depth, &weight);
        if (weight == 4000) {
            assert_int_equal(depth, 2);
            found = 1;
        }
    }
    assert_true(found);
    fold_release(&f);
    profile_free(p);
}

/* A walk that failed (torn: the thread moved under two reads; or
 * unreadable) is left out and counted, whatever frames it had read. */
static void test_fold_leaves_out_torn_and_unreadable_stacks(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 0, 1, 3, "good");
    add_thread(&wk, 0, 0, 3, "torn");
    add_thread(&wk, 0, 0, 2, "cut");
    wk.threads[1].error = -SG_ECORRUPT;
    wk.threads[1].torn = 1;
    wk.threads[2].error = -SG_EFAULT;
    wk.threads[0].retried = 1; /* read twice, then fine: kept */
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.idle = 1};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    assert_int_equal(fold_walk(&f, &wk.w, collect, &seen), 1);
    assert_string_equal(seen.stacks[0], "<module>:30;App.handler:12;leaf:5");
    assert_int_equal(f.stats.threads, 3);
    assert_int_equal(f.stats.torn, 1);
    assert_int_equal(f.stats.unreadable, 1);
    assert_int_equal(f.stats.retried, 1);
    fold_release(&f);
    profile_free(p);
}

/* A thread whose OS state is unknown is never active: dropped (and
 * counted) without --idle, kept under its own leaf with it. */
static void test_fold_unknown_state_is_never_active(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 1, 0, 3, "unknown");
    wk.threads[0].unknown = 1; /* the walker sets idle with it */
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {0};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    assert_int_equal(fold_walk(&f, &wk.w, collect, &seen), 0);
    assert_int_equal(f.stats.unknown, 1);
    fold_release(&f);
    profile_free(p);
    p = profile_new();
    struct fold_options with_idle = {.idle = 1, .idle_leaf = 1};
    fold_init(&f, p, &with_idle);
    seen = (struct seen){.p = p};
    assert_int_equal(fold_walk(&f, &wk.w, collect, &seen), 1);
    assert_string_equal(seen.stacks[0], "<module>:30;App.handler:12;leaf:5;(unknown state):0");
    assert_int_equal(seen.idle[0], 1);
    assert_int_equal(f.stats.unknown, 1);
    fold_release(&f);
    profile_free(p);
}

struct deep_seen {
    size_t depth;
    char middle[64];
    char root[64], leaf[64];
};

static void collect_deep(const struct fold_stack *s, void *ctx)
{
    struct deep_seen *d = ctx;
    d->depth = s->depth;
    snprintf(d->root, sizeof(d->root), "%s", s->frames[0].name);
    snprintf(d->middle, sizeof(d->middle), "%s", s->frames[WALK_KEEP_OUTER].name);
    snprintf(d->leaf, sizeof(d->leaf), "%s", s->frames[s->depth - 1].name);
}

/* A stack deeper than the walker keeps: its outer and inner frames with
 * one "(N frames omitted)" frame between them, and counted. */
static void test_fold_deep_stack_gets_one_omitted_frame(void **state)
{
    struct walk wk;
    walk_setup(&wk);
    add_thread(&wk, 0, 1, 0, "deep");
    struct py_thread *t = &wk.threads[0];
    struct py_frame *frames = calloc(WALK_MAX_DEPTH, sizeof(*frames));
    for (size_t d = 0; d < WALK_MAX_DEPTH; d++) /* leaf, handler x ..., <module> */
        frames[d] = (struct py_frame){.code = &codes[d == 0                    ? 2
                                                     : d + 1 == WALK_MAX_DEPTH ? 0
                                                                               : 1],
                                      .line = 7};
    t->frames = frames;
    t->depth = WALK_MAX_DEPTH;
    t->omitted = 15909;
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {0};
    fold_init(&f, p, &o);
    struct deep_seen seen = {0};
    assert_int_equal(fold_walk(&f, &wk.w, collect_deep, &seen), 1);
    assert_int_equal(seen.depth, WALK_MAX_DEPTH + 1);
    assert_string_equal(seen.root, "<module>");
    assert_string_equal(seen.middle, "(15909 frames omitted)");
    assert_string_equal(seen.leaf, "leaf");
    assert_int_equal(f.stats.deep, 1);
    assert_int_equal(f.stats.deepest, WALK_MAX_DEPTH + 15909);
    fold_release(&f);
    profile_free(p);
    free(frames);
}

/* --async: a loop on the main thread runs "runner" (a child of "parent"'s
 * gather) while "waiter", the other child, sleeps. */
static struct code_info loop_codes[] = {
    {.serial = 201, .name = "_run_once", .qualname = "_run_once", .filename = "base_events.py"},
    {.serial = 202, .name = "_run", .qualname = "Handle._run", .filename = "events.py"},
    {.serial = 203, .name = "parent", .qualname = "parent", .filename = "app.py"},
    {.serial = 204, .name = "child", .qualname = "child", .filename = "app.py"},
    {.serial = 205, .name = "sleep", .qualname = "sleep", .filename = "tasks.py"},
};

struct async_walk {
    struct walk wk;
    struct task_reader tr;
    struct py_task tasks[3];
    struct py_frame chains[4];
    struct task_link links[4];
    int64_t children[2];
};

static void async_setup(struct async_walk *a)
{
    walk_setup(&a->wk);
    add_thread(&a->wk, 0, 1, 0, "MainThread");
    struct py_frame *f = a->wk.frames[0]; /* leaf first */
    f[0] = (struct py_frame){.code = &loop_codes[3], .frame_addr = 0xc2, .line = 40};
    f[1] = (struct py_frame){.code = &loop_codes[1], .frame_addr = 0x10, .line = 80};
    f[2] = (struct py_frame){.code = &loop_codes[0], .frame_addr = 0x20, .line = 1900};
    a->wk.threads[0].depth = 3;
    memset(&a->tr, 0, sizeof(a->tr));
    a->tr.found = 1;
    a->tr.tasks = a->tasks;
    a->tr.ntasks = 3;
    a->tr.frames = a->chains;
    a->tr.links = a->links;
    a->tr.nframes = 4;
    a->tr.children = a->children;
    a->tr.nchildren = 2;
    a->tr.nloops = 1;
    a->tr.loops[0] = (struct py_loop){.thread = 0, .running_task = 2, .base_depth = 1};
    a->chains[0] = (struct py_frame){.code = &loop_codes[2], .frame_addr = 0xa0, .line = 20};
    a->chains[1] = (struct py_frame){.code = &loop_codes[3], .frame_addr = 0xc1, .line = 41};
    a->chains[2] = (struct py_frame){.code = &loop_codes[4], .frame_addr = 0xd0, .line = 649};
    a->chains[3] = (struct py_frame){.code = &loop_codes[3], .frame_addr = 0xc2, .line = 40};
    a->children[0] = 1;
    a->children[1] = 2;
    memset(a->tasks, 0, sizeof(a->tasks));
    a->tasks[0] = (struct py_task){.frame0 = 0,
                                   .nframes = 1,
                                   .wait = TASK_WAIT_GATHER,
                                   .child0 = 0,
                                   .nchildren = 2,
                                   .awaited_by = -1,
                                   .fronted = 2,
                                   .awaits = -1};
    a->tasks[1] = (struct py_task){
        .frame0 = 1, .nframes = 2, .wait = TASK_WAIT_SLEEP, .awaited_by = 0, .awaits = -1};
    a->tasks[2] = (struct py_task){
        .frame0 = 3, .nframes = 1, .running = 1, .thread = 0, .awaited_by = 0, .awaits = -1};
    a->wk.w.tasks = &a->tr;
}

static void test_fold_async_waiting_task_rooted_at_its_loop_running_one_joined(void **state)
{
    struct async_walk a;
    async_setup(&a);
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.idle = 1, .idle_leaf = 1, .async = 1};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    assert_int_equal(fold_walk(&f, &a.wk.w, collect, &seen), 2);
    /* The thread runs "runner": its gather's owner goes before it. */
    assert_string_equal(seen.stacks[0], "_run_once:1900;Handle._run:80;parent:20;child:40");
    assert_int_equal(seen.idle[0], 0);
    /* "waiter" hangs off the loop's _run_once, under the same owner; the
     * owner, waiting on tasks, has no stack of its own. */
    assert_string_equal(seen.stacks[1], "_run_once:1900;parent:20;child:41;sleep:649;(idle):0");
    assert_int_equal(seen.idle[1], 1);
    assert_int_equal(f.stats.tasks, 1);
    assert_int_equal(f.stats.tasks_joined, 1);
    fold_release(&f);
    profile_free(p);
    /* Without --idle the waiting task is counted out, like a sleeping thread. */
    p = profile_new();
    struct fold_options o2 = {.async = 1};
    fold_init(&f, p, &o2);
    seen = (struct seen){.p = p};
    assert_int_equal(fold_walk(&f, &a.wk.w, collect, &seen), 1);
    assert_int_equal(f.stats.idle_dropped, 1);
    fold_release(&f);
    profile_free(p);
}

static void test_fold_async_deadlock_pair_each_a_stack(void **state)
{
    struct async_walk a;
    async_setup(&a);
    /* parent and waiter await each other; nothing runs. */
    a.tasks[2].running = 0;
    a.tasks[2].awaited_by = -1;
    a.tasks[0] = (struct py_task){.frame0 = 0,
                                  .nframes = 1,
                                  .wait = TASK_WAIT_TASK,
                                  .awaits = 1,
                                  .awaited_by = 1,
                                  .fronted = 1,
                                  .cycle = 1};
    a.tasks[1] = (struct py_task){.frame0 = 1,
                                  .nframes = 2,
                                  .wait = TASK_WAIT_TASK,
                                  .awaits = 0,
                                  .awaited_by = 0,
                                  .fronted = 1,
                                  .cycle = 1};
    a.tr.ntasks = 2;
    a.tr.loops[0].running_task = -1;
    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.idle = 1, .idle_leaf = 1, .async = 1};
    fold_init(&f, p, &o);
    struct seen seen = {.p = p};
    assert_int_equal(fold_walk(&f, &a.wk.w, collect, &seen), 3);
    assert_string_equal(seen.stacks[1], "_run_once:1900;child:41;sleep:649;parent:20;(idle):0");
    assert_string_equal(seen.stacks[2], "_run_once:1900;parent:20;child:41;sleep:649;(idle):0");
    fold_release(&f);
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_roots_first_leaf_last_with_an_idle_leaf),
        cmocka_unit_test(test_fold_counts_what_it_drops),
        cmocka_unit_test(test_fold_function_mode_and_thread_roots),
        cmocka_unit_test(test_fold_endpoint_and_process_roots),
        cmocka_unit_test(test_fold_same_frames_same_ids_across_walks),
        cmocka_unit_test(test_fold_keep_empty_hands_over_threads_without_frames),
        cmocka_unit_test(test_fold_first_lines_come_from_the_code),
        cmocka_unit_test(test_fold_charge_goes_to_the_gil_holder),
        cmocka_unit_test(test_fold_leaves_out_torn_and_unreadable_stacks),
        cmocka_unit_test(test_fold_unknown_state_is_never_active),
        cmocka_unit_test(test_fold_deep_stack_gets_one_omitted_frame),
        cmocka_unit_test(test_fold_async_waiting_task_rooted_at_its_loop_running_one_joined),
        cmocka_unit_test(test_fold_async_deadlock_pair_each_a_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
