/*
 * main.c - command dispatch, --help and --version.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "python/debug_offsets.h"
#include "python/layout.h"
#include "util/err.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"record", cmd_record, "sample a program and write a flame graph (or speedscope, ...)"},
    {"top", cmd_top, "a live, top-like view of the functions and lines using the CPU"},
    {"dump", cmd_dump, "print every thread's Python stack right now (optionally with locals)"},
    {"report", cmd_report, "print, convert or compare saved profiles (cProfile .prof, collapsed)"},
    {"agent", cmd_agent,
     "profile every Python process of the host, continuously (Pyroscope, OTLP)"},
};

static void usage(FILE *out)
{
    char versions[160];
    layout_list_supported(versions, sizeof(versions));
    fprintf(out, "usage: spyglass COMMAND [OPTIONS]\n"
                 "       spyglass --version | --help\n\n"
                 "spyglass looks inside a running Python program from the outside: no restart,\n"
                 "no code change. It reads the interpreter's memory; it never writes to it.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\nRun 'spyglass COMMAND --help' for a command's options.\n\n"
            "Supported Pythons: CPython %s\n"
            "(t: free-threaded builds); a newer 3.x is read through its own debug offsets.\n"
            "'spyglass --version' says which of them were run here.\n"
            "Reading another process needs the same user as the target, or root\n"
            "(and kernel.yama.ptrace_scope <= 1 for a non-child process).\n"
            "Exit status: 0 success, 1 runtime failure, 2 usage error.\n",
            versions);
}

/* --version: the versions, and which of them were run here against a real
 * interpreter (and how) or come from headers only. */
static int print_version(void)
{
    char versions[160], tested[2048];
    layout_list_supported(versions, sizeof(versions));
    layout_describe_tested(tested, sizeof(tested));
    printf("spyglass %s (CPython %s)\n"
           "Layouts checked here against a running interpreter:\n%s"
           "A newer 3.x is tried through its own _Py_DebugOffsets, with a warning.\n",
           SPYGLASS_VERSION, versions, tested);
    return EXIT_OK;
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
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
        return print_version();
    enum debug_offsets_mode mode;
    const char *layout = getenv("SPYGLASS_LAYOUT");
    if (debug_offsets_parse_mode(layout, &mode)) {
        cmd_error("unset it, or see ENVIRONMENT in 'man spyglass'",
                  "SPYGLASS_LAYOUT=%s: expected auto, table or offsets", layout);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "spyglass: error: unknown command '%s'\n", name);
    fprintf(stderr, "hint: run 'spyglass --help' for the list of commands\n");
    return EXIT_USAGE;
}
