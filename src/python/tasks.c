/*
 * tasks.c - every asyncio task of a process, per sample (python/tasks.h).
 *
 * One sample:
 *   1. the registry (tasks_find.c): where it is is looked for once per
 *      process (again every TASKS_LOOK_AGAIN samples while it is missing, or
 *      when it stops reading); its sets are read every sample;
 *   2. the tasks and their chains (tasks_read.c), batched level by level;
 *   3. which tasks run: a task whose outermost coroutine's frame is on a
 *      thread's stack runs on that thread;
 *   4. loops: their threads (loop._thread_id) and, for the blocked-loop
 *      report, their ready queue's mutation count;
 *   5. waits (tasks_wait.c); then who awaits whom, deadlock cycles, and the
 *      request each waiting task serves (walker.endpoints).
 */
#include "python/tasks.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "python/endpoint.h"
#include "python/tasks_impl.h"
#include "python/value.h"
#include "util/util.h"

/* Samples between reads of a loop's _thread_id when recording. */
#define LOOP_THREAD_REFRESH 64
/* Frames handed to the endpoint reader per task (its chain and its awaiters'). */
#define ENDPOINT_FRAMES 256

void tasks_init(struct task_reader *tr, int names)
{
    memset(tr, 0, sizeof(*tr));
    tr->names = names;
    tr->procs = xcalloc(TASKS_PROCS, sizeof(*tr->procs));
    tr->memo = xcalloc(1, sizeof(*tr->memo));
    tr->scratch = xcalloc(1, sizeof(*tr->scratch));
}

void tasks_release(struct task_reader *tr)
{
    struct tasks_scratch *s = tr->scratch;
    if (s) {
        free(s->cand);
        free(s->cand_eager);
        hash_index_release(&s->task_ix);
        hash_index_release(&s->frame_ix);
        free(s->frames);
        free(s->buf);
        free(s->spans);
        free(s->cur);
        free(s->next);
        free(s->out);
        free(s->waiter_types);
        tasks_batch_release(s);
        free(s);
    }
    free(tr->procs);
    free(tr->memo);
    free(tr->tasks);
    free(tr->frames);
    free(tr->links);
    free(tr->children);
    free(tr->qualnames);
    memset(tr, 0, sizeof(*tr));
}

static const char *const wait_names[TASK_WAIT_COUNT] = {
    [TASK_WAIT_NONE] = "none",           [TASK_WAIT_TASK] = "task",
    [TASK_WAIT_GATHER] = "gather",       [TASK_WAIT_TASKGROUP] = "taskgroup",
    [TASK_WAIT_WAIT] = "wait",           [TASK_WAIT_SLEEP] = "sleep",
    [TASK_WAIT_LOCK] = "lock",           [TASK_WAIT_EVENT] = "event",
    [TASK_WAIT_CONDITION] = "condition", [TASK_WAIT_SEMAPHORE] = "semaphore",
    [TASK_WAIT_QUEUE] = "queue",         [TASK_WAIT_SOCKET] = "socket",
    [TASK_WAIT_STREAM] = "stream",       [TASK_WAIT_FUTURE] = "future",
};

const char *tasks_wait_name(int wait)
{
    return wait >= 0 && wait < TASK_WAIT_COUNT ? wait_names[wait] : "?";
}

/* What we know of the process w reads; forgotten when another process (or
 * the same pid running another Python) takes its slot. */
static struct tasks_proc *proc_for(struct task_reader *tr, const struct walker *w)
{
    uint64_t runtime = w->rt->runtime_addr ? w->rt->runtime_addr : w->rt->interp_head_addr;
    struct tasks_proc *p = &tr->procs[(uint64_t)w->rt->pid & (TASKS_PROCS - 1)];
    if (p->pid != w->rt->pid || p->runtime != runtime) {
        memset(p, 0, sizeof(*p));
        p->pid = w->rt->pid;
        p->runtime = runtime;
    }
    return p;
}

static uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- which task runs where ----------------------------------------------- */

static uint64_t frame_hash(const void *ctx, uint32_t id)
{
    const struct tasks_scratch *s = ctx;
    return hash_mix(s->frames[id].addr);
}

static int frame_same(const void *ctx, uint32_t id, const void *key)
{
    const struct tasks_scratch *s = ctx;
    return s->frames[id].addr == *(const uint64_t *)key;
}

static void index_thread_frames(struct tasks_ctx *c)
{
    struct tasks_scratch *s = c->s;
    const struct walker *w = c->w;
    s->nframes = 0;
    hash_index_clear(&s->frame_ix);
    for (size_t i = 0; i < w->nthreads; i++) {
        for (size_t d = 0; !w->threads[i].error && d < w->threads[i].depth; d++) {
            uint64_t addr = w->threads[i].frames[d].frame_addr;
            hash_index_reserve(&s->frame_ix, s->nframes, frame_hash, s);
            uint32_t *slot = hash_index_find(&s->frame_ix, hash_mix(addr), frame_same, s, &addr);
            if (*slot)
                continue;
            s->frames = xgrow(s->frames, sizeof(*s->frames), s->nframes + 1, &s->frames_cap);
            s->frames[s->nframes] = (struct tasks_frame_ref){addr, i};
            *slot = (uint32_t)++s->nframes;
        }
    }
}

static void find_running(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    index_thread_frames(c);
    for (size_t i = 0; i < tr->ntasks; i++) {
        struct py_task *t = &tr->tasks[i];
        t->running = 0;
        if (!t->nframes || !c->s->frame_ix.cap)
            continue;
        uint64_t addr = tasks_frames(tr, i)[0].frame_addr;
        uint32_t *slot = hash_index_find(&c->s->frame_ix, hash_mix(addr), frame_same, c->s, &addr);
        if (*slot) {
            t->running = 1;
            t->thread = c->s->frames[*slot - 1].thread;
        }
    }
}

/* ---- loops --------------------------------------------------------------- */

static struct tasks_loop_memo *loop_memo(struct tasks_ctx *c, uint64_t loop)
{
    struct tasks_proc *p = c->p;
    for (size_t i = 0; i < p->nloops; i++) {
        if (p->loops[i].addr == loop)
            return &p->loops[i];
    }
    struct tasks_loop_memo *m =
        &p->loops[p->nloops < TASKS_MAX_LOOPS ? p->nloops++ : loop % TASKS_MAX_LOOPS];
    memset(m, 0, sizeof(*m));
    m->addr = loop;
    uint64_t ready;
    if (value_getattr(c->r, c->l, loop, "_ready", &ready) == 0)
        m->ready = ready;
    m->read_at = UINT64_MAX;
    return m;
}

/* loop._thread_id (None while it does not run). */
static void loop_thread(struct tasks_ctx *c, struct tasks_loop_memo *m)
{
    uint64_t value;
    int64_t ident;
    if (m->read_at != UINT64_MAX && !c->tr->names &&
        c->tr->samples - m->read_at < LOOP_THREAD_REFRESH)
        return;
    m->read_at = c->tr->samples;
    m->thread_ident = 0;
    if (value_getattr(c->r, c->l, m->addr, "_thread_id", &value) == 0 &&
        value_read_int(c->r, c->l, value, &ident) == 0)
        m->thread_ident = (uint64_t)ident;
}

/* Where on its thread's stack the loop runs (_run_once, from the
 * outermost frame), and whether a callback runs above it. */
static void loop_base(struct tasks_ctx *c, struct py_loop *loop, const struct py_thread *t)
{
    loop->base_depth = 0;
    loop->busy = 0;
    for (size_t d = t->depth; d-- > 0;) {
        int cls = tasks_code_class(c, t->frames[d].code);
        if (cls == CC_RUN_ONCE && !loop->base_depth)
            loop->base_depth = t->depth - d;
        else if (cls == CC_HANDLE_RUN && loop->base_depth)
            loop->busy = 1;
    }
}

