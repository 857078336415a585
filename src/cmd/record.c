/*
 * cmd_record.c - `spyglass record`: sample a program and write a profile.
 *
 * Wires the layers: detect the runtime (attaching to --pid, or spawning the
 * command after --), run the sampler, fold each tick's stacks into a
 * struct profile, and hand it to the writer picked by --format or the file
 * extension. The output goes to a temporary file renamed into place, so a
 * file at the requested path is always complete. Ctrl-C, SIGTERM and the
 * target exiting all end the recording normally: the profile is written.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "collect/roots.h"
#include "format/format.h"
#include "proc/mem.h"
#include "proc/spawn.h"
#include "proc/task.h"
#include "profile/charge.h"
#include "profile/profile.h"
#include "python/detect.h"
#include "python/walk.h"
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
    int subprocesses, by_endpoint;
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t child_pid;

static void on_signal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    stop_requested = 1;
    /* A signal sent to us alone (kill PID) is passed on to the child; a
     * terminal's Ctrl-C already reached the whole process group. */
    if (child_pid > 0 && info && info->si_code == SI_USER)
        kill((pid_t)child_pid, sig);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: sleeps wake up */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void record_help(void)
{
    char formats[256];
    format_list(formats, sizeof(formats));
    printf("usage: spyglass record (--pid PID | -- COMMAND [ARGS...]) [-o FILE] [options]\n\n"
           "Sample a running program's Python stacks and write a profile: by default an\n"
           "interactive flame graph (SVG) you open in a browser.\n\n"
           "What to profile:\n"
           "  -p, --pid PID        attach to a running process\n"
           "  -- COMMAND ARGS...   run COMMAND and profile it from its first Python frame;\n"
           "                       spyglass exits with COMMAND's exit status\n\n"
           "Output:\n"
           "  -o, --output FILE    where to write (default: spyglass-PID.svg)\n"
           "  -f, --format F       %s\n"
           "                       (default: from FILE's extension: .svg flamegraph,\n"
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
           "  -g, --gil            keep only samples of the thread holding the GIL\n"
           "  -t, --threads        put each thread (name and id) at the root of its stacks\n"
           "  -F, --function       aggregate by function instead of by line\n"
           "  -b, --blocking       pause the target's threads while each sample is read,\n"
           "                       so no stack is ever torn by the target moving; costs the\n"
           "                       target ~1-4 ms per sample (ptrace stop and resume)\n"
           "  -n, --nonblocking    never pause the target (the default: about 0.5%% of\n"
           "                       samples of a fast-changing stack come out torn, see\n"
           "                       bench/consistency.py; reads are checked, never trusted)\n"
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
           "  -h, --help           show this help\n\n"
           "At the end a summary goes to stderr: samples, achieved rate, errors, late\n"
           "samples, and the cost of one sample; with --memory also the RSS at the first\n"
           "sample, its peak (and when) and at the last sample; with --by-endpoint the\n"
           "endpoint table: samples, share of all active (on-CPU) samples, and the share\n"
           "of its own samples spent waiting (sleep, I/O, locks).\n\n"
           "Examples:\n"
           "  spyglass record --pid 12345 --duration 30 -o profile.svg\n"
           "  spyglass record --rate 250 -o profile.svg -- python batch_job.py\n"
           "  spyglass record --memory -o mem.spyglass -- python load.py\n"
           "  spyglass record --pid $(pgrep -o gunicorn) --subprocesses --by-endpoint -d 10\n"
           "  spyglass report mem.spyglass --lines load.py\n",
           formats);
}

