/*
 * attach.c - attach to --pid, or spawn -- COMMAND and wait for its runtime.
 *
 * A freshly spawned interpreter needs a moment before _PyRuntime holds an
 * interpreter state: we poll every millisecond (for up to 30 s) until it
 * does, the child exits, or a signal asks us to stop.
 */
#include "collect/attach.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "proc/spawn.h"
#include "util/util.h"

/* Waits for a freshly spawned child to have an initialised Python runtime. */
static int wait_for_runtime(const struct attach_options *o, struct attach_target *t,
                            struct mem_reader *r, struct py_runtime *rt, char *why, size_t why_size)
{
    int err = -SG_ENOTPY;
    for (int i = 0; i < 30000 && !*o->stop; i++) {
        int status;
        if (waitpid(t->child, &status, WNOHANG) == t->child) {
            t->child_status = status;
            t->child_reaped = 1;
            char detail[512];
            strlcpy_safe(detail, err == -SG_EVERSION ? why : "not a Python program?",
                         sizeof(detail));
            snprintf(why, why_size, "the command exited before Python started (%.400s)", detail);
            return -SG_ENOPROC;
        }
        err = detect_runtime(t->child, r, rt, why, why_size);
        uint64_t interp;
        if (err == 0 && detect_interp_head(rt, r, &interp) == 0)
            return 0;
        if (err == -SG_EVERSION)
            return err;
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
    }
    if (*o->stop) {
        snprintf(why, why_size, "interrupted before Python started");
        return -SG_ENOPROC;
    }
    return err ? err : -SG_ENOTPY;
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

int attach_or_spawn(const struct attach_options *o, struct mem_proc *mp, struct mem_reader *r,
                    struct py_runtime *rt, struct attach_target *t)
{
    char why[512];
    int err;
    memset(t, 0, sizeof(*t));
    t->pid = o->pid;
    if (o->command) {
        err = o->quiet_child ? spawn_quiet(o->command, &t->child, why, sizeof(why))
                             : spawn_start(o->command, &t->child, why, sizeof(why));
        if (err) {
            cmd_error("check the command name and that it is in PATH", "%s", why);
            return err;
        }
        if (o->child_pid)
            *o->child_pid = t->child;
        t->pid = t->child;
        mp->pid = t->child;
        err = wait_for_runtime(o, t, r, rt, why, sizeof(why));
    } else {
        err = detect_runtime(o->pid, r, rt, why, sizeof(why));
    }
    if (!err)
        return 0;
    cmd_error(cmd_attach_hint(err, t->pid), "%s", why);
    if (t->child && !t->child_reaped) {
        kill(t->child, SIGTERM);
        waitpid(t->child, &t->child_status, 0);
        t->child_reaped = 1;
    }
    return err;
}
