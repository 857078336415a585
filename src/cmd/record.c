/*
 * record.c - `spyglass record`: sample a program and write a profile.
 *
 * The story: parse the options; open the output (a temporary file renamed
 * into place, so a file at the requested path is always complete); attach to
 * --pid or spawn the command (collect/attach.h); run the sampler, folding
 * each walk's threads into a struct profile (collect/fold.h); hand the
 * profile to the writer picked by --format or the file's extension; print
 * the summary. Ctrl-C, SIGTERM and the target exiting all end the recording
 * normally: the profile is written.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "collect/attach.h"
#include "collect/blocked.h"
#include "collect/fold.h"
#include "format/format.h"
#include "proc/proc.h"
#include "profile/charge.h"
#include "profile/profile.h"
#include "python/tasks.h"
#include "sample/native.h"
#include "sample/procset.h"
#include "sample/rss.h"
#include "sample/sampler.h"
#include "util/output.h"
#include "util/util.h"

struct record_options {
    pid_t pid;
    char **command; /* argv after "--", or NULL */
    const char *output;
    const char *format;
    double rate;
    double duration;
    int idle, gil, threads, function, nonblocking, full_filenames, memory;
    int subprocesses, by_endpoint, async;
    double slow_callback_ms; /* --async: steps that held a loop this long are listed */
    int native, native_all, nonblocking_given;
};

