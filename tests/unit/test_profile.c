/*
 * test_profile.c - the profile store: string interning, frame and stack
 * dedupe, dense ids in insertion order, weights, metadata, the timeline and
 * thread names, and memory that grows with distinct stacks only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "profile/profile.h"
#include "profile/strtab.h"

static void test_profile_free_null_is_a_noop(void **state)
{
    profile_free(NULL);
}

static void test_profile_new_is_empty_with_samples_unit(void **state)
{
    struct profile *p = profile_new();
    assert_int_equal(profile_frame_count(p), 0);
    assert_int_equal(profile_stack_count(p), 0);
    assert_int_equal(profile_total_weight(p), 0);
    assert_int_equal(profile_event_count(p), 0);
    assert_false(profile_timeline_enabled(p));
    assert_string_equal(profile_meta_const(p)->unit, "samples");
    assert_null(profile_meta_const(p)->title);
    profile_free(p);
}

static void test_profile_intern_returns_one_pointer_per_string(void **state)
{
    struct profile *p = profile_new();
    char buf[16];
    strcpy(buf, "handler");
    const char *a = profile_intern(p, buf);
    strcpy(buf, "other");
    const char *b = profile_intern(p, buf);
    assert_ptr_equal(profile_intern(p, "handler"), a);
    assert_ptr_equal(profile_intern(p, "other"), b);
    assert_ptr_not_equal(a, b);
    assert_string_equal(a, "handler"); /* a copy: the caller's buffer changed */
    assert_string_equal(profile_intern(p, ""), "");
    profile_free(p);
}

static void test_strtab_survives_growth_and_long_strings(void **state)
{
    struct strtab t;
    strtab_init(&t);
    const char *ptrs[5000];
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "func_%d", i);
        ptrs[i] = strtab_intern(&t, name);
    }
    char *big = malloc(100001);
    memset(big, 'x', 100000);
    big[100000] = '\0';
    const char *big_copy = strtab_intern(&t, big);
    assert_int_equal(strlen(big_copy), 100000);
    const char *after = strtab_intern(&t, "after the big one");
    assert_int_equal(strtab_count(&t), 5002);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "func_%d", i);
        assert_ptr_equal(strtab_intern(&t, name), ptrs[i]);
        assert_string_equal(ptrs[i], name);
    }
    assert_ptr_equal(strtab_intern(&t, big), big_copy);
    assert_string_equal(after, "after the big one");
    assert_int_equal(strtab_count(&t), 5002);
    free(big);
    strtab_release(&t);
}

static void test_profile_frames_dedupe_on_all_four_fields(void **state)
{
    struct profile *p = profile_new();
    uint32_t a = profile_frame_id(p, "f", "a.py", 1, PF_PYTHON);
    assert_int_equal(profile_frame_id(p, "f", "a.py", 1, PF_PYTHON), a);
    uint32_t other_line = profile_frame_id(p, "f", "a.py", 2, PF_PYTHON);
    uint32_t other_file = profile_frame_id(p, "f", "b.py", 1, PF_PYTHON);
    uint32_t other_name = profile_frame_id(p, "g", "a.py", 1, PF_PYTHON);
    uint32_t other_kind = profile_frame_id(p, "f", "a.py", 1, PF_NATIVE);
    assert_int_equal(a, 0);
    assert_int_equal(other_line, 1);
    assert_int_equal(other_file, 2);
    assert_int_equal(other_name, 3);
    assert_int_equal(other_kind, 4);
    assert_int_equal(profile_frame_count(p), 5);
    const struct profile_frame *f = profile_frame(p, other_file);
    assert_string_equal(f->name, "f");
    assert_string_equal(f->file, "b.py");
    assert_int_equal(f->line, 1);
    assert_int_equal(f->kind, PF_PYTHON);
    assert_ptr_equal(f->name, profile_intern(p, "f"));
    assert_null(profile_frame(p, 5));
    profile_free(p);
}

