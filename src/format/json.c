/*
 * json.c - JSON string escaping and numbers for the speedscope and
 * chrometrace writers.
 *
 * Names come from the target's memory and may hold anything: control
 * characters, quotes, broken UTF-8. JSON parsers reject raw control
 * characters, and many reject invalid UTF-8, so every string goes out
 * escaped and repaired, one well-formed sequence at a time.
 */
#include "format/json.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#ifndef SPYGLASS_VERSION
#define SPYGLASS_VERSION "unknown" /* the Makefile defines it; standalone test builds may not */
#endif

/* Returns the length (1-4) of the well-formed UTF-8 sequence at s, or 0 if
 * the bytes there are not one (RFC 3629, table 3-7 of Unicode). A NUL byte
 * fails every continuation check, so this never reads past the string. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}

void json_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', out);
    while (*p) {
        const unsigned char *run = p;
        size_t len;
        /* Copy the longest run that needs no escaping in one call. */
        while (*p && *p != '"' && *p != '\\' && *p >= 0x20 && (len = utf8_len(p)) != 0)
            p += len;
        if (p > run)
            fwrite(run, 1, (size_t)(p - run), out);
        if (!*p)
            break;
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputs("\xef\xbf\xbd", out); /* U+FFFD for one invalid byte */
        p++;
    }
    putc('"', out);
}

void json_number(FILE *out, double v)
{
    if (!isfinite(v)) {
        fputs("null", out);
        return;
    }
    /* The shorter form when it reads back exactly (0.1, not 0.10000000000000001). */
    char buf[32];
    snprintf(buf, sizeof(buf), "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof(buf), "%.17g", v);
    fputs(buf, out);
}

const char *json_exporter(void)
{
    return "spyglass " SPYGLASS_VERSION;
}