static void record_help(void)
{
    char formats[256];
    format_list(formats, sizeof(formats));
    printf("usage: spyglass record (--pid PID | -- COMMAND [ARGS...]) [-o FILE] [options]\n\n"
           "Sample a running program's Python stacks and write a profile: by default an\n"
           "interactive flame graph (SVG) you open in a browser.\n\n"
           "What to profile:\n"
           "  -p, --pid PID        attach to a running process\n"
           "  -- COMMAND ARGS...   run COMMAND and profile it from its first Python frame,\n"
           "                       with every Python process it starts (a wrapper script,\n"
           "                       a reloader's child, a pool); spyglass exits with\n"
           "                       COMMAND's exit status\n\n"
           "Output:\n"
           "  -o, --output FILE    where to write (default: spyglass-PID.svg)\n"
           "  -f, --format F       %s\n"
           "                       (raw is py-spy's name for collapsed;\n"
           "                       default: from FILE's extension: .svg flamegraph,\n"
           "                       .txt/.folded collapsed, .json speedscope,\n"
           "                       .trace.json chrometrace, .prof pstats (cProfile's\n"
           "                       format: times are samples x interval, call counts are\n"
           "                       sample counts), .pb.gz/.pprof pprof; else flamegraph)\n"
           "      --full-filenames show full file paths instead of shortened ones\n\n"
           "Sampling:\n"
           "  -r, --rate HZ        samples per second (default 100)\n"
           "  -d, --duration S     stop after S seconds (default: when the program exits or\n"
           "                       on Ctrl-C; the profile is written either way)\n"
           "  -i, --idle           keep samples of threads that are waiting (sleep, I/O,\n"
           "                       locks); they are shown under an (idle) leaf. Default: dropped\n"
           "  -g, --gil            keep only samples of the thread holding the GIL (the\n"
           "                       summary says how many active ones ran without it)\n"
           "  -t, --threads        put each thread (name and id) at the root of its stacks\n"
           "  -F, --function       aggregate by function instead of by line\n"
           "  -b, --blocking       pause the target's threads while each sample is read,\n"
           "                       so no stack is ever torn by the target moving; costs the\n"
           "                       target ~1-4 ms per sample (ptrace stop and resume)\n"
           "      --nonblocking    never pause the target (the default). A stack that\n"
           "                       changed while it was read is read again, then left\n"
           "                       out and counted: 1-6%% of a stack changing shape all\n"
           "                       the time (bench/consistency.py), under 0.4%% of the\n"
           "                       kept ones still torn; reads are checked, never trusted\n"
           "  -n, --native         also the C and C++ frames (extensions, libraries, the\n"
           "                       interpreter's builtins), unwound from outside: each\n"
           "                       evaluation call is replaced by the Python frames it\n"
           "                       runs, so stacks read <module> -> handler -> json.dumps ->\n"
           "                       encoder_encode (libpython) -> ...; threads without Python\n"
           "                       (BLAS pools, C++ threads) appear with their C stacks.\n"
           "                       Pauses the threads it unwinds, as --blocking does (a\n"
           "                       stack can only be unwound while it stands still): the\n"
           "                       summary gives what that cost per sample\n"
           "      --native-all     with --native, also keep the interpreter's own C frames\n"
           "                       (_PyFunction_Vectorcall, PyObject_Call, ...), hidden by\n"
           "                       default\n"
           "  -m, --memory         also read the target's resident memory (RSS) at every\n"
           "                       sample and charge each change to the stack of the thread\n"
           "                       running then: the profile is weighed in bytes of growth\n"
           "                       (a flame graph of where memory grew), and --format\n"
           "                       spyglass keeps growth, release and peak RSS per line for\n"
           "                       `spyglass report FILE --lines FUNCTION`. Changes shorter\n"
           "                       than one sampling interval are only seen as their net\n"
           "                       effect (see spyglass(1), MEMORY)\n"
           "\nWeb services and process trees:\n"
           "  -s, --subprocesses   also profile every descendant process (server workers,\n"
           "                       multiprocessing children), including those started or\n"
           "                       restarted while recording; each stack is rooted at\n"
           "                       \"process PID (command)\". Non-Python ones are skipped\n"
           "  -e, --by-endpoint    root each stack at the HTTP request its thread was\n"
           "                       serving, read from the WSGI environ / ASGI scope dict\n"
           "                       (no code change): \"GET /users/<int:id>\" where Flask or\n"
           "                       FastAPI expose the route, else the path with numbers\n"
           "                       as {n}; \"(no request)\" outside requests. Ends with a\n"
           "                       table of time by endpoint\n"
           "\nasyncio (Python 3.6 - 3.13, not free-threaded):\n"
           "  -a, --async          also every asyncio task: a task waiting adds its\n"
           "                       coroutines (what awaits it first, e.g. the task that\n"
           "                       gathers it) as a stack of its own, rooted where its\n"
           "                       loop runs (_run_once) on the loop's thread, ending in\n"
           "                       (idle): kept with --idle, like a sleeping thread. The\n"
           "                       running task's thread stack gets the coroutines of the\n"
           "                       tasks awaiting it. With --by-endpoint a waiting task\n"
           "                       counts for the request found in its coroutines, so an\n"
           "                       async route's time is its running plus its awaiting.\n"
           "                       Ends with the callbacks that held a loop too long\n"
           "      --slow-callback MS  with --async: list the steps of a task (or\n"
           "                       callbacks) that ran MS milliseconds or more without\n"
           "                       giving the loop back (default 100, as asyncio's debug\n"
           "                       mode)\n"
           "  -h, --help           show this help\n\n"
           "At the end a summary goes to stderr: samples, achieved rate, errors, late\n"
           "samples, and the cost of one sample; with --memory also the RSS at the first\n"
           "sample, its peak (and when) and at the last sample; with --by-endpoint the\n"
           "endpoint table: samples, share of all active (on-CPU) samples, and the share\n"
           "of its own samples spent waiting (sleep, I/O, locks); with --async the\n"
           "tasks read per sample and what reading them cost, and the slow callbacks.\n\n"
           "Examples:\n"
           "  spyglass record --pid 12345 --duration 30 -o profile.svg\n"
           "  spyglass record --rate 250 -o profile.svg -- python batch_job.py\n"
           "  spyglass record --memory -o mem.spyglass -- python load.py\n"
           "  spyglass record --native -o native.svg --pid 12345\n"
           "  spyglass record --pid $(pgrep -o gunicorn) --subprocesses --by-endpoint -d 10\n"
           "  spyglass record --pid $(pgrep -o uvicorn) --async --by-endpoint --idle -d 10\n"
           "  spyglass report mem.spyglass --lines load.py\n",
           formats);
}

