/*
 * task.h - a process's threads and their OS scheduler states.
 *
 * Thread ids here are the host's (the ones in our /proc) unless said
 * otherwise. A process in its own PID namespace (a container, `unshare
 * --pid`) knows its threads by other numbers: the NSpid line of each
 * thread's status file gives both, which task_list_ids reads.
 */
#ifndef SPYGLASS_PROC_TASK_H
#define SPYGLASS_PROC_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Lists the thread ids of pid into a newly allocated array (caller frees).
 * Returns the count, or a negative SG_E* code. */
int task_list(pid_t pid, pid_t **tids);

/* Reads the one-letter scheduler state of thread tid of pid ('R' running,
 * 'S' sleeping, 'D' disk wait, 'Z', 'T', ...). Returns 0 or a negative code. */
int task_state(pid_t pid, pid_t tid, char *state);

/* Open /proc/PID/task/TID/stat files, kept so each sample costs one pread
 * per thread instead of open + read + close and a path walk. */
struct task_stat_cache {
    struct task_stat_fd {
        pid_t tid;
        int fd;
        unsigned epoch; /* the last round it was read in */
    } * e;
    size_t count, cap;
    size_t next; /* the entry tried first (after the one found last) */
    unsigned epoch;
};

void task_stat_cache_init(struct task_stat_cache *c);
/* Closes every file. */
void task_stat_cache_release(struct task_stat_cache *c);
/* Starts a round (one sample): files not read in the previous round are
 * closed (their threads are gone). */
void task_stat_cache_round(struct task_stat_cache *c);
/* task_state through the cache. */
int task_state_cached(struct task_stat_cache *c, pid_t pid, pid_t tid, char *state);
/* Keeps tid's open file for the next round without reading it (its state
 * was not needed this round). Returns -1 if the cache has no file for tid. */
int task_stat_cache_keep(struct task_stat_cache *c, pid_t tid);

/* Most nested PID namespaces we follow (the kernel allows 32). */
#define TASK_MAX_NS 32

/* Parses the "NSpid:" line of a /proc status file: a thread's id in each
 * PID namespace from ours inwards. Fills ids[0..max) and returns how many
 * there are (1 outside any nested namespace), or -SG_ECORRUPT without the
 * line (kernels before 4.1). */
int task_parse_nspid(const char *status, pid_t *ids, size_t max);

/* Reads thread tid of pid's id inside its innermost PID namespace into
 * *inner (tid itself when it is in ours). tid == pid asks about the
 * process. Returns 0 or a negative SG_E* code. */
int task_inner_id(pid_t pid, pid_t tid, pid_t *inner);

/* A thread known by both numbers. */
struct task_ids {
    pid_t host;  /* in our PID namespace */
    pid_t inner; /* in the process's own */
};

/* Lists pid's threads with both ids into a newly allocated array (caller
 * frees): one status file per thread. Returns the count or a negative
 * SG_E* code. */
int task_list_ids(pid_t pid, struct task_ids **out);

/* Returns 1 if the state letter means the thread is not using the CPU. */
int task_state_idle(char state);

#endif
