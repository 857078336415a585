/*
 * test_tfile.c - opening what a process maps, as it maps it (proc/tfile.c):
 * a deleted mapped file still reads (map_files); without root a deleted one
 * is refused with a sentence that says so, and an intact one is opened by
 * path and checked; a path inside a process's root cannot leave it through
 * an absolute symlink or "..". The tests that need other users or chroot run
 * only as root (as make test does) and say so when skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/maps.h"
#include "proc/tfile.h"
#include "util/err.h"
#include "util/util.h"

#define CONTENT "the file as it was mapped"

/* Creates a file holding CONTENT in dir (mode 0644), maps it, and returns
 * the mapping; the file's path is left in path. */
static void *map_new_file(const char *dir, char *path, size_t size)
{
    snprintf(path, size, "%s/mapped-XXXXXX", dir);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0644), 0);
    assert_int_equal(write(fd, CONTENT, sizeof(CONTENT)), (ssize_t)sizeof(CONTENT));
    void *map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(map != MAP_FAILED);
    close(fd);
    return map;
}

/* Finds our own mapping at addr. */
static const struct map_entry *own_entry(struct maps *m, void *addr)
{
    assert_int_equal(maps_read(m, getpid()), 0);
    const struct map_entry *e = maps_lookup(m, (uint64_t)(uintptr_t)addr);
    assert_non_null(e);
    return e;
}

/* Opens our mapping at addr through tfile and checks what it reads; with
 * other_inode, as if the maps line named another inode than the file's. */
static int open_own(void *addr, int other_inode, char *why, size_t why_size)
{
    struct maps m;
    struct map_entry e = *own_entry(&m, addr);
    e.inode += other_inode ? 1 : 0;
    int fd = -1;
    int err = tfile_open_mapped(getpid(), &e, &fd, why, why_size);
    if (!err) {
        char buf[sizeof(CONTENT)] = "";
        assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
        assert_string_equal(buf, CONTENT);
        close(fd);
    }
    maps_release(&m);
    return err;
}

static void test_tfile_reads_a_deleted_mapped_file_as_root(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip(); /* map_files needs root */
        return;
    }
    char path[256], why[512] = "";
    void *map = map_new_file("/tmp", path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(open_own(map, 0, why, sizeof(why)), 0);
    munmap(map, 4096);
}

/* In a child that became user nobody: an intact file is found by its path
 * (inode checked), a deleted one is refused with "deleted" in the sentence.
 * Returns the child's exit status: 0 if both held. */
static int run_as_nobody(const char *dir)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(10);
        char path[256], why[512] = "";
        void *intact = map_new_file(dir, path, sizeof(path));
        if (open_own(intact, 0, why, sizeof(why)) != 0)
            _exit(11);
        void *deleted = map_new_file(dir, path, sizeof(path));
        unlink(path);
        if (open_own(deleted, 0, why, sizeof(why)) != -SG_EPERM || !strstr(why, "deleted") ||
            !strstr(why, "only root"))
            _exit(12);
        /* The path now holds another file (a mount over it, in a container). */
        if (open_own(intact, 1, why, sizeof(why)) != -SG_EPERM || !strstr(why, "no longer"))
            _exit(13);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void test_tfile_without_root_checks_the_inode(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip(); /* needs to become another user */
        return;
    }
    char dir[] = "/tmp/tfile-nobody-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 01777), 0);
    assert_int_equal(run_as_nobody(dir), 0);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A child chroot'ed into root_dir, waiting to be killed. */
static pid_t start_chrooted(const char *root_dir)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (chroot(root_dir) != 0 || chdir("/") != 0)
            _exit(1);
        if (write(ready[1], "R", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char byte = 0;
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    return child;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_tfile_in_root_keeps_symlinks_inside(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip(); /* chroot needs root */
        return;
    }
    char base[] = "/tmp/tfile-root-XXXXXX";
    assert_non_null(mkdtemp(base));
    char *root_dir = xasprintf("%s/root", base), *host_file = xasprintf("%s/host-only", base);
    assert_int_equal(mkdir(root_dir, 0755), 0);
    write_file(host_file, "host");
    char *inside = xasprintf("%s/inside", root_dir), *abs_link = xasprintf("%s/abs", root_dir),
         *up_link = xasprintf("%s/up", root_dir);
    write_file(inside, "inside");
    /* Both name the host-only file as a host path walk would resolve them. */
    assert_int_equal(symlink(host_file, abs_link), 0);
    assert_int_equal(symlink("../host-only", up_link), 0);
    pid_t child = start_chrooted(root_dir);
    int fd = -1;
    assert_int_equal(tfile_open_in_root(child, "/inside", &fd), 0);
    char buf[16] = "";
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    assert_string_equal(buf, "inside");
    close(fd);
    assert_int_equal(tfile_open_in_root(child, "/abs", &fd), -SG_ENOPROC);
    assert_int_equal(tfile_open_in_root(child, "/up", &fd), -SG_ENOPROC);
    assert_int_equal(tfile_open_in_root(child, "/../../host-only", &fd), -SG_ENOPROC);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    char *cmd = xasprintf("rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(root_dir);
    free(host_file);
    free(inside);
    free(abs_link);
    free(up_link);
}

static void test_tfile_gone_mapping_is_no_process(void **state)
{
    (void)state;
    struct map_entry e = {.start = 0x1000, .end = 0x2000, .path = "/nowhere"};
    char why[256] = "";
    int fd;
    int err = tfile_open_mapped(getpid(), &e, &fd, why, sizeof(why));
    /* root: no such mapping; others: the fallback finds no such file */
    assert_true(err == -SG_ENOPROC || err == -SG_EPERM);
    assert_true(why[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tfile_reads_a_deleted_mapped_file_as_root),
        cmocka_unit_test(test_tfile_without_root_checks_the_inode),
        cmocka_unit_test(test_tfile_in_root_keeps_symlinks_inside),
        cmocka_unit_test(test_tfile_gone_mapping_is_no_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
