/*
 * agent.c - `spyglass agent`: continuous profiling of the Python processes
 * of a host.
 *
 * The story: parse the options; open the destinations (agent/sinks.h: a
 * folder, a Pyroscope server, an OTLP collector, each behind its own
 * bounded spool); build a process set that discover.c refills at every
 * scan; then sample in windows: sampler_run_set for --every seconds,
 * folding each walk into its process's window (agent/window.h), then hand
 * every window to the sinks and start afresh. A sender thread drains the
 * servers' spools meanwhile, so a slow or absent server never delays a
 * sample. Every --stats seconds one line tells the agent's own cost.
 * SIGINT / SIGTERM end it after a last window and a short drain.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/sinks.h"
#include "agent/window.h"
#include "cmd/cmd.h"
#include "collect/discover.h"
#include "proc/proc.h"
#include "python/endpoint.h"
#include "sample/procset.h"
#include "sample/sampler.h"
#include "util/util.h"

/* How often the host's processes are listed again. */
#define AGENT_SCAN_MS 1000
/* Files a spool keeps at most, whatever their size. */
#define AGENT_SPOOL_FILES 20000
/* How long a stopping agent keeps trying to empty its spools. */
#define AGENT_DRAIN_MS 5000
#define AGENT_MAX_LIST 256 /* --pid and --match given at most */

struct agent_options {
    pid_t pids[AGENT_MAX_LIST];
    size_t npids;
    char *patterns[AGENT_MAX_LIST];
    size_t npatterns;
    const char *cgroup, *service, *host, *dir, *push, *otlp, *spool;
    double every, rate, duration, stats, keep_mb, spool_mb;
    int idle, by_endpoint, nonblocking;
};

static void agent_help(void)
{
    printf("usage: spyglass agent (--dir DIR | --push URL | --otlp URL) [what] [options]\n\n"
           "Profile every Python process of this host continuously, at a low rate, and\n"
           "send one profile per process every --every seconds: to a folder, to a\n"
           "Pyroscope server, or to an OpenTelemetry collector. Processes are found and\n"
           "followed as they start and exit; they need no restart and no code change,\n"
           "and are never paused (unless --blocking).\n\n"
           "What to profile (default: every process of the host we may read):\n"
           "  -p, --pid PID        this process (repeatable)\n"
           "  -c, --cgroup PATH    the processes of a cgroup: a systemd service or a\n"
           "                       container (/sys/fs/cgroup/system.slice/app.service)\n"
           "  -m, --match PATTERN  processes whose name or an argument matches a shell\n"
           "                       pattern ('gunicorn*', 'app.py'; repeatable)\n\n"
           "Where profiles go (at least one):\n"
           "  -D, --dir DIR        write each window as a pprof file DIR/TIME-SERVICE-PID.pb.gz;\n"
           "                       the oldest are deleted past --keep MB\n"
           "  -P, --push URL       push to Grafana Pyroscope (http://HOST:4040), its Connect\n"
           "                       push API; labels: service_name, host, pid, python_version,\n"
           "                       and per sample thread, idle, gil (and endpoint)\n"
           "  -O, --otlp URL       send OTLP/HTTP profiles (http://HOST:4318) to an\n"
           "                       OpenTelemetry collector (profiles are in development there:\n"
           "                       it needs --feature-gates=service.profilesSupport)\n"
           "  -S, --spool DIR      where windows wait while a server is away (default\n"
           "                       $STATE_DIRECTORY/spool, else /var/lib/spyglass/spool);\n"
           "                       kept across restarts\n"
           "      --spool-max MB   bound of each server's spool; past it the oldest windows\n"
           "                       are dropped and counted (default 256)\n"
           "      --keep MB        bound of --dir (default 1024)\n\n"
           "Sampling:\n"
           "  -e, --every S        seconds per window (default 15)\n"
           "  -r, --rate HZ        samples per second per process (default 19)\n"
           "  -i, --idle           keep waiting threads too, labelled idle=\"true\" (the\n"
           "                       profile is then wall time: __name__ \"wall\"); default:\n"
           "                       on-CPU threads only (\"process_cpu\")\n"
           "  -E, --by-endpoint    label each sample with the HTTP endpoint its thread serves\n"
           "  -b, --blocking       pause each process while it is read (see record --help)\n"
           "  -s, --service NAME   the service_name label (default: the container's id,\n"
           "                       else the program: a script's name, -m's module, or the\n"
           "                       command)\n"
           "      --host NAME      the host label (default: this host's name)\n"
           "  -d, --duration S     stop after S seconds (default: run until stopped)\n"
           "      --stats S        print the agent's own cost every S seconds (default 60)\n"
           "  -h, --help           show this help\n\n"
           "Every --stats seconds a line tells the agent's cost: its CPU %%, RSS, the\n"
           "processes followed, and windows made, sent, waiting in the spool and dropped.\n"
           "Errors are one line each; a server that goes away is said once, and when it\n"
           "comes back.\n\n"
           "Examples:\n"
           "  sudo spyglass agent --push http://pyroscope:4040\n"
           "  spyglass agent --match 'gunicorn*' --by-endpoint --dir /var/tmp/profiles\n"
           "  spyglass agent --cgroup /system.slice/app.service --otlp http://127.0.0.1:4318\n");
}