static const struct option longopts[] = {{"pid", required_argument, NULL, 'p'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"idle", no_argument, NULL, 'i'},
                                         {"gil", no_argument, NULL, 'g'},
                                         {"threads", no_argument, NULL, 't'},
                                         {"function", no_argument, NULL, 'F'},
                                         {"nonblocking", no_argument, NULL, 'B'},
                                         {"blocking", no_argument, NULL, 'b'},
                                         {"native", no_argument, NULL, 'n'},
                                         {"native-all", no_argument, NULL, 'A'},
                                         {"full-filenames", no_argument, NULL, 'L'},
                                         {"memory", no_argument, NULL, 'm'},
                                         {"subprocesses", no_argument, NULL, 's'},
                                         {"by-endpoint", no_argument, NULL, 'e'},
                                         {"async", no_argument, NULL, 'a'},
                                         {"slow-callback", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
static const char optstring[] = "+p:o:f:r:d:igtFnbmseaS:h";

#define FLAG(c, field, v)                                                                          \
    {                                                                                              \
        c, offsetof(struct record_options, field), v                                               \
    }
static const struct cmd_flag flags[] = {
    FLAG('i', idle, 1),           FLAG('g', gil, 1),    FLAG('t', threads, 1),
    FLAG('F', function, 1),       FLAG('n', native, 1), FLAG('A', native_all, 1),
    FLAG('L', full_filenames, 1), FLAG('m', memory, 1), FLAG('s', subprocesses, 1),
    FLAG('e', by_endpoint, 1),    FLAG('a', async, 1),  {0, 0, 0}};
#undef FLAG

/* Takes the value of an option that has one. Returns 0, EXIT_USAGE, or -2
 * if c is not such an option. */
static int parse_value(int c, const char *arg, struct record_options *o)
{
    switch (c) {
    case 'p':
        return cmd_option_pid("record", arg, &o->pid);
    case 'o':
        o->output = arg;
        return 0;
    case 'f':
        o->format = arg;
        return 0;
    case 'r':
        return cmd_option_rate("record", arg, &o->rate);
    case 'd':
        if (cmd_parse_number(arg, 1e7, &o->duration))
            return cmd_usage_error("record",
                                   "--duration wants a positive number of "
                                   "seconds, got '%s'",
                                   arg);
        return 0;
    case 'S':
        if (cmd_parse_number(arg, 1e7, &o->slow_callback_ms))
            return cmd_usage_error("record",
                                   "--slow-callback wants a positive number of "
                                   "milliseconds, got '%s'",
                                   arg);
        return 0;
    }
    return -2; /* not an option with a value */
}

/* Checks the options against each other. Returns 0 or EXIT_USAGE. */
static int check(const struct record_options *o)
{
    if (!o->pid && !o->command)
        return cmd_usage_error("record", "what to profile? give --pid PID or -- COMMAND");
    if (o->pid && o->command)
        return cmd_usage_error("record", "give either --pid or a command, not both");
    if (o->slow_callback_ms > 0 && !o->async)
        return cmd_usage_error("record", "--slow-callback watches asyncio loops: give --async "
                                         "too");
    if (o->memory && o->subprocesses)
        return cmd_usage_error("record", "--memory follows one process's RSS: it cannot be "
                                         "combined with --subprocesses yet");
    if (o->native && o->nonblocking_given)
        return cmd_usage_error("record", "--native unwinds each thread while it is paused: it "
                                         "cannot be combined with --nonblocking");
    if (o->native && o->subprocesses)
        return cmd_usage_error("record", "--native follows one process: it cannot be combined "
                                         "with --subprocesses yet");
    if (o->native && o->async)
        return cmd_usage_error("record", "--async joins tasks to Python stacks: it cannot be "
                                         "combined with --native yet");
    if (o->native && o->memory)
        return cmd_usage_error("record", "--memory charges RSS to Python stacks: it cannot be "
                                         "combined with --native yet");
    if (o->format && !format_find(o->format)) {
        char formats[256];
        format_list(formats, sizeof(formats));
        return cmd_usage_error("record", "unknown format '%s' (known: %s)", o->format, formats);
    }
    return 0;
}

/* Returns 0, -1 after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct record_options *o)
{
    memset(o, 0, sizeof(*o));
    o->rate = 100;
    o->nonblocking = 1; /* see --blocking in the help: measured, not assumed */
    optind = 1;
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        if (cmd_set_flag(flags, c, o))
            continue;
        if (c == 'b' || c == 'B') { /* the last one given wins */
            o->nonblocking = o->nonblocking_given = c == 'B';
            continue;
        }
        if (c == 'h') {
            record_help();
            return -1;
        }
        if (c == '?' || (rc = parse_value(c, optarg, o)) == -2)
            return cmd_option_error("record", optstring, argv);
        if (rc)
            return rc;
    }
    if ((rc = cmd_take_command("record", argc, argv, &o->command)) != 0)
        return rc;
    o->native |= o->native_all;
    if (o->native)
        o->nonblocking = 0; /* a thread is unwound while it stands still */
    if ((rc = check(o)) != 0)
        return rc;
    if (o->slow_callback_ms <= 0)
        o->slow_callback_ms = 100;
    return 0;
}

