/*
 * code.c - reading code objects and caching them by address.
 */
#include "python/code.h"

#include <stdlib.h>
#include <string.h>

#include "python/linetable.h"
#include "python/pystr.h"
#include "util/util.h"

/* The biggest line table we read (a 100k-line function has ~1 MB). */
#define LINETABLE_MAX (4u << 20)
/* Bytes of a code object header we read at once (all fields we use sit below). */
#define CODE_HEADER_MAX 512

void code_cache_init(struct code_cache *cc)
{
    memset(cc, 0, sizeof(*cc));
    cc->cap = 1024;
    cc->slots = xcalloc(cc->cap, sizeof(*cc->slots));
}

/* The bytes an entry holds, for the cache's byte cap. */
static size_t code_info_bytes(const struct code_info *ci)
{
    return sizeof(*ci) + strlen(ci->name) + strlen(ci->qualname) + strlen(ci->filename) + 3 +
           ci->linetable_len;
}

static void code_info_free(struct code_info *ci)
{
    if (!ci)
        return;
    free(ci->name);
    free(ci->qualname);
    free(ci->filename);
    free(ci->linetable);
    free(ci);
}

void code_cache_release(struct code_cache *cc)
{
    for (size_t i = 0; i < cc->cap; i++)
        code_info_free(cc->slots[i]);
    free(cc->slots);
    free(cc->pending);
    memset(cc, 0, sizeof(*cc));
}

void code_cache_trim(struct code_cache *cc)
{
    cc->epoch++;
    cc->npending = 0; /* a sample that ended early: its queue is moot */
    if (cc->count <= CODE_CACHE_MAX && cc->bytes <= CODE_CACHE_MAX_BYTES)
        return;
    uint64_t serial = cc->next_serial, epoch = cc->epoch, generation = cc->generation;
    int defer = cc->defer;
    code_cache_release(cc);
    code_cache_init(cc);
    cc->next_serial = serial;
    cc->epoch = epoch;
    cc->defer = defer;
    cc->generation = generation + 1;
}

void code_cache_keep(struct code_cache *cc, struct code_info *ci)
{
    if (ci->epoch == cc->epoch)
        return;
    cc->pending = xgrow(cc->pending, sizeof(*cc->pending), cc->npending + 1, &cc->pending_cap);
    cc->pending[cc->npending++] = ci;
    ci->epoch = cc->epoch;
    cc->hits++;
}

static size_t slot_of(const struct code_cache *cc, uint64_t addr)
{
    uint64_t h = addr >> 4;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cc->cap - 1);
}

/* Fields of the header copy (PY_NO_FIELD gives 0). */
static uint64_t hdr_u64(const uint8_t *hdr, uint32_t off)
{
    return layout_u64(hdr, CODE_HEADER_MAX, off);
}

static int hdr_i32(const uint8_t *hdr, uint32_t off)
{
    return layout_i32(hdr, CODE_HEADER_MAX, off);
}

static uint32_t header_size(const struct py_layout *l)
{
    uint32_t fields[] = {l->code.co_filename, l->code.co_name,
                         l->code.co_qualname, l->code.co_firstlineno,
                         l->code.co_lnotab,   l->code.co_linetable,
                         l->code.co_varnames, l->code.co_localsplusnames,
                         l->code.co_nlocals,  l->code.co_nlocalsplus,
                         l->code.co_argcount, l->code.co_localspluskinds};
    uint32_t end = 16;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i] != PY_NO_FIELD && fields[i] + 8 > end)
            end = fields[i] + 8;
    }
    return end <= CODE_HEADER_MAX ? end : CODE_HEADER_MAX;
}

static char *read_name(struct mem_reader *r, const struct py_layout *l, uint64_t addr)
{
    char buf[1024];
    if (pystr_read(r, l, addr, buf, sizeof(buf)))
        return xstrdup("<unknown>");
    return xstrdup(buf);
}

/* Serials are unique across every cache in the program, not per cache: with
 * --subprocesses one profile is fed by a walker per process, and callers key
 * memos by serial alone. (spyglass samples from one thread.) */
static uint64_t last_serial;

