/*
 * table.h - the pstats text report: what
 *     pstats.Stats(file).sort_stats(KEY, ...).print_stats(N)
 * prints, byte for byte, from a loaded pstats dump.
 */
#ifndef SPYGLASS_REPORT_TABLE_H
#define SPYGLASS_REPORT_TABLE_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "import/pstats.h"

#define TABLE_MAX_KEYS 8

struct table_options {
    int sort[TABLE_MAX_KEYS]; /* sort keys from table_sort_key, most significant first */
    size_t sort_count;        /* 0: the dump's order ("Random listing order was used") */
    long limit;               /* print_stats(N): at most N rows; negative: all of them */
    const char *source;       /* the first line, as table_source_line makes it; NULL: none */
};

/* Resolves a pstats sort key ("cumulative", "tottime", "ncalls", "name",
 * "calls", "cumtime", "filename", "module", "line", "nfl", "pcalls",
 * "stdname", "time") or an abbreviation pstats accepts ("cum", "tot"), with
 * pstats' own rule for which abbreviations are unique. Returns a key id
 * (>= 0) for struct table_options, or -1 if pstats would reject the word. */
int table_sort_key(const char *word);

/* Writes into buf the line pstats prints for a file it loaded: the file's
 * modification time as time.ctime() gives it (local time), four spaces and
 * the path as given. */
void table_source_line(char *buf, size_t size, const char *path, time_t mtime);

/* Prints the report. Numbers are formatted in the C locale whatever the
 * process's locale is. Returns 0, or -SG_EIO if writing failed. */
int table_print(const struct pstats *st, FILE *out, const struct table_options *opt);

#endif