/* Parses a positive finite number bounded by max. */
static int parse_number(const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, struct record_options *o)
{
    static const struct option longopts[] = {{"pid", required_argument, NULL, 'p'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"idle", no_argument, NULL, 'i'},
                                             {"gil", no_argument, NULL, 'g'},
                                             {"threads", no_argument, NULL, 't'},
                                             {"function", no_argument, NULL, 'F'},
                                             {"nonblocking", no_argument, NULL, 'n'},
                                             {"blocking", no_argument, NULL, 'b'},
                                             {"full-filenames", no_argument, NULL, 'L'},
                                             {"memory", no_argument, NULL, 'm'},
                                             {"subprocesses", no_argument, NULL, 's'},
                                             {"by-endpoint", no_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->rate = 100;
    o->nonblocking = 1; /* see --blocking in the help: measured, not assumed */
    static const char optstring[] = "+p:o:f:r:d:igtFnbmseh";
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (cmd_parse_pid(optarg, &o->pid))
                return cmd_usage_error("record", "--pid wants a process id, got '%s'", optarg);
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 'r':
            if (parse_number(optarg, 100000, &o->rate))
                return cmd_usage_error("record",
                                       "--rate wants samples per second between 0 "
                                       "and 100000, got '%s'",
                                       optarg);
            break;
        case 'd':
            if (parse_number(optarg, 1e7, &o->duration))
                return cmd_usage_error("record",
                                       "--duration wants a positive number of "
                                       "seconds, got '%s'",
                                       optarg);
            break;
        case 'i':
            o->idle = 1;
            break;
        case 'g':
            o->gil = 1;
            break;
        case 't':
            o->threads = 1;
            break;
        case 'F':
            o->function = 1;
            break;
        case 'n':
            o->nonblocking = 1;
            break;
        case 'b':
            o->nonblocking = 0;
            break;
        case 'L':
            o->full_filenames = 1;
            break;
        case 'm':
            o->memory = 1;
            break;
        case 's':
            o->subprocesses = 1;
            break;
        case 'e':
            o->by_endpoint = 1;
            break;
        case 'h':
            record_help();
            return -1;
        case '?':
        default:
            return cmd_option_error("record", optstring, argv);
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind - 1], "--") != 0)
            return cmd_usage_error("record",
                                   "unexpected argument '%s' (put the command to "
                                   "run after --)",
                                   argv[optind]);
        o->command = argv + optind;
    }
    if (!o->pid && !o->command)
        return cmd_usage_error("record", "what to profile? give --pid PID or -- COMMAND");
    if (o->pid && o->command)
        return cmd_usage_error("record", "give either --pid or a command, not both");
    if (o->memory && o->subprocesses)
        return cmd_usage_error("record", "--memory follows one process's RSS: it cannot be "
                                         "combined with --subprocesses yet");
    if (o->format && !format_find(o->format)) {
        char formats[256];
        format_list(formats, sizeof(formats));
        return cmd_usage_error("record", "unknown format '%s' (known: %s)", o->format, formats);
    }
    return 0;
}

/* Folding samples into the profile. */
struct aggregate {
    struct profile *profile;
    const struct record_options *opt;
    uint32_t *stack; /* scratch: frame ids, root first */
    size_t stack_cap;
    uint32_t idle_frame;
    struct roots roots;      /* process and endpoint roots (attrib.h) */
    char versions[64];       /* the Python versions seen, "3.11.2, 2.7.18" */
    uint64_t thread_samples; /* thread stacks added */
    uint64_t idle_dropped;
    uint64_t gil_dropped;
    uint64_t empty; /* threads with no Python frame */
    /* (code serial, line) -> frame id, to skip hashing strings per frame */
    struct frame_memo {
        uint64_t serial;
        int line;
        uint32_t id;
    } * memo;
    size_t memo_cap;
    /* --memory */
    struct rss_reader rss;
    struct charge charge;
    uint64_t rss_errors;
};

static uint32_t frame_for(struct aggregate *ag, const struct py_frame *f)
{
    int line = ag->opt->function ? 0 : f->line;
    uint64_t h = (f->code->serial * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uint32_t)line;
    size_t slot = (size_t)(h ^ (h >> 29)) & (ag->memo_cap - 1);
    struct frame_memo *m = &ag->memo[slot];
    if (m->serial == f->code->serial && m->line == line)
        return m->id;
    m->serial = f->code->serial;
    m->line = line;
    m->id = profile_frame_id(ag->profile, f->code->qualname, f->code->filename, line, PF_PYTHON);
    return m->id;
}

static uint32_t thread_frame(struct aggregate *ag, const struct py_thread *t)
{
    char name[192];
    if (t->name[0])
        snprintf(name, sizeof(name), "thread \"%s\" (tid %d)", t->name, (int)t->tid);
    else
        snprintf(name, sizeof(name), "thread 0x%" PRIx64 " (tid %d)", t->ident, (int)t->tid);
    return profile_frame_id(ag->profile, name, "", 0, PF_THREAD);
}

/* Adds t's stack (under roots[0..nroots), then a thread root with
 * --threads, an (idle) leaf when the thread is idle) with weight; returns its
 * id. */
