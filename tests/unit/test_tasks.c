/*
 * test_tasks.c - asyncio tasks read from real captured interpreters.
 *
 * fuzz/corpus/walk/tasks-VERSION[-pure].capt are captures (tests/support/capture.h)
 * taken by tools/walk_corpus.sh of tests/targets/tasks_tree.py with 8
 * gathered workers and two loops, with the C and the pure-Python Task, on
 * every interpreter 3.6+. Reading them must give that target's tree (tasks
 * told apart by their outermost coroutine, which every version has), with
 * no process; and a capture edited into a cycle of coroutines or with a
 * task's type overwritten must give a bounded chain and a task left out,
 * not a hang or a crash.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "python/tasks.h"
#include "python/walk.h"
#include "util/util.h"

#define CORPUS "fuzz/corpus/walk"
#define WORKERS 8
#define TG_CHILDREN 20

struct loaded {
    uint8_t *data;
    size_t size;
    struct capture_image img;
    struct mem_reader reader;
    struct walker w;
    struct task_reader tr;
};

static void load(const char *path, struct loaded *c)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    c->size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    c->data = xmalloc(c->size);
    assert_int_equal(fread(c->data, 1, c->size, f), c->size);
    fclose(f);
    assert_int_equal(capture_parse(c->data, c->size, &c->img), 0);
    assert_true(c->img.nstates >= 1);
    capture_reader_init(&c->img, &c->reader);
    walk_init(&c->w, &c->reader, &c->img.rt);
    c->w.tid_offset = c->img.tid_offset;
    c->w.state_tids = c->img.tids;
    c->w.states = c->img.states;
    c->w.nstates = c->img.nstates;
    tasks_init(&c->tr, 1);
    c->w.tasks = &c->tr;
}

static void unload(struct loaded *c)
{
    tasks_release(&c->tr);
    walk_release(&c->w);
    capture_image_release(&c->img);
    free(c->data);
}

static void each_capture(void (*check)(struct loaded *c))
{
    DIR *d = opendir(CORPUS);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "tasks-", 6) != 0 || !str_endswith(e->d_name, ".capt"))
            continue;
        char path[512];
        struct loaded c;
        snprintf(path, sizeof(path), "%s/%s", CORPUS, e->d_name);
        load(path, &c);
        print_message("%s: Python %s\n", path, c.img.rt.version);
        check(&c);
        unload(&c);
        n++;
    }
    closedir(d);
    assert_true(n >= 1);
}

/* The outermost coroutine's function of task i. */
static const char *outer(const struct task_reader *tr, size_t i)
{
    return tr->tasks[i].nframes ? tasks_frames(tr, i)[0].code->name : "";
}

/* The tasks whose outermost coroutine is function, in *first (the first). */
static size_t find(const struct task_reader *tr, const char *function, size_t *first)
{
    size_t n = 0;
    for (size_t i = 0; i < tr->ntasks; i++) {
        if (strcmp(outer(tr, i), function) == 0 && n++ == 0)
            *first = i;
    }
    return n;
}

static void expect_wait(const struct task_reader *tr, const char *function, int wait)
{
    size_t i = 0;
    assert_true(find(tr, function, &i) >= 1);

    if (tr->tasks[i].wait != wait)
        fail_msg("%s waits on %s, not %s", function, tasks_wait_name(tr->tasks[i].wait),
                 tasks_wait_name(wait));
}

/* The children of task i, all tasks whose outermost coroutine is function. */
static void expect_children(const struct task_reader *tr, size_t i, size_t count,
                            const char *function)
{
    assert_int_equal(tr->tasks[i].nchildren, count);
    for (size_t k = 0; k < count; k++) {
        int64_t child = tr->children[tr->tasks[i].child0 + k];
        assert_true(child >= 0);
        assert_string_equal(outer(tr, (size_t)child), function);
    }
}

