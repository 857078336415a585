/*
 * format.c - the table of profile writers, and the two helpers every writer
 * shares: shortening source paths for display and classifying frames.
 *
 * Adding a format is one line in `writers` below and one file in format/.
 */
#include "format/format.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

static const struct format_writer writers[] = {
    {"flamegraph", ".svg", "interactive SVG flame graph (open in a browser)", 0, flamegraph_write,
     0},
    {"collapsed", ".txt .folded .collapsed",
     "collapsed stacks, one \"frame;frame;frame count\" line per stack (flamegraph.pl, inferno)", 0,
     collapsed_write, 0},
    {"speedscope", ".json .speedscope.json",
     "speedscope JSON, one sampled profile per thread (https://www.speedscope.app)", 1,
     speedscope_write, 0},
    {"chrometrace", ".trace.json",
     "Trace Event Format JSON, a flame chart per thread (Perfetto, chrome://tracing)", 1,
     chrometrace_write, 0},
    {"pstats", ".prof .pstats",
     "a cProfile/pstats dump: pstats.Stats(FILE), snakeviz; times are samples x interval", 0,
     pstats_write, 1},
    {"pprof", ".pb.gz .pprof", "gzipped profile.proto: go tool pprof, Pyroscope, Parca, Grafana", 0,
     pprof_write, 0},
    {"spyglass", ".spyglass",
     "spyglass's own text profile: full paths, lines and memory weights; what report --lines reads",
     0, spyglass_write, 0},
};

#define WRITER_COUNT (sizeof(writers) / sizeof(writers[0]))

const struct format_writer *format_find(const char *name)
{
    if (strcmp(name, "raw") == 0) /* py-spy's name for collapsed stacks */
        name = "collapsed";
    for (size_t i = 0; i < WRITER_COUNT; i++) {
        if (strcmp(writers[i].name, name) == 0)
            return &writers[i];
    }
    return NULL;
}

/* Returns 1 if path ends with the len bytes at ext, ignoring ASCII case. */
static int ends_with_ext(const char *path, size_t path_len, const char *ext, size_t len)
{
    return path_len >= len && strncasecmp(path + path_len - len, ext, len) == 0;
}

const struct format_writer *format_for_path(const char *path)
{
    const struct format_writer *best = NULL;
    size_t best_len = 0, path_len = strlen(path);
    for (size_t i = 0; i < WRITER_COUNT; i++) {
        const char *ext = writers[i].extensions;
        while (*ext) {
            size_t len = strcspn(ext, " ");
            if (len > best_len && ends_with_ext(path, path_len, ext, len)) {
                best = &writers[i];
                best_len = len;
            }
            ext += len;
            ext += strspn(ext, " ");
        }
    }
    return best;
}

void format_list(char *buf, size_t size)
{
    struct strbuf sb;
    strbuf_init(&sb);
    for (size_t i = 0; i < WRITER_COUNT; i++)
        strbuf_addf(&sb, "%s%s", i ? ", " : "", writers[i].name);
    strlcpy_safe(buf, sb.buf ? sb.buf : "", size);
    strbuf_release(&sb);
}

double format_unit_ns(const char *unit)
{
    static const struct {
        const char *name;
        double ns;
    } units[] = {{"nanoseconds", 1},    {"ns", 1},   {"microseconds", 1e3}, {"us", 1e3},
                 {"milliseconds", 1e6}, {"ms", 1e6}, {"seconds", 1e9},      {"s", 1e9}};
    for (size_t i = 0; unit && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].name) == 0)
            return units[i].ns;
    }
    return 0;
}

/* Returns where the package part of an installed-package path starts (just
 * after the last "site-packages/" or "dist-packages/" directory), or NULL. */
