/*
 * test_merge.c - Python frames merged into native stacks (collect/merge.c),
 * and fold_walk with native stacks (threads without Python, threads that
 * were not unwound). Stacks are built by hand as the walker and the
 * unwinder give them: Python frames leaf first with their evaluation-call
 * marks, native frames innermost first as "symbol@library".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collect/fold.h"
#include "collect/merge.h"
#include "profile/profile.h"
#include "sample/native.h"

#define MAX_FRAMES 32

/* A thread as the walker and the unwinder give it. */
struct case_ {
    struct code_info codes[MAX_FRAMES];
    struct py_frame py[MAX_FRAMES];
    struct py_thread t;
    struct native_sym syms[MAX_FRAMES];
    char text[MAX_FRAMES][2][64];
    struct native_stack ns;
};

/* Python frames, leaf first: "name" runs inline in its caller's call,
 * "name!" is the frame a call was entered with (eval_entry 1). */
static void python(struct case_ *c, const char *const *names)
{
    static uint64_t serial = 100; /* unique, as the code cache makes them */
    memset(&c->t, 0, sizeof(c->t));
    size_t n = 0;
    for (; names[n]; n++) {
        char *name = c->text[n][0];
        snprintf(name, 64, "%s", names[n]);
        size_t len = strlen(name);
        int entry = len && name[len - 1] == '!';
        if (entry)
            name[len - 1] = '\0';
        c->codes[n] = (struct code_info){.serial = serial++, .name = name, .qualname = name};
        c->py[n] = (struct py_frame){
            .code = &c->codes[n], .line = (int)n + 1, .eval_entry = (uint8_t)entry};
    }
    c->t.frames = c->py;
    c->t.depth = n;
    c->t.tid = 4242;
}

/* Native frames, innermost first, "symbol@library" ("@lib" without a symbol:
 * offset 0x10 * index). */
static void native(struct case_ *c, const char *const *frames, enum unwind_end end)
{
    size_t n = 0;
    for (; frames[n]; n++) {
        const char *at = strchr(frames[n], '@');
        char *symbol = c->text[n][1], *module = c->text[n][1] + 32;
        snprintf(symbol, 32, "%.*s", (int)(at - frames[n]), frames[n]);
        snprintf(module, 32, "%s", at + 1);
        c->syms[n] = (struct native_sym){.pc = 0x1000 + n,
                                         .symbol = symbol[0] ? symbol : NULL,
                                         .module = module,
                                         .offset = 0x10 * n};
    }
    c->ns =
        (struct native_stack){.tid = 4242, .state = 'R', .end = end, .frames = c->syms, .depth = n};
}

/* The merged stack as "a;b;c", root first. */
static const char *merged(struct merge *m, struct case_ *c, const struct py_thread *t, int major)
{
    static char out[1024];
    size_t count = merge_thread(m, t, &c->ns, major), pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const struct merge_item *it = &m->items[i];
        const char *name = it->native ? profile_frame(m->profile, it->value)->name
                                      : t->frames[it->value].code->qualname;
        pos += (size_t)snprintf(out + pos, sizeof(out) - pos, "%s%s", i ? ";" : "", name);
    }
    return out;
}

/* The stack of a 3.11 program: <module> -> main -> py_outer (one call),
 * c_a -> c_b -> callback (a call of its own) -> c_c. */
static const char *const chain_311_python[] = {"callback!", "py_outer", "main", "<module>!", NULL};
static const char *const chain_311_native[] = {"c_c@ext.so",
                                               "cfunction_vectorcall_NOARGS@libpython3.11.so",
                                               "PyObject_Vectorcall@libpython3.11.so",
                                               "_PyEval_EvalFrameDefault@libpython3.11.so",
                                               "_PyEval_Vector@libpython3.11.so",
                                               "PyObject_CallObject@libpython3.11.so",
                                               "c_b@ext.so",
                                               "c_a@ext.so",
                                               "cfunction_vectorcall_O@libpython3.11.so",
                                               "PyObject_Vectorcall@libpython3.11.so",
                                               "_PyEval_EvalFrameDefault@libpython3.11.so",
                                               "PyEval_EvalCode@libpython3.11.so",
                                               "run_mod@libpython3.11.so",
                                               "@libpython3.11.so",
                                               "Py_RunMain@libpython3.11.so",
                                               "Py_BytesMain@libpython3.11.so",
                                               "__libc_start_call_main@libc.so.6",
                                               "__libc_start_main@libc.so.6",
                                               "_start@python3.11",
                                               NULL};

