/*
 * fold.c - one walk's threads turned into profile stacks (collect/fold.h).
 *
 * The memo maps (code object serial, line) to a profile frame id. Serials are
 * unique across every walker of the run (python/code.c), so one memo serves a
 * whole process tree; a slot is simply overwritten on collision, which costs
 * one profile_frame_id (a string hash) the next time, never a wrong frame.
 */
#include "collect/fold.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/task.h"
#include "python/tasks.h"
#include "sample/native.h"
#include "util/hash.h"
#include "util/util.h"

/* Memo slots (a power of two): the distinct lines of a busy service fit. */
#define FOLD_MEMO_SLOTS 4096

struct fold_memo {
    uint64_t serial; /* 0: empty (serials start at 1) */
    int line;
    uint32_t id;
    int first_line;
};

void fold_init(struct fold *f, struct profile *p, const struct fold_options *opt)
{
    memset(f, 0, sizeof(*f));
    f->profile = p;
    f->opt = *opt;
    f->memo_cap = FOLD_MEMO_SLOTS;
    f->memo = xcalloc(f->memo_cap, sizeof(*f->memo));
    f->idle_frame = profile_frame_id(p, "(idle)", "", 0, PF_NATIVE);
    f->unknown_frame = profile_frame_id(p, "(unknown state)", "", 0, PF_NATIVE);
    roots_init(&f->roots, p, opt->by_process, opt->by_endpoint);
    merge_init(&f->merge, p, opt->native_all);
}

void fold_release(struct fold *f)
{
    roots_release(&f->roots);
    merge_release(&f->merge);
    free(f->frames);
    free(f->ids);
    free(f->memo);
    memset(f, 0, sizeof(*f));
}

/* Makes room for depth frames in the scratch arrays. */
static void reserve(struct fold *f, size_t depth)
{
    if (depth <= f->cap)
        return;
    size_t cap = f->cap;
    f->frames = xgrow(f->frames, sizeof(*f->frames), depth, &cap);
    cap = f->cap;
    f->ids = xgrow(f->ids, sizeof(*f->ids), depth, &cap);
    f->cap = cap;
}

/* Sets out to the profile frame with id, as interned. */
static void frame_from_id(const struct fold *f, uint32_t id, int first_line, struct fold_frame *out)
{
    const struct profile_frame *pf = profile_frame(f->profile, id);
    *out = (struct fold_frame){id, pf->name, pf->file, pf->line, first_line, pf->kind};
}

/* The profile frame of a Python frame, through the memo. */
static uint32_t python_frame(struct fold *f, const struct py_frame *pyf)
{
    int line = f->opt.function ? 0 : pyf->line;
    uint64_t serial = pyf->code->serial;
    uint64_t h = hash_mix(serial ^ ((uint64_t)(uint32_t)line << 40));
    struct fold_memo *m = &f->memo[h & (f->memo_cap - 1)];
    if (m->serial == serial && m->line == line)
        return m->id;
    m->serial = serial;
    m->line = line;
    m->id = profile_frame_id(f->profile, pyf->code->qualname, pyf->code->filename, line, PF_PYTHON);
    profile_set_first_line(f->profile, m->id, pyf->code->firstlineno);
    return m->id;
}

static uint32_t thread_frame(struct fold *f, const struct py_thread *t)
{
    char name[192];
    if (t->name[0])
        snprintf(name, sizeof(name), "thread \"%s\" (tid %d)", t->name, (int)t->tid);
    else
        snprintf(name, sizeof(name), "thread 0x%" PRIx64 " (tid %d)", t->ident, (int)t->tid);
    return profile_frame_id(f->profile, name, "", 0, PF_THREAD);
}

/* Appends the synthetic frame id to f->frames[0..n); returns n + 1. */
static size_t add_synthetic(struct fold *f, uint32_t id, size_t n)
{
    frame_from_id(f, id, 0, &f->frames[n]);
    f->ids[n] = id;
    return n + 1;
}

/* The frame that stands for the omitted middle of a deep stack. */
static uint32_t omitted_frame(struct fold *f, const struct py_thread *t)
{
    char name[96];
    snprintf(name, sizeof(name), "(%s%zu frames omitted)", t->truncated ? "more than " : "",
             t->omitted);
    return profile_frame_id(f->profile, name, "", 0, PF_NATIVE);
}

/* Appends the profile frame of a Python frame at f->frames[n]; returns n + 1. */
static size_t push_python(struct fold *f, const struct py_frame *pyf, size_t n)
{
    reserve(f, n + 1);
    frame_from_id(f, python_frame(f, pyf), pyf->code->firstlineno, &f->frames[n]);
    f->ids[n] = f->frames[n].id;
    return n + 1;
}

