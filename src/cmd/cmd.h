/*
 * cmd.h - the subcommands and what they share: error printing, exit codes,
 * option parsing helpers.
 */
#ifndef SPYGLASS_CMD_H
#define SPYGLASS_CMD_H

#include <stdio.h>
#include <sys/types.h>

struct roots;

enum {
    EXIT_OK = 0,
    EXIT_FAILURE_RUN = 1, /* a runtime failure: no such process, not Python, ... */
    EXIT_USAGE = 2,       /* bad command line */
};

int cmd_dump(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_top(int argc, char **argv);

/* Prints "spyglass: error: ..." (and "hint: ..." if hint is non-NULL) to stderr. */
void cmd_error(const char *hint, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "spyglass: warning: ..." to stderr. */
void cmd_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error with "try 'spyglass CMD --help'" and returns EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* After getopt_long returned '?' (with opterr 0): the usage error for the
 * option at argv[optind - 1], "needs a value" if optstring gives it one,
 * else "unknown option". Returns EXIT_USAGE. */
int cmd_option_error(const char *cmd, const char *optstring, char **argv);

/* Parses a pid argument. Returns 0 and sets *pid, or -1. */
int cmd_parse_pid(const char *s, pid_t *pid);

/* Returns the hint that fits an SG_E* code when attaching to pid, or NULL. */
const char *cmd_attach_hint(int err, pid_t pid);

/* --subprocesses found no Python process in the tree under pid: prints why
 * (the root's own detection error, or that nothing in the tree is Python). */
void cmd_error_no_python_tree(pid_t pid);

/* Prints the per-endpoint table of a --by-endpoint run: samples, share of
 * all active samples, and the endpoint's own idle share, busiest first. */
void cmd_print_endpoints(const struct roots *r, FILE *out);

#endif
