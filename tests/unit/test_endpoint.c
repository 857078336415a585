/*
 * test_endpoint.c - endpoint labels: numeric path segments collapse to {n},
 * control characters are replaced, long paths are cut on a character
 * boundary; and the process tree reader's /proc parsing on this process.
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

#include "proc/ptree.h"
#include "python/endpoint.h"

static const char *collapse(const char *path)
{
    static char out[ENDPOINT_PATH_MAX + 1];
    endpoint_collapse_path(path, out, sizeof(out));
    return out;
}

static void test_endpoint_collapse_numeric_segments(void **state)
{
    assert_string_equal(collapse("/users/42"), "/users/{n}");
    assert_string_equal(collapse("/users/42/orders/7"), "/users/{n}/orders/{n}");
    assert_string_equal(collapse("/users/42/"), "/users/{n}/");
    assert_string_equal(collapse("/0"), "/{n}");
}

static void test_endpoint_collapse_keeps_other_segments(void **state)
{
    assert_string_equal(collapse("/"), "/");
    assert_string_equal(collapse("/slow_endpoint"), "/slow_endpoint");
    assert_string_equal(collapse("/v1/users/me"), "/v1/users/me");
    assert_string_equal(collapse("/items/42abc"), "/items/42abc");
    assert_string_equal(collapse("/users/<int:user_id>"), "/users/<int:user_id>");
    assert_string_equal(collapse("/a//b"), "/a//b");
    assert_string_equal(collapse(""), "");
}

static void test_endpoint_collapse_replaces_control_characters(void **state)
{
    assert_string_equal(collapse("/a\nb/\x7f"), "/a?b/?");
}

static void test_endpoint_collapse_cuts_long_paths(void **state)
{
    char path[400], expect[ENDPOINT_PATH_MAX + 1];
    memset(path, 'x', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    const char *out = collapse(path);
    assert_int_equal(strlen(out), ENDPOINT_PATH_MAX);
    memcpy(expect, path, ENDPOINT_PATH_MAX - 3);
    memcpy(expect + ENDPOINT_PATH_MAX - 3, "...", 4);
    assert_string_equal(out, expect);
    /* A cut never splits a UTF-8 character: "é" is two bytes. */
    for (size_t i = 1; i + 1 < sizeof(path) - 1; i += 2)
        memcpy(path + i, "\xc3\xa9", 2);
    out = collapse(path);
    assert_true(strlen(out) <= ENDPOINT_PATH_MAX);
    assert_string_equal(out + strlen(out) - 3, "...");
    assert_int_equal((strlen(out) - 4) % 2, 0); /* "/" then whole 2-byte characters */
}

static void test_endpoint_collapse_small_buffer(void **state)
{
    char out[8];
    endpoint_collapse_path("/users/12345/orders", out, sizeof(out));
    assert_string_equal(out, "/use...");
    endpoint_collapse_path("/1", out, 1);
    assert_string_equal(out, "");
}

static void test_ptree_finds_children_and_grandchildren(void **state)
{
    int report[2], hold[2]; /* child -> us: the grandchild's pid; hold: EOF ends them */
    assert_int_equal(pipe(report), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t child = fork();
    if (child == 0) {
        close(hold[1]);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            char c;
            while (read(hold[0], &c, 1) > 0) {
            }
            _exit(0);
        }
        if (write(report[1], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
            _exit(1);
        waitpid(grandchild, NULL, 0);
        _exit(0);
    }
    close(hold[0]);
    close(report[1]);
    pid_t grandchild = 0;
    ssize_t got = read(report[0], &grandchild, sizeof(grandchild));
    close(report[0]);
    pid_t *pids, parent = 0;
    int n = ptree_descendants(getpid(), &pids);
    int saw_child = 0, saw_grandchild = 0, child_first = 1;
    for (int i = 0; i < n; i++) {
        saw_child |= pids[i] == child;
        if (pids[i] == grandchild) {
            saw_grandchild = 1;
            child_first = saw_child; /* parents come first */
        }
    }
    free(pids);
    int parent_err = ptree_parent(grandchild, &parent);
    uint64_t t1 = 0, t2 = 0;
    int time_err = ptree_start_time(getpid(), &t1) | ptree_start_time(child, &t2);
    close(hold[1]); /* ends the grandchild, then the child */
    waitpid(child, NULL, 0);
    assert_int_equal(got, sizeof(grandchild));
    assert_true(saw_child);
    assert_true(saw_grandchild);
    assert_true(child_first);
    assert_int_equal(parent_err, 0);
    assert_int_equal(parent, child);
    assert_int_equal(time_err, 0);
    assert_true(t2 >= t1);
    assert_true(ptree_descendants(999999999, &pids) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_collapse_numeric_segments),
        cmocka_unit_test(test_endpoint_collapse_keeps_other_segments),
        cmocka_unit_test(test_endpoint_collapse_replaces_control_characters),
        cmocka_unit_test(test_endpoint_collapse_cuts_long_paths),
        cmocka_unit_test(test_endpoint_collapse_small_buffer),
        cmocka_unit_test(test_ptree_finds_children_and_grandchildren),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