enum {
    OPT_HOST = 1000,
    OPT_SPOOL_MAX,
    OPT_KEEP,
    OPT_STATS,
};

static const struct option longopts[] = {{"pid", required_argument, NULL, 'p'},
                                         {"cgroup", required_argument, NULL, 'c'},
                                         {"match", required_argument, NULL, 'm'},
                                         {"dir", required_argument, NULL, 'D'},
                                         {"push", required_argument, NULL, 'P'},
                                         {"otlp", required_argument, NULL, 'O'},
                                         {"spool", required_argument, NULL, 'S'},
                                         {"spool-max", required_argument, NULL, OPT_SPOOL_MAX},
                                         {"keep", required_argument, NULL, OPT_KEEP},
                                         {"every", required_argument, NULL, 'e'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"idle", no_argument, NULL, 'i'},
                                         {"by-endpoint", no_argument, NULL, 'E'},
                                         {"blocking", no_argument, NULL, 'b'},
                                         {"nonblocking", no_argument, NULL, 'n'},
                                         {"service", required_argument, NULL, 's'},
                                         {"host", required_argument, NULL, OPT_HOST},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"stats", required_argument, NULL, OPT_STATS},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
static const char optstring[] = "+p:c:m:D:P:O:S:e:r:iEbns:d:h";

#define FLAG(c, field, v)                                                                          \
    {                                                                                              \
        c, offsetof(struct agent_options, field), v                                                \
    }
static const struct cmd_flag flags[] = {FLAG('i', idle, 1),
                                        FLAG('E', by_endpoint, 1),
                                        FLAG('b', nonblocking, 0),
                                        FLAG('n', nonblocking, 1),
                                        {0, 0, 0}};
#undef FLAG

/* A positive number option: 0 or EXIT_USAGE. */
static int number(const char *name, const char *arg, double max, const char *what, double *out)
{
    if (cmd_parse_number(arg, max, out))
        return cmd_usage_error("agent", "%s wants %s, got '%s'", name, what, arg);
    return 0;
}

static int add_list_item(const char *name, size_t *count)
{
    if (*count >= AGENT_MAX_LIST)
        return cmd_usage_error("agent", "%s given more than %d times", name, AGENT_MAX_LIST);
    return 0;
}

/* Takes the value of an option that has one. Returns 0, EXIT_USAGE, or -2
 * if c is not such an option. */
