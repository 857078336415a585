/*
 * main.c - command dispatch, --help and --version, and the shared error and
 * option helpers of the cmd_*.c layer.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "proc/mem.h"
#include "python/layout.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"record", cmd_record, "sample a program and write a flame graph (or speedscope, ...)"},
    {"dump", cmd_dump, "print every thread's Python stack right now (optionally with locals)"},
};

static void usage(FILE *out)
{
    char versions[128];
    layout_list_supported(versions, sizeof(versions));
    fprintf(out, "usage: spyglass COMMAND [OPTIONS]\n"
                 "       spyglass --version | --help\n\n"
                 "spyglass looks inside a running Python program from the outside: no restart,\n"
                 "no code change. It reads the interpreter's memory; it never writes to it.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'spyglass COMMAND --help' for a command's options.\n\n"
                 "Supported Pythons: CPython %s.\n"
                 "Reading another process needs the same user as the target, or root\n"
                 "(and kernel.yama.ptrace_scope <= 1 for a non-child process).\n"
                 "Exit status: 0 success, 1 runtime failure, 2 usage error.\n",
            versions);
}

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
        return geteuid() == 0
                   ? "the kernel refused access; check kernel.yama.ptrace_scope and any "
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        char versions[128];
        layout_list_supported(versions, sizeof(versions));
        printf("spyglass %s (CPython %s)\n", SPYGLASS_VERSION, versions);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "spyglass: error: unknown command '%s'\n", name);
    fprintf(stderr, "hint: run 'spyglass --help' for the list of commands\n");
    return EXIT_USAGE;
}
