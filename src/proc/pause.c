/*
 * pause.c - seize, interrupt and release every thread of a process.
 */
#include "proc/pause.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include "proc/mem.h"
#include "proc/task.h"
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

static void add(struct pause_set *ps, pid_t tid, char state)
{
    size_t n = ps->count + ps->unsettled, cap = ps->cap, cap2 = ps->cap;
    ps->tids = xgrow(ps->tids, sizeof(*ps->tids), n + 1, &ps->cap);
    ps->signals = xgrow(ps->signals, sizeof(*ps->signals), n + 1, &cap);
    ps->states = xgrow(ps->states, sizeof(*ps->states), n + 1, &cap2);
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
    for (int i = 0; i < n; i++) {
        char state = '?';
        task_state(ps->pid, tids[i], &state);
        if (ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) < 0) {
            if (errno == EPERM && i == 0) {
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
    }
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
