/*
 * test_output.c - result files (util/output.c): complete or absent, owned
 * by the user sudo ran us for, and never written through a symbolic link
 * into another user's file. The ownership cases need root (make test runs
 * as root) and are skipped otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/output.h"
#include "util/util.h"

static char dir[] = "/tmp/test-output-XXXXXX";

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test-output-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    unsetenv("SUDO_UID");
    unsetenv("SUDO_GID");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf %s", dir);
    int rc = system(cmd);
    free(cmd);
    unsetenv("SUDO_UID");
    unsetenv("SUDO_GID");
    return rc == 0 ? 0 : -1;
}

static char *in_dir(const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* output_open + a line + output_commit; returns output_open's result. */
static int write_output(const char *path, const char *text, char *why, size_t why_size)
{
    struct output o;
    if (output_open(&o, path, why, why_size))
        return -1;
    fputs(text, o.file);
    assert_int_equal(output_commit(&o, why, why_size), 0);
    return 0;
}

static void test_output_link_to_own_file_is_written_through(void **state)
{
    (void)state;
    char *target = in_dir("mine.svg"), *link = in_dir("link.svg"), why[512] = "", buf[64];
    write_text(target, "old");
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(write_output(link, "new", why, sizeof(why)), 0);
    read_text(target, buf, sizeof(buf));
    assert_string_equal(buf, "new");
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* the link is still a link */
    free(target);
    free(link);
}

static void test_output_dangling_link_is_refused(void **state)
{
    (void)state;
    char *link = in_dir("dangling.svg"), *nowhere = in_dir("nowhere/x"), why[512] = "";
    assert_int_equal(symlink(nowhere, link), 0);
    assert_int_equal(write_output(link, "x", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "symbolic link"));
    free(link);
    free(nowhere);
}

static void test_output_link_to_another_users_file_is_refused(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip(); /* needs a file of another user */
        return;
    }
    char *target = in_dir("theirs"), *link = in_dir("planted.svg"), why[512] = "", buf[64];
    write_text(target, "precious");
    assert_int_equal(chown(target, 65534, 65534), 0);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(write_output(link, "clobbered", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "symbolic link"));
    assert_non_null(strstr(why, "uid 65534"));
    read_text(target, buf, sizeof(buf));
    assert_string_equal(buf, "precious");
    free(target);
    free(link);
}

/* As root under sudo for uid 65534: the result is 65534's, and a link into
 * root's own file is now another user's file. */
static void test_output_under_sudo_belongs_to_the_invoking_user(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
        return;
    }
    setenv("SUDO_UID", "65534", 1);
    setenv("SUDO_GID", "65533", 1);
    uid_t uid;
    gid_t gid;
    assert_int_equal(output_sudo_user(&uid, &gid), 1);
    assert_int_equal(uid, 65534);
    assert_int_equal(gid, 65533);
    char *path = in_dir("profile.svg"), *root_file = in_dir("roots"), *link = in_dir("l.svg");
    char why[512] = "";
    assert_int_equal(write_output(path, "x", why, sizeof(why)), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_gid, 65533);
    write_text(root_file, "root's");
    assert_int_equal(symlink(root_file, link), 0);
    assert_int_equal(write_output(link, "x", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "uid 0"));
    free(path);
    free(root_file);
    free(link);
}

static void test_output_sudo_ids_must_be_valid(void **state)
{
    (void)state;
    uid_t uid;
    gid_t gid;
    static const char *const bad[] = {"", "abc", "-1", "0", "12x", "4294967295"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("SUDO_UID", bad[i], 1);
        setenv("SUDO_GID", "100", 1);
        assert_int_equal(output_sudo_user(&uid, &gid), 0);
    }
    unsetenv("SUDO_UID");
    assert_int_equal(output_sudo_user(&uid, &gid), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_output_link_to_own_file_is_written_through, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_dangling_link_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_link_to_another_users_file_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_under_sudo_belongs_to_the_invoking_user, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_sudo_ids_must_be_valid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
