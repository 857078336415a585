/*
 * spool.c - a bounded folder of whole files, oldest out first (agent/spool.h).
 *
 * The sender lists the folder's names (no stat) at every take; an add lists
 * it only past the bound. Names carry the time first, so sorting names
 * sorts by age, across restarts.
 */
#include "agent/spool.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/output.h"
#include "util/util.h"

struct entry {
    char *name;
    uint64_t size;
};

/* mkdir -p: returns 0 or -1 with errno. */
static int make_dirs(const char *dir)
{
    char *path = xstrdup(dir);
    int rc = 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            rc = -1;
            break;
        }
        *p = c;
        if (!c)
            break;
    }
    free(path);
    return rc;
}

static struct entry *recount(struct spool *s, size_t *n);
static void free_list(struct entry *v, size_t n);

int spool_open(struct spool *s, const char *dir, const char *ext, size_t max_files,
               uint64_t max_bytes, char *why, size_t why_size)
{
    memset(s, 0, sizeof(*s));
    struct stat st;
    if (make_dirs(dir) != 0 || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        access(dir, W_OK | X_OK) != 0) {
        snprintf(why, why_size, "%s: cannot use it as a folder: %s", dir, strerror(errno));
        return -1;
    }
    s->dir = xstrdup(dir);
    s->ext = xstrdup(ext);
    s->max_files = max_files ? max_files : 1;
    s->max_bytes = max_bytes;
    pthread_mutex_init(&s->lock, NULL);
    size_t n = 0;
    struct entry *left = recount(s, &n); /* what an earlier agent left */
    free_list(left, n);
    return 0;
}

void spool_close(struct spool *s)
{
    if (!s->dir)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->dir);
    free(s->ext);
    memset(s, 0, sizeof(*s));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* Lists our files (not temporaries, which start with '.'), oldest first;
 * with sizes, each is looked at (stat), else only the names are read. */
static struct entry *list(struct spool *s, int sizes, size_t *count)
{
    struct entry *v = NULL;
    size_t n = 0, cap = 0;
    *count = 0;
    DIR *d = opendir(s->dir);
    if (!d)
        return NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !str_endswith(de->d_name, s->ext))
            continue;
        struct stat st = {0};
        if (sizes || de->d_type == DT_UNKNOWN) {
            char *path = xasprintf("%s/%s", s->dir, de->d_name);
            int ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
            free(path);
            if (!ok)
                continue;
        } else if (de->d_type != DT_REG) {
            continue;
        }
        v = xgrow(v, sizeof(*v), n + 1, &cap);
        v[n++] = (struct entry){xstrdup(de->d_name), (uint64_t)st.st_size};
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), by_name);
    *count = n;
    return v;
}

static void free_list(struct entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* Recounts the files and bytes held from the folder itself. */
static struct entry *recount(struct spool *s, size_t *n)
{
    struct entry *v = list(s, 1, n);
    s->files = *n;
    s->bytes = 0;
    for (size_t i = 0; i < *n; i++)
        s->bytes += v[i].size;
    return v;
}

static int over(const struct spool *s, size_t files, uint64_t bytes)
{
    return files > s->max_files || (s->max_bytes && bytes > s->max_bytes);
}

/* Past the bound, deletes the oldest files down to 90% of it (never the
 * newest: a window larger than the bound is still kept, alone). */
static void enforce_bound(struct spool *s)
{
    if (!over(s, s->files, s->bytes))
        return;
    size_t n;
    struct entry *v = recount(s, &n);
    size_t keep_files = s->max_files - s->max_files / 10;
    uint64_t keep_bytes = s->max_bytes - s->max_bytes / 10;
    for (size_t i = 0;
         i + 1 < n && (s->files > keep_files || (s->max_bytes && s->bytes > keep_bytes)); i++) {
        char *path = xasprintf("%s/%s", s->dir, v[i].name);
        if (unlink(path) == 0)
            s->dropped++;
        s->files--;
        s->bytes -= v[i].size;
        free(path);
    }
    free_list(v, n);
}

int spool_add(struct spool *s, uint64_t unix_ns, const char *tag, const void *data, size_t len,
              char *why, size_t why_size)
{
    pthread_mutex_lock(&s->lock);
    char *path = xasprintf("%s/%020" PRIu64 "-%06" PRIu64 "-%s%s", s->dir, unix_ns,
                           s->seq++ % 1000000, tag, s->ext);
    struct output out;
    int rc = output_open(&out, path, why, why_size);
    if (rc == 0) {
        if (fwrite(data, 1, len, out.file) != len) {
            output_abort_why(&out, errno, why, why_size);
            if (!why[0])
                snprintf(why, why_size, "%s: %s", path, strerror(errno));
            rc = -1;
        } else {
            rc = output_commit(&out, why, why_size);
        }
    }
    if (rc == 0) {
        s->added++;
        s->files++;
        s->bytes += len;
        enforce_bound(s);
    }
    free(path);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct strbuf sb;
    strbuf_init(&sb);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_add(&sb, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        strbuf_release(&sb);
        return NULL;
    }
    *len = sb.len;
    if (!sb.buf)
        return xcalloc(1, 1);
    return sb.buf;
}

char *spool_oldest(struct spool *s, void **data, size_t *len)
{
    pthread_mutex_lock(&s->lock);
    size_t n;
    struct entry *v = list(s, 0, &n);
    char *path = NULL;
    for (size_t i = 0; i < n && !path; i++) {
        path = xasprintf("%s/%s", s->dir, v[i].name);
        *data = read_whole(path, len);
        if (!*data) { /* dropped meanwhile, or unreadable: never block the queue */
            unlink(path);
            free(path);
            path = NULL;
        }
    }
    free_list(v, n);
    pthread_mutex_unlock(&s->lock);
    return path;
}

void spool_remove(struct spool *s, const char *path)
{
    pthread_mutex_lock(&s->lock);
    struct stat st;
    if (stat(path, &st) == 0 && unlink(path) == 0) {
        s->removed++;
        s->files -= s->files ? 1 : 0;
        s->bytes -= s->bytes >= (uint64_t)st.st_size ? (uint64_t)st.st_size : s->bytes;
    }
    pthread_mutex_unlock(&s->lock);
}

size_t spool_count(struct spool *s, uint64_t *bytes)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->files;
    if (bytes)
        *bytes = s->bytes;
    pthread_mutex_unlock(&s->lock);
    return n;
}
