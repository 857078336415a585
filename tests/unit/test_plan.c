/*
 * test_plan.c - one batched read per sample (python/plan.h), over a fake
 * target: a buffer at a fixed address whose reader counts the calls made,
 * can unmap a page, and can change memory in the middle of a sample, as a
 * running program does. What the batch may answer: a sample's planned
 * reads once they were read before; a thread's frames only if its top
 * pointer came from the batch; its check only if all its frames did; a
 * retried walk never. The batch's groups go to the target in order (heads,
 * data, checks), whatever their addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "python/plan.h"

#define BASE 0x10000ull
#define SIZE (16 * 4096)
#define MAX_SEEN 64

/* The fake target. */
struct fake {
    struct mem_reader reader;
    uint8_t mem[SIZE];
    uint64_t unmapped;       /* a page that faults, or 0 */
    uint64_t calls;          /* reads and batches, each one call */
    uint64_t seen[MAX_SEEN]; /* addresses of the last batch, in order */
    size_t nseen;
};

static int fake_one(struct fake *f, uint64_t addr, void *buf, size_t size)
{
    if (addr < BASE || addr + size > BASE + SIZE)
        return -SG_EFAULT;
    if (f->unmapped && addr < f->unmapped + 4096 && addr + size > f->unmapped)
        return -SG_EFAULT;
    memcpy(buf, f->mem + (addr - BASE), size);
    return 0;
}

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct fake *f = ctx;
    f->calls++;
    return fake_one(f, addr, buf, size);
}

static uint64_t fake_batch(void *ctx, struct mem_span *spans, size_t count)
{
    struct fake *f = ctx;
    f->calls++;
    f->nseen = 0;
    for (size_t i = 0; i < count; i++) {
        spans[i].err = fake_one(f, spans[i].addr, spans[i].buf, spans[i].size);
        if (f->nseen < MAX_SEEN)
            f->seen[f->nseen++] = spans[i].addr;
    }
    return 1;
}

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->reader.read = fake_read;
    f->reader.read_batch = fake_batch;
    f->reader.ctx = f;
}

static void put(struct fake *f, uint64_t addr, uint64_t value)
{
    memcpy(f->mem + (addr - BASE), &value, 8);
}

static uint64_t get(struct plan *p, uint64_t addr)
{
    uint64_t v = 0;
    assert_int_equal(mem_read_u64(&p->reader, addr, &v), 0);
    return v;
}

/* Addresses on pages of their own. */
#define HEAD_AT (BASE + 9 * 4096 + 8)
#define FRAME_AT (BASE + 2 * 4096 + 64)
#define CODE_AT (BASE + 5 * 4096 + 128)

/* One sample as a walker reads: a top pointer, a frame, a code header, the
 * check. Returns what the frame read gave. */
static uint64_t sample(struct plan *p)
{
    plan_begin(p);
    get(p, HEAD_AT);
    plan_thread(p, plan_last_served(p) ? PLAN_THREAD_BATCHED : PLAN_THREAD_LIVE);
    plan_phase(p, PLAN_DATA);
    uint64_t frame = get(p, FRAME_AT);
    plan_phase(p, PLAN_CHECK);
    get(p, HEAD_AT);
    plan_thread_end(p);
    plan_phase(p, PLAN_CODE);
    get(p, CODE_AT);
    plan_end(p);
    return frame;
}

static void test_plan_second_sample_is_one_batched_call(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    put(&f, FRAME_AT, 1);
    assert_int_equal(sample(&p), 1);
    assert_int_equal(f.calls, 4); /* cold: every read went to the target */
    f.calls = 0;
    put(&f, FRAME_AT, 2); /* the batch reads memory as it is now */
    assert_int_equal(sample(&p), 2);
    assert_int_equal(f.calls, 1);
    assert_int_equal(p.batches, 1);
    assert_int_equal(p.reader.reads, 5); /* calls made, answered reads not counted */
    plan_release(&p);
}

/* Heads, then data and code, then checks, in the batch: a thread's frames
 * copied after its top pointer, its check after its frames. */
static void test_plan_batch_reads_heads_then_data_then_checks(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    sample(&p);
    sample(&p);
    assert_int_equal(f.nseen, 4);
    assert_true(f.seen[0] == HEAD_AT);
    assert_true(f.seen[1] == FRAME_AT || f.seen[1] == CODE_AT);
    assert_true(f.seen[2] == FRAME_AT || f.seen[2] == CODE_AT);
    assert_true(f.seen[3] == HEAD_AT); /* the check, last */
    plan_release(&p);
}