static void test_merge_311_calls_replaced_by_the_frames_they_run(void **state)
{
    struct case_ c;
    python(&c, chain_311_python);
    native(&c, chain_311_native, UNWIND_END_BOTTOM);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, &c.t, 3), "<module>;main;py_outer;c_a;c_b;callback;c_c");
    assert_int_equal(m.stats.merged, 1);
    assert_int_equal(m.stats.mismatch, 0);
    /* Native frames are PF_NATIVE_CODE with their library as file. */
    uint32_t id = m.items[3].value;
    assert_int_equal(profile_frame(p, id)->kind, PF_NATIVE_CODE);
    assert_string_equal(profile_frame(p, id)->file, "ext.so");
    assert_int_equal(profile_frame(p, id)->line, 0);
    merge_release(&m);
    profile_free(p);
}

static void test_merge_native_all_keeps_the_plumbing(void **state)
{
    struct case_ c;
    python(&c, chain_311_python);
    native(&c, chain_311_native, UNWIND_END_BOTTOM);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 1);
    assert_string_equal(merged(&m, &c, &c.t, 3),
                        "_start;__libc_start_main;__libc_start_call_main;Py_BytesMain;Py_RunMain;"
                        "libpython3.11.so+0xd0;run_mod;PyEval_EvalCode;<module>;main;py_outer;"
                        "PyObject_Vectorcall;cfunction_vectorcall_O;c_a;c_b;PyObject_CallObject;"
                        "_PyEval_Vector;callback;PyObject_Vectorcall;cfunction_vectorcall_NOARGS;"
                        "c_c");
    merge_release(&m);
    profile_free(p);
}

static void test_merge_before_311_each_frame_has_its_own_call(void **state)
{
    /* 3.8: f calls g through call_function; g is in zlib. Between two
     * calls only the interpreter: hidden whole, names or not. */
    static const char *const py[] = {"g!", "f!", "<module>!", NULL};
    static const char *const nat[] = {"deflate@libz.so.1",
                                      "zlib_compress@zlib.so",
                                      "cfunction_vectorcall_FASTCALL@libpython3.8.so",
                                      "_PyEval_EvalFrameDefault@libpython3.8.so",
                                      "function_code_fastcall@libpython3.8.so",
                                      "@libpython3.8.so",
                                      "_PyEval_EvalFrameDefault.cold@libpython3.8.so",
                                      "gen_send_ex@libpython3.8.so",
                                      "_PyEval_EvalFrameDefault@libpython3.8.so",
                                      "PyEval_EvalCode@libpython3.8.so",
                                      "main@python3.8",
                                      "__libc_start_main@libc.so.6",
                                      "_start@python3.8",
                                      NULL};
    struct case_ c;
    python(&c, py);
    native(&c, nat, UNWIND_END_BOTTOM);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, &c.t, 3), "<module>;f;g;zlib_compress;deflate");
    assert_int_equal(m.stats.mismatch, 0);
    merge_release(&m);
    profile_free(p);
}

static void test_merge_27_calls_are_pyeval_evalframeex(void **state)
{
    static const char *const py[] = {"g!", "<module>!", NULL};
    static const char *const nat[] = {"sre_match@libpython2.7.so",
                                      "PyEval_EvalFrameEx@libpython2.7.so",
                                      "PyEval_EvalCodeEx@libpython2.7.so",
                                      "fast_function@libpython2.7.so",
                                      "PyEval_EvalFrameEx@libpython2.7.so",
                                      "PyRun_SimpleFileExFlags@libpython2.7.so",
                                      NULL};
    struct case_ c;
    python(&c, py);
    native(&c, nat, UNWIND_END_BOTTOM);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, &c.t, 2), "<module>;g;sre_match");
    /* On 3.x PyEval_EvalFrameEx is a wrapper, not a call of its own. */
    struct profile *p3 = profile_new();
    struct merge m3;
    merge_init(&m3, p3, 0);
    merged(&m3, &c, &c.t, 3);
    assert_int_equal(m3.stats.mismatch, 1);
    merge_release(&m3);
    profile_free(p3);
    merge_release(&m);
    profile_free(p);
}