static int parse_value(int c, char *arg, struct agent_options *o)
{
    switch (c) {
    case 'p':
        if (add_list_item("--pid", &o->npids))
            return EXIT_USAGE;
        return cmd_option_pid("agent", arg, &o->pids[o->npids++]);
    case 'm':
        if (add_list_item("--match", &o->npatterns))
            return EXIT_USAGE;
        o->patterns[o->npatterns++] = arg;
        return 0;
    case 'c':
        o->cgroup = arg;
        return 0;
    case 'D':
        o->dir = arg;
        return 0;
    case 'P':
        o->push = arg;
        return 0;
    case 'O':
        o->otlp = arg;
        return 0;
    case 'S':
        o->spool = arg;
        return 0;
    case 's':
        o->service = arg;
        return 0;
    case OPT_HOST:
        o->host = arg;
        return 0;
    case 'r':
        return cmd_option_rate("agent", arg, &o->rate);
    case 'e':
        return number("--every", arg, 86400, "seconds per window (up to a day)", &o->every);
    case 'd':
        return number("--duration", arg, 1e9, "a number of seconds", &o->duration);
    case OPT_STATS:
        return number("--stats", arg, 86400, "seconds between cost lines", &o->stats);
    case OPT_SPOOL_MAX:
        return number("--spool-max", arg, 1e6, "a size in MB", &o->spool_mb);
    case OPT_KEEP:
        return number("--keep", arg, 1e6, "a size in MB", &o->keep_mb);
    }
    return -2;
}

static int check(const struct agent_options *o)
{
    if (!o->dir && !o->push && !o->otlp)
        return cmd_usage_error("agent", "where should the profiles go? give --dir DIR, "
                                        "--push URL (Pyroscope) or --otlp URL (a collector)");
    if (o->cgroup && access(o->cgroup, F_OK) != 0 && strncmp(o->cgroup, "/sys/fs/cgroup", 14) == 0)
        return cmd_usage_error("agent", "--cgroup %s: no such cgroup", o->cgroup);
    const char *urls[] = {o->push, o->otlp};
    for (size_t i = 0; i < 2; i++) {
        struct http_url u;
        char why[512];
        if (urls[i] && http_url_parse(urls[i], &u, why, sizeof(why)) != 0)
            return cmd_usage_error("agent", "%s %s", i ? "--otlp" : "--push", why);
    }
    if (o->cgroup && o->cgroup[0] != '/')
        return cmd_usage_error("agent", "--cgroup wants a cgroup path starting with '/', got '%s'",
                               o->cgroup);
    return 0;
}

/* Returns 0, -1 after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct agent_options *o)
{
    memset(o, 0, sizeof(*o));
    o->every = 15;
    o->rate = 19;
    o->stats = 60;
    o->spool_mb = 256;
    o->keep_mb = 1024;
    o->nonblocking = 1;
    optind = 1;
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        if (cmd_set_flag(flags, c, o))
            continue;
        if (c == 'h') {
            agent_help();
            return -1;
        }
        if (c == '?' || (rc = parse_value(c, optarg, o)) == -2)
            return cmd_option_error("agent", optstring, argv);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return cmd_usage_error("agent", "unexpected argument '%s'", argv[optind]);
    return check(o);
}

/* Everything one agent holds. */
struct agent {
    struct agent_options opt;
    char host[256];
    struct discover discover;
    struct procset set;
    struct endpoint_reader endpoints;
    struct windows windows;
    struct sinks sinks;
    /* totals over the windows' sampler runs */
    uint64_t ticks, walks, walk_errors, late;
    /* the cost line */
    uint64_t start_mono_ns, start_cpu_ns;
    uint64_t stats_mono_ns, stats_cpu_ns;
};

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_walk(struct walker *w, uint64_t elapsed_ns, void *ctx)
{
    struct agent *a = ctx;
    (void)elapsed_ns;
    struct proc_target *t = procset_find(&a->set, w->rt->pid);
    if (t)
        windows_add_walk(&a->windows, w, t->start_time);
}

static void on_window(const struct window *win, void *ctx)
{
    struct agent *a = ctx;
    char why[512];
    if (sinks_add(&a->sinks, win, why, sizeof(why)) != 0)
        cmd_error("check the folder's free space and permissions", "window of pid %d lost: %s",
                  (int)win->pid, why);
}

static const char *sink_name(const struct sink *k)
{
    return k->kind == SINK_PYROSCOPE ? "Pyroscope" : "the OTLP collector";
}

/* From the sender thread: one line per event (stderr is line-buffered by
 * the C library's lock, so lines never interleave). */
