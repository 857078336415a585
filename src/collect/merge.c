/*
 * merge.c - one thread's Python frames merged with its native stack
 * (collect/merge.h has the rules).
 *
 * Native frames become profile frames once per tick (one string hash each);
 * what kind of frame each one is (an evaluation call, the calling machinery,
 * libc, other code) is decided once per profile frame and kept by id.
 */
#include "collect/merge.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* What a native frame is, decided from its name and file. */
enum native_class {
    NC_UNKNOWN = 0, /* not classified yet */
    NC_CODE,        /* anything else: shown */
    NC_EVAL,        /* _PyEval_EvalFrameDefault (3.6+) */
    NC_EVAL_EX,     /* PyEval_EvalFrameEx: the evaluation call on 2.7, a wrapper on 3.x */
    NC_CALL,        /* the interpreter's calling machinery, if in the interpreter's file */
    NC_LIBC,        /* in libc: the start of processes and threads when outermost */
    NC_START,       /* a program's _start or main: the start of its main thread */
};

/* Where an evaluation call sits, and what it runs. */
struct merge_group {
    uint32_t first, count; /* py_thread.frames[first .. first + count), leaf first */
};

/*
 * The interpreter's calling machinery: hidden when in the interpreter's own
 * file. A trailing '*' matches any suffix. Functions that do work of their
 * own (builtins, time_sleep, take_gil, sre) are not here: they are worth
 * seeing. Between two evaluation calls everything of the interpreter's is
 * hidden anyway, so this list is for the calls from Python into C (the
 * leaf side) and from C back into Python.
 */
static const char *const call_machinery[] = {
    "PyObject_Call*",
    "_PyObject_Call*",
    "PyObject_Vectorcall*",
    "_PyObject_Vectorcall*",
    "PyVectorcall_*",
    "_PyVectorcall*",
    "_PyObject_MakeTpCall",
    "_PyObject_FastCall*",
    "PyCFunction_Call*",
    "_PyCFunction_*",
    "cfunction_*",
    "method_vectorcall*",
    "_PyMethodDef_RawFastCall*",
    "_PyMethodDescr_*",
    "method_call",
    "_PyFunction_*",
    "function_code_fastcall",
    "function_call",
    "instancemethod_call",
    "_PyEval_*",
    "PyEval_*",
    "call_function",
    "do_call_core",
    "ext_do_call",
    "fast_function",
    "fast_cfunction",
    "slot_tp_call",
    "vectorcall_*",
    "object_vacall",
    "callmethod",
    "call_method",
    "PyRun_*",
    "_PyRun_*",
    "run_mod",
    "run_eval_code_obj",
    "Py_RunMain",
    "Py_BytesMain",
    "Py_Main",
    "pymain_*",
    "t_bootstrap",
    "thread_run",
    "pythread_wrapper",
    "gen_send_ex*",
    "gen_iternext",
    "PyIter_Send",
    "_PyGen_Send",
};

/* Returns 1 if name is fn or one of its compiler clones ("fn.cold",
 * "fn.isra.0"), which run as part of the same call. */
static int is_function(const char *name, const char *fn)
{
    size_t len = strlen(fn);
    return strncmp(name, fn, len) == 0 && (name[len] == '\0' || name[len] == '.');
}

/* Returns 1 if name matches pattern (exactly or as a clone, or by prefix with a
 * trailing '*'). */
static int name_matches(const char *name, const char *pattern)
{
    size_t len = strlen(pattern);
    if (len && pattern[len - 1] == '*')
        return strncmp(name, pattern, len - 1) == 0;
    return is_function(name, pattern);
}

/* Returns 1 if file is libc (or glibc's separate libpthread, before 2.34). */
static int is_libc(const char *file)
{
    return strncmp(file, "libc.so", 7) == 0 || strncmp(file, "libc-", 5) == 0 ||
           strncmp(file, "libpthread", 10) == 0;
}

