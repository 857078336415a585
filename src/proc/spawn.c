/*
 * spawn.c - fork + exec, with exec failures reported back to the parent.
 *
 * The child writes its errno into a close-on-exec pipe if setup or exec
 * fails; a successful exec closes the pipe, so the parent reads either an
 * errno or end-of-file and knows which happened.
 */
#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/err.h"
#include "util/output.h"

/* Under sudo, become the user who ran sudo. Returns 0 or an errno. */
static int drop_to_sudo_user(void)
{
    uid_t uid;
    gid_t gid;
    if (!output_sudo_user(&uid, &gid))
        return 0;
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
        return errno;
    return 0;
}

int spawn_start(char *const *argv, pid_t *child, char *why, size_t why_size)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(why, why_size, "cannot create a pipe: %s", strerror(errno));
        return -SG_EIO;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "cannot fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return -SG_EIO;
    }
    if (pid == 0) {
        close(pipefd[0]);
        int err = drop_to_sudo_user();
        if (!err) {
            execvp(argv[0], argv);
            err = errno;
        }
        if (write(pipefd[1], &err, sizeof(err)) < 0) {
            /* nothing more we can do */
        }
        _exit(127);
    }
    close(pipefd[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = read(pipefd[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof(child_errno)) {
        waitpid(pid, NULL, 0);
        snprintf(why, why_size, "cannot run '%s': %s", argv[0], strerror(child_errno));
        return -SG_ENOPROC;
    }
    *child = pid;
    return 0;
}
