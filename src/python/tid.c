/*
 * tid.c - which OS thread runs each thread state (python/tid.h).
 *
 * Per thread and sample: take the id the thread state gives (its
 * native_thread_id from 3.11, else the tid in glibc's struct pthread), map
 * it into our PID namespace, and read that thread's state. Reading the
 * state is the check: /proc/PID/task/TID exists only for threads of PID
 * (with --blocking, the paused threads are the list). In the common case
 * this costs nothing beyond the state read every sample does anyway. Only
 * when the check fails do we look at the namespace (once) and at glibc's
 * struct pthread (one read per such thread; the offset of its tid is found
 * once), and remember a fix per thread state, so a uWSGI worker costs one
 * extra read per sample, not a search.
 */
#include "python/tid.h"

#include <stdlib.h>
#include <string.h>

#include "python/walk.h"
#include "util/util.h"

/* Samples between two searches for the pthread offset that found none. */
#define TID_PROBE_GAP 256

/* A thread state whose own id is not one of the process's threads, and
 * the id that proved right instead (in the target's namespace). */
struct tid_fix {
    uint64_t tstate;
    pid_t native;
    pid_t inner;
    unsigned epoch; /* last used */
};

void tid_map_init(struct tid_map *m)
{
    memset(m, 0, sizeof(*m));
}

void tid_map_no_proc(struct tid_map *m, pid_t pid)
{
    m->ns_checked = 1;
    m->nested = 0;
    m->inner_pid = pid;
}

void tid_map_release(struct tid_map *m)
{
    free(m->ids);
    free(m->fixes);
    memset(m, 0, sizeof(*m));
}

/* Looks at the target's PID namespace once (a status file read). */
static void check_namespace(struct walker *w)
{
    struct tid_map *m = &w->tids;
    if (m->ns_checked)
        return;
    m->ns_checked = 1;
    m->inner_pid = w->rt->pid;
    pid_t inner;
    if (task_inner_id(w->rt->pid, w->rt->pid, &inner) == 0 && inner != w->rt->pid) {
        m->nested = 1;
        m->inner_pid = inner;
    }
}

/* Re-reads a nested target's thread ids, at most once per sample. */
static void refresh_ids(struct walker *w)
{
    struct tid_map *m = &w->tids;
    if (m->ids && m->ids_epoch == m->epoch)
        return;
    free(m->ids);
    int n = task_list_ids(w->rt->pid, &m->ids);
    m->nids = n > 0 ? (size_t)n : 0;
    m->ids_epoch = m->epoch;
}

/* Our id for the target's thread inner, or 0 if it has none. */
static pid_t to_host(struct walker *w, pid_t inner)
{
    struct tid_map *m = &w->tids;
    if (inner <= 0)
        return 0;
    if (!m->nested)
        return inner;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < m->nids; i++) {
            if (m->ids[i].inner == inner)
                return m->ids[i].host;
        }
        if (pass == 0)
            refresh_ids(w); /* a new thread */
    }
    return 0;
}

/* The target's id for our thread host (for the pthread search). */
static pid_t to_inner(const struct tid_map *m, pid_t host)
{
    if (!m->nested)
        return host;
    for (size_t i = 0; i < m->nids; i++) {
        if (m->ids[i].host == host)
            return m->ids[i].inner;
    }
    return 0;
}

static int read_state(struct walker *w, pid_t tid, char *state)
{
    if (!w->nstates)
        return task_state_cached(&w->stats, w->rt->pid, tid, state);
    for (size_t i = 0; i < w->nstates; i++) {
        if (w->state_tids[i] == tid) {
            *state = w->states[i];
            return *state == '?' ? -1 : 0;
        }
    }
    return -1;
}

/* Takes inner as t's thread if it is one of the process's threads (its
 * state can be read). Returns 1 if so. */
static int settle(struct walker *w, struct py_thread *t, pid_t inner)
{
    pid_t host = to_host(w, inner);
    char state;
    if (!host || read_state(w, host, &state))
        return 0;
    t->tid = host;
    t->inner_tid = w->tids.nested ? inner : 0;
    t->os_state = state;
    t->idle = task_state_idle(state);
    t->unknown = 0;
    return 1;
}

static int listed(const pid_t *ids, size_t count, pid_t id)
{
    for (size_t i = 0; i < count; i++) {
        if (ids[i] == id)
            return 1;
    }
    return 0;
}

/* Scores one offset (see tid_find_offset): the number of structs holding a
 * thread of the process there, or -1 if the offset breaks a rule. */
static int score_offset(const uint8_t *structs, size_t n, size_t off, const pid_t *known,
                        const pid_t *tasks, size_t ntasks, pid_t inner_pid)
{
    int score = 0, saw_pid = 0, any_known = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t v;
        memcpy(&v, structs + i * TID_PTHREAD_SCAN + off, 4);
        any_known |= known[i] != 0;
        if (known[i] && v != known[i])
            return -1;
        if (v <= 0 || !listed(tasks, ntasks, v))
            continue;
        for (size_t j = 0; j < i; j++) {
            int32_t other;
            memcpy(&other, structs + j * TID_PTHREAD_SCAN + off, 4);
            if (other == v)
                return -1;
        }
        score++;
        saw_pid |= v == inner_pid;
    }
    return any_known || saw_pid ? score : -1;
}

