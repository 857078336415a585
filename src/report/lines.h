/*
 * lines.h - the line report (`spyglass report FILE --lines WHAT`): for each
 * source line of a function, what memory_profiler prints (the RSS seen on
 * it, the net change charged to it, how often it was seen) plus the share of
 * samples, with the line's text read from the source file.
 */
#ifndef SPYGLASS_REPORT_LINES_H
#define SPYGLASS_REPORT_LINES_H

#include <stddef.h>
#include <stdio.h>

#include "profile/profile.h"

/* Prints one table per Python function that matches `what`: its name or
 * qualified name, the last part of a qualified name ("method" for
 * "Class.method"), its file's path, or the path's tail ("app.py",
 * "pkg/app.py"). A line's figures count every stack in which it is the
 * innermost line of that function, so a line that calls an allocating
 * function gets the allocation, as in memory_profiler. The memory columns
 * are blank for a profile without memory weights.
 *
 * Returns 0, or -1 when nothing matches (err then lists a few functions the
 * profile has), or -SG_EIO when writing fails. */
int lines_print(const struct profile *p, const char *what, FILE *out, char *err, size_t errsize);

#endif
