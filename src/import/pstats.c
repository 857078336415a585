/*
 * pstats.c - a pstats dump (a marshalled dict) as a C struct, and the
 * content sniffing that tells a pstats dump from a collapsed-stacks file.
 *
 * The marshal reader does the byte-level work and bounds; this file checks
 * the shape of what it built: a dict of 3-tuple keys to 5-tuples, whose last
 * item is a dict of caller keys to 4-tuples or counts. Anything else is
 * reported with the byte offset of the offending value (or, for None,
 * True and False, which have none, of its container). Keys are compared by
 * content (file, line, name), so a key that occurs twice behaves as in a
 * Python dict: first position, last value.
 */
#include "import/pstats.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/hash.h"
#include "util/marshal_out.h"
#include "util/util.h"

/* An index over keys kept in an array of structs that each start with a
 * struct pstats_key (callers, functions), stride bytes apart. */
struct key_index {
    struct hash_index index;
    const void *keys;
    size_t stride;
};

static int pfail(struct pstats *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pfail(struct pstats *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->error, sizeof(st->error), fmt, ap);
    va_end(ap);
    return -SG_ECORRUPT;
}

/* ---- keys ---- */

static uint64_t key_hash(const struct pstats_key *k)
{
    uint64_t h = hash_str(HASH_SEED, k->file);
    h = hash_bytes(h, &k->line, sizeof(k->line));
    return hash_str(h, k->name);
}

static const struct pstats_key *key_at(const struct key_index *ix, uint32_t id)
{
    return (const struct pstats_key *)((const char *)ix->keys + id * ix->stride);
}

static uint64_t key_hash_of(const void *ctx, uint32_t id)
{
    return key_hash(key_at(ctx, id));
}

static int key_equal(const struct pstats_key *a, const struct pstats_key *b)
{
    return a->line == b->line && !strcmp(a->file, b->file) && !strcmp(a->name, b->name);
}

static int key_same(const void *ctx, uint32_t id, const void *key)
{
    return key_equal(key_at(ctx, id), key);
}

/* Returns the slot for key (holding its position + 1, or empty) in an index
 * over count keys, with room for one more. */
static uint32_t *index_slot(struct key_index *ix, size_t count, const struct pstats_key *key)
{
    hash_index_reserve(&ix->index, count, key_hash_of, ix);
    return hash_index_find(&ix->index, key_hash(key), key_same, ix, key);
}

static int is_string(const struct marshal_value *v)
{
    return v->kind == MARSHAL_STR || v->kind == MARSHAL_BYTES;
}

static int is_int(const struct marshal_value *v)
{
    return v->kind == MARSHAL_INT || v->kind == MARSHAL_BOOL;
}

/* Where parent->items[index] sits, for messages: its own offset, or for
 * None, True and False (shared values without one) its place in parent. */
static const char *where(char *buf, size_t size, const struct marshal_value *parent, size_t index)
{
    const struct marshal_value *v = parent->items[index];
    if (v->kind == MARSHAL_NONE || v->kind == MARSHAL_BOOL)
        snprintf(buf, size, "item %zu of the %s at byte %zu", index,
                 marshal_kind_name(parent->kind), parent->offset);
    else
        snprintf(buf, size, "byte %zu", v->offset);
    return buf;
}

/* "a tuple of 3 items", "an int": what was found instead, for messages. */
static const char *found(char *buf, size_t size, const struct marshal_value *v)
{
    const char *kind = marshal_kind_name(v->kind);
    if (v->kind == MARSHAL_TUPLE || v->kind == MARSHAL_LIST)
        snprintf(buf, size, "a %s of %zu items", kind, v->count);
    else
        snprintf(buf, size, "%s %s", v->kind == MARSHAL_INT ? "an" : "a", kind);
    return buf;
}

/* The name of a code object used as a function name, as Python's repr
 * without the address; st owns it. */
static const char *code_name(struct pstats *st, const struct marshal_value *code)
{
    char *name = xasprintf("<code object %s, file \"%s\", line %lld>", code->code_name->str,
                           code->code_file->str, (long long)code->code_line);
    st->made = xgrow(st->made, sizeof(*st->made), st->made_count + 1, &st->made_cap);
    st->made[st->made_count++] = name;
    return name;
}

