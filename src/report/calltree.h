/*
 * calltree.h - a call tree rebuilt from a pstats dump, as a struct profile
 * that every stack-based writer (flame graph, speedscope, collapsed, pprof)
 * can draw.
 *
 * A cProfile dump has no stacks: only, per function, its own time (tt), its
 * cumulative time (ct, over its outermost calls), its calls (nc, of which cc
 * are not nested in another call of it) and, per caller edge, the calls and
 * the time spent in the callee on that edge. The tree is rebuilt top-down:
 *
 *   - Roots are the calls no caller edge covers: cProfile's outermost calls
 *     (the `exec` that runs the script, the `disable` that ends it; also
 *     importlib's and runpy's callee, so "has no callers" is not the test),
 *     calls from callers missing from the dump, and the profile module's
 *     entry. Their time is estimated per function (ct minus the covered
 *     edges' time; for a recursive one, ct times its share of primitive
 *     calls) and scaled so that the roots hold the dump's total time: every
 *     timed call runs inside one of them.
 *   - A node of function g that stands for t seconds keeps t x tt / (tt +
 *     sum of g's edge times) as own time and gives each callee h t x (time
 *     on edge g->h) / (the same sum). Without recursion that sum is g's ct,
 *     and the split is exact whenever g has one caller.
 *   - Recursion: a function whose calls are all primitive (cc == nc) is
 *     never nested in itself, so it is not drawn under itself (that cuts
 *     importlib's exec -> <module> -> import -> exec loop). A node that
 *     holds all of a recursive function's outermost time (its ct), when the
 *     function makes at most one call per call (exec, eval, wrappers),
 *     stands for calls that enclose all its nested ones: its callees are
 *     taken largest first, each up to its edge's time, one per primitive
 *     call, and the rest is own time (the script's <module> under the root
 *     exec, not every module imported during it).
 *   - Nodes are expanded heaviest first, until CALLTREE_MAX_NODES, and a
 *     subtree worth less than CALLTREE_MIN_SHARE of the total, or deeper
 *     than CALLTREE_MAX_DEPTH, is not expanded.
 *   - Finally each function's own time over all its nodes is scaled to its
 *     tt, so the tree holds exactly the dump's own times (the table's
 *     tottime column) and its total is the dump's total. A function the
 *     expansion never reached (its subtrees were all too small) is drawn
 *     under the heaviest node of its caller with the most time on its edge,
 *     or as a root of its own when no caller of it was reached.
 *
 * No edge is invented: a child always stands for a caller edge in the file.
 * Which path a function's time took is an estimate; how much time each
 * function had is not.
 */
#ifndef SPYGLASS_REPORT_CALLTREE_H
#define SPYGLASS_REPORT_CALLTREE_H

#include <stddef.h>

#include "import/pstats.h"
#include "profile/profile.h"

#define CALLTREE_MAX_DEPTH 128
#define CALLTREE_MAX_NODES 20000
#define CALLTREE_MIN_SHARE 1e-6 /* of the dump's total time */

struct calltree_result {
    double total_s;    /* the dump's total own time (what pstats prints "in T seconds") */
    double unplaced_s; /* own time of functions the tree never reached, drawn as roots */
    double adopted_s;  /* own time of functions the tree never reached, drawn under a caller */
    double cut_s;      /* time in subtrees not expanded (moved to the functions' other nodes) */
    size_t nodes;      /* nodes built */
    int truncated;     /* the depth limit or the node budget was hit */
};

/* Adds the call tree of st to p as stacks weighed in microseconds (sets
 * p's unit to "microseconds"); frames are (name, file, first line) of each
 * function, builtins with an empty file. The weights add up to the dump's
 * total own time within a microsecond, and each function's to its own time
 * within a microsecond. Fills *res. Never fails: a dump with odd numbers
 * (negative, NaN) treats them as zero. */
void calltree_build(const struct pstats *st, struct profile *p, struct calltree_result *res);

#endif