int64_t tid_find_offset(const uint8_t *structs, size_t nthreads, const pid_t *known,
                        const pid_t *tasks, size_t ntasks, pid_t inner_pid)
{
    int64_t best = -1;
    int best_score = 0;
    for (size_t off = 0; off + 4 <= TID_PTHREAD_SCAN; off += 4) {
        int score = score_offset(structs, nthreads, off, known, tasks, ntasks, inner_pid);
        if (score > best_score) {
            best_score = score;
            best = (int64_t)off;
        }
    }
    return best;
}

/* The process's threads by their ids in its namespace, into a newly
 * allocated array (caller frees). Returns the count, or -1. All of them,
 * read from /proc even while the target is paused: the threads the pause
 * stopped (w->state_tids) leave out those a loaded machine had not stopped
 * within its 20 ms, whose structs then match no thread, and the search
 * picked no offset, or a wrong one, for a whole run (2.7-3.7, 1 run in 12
 * with --blocking, most with --native's four busy threads). */
static int inner_tasks(struct walker *w, pid_t **out)
{
    pid_t *tids = NULL;
    int n = task_list(w->rt->pid, &tids);
    if (n > 0 && w->tids.nested) {
        refresh_ids(w);
        for (int i = 0; i < n; i++)
            tids[i] = to_inner(&w->tids, tids[i]);
    }
    *out = tids;
    return n;
}

/* The thread whose struct is probed i-th of n: the first n - 1 of the list,
 * then its last, the oldest: the main thread, whose tid (the pid) is what
 * tid_find_offset needs when no thread is known yet (before 3.11, in a
 * process of more than TID_PROBE_THREADS threads). */
static const struct py_thread *probed(const struct walker *w, size_t i, size_t n)
{
    return &w->threads[i + 1 < n ? i : w->nthreads - 1];
}

/* Does a thread probed before the i-th of n have this ident? */
static int ident_seen(const struct walker *w, size_t i, size_t n, uint64_t ident)
{
    for (size_t j = 0; j < i; j++) {
        if (probed(w, j, n)->ident == ident)
            return 1;
    }
    return 0;
}

/* Finds w->tid_offset from the threads' structs (at most TID_PROBE_THREADS
 * of them); threads already settled this sample must match exactly. */
static void find_offset(struct walker *w)
{
    struct tid_map *m = &w->tids;
    if (m->epoch < m->probe_epoch)
        return;
    m->probe_epoch = m->epoch + TID_PROBE_GAP;
    check_namespace(w);
    pid_t *tasks;
    int ntasks = inner_tasks(w, &tasks);
    size_t n = w->nthreads < TID_PROBE_THREADS ? w->nthreads : TID_PROBE_THREADS;
    uint8_t *structs = xcalloc(n, TID_PTHREAD_SCAN);
    pid_t *known = xcalloc(n, sizeof(*known));
    size_t used = 0;
    for (size_t i = 0; i < n && ntasks > 0; i++) {
        const struct py_thread *t = probed(w, i, n);
        /* A thread state made for a thread that has not started yet holds
         * its creator's ident (before 3.11): the same struct twice would
         * disqualify the right offset (two threads, one tid). */
        if (ident_seen(w, i, n, t->ident))
            continue;
        if (mem_read(w->r, t->ident, structs + used * TID_PTHREAD_SCAN, TID_PTHREAD_SCAN))
            continue; /* not a pointer into memory: not glibc's pthread_t */
        known[used++] = t->unknown ? 0 : (t->inner_tid ? t->inner_tid : t->tid);
    }
    if (used)
        w->tid_offset = tid_find_offset(structs, used, known, tasks, (size_t)ntasks, m->inner_pid);
    free(known);
    free(structs);
    free(tasks);
}

/* The tid glibc keeps for t (in the target's namespace), or 0. */
static pid_t pthread_tid(struct walker *w, const struct py_thread *t)
{
    int32_t tid = 0;
    if (w->tid_offset < 0)
        find_offset(w);
    if (w->tid_offset < 0 || mem_read_i32(w->r, t->ident + (uint64_t)w->tid_offset, &tid) != 0 ||
        tid <= 0)
        return 0;
    return tid;
}

static struct tid_fix *find_fix(struct tid_map *m, const struct py_thread *t)
{
    for (size_t i = 0; i < m->nfixes; i++) {
        if (m->fixes[i].tstate == t->tstate && m->fixes[i].native == t->native_tid)
            return &m->fixes[i];
    }
    return NULL;
}

/* Remembers that t's right id is inner; fixes not used in the last sample
 * (their threads are gone) make room. */
