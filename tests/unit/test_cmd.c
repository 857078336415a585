/*
 * test_cmd.c - what cmd.c decides without printing: the permission hints
 * (whose process it is, not dumpable, Yama only where it is the cause), the
 * uid parsing of /proc status behind them, and SPYGLASS_MAX_FRAMES.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "proc/proc.h"
#include "profile/profile.h"
#include "util/err.h"

#define ME 1000

static void test_hint_names_the_owner_of_another_users_process(void **state)
{
    (void)state;
    struct proc_access a = {.uid = 0, .euid = 0, .dumpable = 1, .yama_scope = -1};
    const char *h = cmd_permission_hint(42, &a, ME, 0);
    assert_non_null(strstr(h, "process 42 belongs to user root (uid 0)"));
    assert_non_null(strstr(h, "root (sudo)"));
    a.uid = a.euid = 987654; /* no such user: the uid alone */
    assert_non_null(strstr(cmd_permission_hint(42, &a, ME, 0), "belongs to uid 987654:"));
    /* Yama 1 would refuse too, but the owner is the first thing to fix */
    a.yama_scope = 1;
    assert_null(strstr(cmd_permission_hint(42, &a, ME, 0), "ptrace_scope"));
}

static void test_hint_for_our_own_process_that_is_not_dumpable(void **state)
{
    (void)state;
    struct proc_access a = {.uid = ME, .euid = ME, .dumpable = 0, .yama_scope = -1};
    const char *h = cmd_permission_hint(7, &a, ME, 0);
    assert_non_null(strstr(h, "runs as your user but is not dumpable"));
    assert_non_null(strstr(h, "only root can read it"));
    assert_null(strstr(h, "ptrace_scope"));
    a.dumpable = 1;
    a.euid = 0; /* a setuid program we started */
    assert_non_null(strstr(cmd_permission_hint(7, &a, ME, 0), "not dumpable"));
}

static void test_hint_names_yama_only_where_it_is_the_cause(void **state)
{
    (void)state;
    struct proc_access a = {.uid = ME, .euid = ME, .dumpable = 1, .yama_scope = -1};
    assert_null(strstr(cmd_permission_hint(7, &a, ME, 0), "ptrace_scope")); /* no Yama */
    a.yama_scope = 0;
    assert_null(strstr(cmd_permission_hint(7, &a, ME, 0), "ptrace_scope"));
    a.yama_scope = 1;
    assert_non_null(strstr(cmd_permission_hint(7, &a, ME, 0), "ptrace_scope is 1"));
    assert_null(strstr(cmd_permission_hint(7, &a, 0, 1), "ptrace_scope")); /* root passes 1 */
    a.yama_scope = 2;
    assert_non_null(strstr(cmd_permission_hint(7, &a, ME, 0), "only root"));
    assert_null(strstr(cmd_permission_hint(7, &a, 0, 1), "ptrace_scope"));
    a.yama_scope = 3;
    assert_non_null(strstr(cmd_permission_hint(7, &a, 0, 1), "not even root"));
    a.yama_scope = -1;
    assert_non_null(strstr(cmd_permission_hint(7, &a, 0, 1), "security module"));
}

static void test_status_uids_are_parsed(void **state)
{
    (void)state;
    long uid, euid;
    assert_int_equal(
        proc_parse_uids("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n", &uid, &euid), 0);
    assert_int_equal(uid, 1000);
    assert_int_equal(euid, 0);
    assert_int_equal(proc_parse_uids("Name:\tx\n", &uid, &euid), -SG_ECORRUPT);
    assert_int_equal(proc_parse_uids("Name:\tx\nUid:\tbad\n", &uid, &euid), -SG_ECORRUPT);
}

static void test_max_frames_from_the_environment(void **state)
{
    (void)state;
    unsetenv("SPYGLASS_MAX_FRAMES");
    assert_int_equal(cmd_max_frames(), PROFILE_DEFAULT_FRAMES);
    setenv("SPYGLASS_MAX_FRAMES", "500", 1);
    assert_int_equal(cmd_max_frames(), 500);
    static const char *const bad[] = {"", "0", "-5", "12x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("SPYGLASS_MAX_FRAMES", bad[i], 1);
        assert_int_equal(cmd_max_frames(), PROFILE_DEFAULT_FRAMES);
    }
    unsetenv("SPYGLASS_MAX_FRAMES");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hint_names_the_owner_of_another_users_process),
        cmocka_unit_test(test_hint_for_our_own_process_that_is_not_dumpable),
        cmocka_unit_test(test_hint_names_yama_only_where_it_is_the_cause),
        cmocka_unit_test(test_status_uids_are_parsed),
        cmocka_unit_test(test_max_frames_from_the_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
