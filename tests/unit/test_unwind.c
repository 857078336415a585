/*
 * test_unwind.c - native stacks of live processes (proc/unwind.c).
 *
 * Each test starts tests/targets/native_chain (built -O0 -g by the Makefile
 * into $(B)/targets/, also stripped, and stripped with its functions
 * exported), stops it the way the sampler does (proc/pause.c), unwinds a
 * thread and checks the frames by name, innermost first. The teardown kills
 * the target and lets every thread go, also after a failed assertion, and
 * the target dies with us (PR_SET_PDEATHSIG) if this program crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/elf.h"
#include "proc/pause.h"
#include "proc/task.h"
#include "proc/unwind.h"
#include "util/err.h"

#define LEAF "spyglass::test::leaf(int)"
#define MAX_FRAMES 256

/* One running native_chain and what a test holds on it. */
struct fixture {
    pid_t pid;
    int out;   /* the target's stdout */
    pid_t tid; /* the thread that printed the last line */
    struct pause_set ps;
    int paused; /* ps was initialised */
    struct unwinder *u;
    struct native_frame frames[MAX_FRAMES];
    size_t depth;
};

static struct fixture fx;

/* Returns the path of a program in $(B)/targets/, next to our own $(B)/tests/ (or
 * $(B)/asan-tests/) directory. */
static void target_path(const char *name, char *path, size_t size)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(path, size, "%s/../targets/%s", dirname(self), name);
    if (access(path, X_OK) != 0)
        fail_msg("%s is missing: run 'make unit', which builds it", path);
}