static void test_profile_first_line_is_an_attribute_not_identity(void **state)
{
    struct profile *p = profile_new();
    uint32_t a = profile_frame_id(p, "f", "a.py", 7, PF_PYTHON);
    assert_int_equal(profile_frame(p, a)->first_line, 0);
    profile_set_first_line(p, a, 0);  /* unknown: ignored */
    profile_set_first_line(p, a, -3); /* nonsense: ignored */
    assert_int_equal(profile_frame(p, a)->first_line, 0);
    profile_set_first_line(p, a, 5);
    profile_set_first_line(p, a, 6); /* the first one recorded stays */
    assert_int_equal(profile_frame(p, a)->first_line, 5);
    assert_int_equal(profile_frame_id(p, "f", "a.py", 7, PF_PYTHON), a);
    profile_set_first_line(p, 99, 5); /* unknown id: no-op */
    assert_int_equal(profile_frame_count(p), 1);
    profile_free(p);
}

static void test_profile_frame_ids_are_dense_through_rehashing(void **state)
{
    struct profile *p = profile_new();
    char name[32];
    for (uint32_t i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "f%u", i);
        assert_int_equal(profile_frame_id(p, name, "m.py", (int)i, PF_PYTHON), i);
    }
    for (uint32_t i = 0; i < 10000; i += 97) {
        snprintf(name, sizeof(name), "f%u", i);
        assert_int_equal(profile_frame_id(p, name, "m.py", (int)i, PF_PYTHON), i);
        assert_string_equal(profile_frame(p, i)->name, name);
    }
    assert_int_equal(profile_frame_count(p), 10000);
    profile_free(p);
}

static void test_profile_stacks_dedupe_and_sum_weights(void **state)
{
    struct profile *p = profile_new();
    uint32_t a = profile_frame_id(p, "a", "m.py", 1, PF_PYTHON);
    uint32_t b = profile_frame_id(p, "b", "m.py", 2, PF_PYTHON);
    uint32_t ab[] = {a, b}, ba[] = {b, a}, aa[] = {a};
    assert_int_equal(profile_add_stack(p, ab, 2, 3), 0);
    assert_int_equal(profile_add_stack(p, ba, 2, 5), 1); /* order matters */
    assert_int_equal(profile_add_stack(p, ab, 2, 4), 0);
    assert_int_equal(profile_add_stack(p, aa, 1, 1), 2); /* a prefix is another stack */
    assert_int_equal(profile_add_stack(p, NULL, 0, 2), 3);
    assert_int_equal(profile_add_stack(p, NULL, 0, 2), 3);
    assert_int_equal(profile_stack_count(p), 4);

    size_t depth;
    uint64_t weight;
    const uint32_t *frames = profile_stack(p, 0, &depth, &weight);
    assert_int_equal(depth, 2);
    assert_int_equal(weight, 7);
    assert_int_equal(frames[0], a);
    assert_int_equal(frames[1], b);
    frames = profile_stack(p, 3, &depth, &weight);
    assert_non_null(frames);
    assert_int_equal(depth, 0);
    assert_int_equal(weight, 4);
    assert_null(profile_stack(p, 4, &depth, &weight));

    uint64_t sum = 0;
    for (uint32_t i = 0; i < profile_stack_count(p); i++) {
        profile_stack(p, i, &depth, &weight);
        sum += weight;
    }
    assert_int_equal(sum, 17);
    assert_int_equal(profile_total_weight(p), 17);
    profile_free(p);
}

static void test_profile_stack_copies_callers_array(void **state)
{
    struct profile *p = profile_new();
    uint32_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = profile_frame_id(p, "f", "m.py", i + 1, PF_PYTHON);
    profile_add_stack(p, ids, 3, 1);
    ids[2] = ids[0];
    size_t depth;
    uint64_t weight;
    const uint32_t *frames = profile_stack(p, 0, &depth, &weight);
    assert_int_equal(frames[2], 2);
    assert_int_equal(profile_add_stack(p, ids, 3, 1), 1);
    profile_free(p);
}

