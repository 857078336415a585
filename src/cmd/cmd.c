/*
 * cmd.c - what the cmd_*.c commands share: error and warning lines, usage
 * and option errors, pid parsing and attach hints. Kept out of main.c so tests can link it.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc/mem.h"
#include "python/detect.h"

void cmd_error(const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spyglass: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (hint)
        fprintf(stderr, "hint: %s\n", hint);
}

void cmd_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spyglass: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spyglass: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
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

const char *cmd_attach_hint(int err, pid_t pid)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case SG_ENOPROC:
        return "check the pid with 'ps -p PID' (the process may have exited)";
    case SG_EPERM:
        return geteuid() == 0 ? "the kernel refused access; check kernel.yama.ptrace_scope and any "
                                "seccomp/LSM policy"
                              : "run spyglass as the target's user or as root (sudo), or set "
                                "kernel.yama.ptrace_scope=0";
    case SG_ENOTPY:
        return "give the pid of a CPython interpreter (python, gunicorn/uvicorn workers, ...)";
    case SG_EVERSION:
        return "run 'spyglass --help' to see the supported versions";
    case SG_ECORRUPT:
        return "the interpreter may be starting up or shutting down; try again";
    }
    return NULL;
}

void cmd_error_no_python_tree(pid_t pid)
{
    struct mem_proc mp;
    struct mem_reader r;
    struct py_runtime rt;
    char why[512];
    mem_proc_init(&mp, &r, pid);
    int err = detect_runtime(pid, &r, &rt, why, sizeof(why));
    mem_proc_release(&mp);
    if (err == 0 || err == -SG_ENOTPY) {
        if (err == 0)
            snprintf(why, sizeof(why), "process %d has no running Python interpreter", (int)pid);
        cmd_error("point --pid at a Python program or at the parent of its workers "
                  "(e.g. the gunicorn master)",
                  "%s, and none of its descendants is a Python process", why);
        return;
    }
    cmd_error(cmd_attach_hint(err, pid), "%s", why);
}
