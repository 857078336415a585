/*
 * merge.h - one thread's Python frames merged with its native stack (--native).
 *
 * The native stack (sample/native.h) runs from the thread's start to the
 * instruction it was stopped at; somewhere in it are the interpreter's
 * evaluation calls (_PyEval_EvalFrameDefault; PyEval_EvalFrameEx on 2.7).
 * Each one is replaced by the Python frames it was running, in order, so
 *
 *   main ... _PyEval_EvalFrameDefault PyObject_Call c_a c_b PyObject_Call
 *   _PyEval_EvalFrameDefault PyObject_Call c_c
 *
 * reads <module> py_outer c_a c_b callback c_c. Which Python frames belong to
 * which call the walker says (python/walk.h, py_frame.eval_entry): before
 * 3.11 each frame has its own call; from 3.11 a call runs every frame of
 * Python-to-Python calls it makes, and starts a new run at a frame flagged
 * is_entry (3.11) or resting on a C-stack shim frame (3.12+).
 *
 * Unless native_all, the interpreter's plumbing is hidden: in its own file
 * (the library or executable holding the evaluation calls), the calling
 * machinery (PyObject_Call*, *Vectorcall*, cfunction_*, call_function, ...:
 * merge.c has the list); every frame between two evaluation calls when all
 * of them are the interpreter's (generators, Python calling Python through C
 * before 3.11); everything below the outermost evaluation call when only the
 * interpreter and libc are there (process and thread start-up); and the
 * outermost run of libc frames (clone3, start_thread, __libc_start_main) of
 * any thread. What is left is the C code that does work: zlib's deflate,
 * the extension's own functions, BLAS kernels, the interpreter's own
 * builtins (time.sleep, sre's matcher, list.sort).
 *
 * Counts that disagree (a call entered or left between the two reads, a
 * native walk cut short) are aligned from the leaf when either side is
 * partial (what is missing is at the root: unwinding stops there, the Python
 * walk too), else from the root (the difference is at the leaf, where the
 * thread moves). merge_stats counts them.
 */
#ifndef SPYGLASS_COLLECT_MERGE_H
#define SPYGLASS_COLLECT_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"
#include "python/walk.h"
#include "sample/native.h"

/* One frame of a merged stack: a Python frame of the thread (an index into
 * py_thread.frames) or a native frame (a profile frame id, PF_NATIVE_CODE). */
struct merge_item {
    uint32_t value;
    uint8_t native;
};

struct merge_stats {
    uint64_t merged;   /* Python stacks merged with a native stack */
    uint64_t mismatch; /* of which the evaluation calls and Python runs did not pair up */
    uint64_t hidden;   /* native frames left out as the interpreter's plumbing */
    uint64_t unnamed;  /* frames kept in the interpreter's file with no symbol: a stripped
                          interpreter (Debian's) names only its exported functions, so
                          its static calling machinery can be neither named nor hidden */
};

struct merge_group; /* a run of Python frames that one evaluation call runs */

struct merge {
    struct profile *profile;
    int native_all;   /* keep the interpreter's plumbing */
    uint8_t *classes; /* per profile frame id: what kind of native frame (0: unknown) */
    size_t classes_cap;
    const char *interp_file; /* the interpreter's file, as interned, once seen */
    uint32_t *ids;           /* scratch: the native frames' ids, innermost first */
    uint8_t *hide;           /* scratch: parallel to ids */
    size_t ids_cap;
    struct merge_group *groups; /* scratch, leaf first */
    size_t groups_cap;
    struct merge_item *items; /* the result, root first */
    size_t items_cap;
    struct merge_stats stats;
};

void merge_init(struct merge *m, struct profile *p, int native_all);
void merge_release(struct merge *m);

/* The profile frame of a native frame: "symbol (library)", or
 * "library+0xOFFSET" when no symbol covers it. */
uint32_t merge_native_frame(struct merge *m, const struct native_sym *sym);

/*
 * Merges thread t (its Python frames; t may have none) with its native
 * stack ns of python_major's interpreter. Returns the number of items in
 * m->items (root first), valid until the next call. A thread without
 * Python frames gives its native frames alone.
 */
size_t merge_thread(struct merge *m, const struct py_thread *t, const struct native_stack *ns,
                    int python_major);

#endif