/* Every ready queue's length and mutation count, in one batch. */
static void read_ready_queues(struct tasks_ctx *c, struct tasks_loop_memo **memos)
{
    struct task_reader *tr = c->tr;
    const struct py_layout *l = c->l;
    size_t span = l->asyncio.deque_state + 8, n = 0;
    uint8_t *buf = tasks_scratch_buf(c, tr->nloops, tr->nloops * span);
    size_t which[TASKS_MAX_LOOPS];
    for (size_t i = 0; i < tr->nloops; i++) {
        if (memos[i]->ready && l->asyncio.deque_state != PY_NO_FIELD) {
            c->s->spans[n] = (struct mem_span){memos[i]->ready, buf + n * span, span, 0};
            which[n++] = i;
        }
    }
    tasks_batch(c, c->s->spans, n, span);
    for (size_t k = 0; k < n; k++) {
        struct py_loop *loop = &tr->loops[which[k]];
        if (c->s->spans[k].err)
            continue;
        loop->has_ready = 1;
        loop->ready_len = layout_u64(c->s->spans[k].buf, span, l->object.ob_size);
        loop->ready_state = layout_u64(c->s->spans[k].buf, span, l->asyncio.deque_state);
    }
}

static void read_loops(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_loop_memo *memos[TASKS_MAX_LOOPS];
    tr->nloops = 0;
    for (size_t i = 0; i < tr->ntasks; i++) {
        struct py_task *t = &tr->tasks[i];
        size_t j = 0;
        while (j < tr->nloops && tr->loops[j].addr != t->loop)
            j++;
        if (j == tr->nloops && (tr->nloops == TASKS_MAX_LOOPS || !t->loop))
            continue;
        if (j == tr->nloops) {
            memset(&tr->loops[j], 0, sizeof(tr->loops[j]));
            tr->loops[j].addr = t->loop;
            tr->loops[j].thread = tr->loops[j].running_task = -1;
            memos[j] = loop_memo(c, t->loop);
            tr->nloops++;
        }
        t->loop_index = (int)j;
        tr->loops[j].ntasks++;
    }
    for (size_t j = 0; j < tr->nloops; j++) {
        struct py_loop *loop = &tr->loops[j];
        loop_thread(c, memos[j]);
        loop->thread_ident = memos[j]->thread_ident;
        for (size_t k = 0; k < c->w->nthreads && loop->thread_ident; k++) {
            if (c->w->threads[k].ident == loop->thread_ident)
                loop->thread = (int64_t)k;
        }
        if (loop->thread >= 0 && !c->w->threads[loop->thread].error)
            loop_base(c, loop, &c->w->threads[loop->thread]);
    }
    for (size_t i = 0; i < tr->ntasks; i++) {
        struct py_task *t = &tr->tasks[i];
        if (t->running && t->loop_index >= 0)
            tr->loops[t->loop_index].running_task = (int64_t)i;
    }
    read_ready_queues(c, memos);
}

/* ---- who awaits whom ----------------------------------------------------- */

int64_t tasks_edge(const struct task_reader *tr, size_t i, size_t k)
{
    const struct py_task *t = &tr->tasks[i];
    int direct = t->wait == TASK_WAIT_TASK && t->awaits >= 0;
    if (direct && k == 0)
        return t->awaits;
    k -= (size_t)direct;
    return k < t->nchildren ? tr->children[t->child0 + k] : -2;
}

/* Each task's awaited_by: a task that awaits it directly wins over one that
 * awaits it as a child, so that a stack shows the nearest caller. */
