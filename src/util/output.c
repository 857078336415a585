/*
 * output.c - temporary file, then rename: results are complete or absent,
 * owned by the user who asked for them, never written through a link into
 * another user's file.
 */
#include "util/output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* Parses a decimal id (all digits, below the "-1" id). Returns 0 or -1. */
static int parse_id(const char *s, unsigned long *id)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v >= (unsigned long)UINT_MAX)
        return -1;
    *id = v;
    return 0;
}

int output_sudo_user(uid_t *uid, gid_t *gid)
{
    unsigned long u, g;
    if (geteuid() != 0 || parse_id(getenv("SUDO_UID"), &u) || parse_id(getenv("SUDO_GID"), &g) ||
        u == 0)
        return 0;
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 1;
}

/* The user an output is for: sudo's invoker, else whoever we run as. */
static uid_t output_user(void)
{
    uid_t uid;
    gid_t gid;
    return output_sudo_user(&uid, &gid) ? uid : getuid();
}

/* "user NAME (uid N)" or "uid N". */
static void describe_user(uid_t uid, char *buf, size_t size)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, size, "user %.64s (uid %u)", pw->pw_name, (unsigned)uid);
    else
        snprintf(buf, size, "uid %u", (unsigned)uid);
}

/* -o is a symbolic link: the file it leads to, if that is an existing
 * regular file of the output's user. Returns 0 and sets *dest (allocated),
 * or -1 with why. */
static int through_link(const char *path, char **dest, char *why, size_t why_size)
{
    char *real = realpath(path, NULL);
    struct stat st;
    if (!real || stat(real, &st) != 0) {
        snprintf(why, why_size,
                 "%s is a symbolic link to a file that does not exist; spyglass writes "
                 "through a link only into an existing file of yours",
                 path);
        free(real);
        return -1;
    }
    uid_t user = output_user();
    if (!S_ISREG(st.st_mode) || st.st_uid != user) {
        char owner[128];
        describe_user(st.st_uid, owner, sizeof(owner));
        snprintf(why, why_size,
                 "%s is a symbolic link to %.256s, %s of %s; spyglass writes through a link "
                 "only into a regular file of the user it writes for",
                 path, real, S_ISREG(st.st_mode) ? "a file" : "not a regular file", owner);
        free(real);
        return -1;
    }
    *dest = real;
    return 0;
}

/* Where path's bytes go: path itself, or what its link leads to. Returns 0
 * and sets *dest (allocated), or -1 with why. */
static int destination(const char *path, char **dest, char *why, size_t why_size)
{
    struct stat st;
    if (path[0] == '\0' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        snprintf(why, why_size, "%s: is a directory, not a file name", path[0] ? path : "''");
        return -1;
    }
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        return through_link(path, dest, why, why_size);
    *dest = xstrdup(path);
    return 0;
}

/* Gives the file to the user sudo ran us for, so a profile written as root
 * is theirs to move and delete. */
static void give_to_user(int fd)
{
    uid_t uid;
    gid_t gid;
    if (output_sudo_user(&uid, &gid) && fchown(fd, uid, gid) != 0) {
        /* the file stays root's: still readable, as the umask allows */
    }
}

int output_open(struct output *o, const char *path, char *why, size_t why_size)
{
    memset(o, 0, sizeof(*o));
    if (strcmp(path, "-") == 0) {
        o->file = stdout;
        o->path = xstrdup(path);
        return 0;
    }
    char *dest;
    if (destination(path, &dest, why, why_size))
        return -1;
    const char *slash = strrchr(dest, '/');
    char *dir = slash ? xstrndup(dest, (size_t)(slash - dest) + 1) : xstrdup("./");
    char *tmp = xasprintf("%s.%s.spyglass-tmp-XXXXXX", dir, slash ? slash + 1 : dest);
    free(dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        snprintf(why, why_size, "cannot create %s: %s", path,
                 e == ENOENT ? "its directory does not exist" : strerror(e));
        free(tmp);
        free(dest);
        return -1;
    }
    /* mkstemp makes 0600; a profile is an ordinary file, so honour the umask. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    give_to_user(fd);
    o->file = fdopen(fd, "w");
    if (!o->file) {
        snprintf(why, why_size, "cannot open %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        free(dest);
        return -1;
    }
    o->path = dest;
    o->tmp_path = tmp;
    return 0;
}

int output_commit(struct output *o, char *why, size_t why_size)
{
    int rc = 0;
    why[0] = '\0';
    if (!o->tmp_path) {
        if (fflush(o->file) != 0) {
            snprintf(why, why_size, "%s", strerror(errno));
            rc = -1;
        }
        free(o->path);
        memset(o, 0, sizeof(*o));
        return rc;
    }
    if (fflush(o->file) != 0 || ferror(o->file) || fsync(fileno(o->file)) != 0) {
        snprintf(why, why_size, "%s", strerror(errno ? errno : EIO));
        rc = -1;
    }
    if (fclose(o->file) != 0 && rc == 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(o->tmp_path, o->path) != 0) {
        snprintf(why, why_size, "cannot rename into place: %s", strerror(errno));
        rc = -1;
    }
    if (rc)
        unlink(o->tmp_path);
    free(o->tmp_path);
    free(o->path);
    memset(o, 0, sizeof(*o));
    return rc;
}

void output_abort(struct output *o)
{
    if (o->tmp_path) {
        fclose(o->file);
        unlink(o->tmp_path);
    }
    free(o->tmp_path);
    free(o->path);
    memset(o, 0, sizeof(*o));
}

void output_abort_why(struct output *o, int write_errno, char *why, size_t why_size)
{
    why[0] = '\0';
    if (o->file && ferror(o->file) && write_errno)
        snprintf(why, why_size, "%s", strerror(write_errno));
    output_abort(o);
}
