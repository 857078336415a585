/*
 * chrometrace.c - the Trace Event Format writer (Perfetto, chrome://tracing):
 * {"traceEvents":[...], "displayTimeUnit":"ms", "otherData":{...}}.
 *
 * With a timeline, each thread is one track (pid = the profiled process,
 * read from the "pid N" the meta's target starts with, else 1; tid = the
 * thread id), named by a "thread_name" metadata event. Its samples, in time
 * order, become a flame chart: a frame that appears in a sample at the same
 * depth as in the sample before continues; when the stack changes, the
 * frames that left end and the new ones begin at that sample's time. Each
 * frame occurrence is one complete ("X") event, written in start order with
 * parents before children. A thread's last frames end one sampling period
 * (1/rate_hz, or 1 ms when the rate is unknown) after its last sample, and
 * when a thread goes unsampled for more than two periods (it was idle and
 * dropped, or the sampler lagged) everything it had open ends one period
 * after the last sample before the gap, rather than spanning it.
 *
 * Without a timeline (or with an empty one) there are no times to show, so
 * the aggregate is drawn on a single track (tid = pid) named "all samples
 * (aggregate, not a timeline)": the distinct stacks, sorted by frame names
 * so that shared prefixes sit together and merge, are laid end to end, each
 * as long as its weight times one sampling period (or, for a profile weighed
 * in time, such as a call tree rebuilt from a cProfile dump, its weight in
 * that unit). The result reads like a flame graph turned into a flame
 * chart; its time axis is not wall time.
 *
 * A profile from record --memory adds, on a timeline, an "RSS" counter
 * track (MiB, one point per change) and one process-wide instant event
 * "peak RSS N MiB" at the time of the peak, and to otherData
 * peak_rss_bytes, peak_rss_s and final_rss_bytes.
 *
 * Times are exact in a viewer's arithmetic. Trace Event Format times are
 * microseconds that viewers add in doubles (ts + dur); decimal fractions
 * are not exact there, and 60082.186 + 10004.718 = 70086.90400000001 ends
 * past a next span starting at 70086.904, which speedscope reads as a frame
 * ending after its successor began ("Tried to end X when Y was on top").
 * So every time is a whole number of 1/1024 microseconds (about a
 * nanosecond), written as its exact decimal expansion (0.0009765625 is
 * 1/1024): such values add without rounding up to 2^53 units (101 days),
 * and a duration is the end minus the start in those units, so ts + dur is
 * exactly the end.
 *
 * Ties are taken apart too. A viewer turns complete events into begin and
 * end events sorted by time, and speedscope resolves equal times with
 * heuristics (a begin before an end of the same name, a swap to any
 * same-named end) that lose the stack when a frame ends as one with the
 * same name begins (the stack changed below a common function), or two
 * frames with one name end together (nested find_spec calls). So the spans
 * that end together at a change end one unit apart, innermost first, all
 * before the time the new frames begin: at no time do two events meet.
 * Every span gives up a few nanoseconds at most (a unit per level below
 * the change; never more than it lasted).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "format/json.h"
#include "format/timeline.h"
#include "util/err.h"
#include "util/util.h"

#define DEFAULT_PERIOD_NS 1000000 /* one sample's length when the rate is unknown */

/* One occurrence of a frame on a track: [start, end) in ns. */
struct span {
    uint32_t frame;
    uint64_t start, end;
};

