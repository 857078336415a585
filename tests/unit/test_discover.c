/*
 * test_discover.c - how the agent names and selects processes
 * (collect/discover.c): container ids from /proc/PID/cgroup texts, service
 * names from command lines, cgroup membership, and a scan of this very
 * process's own children by pattern.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "collect/discover.h"

#define ID64 "3f2a9c81d0e4b5a67788990011223344556677889900aabbccddeeff00112233"

static void test_discover_container_id_from_runtimes_cgroup_names(void **state)
{
    char id[16];
    assert_int_equal(
        discover_container_id("0::/system.slice/docker-" ID64 ".scope\n", id, sizeof(id)), 1);
    assert_string_equal(id, "3f2a9c81d0e4");
    assert_int_equal(discover_container_id("12:pids:/docker/" ID64 "\n", id, sizeof(id)), 1);
    assert_int_equal(discover_container_id(
                         "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" ID64 ".scope\n",
                         id, sizeof(id)),
                     1);
    assert_int_equal(
        discover_container_id("0::/user.slice/user-0.slice/session-3.scope\n", id, sizeof(id)), 0);
    /* 64 hex digits inside a longer word are not an id */
    assert_int_equal(discover_container_id("0::/x" ID64 "ab\n", id, sizeof(id)), 0);
}

static void name_of(const char *expect, char *const *argv, size_t argc)
{
    char buf[64];
    discover_program_name(argv, argc, buf, sizeof(buf));
    assert_string_equal(buf, expect);
}

static void test_discover_program_name_is_the_script_module_or_command(void **state)
{
    char *script[] = {"/usr/bin/python3", "-u", "/srv/app/server.py", "--port", "80"};
    char *module[] = {"python3.11", "-m", "http.server"};
    char *gunicorn[] = {"/venv/bin/gunicorn", "app:app", "-w", "2"};
    char *code[] = {"python", "-c", "print(1)"};
    name_of("server", script, 5);
    name_of("http.server", module, 3);
    name_of("gunicorn", gunicorn, 4);
    name_of("python", code, 3);
}

static void test_discover_in_cgroup_matches_the_folder_and_below(void **state)
{
    const char *v2 = "0::/system.slice/app.service\n";
    assert_true(discover_in_cgroup(v2, "/system.slice/app.service"));
    assert_true(discover_in_cgroup(v2, "/sys/fs/cgroup/system.slice/app.service/"));
    assert_true(discover_in_cgroup(v2, "/system.slice"));
    assert_false(discover_in_cgroup(v2, "/system.slice/app"));
    assert_false(discover_in_cgroup(v2, "/user.slice"));
    const char *v1 = "4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n";
    assert_true(discover_in_cgroup(v1, "/sys/fs/cgroup/memory/docker/abc"));
    assert_true(discover_in_cgroup(v1, "/docker"));
}

static void test_discover_list_finds_a_child_by_pattern(void **state)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        execlp("sleep", "sleep", "30.25", (char *)NULL);
        _exit(127);
    }
    char *patterns[] = {"30.25"};
    struct discover_options opt = {.patterns = patterns, .npatterns = 1};
    struct discover d;
    discover_init(&d, &opt);
    int found = 0;
    for (int tries = 0; tries < 500 && !found; tries++) { /* until the child has exec'd */
        pid_t *pids = NULL;
        int n = discover_list(&d, &pids);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++)
            found |= pids[i] == child;
        free(pids);
        if (!found)
            usleep(10000);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_true(found);
    assert_int_equal(d.followed, 1);
    discover_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discover_container_id_from_runtimes_cgroup_names),
        cmocka_unit_test(test_discover_program_name_is_the_script_module_or_command),
        cmocka_unit_test(test_discover_in_cgroup_matches_the_folder_and_below),
        cmocka_unit_test(test_discover_list_finds_a_child_by_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
