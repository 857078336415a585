/*
 * collapsed.c - the collapsed-stack reader: "frame;frame;frame count" lines
 * back into a struct profile (see import.h for what it accepts).
 *
 * Input is untrusted: a line is read into a buffer that grows up to
 * IMPORT_COLLAPSED_MAX_LINE bytes and is rejected when longer, a stack may hold
 * at most IMPORT_COLLAPSED_MAX_FRAMES frames, counts are parsed with an
 * overflow check and so is the running total. The line buffer is parsed in
 * place: separators are overwritten by NULs and the pieces handed to the
 * profile, which copies (interns) them.
 */
#include "import/import.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/util.h"

struct reader {
    FILE *in;
    char *buf;      /* the current line; grows up to IMPORT_COLLAPSED_MAX_LINE + 1 bytes */
    size_t buf_cap; /* bytes allocated at buf */
    size_t line_no;
    uint32_t *ids; /* IMPORT_COLLAPSED_MAX_FRAMES frame ids */
    char *err;
    size_t errsize;
};

static int fail(struct reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats "line N: message" into the caller's buffer; returns code. */
static int fail(struct reader *r, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r->err && r->errsize)
        snprintf(r->err, r->errsize, "line %zu: %s", r->line_no, msg);
    return code;
}

enum { LINE_EOF = -1, LINE_TOO_LONG = -2, LINE_NUL = -3, LINE_IO = -4 };

/* Reads one line, without its newline, into r->buf and NUL-terminates it.
 * Returns its length (>= 0), LINE_EOF when no bytes were left, or
 * LINE_TOO_LONG, LINE_NUL (a NUL byte inside) or LINE_IO. */
static long read_line(struct reader *r)
{
    size_t len = 0;
    int c;
    int nul = 0;
    while ((c = getc_unlocked(r->in)) != EOF && c != '\n') {
        if (len == IMPORT_COLLAPSED_MAX_LINE)
            return LINE_TOO_LONG;
        if (c == '\0')
            nul = 1;
        if (len + 1 >= r->buf_cap) /* room for this byte and the NUL */
            r->buf = xgrow(r->buf, 1, len + 2, &r->buf_cap);
        r->buf[len++] = (char)c;
    }
    if (ferror(r->in))
        return LINE_IO;
    if (c == EOF && len == 0)
        return LINE_EOF;
    r->buf[len] = '\0';
    return nul ? LINE_NUL : (long)len;
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* Parses a decimal count of 1-20 digits; returns 0 or -1 on overflow or a
 * non-digit. */
static int parse_count(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        unsigned digit = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -2;
        v = v * 10 + digit;
    }
    *out = v;
    return 0;
}

