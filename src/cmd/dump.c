/*
 * cmd_dump.c - `spyglass dump`: every thread's Python stack, right now.
 *
 * Attaches (reads only), walks every thread once, prints them like a
 * traceback, most recent call first, and leaves. A plain dump never stops
 * the target: it is a handful of reads that take well under a millisecond.
 * With --locals it reads many objects that a running program keeps
 * replacing, so (unless --nonblocking) the threads are stopped while the
 * report is rendered into memory, and run again before it is written out.
 * With --native they are stopped too, so that each can be unwound; its C
 * frames are merged with its Python ones (collect/merge.h) and threads
 * without Python are listed after the others.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "cmd/dump_tasks.h"
#include "collect/attach.h"
#include "collect/merge.h"
#include "format/json.h"
#include "proc/mem.h"
#include "proc/pause.h"
#include "proc/proc.h"
#include "proc/task.h"
#include "python/debug_offsets.h"
#include "python/detect.h"
#include "python/locals.h"
#include "python/tasks.h"
#include "python/walk.h"
#include "sample/native.h"
#include "sample/procset.h"
#include "util/utf8.h"
#include "util/util.h"

/* The longest a --locals dump keeps a process stopped. Reading every
 * variable of a big program takes far longer (200 threads x 120 frames:
 * 24,000 frames, 2.6 s of CPU, 10 s on a loaded machine): once the limit
 * has passed, the threads are resumed and the rest is read as
 * --nonblocking would, and the report says so. */
#define DUMP_PAUSE_LIMIT_MS 100

/* A --locals pause in progress: ended (the target resumed) at the first
 * frame whose locals are read after the deadline. */
struct dump_pause {
    struct pause_set *ps;
    struct walker *w;
    int stopped; /* the target is stopped now */
    int was_stopped;
    uint64_t start_ns, deadline_ns, end_ns;
    size_t frames, frames_after; /* frames whose locals were read; after resuming */
};

struct dump_options {
    pid_t pid;
    int json;
    int locals;
    int nonblocking;
    int subprocesses;
    int tasks;
    int native, native_all;
    struct dump_pause *pause; /* set while one process is rendered */
};

/* --native: the unwinder, and the merge with its scratch profile (which
 * only interns the native frames' names). */
struct dump_native {
    struct native_stacks stacks;
    struct profile *names;
    struct merge merge;
    int unwound; /* stacks holds this dump's threads */
};

