/*
 * spawn.h - starting the program to profile as our child.
 */
#ifndef SPYGLASS_PROC_SPAWN_H
#define SPYGLASS_PROC_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* Forks and execs argv[0] (searched in PATH) with argv. If we run as root
 * under sudo (SUDO_UID/SUDO_GID set), the child drops to the invoking user
 * first. Returns 0 and sets *child, or a negative SG_E* code with a message
 * in why (e.g. "cannot run 'foo': No such file or directory"). */
int spawn_start(char *const *argv, pid_t *child, char *why, size_t why_size);

#endif
