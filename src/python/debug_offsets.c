/*
 * debug_offsets.c - a 3.13+ target's _Py_DebugOffsets, read into its layout.
 *
 * The struct sits at the start of _PyRuntime: cookie, version and the
 * free-threaded flag at fixed places in every version, then groups of
 * uint64_t offsets whose positions change with each minor version (one map
 * per version in layouts.c, compiled from that version's headers). A value
 * is taken only if it is plausible: within its struct's size (which the
 * same table gives) and small enough to be an offset; the walker's own
 * checks (code objects' types, chains that end) catch what is left.
 */
#include "python/debug_offsets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int debug_offsets_parse_mode(const char *text, enum debug_offsets_mode *mode)
{
    if (!text || !text[0] || strcmp(text, "auto") == 0)
        *mode = DEBUG_OFFSETS_AUTO;
    else if (strcmp(text, "table") == 0)
        *mode = DEBUG_OFFSETS_TABLE;
    else if (strcmp(text, "offsets") == 0)
        *mode = DEBUG_OFFSETS_ONLY;
    else
        return -1;
    return 0;
}

static uint64_t word(const uint8_t *buf, uint32_t off)
{
    uint64_t v;
    memcpy(&v, buf + off, sizeof(v));
    return v;
}

/* What entry e of a target's copy buf gives for our field. Returns 0 and
 * sets *out; 1 if the build has no such field (a 0 that means absent); -1 if
 * the value is nonsense (past its struct's end, or no offset at all). */
static int entry_value(const uint8_t *buf, const struct py_debug_offset *e, uint32_t *out)
{
    uint64_t value = word(buf, e->debug_offset), base = 0;
    if (e->zero_absent && value == 0)
        return 1;
    if (e->debug_base != PY_NO_FIELD)
        base = word(buf, e->debug_base);
    if (e->group_size != PY_NO_FIELD && value > word(buf, e->group_size))
        return -1;
    if (value < base || value - base > UINT32_MAX / 2)
        return -1;
    *out = (uint32_t)(value - base);
    return 0;
}

/* Reads map->size bytes of the target's _Py_DebugOffsets into a new buffer
 * (the caller frees it) and checks cookie and version. Returns 0, or -1 if
 * they are not there (a 3.13 pre-release, an unreadable runtime). */
