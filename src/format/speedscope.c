/*
 * speedscope.c - the speedscope JSON writer
 * (https://www.speedscope.app/file-format-schema.json).
 *
 * Frames go once into "shared.frames", indexed by frame id: {name, file,
 * line} for Python frames (file as format_display_path shows it: normalised,
 * and shortened unless opt->full_filenames; line left out when 0), {name,
 * file} for native ones (--native: the library's file name, and no line, is
 * what tells them apart) and {name} for synthetic ones. Profiles are "sampled":
 *
 *  - with a timeline, one profile per thread (threads in id order), its
 *    samples in time order, consecutive identical stacks merged into one
 *    sample weighted by its number of ticks. The profile with the most
 *    samples is the one speedscope opens.
 *  - without one (or with an empty one), a single profile "all samples" with
 *    one sample per distinct stack (id order) weighted by the stack's
 *    weight.
 *
 * Weights are time where we know it, so speedscope shows seconds rather
 * than counts: samples with a known rate become microseconds (ticks x
 * 1e6 / rate, rounded per sample entry; endValue is the sum of what is
 * written), a profile weighed in a unit speedscope knows (nanoseconds to
 * seconds, bytes) keeps it, and only other units are "none".
 *
 * Stacks are lists of frame indexes, root first, as the format wants.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "format/json.h"
#include "format/timeline.h"
#include "util/err.h"
#include "util/util.h"

/* A run of consecutive samples of one stack in a thread's timeline. */
struct run {
    uint32_t stack;
    uint64_t weight;
};

/* Returns speedscope's name for the profile's weight unit. */
static const char *unit_name(const char *unit)
{
    static const char *const known[][2] = {
        {"nanoseconds", "nanoseconds"},
        {"ns", "nanoseconds"},
        {"microseconds", "microseconds"},
        {"us", "microseconds"},
        {"milliseconds", "milliseconds"},
        {"ms", "milliseconds"},
        {"seconds", "seconds"},
        {"s", "seconds"},
        {"bytes", "bytes"},
    };
    for (size_t i = 0; unit && i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(unit, known[i][0]) == 0)
            return known[i][1];
    }
    return "none";
}

static void write_frames(const struct profile *p, FILE *out, const struct format_options *opt)
{
    size_t count = profile_frame_count(p);
    fputs("\"shared\":{\"frames\":[", out);
    for (size_t i = 0; i < count; i++) {
        const struct profile_frame *f = profile_frame(p, (uint32_t)i);
        fputs(i ? ",\n{\"name\":" : "\n{\"name\":", out);
        json_string(out, f->name);
        if ((f->kind == PF_PYTHON || f->kind == PF_NATIVE_CODE) && f->file[0]) {
            fputs(",\"file\":", out);
            char *path = format_display_path(f->file, opt && opt->full_filenames);
            json_string(out, path);
            free(path);
            if (f->line > 0)
                fprintf(out, ",\"line\":%d", f->line);
        }
        putc('}', out);
    }
    fputs("]},\n", out);
}

static void write_stack(const struct profile *p, FILE *out, uint32_t stack)
{
    size_t depth;
    uint64_t weight;
    const uint32_t *frames = profile_stack(p, stack, &depth, &weight);
    putc('[', out);
    for (size_t i = 0; i < depth; i++)
        fprintf(out, i ? ",%" PRIu32 : "%" PRIu32, frames[i]);
    putc(']', out);
}

/* How weights are written: speedscope's unit, and the factor from the
 * profile's weights to it (0: as they are). */
struct units {
    const char *name;
    double scale;
};

/* Samples with a known rate are written as microseconds, other units as
 * speedscope knows them, or as they are ("none"). */
static struct units units_of(const struct profile_meta *m, int ticks)
{
    int samples = ticks || !m->unit || !strcmp(m->unit, "samples");
    if (samples && m->rate_hz > 0 && m->rate_hz <= 1e6)
        return (struct units){"microseconds", 1e6 / m->rate_hz};
    return (struct units){ticks ? "none" : unit_name(m->unit), 0};
}

static uint64_t scaled(uint64_t weight, const struct units *u)
{
    if (!u->scale)
        return weight;
    double v = (double)weight * u->scale;
    return v >= 1.8e19 ? UINT64_MAX : (uint64_t)llround(v);
}