static void dump_help(void)
{
    printf("usage: spyglass dump --pid PID [--json] [--locals [--nonblocking] | --tasks]\n"
           "                     [--native] [--subprocesses]\n\n"
           "Print the Python stack of every thread of a running program, most recent\n"
           "call first, like a traceback. The program keeps running; nothing is written\n"
           "to it.\n\n"
           "Options:\n"
           "  -p, --pid PID   the Python process to look at\n"
           "  -j, --json      print JSON instead of text (one object, see below)\n"
           "  -l, --locals    also show each frame's variables, closures' cells included,\n"
           "                  as short reprs: None, bools, ints, floats, str and bytes as\n"
           "                  Python writes them; the first 5 items and the length of\n"
           "                  lists, tuples, dicts and sets; other objects as\n"
           "                  <TypeName at 0x...>. At most 64 per frame, 255 bytes each.\n"
           "                  The threads are stopped while they are read, so values\n"
           "                  belong to the same moment, but for at most 100 ms: the\n"
           "                  rest is read with the program running, and stderr says\n"
           "                  how long it was stopped and how many frames were read\n"
           "                  after it resumed.\n"
           "      --nonblocking\n"
           "                  with --locals, never stop the target (values of a busy\n"
           "                  program may then be torn: '<unreadable>' or stale)\n"
           "  -n, --native    also the C and C++ frames, each marked [native] and named\n"
           "                  \"function (library)\", in place of the interpreter's\n"
           "                  evaluation calls, and the threads that run no Python (C\n"
           "                  threads, BLAS pools). The threads are stopped while they\n"
           "                  are unwound: some 30 ms, most of it reading the\n"
           "                  libraries' unwind tables, which each dump does afresh\n"
           "      --native-all\n"
           "                  with --native, also the interpreter's own C frames\n"
           "                  (PyObject_Call, _PyFunction_Vectorcall, ...)\n"
           "  -T, --tasks     instead of the threads, every asyncio task (Python 3.6-3.13):\n"
           "                  per event loop (and the thread running it), a tree of\n"
           "                  which task awaits which (directly, or through gather,\n"
           "                  TaskGroup, asyncio.wait), each task's coroutines with\n"
           "                  file:line, and what it waits on: asyncio.sleep (and when it\n"
           "                  is due), a Lock, Event, Condition, Semaphore or Queue, a\n"
           "                  socket or stream read, a plain future. Tasks that await\n"
           "                  each other in a cycle are shown as a DEADLOCK\n"
           "  -s, --subprocesses\n"
           "                  also every descendant process that runs Python (server\n"
           "                  workers, multiprocessing children), one block each, parents\n"
           "                  first; other descendants are skipped\n"
           "  -h, --help      show this help\n\n"
           "Each thread is headed by its Python thread id, its state and its name:\n"
           "  Thread 0x7f12c0bff6c0 (idle) \"worker-1\" [tid 4242]\n"
           "      handle (app.py:12)\n"
           "      run (app.py:30)\n"
           "'active' means the OS has the thread running (on CPU or ready to run);\n"
           "'idle' means it waits (sleep, I/O, a lock); 'unknown' means no thread of the\n"
           "process carries its thread id (it is never taken for active); 'gil' marks\n"
           "the thread holding the GIL. A free-threaded build (3.13t+) has no GIL unless\n"
           "PYTHON_GIL=1: there 'attached' marks the threads running Python code. In a\n"
           "container (a PID namespace of its own), ids are ours, followed by the ones\n"
           "the process sees. A stack deeper than %d frames shows its %d innermost and\n"
           "%d outermost frames, with a line saying how many were omitted between them.\n\n"
           "The header says where the layout of the interpreter's memory came from:\n"
           "spyglass's table for that version, checked against the interpreter's own\n"
           "_Py_DebugOffsets (3.13+), or those offsets alone (SPYGLASS_LAYOUT=offsets, or a\n"
           "version newer than spyglass knows), and whether that version was ever run\n"
           "here.\n\n"
           "JSON: {\"pid\", \"python\", \"free_threaded\", \"gil_enabled\", \"layout\":\n"
           "{\"source\": table|checked|offsets, \"table\", \"tested\"}, \"threads\": [{\"ident\",\n"
           "\"tid\", \"ns_tid\" (in a container), \"name\", \"active\", \"state\" (active,\n"
           "idle, unknown), \"gil\" (null without a GIL), \"attached\" (null before 3.13),\n"
           "\"os_state\", \"depth\", \"frames_omitted\" (after the innermost %d), \"torn\",\n"
           "\"frames\": [{\"function\", \"name\", \"file\", \"line\",\n"
           "\"locals\": [{\"name\", \"value\"}], \"locals_more\"}]}]}; with\n"
           "--subprocesses: {\"pid\", \"processes\": [one such object per process]}; with\n"
           "--native every frame has \"native\" (true: file is the library, line 0) and\n"
           "threads without Python have \"python\": false and ident 0.\n"
           "With --tasks: {\"pid\", \"python\", \"asyncio\", \"loops\": [{\"address\",\n"
           "\"thread\", \"tasks\", \"running_task\"}], \"tasks\": [{\"id\", \"name\", \"loop\",\n"
           "\"running\", \"eager\", \"pure\", \"deadlock\", \"frames\": [{\"function\", \"name\",\n"
           "\"file\", \"line\", \"kind\"}], \"awaits\": {\"kind\", ...}, \"awaited_by\"}],\n"
           "\"deadlocks\", \"done\", \"unreadable\"} (see spyglass(1), ASYNCIO)\n\n"
           "Examples:\n"
           "  spyglass dump --pid $(pgrep -f 'python app.py') --locals\n"
           "  spyglass dump --pid 12345 --native\n",
           WALK_MAX_DEPTH, WALK_KEEP_INNER, WALK_KEEP_OUTER, WALK_KEEP_INNER);
}

