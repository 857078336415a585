/*
 * window.h - the agent's windows: one profile per process per --every
 * seconds.
 *
 * After each walk of a process the sampler hands the walker to
 * windows_add_walk, which folds its threads into that process's current
 * window, each stack led by its sample labels as PF_LABEL frames (thread,
 * idle, gil, endpoint; see agent/encode.h). Every --every seconds the agent
 * calls windows_flush: each window that saw a walk is handed to the caller
 * (who encodes and spools it) and replaced by a fresh profile, so memory
 * holds one window per process, never the history; the window of a process
 * that exited is handed over one last time and freed. A window's profile is
 * capped (profile_limits_for(WINDOW_MAX_FRAMES): 4,096 frames, 16,384
 * stacks, about 4 MiB at most): past the caps, samples count under
 * "(other)". A 15 s window at 19 Hz holds a few thousand samples per thread.
 */
#ifndef SPYGLASS_AGENT_WINDOW_H
#define SPYGLASS_AGENT_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/encode.h"
#include "collect/fold.h"
#include "profile/profile.h"
#include "python/walk.h"
#include "sample/procset.h"

#define WINDOW_MAX_FRAMES 4096

struct window_options {
    double rate_hz;
    int idle;            /* keep waiting threads (labelled idle="true") */
    int by_endpoint;     /* label each sample with its HTTP endpoint */
    const char *service; /* --service, or NULL: from the process */
    const char *host;
};

struct window {
    pid_t pid;
    uint64_t start_time; /* with pid, names the process */
    struct agent_labels labels;
    struct profile *profile;
    struct fold fold;
    uint64_t walks;         /* walks of the process in this window */
    uint64_t start_unix_ns; /* when the window began */
    uint64_t start_mono_ns;
    uint64_t end_mono_ns; /* set by windows_flush */
    int gone;             /* the process has exited: this is its last window */
};

struct windows {
    struct window_options opt;
    struct window **v;
    size_t count, cap;
    uint64_t stacks_kept; /* thread samples folded since the start */
};

void windows_init(struct windows *ws, const struct window_options *opt);
void windows_release(struct windows *ws);

/* Folds the walk w just made of a process (started at start_time, ticks
 * since boot) into its window, opening one if needed. */
void windows_add_walk(struct windows *ws, const struct walker *w, uint64_t start_time);

/* Called once per window handed over by windows_flush. */
typedef void (*window_fn)(const struct window *win, void *ctx);

/* Closes every window that saw a walk (its profile's metadata filled in)
 * and hands it to fn, then starts it afresh; windows of processes no longer
 * sampled in set are handed over (if they saw a walk) and freed. Returns
 * the number handed over. */
size_t windows_flush(struct windows *ws, struct procset *set, window_fn fn, void *ctx);

/* The CLOCK_REALTIME time in ns. */
uint64_t window_unix_ns(void);

#endif
