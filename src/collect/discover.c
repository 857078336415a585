/*
 * discover.c - the processes the agent follows (collect/discover.h).
 *
 * /proc is listed at every scan; a pid seen before with the same start time
 * keeps its verdict, so only new processes have their command line, cgroup
 * and permissions read. Verdicts of processes that left are forgotten with
 * the scan that no longer finds them, so the table never outgrows the host.
 */
#include "collect/discover.h"

#include <ctype.h>
#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc/proc.h"
#include "proc/ptree.h"
#include "util/err.h"
#include "util/util.h"

#define CMDLINE_MAX 4096
#define CGROUP_TEXT_MAX 4096
#define ARGS_MAX 64

void discover_init(struct discover *d, const struct discover_options *opt)
{
    memset(d, 0, sizeof(*d));
    d->opt = *opt;
    d->self = getpid();
}

void discover_release(struct discover *d)
{
    free(d->seen);
    memset(d, 0, sizeof(*d));
}

/* Splits a raw /proc/PID/cmdline (NUL-separated) into argv; returns argc. */
static size_t split_args(char *raw, size_t len, char **argv, size_t max)
{
    size_t argc = 0;
    for (size_t i = 0; i < len && argc < max;) {
        argv[argc++] = raw + i;
        i += strlen(raw + i) + 1;
    }
    return argc;
}

static int read_args(pid_t pid, char *raw, size_t size, char **argv, size_t *argc)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int n = proc_read_small(path, raw, size);
    if (n < 0)
        return n;
    *argc = split_args(raw, (size_t)n, argv, ARGS_MAX);
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int matches(const struct discover *d, pid_t pid, char *const *argv, size_t argc)
{
    char comm[64] = "";
    if (!d->opt.npatterns)
        return 1;
    proc_comm(pid, comm, sizeof(comm));
    for (size_t p = 0; p < d->opt.npatterns; p++) {
        const char *pat = d->opt.patterns[p];
        if (comm[0] && fnmatch(pat, comm, 0) == 0)
            return 1;
        for (size_t i = 0; i < argc; i++) {
            if (fnmatch(pat, argv[i], 0) == 0 || fnmatch(pat, base_name(argv[i]), 0) == 0)
                return 1;
        }
    }
    return 0;
}

/* Skips "/sys/fs/cgroup" (v2) or "/sys/fs/cgroup/CONTROLLER" (v1) at the
 * start of a cgroup given as a folder. */
static const char *cgroup_relative(const char *cgroup)
{
    static const char root[] = "/sys/fs/cgroup";
    if (strncmp(cgroup, root, sizeof(root) - 1) != 0)
        return cgroup;
    return cgroup + sizeof(root) - 1;
}

