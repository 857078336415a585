/*
 * spyglass.c - reads spyglass's own profile file (format/spyglass.c has the
 * layout) back into a struct profile: frames, stacks, weights, memory
 * weights and metadata. The input is untrusted: every number is range
 * checked, every frame reference must name a frame already read, and a bad
 * line gives "line N: WHAT", never a crash.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/import.h"
#include "util/err.h"
#include "util/util.h"

#define MAGIC "spyglass-profile 1"

struct reader {
    struct profile *p;
    uint32_t *frame_ids; /* file's frame number -> profile frame id */
    size_t frame_count, frame_cap;
    uint32_t *stack; /* scratch */
    size_t stack_cap;
    size_t line_no;
    char *err;
    size_t errsize;
};

static int fail(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct reader *r, const char *fmt, ...)
{
    if (r->errsize) {
        char what[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(r->err, r->errsize, "line %zu: %s", r->line_no, what);
    }
    return -SG_ECORRUPT;
}

/* Splits s at tabs into at most max fields; returns the count. */
static size_t split_tabs(char *s, char **fields, size_t max)
{
    size_t n = 0;
    while (n < max) {
        fields[n++] = s;
        char *tab = strchr(s, '\t');
        if (!tab)
            break;
        *tab = '\0';
        s = tab + 1;
    }
    return n;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* A line number: 0 .. INT32_MAX. Returns 0 or -1. */
static int parse_line(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > INT32_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int read_meta(struct reader *r, char **f, size_t n)
{
    if (n != 3)
        return fail(r, "a meta line has a key and a value");
    struct profile_meta *m = profile_meta(r->p);
    char **text[] = {&m->title, &m->target, &m->python_version, &m->unit, &m->note};
    static const char *const text_keys[] = {"title", "target", "python_version", "unit", "note"};
    for (size_t i = 0; i < 5; i++) {
        if (!strcmp(f[1], text_keys[i])) {
            profile_set_meta_str(r->p, text[i], f[2]);
            return 0;
        }
    }
    if (!strcmp(f[1], "rate_hz") || !strcmp(f[1], "duration_s")) {
        char *end;
        double v = strtod(f[2], &end);
        if (end == f[2] || *end || !(v >= 0 && v < 1e12))
            return fail(r, "%s wants a number", f[1]);
        *(f[1][0] == 'r' ? &m->rate_hz : &m->duration_s) = v;
        return 0;
    }
    uint64_t v;
    if (parse_u64(f[2], &v))
        return fail(r, "%s wants a whole number", f[1]);
    if (!strcmp(f[1], "samples"))
        m->samples = v;
    else if (!strcmp(f[1], "errors"))
        m->errors = v;
    else if (!strcmp(f[1], "peak_rss"))
        m->peak_rss = v;
    else if (!strcmp(f[1], "peak_rss_ns"))
        m->peak_rss_ns = v;
    else if (!strcmp(f[1], "final_rss"))
        m->final_rss = v;
    else if (!strcmp(f[1], "memory") && v)
        profile_enable_memory(r->p);
    /* unknown keys are for newer writers: skipped */
    return 0;
}

static int read_frame(struct reader *r, char **f, size_t n)
{
    static const char *const kinds[] = {"python",   "thread", "process",
                                        "endpoint", "native", "native_code"};
    if (n != 5 && n != 6)
        return fail(r, "a frame line has a kind, a line, a file, a name and maybe a first line");
    int kind = -1;
    for (int i = 0; i < (int)(sizeof(kinds) / sizeof(kinds[0])); i++) {
        if (!strcmp(f[1], kinds[i]))
            kind = i;
    }
    if (kind < 0)
        return fail(r, "unknown frame kind '%.40s'", f[1]);
    int line, first_line = 0;
    if (parse_line(f[2], &line))
        return fail(r, "bad line number '%.40s'", f[2]);
    if (n == 6 && parse_line(f[5], &first_line))
        return fail(r, "bad first line number '%.40s'", f[5]);
    if (r->frame_count >= UINT32_MAX - 1)
        return fail(r, "too many frames");
    r->frame_ids = xgrow(r->frame_ids, sizeof(*r->frame_ids), r->frame_count + 1, &r->frame_cap);
    uint32_t id = profile_frame_id(r->p, f[4], f[3], line, (enum profile_frame_kind)kind);
    profile_set_first_line(r->p, id, first_line);
    r->frame_ids[r->frame_count++] = id;
    return 0;
}

static int read_stack(struct reader *r, char **f, size_t n)
{
    if (n != 7)
        return fail(r, "a stack line has five weights and its frames");
    uint64_t v[5];
    for (size_t i = 0; i < 5; i++) {
        if (parse_u64(f[1 + i], &v[i]))
            return fail(r, "weight %zu is not a whole number", i + 1);
    }
    size_t depth = 0;
    for (char *s = f[6]; *s;) {
        uint64_t id;
        char *space = strchr(s, ' ');
        if (space)
            *space = '\0';
        if (parse_u64(s, &id) || id >= r->frame_count)
            return fail(r, "frame '%.20s' is not a frame listed above", s);
        if (depth >= IMPORT_COLLAPSED_MAX_FRAMES)
            return fail(r, "more than %d frames in a stack", IMPORT_COLLAPSED_MAX_FRAMES);
        r->stack = xgrow(r->stack, sizeof(*r->stack), depth + 1, &r->stack_cap);
        r->stack[depth++] = r->frame_ids[id];
        s = space ? space + 1 : s + strlen(s);
    }
    uint32_t id = profile_add_stack(r->p, r->stack, depth, v[0]);
    struct profile_memory m = {v[1], v[2], v[3], v[4]};
    profile_add_memory(r->p, id, &m);
    return 0;
}

static int read_line(struct reader *r, char *line)
{
    char *f[8];
    size_t n = split_tabs(line, f, 8);
    if (!strcmp(f[0], "meta"))
        return read_meta(r, f, n);
    if (!strcmp(f[0], "frame"))
        return read_frame(r, f, n);
    if (!strcmp(f[0], "stack"))
        return read_stack(r, f, n);
    if (f[0][0] == '#' || (n == 1 && !f[0][0]))
        return 0;
    return fail(r, "unknown record '%.20s' (meta, frame or stack)", f[0]);
}

int import_spyglass(const char *data, size_t len, struct profile *p, char *err, size_t errsize)
{
    struct reader r = {.p = p, .err = err, .errsize = errsize, .line_no = 1};
    if (errsize)
        err[0] = '\0';
    if (len < sizeof(MAGIC) - 1 || memcmp(data, MAGIC, sizeof(MAGIC) - 1) != 0 ||
        (len > sizeof(MAGIC) - 1 && data[sizeof(MAGIC) - 1] != '\n'))
        return fail(&r, "not a spyglass profile (no '" MAGIC "' header)");
    const char *nul = memchr(data, '\0', len);
    if (nul)
        return fail(&r, "a NUL byte at offset %zu: not text", (size_t)(nul - data));
    char *text = xmalloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    int rc = 0;
    char *line = strchr(text, '\n');
    line = line ? line + 1 : text + len;
    while (!rc && *line) {
        r.line_no++;
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        rc = read_line(&r, line);
        line = nl ? nl + 1 : text + len;
    }
    free(text);
    free(r.frame_ids);
    free(r.stack);
    return rc;
}
