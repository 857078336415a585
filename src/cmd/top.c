/*
 * cmd_top.c - `spyglass top`: a live, top-like view of where a program
 * spends its time.
 *
 * Two threads. The sampler thread runs sampler_run (the same loop `record`
 * uses) and folds every tick into a struct top_model under a mutex. The main
 * thread owns the terminal: every --interval seconds it copies a snapshot of
 * the model under the mutex, then builds rows and draws them (ncurses) or
 * prints them (plain text when stdout or stdin is not a terminal) without
 * holding it, so drawing never delays a sample. Keys and signals wake the
 * main thread through poll(); the sampler thread blocks every signal.
 *
 * Every way out (q, Ctrl-C, SIGTERM, SIGHUP, the target exiting) stops the
 * sampler, which resumes the target before returning, then gives the
 * terminal back and prints a one-line summary. Ctrl-Z first parks the
 * sampler between samples, so the target is never left stopped while we are.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "collect/attach.h"
#include "collect/fold.h"
#include "proc/proc.h"
#include "python/tasks.h"
#include "python/walk.h"
#include "sample/native.h"
#include "sample/procset.h"
#include "sample/sampler.h"
#include "tui/screen.h"
#include "tui/text.h"
#include "tui/top.h"
#include "tui/view.h"
#include "util/hash.h"
#include "util/util.h"

struct top_options {
    pid_t pid;
    char **command; /* argv after "--", or NULL */
    double rate, window, interval;
    size_t rows; /* rows per plain-text snapshot */
    int idle, gil, threads, function, nonblocking, full_filenames;
    int subprocesses, by_endpoint, async;
    int native, native_all, nonblocking_given;
};

static void top_help(void)
{
    printf("usage: spyglass top (--pid PID | -- COMMAND [ARGS...]) [options]\n\n"
           "A live view of where a running Python program spends its time, like top(1):\n"
           "functions and lines ranked by the share of samples in which they were running\n"
           "(%%Own) or on the stack (%%Total), refreshed every second.\n\n"
           "What to watch:\n"
           "  -p, --pid PID        attach to a running process\n"
           "  -- COMMAND ARGS...   run COMMAND and watch it (in the full-screen view its\n"
           "                       input and output go to /dev/null; q stops it)\n\n"
           "Sampling:\n"
           "  -r, --rate HZ        samples per second (default 100)\n"
           "  -w, --window S       count only the last S seconds, so the view shows what is\n"
           "                       hot now (to within S/10; default: since the start)\n"
           "  -i, --idle           start with idle samples shown (threads sleeping, waiting\n"
           "                       on I/O or locks); the i key toggles them\n"
           "  -g, --gil            keep only samples of the thread holding the GIL\n"
           "  -t, --threads        one row per thread and function (a Thread column)\n"
           "  -F, --function       start with one row per function instead of per line\n"
           "  -b, --blocking       pause the target while each sample is read\n"
           "      --nonblocking    never pause the target (the default; see\n"
           "                       'spyglass record --help')\n"
           "  -n, --native         also the C and C++ frames (as 'spyglass record --native'):\n"
           "                       rows show them as \"function (library)\" with \"(native)\"\n"
           "                       for a file. Pauses the threads while they are unwound\n"
           "      --native-all     with --native, also the interpreter's own C frames\n"
           "  -s, --subprocesses   also watch every descendant process (server workers,\n"
           "                       multiprocessing children, workers restarted meanwhile;\n"
           "                       with -- COMMAND, the command's tree). Threads are\n"
           "                       named \"pid N: name\"\n"
           "  -e, --by-endpoint    count by the HTTP endpoint each thread serves (WSGI /\n"
           "                       ASGI, as 'spyglass record --by-endpoint') instead of by\n"
           "                       thread: t shows one endpoint at a time, e one row per\n"
           "                       endpoint and function; the endpoint table is printed at\n"
           "                       the end\n"
           "  -a, --async          also every asyncio task, as 'spyglass record --async': a\n"
           "                       task waiting counts as an idle sample of the thread\n"
           "                       running its loop (shown with i), and the running task's\n"
           "                       stack gets the coroutines of the tasks awaiting it\n\n"
           "Display:\n"
           "  -I, --interval S     refresh every S seconds (default 1)\n"
           "  -N, --rows N         rows per snapshot when not on a terminal (default 30)\n"
           "      --full-filenames show full file paths instead of shortened ones\n"
           "  -h, --help           show this help\n\n"
           "Keys: 1-4 sort (own, total, name, file), l lines/functions, i idle,\n"
           "t cycle threads (endpoints), e rows per endpoint, space pause, r reset,\n"
           "arrows/PgUp/PgDn scroll, ? help, q quit.\n\n"
           "When stdout is not a terminal, a plain-text snapshot (header, then the table)\n"
           "is printed every --interval seconds instead. Quitting, Ctrl-C or the target\n"
           "exiting restores the terminal and prints a one-line summary to stderr; the\n"
           "target keeps running (a COMMAND we started is sent SIGTERM on q).\n"
           "Exit status: 0, or COMMAND's exit status if it exits by itself.\n\n"
           "Examples:\n"
           "  spyglass top --pid 12345\n"
           "  spyglass top --window 10 -- python server.py\n"
           "  spyglass top --pid 12345 --interval 5 | tee top.log\n"
           "  spyglass top --pid $(pgrep -o gunicorn) --subprocesses --by-endpoint\n");
}

