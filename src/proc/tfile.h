/*
 * tfile.h - opening the files a target maps, as the target maps them.
 *
 * Every path a target shows us (the names in /proc/PID/maps, the link
 * /proc/PID/exe) is under its control: a process in a container can unmount
 * the folder its libpython was loaded from and put there a symlink to any
 * absolute path, which a path walk from the host would resolve against the
 * host's root; an upgrade can delete the file or put another build in its
 * place. So a mapped file is opened only as the very file mapped
 * (/proc/PID/map_files/START-END, no path walk), and where that is not
 * allowed, through a path resolved inside the target's root with openat2()
 * and checked to be the mapped file (device and inode). This is the one
 * module that opens a file a target names; ARCHITECTURE.md lists the others.
 */
#ifndef SPYGLASS_PROC_TFILE_H
#define SPYGLASS_PROC_TFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "proc/maps.h"

/* Opens, read-only, the file mapped by entry e of process pid's maps:
 * through /proc/PID/map_files (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE,
 * i.e. root), else /proc/PID/exe or tfile_open_in_root, accepted only if the
 * device and inode are e's. Returns 0 and sets *fd (the caller closes it), or
 * a negative SG_E* code with a sentence in why: -SG_ENOPROC (the mapping or
 * the process is gone), -SG_EPERM (the file was deleted or replaced since it
 * was mapped, and only root can read the mapped one), -SG_EIO (other
 * failures, including a kernel without openat2). */
int tfile_open_mapped(pid_t pid, const struct map_entry *e, int *fd, char *why, size_t why_size);

/* Opens path as process pid sees it, resolved inside its root directory
 * (/proc/PID/root) by openat2() with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS:
 * absolute symlinks and ".." stay inside the target's root, and /proc magic
 * links are refused. Opens read-only and non-blocking (a FIFO does not hang
 * us). Returns 0 and sets *fd, or -SG_ENOPROC, -SG_EPERM, -SG_EIO (no such
 * file, or a kernel without openat2: we fail rather than walk the path
 * unchecked). */
int tfile_open_in_root(pid_t pid, const char *path, int *fd);

/* Returns 1 if the running kernel has openat2() with RESOLVE_IN_ROOT. */
int tfile_have_openat2(void);

#endif
