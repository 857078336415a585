/*
 * utf8.c - UTF-8 decoding and encoding (util/utf8.h).
 */
#include "util/utf8.h"

#include <stdio.h>
#include <string.h>

size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (len == 0)
        return 0;
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
    size_t n;
    uint32_t value;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        value = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        value = c & 0x0Fu;
        lo = c == 0xE0 ? 0xA0 : lo; /* overlong */
        hi = c == 0xED ? 0x9F : hi; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        value = c & 0x07u;
        lo = c == 0xF0 ? 0x90 : lo; /* overlong */
        hi = c == 0xF4 ? 0x8F : hi; /* past U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
    }
    for (size_t i = 1; i < n; i++) {
        if (i >= len)
            return 0;
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (s[i] < min || s[i] > max)
            return 0;
        value = value << 6 | (s[i] & 0x3Fu);
    }
    *cp = value;
    return n;
}

size_t utf8_encode(uint32_t cp, unsigned char out[4])
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int utf8_valid(const unsigned char *s, size_t len)
{
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0 || cp == 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t utf8_escape_char(const char *s, char out[UTF8_ESCAPE_MAX])
{
    const unsigned char *c = (const unsigned char *)s;
    uint32_t cp;
    out[0] = '\0';
    if (!*c)
        return 0;
    size_t n = utf8_decode(c, 4, &cp);
    if (n && cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp >= 0xa0)) {
        memcpy(out, c, n);
        out[n] = '\0';
        return n;
    }
    if (*c == '\n') {
        memcpy(out, "\\n", 3);
        return 1;
    }
    n = n ? n : 1; /* a C1 control is escaped whole; a bad byte alone */
    for (size_t i = 0; i < n; i++)
        snprintf(out + 4 * i, UTF8_ESCAPE_MAX - 4 * i, "\\x%02x", c[i]);
    return n;
}

size_t utf8_escape(const char *s, char *out, size_t size)
{
    size_t len = 0, used;
    char piece[UTF8_ESCAPE_MAX];
    if (size == 0)
        return 0;
    while ((used = utf8_escape_char(s, piece)) != 0) {
        size_t n = strlen(piece);
        if (n >= size - len)
            break;
        memcpy(out + len, piece, n);
        len += n;
        s += used;
    }
    out[len] = '\0';
    return len;
}
