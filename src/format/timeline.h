/*
 * timeline.h - the profile's timeline grouped by thread, for the writers
 * that draw one track per thread (speedscope, chrometrace).
 */
#ifndef SPYGLASS_TIMELINE_H
#define SPYGLASS_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

/* Returns a newly allocated copy of p's timeline events sorted by thread id,
 * then time, then recording order, and sets *count; NULL when there are no
 * events. Events naming a stack id the profile does not have are left out.
 * The caller frees the array. */
struct profile_event *timeline_sorted(const struct profile *p, size_t *count);

/* Returns the number of events from events[start] on that belong to the
 * same thread as events[start] (at least 1; start < count). */
size_t timeline_thread_run(const struct profile_event *events, size_t count, size_t start);

/* Writes the display name of a timeline thread into buf: its name and id,
 * "MainThread (tid 1234)", or "tid 1234" when it has no name. */
void timeline_thread_label(const struct profile *p, uint64_t thread, char *buf, size_t size);

#endif