/* Everything one recording holds. */
struct recording {
    struct record_options opt;
    const struct format_writer *writer;
    struct output out;
    struct attach_target target;
    struct walker walker; /* one process (not a tree) */
    struct profile *profile;
    struct fold fold;
    char versions[64]; /* the Python versions seen, "3.11.2, 2.7.18" */
    struct sampler_stats stats;
    int sample_err;
    struct native_stacks native; /* --native */
    int have_native;
    /* --memory */
    struct rss_reader rss;
    struct charge charge;
    uint64_t rss_errors;
    /* --async */
    struct task_reader *tasks;
    struct blocked blocked;
};

/* Adds w's Python version to the list of versions seen (a process tree may
 * mix interpreters). */
static void note_version(struct recording *rec, const char *version)
{
    const char *at = strstr(rec->versions, version);
    size_t len = strlen(version);
    if (at && (at[len] == '\0' || at[len] == ','))
        return;
    size_t used = strlen(rec->versions);
    if (used + len + 3 < sizeof(rec->versions))
        snprintf(rec->versions + used, sizeof(rec->versions) - used, "%s%s", used ? ", " : "",
                 version);
}

/* Per stack the fold keeps: its weight, memory point and timeline event. */
struct tick {
    struct recording *rec;
    uint64_t elapsed_ns, rss;
    int have_rss;
};

static void add_stack(const struct fold_stack *s, void *ctx)
{
    struct tick *tick = ctx;
    struct profile *p = tick->rec->profile;
    /* with --memory the weight is bytes, added by the charge */
    uint32_t id = profile_add_stack(p, s->ids, s->depth, tick->rec->opt.memory ? 0 : 1);
    if (tick->have_rss)
        profile_add_memory(p, id, &(struct profile_memory){1, 0, 0, tick->rss});
    if (profile_timeline_enabled(p) && !s->task) { /* a timeline is of threads */
        const struct py_thread *t = s->thread;
        uint64_t key = t->tid ? (uint64_t)t->tid : t->ident;
        profile_add_event(p, tick->elapsed_ns, key, id);
        if (!profile_thread_name(p, key))
            profile_set_thread_name(p, key, t->name[0] ? t->name : "thread");
    }
}

static void on_sample(struct walker *w, uint64_t elapsed_ns, void *ctx)
{
    struct recording *rec = ctx;
    struct tick tick = {rec, elapsed_ns, 0, 0};
    note_version(rec, w->rt->version);
    if (rec->opt.memory) {
        tick.have_rss = rss_read(&rec->rss, &tick.rss) == 0;
        rec->rss_errors += !tick.have_rss;
    }
    fold_walk(&rec->fold, w, add_stack, &tick);
    if (rec->tasks)
        blocked_observe(&rec->blocked, &rec->fold, w, elapsed_ns);
    if (tick.have_rss)
        fold_charge_rss(&rec->fold, w, &rec->charge, elapsed_ns, tick.rss);
}

