/*
 * profile.h - an aggregated profile: interned strings -> frames -> stacks -> weights.
 *
 * The sampler (or an importer) adds stacks; writers in format/ read them back.
 * Memory grows with the number of distinct frames and stacks, never with the
 * number of samples, except for the optional timeline (only kept when a
 * timeline format such as chrometrace asks for it).
 *
 * Frames and stacks are identified by dense ids (0, 1, 2, ...) in insertion
 * order, so iteration and therefore every writer's output is deterministic.
 */
#ifndef SPYGLASS_PROFILE_H
#define SPYGLASS_PROFILE_H

#include <stddef.h>
#include <stdint.h>

struct profile;

enum profile_frame_kind {
    PF_PYTHON = 0,      /* a Python function */
    PF_THREAD = 1,      /* synthetic root: a thread ("thread 0x7f.. \"name\"") */
    PF_PROCESS = 2,     /* synthetic root: a process ("process 1234 python app.py") */
    PF_ENDPOINT = 3,    /* synthetic root: an HTTP endpoint ("GET /users/{n}") */
    PF_NATIVE = 4,      /* a marker for time outside Python frames ("(idle)", "(other)") */
    PF_NATIVE_CODE = 5, /* a native (C/C++) function (--native): name = its symbol, or
                           "LIBRARY+0xOFFSET" without one; file = the library's file
                           name ("libz.so.1.2.13"); line 0 */
    PF_LABEL = 6,       /* not a frame: a sample label (name = key, file = value); label
                           frames come first in a stack, and pprof writes them as labels */
};

struct profile_frame {
    const char *name; /* function name (qualified where known); never NULL */
    const char *file; /* source file; "" for synthetic frames */
    int line;         /* line number; 0 when aggregated by function or unknown */
    enum profile_frame_kind kind;
    int first_line; /* the function's first line (its def), 0 if unknown;
                       not part of the frame's identity */
};

/* What a profile says about itself; writers put it on the output's face. */
struct profile_meta {
    char *title;          /* e.g. "spyglass record" */
    char *target;         /* e.g. "pid 1234 (python app.py)" */
    char *python_version; /* e.g. "3.11.7" */
    char *unit;           /* weight unit: "samples" (default) */
    double rate_hz;       /* requested sampling rate; 0 if not sampled */
    double duration_s;    /* wall time covered */
    uint64_t samples;     /* sampling ticks taken */
    uint64_t errors;      /* ticks that failed */
    char *note;           /* extra subtitle text (e.g. how a call tree was built); may be NULL */
    /* Resident memory (record --memory); all 0 when not measured. */
    uint64_t peak_rss;    /* highest RSS seen at a sample, bytes */
    uint64_t peak_rss_ns; /* when it was first seen, since the start */
    uint64_t final_rss;   /* RSS at the last sample, bytes */

    /* When it began (wall clock, ns since the epoch); 0 if unknown. */
    uint64_t start_unix_ns;
};

/* Memory weights of one stack (record --memory): how often it was sampled,
 * the RSS growth and release attributed to it, and the highest RSS seen at a
 * sample where it was on a thread. */
struct profile_memory {
    uint64_t samples;
    uint64_t grown, freed; /* bytes */
    uint64_t peak_rss;     /* bytes */
};

/* One timeline event: a sample of one thread at one time. */
struct profile_event {
    uint64_t time_ns; /* since the start of the profile */
    uint64_t thread;  /* thread id (OS tid where known) */
    uint32_t stack;   /* stack id */
};

/* The most ids of one kind a profile hands out, and the deepest stack it
 * keeps (deeper ones are counted under "(other)"). */
#define PROFILE_MAX_IDS ((size_t)UINT32_MAX - 1)
#define PROFILE_MAX_DEPTH ((size_t)1 << 24)
/* The frame that stands for whatever went past a limit. */
#define PROFILE_OTHER "(other)"

/* What went past the limits (profile_set_limits). */
struct profile_overflow {
    uint64_t frames; /* frames that became "(other)" (calls refused) */
    uint64_t stacks; /* stacks added to the stack "(other)" */
    uint64_t weight; /* the weight (samples, or bytes) of every stack added
                        with an "(other)" frame in it, or to the stack "(other)" */
};

/* Allocates an empty profile. Never returns NULL. */
struct profile *profile_new(void);

/* What a profile keeps at most (profile_set_limits). */
struct profile_limits {
    size_t frames;       /* distinct frames */
    size_t stacks;       /* distinct stacks */
    size_t stack_frames; /* frame ids all stacks hold together (the memory of deep stacks) */
    size_t string_bytes; /* bytes of distinct names and file names */
};

/* The frames record and top keep by default: a large application shows a
 * few thousand distinct lines; a target that makes code without end (exec in
 * a loop) would otherwise grow spyglass for as long as it runs. */
#define PROFILE_DEFAULT_FRAMES ((size_t)1 << 16)

