/*
 * attach.c - attach to --pid, or spawn -- COMMAND and wait for its runtime.
 *
 * A freshly spawned interpreter needs a moment before _PyRuntime holds an
 * interpreter state: we poll every millisecond (5 ms for a tree, whose scan
 * reads every /proc/N/stat) for up to ATTACH_WAIT_S, until it does, the child
 * exits, or a signal asks us to stop.
 */
#include "collect/attach.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/proc.h"
#include "proc/ptree.h"
#include "proc/spawn.h"
#include "sample/sampler.h"
#include "util/util.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Returns 1 (and records its status) if our child has exited. */
static int child_exited(struct attach_target *t)
{
    int status;
    if (waitpid(t->child, &status, WNOHANG) != t->child)
        return 0;
    t->child_status = status;
    t->child_reaped = 1;
    return 1;
}

/* The first descendant of pid that runs an initialised Python, or 0. */
static pid_t python_descendant(pid_t pid)
{
    pid_t *pids, found = 0;
    int n = ptree_descendants(pid, &pids);
    for (int i = 0; i < n && !found; i++) {
        struct mem_proc mp;
        struct mem_reader r;
        struct py_runtime rt;
        char why[256];
        uint64_t interp;
        mem_proc_init(&mp, &r, pids[i]);
        if (detect_runtime(pids[i], &r, &rt, why, sizeof(why)) == 0 &&
            detect_interp_head(&rt, &r, &interp) == 0)
            found = pids[i];
        mem_proc_release(&mp);
    }
    if (n > 0)
        free(pids);
    return found;
}

/* A spawned command that is not Python but started Python (a wrapper
 * script): says which process, for a caller that follows one process only.
 * Returns 1 (with why and t->failure set) if so. */
static int wrapper_of_python(struct attach_target *t, char *why, size_t why_size)
{
    char comm[64] = "the command", cmdline[256] = "";
    pid_t python = python_descendant(t->child);
    if (!python)
        return 0;
    proc_comm(t->child, comm, sizeof(comm));
    proc_cmdline(python, cmdline, sizeof(cmdline));
    snprintf(why, why_size, "%s is not Python; it started Python process %d (%.200s)", comm,
             (int)python, cmdline);
    t->wrapped = python;
    t->failure = ATTACH_WRAPPER;
    return 1;
}

/* Waits for a freshly spawned child to have an initialised Python runtime. */
static int wait_for_runtime(const struct attach_options *o, struct attach_target *t, char *why,
                            size_t why_size)
{
    int err = -SG_ENOTPY;
    for (int i = 0; i < ATTACH_WAIT_S * 1000 && !*o->stop; i++) {
        if (child_exited(t)) {
            char detail[512];
            strlcpy_safe(detail, err == -SG_EVERSION ? why : "not a Python program?",
                         sizeof(detail));
            snprintf(why, why_size, "the command exited before Python started (%.400s)", detail);
            t->failure = ATTACH_NO_PYTHON;
            return -SG_ENOPROC;
        }
        err = detect_runtime(t->child, &t->reader, &t->rt, why, why_size);
        uint64_t interp;
        if (err == 0 && detect_interp_head(&t->rt, &t->reader, &interp) == 0)
            return 0;
        if (err == -SG_EVERSION) {
            t->failure = ATTACH_DETECT;
            return err;
        }
        /* Not Python after a moment: perhaps it started Python below it. */
        if (i % 100 == 99 && wrapper_of_python(t, why, why_size))
            return -SG_ENOTPY;
        sleep_ms(1);
    }
    if (*o->stop) {
        snprintf(why, why_size, "interrupted before Python started");
        t->failure = ATTACH_INTERRUPTED;
        return -SG_ENOPROC;
    }
    t->failure = ATTACH_NO_PYTHON;
    return err ? err : -SG_ENOTPY;
}

/* Says why the tree under pid has no Python process: the root's own
 * detection error, or that nothing in the tree is Python. */
static int explain_empty_tree(pid_t pid, char *why, size_t why_size)
{
    struct mem_proc mp;
    struct mem_reader r;
    struct py_runtime rt;
    char detail[512];
    mem_proc_init(&mp, &r, pid);
    int err = detect_runtime(pid, &r, &rt, detail, sizeof(detail));
    mem_proc_release(&mp);
    if (err == 0 || err == -SG_ENOTPY) {
        if (err == 0)
            snprintf(detail, sizeof(detail), "process %d has no running Python interpreter",
                     (int)pid);
        snprintf(why, why_size, "%.400s, and none of its descendants is a Python process", detail);
        return -SG_ENOTPY;
    }
    strlcpy_safe(why, detail, why_size);
    return err;
}