/* --async: the tasks, if the walk read them. */
static const struct task_reader *async_tasks(const struct fold *f, const struct walker *w)
{
    return f->opt.async && w->tasks && w->tasks->found ? w->tasks : NULL;
}

/* Appends the coroutines of the tasks awaiting task i, outermost first
 * (each task's chain outermost first), at n; returns the new depth. */
static size_t push_awaiters(struct fold *f, const struct task_reader *tr, size_t i, size_t n)
{
    size_t order[TASKS_MAX_AWAITERS];
    size_t count = tasks_awaiters(tr, i, order, TASKS_MAX_AWAITERS);
    for (size_t k = 0; k < count; k++) {
        for (size_t d = 0; d < tr->tasks[order[k]].nframes; d++)
            n = push_python(f, &tasks_frames(tr, order[k])[d], n);
    }
    return n;
}

/* The task running on thread index, or -1. */
static int64_t running_on(const struct task_reader *tr, size_t thread)
{
    for (size_t i = 0; tr && i < tr->ntasks; i++) {
        if (tr->tasks[i].running && tr->tasks[i].thread == thread && tr->tasks[i].nframes)
            return (int64_t)i;
    }
    return -1;
}

/* Writes t's Python frames (outermost first, the omitted middle of a deep
 * stack as one frame) and the (idle) or (unknown state) leaf after
 * f->frames[0..n); returns the new depth. With a task running on t (index
 * running of tr), the coroutines of the tasks awaiting it go right before
 * its outermost coroutine. */
static size_t add_python_frames(struct fold *f, const struct py_thread *t, size_t n, int idle_leaf,
                                const struct task_reader *tr, int64_t running)
{
    uint64_t outer = tr && running >= 0 ? tasks_frames(tr, (size_t)running)[0].frame_addr : 0;
    reserve(f, n + t->depth + 2);
    for (size_t d = t->depth; d-- > 0;) {
        const struct py_frame *pyf = &t->frames[d];
        if (outer && pyf->frame_addr == outer) {
            n = push_awaiters(f, tr, (size_t)running, n);
            reserve(f, n + d + 3);
        }
        frame_from_id(f, python_frame(f, pyf), pyf->code->firstlineno, &f->frames[n]);
        f->ids[n] = f->frames[n].id;
        n++;
        if (d == WALK_KEEP_INNER && t->omitted)
            n = add_synthetic(f, omitted_frame(f, t), n);
    }
    if (idle_leaf)
        n = add_synthetic(f, t->unknown ? f->unknown_frame : f->idle_frame, n);
    return n;
}

/* Writes t's frames merged with its native stack ns (t may have no Python
 * frame) after f->frames[0..n), the omitted middle of a deep stack as one
 * frame, then the (idle) or (unknown state) leaf; returns the new depth. */
static size_t add_merged_frames(struct fold *f, const struct walker *w, const struct py_thread *t,
                                const struct native_stack *ns, size_t n, int idle_leaf)
{
    size_t count = merge_thread(&f->merge, t, ns, w->rt->major);
    reserve(f, n + count + 2);
    for (size_t i = 0; i < count; i++) {
        const struct merge_item *it = &f->merge.items[i];
        if (it->native) {
            n = add_synthetic(f, it->value, n);
            continue;
        }
        const struct py_frame *pyf = &t->frames[it->value];
        frame_from_id(f, python_frame(f, pyf), pyf->code->firstlineno, &f->frames[n]);
        f->ids[n] = f->frames[n].id;
        n++;
        if (it->value == WALK_KEEP_INNER && t->omitted)
            n = add_synthetic(f, omitted_frame(f, t), n);
    }
    if (idle_leaf)
        n = add_synthetic(f, t->unknown ? f->unknown_frame : f->idle_frame, n);
    return n;
}

/* Finds the native stack to merge with thread t (*ns NULL: Python frames
 * only: no --native, or a waiting thread that was not unwound). Returns 0;
 * 1 when the thread's OS tid is unknown (Python frames only); -1 when it was
 * not stopped in time or could not be unwound: its stack is then left out
 * rather than shown without the C code it was in. */
static int native_of(const struct walker *w, const struct py_thread *t,
                     const struct native_stack **ns)
{
    *ns = NULL;
    if (!w->native)
        return 0;
    if (!t->tid)
        return 1;
    const struct native_stack *found = native_find(w->native, t->tid);
    if (!found || found->err)
        return -1;
    *ns = found->depth ? found : NULL;
    return 0;
}

