/*
 * value.c - reading Python objects out of another process, safely.
 *
 * Everything here reads through a "budgeted" reader wrapped around the
 * caller's: each public call gets a fixed number of bytes it may read, so no
 * object, however torn or hostile, can make one call read without end. On top
 * of that every length is capped, every pointer chase has a fixed depth, and
 * an object's type is checked by its tp_name (and that it is a static,
 * built-in type) before its memory is interpreted as an int, a str, a dict.
 *
 * Dicts come in three shapes (enum py_dict_kind): 2.7 keeps an open hash
 * table of {hash, key, value} entries; 3.6 - 3.10 keep a PyDictKeysObject
 * with an index table followed by {hash, key, value} entries; 3.11+ size the
 * index table by dk_log2_index_bytes and keep unicode-only keys as {key,
 * value}. A split dict keeps its values apart (ma_values), indexed like the
 * entries; 3.11+ also records the insertion order of a split dict in a byte
 * array next to the values. Lookups scan entries in order and compare string
 * keys: no hashing, so nothing depends on the target's hash seed.
 */
#include "python/value.h"

#include <stdlib.h>
#include <string.h>

#include "python/pystr.h"
#include "python/value_impl.h"
#include "util/util.h"

/* CPython's tp_flags bits (Include/object.h), the same in every version that
 * has them. */
#define TPFLAGS_INLINE_VALUES (1UL << 2) /* 3.13 */
#define TPFLAGS_MANAGED_DICT (1UL << 4)  /* 3.11+ */
#define TPFLAGS_HEAPTYPE (1UL << 9)

/* Bytes one lookup (or the thread-name walk) may read. */
#define LOOKUP_BUDGET ((size_t)4 << 20)
#define THREADS_BUDGET ((size_t)16 << 20)
/* Most threads value_thread_names reports. */
#define MAX_THREADS 4096

static const struct {
    const char *name;
    enum value_kind kind;
} builtin_kinds[] = {
    {"NoneType", K_NONE},       {"bool", K_BOOL},           {"int", K_INT},
    {"long", K_LONG27},         {"float", K_FLOAT},         {"str", K_STR},
    {"unicode", K_UNICODE27},   {"bytes", K_BYTES},         {"list", K_LIST},
    {"tuple", K_TUPLE},         {"dict", K_DICT},           {"set", K_SET},
    {"frozenset", K_FROZENSET}, {"instance", K_INSTANCE27}, {"classobj", K_CLASS27},
};

static int budget_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct vctx *c = ctx;
    if (size > c->budget) {
        c->exhausted = 1;
        return -SG_ENOMEM;
    }
    c->budget -= size;
    return mem_read(c->target, addr, buf, size);
}

void value_ctx_init(struct vctx *c, struct mem_reader *target, const struct py_layout *l,
                    size_t budget)
{
    memset(c, 0, sizeof(*c));
    c->r.read = budget_read;
    c->r.ctx = c;
    c->target = target;
    c->l = l;
    c->budget = budget;
}

/* ---- type names ------------------------------------------------------- */

/* Returns 1 if s is non-empty, printable UTF-8. */
int value_name_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!*p)
        return 0;
    while (*p) {
        unsigned char ch = *p;
        size_t extra = ch < 0x80             ? 0
                       : (ch & 0xE0) == 0xC0 ? 1
                       : (ch & 0xF0) == 0xE0 ? 2
                       : (ch & 0xF8) == 0xF0 ? 3
                                             : 9;
        if ((ch < 0x20 || ch == 0x7f) || extra == 9 || (ch >= 0xC0 && ch < 0xC2))
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[k] & 0xC0) != 0x80)
                return 0;
        }
        p += extra + 1;
    }
    return 1;
}

/* Reads the tp_name of the type object at type into buf. */
static int read_type_name(struct mem_reader *r, const struct py_layout *l, uint64_t type, char *buf,
                          size_t size)
{
    uint64_t name_ptr;
    if (size == 0)
        return -SG_ENOMEM;
    buf[0] = '\0';
    if (!type)
        return -SG_ECORRUPT;
    int err = mem_read_u64(r, type + l->object.tp_name, &name_ptr);
    if (!err)
        err = mem_read_cstr(r, name_ptr, buf, size);
    if (!err && !value_name_valid(buf))
        err = -SG_ECORRUPT;
    if (err)
        buf[0] = '\0';
    return err;
}

