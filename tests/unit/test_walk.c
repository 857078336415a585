/*
 * test_walk.c - the stack walker over real captured interpreters.
 *
 * fuzz/corpus/walk/ holds captures (tests/support/capture.h) taken by
 * tools/walk_corpus.sh on every interpreter: stacks-VERSION.capt of
 * tests/targets/stacks.py with SPYGLASS_DEPTH=40, web-VERSION.capt of
 * tests/targets/web_target.py serving /w/slow. Walking a capture must give
 * that target's threads, stacks and request, with no process; and a capture
 * edited into a loop (a frame chain or the thread list pointing back into
 * itself, as a torn read can) must end the walk with -SG_ECORRUPT at once,
 * not run to the depth limit.
 *
 * Versions no interpreter here can prove at will are walked in synthetic
 * images (tests/support/synth.h): every 3.13+ table, the free-threaded ones
 * with their thread-local bytecode and no GIL, a table a patch release made
 * wrong (the debug offsets correct it), and a version newer than any table.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include "python/debug_offsets.h"
#include "python/endpoint.h"
#include "python/tid.h"
#include "python/walk.h"
#include "synth.h"
#include "util/util.h"

#define CORPUS "fuzz/corpus/walk"
#define DEPTH 40 /* SPYGLASS_DEPTH the captures were taken with */

struct loaded {
    uint8_t *data; /* writable: tests edit the image in place */
    size_t size;
    struct capture_image img;
    struct mem_reader reader;
    struct walker w;
};

/* Loads a capture from data (size bytes, malloc'd: c owns it now). */
static void load_data(uint8_t *data, size_t size, struct loaded *c)
{
    c->data = data;
    c->size = size;
    assert_int_equal(capture_parse(c->data, c->size, &c->img), 0);
    assert_true(c->img.nstates >= 1); /* else the walker would read /proc */
    capture_reader_init(&c->img, &c->reader);
    walk_init(&c->w, &c->reader, &c->img.rt);
    c->w.tid_offset = c->img.tid_offset;
    tid_map_no_proc(&c->w.tids, c->img.rt.pid);
    c->w.state_tids = c->img.tids;
    c->w.states = c->img.states;
    c->w.nstates = c->img.nstates;
}

static void load(const char *path, struct loaded *c)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = xmalloc(size);
    assert_int_equal(fread(data, 1, size, f), size);
    fclose(f);
    load_data(data, size, c);
}

static void unload(struct loaded *c)
{
    walk_release(&c->w);
    capture_image_release(&c->img);
    free(c->data);
}

/* Overwrites the 8 bytes at addr in the image (they must have been captured). */
static void poke(struct loaded *c, uint64_t addr, uint64_t value)
{
    for (size_t i = 0; i < c->img.nsegments; i++) {
        struct capture_segment *s = &c->img.segments[i];
        if (addr >= s->addr && addr + 8 <= s->addr + s->len) {
            memcpy((uint8_t *)s->data + (addr - s->addr), &value, 8);
            return;
        }
    }
    fail_msg("address %#llx is not in the capture", (unsigned long long)addr);
}

static const struct py_thread *thread_named(const struct walker *w, const char *name)
{
    for (size_t i = 0; i < w->nthreads; i++) {
        if (strcmp(w->threads[i].name, name) == 0)
            return &w->threads[i];
    }
    return NULL;
}

/* Runs check on every capture whose name starts with prefix (at least one),
 * each loaded afresh and unloaded after. */
static void each_capture(const char *prefix, void (*check)(struct loaded *c))
{
    DIR *d = opendir(CORPUS);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || !str_endswith(e->d_name, ".capt"))
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

/* What stacks.py's threads are doing, on every captured interpreter. */
static void check_targets_stacks(struct loaded *c)
{
    assert_int_equal(walk_sample(&c->w), 0);
    assert_true(c->w.nthreads >= 7);
    const struct py_thread *main = thread_named(&c->w, "MainThread");
    assert_non_null(main);
    assert_true(main->depth >= 3);
    assert_string_equal(main->frames[0].code->name, "spin");
    assert_true(main->holds_gil);
    const struct py_thread *deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    size_t recurse = 0;
    for (size_t d = 0; d < deep->depth; d++)
        recurse += strcmp(deep->frames[d].code->name, "recurse") == 0;
    assert_int_equal(recurse, DEPTH);
    assert_true(deep->idle);
    const struct py_thread *gen = thread_named(&c->w, "gen-thread");
    assert_non_null(gen);
    assert_true(gen->depth >= 2);
    assert_string_equal(gen->frames[0].code->name, "numbers"); /* sleeping inside it */
    assert_string_equal(gen->frames[1].code->name, "gen_consumer");
    for (size_t t = 0; t < c->w.nthreads; t++)
        assert_int_equal(c->w.threads[t].error, 0);
}

static void test_walk_capture_gives_the_targets_stacks(void **state)
{
    (void)state;
    each_capture("stacks-", check_targets_stacks);
}

/* Cached code objects are trusted during a walk and checked in one batch
 * after it: one that changed under its address (here: recurse's co_name
 * now points at spin's name, as if another code object took its place)
 * must be read again, not reported from the cache. */
