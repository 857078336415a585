/*
 * calltree.h - a call tree rebuilt from a pstats dump, as a struct profile
 * that every stack-based writer (flame graph, speedscope, collapsed, pprof)
 * can draw.
 *
 * A cProfile dump has no stacks: only, per function, its own and cumulative
 * time and, per caller edge, the calls and time on that edge. The tree is
 * rebuilt the way gprof-style tools do: each function's time is split over
 * its callers in proportion to the time on each edge (or to the calls, for
 * the profile module's count-only edges, or when every edge time is zero).
 * Starting from the functions nobody in the dump calls, a node for function
 * g under parent f stands for a fraction q of all of g's calls:
 *     q(root) = 1 (or the share of callers missing from the dump),
 *     q(g under f) = q(f) * share of g's calls that came from f,
 * and holds q * tt(g) of own time. Recursion is expanded the same way (the
 * shares make it a geometric series), so the time over all of g's nodes
 * adds up to tt(g). No edge is invented: a child always stands for a caller
 * edge in the file. Subtrees worth less than a small share of the total,
 * deeper than a limit, or past a node budget are left out, and counted.
 */
#ifndef SPYGLASS_REPORT_CALLTREE_H
#define SPYGLASS_REPORT_CALLTREE_H

#include <stddef.h>

#include "import/pstats.h"
#include "profile/profile.h"

#define CALLTREE_MAX_DEPTH 128
#define CALLTREE_MAX_NODES 100000
#define CALLTREE_MIN_SHARE 1e-6 /* of the dump's total time */

struct calltree_result {
    double total_s;   /* the dump's total own time (what pstats prints "in T seconds") */
    double dropped_s; /* own time in the parts of the tree left out */
    size_t nodes;     /* nodes built */
    int truncated;    /* the depth limit or the node budget was hit */
};

/* Adds the call tree of st to p as stacks weighed in microseconds (sets
 * p's unit to "microseconds"); frames are (name, file, first line) of each
 * function, builtins with an empty file. Fills *res. Never fails: a dump
 * with odd numbers (negative, NaN) treats them as zero. */
void calltree_build(const struct pstats *st, struct profile *p, struct calltree_result *res);

#endif
