/*
 * detect.h - finding the Python runtime inside a process.
 *
 * detect_runtime looks at the target's mappings for libpython or a Python
 * executable, reads its ELF symbols (_PyRuntime on 3.7+, interp_head on 2.7
 * and 3.6), works out the exact version, and picks the layout. When symbols
 * are missing (a stripped binary) it scans the binary's writable data for an
 * interpreter state that validates.
 */
#ifndef SPYGLASS_PYTHON_DETECT_H
#define SPYGLASS_PYTHON_DETECT_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc/mem.h"
#include "python/layout.h"

/* Where a runtime's layout came from (python/debug_offsets.h). */
enum py_layout_source {
    PY_LAYOUT_TABLE = 0,   /* our table alone: before 3.13, or SPYGLASS_LAYOUT=table */
    PY_LAYOUT_CHECKED = 1, /* the table, checked and corrected by _Py_DebugOffsets */
    PY_LAYOUT_OFFSETS = 2, /* _Py_DebugOffsets for every field it has, the table for the rest */
};

struct py_runtime {
    pid_t pid;
    int major, minor, micro;
    char version[32];             /* "3.11.7", "3.14.7t" */
    struct py_layout layout;      /* a copy: 3.13+ corrects it from _Py_DebugOffsets */
    char binary[PATH_MAX];        /* the file holding the runtime (as the target sees it) */
    uint64_t runtime_addr;        /* &_PyRuntime (3.7+), else 0 */
    uint64_t interp_head_addr;    /* &interp_head (2.7, 3.6), else 0 */
    uint64_t tstate_current_addr; /* &_PyThreadState_Current (2.7, 3.6), else 0 */
    uint64_t code_type;           /* &PyCode_Type, 0 if unknown */
    uint64_t frame_type;          /* &PyFrame_Type, 0 if unknown */
    int found_by_scan;            /* 1 if symbols were missing and we scanned */
    int free_threaded;            /* a --disable-gil build (3.13t+) */
    enum py_layout_source layout_source;
    int offsets_used;     /* fields taken from _Py_DebugOffsets */
    int debug_mismatches; /* fields where _Py_DebugOffsets disagreed with our table */
    int newer;            /* newer than every table we have: tried through the offsets */
    char note[256];       /* a warning the user should read ("" if none) */
};

/* Finds the runtime of process pid. On failure returns a negative SG_E*
 * code and writes a one-line explanation into why (e.g. "process 12 (bash)
 * is not running Python"). */
int detect_runtime(pid_t pid, struct mem_reader *r, struct py_runtime *rt, char *why,
                   size_t why_size);

struct maps;
struct elf_file;
/* Finds the runtime in one file a process maps, already open as ef (as the
 * process maps it), named path in its maps, with its offset 0 mapped at base;
 * rt->pid set by the caller, every other field written here. Used by
 * detect_runtime for libpython and the executable, and by fuzz/fuzz_elf.c.
 * Returns 0, -SG_ENOTPY (no runtime there), -SG_EVERSION (with why). */
int detect_in_file(struct py_runtime *rt, struct mem_reader *r, const struct maps *m,
                   const char *path, uint64_t base, struct elf_file *ef, char *why,
                   size_t why_size);

/* Reads the address of the first (main) interpreter state. */
int detect_interp_head(const struct py_runtime *rt, struct mem_reader *r, uint64_t *interp);

/* Parses a version from a file name such as "libpython3.7m.so.1.0" or
 * "python3.11". Returns 0 and sets major/minor, or -1. (Exposed for tests.) */
int detect_version_from_name(const char *path, int *major, int *minor);

#endif
