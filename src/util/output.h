/*
 * output.h - writing a result file so that it is complete or absent.
 *
 * output_open creates a temporary file next to the destination (so the
 * rename stays on one filesystem); output_commit flushes, syncs and renames
 * it into place; output_abort removes it. A reader never sees a half file at
 * the requested path, even if we are killed mid-write or the disk fills.
 */
#ifndef SPYGLASS_OUTPUT_H
#define SPYGLASS_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

struct output {
    FILE *file;
    char *path;     /* the destination ("-" means stdout) */
    char *tmp_path; /* the temporary file, NULL for stdout */
};

/* Opens a temporary file for path. Returns 0, or -1 with a reason in why
 * ("/x/y.svg: directory does not exist", "... is a directory", ...). */
int output_open(struct output *o, const char *path, char *why, size_t why_size);
/* Makes the file visible at its path. Returns 0, or -1 with a reason. */
int output_commit(struct output *o, char *why, size_t why_size);
/* Discards the temporary file. */
/* Like output_abort, after a writer failed with errno write_errno: if the
 * stream itself had failed (disk full, I/O error), says why in why (the
 * writer's own SG_E* code only says "input/output error"); else why = "". */
void output_abort_why(struct output *o, int write_errno, char *why, size_t why_size);

void output_abort(struct output *o);

#endif
