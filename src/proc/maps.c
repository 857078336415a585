/*
 * maps.c - parsing /proc/PID/maps.
 *
 * Each line is "start-end perms offset dev inode path". Paths may contain
 * spaces; everything after the inode column is the path.
 */
#include "proc/maps.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/util.h"

static int parse_line(struct map_entry *e, const char *line)
{
    unsigned long long start, end, offset, inode;
    unsigned dev_major, dev_minor;
    char perms[8];
    int path_pos = 0;
    if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset, &dev_major,
               &dev_minor, &inode, &path_pos) < 7)
        return -SG_ECORRUPT;
    e->start = start;
    e->end = end;
    e->offset = offset;
    e->dev_major = dev_major;
    e->dev_minor = dev_minor;
    e->inode = inode;
    strlcpy_safe(e->perms, perms, sizeof(e->perms));
    const char *path = path_pos ? line + path_pos : "";
    size_t len = strcspn(path, "\n");
    e->path = xstrndup(path, len);
    return 0;
}

int maps_parse(struct maps *m, const char *text)
{
    m->entries = NULL;
    m->count = m->cap = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            char *line = xstrndup(p, len);
            struct map_entry e;
            int err = parse_line(&e, line);
            free(line);
            if (err) {
                maps_release(m);
                return err;
            }
            m->entries = xgrow(m->entries, sizeof(*m->entries), m->count + 1, &m->cap);
            m->entries[m->count++] = e;
        }
        p += len + (nl ? 1 : 0);
    }
    return 0;
}

int maps_read(struct maps *m, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    m->entries = NULL;
    m->count = m->cap = 0;
    if (!f)
        return errno == EACCES || errno == EPERM ? -SG_EPERM : -SG_ENOPROC;
    struct strbuf sb;
    strbuf_init(&sb);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_add(&sb, buf, n);
    int read_err = ferror(f);
    fclose(f);
    int err = read_err ? -SG_EPERM : maps_parse(m, sb.buf ? sb.buf : "");
    strbuf_release(&sb);
    if (!err && m->count == 0)
        err = -SG_ENOPROC; /* a zombie or a kernel thread has no maps */
    return err;
}

void maps_release(struct maps *m)
{
    for (size_t i = 0; i < m->count; i++)
        free(m->entries[i].path);
    free(m->entries);
    m->entries = NULL;
    m->count = m->cap = 0;
}

const struct map_entry *maps_find_file(const struct maps *m, int (*match)(const char *path))
{
    for (size_t i = 0; i < m->count; i++) {
        if (m->entries[i].path[0] == '/' && match(m->entries[i].path))
            return &m->entries[i];
    }
    return NULL;
}

const struct map_entry *maps_file_start(const struct maps *m, const char *path)
{
    for (size_t i = 0; i < m->count; i++) {
        const struct map_entry *e = &m->entries[i];
        if (strcmp(e->path, path) == 0 && e->offset == 0)
            return e;
    }
    return NULL;
}

uint64_t maps_file_base(const struct maps *m, const char *path)
{
    const struct map_entry *e = maps_file_start(m, path);
    return e ? e->start : 0;
}

const struct map_entry *maps_lookup(const struct maps *m, uint64_t addr)
{
    for (size_t i = 0; i < m->count; i++) {
        if (addr >= m->entries[i].start && addr < m->entries[i].end)
            return &m->entries[i];
    }
    return NULL;
}