/* Limits scaled from a number of frames: 4 stacks per frame, 64 frame ids
 * per frame in all stacks, 256 bytes of names per frame. Measured (50,000
 * distinct frames and stacks, depth 11-41) a frame with its stack costs
 * 260-380 bytes; at PROFILE_DEFAULT_FRAMES the caps hold a profile to about
 * 16 MiB of names, 16 MiB of stack frames and 25 MiB of records and indexes. */
void profile_limits_for(size_t frames, struct profile_limits *l);

/* Caps what the profile keeps (by default nothing is capped but the id
 * space). Past a cap, a new frame is the frame "(other)" (and its name is
 * not even interned) and a new stack adds its weight to the stack "(other)":
 * memory stays bounded whatever a target does, and profile_overflow says how
 * much went there. */
void profile_set_limits(struct profile *p, const struct profile_limits *l);
const struct profile_overflow *profile_overflow(const struct profile *p);
/* The number of distinct strings interned (names, files): what the frame
 * cap bounds besides the frames themselves. */
size_t profile_string_count(const struct profile *p);
/* Frees the profile and everything it holds; no-op on NULL. */
void profile_free(struct profile *p);

/* The profile's metadata; string fields are owned by the profile: set them
 * with profile_set_meta_str so they are copied. */
struct profile_meta *profile_meta(struct profile *p);
const struct profile_meta *profile_meta_const(const struct profile *p);
/* Replaces *field (one of the meta's char * fields) by a copy of value (or NULL). */
void profile_set_meta_str(struct profile *p, char **field, const char *value);

/* Interns a string; the returned pointer lives as long as the profile. */
const char *profile_intern(struct profile *p, const char *s);

/* Returns the id of the frame (name, file, line, kind), adding it if new.
 * Strings are copied (interned). */
uint32_t profile_frame_id(struct profile *p, const char *name, const char *file, int line,
                          enum profile_frame_kind kind);

/* Records where the function of frame id starts (its code object's first
 * line, a pstats key's line), unless the frame already has one: the first
 * caller wins, since every frame of one function starts at the same line.
 * No-op for an unknown id or a line <= 0. */
void profile_set_first_line(struct profile *p, uint32_t id, int first_line);

/* Adds weight to the stack frames[0..depth), root first (frames[0] is the
 * outermost call, frames[depth-1] the leaf). Returns the stack id. depth may
 * be 0 (an empty stack). */
uint32_t profile_add_stack(struct profile *p, const uint32_t *frames, size_t depth,
                           uint64_t weight);

/* Timeline: off by default. When enabled, profile_add_event records one
 * event per call. */
void profile_enable_timeline(struct profile *p);
int profile_timeline_enabled(const struct profile *p);
void profile_add_event(struct profile *p, uint64_t time_ns, uint64_t thread, uint32_t stack);
/* Names a timeline thread (copied); later calls replace the name. */
void profile_set_thread_name(struct profile *p, uint64_t thread, const char *name);
/* Returns the thread's name or NULL. */
const char *profile_thread_name(const struct profile *p, uint64_t thread);

/* Memory weights: off by default. When enabled, every stack carries a
 * struct profile_memory (zero until profile_add_memory adds to it). */
void profile_enable_memory(struct profile *p);
int profile_memory_enabled(const struct profile *p);
/* Adds w's samples, grown and freed to the stack's and raises its peak_rss
 * to w->peak_rss; no-op when memory is off or the id is unknown. */
void profile_add_memory(struct profile *p, uint32_t stack, const struct profile_memory *w);
/* The stack's memory weights, or NULL when memory is off or the id unknown. */
const struct profile_memory *profile_stack_memory(const struct profile *p, uint32_t stack);

/* RSS over time (record --memory with a timeline format): kept only when
 * the timeline is enabled, one point per sample at which RSS changed. */
struct profile_rss_point {
    uint64_t time_ns; /* since the start of the profile */
    uint64_t rss;     /* bytes */
};
void profile_add_rss_point(struct profile *p, uint64_t time_ns, uint64_t rss);
size_t profile_rss_point_count(const struct profile *p);
const struct profile_rss_point *profile_rss_point(const struct profile *p, size_t index);

/* Reading back. Ids are dense: 0 .. count-1, in insertion order. */
size_t profile_frame_count(const struct profile *p);
const struct profile_frame *profile_frame(const struct profile *p, uint32_t id);
size_t profile_stack_count(const struct profile *p);
/* Returns the stack's frames (root first) and sets *depth and *weight. */
const uint32_t *profile_stack(const struct profile *p, uint32_t id, size_t *depth,
                              uint64_t *weight);
/* Sum of all stack weights. */
uint64_t profile_total_weight(const struct profile *p);
size_t profile_event_count(const struct profile *p);
const struct profile_event *profile_event(const struct profile *p, size_t index);

#endif
