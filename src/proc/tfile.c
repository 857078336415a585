/*
 * tfile.c - opening what a target maps without letting it choose the file.
 *
 * /proc/PID/map_files/START-END is a link the kernel resolves to the mapped
 * file itself, as /proc/PID/exe is for the executable: no path is walked, so
 * no mount, symlink, deletion or replacement since the mapping can change
 * what we read. Following it needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE
 * (the kernel's rule), so a non-root spyglass reading its own user's process
 * falls back to the executable link or a path resolved inside the target's
 * root, and keeps the file only if it is the mapped one (same device and
 * inode as the maps line). A file deleted or replaced since it was mapped
 * has another inode or none: then only root can read it, and we say so.
 */
#include "proc/tfile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/err.h"
#include "util/util.h"

static int errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ESRCH:
    case ENOTDIR:
        return -SG_ENOPROC;
    case EPERM:
    case EACCES:
        return -SG_EPERM;
    default:
        return -SG_EIO;
    }
}

static int openat2_call(int dirfd, const char *path, struct open_how *how)
{
    return (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

/* errno values by which a kernel says it has no openat2 or not these flags. */
static int lacks_openat2(int e)
{
    return e == ENOSYS || e == E2BIG || e == EINVAL;
}

int tfile_have_openat2(void)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_DIRECTORY,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    int fd = openat2_call(AT_FDCWD, "/", &how);
    if (fd >= 0)
        close(fd);
    return fd >= 0 || !lacks_openat2(errno);
}

int tfile_open_in_root(pid_t pid, const char *path, int *fd)
{
    char root_path[64];
    snprintf(root_path, sizeof(root_path), "/proc/%d/root", (int)pid);
    int root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return errno_code(errno);
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    *fd = openat2_call(root, path, &how);
    int saved = errno;
    close(root);
    if (*fd >= 0)
        return 0;
    return lacks_openat2(saved) ? -SG_EIO : errno_code(saved);
}

/* Returns 1 if fd is the file the maps entry e names by device and inode. */
static int is_mapped_file(int fd, const struct map_entry *e)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_ino == e->inode &&
           major(st.st_dev) == e->dev_major && minor(st.st_dev) == e->dev_minor;
}

/* Keeps fd in *out if it is e's file, else closes it. Returns 1 if kept. */
static int keep_if_mapped(int fd, const struct map_entry *e, int *out)
{
    if (fd < 0)
        return 0;
    if (is_mapped_file(fd, e)) {
        *out = fd;
        return 1;
    }
    close(fd);
    return 0;
}

/* Without map_files: the executable link, else the path inside the target's
 * root, each only if it is the mapped file. */
static int open_checked(pid_t pid, const struct map_entry *e, int *fd, char *why, size_t why_size)
{
    char exe[64];
    snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
    if (keep_if_mapped(open(exe, O_RDONLY | O_CLOEXEC), e, fd))
        return 0;
    int by_path = -1;
    int err = e->path[0] == '/' ? tfile_open_in_root(pid, e->path, &by_path) : -SG_ENOPROC;
    if (!err && keep_if_mapped(by_path, e, fd))
        return 0;
    if (err == -SG_EIO && !tfile_have_openat2()) {
        snprintf(why, why_size,
                 "cannot open %.300s of process %d safely: this kernel has no openat2() "
                 "(Linux 5.6 or later), and without root spyglass cannot read the mapped "
                 "file itself",
                 e->path, (int)pid);
        return -SG_EIO;
    }
    if (err && err != -SG_ENOPROC) {
        snprintf(why, why_size, "cannot open %.300s of process %d: %s", e->path, (int)pid,
                 sg_strerror(err));
        return err;
    }
    if (str_endswith(e->path, " (deleted)"))
        snprintf(why, why_size,
                 "process %d maps %.300s, which was deleted or replaced on disk since it was "
                 "loaded; only root can read the file the process has mapped",
                 (int)pid, e->path);
    else
        snprintf(why, why_size,
                 "process %d maps %.300s, but that path no longer holds the mapped file "
                 "(replaced, or hidden by a mount); only root can read the file the process "
                 "has mapped",
                 (int)pid, e->path);
    return -SG_EPERM;
}

int tfile_open_mapped(pid_t pid, const struct map_entry *e, int *fd, char *why, size_t why_size)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
             (unsigned long long)e->start, (unsigned long long)e->end);
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (*fd >= 0)
        return 0;
    int err = errno_code(errno);
    if (err == -SG_EPERM)
        return open_checked(pid, e, fd, why, why_size);
    if (err == -SG_ENOPROC)
        snprintf(why, why_size, "process %d no longer maps %.300s", (int)pid, e->path);
    else
        snprintf(why, why_size, "cannot open %.300s as process %d maps it", e->path, (int)pid);
    return err;
}
