/*
 * cmd_dump.c - `spyglass dump`: every thread's Python stack, right now.
 *
 * Attaches (reads only), walks every thread once, prints them like a
 * traceback, most recent call first, and leaves. A plain dump never stops
 * the target: it is a handful of reads that take well under a millisecond.
 * With --locals it reads many objects that a running program keeps
 * replacing, so (unless --nonblocking) the threads are stopped while the
 * report is rendered into memory, and run again before it is written out.
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
#include "format/json.h"
#include "proc/mem.h"
#include "proc/pause.h"
#include "proc/proc.h"
#include "python/detect.h"
#include "python/locals.h"
#include "python/tasks.h"
#include "python/walk.h"
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
    struct dump_pause *pause; /* set while one process is rendered */
};

static void dump_help(void)
{
    printf("usage: spyglass dump --pid PID [--json] [--locals [--nonblocking] | --tasks] "
           "[--subprocesses]\n\n"
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
           "  -n, --nonblocking\n"
           "                  with --locals, never stop the target (values of a busy\n"
           "                  program may then be torn: '<unreadable>' or stale)\n"
           "  -s, --subprocesses\n"
           "                  also every descendant process that runs Python (server\n"
           "                  workers, multiprocessing children), one block each, parents\n"
           "                  first; other descendants are skipped\n"
           "  -T, --tasks     instead of the threads, every asyncio task (Python 3.6+):\n"
           "                  per event loop (and the thread running it), a tree of\n"
           "                  which task awaits which (directly, or through gather,\n"
           "                  TaskGroup, asyncio.wait), each task's coroutines with\n"
           "                  file:line, and what it waits on: asyncio.sleep (and when it\n"
           "                  is due), a Lock, Event, Condition, Semaphore or Queue, a\n"
           "                  socket or stream read, a plain future. Tasks that await\n"
           "                  each other in a cycle are shown as a DEADLOCK\n"
           "  -h, --help      show this help\n\n"
           "Each thread is headed by its Python thread id, its state and its name:\n"
           "  Thread 0x7f12c0bff6c0 (idle) \"worker-1\" [tid 4242]\n"
           "      handle (app.py:12)\n"
           "      run (app.py:30)\n"
           "'active' means the OS has the thread running (on CPU or ready to run);\n"
           "'idle' means it waits (sleep, I/O, a lock); 'unknown' means no thread of the\n"
           "process carries its thread id (it is never taken for active); 'gil' marks\n"
           "the thread holding the GIL. In a container (a PID namespace of its own), ids\n"
           "are ours, followed by the ones the process sees. A stack deeper than %d\n"
           "frames shows its %d innermost and %d outermost frames, with a line saying\n"
           "how many were omitted between them.\n\n"
           "JSON: {\"pid\", \"python\", \"threads\": [{\"ident\", \"tid\", \"ns_tid\" (in a\n"
           "container), \"name\", \"active\", \"state\" (active, idle, unknown), \"gil\",\n"
           "\"os_state\", \"depth\", \"frames_omitted\" (after the innermost %d), \"torn\",\n"
           "\"frames\": [{\"function\", \"name\", \"file\", \"line\",\n"
           "\"locals\": [{\"name\", \"value\"}], \"locals_more\"}]}]}; with\n"
           "--subprocesses: {\"pid\", \"processes\": [one such object per process]}\n"
           "With --tasks: {\"pid\", \"python\", \"asyncio\", \"loops\": [{\"address\",\n"
           "\"thread\", \"tasks\", \"running_task\"}], \"tasks\": [{\"id\", \"name\", \"loop\",\n"
           "\"running\", \"eager\", \"pure\", \"deadlock\", \"frames\": [{\"function\", \"name\",\n"
           "\"file\", \"line\", \"kind\"}], \"awaits\": {\"kind\", ...}, \"awaited_by\"}],\n"
           "\"deadlocks\", \"done\", \"unreadable\"} (see spyglass(1), ASYNCIO)\n\n"
           "Example:\n"
           "  spyglass dump --pid $(pgrep -f 'python app.py') --locals\n",
           WALK_MAX_DEPTH, WALK_KEEP_INNER, WALK_KEEP_OUTER, WALK_KEEP_INNER);
}