/* Decodes the code object whose header was read into hdr. */
static struct code_info *decode(struct code_cache *cc, struct mem_reader *r,
                                const struct py_layout *l, uint64_t addr, const uint8_t *hdr)
{
    struct code_info *ci = xcalloc(1, sizeof(*ci));
    ci->addr = addr;
    ci->serial = ++last_serial;
    cc->next_serial = last_serial;
    ci->epoch = cc->epoch;
    ci->name_ptr = hdr_u64(hdr, l->code.co_name);
    ci->filename_ptr = hdr_u64(hdr, l->code.co_filename);
    ci->firstlineno = hdr_i32(hdr, l->code.co_firstlineno);
    ci->name = read_name(r, l, ci->name_ptr);
    ci->filename = read_name(r, l, ci->filename_ptr);
    uint64_t qual = hdr_u64(hdr, l->code.co_qualname);
    ci->qualname = qual ? read_name(r, l, qual) : xstrdup(ci->name);
    uint32_t table_field = l->line_kind == PY_LINES_310 || l->line_kind == PY_LINES_311
                               ? l->code.co_linetable
                               : l->code.co_lnotab;
    ci->linetable_ptr = hdr_u64(hdr, table_field);
    if (ci->linetable_ptr && pystr_read_bytes(r, l, ci->linetable_ptr, LINETABLE_MAX,
                                              &ci->linetable, &ci->linetable_len)) {
        ci->linetable = NULL;
        ci->linetable_len = 0;
    }
    if (l->frame_kind == PY_FRAME_INTERP) {
        ci->varnames = hdr_u64(hdr, l->code.co_localsplusnames);
        ci->kinds = hdr_u64(hdr, l->code.co_localspluskinds);
        ci->nlocals = hdr_i32(hdr, l->code.co_nlocalsplus);
    } else {
        ci->varnames = hdr_u64(hdr, l->code.co_varnames);
        ci->nlocals = hdr_i32(hdr, l->code.co_nlocals);
    }
    ci->argcount = hdr_i32(hdr, l->code.co_argcount);
    for (int i = 0; i < CODE_LINE_MEMO; i++)
        ci->memo_offset[i] = -1; /* never asked: offsets here are >= 0 */
    cc->bytes += code_info_bytes(ci);
    return ci;
}

static int still_valid(const struct code_info *ci, const struct py_layout *l, const uint8_t *hdr)
{
    return ci->name_ptr == hdr_u64(hdr, l->code.co_name) &&
           ci->filename_ptr == hdr_u64(hdr, l->code.co_filename) &&
           ci->firstlineno == hdr_i32(hdr, l->code.co_firstlineno);
}

static void grow(struct code_cache *cc)
{
    struct code_info **old = cc->slots;
    size_t old_cap = cc->cap;
    cc->cap *= 2;
    cc->slots = xcalloc(cc->cap, sizeof(*cc->slots));
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i])
            continue;
        size_t s = slot_of(cc, old[i]->addr);
        while (cc->slots[s])
            s = (s + 1) & (cc->cap - 1);
        cc->slots[s] = old[i];
    }
    free(old);
}

/* code_cache_get for an entry not checked in this epoch, or not cached: s
 * is its slot (empty if not cached). Reads the header and decodes if need
 * be. */
static int get_from_target(struct code_cache *cc, struct mem_reader *r, const struct py_layout *l,
                           uint64_t code_type, uint64_t addr, size_t s, struct code_info **out)
{
    uint8_t hdr[CODE_HEADER_MAX] = {0};
    int err = mem_read(r, addr, hdr, header_size(l));
    if (err)
        return err;
    if (code_type && hdr_u64(hdr, l->object.ob_type) != code_type)
        return -SG_ECORRUPT;
    if (cc->slots[s]) {
        if (still_valid(cc->slots[s], l, hdr)) {
            cc->hits++;
            cc->slots[s]->epoch = cc->epoch;
            *out = cc->slots[s];
            return 0;
        }
        /* Same address, another code object: replace in place. */
        cc->evictions++;
        cc->generation++;
        cc->bytes -= code_info_bytes(cc->slots[s]);
        code_info_free(cc->slots[s]);
        cc->slots[s] = decode(cc, r, l, addr, hdr);
        *out = cc->slots[s];
        return 0;
    }
    cc->misses++;
    cc->slots[s] = decode(cc, r, l, addr, hdr);
    *out = cc->slots[s];
    cc->count++;
    if (cc->count * 2 > cc->cap)
        grow(cc);
    return 0;
}

