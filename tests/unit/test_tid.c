/*
 * test_tid.c - finding a thread's OS id in glibc's struct pthread
 * (python/tid.h), on hand-built structs: the offset that holds a thread of
 * the process in the most structs, never twice the same, matching the
 * threads already known, with the main thread's pid when nothing is known.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "python/tid.h"

#define TID_AT 720 /* where glibc 2.36 keeps it on x86-64; any offset will do */

static uint8_t structs[4][TID_PTHREAD_SCAN];

static void put(int thread, size_t off, int32_t value)
{
    memcpy(structs[thread] + off, &value, 4);
}

static void reset(void)
{
    memset(structs, 0, sizeof(structs));
}

/* A uWSGI worker: one thread, whose thread state names the master; its
 * struct holds the worker's pid at the tid's offset. */
static void test_tid_offset_of_a_lone_main_thread_is_where_the_pid_is(void **state)
{
    (void)state;
    pid_t tasks[] = {4242};
    pid_t known[] = {0};
    reset();
    put(0, TID_AT, 4242);
    put(0, 100, 4241); /* the master's pid: no thread of this process */
    assert_int_equal(tid_find_offset(&structs[0][0], 1, known, tasks, 1, 4242), TID_AT);
}

/* Threads whose own ids were right pin the offset, even where another
 * offset would also hold threads of the process. */
static void test_tid_offset_matches_the_threads_already_known(void **state)
{
    (void)state;
    pid_t tasks[] = {100, 101, 102};
    pid_t known[] = {0, 101, 102};
    reset();
    put(0, TID_AT, 100);
    put(1, TID_AT, 101);
    put(2, TID_AT, 102);
    put(0, 64, 100); /* a decoy: right for thread 0, wrong for the known ones */
    put(1, 64, 102);
    put(2, 64, 101);
    assert_int_equal(tid_find_offset(&structs[0][0], 3, known, tasks, 3, 100), TID_AT);
}

/* A field that holds the pid in every struct (old glibc's pid) is not the
 * tid: the same thread twice. */
static void test_tid_offset_never_names_one_thread_twice(void **state)
{
    (void)state;
    pid_t tasks[] = {100, 101};
    pid_t known[] = {0, 0};
    reset();
    put(0, 32, 100);
    put(1, 32, 100);
    put(0, TID_AT, 100);
    put(1, TID_AT, 101);
    assert_int_equal(tid_find_offset(&structs[0][0], 2, known, tasks, 2, 100), TID_AT);
}

/* A stale thread state (a thread that is gone) does not spoil the search:
 * the offset is the one where the most structs hold live threads. */
static void test_tid_offset_tolerates_a_thread_that_is_gone(void **state)
{
    (void)state;
    pid_t tasks[] = {100, 101};
    pid_t known[] = {0, 0, 0};
    reset();
    put(0, TID_AT, 100);
    put(1, TID_AT, 101);
    put(2, TID_AT, 999); /* exited */
    put(0, 8, 100);      /* a coincidence in one struct only */
    assert_int_equal(tid_find_offset(&structs[0][0], 3, known, tasks, 2, 100), TID_AT);
}

/* Nothing known and no pid anywhere: no guess. */
static void test_tid_offset_is_not_guessed(void **state)
{
    (void)state;
    pid_t tasks[] = {100, 101};
    pid_t known[] = {0};
    reset();
    put(0, TID_AT, 101);
    assert_int_equal(tid_find_offset(&structs[0][0], 1, known, tasks, 2, 100), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tid_offset_of_a_lone_main_thread_is_where_the_pid_is),
        cmocka_unit_test(test_tid_offset_matches_the_threads_already_known),
        cmocka_unit_test(test_tid_offset_never_names_one_thread_twice),
        cmocka_unit_test(test_tid_offset_tolerates_a_thread_that_is_gone),
        cmocka_unit_test(test_tid_offset_is_not_guessed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
