/*
 * pstats.h - reading pstats dumps (what cProfile/profile write with -o, and
 * pstats.Stats.dump_stats), and telling saved profile formats apart.
 *
 * A dump is the marshal of one dict
 *     {(file, line, funcname): (cc, nc, tt, ct, callers)}
 * where cc counts primitive (non-recursive) calls, nc all calls, tt is the
 * time in the function itself and ct the time including callees (seconds),
 * and callers maps each caller's key to (nc, cc, tt, ct) for the calls on
 * that edge (cProfile; note the order differs from the function tuple), or to
 * a bare call count (the pure-Python profile module).
 */
#ifndef SPYGLASS_IMPORT_PSTATS_H
#define SPYGLASS_IMPORT_PSTATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "import/marshal.h"

#define PSTATS_NO_FUNC SIZE_MAX

/* A function's identity. Builtins have file "~" and line 0. Strings are
 * UTF-8 and live as long as the struct pstats; one holding a NUL byte is
 * seen only up to it. The profile module keys the code it was given to run
 * by a code object instead of a name: that name reads
 * "<code object NAME, file "FILE", line N>" (Python's repr, without the
 * object's address, which only existed in the process that loaded it). */
struct pstats_key {
    const char *file;
    int64_t line;
    const char *name;
};

/* One caller -> function edge. */
struct pstats_caller {
    struct pstats_key key; /* the caller */
    size_t func;           /* the caller's index in pstats.funcs, or PSTATS_NO_FUNC */
    int64_t nc, cc;        /* calls on this edge; cc = nc for the count-only form */
    double tt, ct;         /* 0 for the count-only form */
};

struct pstats_func {
    struct pstats_key key;
    int64_t cc; /* primitive calls */
    int64_t nc; /* all calls */
    double tt;  /* own time, seconds */
    double ct;  /* cumulative time, seconds */
    struct pstats_caller *callers;
    size_t caller_count;
    int top_level; /* called by the profile module's ("jprofile", 0, "profiler") */
};

struct pstats {
    struct pstats_func *funcs; /* in the dump's dict order; keys are unique */
    size_t count;
    int caller_tuples; /* 1: caller values were (nc, cc, tt, ct) tuples; 0: counts or none */
    int byte_keys;     /* 1: a key holds byte strings: the dump was written by Python 2 */
    int code_keys;     /* 1: a key's name is a code object (the profile module's) */
    char error[200];   /* why pstats_load failed */
    /* private */
    struct marshal_doc doc; /* owns the strings */
    char **made;            /* names made for code-object keys */
    size_t made_count, made_cap;
};

/* Parses a pstats dump in data[0, len) into st (which it initialises).
 * Returns 0, or -SG_ECORRUPT with st->error saying what is wrong and at
 * which byte. As with Python's dicts, a key that appears twice keeps its
 * first position and its last value. Call pstats_release(st) afterwards,
 * whatever the result. */
int pstats_load(struct pstats *st, const uint8_t *data, size_t len);

/* Writes st back as a pstats dump that Python 2.7 and every Python 3
 * loads (marshal version 2 codes, text strings): the same functions in the
 * same order, with the same numbers and callers, in the caller form the
 * input used. This turns a 2.7 dump into one Python 3 reads. A code-object
 * key is written with its name as text. Returns 0, or -SG_EIO if writing
 * failed. */
int pstats_save(const struct pstats *st, FILE *out);

/* Frees what st holds. Safe to call twice. */
void pstats_release(struct pstats *st);

/* Returns the index of the function with this key, or PSTATS_NO_FUNC. */
size_t pstats_find(const struct pstats *st, const char *file, int64_t line, const char *name);

#endif