/* Writes one sampled profile of the given runs. */
static void write_profile(const struct profile *p, FILE *out, const char *name,
                          const struct units *u, const struct run *runs, size_t run_count)
{
    uint64_t total = 0;
    for (size_t i = 0; i < run_count; i++) {
        uint64_t w = scaled(runs[i].weight, u);
        total = total > UINT64_MAX - w ? UINT64_MAX : total + w;
    }
    fputs("{\"type\":\"sampled\",\"name\":", out);
    json_string(out, name);
    fprintf(out, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%" PRIu64 ",\n\"samples\":[",
            u->name, total);
    for (size_t i = 0; i < run_count; i++) {
        if (i)
            fputs(i % 16 ? "," : ",\n", out);
        write_stack(p, out, runs[i].stack);
    }
    fputs("],\n\"weights\":[", out);
    for (size_t i = 0; i < run_count; i++)
        fprintf(out, i ? ",%" PRIu64 : "%" PRIu64, scaled(runs[i].weight, u));
    fputs("]}", out);
}

/* The single profile of every distinct stack, when there is no timeline. */
static void write_aggregate(const struct profile *p, FILE *out)
{
    size_t stacks = profile_stack_count(p), run_count = 0;
    struct run *runs = xcalloc(stacks, sizeof(*runs));
    for (size_t i = 0; i < stacks; i++) {
        size_t depth;
        uint64_t weight;
        profile_stack(p, (uint32_t)i, &depth, &weight);
        if (weight > 0)
            runs[run_count++] = (struct run){(uint32_t)i, weight};
    }
    fputs("\"activeProfileIndex\":0,\n", out);
    fputs("\"profiles\":[", out);
    struct units u = units_of(profile_meta_const(p), 0);
    write_profile(p, out, "all samples", &u, runs, run_count);
    fputs("]", out);
    free(runs);
}

/* Merges one thread's events (in time order) into runs; returns the count. */
static size_t thread_runs(const struct profile_event *events, size_t count, struct run *runs)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (n > 0 && runs[n - 1].stack == events[i].stack)
            runs[n - 1].weight++;
        else
            runs[n++] = (struct run){events[i].stack, 1};
    }
    return n;
}

/* One profile per thread of the timeline (events sorted, count > 0). */
static void write_threads(const struct profile *p, FILE *out, const struct profile_event *events,
                          size_t count)
{
    size_t best = 0, best_len = 0, index = 0;
    for (size_t start = 0; start < count; index++) {
        size_t len = timeline_thread_run(events, count, start);
        if (len > best_len) {
            best = index;
            best_len = len;
        }
        start += len;
    }
    fprintf(out, "\"activeProfileIndex\":%zu,\n\"profiles\":[", best);
    struct run *runs = xcalloc(count, sizeof(*runs));
    struct units u = units_of(profile_meta_const(p), 1); /* weights are ticks */
    for (size_t start = 0; start < count;) {
        size_t len = timeline_thread_run(events, count, start);
        char name[256];
        timeline_thread_label(p, events[start].thread, name, sizeof(name));
        if (start)
            fputs(",\n", out);
        write_profile(p, out, name, &u, runs, thread_runs(events + start, len, runs));
        start += len;
    }
    fputs("]", out);
    free(runs);
}

/* Writes p as a speedscope file; returns 0 or -SG_EIO when writing fails. */
int speedscope_write(const struct profile *p, FILE *out, const struct format_options *opt)
{
    const struct profile_meta *m = profile_meta_const(p);
    const char *name = m->target ? m->target : m->title ? m->title : "spyglass profile";
    fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n", out);
    fputs("\"exporter\":", out);
    json_string(out, json_exporter());
    fputs(",\n\"name\":", out);
    json_string(out, name);
    fputs(",\n", out);
    write_frames(p, out, opt);

    size_t count = 0;
    struct profile_event *events = timeline_sorted(p, &count);
    if (count > 0)
        write_threads(p, out, events, count);
    else
        write_aggregate(p, out);
    free(events);
    fputs("}\n", out);
    return fflush(out) != 0 || ferror(out) ? -SG_EIO : 0;
}
