/*
 * sampler.c - the sampling loop.
 *
 * Ticks fall on absolute deadlines (start + k * period, clock_nanosleep with
 * TIMER_ABSTIME), so the time a sample takes never stretches the period. When
 * a tick starts more than a period late it is counted as late; ticks that
 * would have fallen entirely in the past are skipped and counted as missed,
 * rather than fired in a burst that would distort the profile.
 *
 * In the default (blocking) mode the target's threads are stopped only while
 * a sample is read, and released before anything else happens, on every
 * path.
 */
#include "sample/sampler.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "proc/pause.h"
#include "proc/proc.h"
#include "sample/native.h"
#include "sample/procset.h"

uint64_t sampler_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t deadline_ns, volatile sig_atomic_t *stop)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000ull),
                          .tv_nsec = (long)(deadline_ns % 1000000000ull)};
    while (!*stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void record_cost(struct sampler_stats *s, uint64_t ns)
{
    unsigned bucket = 0;
    while (bucket + 1 < SAMPLER_COST_BUCKETS && (ns >> (bucket + 1)) != 0)
        bucket++;
    s->cost_hist[bucket]++;
    s->cost_ns += ns;
}

double sampler_cost_quantile_us(const struct sampler_stats *s, double q)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < SAMPLER_COST_BUCKETS; i++)
        total += s->cost_hist[i];
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total + 0.5), seen = 0;
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < SAMPLER_COST_BUCKETS; i++) {
        seen += s->cost_hist[i];
        if (seen >= want) /* the bucket's upper bound: 2^(i+1) ns */
            return (double)(2ull << i) / 1000.0;
    }
    return 0;
}

/* This thread's user+sys CPU time: the sampler may run beside a display
 * thread (top), whose drawing is not sampling cost. */
static uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The program file the target ran when sampling started. */
struct exe_id {
    uint64_t dev, ino;
    int known;
};

/* Returns 1 if the process now runs another program than *exe: it called
 * exec, so the runtime we found is gone even though the pid lives on. */
static int target_execed(pid_t pid, const struct exe_id *exe, struct sampler_stats *s)
{
    uint64_t dev, ino;
    if (!exe->known || proc_exe_id(pid, &dev, &ino) != 0)
        return 0;
    if (dev == exe->dev && ino == exe->ino)
        return 0;
    s->execed = 1;
    return 1;
}

/* Returns 1 if the target is gone (for a child: reaps it). */
static int target_gone(const struct sampler_options *opt, const struct pause_set *ps, pid_t pid,
                       struct sampler_stats *s)
{
    if (opt->child && ps->leader_reaped) { /* collected while pausing it */
        s->child_status = ps->leader_status;
        s->child_reaped = 1;
        return 1;
    }
    if (opt->child) {
        int status;
        pid_t r = waitpid(opt->child, &status, WNOHANG);
        if (r == opt->child) {
            s->child_status = status;
            s->child_reaped = 1;
            return 1;
        }
        return r < 0 && errno == ECHILD;
    }
    char state;
    return proc_state(pid, &state) != 0 || state == 'Z' || state == 'X';
}

/* One tick: pause (unless nonblocking), walk, unwind (with --native),
 * resume. Only threads that did stop are unwound: pause_all's timeout can
 * leave a busy thread running. */
static int take_sample(struct walker *w, const struct sampler_options *opt, struct pause_set *ps)
{
    if (!opt->nonblocking) {
        int err = pause_all(ps);
        if (err)
            return err;
    }
    w->state_tids = ps->tids;
    w->states = ps->states;
    w->nstates = opt->nonblocking ? 0 : ps->count;
    w->paused = !opt->nonblocking;
    int err = walk_sample(w);
    if (!err && opt->native && !opt->nonblocking)
        native_unwind(opt->native, ps->tids, ps->states, ps->count, !opt->native_idle);
    w->native = err || opt->nonblocking ? NULL : opt->native;
    pause_resume(ps);
    w->nstates = 0;
    w->paused = 0;
    return err;
}

/* What the loop samples: one process, or the Python processes of a tree. */
struct source {
    struct walker *w;
    struct pause_set *pause;
    struct procset *set;
    pid_t pid; /* the process whose exit ends the recording */
};

static int tick_single(struct source *src, const struct sampler_options *opt, sampler_fn fn,
                       void *ctx, struct sampler_stats *s)
{
    s->walks++;
    int err = take_sample(src->w, opt, src->pause);
    if (err == 0 && fn)
        fn(src->w, sampler_now_ns() - s->start_ns, ctx);
    return err;
}

/* Reads one process of a set whose threads were interrupted (unless
 * nonblocking) and lets it go. */
static int read_target(struct proc_target *t, const struct sampler_options *opt)
{
    int err = t->pause_err;
    if (!err && !opt->nonblocking)
        err = pause_wait(&t->pause);
    if (!err) {
        t->w.state_tids = t->pause.tids;
        t->w.states = t->pause.states;
        t->w.nstates = opt->nonblocking ? 0 : t->pause.count;
        t->w.paused = !opt->nonblocking;
        err = walk_sample(&t->w);
    }
    pause_resume(&t->pause);
    t->w.nstates = 0;
    t->w.paused = 0;
    return err;
}

/* Walks every Python process of the tree once. All are interrupted first,
 * so their stops overlap instead of adding up; each is released right
 * after it was read. Processes that exit on the way are dropped, not
 * counted as errors. Returns 0 if every walk worked, else the error of the
 * last that failed (-SG_EPERM if the root may not be paused). */
