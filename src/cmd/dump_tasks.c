/*
 * dump_tasks.c - `spyglass dump --tasks`: asyncio tasks as text or JSON.
 *
 * Text is a tree per loop, like pstree: a task is shown under the task that
 * awaits it (directly, or through gather / TaskGroup / asyncio.wait), its
 * coroutines most recent first like a traceback, and a line saying what it
 * waits on. A task awaited by several is drawn once and referred to after.
 * Tasks awaiting each other in a cycle are drawn apart as a deadlock.
 *
 * JSON is flat: every pending task with its frames, what it awaits, and who
 * awaits it, by address ("0x7f..."), plus the loops and the deadlock cycles.
 */
#include "cmd/dump_tasks.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/json.h"
#include "util/util.h"

/* Deepest a tree of tasks is drawn (deeper ones are referred to). */
#define TREE_DEPTH 32

struct view {
    const struct walker *w;
    const struct task_reader *tr;
    FILE *out;
    uint8_t *shown; /* text: the task was drawn already */
    double now;     /* CLOCK_MONOTONIC, seconds: what loop.time() says now */
    size_t *rev;    /* who waits on task i: rev[rev0[i] .. rev0[i + 1]) */
    size_t *rev0;
};

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* For each task, the tasks that wait on it (reverse edges, counted first). */
static void build_reverse(struct view *v)
{
    const struct task_reader *tr = v->tr;
    size_t n = tr->ntasks, total = 0;
    v->rev0 = xcalloc(n + 1, sizeof(*v->rev0));
    for (size_t i = 0; i < n; i++) {
        int64_t to;
        for (size_t k = 0; (to = tasks_edge(tr, i, k)) != -2; k++)
            v->rev0[to >= 0 ? (size_t)to : n] += to >= 0;
    }
    for (size_t i = 0; i <= n; i++) {
        size_t count = v->rev0[i];
        v->rev0[i] = total;
        total += count;
    }
    v->rev = xmalloc((total ? total : 1) * sizeof(*v->rev));
    size_t *fill = xcalloc(n + 1, sizeof(*fill));
    for (size_t i = 0; i < n; i++) {
        int64_t to;
        for (size_t k = 0; (to = tasks_edge(tr, i, k)) != -2; k++) {
            if (to >= 0)
                v->rev[v->rev0[to] + fill[to]++] = i;
        }
    }
    free(fill);
}

static void view_init(struct view *v, const struct walker *w, const struct task_reader *tr,
                      FILE *out)
{
    memset(v, 0, sizeof(*v));
    v->w = w;
    v->tr = tr;
    v->out = out;
    v->shown = xcalloc(tr->ntasks + 1, 1);
    v->now = monotonic_now();
    build_reverse(v);
}

static void view_release(struct view *v)
{
    free(v->shown);
    free(v->rev);
    free(v->rev0);
}

/* A running task's frames are the thread's, from its leaf down to the
 * task's outermost coroutine; returns that frame's index in the thread's
 * stack (frames 0 .. it, innermost first), or -1. */
static int64_t running_extent(const struct view *v, size_t i)
{
    const struct py_task *t = &v->tr->tasks[i];
    if (!t->running || !t->nframes || t->thread >= v->w->nthreads)
        return -1;
    const struct py_thread *th = &v->w->threads[t->thread];
    uint64_t outer = tasks_frames(v->tr, i)[0].frame_addr;
    for (size_t d = 0; d < th->depth; d++) {
        if (th->frames[d].frame_addr == outer)
            return (int64_t)d;
    }
    return -1;
}

/* The function name shown for frame k of task i's chain (outermost 0). */
static const char *chain_name(const struct task_reader *tr, size_t i, size_t k)
{
    const char *q = tasks_qualname(tr, tr->tasks[i].frame0 + k);
    return q && q[0] ? q : tasks_frames(tr, i)[k].code->qualname;
}

static const char *kind_name(int kind)
{
    return kind == TASK_CORO_GENERATOR   ? "generator"
           : kind == TASK_CORO_ASYNC_GEN ? "async_generator"
                                         : "coroutine";
}

