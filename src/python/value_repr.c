/*
 * value_repr.c - short, safe reprs of Python objects read from a target.
 *
 * value_repr() follows Python's repr for the built-in scalars, strings and
 * containers (value.h says exactly how far) and writes everything else as
 * "<TypeName at 0x...>". It reads through the budgeted context of value.c
 * (value_impl.h), so one repr reads at most VALUE_REPR_BUDGET bytes, and it
 * writes into a fixed buffer in whole tokens, ending a cut repr in "...".
 */
#include "python/value.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/pystr.h"
#include "python/value_impl.h"
#include "util/utf8.h"
#include "util/util.h"

/* Widest int printed in full in a repr. */
#define INT_REPR_DECIMALS 100
/* A setentry is {key, hash} (2.7: {hash, key}): two words. */
#define SETENTRY_SIZE 16

/* Writes the magnitude of b in decimal into out (size >= 10 * nread + 2);
 * returns the number of digits written. Works in base 10^9 limbs. */
static size_t bigint_decimal(const struct bigint *b, unsigned bits, char *out, size_t size)
{
    const uint32_t base = 1000000000u;
    size_t cap = b->nread + b->nread / 16 + 2, nlimbs = 0;
    uint32_t *limbs = xmalloc(cap * sizeof(*limbs));
    for (size_t i = b->nread; i-- > 0;) {
        uint64_t carry = b->digits[i];
        for (size_t j = 0; j < nlimbs; j++) {
            uint64_t t = ((uint64_t)limbs[j] << bits) + carry;
            limbs[j] = (uint32_t)(t % base);
            carry = t / base;
        }
        while (carry && nlimbs < cap) {
            limbs[nlimbs++] = (uint32_t)(carry % base);
            carry /= base;
        }
    }
    size_t len = (size_t)snprintf(out, size, "%" PRIu32, nlimbs ? limbs[nlimbs - 1] : 0);
    for (size_t j = nlimbs - (nlimbs > 0); j-- > 0 && len + 10 <= size;)
        len += (size_t)snprintf(out + len, size - len, "%09" PRIu32, limbs[j]);
    free(limbs);
    return len;
}

/* ---- repr output -------------------------------------------------------- */

/* A bounded output buffer, written in whole tokens (a character or its
 * escape, a number, a bracket): a token that does not fit is dropped and
 * the output is cut there, so a cut never splits an escape or a number. */
struct out {
    char *buf;
    size_t size; /* including the NUL */
    size_t len;
    size_t safe; /* the last token end that leaves room for "..." */
    int cut;
};

