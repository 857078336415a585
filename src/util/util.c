/*
 * util.c - allocation that never fails silently, and a growable string buffer.
 *
 * Out of memory is not something a profiler can recover from usefully, so the
 * x* allocators print one line and exit; callers carry no NULL checks.
 */
#include "util/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die_oom(void)
{
    fputs("spyglass: error: out of memory\n", stderr);
    exit(1);
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        die_oom();
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        die_oom();
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        die_oom();
    return p;
}

void *xgrow(void *ptr, size_t elem_size, size_t need, size_t *cap)
{
    if (need <= *cap)
        return ptr;
    size_t new_cap = *cap ? *cap : 8;
    while (new_cap < need) {
        if (new_cap > SIZE_MAX / 2)
            die_oom();
        new_cap *= 2;
    }
    if (elem_size && new_cap > SIZE_MAX / elem_size)
        die_oom();
    ptr = xrealloc(ptr, new_cap * elem_size);
    *cap = new_cap;
    return ptr;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    struct strbuf sb;
    va_list ap;
    strbuf_init(&sb);
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof(tmp)) {
        strbuf_add(&sb, tmp, (size_t)n);
    } else {
        char *big = xmalloc((size_t)n + 1);
        vsnprintf(big, (size_t)n + 1, fmt, ap2);
        strbuf_add(&sb, big, (size_t)n);
        free(big);
    }
    va_end(ap2);
    va_end(ap);
    return strbuf_detach(&sb);
}

void strlcpy_safe(char *dst, const char *src, size_t dst_size)
{
    if (!dst_size)
        return;
    size_t n = strlen(src);
    if (n >= dst_size)
        n = dst_size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int str_endswith(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

void strbuf_init(struct strbuf *sb)
{
    sb->buf = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void strbuf_release(struct strbuf *sb)
{
    free(sb->buf);
    strbuf_init(sb);
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    if (len > SIZE_MAX - sb->len - 1)
        die_oom();
    sb->buf = xgrow(sb->buf, 1, sb->len + len + 1, &sb->cap);
    memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, char c)
{
    strbuf_add(sb, &c, 1);
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    if (n > 0 && (size_t)n < sizeof(tmp)) {
        strbuf_add(sb, tmp, (size_t)n);
    } else if (n > 0) {
        char *big = xmalloc((size_t)n + 1);
        vsnprintf(big, (size_t)n + 1, fmt, ap2);
        strbuf_add(sb, big, (size_t)n);
        free(big);
    }
    va_end(ap2);
    va_end(ap);
}

char *strbuf_detach(struct strbuf *sb)
{
    char *p = sb->buf ? sb->buf : xstrdup("");
    strbuf_init(sb);
    return p;
}