/* ---- text ------------------------------------------------------------------ */

static void indent(FILE *out, size_t level)
{
    for (size_t i = 0; i < level; i++)
        fputs("  ", out);
}

static void put_task_name(const struct view *v, size_t i)
{
    const struct py_task *t = &v->tr->tasks[i];
    if (t->name[0]) {
        fputs("Task \"", v->out);
        dump_put_name(v->out, t->name);
        fputc('"', v->out);
        return;
    }
    fprintf(v->out, "Task 0x%" PRIx64, t->addr);
    if (t->nframes) {
        fputs(" (", v->out);
        dump_put_name(v->out, chain_name(v->tr, i, 0));
        fputc(')', v->out);
    }
}

static void put_thread(const struct view *v, size_t thread)
{
    const struct py_thread *th = &v->w->threads[thread];
    fputs("thread ", v->out);
    if (th->name[0]) {
        fputc('"', v->out);
        dump_put_name(v->out, th->name);
        fputc('"', v->out);
    } else {
        fprintf(v->out, "0x%" PRIx64, th->ident);
    }
    if (th->tid)
        fprintf(v->out, " [tid %d]", (int)th->tid);
}

/* What the waits on an object are shown as. */
static const char *const object_names[TASK_WAIT_COUNT] = {
    [TASK_WAIT_LOCK] = "Lock",           [TASK_WAIT_EVENT] = "Event",
    [TASK_WAIT_CONDITION] = "Condition", [TASK_WAIT_SEMAPHORE] = "Semaphore",
    [TASK_WAIT_QUEUE] = "Queue",         [TASK_WAIT_FUTURE] = "future",
};

/* "awaits ...": what task i waits on, one line. */
static void put_wait(const struct view *v, size_t i)
{
    const struct py_task *t = &v->tr->tasks[i];
    FILE *out = v->out;
    switch (t->wait) {
    case TASK_WAIT_NONE:
        if (t->running) {
            fputs("running on ", out);
            put_thread(v, t->thread);
        } else {
            fputs(t->eager ? "running its eager first step" : "ready to run", out);
        }
        return;
    case TASK_WAIT_TASK:
        fputs("awaits ", out);
        put_task_name(v, (size_t)t->awaits);
        return;
    case TASK_WAIT_GATHER:
    case TASK_WAIT_TASKGROUP:
    case TASK_WAIT_WAIT:
        fprintf(out, "awaits %s of %zu",
                t->wait == TASK_WAIT_GATHER      ? "gather()"
                : t->wait == TASK_WAIT_TASKGROUP ? "its TaskGroup"
                                                 : "asyncio.wait()",
                t->nchildren);
        return;
    case TASK_WAIT_SLEEP:
        fputs("awaits asyncio.sleep()", out);
        if (t->has_when)
            fprintf(out, ", due in %.3f s", t->when - v->now);
        return;
    case TASK_WAIT_SOCKET:
    case TASK_WAIT_STREAM:
        fprintf(out, "awaits a %s read", t->wait == TASK_WAIT_SOCKET ? "socket" : "stream");
        if (t->fd >= 0)
            fprintf(out, " (fd %" PRId64 ")", t->fd);
        return;
    default:
        fprintf(out, "awaits %s 0x%" PRIx64, object_names[t->wait], t->object);
    }
}

static void put_frame(FILE *out, size_t level, const char *function, const struct py_frame *f)
{
    indent(out, level);
    fputs("    ", out);
    dump_put_name(out, function);
    fputs(" (", out);
    dump_put_name(out, f->code->filename);
    fprintf(out, ":%d)\n", f->line);
}

static void put_frames(const struct view *v, size_t i, size_t level)
{
    const struct task_reader *tr = v->tr;
    int64_t extent = running_extent(v, i);
    if (extent >= 0) {
        const struct py_thread *th = &v->w->threads[tr->tasks[i].thread];
        for (int64_t d = 0; d <= extent; d++)
            put_frame(v->out, level, th->frames[d].code->qualname, &th->frames[d]);
        return;
    }
    for (size_t k = tr->tasks[i].nframes; k-- > 0;)
        put_frame(v->out, level, chain_name(tr, i, k), &tasks_frames(tr, i)[k]);
}

