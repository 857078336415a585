/*
 * procset.c - the Python processes of a process tree, kept up to date.
 *
 * Each refresh lists the tree (proc/ptree.c), matches what it finds against
 * the targets we hold by (pid, start time), adds new ones and drops those
 * that left. Detecting a runtime reads the process's maps and ELF symbols
 * (milliseconds), so it happens once per process, not per sample; a process
 * that is not Python yet is re-checked for a few seconds after it appears
 * (multiprocessing's "spawn" forks, then execs a fresh interpreter that
 * needs a moment to initialise) and whenever its executable changes.
 */
#include "sample/procset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc/maps.h"
#include "proc/proc.h"
#include "proc/ptree.h"
#include "util/util.h"

void procset_init(struct procset *ps, pid_t root, int follow)
{
    memset(ps, 0, sizeof(*ps));
    ps->root = root;
    ps->follow = follow;
    ps->watch.fd = -1;
    if (follow)
        ptree_watch_init(&ps->watch);
    ps->scan_ms = PROCSET_SCAN_MS;
}

void procset_init_list(struct procset *ps, procset_list_fn list, void *ctx, uint64_t scan_ms)
{
    procset_init(ps, 0, 0);
    ps->list = list;
    ps->list_ctx = ctx;
    ps->scan_ms = scan_ms;
}

static void target_stop_sampling(struct proc_target *t)
{
    if (t->sampling) {
        pause_release(&t->pause);
        walk_release(&t->w);
        t->sampling = 0;
    }
    mem_proc_release(&t->mp);
}

static void target_free(struct proc_target *t)
{
    if (!t)
        return;
    target_stop_sampling(t);
    free(t);
}

void procset_release(struct procset *ps)
{
    for (size_t i = 0; i < ps->count; i++)
        target_free(ps->targets[i]);
    free(ps->targets);
    free(ps->history);
    ptree_watch_release(&ps->watch);
    memset(ps, 0, sizeof(*ps));
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void read_exe(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, buf, size - 1);
    buf[n > 0 ? (size_t)n : 0] = '\0';
}

/* Gives t an entry in ps->history, or its old one when the same process
 * is Python again (it exec'd: a subprocess forks, we see the fork's image,
 * then the new program). */
static void note_in_history(struct procset *ps, struct proc_target *t)
{
    t->history = SIZE_MAX;
    if (ps->list) {
        /* The agent: no summary to print, and over days of processes
         * coming and going the list (and its scans) would only grow. */
        ps->python_ever++;
        return;
    }
    for (size_t i = 0; i < ps->nhistory; i++) {
        if (ps->history[i].pid == t->pid && ps->history[i].start_time == t->start_time) {
            proc_cmdline(t->pid, ps->history[i].command, sizeof(ps->history[i].command));
            t->history = i;
            return;
        }
    }
    ps->python_ever++;
    ps->history = xgrow(ps->history, sizeof(*ps->history), ps->nhistory + 1, &ps->history_cap);
    struct procset_seen *h = &ps->history[ps->nhistory];
    memset(h, 0, sizeof(*h));
    h->pid = t->pid;
    h->start_time = t->start_time;
    proc_cmdline(t->pid, h->command, sizeof(h->command));
    t->history = ps->nhistory++;
}

/* Where path is mapped in pid (0: not, or unreadable). */
static uint64_t file_base(pid_t pid, const char *path)
{
    struct maps m;
    if (maps_read(&m, pid) != 0)
        return 0;
    uint64_t base = maps_file_base(&m, path);
    maps_release(&m);
    return base;
}

/* A worker forked without exec (prefork servers: gunicorn, celery, uWSGI)
 * has its parent's address space, so its runtime is at the parent's
 * addresses: taken from the parent, the slow part of detecting a runtime
 * (reading the ELF symbols: milliseconds, much of a short-lived worker's
 * life) is skipped. An exec of the same program maps it elsewhere (ASLR),
 * which the base address of the runtime's file tells. Returns 0 if t's
 * runtime was taken so. */
static int inherit_runtime(struct procset *ps, struct proc_target *t)
{
    pid_t parent;
    struct proc_target *p;
    if (ptree_parent(t->pid, &parent) != 0 || !(p = procset_find(ps, parent)) ||
        p->state != PT_PYTHON || !p->binary_base ||
        file_base(t->pid, p->rt.binary) != p->binary_base)
        return -SG_ENOTPY;
    t->rt = p->rt;
    t->rt.pid = t->pid;
    t->binary_base = p->binary_base;
    return 0;
}

