/*
 * json.h - the small pieces of JSON output the JSON writers share.
 */
#ifndef SPYGLASS_JSON_H
#define SPYGLASS_JSON_H

#include <stdio.h>

/* Writes s as a quoted JSON string: '"' and '\\' escaped, control
 * characters as \u00XX, and every byte that is not part of well-formed
 * UTF-8 (stray continuation bytes, overlong forms, surrogates, code points
 * past U+10FFFF, truncated sequences) replaced by U+FFFD. */
void json_string(FILE *out, const char *s);

/* Writes v as a JSON number, or null when v is NaN or infinite (which JSON
 * cannot represent). */
void json_number(FILE *out, double v);

/* The exporter name the JSON writers put in their files:
 * "spyglass <version>". */
const char *json_exporter(void);

#endif