/* Picks the writer and opens the output. Returns 0, or an exit status. */
static int open_output(struct recording *rec)
{
    struct record_options *o = &rec->opt;
    static char default_out[64];
    if (!o->output) {
        snprintf(default_out, sizeof(default_out), "spyglass-%d.svg",
                 o->pid ? (int)o->pid : (int)getpid());
        o->output = default_out;
    }
    rec->writer = o->format ? format_find(o->format) : format_for_path(o->output);
    if (!rec->writer)
        rec->writer = format_find("flamegraph");
    if (o->memory && rec->writer->time_only)
        return cmd_usage_error("record",
                               "--memory weighs the profile in bytes, which %s cannot "
                               "hold (its columns are seconds): use flamegraph, collapsed, "
                               "speedscope or pprof",
                               rec->writer->name);
    char why[512];
    if (output_open(&rec->out, o->output, why, sizeof(why))) {
        cmd_error("choose a writable file with -o", "%s", why);
        return EXIT_FAILURE_RUN;
    }
    return 0;
}

/* Attaches or spawns, and sets up the profile and its fold. Returns 0, or
 * EXIT_FAILURE_RUN after printing why (the output is then discarded). */
static int start(struct recording *rec)
{
    struct record_options *o = &rec->opt;
    struct attach_options ao = {.pid = o->pid,
                                .command = o->command,
                                .tree = o->subprocesses,
                                .follow = !o->memory, /* RSS is one process's */
                                .stop = &cmd_stop,
                                .child_pid = &cmd_child};
    char why[512];
    int err = attach_start(&ao, &rec->target, why, sizeof(why));
    if (err) {
        cmd_attach_error(err, &rec->target, why);
        return EXIT_FAILURE_RUN;
    }
    cmd_runtime_note(&rec->target);
    o->pid = rec->target.pid;
    rec->profile = profile_new();
    cmd_limit_profile(rec->profile);
    if (rec->writer->needs_timeline)
        profile_enable_timeline(rec->profile);
    rec->rss.fd = -1;
    if (o->memory) {
        charge_init(&rec->charge, rec->profile);
        err = rss_open(&rec->rss, o->pid);
        if (err) {
            cmd_error(cmd_attach_hint(err, o->pid), "cannot read /proc/%d/statm: %s", (int)o->pid,
                      sg_strerror(err));
            return EXIT_FAILURE_RUN;
        }
    }
    if (o->native) {
        err = native_init(&rec->native, o->pid);
        if (err) {
            cmd_error(cmd_attach_hint(err, o->pid), "cannot read the modules of process %d: %s",
                      (int)o->pid, sg_strerror(err));
            return EXIT_FAILURE_RUN;
        }
        rec->have_native = 1;
    }
    struct fold_options fo = {.idle = o->idle,
                              .idle_leaf = 1,
                              .gil = o->gil,
                              .threads = o->threads,
                              .function = o->function,
                              .by_process = o->subprocesses,
                              .by_endpoint = o->by_endpoint,
                              .async = o->async,
                              .native_all = o->native_all};
    fold_init(&rec->fold, rec->profile, &fo);
    if (o->async) {
        rec->tasks = xmalloc(sizeof(*rec->tasks));
        tasks_init(rec->tasks, 0);
        blocked_init(&rec->blocked, (uint64_t)(o->slow_callback_ms * 1e6));
    }
    return 0;
}

