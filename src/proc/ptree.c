/*
 * ptree.c - a process's descendants, read from /proc.
 *
 * Two ways to find children: /proc/PID/task/TID/children (one small file per
 * thread, only with CONFIG_PROC_CHILDREN), or one pass over /proc/N/stat of
 * every process, keeping (pid, parent) pairs. The second costs one file read
 * per process on the machine, so callers should not ask more than a few
 * times a second.
 */
#include "proc/ptree.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/proc.h"
#include "proc/task.h"
#include "util/err.h"
#include "util/util.h"

/* Reads /proc/PID/stat into buf and returns a pointer just past the comm
 * field's closing parenthesis (comm may hold spaces and parentheses), or NULL. */
static const char *stat_fields(pid_t pid, char *buf, size_t size, int *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = errno == EACCES || errno == EPERM ? -SG_EPERM : -SG_ENOPROC;
        return NULL;
    }
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) {
        *err = -SG_ENOPROC;
        return NULL;
    }
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    if (!paren) {
        *err = -SG_ECORRUPT;
        return NULL;
    }
    return paren + 1;
}

/* Returns the index-th space-separated field after the comm (0: state). */
static const char *nth_field(const char *p, int index)
{
    for (int i = 0; i <= index; i++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return NULL;
        if (i == index)
            return p;
        while (*p && *p != ' ')
            p++;
    }
    return NULL;
}

int ptree_parent(pid_t pid, pid_t *ppid)
{
    char buf[1024];
    int err = 0;
    const char *rest = stat_fields(pid, buf, sizeof(buf), &err);
    const char *f = rest ? nth_field(rest, 1) : NULL;
    if (!f)
        return err ? err : -SG_ECORRUPT;
    *ppid = (pid_t)strtol(f, NULL, 10);
    return 0;
}

int ptree_start_time(pid_t pid, uint64_t *ticks)
{
    char buf[1024];
    int err = 0;
    const char *rest = stat_fields(pid, buf, sizeof(buf), &err);
    const char *f = rest ? nth_field(rest, 19) : NULL; /* field 22 of the file */
    if (!f)
        return err ? err : -SG_ECORRUPT;
    *ticks = strtoull(f, NULL, 10);
    return 0;
}

static void push(pid_t **list, size_t *count, size_t *cap, pid_t pid)
{
    *list = xgrow(*list, sizeof(**list), *count + 1, cap);
    (*list)[(*count)++] = pid;
}

/* Returns 1 if this kernel has /proc/PID/task/TID/children. */
static int children_files_exist(void)
{
    static int known = -1;
    if (known < 0) {
        char path[96];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
        known = stat(path, &st) == 0;
    }
    return known;
}

/* Appends the children of pid (of all its threads) from the children files. */
static void children_of(pid_t pid, pid_t **list, size_t *count, size_t *cap)
{
    pid_t *tids;
    int n = task_list(pid, &tids);
    for (int i = 0; i < n && *count < PTREE_MAX; i++) {
        char path[96], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tids[i]);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        for (char *p = buf, *end; *p && *count < PTREE_MAX; p = end) {
            long child = strtol(p, &end, 10);
            if (end == p)
                break;
            if (child > 0)
                push(list, count, cap, (pid_t)child);
        }
    }
    free(tids);
}

/* Reads (pid, parent) for every process on the machine. */
static int all_parents(struct ptree_pair **pairs, size_t *npairs)
{
    DIR *d = opendir("/proc");
    size_t cap = 0;
    *pairs = NULL;
    *npairs = 0;
    if (!d)
        return -SG_EIO;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(de->d_name), parent;
        if (ptree_parent(pid, &parent) != 0)
            continue; /* exited meanwhile */
        *pairs = xgrow(*pairs, sizeof(**pairs), *npairs + 1, &cap);
        (*pairs)[(*npairs)++] = (struct ptree_pair){pid, parent};
    }
    closedir(d);
    return 0;
}

int ptree_descendants(pid_t root, pid_t **out)
{
    size_t count = 0, cap = 0;
    pid_t *list = NULL;
    *out = NULL;
    int err = proc_check(root);
    if (err)
        return err;
    if (children_files_exist()) {
        children_of(root, &list, &count, &cap);
        for (size_t i = 0; i < count && count < PTREE_MAX; i++)
            children_of(list[i], &list, &count, &cap);
    } else {
        struct ptree_pair *pairs;
        size_t npairs;
        err = all_parents(&pairs, &npairs);
        if (err)
            return err;
        /* Breadth first: list[] doubles as the queue of parents to expand. */
        for (size_t i = 0; i < npairs && count < PTREE_MAX; i++) {
            if (pairs[i].parent == root)
                push(&list, &count, &cap, pairs[i].pid);
        }
        for (size_t q = 0; q < count && count < PTREE_MAX; q++) {
            for (size_t i = 0; i < npairs && count < PTREE_MAX; i++) {
                if (pairs[i].parent == list[q] && pairs[i].pid != root)
                    push(&list, &count, &cap, pairs[i].pid);
            }
        }
        free(pairs);
    }
    *out = list;
    return (int)(count < PTREE_MAX ? count : PTREE_MAX);
}

/* ---- new processes between scans ---- */

static long read_last_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

void ptree_watch_init(struct ptree_watch *w)
{
    w->fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
    w->last_pid = w->fd >= 0 ? read_last_pid(w->fd) : -1;
}

void ptree_watch_release(struct ptree_watch *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

/* Reads pid's parent and whether it is a process (not a thread: a thread's
 * exit signal, field 38 of its stat, is -1). Returns 1 for a process. */
static int process_parent(pid_t pid, pid_t *parent)
{
    char buf[1024];
    int err = 0;
    const char *rest = stat_fields(pid, buf, sizeof(buf), &err);
    const char *ppid = rest ? nth_field(rest, 1) : NULL;
    const char *exit_signal = rest ? nth_field(rest, 35) : NULL;
    if (!ppid || !exit_signal || strtol(exit_signal, NULL, 10) == -1)
        return 0;
    *parent = (pid_t)strtol(ppid, NULL, 10);
    return 1;
}

int ptree_watch_new(struct ptree_watch *w, struct ptree_pair *out)
{
    if (w->fd < 0)
        return -2;
    long now = read_last_pid(w->fd), from = w->last_pid;
    if (now < 0)
        return -2;
    w->last_pid = now;
    if (now == from)
        return 0;
    if (now < from || now - from > PTREE_WATCH_MAX)
        return -1;
    int count = 0;
    for (long pid = from + 1; pid <= now; pid++) {
        pid_t parent;
        if (process_parent((pid_t)pid, &parent))
            out[count++] = (struct ptree_pair){(pid_t)pid, parent};
    }
    return count;
}