static void test_merge_thread_without_python_loses_only_its_libc_start(void **state)
{
    static const char *const nat[] = {"sched_yield@libc.so.6",
                                      "blas_thread_server@libopenblas.so.0",
                                      "start_thread@libc.so.6", "__clone3@libc.so.6", NULL};
    struct case_ c;
    native(&c, nat, UNWIND_END_BOTTOM);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, NULL, 3), "blas_thread_server;sched_yield");
    assert_int_equal(m.stats.merged, 0);
    merge_release(&m);
    profile_free(p);
}

static void test_merge_frames_without_a_symbol_are_named_by_library_and_offset(void **state)
{
    static const char *const nat[] = {"@libz.so.1.2.13", "deflate@libz.so.1.2.13", "@", NULL};
    struct case_ c;
    native(&c, nat, UNWIND_END_LOST);
    c.syms[2].module = NULL; /* code in no module (JIT) */
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, NULL, 3), "0x1002;deflate;libz.so.1.2.13+0x0");
    assert_string_equal(profile_frame(p, m.items[0].value)->file, "");
    assert_int_equal(m.stats.unnamed, 0); /* a library's, not the interpreter's */
    merge_release(&m);
    profile_free(p);
}

static void test_merge_machinery_is_hidden_only_in_the_interpreter(void **state)
{
    /* A library's own PyObject_Call-like name stays; the interpreter's
     * unnamed code between a call and a C function stays too: only the
     * listed names go. */
    static const char *const py[] = {"<module>!", NULL};
    static const char *const nat[] = {
        "PyObject_CallHelper@libfoo.so",  "@python3.11",
        "PyObject_Vectorcall@python3.11", "_PyEval_EvalFrameDefault@python3.11",
        "Py_RunMain@python3.11",          NULL};
    struct case_ c;
    python(&c, py);
    native(&c, nat, UNWIND_END_BOTTOM);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, &c.t, 3), "<module>;python3.11+0x10;PyObject_CallHelper");
    /* Counted, for the note that names the stripped interpreter. */
    assert_int_equal(m.stats.unnamed, 1);
    assert_string_equal(m.interp_file, "python3.11");
    merge_release(&m);
    profile_free(p);
}

static void test_merge_extra_call_at_the_leaf_aligns_from_the_root(void **state)
{
    /* Both walks complete, one more call than runs: a call being entered
     * (its frame not linked yet). The roots pair up; the new call gets
     * nothing. */
    static const char *const py[] = {"f!", "<module>!", NULL};
    static const char *const nat[] = {"_PyEval_EvalFrameDefault@libpython3.8.so",
                                      "_PyEval_EvalFrameDefault@libpython3.8.so", "c_helper@ext.so",
                                      "_PyEval_EvalFrameDefault@libpython3.8.so", NULL};
    struct case_ c;
    python(&c, py);
    native(&c, nat, UNWIND_END_BOTTOM);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, &c.t, 3), "<module>;c_helper;f");
    assert_int_equal(m.stats.mismatch, 1);
    merge_release(&m);
    profile_free(p);
}

static void test_merge_partial_unwind_aligns_from_the_leaf(void **state)
{
    /* The unwinder lost its way above the second call: the runs it did not
     * reach go first, at the root. */
    static const char *const py[] = {"leaf!", "middle!", "<module>!", NULL};
    static const char *const nat[] = {
        "deflate@libz.so.1", "_PyEval_EvalFrameDefault@libpython3.8.so",
        "c_helper@ext.so",   "_PyEval_EvalFrameDefault@libpython3.8.so",
        "@ext.so",           NULL};
    struct case_ c;
    python(&c, py);
    native(&c, nat, UNWIND_END_LOST);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, &c.t, 3),
                        "<module>;ext.so+0x40;middle;c_helper;leaf;deflate");
    assert_int_equal(m.stats.mismatch, 1);
    merge_release(&m);
    profile_free(p);
}

static void test_merge_call_entered_with_a_frame_being_set_up(void **state)
{
    /* 3.11+: the innermost call's frame has not run an instruction yet, so
     * the walk skipped it and counted the call (eval_leaf). */
    static const char *const py[] = {"f!", NULL};
    static const char *const nat[] = {"_PyEval_EvalFrameDefault@libpython3.12.so",
                                      "_PyEval_Vector@libpython3.12.so", "c_helper@ext.so",
                                      "_PyEval_EvalFrameDefault@libpython3.12.so", NULL};
    struct case_ c;
    python(&c, py);
    c.t.eval_leaf = 1;
    native(&c, nat, UNWIND_END_BOTTOM);
    struct profile *p = profile_new();
    struct merge m;
    merge_init(&m, p, 0);
    assert_string_equal(merged(&m, &c, &c.t, 3), "f;c_helper");
    assert_int_equal(m.stats.mismatch, 0);
    merge_release(&m);
    profile_free(p);
}