static enum native_class classify(const struct profile_frame *f)
{
    if (is_function(f->name, "_PyEval_EvalFrameDefault"))
        return NC_EVAL;
    if (is_function(f->name, "PyEval_EvalFrameEx"))
        return NC_EVAL_EX;
    if (is_libc(f->file))
        return NC_LIBC;
    if (strcmp(f->name, "_start") == 0 || strcmp(f->name, "main") == 0)
        return NC_START;
    for (size_t i = 0; i < sizeof(call_machinery) / sizeof(call_machinery[0]); i++) {
        if (name_matches(f->name, call_machinery[i]))
            return NC_CALL;
    }
    return NC_CODE;
}

void merge_init(struct merge *m, struct profile *p, int native_all)
{
    memset(m, 0, sizeof(*m));
    m->profile = p;
    m->native_all = native_all;
}

void merge_release(struct merge *m)
{
    free(m->classes);
    free(m->ids);
    free(m->hide);
    free(m->groups);
    free(m->items);
    memset(m, 0, sizeof(*m));
}

uint32_t merge_native_frame(struct merge *m, const struct native_sym *sym)
{
    char name[96];
    const char *text = sym->symbol;
    if (!text && sym->module)
        snprintf(name, sizeof(name), "%s+0x%" PRIx64, sym->module, sym->offset);
    else if (!text)
        snprintf(name, sizeof(name), "0x%" PRIx64, sym->pc);
    return profile_frame_id(m->profile, text ? text : name, sym->module ? sym->module : "", 0,
                            PF_NATIVE_CODE);
}

/* The class of the native frame with profile id, decided once. */
static enum native_class class_of(struct merge *m, uint32_t id)
{
    if (id >= m->classes_cap) {
        size_t old = m->classes_cap;
        m->classes = xgrow(m->classes, 1, (size_t)id + 1, &m->classes_cap);
        memset(m->classes + old, 0, m->classes_cap - old);
    }
    if (m->classes[id] == NC_UNKNOWN)
        m->classes[id] = (uint8_t)classify(profile_frame(m->profile, id));
    return (enum native_class)m->classes[id];
}

static int is_eval(enum native_class c, int python_major)
{
    return c == NC_EVAL || (c == NC_EVAL_EX && python_major == 2);
}

/* ---- Hiding the interpreter's plumbing ---- */

/* Returns 1 if native frame i lies in the interpreter's own file. */
static int in_interpreter(const struct merge *m, size_t i)
{
    return m->interp_file && profile_frame(m->profile, m->ids[i])->file == m->interp_file;
}

/* Returns 1 if frames [from, to) are all the interpreter's or libc's. */
static int plumbing_only(struct merge *m, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        enum native_class c = class_of(m, m->ids[i]);
        if (c != NC_LIBC && c != NC_START && !in_interpreter(m, i))
            return 0;
    }
    return 1;
}

/* Marks m->hide[0..n) for the frames left out without native_all. */
static void mark_plumbing(struct merge *m, size_t n, int python_major)
{
    memset(m->hide, 0, n);
    if (m->native_all)
        return;
    for (size_t i = 0; i < n; i++) {
        enum native_class c = class_of(m, m->ids[i]);
        m->hide[i] = (c == NC_CALL || c == NC_EVAL_EX) && in_interpreter(m, i);
    }
    /* The start of the process or thread: its outermost libc frames. */
    for (size_t i = n; i-- > 0;) {
        enum native_class c = class_of(m, m->ids[i]);
        if (c != NC_LIBC && c != NC_START)
            break;
        m->hide[i] = 1;
    }
    /* Between an evaluation call and the next one out (or the bottom of
     * the stack): hidden whole when only the interpreter is there. */
    size_t inner = n; /* the evaluation call nearest the leaf seen so far */
    for (size_t i = 0; i <= n; i++) {
        if (i < n && !is_eval(class_of(m, m->ids[i]), python_major))
            continue;
        if (inner < n && plumbing_only(m, inner + 1, i))
            memset(m->hide + inner + 1, 1, i - inner - 1);
        inner = i;
    }
}