static void add_fix(struct tid_map *m, const struct py_thread *t, pid_t inner)
{
    size_t kept = 0;
    for (size_t i = 0; i < m->nfixes; i++) {
        if (m->fixes[i].epoch + 1 >= m->epoch)
            m->fixes[kept++] = m->fixes[i];
    }
    m->nfixes = kept;
    if (m->nfixes >= WALK_MAX_THREADS)
        return;
    m->fixes = xgrow(m->fixes, sizeof(*m->fixes), m->nfixes + 1, &m->fixes_cap);
    m->fixes[m->nfixes++] = (struct tid_fix){t->tstate, t->native_tid, inner, m->epoch};
}

/* t's own id failed the check: try the remembered fix, then glibc's. */
static void settle_otherwise(struct walker *w, struct py_thread *t)
{
    struct tid_map *m = &w->tids;
    struct tid_fix *fix = find_fix(m, t);
    if (fix && settle(w, t, fix->inner)) {
        fix->epoch = m->epoch;
        t->tid_fixed = 1;
        return;
    }
    pid_t inner = pthread_tid(w, t);
    if (inner && inner != t->native_tid && settle(w, t, inner)) {
        if (fix) {
            fix->inner = inner;
            fix->epoch = m->epoch;
        } else {
            add_fix(m, t, inner);
        }
        t->tid_fixed = 1;
    }
}

/* Before 3.11: the only id is glibc's. One thread is the main thread. */
static pid_t legacy_tid(struct walker *w, const struct py_thread *t)
{
    if (w->nthreads == 1)
        return w->tids.ns_checked ? w->tids.inner_pid : w->rt->pid;
    return pthread_tid(w, t);
}

/* Whether t's state may be what it was at the last sample, unread: it was
 * idle there, it is the same thread, and its walk starts where the one that
 * may be kept started (tid_confirm reads it if that walk is not kept). A
 * waiting thread sleeps until its stack moves; the state read costs a
 * system call per thread per sample (200 waiting threads: 200 preads). */
static int keep_state(struct walker *w, struct py_thread *t, pid_t id)
{
    const struct tid_state_memo *s = &t->state_memo;
    const struct walk_memo *m = &t->memo;
    if (w->nstates || !s->valid || s->tstate != t->tstate || s->id != id ||
        s->age + 1 >= TID_STATE_KEEP || !m->valid || m->tstate != t->tstate || m->top != t->top ||
        m->chunk != t->chunk || task_stat_cache_keep(&w->stats, s->tid))
        return 0;
    t->tid = s->tid;
    t->inner_tid = s->inner_tid;
    t->os_state = s->os_state;
    t->unknown = 0;
    t->state_kept = 1;
    return 1;
}

/* Settles t's thread and state from its own id (or keeps its state). */
static void resolve_one(struct walker *w, struct py_thread *t, int may_keep)
{
    int have_native = w->rt->layout.tstate.native_thread_id != PY_NO_FIELD;
    t->tid = t->inner_tid = 0;
    t->tid_fixed = 0;
    t->state_kept = 0;
    t->os_state = '?';
    t->unknown = t->idle = 1; /* until proved otherwise: never active */
    t->state_id = have_native ? t->native_tid : legacy_tid(w, t);
    if (may_keep && keep_state(w, t, t->state_id))
        return;
    if (settle(w, t, t->state_id) || w->tids.ns_checked)
        return;
    check_namespace(w); /* an id we do not know: maybe a container's */
    settle(w, t, t->state_id);
}

void tid_resolve(struct walker *w)
{
    int have_native = w->rt->layout.tstate.native_thread_id != PY_NO_FIELD;
    w->tids.epoch++;
    for (size_t i = 0; i < w->nthreads; i++)
        resolve_one(w, &w->threads[i], 1);
    for (size_t i = 0; i < w->nthreads; i++) {
        if (w->threads[i].unknown && have_native)
            settle_otherwise(w, &w->threads[i]);
    }
}

static void remember(struct py_thread *t)
{
    struct tid_state_memo *s = &t->state_memo;
    unsigned age = t->state_kept ? s->age + 1 : 0;
    *s = (struct tid_state_memo){
        .valid = t->idle && !t->unknown && !t->tid_fixed && !t->holds_gil,
        .tstate = t->tstate,
        .id = t->state_id,
        .tid = t->tid,
        .inner_tid = t->inner_tid,
        .os_state = t->os_state,
        .age = age,
    };
}

void tid_confirm(struct walker *w)
{
    int have_native = w->rt->layout.tstate.native_thread_id != PY_NO_FIELD;
    for (size_t i = 0; i < w->nthreads; i++) {
        struct py_thread *t = &w->threads[i];
        if (t->state_kept && (!t->kept || t->error || t->holds_gil)) {
            resolve_one(w, t, 0);
            if (t->unknown && have_native)
                settle_otherwise(w, t);
        }
        remember(t);
    }
}
