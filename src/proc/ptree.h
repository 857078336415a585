/*
 * ptree.h - a process's descendants, read from /proc.
 *
 * `--subprocesses` follows a process tree: the workers a server forks, the
 * children multiprocessing starts, and those started or restarted while we
 * watch. Where the kernel offers /proc/PID/task/TID/children it is used;
 * otherwise (kernels built without CONFIG_PROC_CHILDREN) every process's
 * parent is read from /proc/N/stat and the tree is built from that.
 */
#ifndef SPYGLASS_PROC_PTREE_H
#define SPYGLASS_PROC_PTREE_H

#include <stdint.h>
#include <sys/types.h>

/* Most descendants ptree_descendants reports. */
#define PTREE_MAX 4096

/* Lists the descendants of root (children, grandchildren, ...; not root
 * itself), parents before their children, into a newly allocated array that
 * the caller frees. Returns the count (at most PTREE_MAX), or a negative SG_E*
 * code if /proc cannot be read (-SG_ENOPROC if root does not exist). */
int ptree_descendants(pid_t root, pid_t **out);

/* Reads the process's start time (clock ticks since boot, /proc/PID/stat
 * field 22) into *ticks: with the pid, it names a process uniquely even when
 * the pid is reused. Returns 0 or a negative SG_E* code. */
int ptree_start_time(pid_t pid, uint64_t *ticks);

/* Reads the parent pid from /proc/PID/stat. Returns 0 or a negative code. */
int ptree_parent(pid_t pid, pid_t *ppid);

/* New processes between full scans. The kernel's last allocated pid
 * (/proc/sys/kernel/ns_last_pid, one small read) says whether any process or
 * thread was created since we last looked; only the pids allocated since
 * are then read, and threads among them left out. */
struct ptree_watch {
    int fd;        /* ns_last_pid, or -1: not available */
    long last_pid; /* its value when we last looked */
};

/* A process and its parent. */
struct ptree_pair {
    pid_t pid, parent;
};

/* Most pids ptree_watch_new reads in one call; more, and it gives up. */
#define PTREE_WATCH_MAX 64

void ptree_watch_init(struct ptree_watch *w);
void ptree_watch_release(struct ptree_watch *w);

/* Lists the processes (not threads) created since the last call, with
 * their parents, into out (PTREE_WATCH_MAX entries). Returns their count;
 * -1 if more pids were allocated than it reads, or the counter wrapped
 * around (a full scan will find them); -2 if this kernel gives no counter. */
int ptree_watch_new(struct ptree_watch *w, struct ptree_pair *out);

#endif