int value_type_name(struct mem_reader *r, const struct py_layout *l, uint64_t obj, char *buf,
                    size_t size)
{
    uint64_t type;
    if (size == 0)
        return -SG_ENOMEM;
    buf[0] = '\0';
    if (!obj)
        return -SG_ECORRUPT;
    int err = mem_read_u64(r, obj + l->object.ob_type, &type);
    return err ? err : read_type_name(r, l, type, buf, size);
}

/* Finds (or reads and caches) what the type at addr is. Built-in kinds are
 * only recognised on static types, so a user class named "dict" stays
 * K_OTHER. */
int value_classify_type(struct vctx *c, uint64_t type, const struct type_info **out)
{
    for (size_t i = 0; i < c->ntypes; i++) {
        if (c->types[i].addr == type) {
            *out = &c->types[i];
            return 0;
        }
    }
    struct type_info t = {.addr = type, .kind = K_OTHER};
    uint64_t flags;
    int err = read_type_name(&c->r, c->l, type, t.name, sizeof(t.name));
    if (!err)
        err = mem_read_u64(&c->r, type + c->l->object.tp_flags, &flags);
    if (err)
        return err;
    for (size_t i = 0;
         !(flags & TPFLAGS_HEAPTYPE) && i < sizeof(builtin_kinds) / sizeof(builtin_kinds[0]); i++) {
        if (strcmp(t.name, builtin_kinds[i].name) == 0)
            t.kind = builtin_kinds[i].kind;
    }
    if ((t.kind == K_LONG27 || t.kind == K_UNICODE27 || t.kind == K_INSTANCE27 ||
         t.kind == K_CLASS27) &&
        !is_py2(c->l))
        t.kind = K_OTHER;
    if (t.kind == K_BYTES && is_py2(c->l))
        t.kind = K_OTHER;
    size_t slot = c->ntypes < TYPE_CACHE ? c->ntypes++ : type % TYPE_CACHE;
    c->types[slot] = t;
    *out = &c->types[slot];
    return 0;
}

int value_classify(struct vctx *c, uint64_t obj, const struct type_info **out)
{
    uint64_t type;
    if (!obj)
        return -SG_ECORRUPT;
    int err = mem_read_u64(&c->r, obj + c->l->object.ob_type, &type);
    return err ? err : value_classify_type(c, type, out);
}

int value_is_kind(struct vctx *c, uint64_t obj, enum value_kind kind)
{
    const struct type_info *t;
    return value_classify(c, obj, &t) == 0 && t->kind == kind;
}

/* ---- comparing str keys ------------------------------------------------ */

/* Slow but general: decodes the string and compares. */
static int key_equals_decoded(struct vctx *c, uint64_t key, const char *want, size_t want_len)
{
    /* Room for want plus one more character of any width, so a longer key
     * never truncates to exactly want. */
    char small[128];
    char *buf = want_len + 8 <= sizeof(small) ? small : xmalloc(want_len + 8);
    int equal = pystr_read(&c->r, c->l, key, buf, want_len + 8) == 0 && strcmp(buf, want) == 0;
    if (buf != small)
        free(buf);
    return equal;
}

/* 3.x: a compact ASCII str object holds its bytes right after the header,
 * so one read of header plus want_len bytes decides most comparisons. */
