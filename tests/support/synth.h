/*
 * synth.h - a synthetic process image, built from a layout, as a capture.
 *
 * For versions no interpreter here can prove (3.15t), and to test what a
 * real capture cannot show on demand (a patch release that moved a field, a
 * version newer than the tables), the unit tests build the memory of a
 * Python process themselves: every offset from a struct py_layout, every
 * value the walker meets (thread states, frames in data-stack chunks, code
 * objects with 3.11+ location tables, PEP 393 strings of each kind, the GIL,
 * threading._active with its Thread objects, _Py_DebugOffsets) where that
 * layout puts it. The result is a capture file (capture.h), walked like a
 * captured real process.
 *
 * The process (SYNTH_PID) has three threads, newest first in the list:
 *   線程-2      函数 <- bootstrap                          idle
 *   wörker      Work.fünf <- (entry frame) <- Work.run <- bootstrap, with a
 *               frame being set up on top (not yet started: not a frame)
 *   MainThread  spin <- main <- <module>                  running, GIL holder
 * Each chain ends in an interpreter frame (owner iframe.owner_c), as 3.15's
 * base frame does. Frames alternate tagged and plain f_executable (3.14+).
 * On a free-threaded layout the two other threads run thread-local copies
 * of the bytecode (tlbc_index 2 and 1), and the GIL is off unless asked.
 */
#ifndef SPYGLASS_TESTS_SYNTH_H
#define SPYGLASS_TESTS_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "python/layout.h"

#define SYNTH_PID 2000
#define SYNTH_THREADS 3
#define SYNTH_MAX_FRAMES 4

struct synth_frame {
    const char *qualname;
    const char *filename;
    int line;
};

/* What a walk of the image must give, per thread (oldest thread last, as
 * the list runs; frames leaf first). */
struct synth_thread {
    const char *name;
    int tid;
    int running; /* on CPU, attached, holds the GIL (if there is one) */
    size_t depth;
    struct synth_frame frames[SYNTH_MAX_FRAMES];
};

extern const struct synth_thread synth_threads[SYNTH_THREADS];

struct synth_options {
    const struct py_layout *layout; /* where everything goes */
    /* _Py_DebugOffsets to write at the start of _PyRuntime (NULL: none), and
     * the version it and Py_Version say (0: the layout's). */
    const struct py_debug_offsets_map *map;
    int major, minor;
    int gil_enabled; /* free-threaded layouts: PYTHON_GIL=1 */
    /* Overwrites the size of each _Py_DebugOffsets group with this (0: a size
     * that holds every field), to make the offsets look like nonsense. */
    uint64_t group_size;
};

/* Builds the image and returns it as capture file bytes (free() them), of
 * *size bytes. The capture's header names the table of the layout's version
 * and build, with no patches: an image laid out by an edited layout carries
 * the difference in its _Py_DebugOffsets only. */
uint8_t *synth_capture(const struct synth_options *o, size_t *size);

#endif