/* Reads the (file, line, name) tuple parent->items[index]. */
static int read_key(struct pstats *st, const struct marshal_value *parent, size_t index,
                    struct pstats_key *key)
{
    const struct marshal_value *v = parent->items[index];
    char at[96], what[48];
    if (v->kind != MARSHAL_TUPLE || v->count != 3 || !is_string(v->items[0]) ||
        !is_int(v->items[1]) || !(is_string(v->items[2]) || v->items[2]->kind == MARSHAL_CODE))
        return pfail(st, "expected a (file, line, name) key at %s, found %s",
                     where(at, sizeof(at), parent, index), found(what, sizeof(what), v));
    key->file = v->items[0]->str;
    key->line = v->items[1]->i;
    key->name = is_string(v->items[2]) ? v->items[2]->str : code_name(st, v->items[2]);
    st->byte_keys |= v->items[0]->kind == MARSHAL_BYTES || v->items[2]->kind == MARSHAL_BYTES;
    st->code_keys |= v->items[2]->kind == MARSHAL_CODE;
    return 0;
}

/* Reads 4 numbers from the start of tuple: two counts (ints), then two
 * times (ints or floats). */
static int read_counts(struct pstats *st, const struct marshal_value *tuple, int64_t *a, int64_t *b,
                       double *tt, double *ct)
{
    struct marshal_value *const *items = tuple->items;
    for (size_t i = 0; i < 4; i++) {
        const struct marshal_value *v = items[i];
        int ok = i < 2 ? is_int(v) : is_int(v) || v->kind == MARSHAL_FLOAT;
        char at[96], what[48];
        if (!ok)
            return pfail(st, "expected %s at %s, found %s", i < 2 ? "a count" : "a time",
                         where(at, sizeof(at), tuple, i), found(what, sizeof(what), v));
    }
    *a = items[0]->i;
    *b = items[1]->i;
    *tt = items[2]->kind == MARSHAL_FLOAT ? items[2]->f : (double)items[2]->i;
    *ct = items[3]->kind == MARSHAL_FLOAT ? items[3]->f : (double)items[3]->i;
    return 0;
}

/* ---- callers ---- */

/* Reads the caller value dict->items[index]: cProfile's (nc, cc, tt, ct)
 * or the profile module's bare count. */
static int read_caller_value(struct pstats *st, const struct marshal_value *dict, size_t index,
                             struct pstats_caller *c)
{
    const struct marshal_value *v = dict->items[index];
    char at[96], what[48];
    if (is_int(v)) {
        c->nc = c->cc = v->i;
        c->tt = c->ct = 0;
        return 0;
    }
    if (v->kind != MARSHAL_TUPLE || v->count != 4)
        return pfail(st, "expected a caller's (nc, cc, tt, ct) or a count at %s, found %s",
                     where(at, sizeof(at), dict, index), found(what, sizeof(what), v));
    st->caller_tuples = 1;
    return read_counts(st, v, &c->nc, &c->cc, &c->tt, &c->ct);
}

/* Reads the callers dict entry->items[4] into f->callers (deduplicated by
 * key). */
static int read_callers(struct pstats *st, const struct marshal_value *entry, struct pstats_func *f)
{
    const struct marshal_value *v = entry->items[4];
    char at[96], what[48];
    if (v->kind != MARSHAL_DICT)
        return pfail(st, "expected a callers dict at %s, found %s", where(at, sizeof(at), entry, 4),
                     found(what, sizeof(what), v));
    f->callers = xcalloc(v->count, sizeof(*f->callers));
    struct key_index ix = {{NULL, 0}, f->callers, sizeof(*f->callers)};
    int err = 0;
    for (size_t i = 0; i < v->count && !err; i++) {
        struct pstats_caller c = {.func = PSTATS_NO_FUNC};
        err = read_key(st, v, 2 * i, &c.key);
        if (!err)
            err = read_caller_value(st, v, 2 * i + 1, &c);
        if (err)
            break;
        uint32_t *slot = index_slot(&ix, f->caller_count, &c.key);
        if (*slot) {
            f->callers[*slot - 1] = c;
        } else {
            f->callers[f->caller_count] = c;
            *slot = ++f->caller_count;
        }
    }
    hash_index_release(&ix.index);
    return err;
}

/* ---- the dump ---- */

static int is_jprofile(const struct pstats_key *k)
{
    return k->line == 0 && !strcmp(k->file, "jprofile") && !strcmp(k->name, "profiler");
}

/* Reads the (cc, nc, tt, ct, callers) entry root->items[index] into f. */
static int read_entry(struct pstats *st, const struct marshal_value *root, size_t index,
                      struct pstats_func *f)
{
    const struct marshal_value *v = root->items[index];
    char at[96], what[48];
    if (v->kind != MARSHAL_TUPLE || v->count != 5)
        return pfail(st, "expected a (cc, nc, tt, ct, callers) tuple at %s, found %s",
                     where(at, sizeof(at), root, index), found(what, sizeof(what), v));
    free(f->callers);
    f->callers = NULL;
    f->caller_count = 0;
    int err = read_counts(st, v, &f->cc, &f->nc, &f->tt, &f->ct);
    if (!err)
        err = read_callers(st, v, f);
    f->top_level = 0;
    for (size_t i = 0; !err && i < f->caller_count; i++)
        f->top_level |= is_jprofile(&f->callers[i].key);
    return err;
}