/* Looks for a usable runtime in t's process; on success t is sampled from
 * now on. A runtime that is found but not initialised yet leaves t pending. */
static void target_detect(struct procset *ps, struct proc_target *t, uint64_t now_ns)
{
    char why[512];
    uint64_t interp;
    read_exe(t->pid, t->exe, sizeof(t->exe));
    mem_proc_release(&t->mp);
    mem_proc_init(&t->mp, &t->reader, t->pid);
    t->inherited = inherit_runtime(ps, t) == 0;
    int err = t->inherited ? 0 : detect_runtime(t->pid, &t->reader, &t->rt, why, sizeof(why));
    if (!err && !t->inherited)
        t->binary_base = file_base(t->pid, t->rt.binary);
    if (!err)
        err = detect_interp_head(&t->rt, &t->reader, &interp);
    if (err) {
        t->state = now_ns < t->retry_until_ns ? PT_PENDING : PT_OTHER;
        return;
    }
    t->state = PT_PYTHON;
    t->consecutive_errors = 0;
    ps->inherited += (uint64_t)t->inherited;
    walk_init(&t->w, &t->reader, &t->rt);
    pause_init(&t->pause, t->pid);
    t->sampling = 1;
    note_in_history(ps, t);
}

void procset_history_sync(struct procset *ps)
{
    for (size_t i = 0; i < ps->count; i++) {
        struct proc_target *t = ps->targets[i];
        if (t->state == PT_PYTHON && t->history != SIZE_MAX)
            ps->history[t->history].walks = t->walks;
    }
}

/* Re-checks a pending or skipped target if it may have become Python. */
static void target_recheck(struct procset *ps, struct proc_target *t, uint64_t now_ns)
{
    char exe[sizeof(t->exe)];
    if (t->state == PT_PYTHON)
        return;
    read_exe(t->pid, exe, sizeof(exe));
    if (strcmp(exe, t->exe) != 0)
        t->retry_until_ns = now_ns + (uint64_t)PROCSET_RETRY_S * 1000000000ull;
    if (now_ns < t->retry_until_ns)
        target_detect(ps, t, now_ns);
    else
        t->state = PT_OTHER;
}

/* 1 if the process started (start_time: clock ticks since boot) more than
 * PROCSET_RETRY_S ago: one that is not Python by then will not become
 * Python without an exec (which re-arms the retries), so it is looked at
 * in the next two scans only (a detection can fail once on a torn read).
 * This keeps an agent that starts on a host of hundreds of processes from
 * reading each one's maps and symbols for PROCSET_RETRY_S seconds. */
static int settled(uint64_t start_time)
{
    struct timespec boot;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &boot) != 0)
        return 0;
    return (uint64_t)boot.tv_sec > start_time / (uint64_t)hz + PROCSET_RETRY_S;
}

static struct proc_target *add_target(struct procset *ps, pid_t pid, uint64_t start_time,
                                      uint64_t now_ns)
{
    struct proc_target *t = xcalloc(1, sizeof(*t));
    t->pid = pid;
    t->start_time = start_time;
    t->seen = 1;
    /* Only the agent's host-wide list: record follows one tree, whose
     * children may still be starting their interpreter on a loaded host. */
    int quick = ps->list && settled(start_time);
    t->retry_until_ns =
        now_ns + (quick ? 2 * ps->scan_ms * 1000000ull : (uint64_t)PROCSET_RETRY_S * 1000000000ull);
    mem_proc_init(&t->mp, &t->reader, pid);
    ps->targets = xgrow(ps->targets, sizeof(*ps->targets), ps->count + 1, &ps->cap);
    ps->targets[ps->count++] = t;
    return t;
}

struct proc_target *procset_find(struct procset *ps, pid_t pid)
{
    for (size_t i = 0; i < ps->count; i++) {
        if (ps->targets[i]->pid == pid)
            return ps->targets[i];
    }
    return NULL;
}

/* Was (pid, start) sampled before? (It has ended, and been dropped.) */
static int in_history(const struct procset *ps, pid_t pid, uint64_t start)
{
    for (size_t i = ps->nhistory; i-- > 0;) {
        if (ps->history[i].pid == pid && ps->history[i].start_time == start)
            return 1;
    }
    return 0;
}

