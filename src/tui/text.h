/*
 * text.h - the `top` view as lines of text: the header, the column layout
 * for a given width, table rows, and the plain-text snapshot printed when
 * stdout is not a terminal. screen.c puts the same lines on an ncurses
 * screen, so what the tests read from a pipe is what a terminal shows.
 *
 * Everything that came from the target (names, paths) goes through top_fit,
 * which replaces control characters and invalid UTF-8 by '?': a function
 * name can never move the cursor or recolour the terminal.
 */
#ifndef SPYGLASS_TUI_TEXT_H
#define SPYGLASS_TUI_TEXT_H

#include <stdint.h>
#include <stdio.h>

#include "tui/top.h"
#include "tui/view.h"
#include "util/util.h"

enum top_trunc {
    TOP_TRUNC_END,    /* "very_long_function_na…" */
    TOP_TRUNC_MIDDLE, /* "/usr/lib/py…/json/decoder.py:353": keeps the file and line */
};

/* Appends s to out, made safe for a terminal (control characters and
 * invalid UTF-8 become '?'; with ascii_only every non-ASCII character too),
 * cut to at most width columns with an ellipsis ("…", or "..." if
 * ascii_only) at the end or in the middle, then padded with spaces to width
 * if pad. width 0 means no limit. Returns the columns appended. */
size_t top_fit(struct strbuf *out, const char *s, size_t width, enum top_trunc how, int ascii_only,
               int pad);
/* The number of columns s takes once made safe. */
size_t top_text_width(const char *s, int ascii_only);

/* Formats a duration: "0.42s", "12.3s", "2m05s", "3h07m". */
void top_format_seconds(double seconds, char *buf, size_t size);

/* What the command knows beyond the snapshot, for the header. */
struct top_status {
    int pid;
    const char *command;        /* the target's command line */
    const char *python_version; /* "3.11.7" */
    double elapsed_s;           /* since sampling started */
    uint64_t ticks;             /* sampler ticks attempted since the start */
    uint64_t errors;            /* of which failed */
    int gil_only;               /* --gil */
    double since_reset_s;       /* seconds since the r key reset the counts; < 0: never */
};

#define TOP_HEADER_LINES 3

/* Writes the header lines (process; samples, rate, threads, GIL, idle,
 * errors; the view) into lines[0..TOP_HEADER_LINES), each reset first. */
void top_header(const struct top_status *st, const struct top_snapshot *s, const struct top_view *v,
                struct strbuf lines[TOP_HEADER_LINES]);

/* Where each column goes. Columns with width 0 are not shown. */
struct top_layout {
    size_t width; /* screen width; 0: unlimited (plain text) */
    int times;    /* OwnTime and TotalTime shown */
    size_t thread_w, func_w, file_w;
    int ascii_only;
    int full_paths; /* else paths are shortened (site-packages, stdlib) */
};

/* Fits the columns into width (0: as wide as the rows need): the numbers
 * first, then thread (when split), function and file:line share what is
 * left; on narrow screens the times and then file:line are dropped. */
void top_layout(struct top_layout *l, size_t width, const struct top_view *v,
                const struct top_row *rows, size_t nrows, int ascii_only, int full_paths);

/* The column heading line, and the [start, end) columns of the sorted
 * column's title (for highlighting). */
void top_format_heading(const struct top_layout *l, const struct top_view *v, struct strbuf *out,
                        size_t *sort_start, size_t *sort_end);
/* One table row. */
void top_format_row(const struct top_layout *l, const struct top_row *r, struct strbuf *out);

/* Prints a plain-text snapshot: the header, the heading and at most
 * max_rows rows (0: all), then an empty line. Returns 0, or -1 if writing
 * failed (e.g. the pipe was closed). */
int top_write_text(FILE *out, const struct top_status *st, const struct top_snapshot *s,
                   const struct top_view *v, const struct top_row *rows, size_t nrows,
                   size_t max_rows, int full_paths);

#endif