static int parse_value(int c, const char *arg, struct top_options *o)
{
    double v;
    switch (c) {
    case 'p':
        return cmd_option_pid("top", arg, &o->pid);
    case 'r':
        return cmd_option_rate("top", arg, &o->rate);
    case 'w':
        if (cmd_parse_number(arg, 1e7, &o->window))
            return cmd_usage_error("top",
                                   "--window wants a positive number of seconds, "
                                   "got '%s'",
                                   arg);
        return 0;
    case 'I':
        if (cmd_parse_number(arg, 86400, &o->interval) || o->interval < 0.05)
            return cmd_usage_error("top",
                                   "--interval wants seconds between 0.05 and 86400, "
                                   "got '%s'",
                                   arg);
        return 0;
    case 'N':
        if (cmd_parse_number(arg, 1e6, &v) || v != floor(v))
            return cmd_usage_error("top", "--rows wants a positive whole number, got '%s'", arg);
        o->rows = (size_t)v;
        return 0;
    }
    return 0;
}

static const struct option longopts[] = {{"pid", required_argument, NULL, 'p'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"window", required_argument, NULL, 'w'},
                                         {"interval", required_argument, NULL, 'I'},
                                         {"rows", required_argument, NULL, 'N'},
                                         {"idle", no_argument, NULL, 'i'},
                                         {"gil", no_argument, NULL, 'g'},
                                         {"threads", no_argument, NULL, 't'},
                                         {"function", no_argument, NULL, 'F'},
                                         {"nonblocking", no_argument, NULL, 'B'},
                                         {"native", no_argument, NULL, 'n'},
                                         {"native-all", no_argument, NULL, 'A'},
                                         {"blocking", no_argument, NULL, 'b'},
                                         {"full-filenames", no_argument, NULL, 'L'},
                                         {"subprocesses", no_argument, NULL, 's'},
                                         {"by-endpoint", no_argument, NULL, 'e'},
                                         {"async", no_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
static const char optstring[] = "+p:r:w:I:N:igtFnbseah";

#define FLAG(c, field, v)                                                                          \
    {                                                                                              \
        c, offsetof(struct top_options, field), v                                                  \
    }
static const struct cmd_flag flags[] = {FLAG('i', idle, 1),
                                        FLAG('g', gil, 1),
                                        FLAG('t', threads, 1),
                                        FLAG('F', function, 1),
                                        FLAG('n', native, 1),
                                        FLAG('A', native_all, 1),
                                        FLAG('L', full_filenames, 1),
                                        FLAG('s', subprocesses, 1),
                                        FLAG('e', by_endpoint, 1),
                                        FLAG('a', async, 1),
                                        {0, 0, 0}};
#undef FLAG

/* Returns 0, -1 after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct top_options *o)
{
    memset(o, 0, sizeof(*o));
    o->rate = 100;
    o->nonblocking = 1; /* as record: measured in bench/consistency.py */
    o->interval = 1;
    o->rows = 30;
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
            top_help();
            return -1;
        }
        if (c == '?' || !strchr("prwIN", c))
            return cmd_option_error("top", optstring, argv);
        if ((rc = parse_value(c, optarg, o)) != 0)
            return rc;
    }
    if ((rc = cmd_take_command("top", argc, argv, &o->command)) != 0)
        return rc;
    if (!o->pid && !o->command)
        return cmd_usage_error("top", "what to watch? give --pid PID or -- COMMAND");
    if (o->pid && o->command)
        return cmd_usage_error("top", "give either --pid or a command, not both");
    o->native |= o->native_all;
    if (o->native && o->nonblocking_given)
        return cmd_usage_error("top", "--native unwinds each thread while it is paused: it "
                                      "cannot be combined with --nonblocking");
    if (o->native && o->subprocesses)
        return cmd_usage_error("top", "--native follows one process: it cannot be combined "
                                      "with --subprocesses yet");
    if (o->native && o->async)
        return cmd_usage_error("top", "--async joins tasks to Python stacks: it cannot be "
                                      "combined with --native yet");
    if (o->native)
        o->nonblocking = 0; /* a thread is unwound while it stands still */
    return 0;
}

