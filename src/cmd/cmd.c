/*
 * cmd.c - what the commands share: error and warning lines, usage and
 * option errors, number parsing, signals and attach hints. Kept out of
 * main.c so tests can link it.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/attach.h"
#include "proc/proc.h"
#include "proc/task.h"
#include "profile/profile.h"
#include "util/utf8.h"

/* Prints prefix, then the message escaped for a terminal: messages quote
 * what a target controls (its command name, its files' paths), which must
 * not move the cursor, recolour the terminal or add lines. */
static void print_escaped(const char *prefix, const char *fmt, va_list ap)
{
    char msg[2048], shown[4 * sizeof(msg)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    utf8_escape(msg, shown, sizeof(shown));
    fprintf(stderr, "%s%s\n", prefix, shown);
}

void cmd_error(const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_escaped("spyglass: error: ", fmt, ap);
    va_end(ap);
    if (hint) {
        char shown[2048];
        utf8_escape(hint, shown, sizeof(shown));
        fprintf(stderr, "hint: %s\n", shown);
    }
}

void cmd_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_escaped("spyglass: warning: ", fmt, ap);
    va_end(ap);
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_escaped("spyglass: error: ", fmt, ap);
    va_end(ap);
    fprintf(stderr, "hint: run 'spyglass %s --help' for usage\n", cmd);
    return EXIT_USAGE;
}

int cmd_option_error(const char *cmd, const char *optstring, char **argv)
{
    const char *opt = optopt ? strchr(optstring, optopt) : NULL;
    if (opt && opt[1] == ':')
        return cmd_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    return cmd_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int cmd_parse_pid(const char *s, pid_t *pid)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > INT_MAX)
        return -1;
    *pid = (pid_t)v;
    return 0;
}

/* "user NAME (uid N)", or "uid N" for a uid without a name. */
static void describe_user(long uid, char *buf, size_t size)
{
    struct passwd *pw = getpwuid((uid_t)uid);
    if (pw)
        snprintf(buf, size, "user %.64s (uid %ld)", pw->pw_name, uid);
    else
        snprintf(buf, size, "uid %ld", uid);
}

/* What Yama's ptrace_scope forbids us, or NULL if it is not the cause. */
static const char *yama_hint(int scope, int root)
{
    if (scope == 3)
        return "kernel.yama.ptrace_scope is 3: no process may read another's memory, not even "
               "root, until the next reboot";
    if (scope == 2 && !root)
        return "kernel.yama.ptrace_scope is 2: only root may read another process's memory; "
               "run spyglass as root (sudo)";
    if (scope == 1 && !root)
        return "kernel.yama.ptrace_scope is 1: a process may read only its own children; "
               "start the program under spyglass (spyglass record -- COMMAND), run spyglass as "
               "root (sudo), or set kernel.yama.ptrace_scope=0";
    return NULL;
}

const char *cmd_permission_hint(pid_t pid, const struct proc_access *a, long me, int root)
{
    static char hint[512];
    char who[128];
    if (!root && a->uid >= 0 && a->uid != me) {
        describe_user(a->uid, who, sizeof(who));
        snprintf(hint, sizeof(hint),
                 "process %d belongs to %s: run spyglass as the target's user or as root (sudo)",
                 (int)pid, who);
        return hint;
    }
    if (!root && a->uid == me && (a->dumpable == 0 || (a->euid >= 0 && a->euid != me))) {
        snprintf(hint, sizeof(hint),
                 "process %d runs as your user but is not dumpable (it called "
                 "prctl(PR_SET_DUMPABLE, 0), or changed its user ids as a setuid program does): "
                 "only root can read it; run spyglass with sudo",
                 (int)pid);
        return hint;
    }
    const char *yama = yama_hint(a->yama_scope, root);
    if (yama)
        return yama;
    if (root)
        return "the kernel refused even root: a security module (SELinux, AppArmor) or a "
               "seccomp policy may forbid reading this process";
    return "run spyglass as the target's user or as root (sudo)";
}

size_t cmd_max_frames(void)
{
    const char *s = getenv("SPYGLASS_MAX_FRAMES");
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v == 0 || v > PROFILE_MAX_IDS / 64)
        return PROFILE_DEFAULT_FRAMES;
    return (size_t)v;
}

void cmd_limit_profile(struct profile *p)
{
    struct profile_limits l;
    profile_limits_for(cmd_max_frames(), &l);
    profile_set_limits(p, &l);
}

void cmd_print_overflow(const struct profile *p)
{
    const struct profile_overflow *o = profile_overflow(p);
    uint64_t total = profile_total_weight(p);
    if (!o->frames && !o->stacks)
        return;
    fprintf(stderr,
            "spyglass: %" PRIu64 " %s (%.1f%%) are under \"" PROFILE_OTHER "\": the target "
            "made more distinct functions and stacks than a profile keeps (%zu frames); "
            "SPYGLASS_MAX_FRAMES raises the limit\n",
            o->weight, profile_meta_const(p)->unit,
            total ? 100.0 * (double)o->weight / (double)total : 0.0, cmd_max_frames());
}