/* ---- fold_walk with native stacks ---- */

struct seen {
    char stacks[8][512];
    size_t count;
    char names[8][128];
};

static void collect(const struct fold_stack *s, void *ctx)
{
    struct seen *seen = ctx;
    char *out = seen->stacks[seen->count];
    size_t pos = 0;
    for (size_t i = 0; i < s->depth; i++)
        pos += (size_t)snprintf(out + pos, 512 - pos, "%s%s", i ? ";" : "", s->frames[i].name);
    snprintf(seen->names[seen->count], 128, "%s", s->thread->name);
    seen->count++;
}

static void test_fold_adds_threads_without_python_and_drops_the_not_unwound(void **state)
{
    struct case_ main_thread, blas, lost;
    python(&main_thread, chain_311_python);
    native(&main_thread, chain_311_native, UNWIND_END_BOTTOM);
    static const char *const blas_native[] = {"dgemm_kernel@libopenblas.so.0",
                                              "blas_thread_server@libopenblas.so.0",
                                              "start_thread@libc.so.6", NULL};
    native(&blas, blas_native, UNWIND_END_BOTTOM);
    blas.ns.tid = 4243;
    static const char *const one[] = {"spin!", NULL};
    python(&lost, one); /* a Python thread that was not stopped in time */
    lost.t.tid = 4244;

    struct py_runtime rt = {.pid = getpid(), .major = 3, .minor = 11};
    struct py_thread threads[2] = {main_thread.t, lost.t};
    struct walker w = {.rt = &rt, .threads = threads, .nthreads = 2};
    struct native_stack stacks[2] = {main_thread.ns, blas.ns};
    struct native_stacks n;
    assert_int_equal(native_init(&n, getpid()), 0); /* for its thread-name cache */
    n.stacks = stacks;
    n.count = 2;
    w.native = &n;

    struct profile *p = profile_new();
    struct fold f;
    struct fold_options o = {.idle = 1};
    fold_init(&f, p, &o);
    struct seen seen = {0};
    assert_int_equal(fold_walk(&f, &w, collect, &seen), 2);
    assert_string_equal(seen.stacks[0], "<module>;main;py_outer;c_a;c_b;callback;c_c");
    assert_string_equal(seen.stacks[1], "blas_thread_server;dgemm_kernel");
    assert_int_equal(f.stats.native_threads, 1);
    assert_int_equal(f.stats.native_dropped, 1);

    /* An unknown OS tid: its Python frames are kept, and no thread is
     * called Python-less, since it might be any of them. */
    threads[1].tid = 0;
    seen.count = 0;
    assert_int_equal(fold_walk(&f, &w, collect, &seen), 2);
    assert_string_equal(seen.stacks[1], "spin");
    assert_int_equal(f.stats.native_unmatched, 1);
    fold_release(&f);
    profile_free(p);
    n.stacks = NULL; /* ours, on the stack */
    native_release(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_311_calls_replaced_by_the_frames_they_run),
        cmocka_unit_test(test_merge_native_all_keeps_the_plumbing),
        cmocka_unit_test(test_merge_before_311_each_frame_has_its_own_call),
        cmocka_unit_test(test_merge_27_calls_are_pyeval_evalframeex),
        cmocka_unit_test(test_merge_thread_without_python_loses_only_its_libc_start),
        cmocka_unit_test(test_merge_frames_without_a_symbol_are_named_by_library_and_offset),
        cmocka_unit_test(test_merge_machinery_is_hidden_only_in_the_interpreter),
        cmocka_unit_test(test_merge_extra_call_at_the_leaf_aligns_from_the_root),
        cmocka_unit_test(test_merge_partial_unwind_aligns_from_the_leaf),
        cmocka_unit_test(test_merge_call_entered_with_a_frame_being_set_up),
        cmocka_unit_test(test_fold_adds_threads_without_python_and_drops_the_not_unwound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
