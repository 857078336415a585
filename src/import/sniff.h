/*
 * sniff.h - which kind of saved profile a file holds, told from its content.
 *
 * `report` reads files whatever their names say: a pstats dump, collapsed
 * stacks or spyglass's own format. The readers themselves are in pstats.c,
 * collapsed.c and spyglass.c.
 */
#ifndef SPYGLASS_IMPORT_SNIFF_H
#define SPYGLASS_IMPORT_SNIFF_H

#include <stddef.h>
#include <stdint.h>

/* What a saved profile is, judged from its content (never its name). */
enum sniff_kind {
    SNIFF_UNKNOWN = 0,
    SNIFF_PSTATS,    /* a marshalled dict: a pstats dump */
    SNIFF_COLLAPSED, /* text lines "frame;frame;frame count" */
    SNIFF_SPYGLASS,  /* spyglass's own format: "spyglass-profile 1" first */
};

/* Looks at the first bytes of a file. A pstats dump starts with a marshal
 * dict ('{', or '{' | FLAG_REF) whose first key is a tuple (or which is
 * empty); a collapsed file is text whose first non-blank, non-comment line
 * ends in a space and a count. */
enum sniff_kind sniff_format(const uint8_t *data, size_t len);

#endif
