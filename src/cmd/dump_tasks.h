/*
 * dump_tasks.h - `spyglass dump --tasks`: the asyncio tasks of a process,
 * as a tree of who awaits whom (text) or a flat list with edges (JSON).
 */
#ifndef SPYGLASS_CMD_DUMP_TASKS_H
#define SPYGLASS_CMD_DUMP_TASKS_H

#include <stdio.h>

#include "python/tasks.h"
#include "python/walk.h"

/* Writes a name from the target so that a terminal cannot act on it
 * (dump.c): control characters and bytes that are not UTF-8 as \xNN. */
void dump_put_name(FILE *out, const char *name);

/* Writes the tasks tr read from the process w walks (in the same
 * walk_sample), after the process's header line(s) the caller wrote. */
void dump_tasks_text(const struct walker *w, const struct task_reader *tr, FILE *out);

/* Writes them as the members "asyncio", "loops", "tasks", "deadlocks" and
 * "done" of the process's JSON object (the caller writes the braces). */
void dump_tasks_json(const struct walker *w, const struct task_reader *tr, FILE *out);

#endif