static int key_equals_str3(struct vctx *c, uint64_t key, const char *want, size_t want_len,
                           int want_ascii)
{
    const struct py_layout *l = c->l;
    uint8_t buf[320];
    size_t head = l->unicode.ascii_size;
    if (!want_ascii || head < l->unicode.state + 4 || head + want_len > sizeof(buf))
        return key_equals_decoded(c, key, want, want_len);
    if (mem_read(&c->r, key, buf, head + want_len))
        return key_equals_decoded(c, key, want, want_len);
    uint64_t type;
    int64_t length;
    uint32_t state;
    const struct type_info *t;
    memcpy(&type, buf + l->object.ob_type, 8);
    memcpy(&length, buf + l->unicode.length, 8);
    memcpy(&state, buf + l->unicode.state, 4);
    if (value_classify_type(c, type, &t) || t->kind != K_STR)
        return 0;
    unsigned kind = layout_str_kind(l, state), compact = layout_str_compact(l, state),
             ascii = layout_str_ascii(l, state);
    if (!compact)
        return key_equals_decoded(c, key, want, want_len);
    return kind == 1 && ascii && length == (int64_t)want_len &&
           memcmp(buf + head, want, want_len) == 0;
}

/* 2.7: a str keeps its bytes inline after ob_size; unicode keys decode. */
static int key_equals_str27(struct vctx *c, uint64_t key, const char *want, size_t want_len)
{
    const struct type_info *t;
    if (value_classify(c, key, &t))
        return 0;
    if (t->kind == K_UNICODE27)
        return key_equals_decoded(c, key, want, want_len);
    if (t->kind != K_STR)
        return 0;
    int64_t size;
    char buf[256];
    if (want_len > sizeof(buf) || read_i64(c, key + c->l->object.ob_size, &size) ||
        size != (int64_t)want_len)
        return 0;
    return mem_read(&c->r, key + c->l->bytes.ob_sval, buf, want_len) == 0 &&
           memcmp(buf, want, want_len) == 0;
}

/* Returns 1 if the object at key is a str equal to want (UTF-8). */
int value_key_equals(struct vctx *c, uint64_t key, const char *want)
{
    size_t want_len = strlen(want);
    int want_ascii = 1;
    for (size_t i = 0; i < want_len; i++)
        want_ascii &= (unsigned char)want[i] < 0x80;
    if (!key)
        return 0;
    if (is_py2(c->l))
        return key_equals_str27(c, key, want, want_len);
    return key_equals_str3(c, key, want, want_len, want_ascii);
}

/* ---- dicts ------------------------------------------------------------- */

/* The width of one dk_indices slot for a 3.6 - 3.10 table of size entries. */
static size_t index_width(uint64_t size)
{
    return size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffu ? 4 : 8;
}

/* Reads the insertion order of a 3.11+ split dict's values at vp (the
 * PyDictValues pointer). Leaves it->ordered 0 if the layout does not say
 * where the order lives. */
static int read_split_order(struct vctx *c, uint64_t vp, struct dict_iter *it)
{
    const struct py_layout *l = c->l;
    uint8_t capacity, size;
    if (l->dict.values_capacity == 0 && l->dict.values_size == 0)
        return 0;
    int err = mem_read_u8(&c->r, vp + (int64_t)l->dict.values_capacity, &capacity);
    if (!err)
        err = mem_read_u8(&c->r, vp + (int64_t)l->dict.values_size, &size);
    if (err)
        return err;
    if (size > capacity)
        return -SG_ECORRUPT;
    uint8_t raw[256];
    if (l->dict.values_size < 0) {
        /* 3.11, 3.12: order[i] sits at size_byte - 1 - i, growing downwards. */
        err = mem_read(&c->r, vp + (int64_t)l->dict.values_size - size, raw, size);
        for (size_t i = 0; !err && i < size; i++)
            it->order[i] = raw[size - 1 - i];
    } else {
        /* 3.13: the order array follows values[capacity]. */
        err = mem_read(&c->r, it->values + (uint64_t)capacity * 8, it->order, size);
    }
    if (err)
        return err;
    for (size_t i = 0; i < size; i++) {
        if (it->order[i] >= it->nentries)
            return -SG_ECORRUPT;
    }
    it->norder = size;
    it->ordered = 1;
    return 0;
}

