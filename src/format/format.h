/*
 * format.h - the table of profile writers.
 *
 * A writer takes a finished struct profile and a FILE * and writes one
 * format. Adding a format is one new file in format/ and one line in the
 * table in format.c. Writers never read target memory.
 */
#ifndef SPYGLASS_FORMAT_H
#define SPYGLASS_FORMAT_H

#include <stdio.h>

#include "profile/profile.h"

struct format_options {
    int full_filenames;    /* show full paths instead of shortened ones */
    const char *time_type; /* pprof: the time sample type, "wall" (NULL) or "cpu" */
    /* report --diff: the profile compared with, with the same frame ids
     * (report/diff.h). The flame graph then colours each frame by how much
     * its share of the total changed since it; other writers ignore it. */
    const struct profile *baseline;
};

struct format_writer {
    const char *name;        /* "flamegraph", "collapsed", ... (the --format value) */
    const char *extensions;  /* space-separated file name endings: ".svg", ".trace.json" */
    const char *description; /* one line for --help */
    int needs_timeline;      /* 1 if the profile must keep its timeline */
    /* Writes p to out; returns 0, or a negative SG_E* code (write errors: -SG_EIO). */
    int (*write)(const struct profile *p, FILE *out, const struct format_options *opt);
    int time_only; /* 1 if it holds only samples or times, not bytes (pstats: seconds) */
};

/* Returns the writer called name, or NULL. "raw" (py-spy's name) is collapsed. */
const struct format_writer *format_find(const char *name);
/* Returns the writer whose extension ends path (longest match wins), or NULL. */
const struct format_writer *format_for_path(const char *path);
/* Writes the list of format names ("flamegraph, collapsed, ...") into buf. */
void format_list(char *buf, size_t size);

/* The writers (one per file in format/). */
int flamegraph_write(const struct profile *p, FILE *out, const struct format_options *opt);
int collapsed_write(const struct profile *p, FILE *out, const struct format_options *opt);
int speedscope_write(const struct profile *p, FILE *out, const struct format_options *opt);
int chrometrace_write(const struct profile *p, FILE *out, const struct format_options *opt);
int pstats_write(const struct profile *p, FILE *out, const struct format_options *opt);
int pprof_write(const struct profile *p, FILE *out, const struct format_options *opt);
int spyglass_write(const struct profile *p, FILE *out, const struct format_options *opt);

/* Nanoseconds per weight unit when the profile's unit is a time
 * ("nanoseconds", "ns", "microseconds", "us", "milliseconds", "ms",
 * "seconds", "s"), else 0 (samples, bytes, ...). */
double format_unit_ns(const char *unit);

/* Shortens a source path for display: site-packages/dist-packages paths from
 * the package on, stdlib paths from "lib/pythonX.Y/" on, others unchanged.
 * Returns a pointer into path. */
const char *format_short_path(const char *path);

/* The path as writers display it: "." and ".." segments and repeated
 * slashes resolved in the text ("/a/fmt/../b.py" is "/a/b.py"; leading
 * ".." of a relative path stay), then shortened with format_short_path
 * unless full. Returns a newly allocated string. */
char *format_display_path(const char *path, int full);

/* Classifies a frame for colouring: 0 user code, 1 stdlib, 2 site-packages,
 * 3 synthetic (thread/process/endpoint), 4 markers ((idle), (other)) and
 * Python frames without a file (a cProfile dump's built-ins: C code),
 * 5 native code (C/C++, --native). */
int format_frame_class(const struct profile_frame *f);

#endif