/* Reads one line the target prints ("READY 1234") within 5 s; returns the tid in it. */
static pid_t wait_line(const char *word)
{
    char line[128];
    size_t len = 0;
    while (len + 1 < sizeof(line)) {
        struct pollfd pfd = {.fd = fx.out, .events = POLLIN};
        if (poll(&pfd, 1, 5000) != 1)
            fail_msg("native_chain did not print %s", word);
        if (read(fx.out, &line[len], 1) != 1)
            fail_msg("native_chain ended before printing %s", word);
        if (line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    int tid = 0;
    char seen[32];
    if (sscanf(line, "%31s %d", seen, &tid) != 2 || strcmp(seen, word) != 0)
        fail_msg("native_chain printed '%s', not %s", line, word);
    return (pid_t)tid;
}

/* Starts $(B)/targets/program MODE and waits for its READY line. */
static void start(const char *program, const char *mode)
{
    char path[4200];
    int pipefd[2];
    target_path(program, path, sizeof(path));
    assert_int_equal(pipe(pipefd), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execl(path, program, mode, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    fx.pid = pid;
    fx.out = pipefd[0];
    fx.tid = wait_line("READY");
    assert_int_equal(unwind_new(fx.pid, &fx.u), 0);
    pause_init(&fx.ps, fx.pid);
    fx.paused = 1;
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    fx.out = -1;
    return 0;
}

/* Lets every thread go, kills the target and reaps it: whatever the test did. */
static int teardown(void **state)
{
    (void)state;
    if (fx.paused)
        pause_release(&fx.ps);
    unwind_free(fx.u);
    if (fx.pid > 0) {
        kill(fx.pid, SIGKILL);
        waitpid(fx.pid, NULL, 0); /* ECHILD if pause.c reaped it already */
    }
    if (fx.out >= 0)
        close(fx.out);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* Stops the target with tid among the stopped threads. pause_all gives up on
 * a thread that has not stopped within 20 ms (on a loaded machine it can
 * take longer): then let everything go and try again, as a sampler would
 * skip that thread for a tick. */
static void stop(pid_t tid)
{
    for (int tries = 0; tries < 100; tries++) {
        if (pause_all(&fx.ps) == 0)
            for (size_t i = 0; i < fx.ps.count; i++)
                if (fx.ps.tids[i] == tid)
                    return;
        pause_resume(&fx.ps);
        usleep(10000);
    }
    fail_msg("thread %d never stopped", (int)tid);
}

/* Stops the target, unwinds tid into fx.frames, resumes it. Returns unwind_thread's result. */
static int unwind_once(pid_t tid, size_t max)
{
    stop(tid);
    int err = unwind_thread(fx.u, tid, fx.frames, max, &fx.depth);
    pause_resume(&fx.ps);
    return err;
}

/* Unwinds tid until its innermost frame is `innermost` (the target may be
 * caught on its way there, in printf's write), at most 200 tries. */
static void unwind_at(pid_t tid, const char *innermost)
{
    for (int i = 0; i < 200; i++) {
        assert_int_equal(unwind_once(tid, MAX_FRAMES), 0);
        if (fx.depth && fx.frames[0].symbol && strcmp(fx.frames[0].symbol, innermost) == 0)
            return;
        usleep(1000);
    }
    fail_msg("thread %d never showed %s innermost", (int)tid, innermost);
}

/* Checks frames[0..n) are the named functions of module, in order. */
static void assert_frames(const char *module, const char *const *names, size_t n)
{
    assert_true(fx.depth >= n);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(fx.frames[i].symbol);
        assert_string_equal(fx.frames[i].symbol, names[i]);
        assert_non_null(fx.frames[i].module);
        assert_string_equal(fx.frames[i].module, module);
    }
}

/* Prints the frames: the message of a failing test. */
static void print_frames(void)
{
    print_message("walk ended %d\n", (int)unwind_last_end(fx.u));
    for (size_t i = 0; i < fx.depth; i++)
        print_message("#%zu %s %s+0x%llx\n", i, fx.frames[i].module ? fx.frames[i].module : "?",
                      fx.frames[i].symbol ? fx.frames[i].symbol : "?",
                      (unsigned long long)fx.frames[i].offset);
}

static int frame_named(const char *name)
{
    for (size_t i = 0; i < fx.depth; i++)
        if (fx.frames[i].symbol && strcmp(fx.frames[i].symbol, name) == 0)
            return (int)i;
    return -1;
}

static void test_unwind_main_thread_names_the_chain_innermost_first(void **state)
{
    (void)state;
    static const char *const chain[] = {LEAF, "c_inner", "c_middle", "c_outer", "main"};
    start("native_chain", "main");
    unwind_at(fx.pid, LEAF);
    assert_frames("native_chain", chain, 5);
    /* Down to _start, through libc's __libc_start_main, and no further. */
    assert_int_equal(unwind_last_end(fx.u), UNWIND_END_BOTTOM);
    assert_string_equal(fx.frames[fx.depth - 1].symbol, "_start");
    assert_true(frame_named("__libc_start_main") > 4);
    assert_string_equal(fx.frames[frame_named("__libc_start_main")].module, "libc.so.6");
    /* symbol + offset is the pc; the innermost pc is where it spins, the others return addresses */
    for (size_t i = 0; i < 5; i++)
        assert_true(fx.frames[i].offset > 0 && fx.frames[i].offset < 0x200);
}

static void test_unwind_thread_runs_down_to_libc_thread_start(void **state)
{
    (void)state;
    static const char *const chain[] = {LEAF, "c_inner", "c_middle", "c_outer", "thread_main"};
    start("native_chain", "thread");
    assert_true(fx.tid != fx.pid);
    unwind_at(fx.tid, LEAF);
    assert_frames("native_chain", chain, 5);
    assert_int_equal(unwind_last_end(fx.u), UNWIND_END_BOTTOM);
    /* start_thread and clone3 are libc's (their names need libc's symbol table or debug file) */
    assert_true(fx.depth >= 6);
    for (size_t i = 5; i < fx.depth; i++)
        assert_string_equal(fx.frames[i].module, "libc.so.6");
}

static void test_unwind_main_thread_blocked_in_a_system_call(void **state)
{
    (void)state;
    start("native_chain", "thread");
    /* main waits in pthread_join: libc frames, then main, then down to _start.
     * Until it gets there it may be caught returning from clone3, where glibc
     * gives no CFI: then the walk ends at __clone3. */
    for (int tries = 0; tries < 200 && frame_named("main") <= 0; tries++) {
        assert_int_equal(unwind_once(fx.pid, MAX_FRAMES), 0);
        usleep(1000);
    }
    if (frame_named("main") <= 0)
        print_frames();
    assert_true(frame_named("main") > 0);
    assert_string_equal(fx.frames[0].module, "libc.so.6");
    assert_string_equal(fx.frames[fx.depth - 1].symbol, "_start");
    assert_int_equal(unwind_last_end(fx.u), UNWIND_END_BOTTOM);
}

static void test_unwind_binary_without_symtab_uses_dynsym_names(void **state)
{
    (void)state;
    static const char *const chain[] = {LEAF, "c_inner", "c_middle", "c_outer", "main"};
    start("native_chain_dynsym", "main");
    unwind_at(fx.pid, LEAF);
    assert_frames("native_chain_dynsym", chain, 5);
    assert_int_equal(unwind_last_end(fx.u), UNWIND_END_BOTTOM);
}

/* The address range [start, end) of a function in the unstripped native_chain. */
static void symbol_range(const char *name, uint64_t *start, uint64_t *end)
{
    char path[4200];
    struct elf_file ef;
    uint64_t size = 0;
    target_path("native_chain", path, sizeof(path));
    assert_int_equal(elf_open_fd(&ef, open(path, O_RDONLY | O_CLOEXEC)), 0);
    assert_int_equal(elf_symbol(&ef, name, start, &size), 0);
    elf_close(&ef);
    *end = *start + size;
}

static void test_unwind_stripped_binary_gives_module_and_file_address(void **state)
{
    (void)state;
    /* Same code as native_chain, without any symbol: frames still unwind (the
     * CFI survives strip), named by module and address in the file. */
    static const char *const chain[] = {"_ZN8spyglass4test4leafEi", "c_inner", "c_middle",
                                        "c_outer", "main"};
    start("native_chain_stripped", "main");
    uint64_t start_addr, end_addr;
    for (int tries = 0; tries < 200; tries++) {
        assert_int_equal(unwind_once(fx.pid, MAX_FRAMES), 0);
        symbol_range(chain[0], &start_addr, &end_addr);
        if (fx.depth && fx.frames[0].offset >= start_addr && fx.frames[0].offset < end_addr)
            break;
        usleep(1000);
    }
    assert_true(fx.depth > 5);
    for (size_t i = 0; i < 5; i++) {
        assert_null(fx.frames[i].symbol);
        assert_string_equal(fx.frames[i].module, "native_chain_stripped");
        symbol_range(chain[i], &start_addr, &end_addr);
        /* a return address may be one past its caller's last byte */
        assert_in_range(fx.frames[i].offset, start_addr + (i > 0), end_addr - (i == 0));
    }
    assert_int_equal(unwind_last_end(fx.u), UNWIND_END_BOTTOM);
}

static void test_unwind_stops_at_max_depth(void **state)
{
    (void)state;
    static const char *const chain[] = {LEAF, "c_inner", "c_middle"};
    start("native_chain", "main");
    unwind_at(fx.pid, LEAF);
    assert_int_equal(unwind_once(fx.pid, 3), 0);
    assert_int_equal(fx.depth, 3);
    assert_frames("native_chain", chain, 3);
    assert_int_equal(unwind_last_end(fx.u), UNWIND_END_MAX);
    assert_int_equal(unwind_stats(fx.u)->ends[UNWIND_END_MAX], 1);
}

static void test_unwind_cuts_a_stack_that_repeats_its_frame(void **state)
{
    (void)state;
#if defined(__x86_64__)
    start("native_chain", "loop");
    unwind_at(fx.pid, "loop_frame");
    /* loop_frame's CFI makes it its own caller, at the same stack pointer:
     * without the cycle check the walk would go on for ever */
    assert_int_equal(fx.depth, 1);
    assert_int_equal(unwind_last_end(fx.u), UNWIND_END_LOOP);
#else
    skip();
#endif
}

static void test_unwind_finds_a_library_loaded_after_it_started(void **state)
{
    (void)state;
    start("native_chain", "dlopen"); /* the unwinder is made here, before libz is mapped */
    kill(fx.pid, SIGUSR1);
    assert_int_equal(wait_line("ZALLOC"), fx.pid);
    unwind_at(fx.pid, "zalloc_spin");
    /* the walk met libz, in no module it knew: it re-read the maps by itself */
    assert_int_equal(unwind_stats(fx.u)->refreshes, 1);
    /* the module is the file mapped: libz.so.1 is a symbolic link to libz.so.1.2.13 or so */
    assert_true(strncmp(fx.frames[1].module, "libz.so.1", 9) == 0);
    assert_string_equal(fx.frames[1].symbol, "deflateInit2_");
    assert_string_equal(fx.frames[2].symbol, "load_libz");
    assert_string_equal(fx.frames[3].symbol, LEAF);
    assert_true(frame_named("c_outer") == 6);
    assert_int_equal(unwind_last_end(fx.u), UNWIND_END_BOTTOM);
    /* an explicit refresh keeps it working (libz stays where it is) */
    assert_int_equal(unwind_refresh(fx.u), 0);
    assert_int_equal(unwind_once(fx.pid, MAX_FRAMES), 0);
    assert_int_equal(unwind_stats(fx.u)->refreshes, 2);
    assert_string_equal(fx.frames[1].symbol, "deflateInit2_");
}

static void test_unwind_caches_names_and_reads_few_pages(void **state)
{
    (void)state;
    start("native_chain", "main");
    unwind_at(fx.pid, LEAF);
    const struct unwind_stats *st = unwind_stats(fx.u);
    uint64_t misses = st->name_misses, reads = st->reads, walks = st->walks;
    for (int i = 0; i < 20; i++)
        assert_int_equal(unwind_once(fx.pid, MAX_FRAMES), 0);
    assert_int_equal(st->walks, walks + 20);
    /* Callers' names come from the cache: only pcs of the spinning leaf's loop
     * not met before are looked up (a handful), not four names per walk. */
    assert_true(st->name_misses - misses <= 10);
    assert_true(st->reads - reads <= 20); /* one system call per walk */
}

static void test_unwind_refuses_a_thread_it_did_not_stop(void **state)
{
    (void)state;
    start("native_chain", "main");
    /* running: not ours to read registers of, and never stopped by the unwinder */
    assert_int_equal(unwind_thread(fx.u, fx.pid, fx.frames, MAX_FRAMES, &fx.depth), -SG_EPERM);
    assert_int_equal(fx.depth, 0);
    char state_letter = '?';
    assert_int_equal(task_state(fx.pid, fx.pid, &state_letter), 0);
    assert_true(state_letter != 't' && state_letter != 'T');
}

/* Returns 1 once the process is gone for good (reaped). */
static int reaped(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void test_unwind_of_a_target_killed_while_stopped_is_enoproc(void **state)
{
    (void)state;
    start("native_chain", "thread");
    stop(fx.tid);
    kill(fx.pid, SIGKILL);
    assert_int_equal(unwind_thread(fx.u, fx.tid, fx.frames, MAX_FRAMES, &fx.depth), -SG_ENOPROC);
    assert_int_equal(fx.depth, 0);
    assert_int_equal(unwind_thread(fx.u, fx.pid, fx.frames, MAX_FRAMES, &fx.depth), -SG_ENOPROC);
    /* the caller resumes as always; the dead target is then collected, nothing left stopped */
    pause_resume(&fx.ps);
    if (!fx.ps.leader_reaped)
        waitpid(fx.pid, NULL, 0);
    assert_true(reaped(fx.pid));
    fx.pid = 0;
}

struct killer {
    pid_t pid;
    long delay_us;
};

static void *kill_later(void *arg)
{
    struct killer *k = arg;
    usleep((useconds_t)k->delay_us);
    kill(k->pid, SIGKILL);
    return NULL;
}

static void test_unwind_target_killed_during_walks_ends_with_enoproc(void **state)
{
    (void)state;
    start("native_chain", "thread");
    unwind_at(fx.tid, LEAF); /* names loaded: the walks below are short */
    /* Walk again and again while another thread kills the target: each walk
     * either completes or says the thread is gone, and once gone stays gone. */
    stop(fx.tid);
    struct killer k = {fx.pid, 2000};
    pthread_t killer;
    assert_int_equal(pthread_create(&killer, NULL, kill_later, &k), 0);
    int err = 0;
    size_t walks = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        err = unwind_thread(fx.u, fx.tid, fx.frames, MAX_FRAMES, &fx.depth);
        if (err == 0)
            assert_true(fx.depth >= 5);
        walks++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (err == 0 && t.tv_sec - t0.tv_sec < 5);
    pthread_join(killer, NULL);
    assert_int_equal(err, -SG_ENOPROC);
    assert_true(walks > 1);
    assert_int_equal(unwind_thread(fx.u, fx.tid, fx.frames, MAX_FRAMES, &fx.depth), -SG_ENOPROC);
    pause_resume(&fx.ps);
    if (!fx.ps.leader_reaped)
        waitpid(fx.pid, NULL, 0);
    assert_true(reaped(fx.pid));
    fx.pid = 0;
}

static void test_unwind_new_of_a_missing_process_is_enoproc(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0); /* a pid that existed and is gone */
    struct unwinder *u = (struct unwinder *)&u;
    assert_int_equal(unwind_new(pid, &u), -SG_ENOPROC);
    assert_null(u);
    unwind_free(NULL);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_unwind_main_thread_names_the_chain_innermost_first),
        TEST(test_unwind_thread_runs_down_to_libc_thread_start),
        TEST(test_unwind_main_thread_blocked_in_a_system_call),
        TEST(test_unwind_binary_without_symtab_uses_dynsym_names),
        TEST(test_unwind_stripped_binary_gives_module_and_file_address),
        TEST(test_unwind_stops_at_max_depth),
        TEST(test_unwind_cuts_a_stack_that_repeats_its_frame),
        TEST(test_unwind_finds_a_library_loaded_after_it_started),
        TEST(test_unwind_caches_names_and_reads_few_pages),
        TEST(test_unwind_refuses_a_thread_it_did_not_stop),
        TEST(test_unwind_of_a_target_killed_while_stopped_is_enoproc),
        TEST(test_unwind_target_killed_during_walks_ends_with_enoproc),
        TEST(test_unwind_new_of_a_missing_process_is_enoproc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