static void check_changed_code_reread(struct loaded *c)
{
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(walk_sample(&c->w), 0); /* warm: every code object cached */
    const struct py_thread *deep = thread_named(&c->w, "deep");
    const struct py_thread *main = thread_named(&c->w, "MainThread");
    assert_non_null(deep);
    assert_non_null(main);
    const struct code_info *recurse = deep->frames[1].code, *spin = main->frames[0].code;
    assert_string_equal(recurse->name, "recurse");
    assert_string_equal(spin->name, "spin");
    uint64_t stale = c->w.codes.stale;
    poke(c, recurse->addr + c->img.rt.layout.code.co_name, spin->name_ptr);
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(c->w.codes.stale, stale + 1);
    deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    assert_string_equal(deep->frames[1].code->name, "spin");
    assert_int_equal(deep->error, 0);
}

static void test_walk_rereads_a_code_object_that_changed(void **state)
{
    (void)state;
    each_capture("stacks-", check_changed_code_reread);
}

/* The deep thread's frame 30 links back to its frame 20: a loop of 10. */
static void check_frame_loop_cut(struct loaded *c)
{
    assert_int_equal(walk_sample(&c->w), 0);
    const struct py_thread *deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    const struct py_layout *l = &c->img.rt.layout;
    uint32_t back = l->frame_kind == PY_FRAME_OBJECT ? l->frame.f_back : l->iframe.previous;
    poke(c, deep->frames[30].frame_addr + back, deep->frames[20].frame_addr);
    uint64_t before = c->reader.reads;
    assert_int_equal(walk_sample(&c->w), 0);
    deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    assert_int_equal(deep->error, -SG_ECORRUPT);
    assert_true(deep->depth < 60);
    /* Cut within a few laps, not after WALK_MAX_DEPTH frames. */
    assert_true(c->reader.reads - before < 400);
}

static void test_walk_frame_loop_is_corrupt_not_deep(void **state)
{
    (void)state;
    each_capture("stacks-", check_frame_loop_cut);
}

/* The last thread state links back to the first: the thread list is torn. */
static void check_thread_loop_cut(struct loaded *c)
{
    assert_int_equal(walk_sample(&c->w), 0);
    size_t count = c->w.nthreads;
    assert_true(count >= 2);
    uint64_t first = c->w.threads[0].tstate, last = c->w.threads[count - 1].tstate;
    poke(c, last + c->img.rt.layout.tstate.next, first);
    assert_int_equal(walk_sample(&c->w), -SG_ECORRUPT);
    assert_int_equal(c->w.nthreads, 0);
}

static void test_walk_thread_list_loop_is_corrupt(void **state)
{
    (void)state;
    each_capture("stacks-", check_thread_loop_cut);
}

/* The WSGI thread of web_target.py is inside wsgi_slow, serving GET /w/slow:
 * the endpoint reader finds it from the environ dict in the captured memory. */
static void check_request_served(struct loaded *c)
{
    struct endpoint_reader er;
    endpoint_init(&er);
    c->w.endpoints = &er;
    assert_int_equal(walk_sample(&c->w), 0);
    const struct py_thread *serving = NULL;
    for (size_t t = 0; t < c->w.nthreads; t++) {
        if (strcmp(c->w.threads[t].endpoint, "GET /w/slow") == 0)
            serving = &c->w.threads[t];
    }
    assert_non_null(serving);
    int in_slow = 0;
    for (size_t d = 0; d < serving->depth; d++)
        in_slow |= strcmp(serving->frames[d].code->name, "wsgi_slow") == 0;
    assert_true(in_slow);
    endpoint_release(&er);
}

static void test_walk_capture_finds_the_request_served(void **state)
{
    (void)state;
    each_capture("web-", check_request_served);
}

/* A thread whose OS id is none of the process's threads (a uWSGI worker's
 * main thread keeps the master's; here its entry is taken out of the
 * captured thread list): its state is unknown, never active. */
static void check_unknown_thread(struct loaded *c)
{
    assert_int_equal(walk_sample(&c->w), 0);
    const struct py_thread *deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    pid_t tid = deep->tid;
    assert_true(tid > 0);
    assert_false(deep->unknown);
    for (size_t i = 0; i < c->img.nstates; i++) {
        if (c->img.tids[i] == tid)
            c->img.tids[i] = 0x7ffffff0; /* another thread, not this one */
    }
    assert_int_equal(walk_sample(&c->w), 0);
    deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    assert_int_equal(deep->tid, 0);
    assert_true(deep->unknown);
    assert_true(deep->idle);
    assert_int_equal(deep->os_state, '?');
    assert_int_equal(deep->error, 0); /* its stack is still read */
    const struct py_thread *main = thread_named(&c->w, "MainThread");
    assert_non_null(main);
    assert_false(main->unknown);
}

static void test_walk_thread_of_no_task_is_unknown_not_active(void **state)
{
    (void)state;
    each_capture("stacks-", check_unknown_thread);
}

/* A reader that answers reads covering one word of `width` bytes (8 if 0:
 * a thread's current frame; a caller's position) with other values after
 * the first `skip` such reads, as a thread that moves while it is read
 * would. It has no batch read of its own, so a batch through it is read
 * span by span, in order. */
struct moving_reader {
    struct mem_reader reader;
    struct mem_reader *inner;
    uint64_t watch;
    size_t width;
    int skip, seen;
    uint64_t values[2];
    int nvalues;
};