/* Parses a line number: 1-10 digits, at most INT_MAX. Returns 0 or -1. */
static int parse_line_number(const char *s, int *out)
{
    long v = 0;
    if (!*s || strlen(s) > 10)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* Returns 1 if text looks like a source file name rather than a remark such
 * as "tid 12": it has a directory separator, a dot, or is "<string>"-like. */
static int looks_like_file(const char *s)
{
    return s[0] == '<' || strchr(s, '/') || strchr(s, '\\') || strchr(s, '.');
}

/* Returns the kind of a frame that has no location, from its text. */
static enum profile_frame_kind bare_kind(const char *s)
{
    size_t len = strlen(s), upper = 0;
    if (strncmp(s, "thread ", 7) == 0)
        return PF_THREAD;
    if (strncmp(s, "process ", 8) == 0)
        return PF_PROCESS;
    if (len >= 2 && s[0] == '(' && s[len - 1] == ')')
        return PF_NATIVE;
    while (s[upper] >= 'A' && s[upper] <= 'Z')
        upper++;
    if (upper >= 3 && upper <= 7 && s[upper] == ' ' && s[upper + 1] == '/')
        return PF_ENDPOINT;
    return PF_PYTHON;
}

/* Returns the index of the " (" that opens the parenthesis closing text
 * (its last character, a ')'), matching nested pairs, or -1. */
static long location_start(const char *text, size_t len)
{
    if (len < 4 || text[len - 1] != ')')
        return -1;
    int depth = 0;
    for (size_t i = len; i-- > 0;) {
        if (text[i] == ')') {
            depth++;
        } else if (text[i] == '(' && --depth == 0) {
            return i > 0 && text[i - 1] == ' ' ? (long)i - 1 : -1;
        }
    }
    return -1;
}

/* Splits frame text (modified in place) into a frame and returns its id. */
static uint32_t add_frame(struct profile *p, char *text)
{
    size_t len = strlen(text);
    long at = location_start(text, len);
    if (at >= 0) {
        char *inner = text + at + 2;
        text[len - 1] = '\0';
        char *colon = strrchr(inner, ':');
        int line = 0;
        if (colon && colon > inner && parse_line_number(colon + 1, &line) == 0) {
            *colon = '\0';
            text[at] = '\0';
            return profile_frame_id(p, text, inner, line, PF_PYTHON);
        }
        if (looks_like_file(inner)) {
            text[at] = '\0';
            return profile_frame_id(p, text, inner, 0, PF_PYTHON);
        }
        text[len - 1] = ')'; /* not a location after all: keep the text */
    }
    return profile_frame_id(p, text, "", 0, bare_kind(text));
}

/* Parses the stack part of a line (modified in place) into r->ids; returns
 * the depth or a negative SG_E* code. */
static long parse_stack(struct reader *r, struct profile *p, char *stack)
{
    size_t depth = 0;
    for (char *frame = stack;;) {
        char *sep = strchr(frame, ';');
        if (sep)
            *sep = '\0';
        if (!*frame)
            return fail(r, -SG_ECORRUPT, "empty frame name (frame %zu)", depth + 1);
        if (depth == IMPORT_COLLAPSED_MAX_FRAMES)
            return fail(r, -SG_ECORRUPT, "more than %d frames", IMPORT_COLLAPSED_MAX_FRAMES);
        r->ids[depth++] = add_frame(p, frame);
        if (!sep)
            return (long)depth;
        frame = sep + 1;
    }
}

/* Parses one line of len bytes in r->buf and adds its stack to p. */
static int parse_line(struct reader *r, struct profile *p, size_t len)
{
    char *s = r->buf;
    if (r->line_no == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0) {
        s += 3; /* UTF-8 byte-order mark */
        len -= 3;
    }
    while (len > 0 && (is_blank(s[len - 1]) || s[len - 1] == '\r'))
        s[--len] = '\0';
    if (len == 0)
        return 0;
    char *space = s + len;
    while (space > s && !is_blank(space[-1]))
        space--;
    uint64_t count;
    int perr = space > s ? parse_count(space, &count) : -1;
    if (perr == -2)
        return fail(r, -SG_ECORRUPT, "sample count too large");
    if (perr < 0 && space > s && strchr(space, '.') &&
        strspn(space, "0123456789.") == strlen(space))
        return fail(r, -SG_ECORRUPT, "sample count is not a whole number");
    if (perr < 0)
        return fail(r, -SG_ECORRUPT, "missing sample count");
    char *end = space;
    while (end > s && is_blank(end[-1]))
        end--;
    *end = '\0';
    if (end == s)
        return fail(r, -SG_ECORRUPT, "no frames before the sample count");
    if (profile_total_weight(p) > UINT64_MAX - count)
        return fail(r, -SG_ECORRUPT, "total sample count overflows");
    long depth = parse_stack(r, p, s);
    if (depth < 0)
        return (int)depth;
    profile_add_stack(p, r->ids, (size_t)depth, count);
    return 0;
}

int import_collapsed(FILE *in, struct profile *p, char *err, size_t errsize)
{
    struct reader r = {.in = in, .err = err, .errsize = errsize};
    /* Lines are short: start small, grow (doubling) for long ones. */
    r.buf_cap = 4096;
    r.buf = xmalloc(r.buf_cap);
    r.ids = xmalloc(IMPORT_COLLAPSED_MAX_FRAMES * sizeof(*r.ids));
    if (err && errsize)
        err[0] = '\0';
    int rc = 0;
    for (;;) {
        r.line_no++;
        long len = read_line(&r);
        if (len == LINE_EOF)
            break;
        if (len == LINE_TOO_LONG)
            rc = fail(&r, -SG_ECORRUPT, "longer than %u bytes", IMPORT_COLLAPSED_MAX_LINE);
        else if (len == LINE_NUL)
            rc = fail(&r, -SG_ECORRUPT, "contains a NUL byte");
        else if (len == LINE_IO)
            rc = fail(&r, -SG_EIO, "read error");
        else
            rc = parse_line(&r, p, (size_t)len);
        if (rc)
            break;
    }
    free(r.buf);
    free(r.ids);
    return rc;
}
