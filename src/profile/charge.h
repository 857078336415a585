/*
 * charge.h - charging changes of resident memory to stacks (record --memory).
 *
 * The sampler reads the target's RSS at every sample. The change since the
 * previous sample happened somewhere in between, on some thread; we only
 * know where the threads were at the two ends. The rule, in order:
 *
 *   1. the stack of the thread running at this sample (GIL holder, else a
 *      thread the OS says is running), if any: it ran through the interval;
 *   2. else the stack that was running at the previous sample: a thread that
 *      allocated and then went to sleep (the common "load, then wait"
 *      shape) did its allocating before it stopped;
 *   3. else the given idle stack (the main thread's): nobody was seen
 *      running, so the change came from code shorter than the interval,
 *      charged to where the thread was when it was noticed.
 *
 * Growth adds to the stack's weight (the profile's unit is bytes) and to its
 * struct profile_memory.grown; release adds to .freed. Each charged stack's
 * peak_rss is raised to the RSS after the change. The meta's peak_rss,
 * peak_rss_ns and final_rss follow every sample, and a profile with a
 * timeline gets an RSS point whenever it changes.
 */
#ifndef SPYGLASS_PROFILE_CHARGE_H
#define SPYGLASS_PROFILE_CHARGE_H

#include <stdint.h>

#include "profile/profile.h"

struct charge {
    struct profile *profile;
    int started;
    uint64_t first_rss, prev_rss;
    int64_t prev_active;              /* stack id, -1 for none */
    uint64_t grown, freed, uncharged; /* bytes */
    uint64_t by_rule[3];              /* changes charged by rule 1, 2, 3 */
};

/* Prepares c to charge into p, whose memory weights it enables. */
void charge_init(struct charge *c, struct profile *p);

/* Takes one sample: the RSS (bytes) at time_ns since the start; active is
 * the stack id of the running thread, or -1; idle the stack id to charge
 * when no thread ran at either end, or -1 (the change is then counted as
 * uncharged). */
void charge_sample(struct charge *c, uint64_t time_ns, uint64_t rss, int64_t active, int64_t idle);

#endif