static int moving_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct moving_reader *m = ctx;
    size_t width = m->width ? m->width : 8;
    int err = m->inner->read(m->inner->ctx, addr, buf, size);
    if (err || addr > m->watch || addr + size < m->watch + width)
        return err;
    if (m->seen++ >= m->skip)
        memcpy((uint8_t *)buf + (m->watch - addr), &m->values[(m->seen - 1 - m->skip) % m->nvalues],
               width); /* little-endian: the value's low bytes */
    return 0;
}

/* Makes the deep thread's current frame read back as values (one or two,
 * alternating) once its walk has started: the first read that covers it
 * (the thread list, or on 3.11/3.12 the walk's own read of its _PyCFrame)
 * sees where it is. With batched, the last samples have planned the next
 * one, and the move is seen through its batched read (where the walks of
 * unchanged threads, the deep one too, are kept: struct walk_memo). */
static const struct py_thread *move_deep_thread(struct loaded *c, struct moving_reader *m,
                                                const uint64_t *values, int nvalues, int batched)
{
    const struct py_layout *l = &c->img.rt.layout;
    assert_int_equal(walk_sample(&c->w), 0);
    for (int i = 0; batched && i < 3; i++) /* batched, then laid out as last time */
        assert_int_equal(walk_sample(&c->w), 0);
    const struct py_thread *deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    memset(m, 0, sizeof(*m));
    m->inner = &c->reader;
    if (l->frame_kind == PY_FRAME_INTERP && l->tstate.current_frame == PY_NO_FIELD) {
        m->watch = deep->top + l->cframe.current_frame;
    } else {
        uint32_t field =
            l->frame_kind == PY_FRAME_OBJECT ? l->tstate.frame : l->tstate.current_frame;
        m->watch = deep->tstate + field;
    }
    m->skip = 1;
    memcpy(m->values, values, (size_t)nvalues * 8);
    m->nvalues = nvalues;
    m->reader.read = moving_read;
    m->reader.ctx = m;
    if (batched)
        c->w.plan.live = &m->reader; /* keeps the plan: the next sample is batched */
    else
        walk_set_reader(&c->w, &m->reader);
    return deep;
}

/* The thread returned to the caller of the frame we started from: what we
 * read still holds, no second walk. */
static void harmless_move(struct loaded *c, int batched)
{
    struct moving_reader m;
    const struct py_thread *deep = move_deep_thread(c, &m, (uint64_t[]){0}, 1, batched);
    m.values[0] = deep->frames[1].frame_addr;
    uint64_t retried = c->w.retried, batches = c->w.plan.batches;
    assert_int_equal(walk_sample(&c->w), 0);
    deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    assert_int_equal(deep->error, 0);
    assert_false(deep->torn);
    assert_int_equal(c->w.retried, retried);
    assert_int_equal(c->w.plan.batches, batches + (batched ? 1 : 0));
    assert_true(m.seen >= 2); /* it was read again after the walk */
    walk_set_reader(&c->w, &c->reader);
}

static void check_harmless_move(struct loaded *c)
{
    harmless_move(c, 0);
}

static void check_harmless_move_batched(struct loaded *c)
{
    harmless_move(c, 1);
}

static void test_walk_thread_returning_to_the_caller_is_not_torn(void **state)
{
    (void)state;
    each_capture("stacks-", check_harmless_move);
    each_capture("stacks-", check_harmless_move_batched);
}

/* The thread is somewhere else each time its frame is read again: walked
 * twice, then left out as torn. */
static void torn_move(struct loaded *c, int batched)
{
    struct moving_reader m;
    uint64_t elsewhere[2] = {0x1000, 0x2000}; /* unmapped: nowhere near the stack */
    move_deep_thread(c, &m, elsewhere, 2, batched);
    uint64_t torn = c->w.torn;
    assert_int_equal(walk_sample(&c->w), 0);
    const struct py_thread *deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    assert_true(deep->torn);
    assert_true(deep->retried);
    assert_int_equal(deep->error, -SG_ECORRUPT);
    assert_int_equal(c->w.torn, torn + 1);
    const struct py_thread *main = thread_named(&c->w, "MainThread");
    assert_non_null(main);
    assert_int_equal(main->error, 0); /* the others are read as ever */
    walk_set_reader(&c->w, &c->reader);
}

static void check_torn_move(struct loaded *c)
{
    torn_move(c, 0);
}

static void check_torn_move_batched(struct loaded *c)
{
    torn_move(c, 1);
}

static void test_walk_thread_moving_twice_is_torn(void **state)
{
    (void)state;
    each_capture("stacks-", check_torn_move);
    each_capture("stacks-", check_torn_move_batched);
}

/* The top pointer stays, but a caller is somewhere else each time it is
 * read again: the thread returned through it and called again, to the same
 * frame addresses (the data stack reuses them). Walked twice, then left
 * out as torn; before the callers' check such a stack was kept, its caller
 * on a line that cannot call its callee. */
