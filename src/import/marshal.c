/*
 * marshal.c - a bounded reader of Python's marshal format (versions 2-4).
 *
 * One recursive descent over the input, one function per family of type
 * codes. The format (CPython's Python/marshal.c is the reference for the
 * facts): a type byte, whose 0x80 bit (FLAG_REF, 3.4+) asks the reader to
 * remember the value in a reference table, then a payload; all integers are
 * little-endian. Containers take their reference slot before their items are
 * read, everything else after, so TYPE_REF indices follow the order in which
 * flagged values begin. Python 2.7 instead remembers every interned string
 * ('t') in a separate list that TYPE_STRINGREF ('R') indexes.
 *
 * Safety: counts and lengths are compared with the bytes that remain before
 * anything is allocated, items of open containers collect on one shared
 * stack (so a container claiming a million items costs nothing until they
 * are actually read), nesting stops at MARSHAL_MAX_DEPTH, and a reference to
 * a container that is still being read (which would make a cycle) is
 * rejected. All values live in chunks owned by the document.
 */
#include "import/marshal.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/util.h"

#define FLAG_REF 0x80
#define CHUNK_SIZE 65536
#define SIZE32_MAX 0x7FFFFFFF

/* Bump-allocated memory for values, strings and item arrays. */
struct marshal_chunk {
    struct marshal_chunk *next;
    size_t used;
    size_t size;
    _Alignas(max_align_t) unsigned char data[];
};

struct reader {
    struct marshal_doc *doc;
    const uint8_t *data;
    size_t len;
    size_t pos;
    unsigned depth;
    int code_layout; /* index in code_layouts once a code object has been read, else -1 */
    struct marshal_value **refs; /* FLAG_REF table; NULL slots do not occur */
    size_t ref_count, ref_cap;
    struct marshal_value **interned; /* 2.7: every 't' string, for 'R' */
    size_t interned_count, interned_cap;
    struct marshal_value **stack; /* items of the containers being read */
    size_t stack_len, stack_cap;
    struct marshal_value *none, *false_, *true_; /* shared singletons */
    struct marshal_value building; /* marks a reserved slot of an unfinished container */
};

/* Records the first error; always returns -SG_ECORRUPT. */
static int fail(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct reader *r, const char *fmt, ...)
{
    if (!r->doc->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->doc->error, sizeof(r->doc->error), fmt, ap);
        va_end(ap);
    }
    return -SG_ECORRUPT;
}

/* ---- memory ---- */

/* Returns size bytes (aligned for any type) that live until the document is
 * released. */
