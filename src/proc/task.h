/*
 * task.h - a process's threads and their OS scheduler states.
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

/* Returns 1 if the state letter means the thread is not using the CPU. */
int task_state_idle(char state);

#endif