static void caller_move(struct loaded *c, int batched)
{
    const struct py_layout *l = &c->img.rt.layout;
    struct moving_reader m;
    const struct py_thread *deep = move_deep_thread(c, &m, (uint64_t[]){0}, 1, batched);
    assert_true(deep->depth >= 3);
    int objects = l->frame_kind == PY_FRAME_OBJECT;
    m.watch = deep->frames[2].frame_addr + (objects ? l->frame.f_lasti : l->iframe.instr);
    m.width = objects ? 4 : 8;
    m.values[0] = deep->frames[2].instr + 2;
    m.values[1] = deep->frames[2].instr + 4;
    m.nvalues = 2;
    uint64_t torn = c->w.torn;
    assert_int_equal(walk_sample(&c->w), 0);
    deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    assert_true(deep->retried);
    assert_true(deep->torn);
    assert_int_equal(deep->error, -SG_ECORRUPT);
    assert_int_equal(c->w.torn, torn + 1);
    walk_set_reader(&c->w, &c->reader);
}

static void check_caller_move(struct loaded *c)
{
    caller_move(c, 0);
}

static void check_caller_move_batched(struct loaded *c)
{
    caller_move(c, 1);
}

static void test_walk_caller_that_moved_under_the_same_top_is_torn(void **state)
{
    (void)state;
    each_capture("stacks-", check_caller_move);
    each_capture("stacks-", check_caller_move_batched);
}

/* Leaf first, code name and line of every frame of every thread. */
static void stacks_text(const struct walker *w, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t t = 0; t < w->nthreads && used < size; t++) {
        const struct py_thread *th = &w->threads[t];
        used += (size_t)snprintf(out + used, size - used, "%s:", th->name);
        for (size_t d = 0; d < th->depth && used < size; d++)
            used += (size_t)snprintf(out + used, size - used, " %s@%d", th->frames[d].code->name,
                                     th->frames[d].line);
        if (used < size)
            used += (size_t)snprintf(out + used, size - used, "\n");
    }
}

/* Once a sample has read the target, the next reads everything again in
 * one batched call (python/plan.h) and finds the same stacks. Reads past
 * the capture give zeros here, as the rest of a mapped page would: a
 * planned span reaches a little past what was read. */
static void check_warm_sample_is_one_call(struct loaded *c)
{
    static char cold[1 << 16], warm[1 << 16];
    c->img.fill = CAPTURE_FILL_ZERO;
    assert_int_equal(walk_sample(&c->w), 0);
    stacks_text(&c->w, cold, sizeof(cold));
    assert_int_equal(walk_sample(&c->w), 0);
    uint64_t before = c->reader.reads;
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(c->reader.reads - before, 1);
    assert_int_equal(walk_target_reads(&c->w), c->reader.reads);
    stacks_text(&c->w, warm, sizeof(warm));
    assert_string_equal(cold, warm);
    for (size_t t = 0; t < c->w.nthreads; t++)
        assert_true(c->w.threads[t].batched);
}

static void test_walk_warm_sample_is_one_batched_read(void **state)
{
    (void)state;
    each_capture("stacks-", check_warm_sample_is_one_call);
    each_capture("web-", check_warm_sample_is_one_call);
}

/* Thread names are read again every WALK_NAMES_REFRESH samples (sys.modules,
 * then threading's registry: a hundred reads or more); the reads of the
 * last time are made again in one call, and give the same names. */
static void check_names_refresh_is_one_call(struct loaded *c)
{
    static char cold[1 << 16], warm[1 << 16];
    c->img.fill = CAPTURE_FILL_ZERO;
    assert_int_equal(walk_sample(&c->w), 0);
    stacks_text(&c->w, cold, sizeof(cold));
    assert_int_equal(walk_sample(&c->w), 0);
    c->w.names_age = WALK_NAMES_REFRESH; /* the next sample reads them again */
    uint64_t before = c->reader.reads, batches = c->w.names_plan.batches;
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(c->w.names_age, 0);
    assert_int_equal(c->w.names_plan.batches, batches + 1);
    assert_int_equal(c->reader.reads - before, 2); /* the sample's batch and the names' */
    stacks_text(&c->w, warm, sizeof(warm));
    assert_string_equal(cold, warm);
}

static void test_walk_names_read_again_in_one_call(void **state)
{
    (void)state;
    each_capture("stacks-", check_names_refresh_is_one_call);
}

/* Copies size bytes at addr from the image (they must have been captured). */
static void peek(struct loaded *c, uint64_t addr, void *out, size_t size)
{
    for (size_t i = 0; i < c->img.nsegments; i++) {
        struct capture_segment *s = &c->img.segments[i];
        if (addr >= s->addr && addr + size <= s->addr + s->len) {
            memcpy(out, s->data + (addr - s->addr), size);
            return;
        }
    }
    fail_msg("address %#llx is not in the capture", (unsigned long long)addr);
}

/* Overwrites size bytes at addr in the image (they must have been captured). */
static void poke_bytes(struct loaded *c, uint64_t addr, const void *in, size_t size)
{
    for (size_t i = 0; i < c->img.nsegments; i++) {
        struct capture_segment *s = &c->img.segments[i];
        if (addr >= s->addr && addr + size <= s->addr + s->len) {
            memcpy((uint8_t *)s->data + (addr - s->addr), in, size);
            return;
        }
    }
    fail_msg("address %#llx is not in the capture", (unsigned long long)addr);
}

/* Threads whose stacks did not change are not walked again once the
 * batch is laid out as the last sample's (struct walk_memo): the same
 * stacks come out. A thread one of whose frames changed between two
 * samples (here: the deep thread's fourth frame now runs the line of its
 * first) is walked again, and shows it. */