/* --subprocesses: waits until a process of the spawned command's tree runs
 * Python (or attaches to the tree under --pid at once). */
static int start_tree(const struct attach_options *o, struct attach_target *t, char *why,
                      size_t why_size)
{
    t->tree = 1;
    procset_init(&t->set, t->pid, 1);
    if (!t->child) {
        if (procset_refresh(&t->set, sampler_now_ns(), 1) > 0)
            return 0;
        t->failure = ATTACH_TREE_EMPTY;
        return explain_empty_tree(t->pid, why, why_size);
    }
    for (int i = 0; i < ATTACH_WAIT_S * 200 && !*o->stop; i++) {
        if (child_exited(t)) {
            snprintf(why, why_size,
                     "the command exited (status %d) before any Python process "
                     "started",
                     attach_exit_status(t->child_status));
            t->failure = ATTACH_NO_PYTHON;
            return -SG_ENOPROC;
        }
        if (procset_refresh(&t->set, sampler_now_ns(), 1) > 0)
            return 0;
        sleep_ms(5);
    }
    snprintf(why, why_size, "no Python process started in the command's process tree%s",
             *o->stop ? " (interrupted)" : " in 30 s");
    t->failure = *o->stop ? ATTACH_INTERRUPTED : ATTACH_NO_PYTHON;
    return -SG_ENOTPY;
}

/* spawn_start with the child's standard streams on /dev/null: ours are
 * swapped for the duration of the fork, then put back. */
static int spawn_quiet(char *const *argv, pid_t *child, char *why, size_t why_size)
{
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int saved[3];
    if (null_fd < 0)
        return spawn_start(argv, child, why, why_size);
    for (int fd = 0; fd < 3; fd++) {
        saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        dup2(null_fd, fd);
    }
    int err = spawn_start(argv, child, why, why_size);
    for (int fd = 0; fd < 3; fd++) {
        if (saved[fd] >= 0) {
            dup2(saved[fd], fd);
            close(saved[fd]);
        }
    }
    close(null_fd);
    return err;
}

static int spawn(const struct attach_options *o, struct attach_target *t, char *why,
                 size_t why_size)
{
    int err = o->quiet_child ? spawn_quiet(o->command, &t->child, why, why_size)
                             : spawn_start(o->command, &t->child, why, why_size);
    if (err) {
        t->failure = ATTACH_SPAWN;
        return err;
    }
    if (o->child_pid)
        *o->child_pid = t->child;
    t->pid = t->child;
    return 0;
}

int attach_start(const struct attach_options *o, struct attach_target *t, char *why,
                 size_t why_size)
{
    memset(t, 0, sizeof(*t));
    t->pid = o->pid;
    int err = o->command ? spawn(o, t, why, why_size) : 0;
    if (err)
        return err;
    mem_proc_init(&t->mp, &t->reader, t->pid);
    if (o->tree || (t->child && o->follow)) {
        t->followed = !o->tree;
        err = start_tree(o, t, why, why_size);
    } else if (t->child)
        err = wait_for_runtime(o, t, why, why_size);
    else if ((err = detect_runtime(t->pid, &t->reader, &t->rt, why, why_size)) != 0)
        t->failure = ATTACH_DETECT;
    if (!err)
        return 0;
    attach_end_child(t, 0);
    attach_release(t);
    return err;
}

void attach_release(struct attach_target *t)
{
    if (t->tree)
        procset_release(&t->set);
    t->tree = 0;
    mem_proc_release(&t->mp);
}

int attach_end_child(struct attach_target *t, int grace_ms)
{
    if (!t->child || t->child_reaped)
        return 0;
    kill(t->child, SIGTERM);
    for (int waited = 0; grace_ms > 0 && waited < grace_ms; waited += 10) {
        if (child_exited(t))
            return 0;
        sleep_ms(10);
    }
    if (grace_ms > 0)
        kill(t->child, SIGKILL);
    while (waitpid(t->child, &t->child_status, 0) < 0 && errno == EINTR) {
    }
    t->child_reaped = 1;
    return grace_ms > 0;
}

void attach_wait_child(struct attach_target *t)
{
    if (!t->child || t->child_reaped)
        return;
    while (waitpid(t->child, &t->child_status, 0) < 0 && errno == EINTR) {
    }
    t->child_reaped = 1;
}

int attach_exit_status(int wait_status)
{
    if (WIFEXITED(wait_status))
        return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    return 1;
}

const struct py_runtime *attach_runtime(const struct attach_target *t)
{
    if (!t->tree)
        return &t->rt;
    for (size_t i = 0; i < t->set.count; i++) {
        if (t->set.targets[i]->state == PT_PYTHON)
            return &t->set.targets[i]->rt;
    }
    return NULL;
}
