/*
 * proc.c - facts about a process from /proc: its state, names, owner,
 * program file and memory, and the small-file reading the proc/ readers share.
 */
#include "proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/util.h"

int proc_errno_code(void)
{
    return errno == EACCES || errno == EPERM ? -SG_EPERM : -SG_ENOPROC;
}

/* Reads a small /proc file into buf (NUL-terminated). Returns bytes read or a negative code. */
int proc_read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return proc_errno_code();
    ssize_t n = read(fd, buf, size - 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return proc_errno_code();
    }
    buf[n] = '\0';
    return (int)n;
}

/* The state letter of a stat line in buf. */
int proc_parse_state(const char *buf, char *state)
{
    const char *paren = strrchr(buf, ')');
    if (!paren || paren[1] != ' ' || !paren[2])
        return -SG_ECORRUPT;
    *state = paren[2];
    return 0;
}

/* The state letter follows the last ')' of the comm field in a stat line. */
int proc_stat_state(const char *path, char *state)
{
    char buf[1024];
    int n = proc_read_small(path, buf, sizeof(buf));
    if (n < 0)
        return n;
    return proc_parse_state(buf, state);
}

int proc_state(pid_t pid, char *state)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    return proc_stat_state(path, state);
}

int proc_comm(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    int n = proc_read_small(path, buf, size);
    if (n < 0)
        return n;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

int proc_cmdline(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int n = proc_read_small(path, buf, size);
    if (n < 0)
        return n;
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    for (int i = 0; i < n; i++) {
        if (buf[i] == '\0')
            buf[i] = ' ';
    }
    buf[n] = '\0';
    return 0;
}

int proc_check(pid_t pid)
{
    char path[64];
    if (pid <= 0)
        return -SG_ENOPROC;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (access(path, R_OK) != 0)
        return -SG_ENOPROC;
    /* /proc/PID/maps needs the same ptrace access as reading memory. */
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return proc_errno_code();
    char byte;
    ssize_t n = read(fd, &byte, 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return proc_errno_code();
    }
    return 0;
}

int proc_parse_uids(const char *status, long *uid, long *euid)
{
    const char *line = strstr(status, "\nUid:");
    char *end;
    if (!line)
        return -SG_ECORRUPT;
    *uid = strtol(line + 5, &end, 10);
    if (end == line + 5)
        return -SG_ECORRUPT;
    const char *rest = end;
    *euid = strtol(rest, &end, 10);
    if (end == rest)
        *euid = *uid;
    return 0;
}

long proc_uid(pid_t pid)
{
    char path[64], buf[4096];
    long uid, euid;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (proc_read_small(path, buf, sizeof(buf)) < 0 || proc_parse_uids(buf, &uid, &euid) != 0)
        return -1;
    return uid;
}

void proc_access(pid_t pid, struct proc_access *a)
{
    char path[64], buf[4096];
    struct stat st;
    *a = (struct proc_access){-1, -1, -1, -1};
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (proc_read_small(path, buf, sizeof(buf)) >= 0)
        proc_parse_uids(buf, &a->uid, &a->euid);
    /* The kernel gives a process's /proc files to root while it is not
     * dumpable; so a process whose files are root's though it does not run
     * as root is not dumpable. */
    snprintf(path, sizeof(path), "/proc/%d/stat",
             (int)pid); /* not the folder: it keeps its owner */
    if (stat(path, &st) == 0 && a->euid >= 0)
        a->dumpable = !(st.st_uid == 0 && a->euid != 0);
    if (proc_read_small("/proc/sys/kernel/yama/ptrace_scope", buf, sizeof(buf)) > 0)
        a->yama_scope = atoi(buf);
}

int proc_rss(pid_t pid, uint64_t *bytes)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    int n = proc_read_small(path, buf, sizeof(buf));
    if (n < 0)
        return n;
    unsigned long long size, resident;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return -SG_ECORRUPT;
    *bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
    return 0;
}

int proc_exe_id(pid_t pid, uint64_t *dev, uint64_t *ino)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    if (stat(path, &st) != 0)
        return errno == EACCES || errno == EPERM ? -SG_EPERM : -SG_ENOPROC;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return 0;
}