/* State shared by the two threads. Fields marked (lock) are only touched
 * with `lock` held; the others belong to one thread. */
struct top_run {
    pthread_mutex_t lock;
    pthread_cond_t parked_cond;
    const struct top_options *opt;
    struct top_model *model;    /* (lock) */
    struct sampler_stats shown; /* (lock) the sampler's statistics as of the last tick */
    int done;                   /* (lock) the sampler returned */
    int hold, parked;           /* (lock) Ctrl-Z: park the sampler between samples */
    uint64_t parked_ns;         /* time spent parked, which st.cost_ns counts too */
    /* sampler thread */
    struct walker *walker;
    struct sampler_options so;
    struct sampler_stats st;
    int rc;
    struct top_frame *frames;
    size_t frames_cap;
    struct procset *set;      /* --subprocesses */
    uint64_t tick_seen;       /* the sampler tick the model last started */
    struct profile *interned; /* the fold's frames and endpoint labels */
    struct fold fold;
    struct task_reader *tasks;   /* --async */
    struct native_stacks native; /* --native */
    int have_native;
    const char **labels; /* native frames' row names, "symbol (library)", by frame id */
    size_t labels_cap;
};

/* The key and name a stack is counted under: with --by-endpoint its
 * endpoint (its root), with --subprocesses "pid N: name", else its thread. */
static uint64_t stack_owner(const struct top_run *run, const struct fold_stack *s, char *name,
                            size_t size)
{
    const struct py_thread *t = s->thread;
    if (run->opt->by_endpoint) {
        const char *label = s->nroots ? s->frames[0].name : ROOTS_NO_REQUEST;
        uint64_t h = hash_str(HASH_SEED, label);
        strlcpy_safe(name, label, size);
        return h ? h : 1;
    }
    if (run->set)
        snprintf(name, size, "pid %d: %s", (int)s->walker->rt->pid,
                 t->name[0] ? t->name : "thread");
    else
        strlcpy_safe(name, t->name, size);
    return t->tid ? (uint64_t)t->tid : t->ident;
}

/* The row of a native frame: "deflate (libz.so.1.2.13)" in the function
 * column, "(native)" in the file's, made once per frame. */
static struct top_frame native_row(struct top_run *run, const struct fold_frame *f)
{
    if (f->id >= run->labels_cap) {
        size_t old = run->labels_cap;
        run->labels = xgrow(run->labels, sizeof(*run->labels), (size_t)f->id + 1, &run->labels_cap);
        memset(run->labels + old, 0, (run->labels_cap - old) * sizeof(*run->labels));
    }
    if (!run->labels[f->id]) {
        size_t len = strlen(f->file); /* "lib+0xOFFSET" says its library already */
        int named = !strncmp(f->name, f->file, len) && !strncmp(f->name + len, "+0x", 3);
        char *label =
            named ? xstrdup(f->name) : xasprintf("%s (%s)", f->name, f->file[0] ? f->file : "?");
        run->labels[f->id] = profile_intern(run->interned, label);
        free(label);
    }
    return (struct top_frame){run->labels[f->id], "(native)", 0, 0};
}