/* Reads a 3.6 - 3.10 PyDictKeysObject header into it. */
static int open_keys36(struct vctx *c, const uint8_t *head, uint64_t keys, struct dict_iter *it)
{
    const struct py_layout *l = c->l;
    int64_t size, nentries;
    memcpy(&size, head + l->dict.dk_size, 8);
    memcpy(&nentries, head + l->dict.dk_nentries, 8);
    if (size < 1 || size > ((int64_t)1 << 30) || (size & (size - 1)) || nentries < 0 ||
        nentries > size)
        return -SG_ECORRUPT;
    it->entries = keys + l->dict.dk_indices + (uint64_t)size * index_width((uint64_t)size);
    it->nentries = (size_t)nentries;
    it->entry_size = 24;
    it->key_off = 8;
    return 0;
}

/* Reads a 3.11+ PyDictKeysObject header into it. */
static int open_keys311(struct vctx *c, const uint8_t *head, uint64_t keys, struct dict_iter *it)
{
    const struct py_layout *l = c->l;
    uint8_t log2_size = head[l->dict.dk_size], log2_index_bytes = head[l->dict.dk_log2_index_bytes];
    uint8_t kind = head[l->dict.dk_kind];
    int64_t nentries;
    memcpy(&nentries, head + l->dict.dk_nentries, 8);
    if (log2_size > 30 || log2_index_bytes < log2_size || log2_index_bytes > log2_size + 3 ||
        kind > 2 || nentries < 0 || nentries > ((int64_t)1 << log2_size))
        return -SG_ECORRUPT;
    it->entries = keys + l->dict.dk_indices + ((uint64_t)1 << log2_index_bytes);
    it->nentries = (size_t)nentries;
    it->entry_size = kind == 0 ? 24 : 16; /* DICT_KEYS_GENERAL has the hash */
    it->key_off = kind == 0 ? 8 : 0;
    return 0;
}

/* Prepares to walk the PyDictKeysObject at keys, with the split values at vp
 * (a PyDictValues pointer, or PyObject ** before 3.11) if vp is non-zero. */
static int open_keys(struct vctx *c, uint64_t keys, uint64_t vp, int want_order,
                     struct dict_iter *it)
{
    const struct py_layout *l = c->l;
    uint8_t head[128];
    memset(it, 0, sizeof(*it));
    if (!keys || l->dict.dk_indices > sizeof(head))
        return -SG_ECORRUPT;
    int err = mem_read(&c->r, keys, head, l->dict.dk_indices);
    if (!err)
        err = l->dict_kind == PY_DICT_311 ? open_keys311(c, head, keys, it)
                                          : open_keys36(c, head, keys, it);
    if (err)
        return err;
    if (it->nentries > VALUE_DICT_MAX_ENTRIES)
        it->nentries = VALUE_DICT_MAX_ENTRIES;
    if (vp) {
        it->values = vp + l->dict.values_prefix;
        if (want_order && l->dict_kind == PY_DICT_311)
            err = read_split_order(c, vp, it);
    }
    return err;
}

/* Prepares to walk the dict object at dict. */
int value_dict_open(struct vctx *c, uint64_t dict, int want_order, struct dict_iter *it)
{
    const struct py_layout *l = c->l;
    uint64_t keys, values;
    if (!value_is_kind(c, dict, K_DICT))
        return -SG_ECORRUPT;
    int err = mem_read_u64(&c->r, dict + l->dict.ma_keys, &keys);
    if (!err)
        err = mem_read_u64(&c->r, dict + l->dict.ma_values, &values);
    if (err)
        return err;
    if (l->dict_kind != PY_DICT_27)
        return open_keys(c, keys, values, want_order, it);
    /* 2.7: ma_keys is ma_table, ma_values is ma_mask. */
    memset(it, 0, sizeof(*it));
    if (values >= ((uint64_t)1 << 30) || ((values + 1) & values))
        return -SG_ECORRUPT;
    it->entries = keys;
    it->nentries = values + 1 < VALUE_DICT_MAX_ENTRIES ? values + 1 : VALUE_DICT_MAX_ENTRIES;
    it->entry_size = 24;
    it->key_off = 8;
    return 0;
}