static uint32_t add_thread_stack(struct aggregate *ag, const struct py_thread *t,
                                 const uint32_t *roots, size_t nroots, uint64_t weight)
{
    size_t need = t->depth + 2 + nroots, n = 0;
    ag->stack = xgrow(ag->stack, sizeof(*ag->stack), need, &ag->stack_cap);
    for (size_t k = 0; k < nroots; k++)
        ag->stack[n++] = roots[k];
    if (ag->opt->threads)
        ag->stack[n++] = thread_frame(ag, t);
    for (size_t d = t->depth; d-- > 0;)
        ag->stack[n++] = frame_for(ag, &t->frames[d]);
    if (t->idle)
        ag->stack[n++] = ag->idle_frame;
    return profile_add_stack(ag->profile, ag->stack, n, weight);
}

/* --memory: charges the RSS change since the last sample (profile/charge.h)
 * to the thread holding the GIL, else one the OS runs, else the main
 * thread where it waits. */
static void charge_rss(struct aggregate *ag, const struct walker *w, uint64_t elapsed_ns,
                       uint64_t rss)
{
    const struct py_thread *gil = NULL, *on_cpu = NULL, *main_thread = NULL, *first = NULL;
    for (size_t i = 0; i < w->nthreads; i++) {
        const struct py_thread *t = &w->threads[i];
        if (t->depth == 0)
            continue;
        if (t->holds_gil && !gil)
            gil = t;
        if (!t->idle && !on_cpu)
            on_cpu = t;
        if (t->tid == ag->opt->pid)
            main_thread = t;
        if (!first)
            first = t;
    }
    const struct py_thread *running = gil ? gil : on_cpu;
    const struct py_thread *waiting = main_thread ? main_thread : first;
    int64_t active = running ? (int64_t)add_thread_stack(ag, running, NULL, 0, 0) : -1;
    int64_t idle = waiting ? (int64_t)add_thread_stack(ag, waiting, NULL, 0, 0) : -1;
    charge_sample(&ag->charge, elapsed_ns, rss, active, idle);
}

/* Adds w's Python version to the list of versions seen (a process tree may
 * mix interpreters). */
static void note_version(struct aggregate *ag, const char *version)
{
    const char *at = strstr(ag->versions, version);
    size_t len = strlen(version);
    if (at && (at[len] == '\0' || at[len] == ','))
        return;
    size_t used = strlen(ag->versions);
    if (used + len + 3 < sizeof(ag->versions))
        snprintf(ag->versions + used, sizeof(ag->versions) - used, "%s%s", used ? ", " : "",
                 version);
}

static void on_sample(struct walker *w, uint64_t elapsed_ns, void *ctx)
{
    struct aggregate *ag = ctx;
    uint32_t roots[ROOTS_MAX];
    uint64_t rss = 0;
    note_version(ag, w->rt->version);
    int have_rss = ag->opt->memory && rss_read(&ag->rss, &rss) == 0;
    if (ag->opt->memory && !have_rss)
        ag->rss_errors++;
    for (size_t i = 0; i < w->nthreads; i++) {
        const struct py_thread *t = &w->threads[i];
        size_t nroots = 0;
        if (ag->opt->gil && !t->holds_gil) {
            ag->gil_dropped++;
            continue;
        }
        /* Before the idle filter: the endpoint table counts waiting too. */
        if (t->depth > 0)
            nroots = roots_for_thread(&ag->roots, w, t, roots);
        if (t->idle && !ag->opt->idle) {
            ag->idle_dropped++;
            continue;
        }
        if (t->depth == 0) {
            ag->empty++;
            continue;
        }
        /* with --memory the weight is bytes, added by charge_rss */
        uint32_t id = add_thread_stack(ag, t, roots, nroots, ag->opt->memory ? 0 : 1);
        if (have_rss)
            profile_add_memory(ag->profile, id, &(struct profile_memory){1, 0, 0, rss});
        if (profile_timeline_enabled(ag->profile)) {
            uint64_t key = t->tid ? (uint64_t)t->tid : t->ident;
            profile_add_event(ag->profile, elapsed_ns, key, id);
            if (!profile_thread_name(ag->profile, key))
                profile_set_thread_name(ag->profile, key, t->name[0] ? t->name : "thread");
        }
        ag->thread_samples++;
    }
    if (have_rss)
        charge_rss(ag, w, elapsed_ns, rss);
}