/* ---- Pairing evaluation calls with Python frames ---- */

/* Splits t's frames into the runs its evaluation calls make, leaf first.
 * Returns the number of runs; *open is set when the outermost run has no
 * call of its own (a walk cut short). */
static size_t python_groups(struct merge *m, const struct py_thread *t, int *open)
{
    size_t k = 0, first = 0;
    m->groups = xgrow(m->groups, sizeof(*m->groups), t->eval_leaf + t->depth + 1, &m->groups_cap);
    for (unsigned i = 0; i < t->eval_leaf; i++)
        m->groups[k++] = (struct merge_group){0, 0};
    for (size_t d = 0; d < t->depth; d++) {
        unsigned ends = t->frames[d].eval_entry;
        if (!ends)
            continue;
        m->groups = xgrow(m->groups, sizeof(*m->groups), k + ends + 1, &m->groups_cap);
        m->groups[k++] = (struct merge_group){(uint32_t)first, (uint32_t)(d + 1 - first)};
        for (unsigned e = 1; e < ends; e++)
            m->groups[k++] = (struct merge_group){(uint32_t)(d + 1), 0};
        first = d + 1;
    }
    *open = first < t->depth;
    if (*open)
        m->groups[k++] = (struct merge_group){(uint32_t)first, (uint32_t)(t->depth - first)};
    return k;
}

static void push_item(struct merge *m, size_t *count, uint32_t value, int native)
{
    m->items = xgrow(m->items, sizeof(*m->items), *count + 1, &m->items_cap);
    m->items[(*count)++] = (struct merge_item){value, (uint8_t)native};
}

/* Appends group g's Python frames, outermost first. */
static void push_group(struct merge *m, size_t *count, size_t g)
{
    const struct merge_group *grp = &m->groups[g];
    for (uint32_t i = grp->count; i-- > 0;)
        push_item(m, count, grp->first + i, 0);
}

size_t merge_thread(struct merge *m, const struct py_thread *t, const struct native_stack *ns,
                    int python_major)
{
    size_t n = ns && !ns->err ? ns->depth : 0, count = 0, evals = 0;
    size_t cap = m->ids_cap;
    m->ids = xgrow(m->ids, sizeof(*m->ids), n + 1, &cap);
    m->hide = xgrow(m->hide, 1, n + 1, &m->ids_cap);
    for (size_t i = 0; i < n; i++) {
        m->ids[i] = merge_native_frame(m, &ns->frames[i]);
        if (is_eval(class_of(m, m->ids[i]), python_major)) {
            if (!evals++)
                m->interp_file = profile_frame(m->profile, m->ids[i])->file;
        }
    }
    mark_plumbing(m, n, python_major);
    int open = 0;
    size_t k = t ? python_groups(m, t, &open) : 0;
    int partial = open || (t && (t->error || t->truncated)) || (ns && ns->end != UNWIND_END_BOTTOM);
    /* Evaluation call e (leaf first) runs group e - shift. Groups that no
     * call pairs with at the root go first; at the leaf, with the innermost
     * call. */
    long shift = evals == k || partial || !evals ? 0 : (long)evals - (long)k;
    if (t && t->depth) {
        m->stats.merged++;
        m->stats.mismatch += evals != k;
    }
    for (long g = (long)k - 1; g >= (long)evals - shift; g--)
        push_group(m, &count, (size_t)g);
    size_t e = evals;
    for (size_t i = n; i-- > 0;) {
        if (!is_eval(class_of(m, m->ids[i]), python_major)) {
            if (m->hide[i]) {
                m->stats.hidden++;
                continue;
            }
            m->stats.unnamed += !ns->frames[i].symbol && in_interpreter(m, i);
            push_item(m, &count, m->ids[i], 1);
            continue;
        }
        long g = (long)--e - shift;
        for (long last = e == 0 && shift < 0 ? 0 : g; g >= last && g >= 0; g--) {
            if (g < (long)k)
                push_group(m, &count, (size_t)g);
        }
    }
    return count;
}