static void test_profile_stack_pointers_stay_valid_as_the_pool_grows(void **state)
{
    struct profile *p = profile_new();
    uint32_t ids[5000];
    for (uint32_t i = 0; i < 5000; i++)
        ids[i] = profile_frame_id(p, "f", "m.py", (int)i + 1, PF_PYTHON);
    size_t depth;
    uint64_t weight;
    profile_add_stack(p, ids, 3, 1);
    const uint32_t *first = profile_stack(p, 0, &depth, &weight);
    for (size_t d = 1; d <= 5000; d += 7) /* small and deep stacks, many chunks */
        profile_add_stack(p, ids + (d % 11), d > 4989 ? 4989 : d, 1);
    assert_ptr_equal(profile_stack(p, 0, &depth, &weight), first);
    assert_int_equal(first[0], 0);
    assert_int_equal(first[2], 2);
    for (uint32_t s = 1; s < profile_stack_count(p); s++) {
        /* ids[i] == i, so every stored stack is a run of consecutive ids */
        const uint32_t *frames = profile_stack(p, s, &depth, &weight);
        for (size_t k = 0; k < depth; k++)
            assert_int_equal(frames[k], frames[0] + k);
    }
    profile_free(p);
}

static void test_profile_weights_saturate_instead_of_wrapping(void **state)
{
    struct profile *p = profile_new();
    uint32_t a = profile_frame_id(p, "a", "", 0, PF_PYTHON);
    profile_add_stack(p, &a, 1, UINT64_MAX - 1);
    profile_add_stack(p, &a, 1, 5);
    size_t depth;
    uint64_t weight;
    profile_stack(p, 0, &depth, &weight);
    assert_true(weight == UINT64_MAX);
    assert_true(profile_total_weight(p) == UINT64_MAX);
    profile_free(p);
}

static void test_profile_million_adds_of_100_stacks_keep_100(void **state)
{
    struct profile *p = profile_new();
    uint32_t frames[40];
    char name[16];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        frames[i] = profile_frame_id(p, name, "app.py", i + 1, PF_PYTHON);
    }
    uint32_t stacks[100][20];
    for (int s = 0; s < 100; s++) {
        for (int d = 0; d < 20; d++)
            stacks[s][d] = frames[(s * 7 + d * (s % 5 + 1)) % 40];
    }
    for (int s = 0; s < 100; s++) /* make sure the 100 are distinct */
        stacks[s][0] = frames[s % 40], stacks[s][1] = frames[s / 40];
    for (int i = 0; i < 1000000; i++)
        profile_add_stack(p, stacks[i % 100], 20, 1);
    assert_int_equal(profile_stack_count(p), 100);
    assert_int_equal(profile_frame_count(p), 40);
    assert_int_equal(profile_total_weight(p), 1000000);
    size_t depth;
    uint64_t weight;
    for (uint32_t s = 0; s < 100; s++) {
        profile_stack(p, s, &depth, &weight);
        assert_int_equal(depth, 20);
        assert_int_equal(weight, 10000);
    }
    profile_free(p);
}

static void test_profile_meta_strings_are_copied(void **state)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    char title[16] = "first";
    profile_set_meta_str(p, &m->title, title);
    strcpy(title, "changed");
    assert_string_equal(profile_meta_const(p)->title, "first");
    profile_set_meta_str(p, &m->title, "second");
    assert_string_equal(m->title, "second");
    profile_set_meta_str(p, &m->title, m->title); /* self-assignment is safe */
    assert_string_equal(m->title, "second");
    profile_set_meta_str(p, &m->unit, NULL);
    assert_null(m->unit);
    m->rate_hz = 100;
    assert_true(profile_meta_const(p)->rate_hz == 100);
    profile_free(p);
}

