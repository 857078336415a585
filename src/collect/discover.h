/*
 * discover.h - which processes of the host the agent follows.
 *
 * `spyglass agent` samples the Python processes of a whole host, of one
 * cgroup (a systemd service, a container), of a list of pids, or those whose
 * name matches a pattern. discover_list() is called at every scan of the
 * agent's process set (sample/procset.h, procset_init_list): it reads /proc
 * and returns the pids that pass the selection; the set then detects Python
 * in them and drops those that exited.
 *
 * The selection: a process is followed if it is one of the --pid list, or
 * if it is in the --cgroup (when given) and matches one of the --match
 * patterns (when given); with no selector at all, every process qualifies.
 * Never ourselves, never a kernel thread (empty command line). A process we
 * may not read (another user's, without root) is skipped quietly and
 * counted. A verdict is kept per (pid, start time), so a scan costs one
 * small /proc read per known process; only new processes are examined, and
 * those not selected again for DISCOVER_RECHECK_S after they appear (a
 * child is seen between fork and exec with its parent's command line; exec
 * keeps the pid and start time). A process that execs much later into a
 * program we would select is not seen.
 */
#ifndef SPYGLASS_COLLECT_DISCOVER_H
#define SPYGLASS_COLLECT_DISCOVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Seconds during which a new process not selected is examined again. */
#define DISCOVER_RECHECK_S 5
/* Most processes followed at once; more are counted in discover.over. */
#define DISCOVER_MAX 4096

struct discover_options {
    const pid_t *pids; /* --pid, repeatable */
    size_t npids;
    const char *cgroup;    /* --cgroup: a cgroup path, "/system.slice/x.service" or under
                              /sys/fs/cgroup; NULL: any */
    char *const *patterns; /* --match: shell patterns for the name or an argument */
    size_t npatterns;
};

struct discover_seen {
    pid_t pid;
    uint64_t start_time;
    int verdict;            /* 1 follow, 0 not selected, -1 not readable */
    uint64_t first_seen_ns; /* CLOCK_MONOTONIC */
};

struct discover {
    struct discover_options opt;
    pid_t self;
    struct discover_seen *seen; /* the last scan's verdicts, sorted by pid */
    size_t nseen, seen_cap;
    size_t followed;   /* selected and readable in the last scan */
    size_t unreadable; /* selected but not readable in the last scan */
    size_t over;       /* selected past DISCOVER_MAX in the last scan */
};

/* The selection is copied by pointer: its arrays must outlive d. */
void discover_init(struct discover *d, const struct discover_options *opt);
void discover_release(struct discover *d);

/* Lists the pids to follow now into a newly allocated array (the caller
 * frees) and returns the count, or a negative SG_E* code if /proc cannot be
 * read. Fits procset_list_fn (ctx is the struct discover). */
int discover_list(void *ctx, pid_t **out);

/* A service name for pid when none is given: the container it runs in
 * ("container 3f2a9c81d0e4", from /proc/PID/cgroup), else the program:
 * a Python script's name without ".py", "-m MODULE"'s module, or the
 * command's base name ("gunicorn"). Returns 0, or a negative SG_E* code. */
int discover_service(pid_t pid, char *buf, size_t size);

/* The parsing behind discover_service, for tests: from a /proc/PID/cgroup
 * text, the container id (12 hex digits) into buf; returns 1 if found. */
int discover_container_id(const char *cgroup_text, char *buf, size_t size);
/* From a command line's arguments (argv[0..argc)), the program name. */
void discover_program_name(char *const *argv, size_t argc, char *buf, size_t size);
/* 1 if a /proc/PID/cgroup text puts the process in cgroup (or under it). */
int discover_in_cgroup(const char *cgroup_text, const char *cgroup);

#endif