/* Points every caller edge at its function's index. */
static void link_callers(struct pstats *st, struct key_index *ix)
{
    for (size_t i = 0; i < st->count; i++) {
        struct pstats_func *f = &st->funcs[i];
        for (size_t j = 0; j < f->caller_count; j++) {
            uint32_t *slot = index_slot(ix, st->count, &f->callers[j].key);
            f->callers[j].func = *slot ? *slot - 1 : PSTATS_NO_FUNC;
        }
    }
}

static int read_stats(struct pstats *st, const struct marshal_value *root)
{
    if (root->kind != MARSHAL_DICT)
        return pfail(st, "not a pstats dump: the top value is a %s, not a dict",
                     marshal_kind_name(root->kind));
    st->funcs = xcalloc(root->count, sizeof(*st->funcs));
    struct key_index ix = {{NULL, 0}, st->funcs, sizeof(*st->funcs)};
    int err = 0;
    for (size_t i = 0; i < root->count && !err; i++) {
        struct pstats_key key;
        err = read_key(st, root, 2 * i, &key);
        if (err)
            break;
        uint32_t *slot = index_slot(&ix, st->count, &key);
        if (!*slot) {
            st->funcs[st->count].key = key;
            *slot = ++st->count;
        }
        err = read_entry(st, root, 2 * i + 1, &st->funcs[*slot - 1]);
    }
    if (!err)
        link_callers(st, &ix);
    hash_index_release(&ix.index);
    return err;
}

int pstats_load(struct pstats *st, const uint8_t *data, size_t len)
{
    memset(st, 0, sizeof(*st));
    int err = marshal_parse(&st->doc, data, len);
    if (err) {
        snprintf(st->error, sizeof(st->error), "bad marshal data: %s", st->doc.error);
        return err;
    }
    err = read_stats(st, st->doc.root);
    if (err) {
        /* Keep the message: release clears everything else. */
        char error[sizeof(st->error)];
        memcpy(error, st->error, sizeof(error));
        pstats_release(st);
        memcpy(st->error, error, sizeof(error));
    }
    return err;
}

/* ---- saving ---- */

static void save_key(struct strbuf *sb, const struct pstats_key *k)
{
    marshal_out_tuple(sb, 3);
    marshal_out_str(sb, k->file);
    marshal_out_int(sb, k->line);
    marshal_out_str(sb, k->name);
}

static void save_func(struct strbuf *sb, const struct pstats *st, const struct pstats_func *f)
{
    save_key(sb, &f->key);
    marshal_out_tuple(sb, 5);
    marshal_out_int(sb, f->cc);
    marshal_out_int(sb, f->nc);
    marshal_out_float(sb, f->tt);
    marshal_out_float(sb, f->ct);
    marshal_out_dict_begin(sb);
    for (size_t i = 0; i < f->caller_count; i++) {
        const struct pstats_caller *c = &f->callers[i];
        save_key(sb, &c->key);
        if (!st->caller_tuples) {
            marshal_out_int(sb, c->nc);
            continue;
        }
        marshal_out_tuple(sb, 4);
        marshal_out_int(sb, c->nc);
        marshal_out_int(sb, c->cc);
        marshal_out_float(sb, c->tt);
        marshal_out_float(sb, c->ct);
    }
    marshal_out_dict_end(sb);
}

int pstats_save(const struct pstats *st, FILE *out)
{
    struct strbuf sb;
    strbuf_init(&sb);
    marshal_out_dict_begin(&sb);
    for (size_t i = 0; i < st->count; i++)
        save_func(&sb, st, &st->funcs[i]);
    marshal_out_dict_end(&sb);
    int err = fwrite(sb.buf, 1, sb.len, out) != sb.len || ferror(out) ? -SG_EIO : 0;
    strbuf_release(&sb);
    return err;
}

void pstats_release(struct pstats *st)
{
    for (size_t i = 0; i < st->count; i++)
        free(st->funcs[i].callers);
    free(st->funcs);
    st->funcs = NULL;
    st->count = 0;
    for (size_t i = 0; i < st->made_count; i++)
        free(st->made[i]);
    free(st->made);
    st->made = NULL;
    st->made_count = st->made_cap = 0;
    marshal_release(&st->doc);
}

size_t pstats_find(const struct pstats *st, const char *file, int64_t line, const char *name)
{
    struct pstats_key key = {file, line, name};
    for (size_t i = 0; i < st->count; i++) {
        if (key_equal(&st->funcs[i].key, &key))
            return i;
    }
    return PSTATS_NO_FUNC;
}
