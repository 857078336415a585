/*
 * test_charge.c - charging RSS changes to stacks (profile/charge.c) and
 * reading statm (sample/rss.c).
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

#include "profile/charge.h"
#include "profile/profile.h"
#include "sample/rss.h"
#include "util/err.h"

struct fixture {
    struct profile *p;
    struct charge c;
    uint32_t a, b; /* two stacks */
};

static void setup(struct fixture *f)
{
    f->p = profile_new();
    charge_init(&f->c, f->p);
    uint32_t fa = profile_frame_id(f->p, "alloc", "t.py", 10, PF_PYTHON);
    uint32_t fb = profile_frame_id(f->p, "sleep", "t.py", 11, PF_PYTHON);
    f->a = profile_add_stack(f->p, &fa, 1, 0);
    f->b = profile_add_stack(f->p, &fb, 1, 0);
}

static void test_charge_growth_goes_to_the_running_stack(void **state)
{
    struct fixture f;
    setup(&f);
    charge_sample(&f.c, 0, 1000, f.b, f.b);
    charge_sample(&f.c, 10, 5000, f.a, f.b);
    size_t depth;
    uint64_t weight;
    profile_stack(f.p, f.a, &depth, &weight);
    assert_int_equal(weight, 4000);
    assert_int_equal(profile_stack_memory(f.p, f.a)->grown, 4000);
    assert_int_equal(profile_stack_memory(f.p, f.a)->peak_rss, 5000);
    assert_int_equal(profile_stack_memory(f.p, f.b)->grown, 0);
    assert_int_equal(f.c.by_rule[0], 1);
    profile_free(f.p);
}

static void test_charge_change_after_the_runner_stopped_goes_to_it(void **state)
{
    struct fixture f;
    setup(&f);
    charge_sample(&f.c, 0, 1000, f.a, f.b);
    /* nobody runs now: the thread that ran at the last sample did it */
    charge_sample(&f.c, 10, 3000, -1, f.b);
    assert_int_equal(profile_stack_memory(f.p, f.a)->grown, 2000);
    assert_int_equal(profile_stack_memory(f.p, f.b)->grown, 0);
    /* and then a release with nobody running at either end: the waiting stack */
    charge_sample(&f.c, 20, 500, -1, f.b);
    assert_int_equal(profile_stack_memory(f.p, f.b)->freed, 2500);
    assert_int_equal(f.c.by_rule[1], 1);
    assert_int_equal(f.c.by_rule[2], 1);
    assert_int_equal(f.c.grown, 2000);
    assert_int_equal(f.c.freed, 2500);
    profile_free(f.p);
}

static void test_charge_tracks_peak_time_and_final_rss(void **state)
{
    struct fixture f;
    setup(&f);
    charge_sample(&f.c, 0, 1000, f.a, -1);
    charge_sample(&f.c, 10, 9000, f.a, -1);
    charge_sample(&f.c, 20, 9000, f.a, -1);
    charge_sample(&f.c, 30, 2000, f.a, -1);
    const struct profile_meta *m = profile_meta_const(f.p);
    assert_int_equal(m->peak_rss, 9000);
    assert_int_equal(m->peak_rss_ns, 10); /* first seen */
    assert_int_equal(m->final_rss, 2000);
    assert_int_equal(profile_stack_memory(f.p, f.a)->freed, 7000);
    profile_free(f.p);
}

static void test_charge_without_any_stack_counts_uncharged(void **state)
{
    struct fixture f;
    setup(&f);
    charge_sample(&f.c, 0, 1000, -1, -1);
    charge_sample(&f.c, 10, 4000, -1, -1);
    assert_int_equal(f.c.uncharged, 3000);
    assert_int_equal(profile_total_weight(f.p), 0);
    profile_free(f.p);
}

static void test_charge_keeps_rss_points_only_with_a_timeline_and_on_change(void **state)
{
    struct fixture f;
    setup(&f);
    charge_sample(&f.c, 0, 1000, f.a, -1);
    assert_int_equal(profile_rss_point_count(f.p), 0);
    profile_enable_timeline(f.p);
    charge_sample(&f.c, 10, 2000, f.a, -1);
    charge_sample(&f.c, 20, 2000, f.a, -1);
    charge_sample(&f.c, 30, 1500, f.a, -1);
    assert_int_equal(profile_rss_point_count(f.p), 2);
    assert_int_equal(profile_rss_point(f.p, 0)->time_ns, 10);
    assert_int_equal(profile_rss_point(f.p, 1)->rss, 1500);
    assert_null(profile_rss_point(f.p, 2));
    profile_free(f.p);
}

static void test_rss_parse_statm_reads_the_second_field(void **state)
{
    uint64_t pages = 0;
    assert_int_equal(rss_parse_statm("12345 678 90 1 0 2 0\n", &pages), 0);
    assert_int_equal(pages, 678);
    assert_int_equal(rss_parse_statm("", &pages), -SG_ECORRUPT);
    assert_int_equal(rss_parse_statm("12 x", &pages), -SG_ECORRUPT);
    assert_int_equal(rss_parse_statm("12", &pages), -SG_ECORRUPT);
}

static void test_rss_read_of_our_own_process_is_plausible(void **state)
{
    struct rss_reader r;
    assert_int_equal(rss_open(&r, getpid()), 0);
    uint64_t bytes = 0;
    assert_int_equal(rss_read(&r, &bytes), 0);
    assert_true(bytes > 100 * 1024 && bytes < (64ull << 30));
    rss_close(&r);
    rss_close(&r);
    assert_int_equal(rss_read(&r, &bytes), -SG_ENOPROC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_charge_growth_goes_to_the_running_stack),
        cmocka_unit_test(test_charge_change_after_the_runner_stopped_goes_to_it),
        cmocka_unit_test(test_charge_tracks_peak_time_and_final_rss),
        cmocka_unit_test(test_charge_without_any_stack_counts_uncharged),
        cmocka_unit_test(test_charge_keeps_rss_points_only_with_a_timeline_and_on_change),
        cmocka_unit_test(test_rss_parse_statm_reads_the_second_field),
        cmocka_unit_test(test_rss_read_of_our_own_process_is_plausible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