static void on_send(const struct sender_report *r, void *ctx)
{
    (void)ctx;
    const struct sink *k = r->sink;
    switch (r->event) {
    case SENDER_DOWN:
        if (r->status)
            cmd_warning("%s at %s answered %d: %.200s; windows wait in %s and are retried",
                        sink_name(k), k->url_text, r->status, r->message, k->spool.dir);
        else
            cmd_warning("%s at %s: %s; windows wait in %s and are retried", sink_name(k),
                        k->url_text, r->message, k->spool.dir);
        break;
    case SENDER_UP:
        fprintf(stderr, "spyglass: agent: %s at %s takes windows again\n", sink_name(k),
                k->url_text);
        break;
    case SENDER_REFUSED:
        cmd_error("this is a bug in spyglass or a server limit; the window was deleted",
                  "%s at %s refused a window (%d): %.300s", sink_name(k), k->url_text, r->status,
                  r->message);
        break;
    }
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* The cost line: CPU since the last one (the last line: since the start),
 * RSS, and what became of the windows. */
static void print_stats(struct agent *a, int last)
{
    uint64_t now = sampler_now_ns(), cpu = cpu_ns(), rss = 0;
    if (last) {
        a->stats_mono_ns = a->start_mono_ns;
        a->stats_cpu_ns = a->start_cpu_ns;
    }
    double wall = (double)(now - a->stats_mono_ns);
    proc_rss(getpid(), &rss);
    uint64_t sent = 0, waiting = 0, dropped = 0, refused = 0;
    for (int i = 0; i < SINK_COUNT; i++) {
        struct sink *k = &a->sinks.sink[i];
        if (!k->on)
            continue;
        dropped += k->spool.dropped;
        if (i == SINK_DIR)
            continue;
        sent += k->sent;
        refused += k->refused;
        waiting += spool_count(&k->spool, NULL);
    }
    fprintf(stderr,
            "spyglass: agent: cpu %.2f%%, rss %.1f MiB, %zu Python processes (%zu unreadable "
            "skipped), windows %" PRIu64 " made, %" PRIu64 " sent, %" PRIu64 " waiting, %" PRIu64
            " dropped, %" PRIu64 " refused; samples %" PRIu64 ", errors %" PRIu64 ", late %" PRIu64
            "\n",
            wall > 0 ? 100.0 * (double)(cpu - a->stats_cpu_ns) / wall : 0, mib(rss),
            procset_python_count(&a->set), a->discover.unreadable, a->sinks.windows, sent, waiting,
            dropped, refused, a->walks, a->walk_errors, a->late);
    a->stats_mono_ns = now;
    a->stats_cpu_ns = cpu;
}

/* The spool folder of a server: --spool/NAME. */
static char *spool_dir(const struct agent_options *o, const char *name)
{
    const char *base = o->spool;
    const char *state = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
    if (base)
        return xasprintf("%s/%s", base, name);
    if (state && state[0])
        return xasprintf("%s/spool/%s", state, name);
    return xasprintf("/var/lib/spyglass/spool/%s", name);
}

/* Opens the destinations. Returns 0 or EXIT_FAILURE_RUN after the error. */
static int open_sinks(struct agent *a)
{
    const struct agent_options *o = &a->opt;
    char why[512];
    uint64_t spool_bytes = (uint64_t)(o->spool_mb * 1048576.0);
    struct {
        enum sink_kind kind;
        const char *url;
        char *dir;
        uint64_t bytes;
    } want[] = {
        {SINK_DIR, NULL, o->dir ? xstrdup(o->dir) : NULL, (uint64_t)(o->keep_mb * 1048576.0)},
        {SINK_PYROSCOPE, o->push, o->push ? spool_dir(o, "pyroscope") : NULL, spool_bytes},
        {SINK_OTLP, o->otlp, o->otlp ? spool_dir(o, "otlp") : NULL, spool_bytes}};
    int rc = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (rc == 0 && want[i].dir &&
            sinks_open(&a->sinks, want[i].kind, want[i].url, want[i].dir, AGENT_SPOOL_FILES,
                       want[i].bytes, why, sizeof(why)) != 0) {
            cmd_error(want[i].kind == SINK_DIR ? "give a folder you may write to with --dir"
                                               : "give a folder you may write to with --spool",
                      "%s", why);
            rc = EXIT_FAILURE_RUN;
        }
        free(want[i].dir);
    }
    return rc;
}