static int tick_set(struct source *src, const struct sampler_options *opt, sampler_fn fn, void *ctx,
                    struct sampler_stats *s)
{
    struct procset *set = src->set;
    uint64_t now = sampler_now_ns();
    int failed = 0;
    procset_refresh(set, now, 0);
    for (size_t i = 0; i < set->count; i++) {
        struct proc_target *t = set->targets[i];
        if (t->state != PT_PYTHON)
            continue;
        t->w.endpoints = set->endpoints;
        t->w.tasks = set->tasks;
        t->pause_err = opt->nonblocking ? 0 : pause_interrupt(&t->pause);
    }
    for (size_t i = 0; i < set->count;) {
        struct proc_target *t = set->targets[i];
        if (t->state != PT_PYTHON) {
            i++;
            continue;
        }
        t->walks++;
        s->walks++;
        uint64_t reads = t->reader.reads;
        int err = read_target(t, opt);
        s->reads += t->reader.reads - reads;
        if (err == 0) {
            t->consecutive_errors = 0;
            if (fn)
                fn(&t->w, sampler_now_ns() - s->start_ns, ctx);
            i++;
            continue;
        }
        if (err == -SG_EPERM && !opt->nonblocking) {
            if (t->pid == set->root && s->ok == 0)
                failed = err;
            procset_skip(set, t); /* a process we may not pause: left alone */
            i++;
            continue;
        }
        if (procset_walk_failed(set, t, now))
            continue; /* it exited: the array shifted */
        s->walk_errors++;
        failed = failed == -SG_EPERM ? failed : err;
        i++;
    }
    return failed;
}

static int run(struct source *src, const struct sampler_options *opt, volatile sig_atomic_t *stop,
               sampler_fn fn, void *ctx, struct sampler_stats *s)
{
    memset(s, 0, sizeof(*s));
    pid_t pid = src->pid;
    uint64_t period = (uint64_t)(1e9 / opt->rate_hz);
    if (period == 0)
        period = 1;
    /* A set's pause_sets live in its targets; the root's exit status (spawn
     * mode) is then collected by waitpid alone. */
    struct pause_set none;
    const struct pause_set *ps = src->pause;
    if (!ps) {
        pause_init(&none, pid);
        ps = &none;
    }
    struct exe_id exe = {0};
    exe.known = proc_exe_id(pid, &exe.dev, &exe.ino) == 0;
    s->start_ns = sampler_now_ns();
    uint64_t cpu_start = cpu_now_ns(), reads_start = src->w ? walk_target_reads(src->w) : 0;
    uint64_t end = opt->duration_s > 0 ? s->start_ns + (uint64_t)(opt->duration_s * 1e9) : 0;
    uint64_t deadline = s->start_ns;
    int rc = 0;
    s->end = SAMPLER_END_DURATION;
    for (;;) {
        if (*stop) {
            s->end = SAMPLER_END_STOPPED;
            break;
        }
        uint64_t now = sampler_now_ns();
        if (end && now >= end)
            break;
        if (now > deadline + period) {
            s->late++;
            if (now - deadline > s->max_lag_ns)
                s->max_lag_ns = now - deadline;
            uint64_t behind = (now - deadline) / period;
            s->missed += behind;
            deadline += behind * period;
        }
        s->ticks++;
        uint64_t work_start = s->ticks % SAMPLER_WORK_EVERY == 0 ? cpu_now_ns() : 0;
        int err = src->set ? tick_set(src, opt, fn, ctx, s) : tick_single(src, opt, fn, ctx, s);
        if (err == 0) {
            s->ok++;
        } else {
            s->errors++;
            s->last_error = err;
            if ((pid && target_gone(opt, ps, pid, s)) ||
                (!src->set && target_execed(pid, &exe, s))) {
                s->errors--; /* not an error: the end */
                s->ticks--;
                s->end = SAMPLER_END_EXITED;
                break;
            }
            if (err == -SG_EPERM && !opt->nonblocking && s->ok == 0) {
                s->end = SAMPLER_END_ERROR;
                rc = err;
                break;
            }
        }
        record_cost(s, sampler_now_ns() - now);
        if (work_start) {
            s->work_cpu_ns += cpu_now_ns() - work_start;
            s->work_ticks++;
        }
        if ((opt->child || src->set) && pid && target_gone(opt, ps, pid, s)) {
            s->end = SAMPLER_END_EXITED;
            break;
        }
        deadline += period;
        sleep_until(deadline, stop);
    }
    s->end_ns = sampler_now_ns();
    s->cpu_ns = cpu_now_ns() - cpu_start;
    if (src->w)
        s->reads = walk_target_reads(src->w) - reads_start;
    return rc;
}

int sampler_run(struct walker *w, const struct sampler_options *opt, volatile sig_atomic_t *stop,
                sampler_fn fn, void *ctx, struct sampler_stats *s)
{
    struct pause_set ps;
    pause_init(&ps, w->rt->pid);
    struct source src = {.w = w, .pause = &ps, .pid = w->rt->pid};
    int rc = run(&src, opt, stop, fn, ctx, s);
    pause_release(&ps);
    return rc;
}

int sampler_run_set(struct procset *set, const struct sampler_options *opt,
                    volatile sig_atomic_t *stop, sampler_fn fn, void *ctx, struct sampler_stats *s)
{
    struct source src = {.set = set, .pid = set->root};
    return run(&src, opt, stop, fn, ctx, s);
}