/* Counts what a thread's walk says about its stack: depth, errors. Returns
 * 0 if its frames can be used. */
static int count_walk(struct fold *f, const struct py_thread *t)
{
    f->stats.threads++;
    if (t->error) {
        if (t->torn)
            f->stats.torn++;
        else
            f->stats.unreadable++;
        return -1;
    }
    if (t->depth + t->omitted > f->stats.deepest)
        f->stats.deepest = t->depth + t->omitted;
    f->stats.deep += t->omitted != 0;
    f->stats.retried += t->retried;
    f->stats.cut += t->truncated;
    return 0;
}

/* Folds one thread; returns 1 if it was handed over. */
static int fold_thread(struct fold *f, const struct walker *w, const struct py_thread *t,
                       fold_fn fn, void *ctx)
{
    uint32_t roots[ROOTS_MAX + 1];
    size_t nroots = 0;
    if (count_walk(f, t))
        return 0;
    f->stats.unknown += t->unknown;
    f->stats.tid_fixed += t->tid_fixed;
    if (f->opt.gil && !t->holds_gil) {
        f->stats.gil_dropped++;
        f->stats.gil_dropped_active += !t->idle;
        return 0;
    }
    const struct native_stack *ns;
    int native = native_of(w, t, &ns);
    /* Before the idle filter: the endpoint table counts waiting too. */
    if (t->depth > 0 || ns)
        nroots = roots_for_thread(&f->roots, w, t, roots);
    if (t->idle && !f->opt.idle) {
        f->stats.idle_dropped++;
        return 0;
    }
    f->stats.native_unmatched += native == 1;
    if (native < 0) {
        f->stats.native_dropped++;
        return 0;
    }
    if (t->depth == 0 && !ns) {
        f->stats.empty++;
        if (!f->opt.keep_empty)
            return 0;
    }
    if (f->opt.threads)
        roots[nroots++] = thread_frame(f, t);
    reserve(f, nroots);
    for (size_t i = 0; i < nroots; i++) {
        frame_from_id(f, roots[i], 0, &f->frames[i]);
        f->ids[i] = roots[i];
    }
    int bare = t == &f->bare; /* a thread without Python (--native) */
    const struct task_reader *tr = bare ? NULL : async_tasks(f, w);
    int64_t running = tr ? running_on(tr, (size_t)(t - w->threads)) : -1;
    int idle_leaf = t->idle && f->opt.idle_leaf && (t->depth > 0 || ns);
    size_t depth = ns ? add_merged_frames(f, w, t, ns, nroots, idle_leaf)
                      : add_python_frames(f, t, nroots, idle_leaf, tr, running);
    f->stats.tasks_joined += running >= 0 && tr->tasks[running].awaited_by >= 0;
    struct fold_stack s = {w, t, f->frames, f->ids, depth, nroots, t->idle, NULL};
    fn(&s, ctx);
    f->stats.kept++;
    return 1;
}

/* Folds waiting task i (a leaf: python/tasks.h) as a stack rooted at its
 * loop's thread; returns 1 if it was handed over. */
static int fold_task(struct fold *f, const struct walker *w, const struct task_reader *tr, size_t i,
                     fold_fn fn, void *ctx)
{
    const struct py_task *task = &tr->tasks[i];
    const struct py_loop *loop = task->loop_index >= 0 ? &tr->loops[task->loop_index] : NULL;
    const struct py_thread *t =
        loop && loop->thread >= 0 ? &w->threads[loop->thread] : &f->no_thread;
    size_t base = t != &f->no_thread && !t->error && !t->omitted ? loop->base_depth : 0;
    uint32_t roots[ROOTS_MAX + 1];
    if (f->opt.gil) {
        f->stats.gil_dropped++;
        return 0;
    }
    if (!task->nframes) {
        f->stats.empty++;
        return 0;
    }
    size_t n = roots_for(&f->roots, w, task->endpoint, 1, task->request, roots);
    if (!f->opt.idle) {
        f->stats.idle_dropped++;
        return 0;
    }
    if (f->opt.threads && t != &f->no_thread)
        roots[n++] = thread_frame(f, t);
    size_t nroots = n;
    reserve(f, nroots);
    for (size_t k = 0; k < nroots; k++) {
        frame_from_id(f, roots[k], 0, &f->frames[k]);
        f->ids[k] = roots[k];
    }
    for (size_t d = t->depth; d-- > 0 && t->depth - d <= base;)
        n = push_python(f, &t->frames[d], n);
    n = push_awaiters(f, tr, i, n);
    for (size_t d = 0; d < task->nframes; d++)
        n = push_python(f, &tasks_frames(tr, i)[d], n);
    if (f->opt.idle_leaf) {
        reserve(f, n + 1);
        n = add_synthetic(f, f->idle_frame, n);
    }
    struct fold_stack s = {w, t, f->frames, f->ids, n, nroots, 1, task};
    fn(&s, ctx);
    f->stats.kept++;
    f->stats.tasks++;
    return 1;
}

