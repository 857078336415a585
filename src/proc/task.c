/*
 * task.c - threads, scheduler states and identity of a process, from /proc.
 */
#include "proc/task.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/util.h"

static int errno_code(void)
{
    return errno == EACCES || errno == EPERM ? -SG_EPERM : -SG_ENOPROC;
}

/* Reads a small /proc file into buf (NUL-terminated). Returns bytes read or a negative code. */
static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno_code();
    ssize_t n = read(fd, buf, size - 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return errno_code();
    }
    buf[n] = '\0';
    return (int)n;
}

int task_list(pid_t pid, pid_t **tids)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    *tids = NULL;
    if (!d)
        return errno_code();
    size_t count = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        *tids = xgrow(*tids, sizeof(**tids), count + 1, &cap);
        (*tids)[count++] = (pid_t)atoi(de->d_name);
    }
    closedir(d);
    return (int)count;
}

/* The state letter follows the last ')' of the comm field in a stat line. */
static int stat_state(const char *path, char *state)
{
    char buf[1024];
    int n = read_small(path, buf, sizeof(buf));
    if (n < 0)
        return n;
    const char *paren = strrchr(buf, ')');
    if (!paren || paren[1] != ' ' || !paren[2])
        return -SG_ECORRUPT;
    *state = paren[2];
    return 0;
}

int task_state(pid_t pid, pid_t tid, char *state)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    return stat_state(path, state);
}

/* The state letter of a stat line in buf. */
static int parse_state(const char *buf, char *state)
{
    const char *paren = strrchr(buf, ')');
    if (!paren || paren[1] != ' ' || !paren[2])
        return -SG_ECORRUPT;
    *state = paren[2];
    return 0;
}

void task_stat_cache_init(struct task_stat_cache *c)
{
    memset(c, 0, sizeof(*c));
}

void task_stat_cache_release(struct task_stat_cache *c)
{
    for (size_t i = 0; i < c->count; i++)
        close(c->e[i].fd);
    free(c->e);
    memset(c, 0, sizeof(*c));
}

void task_stat_cache_round(struct task_stat_cache *c)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (c->e[i].epoch == c->epoch)
            c->e[kept++] = c->e[i];
        else
            close(c->e[i].fd);
    }
    c->count = kept;
    c->epoch++;
}

int task_state_cached(struct task_stat_cache *c, pid_t pid, pid_t tid, char *state)
{
    struct task_stat_fd *e = NULL;
    for (size_t i = 0; i < c->count && !e; i++) {
        if (c->e[i].tid == tid)
            e = &c->e[i];
    }
    if (!e) {
        char path[96];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return errno_code();
        c->e = xgrow(c->e, sizeof(*c->e), c->count + 1, &c->cap);
        e = &c->e[c->count++];
        e->tid = tid;
        e->fd = fd;
    }
    e->epoch = c->epoch;
    char buf[1024];
    ssize_t n = pread(e->fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) { /* the thread is gone (ESRCH); a new one may reuse its tid */
        int err = n < 0 ? errno_code() : -SG_ENOPROC;
        close(e->fd);
        *e = c->e[--c->count];
        return err;
    }
    buf[n] = '\0';
    return parse_state(buf, state);
}

int proc_state(pid_t pid, char *state)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    return stat_state(path, state);
}

int task_state_idle(char state)
{
    return state != 'R';
}

int proc_comm(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    int n = read_small(path, buf, size);
    if (n < 0)
        return n;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

int proc_cmdline(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int n = read_small(path, buf, size);
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

char *proc_root_path(pid_t pid, const char *path)
{
    return xasprintf("/proc/%d/root%s", (int)pid, path);
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
        return errno_code();
    char byte;
    ssize_t n = read(fd, &byte, 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return errno_code();
    }
    return 0;
}

long proc_uid(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return -1;
    const char *uid = strstr(buf, "\nUid:");
    return uid ? strtol(uid + 5, NULL, 10) : -1;
}

int proc_rss(pid_t pid, uint64_t *bytes)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    int n = read_small(path, buf, sizeof(buf));
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