/* Runs the sampler until the duration, a signal or the target's end. */
static void sample(struct recording *rec)
{
    const struct record_options *o = &rec->opt;
    struct attach_target *t = &rec->target;
    struct endpoint_reader *er = o->by_endpoint ? &rec->fold.roots.endpoints_reader : NULL;
    struct sampler_options so = {.rate_hz = o->rate,
                                 .duration_s = o->duration,
                                 .nonblocking = o->nonblocking,
                                 .child = t->child,
                                 .native = rec->have_native ? &rec->native : NULL,
                                 .native_idle = o->idle};
    const char *until = o->duration > 0 ? "" : " until it exits";
    if (t->tree) {
        fprintf(stderr,
                "spyglass: sampling pid %d and its %s (%zu Python now) at "
                "%.0f Hz%s; Ctrl-C to stop\n",
                (int)o->pid, t->followed ? "Python children" : "subprocesses",
                procset_python_count(&t->set), o->rate, until);
        t->set.endpoints = er;
        t->set.tasks = rec->tasks;
        rec->sample_err = sampler_run_set(&t->set, &so, &cmd_stop, on_sample, rec, &rec->stats);
    } else {
        walk_init(&rec->walker, &t->reader, &t->rt);
        rec->walker.endpoints = er;
        rec->walker.tasks = rec->tasks;
        char ns[64];
        fprintf(stderr, "spyglass: sampling pid %d%s (Python %s) at %.0f Hz%s; Ctrl-C to stop\n",
                (int)o->pid, cmd_namespace_note(o->pid, ns, sizeof(ns)), t->rt.version, o->rate,
                until);
        rec->sample_err = sampler_run(&rec->walker, &so, &cmd_stop, on_sample, rec, &rec->stats);
    }
    if (rec->stats.child_reaped) {
        t->child_status = rec->stats.child_status;
        t->child_reaped = 1;
    }
    if (rec->sample_err == -SG_EPERM)
        cmd_error("drop --blocking, or run as root / the target's user",
                  "not allowed to pause process %d (ptrace)", (int)o->pid);
}

