/*
 * maps.h - the target's memory map (/proc/PID/maps).
 */
#ifndef SPYGLASS_PROC_MAPS_H
#define SPYGLASS_PROC_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct map_entry {
    uint64_t start, end; /* [start, end) */
    uint64_t offset;     /* file offset of start */
    char perms[5];       /* "r-xp" */
    unsigned dev_major, dev_minor;
    uint64_t inode; /* the mapped file's device and inode; 0 if anonymous */
    char *path;     /* mapped file as the target names it, or "" / "[heap]" etc.;
                       a target controls it: never open it (proc/tfile.c) */
};

struct maps {
    struct map_entry *entries;
    size_t count;
    size_t cap;
};

/* Reads /proc/PID/maps. Returns 0, -SG_ENOPROC or -SG_EPERM. */
int maps_read(struct maps *m, pid_t pid);
/* Parses maps text (for tests). Returns 0 or -SG_ECORRUPT. */
int maps_parse(struct maps *m, const char *text);
void maps_release(struct maps *m);

/* Returns the lowest-addressed entry of a file whose path satisfies match(path),
 * or NULL. */
const struct map_entry *maps_find_file(const struct maps *m, int (*match)(const char *path));
/* Returns the load bias of the file mapped at path: the address its offset 0
 * is mapped at, or 0 if it is not mapped. */
uint64_t maps_file_base(const struct maps *m, const char *path);
/* Returns the entry that maps offset 0 of the file named path (the one
 * maps_file_base gives the address of), or NULL. */
const struct map_entry *maps_file_start(const struct maps *m, const char *path);
/* Returns the entry containing addr, or NULL. */
const struct map_entry *maps_lookup(const struct maps *m, uint64_t addr);

#endif