/* Makes entry index ix available in it->chunk. */
static int load_chunk(struct vctx *c, struct dict_iter *it, size_t ix)
{
    if (ix >= it->first && ix < it->first + it->count)
        return 0;
    size_t n = it->nentries - ix < CHUNK ? it->nentries - ix : CHUNK;
    it->first = ix;
    it->count = 0;
    int err = mem_read(&c->r, it->entries + ix * it->entry_size, it->chunk, n * it->entry_size);
    if (!err && it->values)
        err = mem_read(&c->r, it->values + ix * 8, it->vchunk, n * 8);
    if (!err)
        it->count = n;
    return err;
}

/* Sets the next live item; returns 1, 0 at the end, or a negative code. */
int value_dict_next(struct vctx *c, struct dict_iter *it, uint64_t *key, uint64_t *value)
{
    size_t end = it->ordered ? it->norder : it->nentries;
    while (it->pos < end) {
        size_t ix = it->ordered ? it->order[it->pos] : it->pos;
        it->pos++;
        int err = load_chunk(c, it, ix);
        if (err)
            return err;
        const uint8_t *e = (const uint8_t *)it->chunk + (ix - it->first) * it->entry_size;
        memcpy(key, e + it->key_off, 8);
        if (it->values)
            *value = it->vchunk[ix - it->first];
        else
            memcpy(value, e + it->key_off + 8, 8);
        if (*key && *value)
            return 1;
    }
    return 0;
}

/* Scans the entries of it for the str key want. */
static int iter_find(struct vctx *c, struct dict_iter *it, const char *want, uint64_t *value)
{
    uint64_t k, v;
    int more;
    while ((more = value_dict_next(c, it, &k, &v)) == 1) {
        if (value_key_equals(c, k, want)) {
            *value = v;
            return 0;
        }
    }
    return more < 0 ? more : -SG_ENOTPY;
}

static int dict_get(struct vctx *c, uint64_t dict, const char *key, uint64_t *value)
{
    struct dict_iter *it = xmalloc(sizeof(*it));
    int err = value_dict_open(c, dict, 0, it);
    if (!err)
        err = iter_find(c, it, key, value);
    free(it);
    return err;
}

int value_dict_get_str(struct mem_reader *r, const struct py_layout *l, uint64_t dict_addr,
                       const char *key, uint64_t *value)
{
    struct vctx *c = xmalloc(sizeof(*c));
    value_ctx_init(c, r, l, LOOKUP_BUDGET);
    int err = dict_get(c, dict_addr, key, value);
    free(c);
    return err;
}

int value_dict_foreach(struct mem_reader *r, const struct py_layout *l, uint64_t dict_addr,
                       size_t max, int (*fn)(uint64_t key, uint64_t value, void *ctx), void *ctx)
{
    struct vctx *c = xmalloc(sizeof(*c));
    struct dict_iter *it = xmalloc(sizeof(*it));
    value_ctx_init(c, r, l, LOOKUP_BUDGET);
    int err = value_dict_open(c, dict_addr, 1, it);
    uint64_t k, v;
    for (size_t n = 0; !err && n < max; n++) {
        int more = value_dict_next(c, it, &k, &v);
        if (more <= 0) {
            err = more;
            break;
        }
        if (fn(k, v, ctx))
            break;
    }
    free(it);
    free(c);
    return err;
}

/* ---- instance attributes ------------------------------------------------- */

/* What getattr needs from an object's type. */
struct type_attrs {
    uint64_t flags;
    int64_t basicsize, dictoffset, itemsize;
    uint64_t cached_keys; /* heap types (3.6+) only */
};

static int read_type_attrs(struct vctx *c, uint64_t obj, struct type_attrs *ta)
{
    const struct py_layout *l = c->l;
    uint64_t type;
    memset(ta, 0, sizeof(*ta));
    int err = mem_read_u64(&c->r, obj + l->object.ob_type, &type);
    if (!err)
        err = mem_read_u64(&c->r, type + l->object.tp_flags, &ta->flags);
    if (!err)
        err = read_i64(c, type + l->object.tp_basicsize, &ta->basicsize);
    if (!err)
        err = read_i64(c, type + l->object.tp_dictoffset, &ta->dictoffset);
    if (!err)
        err = read_i64(c, type + l->object.tp_itemsize, &ta->itemsize);
    if (!err && (ta->flags & TPFLAGS_HEAPTYPE) && l->object.ht_cached_keys != PY_NO_FIELD &&
        l->object.ht_cached_keys)
        err = mem_read_u64(&c->r, type + l->object.ht_cached_keys, &ta->cached_keys);
    if (!err &&
        (ta->basicsize < 0 || ta->basicsize > (1 << 20) || ta->itemsize < 0 ||
         ta->itemsize > (1 << 20) || ta->dictoffset < -(1 << 20) || ta->dictoffset > (1 << 20)))
        err = -SG_ECORRUPT;
    return err;
}

