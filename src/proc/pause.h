/*
 * pause.h - stopping a process's threads for the duration of one sample.
 *
 * Each thread's OS state is read, then every thread is seized (PTRACE_SEIZE,
 * which unlike PTRACE_ATTACH sends no SIGSTOP) and interrupted, and only then
 * are they waited for, so the first thread stops for as short a time as
 * possible; pause_resume detaches them all. The
 * target is traced only between pause_all and pause_resume, so signals it
 * receives between samples flow normally. If spyglass dies while threads are
 * stopped, the kernel detaches them and they run on.
 *
 * Process-wide resources this module takes: SIGALRM and the real-time
 * interval timer (ITIMER_REAL). While threads are being seized, a timer
 * every few milliseconds reaps traced threads that exited, so that a target
 * calling exec (which waits for every other thread to be reaped) cannot
 * deadlock against us (docs/ARCHITECTURE.md, Pausing). The handler is
 * installed on first use and stays; the timer is disarmed after each attach.
 * Nothing else in spyglass may use SIGALRM, alarm() or ITIMER_REAL.
 */
#ifndef SPYGLASS_PROC_PAUSE_H
#define SPYGLASS_PROC_PAUSE_H

#include <stddef.h>
#include <sys/types.h>

struct pause_set {
    pid_t pid;
    pid_t *tids;      /* threads we seized (and must detach) */
    int *signals;     /* a signal that arrived while stopping it, re-delivered on detach */
    char *states;     /* each thread's /proc state ('R', 'S', ...) read just before
                         stopping it: once stopped, every thread reads 't' */
    size_t count;     /* stopped threads: tids[0..count) */
    size_t unsettled; /* seized but not yet stopped: tids[count..count+unsettled) */
    size_t cap;
    /* If the process is our child, waiting for a stop may collect its exit
     * status instead: it is kept here for the caller. */
    int leader_status;
    int leader_reaped;
};

void pause_init(struct pause_set *ps, pid_t pid);
void pause_release(struct pause_set *ps);

/* Stops every thread of the process. Returns 0 (threads that vanished are
 * skipped) or a negative SG_E* code: -SG_EPERM if ptrace is not allowed,
 * -SG_ENOPROC if the process is gone. On error nothing stays stopped. */
int pause_all(struct pause_set *ps);

/* pause_all in two halves, so that several processes can be stopped at once
 * (their stops overlap instead of adding up): pause_interrupt seizes and
 * interrupts every thread and returns 0 or -SG_EPERM / -SG_ENOPROC (then
 * nothing stays stopped); pause_wait collects the stops and returns 0, or
 * -SG_ENOPROC if no thread stopped. Call pause_resume after either. */
int pause_interrupt(struct pause_set *ps);
int pause_wait(struct pause_set *ps);

/* Lets every stopped thread go. Safe to call when nothing is stopped. */
void pause_resume(struct pause_set *ps);

#endif