static void out_add(struct out *o, const char *s, size_t n)
{
    if (o->cut)
        return;
    if (n > o->size - 1 - o->len) {
        o->cut = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    if (o->len + 3 <= o->size - 1)
        o->safe = o->len;
}

static void out_str(struct out *o, const char *s)
{
    out_add(o, s, strlen(s));
}

static void out_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct out *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_add(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Terminates the buffer; a cut output ends in "..." after its last whole
 * token (or is empty if not even "..." fits). */
static void out_finish(struct out *o)
{
    if (o->cut) {
        o->len = o->size >= 4 ? o->safe : 0;
        if (o->size >= 4) {
            memcpy(o->buf + o->len, "...", 3);
            o->len += 3;
        }
    }
    o->buf[o->len] = '\0';
}

/* Room left, in bytes. */
static size_t out_room(const struct out *o)
{
    return o->cut ? 0 : o->size - 1 - o->len;
}

/* ---- repr of scalars ------------------------------------------------------ */

static int repr_int(struct vctx *c, struct out *o, uint64_t obj, enum value_kind kind)
{
    struct bigint *b = xmalloc(sizeof(*b));
    unsigned bits = value_bigint_bits(c->l, kind);
    int err = value_read_bigint(c, obj, kind, b);
    if (!err && kind == K_BOOL) {
        int64_t v = 0;
        err = value_bigint_to_i64(b, bits, &v);
        if (!err)
            out_str(o, v ? "True" : "False");
    } else if (!err && b->nread < b->ndigits) {
        /* Too wide to convert: a number of n bits has about 1 + (n - 1) *
         * log10(2) decimal digits (exact or one short). */
        uint64_t nbits = (uint64_t)(b->ndigits - 1) * bits;
        for (uint32_t top = b->top; top; top >>= 1)
            nbits++;
        out_fmt(o, "<int of about %.0f digits>",
                floor((double)(nbits - (nbits > 0)) * 0.30102999566398120) + 1);
    } else if (!err) {
        size_t size = 10 * b->nread + 16;
        char *dec = xmalloc(size);
        size_t len = bigint_decimal(b, bits, dec, size);
        if (len <= INT_REPR_DECIMALS)
            out_fmt(o, "%s%s%s", b->negative ? "-" : "", dec, kind == K_LONG27 ? "L" : "");
        else
            out_fmt(o, "<int of %zu digits>", len);
        free(dec);
    }
    free(b);
    return err;
}

/* Formats v the way Python's repr(float) does: the shortest digit string
 * that reads back as v, in fixed notation for exponents -4 .. 15, else in
 * scientific notation with at least two exponent digits. */
static void format_float(double v, char *out, size_t size)
{
    char tmp[40], digits[24];
    if (isnan(v) || isinf(v)) {
        snprintf(out, size, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp is "[-]d[.ddd]e[+-]xx". */
    const char *p = tmp;
    int negative = *p == '-';
    p += negative;
    size_t nd = 0;
    for (; *p && *p != 'e'; p++) {
        if (*p != '.')
            digits[nd++] = *p;
    }
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int pos = 0;
    pos += snprintf(out, size, "%s", negative ? "-" : "");
    if (exp < -4 || exp >= 16) {
        snprintf(out + pos, size - (size_t)pos, "%c%s%.*se%c%02d", digits[0], nd > 1 ? "." : "",
                 (int)nd - 1, digits + 1, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        snprintf(out + pos, size - (size_t)pos, "0.%.*s%s", -exp - 1, "0000", digits);
    } else if ((size_t)exp + 1 >= nd) {
        snprintf(out + pos, size - (size_t)pos, "%s%.*s.0", digits, exp + 1 - (int)nd,
                 "0000000000000000");
    } else {
        snprintf(out + pos, size - (size_t)pos, "%.*s.%s", exp + 1, digits, digits + exp + 1);
    }
}

static int repr_float(struct vctx *c, struct out *o, uint64_t obj)
{
    double v;
    char text[48];
    int err = mem_read(&c->r, obj + c->l->obj.float_fval, &v, sizeof(v));
    if (err)
        return err;
    format_float(v, text, sizeof(text));
    out_str(o, text);
    return 0;
}

/* ---- repr of strings -------------------------------------------------------- */

/* Code points >= 0x80 that Python's str.isprintable() rejects, as ranges:
 * controls, separators other than ' ', format characters, surrogates,
 * private use and non-characters. Unassigned code points are not listed. */
static const uint32_t unprintable[][2] = {
    {0x80, 0xa0},       {0xad, 0xad},       {0x600, 0x605},      {0x61c, 0x61c},
    {0x6dd, 0x6dd},     {0x70f, 0x70f},     {0x1680, 0x1680},    {0x180e, 0x180e},
    {0x2000, 0x200f},   {0x2028, 0x202f},   {0x205f, 0x2064},    {0x2066, 0x206f},
    {0x3000, 0x3000},   {0xd800, 0xf8ff},   {0xfdd0, 0xfdef},    {0xfeff, 0xfeff},
    {0xfff9, 0xfffb},   {0xfffe, 0xffff},   {0x110bd, 0x110bd},  {0x1d173, 0x1d17a},
    {0xe0001, 0xe0001}, {0xe0020, 0xe007f}, {0xf0000, 0x10ffff},
};

static int printable(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 0x20 && cp < 0x7f;
    if ((cp & 0xfffe) == 0xfffe)
        return 0;
    for (size_t i = 0; i < sizeof(unprintable) / sizeof(unprintable[0]); i++) {
        if (cp >= unprintable[i][0] && cp <= unprintable[i][1])
            return 0;
    }
    return 1;
}

/* Decodes one UTF-8 character at s (pystr output, so well-formed); returns
 * its length. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    size_t n = utf8_decode(s, 4, cp);
    if (n)
        return n;
    *cp = 0xFFFD;
    return 1;
}

/* Python picks " when the text has ' but no ". */
static char pick_quote(int has_single, int has_double)
{
    return has_single && !has_double ? '"' : '\'';
}

/* Writes one code point as Python's repr does inside quote; ascii_only (2.7
 * unicode and bytes) escapes everything from 0x7f up. */
static void put_escaped(struct out *o, uint32_t cp, char quote, int ascii_only)
{
    char tmp[16];
    if (cp == '\\' || cp == (uint32_t)quote) {
        tmp[0] = '\\';
        tmp[1] = (char)cp;
        out_add(o, tmp, 2);
    } else if (cp == '\t' || cp == '\n' || cp == '\r') {
        out_str(o, cp == '\t' ? "\\t" : cp == '\n' ? "\\n" : "\\r");
    } else if (cp >= 0x20 && cp < 0x7f) {
        tmp[0] = (char)cp;
        out_add(o, tmp, 1);
    } else if (!ascii_only && printable(cp)) {
        size_t n = 0;
        pystr_put_utf8(tmp, sizeof(tmp), &n, cp);
        out_add(o, tmp, n);
    } else if (cp < 0x100) {
        out_fmt(o, "\\x%02x", cp);
    } else if (cp < 0x10000) {
        out_fmt(o, "\\u%04x", cp);
    } else {
        out_fmt(o, "\\U%08x", cp);
    }
}

/* The length of a string object in characters (bytes for 2.7 str / bytes). */
static int text_length(struct vctx *c, uint64_t obj, enum value_kind kind, int64_t *length)
{
    const struct py_layout *l = c->l;
    uint32_t off = kind == K_UNICODE27           ? l->bytes.u27_length
                   : kind == K_STR && !is_py2(l) ? l->unicode.length
                                                 : l->object.ob_size;
    int err = read_i64(c, obj + off, length);
    if (!err && (*length < 0 || *length > ((int64_t)1 << 40)))
        err = -SG_ECORRUPT;
    return err;
}

/* Reprs a str (3.x) or unicode (2.7) object: decoded by pystr, then escaped. */
static int repr_text(struct vctx *c, struct out *o, uint64_t obj, enum value_kind kind)
{
    int64_t length;
    size_t room = out_room(o);
    size_t size = (room < PYSTR_MAX_CHARS ? room : PYSTR_MAX_CHARS) * 4 + 8;
    int err = text_length(c, obj, kind, &length);
    if (err)
        return err;
    unsigned char *text = xmalloc(size);
    err = pystr_read(&c->r, c->l, obj, (char *)text, size);
    if (err) {
        free(text);
        return err;
    }
    char quote = pick_quote(strchr((char *)text, '\'') != NULL, strchr((char *)text, '"') != NULL);
    int ascii_only = kind == K_UNICODE27;
    /* A 2.7 narrow build counts characters past U+FFFF as two. */
    int narrow = ascii_only && c->l->bytes.u27_unicode_size == 2;
    int64_t shown = 0;
    out_fmt(o, "%s%c", ascii_only ? "u" : "", quote);
    for (size_t i = 0; text[i] && !o->cut;) {
        uint32_t cp;
        i += utf8_next(text + i, &cp);
        shown += narrow && cp > 0xFFFF ? 2 : 1;
        put_escaped(o, cp, quote, ascii_only);
    }
    if (shown < length)
        o->cut = 1; /* the string was longer than we read */
    out_add(o, &quote, 1);
    free(text);
    return 0;
}

/* Reprs bytes (3.x, with prefix "b") or a 2.7 str (no prefix). */
static int repr_bytes(struct vctx *c, struct out *o, uint64_t obj, const char *prefix)
{
    int64_t length;
    size_t room = out_room(o);
    size_t max = room < PYSTR_MAX_CHARS ? room : PYSTR_MAX_CHARS;
    uint8_t *data;
    size_t len;
    int err = text_length(c, obj, K_BYTES, &length);
    if (!err)
        err = pystr_read_bytes(&c->r, c->l, obj, max, &data, &len);
    if (err)
        return err;
    char quote = pick_quote(memchr(data, '\'', len) != NULL, memchr(data, '"', len) != NULL);
    out_fmt(o, "%s%c", prefix, quote);
    for (size_t i = 0; i < len && !o->cut; i++)
        put_escaped(o, data[i], quote, 1);
    if ((int64_t)len < length)
        o->cut = 1;
    out_add(o, &quote, 1);
    free(data);
    return 0;
}

/* ---- repr of containers --------------------------------------------------- */

static void repr_item(struct vctx *c, struct out *o, uint64_t obj, int depth);

/* Reads a container's length field at off and checks it. */
static int read_len(struct vctx *c, uint64_t addr, int64_t *n)
{
    int err = read_i64(c, addr, n);
    if (!err && (*n < 0 || *n > ((int64_t)1 << 40)))
        err = -SG_ECORRUPT;
    return err;
}

/* Closes a container: "..." if items were left out, then the length. */
static void close_container(struct out *o, int64_t n, size_t shown, const char *close)
{
    if ((int64_t)shown < n) {
        out_str(o, shown ? ", " : "");
        out_str(o, "...");
    }
    out_str(o, close);
    if ((int64_t)shown < n)
        out_fmt(o, " (len %" PRId64 ")", n);
}

static int repr_seq(struct vctx *c, struct out *o, uint64_t obj, enum value_kind kind, int depth)
{
    const struct py_layout *l = c->l;
    int64_t n;
    uint64_t items = obj + l->obj.tuple_item, ptrs[VALUE_REPR_ITEMS];
    int err = read_len(c, obj + l->object.ob_size, &n);
    if (!err && kind == K_LIST)
        err = mem_read_u64(&c->r, obj + l->obj.list_item, &items);
    size_t show = n < VALUE_REPR_ITEMS ? (size_t)n : VALUE_REPR_ITEMS;
    if (depth > VALUE_REPR_DEPTH)
        show = 0;
    if (!err)
        err = mem_read(&c->r, items, ptrs, show * 8);
    if (err)
        return err;
    out_str(o, kind == K_LIST ? "[" : "(");
    for (size_t i = 0; i < show && !o->cut; i++) {
        if (i)
            out_str(o, ", ");
        repr_item(c, o, ptrs[i], depth + 1);
    }
    if (kind == K_TUPLE && n == 1 && show == 1)
        out_str(o, ",");
    close_container(o, n, show, kind == K_LIST ? "]" : ")");
    return 0;
}

static int repr_dict(struct vctx *c, struct out *o, uint64_t obj, int depth)
{
    int64_t n;
    struct dict_iter *it = xmalloc(sizeof(*it));
    int err = read_len(c, obj + c->l->dict.ma_used, &n);
    if (!err && depth <= VALUE_REPR_DEPTH)
        err = value_dict_open(c, obj, 1, it);
    if (err) {
        free(it);
        return err;
    }
    size_t shown = 0;
    uint64_t k, v;
    out_str(o, "{");
    while (depth <= VALUE_REPR_DEPTH && shown < VALUE_REPR_ITEMS && !o->cut &&
           value_dict_next(c, it, &k, &v) == 1) {
        out_str(o, shown++ ? ", " : "");
        repr_item(c, o, k, depth + 1);
        out_str(o, ": ");
        repr_item(c, o, v, depth + 1);
    }
    close_container(o, n, shown, "}");
    free(it);
    return 0;
}

/* Returns 1 if the set entry {key, hash} is a deleted slot. 3.x marks those
 * with hash -1; 2.7 points them at a str "<dummy key>". */
static int set_dummy(struct vctx *c, uint64_t key, int64_t hash)
{
    if (!is_py2(c->l))
        return hash == -1;
    return value_key_equals(c, key, "<dummy key>");
}

/* Collects up to VALUE_REPR_ITEMS live keys of the set at obj. */
static int set_keys(struct vctx *c, uint64_t obj, uint64_t *keys, size_t *nkeys)
{
    const struct py_layout *l = c->l;
    uint64_t table, mask;
    uint8_t chunk[CHUNK * SETENTRY_SIZE];
    size_t key_off = l->obj.set_entry_key, hash_off = key_off ? 0 : 8;
    *nkeys = 0;
    int err = mem_read_u64(&c->r, obj + l->obj.set_table, &table);
    if (!err)
        err = mem_read_u64(&c->r, obj + l->obj.set_mask, &mask);
    if (err)
        return err;
    if (mask >= ((uint64_t)1 << 30) || ((mask + 1) & mask))
        return -SG_ECORRUPT;
    size_t slots = mask + 1 < VALUE_DICT_MAX_ENTRIES ? (size_t)mask + 1 : VALUE_DICT_MAX_ENTRIES;
    for (size_t first = 0; first < slots && *nkeys < VALUE_REPR_ITEMS; first += CHUNK) {
        size_t n = slots - first < CHUNK ? slots - first : CHUNK;
        err = mem_read(&c->r, table + first * SETENTRY_SIZE, chunk, n * SETENTRY_SIZE);
        if (err)
            return err;
        for (size_t i = 0; i < n && *nkeys < VALUE_REPR_ITEMS; i++) {
            uint64_t key;
            int64_t hash;
            memcpy(&key, chunk + i * SETENTRY_SIZE + key_off, 8);
            memcpy(&hash, chunk + i * SETENTRY_SIZE + hash_off, 8);
            if (key && !set_dummy(c, key, hash))
                keys[(*nkeys)++] = key;
        }
    }
    return 0;
}

/* 3.x: {1, 2}, set(), frozenset({1}), frozenset(); 2.7: set([1, 2]), set([]). */
static int repr_set(struct vctx *c, struct out *o, uint64_t obj, enum value_kind kind, int depth)
{
    int64_t n;
    uint64_t keys[VALUE_REPR_ITEMS];
    size_t nkeys = 0;
    int err = read_len(c, obj + c->l->obj.set_used, &n);
    if (!err && depth <= VALUE_REPR_DEPTH)
        err = set_keys(c, obj, keys, &nkeys);
    if (err)
        return err;
    int py2 = is_py2(c->l), named = py2 || kind == K_FROZENSET || n == 0;
    if (named)
        out_str(o, kind == K_FROZENSET ? "frozenset(" : "set(");
    if (n == 0 && !py2) {
        out_str(o, ")");
        return 0;
    }
    out_str(o, py2 ? "[" : "{");
    for (size_t i = 0; i < nkeys && !o->cut; i++) {
        out_str(o, i ? ", " : "");
        repr_item(c, o, keys[i], depth + 1);
    }
    char close[3] = {py2 ? ']' : '}', named ? ')' : '\0', '\0'};
    close_container(o, n, nkeys, close);
    return 0;
}

/* 2.7 old-style instance: "<ClassName instance at 0x...>" (Python adds the
 * module). */
static int repr_instance27(struct vctx *c, struct out *o, uint64_t obj)
{
    uint64_t cls, name_obj;
    char name[64];
    int err = mem_read_u64(&c->r, obj + c->l->obj.inst27_class, &cls);
    if (!err && !value_is_kind(c, cls, K_CLASS27))
        err = -SG_ECORRUPT;
    if (!err)
        err = mem_read_u64(&c->r, cls + c->l->obj.class27_name, &name_obj);
    if (!err && !value_is_kind(c, name_obj, K_STR))
        err = -SG_ECORRUPT;
    if (!err)
        err = pystr_read(&c->r, c->l, name_obj, name, sizeof(name));
    if (!err && !value_name_valid(name))
        err = -SG_ECORRUPT;
    if (!err)
        out_fmt(o, "<%s instance at 0x%" PRIx64 ">", name, obj);
    return err;
}

/* Writes the repr of obj. Returns a negative code, with nothing written, if
 * the object could not be read as what its type says. */
static int repr_typed(struct vctx *c, struct out *o, uint64_t obj, const struct type_info *t,
                      int depth)
{
    switch (t->kind) {
    case K_NONE:
        out_str(o, "None");
        return 0;
    case K_BOOL:
    case K_INT:
    case K_LONG27:
        return repr_int(c, o, obj, t->kind);
    case K_FLOAT:
        return repr_float(c, o, obj);
    case K_STR:
        return is_py2(c->l) ? repr_bytes(c, o, obj, "") : repr_text(c, o, obj, K_STR);
    case K_UNICODE27:
        return repr_text(c, o, obj, K_UNICODE27);
    case K_BYTES:
        return repr_bytes(c, o, obj, "b");
    case K_LIST:
    case K_TUPLE:
        return repr_seq(c, o, obj, t->kind, depth);
    case K_DICT:
        return repr_dict(c, o, obj, depth);
    case K_SET:
    case K_FROZENSET:
        return repr_set(c, o, obj, t->kind, depth);
    case K_INSTANCE27:
        return repr_instance27(c, o, obj);
    case K_CLASS27:
    case K_OTHER:
        break;
    }
    return -SG_ENOTPY;
}

/* Writes the repr of obj, falling back to "<TypeName at 0x...>" when its
 * contents cannot be read, and "<unreadable>" when not even its type can. */
static void repr_item(struct vctx *c, struct out *o, uint64_t obj, int depth)
{
    const struct type_info *t;
    if (c->exhausted) {
        o->cut = 1;
        return;
    }
    if (value_classify(c, obj, &t)) {
        out_str(o, c->exhausted ? "" : "<unreadable>");
        o->cut |= c->exhausted;
        return;
    }
    struct out saved = *o;
    if (repr_typed(c, o, obj, t, depth) == 0)
        return;
    *o = saved; /* drop anything half written */
    out_fmt(o, "<%s at 0x%" PRIx64 ">", t->name, obj);
}

int value_repr(struct mem_reader *r, const struct py_layout *l, uint64_t obj, char *buf,
               size_t size)
{
    if (size == 0)
        return -SG_ENOMEM;
    struct vctx *c = xmalloc(sizeof(*c));
    struct out o = {.buf = buf, .size = size};
    const struct type_info *t;
    value_ctx_init(c, r, l, VALUE_REPR_BUDGET);
    int err = value_classify(c, obj, &t);
    if (err)
        out_str(&o, "<unreadable>");
    else
        repr_item(c, &o, obj, 0);
    out_finish(&o);
    free(c);
    return err;
}
