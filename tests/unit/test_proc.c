/*
 * test_proc.c - maps parsing, ELF symbol lookup on the interpreters present,
 * the snapshot reader, version parsing from file names, and new processes
 * seen between tree scans.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/elf.h"
#include "proc/maps.h"
#include "proc/mem.h"
#include "proc/ptree.h"
#include "proc/task.h"
#include "python/detect.h"

static void test_maps_parse_paths_with_spaces_and_anonymous(void **state)
{
    (void)state;
    struct maps m;
    const char *text =
        "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 123 /usr/bin/python3.11\n"
        "7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
        "7f1000000000-7f1000001000 r-xp 00001000 08:01 456 /tmp/my dir/libpython3.12.so.1.0\n"
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n";
    assert_int_equal(maps_parse(&m, text), 0);
    assert_int_equal(m.count, 4);
    assert_string_equal(m.entries[0].path, "/usr/bin/python3.11");
    assert_string_equal(m.entries[1].path, "");
    assert_string_equal(m.entries[2].path, "/tmp/my dir/libpython3.12.so.1.0");
    assert_int_equal(m.entries[2].offset, 0x1000);
    assert_string_equal(m.entries[3].path, "[stack]");
    assert_int_equal(m.entries[2].dev_major, 8);
    assert_int_equal(m.entries[2].dev_minor, 1);
    assert_int_equal(m.entries[2].inode, 456);
    assert_int_equal(m.entries[1].inode, 0);
    assert_true(maps_file_start(&m, "/usr/bin/python3.11") == &m.entries[0]);
    assert_true(maps_lookup(&m, 0x7f0000000010) == &m.entries[1]);
    assert_null(maps_lookup(&m, 0x10));
    assert_int_equal(maps_file_base(&m, "/usr/bin/python3.11"), 0x55d0c0a00000);
    assert_int_equal(maps_file_base(&m, "/tmp/my dir/libpython3.12.so.1.0"), 0);
    maps_release(&m);
}

static void test_maps_parse_rejects_garbage(void **state)
{
    (void)state;
    struct maps m;
    assert_int_equal(maps_parse(&m, "not a maps line\n"), -SG_ECORRUPT);
    assert_int_equal(m.count, 0);
}

static void test_maps_read_self_finds_our_executable(void **state)
{
    (void)state;
    struct maps m;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    assert_int_equal(maps_read(&m, getpid()), 0);
    assert_true(maps_file_base(&m, exe) != 0);
    maps_release(&m);
}

/* The symbols detect.c needs, in every interpreter installed here. */
static void test_elf_finds_runtime_symbols_in_installed_interpreters(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *symbol;
    } cases[] = {
        {"/root/.pyenv/versions/2.7.18/lib/libpython2.7.so.1.0", "interp_head"},
        {"/root/.pyenv/versions/3.6.15/lib/libpython3.6m.so.1.0", "interp_head"},
        {"/root/.pyenv/versions/3.7.16/lib/libpython3.7m.so.1.0", "_PyRuntime"},
        {"/root/.pyenv/versions/3.8.18/lib/libpython3.8.so.1.0", "_PyRuntime"},
        {"/root/.pyenv/versions/3.9.18/lib/libpython3.9.so.1.0", "_PyRuntime"},
        {"/root/.pyenv/versions/3.10.13/lib/libpython3.10.so.1.0", "_PyRuntime"},
        {"/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0", "Py_Version"},
        {"/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0", "_PyRuntime"},
        {"/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0", "_PyRuntime"},
        {"/usr/bin/python3.11", "_PyRuntime"},
    };
    int checked = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct elf_file ef;
        if (access(cases[i].path, R_OK) != 0) {
            print_message("skipping %s: not installed\n", cases[i].path);
            continue;
        }
        assert_int_equal(elf_open_fd(&ef, open(cases[i].path, O_RDONLY | O_CLOEXEC)), 0);
        uint64_t value = 0, size = 0;
        assert_int_equal(elf_symbol(&ef, cases[i].symbol, &value, &size), 0);
        assert_true(value != 0);
        assert_true(size >= 8);
        assert_int_equal(elf_symbol(&ef, "no_such_symbol_xyz", &value, NULL), -SG_ENOTPY);
        uint64_t addr, off, len;
        assert_int_equal(elf_section(&ef, ".rodata", &addr, &off, &len), 0);
        assert_true(len > 0);
        const uint8_t *rodata;
        uint64_t rodata_len;
        assert_int_equal(elf_section_data(&ef, ".rodata", &rodata, &rodata_len), 0);
        assert_int_equal(rodata_len, len);
        elf_close(&ef);
        checked++;
    }
    assert_true(checked > 0);
}