/* 1 if path is cgroup or lies under it ("/a/b" is under "/a", not under "/a/b2"). */
static int path_under(const char *path, const char *cgroup, size_t len)
{
    if (len == 0 || (len == 1 && cgroup[0] == '/'))
        return 1;
    return strncmp(path, cgroup, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

int discover_in_cgroup(const char *text, const char *cgroup)
{
    const char *want = cgroup_relative(cgroup);
    size_t len = strlen(want);
    while (len > 1 && want[len - 1] == '/')
        len--;
    /* Lines are "ID:CONTROLLERS:PATH"; v2 is "0::PATH". A v1 folder given
     * with its controller ("/sys/fs/cgroup/cpu/x") matches after it too. */
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        const char *colon = memchr(line, ':', end ? (size_t)(end - line) : strlen(line));
        colon = colon ? strchr(colon + 1, ':') : NULL;
        if (colon && (!end || colon < end)) {
            char path[1024];
            size_t n = end ? (size_t)(end - colon - 1) : strlen(colon + 1);
            if (n >= sizeof(path))
                n = sizeof(path) - 1;
            memcpy(path, colon + 1, n);
            path[n] = '\0';
            if (path_under(path, want, len))
                return 1;
            const char *sub = strchr(want + 1, '/'); /* without a v1 controller */
            if (sub && path_under(path, sub, len - (size_t)(sub - want)))
                return 1;
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static int read_cgroup(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    int n = proc_read_small(path, buf, size);
    return n < 0 ? n : 0;
}

static int in_pid_list(const struct discover *d, pid_t pid)
{
    for (size_t i = 0; i < d->opt.npids; i++) {
        if (d->opt.pids[i] == pid)
            return 1;
    }
    return 0;
}

/* Decides for a process not seen before: 1 follow, 0 not selected, -1
 * selected but not readable. */
static int examine(const struct discover *d, pid_t pid)
{
    char raw[CMDLINE_MAX], *argv[ARGS_MAX];
    size_t argc = 0;
    int listed = in_pid_list(d, pid);
    int selectors = d->opt.cgroup || d->opt.npatterns;
    if (!listed && d->opt.npids && !selectors)
        return 0;
    if (read_args(pid, raw, sizeof(raw), argv, &argc) != 0 || argc == 0)
        return 0; /* gone, or a kernel thread */
    if (!listed) {
        if (d->opt.cgroup) {
            char text[CGROUP_TEXT_MAX];
            if (read_cgroup(pid, text, sizeof(text)) != 0 ||
                !discover_in_cgroup(text, d->opt.cgroup))
                return 0;
        }
        if (!matches(d, pid, argv, argc))
            return 0;
    }
    return proc_check(pid) == -SG_EPERM ? -1 : 1;
}

/* The previous verdict for (pid, start), or NULL if none. */
static const struct discover_seen *previous(const struct discover *d, pid_t pid, uint64_t start)
{
    size_t lo = 0, hi = d->nseen;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d->seen[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < d->nseen && d->seen[lo].pid == pid && d->seen[lo].start_time == start)
        return &d->seen[lo];
    return NULL;
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int by_pid(const void *a, const void *b)
{
    const struct discover_seen *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

int discover_list(void *ctx, pid_t **out)
{
    struct discover *d = ctx;
    DIR *dir = opendir("/proc");
    if (!dir)
        return -SG_EIO;
    struct discover_seen *now = NULL;
    size_t count = 0, cap = 0;
    uint64_t scan_ns = monotonic_ns();
    size_t followed = 0, unreadable = 0, over = 0;
    pid_t *pids = NULL;
    size_t pids_cap = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(de->d_name);
        uint64_t start;
        if (pid <= 0 || pid == d->self || ptree_start_time(pid, &start) != 0)
            continue;
        const struct discover_seen *before = previous(d, pid, start);
        uint64_t first_seen = before ? before->first_seen_ns : scan_ns;
        int verdict = before ? before->verdict : -2;
        if (verdict == -2 ||
            (verdict == 0 && scan_ns - first_seen < DISCOVER_RECHECK_S * 1000000000ull))
            verdict = examine(d, pid);
        now = xgrow(now, sizeof(*now), count + 1, &cap);
        now[count++] = (struct discover_seen){pid, start, verdict, first_seen};
        if (verdict < 0)
            unreadable++;
        if (verdict <= 0)
            continue;
        if (followed >= DISCOVER_MAX) {
            over++;
            continue;
        }
        pids = xgrow(pids, sizeof(*pids), followed + 1, &pids_cap);
        pids[followed++] = pid;
    }
    closedir(dir);
    if (count)
        qsort(now, count, sizeof(*now), by_pid);
    free(d->seen);
    d->seen = now;
    d->nseen = count;
    d->seen_cap = cap;
    d->followed = followed;
    d->unreadable = unreadable;
    d->over = over;
    *out = pids;
    return (int)followed;
}

int discover_container_id(const char *text, char *buf, size_t size)
{
    /* Runtimes name the container's cgroup after its 64-hex-digit id:
     * docker-ID.scope, cri-containerd-ID.scope, crio-ID.scope,
     * libpod-ID.scope, /docker/ID, /kubepods/.../ID. */
    for (const char *p = text; *p; p++) {
        size_t n = 0;
        while (isxdigit((unsigned char)p[n]) && !isupper((unsigned char)p[n]))
            n++;
        int starts = p == text || p[-1] == '/' || p[-1] == '-';
        int ends = p[n] == '\0' || p[n] == '\n' || p[n] == '.' || p[n] == '/';
        if (n == 64 && starts && ends) {
            snprintf(buf, size, "%.12s", p);
            return 1;
        }
        if (n)
            p += n - 1;
    }
    return 0;
}

static int is_python(const char *name)
{
    return strncmp(name, "python", 6) == 0 || strncmp(name, "pypy", 4) == 0;
}

void discover_program_name(char *const *argv, size_t argc, char *buf, size_t size)
{
    const char *name = argc ? base_name(argv[0]) : "";
    if (argc && is_python(name)) {
        for (size_t i = 1; i < argc; i++) {
            if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) {
                name = argv[i + 1];
                break;
            }
            if (strcmp(argv[i], "-c") == 0)
                break; /* python -c CODE: the interpreter's name it is */
            if (argv[i][0] != '-') {
                name = base_name(argv[i]);
                break;
            }
        }
    }
    snprintf(buf, size, "%s", name[0] ? name : "python");
    if (str_endswith(buf, ".py") && strlen(buf) > 3)
        buf[strlen(buf) - 3] = '\0';
}

int discover_service(pid_t pid, char *buf, size_t size)
{
    char text[CGROUP_TEXT_MAX], id[16];
    if (read_cgroup(pid, text, sizeof(text)) == 0 && discover_container_id(text, id, sizeof(id))) {
        snprintf(buf, size, "container %s", id);
        return 0;
    }
    char raw[CMDLINE_MAX], *argv[ARGS_MAX];
    size_t argc = 0;
    int err = read_args(pid, raw, sizeof(raw), argv, &argc);
    if (err)
        return err;
    discover_program_name(argv, argc, buf, size);
    return 0;
}