/* Looks name up in split values at vp, keyed by the type's shared keys. */
static int values_get(struct vctx *c, const struct type_attrs *ta, uint64_t vp, const char *name,
                      uint64_t *value)
{
    struct dict_iter *it = xmalloc(sizeof(*it));
    int err = ta->cached_keys ? open_keys(c, ta->cached_keys, vp, 0, it) : -SG_ENOTPY;
    if (!err)
        err = iter_find(c, it, name, value);
    free(it);
    return err;
}

/* Finds the __dict__ of obj through tp_dictoffset; sets *dict (0: none). */
static int dictoffset_dict(struct vctx *c, uint64_t obj, const struct type_attrs *ta,
                           uint64_t *dict)
{
    int64_t offset = ta->dictoffset;
    *dict = 0;
    if (offset == 0)
        return 0;
    if (offset < 0) {
        /* Counted from the end of a variable-size object (CPython's
         * _PyObject_VAR_SIZE: basicsize + |ob_size| * itemsize, rounded up to
         * a pointer). */
        int64_t size;
        int err = read_i64(c, obj + c->l->object.ob_size, &size);
        if (err)
            return err;
        if (size < 0)
            size = size == INT64_MIN ? 0 : -size;
        if (size > ((int64_t)1 << 32))
            return -SG_ECORRUPT;
        offset += (ta->basicsize + size * ta->itemsize + 7) & ~(int64_t)7;
    }
    return mem_read_u64(&c->r, obj + (uint64_t)offset, dict);
}

/* 3.11+ managed dicts. Sets *dict, or answers from split values directly
 * (*done = 1). The three shapes are told apart by the layout: 3.11 has a
 * separate values pointer, 3.13 has inline values, 3.12 tags the word. */
static int managed_dict(struct vctx *c, uint64_t obj, const struct type_attrs *ta, const char *name,
                        uint64_t *value, uint64_t *dict, int *done)
{
    const struct py_layout *l = c->l;
    uint64_t word, vp = 0;
    *done = 0;
    int err = mem_read_u64(&c->r, obj + (int64_t)l->managed.dict_ptr, &word);
    if (err)
        return err;
    *dict = word;
    if (l->managed.values_ptr) {
        err = mem_read_u64(&c->r, obj + (int64_t)l->managed.values_ptr, &vp);
        if (err)
            return err;
    } else if (l->managed.inline_values) {
        /* Without a dict the inline values hold the attributes, unless
         * CPython has marked them invalid (moved out to a dict since). */
        uint8_t valid = 0;
        if (!word && (ta->flags & TPFLAGS_INLINE_VALUES)) {
            vp = obj + (uint64_t)ta->basicsize;
            err = mem_read_u8(&c->r, vp + l->dict.values_valid, &valid);
            if (err)
                return err;
            if (!valid)
                return -SG_ENOTPY;
        }
    } else if (word & 1) {
        vp = word + 1;
        *dict = 0;
    }
    if (!vp)
        return 0;
    *done = 1;
    return values_get(c, ta, vp, name, value);
}

static int getattr(struct vctx *c, uint64_t obj, const char *name, uint64_t *value)
{
    struct type_attrs ta;
    uint64_t dict = 0;
    int done = 0;
    if (!obj)
        return -SG_ECORRUPT;
    int err = read_type_attrs(c, obj, &ta);
    if (err)
        return err;
    if ((ta.flags & TPFLAGS_MANAGED_DICT) && c->l->managed.dict_ptr)
        err = managed_dict(c, obj, &ta, name, value, &dict, &done);
    else
        err = dictoffset_dict(c, obj, &ta, &dict);
    if (err || done)
        return err;
    return dict ? dict_get(c, dict, name, value) : -SG_ENOTPY;
}