static void sort_tasks(const struct task_reader *tr, size_t *which, size_t n);

/* Draws task i at level, then the tasks it waits on (by name). */
static void draw(struct view *v, size_t i, size_t level)
{
    const struct task_reader *tr = v->tr;
    indent(v->out, level);
    put_task_name(v, i);
    if (v->shown[i] || level >= TREE_DEPTH) {
        fputs(v->shown[i] ? " (shown above)\n" : " (deeper tasks not shown)\n", v->out);
        return;
    }
    v->shown[i] = 1;
    fputs(": ", v->out);
    put_wait(v, i);
    fputs(tr->tasks[i].cycle ? "  [DEADLOCK]\n" : "\n", v->out);
    put_frames(v, i, level);
    size_t *kids = xmalloc((tr->ntasks + 1) * sizeof(*kids)), n = 0;
    int64_t to;
    for (size_t k = 0; (to = tasks_edge(tr, i, k)) != -2; k++) {
        int dup = 0;
        for (size_t j = 0; to >= 0 && j < n && !dup; j++)
            dup = kids[j] == (size_t)to;
        if (to >= 0 && !dup && n < tr->ntasks)
            kids[n++] = (size_t)to;
    }
    sort_tasks(tr, kids, n);
    for (size_t k = 0; k < n; k++)
        draw(v, kids[k], level + 1);
    free(kids);
}

/* Compares names so that "worker-9" comes before "worker-10". */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            char *ea, *eb;
            unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
            if (x != y)
                return x < y ? -1 : 1;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static const struct task_reader *sort_tr; /* qsort has no context argument */

static int by_name(const void *pa, const void *pb)
{
    const struct py_task *x = &sort_tr->tasks[*(const size_t *)pa];
    const struct py_task *y = &sort_tr->tasks[*(const size_t *)pb];
    const char *nx =
        x->name[0] || !x->nframes ? x->name : chain_name(sort_tr, *(const size_t *)pa, 0);
    const char *ny =
        y->name[0] || !y->nframes ? y->name : chain_name(sort_tr, *(const size_t *)pb, 0);
    int c = natural_cmp(nx, ny);
    return c ? c : (x->addr > y->addr) - (x->addr < y->addr);
}

static void sort_tasks(const struct task_reader *tr, size_t *which, size_t n)
{
    sort_tr = tr;
    qsort(which, n, sizeof(*which), by_name);
}

/* A loop's tasks: trees from the tasks nobody waits on, then the cycles of
 * tasks waiting on each other, then anything not drawn yet. */
static void draw_loop(struct view *v, int loop)
{
    const struct task_reader *tr = v->tr;
    size_t *roots = xmalloc((tr->ntasks + 1) * sizeof(*roots));
    for (int pass = 0; pass < 3; pass++) {
        size_t n = 0;
        for (size_t i = 0; i < tr->ntasks; i++) {
            const struct py_task *t = &tr->tasks[i];
            if (t->loop_index == loop && !v->shown[i] &&
                (pass == 2 || (pass == 0 && v->rev0[i + 1] == v->rev0[i]) ||
                 (pass == 1 && t->cycle)))
                roots[n++] = i;
        }
        sort_tasks(tr, roots, n);
        if (pass == 1 && n)
            fputs("  DEADLOCK: these tasks await each other, none can go on:\n", v->out);
        for (size_t k = 0; k < n; k++) {
            if (!v->shown[roots[k]])
                draw(v, roots[k], 1 + (pass == 1));
        }
    }
    free(roots);
}