/* Waits for a freshly spawned child to have an initialised Python runtime. */
static int wait_for_runtime(pid_t child, struct mem_reader *r, struct py_runtime *rt, char *why,
                            size_t why_size, int *child_status, int *child_reaped)
{
    int err = -SG_ENOTPY;
    for (int i = 0; i < 30000 && !stop_requested; i++) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            *child_status = status;
            *child_reaped = 1;
            char detail[512];
            strlcpy_safe(detail, err == -SG_EVERSION ? why : "not a Python program?",
                         sizeof(detail));
            snprintf(why, why_size, "the command exited before Python started (%.400s)", detail);
            return -SG_ENOPROC;
        }
        err = detect_runtime(child, r, rt, why, why_size);
        uint64_t interp;
        if (err == 0 && detect_interp_head(rt, r, &interp) == 0)
            return 0;
        if (err == -SG_EVERSION)
            return err;
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
    }
    if (stop_requested) {
        snprintf(why, why_size, "interrupted before Python started");
        return -SG_ENOPROC;
    }
    return err ? err : -SG_ENOTPY;
}

static void fill_meta(struct profile *p, const struct record_options *o, pid_t pid,
                      const char *version, const struct sampler_stats *st)
{
    struct profile_meta *m = profile_meta(p);
    char cmdline[512] = "", target[700];
    proc_cmdline(pid, cmdline, sizeof(cmdline));
    if (!cmdline[0] && o->command) {
        size_t pos = 0;
        for (char **a = o->command; *a && pos < sizeof(cmdline) - 1; a++)
            pos +=
                (size_t)snprintf(cmdline + pos, sizeof(cmdline) - pos, "%s%s", pos ? " " : "", *a);
    }
    snprintf(target, sizeof(target), "pid %d: %s%s", (int)pid, cmdline,
             o->subprocesses ? " (and its subprocesses)" : "");
    profile_set_meta_str(p, &m->title, "spyglass record");
    profile_set_meta_str(p, &m->target, target);
    profile_set_meta_str(p, &m->python_version, version);
    profile_set_meta_str(p, &m->unit, o->memory ? "bytes" : "samples");
    m->rate_hz = o->rate;
    m->duration_s = (double)(st->end_ns - st->start_ns) / 1e9;
    m->samples = st->ok;
    m->errors = st->errors;
    char note[256];
    snprintf(note, sizeof(note), "%s%s%s%s%s%s",
             o->memory ? "RSS growth charged to the running thread, " : "",
             o->idle ? "idle included" : "idle dropped", o->gil ? ", GIL holder only" : "",
             o->function ? ", by function" : "", o->nonblocking ? ", nonblocking" : "",
             o->by_endpoint ? ", by endpoint" : "");
    profile_set_meta_str(p, &m->note, note);
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void print_memory_summary(const struct aggregate *ag)
{
    const struct profile_meta *m = profile_meta_const(ag->profile);
    const struct charge *c = &ag->charge;
    if (!c->started) {
        fprintf(stderr, "spyglass: memory: no RSS read (%" PRIu64 " failed reads)\n",
                ag->rss_errors);
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

static void print_summary(const struct sampler_stats *st, const struct aggregate *ag,
                          const struct record_options *o)
{
    double secs = (double)(st->end_ns - st->start_ns) / 1e9;
    double ticks = st->ticks ? (double)st->ticks : 1;
    fprintf(stderr,
            "spyglass: %" PRIu64 " samples in %.1f s (%.1f Hz achieved, %.0f Hz asked), "
            "%" PRIu64 " thread stacks kept\n",
            st->ok, secs, secs > 0 ? (double)st->ticks / secs : 0, o->rate, ag->thread_samples);
    fprintf(stderr,
            "spyglass: errors %" PRIu64 " (%.1f%%), late %" PRIu64 " (%.1f%%), missed %" PRIu64
            "; sample cost mean %.0f us, p99 %.0f us, CPU %.1f us and %.1f reads per sample\n",
            st->errors, 100.0 * (double)st->errors / ticks, st->late,
            100.0 * (double)st->late / ticks, st->missed,
            st->ticks ? (double)st->cost_ns / ticks / 1000.0 : 0,
            sampler_cost_quantile_us(st, 0.99), (double)st->cpu_ns / ticks / 1000.0,
            (double)st->reads / ticks);
    if (st->late * 100 > st->ticks && st->ticks > 10)
        cmd_warning("sampling lagged by up to %.0f ms (%" PRIu64 " ticks late): %s",
                    (double)st->max_lag_ns / 1e6, st->late,
                    o->nonblocking ? "lower --rate (or the machine is busy)"
                                   : "lower --rate or drop --blocking");
    if (o->memory)
        print_memory_summary(ag);
    if (st->errors && st->errors * 10 > st->ticks)
        cmd_warning("%.0f%% of samples failed (last: %s)", 100.0 * (double)st->errors / ticks,
                    sg_strerror(st->last_error));
}

/* Exit status for spawn mode: the child's, shell-style for signals. */
static int child_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return EXIT_FAILURE_RUN;
}

static int attach_or_spawn(struct record_options *o, struct mem_proc *mp, struct mem_reader *r,
                           struct py_runtime *rt, pid_t *child, int *status, int *reaped)
{
    char why[512];
    int err;
    if (o->command) {
        err = spawn_start(o->command, child, why, sizeof(why));
        if (err) {
            cmd_error("check the command name and that it is in PATH", "%s", why);
            return err;
        }
        child_pid = *child;
        o->pid = *child;
        mp->pid = *child;
        err = wait_for_runtime(*child, r, rt, why, sizeof(why), status, reaped);
    } else {
        err = detect_runtime(o->pid, r, rt, why, sizeof(why));
    }
    if (err)
        cmd_error(cmd_attach_hint(err, o->pid), "%s", why);
    return err;
}

/* --subprocesses: attaches to the tree under --pid, or spawns the command and
 * waits until a process of its tree runs Python. */
static int start_tree(struct record_options *o, struct procset *set, pid_t *child, int *status,
                      int *reaped)
{
    char why[512];
    if (!o->command) {
        procset_init(set, o->pid, 1);
        if (procset_refresh(set, sampler_now_ns(), 1) > 0)
            return 0;
        cmd_error_no_python_tree(o->pid);
        return -SG_ENOTPY;
    }
    int err = spawn_start(o->command, child, why, sizeof(why));
    if (err) {
        cmd_error("check the command name and that it is in PATH", "%s", why);
        return err;
    }
    child_pid = *child;
    o->pid = *child;
    procset_init(set, *child, 1);
    for (int i = 0; i < 6000 && !stop_requested; i++) { /* 30 s */
        if (waitpid(*child, status, WNOHANG) == *child) {
            *reaped = 1;
            cmd_error("check that the command runs Python",
                      "the command exited before any Python process started");
            return -SG_ENOPROC;
        }
        if (procset_refresh(set, sampler_now_ns(), 1) > 0)
            return 0;
        struct timespec ts = {0, 5000000}; /* 5 ms */
        nanosleep(&ts, NULL);
    }
    cmd_error("check that the command runs Python",
              "no Python process started in the "
              "command's process tree%s",
              stop_requested ? " (interrupted)" : " in 30 s");
    return -SG_ENOTPY;
}

/* One line about the process tree, after a --subprocesses recording. */
static void print_tree_summary(const struct procset *set)
{
    fprintf(stderr, "spyglass: %zu Python processes sampled (%zu still running, %zu exited)",
            set->python_ever, procset_python_count(set), set->exited);
    if (set->unreadable)
        fprintf(stderr, "; %zu not allowed to be paused, skipped", set->unreadable);
    fprintf(stderr, "; tree scans took %.1f ms in all\n", (double)set->scan_ns / 1e6);
}

int cmd_record(int argc, char **argv)
{
    struct record_options o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    install_signals();

    char default_out[64];
    if (!o.output) {
        snprintf(default_out, sizeof(default_out), "spyglass-%d.svg",
                 o.pid ? (int)o.pid : (int)getpid());
        o.output = default_out;
    }
    const struct format_writer *writer =
        o.format ? format_find(o.format) : format_for_path(o.output);
    if (!writer)
        writer = format_find("flamegraph");
    if (o.memory && writer->time_only)
        return cmd_usage_error("record",
                               "--memory weighs the profile in bytes, which %s cannot "
                               "hold (its columns are seconds): use flamegraph, collapsed, "
                               "speedscope or pprof",
                               writer->name);
    struct output out;
    char why[512];
    if (output_open(&out, o.output, why, sizeof(why))) {
        cmd_error("choose a writable file with -o", "%s", why);
        return EXIT_FAILURE_RUN;
    }

    struct mem_proc mp;
    struct mem_reader reader;
    struct py_runtime rt;
    struct procset set;
    pid_t child = 0;
    int child_status = 0, child_reaped = 0, err;
    memset(&rt, 0, sizeof(rt));
    mem_proc_init(&mp, &reader, o.pid);
    if (o.subprocesses)
        err = start_tree(&o, &set, &child, &child_status, &child_reaped);
    else
        err = attach_or_spawn(&o, &mp, &reader, &rt, &child, &child_status, &child_reaped);
    if (err) {
        output_abort(&out);
        mem_proc_release(&mp);
        if (o.subprocesses)
            procset_release(&set);
        if (child && !child_reaped) {
            kill(child, SIGTERM);
            waitpid(child, &child_status, 0);
        }
        return EXIT_FAILURE_RUN;
    }

    struct profile *profile = profile_new();
    if (writer->needs_timeline)
        profile_enable_timeline(profile);
    struct aggregate ag = {.profile = profile, .opt = &o, .rss = {.fd = -1}};
    if (o.memory) {
        charge_init(&ag.charge, profile);
        err = rss_open(&ag.rss, o.pid);
        if (err) {
            cmd_error(cmd_attach_hint(err, o.pid), "cannot read /proc/%d/statm: %s", (int)o.pid,
                      sg_strerror(err));
            profile_free(profile);
            output_abort(&out);
            mem_proc_release(&mp);
            if (child && !child_reaped) {
                kill(child, SIGTERM);
                waitpid(child, &child_status, 0);
            }
            return EXIT_FAILURE_RUN;
        }
    }
    ag.memo_cap = 4096;
    ag.memo = xcalloc(ag.memo_cap, sizeof(*ag.memo));
    ag.idle_frame = profile_frame_id(profile, "(idle)", "", 0, PF_NATIVE);
    roots_init(&ag.roots, profile, o.subprocesses, o.by_endpoint);

    struct walker w;
    struct sampler_options so = {
        .rate_hz = o.rate, .duration_s = o.duration, .nonblocking = o.nonblocking, .child = child};
    struct sampler_stats st;
    if (o.subprocesses) {
        fprintf(stderr,
                "spyglass: sampling pid %d and its subprocesses (%zu Python now) at "
                "%.0f Hz%s; Ctrl-C to stop\n",
                (int)o.pid, procset_python_count(&set), o.rate,
                o.duration > 0 ? "" : " until it exits");
        set.endpoints = o.by_endpoint ? &ag.roots.endpoints_reader : NULL;
        err = sampler_run_set(&set, &so, &stop_requested, on_sample, &ag, &st);
    } else {
        walk_init(&w, &reader, &rt);
        w.endpoints = o.by_endpoint ? &ag.roots.endpoints_reader : NULL;
        fprintf(stderr, "spyglass: sampling pid %d (Python %s) at %.0f Hz%s; Ctrl-C to stop\n",
                (int)o.pid, rt.version, o.rate, o.duration > 0 ? "" : " until it exits");
        err = sampler_run(&w, &so, &stop_requested, on_sample, &ag, &st);
    }
    if (err == -SG_EPERM) {
        cmd_error("drop --blocking, or run as root / the target's user",
                  "not allowed to pause process %d (ptrace)", (int)o.pid);
    }
    fill_meta(profile, &o, o.pid, ag.versions[0] ? ag.versions : rt.version, &st);
    struct format_options fo = {.full_filenames = o.full_filenames};
    int werr = writer->write(profile, out.file, &fo);
    if (werr == 0)
        werr = output_commit(&out, why, sizeof(why));
    else
        output_abort_why(&out, errno, why, sizeof(why)); /* disk full: say so */
    print_summary(&st, &ag, &o);
    if (o.subprocesses)
        print_tree_summary(&set);
    cmd_print_endpoints(&ag.roots, stderr);
    if (werr) {
        cmd_error("check free space and permissions", "could not write %s: %s", o.output,
                  why[0] ? why : sg_strerror(werr));
        rc = EXIT_FAILURE_RUN;
    } else {
        fprintf(stderr, "spyglass: wrote %s (%s, %zu distinct stacks)%s\n", o.output, writer->name,
                profile_stack_count(profile),
                st.end != SAMPLER_END_EXITED ? ""
                : st.execed                  ? "; the target exec'd another program"
                                             : "; the target exited");
        rc = err ? EXIT_FAILURE_RUN : EXIT_OK;
    }
    if (child) {
        if (!st.child_reaped)
            waitpid(child, &st.child_status, 0);
        if (!werr)
            rc = child_exit_code(st.child_status);
    }
    if (o.subprocesses)
        procset_release(&set);
    else
        walk_release(&w);
    roots_release(&ag.roots);
    free(ag.stack);
    free(ag.memo);
    rss_close(&ag.rss);
    profile_free(profile);
    mem_proc_release(&mp);
    return rc;
}
