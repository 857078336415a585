/*
 * task.c - a process's threads and their scheduler states, from /proc.
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

#include "proc/proc.h"
#include "util/err.h"
#include "util/util.h"

int task_list(pid_t pid, pid_t **tids)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    *tids = NULL;
    if (!d)
        return proc_errno_code();
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

int task_state(pid_t pid, pid_t tid, char *state)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    return proc_stat_state(path, state);
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

/* The entry of tid, or NULL. Threads are asked for in the same order
 * every sample: the entry after the last one found is tried first, so a
 * sample of N threads costs N comparisons, not N * N / 2. */
static struct task_stat_fd *find_entry(struct task_stat_cache *c, pid_t tid)
{
    if (c->next < c->count && c->e[c->next].tid == tid)
        return &c->e[c->next++];
    for (size_t i = 0; i < c->count; i++) {
        if (c->e[i].tid == tid) {
            c->next = i + 1;
            return &c->e[i];
        }
    }
    return NULL;
}

int task_stat_cache_keep(struct task_stat_cache *c, pid_t tid)
{
    struct task_stat_fd *e = find_entry(c, tid);
    if (!e)
        return -1;
    e->epoch = c->epoch;
    return 0;
}

int task_state_cached(struct task_stat_cache *c, pid_t pid, pid_t tid, char *state)
{
    struct task_stat_fd *e = find_entry(c, tid);
    if (!e) {
        char path[96];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return proc_errno_code();
        c->e = xgrow(c->e, sizeof(*c->e), c->count + 1, &c->cap);
        e = &c->e[c->count++];
        e->tid = tid;
        e->fd = fd;
    }
    e->epoch = c->epoch;
    char buf[1024];
    ssize_t n = pread(e->fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) { /* the thread is gone (ESRCH); a new one may reuse its tid */
        int err = n < 0 ? proc_errno_code() : -SG_ENOPROC;
        close(e->fd);
        *e = c->e[--c->count];
        return err;
    }
    buf[n] = '\0';
    return proc_parse_state(buf, state);
}

int task_parse_nspid(const char *status, pid_t *ids, size_t max)
{
    const char *line = strstr(status, "\nNSpid:");
    if (!line)
        return -SG_ECORRUPT;
    const char *p = line + strlen("\nNSpid:");
    size_t count = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!isdigit((unsigned char)*p))
            break;
        char *end;
        long id = strtol(p, &end, 10);
        if (id <= 0 || id > 0x7fffffffL)
            return -SG_ECORRUPT;
        if (count < max)
            ids[count] = (pid_t)id;
        count++;
        p = end;
    }
    return count ? (int)(count < max ? count : max) : -SG_ECORRUPT;
}

int task_inner_id(pid_t pid, pid_t tid, pid_t *inner)
{
    char path[96], buf[4096];
    pid_t ids[TASK_MAX_NS];
    if (tid == pid)
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
    int n = proc_read_small(path, buf, sizeof(buf));
    if (n < 0)
        return n;
    n = task_parse_nspid(buf, ids, TASK_MAX_NS);
    if (n < 1)
        return n < 0 ? n : -SG_ECORRUPT;
    *inner = ids[n - 1];
    return 0;
}

int task_list_ids(pid_t pid, struct task_ids **out)
{
    pid_t *tids;
    int n = task_list(pid, &tids);
    *out = NULL;
    if (n < 0)
        return n;
    struct task_ids *ids = xcalloc((size_t)n + 1, sizeof(*ids));
    size_t count = 0;
    for (int i = 0; i < n; i++) {
        pid_t inner;
        if (task_inner_id(pid, tids[i], &inner) == 0) /* else it just exited */
            ids[count++] = (struct task_ids){tids[i], inner};
    }
    free(tids);
    *out = ids;
    return (int)count;
}

int task_state_idle(char state)
{
    return state != 'R';
}