/* Marks pid as part of the tree, adding (or replacing a stale) target. */
static void see(struct procset *ps, pid_t pid, uint64_t now_ns)
{
    uint64_t start = 0;
    char state;
    if (ptree_start_time(pid, &start) != 0 || proc_state(pid, &state) != 0)
        return;                               /* gone */
    int ended = state == 'Z' || state == 'X'; /* waiting for its parent to reap it */
    struct proc_target *t = procset_find(ps, pid);
    if (t && t->start_time == start) {
        t->seen = 1;
        if (!ended)
            target_recheck(ps, t, now_ns);
        return;
    }
    if (t) /* the pid was reused: a different process */
        t->seen = 0;
    if (ended && in_history(ps, pid, start))
        return; /* sampled until it ended; its parent has not reaped it yet */
    t = add_target(ps, pid, start, now_ns);
    if (!ended) {
        target_detect(ps, t, now_ns);
        return;
    }
    /* Kept (as not Python) so that it is counted once, not at every scan. */
    t->state = PT_OTHER;
    ps->ended_unread++;
}

/* Drops targets not seen in the latest scan. */
static void drop_unseen(struct procset *ps)
{
    size_t kept = 0;
    for (size_t i = 0; i < ps->count; i++) {
        struct proc_target *t = ps->targets[i];
        if (t->seen) {
            ps->targets[kept++] = t;
            continue;
        }
        if (t->state == PT_PYTHON) {
            ps->exited++;
            if (t->history != SIZE_MAX) {
                ps->history[t->history].walks = t->walks;
                ps->history[t->history].gone = 1;
            }
        }
        target_free(t);
    }
    ps->count = kept;
}

/* Is pid one of the tree's processes (the root, or a target of any state)? */
static int in_tree(struct procset *ps, pid_t pid)
{
    return pid == ps->root || procset_find(ps, pid) != NULL;
}

/* Between full scans: the processes created since the last look whose
 * parent is in the tree (parents come first: their pids are lower). */
static void quick_refresh(struct procset *ps, uint64_t now_ns)
{
    struct ptree_pair fresh[PTREE_WATCH_MAX];
    int n = ptree_watch_new(&ps->watch, fresh);
    ps->quick_checks++;
    for (int i = 0; i < n; i++) {
        if (in_tree(ps, fresh[i].parent) && !procset_find(ps, fresh[i].pid)) {
            see(ps, fresh[i].pid, now_ns);
            ps->quick_found++;
        }
    }
}

size_t procset_refresh(struct procset *ps, uint64_t now_ns, int force)
{
    if (!force && now_ns < ps->next_scan_ns) {
        if (ps->follow) {
            uint64_t began = monotonic_ns();
            quick_refresh(ps, now_ns);
            ps->scan_ns += monotonic_ns() - began;
        }
        return procset_python_count(ps);
    }
    uint64_t began = monotonic_ns();
    ps->next_scan_ns = now_ns + ps->scan_ms * 1000000ull;
    ps->scans++;
    for (size_t i = 0; i < ps->count; i++)
        ps->targets[i]->seen = 0;
    if (ps->root)
        see(ps, ps->root, now_ns);
    if (ps->follow || ps->list) {
        pid_t *pids = NULL;
        int n = ps->list ? ps->list(ps->list_ctx, &pids) : ptree_descendants(ps->root, &pids);
        for (int i = 0; i < n; i++)
            see(ps, pids[i], now_ns);
        free(pids);
    }
    drop_unseen(ps);
    ps->scan_ns += monotonic_ns() - began;
    return procset_python_count(ps);
}

int procset_walk_failed(struct procset *ps, struct proc_target *t, uint64_t now_ns)
{
    char state;
    t->errors++;
    if (proc_state(t->pid, &state) != 0 || state == 'Z' || state == 'X') {
        t->seen = 0;
        drop_unseen(ps); /* frees t */
        return 1;
    }
    if (++t->consecutive_errors >= PROCSET_REDETECT_ERRORS) {
        /* Perhaps it exec'd a new program: start over with this process. */
        target_stop_sampling(t);
        t->state = PT_PENDING;
        t->retry_until_ns = now_ns + (uint64_t)PROCSET_RETRY_S * 1000000000ull;
        target_detect(ps, t, now_ns);
    }
    return 0;
}

void procset_skip(struct procset *ps, struct proc_target *t)
{
    target_stop_sampling(t);
    t->state = PT_OTHER;
    t->retry_until_ns = 0;
    ps->unreadable++;
}

size_t procset_python_count(const struct procset *ps)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->count; i++)
        n += ps->targets[i]->state == PT_PYTHON;
    return n;
}
