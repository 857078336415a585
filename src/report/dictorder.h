/*
 * dictorder.h - the order in which Python 2.7 iterates a pstats dump's dict.
 *
 * Python 3 dicts keep insertion order, so a dump loaded there lists its
 * functions in file order. Python 2.7's dict iterates by hash slot: its
 * pstats lists an unsorted report in that order, and every sort keeps it
 * among ties, so `report --limit` showed other rows than 2.7's pstats for a
 * 2.7 dump. This reproduces CPython 2.7's dict for the keys marshal.load
 * inserts, in file order: the string, int and tuple hashes (64-bit long,
 * hash randomization off, as by default), the probe sequence with its
 * 5-bit perturbation, and the growth to four times the entries whenever the
 * table is two thirds full, re-inserting in slot order.
 */
#ifndef SPYGLASS_REPORT_DICTORDER_H
#define SPYGLASS_REPORT_DICTORDER_H

#include <stddef.h>

#include "import/pstats.h"

/* Fills order[0 .. st->count) with function indexes in the order Python
 * 2.7 iterates the dump's dict. Returns 0, or -1 when that order cannot be
 * known (a code-object key: its hash is that of its bytecode and
 * constants), leaving order in file order. */
int dictorder_py27(const struct pstats *st, size_t *order);

#endif