/* Returns 1 if thread tid has Python state in w. */
static int has_python(const struct walker *w, pid_t tid)
{
    for (size_t i = 0; i < w->nthreads; i++) {
        if (w->threads[i].tid == tid)
            return 1;
    }
    return 0;
}

/* Folds the native stack of a thread with no Python state (--native);
 * returns 1 if it was handed over. */
static int fold_native_thread(struct fold *f, const struct walker *w, const struct native_stack *ns,
                              fold_fn fn, void *ctx)
{
    struct py_thread *t = &f->bare;
    memset(t, 0, sizeof(*t));
    t->tid = ns->tid;
    t->os_state = ns->state;
    t->unknown = ns->state == '?'; /* never counted as running */
    t->idle = t->unknown || task_state_idle(ns->state);
    strlcpy_safe(t->name, native_thread_name(w->native, ns->tid), sizeof(t->name));
    if (ns->err || (!ns->depth && !t->idle))
        return 0; /* not unwound: counted by the sampler */
    int kept = fold_thread(f, w, t, fn, ctx);
    f->stats.native_threads += (uint64_t)kept;
    return kept;
}

size_t fold_walk(struct fold *f, const struct walker *w, fold_fn fn, void *ctx)
{
    size_t kept = 0;
    const struct task_reader *tr = async_tasks(f, w);
    roots_walk_begin(&f->roots);
    for (size_t i = 0; i < w->nthreads; i++)
        kept += (size_t)fold_thread(f, w, &w->threads[i], fn, ctx);
    for (size_t i = 0; tr && i < tr->ntasks; i++) {
        if (tasks_is_leaf(tr, i))
            kept += (size_t)fold_task(f, w, tr, i, fn, ctx);
    }
    if (!w->native)
        return kept;
    /* A Python thread whose OS tid is unknown (before 3.8 it is found
     * from glibc's struct pthread) might be any of the native threads. */
    if (has_python(w, 0))
        return kept;
    for (size_t i = 0; i < w->native->count; i++) {
        const struct native_stack *ns = &w->native->stacks[i];
        if (!has_python(w, ns->tid))
            kept += (size_t)fold_native_thread(f, w, ns, fn, ctx);
    }
    return kept;
}

size_t fold_thread_frames(struct fold *f, const struct walker *w, const struct py_thread *t,
                          const uint32_t **ids)
{
    const struct task_reader *tr = async_tasks(f, w);
    int64_t running = tr ? running_on(tr, (size_t)(t - w->threads)) : -1;
    size_t depth = t->error ? 0 : add_python_frames(f, t, 0, 0, tr, running);
    *ids = f->ids;
    return depth;
}

int64_t fold_bare_stack(struct fold *f, const struct py_thread *t)
{
    size_t n = 0;
    if (t->depth == 0 || t->error)
        return -1;
    if (f->opt.threads) {
        reserve(f, 1);
        f->ids[n++] = thread_frame(f, t);
    }
    size_t depth = add_python_frames(f, t, n, t->idle && f->opt.idle_leaf, NULL, -1);
    return (int64_t)profile_add_stack(f->profile, f->ids, depth, 0);
}

void fold_charge_rss(struct fold *f, const struct walker *w, struct charge *c, uint64_t elapsed_ns,
                     uint64_t rss)
{
    const struct py_thread *gil = NULL, *on_cpu = NULL, *main_thread = NULL, *first = NULL;
    for (size_t i = 0; i < w->nthreads; i++) {
        const struct py_thread *t = &w->threads[i];
        if (t->depth == 0 || t->error)
            continue;
        if (t->holds_gil && !gil)
            gil = t;
        if (!t->idle && !on_cpu)
            on_cpu = t;
        if (t->tid == w->rt->pid)
            main_thread = t;
        if (!first)
            first = t;
    }
    const struct py_thread *running = gil ? gil : on_cpu;
    const struct py_thread *waiting = main_thread ? main_thread : first;
    int64_t active = running ? fold_bare_stack(f, running) : -1;
    int64_t idle = waiting ? fold_bare_stack(f, waiting) : -1;
    charge_sample(c, elapsed_ns, rss, active, idle);
}