static void check_tree(struct loaded *c)
{
    const struct task_reader *tr = &c->tr;
    size_t i = 0, j = 0;
    assert_int_equal(walk_sample(&c->w), 0);
    assert_true(tr->found);
    assert_int_equal(tr->ntasks, 1 + 1 + WORKERS + 1 + TG_CHILDREN + 15 + 5);
    assert_int_equal(tr->nloops, 2);
    for (size_t k = 0; k < tr->nloops; k++)
        assert_true(tr->loops[k].thread >= 0);
    /* gather: its workers, each awaiting asyncio.sleep with a due time. */
    assert_int_equal(find(tr, "gather_owner", &i), 1);
    assert_int_equal(tr->tasks[i].wait, TASK_WAIT_GATHER);
    expect_children(tr, i, WORKERS, "worker");
    for (size_t k = 0; k < tr->tasks[i].nchildren; k++) {
        const struct py_task *w = &tr->tasks[tr->children[tr->tasks[i].child0 + k]];
        assert_int_equal(w->wait, TASK_WAIT_SLEEP);
        assert_true(w->has_when && w->when > 0);
        assert_true(w->awaited_by >= 0);
    }
    /* TaskGroup (3.11+) or asyncio.wait before. */
    assert_int_equal(find(tr, "tg_owner", &i), 1);
    assert_int_equal(tr->tasks[i].wait,
                     c->img.rt.minor >= 11 ? TASK_WAIT_TASKGROUP : TASK_WAIT_WAIT);
    expect_children(tr, i, TG_CHILDREN, "tg_child");
    /* A task awaiting a task, and the deadlock pair. */
    assert_int_equal(find(tr, "task_awaiter", &i), 1);
    assert_int_equal(tr->tasks[i].wait, TASK_WAIT_TASK);
    assert_string_equal(outer(tr, (size_t)tr->tasks[i].awaits), "worker");
    assert_int_equal(find(tr, "deadlock", &i), 2);
    assert_int_equal(tr->cycles, 2);
    assert_true(tr->tasks[i].cycle);
    j = (size_t)tr->tasks[i].awaits;
    assert_int_equal((size_t)tr->tasks[j].awaits, i);
    assert_true(tasks_is_leaf(tr, i) && tasks_is_leaf(tr, j));
    /* Waits named by the innermost coroutine. */
    expect_wait(tr, "lock_waiter", TASK_WAIT_LOCK);
    expect_wait(tr, "event_waiter", TASK_WAIT_EVENT);
    expect_wait(tr, "cond_waiter", TASK_WAIT_CONDITION);
    expect_wait(tr, "sem_waiter", TASK_WAIT_SEMAPHORE);
    expect_wait(tr, "queue_consumer", TASK_WAIT_QUEUE);
    expect_wait(tr, "future_waiter", TASK_WAIT_FUTURE);
    expect_wait(tr, "sock_reader", TASK_WAIT_SOCKET);
    expect_wait(tr, "stream_reader", TASK_WAIT_STREAM);
    expect_wait(tr, "nested_1", TASK_WAIT_SLEEP);
    assert_int_equal(find(tr, "queue_consumer", &i), 2); /* one per loop */
    /* The nested chain, outermost first, down to asyncio.sleep. */
    assert_int_equal(find(tr, "nested_1", &i), 1);
    assert_int_equal(tr->tasks[i].nframes, 4);
    assert_string_equal(tasks_frames(tr, i)[2].code->name, "nested_3");
    assert_string_equal(tasks_frames(tr, i)[3].code->name, "sleep");
    /* Tasks waiting on tasks have their chain in front of the others'. */
    assert_int_equal(find(tr, "gather_owner", &i), 1);
    assert_false(tasks_is_leaf(tr, i));
}

static void test_tasks_capture_gives_the_tree(void **state)
{
    (void)state;
    each_capture(check_tree);
}

/* Overwrites the 8 bytes at addr in the image (they must have been captured). */
static int poke(struct loaded *c, uint64_t addr, uint64_t value)
{
    for (size_t i = 0; i < c->img.nsegments; i++) {
        struct capture_segment *s = &c->img.segments[i];
        if (addr >= s->addr && addr + 8 <= s->addr + s->len) {
            memcpy((uint8_t *)s->data + (addr - s->addr), &value, 8);
            return 1;
        }
    }
    return 0;
}

/* nested_3's frame awaits asyncio.sleep's coroutine: made to await nested_1
 * instead, the chain is a cycle, cut at the chain bound. */
static void check_chain_cycle_cut(struct loaded *c)
{
    const struct task_reader *tr = &c->tr;
    size_t i = 0;
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(find(tr, "nested_1", &i), 1);
    size_t base = tr->tasks[i].frame0;
    uint64_t frame = tr->frames[base + 2].frame_addr, sleep = tr->links[base + 3].gen;
    int poked = 0;
    for (uint64_t k = 0; k < 128 && !poked; k++) { /* the value stack, as captured */
        uint64_t word;
        if (mem_read(&c->reader, frame + 8 * k, &word, 8) == 0 && word == sleep)
            poked = poke(c, frame + 8 * k, tr->links[base].gen);
    }
    assert_true(poked);
    uint64_t reads = c->reader.reads;
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(find(tr, "nested_1", &i), 1);
    assert_true(tr->tasks[i].nframes > 4);
    assert_true(tr->tasks[i].nframes <= TASKS_MAX_CHAIN + 8);
    assert_true(c->reader.reads - reads < 20000);
}

static void test_tasks_chain_cycle_is_cut(void **state)
{
    (void)state;
    each_capture(check_chain_cycle_cut);
}

/* A task whose type no longer reads as a Task is left out and counted. */
static void check_torn_task_left_out(struct loaded *c)
{
    const struct task_reader *tr = &c->tr;
    assert_int_equal(walk_sample(&c->w), 0);
    size_t before = tr->ntasks;
    uint64_t torn = tr->torn;
    assert_true(poke(c, tr->tasks[0].addr + c->img.rt.layout.object.ob_type, tr->tasks[0].addr));
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(tr->ntasks, before - 1);
    assert_true(tr->torn > torn);
}

static void test_tasks_torn_task_is_left_out(void **state)
{
    (void)state;
    each_capture(check_torn_task_left_out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_capture_gives_the_tree),
        cmocka_unit_test(test_tasks_chain_cycle_is_cut),
        cmocka_unit_test(test_tasks_torn_task_is_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