static int read_copy(const struct py_runtime *rt, struct mem_reader *r,
                     const struct py_debug_offsets_map *map, uint8_t **out)
{
    uint8_t *buf = xmalloc(map->size);
    int ok = mem_read(r, rt->runtime_addr, buf, map->size) == 0 &&
             memcmp(buf + map->cookie_offset, map->cookie, 8) == 0;
    uint64_t hex = ok ? word(buf, map->version_offset) : 0;
    if (!ok || (int)((hex >> 24) & 0xff) != rt->major || (int)((hex >> 16) & 0xff) != rt->minor) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

/* Switches rt to the table entry of its build (the "t" entry for a
 * free-threaded one; the newest table's for a version newer than them all). */
static int pick_build(struct py_runtime *rt, int free_threaded, char *why, size_t why_size)
{
    const struct py_layout *l = rt->newer ? layout_newest(free_threaded)
                                          : layout_find_build(rt->major, rt->minor, free_threaded);
    if (!l) {
        snprintf(why, why_size,
                 "process %d runs a free-threaded Python %s, which spyglass has no table for",
                 (int)rt->pid, rt->version);
        return -SG_EVERSION;
    }
    rt->layout = *l;
    rt->free_threaded = free_threaded;
    size_t n = strlen(rt->version);
    if (free_threaded && n + 1 < sizeof(rt->version) && rt->version[n - 1] != 't')
        memcpy(rt->version + n, "t", 2);
    return 0;
}

/* Takes every value of the map from the copy. With only set, the fields the
 * map covers are erased first, so nothing of them comes from the table.
 * Returns how many values were nonsense (left as they were, or erased). */
static int take_values(struct py_runtime *rt, const struct py_debug_offsets_map *map,
                       const uint8_t *buf, int only)
{
    int rejected = 0;
    for (size_t i = 0; only && i < map->count; i++)
        *layout_field(&rt->layout, map->entries[i].layout_field) = PY_NO_FIELD;
    for (size_t i = 0; i < map->count; i++) {
        const struct py_debug_offset *e = &map->entries[i];
        uint32_t value;
        int got = entry_value(buf, e, &value);
        rejected += got < 0;
        if (got != 0)
            continue;
        uint32_t *field = layout_field(&rt->layout, e->layout_field);
        if (!only && *field != value)
            rt->debug_mismatches++;
        *field = value;
        rt->offsets_used++;
    }
    return rejected;
}

int debug_offsets_apply(struct py_runtime *rt, struct mem_reader *r, enum debug_offsets_mode mode,
                        char *why, size_t why_size)
{
    int has_offsets = rt->major == 3 && rt->minor >= 13 && rt->runtime_addr;
    if (!has_offsets) {
        if (mode != DEBUG_OFFSETS_ONLY)
            return 0;
        snprintf(why, why_size,
                 "SPYGLASS_LAYOUT=offsets, but Python %s has no _Py_DebugOffsets (3.13 and "
                 "later have)",
                 rt->version);
        return -SG_EVERSION;
    }
    const struct py_debug_offsets_map *map = layout_debug_offsets(rt->major, rt->minor);
    if (!map)
        map = layout_debug_offsets_newest();
    int only = mode == DEBUG_OFFSETS_ONLY || rt->newer;
    uint8_t *buf;
    if (read_copy(rt, r, map, &buf)) {
        if (!only)
            return 0; /* a 3.13 pre-release without them: the table it is */
        snprintf(why, why_size,
                 "cannot read the _Py_DebugOffsets of process %d (Python %s), which spyglass "
                 "needs %s",
                 (int)rt->pid, rt->version,
                 rt->newer ? "for a version newer than it knows" : "with SPYGLASS_LAYOUT=offsets");
        return -SG_ECORRUPT;
    }
    int err = pick_build(rt, word(buf, map->free_threaded_offset) != 0, why, why_size);
    if (err || (mode == DEBUG_OFFSETS_TABLE && !rt->newer)) {
        free(buf);
        return err;
    }
    int rejected = take_values(rt, map, buf, only);
    free(buf);
    rt->layout_source = only ? PY_LAYOUT_OFFSETS : PY_LAYOUT_CHECKED;
    if (only && rejected) {
        snprintf(why, why_size,
                 "the _Py_DebugOffsets of process %d (Python %s) do not have the shape of "
                 "%d.%d's: %d of its offsets are out of range",
                 (int)rt->pid, rt->version, map->major, map->minor, rejected);
        return -SG_EVERSION;
    }
    return 0;
}

const char *debug_offsets_source_name(enum py_layout_source source)
{
    switch (source) {
    case PY_LAYOUT_CHECKED:
        return "checked";
    case PY_LAYOUT_OFFSETS:
        return "offsets";
    default:
        return "table";
    }
}

void debug_offsets_describe(const struct py_runtime *rt, char *buf, size_t size)
{
    const struct py_layout *l = &rt->layout;
    int n;
    if (rt->layout_source == PY_LAYOUT_OFFSETS)
        n = snprintf(buf, size,
                     "the process's _Py_DebugOffsets (%d fields), the %s table for the rest",
                     rt->offsets_used, l->name);
    else if (rt->layout_source == PY_LAYOUT_CHECKED)
        n = snprintf(buf, size,
                     "the %s table, checked against the process's _Py_DebugOffsets (%d fields, %d "
                     "corrected)",
                     l->name, rt->offsets_used, rt->debug_mismatches);
    else
        n = snprintf(buf, size, "the %s table", l->name);
    if (n < 0 || (size_t)n >= size)
        return;
    if (rt->newer)
        snprintf(buf + n, size - (size_t)n,
                 "; Python %d.%d is newer than spyglass knows: never run here", rt->major,
                 rt->minor);
    else if (l->tested[0])
        snprintf(buf + n, size - (size_t)n, "; tested here on %s", l->tested);
    else
        snprintf(buf + n, size - (size_t)n, "; never run here: from headers and offsets only");
}
