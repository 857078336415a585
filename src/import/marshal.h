/*
 * marshal.h - a bounded reader of Python's marshal format, for pstats dumps.
 *
 * Reads the subset of marshal versions 2-4 (Python 2.7, 3.x) that a
 * cProfile/profile dump can contain: None, booleans, ints (32-bit, 2.7's
 * 64-bit and arbitrary "long" ints that fit in 64 bits), floats (binary and
 * text), byte and text strings of every kind, tuples, lists and dicts, with
 * the 3.4+ reference table (FLAG_REF / TYPE_REF) and 2.7's interned-string
 * references, and code objects (the pure-Python profile module puts one in
 * a key) of Python 2.7 and 3.6 - 3.13, keeping only their file, name and
 * first line. Sets, complex numbers and the rest are rejected.
 *
 * The input is untrusted: every length and count is checked against the bytes
 * that remain, nesting is limited, references are validated, and nothing is
 * allocated before the bytes that justify it have been read, so memory stays
 * proportional to the input size. The result is a small tree of values owned
 * by a struct marshal_doc. Values may be shared (a TYPE_REF points at an
 * earlier value), but never form a cycle.
 */
#ifndef SPYGLASS_IMPORT_MARSHAL_H
#define SPYGLASS_IMPORT_MARSHAL_H

#include <stddef.h>
#include <stdint.h>

/* Containers nest at most this deep; a pstats dump needs 4. */
#define MARSHAL_MAX_DEPTH 100

enum marshal_kind {
    MARSHAL_NONE,
    MARSHAL_BOOL,  /* i is 0 or 1 */
    MARSHAL_INT,   /* i */
    MARSHAL_FLOAT, /* f */
    MARSHAL_BYTES, /* str/len: Python 3 bytes, Python 2 str */
    MARSHAL_STR,   /* str/len: text, as UTF-8 */
    MARSHAL_TUPLE, /* items[0 .. count) */
    MARSHAL_LIST,  /* items[0 .. count) */
    MARSHAL_DICT,  /* count pairs: items[2k] is a key, items[2k + 1] its value */
    MARSHAL_CODE,  /* a code object: code_file, code_name, code_line (the rest is skipped) */
};

struct marshal_value {
    enum marshal_kind kind;
    size_t offset; /* where its type code sits in the input; 0 for None, True and
                      False, which are shared by every occurrence */
    union {
        int64_t i;
        double f;
        struct {
            const char *str; /* NUL-terminated (may also hold NULs: use len) */
            size_t len;
        };
        struct {
            struct marshal_value **items;
            size_t count;
        };
        struct {
            struct marshal_value *code_file; /* str or bytes */
            struct marshal_value *code_name; /* co_name: str or bytes */
            int64_t code_line;               /* co_firstlineno */
        };
    };
};

struct marshal_chunk;

struct marshal_doc {
    struct marshal_value *root;   /* NULL unless marshal_parse succeeded */
    size_t used;                  /* input bytes the root value took; the rest is ignored */
    char error[160];              /* why marshal_parse failed, e.g. "truncated at byte 12" */
    struct marshal_chunk *chunks; /* private: the memory every value lives in */
};

/* Parses one marshal value from data[0, len) into doc (which it
 * initialises). Returns 0, or -SG_ECORRUPT with doc->error saying what and
 * at which byte offset. Bytes after the value are ignored, as marshal.load
 * does. Call marshal_release(doc) afterwards, whatever the result. */
int marshal_parse(struct marshal_doc *doc, const uint8_t *data, size_t len);

/* Frees every value of doc; doc->root becomes NULL. Safe to call twice. */
void marshal_release(struct marshal_doc *doc);

/* "int", "tuple", ...: the Python name of a kind, for messages. */
const char *marshal_kind_name(enum marshal_kind kind);

#endif