static void test_profile_timeline_is_off_until_enabled(void **state)
{
    struct profile *p = profile_new();
    uint32_t a = profile_frame_id(p, "a", "m.py", 1, PF_PYTHON);
    uint32_t s = profile_add_stack(p, &a, 1, 1);
    profile_add_event(p, 10, 7, s);
    assert_int_equal(profile_event_count(p), 0);
    profile_enable_timeline(p);
    assert_true(profile_timeline_enabled(p));
    for (uint64_t t = 0; t < 1000; t++)
        profile_add_event(p, t * 10, 7 + t % 2, s);
    assert_int_equal(profile_event_count(p), 1000);
    const struct profile_event *e = profile_event(p, 999);
    assert_int_equal(e->time_ns, 9990);
    assert_int_equal(e->thread, 8);
    assert_int_equal(e->stack, s);
    assert_null(profile_event(p, 1000));
    profile_free(p);
}

static void test_profile_thread_names_are_copied_and_replaced(void **state)
{
    struct profile *p = profile_new();
    assert_null(profile_thread_name(p, 1));
    char name[16] = "MainThread";
    profile_set_thread_name(p, 1234, name);
    strcpy(name, "x");
    assert_string_equal(profile_thread_name(p, 1234), "MainThread");
    for (uint64_t t = 0; t < 300; t++) {
        snprintf(name, sizeof(name), "worker-%u", (unsigned)t);
        profile_set_thread_name(p, 5000 + t, name);
    }
    profile_set_thread_name(p, 1234, "renamed");
    assert_string_equal(profile_thread_name(p, 1234), "renamed");
    assert_string_equal(profile_thread_name(p, 5299), "worker-299");
    assert_null(profile_thread_name(p, 1));
    profile_free(p);
}

/* A flood of new names past the frame cap: "(other)", and nothing interned. */
static void test_profile_frame_cap_interns_nothing_new(void **state)
{
    struct profile *p = profile_new();
    profile_set_limits(p, &(struct profile_limits){4, 100, 1000, SIZE_MAX});
    uint32_t a = profile_frame_id(p, "a", "x.py", 1, PF_PYTHON);
    uint32_t b = profile_frame_id(p, "b", "x.py", 2, PF_PYTHON);
    uint32_t c = profile_frame_id(p, "c", "x.py", 3, PF_PYTHON);
    size_t strings = profile_string_count(p);
    char name[32];
    uint32_t other = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "flood_%d", i);
        other = profile_frame_id(p, name, name, i, PF_PYTHON);
        assert_string_equal(profile_frame(p, other)->name, PROFILE_OTHER);
    }
    /* only "(other)" and its empty file name, once; a known frame is still itself */
    assert_int_equal(profile_string_count(p), strings + 2);
    assert_int_equal(profile_frame_id(p, "b", "x.py", 2, PF_PYTHON), b);
    assert_int_equal(profile_frame_count(p), 4);
    assert_int_equal(profile_overflow(p)->frames, 1000);
    /* Samples of stacks holding "(other)" are counted, every time. */
    uint32_t with_other[] = {a, other}, plain[] = {a, c};
    profile_add_stack(p, with_other, 2, 3);
    profile_add_stack(p, with_other, 2, 2);
    profile_add_stack(p, plain, 2, 7);
    assert_int_equal(profile_overflow(p)->weight, 5);
    assert_int_equal(profile_overflow(p)->stacks, 0);
    profile_free(p);
}

/* Past the stack cap, or the cap on frame ids held by all stacks, a new
 * stack's weight goes to the stack "(other)". */
