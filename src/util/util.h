/*
 * util.h - allocation that never returns NULL, and small string helpers.
 */
#ifndef SPYGLASS_UTIL_H
#define SPYGLASS_UTIL_H

#include <stdarg.h>
#include <stddef.h>

/* These print "spyglass: error: out of memory" and exit(1) on failure. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grows an array: returns ptr resized to hold at least `need` elements of
 * elem_size, updating *cap (doubling). Checks for overflow. */
void *xgrow(void *ptr, size_t elem_size, size_t need, size_t *cap);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copies src into dst of size dst_size, always NUL-terminating. */
void strlcpy_safe(char *dst, const char *src, size_t dst_size);

/* Returns 1 if s ends with suffix. */
int str_endswith(const char *s, const char *suffix);

/* A growable byte buffer. */
struct strbuf {
    char *buf;
    size_t len;
    size_t cap;
};
void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Detaches the buffer: the caller owns the returned NUL-terminated string. */
char *strbuf_detach(struct strbuf *sb);

#endif