/* Counts one folded stack in the model (lock held). */
static void add_stack(const struct fold_stack *s, void *ctx)
{
    struct top_run *run = ctx;
    const struct py_thread *t = s->thread;
    size_t depth = run->opt->gil && !t->holds_gil ? 0 : s->depth - s->nroots;
    /* top drops --gil's frames itself (the model still counts the sample);
     * the fold's statistics say how many ran without the GIL all the same. */
    run->fold.stats.gil_dropped_active += run->opt->gil && !t->holds_gil && !t->idle;
    run->frames = xgrow(run->frames, sizeof(*run->frames), s->depth + 1, &run->frames_cap);
    for (size_t d = 0; d < depth; d++) { /* leaf first */
        const struct fold_frame *f = &s->frames[s->depth - 1 - d];
        if (f->kind == PF_NATIVE_CODE)
            run->frames[d] = native_row(run, f);
        else
            run->frames[d] = (struct top_frame){f->name, f->file, f->line, f->first_line};
    }
    char name[WALK_ENDPOINT_MAX + 32];
    uint64_t owner = stack_owner(run, s, name, sizeof(name));
    struct top_stack ts = {.thread = owner,
                           .thread_name = name,
                           .frames = run->frames,
                           .depth = depth,
                           .idle = s->idle};
    top_model_add(run->model, &ts);
}

/* Ctrl-Z: waits here (lock held), with the target running. */
static void park(struct top_run *run)
{
    uint64_t parked_at = sampler_now_ns();
    while (run->hold) {
        run->parked = 1;
        pthread_cond_broadcast(&run->parked_cond);
        pthread_cond_wait(&run->parked_cond, &run->lock);
    }
    run->parked = 0;
    run->parked_ns += sampler_now_ns() - parked_at; /* not sampling cost */
}

/* Folds one walk into the model (sampler thread, target already resumed). */
static void on_sample(struct walker *w, uint64_t elapsed_ns, void *ctx)
{
    struct top_run *run = ctx;
    struct top_tick tick = {.now_ns = elapsed_ns, .threads = (unsigned)w->nthreads};
    /* With --subprocesses we are called once per process in a tick. */
    int new_tick = !run->set || run->st.ticks != run->tick_seen;
    run->tick_seen = run->st.ticks;
    for (size_t i = 0; i < w->nthreads; i++) {
        tick.gil_held |= w->threads[i].holds_gil;
        tick.active += !w->threads[i].idle;
    }
    pthread_mutex_lock(&run->lock);
    if (new_tick)
        top_model_tick(run->model, &tick);
    else
        top_model_tick_more(run->model, &tick);
    fold_walk(&run->fold, w, add_stack, run);
    run->shown = run->st;
    if (run->hold)
        park(run);
    pthread_mutex_unlock(&run->lock);
}

static void *sampler_main(void *arg)
{
    struct top_run *run = arg;
    if (run->set)
        run->rc = sampler_run_set(run->set, &run->so, &cmd_stop, on_sample, run, &run->st);
    else
        run->rc = sampler_run(run->walker, &run->so, &cmd_stop, on_sample, run, &run->st);
    pthread_mutex_lock(&run->lock);
    run->shown = run->st;
    run->done = 1;
    pthread_cond_broadcast(&run->parked_cond);
    pthread_mutex_unlock(&run->lock);
    cmd_wake();
    return NULL;
}

/* Starts the sampler thread with every signal blocked, so they all reach
 * the main thread. */
static int start_sampler(struct top_run *run, pthread_t *thread)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(thread, NULL, sampler_main, run);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

