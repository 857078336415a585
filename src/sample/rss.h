/*
 * rss.h - the target's resident memory, read from /proc/PID/statm.
 *
 * statm's second field is the resident set in pages: one pread of a file
 * kept open, about a microsecond, so it can be read on every sample. It is
 * what the kernel counts (anonymous, file and shared pages mapped in), not
 * what the allocator holds: memory freed by Python but kept by pymalloc or
 * malloc for reuse still counts, pages never touched do not.
 */
#ifndef SPYGLASS_SAMPLE_RSS_H
#define SPYGLASS_SAMPLE_RSS_H

#include <stdint.h>
#include <sys/types.h>

struct rss_reader {
    int fd; /* /proc/PID/statm, or -1 */
    uint64_t page_size;
};

/* Opens /proc/PID/statm. Returns 0, -SG_ENOPROC if the process is gone or
 * -SG_EPERM if it may not be read. */
int rss_open(struct rss_reader *r, pid_t pid);
/* Reads the resident set size in bytes into *bytes. Returns 0 or a negative
 * SG_E* code (-SG_ENOPROC once the process has exited, -SG_ECORRUPT for
 * unparsable text). */
int rss_read(struct rss_reader *r, uint64_t *bytes);
/* Closes the file; safe to call twice. */
void rss_close(struct rss_reader *r);

/* Parses statm text ("size resident shared ...") into the resident page
 * count. Returns 0 or -SG_ECORRUPT. Exposed for the unit tests. */
int rss_parse_statm(const char *text, uint64_t *pages);

#endif