int code_cache_get(struct code_cache *cc, struct mem_reader *r, const struct py_layout *l,
                   uint64_t code_type, uint64_t addr, struct code_info **out)
{
    if (addr == 0 || (addr & 7))
        return -SG_ECORRUPT;
    size_t s = slot_of(cc, addr);
    while (cc->slots[s] && cc->slots[s]->addr != addr)
        s = (s + 1) & (cc->cap - 1);
    struct code_info *ci = cc->slots[s];
    if (ci && ci->epoch == cc->epoch) {
        cc->hits++; /* checked already in this sample */
        *out = ci;
        return 0;
    }
    if (ci && cc->defer) { /* trusted now, checked by code_cache_verify */
        cc->pending = xgrow(cc->pending, sizeof(*cc->pending), cc->npending + 1, &cc->pending_cap);
        cc->pending[cc->npending++] = ci;
        ci->epoch = cc->epoch;
        cc->hits++;
        *out = ci;
        return 0;
    }
    return get_from_target(cc, r, l, code_type, addr, s, out);
}

size_t code_cache_verify(struct code_cache *cc, struct mem_reader *r, const struct py_layout *l,
                         uint64_t code_type)
{
    size_t n = cc->npending, size = header_size(l), failed = 0;
    if (n == 0)
        return 0;
    uint8_t *headers = xcalloc(n, size);
    struct mem_span *spans = xcalloc(n, sizeof(*spans));
    for (size_t i = 0; i < n; i++)
        spans[i] = (struct mem_span){cc->pending[i]->addr, headers + i * size, size, 0};
    mem_read_batch(r, spans, n);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *hdr = headers + i * size;
        int ok = spans[i].err == 0 &&
                 (!code_type || hdr_u64(hdr, l->object.ob_type) == code_type) &&
                 still_valid(cc->pending[i], l, hdr);
        if (!ok) {
            cc->pending[i]->epoch = cc->epoch - 1; /* unchecked: read again when next met */
            failed++;
        }
    }
    cc->deferred += n;
    cc->stale += failed;
    cc->npending = 0;
    free(spans);
    free(headers);
    return failed;
}

int code_bytecode(struct code_cache *cc, struct mem_reader *r, const struct py_layout *l,
                  struct code_info *ci, int32_t tlbc_index, uint64_t *base)
{
    *base = ci->addr + l->code.co_code_adaptive;
    if (l->code.co_tlbc == PY_NO_FIELD || tlbc_index <= 0)
        return 0; /* index 0 runs the code object's own bytecode */
    if (tlbc_index > CODE_TLBC_MAX)
        return -SG_ECORRUPT;
    if (ci->tlbc_epoch == cc->epoch && ci->tlbc_index == tlbc_index) {
        *base = ci->tlbc_base;
        return 0;
    }
    uint64_t array, copy;
    int err = mem_read_u64(r, ci->addr + l->code.co_tlbc, &array);
    if (!err && (array == 0 || (array & 7)))
        err = -SG_ECORRUPT;
    if (!err)
        err = mem_read_u64(
            r, array + l->code.codearray_entries + (uint64_t)tlbc_index * sizeof(uint64_t), &copy);
    if (!err && (copy == 0 || (copy & 1)))
        err = -SG_ECORRUPT; /* no copy for this thread, or not a code unit address */
    if (err)
        return err;
    ci->tlbc_epoch = cc->epoch;
    ci->tlbc_index = tlbc_index;
    ci->tlbc_base = copy;
    *base = copy;
    return 0;
}

int code_line(struct code_info *ci, const struct py_layout *l, int64_t offset)
{
    if (offset < 0 || !ci->linetable)
        return ci->firstlineno;
    if (offset > INT32_MAX)
        offset = INT32_MAX;
    for (int i = 0; i < CODE_LINE_MEMO; i++) {
        if (ci->memo_offset[i] == (int)offset)
            return ci->memo_line[i];
    }
    int line = ci->firstlineno;
    if (linetable_line(l->line_kind, ci->linetable, ci->linetable_len, ci->firstlineno,
                       (uint64_t)offset, &line))
        line = ci->firstlineno;
    unsigned slot = ci->memo_next++ % CODE_LINE_MEMO;
    ci->memo_offset[slot] = (int)offset;
    ci->memo_line[slot] = line;
    return line;
}
