/*
 * tickfloor.c - what this machine charges for the tick alone: a loop that
 * sleeps to absolute deadlines (clock_nanosleep, TIMER_ABSTIME) exactly as
 * spyglass's sampler does, and does nothing else. Built by bench/run.sh.
 *
 *   tickfloor RATE SECONDS
 *
 * Prints "ticks N late L cpu_us_per_tick C": a tick is late as the sampler
 * counts it (started more than one period after its deadline); CPU is this
 * thread's user + system time. A profiler's CPU per sample can be no lower
 * than C, nor its late share lower than L / N, on this machine at this load.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3 || atof(argv[1]) <= 0 || atof(argv[2]) <= 0) {
        fprintf(stderr, "usage: tickfloor RATE SECONDS\n");
        return 2;
    }
    uint64_t period = (uint64_t)(1e9 / atof(argv[1]));
    uint64_t start = now_ns(CLOCK_MONOTONIC), cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t end = start + (uint64_t)(atof(argv[2]) * 1e9), deadline = start;
    uint64_t ticks = 0, late = 0;
    for (;;) {
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        if (now >= end)
            break;
        if (now > deadline + period) { /* as sampler.c: late, and skip what passed */
            late++;
            deadline += (now - deadline) / period * period;
        }
        ticks++;
        deadline += period;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
                              .tv_nsec = (long)(deadline % 1000000000ull)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
    }
    double cpu_us = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu) / 1000.0;
    printf("ticks %llu late %llu cpu_us_per_tick %.2f\n", (unsigned long long)ticks,
           (unsigned long long)late, ticks ? cpu_us / (double)ticks : 0.0);
    return 0;
}
