/*
 * timeline.c - the timeline sorted into per-thread runs.
 *
 * The sampler records events tick by tick, threads interleaved; the writers
 * want each thread's samples together and in time order. Sorting a copy
 * (thread, time, then original position, so equal times keep their order)
 * makes the output deterministic whatever order events were added in.
 */
#include "format/timeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/util.h"

struct keyed {
    struct profile_event event;
    size_t position;
};

static int compare_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->event.thread != y->event.thread)
        return x->event.thread < y->event.thread ? -1 : 1;
    if (x->event.time_ns != y->event.time_ns)
        return x->event.time_ns < y->event.time_ns ? -1 : 1;
    return x->position < y->position ? -1 : x->position > y->position;
}

struct profile_event *timeline_sorted(const struct profile *p, size_t *count)
{
    size_t total = profile_event_count(p), stacks = profile_stack_count(p), n = 0;
    *count = 0;
    if (total == 0)
        return NULL;
    struct keyed *keyed = xcalloc(total, sizeof(*keyed));
    for (size_t i = 0; i < total; i++) {
        const struct profile_event *e = profile_event(p, i);
        if (e->stack < stacks)
            keyed[n++] = (struct keyed){*e, i};
    }
    qsort(keyed, n, sizeof(*keyed), compare_keyed);
    struct profile_event *events = n ? xcalloc(n, sizeof(*events)) : NULL;
    for (size_t i = 0; i < n; i++)
        events[i] = keyed[i].event;
    free(keyed);
    *count = n;
    return events;
}

size_t timeline_thread_run(const struct profile_event *events, size_t count, size_t start)
{
    size_t end = start + 1;
    while (end < count && events[end].thread == events[start].thread)
        end++;
    return end - start;
}

void timeline_thread_label(const struct profile *p, uint64_t thread, char *buf, size_t size)
{
    const char *name = profile_thread_name(p, thread);
    if (name && name[0])
        snprintf(buf, size, "%s (tid %" PRIu64 ")", name, thread);
    else
        snprintf(buf, size, "tid %" PRIu64, thread);
}