const char *cmd_attach_hint(int err, pid_t pid)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case SG_ENOPROC:
        return "check the pid with 'ps -p PID' (the process may have exited)";
    case SG_EPERM: {
        struct proc_access a;
        proc_access(pid, &a);
        return cmd_permission_hint(pid, &a, (long)getuid(), geteuid() == 0);
    }
    case SG_ENOTPY:
        return "give the pid of a CPython interpreter (python, gunicorn/uvicorn workers, ...)";
    case SG_EVERSION:
        return "run 'spyglass --help' to see the supported versions";
    case SG_ECORRUPT:
        return "the interpreter may be starting up or shutting down; try again";
    }
    return NULL;
}

void cmd_attach_error(int err, const struct attach_target *t, const char *why)
{
    const char *hint;
    char wrapper_hint[128];
    switch (t->failure) {
    case ATTACH_SPAWN:
        hint = "check the command name and that it is in PATH";
        break;
    case ATTACH_TREE_EMPTY:
        hint = err == -SG_ENOTPY ? "point --pid at a Python program or at the parent of its "
                                   "workers (e.g. the gunicorn master)"
                                 : cmd_attach_hint(err, t->pid);
        break;
    case ATTACH_NO_PYTHON:
        hint = err == -SG_EVERSION ? cmd_attach_hint(err, t->pid)
                                   : "check that the command runs Python";
        break;
    case ATTACH_INTERRUPTED:
        hint = NULL;
        break;
    case ATTACH_WRAPPER:
        snprintf(wrapper_hint, sizeof(wrapper_hint),
                 "this follows one process: give --pid %d, or run Python directly",
                 (int)t->wrapped);
        hint = wrapper_hint;
        break;
    default:
        hint = cmd_attach_hint(err, t->pid);
    }
    cmd_error(hint, "%s", why);
}

void cmd_runtime_note(const struct attach_target *t)
{
    const struct py_runtime *rt = t ? attach_runtime(t) : NULL;
    if (rt && rt->note[0])
        cmd_warning("%s", rt->note);
}

int cmd_set_flag(const struct cmd_flag *flags, int c, void *options)
{
    for (const struct cmd_flag *f = flags; f->opt; f++) {
        if (f->opt == c) {
            *(int *)((char *)options + f->offset) = f->value;
            return 1;
        }
    }
    return 0;
}

int cmd_option_pid(const char *cmd, const char *arg, pid_t *pid)
{
    if (cmd_parse_pid(arg, pid))
        return cmd_usage_error(cmd, "--pid wants a process id, got '%s'", arg);
    return 0;
}

int cmd_option_rate(const char *cmd, const char *arg, double *rate)
{
    if (cmd_parse_number(arg, 100000, rate))
        return cmd_usage_error(
            cmd, "--rate wants samples per second between 0 and 100000, got '%s'", arg);
    return 0;
}

int cmd_parse_number(const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int cmd_take_command(const char *cmd, int argc, char **argv, char ***command)
{
    *command = NULL;
    if (optind >= argc)
        return 0;
    if (strcmp(argv[optind - 1], "--") != 0)
        return cmd_usage_error(cmd, "unexpected argument '%s' (put the command to run after --)",
                               argv[optind]);
    *command = argv + optind;
    return 0;
}

/* ---- signals ---- */

volatile sig_atomic_t cmd_stop, cmd_suspend, cmd_child;
static int wake_fd = -1;

void cmd_wake(void)
{
    int saved = errno;
    if (wake_fd >= 0 && write(wake_fd, "", 1) < 0) {
        /* the pipe is full: the reader is awake anyway */
    }
    errno = saved;
}

static void on_signal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    if (sig == SIGTSTP) {
        cmd_suspend = 1;
    } else {
        cmd_stop = 1;
        if (cmd_child > 0 && info && info->si_code == SI_USER && sig != SIGHUP)
            kill((pid_t)cmd_child, sig);
    }
    cmd_wake();
}

void cmd_signals_install(int flags, int fd)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    wake_fd = fd;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (flags & CMD_SIG_MORE) {
        sigaction(SIGHUP, &sa, NULL);
        sigaction(SIGQUIT, &sa, NULL);
    }
    if (flags & CMD_SIG_TSTP)
        sigaction(SIGTSTP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

const char *cmd_namespace_note(pid_t pid, char *buf, size_t size)
{
    pid_t inner;
    buf[0] = '\0';
    if (task_inner_id(pid, pid, &inner) == 0 && inner != pid)
        snprintf(buf, size, " (pid %d in its PID namespace)", (int)inner);
    return buf;
}