static void check_unchanged_walks_kept(struct loaded *c)
{
    static char cold[1 << 16], kept[1 << 16];
    const struct py_layout *l = &c->img.rt.layout;
    c->img.fill = CAPTURE_FILL_ZERO;
    assert_int_equal(walk_sample(&c->w), 0);
    stacks_text(&c->w, cold, sizeof(cold));
    for (int i = 0; i < 4; i++)
        assert_int_equal(walk_sample(&c->w), 0);
    assert_true(c->w.kept >= c->w.nthreads); /* the last sample kept every walk */
    stacks_text(&c->w, kept, sizeof(kept));
    assert_string_equal(cold, kept);

    const struct py_thread *deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    int leaf_line = deep->frames[0].line;
    assert_int_not_equal(deep->frames[3].line, leaf_line);
    uint32_t field = l->frame_kind == PY_FRAME_OBJECT ? l->frame.f_lasti : l->iframe.instr;
    size_t size = l->frame_kind == PY_FRAME_OBJECT ? 4 : 8;
    uint8_t instr[8];
    peek(c, deep->frames[0].frame_addr + field, instr, size);
    poke_bytes(c, deep->frames[3].frame_addr + field, instr, size);
    uint64_t before = c->w.kept;
    assert_int_equal(walk_sample(&c->w), 0);
    deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    assert_int_equal(deep->frames[3].line, leaf_line);
    assert_int_equal(deep->error, 0);
    assert_int_equal(c->w.kept, before + c->w.nthreads - 1); /* all the others */
}

static void test_walk_unchanged_stacks_are_kept_changed_ones_walked(void **state)
{
    (void)state;
    each_capture("stacks-", check_unchanged_walks_kept);
}

/* A thread of this test process that waits on a pipe until told to end:
 * a real OS thread whose /proc state is 'S', for the walker to read. */
struct waiter {
    pthread_t thread;
    int pipe[2];
    pid_t tid;
};

