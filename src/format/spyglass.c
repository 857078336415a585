/*
 * spyglass.c - spyglass's own profile file (--format spyglass, .spyglass):
 * everything a struct profile holds except the timeline, in plain text that
 * import/spyglass.c reads back exactly, so `spyglass report --lines` can
 * work from a saved `record --memory`.
 *
 *   spyglass-profile 1
 *   meta    KEY     VALUE
 *   frame   KIND    LINE    FILE    NAME    [FIRST_LINE]
 *   stack   WEIGHT  SAMPLES GROWN   FREED   PEAK_RSS        ID ID ...
 *
 * Fields are separated by one tab. Frames are numbered 0, 1, ... in the
 * order of their lines; a stack lists its frame numbers root first,
 * separated by spaces (none for an empty stack). KIND is python, thread,
 * process, endpoint or native. FIRST_LINE, where the frame's function
 * starts (its def line), is written when known and is optional to readers
 * (files from before it have five fields). SAMPLES, GROWN, FREED and PEAK_RSS are the
 * stack's memory weights (struct profile_memory; 0 without --memory). Meta
 * keys: title, target, python_version, unit, note (text), rate_hz,
 * duration_s (decimal), samples, errors, peak_rss, peak_rss_ns, final_rss,
 * memory (integers). In text, tabs, newlines and every other control
 * character become '?', the only change made to any string. Files are kept
 * in full (no shortening): the line report reads the source from them.
 */
#include <inttypes.h>
#include <stdio.h>

#include "format/format.h"
#include "util/err.h"

static const char *const kind_names[] = {"python",   "thread", "process",
                                         "endpoint", "native", "native_code"};

/* Writes s with control characters replaced by '?'. */
static void put_text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        putc(c < 0x20 || c == 0x7f ? '?' : (char)c, out);
    }
}

static void put_meta_text(FILE *out, const char *key, const char *value)
{
    if (!value)
        return;
    fprintf(out, "meta\t%s\t", key);
    put_text(out, value);
    putc('\n', out);
}

static void put_meta(FILE *out, const struct profile *p)
{
    const struct profile_meta *m = profile_meta_const(p);
    put_meta_text(out, "title", m->title);
    put_meta_text(out, "target", m->target);
    put_meta_text(out, "python_version", m->python_version);
    put_meta_text(out, "unit", m->unit);
    put_meta_text(out, "note", m->note);
    fprintf(out, "meta\trate_hz\t%.17g\nmeta\tduration_s\t%.17g\n", m->rate_hz, m->duration_s);
    fprintf(out,
            "meta\tsamples\t%" PRIu64 "\nmeta\terrors\t%" PRIu64 "\nmeta\tpeak_rss\t%" PRIu64
            "\nmeta\tpeak_rss_ns\t%" PRIu64 "\nmeta\tfinal_rss\t%" PRIu64 "\nmeta\tmemory\t%d\n",
            m->samples, m->errors, m->peak_rss, m->peak_rss_ns, m->final_rss,
            profile_memory_enabled(p));
}

/* Writes p in spyglass's own format. Returns 0 or -SG_EIO. */
int spyglass_write(const struct profile *p, FILE *out, const struct format_options *opt)
{
    (void)opt;
    fputs("spyglass-profile 1\n", out);
    put_meta(out, p);
    size_t frames = profile_frame_count(p), stacks = profile_stack_count(p);
    for (size_t i = 0; i < frames; i++) {
        const struct profile_frame *f = profile_frame(p, (uint32_t)i);
        unsigned kind = (unsigned)f->kind < 6 ? (unsigned)f->kind : 0;
        fprintf(out, "frame\t%s\t%d\t", kind_names[kind], f->line);
        put_text(out, f->file);
        putc('\t', out);
        put_text(out, f->name);
        if (f->first_line > 0)
            fprintf(out, "\t%d", f->first_line);
        putc('\n', out);
    }
    static const struct profile_memory none = {0, 0, 0, 0};
    for (size_t i = 0; i < stacks; i++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *ids = profile_stack(p, (uint32_t)i, &depth, &weight);
        const struct profile_memory *m = profile_stack_memory(p, (uint32_t)i);
        if (!m)
            m = &none;
        fprintf(out, "stack\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t",
                weight, m->samples, m->grown, m->freed, m->peak_rss);
        for (size_t d = 0; d < depth; d++)
            fprintf(out, d ? " %" PRIu32 : "%" PRIu32, ids[d]);
        putc('\n', out);
    }
    return fflush(out) != 0 || ferror(out) ? -SG_EIO : 0;
}