/* What the main thread draws from. */
struct top_ui {
    struct top_run *run;
    const struct top_options *opt;
    const struct py_runtime *rt;
    char command[512];
    uint64_t start_ns;
    uint64_t reset_ns; /* when r was last pressed, 0: never */
    struct top_snapshot snap;
    struct top_status status;
    struct top_view view;
    struct top_row *rows;
    size_t nrows, rows_cap;
    int ascii_only;
    uint64_t printed_ticks; /* plain mode: ticks as of the last snapshot printed */
};

/* Copies the model and the sampler's statistics (under the lock). */
static void take_snapshot(struct top_ui *ui)
{
    struct top_run *run = ui->run;
    pthread_mutex_lock(&run->lock);
    top_model_snapshot(run->model, &ui->snap);
    ui->status.ticks = run->shown.ticks;
    ui->status.errors = run->shown.errors;
    pthread_mutex_unlock(&run->lock);
    uint64_t now = sampler_now_ns();
    ui->status.elapsed_s = (double)(now - ui->start_ns) / 1e9;
    ui->status.since_reset_s = ui->reset_ns ? (double)(now - ui->reset_ns) / 1e9 : -1;
}

static int sampler_done(struct top_run *run)
{
    pthread_mutex_lock(&run->lock);
    int done = run->done;
    pthread_mutex_unlock(&run->lock);
    return done;
}

static void reset_model(struct top_ui *ui)
{
    pthread_mutex_lock(&ui->run->lock);
    top_model_reset(ui->run->model);
    pthread_mutex_unlock(&ui->run->lock);
    ui->reset_ns = sampler_now_ns();
    take_snapshot(ui);
}

/* Ctrl-Z: park the sampler between samples (the target running), leave the
 * screen, stop; on `fg`, come back. */
static void suspend_self(struct top_ui *ui, int tui)
{
    struct top_run *run = ui->run;
    cmd_suspend = 0;
    pthread_mutex_lock(&run->lock);
    run->hold = 1;
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 2; /* a sampler whose every walk fails never reaches the callback */
    while (!run->parked && !run->done &&
           pthread_cond_timedwait(&run->parked_cond, &run->lock, &limit) == 0) {
    }
    pthread_mutex_unlock(&run->lock);
    if (tui)
        screen_suspend();
    /* Stop the way a shell expects: SIGTSTP with its default action. */
    struct sigaction dfl, ours;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTSTP, &dfl, &ours);
    raise(SIGTSTP);
    sigaction(SIGTSTP, &ours, NULL);
    pthread_mutex_lock(&run->lock);
    run->hold = 0;
    pthread_cond_broadcast(&run->parked_cond);
    pthread_mutex_unlock(&run->lock);
    if (tui)
        screen_resume();
}