static void *waiter_main(void *arg)
{
    struct waiter *wt = arg;
    __atomic_store_n(&wt->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    char byte;
    while (read(wt->pipe[0], &byte, 1) < 0) {
    }
    return NULL;
}

static void waiter_start(struct waiter *wt)
{
    memset(wt, 0, sizeof(*wt));
    assert_int_equal(pipe(wt->pipe), 0);
    assert_int_equal(pthread_create(&wt->thread, NULL, waiter_main, wt), 0);
    while (!__atomic_load_n(&wt->tid, __ATOMIC_SEQ_CST))
        sched_yield();
}

static void waiter_end(struct waiter *wt)
{
    assert_int_equal(write(wt->pipe[1], "x", 1), 1);
    pthread_join(wt->thread, NULL);
    close(wt->pipe[0]);
    close(wt->pipe[1]);
}

/* Samples until every thread is waiting in /proc's eyes (a thread just
 * started may still be on its way to its read). */
static void sample_until_waiting(struct loaded *c)
{
    for (int tries = 0; tries < 1000; tries++) {
        assert_int_equal(walk_sample(&c->w), 0);
        size_t waiting = 0;
        for (size_t i = 0; i < c->w.nthreads; i++)
            waiting += c->w.threads[i].os_state == 'S';
        if (waiting == c->w.nthreads)
            return;
        usleep(1000);
    }
    fail_msg("the waiting threads never read as 'S'");
}

/* 3.11+ (a thread state has the thread's native id): every captured thread
 * state is made to name a waiting thread of this process, and its state is
 * read from /proc. An idle thread whose walk is kept keeps its state
 * unread (tid.c keep_state); a thread whose stack changed has it read; and
 * none goes more than TID_STATE_KEEP samples without a read. */
static void check_idle_state_kept(struct loaded *c)
{
    const struct py_layout *l = &c->img.rt.layout;
    if (l->tstate.native_thread_id == PY_NO_FIELD)
        return;
    c->img.fill = CAPTURE_FILL_ZERO;
    assert_int_equal(walk_sample(&c->w), 0);
    size_t n = c->w.nthreads;
    struct waiter *waiters = xcalloc(n, sizeof(*waiters));
    for (size_t i = 0; i < n; i++) {
        waiter_start(&waiters[i]);
        poke(c, c->w.threads[i].tstate + l->tstate.native_thread_id, (uint64_t)waiters[i].tid);
    }
    c->img.rt.pid = getpid();
    tid_map_no_proc(&c->w.tids, getpid());
    c->w.nstates = 0; /* read /proc */
    sample_until_waiting(c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(walk_sample(&c->w), 0);
    for (size_t i = 0; i < n; i++) {
        const struct py_thread *t = &c->w.threads[i];
        assert_int_equal(t->tid, waiters[i].tid);
        assert_true(t->kept && t->idle && !t->unknown);
        /* The GIL's holder (the captured spinning thread) is read each time. */
        assert_int_equal(t->state_kept, !t->holds_gil);
        assert_int_equal(t->os_state, 'S');
    }

    const struct py_thread *deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    uint32_t field = l->iframe.instr;
    uint8_t instr[8];
    peek(c, deep->frames[0].frame_addr + field, instr, 8);
    poke_bytes(c, deep->frames[3].frame_addr + field, instr, 8);
    assert_int_equal(walk_sample(&c->w), 0);
    for (size_t i = 0; i < n; i++) {
        const struct py_thread *t = &c->w.threads[i];
        int moved = t == thread_named(&c->w, "deep");
        assert_int_equal(t->state_kept, !moved && !t->holds_gil); /* moved: read */
        assert_int_equal(t->os_state, 'S');
        assert_int_equal(t->tid, waiters[i].tid);
    }

    unsigned read_at[256] = {0};
    for (unsigned s = 1; s <= TID_STATE_KEEP; s++) {
        assert_int_equal(walk_sample(&c->w), 0);
        for (size_t i = 0; i < n && i < 256; i++)
            read_at[i] = c->w.threads[i].state_kept ? read_at[i] : s;
    }
    for (size_t i = 0; i < n && i < 256; i++)
        assert_true(read_at[i] > 0); /* read at least once in TID_STATE_KEEP samples */
    for (size_t i = 0; i < n; i++)
        waiter_end(&waiters[i]);
    free(waiters);
}

static void test_walk_idle_thread_keeps_its_state_while_its_stack_stays(void **state)
{
    (void)state;
    each_capture("stacks-", check_idle_state_kept);
}

/* A stack that changed between two samples (the deep thread returned to
 * its caller: the thread state now points at frames[1]) is read as it is
 * now: the batch is read afresh, and the walk follows what it holds. */
static void check_returned_between_samples(struct loaded *c)
{
    const struct py_layout *l = &c->img.rt.layout;
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(walk_sample(&c->w), 0);
    const struct py_thread *deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    size_t depth = deep->depth;
    if (l->frame_kind == PY_FRAME_INTERP && l->tstate.current_frame == PY_NO_FIELD)
        poke(c, deep->top + l->cframe.current_frame, deep->frames[1].frame_addr);
    else
        poke(c,
             deep->tstate +
                 (l->frame_kind == PY_FRAME_OBJECT ? l->tstate.frame : l->tstate.current_frame),
             deep->frames[1].frame_addr);
    assert_int_equal(walk_sample(&c->w), 0);
    deep = thread_named(&c->w, "deep");
    assert_non_null(deep);
    assert_int_equal(deep->error, 0);
    assert_int_equal(deep->depth, depth - 1);
    assert_string_equal(deep->frames[0].code->name, "recurse");
}

static void test_walk_batched_sample_sees_a_stack_that_changed(void **state)
{
    (void)state;
    each_capture("stacks-", check_returned_between_samples);
}

/* A real free-threaded 3.14 capture: threads other than the main one run
 * their own copies of the bytecode, so reading their instruction pointers
 * against co_code_adaptive (the table without tlbc_index) gives other lines
 * or loses frames. */
static void check_thread_local_bytecode(struct loaded *c)
{
    if (c->img.rt.layout.iframe.tlbc_index == PY_NO_FIELD)
        return; /* not a free-threaded 3.14+ capture */
    assert_int_equal(walk_sample(&c->w), 0);
    size_t n = c->w.nthreads, depth[16], lines[16], sums = 0;
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        depth[i] = c->w.threads[i].depth;
        lines[i] = 0;
        for (size_t d = 0; d < depth[i]; d++)
            lines[i] += (size_t)c->w.threads[i].frames[d].line;
    }
    c->img.rt.layout.iframe.tlbc_index = PY_NO_FIELD;
    assert_int_equal(walk_sample(&c->w), 0);
    for (size_t i = 0; i < n; i++) {
        size_t sum = 0;
        for (size_t d = 0; d < c->w.threads[i].depth; d++)
            sum += (size_t)c->w.threads[i].frames[d].line;
        sums += c->w.threads[i].depth != depth[i] || sum != lines[i];
    }
    print_message("%zu of %zu threads read otherwise without thread-local bytecode\n", sums, n);
    assert_true(sums >= n / 2);
}

static void test_walk_free_threaded_capture_needs_thread_local_bytecode(void **state)
{
    (void)state;
    each_capture("stacks-3.14", check_thread_local_bytecode);
}

/* ---- synthetic images ----------------------------------------------------------------- */

/* The tables synthetic images are made of: every one that has debug offsets. */
static const char *const synth_tables[] = {"3.13", "3.13t", "3.14", "3.14t", "3.15", "3.15t"};

static const struct py_layout *table_named(const char *name)
{
    int minor = atoi(name + 2), ft = name[strlen(name) - 1] == 't';
    const struct py_layout *l = layout_find_build(3, minor, ft);
    assert_non_null(l);
    return l;
}

/* Builds the image laid out by l (with l's version's debug offsets, as o
 * adds to) and loads it. */
static void load_synth(const struct py_layout *l, struct synth_options o, struct loaded *c)
{
    size_t size;
    o.layout = l;
    if (!o.map)
        o.map = layout_debug_offsets(l->major, l->minor);
    uint8_t *data = synth_capture(&o, &size);
    load_data(data, size, c);
    print_message("synthetic %s (%zu bytes)\n", l->name, size);
}

static const struct py_thread *thread_with_tid(const struct walker *w, int tid)
{
    for (size_t i = 0; i < w->nthreads; i++) {
        if (w->threads[i].tid == tid)
            return &w->threads[i];
    }
    return NULL;
}

/* The walk gives synth.h's threads exactly: names, ids, frames and lines,
 * who runs and who holds the GIL (or, without one, who is attached). */
static void check_synth_walk(struct loaded *c, int gil_off)
{
    assert_int_equal(walk_sample(&c->w), 0);
    assert_int_equal(c->w.nthreads, SYNTH_THREADS);
    assert_int_equal(c->w.gil_off, gil_off);
    for (size_t i = 0; i < SYNTH_THREADS; i++) {
        const struct synth_thread *want = &synth_threads[i];
        const struct py_thread *t = thread_with_tid(&c->w, want->tid);
        assert_non_null(t);
        assert_int_equal(t->error, 0);
        assert_string_equal(t->name, want->name);
        assert_int_equal(t->idle, !want->running);
        assert_int_equal(t->holds_gil, want->running);
        assert_int_equal(t->attached, want->running);
        assert_int_equal(t->depth, want->depth);
        for (size_t d = 0; d < want->depth; d++) {
            assert_string_equal(t->frames[d].code->qualname, want->frames[d].qualname);
            assert_string_equal(t->frames[d].code->filename, want->frames[d].filename);
            assert_int_equal(t->frames[d].line, want->frames[d].line);
        }
    }
}

/* Every 3.13+ table, walked from its own image: 3.14's tagged f_executable
 * and entry frames, 3.15's base frames, the free-threaded builds' 32-byte
 * object header, moved string bits, thread-local bytecode and no GIL. */
static void test_walk_synthetic_image_of_every_debug_offsets_version(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(synth_tables) / sizeof(synth_tables[0]); i++) {
        const struct py_layout *l = table_named(synth_tables[i]);
        struct loaded c;
        load_synth(l, (struct synth_options){0}, &c);
        check_synth_walk(&c, l->free_threaded);
        unload(&c);
    }
}

