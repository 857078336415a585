/*
 * text.c - the `top` view as text: safe, width-aware truncation, the
 * header, column layout and rows, and the plain-text snapshot.
 *
 * Widths are display columns: a UTF-8 character counts as wcwidth() says
 * (1 where the locale cannot tell), so a line never runs past the screen.
 */
#include "tui/text.h"

#include <inttypes.h>
#include <string.h>
#include <wchar.h>

#include "format/format.h"
#include "util/utf8.h"

/* One character as it will be shown. */
struct glyph {
    char bytes[4];
    size_t len;
    size_t width;
};

/* Reads one character of s into g, replaced by '?' if a terminal could act
 * on it (C0 and C1 controls, DEL), if it is not valid UTF-8, or if it is not
 * ASCII and ascii_only. Returns the bytes consumed, 0 at the end. */
static size_t next_glyph(const char *str, int ascii_only, struct glyph *g)
{
    const unsigned char *s = (const unsigned char *)str;
    if (!*s)
        return 0;
    uint32_t code;
    size_t n = utf8_decode(s, 4, &code); /* stops at a NUL */
    long cp = n ? (long)code : -1;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || (ascii_only && cp >= 0x80)) {
        g->bytes[0] = '?';
        g->len = g->width = 1;
        return cp < 0 ? 1 : n;
    }
    memcpy(g->bytes, s, n);
    g->len = n;
    int w = cp < 0x80 ? 1 : wcwidth((wchar_t)cp);
    g->width = w < 0 ? 1 : (size_t)w;
    return n;
}

size_t top_text_width(const char *s, int ascii_only)
{
    struct glyph g;
    size_t width = 0, n;
    while ((n = next_glyph(s, ascii_only, &g)) != 0) {
        width += g.width;
        s += n;
    }
    return width;
}

/* Appends glyphs of s while they fit in budget columns; returns the columns used. */
static size_t emit_head(struct strbuf *out, const char *s, size_t budget, int ascii_only)
{
    struct glyph g;
    size_t used = 0, n;
    while ((n = next_glyph(s, ascii_only, &g)) != 0 && used + g.width <= budget) {
        strbuf_add(out, g.bytes, g.len);
        used += g.width;
        s += n;
    }
    return used;
}

/* Appends the shortest tail of s (total columns wide) that fits in budget. */
static size_t emit_tail(struct strbuf *out, const char *s, size_t total, size_t budget,
                        int ascii_only)
{
    struct glyph g;
    size_t n;
    while (total > budget && (n = next_glyph(s, ascii_only, &g)) != 0) {
        total -= g.width;
        s += n;
    }
    return emit_head(out, s, budget, ascii_only);
}

static void pad_to(struct strbuf *out, size_t used, size_t width)
{
    for (; used < width; used++)
        strbuf_addch(out, ' ');
}

size_t top_fit(struct strbuf *out, const char *s, size_t width, enum top_trunc how, int ascii_only,
               int pad)
{
    size_t total = top_text_width(s, ascii_only), used;
    if (width == 0 || total <= width) {
        used = emit_head(out, s, total, ascii_only);
    } else {
        const char *ell = ascii_only ? "..." : "\xe2\x80\xa6";
        size_t ell_w = ascii_only ? 3 : 1;
        if (width <= ell_w) {
            used = how == TOP_TRUNC_END ? emit_head(out, s, width, ascii_only)
                                        : emit_tail(out, s, total, width, ascii_only);
        } else {
            size_t avail = width - ell_w;
            size_t head = how == TOP_TRUNC_END ? avail : avail / 3;
            used = emit_head(out, s, head, ascii_only);
            strbuf_addstr(out, ell);
            used += ell_w;
            if (how == TOP_TRUNC_MIDDLE)
                used += emit_tail(out, s, total, avail - head, ascii_only);
        }
    }
    if (pad && width)
        pad_to(out, used, width);
    return pad && width > used ? width : used;
}

void top_format_seconds(double seconds, char *buf, size_t size)
{
    if (!(seconds > 0))
        seconds = 0;
    if (seconds < 9.995)
        snprintf(buf, size, "%.2fs", seconds);
    else if (seconds < 99.95)
        snprintf(buf, size, "%.1fs", seconds);
    else if (seconds < 3600)
        snprintf(buf, size, "%dm%02ds", (int)seconds / 60, (int)seconds % 60);
    else
        snprintf(buf, size, "%dh%02dm", (int)(seconds / 3600), (int)seconds % 3600 / 60);
}

