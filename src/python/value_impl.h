/*
 * value_impl.h - what value.c and value_repr.c share; not for other modules.
 *
 * One public value_* call is one struct vctx: a reader with a byte budget
 * wrapped around the caller's, the layout, and the types seen so far. The
 * helpers here read through c->r, so they stay inside that budget.
 */
#ifndef SPYGLASS_PYTHON_VALUE_IMPL_H
#define SPYGLASS_PYTHON_VALUE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "proc/mem.h"
#include "python/layout.h"

/* Widest int (in CPython digits) converted exactly: about 3,160 decimals. */
#define INT_MAX_DIGITS 350
/* Entries (or set slots) read from the target per read call. */
#define CHUNK 64

/* What a static (built-in) type is taken for; user classes are K_OTHER. */
enum value_kind {
    K_OTHER,
    K_NONE,
    K_BOOL,
    K_INT,    /* 3.x int (PyLongObject); 2.7 int (PyIntObject) */
    K_LONG27, /* 2.7 long */
    K_FLOAT,
    K_STR,       /* 3.x str; 2.7 str (bytes) */
    K_UNICODE27, /* 2.7 unicode */
    K_BYTES,     /* 3.x bytes */
    K_LIST,
    K_TUPLE,
    K_DICT,
    K_SET,
    K_FROZENSET,
    K_INSTANCE27, /* 2.7 old-style instance */
    K_CLASS27,    /* 2.7 old-style class */
};

/* A type seen during one call: its name and what we take it for. */
struct type_info {
    uint64_t addr;
    enum value_kind kind;
    char name[64];
};

#define TYPE_CACHE 16

/* The state of one public call. */
struct vctx {
    struct mem_reader r; /* budgeted: every read goes through here */
    struct mem_reader *target;
    const struct py_layout *l;
    size_t budget;
    int exhausted;
    struct type_info types[TYPE_CACHE];
    size_t ntypes;
};

/* Walks a dict's entries (or a split dict's insertion order), reading CHUNK
 * entries at a time. */
struct dict_iter {
    uint64_t entries;  /* address of entry 0 */
    size_t nentries;   /* entries in the table (capped) */
    size_t entry_size; /* 24 ({hash, key, value}) or 16 ({key, value}) */
    size_t key_off;
    uint64_t values;    /* split dict: address of values[0]; else 0 */
    int ordered;        /* visit order[] instead of 0 .. nentries */
    uint8_t order[256]; /* split 3.11+: entry index per insertion position */
    size_t norder;
    size_t pos;          /* next position to visit */
    size_t first, count; /* entries held in chunk[] (and vchunk[]) */
    uint64_t chunk[CHUNK * 3];
    uint64_t vchunk[CHUNK];
};

/* An int as read: sign and magnitude in CPython digits (least significant
 * first). ndigits is the true count; only the first INT_MAX_DIGITS are read. */
struct bigint {
    int negative;
    size_t ndigits;
    size_t nread;
    uint32_t top; /* the most significant digit, also when not all were read */
    uint32_t digits[INT_MAX_DIGITS];
};

static inline int is_py2(const struct py_layout *l)
{
    return l->string_kind == PY_STR_27;
}

static inline int read_i64(struct vctx *c, uint64_t addr, int64_t *out)
{
    return mem_read(&c->r, addr, out, sizeof(*out));
}

/* Prepares c for one call that may read at most budget bytes of target. */
void value_ctx_init(struct vctx *c, struct mem_reader *target, const struct py_layout *l,
                    size_t budget);

/* Returns 1 if s is non-empty, printable UTF-8 (a plausible type name). */
int value_name_valid(const char *s);

/* Finds (or reads and caches in c) what the type at type, or the type of the
 * object at obj, is. Returns 0 and sets *out, or a negative SG_E* code. */
int value_classify_type(struct vctx *c, uint64_t type, const struct type_info **out);
int value_classify(struct vctx *c, uint64_t obj, const struct type_info **out);

/* Returns 1 if the object at obj is of the built-in kind. */
int value_is_kind(struct vctx *c, uint64_t obj, enum value_kind kind);

/* Returns 1 if the object at key is a str (2.7: str or unicode) equal to the
 * UTF-8 text want. */
int value_key_equals(struct vctx *c, uint64_t key, const char *want);

/* Prepares to walk the dict object at dict (-SG_ECORRUPT if it is not one);
 * want_order follows a 3.11+ split dict's insertion order. */
int value_dict_open(struct vctx *c, uint64_t dict, int want_order, struct dict_iter *it);

/* Sets the next live item; returns 1, 0 at the end, or a negative code. */
int value_dict_next(struct vctx *c, struct dict_iter *it, uint64_t *key, uint64_t *value);

/* Reads any int-like object (3.x int and bool, 2.7 int, long and bool) of
 * the given kind into b. Returns 0 or a negative SG_E* code. */
int value_read_bigint(struct vctx *c, uint64_t obj, enum value_kind kind, struct bigint *b);

/* Converts b to int64 if it fits (-SG_ENOMEM if not); bits is the digit
 * width from value_bigint_bits. */
int value_bigint_to_i64(const struct bigint *b, unsigned bits, int64_t *out);

/* The digit width of a bigint read from an object of this kind. */
unsigned value_bigint_bits(const struct py_layout *l, enum value_kind kind);

#endif