/* A free-threaded interpreter started with PYTHON_GIL=1 has a GIL again:
 * its holder is reported as on a default build. */
static void test_walk_synthetic_free_threaded_with_the_gil_on(void **state)
{
    (void)state;
    struct loaded c;
    load_synth(table_named("3.14t"), (struct synth_options){.gil_enabled = 1}, &c);
    check_synth_walk(&c, 0);
    unload(&c);
}

/* Without thread-local bytecode a free-threaded thread's instruction
 * pointer is read against the wrong copy: its lines are wrong (or its
 * frames look unstarted and vanish). The table's tlbc_index prevents that. */
static void test_walk_synthetic_free_threaded_lines_need_thread_local_bytecode(void **state)
{
    (void)state;
    struct loaded c;
    load_synth(table_named("3.14t"), (struct synth_options){0}, &c);
    c.img.rt.layout.iframe.tlbc_index = PY_NO_FIELD;
    assert_int_equal(walk_sample(&c.w), 0);
    const struct py_thread *t = thread_with_tid(&c.w, synth_threads[1].tid);
    assert_non_null(t);
    int right = t->depth == synth_threads[1].depth;
    for (size_t d = 0; right && d < t->depth; d++)
        right = t->frames[d].line == synth_threads[1].frames[d].line;
    assert_false(right);
    unload(&c);
}

/* 3.14.5 moved interpreter-state fields that 3.14.0's headers put
 * elsewhere. An image whose thread list is not where our table says: the
 * table alone finds no threads; its _Py_DebugOffsets correct the table
 * (one mismatch), and taken alone they are enough. */
static void test_debug_offsets_correct_a_field_a_patch_release_moved(void **state)
{
    (void)state;
    const struct py_layout *table = table_named("3.14");
    struct py_layout moved = *table;
    moved.interp.tstate_head += 64;
    enum debug_offsets_mode modes[] = {DEBUG_OFFSETS_TABLE, DEBUG_OFFSETS_AUTO, DEBUG_OFFSETS_ONLY};
    for (size_t m = 0; m < 3; m++) {
        struct loaded c;
        char why[256] = "";
        load_synth(&moved, (struct synth_options){0}, &c);
        assert_int_equal(debug_offsets_apply(&c.img.rt, &c.reader, modes[m], why, sizeof(why)), 0);
        if (modes[m] == DEBUG_OFFSETS_TABLE) {
            assert_int_equal(c.img.rt.layout_source, PY_LAYOUT_TABLE);
            int err = walk_sample(&c.w); /* the table finds no thread list there */
            assert_true(err != 0 || c.w.nthreads == 0);
        } else {
            assert_int_equal(c.img.rt.layout_source, modes[m] == DEBUG_OFFSETS_AUTO
                                                         ? PY_LAYOUT_CHECKED
                                                         : PY_LAYOUT_OFFSETS);
            assert_int_equal(c.img.rt.debug_mismatches, modes[m] == DEBUG_OFFSETS_AUTO);
            assert_true(c.img.rt.offsets_used >= 40);
            assert_int_equal(c.img.rt.layout.interp.tstate_head, moved.interp.tstate_head);
            check_synth_walk(&c, 0);
        }
        unload(&c);
    }
}

/* Offsets-only takes nothing the debug offsets give from the table: with
 * every such field of the table spoiled, the walk is still right. */
