/*
 * output.h - writing a result file so that it is complete or absent, and
 * belongs to the user who asked for it.
 *
 * output_open creates a temporary file next to the destination (mkstemp in
 * the destination's folder, so the rename stays on one filesystem);
 * output_commit flushes, syncs and renames it into place; output_abort
 * removes it. A reader never sees a half file at the requested path, even if
 * we are killed mid-write or the disk fills.
 *
 * spyglass often runs as root (sudo) to read another user's process. What it
 * writes then belongs to the user who ran sudo (SUDO_UID, SUDO_GID), as the
 * command it spawns does. An -o path that is a symbolic link is written
 * through only into an existing regular file of that user: a link planted
 * in a shared folder must not aim root's write at someone else's file.
 */
#ifndef SPYGLASS_OUTPUT_H
#define SPYGLASS_OUTPUT_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct output {
    FILE *file;
    char *path;     /* the destination ("-" means stdout); a link's target if -o was a link */
    char *tmp_path; /* the temporary file, NULL for stdout */
};

/* Opens a temporary file for path. Returns 0, or -1 with a reason in why
 * ("/x/y.svg: directory does not exist", "... is a directory", "... is a
 * symbolic link to another user's file", ...). */
int output_open(struct output *o, const char *path, char *why, size_t why_size);
/* Makes the file visible at its path. Returns 0, or -1 with a reason. */
int output_commit(struct output *o, char *why, size_t why_size);
/* Like output_abort, after a writer failed with errno write_errno: if the
 * stream itself had failed (disk full, I/O error), says why in why (the
 * writer's own SG_E* code only says "input/output error"); else why = "". */
void output_abort_why(struct output *o, int write_errno, char *why, size_t why_size);
/* Discards the temporary file. */
void output_abort(struct output *o);

/* Returns 1 if we run as root on behalf of another user through sudo
 * (effective uid 0, SUDO_UID and SUDO_GID set to valid non-root ids) and
 * sets *uid and *gid to that user's; else returns 0. */
int output_sudo_user(uid_t *uid, gid_t *gid);

#endif
