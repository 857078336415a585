/*
 * pause.c - seize, interrupt and release every thread of a process.
 */
#include "proc/pause.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "proc/task.h"
#include "util/err.h"
#include "util/util.h"

/* How long a sample waits for threads to stop, and resume for stragglers. */
#define PAUSE_TIMEOUT_NS (20u * 1000u * 1000u)
#define RESUME_TIMEOUT_NS (1000u * 1000u * 1000u)

void pause_init(struct pause_set *ps, pid_t pid)
{
    memset(ps, 0, sizeof(*ps));
    ps->pid = pid;
}

void pause_release(struct pause_set *ps)
{
    pause_resume(ps);
    free(ps->tids);
    free(ps->signals);
    free(ps->states);
    memset(ps, 0, sizeof(*ps));
}

/* What one waitpid result means for a seized thread. */
enum settle { SETTLE_NOT_YET, SETTLE_STOPPED, SETTLE_GONE };

/* Polls tid once (never blocks). A signal-delivery stop counts as stopped,
 * with the signal remembered for re-delivery at detach. The exit status of
 * the thread-group leader is kept: for a child, it is the only copy. */
static enum settle poll_thread(struct pause_set *ps, pid_t tid, int *pending)
{
    for (;;) {
        int status;
        pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
        if (r == 0)
            return SETTLE_NOT_YET;
        if (r < 0)
            return errno == EINTR ? SETTLE_NOT_YET : SETTLE_GONE;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (tid == ps->pid) {
                ps->leader_status = status;
                ps->leader_reaped = 1;
            }
            return SETTLE_GONE;
        }
        if (!WIFSTOPPED(status))
            continue;
        if ((status >> 16) != PTRACE_EVENT_STOP)
            *pending = WSTOPSIG(status); /* hold it; keep the thread stopped */
        return SETTLE_STOPPED;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Polls every thread in ps->tids[from..count) until each has stopped or gone,
 * or timeout_ns passed. Polling all of them in turn (never a blocking wait on
 * one) matters: an exiting leader is only reported after its other threads,
 * which we trace, have been reaped by us. Stopped threads are moved to the
 * front (ps->count of them on return); the rest stay in ps->unsettled.
 */
static void settle(struct pause_set *ps, uint64_t timeout_ns)
{
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        size_t open = 0;
        for (size_t i = 0; i < ps->unsettled; i++) {
            size_t k = ps->count + i;
            int pending = 0;
            enum settle st = poll_thread(ps, ps->tids[k], &pending);
            if (st == SETTLE_NOT_YET) {
                open++;
                continue;
            }
            if (st == SETTLE_STOPPED) {
                pid_t tid = ps->tids[k];
                char state = ps->states[k];
                ps->tids[k] = ps->tids[ps->count];
                ps->states[k] = ps->states[ps->count];
                ps->tids[ps->count] = tid;
                ps->states[ps->count] = state;
                ps->signals[ps->count] = pending;
                ps->count++;
            } else { /* gone: drop it */
                ps->tids[k] = ps->tids[ps->count + ps->unsettled - 1];
                ps->states[k] = ps->states[ps->count + ps->unsettled - 1];
            }
            ps->unsettled--;
            i--;
        }
        if (!open || now_ns() >= deadline)
            return;
        struct timespec nap = {0, 20000};
        nanosleep(&nap, NULL);
    }
}

/*
 * The exec deadlock. A thread calling execve holds its process's
 * cred_guard_mutex while it waits for every other thread to be gone; a
 * thread we trace is only gone once we reap it. PTRACE_SEIZE takes the same
 * mutex (and the kernel restarts it across signals). So if the target execs
 * while we trace one of its threads, our next PTRACE_SEIZE would wait for the
 * exec, which waits for us: both hang for ever (found by tests/e2e/
 * test_faults.py). While we attach, a timer therefore reaps, from a signal
 * handler, every traced thread that has exited (peeking first with WNOWAIT:
 * a tracee's stops, which waitid(WEXITED) reports too, stay for settle). That lets the exec finish
 * and our PTRACE_SEIZE return. The leader's status, if reaped there, is kept.
 */
static volatile pid_t reap_leader;
static volatile sig_atomic_t reaped_leader_status, reaped_leader;
/* The threads we trace, for the handler (ps->tids may be reallocated
 * under it): written before reap_count grows, so the handler reads only
 * filled slots. */
#define REAP_MAX 4096
static pid_t reap_tids[REAP_MAX];
static volatile sig_atomic_t reap_count;

static void reap_track(pid_t tid)
{
    if (reap_count < REAP_MAX) {
        reap_tids[reap_count] = tid;
        reap_count = reap_count + 1;
    }
}

/* Reaps tid if (and only if) it has exited. A plain waitid(WEXITED) would
 * also consume a tracee's ptrace stop, which settle must see: so peek first
 * (WNOWAIT), and reap only an exit. */
static void reap_if_exited(pid_t tid)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)tid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0 ||
        si.si_pid != tid)
        return;
    if (si.si_code != CLD_EXITED && si.si_code != CLD_KILLED && si.si_code != CLD_DUMPED)
        return;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)tid, &si, WEXITED | WNOHANG | __WALL) != 0 || si.si_pid != tid)
        return;
    if (tid == reap_leader) {
        reaped_leader_status =
            si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : (si.si_status & 0x7f);
        reaped_leader = 1;
    }
}

static void on_reap_timer(int sig)
{
    (void)sig;
    int saved = errno;
    for (sig_atomic_t i = 0; i < reap_count; i++)
        reap_if_exited(reap_tids[i]);
    errno = saved;
}