/* The spans of one track, and the ones still open (by depth). */
struct track {
    struct span *spans;
    size_t span_count, span_cap;
    size_t *open; /* indexes into spans, root first */
    size_t open_count, open_cap;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Ends every open frame deeper than keep at time t. */
static void track_close(struct track *t, size_t keep, uint64_t time)
{
    while (t->open_count > keep)
        t->spans[t->open[--t->open_count]].end = time;
}

/* Moves the track to stack at time: frames shared with the open stack at
 * the same depths continue, the others end, the new ones begin. */
static void track_sample(struct track *t, const struct profile *p, uint32_t stack, uint64_t time)
{
    size_t depth, keep = 0;
    uint64_t weight;
    const uint32_t *frames = profile_stack(p, stack, &depth, &weight);
    while (keep < t->open_count && keep < depth && t->spans[t->open[keep]].frame == frames[keep])
        keep++;
    track_close(t, keep, time);
    t->spans = xgrow(t->spans, sizeof(*t->spans), t->span_count + depth - keep, &t->span_cap);
    t->open = xgrow(t->open, sizeof(*t->open), depth, &t->open_cap);
    for (size_t d = keep; d < depth; d++) {
        t->spans[t->span_count] = (struct span){frames[d], time, time};
        t->open[t->open_count++] = t->span_count++;
    }
}

#define UNITS_PER_US 1024 /* time unit: 1/1024 us, exact in doubles */

/* A time in units, rounded to nearest (monotonic, so spans nested in
 * nanoseconds stay nested). */
static uint64_t to_units(uint64_t ns)
{
    if (ns > UINT64_MAX / UNITS_PER_US)
        return UINT64_MAX / 1000;
    return (ns * UNITS_PER_US + 500) / 1000;
}

/* Writes units as microseconds, exactly: the integer part, then the
 * fraction's decimal digits (1/1024 = 9765625 / 10^10) without trailing
 * zeros. */
static void put_units(FILE *out, const char *key, uint64_t units)
{
    uint64_t frac = (units % UNITS_PER_US) * 9765625u;
    fprintf(out, ",\"%s\":%" PRIu64, key, units / UNITS_PER_US);
    if (!frac)
        return;
    char digits[11];
    snprintf(digits, sizeof(digits), "%010" PRIu64, frac);
    size_t n = 10;
    while (digits[n - 1] == '0')
        n--;
    fprintf(out, ".%.*s", (int)n, digits);
}

static void put_time(FILE *out, const char *key, uint64_t ns)
{
    put_units(out, key, to_units(ns));
}

static const char *kind_category(enum profile_frame_kind kind)
{
    switch (kind) {
    case PF_THREAD:
        return "thread";
    case PF_PROCESS:
        return "process";
    case PF_ENDPOINT:
        return "endpoint";
    case PF_NATIVE:
        return "native";
    case PF_NATIVE_CODE:
        return "native_code";
    case PF_LABEL:
        return "label";
    case PF_PYTHON:
        break;
    }
    return "python";
}

struct writer {
    const struct profile *p;
    FILE *out;
    const struct format_options *opt;
    uint64_t pid;
    uint64_t period_ns;
};

static void put_event_start(struct writer *w)
{
    fputs(",\n", w->out);
}

static void put_metadata(struct writer *w, const char *what, uint64_t tid, const char *name)
{
    put_event_start(w);
    fprintf(w->out,
            "{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%" PRIu64 ",\"tid\":%" PRIu64
            ",\"args\":{\"name\":",
            what, w->pid, tid);
    json_string(w->out, name);
    fputs("}}", w->out);
}

/* Orders span indexes by end, then start, then index: the spans that end
 * together, outermost first (parents begin first, and before their
 * children in the array when they begin together). ctx is the track. */
static int by_end(const void *pa, const void *pb, void *ctx)
{
    const struct track *t = ctx;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    const struct span *x = &t->spans[a], *y = &t->spans[b];
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (a > b) - (a < b);
}

/* Fills end[] with each span's end in units, taken apart as the top of the
 * file says: of a group of g spans ending at E, the outermost ends at E - 1,
 * the next at E - 2, ..., the innermost first at E - g (none before it
 * began). */
static void span_ends(const struct track *t, uint64_t *end)
{
    size_t n = t->span_count;
    size_t *order = xcalloc(n ? n : 1, sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof(*order), by_end, (void *)t);
    for (size_t g = 0; g < n;) {
        size_t size = 1;
        while (g + size < n && t->spans[order[g + size]].end == t->spans[order[g]].end)
            size++;
        uint64_t at = to_units(t->spans[order[g]].end);
        for (size_t k = 0; k < size; k++) { /* k = 0: the outermost */
            uint64_t start = to_units(t->spans[order[g + k]].start);
            uint64_t want = at > k + 1 ? at - (k + 1) : 0;
            end[order[g + k]] = want > start ? want : start;
        }
        g += size;
    }
    free(order);
}

/* Writes the track's spans as complete events and empties it. */
static void flush_track(struct writer *w, struct track *t, uint64_t tid)
{
    uint64_t *end = xcalloc(t->span_count ? t->span_count : 1, sizeof(*end));
    span_ends(t, end);
    for (size_t i = 0; i < t->span_count; i++) {
        const struct span *s = &t->spans[i];
        const struct profile_frame *f = profile_frame(w->p, s->frame);
        put_event_start(w);
        fputs("{\"name\":", w->out);
        json_string(w->out, f->name);
        fprintf(w->out, ",\"cat\":\"%s\",\"ph\":\"X\"", kind_category(f->kind));
        put_time(w->out, "ts", s->start);
        put_units(w->out, "dur", end[i] - to_units(s->start));
        fprintf(w->out, ",\"pid\":%" PRIu64 ",\"tid\":%" PRIu64, w->pid, tid);
        if (f->kind == PF_PYTHON && f->file[0]) {
            fputs(",\"args\":{\"file\":", w->out);
            char *path = format_display_path(f->file, w->opt && w->opt->full_filenames);
            json_string(w->out, path);
            free(path);
            if (f->line > 0)
                fprintf(w->out, ",\"line\":%d", f->line);
            putc('}', w->out);
        }
        putc('}', w->out);
    }
    free(end);
    t->span_count = 0;
    t->open_count = 0;
}

/* One track per thread, from the sorted timeline. */
static void write_threads(struct writer *w, struct track *t, const struct profile_event *events,
                          size_t count)
{
    for (size_t start = 0; start < count;) {
        size_t len = timeline_thread_run(events, count, start);
        uint64_t tid = events[start].thread, last = events[start].time_ns;
        char name[256];
        timeline_thread_label(w->p, tid, name, sizeof(name));
        put_metadata(w, "thread_name", tid, name);
        for (size_t i = start; i < start + len; i++) {
            const struct profile_event *e = &events[i];
            if (i > start && e->time_ns - last > 2 * w->period_ns)
                track_close(t, 0, sat_add(last, w->period_ns));
            track_sample(t, w->p, e->stack, e->time_ns);
            last = e->time_ns;
        }
        track_close(t, 0, sat_add(last, w->period_ns));
        flush_track(w, t, tid);
        start += len;
    }
}

/* Orders stacks by their frames' names, files and lines, root first. */
static int compare_stacks(const struct profile *p, uint32_t a, uint32_t b)
{
    size_t da, db;
    uint64_t wa, wb;
    const uint32_t *fa = profile_stack(p, a, &da, &wa), *fb = profile_stack(p, b, &db, &wb);
    for (size_t i = 0; i < da && i < db; i++) {
        const struct profile_frame *x = profile_frame(p, fa[i]), *y = profile_frame(p, fb[i]);
        int c = strcmp(x->name, y->name);
        if (!c)
            c = strcmp(x->file, y->file);
        if (!c)
            c = (x->line > y->line) - (x->line < y->line);
        if (!c)
            c = (fa[i] > fb[i]) - (fa[i] < fb[i]);
        if (c)
            return c;
    }
    return (da > db) - (da < db);
}

/* qsort has no context argument; the aggregate sort is the only user. */
struct sort_item {
    const struct profile *p;
    uint32_t stack;
};

static int compare_items(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    return compare_stacks(x->p, x->stack, y->stack);
}

/* The aggregate laid end to end on one track. */
static void write_aggregate(struct writer *w, struct track *t)
{
    size_t stacks = profile_stack_count(w->p), n = 0;
    struct sort_item *items = xcalloc(stacks, sizeof(*items));
    for (size_t i = 0; i < stacks; i++) {
        size_t depth;
        uint64_t weight;
        profile_stack(w->p, (uint32_t)i, &depth, &weight);
        if (depth > 0 && weight > 0)
            items[n++] = (struct sort_item){w->p, (uint32_t)i};
    }
    qsort(items, n, sizeof(*items), compare_items);
    put_metadata(w, "thread_name", w->pid, "all samples (aggregate, not a timeline)");
    uint64_t time = 0;
    for (size_t i = 0; i < n; i++) {
        size_t depth;
        uint64_t weight;
        profile_stack(w->p, items[i].stack, &depth, &weight);
        track_sample(t, w->p, items[i].stack, time);
        uint64_t length = weight > UINT64_MAX / w->period_ns ? UINT64_MAX : weight * w->period_ns;
        time = sat_add(time, length);
    }
    track_close(t, 0, time);
    flush_track(w, t, w->pid);
    free(items);
}

/* Returns N when target starts with "pid N", else 1. */
static uint64_t target_pid(const char *target)
{
    if (!target || strncmp(target, "pid ", 4) != 0)
        return 1;
    char *end;
    unsigned long long pid = strtoull(target + 4, &end, 10);
    return end > target + 4 && pid > 0 && pid <= INT32_MAX ? pid : 1;
}

static void put_meta_str(FILE *out, const char *key, const char *value)
{
    if (!value)
        return;
    fprintf(out, ",\"%s\":", key);
    json_string(out, value);
}

static void write_other_data(FILE *out, const struct profile_meta *m, int timeline)
{
    fputs("\"otherData\":{\"exporter\":", out);
    json_string(out, json_exporter());
    put_meta_str(out, "title", m->title);
    put_meta_str(out, "target", m->target);
    put_meta_str(out, "python_version", m->python_version);
    put_meta_str(out, "unit", m->unit);
    put_meta_str(out, "note", m->note);
    fputs(",\"rate_hz\":", out);
    json_number(out, m->rate_hz);
    fputs(",\"duration_s\":", out);
    json_number(out, m->duration_s);
    if (m->peak_rss)
        fprintf(out,
                ",\"peak_rss_bytes\":%" PRIu64 ",\"peak_rss_s\":%.9f,\"final_rss_bytes\":%" PRIu64,
                m->peak_rss, (double)m->peak_rss_ns / 1e9, m->final_rss);
    fprintf(out, ",\"samples\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"view\":\"%s\"}", m->samples,
            m->errors, timeline ? "timeline" : "aggregate");
}

/* record --memory: an "RSS" counter track (MiB) from the RSS points. */
static void write_rss_counter(const struct writer *w, const struct profile *p)
{
    for (size_t i = 0; i < profile_rss_point_count(p); i++) {
        const struct profile_rss_point *pt = profile_rss_point(p, i);
        fprintf(w->out, ",\n{\"name\":\"RSS\",\"ph\":\"C\",\"pid\":%" PRIu64 ",\"tid\":0", w->pid);
        put_time(w->out, "ts", pt->time_ns);
        fprintf(w->out, ",\"args\":{\"MiB\":%.3f}}", (double)pt->rss / 1048576.0);
    }
}

/* record --memory: a process-wide instant event where RSS peaked. */
static void write_peak_rss(const struct writer *w, const struct profile_meta *m)
{
    char name[64];
    snprintf(name, sizeof(name), "peak RSS %.1f MiB", (double)m->peak_rss / 1048576.0);
    fputs(",\n{\"name\":", w->out);
    json_string(w->out, name);
    fprintf(w->out, ",\"ph\":\"i\",\"s\":\"p\",\"pid\":%" PRIu64 ",\"tid\":0", w->pid);
    put_time(w->out, "ts", m->peak_rss_ns);
    fprintf(w->out, ",\"args\":{\"rss_bytes\":%" PRIu64 "}}", m->peak_rss);
}

/* Writes p as a trace; returns 0 or -SG_EIO when writing fails. */
int chrometrace_write(const struct profile *p, FILE *out, const struct format_options *opt)
{
    const struct profile_meta *m = profile_meta_const(p);
    struct writer w = {p, out, opt, target_pid(m->target), DEFAULT_PERIOD_NS};
    if (m->rate_hz >= 1e-3 && m->rate_hz <= 1e9)
        w.period_ns = (uint64_t)(1e9 / m->rate_hz);
    if (format_unit_ns(m->unit) >= 1) /* weights are times: one unit each */
        w.period_ns = (uint64_t)format_unit_ns(m->unit);
    if (w.period_ns == 0)
        w.period_ns = 1;
    struct track t = {0};
    size_t count = 0;
    struct profile_event *events = timeline_sorted(p, &count);

    fputs("{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\"", out);
    fprintf(out, ",\"pid\":%" PRIu64 ",\"tid\":0,\"args\":{\"name\":", w.pid);
    json_string(out, m->target ? m->target : m->title ? m->title : "spyglass profile");
    fputs("}}", out);
    if (count > 0 && m->peak_rss) {
        write_peak_rss(&w, m);
        write_rss_counter(&w, p);
    }
    if (count > 0)
        write_threads(&w, &t, events, count);
    else
        write_aggregate(&w, &t);
    fputs("\n],\n\"displayTimeUnit\":\"ms\",\n", out);
    write_other_data(out, m, count > 0);
    fputs("}\n", out);

    free(events);
    free(t.spans);
    free(t.open);
    return fflush(out) != 0 || ferror(out) ? -SG_EIO : 0;
}