static void *doc_alloc(struct marshal_doc *doc, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    struct marshal_chunk *c = doc->chunks;
    if (!c || c->size - c->used < size) {
        size_t data_size = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        c = xmalloc(sizeof(*c) + data_size);
        c->used = 0;
        c->size = data_size;
        c->next = doc->chunks;
        doc->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

static struct marshal_value *new_value(struct reader *r, enum marshal_kind kind, size_t offset)
{
    struct marshal_value *v = doc_alloc(r->doc, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->kind = kind;
    v->offset = offset;
    return v;
}

/* ---- bytes ---- */

/* Checks that n more bytes are there; what names the payload for the message. */
static int need(struct reader *r, size_t n, const char *what)
{
    if (r->len - r->pos < n)
        return fail(r, "truncated at byte %zu (%s needs %zu bytes, %zu left)", r->pos, what, n,
                    r->len - r->pos);
    return 0;
}

static int read_u8(struct reader *r, const char *what, uint8_t *out)
{
    int err = need(r, 1, what);
    if (err)
        return err;
    *out = r->data[r->pos++];
    return 0;
}

static int read_i32(struct reader *r, const char *what, int32_t *out)
{
    int err = need(r, 4, what);
    if (err)
        return err;
    const uint8_t *p = r->data + r->pos;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    *out = (int32_t)u; /* two's complement, as marshal writes it */
    r->pos += 4;
    return 0;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | p[i];
    return u;
}

/* Reads a 4-byte count or length that must be 0 .. SIZE32_MAX and, since
 * each item or byte takes at least min_bytes, fit in what is left. */
static int read_count(struct reader *r, const char *what, size_t min_bytes, size_t *out)
{
    size_t at = r->pos;
    int32_t n;
    int err = read_i32(r, what, &n);
    if (err)
        return err;
    if (n < 0)
        return fail(r, "negative %s %d at byte %zu", what, (int)n, at);
    if ((size_t)n > (r->len - r->pos) / min_bytes)
        return fail(r, "truncated at byte %zu (%s %d exceeds the %zu bytes left)", at, what, (int)n,
                    r->len - r->pos);
    *out = (size_t)n;
    return 0;
}

/* ---- the reference tables ---- */

static size_t ref_reserve(struct reader *r, struct marshal_value *v)
{
    r->refs = xgrow(r->refs, sizeof(*r->refs), r->ref_count + 1, &r->ref_cap);
    r->refs[r->ref_count] = v;
    return r->ref_count++;
}

static int read_ref(struct reader *r, size_t at, struct marshal_value **out)
{
    int32_t index;
    int err = read_i32(r, "reference", &index);
    if (err)
        return err;
    if (index < 0 || (size_t)index >= r->ref_count)
        return fail(r, "bad reference %d at byte %zu (%zu values remembered)", (int)index, at,
                    r->ref_count);
    if (r->refs[index] == &r->building)
        return fail(r, "reference %d at byte %zu to a container still being read", (int)index, at);
    *out = r->refs[index];
    return 0;
}

static int read_stringref(struct reader *r, size_t at, struct marshal_value **out)
{
    int32_t index;
    int err = read_i32(r, "string reference", &index);
    if (err)
        return err;
    if (index < 0 || (size_t)index >= r->interned_count)
        return fail(r, "bad string reference %d at byte %zu (%zu strings interned)", (int)index, at,
                    r->interned_count);
    *out = r->interned[index];
    return 0;
}

/* ---- scalars ---- */

/* TYPE_LONG: a signed count of 15-bit digits, least significant first. Only
 * values that fit in int64_t are accepted. */
static int read_long(struct reader *r, size_t at, int64_t *out)
{
    int32_t n;
    int err = read_i32(r, "long size", &n);
    if (err)
        return err;
    if (n < -SIZE32_MAX || n > SIZE32_MAX)
        return fail(r, "bad long size at byte %zu", at);
    size_t digits = (size_t)(n < 0 ? -(int64_t)n : n);
    if (digits > (r->len - r->pos) / 2)
        return fail(r, "truncated at byte %zu (long of %zu digits)", r->pos, digits);
    uint64_t mag = 0;
    for (size_t i = 0; i < digits; i++) {
        const uint8_t *p = r->data + r->pos + 2 * i;
        uint64_t d = (uint64_t)p[0] | (uint64_t)p[1] << 8;
        if (d > 0x7FFF)
            return fail(r, "long digit out of range at byte %zu", r->pos + 2 * i);
        if (d == 0 && i == digits - 1)
            return fail(r, "unnormalised long at byte %zu", at);
        unsigned shift = 15 * (unsigned)i;
        if (d && (shift >= 64 || d > (UINT64_MAX >> shift)))
            return fail(r, "integer at byte %zu does not fit in 64 bits", at);
        if (d) /* a zero digit may sit past bit 64: shifting it would be undefined */
            mag |= d << shift;
    }
    r->pos += 2 * digits;
    if (n >= 0 && mag > (uint64_t)INT64_MAX)
        return fail(r, "integer at byte %zu does not fit in 64 bits", at);
    if (n < 0 && mag > (uint64_t)INT64_MAX + 1)
        return fail(r, "integer at byte %zu does not fit in 64 bits", at);
    /* -mag computed in unsigned arithmetic, then converted: well defined for
     * mag == 2^63 too, since the conversion is implementation-defined (two's
     * complement on every compiler we build with), not undefined. */
    *out = n < 0 ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

/* TYPE_FLOAT: a 1-byte length and the repr() text, parsed in the C locale so
 * that a caller's setlocale() cannot change the decimal point. */
static int read_text_float(struct reader *r, size_t at, double *out)
{
    uint8_t n = 0;
    char buf[257];
    int err = read_u8(r, "float length", &n);
    if (!err)
        err = need(r, n, "float text");
    if (err)
        return err;
    memcpy(buf, r->data + r->pos, n);
    buf[n] = '\0';
    r->pos += n;
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale)
        return fail(r, "cannot parse the float at byte %zu (no C locale)", at);
    char *end;
    *out = strtod_l(buf, &end, c_locale);
    freelocale(c_locale);
    if (n == 0 || end != buf + n)
        return fail(r, "bad float text at byte %zu", at);
    return 0;
}

/* ---- strings ---- */

/* Copies n bytes of ASCII-kind text (which CPython reads as Latin-1) into
 * the document as UTF-8. */
static void latin1_to_utf8(struct reader *r, struct marshal_value *v, const uint8_t *s, size_t n)
{
    size_t wide = 0;
    for (size_t i = 0; i < n; i++)
        wide += s[i] >= 0x80;
    char *out = doc_alloc(r->doc, n + wide + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            out[o++] = (char)s[i];
        } else {
            out[o++] = (char)(0xC0 | s[i] >> 6);
            out[o++] = (char)(0x80 | (s[i] & 0x3F));
        }
    }
    out[o] = '\0';
    v->str = out;
    v->len = o;
}

/* Reads the payload of a string type code: a 4-byte length (1 byte for the
 * short ASCII kinds) and the bytes. */
static int read_string(struct reader *r, uint8_t code, size_t at, struct marshal_value **out)
{
    size_t n = 0;
    int err;
    if (code == 'z' || code == 'Z') {
        uint8_t n8 = 0;
        err = read_u8(r, "string length", &n8);
        n = n8;
        if (!err)
            err = need(r, n, "string");
    } else {
        err = read_count(r, "string length", 1, &n);
    }
    if (err)
        return err;
    int ascii = code == 'a' || code == 'A' || code == 'z' || code == 'Z';
    struct marshal_value *v = new_value(r, code == 's' ? MARSHAL_BYTES : MARSHAL_STR, at);
    const uint8_t *s = r->data + r->pos;
    if (ascii) {
        latin1_to_utf8(r, v, s, n);
    } else {
        char *copy = doc_alloc(r->doc, n + 1);
        memcpy(copy, s, n);
        copy[n] = '\0';
        v->str = copy;
        v->len = n;
    }
    r->pos += n;
    if (code == 't') {
        r->interned =
            xgrow(r->interned, sizeof(*r->interned), r->interned_count + 1, &r->interned_cap);
        r->interned[r->interned_count++] = v;
    }
    *out = v;
    return 0;
}

/* ---- containers ---- */

static int read_value(struct reader *r, struct marshal_value **out);

/* Moves the items pushed since base from the stack into v. */
static void take_items(struct reader *r, struct marshal_value *v, size_t base)
{
    size_t n = r->stack_len - base;
    v->items = doc_alloc(r->doc, n * sizeof(*v->items));
    if (n)
        memcpy(v->items, r->stack + base, n * sizeof(*v->items));
    r->stack_len = base;
}

static void push(struct reader *r, struct marshal_value *item)
{
    r->stack = xgrow(r->stack, sizeof(*r->stack), r->stack_len + 1, &r->stack_cap);
    r->stack[r->stack_len++] = item;
}

/* Reads count items (none may be the NULL marker) of a tuple or list. */
static int read_items(struct reader *r, struct marshal_value *v, size_t count)
{
    size_t base = r->stack_len;
    for (size_t i = 0; i < count; i++) {
        struct marshal_value *item;
        size_t at = r->pos;
        int err = read_value(r, &item);
        if (err)
            return err;
        if (!item)
            return fail(r, "NULL item in a %s at byte %zu", marshal_kind_name(v->kind), at);
        push(r, item);
    }
    take_items(r, v, base);
    v->count = count;
    return 0;
}

/* Reads key/value pairs up to the NULL marker ('0') that ends a dict. As in
 * CPython, a NULL in place of a value ends the dict too. */
static int read_pairs(struct reader *r, struct marshal_value *v)
{
    size_t base = r->stack_len;
    for (;;) {
        struct marshal_value *key, *value;
        int err = read_value(r, &key);
        if (!err && key)
            err = read_value(r, &value);
        if (err)
            return err;
        if (!key || !value)
            break;
        push(r, key);
        push(r, value);
    }
    v->count = (r->stack_len - base) / 2;
    take_items(r, v, base);
    return 0;
}

/* Reads a tuple, list or dict; its reference slot (if flagged) is taken
 * before the items, marked as unfinished until they are read. */
static int read_container(struct reader *r, uint8_t code, int flag, size_t at,
                          struct marshal_value **out)
{
    enum marshal_kind kind = code == '['   ? MARSHAL_LIST
                             : code == '{' ? MARSHAL_DICT
                                           : MARSHAL_TUPLE;
    size_t count = 0, slot = 0;
    int err = 0;
    if (code == ')') {
        uint8_t n8 = 0;
        err = read_u8(r, "tuple size", &n8);
        count = n8;
        if (!err && count > r->len - r->pos)
            err = fail(r, "truncated at byte %zu (tuple of %zu items, %zu bytes left)", at + 1,
                       count, r->len - r->pos);
    } else if (code != '{') {
        err = read_count(r, kind == MARSHAL_LIST ? "list size" : "tuple size", 1, &count);
    }
    if (err)
        return err;
    if (r->depth >= MARSHAL_MAX_DEPTH)
        return fail(r, "containers nested deeper than %d at byte %zu", MARSHAL_MAX_DEPTH, at);
    struct marshal_value *v = new_value(r, kind, at);
    if (flag)
        slot = ref_reserve(r, &r->building);
    r->depth++;
    err = kind == MARSHAL_DICT ? read_pairs(r, v) : read_items(r, v, count);
    r->depth--;
    if (err)
        return err;
    if (flag)
        r->refs[slot] = v;
    *out = v;
    return 0;
}

/* ---- code objects ---- */

/* The fields of a marshalled code object differ by Python version, and
 * nothing in the data names the version: a run of 32-bit ints, objects,
 * the first line number (a bare 32-bit int), more objects. In objects, each
 * letter is an expected kind: B bytes, T tuple, S a str or bytes name, '|'
 * where the line number sits. */
static const struct code_layout {
    const char *python;
    int ints;
    const char *objects;
    int file_index, name_index; /* among the S objects: 0 = the first S */
} code_layouts[] = {
    /* argcount, posonlyargcount, kwonlyargcount, stacksize, flags; code,
     * consts, names, localsplusnames, localspluskinds, filename, name,
     * qualname | linetable, exceptiontable */
    {"3.11-3.13", 5, "BTTTBSSS|BB", 0, 1},
    /* argcount, posonlyargcount, kwonlyargcount, nlocals, stacksize, flags;
     * code, consts, names, varnames, freevars, cellvars, filename, name |
     * lnotab (3.10: linetable) */
    {"3.8-3.10", 6, "BTTTTTSS|B", 0, 1},
    /* as 3.8 without posonlyargcount */
    {"3.6-3.7", 5, "BTTTTTSS|B", 0, 1},
    /* argcount, nlocals, stacksize, flags; then as 3.6 */
    {"2.7", 4, "BTTTTTSS|B", 0, 1},
};
#define CODE_LAYOUT_COUNT (sizeof(code_layouts) / sizeof(code_layouts[0]))

/* Python 2.7 may write a bytes field as an interned string ('t'): its empty
 * lnotab is one. So B takes either string kind; the layouts still differ in
 * their int counts and where a tuple must sit. */
static int kind_fits(const struct marshal_value *v, char want)
{
    if (want == 'B')
        return v->kind == MARSHAL_BYTES || v->kind == MARSHAL_STR;
    if (want == 'T')
        return v->kind == MARSHAL_TUPLE;
    return v->kind == MARSHAL_STR || v->kind == MARSHAL_BYTES;
}

/* Reads the fields of a code object laid out as in layout into v. */
static int read_code_fields(struct reader *r, const struct code_layout *layout,
                            struct marshal_value *v)
{
    int32_t n;
    int strings = 0, err;
    for (int i = 0; i < layout->ints; i++) {
        if ((err = read_i32(r, "code field", &n)) != 0)
            return err;
        if (n < 0)
            return fail(r, "negative code field at byte %zu", r->pos - 4);
    }
    for (const char *want = layout->objects; *want; want++) {
        struct marshal_value *field;
        size_t at = r->pos;
        if (*want == '|') {
            if ((err = read_i32(r, "first line", &n)) != 0)
                return err;
            v->code_line = n;
            continue;
        }
        if ((err = read_value(r, &field)) != 0)
            return err;
        if (!field || !kind_fits(field, *want))
            return fail(r, "unexpected %s in a code object at byte %zu",
                        field ? marshal_kind_name(field->kind) : "NULL", at);
        if (*want == 'S' && strings == layout->file_index)
            v->code_file = field;
        if (*want == 'S' && strings++ == layout->name_index)
            v->code_name = field;
    }
    return 0;
}

/* Reads a code object. The first one in a document is tried against each
 * layout (3.x ones first when it carries FLAG_REF, which 2.7 never sets);
 * the one that fits is then used for every other code object, nested ones
 * included, so the work stays linear in the input. */
static int read_code(struct reader *r, int flag, size_t at, struct marshal_value **out)
{
    if (r->depth >= MARSHAL_MAX_DEPTH)
        return fail(r, "containers nested deeper than %d at byte %zu", MARSHAL_MAX_DEPTH, at);
    struct marshal_value *v = new_value(r, MARSHAL_CODE, at);
    size_t slot = flag ? ref_reserve(r, &r->building) : 0;
    int err = 0;
    r->depth++;
    if (r->code_layout >= 0) {
        err = read_code_fields(r, &code_layouts[r->code_layout], v);
    } else {
        static const int order_3x[] = {0, 1, 2, 3}, order_27[] = {3, 0, 1, 2};
        const int *order = flag ? order_3x : order_27;
        size_t pos = r->pos, refs = r->ref_count, interned = r->interned_count;
        size_t stack_len = r->stack_len, furthest = 0;
        char furthest_error[sizeof(r->doc->error)] = "";
        err = -SG_ECORRUPT;
        for (size_t i = 0; i < CODE_LAYOUT_COUNT && err; i++) {
            r->code_layout = order[i];
            r->doc->error[0] = '\0';
            r->pos = pos;
            r->ref_count = refs;
            r->interned_count = interned;
            r->stack_len = stack_len;
            err = read_code_fields(r, &code_layouts[order[i]], v);
            if (err && r->pos >= furthest) {
                furthest = r->pos;
                memcpy(furthest_error, r->doc->error, sizeof(furthest_error));
            }
        }
        if (err) {
            /* A layout that read up to the end of a cut file names the cut;
             * anything else is a code object of no version we know. */
            r->code_layout = -1;
            r->doc->error[0] = '\0';
            if (strncmp(furthest_error, "truncated", 9) == 0)
                err = fail(r, "%s", furthest_error);
            else
                err = fail(r, "code object at byte %zu fits no known layout (Python 2.7, 3.6-3.13)",
                           at);
        }
    }
    r->depth--;
    if (err)
        return err;
    if (flag)
        r->refs[slot] = v;
    *out = v;
    return 0;
}

/* ---- values ---- */

/* Reads a scalar (int or float) type code's payload into a new value. */
static int read_number(struct reader *r, uint8_t code, size_t at, struct marshal_value **out)
{
    struct marshal_value *v =
        new_value(r, code == 'f' || code == 'g' ? MARSHAL_FLOAT : MARSHAL_INT, at);
    int err = 0;
    if (code == 'i') {
        int32_t i32 = 0;
        err = read_i32(r, "int", &i32);
        v->i = i32;
    } else if (code == 'I') {
        err = need(r, 8, "64-bit int");
        if (!err) {
            v->i = (int64_t)le64(r->data + r->pos);
            r->pos += 8;
        }
    } else if (code == 'l') {
        err = read_long(r, at, &v->i);
    } else if (code == 'g') {
        err = need(r, 8, "binary float");
        if (!err) {
            uint64_t bits = le64(r->data + r->pos);
            memcpy(&v->f, &bits, sizeof(v->f));
            r->pos += 8;
        }
    } else {
        err = read_text_float(r, at, &v->f);
    }
    if (err)
        return err;
    *out = v;
    return 0;
}

/* Reads one value; sets *out to NULL for the NULL marker '0' (which ends a
 * dict and is an error anywhere else). */
static int read_value(struct reader *r, struct marshal_value **out)
{
    size_t at = r->pos;
    uint8_t byte;
    int err = read_u8(r, "type code", &byte);
    if (err)
        return err;
    uint8_t code = byte & ~FLAG_REF;
    int flag = (byte & FLAG_REF) != 0;
    *out = NULL;
    switch (code) {
    case '0':
        return 0;
    case 'N':
        *out = r->none;
        return 0; /* singletons never take a reference slot */
    case 'F':
        *out = r->false_;
        return 0;
    case 'T':
        *out = r->true_;
        return 0;
    case 'r':
        return read_ref(r, at, out);
    case 'R':
        return read_stringref(r, at, out);
    case '(':
    case ')':
    case '[':
    case '{':
        return read_container(r, code, flag, at, out);
    case 'c':
        return read_code(r, flag, at, out);
    case 'i':
    case 'I':
    case 'l':
    case 'g':
    case 'f':
        err = read_number(r, code, at, out);
        break;
    case 's':
    case 't':
    case 'u':
    case 'a':
    case 'A':
    case 'z':
    case 'Z':
        err = read_string(r, code, at, out);
        break;
    default:
        return fail(r, "unknown marshal type 0x%02x at byte %zu", byte, at);
    }
    if (!err && flag)
        ref_reserve(r, *out);
    return err;
}

/* ---- the document ---- */

static struct marshal_value *singleton(struct reader *r, enum marshal_kind kind, int64_t i)
{
    struct marshal_value *v = new_value(r, kind, 0);
    v->i = i;
    return v;
}

int marshal_parse(struct marshal_doc *doc, const uint8_t *data, size_t len)
{
    memset(doc, 0, sizeof(*doc));
    struct reader r = {.doc = doc, .data = data, .len = len, .code_layout = -1};
    r.none = singleton(&r, MARSHAL_NONE, 0);
    r.false_ = singleton(&r, MARSHAL_BOOL, 0);
    r.true_ = singleton(&r, MARSHAL_BOOL, 1);
    struct marshal_value *root = NULL;
    int err = read_value(&r, &root);
    if (!err && !root)
        err = fail(&r, "NULL object at byte 0");
    free(r.refs);
    free(r.interned);
    free(r.stack);
    if (err) {
        marshal_release(doc);
        return err;
    }
    doc->root = root;
    doc->used = r.pos;
    return 0;
}

void marshal_release(struct marshal_doc *doc)
{
    struct marshal_chunk *c = doc->chunks;
    while (c) {
        struct marshal_chunk *next = c->next;
        free(c);
        c = next;
    }
    doc->chunks = NULL;
    doc->root = NULL;
}

const char *marshal_kind_name(enum marshal_kind kind)
{
    switch (kind) {
    case MARSHAL_NONE:
        return "None";
    case MARSHAL_BOOL:
        return "bool";
    case MARSHAL_INT:
        return "int";
    case MARSHAL_FLOAT:
        return "float";
    case MARSHAL_BYTES:
        return "bytes";
    case MARSHAL_STR:
        return "str";
    case MARSHAL_TUPLE:
        return "tuple";
    case MARSHAL_LIST:
        return "list";
    case MARSHAL_DICT:
        return "dict";
    case MARSHAL_CODE:
        return "code";
    }
    return "?";
}