static void fill_meta(struct recording *rec)
{
    const struct record_options *o = &rec->opt;
    const struct sampler_stats *st = &rec->stats;
    struct profile *p = rec->profile;
    struct profile_meta *m = profile_meta(p);
    char cmdline[512] = "", target[700];
    proc_cmdline(o->pid, cmdline, sizeof(cmdline));
    if (!cmdline[0] && o->command) {
        size_t pos = 0;
        for (char **a = o->command; *a && pos < sizeof(cmdline) - 1; a++)
            pos +=
                (size_t)snprintf(cmdline + pos, sizeof(cmdline) - pos, "%s%s", pos ? " " : "", *a);
    }
    snprintf(target, sizeof(target), "pid %d: %s%s", (int)o->pid, cmdline,
             o->subprocesses ? " (and its subprocesses)" : "");
    profile_set_meta_str(p, &m->title, "spyglass record");
    profile_set_meta_str(p, &m->target, target);
    profile_set_meta_str(p, &m->python_version,
                         rec->versions[0] ? rec->versions : rec->target.rt.version);
    profile_set_meta_str(p, &m->unit, o->memory ? "bytes" : "samples");
    m->rate_hz = o->rate;
    m->duration_s = (double)(st->end_ns - st->start_ns) / 1e9;
    m->samples = st->ok;
    m->errors = st->errors;
    char note[256];
    snprintf(note, sizeof(note), "%s%s%s%s%s%s%s",
             o->memory ? "RSS growth charged to the running thread, " : "",
             o->idle ? "idle included" : "idle dropped", o->gil ? ", GIL holder only" : "",
             o->function ? ", by function" : "", o->nonblocking ? ", nonblocking" : "",
             o->by_endpoint ? ", by endpoint" : "",
             o->native_all ? ", native (all)"
             : o->native   ? ", native"
                           : "");
    profile_set_meta_str(p, &m->note, note);
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void print_memory_summary(const struct recording *rec)
{
    const struct profile_meta *m = profile_meta_const(rec->profile);
    const struct charge *c = &rec->charge;
    if (!c->started) {
        fprintf(stderr, "spyglass: memory: no RSS read (%" PRIu64 " failed reads)\n",
                rec->rss_errors);
        return;
    }
    fprintf(stderr,
            "spyglass: memory: RSS %.1f MiB at the first sample, peak %.1f MiB at %.2f s, "
            "final %.1f MiB\n",
            mib(c->first_rss), mib(m->peak_rss), (double)m->peak_rss_ns / 1e9, mib(m->final_rss));
    fprintf(stderr,
            "spyglass: memory: charged growth %.1f MiB, release %.1f MiB (changes charged to "
            "the running thread %" PRIu64 ", to the thread that ran before %" PRIu64
            ", to a waiting thread %" PRIu64 ")%s\n",
            mib(c->grown), mib(c->freed), c->by_rule[0], c->by_rule[1], c->by_rule[2],
            c->uncharged ? "; some not charged: no Python stack" : "");
}

static void print_summary(const struct recording *rec)
{
    const struct sampler_stats *st = &rec->stats;
    const struct record_options *o = &rec->opt;
    double secs = (double)(st->end_ns - st->start_ns) / 1e9;
    double ticks = st->ticks ? (double)st->ticks : 1;
    fprintf(stderr,
            "spyglass: %" PRIu64 " samples in %.1f s (%.1f Hz achieved, %.0f Hz asked), "
            "%" PRIu64 " thread stacks kept\n",
            st->ok, secs, secs > 0 ? (double)st->ticks / secs : 0, o->rate, rec->fold.stats.kept);
    fprintf(stderr,
            "spyglass: errors %" PRIu64 " (%.1f%%), late %" PRIu64 " (%.1f%%), missed %" PRIu64
            "; sample cost mean %.0f us, p99 %.0f us, CPU %.1f us (%.1f us awake) and %.1f reads "
            "per sample\n",
            st->errors, 100.0 * (double)st->errors / ticks, st->late,
            100.0 * (double)st->late / ticks, st->missed,
            st->ticks ? (double)st->cost_ns / ticks / 1000.0 : 0,
            sampler_cost_quantile_us(st, 0.99), (double)st->cpu_ns / ticks / 1000.0,
            st->work_ticks ? (double)st->work_cpu_ns / (double)st->work_ticks / 1000.0 : 0,
            (double)st->reads / ticks);
    if (st->late * 100 > st->ticks && st->ticks > 10)
        cmd_warning("sampling lagged by up to %.0f ms (%" PRIu64 " ticks late): %s",
                    (double)st->max_lag_ns / 1e6, st->late,
                    o->nonblocking ? "lower --rate (or the machine is busy)"
                                   : "lower --rate or drop --blocking");
    if (o->memory)
        print_memory_summary(rec);
    cmd_print_overflow(rec->profile);
    if (rec->have_native)
        cmd_print_native(&rec->native, &rec->fold, st, stderr);
    if (st->errors && st->errors * 10 > st->ticks)
        cmd_warning("%.0f%% of samples failed (last: %s)", 100.0 * (double)st->errors / ticks,
                    sg_strerror(st->last_error));
}

/* Most processes named one by one in the summary. */
#define FOLLOWED_SHOWN 6

/* Which Python processes of the tree were sampled, by pid and command. */
static void print_followed(struct procset *set)
{
    size_t brief = 0;
    procset_history_sync(set);
    fprintf(stderr, "spyglass: followed");
    for (size_t i = 0; i < set->nhistory; i++) {
        const struct procset_seen *h = &set->history[i];
        brief += h->walks < PROCSET_BRIEF_WALKS;
        if (i < FOLLOWED_SHOWN)
            fprintf(stderr, "%s %d (%.60s: %" PRIu64 " samples%s)", i ? "," : "", (int)h->pid,
                    h->command[0] ? h->command : "?", h->walks, h->gone ? ", exited" : "");
    }
    if (set->nhistory > FOLLOWED_SHOWN)
        fprintf(stderr, " and %zu more", set->nhistory - FOLLOWED_SHOWN);
    fprintf(stderr, "%s\n", set->nhistory ? "" : " no Python process");
    if (brief || set->ended_unread)
        fprintf(stderr,
                "spyglass: short-lived: %zu Python processes seen only briefly (fewer than %d "
                "samples), %zu processes found after they ended (not sampled)\n",
                brief, PROCSET_BRIEF_WALKS, set->ended_unread);
}

/* What was learnt about the process tree, after a tree was sampled. */
static void print_tree_summary(struct procset *set)
{
    fprintf(stderr, "spyglass: %zu Python processes sampled (%zu still running, %zu exited)",
            set->python_ever, procset_python_count(set), set->exited);
    if (set->unreadable)
        fprintf(stderr, "; %zu not allowed to be paused, skipped", set->unreadable);
    fprintf(stderr,
            "; tree scans took %.1f ms in all (%" PRIu64 " processes found between scans, %" PRIu64
            " runtimes taken from a forking parent)\n",
            (double)set->scan_ns / 1e6, set->quick_found, set->inherited);
    print_followed(set);
}

/* Writes the profile and prints the summary. Returns the exit status. */
static int finish(struct recording *rec)
{
    const struct record_options *o = &rec->opt;
    const struct sampler_stats *st = &rec->stats;
    char why[512] = "";
    fill_meta(rec);
    struct format_options fo = {.full_filenames = o->full_filenames};
    int werr = rec->writer->write(rec->profile, rec->out.file, &fo);
    if (werr == 0)
        werr = output_commit(&rec->out, why, sizeof(why));
    else
        output_abort_why(&rec->out, errno, why, sizeof(why)); /* disk full: say so */
    print_summary(rec);
    cmd_print_fold_notes(&rec->fold, stderr);
    if (rec->target.tree)
        print_tree_summary(&rec->target.set);
    if (o->by_endpoint)
        cmd_print_endpoints(&rec->fold.roots, stderr);
    if (rec->tasks) {
        blocked_finish(&rec->blocked);
        cmd_print_tasks(rec->tasks, &rec->fold.stats, st->ticks, stderr);
        cmd_print_blocked(&rec->blocked, rec->profile, (uint64_t)(o->slow_callback_ms * 1e6),
                          stderr);
    }
    int rc = rec->sample_err ? EXIT_FAILURE_RUN : EXIT_OK;
    if (werr) {
        cmd_error("check free space and permissions", "could not write %s: %s", o->output,
                  why[0] ? why : sg_strerror(werr));
        rc = EXIT_FAILURE_RUN;
    } else {
        fprintf(stderr, "spyglass: wrote %s (%s, %zu distinct stacks)%s\n", o->output,
                rec->writer->name, profile_stack_count(rec->profile),
                st->end != SAMPLER_END_EXITED ? ""
                : st->execed                  ? "; the target exec'd another program"
                                              : "; the target exited");
    }
    /* A command we ran goes on after a --duration: we exit with its status. */
    if (rec->target.child) {
        attach_wait_child(&rec->target);
        if (!werr)
            rc = attach_exit_status(rec->target.child_status);
    }
    return rc;
}

/* Releases what start() set up; a child still running is waited for. */
static void release(struct recording *rec)
{
    if (rec->target.child && !rec->target.child_reaped)
        attach_end_child(&rec->target, 0);
    if (!rec->target.tree && rec->walker.rt)
        walk_release(&rec->walker);
    attach_release(&rec->target);
    if (rec->profile)
        fold_release(&rec->fold);
    rss_close(&rec->rss);
    if (rec->have_native)
        native_release(&rec->native);
    profile_free(rec->profile);
    if (rec->tasks) {
        tasks_release(rec->tasks);
        free(rec->tasks);
        blocked_release(&rec->blocked);
    }
}

int cmd_record(int argc, char **argv)
{
    struct recording rec;
    memset(&rec, 0, sizeof(rec));
    int rc = parse(argc, argv, &rec.opt);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    cmd_signals_install(0, -1);
    if ((rc = open_output(&rec)) != 0)
        return rc;
    rc = start(&rec);
    if (rc == 0) {
        sample(&rec);
        rc = finish(&rec);
    } else {
        output_abort(&rec.out);
    }
    release(&rec);
    return rc;
}