static void test_elf_rejects_non_elf_and_truncated(void **state)
{
    (void)state;
    struct elf_file ef;
    static const uint8_t junk[64] = "definitely not an ELF file";
    assert_int_equal(elf_open_buffer(&ef, junk, sizeof(junk)), -SG_ECORRUPT);
    static const uint8_t header_only[8] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
    assert_int_equal(elf_open_buffer(&ef, header_only, sizeof(header_only)), -SG_ECORRUPT);
    assert_int_equal(elf_open_fd(&ef, open("/", O_RDONLY | O_CLOEXEC)), -SG_EIO);
}

/* A target can truncate the file it maps while we read it: an mmap'd reader
 * would die of SIGBUS; ours reads and fails cleanly. */
static void test_elf_survives_a_file_truncated_under_it(void **state)
{
    (void)state;
    const char *lib = "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0";
    if (access(lib, R_OK) != 0) {
        skip();
        return;
    }
    char copy[] = "/tmp/elf-truncate-XXXXXX";
    int fd = mkstemp(copy);
    assert_true(fd >= 0);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "cp %s %s", lib, copy);
    assert_int_equal(system(cmd), 0);
    struct elf_file ef;
    assert_int_equal(elf_open_fd(&ef, open(copy, O_RDONLY | O_CLOEXEC)), 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    uint64_t value;
    assert_int_equal(elf_symbol(&ef, "_PyRuntime", &value, NULL), -SG_ENOTPY);
    const uint8_t *data;
    uint64_t size;
    assert_int_equal(elf_section_data(&ef, ".rodata", &data, &size), -SG_EIO);
    elf_close(&ef);
    close(fd);
    unlink(copy);
}

static void test_snapshot_reader_bounds(void **state)
{
    (void)state;
    uint8_t data[16];
    for (int i = 0; i < 16; i++)
        data[i] = (uint8_t)i;
    struct mem_snapshot ms;
    struct mem_reader r;
    mem_snapshot_init(&ms, &r, 0x1000, data, sizeof(data));
    uint32_t v;
    assert_int_equal(mem_read_u32(&r, 0x1004, &v), 0);
    assert_int_equal(v, 0x07060504);
    assert_int_equal(mem_read_u32(&r, 0x100e, &v), -SG_EFAULT);
    assert_int_equal(mem_read_u32(&r, 0xfff, &v), -SG_EFAULT);
    assert_int_equal(mem_read_u32(&r, UINT64_MAX - 1, &v), -SG_EFAULT);
}

static void test_read_cstr_stops_at_unreadable_memory(void **state)
{
    (void)state;
    uint8_t data[6] = {'a', 'b', 'c', 'd', 'e', 'f'}; /* no terminator */
    struct mem_snapshot ms;
    struct mem_reader r;
    char buf[64];
    mem_snapshot_init(&ms, &r, 0x2000, data, sizeof(data));
    /* The piece crossing the end fails: we keep what we could prove readable. */
    int err = mem_read_cstr(&r, 0x2000, buf, sizeof(buf));
    assert_true(err == 0 || err == -SG_EFAULT);
    assert_true(strlen(buf) <= 6);
    assert_int_equal(mem_read_cstr(&r, 0x9000, buf, sizeof(buf)), -SG_EFAULT);
}

/* A batch over our own memory: good spans read in one call, a bad one in
 * the middle reported alone without losing the spans after it. */
static void test_batch_read_reports_each_span(void **state)
{
    (void)state;
    static const char first[] = "first span", third[] = "third span", fourth[] = "4th";
    char out[4][16];
    memset(out, 0, sizeof(out));
    struct mem_proc mp;
    struct mem_reader r;
    mem_proc_init(&mp, &r, getpid());
    struct mem_span spans[4] = {
        {(uint64_t)(uintptr_t)first, out[0], sizeof(first), 1},
        {16, out[1], 8, 1}, /* page zero: never mapped */
        {(uint64_t)(uintptr_t)third, out[2], sizeof(third), 1},
        {(uint64_t)(uintptr_t)fourth, out[3], sizeof(fourth), 1},
    };
    mem_read_batch(&r, spans, 4);
    assert_int_equal(spans[0].err, 0);
    assert_string_equal(out[0], first);
    assert_int_equal(spans[1].err, -SG_EFAULT);
    assert_int_equal(spans[2].err, 0);
    assert_string_equal(out[2], third);
    assert_int_equal(spans[3].err, 0);
    assert_string_equal(out[3], fourth);
    /* One call up to the bad span, one to learn why, one for the rest. */
    assert_int_equal(r.reads, 3);
    r.reads = 0;
    mem_read_batch(&r, spans + 2, 2);
    assert_int_equal(r.reads, 1);
    mem_proc_release(&mp);
}

