/*
 * output.c - temporary file, then rename: results are complete or absent.
 */
#include "util/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

int output_open(struct output *o, const char *path, char *why, size_t why_size)
{
    memset(o, 0, sizeof(*o));
    if (strcmp(path, "-") == 0) {
        o->file = stdout;
        o->path = xstrdup(path);
        return 0;
    }
    struct stat st;
    if (path[0] == '\0' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        snprintf(why, why_size, "%s: is a directory, not a file name", path[0] ? path : "''");
        return -1;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, (size_t)(slash - path) + 1) : xstrdup("./");
    char *tmp = xasprintf("%s.%s.spyglass-tmp-XXXXXX", dir, slash ? slash + 1 : path);
    free(dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        snprintf(why, why_size, "cannot create %s: %s", path,
                 e == ENOENT ? "its directory does not exist" : strerror(e));
        free(tmp);
        return -1;
    }
    /* mkstemp makes 0600; a profile is an ordinary file, so honour the umask. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    o->file = fdopen(fd, "w");
    if (!o->file) {
        snprintf(why, why_size, "cannot open %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    o->path = xstrdup(path);
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
