/*
 * view.h - what the `top` view shows of a snapshot: which rows, in which
 * order, and the keys that change it.
 *
 * Key handling is one table of (key, action, help text): the screen looks a
 * pressed key up in it, and the `?` help screen is generated from it, so the
 * two cannot disagree. Nothing here draws; screen.c (ncurses) and text.c
 * (plain text) render the rows built here.
 */
#ifndef SPYGLASS_TUI_VIEW_H
#define SPYGLASS_TUI_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "tui/top.h"

enum top_sort {
    TOP_SORT_OWN,   /* own time: %Own, OwnTime */
    TOP_SORT_TOTAL, /* total time: %Total, TotalTime */
    TOP_SORT_NAME,  /* function name */
    TOP_SORT_FILE,  /* file:line */
};

struct top_view {
    enum top_sort sort;
    int reverse;       /* sort the other way round */
    int by_function;   /* one row per function instead of per line */
    int idle;          /* count idle samples too */
    int split_threads; /* one row per (thread, function or line) */
    int one_thread;    /* show only thread `thread` */
    int endpoints;     /* top --by-endpoint: the "threads" are HTTP endpoints */
    uint64_t thread;   /* its key (struct top_thread.key) */
    int paused;        /* the display is frozen (sampling goes on) */
    int help;          /* the help screen is up */
    size_t scroll;     /* first row shown */
};

/* Keys that are not single characters; the screen maps its key codes to these. */
enum {
    TOP_KEY_UP = 0x1001,
    TOP_KEY_DOWN,
    TOP_KEY_PAGE_UP,
    TOP_KEY_PAGE_DOWN,
    TOP_KEY_HOME,
};

enum top_action {
    TOP_ACT_SORT_OWN,
    TOP_ACT_SORT_TOTAL,
    TOP_ACT_SORT_NAME,
    TOP_ACT_SORT_FILE,
    TOP_ACT_LINES,
    TOP_ACT_IDLE,
    TOP_ACT_THREADS,
    TOP_ACT_ALL_THREADS,
    TOP_ACT_ENDPOINTS,
    TOP_ACT_PAUSE,
    TOP_ACT_RESET, /* the caller resets the model */
    TOP_ACT_QUIT,  /* the caller quits */
    TOP_ACT_HELP,
    TOP_ACT_UP,
    TOP_ACT_DOWN,
    TOP_ACT_PAGE_UP,
    TOP_ACT_PAGE_DOWN,
    TOP_ACT_HOME,
};

struct top_key {
    int key;           /* a character, or a TOP_KEY_* code */
    const char *label; /* how the help screen names it: "space", "PgUp" */
    enum top_action action;
    const char *help; /* what it does, one line */
};

/* The key table, and its length. Several keys may share an action. */
extern const struct top_key top_keys[];
extern const size_t top_nkeys;

/* Returns the table entry for key, or NULL. */
const struct top_key *top_key_find(int key);

void top_view_init(struct top_view *v);

/* Applies an action to the view. s is the snapshot on screen (for cycling
 * threads); page is the number of table rows that fit. Returns 1 if the view
 * changed, 0 if not; TOP_ACT_RESET and TOP_ACT_QUIT only tell the caller. */
int top_view_apply(struct top_view *v, enum top_action a, const struct top_snapshot *s,
                   size_t page);

/* Writes the help screen's lines (one per key-table row, keys sharing an
 * action on one line) into lines[0..max) of width width. Returns the count. */
size_t top_help_lines(char (*lines)[128], size_t max);

/* One table row. Strings point into the snapshot's model. */
struct top_row {
    const char *name;
    const char *file;
    int line;
    const char *thread; /* thread name when split by thread, else NULL */
    uint64_t thread_key;
    uint64_t own, total;       /* samples */
    double own_pct, total_pct; /* of all samples shown */
    double own_s, total_s;     /* seconds */
};

/* Builds the rows the view shows from s: filtered (idle, thread), merged
 * across threads unless split, sorted. *rows is grown as needed (caller
 * frees). Returns the number of rows. */
size_t top_rows(const struct top_snapshot *s, const struct top_view *v, struct top_row **rows,
                size_t *cap);

/* Where thread key comes in the `t` cycle (1-based), and in *count how many
 * threads it cycles through (those with samples in the window). */
size_t top_thread_position(const struct top_snapshot *s, uint64_t key, size_t *count);

/* The name of the thread with key, "" if unknown or absent. */
const char *top_thread_name(const struct top_snapshot *s, uint64_t key);

#endif
