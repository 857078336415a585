/*
 * top.h - the model behind `spyglass top`: sample counts per function and per
 * line, per thread, over a sliding time window.
 *
 * The sampler side feeds it one tick at a time (top_model_tick, then
 * top_model_add per thread stack); the view side copies what it needs with
 * top_model_snapshot and never looks inside. The model does no locking and
 * no I/O: cmd_top.c holds a mutex around every call, and the unit tests drive
 * it with hand-made stacks and clocks.
 *
 * Every sample is counted twice, at two granularities: per (function, line)
 * and per function, so the view can switch between them without losing
 * history. Idle samples are kept apart from active ones for the same reason
 * (the `i` key). With a window of S seconds, counts live in TOP_BUCKETS
 * buckets of S/TOP_BUCKETS seconds each; as time moves on, the oldest bucket
 * is emptied, so the counts cover the last S seconds to within S/TOP_BUCKETS.
 */
#ifndef SPYGLASS_TUI_TOP_H
#define SPYGLASS_TUI_TOP_H

#include <stddef.h>
#include <stdint.h>

#include "profile/strtab.h"

#define TOP_BUCKETS 10
/* The most entries (rows per line and per function, for all threads and per
 * thread) a model makes; past it, new frames are counted as TOP_OTHER. About
 * 100 bytes each (more with a window), so at most ~26 MiB plus names. */
#define TOP_MAX_ENTRIES ((size_t)1 << 18)
#define TOP_OTHER "(other)"

struct top_model;

/* One frame of a stack. Strings need to live only for the call. */
struct top_frame {
    const char *name; /* qualified function name */
    const char *file;
    int line;       /* the line executing in this frame */
    int first_line; /* the function's first line (keys the function rows) */
};

/* What is known about a tick as a whole. */
struct top_tick {
    uint64_t now_ns;  /* a monotonic clock; ticks must not go backwards */
    int gil_held;     /* some thread held the GIL */
    unsigned threads; /* Python threads seen */
    unsigned active;  /* of which running (not idle) */
};

/* One thread's stack in the current tick. */
struct top_stack {
    uint64_t thread;                /* a stable key for the thread (OS tid, else ident) */
    const char *thread_name;        /* "" or NULL if unknown; the last non-empty one sticks */
    const struct top_frame *frames; /* leaf (most recent call) first */
    size_t depth;                   /* > 0 */
    int idle;                       /* the OS says the thread was not running */
};

/* The thread index of entries that sum all threads. */
#define TOP_ALL_THREADS UINT32_MAX

/* A counted row, as copied out by a snapshot. [0] counts active samples,
 * [1] idle ones. Strings belong to the snapshot (valid until it is taken
 * again or released). */
struct top_entry {
    const char *name;
    const char *file;
    int line;          /* the line (line entries) or the function's first line */
    uint32_t thread;   /* index into the snapshot's threads, or TOP_ALL_THREADS */
    uint64_t own[2];   /* samples with this frame as the leaf */
    uint64_t total[2]; /* samples with this frame anywhere in the stack (counted once) */
};

struct top_thread {
    uint64_t key;
    const char *name;    /* "" if unknown */
    uint64_t samples[2]; /* stacks of this thread in the window: active, idle */
};

/* Everything the view needs, copied out under the caller's lock: each
 * function and line once for all threads together (thread TOP_ALL_THREADS)
 * and once per live thread. Entries with no samples in the window are left
 * out; threads that have gone away may be (see top.c). */
struct top_snapshot {
    struct top_entry *lines, *funcs;
    size_t nlines, nfuncs, lines_cap, funcs_cap;
    struct top_thread *threads;
    size_t nthreads, threads_cap;
    uint64_t ticks;      /* ticks in the window */
    uint64_t gil_ticks;  /* of which some thread held the GIL */
    uint64_t samples[2]; /* thread stacks in the window: active, idle */
    uint64_t span_ns;    /* wall time the window covers (one tick = one period) */
    uint64_t ticks_since_reset;
    unsigned last_threads, last_active; /* from the latest tick */
    double window_s;                    /* 0: all time */
    uint64_t other_stacks;              /* stacks counted with an "(other)" frame, all run */
    struct strtab strings;              /* the snapshot's own copies of the names */
};

/* Allocates a model. window_s 0 means all time; period_ns is the sampling
 * period (the time one tick stands for). Never returns NULL. */
struct top_model *top_model_new(double window_s, uint64_t period_ns);
/* Frees the model; no-op on NULL. Snapshots taken from it become invalid. */
void top_model_free(struct top_model *m);

/* Starts a tick: moves the window to t->now_ns and counts the tick. */
void top_model_tick(struct top_model *m, const struct top_tick *t);
/* Adds another process's figures to the current tick (top --subprocesses
 * reads several processes per tick): threads and active add up, and the
 * tick counts as holding a GIL if any process's did. */
void top_model_tick_more(struct top_model *m, const struct top_tick *t);
/* Adds one thread's stack to the current tick. */
void top_model_add(struct top_model *m, const struct top_stack *s);
/* Forgets every count, thread and name (snapshots keep their own copies);
 * the next tick starts a new window. */
void top_model_reset(struct top_model *m);

/* Caps the entries the model makes (default TOP_MAX_ENTRIES). */
void top_model_set_max_entries(struct top_model *m, size_t entries);

/* Returns the stacks counted with an "(other)" frame since the model was
 * made (resets included), and sets *all to every stack counted. */
uint64_t top_model_other(const struct top_model *m, uint64_t *all);

/* Number of distinct names held (what renewing the string table bounds). */
size_t top_model_string_count(const struct top_model *m);

/* Number of entries held (including ones whose window counts are zero). */
size_t top_model_entries(const struct top_model *m);

/* Copies the model's window into s (arrays reused and grown as needed). */
void top_model_snapshot(const struct top_model *m, struct top_snapshot *s);
void top_snapshot_init(struct top_snapshot *s);
void top_snapshot_release(struct top_snapshot *s);

#endif
