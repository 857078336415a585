/*
 * spool.h - a bounded folder of files waiting to be sent (or kept).
 *
 * Every window the agent makes goes into a spool first, as one file: the
 * sender takes the oldest, sends it and deletes it; while the server is
 * away they pile up on disk, not in memory. The folder is bounded in files
 * and bytes: a new file that would go past the bound makes room by
 * deleting the oldest, and every file dropped is counted. Files are
 * written to a temporary name and renamed, so a file in the spool is
 * always whole, and a spool left by an agent that was stopped is picked up
 * by the next one. `--dir` without a server is a spool nobody drains: the
 * bound is its rotation.
 *
 * Names sort by age: "<unix ns, 20 digits>-<sequence>-<tag>.<ext>".
 * Thread-safe: the sampler adds while the sender takes. The files and bytes
 * held are counted as they come and go, so an add lists the folder only
 * when it goes past the bound; it then deletes the oldest down to 90% of
 * it, so a full spool (an outage longer than the bound) is listed once per
 * tenth of its bound, not at every window.
 */
#ifndef SPYGLASS_AGENT_SPOOL_H
#define SPYGLASS_AGENT_SPOOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct spool {
    char *dir;
    char *ext; /* ".pb.gz", ".push", ".otlp" */
    size_t max_files;
    uint64_t max_bytes;
    pthread_mutex_t lock;
    uint64_t seq;
    uint64_t added;   /* files added */
    uint64_t dropped; /* files deleted to stay within the bound */
    uint64_t removed; /* files taken out (sent, or refused for good) */
    size_t files;     /* held now */
    uint64_t bytes;
};

/* Opens (creating it if needed, like mkdir -p) the folder dir for files
 * ending in ext. Returns 0, or -1 with a sentence in why. */
int spool_open(struct spool *s, const char *dir, const char *ext, size_t max_files,
               uint64_t max_bytes, char *why, size_t why_size);
void spool_close(struct spool *s);

/* Adds a file holding data, named after unix_ns and tag (a short name:
 * "app-4242"), then deletes the oldest files past the bound. Returns 0, or
 * -1 with a sentence in why (disk full, folder gone). */
int spool_add(struct spool *s, uint64_t unix_ns, const char *tag, const void *data, size_t len,
              char *why, size_t why_size);

/* The oldest file: its path (the caller frees) and contents (the caller
 * frees), or NULL when the spool is empty. */
char *spool_oldest(struct spool *s, void **data, size_t *len);

/* Deletes a file spool_oldest gave (gone already: fine). */
void spool_remove(struct spool *s, const char *path);

/* Files and bytes in the spool now. */
size_t spool_count(struct spool *s, uint64_t *bytes);

#endif