/* Arms (interval_ns > 0) or disarms the reaping timer. */
static void reap_timer(pid_t leader, long interval_ns)
{
    static int installed;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_reap_timer;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        installed = 1;
    }
    reap_leader = leader;
    struct itimerval it = {{0, interval_ns / 1000}, {0, interval_ns / 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    if (interval_ns == 0)
        reap_count = 0;
}

/* Moves a leader status reaped by the timer into ps. */
static void collect_reaped_leader(struct pause_set *ps)
{
    if (reaped_leader && reap_leader == ps->pid) {
        ps->leader_status = reaped_leader_status;
        ps->leader_reaped = 1;
        reaped_leader = 0;
    }
}

/* Returns 1 if thread tid of pid has exited (zombie, dead or gone). */
static int thread_ended(pid_t pid, pid_t tid)
{
    char state;
    return task_state(pid, tid, &state) != 0 || state == 'Z' || state == 'X';
}

/* Returns 1 if tid is already in ps (traced by us, not yet settled). */
static int traced_already(const struct pause_set *ps, pid_t tid)
{
    for (size_t i = 0; i < ps->count + ps->unsettled; i++)
        if (ps->tids[i] == tid)
            return 1;
    return 0;
}

static void add(struct pause_set *ps, pid_t tid, char state)
{
    size_t n = ps->count + ps->unsettled, old_cap = ps->cap;
    ps->tids = xgrow(ps->tids, sizeof(*ps->tids), n + 1, &ps->cap);
    if (ps->cap != old_cap) { /* the other arrays follow tids' capacity */
        ps->signals = xrealloc(ps->signals, ps->cap * sizeof(*ps->signals));
        ps->states = xrealloc(ps->states, ps->cap * sizeof(*ps->states));
    }
    ps->tids[n] = tid;
    ps->signals[n] = 0;
    ps->states[n] = state;
    ps->unsettled++;
}

int pause_interrupt(struct pause_set *ps)
{
    pid_t *tids;
    pause_resume(ps); /* settles anything a previous pause left behind */
    int n = task_list(ps->pid, &tids);
    if (n < 0)
        return n;
    int err = 0;
    reap_count = 0;
    for (size_t i = 0; i < ps->count + ps->unsettled; i++)
        reap_track(ps->tids[i]);
    reap_timer(ps->pid, 10 * 1000 * 1000);
    for (int i = 0; i < n; i++) {
        char state = '?';
        if (traced_already(ps, tids[i]))
            continue; /* an exiting thread resume could not settle */
        task_state(ps->pid, tids[i], &state);
        if (ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) < 0) {
            /* EPERM is also what a zombie (an exiting leader) gives:
             * that is the process ending, not a refusal. */
            if (errno == EPERM && i == 0 && !thread_ended(ps->pid, tids[i])) {
                err = -SG_EPERM;
                break;
            }
            continue; /* gone, or already traced by someone else */
        }
        if (ptrace(PTRACE_INTERRUPT, tids[i], NULL, NULL) < 0) {
            ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
            continue;
        }
        add(ps, tids[i], state);
        reap_track(tids[i]);
    }
    reap_timer(ps->pid, 0);
    collect_reaped_leader(ps);
    free(tids);
    if (err) {
        settle(ps, PAUSE_TIMEOUT_NS);
        pause_resume(ps);
    }
    return err;
}

int pause_wait(struct pause_set *ps)
{
    /* All interrupted; now collect the stops. A thread that has not stopped
     * within PAUSE_TIMEOUT_NS is sampled as it runs and settled later. */
    settle(ps, PAUSE_TIMEOUT_NS);
    return ps->count ? 0 : -SG_ENOPROC;
}

int pause_all(struct pause_set *ps)
{
    int err = pause_interrupt(ps);
    return err ? err : pause_wait(ps);
}

/* Moves the unsettled threads to the front, after the stopped ones went. */
static void drop_stopped(struct pause_set *ps)
{
    for (size_t i = 0; i < ps->unsettled; i++) {
        ps->tids[i] = ps->tids[ps->count + i];
        ps->states[i] = ps->states[ps->count + i];
    }
    ps->count = 0;
}

void pause_resume(struct pause_set *ps)
{
    size_t killed = 0;
    for (size_t i = 0; i < ps->count; i++) {
        if (ptrace(PTRACE_DETACH, ps->tids[i], NULL, (void *)(long)ps->signals[i]) == 0 ||
            errno != ESRCH)
            continue;
        /* Killed while stopped. Its exit is reported to us, its tracer,
         * first; its parent (say a gunicorn master waiting to replace a
         * worker) hears of it only once we have collected it: settle it
         * with the stragglers below. */
        ps->tids[killed] = ps->tids[i];
        ps->states[killed] = ps->states[i];
        killed++;
    }
    for (size_t i = 0; killed && i < ps->unsettled; i++) {
        ps->tids[killed + i] = ps->tids[ps->count + i];
        ps->states[killed + i] = ps->states[ps->count + i];
    }
    if (killed) {
        ps->unsettled += killed;
        ps->count = 0;
    }
    drop_stopped(ps);
    if (!ps->unsettled)
        return;
    /* Threads still on their way to the stop we asked for cannot be
     * detached while running: wait for them, then let them go. Any left
     * are exiting; the next pause_all (or the kernel, when we exit)
     * settles them. */
    settle(ps, RESUME_TIMEOUT_NS);
    for (size_t i = 0; i < ps->count; i++)
        ptrace(PTRACE_DETACH, ps->tids[i], NULL, (void *)(long)ps->signals[i]);
    drop_stopped(ps);
}
