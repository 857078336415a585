/*
 * rss.c - the target's resident set size from /proc/PID/statm (see rss.h).
 */
#include "sample/rss.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/err.h"

int rss_open(struct rss_reader *r, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    long page = sysconf(_SC_PAGESIZE);
    r->page_size = page > 0 ? (uint64_t)page : 4096;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return errno == EACCES || errno == EPERM ? -SG_EPERM : -SG_ENOPROC;
    return 0;
}

int rss_parse_statm(const char *text, uint64_t *pages)
{
    char *end;
    errno = 0;
    (void)strtoull(text, &end, 10); /* total program size: not needed */
    if (errno || end == text || *end != ' ')
        return -SG_ECORRUPT;
    const char *resident = end + 1;
    unsigned long long v = strtoull(resident, &end, 10);
    if (errno || end == resident || (*end != ' ' && *end != '\n' && *end != '\0'))
        return -SG_ECORRUPT;
    *pages = v;
    return 0;
}

int rss_read(struct rss_reader *r, uint64_t *bytes)
{
    char text[256];
    if (r->fd < 0)
        return -SG_ENOPROC;
    ssize_t n = pread(r->fd, text, sizeof(text) - 1, 0);
    if (n <= 0)
        return -SG_ENOPROC; /* ESRCH after exit, or an empty read */
    text[n] = '\0';
    uint64_t pages;
    int err = rss_parse_statm(text, &pages);
    if (err)
        return err;
    if (pages > UINT64_MAX / r->page_size)
        return -SG_ECORRUPT;
    *bytes = pages * r->page_size;
    return 0;
}

void rss_close(struct rss_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}
