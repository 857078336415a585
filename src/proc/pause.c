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

#include "proc/mem.h"
#include "proc/task.h"
#include "util/util.h"

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

/* Waits until tid is in a ptrace stop. A signal that arrives first is
 * remembered, to be re-delivered when we detach. Returns 0, or -1 if the
 * thread went away. */
static int wait_stopped(pid_t tid, int *pending)
{
    for (int tries = 0; tries < 64; tries++) {
        int status;
        pid_t r = waitpid(tid, &status, __WALL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status))
            return -1;
        if (!WIFSTOPPED(status))
            continue;
        int sig = WSTOPSIG(status);
        if ((status >> 16) == PTRACE_EVENT_STOP)
            return 0; /* our interrupt (or a group stop): stopped */
        /* A signal-delivery stop: hold the signal, keep it stopped. */
        *pending = sig;
        return 0;
    }
    return -1;
}

static void add(struct pause_set *ps, pid_t tid, char state)
{
    size_t cap = ps->cap, cap2 = ps->cap;
    ps->tids = xgrow(ps->tids, sizeof(*ps->tids), ps->count + 1, &ps->cap);
    ps->signals = xgrow(ps->signals, sizeof(*ps->signals), ps->count + 1, &cap);
    ps->states = xgrow(ps->states, sizeof(*ps->states), ps->count + 1, &cap2);
    ps->tids[ps->count] = tid;
    ps->signals[ps->count] = 0;
    ps->states[ps->count] = state;
    ps->count++;
}

int pause_all(struct pause_set *ps)
{
    pid_t *tids;
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
    /* All interrupted; now collect the stops. */
    size_t kept = 0;
    for (size_t i = 0; i < ps->count; i++) {
        int pending = 0;
        if (wait_stopped(ps->tids[i], &pending) < 0) {
            ptrace(PTRACE_DETACH, ps->tids[i], NULL, NULL);
            continue;
        }
        ps->tids[kept] = ps->tids[i];
        ps->states[kept] = ps->states[i];
        ps->signals[kept] = pending;
        kept++;
    }
    ps->count = kept;
    if (err) {
        pause_resume(ps);
        return err;
    }
    return ps->count ? 0 : -SG_ENOPROC;
}

void pause_resume(struct pause_set *ps)
{
    for (size_t i = 0; i < ps->count; i++) {
        ptrace(PTRACE_DETACH, ps->tids[i], NULL, (void *)(long)ps->signals[i]);
    }
    ps->count = 0;
}
