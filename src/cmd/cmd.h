/*
 * cmd.h - the subcommands and what they share: error printing, exit codes,
 * option parsing helpers, signals, and the hints that go with attach errors.
 *
 * Only src/cmd/ prints what a user reads. Lower layers return SG_E* codes
 * (util/err.h) and, where a sentence helps, fill a `why` buffer.
 */
#ifndef SPYGLASS_CMD_H
#define SPYGLASS_CMD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct attach_target;
struct proc_access;
struct profile;
struct roots;
struct task_reader;
struct fold_stats;
struct blocked;
struct profile;
struct native_stacks;
struct sampler_stats;
struct merge;

enum {
    EXIT_OK = 0,
    EXIT_FAILURE_RUN = 1, /* a runtime failure: no such process, not Python, ... */
    EXIT_USAGE = 2,       /* bad command line */
};

int cmd_agent(int argc, char **argv);
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

/* An option that only sets an int field of a command's options struct. */
struct cmd_flag {
    int opt;       /* getopt's return value */
    size_t offset; /* offsetof(struct xxx_options, field) */
    int value;     /* what the field is set to */
};

/* If c is one of flags (ended by opt 0), sets its field in options and
 * returns 1; else returns 0. */
int cmd_set_flag(const struct cmd_flag *flags, int c, void *options);

/* The values of --pid and --rate, with the usage error every command gives
 * for a bad one. Return 0, or EXIT_USAGE after printing it. */
int cmd_option_pid(const char *cmd, const char *arg, pid_t *pid);
int cmd_option_rate(const char *cmd, const char *arg, double *rate);

/* Parses a pid argument. Returns 0 and sets *pid, or -1. */
int cmd_parse_pid(const char *s, pid_t *pid);
/* Parses a positive finite number no larger than max. Returns 0 or -1. */
int cmd_parse_number(const char *s, double max, double *out);

/* The command line after the options: argv[optind..] must follow "--".
 * Sets *command (NULL if none). Returns 0, or EXIT_USAGE after the error. */
int cmd_take_command(const char *cmd, int argc, char **argv, char ***command);

/* The distinct frames a profile keeps (record, top): PROFILE_DEFAULT_FRAMES,
 * or SPYGLASS_MAX_FRAMES from the environment (a positive whole number). */
size_t cmd_max_frames(void);
/* Caps p as record and top do (cmd_max_frames and what scales with it). */
void cmd_limit_profile(struct profile *p);
/* Prints, if the profile went past its caps, how much of it is "(other)". */
void cmd_print_overflow(const struct profile *p);

/* The hint for permission denied on process pid, from what /proc says of it
 * (a), our real uid me and whether we run as root: another user's process
 * names its user and asks for that user or root; a process of ours that is
 * not dumpable needs root; kernel.yama.ptrace_scope is named only where
 * Yama exists and is what refuses us. The text lives until the next call. */
const char *cmd_permission_hint(pid_t pid, const struct proc_access *a, long me, int root);

/* Returns the hint that fits an SG_E* code when attaching to pid, or NULL. */
const char *cmd_attach_hint(int err, pid_t pid);
/* Prints why attach_start failed (err, its sentence why) with a hint. */
void cmd_attach_error(int err, const struct attach_target *t, const char *why);
/* Prints the target's runtime note as a warning, if it has one (a Python
 * newer than spyglass knows, a table never run here); t may be NULL. */
void cmd_runtime_note(const struct attach_target *t);

/* Signals. SIGINT and SIGTERM (and with CMD_SIG_MORE, SIGHUP and SIGQUIT)
 * set cmd_stop; with CMD_SIG_TSTP, SIGTSTP sets cmd_suspend. A signal sent to
 * spyglass alone (kill PID, not a terminal's Ctrl-C, which reaches the whole
 * process group) is passed on to cmd_child, a command we spawned, except
 * SIGHUP. If wake_fd >= 0, every signal writes a byte to it (a self-pipe for
 * poll). SIGPIPE is ignored: writes fail with EPIPE instead. No SA_RESTART:
 * sleeps and poll return early. */
enum { CMD_SIG_MORE = 1, CMD_SIG_TSTP = 2 };
extern volatile sig_atomic_t cmd_stop, cmd_suspend, cmd_child;
void cmd_signals_install(int flags, int wake_fd);
/* Writes a byte to the wake fd given to cmd_signals_install, if any. */
void cmd_wake(void);

/* Prints the per-endpoint table of a --by-endpoint run: samples, share of
 * all active samples, and the endpoint's own idle share, busiest first. */
void cmd_print_endpoints(const struct roots *r, FILE *out);

/* " (pid 1 in its PID namespace)" into buf for a process in a PID
 * namespace of its own (a container), else ""; returns buf. */
const char *cmd_namespace_note(pid_t pid, char *buf, size_t size);

struct fold;
/* Prints what the fold left out or changed, one line each, only where it
 * happened: torn and unreadable stacks, threads of unknown state, active
 * threads --gil dropped, stacks deeper than the depth limit. */
void cmd_print_fold_notes(const struct fold *f, FILE *out);

/* Prints what --async read per sample (tasks, loops, waiting stacks kept)
 * and what reading them cost (time and reads per sample), over ticks. */
void cmd_print_tasks(const struct task_reader *tr, const struct fold_stats *fs, uint64_t ticks,
                     FILE *out);

/* Prints the steps that held an asyncio loop for threshold_ns or more
 * (collect/blocked.h), longest first, with their stacks (frames of p). */
void cmd_print_blocked(const struct blocked *b, const struct profile *p, uint64_t threshold_ns,
                       FILE *out);

/* Prints what --native cost and how the merge went: stacks unwound, CPU per
 * sample spent unwinding, stacks merged and mismatched, threads without Python. */
void cmd_print_native(const struct native_stacks *n, const struct fold *f,
                      const struct sampler_stats *st, FILE *out);

/* Says how many kept native frames of the interpreter's own file had no
 * symbol (a stripped interpreter), and what would name them; nothing if none. */
void cmd_print_unnamed(const struct merge *m, FILE *out);

#endif