static int parse(int argc, char **argv, struct dump_options *o)
{
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, 'p'},    {"json", no_argument, NULL, 'j'},
        {"locals", no_argument, NULL, 'l'},       {"nonblocking", no_argument, NULL, 'B'},
        {"native", no_argument, NULL, 'n'},       {"native-all", no_argument, NULL, 'A'},
        {"subprocesses", no_argument, NULL, 's'}, {"tasks", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int c;
    memset(o, 0, sizeof(*o));
    static const char optstring[] = "+p:jlnsTh";
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (cmd_option_pid("dump", optarg, &o->pid))
                return EXIT_USAGE;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'l':
            o->locals = 1;
            break;
        case 's':
            o->subprocesses = 1;
            break;
        case 'T':
            o->tasks = 1;
            break;
        case 'B':
            o->nonblocking = 1;
            break;
        case 'A':
            o->native_all = 1;
            /* fall through */
        case 'n':
            o->native = 1;
            break;
        case 'h':
            dump_help();
            return -1;
        default:
            return cmd_option_error("dump", optstring, argv);
        }
    }
    if (optind < argc)
        return cmd_usage_error("dump", "unexpected argument '%s'", argv[optind]);
    if (!o->pid)
        return cmd_usage_error("dump", "which process? give --pid PID");
    if (o->tasks && o->locals)
        return cmd_usage_error("dump", "--locals shows the variables of thread stacks: it "
                                       "cannot be combined with --tasks");
    if (o->tasks && o->native)
        return cmd_usage_error("dump", "--native shows thread stacks: it cannot be combined "
                                       "with --tasks");
    if (o->native && o->nonblocking)
        return cmd_usage_error("dump", "--native unwinds each thread while it is stopped: it "
                                       "cannot be combined with --nonblocking");
    if (o->native && o->subprocesses)
        return cmd_usage_error("dump", "--native reads one process: it cannot be combined with "
                                       "--subprocesses yet");
    return 0;
}

/* Writes a name from the target as text a terminal cannot act on: control
 * characters (C0, DEL, C1) and bytes that are not well-formed UTF-8 become
 * \xNN escapes, a newline \n (utf8_escape_char), so a name never moves the
 * cursor, recolours the terminal or breaks the one-frame-per-line layout. */
static void put_name(FILE *out, const char *name)
{
    char piece[UTF8_ESCAPE_MAX];
    size_t used;
    while ((used = utf8_escape_char(name, piece)) != 0) {
        fputs(piece, out);
        name += used;
    }
}

struct locals_ctx {
    FILE *out;
    int json;
    int count;
};

static void print_local(const char *name, const char *repr, void *arg)
{
    struct locals_ctx *lc = arg;
    if (lc->json) {
        fputs(lc->count ? ", " : "", lc->out);
        fputs("{\"name\": ", lc->out);
        json_string(lc->out, name);
        fputs(", \"value\": ", lc->out);
        json_string(lc->out, repr);
        fputc('}', lc->out);
    } else {
        fputs("        ", lc->out);
        put_name(lc->out, name);
        fputs(" = ", lc->out);
        put_name(lc->out, repr);
        fputc('\n', lc->out);
    }
    lc->count++;
}

