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

#include "util/utf8.h"

#ifndef SPYGLASS_VERSION
#define SPYGLASS_VERSION "unknown" /* the Makefile defines it; standalone test builds may not */
#endif

void json_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', out);
    while (*p) {
        const unsigned char *run = p;
        size_t len;
        uint32_t cp;
        /* Copy the longest run that needs no escaping in one call. */
        while (*p && *p != '"' && *p != '\\' && *p >= 0x20 && (len = utf8_decode(p, 4, &cp)) != 0)
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
            fputs(UTF8_REPLACEMENT, out); /* for one invalid byte */
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