static void test_version_from_file_names(void **state)
{
    (void)state;
    int major = 0, minor = 0;
    assert_int_equal(detect_version_from_name("/x/lib/libpython3.7m.so.1.0", &major, &minor), 0);
    assert_int_equal(major, 3);
    assert_int_equal(minor, 7);
    assert_int_equal(detect_version_from_name("/usr/bin/python3.11", &major, &minor), 0);
    assert_int_equal(minor, 11);
    assert_int_equal(detect_version_from_name("libpython2.7.so", &major, &minor), 0);
    assert_int_equal(major, 2);
    assert_int_equal(detect_version_from_name("/usr/bin/python3", &major, &minor), -1);
    assert_int_equal(detect_version_from_name("/bin/bash", &major, &minor), -1);
}

/* NSpid: our id first, the innermost namespace's last; one id outside
 * any nested namespace; no line on old kernels. */
static void test_task_parse_nspid(void **state)
{
    (void)state;
    pid_t ids[TASK_MAX_NS];
    const char *nested = "Name:\tpython\nTgid:\t7817\nNSpid:\t7817\t1\nNSpgid:\t7817\t1\n";
    assert_int_equal(task_parse_nspid(nested, ids, TASK_MAX_NS), 2);
    assert_int_equal(ids[0], 7817);
    assert_int_equal(ids[1], 1);
    assert_int_equal(task_parse_nspid("Name:\tx\nNSpid:\t42\n", ids, TASK_MAX_NS), 1);
    assert_int_equal(ids[0], 42);
    assert_int_equal(task_parse_nspid("Name:\tx\nPid:\t42\n", ids, TASK_MAX_NS), -SG_ECORRUPT);
    assert_int_equal(task_parse_nspid("Name:\tx\nNSpid:\t-3\n", ids, TASK_MAX_NS), -SG_ECORRUPT);
    /* Ours, for real: one id, the pid. */
    pid_t inner = 0;
    assert_int_equal(task_inner_id(getpid(), getpid(), &inner), 0);
}

static pid_t thread_tid;
static int thread_go_on = 1;

static void *park(void *arg)
{
    (void)arg;
    __atomic_store_n(&thread_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&thread_go_on, __ATOMIC_SEQ_CST))
        usleep(1000);
    return NULL;
}

/* One round: a child process and a thread of ours are created after the
 * watch last looked; the child is listed with us as its parent, the thread
 * is not. Returns 0 if the machine allocated too many other pids meanwhile
 * (the watch then asks for a full scan), 1 if checked. */
static int watch_round(void)
{
    struct ptree_watch w;
    struct ptree_pair found[PTREE_WATCH_MAX];
    pthread_t th;
    ptree_watch_init(&w);
    assert_true(w.fd >= 0);
    ptree_watch_new(&w, found); /* from now on (other processes may have started) */
    __atomic_store_n(&thread_tid, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&thread_go_on, 1, __ATOMIC_SEQ_CST);
    assert_int_equal(pthread_create(&th, NULL, park, NULL), 0);
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    while (!__atomic_load_n(&thread_tid, __ATOMIC_SEQ_CST))
        usleep(1000);
    int n = ptree_watch_new(&w, found), child_seen = 0, thread_seen = 0;
    for (int i = 0; i < n; i++) {
        child_seen |= found[i].pid == child && found[i].parent == getpid();
        thread_seen |= found[i].pid == thread_tid;
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    __atomic_store_n(&thread_go_on, 0, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    ptree_watch_release(&w);
    if (n == -1)
        return 0;
    assert_true(child_seen);
    assert_false(thread_seen);
    return 1;
}

static void test_ptree_watch_lists_new_children_not_threads(void **state)
{
    (void)state;
    int checked = 0;
    for (int round = 0; round < 50 && !checked; round++)
        checked = watch_round();
    assert_true(checked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maps_parse_paths_with_spaces_and_anonymous),
        cmocka_unit_test(test_maps_parse_rejects_garbage),
        cmocka_unit_test(test_maps_read_self_finds_our_executable),
        cmocka_unit_test(test_elf_finds_runtime_symbols_in_installed_interpreters),
        cmocka_unit_test(test_elf_rejects_non_elf_and_truncated),
        cmocka_unit_test(test_elf_survives_a_file_truncated_under_it),
        cmocka_unit_test(test_snapshot_reader_bounds),
        cmocka_unit_test(test_read_cstr_stops_at_unreadable_memory),
        cmocka_unit_test(test_batch_read_reports_each_span),
        cmocka_unit_test(test_version_from_file_names),
        cmocka_unit_test(test_task_parse_nspid),
        cmocka_unit_test(test_ptree_watch_lists_new_children_not_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