static int parse(int argc, char **argv, struct dump_options *o)
{
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, 'p'},    {"json", no_argument, NULL, 'j'},
        {"locals", no_argument, NULL, 'l'},       {"nonblocking", no_argument, NULL, 'n'},
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
        case 'n':
            o->nonblocking = 1;
            break;
        case 'T':
            o->tasks = 1;
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

static const char *state_text(const struct py_thread *t)
{
    if (t->unknown)
        return t->holds_gil ? "unknown, gil" : "unknown";
    if (t->holds_gil)
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

static void print_header(struct walker *w, FILE *out)
{
    char cmdline[256] = "", ns[64];
    proc_cmdline(w->rt->pid, cmdline, sizeof(cmdline));
    fprintf(out, "Process %d%s: ", (int)w->rt->pid, cmd_namespace_note(w->rt->pid, ns, sizeof(ns)));
    put_name(out, cmdline);
    fprintf(out, "\nPython %s (", w->rt->version);
    put_name(out, w->rt->binary); /* a path the target chose */
    fputs(")\n", out);
}

static void print_text(struct walker *w, const struct dump_options *o, FILE *out)
{
    print_header(w, out);
    for (size_t i = 0; i < w->nthreads; i++) {
        struct py_thread *t = &w->threads[i];
        fprintf(out, "\nThread 0x%" PRIx64 " (%s)", t->ident, state_text(t));
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
        for (size_t d = 0; d < t->depth; d++) {
            struct py_frame *f = &t->frames[d];
            if (d == WALK_KEEP_INNER && t->omitted)
                fprintf(out, "    ... (%s%zu frames omitted: %zu frames deep in all) ...\n",
                        t->truncated ? "more than " : "", t->omitted, t->depth + t->omitted);
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
        if (t->truncated)
            fprintf(out, "    ... (outermost frames not read: more than %d frames deep)\n",
                    WALK_MAX_CHAIN);
        if (t->torn)
            fputs("    ... (stack torn: the thread kept calling and returning while it was "
                  "read; frames above may not belong together)\n",
                  out);
        else if (t->error)
            fprintf(out, "    ... (stack cut short: %s)\n", sg_strerror(t->error));
    }
}

static void print_json(struct walker *w, const struct dump_options *o, FILE *out)
{
    fprintf(out, "{\"pid\": %d, \"python\": ", (int)w->rt->pid);
    json_string(out, w->rt->version);
    fputs(", \"threads\": [", out);
    for (size_t i = 0; i < w->nthreads; i++) {
        struct py_thread *t = &w->threads[i];
        fprintf(out, "%s\n  {\"ident\": %" PRIu64 ", \"tid\": %d, ", i ? "," : "", t->ident,
                (int)t->tid);
        if (t->inner_tid)
            fprintf(out, "\"ns_tid\": %d, ", (int)t->inner_tid);
        fputs("\"name\": ", out);
        json_string(out, t->name);
        fprintf(out,
                ", \"active\": %s, \"state\": \"%s\", \"gil\": %s, \"os_state\": \"%c\", "
                "\"depth\": %zu, \"frames_omitted\": %zu, \"truncated\": %s, \"torn\": %s",
                t->idle ? "false" : "true",
                t->unknown ? "unknown"
                : t->idle  ? "idle"
                           : "active",
                t->holds_gil ? "true" : "false",
                t->os_state >= 'A' && t->os_state <= 'Z' ? t->os_state : '?', t->depth + t->omitted,
                t->omitted, t->truncated ? "true" : "false", t->torn ? "true" : "false");
        fputs(", \"frames\": [", out);
        for (size_t d = 0; d < t->depth; d++) {
            struct py_frame *f = &t->frames[d];
            fputs(d ? ",\n    {\"function\": " : "\n    {\"function\": ", out);
            json_string(out, f->code->qualname);
            fputs(", \"name\": ", out);
            json_string(out, f->code->name);
            fputs(", \"file\": ", out);
            json_string(out, f->code->filename);
            fprintf(out, ", \"line\": %d", f->line);
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
        fputs("]}", out);
    }
    fputs("\n]}\n", out);
}

/* Stops the target's threads for a --locals dump and tells the walker the
 * states they had. Failing to stop them is not fatal: the dump goes on as
 * --nonblocking would, with a warning printed by the caller once the dump
 * worked (a process that is exiting refuses to be stopped too, and then the
 * one line to print is that it exited). Returns 0 or the pause error. */
static int pause_for_locals(const struct dump_options *o, struct pause_set *ps, struct walker *w,
                            struct dump_pause *dp)
{
    memset(dp, 0, sizeof(*dp));
    dp->ps = ps;
    dp->w = w;
    if (!o->locals || o->nonblocking)
        return 0;
    dp->start_ns = now_ns();
    int err = pause_all(ps);
    if (err)
        return err;
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

/* Says how long process pid was stopped for --locals, and what was read
 * after it resumed. */
static void report_pause(pid_t pid, const struct dump_pause *dp)
{
    if (!dp->was_stopped)
        return;
    fprintf(stderr, "spyglass: process %d was stopped for %.1f ms to read its variables", (int)pid,
            (double)(dp->end_ns - dp->start_ns) / 1e6);
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

/* Walks every thread (retrying one torn read) and renders the report into
 * *text, allocated (the caller frees it, also on error). Returns 0 or a
 * negative SG_E* code. */
static int render_walked(struct walker *w, const struct dump_options *o, char **text, size_t *len)
{
    int err = walk_sample(w);
    if (err == -SG_ECORRUPT || err == -SG_EFAULT)
        err = walk_sample(w);
    if (err)
        return err;
    FILE *out = open_memstream(text, len);
    if (!out)
        return -SG_ENOMEM;
    if (o->tasks)
        print_tasks(w, o, out);
    else if (o->json)
        print_json(w, o, out);
    else
        print_text(w, o, out);
    return fclose(out) == 0 ? 0 : -SG_ENOMEM;
}

/* render_walked, with a task reader for --tasks. */
static int render(struct walker *w, const struct dump_options *o, char **text, size_t *len)
{
    if (!o->tasks)
        return render_walked(w, o, text, len);
    w->tasks = xmalloc(sizeof(*w->tasks));
    tasks_init(w->tasks, 1);
    int err = render_walked(w, o, text, len);
    tasks_release(w->tasks);
    free(w->tasks);
    w->tasks = NULL;
    return err;
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
        int pause_err = pause_for_locals(o, &t->pause, &t->w, &dp);
        int err = render(&t->w, &paused, &text, &len);
        resume_after(&dp);
        t->w.nstates = 0;
        t->w.paused = 0;
        if (!err)
            report_pause(t->pid, &dp);
        if (err) {
            if (!process_ended(t->pid))
                cmd_warning("cannot read the threads of process %d: %s", (int)t->pid,
                            sg_strerror(err));
        } else {
            if (pause_err && pause_err != -SG_ENOPROC)
                cmd_warning("cannot stop process %d to read its variables (%s); values may be "
                            "torn",
                            (int)t->pid, sg_strerror(pause_err));
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

/* One process: render it (stopped while its locals are read, with
 * --locals), let it go, then write. */
static int dump_one(const struct dump_options *o, struct attach_target *t)
{
    struct walker w;
    struct pause_set ps;
    char *text = NULL;
    size_t len = 0;
    int rc;
    struct dump_pause dp;
    struct dump_options paused = *o;
    paused.pause = &dp;
    walk_init(&w, &t->reader, &t->rt);
    pause_init(&ps, o->pid);
    int pause_err = pause_for_locals(o, &ps, &w, &dp);
    int err = render(&w, &paused, &text, &len);
    resume_after(&dp); /* before anything is written: stdout may be slow */
    w.nstates = 0;
    w.paused = 0;
    if (!err)
        report_pause(o->pid, &dp);
    if (err) {
        if (process_ended(o->pid))
            cmd_error(NULL, "process %d exited while being read", (int)o->pid);
        else
            cmd_error(cmd_attach_hint(err, o->pid), "cannot read the threads of process %d: %s",
                      (int)o->pid, sg_strerror(err));
        rc = EXIT_FAILURE_RUN;
    } else {
        if (pause_err && pause_err != -SG_ENOPROC)
            cmd_warning("cannot stop process %d to read its variables (%s); values may be torn",
                        (int)o->pid, sg_strerror(pause_err));
        int ok = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0;
        rc = ok ? EXIT_OK : EXIT_FAILURE_RUN;
    }
    free(text);
    pause_release(&ps);
    walk_release(&w);
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
    rc = o.subprocesses ? dump_tree(&o, &t.set) : dump_one(&o, &t);
    attach_release(&t);
    return rc;
}