static void link_awaiters(struct task_reader *tr)
{
    for (size_t i = 0; i < tr->ntasks; i++) {
        tr->tasks[i].awaited_by = -1;
        tr->tasks[i].fronted = 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < tr->ntasks; i++) {
            const struct py_task *t = &tr->tasks[i];
            if (pass == 0 && t->wait == TASK_WAIT_TASK && t->awaits >= 0 &&
                tr->tasks[t->awaits].awaited_by < 0 && (size_t)t->awaits != i) {
                tr->tasks[t->awaits].awaited_by = (int64_t)i;
                tr->tasks[i].fronted++;
            }
            for (size_t k = 0; pass == 1 && k < t->nchildren; k++) {
                int64_t j = tr->children[t->child0 + k];
                if (j >= 0 && (size_t)j != i && tr->tasks[j].awaited_by < 0) {
                    tr->tasks[j].awaited_by = (int64_t)i;
                    tr->tasks[i].fronted++;
                }
            }
        }
    }
}

/* Marks every task on a cycle of tasks waiting on each other: a depth-first
 * walk (with its own stack, bounded by the task count) that finds an edge
 * back to a task on its current path marks the path from there. */
static void find_cycles(struct task_reader *tr)
{
    size_t n = tr->ntasks;
    uint8_t *color = xcalloc(n ? n : 1, 1); /* 0 new, 1 on the path, 2 done */
    size_t *path = xmalloc((n ? n : 1) * sizeof(*path));
    size_t *next = xcalloc(n ? n : 1, sizeof(*next)); /* the next edge to try, per task */
    tr->cycles = 0;
    for (size_t i = 0; i < n; i++)
        tr->tasks[i].cycle = 0;
    for (size_t root = 0; root < n; root++) {
        size_t depth = 0;
        if (color[root])
            continue;
        path[depth++] = root;
        color[root] = 1;
        while (depth) {
            size_t at = path[depth - 1];
            int64_t to = tasks_edge(tr, at, next[at]++);
            if (to == -2) {
                color[at] = 2;
                depth--;
            } else if (to >= 0 && color[to] == 0) {
                color[to] = 1;
                path[depth++] = (size_t)to;
            } else if (to >= 0 && color[to] == 1) {
                for (size_t k = depth; k-- > 0;) {
                    tr->tasks[path[k]].cycle = 1;
                    if (path[k] == (size_t)to)
                        break;
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        tr->cycles += (size_t)tr->tasks[i].cycle;
    free(color);
    free(path);
    free(next);
}

size_t tasks_awaiters(const struct task_reader *tr, size_t i, size_t *order, size_t max)
{
    size_t n = 0;
    int64_t j = tr->tasks[i].awaited_by;
    while (j >= 0 && (size_t)j != i && n < max) {
        int seen = 0;
        for (size_t k = 0; k < n && !seen; k++)
            seen = order[k] == (size_t)j;
        if (seen)
            break;
        order[n++] = (size_t)j;
        j = tr->tasks[j].awaited_by;
    }
    for (size_t k = 0; k < n / 2; k++) { /* outermost first */
        size_t tmp = order[k];
        order[k] = order[n - 1 - k];
        order[n - 1 - k] = tmp;
    }
    return n;
}

int tasks_is_leaf(const struct task_reader *tr, size_t i)
{
    const struct py_task *t = &tr->tasks[i];
    if (t->running)
        return 0;
    return t->cycle || t->fronted == 0;
}

/* The request a waiting task serves: looked for in its own coroutines, then
 * in those of the tasks in front of it, innermost first. */
static void task_endpoint(struct tasks_ctx *c, size_t i, struct py_frame *frames)
{
    struct task_reader *tr = c->tr;
    struct py_task *t = &tr->tasks[i];
    size_t order[TASKS_MAX_AWAITERS], n = 0;
    size_t fronts = tasks_awaiters(tr, i, order, TASKS_MAX_AWAITERS);
    for (size_t k = t->nframes; k-- > 0 && n < ENDPOINT_FRAMES;)
        frames[n++] = tasks_frames(tr, i)[k];
    for (size_t a = fronts; a-- > 0;) {
        const struct py_task *f = &tr->tasks[order[a]];
        for (size_t k = f->nframes; k-- > 0 && n < ENDPOINT_FRAMES;)
            frames[n++] = tasks_frames(tr, order[a])[k];
    }
    uint64_t h = hash_mix(t->addr);
    for (size_t k = 0; k < n; k++)
        h = hash_mix(h ^ frames[k].frame_addr ^ (frames[k].code->serial << 20) ^
                     (uint64_t)(uint32_t)frames[k].line);
    struct tasks_ep_memo *m = &c->p->no_request[hash_mix(t->addr) & (TASKS_EP_MEMO - 1)];
    if (m->task == t->addr && m->frames == h)
        return; /* the same frames as when they served no request */
    if (!endpoint_of_frames(c->w->endpoints, c->w, t->addr, frames, n, t->endpoint,
                            sizeof(t->endpoint), &t->request))
        *m = (struct tasks_ep_memo){t->addr, h};
}

static void find_endpoints(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct py_frame *frames = xmalloc(ENDPOINT_FRAMES * sizeof(*frames));
    for (size_t i = 0; i < tr->ntasks; i++) {
        tr->tasks[i].endpoint[0] = '\0';
        tr->tasks[i].request = 0;
        if (c->w->endpoints && tasks_is_leaf(tr, i))
            task_endpoint(c, i, frames);
    }
    free(frames);
}

/* ---- one sample ---------------------------------------------------------- */

/* Reads the tasks and their chains; code objects are trusted during the
 * walk and checked in one batch after it (as walk.c does for stacks). */
static void read_tasks(struct tasks_ctx *c)
{
    struct walker *w = c->w;
    tasks_read_tasks(c);
    w->codes.defer = 1;
    tasks_read_chains(c);
    w->codes.defer = 0;
    if (code_cache_verify(&w->codes, c->r, c->l, w->rt->code_type))
        tasks_read_chains(c);
}

static int sample(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_proc *p = c->p;
    uint64_t interp;
    tr->ntasks = tr->nframes = tr->nchildren = tr->nloops = tr->done = tr->cycles = 0;
    if (p->state == 0 || (p->state == 2 && tr->samples >= p->look_after)) {
        int err = detect_interp_head(c->w->rt, c->r, &interp);
        if (!err)
            err = tasks_find_registry(c, interp);
        if (err)
            return err;
        p->look_after = tr->samples + TASKS_LOOK_AGAIN;
    }
    tr->found = p->state == 1;
    if (!tr->found)
        return 0;
    int err = tasks_list(c);
    if (err) {
        p->state = 0; /* look for it again next time */
        return err;
    }
    read_tasks(c);
    find_running(c);
    read_loops(c);
    for (size_t i = 0; i < tr->ntasks && !tr->names; i++) {
        if (tr->tasks[i].running)
            tasks_read_name(c, &tr->tasks[i]);
    }
    tasks_read_waits(c);
    link_awaiters(tr);
    find_cycles(tr);
    find_endpoints(c);
    return 0;
}

int tasks_version_supported(const struct py_layout *l)
{
    return l->asyncio.task_coro != PY_NO_FIELD && l->major == 3 && l->minor <= 13 &&
           !l->free_threaded;
}

int tasks_sample(struct task_reader *tr, struct walker *w)
{
    struct tasks_ctx c = {
        .tr = tr, .w = w, .r = w->r, .l = &w->rt->layout, .p = proc_for(tr, w), .s = tr->scratch};
    uint64_t start = now_ns(CLOCK_MONOTONIC), cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t reads = w->r->reads;
    int err = tasks_version_supported(c.l) ? sample(&c) : 0;
    if (!tasks_version_supported(c.l))
        tr->found = 0;
    tr->samples++;
    tr->found_samples += (uint64_t)tr->found;
    tr->tasks_seen += tr->ntasks;
    tr->reads += w->r->reads - reads;
    tr->ns += now_ns(CLOCK_MONOTONIC) - start;
    tr->cpu_ns += now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu;
    return err;
}