/* A read at an address the last sample did not read goes to the target,
 * and is in the next batch. */
static void test_plan_new_address_is_read_live_then_planned(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    sample(&p);
    plan_begin(&p);
    plan_phase(&p, PLAN_HEAD);
    f.calls = 0;
    get(&p, HEAD_AT);
    get(&p, HEAD_AT + 4096); /* a new thread state */
    assert_int_equal(f.calls, 1);
    assert_false(plan_last_served(&p));
    plan_end(&p);
    f.calls = 0;
    plan_begin(&p);
    get(&p, HEAD_AT + 4096);
    assert_true(plan_last_served(&p));
    assert_int_equal(f.calls, 1); /* the batch */
    plan_end(&p);
    plan_release(&p);
}

/* A thread whose state was read live: its frames must be read after it, so
 * not from the batch (which is older). */
static void test_plan_live_top_makes_the_walk_live(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    sample(&p);
    plan_begin(&p);
    put(&f, FRAME_AT, 7); /* changed after the batch was read */
    plan_thread(&p, PLAN_THREAD_LIVE);
    plan_phase(&p, PLAN_DATA);
    assert_int_equal(get(&p, FRAME_AT), 7);
    assert_false(plan_last_served(&p));
    plan_thread_end(&p);
    plan_end(&p);
    plan_release(&p);
}

/* A frame read live (the stack grew past what the batch holds) is newer
 * than the batch's check: the check must be read live too. */
static void test_plan_live_frame_makes_the_check_live(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    put(&f, HEAD_AT, 1);
    sample(&p);
    plan_begin(&p);
    put(&f, HEAD_AT, 2); /* the thread moved after the batch */
    plan_thread(&p, PLAN_THREAD_BATCHED);
    plan_phase(&p, PLAN_DATA);
    get(&p, FRAME_AT);
    assert_true(plan_last_served(&p));
    get(&p, FRAME_AT + 3 * 4096); /* not planned */
    assert_false(plan_last_served(&p));
    plan_phase(&p, PLAN_CHECK);
    assert_int_equal(get(&p, HEAD_AT), 2);
    assert_false(plan_last_served(&p));
    plan_thread_end(&p);
    plan_end(&p);
    plan_release(&p);
}

/* When every read of the walk came from the batch, so does the check: the
 * batch read it after all of them. */
static void test_plan_check_comes_from_the_batch_after_a_batched_walk(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    put(&f, HEAD_AT, 1);
    sample(&p);
    plan_begin(&p);
    put(&f, HEAD_AT, 2);
    f.calls = 0;
    plan_thread(&p, PLAN_THREAD_BATCHED);
    plan_phase(&p, PLAN_DATA);
    get(&p, FRAME_AT);
    plan_phase(&p, PLAN_CHECK);
    assert_int_equal(get(&p, HEAD_AT), 1);
    assert_true(plan_last_served(&p));
    assert_int_equal(f.calls, 0);
    plan_thread_end(&p);
    plan_end(&p);
    plan_release(&p);
}

/* A second walk of a moving thread reads the target and is not planned. */
static void test_plan_retry_reads_live_and_is_not_recorded(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    sample(&p);
    plan_begin(&p);
    plan_thread(&p, PLAN_THREAD_RETRY);
    plan_phase(&p, PLAN_DATA);
    get(&p, FRAME_AT);
    assert_false(plan_last_served(&p));
    get(&p, FRAME_AT + 3 * 4096);
    plan_thread_end(&p);
    plan_end(&p);
    for (size_t i = 0; i < p.nspans; i++)
        assert_true(p.spans[i].addr != FRAME_AT + 3 * 4096);
    plan_release(&p);
}

/* Reads outside the phases (names, endpoints) are the target's, unplanned. */
static void test_plan_off_reads_live(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    sample(&p);
    plan_begin(&p);
    plan_phase(&p, PLAN_OFF);
    f.calls = 0;
    get(&p, HEAD_AT);
    assert_false(plan_last_served(&p));
    assert_int_equal(f.calls, 1);
    plan_end(&p);
    get(&p, HEAD_AT); /* outside a sample */
    assert_int_equal(f.calls, 2);
    plan_release(&p);
}