static const char *state_text(const struct walker *w, const struct py_thread *t)
{
    if (w->gil_off && t->attached == 1) /* no GIL: the threads running Python */
        return t->unknown ? "unknown, attached" : t->idle ? "idle, attached" : "active, attached";
    if (t->unknown)
        return !w->gil_off && t->holds_gil ? "unknown, gil" : "unknown";
    if (!w->gil_off && t->holds_gil)
        return t->idle ? "idle, gil" : "active, gil";
    return t->idle ? "idle" : "active";
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Resumes a stopped target, noting when. */
static void pause_end(struct dump_pause *dp)
{
    if (!dp || !dp->stopped)
        return;
    pause_resume(dp->ps);
    dp->w->nstates = 0;
    dp->w->paused = 0;
    dp->stopped = 0;
    dp->end_ns = now_ns();
}

/* locals_read, after ending the pause if its time is up. */
static int frame_locals(const struct dump_options *o, struct walker *w, struct py_frame *f,
                        void (*fn)(const char *, const char *, void *), void *ctx)
{
    struct dump_pause *dp = o->pause;
    if (dp && dp->stopped && now_ns() >= dp->deadline_ns)
        pause_end(dp);
    if (dp) {
        dp->frames++;
        dp->frames_after += dp->was_stopped && !dp->stopped;
    }
    return locals_read(w, f, fn, ctx);
}

void dump_put_name(FILE *out, const char *name)
{
    put_name(out, name);
}

/* Writes a Python frame (and its locals, with --locals) as a traceback line. */
static void text_python_frame(struct walker *w, const struct dump_options *o, struct py_frame *f,
                              FILE *out)
{
    fputs("    ", out);
    put_name(out, f->code->qualname);
    fputs(" (", out);
    put_name(out, f->code->filename);
    fprintf(out, ":%d)\n", f->line);
    if (o->locals) {
        struct locals_ctx lc = {out, 0, 0};
        int more = frame_locals(o, w, f, print_local, &lc);
        if (more > 0)
            fprintf(out, "        ... (%d more locals)\n", more);
        else if (more < 0)
            fprintf(out, "        ... (locals unreadable: %s)\n", sg_strerror(more));
    }
}

/* Writes a native frame: "    deflate (libz.so.1.2.13) [native]". */
static void text_native_frame(const struct profile_frame *pf, FILE *out)
{
    fputs("    ", out);
    put_name(out, pf->name);
    fputs(" (", out);
    put_name(out, pf->file[0] ? pf->file : "?");
    fputs(") [native]\n", out);
}

/* Writes a Python frame as a JSON object. */
static void json_python_frame(struct walker *w, const struct dump_options *o, struct py_frame *f,
                              FILE *out)
{
    fputs("{\"function\": ", out);
    json_string(out, f->code->qualname);
    fputs(", \"name\": ", out);
    json_string(out, f->code->name);
    fputs(", \"file\": ", out);
    json_string(out, f->code->filename);
    fprintf(out, ", \"line\": %d", f->line);
    if (o->native)
        fputs(", \"native\": false", out);
    if (o->locals) {
        struct locals_ctx lc = {out, 1, 0};
        fputs(", \"locals\": [", out);
        int more = frame_locals(o, w, f, print_local, &lc);
        fputc(']', out);
        if (more > 0)
            fprintf(out, ", \"locals_more\": %d", more);
    }
    fputc('}', out);
}

static void json_native_frame(const struct profile_frame *pf, FILE *out)
{
    fputs("{\"function\": ", out);
    json_string(out, pf->name);
    fputs(", \"name\": ", out);
    json_string(out, pf->name);
    fputs(", \"file\": ", out);
    json_string(out, pf->file);
    fputs(", \"line\": 0, \"native\": true}", out);
}

/* One frame to print: a Python frame, or (--native) a native one. */
struct frame_ref {
    struct py_frame *py;
    const struct profile_frame *native;
};

/* A thread's frames to print, most recent call first. */
struct frame_list {
    struct frame_ref *refs;
    size_t count, cap;
    int unwound; /* --native: its native stack was read (and merged) */
};

/* Fills fl with thread t's frames (t NULL: a thread without Python whose
 * native stack is ns), merged with its native stack if it was unwound. */
static void thread_frames(struct dump_native *dn, struct walker *w, struct py_thread *t,
                          const struct native_stack *ns, struct frame_list *fl)
{
    if (t && dn && dn->unwound && t->tid)
        ns = native_find(&dn->stacks, t->tid);
    fl->unwound = ns && !ns->err;
    if (!fl->unwound) {
        fl->count = t ? t->depth : 0;
        fl->refs = xgrow(fl->refs, sizeof(*fl->refs), fl->count + 1, &fl->cap);
        for (size_t d = 0; d < fl->count; d++)
            fl->refs[d] = (struct frame_ref){&t->frames[d], NULL};
        return;
    }
    size_t count = merge_thread(&dn->merge, t, ns, w->rt->major);
    fl->refs = xgrow(fl->refs, sizeof(*fl->refs), count + 1, &fl->cap);
    for (size_t i = 0; i < count; i++) { /* merged root first; printed leaf first */
        const struct merge_item *it = &dn->merge.items[count - 1 - i];
        fl->refs[i] = it->native ? (struct frame_ref){NULL, profile_frame(dn->names, it->value)}
                                 : (struct frame_ref){&t->frames[it->value], NULL};
    }
    fl->count = count;
}

/* Whether native stack ns belongs to a thread without Python state: its tid
 * is no Python thread's, and every Python thread's tid is known. */
static int without_python(const struct walker *w, const struct native_stack *ns)
{
    for (size_t i = 0; i < w->nthreads; i++) {
        if (w->threads[i].tid == ns->tid || w->threads[i].tid == 0)
            return 0;
    }
    return 1;
}

/* Writes a thread's frames as traceback lines (t NULL: a thread without
 * Python), the omitted middle of a deep stack as one line. */
static void text_frames(struct walker *w, const struct dump_options *o, const struct py_thread *t,
                        const struct frame_list *fl, FILE *out)
{
    for (size_t i = 0; i < fl->count; i++) {
        const struct frame_ref *r = &fl->refs[i];
        if (r->native) {
            text_native_frame(r->native, out);
            continue;
        }
        if (t && t->omitted && r->py == &t->frames[WALK_KEEP_INNER])
            fprintf(out, "    ... (%s%zu frames omitted: %zu frames deep in all) ...\n",
                    t->truncated ? "more than " : "", t->omitted, t->depth + t->omitted);
        text_python_frame(w, o, r->py, out);
    }
}

/* Writes the threads without Python state (--native), after the others. */
static void text_native_threads(struct walker *w, const struct dump_options *o,
                                struct dump_native *dn, struct frame_list *fl, FILE *out)
{
    for (size_t i = 0; dn && dn->unwound && i < dn->stacks.count; i++) {
        const struct native_stack *ns = &dn->stacks.stacks[i];
        if (!without_python(w, ns))
            continue;
        fprintf(out, "\nNative thread (%s) \"", task_state_idle(ns->state) ? "idle" : "active");
        put_name(out, native_thread_name(&dn->stacks, ns->tid));
        fprintf(out, "\" [tid %d]\n", (int)ns->tid);
        thread_frames(dn, w, NULL, ns, fl);
        text_frames(w, o, NULL, fl, out);
        if (ns->err)
            fprintf(out, "    ... (not unwound: %s)\n", sg_strerror(ns->err));
    }
}

static void print_header(struct walker *w, FILE *out)
{
    char cmdline[256] = "", ns[64];
    proc_cmdline(w->rt->pid, cmdline, sizeof(cmdline));
    fprintf(out, "Process %d%s: ", (int)w->rt->pid, cmd_namespace_note(w->rt->pid, ns, sizeof(ns)));
    put_name(out, cmdline);
    char layout[512];
    debug_offsets_describe(w->rt, layout, sizeof(layout));
    fprintf(out, "\nPython %s (", w->rt->version);
    put_name(out, w->rt->binary); /* a path the target chose */
    fprintf(out, ")%s\nLayout: %s\n",
            !w->rt->free_threaded ? ""
            : w->gil_off          ? ", free-threaded, no GIL"
                                  : ", free-threaded, GIL on",
            layout);
}

static void print_text(struct walker *w, const struct dump_options *o, struct dump_native *dn,
                       FILE *out)
{
    struct frame_list fl = {0};
    print_header(w, out);
    for (size_t i = 0; i < w->nthreads; i++) {
        struct py_thread *t = &w->threads[i];
        fprintf(out, "\nThread 0x%" PRIx64 " (%s)", t->ident, state_text(w, t));
        if (t->name[0]) {
            fputs(" \"", out);
            put_name(out, t->name);
            fputc('"', out);
        }
        if (t->tid && t->inner_tid)
            fprintf(out, " [tid %d, %d in its PID namespace]", (int)t->tid, (int)t->inner_tid);
        else if (t->tid)
            fprintf(out, " [tid %d]", (int)t->tid);
        else if (t->unknown)
            fputs(" [tid unknown]", out);
        fputc('\n', out);
        thread_frames(dn, w, t, NULL, &fl);
        text_frames(w, o, t, &fl, out);
        if (t->truncated)
            fprintf(out, "    ... (outermost frames not read: more than %d frames deep)\n",
                    WALK_MAX_CHAIN);
        if (t->torn)
            fputs("    ... (stack torn: the thread kept calling and returning while it was "
                  "read; frames above may not belong together)\n",
                  out);
        else if (t->error)
            fprintf(out, "    ... (stack cut short: %s)\n", sg_strerror(t->error));
        if (dn && dn->unwound && !fl.unwound)
            fputs("    ... (no native frames: the thread was not stopped in time)\n", out);
    }
    text_native_threads(w, o, dn, &fl, out);
    free(fl.refs);
}

static void json_frames(struct walker *w, const struct dump_options *o, const struct frame_list *fl,
                        FILE *out)
{
    fputs(", \"frames\": [", out);
    for (size_t i = 0; i < fl->count; i++) {
        fputs(i ? ",\n    " : "\n    ", out);
        if (fl->refs[i].native)
            json_native_frame(fl->refs[i].native, out);
        else
            json_python_frame(w, o, fl->refs[i].py, out);
    }
    fputs("]}", out);
}

/* The threads without Python state (--native) as JSON objects; *n counts
 * the objects written so far. */
static void json_native_threads(struct walker *w, const struct dump_options *o,
                                struct dump_native *dn, struct frame_list *fl, size_t *n, FILE *out)
{
    for (size_t i = 0; dn && dn->unwound && i < dn->stacks.count; i++) {
        const struct native_stack *ns = &dn->stacks.stacks[i];
        if (!without_python(w, ns))
            continue;
        fprintf(out, "%s\n  {\"ident\": 0, \"tid\": %d, \"name\": ", (*n)++ ? "," : "",
                (int)ns->tid);
        json_string(out, native_thread_name(&dn->stacks, ns->tid));
        int known = ns->state >= 'A' && ns->state <= 'Z', idle = task_state_idle(ns->state);
        thread_frames(dn, w, NULL, ns, fl);
        fprintf(out,
                ", \"python\": false, \"active\": %s, \"state\": \"%s\", \"gil\": false, "
                "\"os_state\": \"%c\", \"depth\": %zu",
                known && !idle ? "true" : "false",
                !known ? "unknown"
                : idle ? "idle"
                       : "active",
                known ? ns->state : '?', fl->count);
        json_frames(w, o, fl, out);
    }
}

static void print_json(struct walker *w, const struct dump_options *o, struct dump_native *dn,
                       FILE *out)
{
    struct frame_list fl = {0};
    size_t n = 0;
    fprintf(out, "{\"pid\": %d, \"python\": ", (int)w->rt->pid);
    json_string(out, w->rt->version);
    fprintf(out, ", \"free_threaded\": %s, \"gil_enabled\": %s, \"layout\": {\"source\": \"%s\", ",
            w->rt->free_threaded ? "true" : "false", w->gil_off ? "false" : "true",
            debug_offsets_source_name(w->rt->layout_source));
    fputs("\"table\": ", out);
    json_string(out, w->rt->layout.name);
    fputs(", \"tested\": ", out);
    json_string(out, w->rt->newer ? "" : w->rt->layout.tested);
    fputs("}, \"threads\": [", out);
    for (size_t i = 0; i < w->nthreads; i++, n++) {
        struct py_thread *t = &w->threads[i];
        fprintf(out, "%s\n  {\"ident\": %" PRIu64 ", \"tid\": %d, ", n ? "," : "", t->ident,
                (int)t->tid);
        if (t->inner_tid)
            fprintf(out, "\"ns_tid\": %d, ", (int)t->inner_tid);
        fputs("\"name\": ", out);
        json_string(out, t->name);
        fprintf(out,
                ", \"active\": %s, \"state\": \"%s\", \"gil\": %s, \"attached\": %s, "
                "\"os_state\": \"%c\", \"depth\": %zu, \"frames_omitted\": %zu, \"truncated\": %s, "
                "\"torn\": %s",
                t->idle ? "false" : "true",
                t->unknown ? "unknown"
                : t->idle  ? "idle"
                           : "active",
                w->gil_off     ? "null"
                : t->holds_gil ? "true"
                               : "false",
                t->attached < 0 ? "null"
                : t->attached   ? "true"
                                : "false",
                t->os_state >= 'A' && t->os_state <= 'Z' ? t->os_state : '?', t->depth + t->omitted,
                t->omitted, t->truncated ? "true" : "false", t->torn ? "true" : "false");
        thread_frames(dn, w, t, NULL, &fl);
        if (o->native)
            fprintf(out, ", \"python\": true, \"native_frames\": %s",
                    fl.unwound ? "true" : "false");
        json_frames(w, o, &fl, out);
    }
    json_native_threads(w, o, dn, &fl, &n, out);
    fputs("\n]}\n", out);
    free(fl.refs);
}

/* --tasks: the process's header, then its asyncio tasks (read by the
 * walk that w->tasks was given to). */
static void print_tasks(struct walker *w, const struct dump_options *o, FILE *out)
{
    if (o->json) {
        fprintf(out, "{\"pid\": %d, \"python\": ", (int)w->rt->pid);
        json_string(out, w->rt->version);
        dump_tasks_json(w, w->tasks, out);
        fputs("}\n", out);
    } else {
        print_header(w, out);
        dump_tasks_text(w, w->tasks, out);
    }
}

/* Stops the target's threads for a --locals or --native dump and tells the
 * walker the states they had. Failing to stop them is not fatal: the dump
 * goes on as --nonblocking would (without native frames), with a warning
 * printed by the caller once the dump worked (a process that is exiting
 * refuses to be stopped too, and then the one line to print is that it
 * exited). Returns 0 or the pause error. */
static int pause_for_dump(const struct dump_options *o, struct pause_set *ps, struct walker *w,
                          struct dump_pause *dp)
{
    memset(dp, 0, sizeof(*dp));
    dp->ps = ps;
    dp->w = w;
    if (!o->native && (!o->locals || o->nonblocking))
        return 0;
    dp->start_ns = now_ns();
    int err = pause_interrupt(ps);
    if (err)
        return err;
    /* A dump is one stop: with --native worth waiting up to a second (50
     * rounds of pause_wait's 20 ms) for threads a loaded machine has not
     * scheduled yet, so that every thread can be unwound. */
    for (int round = 0; round < (o->native ? 50 : 1) && (round == 0 || ps->unsettled); round++)
        err = pause_wait(ps);
    if (err)
        return err; /* none stopped (-SG_ENOPROC): the process ended, or they took too long */
    w->state_tids = ps->tids;
    w->states = ps->states;
    w->nstates = ps->count;
    w->paused = 1;
    dp->stopped = dp->was_stopped = 1;
    dp->deadline_ns = dp->start_ns + DUMP_PAUSE_LIMIT_MS * 1000000ull;
    return 0;
}

/* Resumes the target after rendering (at once if the pause had failed:
 * threads stopped on the way are let go too). */
static void resume_after(struct dump_pause *dp)
{
    if (dp->stopped)
        pause_end(dp);
    else if (!dp->was_stopped)
        pause_resume(dp->ps);
}

/* Says how long process pid was stopped (to unwind its threads with
 * --native, to read its variables with --locals), and what was read after
 * it resumed. */
static void report_pause(const struct dump_options *o, pid_t pid, const struct dump_pause *dp)
{
    if (!dp->was_stopped)
        return;
    const char *why = !o->native                     ? "read its variables"
                      : o->locals && !o->nonblocking ? "unwind its threads and read their variables"
                                                     : "unwind its threads";
    fprintf(stderr, "spyglass: process %d was stopped for %.1f ms to %s", (int)pid,
            (double)(dp->end_ns - dp->start_ns) / 1e6, why);
    if (dp->frames_after)
        fprintf(stderr,
                "; the limit is %d ms: the variables of %zu of %zu frames were read after it "
                "resumed (they may be torn)",
                DUMP_PAUSE_LIMIT_MS, dp->frames_after, dp->frames);
    fputc('\n', stderr);
}

/* Returns 1 if the process is gone or a zombie. */
static int process_ended(pid_t pid)
{
    char state;
    return proc_state(pid, &state) != 0 || state == 'Z' || state == 'X';
}

/* Walks every thread (retrying one torn read), unwinds the stopped ones
 * with --native (dn; ps says which stopped), and renders the report into
 * *text, allocated (the caller frees it, also on error). Returns 0 or a
 * negative SG_E* code. */
static int render_walked(struct walker *w, const struct dump_options *o, const struct pause_set *ps,
                         struct dump_native *dn, char **text, size_t *len)
{
    int err = walk_sample(w);
    if (err == -SG_ECORRUPT || err == -SG_EFAULT)
        err = walk_sample(w);
    if (err)
        return err;
    if (dn && ps->count) {
        native_unwind(&dn->stacks, ps->tids, ps->states, ps->count, 0);
        dn->unwound = 1;
    }
    FILE *out = open_memstream(text, len);
    if (!out)
        return -SG_ENOMEM;
    if (o->tasks)
        print_tasks(w, o, out);
    else if (o->json)
        print_json(w, o, dn, out);
    else
        print_text(w, o, dn, out);
    return fclose(out) == 0 ? 0 : -SG_ENOMEM;
}

/* render_walked, with a task reader for --tasks. */
static int render(struct walker *w, const struct dump_options *o, const struct pause_set *ps,
                  struct dump_native *dn, char **text, size_t *len)
{
    if (!o->tasks)
        return render_walked(w, o, ps, dn, text, len);
    w->tasks = xmalloc(sizeof(*w->tasks));
    tasks_init(w->tasks, 1);
    int err = render_walked(w, o, ps, dn, text, len);
    tasks_release(w->tasks);
    free(w->tasks);
    w->tasks = NULL;
    return err;
}

/* Prepares --native's unwinder for process pid. Returns 0, or the SG_E*
 * code after which nothing needs releasing. */
static int native_open(struct dump_native *dn, const struct dump_options *o, pid_t pid)
{
    memset(dn, 0, sizeof(*dn));
    int err = native_init(&dn->stacks, pid);
    if (err)
        return err;
    dn->names = profile_new();
    merge_init(&dn->merge, dn->names, o->native_all);
    return 0;
}

static void native_close(struct dump_native *dn)
{
    merge_release(&dn->merge);
    profile_free(dn->names);
    native_release(&dn->stacks);
}

/* Says what a failed pause cost the dump. */
static void warn_not_stopped(const struct dump_options *o, pid_t pid, int err)
{
    if (!err || (err == -SG_ENOPROC && process_ended(pid)))
        return;
    if (err == -SG_ENOPROC)
        cmd_warning("process %d's threads did not stop within %s; %s", (int)pid,
                    o->native ? "a second" : "20 ms",
                    o->native ? "native frames left out" : "values may be torn");
    else if (o->native)
        cmd_warning("cannot stop process %d to unwind its threads (%s); native frames left out",
                    (int)pid, sg_strerror(err));
    else
        cmd_warning("cannot stop process %d to read its variables (%s); values may be torn",
                    (int)pid, sg_strerror(err));
}

/* --subprocesses: every Python process of the tree, parents first, each
 * stopped (with --locals) only while it is rendered. Processes that exit
 * while being read are left out. */
static int dump_tree(const struct dump_options *o, struct procset *set)
{
    size_t printed = 0;
    int ok = 1;
    if (o->json)
        printf("{\"pid\": %d, \"processes\": [", (int)o->pid);
    for (size_t i = 0; i < set->count; i++) {
        struct proc_target *t = set->targets[i];
        char *text = NULL;
        size_t len = 0;
        if (t->state != PT_PYTHON)
            continue;
        struct dump_pause dp;
        struct dump_options paused = *o;
        paused.pause = &dp;
        int pause_err = pause_for_dump(o, &t->pause, &t->w, &dp);
        int err = render(&t->w, &paused, &t->pause, NULL, &text, &len);
        resume_after(&dp);
        t->w.nstates = 0;
        t->w.paused = 0;
        if (!err)
            report_pause(o, t->pid, &dp);
        if (err) {
            if (!process_ended(t->pid))
                cmd_warning("cannot read the threads of process %d: %s", (int)t->pid,
                            sg_strerror(err));
        } else {
            warn_not_stopped(o, t->pid, pause_err);
            if (o->json && len && text[len - 1] == '\n')
                len--; /* the object goes into the list */
            fputs(o->json ? (printed ? ",\n" : "\n") : (printed ? "\n" : ""), stdout);
            ok &= fwrite(text, 1, len, stdout) == len;
            printed++;
        }
        free(text);
    }
    if (o->json)
        fputs("\n]}\n", stdout);
    return ok && fflush(stdout) == 0 && printed ? EXIT_OK : EXIT_FAILURE_RUN;
}

/* On a version spyglass never ran (newer than its tables, or a table from
 * headers only), threads whose walk failed its checks are said in one line:
 * the layout may be what is wrong. */
static void warn_failed_checks(const struct walker *w)
{
    size_t failed = 0;
    for (size_t i = 0; i < w->nthreads; i++)
        failed += w->threads[i].error != 0;
    if (failed && (w->rt->newer || !w->rt->layout.tested[0]))
        cmd_warning("the stacks of %zu of %zu threads of process %d failed the walker's checks: "
                    "Python %s was never run here, so spyglass's layout for it may be wrong",
                    failed, w->nthreads, (int)w->rt->pid, w->rt->version);
}

/* One process: render it (stopped while its locals are read, with
 * --locals, or its threads unwound, with --native), let it go, then write. */
static int dump_one(const struct dump_options *o, struct attach_target *t)
{
    struct walker w;
    struct pause_set ps;
    struct dump_native dn;
    char *text = NULL;
    size_t len = 0;
    int rc;
    struct dump_pause dp;
    struct dump_options paused = *o;
    paused.pause = &dp;
    int err = o->native ? native_open(&dn, o, o->pid) : 0;
    if (err) {
        cmd_error(cmd_attach_hint(err, o->pid), "cannot read the modules of process %d: %s",
                  (int)o->pid, sg_strerror(err));
        return EXIT_FAILURE_RUN;
    }
    walk_init(&w, &t->reader, &t->rt);
    pause_init(&ps, o->pid);
    int pause_err = pause_for_dump(o, &ps, &w, &dp);
    err = render(&w, &paused, &ps, o->native ? &dn : NULL, &text, &len);
    resume_after(&dp); /* before anything is written: stdout may be slow */
    w.nstates = 0;
    w.paused = 0;
    if (!err) {
        report_pause(o, o->pid, &dp);
        if (o->native)
            cmd_print_unnamed(&dn.merge, stderr);
    }
    if (err) {
        if (process_ended(o->pid))
            cmd_error(NULL, "process %d exited while being read", (int)o->pid);
        else
            cmd_error(cmd_attach_hint(err, o->pid), "cannot read the threads of process %d: %s",
                      (int)o->pid, sg_strerror(err));
        rc = EXIT_FAILURE_RUN;
    } else {
        warn_not_stopped(o, o->pid, pause_err);
        warn_failed_checks(&w);
        int ok = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0;
        rc = ok ? EXIT_OK : EXIT_FAILURE_RUN;
    }
    free(text);
    pause_release(&ps);
    walk_release(&w);
    if (o->native)
        native_close(&dn);
    return rc;
}

int cmd_dump(int argc, char **argv)
{
    struct dump_options o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    struct attach_options ao = {.pid = o.pid, .tree = o.subprocesses, .stop = &cmd_stop};
    struct attach_target t;
    char why[512];
    int err = attach_start(&ao, &t, why, sizeof(why));
    if (err) {
        cmd_attach_error(err, &t, why);
        return EXIT_FAILURE_RUN;
    }
    cmd_runtime_note(&t);
    rc = o.subprocesses ? dump_tree(&o, &t.set) : dump_one(&o, &t);
    attach_release(&t);
    return rc;
}
