/*
 * window.c - per-process windows of the agent (agent/window.h).
 */
#include "agent/window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collect/discover.h"
#include "sample/sampler.h"
#include "util/util.h"

/* Most label frames one stack starts with: thread, idle, gil, endpoint. */
#define WINDOW_LABELS 4

uint64_t window_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void windows_init(struct windows *ws, const struct window_options *opt)
{
    memset(ws, 0, sizeof(*ws));
    ws->opt = *opt;
}

static void window_start(struct windows *ws, struct window *win)
{
    win->profile = profile_new();
    struct profile_limits limits;
    profile_limits_for(WINDOW_MAX_FRAMES, &limits);
    profile_set_limits(win->profile, &limits);
    struct fold_options fo = {.idle = ws->opt.idle};
    fold_init(&win->fold, win->profile, &fo);
    win->walks = 0;
    win->start_unix_ns = window_unix_ns();
    win->start_mono_ns = sampler_now_ns();
}

static void window_free(struct window *win)
{
    if (!win)
        return;
    fold_release(&win->fold);
    profile_free(win->profile);
    free(win);
}

void windows_release(struct windows *ws)
{
    for (size_t i = 0; i < ws->count; i++)
        window_free(ws->v[i]);
    free(ws->v);
    memset(ws, 0, sizeof(*ws));
}

static struct window *window_open(struct windows *ws, const struct walker *w, uint64_t start_time)
{
    struct window *win = xcalloc(1, sizeof(*win));
    pid_t pid = w->rt->pid;
    win->pid = pid;
    win->start_time = start_time;
    struct agent_labels *l = &win->labels;
    l->name = ws->opt.idle ? "wall" : "process_cpu";
    l->pid = pid;
    snprintf(l->python, sizeof(l->python), "%s", w->rt->version);
    snprintf(l->host, sizeof(l->host), "%s", ws->opt.host);
    if (ws->opt.service)
        snprintf(l->service, sizeof(l->service), "%s", ws->opt.service);
    else if (discover_service(pid, l->service, sizeof(l->service)) != 0)
        snprintf(l->service, sizeof(l->service), "python");
    window_start(ws, win);
    ws->v = xgrow(ws->v, sizeof(*ws->v), ws->count + 1, &ws->cap);
    ws->v[ws->count++] = win;
    return win;
}

static struct window *window_find(struct windows *ws, pid_t pid, uint64_t start_time)
{
    for (size_t i = 0; i < ws->count; i++) {
        if (ws->v[i]->pid == pid && ws->v[i]->start_time == start_time && !ws->v[i]->gone)
            return ws->v[i];
    }
    return NULL;
}

/* Writes the label frames of thread t into ids; returns how many. */
static size_t label_frames(const struct windows *ws, struct profile *p, const struct py_thread *t,
                           uint32_t *ids)
{
    char thread[160];
    size_t n = 0;
    if (t->name[0])
        snprintf(thread, sizeof(thread), "%s", t->name);
    else
        snprintf(thread, sizeof(thread), "tid %d", (int)t->tid);
    ids[n++] = profile_frame_id(p, LABEL_THREAD, thread, 0, PF_LABEL);
    ids[n++] = profile_frame_id(p, LABEL_IDLE, t->idle ? "true" : "false", 0, PF_LABEL);
    ids[n++] = profile_frame_id(p, LABEL_GIL, t->holds_gil ? "true" : "false", 0, PF_LABEL);
    if (ws->opt.by_endpoint)
        ids[n++] = profile_frame_id(p, LABEL_ENDPOINT,
                                    t->endpoint[0] ? t->endpoint : "(no request)", 0, PF_LABEL);
    return n;
}

struct add_ctx {
    struct windows *ws;
    struct window *win;
    uint32_t *ids;
    size_t cap;
};

static void add_stack(const struct fold_stack *s, void *arg)
{
    struct add_ctx *c = arg;
    size_t python = s->depth - s->nroots;
    c->ids = xgrow(c->ids, sizeof(*c->ids), python + WINDOW_LABELS, &c->cap);
    size_t n = label_frames(c->ws, c->win->profile, s->thread, c->ids);
    memcpy(c->ids + n, s->ids + s->nroots, python * sizeof(*c->ids));
    profile_add_stack(c->win->profile, c->ids, n + python, 1);
    c->ws->stacks_kept++;
}

void windows_add_walk(struct windows *ws, const struct walker *w, uint64_t start_time)
{
    struct window *win = window_find(ws, w->rt->pid, start_time);
    if (!win)
        win = window_open(ws, w, start_time);
    win->walks++;
    struct add_ctx c = {ws, win, NULL, 0};
    fold_walk(&win->fold, w, add_stack, &c);
    free(c.ids);
}

/* Fills in what the profile says about itself before it is encoded. */
static void window_close(const struct windows *ws, struct window *win)
{
    struct profile *p = win->profile;
    struct profile_meta *m = profile_meta(p);
    const struct agent_labels *l = &win->labels;
    char target[256], labels[512];
    win->end_mono_ns = sampler_now_ns();
    snprintf(target, sizeof(target), "pid %d (%s)", (int)l->pid, l->service);
    /* thread_walks: the threads the walks found; left_out: thread stacks of
     * those not in the profile because their walk was torn
     * (the thread moved under it), unreadable, or held no Python frame:
     * counted, never guessed. */
    snprintf(labels, sizeof(labels),
             "service_name=%s host=%s pid=%d python_version=%s walks=%llu thread_walks=%llu "
             "left_out=%llu%s",
             l->service, l->host, (int)l->pid, l->python, (unsigned long long)win->walks,
             (unsigned long long)win->fold.stats.threads,
             (unsigned long long)(win->fold.stats.torn + win->fold.stats.unreadable +
                                  win->fold.stats.empty),
             ws->opt.idle ? "; idle threads kept (idle=true)" : "; idle threads dropped");
    profile_set_meta_str(p, &m->title, "spyglass agent");
    profile_set_meta_str(p, &m->target, target);
    profile_set_meta_str(p, &m->python_version, l->python);
    profile_set_meta_str(p, &m->note, labels);
    m->rate_hz = ws->opt.rate_hz;
    m->start_unix_ns = win->start_unix_ns;
    m->duration_s = (double)(win->end_mono_ns - win->start_mono_ns) / 1e9;
    m->samples = win->walks;
}

static int still_sampled(struct procset *set, const struct window *win)
{
    struct proc_target *t = procset_find(set, win->pid);
    return t && t->start_time == win->start_time && t->state == PT_PYTHON;
}

size_t windows_flush(struct windows *ws, struct procset *set, window_fn fn, void *ctx)
{
    size_t handed = 0, kept = 0;
    for (size_t i = 0; i < ws->count; i++) {
        struct window *win = ws->v[i];
        win->gone = !still_sampled(set, win);
        if (win->walks) {
            window_close(ws, win);
            fn(win, ctx);
            handed++;
        }
        if (win->gone) {
            window_free(win);
            continue;
        }
        if (win->walks) {
            fold_release(&win->fold);
            profile_free(win->profile);
            window_start(ws, win);
        }
        ws->v[kept++] = win;
    }
    ws->count = kept;
    return handed;
}