static void test_debug_offsets_only_ignores_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(synth_tables) / sizeof(synth_tables[0]); i++) {
        const struct py_layout *l = table_named(synth_tables[i]);
        const struct py_debug_offsets_map *map = layout_debug_offsets(l->major, l->minor);
        struct loaded c;
        char why[256] = "";
        load_synth(l, (struct synth_options){0}, &c);
        for (size_t e = 0; e < map->count; e++)
            *layout_field(&c.img.rt.layout, map->entries[e].layout_field) += 8;
        assert_int_equal(
            debug_offsets_apply(&c.img.rt, &c.reader, DEBUG_OFFSETS_ONLY, why, sizeof(why)), 0);
        check_synth_walk(&c, l->free_threaded);
        unload(&c);
    }
}

/* A version newer than every table (3.16 here, laid out as 3.15) is read
 * through its debug offsets, with 3.15's table for the rest; if they do not
 * have 3.15's shape (every struct size nonsense), it is refused in one
 * sentence rather than walked as garbage. */
static void test_debug_offsets_read_a_version_newer_than_the_tables(void **state)
{
    (void)state;
    const struct py_layout *l = table_named("3.15");
    for (int garbage = 0; garbage < 2; garbage++) {
        struct loaded c;
        char why[256] = "";
        load_synth(
            l, (struct synth_options){.major = 3, .minor = 16, .group_size = garbage ? 8 : 0}, &c);
        c.img.rt.minor = 16;
        c.img.rt.newer = 1;
        snprintf(c.img.rt.version, sizeof(c.img.rt.version), "3.16.0");
        int err = debug_offsets_apply(&c.img.rt, &c.reader, DEBUG_OFFSETS_AUTO, why, sizeof(why));
        if (garbage) {
            assert_int_equal(err, -SG_EVERSION);
            assert_non_null(strstr(why, "do not have the shape of 3.15's"));
        } else {
            assert_int_equal(err, 0);
            assert_int_equal(c.img.rt.layout_source, PY_LAYOUT_OFFSETS);
            check_synth_walk(&c, 0);
        }
        unload(&c);
    }
}

/* SPYGLASS_LAYOUT=offsets on a version without them is refused, and only
 * auto, table and offsets are modes. */
static void test_debug_offsets_modes(void **state)
{
    (void)state;
    enum debug_offsets_mode mode;
    assert_int_equal(debug_offsets_parse_mode(NULL, &mode), 0);
    assert_int_equal(mode, DEBUG_OFFSETS_AUTO);
    assert_int_equal(debug_offsets_parse_mode("offsets", &mode), 0);
    assert_int_equal(mode, DEBUG_OFFSETS_ONLY);
    assert_int_equal(debug_offsets_parse_mode("table", &mode), 0);
    assert_int_equal(mode, DEBUG_OFFSETS_TABLE);
    assert_int_equal(debug_offsets_parse_mode("offset", &mode), -1);
    struct py_runtime rt = {.major = 3, .minor = 12, .runtime_addr = 0x1000};
    char why[256] = "";
    strcpy(rt.version, "3.12.1");
    assert_int_equal(debug_offsets_apply(&rt, NULL, DEBUG_OFFSETS_AUTO, why, sizeof(why)), 0);
    assert_int_equal(debug_offsets_apply(&rt, NULL, DEBUG_OFFSETS_ONLY, why, sizeof(why)),
                     -SG_EVERSION);
    assert_non_null(strstr(why, "no _Py_DebugOffsets"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_capture_gives_the_targets_stacks),
        cmocka_unit_test(test_walk_capture_finds_the_request_served),
        cmocka_unit_test(test_walk_rereads_a_code_object_that_changed),
        cmocka_unit_test(test_walk_frame_loop_is_corrupt_not_deep),
        cmocka_unit_test(test_walk_thread_list_loop_is_corrupt),
        cmocka_unit_test(test_walk_thread_of_no_task_is_unknown_not_active),
        cmocka_unit_test(test_walk_thread_returning_to_the_caller_is_not_torn),
        cmocka_unit_test(test_walk_thread_moving_twice_is_torn),
        cmocka_unit_test(test_walk_caller_that_moved_under_the_same_top_is_torn),
        cmocka_unit_test(test_walk_warm_sample_is_one_batched_read),
        cmocka_unit_test(test_walk_names_read_again_in_one_call),
        cmocka_unit_test(test_walk_unchanged_stacks_are_kept_changed_ones_walked),
        cmocka_unit_test(test_walk_idle_thread_keeps_its_state_while_its_stack_stays),
        cmocka_unit_test(test_walk_batched_sample_sees_a_stack_that_changed),
        cmocka_unit_test(test_walk_free_threaded_capture_needs_thread_local_bytecode),
        cmocka_unit_test(test_walk_synthetic_image_of_every_debug_offsets_version),
        cmocka_unit_test(test_walk_synthetic_free_threaded_with_the_gil_on),
        cmocka_unit_test(test_walk_synthetic_free_threaded_lines_need_thread_local_bytecode),
        cmocka_unit_test(test_debug_offsets_correct_a_field_a_patch_release_moved),
        cmocka_unit_test(test_debug_offsets_only_ignores_the_table),
        cmocka_unit_test(test_debug_offsets_read_a_version_newer_than_the_tables),
        cmocka_unit_test(test_debug_offsets_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