void dump_tasks_text(const struct walker *w, const struct task_reader *tr, FILE *out)
{
    struct view v;
    if (!tr->found && !tasks_version_supported(&w->rt->layout)) {
        fprintf(out,
                "\nNo asyncio tasks read: spyglass reads them on Python 3.6 to 3.13 (not "
                "free-threaded); not on %s%s yet.\n",
                w->rt->version, w->rt->layout.free_threaded ? " free-threaded" : "");
        return;
    }
    if (!tr->found) {
        fputs("\nNo asyncio tasks: the program has not imported asyncio, or its registry "
              "could not be read.\n",
              out);
        return;
    }
    view_init(&v, w, tr, out);
    fprintf(out, "\n%zu asyncio tasks in %zu loops", tr->ntasks, tr->nloops);
    if (tr->cycles)
        fprintf(out, "; %zu tasks in deadlock cycles", tr->cycles);
    fputs("\n", out);
    for (int loop = -1; loop < (int)tr->nloops; loop++) {
        size_t count = 0;
        for (size_t i = 0; i < tr->ntasks; i++)
            count += tr->tasks[i].loop_index == loop;
        if (!count)
            continue;
        if (loop < 0) {
            fputs("\nTasks of an unknown loop:\n", out);
        } else {
            const struct py_loop *l = &tr->loops[loop];
            fprintf(out, "\nLoop 0x%" PRIx64 " ", l->addr);
            if (l->thread >= 0)
                put_thread(&v, (size_t)l->thread);
            else
                fputs(l->thread_ident ? "on an unknown thread" : "(not running)", out);
            fprintf(out, ": %zu tasks\n", count);
        }
        draw_loop(&v, loop);
    }
    view_release(&v);
}

/* ---- JSON ------------------------------------------------------------------ */

static void json_addr(FILE *out, uint64_t addr)
{
    fprintf(out, "\"0x%" PRIx64 "\"", addr);
}

static void json_thread(const struct view *v, int64_t thread)
{
    if (thread < 0) {
        fputs("null", v->out);
        return;
    }
    const struct py_thread *th = &v->w->threads[thread];
    fprintf(v->out, "{\"ident\": %" PRIu64 ", \"tid\": %d, \"name\": ", th->ident, (int)th->tid);
    json_string(v->out, th->name);
    fputc('}', v->out);
}

static void json_frame(FILE *out, const char *function, const struct py_frame *f, const char *kind)
{
    fputs("{\"function\": ", out);
    json_string(out, function);
    fputs(", \"name\": ", out);
    json_string(out, f->code->name);
    fputs(", \"file\": ", out);
    json_string(out, f->code->filename);
    fprintf(out, ", \"line\": %d, \"kind\": \"%s\"}", f->line, kind);
}

/* Innermost first. A running task's are its thread's, from the leaf down
 * to its outermost coroutine: those above that one are of kind "frame" (a
 * function or a coroutine, running). */
static void json_frames(const struct view *v, size_t i)
{
    const struct task_reader *tr = v->tr;
    const struct py_task *t = &tr->tasks[i];
    int64_t extent = running_extent(v, i);
    fputs("[", v->out);
    if (extent >= 0) {
        const struct py_thread *th = &v->w->threads[t->thread];
        for (int64_t d = 0; d < extent; d++) {
            json_frame(v->out, th->frames[d].code->qualname, &th->frames[d], "frame");
            fputs(", ", v->out);
        }
        json_frame(v->out, chain_name(tr, i, 0), &th->frames[extent],
                   kind_name(tr->links[t->frame0].kind));
    }
    for (size_t k = t->nframes; extent < 0 && k-- > 0;) {
        json_frame(v->out, chain_name(tr, i, k), &tasks_frames(tr, i)[k],
                   kind_name(tr->links[t->frame0 + k].kind));
        fputs(k ? ", " : "", v->out);
    }
    fputs("]", v->out);
}

static void json_wait(const struct view *v, size_t i)
{
    const struct py_task *t = &v->tr->tasks[i];
    FILE *out = v->out;
    fprintf(out, "{\"kind\": \"%s\"", t->running ? "running" : tasks_wait_name(t->wait));
    if (t->wait == TASK_WAIT_TASK) {
        fputs(", \"task\": ", out);
        json_addr(out, v->tr->tasks[t->awaits].addr);
    }
    if (t->nchildren) {
        fputs(", \"children\": [", out);
        for (size_t k = 0; k < t->nchildren; k++) {
            int64_t c = v->tr->children[t->child0 + k];
            fputs(k ? ", " : "", out);
            if (c >= 0)
                json_addr(out, v->tr->tasks[c].addr);
            else
                fputs("null", out);
        }
        fputs("]", out);
    }
    if (t->has_when) {
        fputs(", \"when\": ", out);
        fprintf(out, "%.17g", t->when);
        fprintf(out, ", \"due_in\": %.6f", t->when - v->now);
    }
    if (t->fd >= 0)
        fprintf(out, ", \"fd\": %" PRId64, t->fd);
    if (t->object && t->wait != TASK_WAIT_TASK) {
        fputs(", \"object\": ", out);
        json_addr(out, t->object);
    }
    fputs("}", out);
}