/* A page that went away: its span fails in the batch, the read fails live,
 * and the next batch leaves it out instead of failing every time. */
static void test_plan_unmapped_span_is_dropped(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    sample(&p);
    f.unmapped = FRAME_AT & ~4095ull;
    plan_begin(&p);
    plan_phase(&p, PLAN_DATA);
    uint64_t v;
    assert_int_equal(mem_read_u64(&p.reader, FRAME_AT, &v), -SG_EFAULT);
    plan_end(&p);
    for (size_t i = 0; i < p.nspans; i++)
        assert_true(p.spans[i].addr > FRAME_AT || p.spans[i].addr + p.spans[i].size <= FRAME_AT);
    plan_release(&p);
}

/* Reads on one page or the next are one span; a data span reaches
 * PLAN_SLACK further within its page, a head span does not. */
static void test_plan_merges_neighbours_and_reaches_within_the_page(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    plan_begin(&p);
    get(&p, HEAD_AT);
    plan_phase(&p, PLAN_DATA);
    get(&p, BASE + 4096);           /* page 1 */
    get(&p, BASE + 2 * 4096 + 100); /* page 2: merged */
    get(&p, BASE + 3 * 4096 - 16);  /* page 2's end: merged, no slack past it */
    get(&p, BASE + 7 * 4096);       /* page 7: a span of its own */
    plan_end(&p);
    assert_int_equal(p.group_end[0], 1);
    assert_int_equal(p.spans[0].size, 8);
    assert_int_equal(p.group_end[1], 3);
    assert_true(p.spans[1].addr == BASE + 4096);
    assert_int_equal(p.spans[1].size, 2 * 4096);
    assert_true(p.spans[2].addr == BASE + 7 * 4096);
    assert_int_equal(p.spans[2].size, 8 + PLAN_SLACK);
    plan_release(&p);
}

/* mem_read_batch through the plan (code checks): what the batch holds is
 * answered, the rest read in one call. */
static void test_plan_batch_of_reads_answers_what_it_can(void **state)
{
    (void)state;
    struct fake f;
    struct plan p;
    fake_init(&f);
    plan_init(&p, &f.reader);
    sample(&p);
    plan_begin(&p);
    plan_phase(&p, PLAN_CODE);
    uint64_t a, b, c;
    struct mem_span spans[3] = {
        {CODE_AT, &a, 8, 0}, {CODE_AT + 4 * 4096, &b, 8, 0}, {BASE + SIZE, &c, 8, 0}};
    f.calls = 0;
    mem_read_batch(&p.reader, spans, 3);
    assert_int_equal(f.calls, 1);
    assert_int_equal(spans[0].err, 0);
    assert_int_equal(spans[1].err, 0);
    assert_int_equal(spans[2].err, -SG_EFAULT);
    plan_end(&p);
    plan_release(&p);
}

/* Another reader (another process image): the plan is forgotten. */
static void test_plan_new_reader_forgets_the_plan(void **state)
{
    (void)state;
    struct fake f, g;
    struct plan p;
    fake_init(&f);
    fake_init(&g);
    plan_init(&p, &f.reader);
    sample(&p);
    plan_set_live(&p, &g.reader);
    sample(&p);
    assert_int_equal(g.calls, 4);
    assert_int_equal(p.batches, 0);
    plan_release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_second_sample_is_one_batched_call),
        cmocka_unit_test(test_plan_batch_reads_heads_then_data_then_checks),
        cmocka_unit_test(test_plan_new_address_is_read_live_then_planned),
        cmocka_unit_test(test_plan_live_top_makes_the_walk_live),
        cmocka_unit_test(test_plan_live_frame_makes_the_check_live),
        cmocka_unit_test(test_plan_check_comes_from_the_batch_after_a_batched_walk),
        cmocka_unit_test(test_plan_retry_reads_live_and_is_not_recorded),
        cmocka_unit_test(test_plan_off_reads_live),
        cmocka_unit_test(test_plan_unmapped_span_is_dropped),
        cmocka_unit_test(test_plan_merges_neighbours_and_reaches_within_the_page),
        cmocka_unit_test(test_plan_batch_of_reads_answers_what_it_can),
        cmocka_unit_test(test_plan_new_reader_forgets_the_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