static void test_profile_stack_caps_send_new_stacks_to_other(void **state)
{
    struct profile *p = profile_new();
    profile_set_limits(p, &(struct profile_limits){100, 100, 10, SIZE_MAX});
    uint32_t f[8];
    for (int i = 0; i < 8; i++)
        f[i] = profile_frame_id(p, "f", "x.py", i + 1, PF_PYTHON);
    assert_int_equal(profile_add_stack(p, f, 8, 1), 0);
    uint32_t other = profile_add_stack(p, f + 1, 4, 2); /* 8 + 4 > 10 ids */
    size_t depth;
    uint64_t weight;
    const uint32_t *frames = profile_stack(p, other, &depth, &weight);
    assert_int_equal(depth, 1);
    assert_string_equal(profile_frame(p, frames[0])->name, PROFILE_OTHER);
    assert_int_equal(weight, 2);
    assert_int_equal(profile_add_stack(p, f, 1, 4), 2); /* 8 + 1 (other) + 1 fits */
    assert_int_equal(profile_add_stack(p, f + 2, 1, 5), other);
    assert_int_equal(profile_overflow(p)->stacks, 2);
    assert_int_equal(profile_overflow(p)->weight, 7);
    assert_int_equal(profile_add_stack(p, f, 8, 1), 0); /* a known stack is still itself */

    struct profile *q = profile_new();
    profile_set_limits(q, &(struct profile_limits){100, 3, SIZE_MAX, SIZE_MAX});
    uint32_t g = profile_frame_id(q, "g", "x.py", 1, PF_PYTHON);
    uint32_t two[] = {g, g}, three[] = {g, g, g};
    assert_int_equal(profile_add_stack(q, &g, 1, 1), 0);
    assert_int_equal(profile_add_stack(q, two, 2, 1), 1);
    assert_int_equal(profile_add_stack(q, three, 3, 1), 2); /* id 2 is "(other)" */
    assert_int_equal(profile_stack_count(q), 3);
    profile_free(q);
    profile_free(p);
}

/* Long names fill the string cap before the frame cap. */
static void test_profile_string_bytes_cap(void **state)
{
    struct profile *p = profile_new();
    profile_set_limits(p, &(struct profile_limits){1000, 1000, SIZE_MAX, 4096});
    char name[1100];
    memset(name, 'L', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    size_t kept = 0;
    for (int i = 0; i < 100; i++) {
        name[0] = (char)('A' + i % 26);
        name[1] = (char)('A' + i / 26);
        uint32_t id = profile_frame_id(p, name, "x.py", 1, PF_PYTHON);
        kept += strcmp(profile_frame(p, id)->name, PROFILE_OTHER) != 0;
    }
    assert_int_equal(kept, 4); /* 4 x 1100 bytes reach 4096 */
    assert_int_equal(profile_overflow(p)->frames, 96);
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_free_null_is_a_noop),
        cmocka_unit_test(test_profile_new_is_empty_with_samples_unit),
        cmocka_unit_test(test_profile_intern_returns_one_pointer_per_string),
        cmocka_unit_test(test_strtab_survives_growth_and_long_strings),
        cmocka_unit_test(test_profile_frames_dedupe_on_all_four_fields),
        cmocka_unit_test(test_profile_first_line_is_an_attribute_not_identity),
        cmocka_unit_test(test_profile_frame_ids_are_dense_through_rehashing),
        cmocka_unit_test(test_profile_stacks_dedupe_and_sum_weights),
        cmocka_unit_test(test_profile_stack_copies_callers_array),
        cmocka_unit_test(test_profile_stack_pointers_stay_valid_as_the_pool_grows),
        cmocka_unit_test(test_profile_weights_saturate_instead_of_wrapping),
        cmocka_unit_test(test_profile_million_adds_of_100_stacks_keep_100),
        cmocka_unit_test(test_profile_meta_strings_are_copied),
        cmocka_unit_test(test_profile_timeline_is_off_until_enabled),
        cmocka_unit_test(test_profile_thread_names_are_copied_and_replaced),
        cmocka_unit_test(test_profile_frame_cap_interns_nothing_new),
        cmocka_unit_test(test_profile_stack_caps_send_new_stacks_to_other),
        cmocka_unit_test(test_profile_string_bytes_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
