/*
 * value.h - reading Python objects out of another process, safely.
 *
 * Type names, dict lookups and iteration, instance attributes (including the
 * 3.11+ managed dicts and inline values), ints, a short repr of any object,
 * and the threading module's thread names. Every function bounds what it
 * reads: pointer chases are depth-limited, lengths are capped, an object's
 * type is checked by name before its memory is interpreted, and each call
 * reads at most a fixed number of bytes. A torn or garbage object gives a
 * negative SG_E* code, never a crash or an endless loop.
 */
#ifndef SPYGLASS_PYTHON_VALUE_H
#define SPYGLASS_PYTHON_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "proc/mem.h"
#include "python/layout.h"

/* Most dict entries a lookup or an iteration scans. */
#define VALUE_DICT_MAX_ENTRIES 16384
/* Most bytes one value_repr call reads from the target. */
#define VALUE_REPR_BUDGET (64 * 1024)
/* Items shown per container, and how deep containers nest in a repr. */
#define VALUE_REPR_ITEMS 5
#define VALUE_REPR_DEPTH 2

/* Writes the type name of the object at obj (its type's tp_name, e.g. "int",
 * "collections.OrderedDict") into buf. Returns 0, or a negative SG_E* code
 * (-SG_ECORRUPT if the name is empty or not text). */
int value_type_name(struct mem_reader *r, const struct py_layout *l, uint64_t obj, char *buf,
                    size_t size);

/* Looks up the str key in the dict at dict_addr (a linear scan comparing
 * string keys, at most VALUE_DICT_MAX_ENTRIES) and sets *value to the
 * object address. Returns 0, -SG_ENOTPY if the key is absent, -SG_ECORRUPT
 * if dict_addr is not a dict. */
int value_dict_get_str(struct mem_reader *r, const struct py_layout *l, uint64_t dict_addr,
                       const char *key, uint64_t *value);

/* Calls fn(key, value, ctx) for at most max items of the dict at dict_addr,
 * in the dict's order; stops early when fn returns nonzero. Returns 0 or a
 * negative SG_E* code. */
int value_dict_foreach(struct mem_reader *r, const struct py_layout *l, uint64_t dict_addr,
                       size_t max, int (*fn)(uint64_t key, uint64_t value, void *ctx), void *ctx);

/* Reads the instance attribute name of obj from its __dict__: tp_dictoffset
 * (<= 3.10, and types without a managed dict), the 3.11 values/dict
 * pointers, the 3.12 tagged dict-or-values word, or 3.13 inline values.
 * Split-table values are resolved through the type's ht_cached_keys. Sets
 * *value. Returns 0, -SG_ENOTPY if obj has no such attribute (or no
 * __dict__), or another negative SG_E* code. Class attributes, slots and
 * 2.7 old-style instances are not looked at. */
int value_getattr(struct mem_reader *r, const struct py_layout *l, uint64_t obj, const char *name,
                  uint64_t *value);

/* Sets *dict to the address of obj's instance __dict__ when it has one as a
 * dict object, else 0 (no __dict__, or 3.11+ attributes kept in values
 * beside the object). A dict's version tag then tells whether any attribute
 * changed. Returns 0 or a negative SG_E* code. */
int value_instance_dict(struct mem_reader *r, const struct py_layout *l, uint64_t obj,
                        uint64_t *dict);

/* Reads an int (also bool; 2.7 int and long) into *out. Returns 0,
 * -SG_ENOMEM if the value does not fit in int64_t, -SG_ECORRUPT if obj is not
 * an int, or another negative SG_E* code. */
int value_read_int(struct mem_reader *r, const struct py_layout *l, uint64_t obj, int64_t *out);

/* Writes a short repr of obj into buf (at most size bytes with the NUL; cut
 * with "..." when longer). Follows Python's repr for None, bool, int (exact
 * up to 100 decimal digits, else "<int of N digits>"), float (the shortest
 * string that reads back the same), str (2.7: str and unicode), bytes and
 * containers; lists, tuples, dicts, sets and frozensets show their first
 * VALUE_REPR_ITEMS items and, when cut, their length: "[1, 2, 3, 4, 5, ...]
 * (len 10)". Containers nested deeper than VALUE_REPR_DEPTH show as "[...]".
 * Other objects show as "<TypeName at 0x7f...>". Non-ASCII characters that
 * Python would escape are recognised by a fixed list of ranges, not the full
 * Unicode database. Reads at most VALUE_REPR_BUDGET bytes. Returns 0, or a
 * negative SG_E* code if not even obj's type could be read (buf then holds
 * "<unreadable>"). */
int value_repr(struct mem_reader *r, const struct py_layout *l, uint64_t obj, char *buf,
               size_t size);

/* Finds thread names in the threading module's registry: sys.modules (the
 * dict at modules_dict) -> "threading" -> its module dict -> "_active"
 * {ident: Thread} -> each Thread's "_name" (2.7: "_Thread__name"). Calls
 * fn(ident, name, ctx) for each thread found. A process that never imported
 * threading is not an error: returns 0 without calls. Returns 0 or a
 * negative SG_E* code. */
int value_thread_names(struct mem_reader *r, const struct py_layout *l, uint64_t modules_dict,
                       void (*fn)(uint64_t ident, const char *name, void *ctx), void *ctx);

#endif