static const char *package_start(const char *path)
{
    static const char *const dirs[] = {"site-packages/", "dist-packages/"};
    const char *best = NULL;
    for (size_t i = 0; i < 2; i++) {
        size_t len = strlen(dirs[i]);
        for (const char *s = strstr(path, dirs[i]); s; s = strstr(s + 1, dirs[i])) {
            if ((s == path || s[-1] == '/') && (!best || s + len > best))
                best = s + len;
        }
    }
    return best;
}

/* Returns 1 if s starts with a "lib/pythonX.Y/" (or "lib64/...") directory:
 * X and Y digits, optionally followed by ABI letters as in "python3.13t". */
static int is_stdlib_dir(const char *s)
{
    if (strncmp(s, "lib", 3) != 0)
        return 0;
    s += 3;
    if (strncmp(s, "64", 2) == 0)
        s += 2;
    if (strncmp(s, "/python", 7) != 0)
        return 0;
    s += 7;
    if (!isdigit((unsigned char)*s))
        return 0;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s++ != '.' || !isdigit((unsigned char)*s))
        return 0;
    while (isdigit((unsigned char)*s))
        s++;
    while (isalpha((unsigned char)*s))
        s++;
    return *s == '/';
}

/* Returns where the last "lib/pythonX.Y/" directory of path starts, or NULL. */
static const char *stdlib_start(const char *path)
{
    const char *best = NULL;
    for (const char *s = strstr(path, "lib"); s; s = strstr(s + 1, "lib")) {
        if ((s == path || s[-1] == '/') && is_stdlib_dir(s))
            best = s;
    }
    return best;
}

const char *format_short_path(const char *path)
{
    const char *s = package_start(path);
    if (s && *s)
        return s;
    s = stdlib_start(path);
    return s ? s : path;
}

/* Appends segment [s, s + len) to the normalised path in sb, resolving
 * "." and ".." against what is there. */
static void add_segment(struct strbuf *sb, const char *s, size_t len, int absolute)
{
    if (len == 0 || (len == 1 && s[0] == '.'))
        return;
    if (len == 2 && s[0] == '.' && s[1] == '.') {
        size_t start = sb->len; /* the last segment so far: [start, len) */
        while (start > 0 && sb->buf[start - 1] != '/')
            start--;
        size_t seg_len = sb->len - start;
        int dotdot = seg_len == 2 && !memcmp(sb->buf + start, "..", 2);
        if (seg_len > 0 && !dotdot) { /* drop it, and its slash unless the root's */
            size_t keep = start > 0 ? start - 1 : 0;
            sb->len = absolute && keep == 0 ? 1 : keep;
            sb->buf[sb->len] = '\0';
            return;
        }
        if (absolute) /* "/.." is "/" */
            return;
    }
    if (sb->len && sb->buf[sb->len - 1] != '/')
        strbuf_addch(sb, '/');
    strbuf_add(sb, s, len);
}

char *format_display_path(const char *path, int full)
{
    struct strbuf sb;
    strbuf_init(&sb);
    int absolute = path[0] == '/';
    if (absolute)
        strbuf_addch(&sb, '/');
    for (const char *s = path; *s;) {
        size_t len = strcspn(s, "/");
        add_segment(&sb, s, len, absolute);
        s += len;
        s += *s == '/';
    }
    if (!sb.len)
        strbuf_addstr(&sb, path[0] ? "." : "");
    char *norm = strbuf_detach(&sb);
    if (full)
        return norm;
    char *shortened = xstrdup(format_short_path(norm));
    free(norm);
    return shortened;
}

int format_frame_class(const struct profile_frame *f)
{
    switch (f->kind) {
    case PF_THREAD:
    case PF_PROCESS:
    case PF_ENDPOINT:
    case PF_LABEL:
        return 3;
    case PF_NATIVE:
        return 4;
    case PF_NATIVE_CODE:
        return 5;
    case PF_PYTHON:
        break;
    }
    if (!f->file[0])
        return 4;
    if (package_start(f->file))
        return 2;
    if (stdlib_start(f->file) || strncmp(f->file, "<frozen ", 8) == 0)
        return 1;
    return 0;
}
