/*
 * collapsed.c - the collapsed-stack writer: one "frame;frame;frame count"
 * line per distinct stack, root first, as flamegraph.pl and inferno read it
 * (and import/collapsed.c reads back).
 *
 * A frame is written as "name (file:line)" for Python frames, "name (file)"
 * when the line is 0, and the bare name for synthetic frames (threads,
 * processes, endpoints, markers such as "(idle)") and for Python frames
 * without a file. Native frames (--native) are "symbol (library)", as
 * py-spy's --native writes them: "deflate (libz.so.1.2.13)". Files are
 * shown as format_display_path makes them (normalised, and shortened
 * unless opt->full_filenames).
 *
 * The format has no escape mechanism, so characters that would break it are
 * substituted in the frame text: ';' (the frame separator) becomes ',', and
 * every control character (bytes 0x00-0x1f, including newline, CR and tab,
 * and 0x7f) becomes '?'. An empty frame text is written as "?". Other bytes,
 * spaces and non-ASCII UTF-8 included, pass through: readers take the count
 * after the last space.
 *
 * Lines are sorted bytewise, so the same profile always gives the same bytes.
 * Stacks whose text comes out the same (two files shortened to one name, or
 * names differing only in substituted characters) are merged into one line
 * with the sum of their weights. Empty stacks and stacks of weight 0 are not
 * written: the format cannot express the first, and the second adds nothing.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "util/err.h"
#include "util/util.h"

struct line {
    const uint32_t *frames;
    size_t depth;
    uint64_t weight;
    char *const *labels; /* the frame texts, indexed by frame id */
};

/* Appends s to sb with the substitutions the format needs. */
static void add_sanitized(struct strbuf *sb, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ';')
            strbuf_addch(sb, ',');
        else if (c < 0x20 || c == 0x7f)
            strbuf_addch(sb, '?');
        else
            strbuf_addch(sb, (char)c);
    }
}

/* Returns the frame's text as it appears in a line; the caller frees it. */
static char *frame_text(const struct profile_frame *f, const struct format_options *opt)
{
    struct strbuf sb;
    strbuf_init(&sb);
    add_sanitized(&sb, f->name);
    if ((f->kind == PF_PYTHON || f->kind == PF_NATIVE_CODE) && f->file[0]) {
        strbuf_addstr(&sb, " (");
        char *path = format_display_path(f->file, opt && opt->full_filenames);
        add_sanitized(&sb, path);
        free(path);
        if (f->line != 0)
            strbuf_addf(&sb, ":%d", f->line);
        strbuf_addch(&sb, ')');
    }
    if (sb.len == 0)
        strbuf_addch(&sb, '?');
    return strbuf_detach(&sb);
}

/* A cursor over the characters of a line's stack text, as if the frame
 * texts were joined with ';', without building the joined string. */
struct cursor {
    const struct line *line;
    size_t frame;
    const char *s;
};

/* Returns the next character (0-255), or -1 at the end of the text. */
static int cursor_next(struct cursor *c)
{
    if (*c->s)
        return (unsigned char)*c->s++;
    if (c->frame + 1 >= c->line->depth)
        return -1;
    c->frame++;
    c->s = c->line->labels[c->line->frames[c->frame]];
    return ';';
}

/* Orders lines bytewise by their stack text. */
static int compare_lines(const void *a, const void *b)
{
    const struct line *la = a, *lb = b;
    struct cursor ca = {la, 0, la->labels[la->frames[0]]};
    struct cursor cb = {lb, 0, lb->labels[lb->frames[0]]};
    for (;;) {
        int x = cursor_next(&ca), y = cursor_next(&cb);
        if (x != y)
            return x < y ? -1 : 1;
        if (x < 0)
            return 0;
    }
}

static void write_line(FILE *out, const struct line *l, uint64_t weight)
{
    for (size_t i = 0; i < l->depth; i++) {
        if (i)
            putc(';', out);
        fputs(l->labels[l->frames[i]], out);
    }
    fprintf(out, " %" PRIu64 "\n", weight);
}

/* Writes p as collapsed stacks; returns 0 or -SG_EIO when writing fails. */
int collapsed_write(const struct profile *p, FILE *out, const struct format_options *opt)
{
    size_t frame_count = profile_frame_count(p), stack_count = profile_stack_count(p);
    char **labels = xcalloc(frame_count, sizeof(*labels));
    for (size_t i = 0; i < frame_count; i++)
        labels[i] = frame_text(profile_frame(p, (uint32_t)i), opt);

    struct line *lines = xcalloc(stack_count, sizeof(*lines));
    size_t line_count = 0;
    for (size_t i = 0; i < stack_count; i++) {
        struct line *l = &lines[line_count];
        l->frames = profile_stack(p, (uint32_t)i, &l->depth, &l->weight);
        l->labels = labels;
        if (l->depth > 0 && l->weight > 0)
            line_count++;
    }
    if (line_count > 1)
        qsort(lines, line_count, sizeof(*lines), compare_lines);

    for (size_t i = 0; i < line_count;) {
        uint64_t weight = lines[i].weight;
        size_t next = i + 1;
        for (; next < line_count && compare_lines(&lines[i], &lines[next]) == 0; next++)
            weight =
                weight > UINT64_MAX - lines[next].weight ? UINT64_MAX : weight + lines[next].weight;
        write_line(out, &lines[i], weight);
        i = next;
    }

    for (size_t i = 0; i < frame_count; i++)
        free(labels[i]);
    free(labels);
    free(lines);
    return fflush(out) != 0 || ferror(out) ? -SG_EIO : 0;
}