/* Waits up to timeout_ms for a key, a signal or the sampler ending. */
static void wait_for_event(int wake_fd, int with_keys, int timeout_ms)
{
    struct pollfd fds[2] = {{.fd = wake_fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (poll(fds, with_keys ? 2 : 1, timeout_ms) > 0 && (fds[0].revents & POLLIN)) {
        char buf[64];
        while (read(wake_fd, buf, sizeof(buf)) > 0) {
        }
    }
}

static int ms_until(uint64_t deadline_ns)
{
    uint64_t now = sampler_now_ns();
    return deadline_ns > now ? (int)((deadline_ns - now + 999999) / 1000000) : 0;
}

static void build_rows(struct top_ui *ui)
{
    ui->nrows = top_rows(&ui->snap, &ui->view, &ui->rows, &ui->rows_cap);
}

static void draw(struct top_ui *ui)
{
    struct strbuf header[TOP_HEADER_LINES];
    for (int i = 0; i < TOP_HEADER_LINES; i++)
        strbuf_init(&header[i]);
    build_rows(ui);
    top_header(&ui->status, &ui->snap, &ui->view, header);
    screen_draw(header, &ui->view, ui->rows, ui->nrows, ui->ascii_only, ui->opt->full_filenames);
    for (int i = 0; i < TOP_HEADER_LINES; i++)
        strbuf_release(&header[i]);
}

/* Handles one key; returns 1 if the screen needs redrawing. */
static int handle_key(struct top_ui *ui, int key)
{
    if (key == SCREEN_KEY_RESIZE)
        return 1;
    if (ui->view.help) { /* any key closes the help */
        ui->view.help = 0;
        return 1;
    }
    const struct top_key *k = top_key_find(key);
    if (!k)
        return 0;
    if (k->action == TOP_ACT_QUIT) {
        cmd_stop = 1;
        return 0;
    }
    if (k->action == TOP_ACT_RESET) {
        reset_model(ui);
        return 1;
    }
    return top_view_apply(&ui->view, k->action, &ui->snap, screen_page());
}

static void run_screen(struct top_ui *ui, int wake_fd)
{
    uint64_t period = (uint64_t)(ui->opt->interval * 1e9);
    uint64_t next = sampler_now_ns();
    int dirty = 0;
    while (!cmd_stop && !sampler_done(ui->run)) {
        if (sampler_now_ns() >= next) {
            if (!ui->view.paused)
                take_snapshot(ui);
            next = sampler_now_ns() + period;
            dirty = 1;
        }
        if (dirty)
            draw(ui);
        dirty = 0;
        wait_for_event(wake_fd, 1, ms_until(next));
        if (cmd_suspend) {
            suspend_self(ui, 1);
            dirty = 1;
        }
        int key;
        while ((key = screen_key()) != -1)
            dirty |= handle_key(ui, key);
    }
}

/* Prints a snapshot; returns -1 if stdout is gone. */
static int print_snapshot(struct top_ui *ui)
{
    take_snapshot(ui);
    build_rows(ui);
    ui->printed_ticks = ui->snap.ticks_since_reset;
    return top_write_text(stdout, &ui->status, &ui->snap, &ui->view, ui->rows, ui->nrows,
                          ui->opt->rows, ui->opt->full_filenames);
}

static void run_plain(struct top_ui *ui, int wake_fd)
{
    uint64_t period = (uint64_t)(ui->opt->interval * 1e9);
    uint64_t next = sampler_now_ns() + period;
    while (!cmd_stop && !sampler_done(ui->run)) {
        wait_for_event(wake_fd, 0, ms_until(next));
        if (cmd_suspend)
            suspend_self(ui, 0);
        if (cmd_stop || sampler_done(ui->run))
            break;
        if (sampler_now_ns() < next)
            continue;
        if (print_snapshot(ui)) {
            cmd_stop = 1; /* e.g. `| head` closed the pipe */
            return;
        }
        next += period;
        if (next < sampler_now_ns())
            next = sampler_now_ns() + period;
    }
    /* What happened since the last snapshot is not lost when we stop. */
    take_snapshot(ui);
    if (ui->snap.ticks_since_reset != ui->printed_ticks)
        print_snapshot(ui);
}

static void print_summary(const struct top_run *run, const struct top_options *o,
                          const struct attach_target *t)
{
    const struct sampler_stats *st = &run->st;
    double secs = (double)(st->end_ns - st->start_ns) / 1e9;
    double ticks = st->ticks ? (double)st->ticks : 1;
    char how[96] = "";
    if (st->end == SAMPLER_END_EXITED && t->child && st->child_reaped)
        snprintf(how, sizeof(how), "; the target exited (status %d)",
                 attach_exit_status(st->child_status));
    else if (st->end == SAMPLER_END_EXITED)
        snprintf(how, sizeof(how), "; the target %s",
                 st->execed ? "exec'd another program" : "exited");
    /* Notes first: the line saying how top ended stays the last one. */
    cmd_print_fold_notes(&run->fold, stderr);
    uint64_t all, other = top_model_other(run->model, &all);
    if (other)
        fprintf(stderr,
                "spyglass: %" PRIu64 " thread samples (%.1f%%) were counted under \"" TOP_OTHER
                "\": the target made more distinct functions than top keeps (%zu frames); "
                "SPYGLASS_MAX_FRAMES raises the limit\n",
                other, 100.0 * (double)other / (double)all, cmd_max_frames());
    fprintf(stderr,
            "spyglass: top watched pid %d for %.1f s: %" PRIu64 " samples (%.1f Hz of %.0f "
            "asked), errors %" PRIu64 " (%.1f%%), late %" PRIu64 ", sample cost mean %.0f us%s\n",
            (int)t->pid, secs, st->ok, secs > 0 ? (double)st->ticks / secs : 0, o->rate, st->errors,
            100.0 * (double)st->errors / ticks, st->late,
            st->ticks ? (double)(st->cost_ns - run->parked_ns) / ticks / 1000.0 : 0, how);
    if (t->tree)
        fprintf(stderr, "spyglass: %zu Python processes watched (%zu exited)\n", t->set.python_ever,
                t->set.exited);
    if (o->by_endpoint)
        cmd_print_endpoints(&run->fold.roots, stderr);
    if (run->tasks)
        cmd_print_tasks(run->tasks, &run->fold.stats, st->ticks, stderr);
    if (run->have_native)
        cmd_print_native(&run->native, &run->fold, st, stderr);
}

/* Ends a child we spawned that is still running (the user quit): SIGTERM,
 * then SIGKILL if it has not gone within two seconds. */
static void end_child(struct attach_target *t, struct sampler_stats *st)
{
    if (st->child_reaped) {
        t->child_status = st->child_status;
        t->child_reaped = 1;
    }
    if (attach_end_child(t, 2000))
        cmd_warning("pid %d ignored SIGTERM for 2 s; killed it", (int)t->child);
}

static void ui_init(struct top_ui *ui, struct top_run *run, const struct top_options *o,
                    const struct py_runtime *rt, pid_t pid)
{
    memset(ui, 0, sizeof(*ui));
    ui->run = run;
    ui->opt = o;
    ui->rt = rt;
    proc_cmdline(pid, ui->command, sizeof(ui->command));
    ui->status.pid = (int)pid;
    ui->status.command = ui->command;
    ui->status.python_version = rt->version;
    ui->status.gil_only = o->gil;
    ui->status.since_reset_s = -1;
    top_snapshot_init(&ui->snap);
    top_view_init(&ui->view);
    ui->view.idle = o->idle;
    ui->view.by_function = o->function;
    ui->view.split_threads = o->threads;
    ui->view.endpoints = o->by_endpoint;
    const char *codeset = nl_langinfo(CODESET);
    ui->ascii_only = !codeset || strcmp(codeset, "UTF-8") != 0;
}

/* Runs the view until the user quits or the sampler ends. */
static void run_view(struct top_ui *ui, int tui, int wake_fd)
{
    if (tui && screen_open() != 0) {
        cmd_warning("cannot drive this terminal (TERM=%s); printing plain snapshots",
                    getenv("TERM") ? getenv("TERM") : "unset");
        tui = 0;
    }
    if (tui) {
        run_screen(ui, wake_fd);
        screen_close();
    } else {
        run_plain(ui, wake_fd);
    }
}

/* Sets up the run around an attached target: the fold (into a profile that
 * only interns frames and endpoint labels), the model, the unwinder (--native),
 * the sampler's options. Returns 0, or the SG_E* code of reading the target's
 * modules (run_release is needed either way). */
static int run_init(struct top_run *run, const struct top_options *o, struct attach_target *t)
{
    memset(run, 0, sizeof(*run));
    pthread_mutex_init(&run->lock, NULL);
    pthread_cond_init(&run->parked_cond, NULL);
    run->opt = o;
    run->interned = profile_new();
    cmd_limit_profile(run->interned);
    struct fold_options fo = {.idle = 1,
                              .keep_empty = 1,
                              .by_endpoint = o->by_endpoint,
                              .async = o->async,
                              .native_all = o->native_all};
    fold_init(&run->fold, run->interned, &fo);
    struct endpoint_reader *er = o->by_endpoint ? &run->fold.roots.endpoints_reader : NULL;
    if (o->async) {
        run->tasks = xmalloc(sizeof(*run->tasks));
        tasks_init(run->tasks, 0);
    }
    if (t->tree) {
        run->set = &t->set;
        t->set.endpoints = er;
        t->set.tasks = run->tasks;
    } else {
        run->walker = xcalloc(1, sizeof(*run->walker));
        walk_init(run->walker, &t->reader, &t->rt);
        run->walker->endpoints = er;
        run->walker->tasks = run->tasks;
    }
    run->model = top_model_new(o->window, (uint64_t)(1e9 / o->rate));
    top_model_set_max_entries(run->model, 4 * cmd_max_frames());
    if (o->native) {
        int err = native_init(&run->native, t->pid);
        if (err)
            return err;
        run->have_native = 1;
    }
    run->so = (struct sampler_options){.rate_hz = o->rate,
                                       .nonblocking = o->nonblocking,
                                       .child = t->child,
                                       .native = run->have_native ? &run->native : NULL,
                                       .native_idle = 1}; /* the i key shows them */
    return 0;
}

static void run_release(struct top_run *run)
{
    free(run->frames);
    top_model_free(run->model);
    pthread_cond_destroy(&run->parked_cond);
    pthread_mutex_destroy(&run->lock);
    if (run->walker)
        walk_release(run->walker);
    free(run->walker);
    if (run->have_native)
        native_release(&run->native);
    free(run->labels);
    fold_release(&run->fold);
    profile_free(run->interned);
    if (run->tasks)
        tasks_release(run->tasks);
    free(run->tasks);
}

/* Samples in a thread of its own while this one runs the view; returns the
 * exit status. */
static int watch(struct top_run *run, const struct top_options *o, struct attach_target *t, int tui,
                 int wake_fd)
{
    struct top_ui ui;
    ui_init(&ui, run, o, attach_runtime(t), t->pid);
    ui.start_ns = sampler_now_ns();
    pthread_t thread;
    int rc = EXIT_OK;
    if (start_sampler(run, &thread) != 0) {
        cmd_error(NULL, "cannot start the sampling thread");
        end_child(t, &run->st);
        rc = EXIT_FAILURE_RUN;
        goto out;
    }
    run_view(&ui, tui, wake_fd);
    cmd_stop = 1;
    pthread_join(thread, NULL);
    if (run->rc == -SG_EPERM) {
        cmd_error("drop --blocking, or run as root / the target's user",
                  "not allowed to pause process %d (ptrace)", (int)t->pid);
        rc = EXIT_FAILURE_RUN;
    }
    if (t->child && run->st.end == SAMPLER_END_EXITED && run->st.child_reaped)
        rc = attach_exit_status(run->st.child_status);
    end_child(t, &run->st);
    print_summary(run, o, t);
out:
    free(ui.rows);
    top_snapshot_release(&ui.snap);
    return rc;
}

int cmd_top(int argc, char **argv)
{
    struct top_options o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    setlocale(LC_CTYPE, ""); /* for UTF-8 names on screen; numbers stay "1.5" */
    int tui = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
    int wake[2];
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        cmd_error(NULL, "cannot create a pipe: %s", strerror(errno));
        return EXIT_FAILURE_RUN;
    }
    cmd_signals_install(CMD_SIG_MORE | CMD_SIG_TSTP, wake[1]);
    struct attach_options ao = {.pid = o.pid,
                                .command = o.command,
                                .tree = o.subprocesses,
                                .quiet_child = tui,
                                .stop = &cmd_stop,
                                .child_pid = &cmd_child};
    struct attach_target target;
    char why[512];
    int err = attach_start(&ao, &target, why, sizeof(why));
    if (err) {
        cmd_attach_error(err, &target, why);
        rc = EXIT_FAILURE_RUN;
    } else {
        struct top_run run;
        cmd_runtime_note(&target);
        err = run_init(&run, &o, &target);
        if (err) {
            cmd_error(cmd_attach_hint(err, target.pid), "cannot read the modules of process %d: %s",
                      (int)target.pid, sg_strerror(err));
            end_child(&target, &run.st);
            rc = EXIT_FAILURE_RUN;
        } else {
            rc = watch(&run, &o, &target, tui, wake[0]);
        }
        run_release(&run);
        attach_release(&target);
    }
    cmd_signals_install(CMD_SIG_MORE | CMD_SIG_TSTP, -1);
    close(wake[0]);
    close(wake[1]);
    return rc;
}