static double percent(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

static const char *sort_title(enum top_sort sort)
{
    switch (sort) {
    case TOP_SORT_OWN:
        return "%Own";
    case TOP_SORT_TOTAL:
        return "%Total";
    case TOP_SORT_NAME:
        return "Function";
    case TOP_SORT_FILE:
        return "file:line";
    }
    return "?";
}

/* Line 3: what the table shows. */
static void view_line(const struct top_status *st, const struct top_snapshot *s,
                      const struct top_view *v, struct strbuf *out)
{
    strbuf_addf(out, "view: %s, ", v->by_function ? "functions" : "lines");
    const char *unit = v->endpoints ? "endpoint" : "thread";
    if (v->one_thread) {
        size_t count, pos = top_thread_position(s, v->thread, &count);
        strbuf_addf(out, "%s %zu/%zu \"", unit, pos, count);
        top_fit(out, top_thread_name(s, v->thread), 40, TOP_TRUNC_END, 0, 0);
        if (v->endpoints)
            strbuf_addch(out, '"');
        else
            strbuf_addf(out, "\" (%" PRIu64 ")", v->thread);
    } else {
        strbuf_addf(out, v->split_threads ? "each %s" : "all %ss", unit);
    }
    strbuf_addf(out, ", idle %s%s, sort %s%s, ", v->idle ? "shown" : "hidden",
                st->gil_only ? ", GIL holder only" : "", sort_title(v->sort),
                v->reverse ? " (reversed)" : "");
    if (s->window_s > 0)
        strbuf_addf(out, "window %gs", s->window_s);
    else
        strbuf_addstr(out, "all time");
    if (st->since_reset_s >= 0) {
        char ago[32];
        top_format_seconds(st->since_reset_s, ago, sizeof(ago));
        strbuf_addf(out, ", reset %s ago", ago);
    }
    if (v->paused)
        strbuf_addstr(out, "  [PAUSED]");
}

void top_header(const struct top_status *st, const struct top_snapshot *s, const struct top_view *v,
                struct strbuf lines[TOP_HEADER_LINES])
{
    char elapsed[32];
    for (int i = 0; i < TOP_HEADER_LINES; i++) {
        lines[i].len = 0;
        strbuf_addstr(&lines[i], "");
    }
    top_format_seconds(st->elapsed_s, elapsed, sizeof(elapsed));
    strbuf_addf(&lines[0], "spyglass top: pid %d, Python %s, elapsed %s: ", st->pid,
                st->python_version, elapsed);
    top_fit(&lines[0], st->command ? st->command : "", 200, TOP_TRUNC_END, 0, 0);

    uint64_t active = s->samples[0], idle = s->samples[1];
    if (v->one_thread) {
        active = idle = 0;
        for (size_t i = 0; i < s->nthreads; i++) {
            if (s->threads[i].key == v->thread) {
                active = s->threads[i].samples[0];
                idle = s->threads[i].samples[1];
            }
        }
    }
    strbuf_addf(&lines[1],
                "samples %" PRIu64 ", %.1f Hz, threads %u active of %u, GIL %.1f%%, "
                "idle %.1f%%, errors %" PRIu64 " (%.1f%%)",
                s->ticks_since_reset, st->elapsed_s > 0 ? (double)st->ticks / st->elapsed_s : 0,
                s->last_active, s->last_threads, percent(s->gil_ticks, s->ticks),
                percent(idle, active + idle), st->errors, percent(st->errors, st->ticks));
    view_line(st, s, v, &lines[2]);
}

/* "file:line" (or "file" when the line is unknown), shortened unless full. */
static void location(const struct top_layout *l, const struct top_row *r, struct strbuf *out)
{
    out->len = 0;
    strbuf_addstr(out, l->full_paths ? r->file : format_short_path(r->file));
    if (r->line > 0)
        strbuf_addf(out, ":%d", r->line);
}

/* Widths of the number columns: "%Own %Total" and " OwnTime TotalTime". */
#define PCT_COLS 13
#define TIME_COLS 20
#define SEP 2

void top_layout(struct top_layout *l, size_t width, const struct top_view *v,
                const struct top_row *rows, size_t nrows, int ascii_only, int full_paths)
{
    memset(l, 0, sizeof(*l));
    l->width = width;
    l->ascii_only = ascii_only;
    l->full_paths = full_paths;
    size_t want_f = 8, want_l = 9, want_t = v->split_threads ? 6 : 0;
    struct strbuf loc;
    strbuf_init(&loc);
    for (size_t i = 0; i < nrows && (width == 0 || i < 500); i++) {
        size_t w = top_text_width(rows[i].name, ascii_only);
        want_f = w > want_f ? w : want_f;
        location(l, &rows[i], &loc);
        w = top_text_width(loc.buf, ascii_only);
        want_l = w > want_l ? w : want_l;
        if (v->split_threads && rows[i].thread) {
            w = top_text_width(rows[i].thread, ascii_only);
            want_t = w > want_t ? w : want_t;
        }
    }
    strbuf_release(&loc);
    if (width == 0) {
        l->times = 1;
        l->thread_w = want_t;
        l->func_w = want_f;
        l->file_w = want_l;
        return;
    }
    l->times = width >= PCT_COLS + TIME_COLS + SEP + 24;
    size_t fixed = PCT_COLS + (l->times ? TIME_COLS : 0) + SEP;
    size_t rest = width > fixed ? width - fixed : 0;
    if (want_t && rest >= 24) {
        size_t most = v->endpoints ? 32 : 16; /* "GET /users/<int:user_id>" */
        l->thread_w = want_t < most ? want_t : most;
        if (l->thread_w > rest / (v->endpoints ? 3 : 4))
            l->thread_w = rest / (v->endpoints ? 3 : 4);
        rest -= l->thread_w + SEP;
    }
    if (rest < 30) {
        l->func_w = rest;
    } else if (want_f + SEP + want_l <= rest) {
        l->func_w = want_f;
        l->file_w = rest - SEP - want_f;
    } else {
        size_t share = rest * 2 / 5, leave = rest - SEP - want_l;
        size_t f = share > leave || want_l > rest - SEP ? share : leave;
        l->func_w = want_f < f ? want_f : f;
        l->file_w = rest - SEP - l->func_w;
    }
}

void top_format_heading(const struct top_layout *l, const struct top_view *v, struct strbuf *out,
                        size_t *sort_start, size_t *sort_end)
{
    size_t col = 0, start = 0, end = 0;
    strbuf_addf(out, "%6s %6s", "%Own", "%Total");
    col = PCT_COLS;
    if (v->sort == TOP_SORT_OWN)
        start = 2, end = 6;
    if (v->sort == TOP_SORT_TOTAL)
        start = 7, end = 13;
    if (l->times) {
        strbuf_addf(out, " %9s %9s", "OwnTime", "TotalTime");
        col += TIME_COLS;
    }
    if (l->thread_w) {
        strbuf_addstr(out, "  ");
        col += SEP +
               top_fit(out, v->endpoints ? "Endpoint" : "Thread", l->thread_w, TOP_TRUNC_END, 1, 1);
    }
    if (l->func_w) {
        strbuf_addstr(out, "  ");
        col += SEP;
        if (v->sort == TOP_SORT_NAME)
            start = col, end = col + (l->func_w < 8 ? l->func_w : 8);
        col += top_fit(out, "Function", l->func_w, TOP_TRUNC_END, 1, l->file_w != 0);
    }
    if (l->file_w) {
        const char *title = v->by_function ? "file:first line" : "file:line";
        strbuf_addstr(out, "  ");
        col += SEP;
        size_t w = top_fit(out, title, l->file_w, TOP_TRUNC_END, 1, 0);
        if (v->sort == TOP_SORT_FILE)
            start = col, end = col + w;
    }
    if (sort_start)
        *sort_start = start;
    if (sort_end)
        *sort_end = end;
}

void top_format_row(const struct top_layout *l, const struct top_row *r, struct strbuf *out)
{
    strbuf_addf(out, "%5.1f%% %5.1f%%", r->own_pct, r->total_pct);
    if (l->times) {
        char own[32], total[32];
        top_format_seconds(r->own_s, own, sizeof(own));
        top_format_seconds(r->total_s, total, sizeof(total));
        strbuf_addf(out, " %9s %9s", own, total);
    }
    if (l->thread_w) {
        strbuf_addstr(out, "  ");
        top_fit(out, r->thread ? r->thread : "", l->thread_w, TOP_TRUNC_END, l->ascii_only, 1);
    }
    if (l->func_w) {
        strbuf_addstr(out, "  ");
        top_fit(out, r->name, l->func_w, TOP_TRUNC_END, l->ascii_only, l->file_w != 0);
    }
    if (l->file_w) {
        struct strbuf loc;
        strbuf_init(&loc);
        location(l, r, &loc);
        strbuf_addstr(out, "  ");
        top_fit(out, loc.buf, l->width ? l->file_w : 0, TOP_TRUNC_MIDDLE, l->ascii_only, 0);
        strbuf_release(&loc);
    }
}

int top_write_text(FILE *out, const struct top_status *st, const struct top_snapshot *s,
                   const struct top_view *v, const struct top_row *rows, size_t nrows,
                   size_t max_rows, int full_paths)
{
    struct strbuf lines[TOP_HEADER_LINES], line;
    for (int i = 0; i < TOP_HEADER_LINES; i++)
        strbuf_init(&lines[i]);
    strbuf_init(&line);
    top_header(st, s, v, lines);
    for (int i = 0; i < TOP_HEADER_LINES; i++) {
        fprintf(out, "%s\n", lines[i].buf);
        strbuf_release(&lines[i]);
    }
    size_t shown = max_rows && nrows > max_rows ? max_rows : nrows;
    struct top_layout l;
    top_layout(&l, 0, v, rows, shown, 0, full_paths);
    top_format_heading(&l, v, &line, NULL, NULL);
    fprintf(out, "%s\n", line.buf);
    for (size_t i = 0; i < shown; i++) {
        line.len = 0;
        top_format_row(&l, &rows[i], &line);
        fprintf(out, "%s\n", line.buf);
    }
    if (shown < nrows)
        fprintf(out, "(%zu more rows)\n", nrows - shown);
    fputc('\n', out);
    strbuf_release(&line);
    fflush(out);
    return ferror(out) ? -1 : 0;
}