int value_instance_dict(struct mem_reader *r, const struct py_layout *l, uint64_t obj,
                        uint64_t *dict)
{
    struct vctx *c = xmalloc(sizeof(*c));
    struct type_attrs ta;
    value_ctx_init(c, r, l, LOOKUP_BUDGET);
    *dict = 0;
    int err = obj ? read_type_attrs(c, obj, &ta) : -SG_ECORRUPT;
    if (!err && (ta.flags & TPFLAGS_MANAGED_DICT) && l->managed.dict_ptr) {
        err = mem_read_u64(&c->r, obj + (int64_t)l->managed.dict_ptr, dict);
        if (!err && !l->managed.values_ptr && !l->managed.inline_values && (*dict & 1))
            *dict = 0; /* 3.12: a tagged values pointer, no dict */
    } else if (!err) {
        err = dictoffset_dict(c, obj, &ta, dict);
    }
    free(c);
    return err;
}

int value_getattr(struct mem_reader *r, const struct py_layout *l, uint64_t obj, const char *name,
                  uint64_t *value)
{
    struct vctx *c = xmalloc(sizeof(*c));
    value_ctx_init(c, r, l, LOOKUP_BUDGET);
    int err = getattr(c, obj, name, value);
    free(c);
    return err;
}

/* ---- ints ---------------------------------------------------------------- */

/* Reads a PyLongObject (3.x int, 2.7 long). */
static int read_long(struct vctx *c, uint64_t obj, struct bigint *b)
{
    const struct py_layout *l = c->l;
    unsigned bits = l->obj.digit_bits;
    size_t digit_size = bits <= 15 ? 2 : 4;
    int64_t size;
    if (bits != 15 && bits != 30)
        return -SG_ECORRUPT;
    int err = read_i64(c, obj + l->obj.long_size, &size);
    if (err)
        return err;
    if (l->obj.long_tagged) {
        /* 3.12+ lv_tag: sign in the low 2 bits (0 +, 1 zero, 2 -), then 1
         * reserved bit, then the digit count. */
        uint64_t tag = (uint64_t)size;
        b->negative = (tag & 3) == 2;
        b->ndigits = (tag & 3) == 1 ? 0 : (size_t)(tag >> 3);
        if ((tag & 3) == 3)
            return -SG_ECORRUPT;
    } else {
        b->negative = size < 0;
        b->ndigits = size < 0 ? (size == INT64_MIN ? SIZE_MAX : (size_t)-size) : (size_t)size;
    }
    if (b->ndigits > ((size_t)1 << 40))
        return -SG_ECORRUPT;
    b->nread = b->ndigits < INT_MAX_DIGITS ? b->ndigits : INT_MAX_DIGITS;
    uint8_t raw[INT_MAX_DIGITS * 4];
    err = mem_read(&c->r, obj + l->obj.long_digit, raw, b->nread * digit_size);
    for (size_t i = 0; !err && i < b->nread; i++) {
        uint32_t d = 0;
        if (digit_size == 2) {
            uint16_t d16;
            memcpy(&d16, raw + 2 * i, 2);
            d = d16;
        } else {
            memcpy(&d, raw + 4 * i, 4);
        }
        if (d >> bits)
            return -SG_ECORRUPT;
        b->digits[i] = d;
    }
    if (!err && b->nread)
        b->top = b->digits[b->nread - 1];
    if (!err && b->nread < b->ndigits)
        err = mem_read(&c->r, obj + l->obj.long_digit + (b->ndigits - 1) * digit_size, &b->top,
                       digit_size);
    return err;
}

