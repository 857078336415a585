/*
 * diff.h - two profiles compared: `spyglass report --diff BEFORE AFTER`.
 *
 * The two are first brought to one footing: every frame becomes its
 * function (kind, name and file shortened as the writers show it, no line),
 * so that code that moved between two deploys still matches and a cProfile
 * dump compares with a sampled recording, and both copies share one frame
 * numbering, so a writer can look a path of one up in the other. Weights
 * stay as they were; comparisons are of shares of each profile's total,
 * since two runs differ in length, rate and even unit.
 *
 * The text report lists functions by how much their own share (the time
 * spent in them) changed, with their total share (time with them on the
 * stack) beside it, in percentage points.
 */
#ifndef SPYGLASS_REPORT_DIFF_H
#define SPYGLASS_REPORT_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profile/profile.h"

struct diff_pair {
    struct profile *before, *after; /* function-level copies, same frame ids */
};

/* One function's shares (0..1) of each profile's total. */
struct diff_row {
    uint32_t frame; /* in the pair's numbering */
    double own_before, own_after;
    double total_before, total_after;
};

struct diff_print_options {
    const char *before_name, *after_name; /* how the two are named in the header */
    long limit;                           /* at most this many rows; negative: all */
};

/* Builds the function-level pair of before and after (see above); their
 * metadata is copied. Never fails. Release with diff_pair_release. */
void diff_pair_build(const struct profile *before, const struct profile *after,
                     struct diff_pair *d);
void diff_pair_release(struct diff_pair *d);

/* Returns every function that has weight in either profile, biggest change
 * of own share first (then of total share, then by name), and sets *count.
 * The caller frees the array. */
struct diff_row *diff_rows(const struct diff_pair *d, size_t *count);

/* Prints the text report. Returns 0, or -SG_EIO if writing failed. */
int diff_print(const struct diff_pair *d, FILE *out, const struct diff_print_options *opt);

#endif