static void json_task(const struct view *v, size_t i)
{
    const struct py_task *t = &v->tr->tasks[i];
    FILE *out = v->out;
    fputs("{\"id\": ", out);
    json_addr(out, t->addr);
    fputs(", \"name\": ", out);
    if (t->name[0])
        json_string(out, t->name);
    else
        fputs("null", out);
    fprintf(out, ", \"state\": \"pending\", \"loop\": %d, \"running\": %s, \"eager\": %s",
            t->loop_index, t->running ? "true" : "false", t->eager ? "true" : "false");
    fprintf(out, ", \"pure\": %s, \"deadlock\": %s", t->pure ? "true" : "false",
            t->cycle ? "true" : "false");
    fputs(",\n    \"frames\": ", out);
    json_frames(v, i);
    fputs(",\n    \"awaits\": ", out);
    json_wait(v, i);
    fputs(", \"awaited_by\": [", out);
    for (size_t k = v->rev0[i]; k < v->rev0[i + 1]; k++) {
        fputs(k > v->rev0[i] ? ", " : "", out);
        json_addr(out, v->tr->tasks[v->rev[k]].addr);
    }
    fputs("]}", out);
}

/* Each deadlock cycle once, in the order its tasks await each other. */
static void json_deadlocks(struct view *v)
{
    const struct task_reader *tr = v->tr;
    size_t groups = 0;
    memset(v->shown, 0, tr->ntasks + 1);
    fputs(", \"deadlocks\": [", v->out);
    for (size_t i = 0; i < tr->ntasks; i++) {
        if (!tr->tasks[i].cycle || v->shown[i])
            continue;
        fputs(groups++ ? ", [" : "[", v->out);
        for (size_t at = i, n = 0; !v->shown[at]; n++) {
            int64_t to = -1, e;
            v->shown[at] = 1;
            fputs(n ? ", " : "", v->out);
            json_addr(v->out, tr->tasks[at].addr);
            for (size_t k = 0; (e = tasks_edge(tr, at, k)) != -2 && to < 0; k++)
                to = e >= 0 && tr->tasks[e].cycle ? e : -1;
            if (to < 0)
                break;
            at = (size_t)to;
        }
        fputs("]", v->out);
    }
    fputs("]", v->out);
}

void dump_tasks_json(const struct walker *w, const struct task_reader *tr, FILE *out)
{
    struct view v;
    view_init(&v, w, tr, out);
    fprintf(out, ", \"asyncio\": %s, \"loops\": [", tr->found ? "true" : "false");
    for (size_t j = 0; j < tr->nloops; j++) {
        const struct py_loop *l = &tr->loops[j];
        fputs(j ? ",\n  {\"address\": " : "\n  {\"address\": ", out);
        json_addr(out, l->addr);
        fputs(", \"thread\": ", out);
        json_thread(&v, l->thread);
        fprintf(out, ", \"tasks\": %zu, \"running_task\": ", l->ntasks);
        if (l->running_task >= 0)
            json_addr(out, tr->tasks[l->running_task].addr);
        else
            fputs("null", out);
        fputs("}", out);
    }
    fputs("],\n \"tasks\": [", out);
    for (size_t i = 0; i < tr->ntasks; i++) {
        fputs(i ? ",\n  " : "\n  ", out);
        json_task(&v, i);
    }
    fputs("]", out);
    json_deadlocks(&v);
    fprintf(out, ", \"done\": %zu, \"unreadable\": %" PRIu64, tr->done, tr->torn);
    view_release(&v);
}