/* Reads any int-like object as a bigint. */
int value_read_bigint(struct vctx *c, uint64_t obj, enum value_kind kind, struct bigint *b)
{
    memset(b, 0, offsetof(struct bigint, digits));
    if (kind == K_LONG27 || (!is_py2(c->l) && (kind == K_INT || kind == K_BOOL)))
        return read_long(c, obj, b);
    if (kind != K_INT && kind != K_BOOL)
        return -SG_ECORRUPT;
    /* 2.7 int and bool: a C long. */
    int64_t v;
    int err = read_i64(c, obj + c->l->obj.int27_ival, &v);
    if (err)
        return err;
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    b->negative = v < 0;
    while (mag) {
        b->digits[b->ndigits++] = (uint32_t)(mag & ((1u << 30) - 1));
        mag >>= 30;
    }
    b->nread = b->ndigits;
    return 0;
}

/* Converts b to int64 if it fits (digits in base 2^30 for 2.7 ints). */
int value_bigint_to_i64(const struct bigint *b, unsigned bits, int64_t *out)
{
    uint64_t mag = 0;
    if (b->nread < b->ndigits)
        return -SG_ENOMEM;
    for (size_t i = b->nread; i-- > 0;) {
        if (mag >> (64 - bits))
            return -SG_ENOMEM;
        mag = (mag << bits) | b->digits[i];
    }
    if (b->negative ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
        return -SG_ENOMEM;
    *out = b->negative ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

/* The digit width of a bigint read from an object of this kind. */
unsigned value_bigint_bits(const struct py_layout *l, enum value_kind kind)
{
    return is_py2(l) && kind != K_LONG27 ? 30 : l->obj.digit_bits;
}

static int read_int(struct vctx *c, uint64_t obj, int64_t *out)
{
    const struct type_info *t;
    struct bigint *b = xmalloc(sizeof(*b));
    int err = value_classify(c, obj, &t);
    if (!err)
        err = value_read_bigint(c, obj, t->kind, b);
    if (!err)
        err = value_bigint_to_i64(b, value_bigint_bits(c->l, t->kind), out);
    free(b);
    return err;
}

int value_read_int(struct mem_reader *r, const struct py_layout *l, uint64_t obj, int64_t *out)
{
    struct vctx *c = xmalloc(sizeof(*c));
    value_ctx_init(c, r, l, LOOKUP_BUDGET);
    int err = read_int(c, obj, out);
    free(c);
    return err;
}

/* ---- thread names ----------------------------------------------------------- */

/* Reports the name of one Thread object of threading._active. */
static void report_thread(struct vctx *c, uint64_t key, uint64_t thread,
                          void (*fn)(uint64_t ident, const char *name, void *ctx), void *ctx)
{
    int64_t ident;
    uint64_t name_obj;
    char name[256];
    if (read_int(c, key, &ident))
        return;
    if (getattr(c, thread, "_name", &name_obj) && getattr(c, thread, "_Thread__name", &name_obj))
        return;
    if (pystr_read(&c->r, c->l, name_obj, name, sizeof(name)) == 0)
        fn((uint64_t)ident, name, ctx);
}

static int thread_names(struct vctx *c, uint64_t modules_dict,
                        void (*fn)(uint64_t ident, const char *name, void *ctx), void *ctx)
{
    uint64_t module, md_dict, active, key, thread;
    int err = dict_get(c, modules_dict, "threading", &module);
    if (err)
        return err == -SG_ENOTPY ? 0 : err;
    err = mem_read_u64(&c->r, module + c->l->obj.module_dict, &md_dict);
    if (!err)
        err = dict_get(c, md_dict, "_active", &active);
    if (err)
        return err == -SG_ENOTPY ? 0 : err;
    struct dict_iter *it = xmalloc(sizeof(*it));
    err = value_dict_open(c, active, 0, it);
    for (size_t n = 0; !err && n < MAX_THREADS; n++) {
        int more = value_dict_next(c, it, &key, &thread);
        if (more <= 0) {
            err = more;
            break;
        }
        report_thread(c, key, thread, fn, ctx);
    }
    free(it);
    return err;
}

int value_thread_names(struct mem_reader *r, const struct py_layout *l, uint64_t modules_dict,
                       void (*fn)(uint64_t ident, const char *name, void *ctx), void *ctx)
{
    struct vctx *c = xmalloc(sizeof(*c));
    value_ctx_init(c, r, l, THREADS_BUDGET);
    int err = thread_names(c, modules_dict, fn, ctx);
    free(c);
    return err;
}