/* Samples window after window until stopped or --duration. */
static void run(struct agent *a)
{
    const struct agent_options *o = &a->opt;
    uint64_t start = sampler_now_ns();
    uint64_t next_stats = start + (uint64_t)(o->stats * 1e9);
    a->start_mono_ns = a->stats_mono_ns = start;
    a->start_cpu_ns = a->stats_cpu_ns = cpu_ns();
    while (!cmd_stop) {
        double left = o->duration > 0 ? o->duration - (double)(sampler_now_ns() - start) / 1e9 : 0;
        if (o->duration > 0 && left <= 0)
            break;
        struct sampler_options so = {.rate_hz = o->rate,
                                     .duration_s =
                                         o->duration > 0 && left < o->every ? left : o->every,
                                     .nonblocking = o->nonblocking};
        struct sampler_stats st;
        sampler_run_set(&a->set, &so, &cmd_stop, on_walk, a, &st);
        a->ticks += st.ticks;
        a->walks += st.walks;
        a->walk_errors += st.walk_errors;
        a->late += st.late;
        windows_flush(&a->windows, &a->set, on_window, a);
        if (sampler_now_ns() >= next_stats) {
            print_stats(a, 0);
            next_stats += (uint64_t)(o->stats * 1e9);
        }
    }
}

static void describe(const struct agent *a)
{
    const struct agent_options *o = &a->opt;
    fprintf(stderr, "spyglass: agent on %s: %s%s%s at %.0f Hz, a window every %.0f s to", a->host,
            o->npids || o->cgroup || o->npatterns ? "the processes selected" : "every process",
            o->cgroup ? " in " : "", o->cgroup ? o->cgroup : "", o->rate, o->every);
    if (o->dir)
        fprintf(stderr, " %s", o->dir);
    if (o->push)
        fprintf(stderr, "%s Pyroscope %s", o->dir ? "," : "", o->push);
    if (o->otlp)
        fprintf(stderr, "%s OTLP %s", o->dir || o->push ? "," : "", o->otlp);
    fprintf(stderr, "; Ctrl-C to stop\n");
}

int cmd_agent(int argc, char **argv)
{
    struct agent *a = xcalloc(1, sizeof(*a));
    int rc = parse(argc, argv, &a->opt);
    if (rc) {
        free(a);
        return rc < 0 ? EXIT_OK : rc;
    }
    const struct agent_options *o = &a->opt;
    if (o->host)
        snprintf(a->host, sizeof(a->host), "%s", o->host);
    else if (gethostname(a->host, sizeof(a->host) - 1) != 0)
        snprintf(a->host, sizeof(a->host), "localhost");
    cmd_signals_install(CMD_SIG_MORE, -1);
    if ((rc = open_sinks(a)) != 0) {
        sinks_close(&a->sinks);
        free(a);
        return rc;
    }
    struct discover_options dopt = {o->pids, o->npids, o->cgroup, o->patterns, o->npatterns};
    discover_init(&a->discover, &dopt);
    procset_init_list(&a->set, discover_list, &a->discover, AGENT_SCAN_MS);
    if (o->by_endpoint) {
        endpoint_init(&a->endpoints);
        a->set.endpoints = &a->endpoints;
    }
    struct window_options wo = {o->rate, o->idle, o->by_endpoint, o->service, a->host};
    windows_init(&a->windows, &wo);
    sinks_start_sender(&a->sinks, on_send, a);
    describe(a);
    run(a);
    sinks_stop_sender(&a->sinks, AGENT_DRAIN_MS);
    print_stats(a, 1);
    windows_release(&a->windows);
    procset_release(&a->set);
    if (o->by_endpoint)
        endpoint_release(&a->endpoints);
    discover_release(&a->discover);
    sinks_close(&a->sinks);
    free(a);
    return EXIT_OK;
}
