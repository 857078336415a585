/*
 * synth.c - a Python process's memory built from a layout (see synth.h).
 *
 * Everything lives in one arena at a fixed address, allocated upwards, and
 * is written where the layout says; nothing here knows an offset of its own
 * except what CPython fixes in every version it models (3.13+): the 3.11+
 * location table's entry format, PEP 393's kinds, 3.12+ int tagging.
 */
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "util/utf8.h"
#include "util/util.h"

#define ARENA_BASE 0x7f3200000000ull
#define ARENA_SIZE (2u << 20)
/* The first object sits this far in: the walker reads blocks below frames. */
#define ARENA_START (64u << 10)
#define CHUNK_SIZE 4096
#define INTERP_SIZE 16384
#define GIL_AT 12288 /* the GIL struct inside the interpreter state, as 3.12+ embed it */
#define UNITS 5      /* code units of every synthetic function */

const struct synth_thread synth_threads[SYNTH_THREADS] = {
    {"\xe7\xb7\x9a\xe7\xa8\x8b-2",
     2003,
     0,
     2,
     {{"\xe5\x87\xbd\xe6\x95\xb0", "/srv/app/\xe6\xa8\xa1\xe5\x9d\x97.py", 7},
      {"bootstrap", "/usr/lib/python3/threading.py", 3}}},
    {"w\xc3\xb6rker",
     2002,
     0,
     3,
     {{"Work.f\xc3\xbcnf", "/srv/app/w\xc3\xb6rk.py", 21},
      {"Work.run", "/srv/app/w\xc3\xb6rk.py", 12},
      {"bootstrap", "/usr/lib/python3/threading.py", 3}}},
    {"MainThread",
     SYNTH_PID,
     1,
     3,
     {{"spin", "/srv/app/main.py", 41},
      {"main", "/srv/app/main.py", 50},
      {"<module>", "/srv/app/main.py", 55}}},
};

struct arena {
    uint8_t *mem;
    uint64_t next;
    const struct py_layout *l;
    uint64_t type, code, str, bytes, tuple, dict, int_, module, thread; /* type objects */
};

static uint64_t alloc(struct arena *a, size_t n)
{
    uint64_t at = (a->next + 15) & ~15ull;
    if (at + n > ARENA_BASE + ARENA_SIZE) {
        fprintf(stderr, "synth: arena full\n");
        abort();
    }
    a->next = at + n;
    return at;
}

static void put(struct arena *a, uint64_t addr, uint32_t off, const void *p, size_t n)
{
    if (off != PY_NO_FIELD)
        memcpy(a->mem + (addr - ARENA_BASE) + off, p, n);
}

static void put_u64(struct arena *a, uint64_t addr, uint32_t off, uint64_t v)
{
    put(a, addr, off, &v, 8);
}

static void put_i32(struct arena *a, uint64_t addr, uint32_t off, int32_t v)
{
    put(a, addr, off, &v, 4);
}

static void put_u8(struct arena *a, uint64_t addr, uint32_t off, uint8_t v)
{
    put(a, addr, off, &v, 1);
}

static uint64_t new_object(struct arena *a, uint64_t type, size_t size)
{
    uint64_t obj = alloc(a, size);
    put_u64(a, obj, a->l->object.ob_type, type);
    return obj;
}

static uint64_t new_type(struct arena *a, const char *name, int64_t dictoffset)
{
    uint64_t type = new_object(a, a->type, 1024);
    uint64_t text = alloc(a, strlen(name) + 1);
    put(a, text, 0, name, strlen(name) + 1);
    put_u64(a, type, a->l->object.tp_name, text);
    put_u64(a, type, a->l->object.tp_basicsize, 64);
    put_u64(a, type, a->l->object.tp_dictoffset, (uint64_t)dictoffset);
    return type;
}

/* A compact str of the narrowest kind that holds utf8. */
static uint64_t new_str(struct arena *a, const char *utf8)
{
    const struct py_layout *l = a->l;
    uint32_t cps[128], max = 0;
    size_t n = 0, len = strlen(utf8);
    for (size_t i = 0; i < len && n < 128;) {
        size_t used = utf8_decode((const unsigned char *)utf8 + i, len - i, &cps[n]);
        i += used ? used : 1;
        max = cps[n] > max ? cps[n] : max;
        n++;
    }
    unsigned kind = max < 0x100 ? 1 : max < 0x10000 ? 2 : 4, ascii = max < 0x80;
    size_t head = ascii ? l->unicode.ascii_size : l->unicode.compact_size;
    uint64_t s = new_object(a, a->str, head + (n + 1) * kind);
    uint32_t state = (kind << l->unicode.kind_shift) | (1u << l->unicode.compact_shift) |
                     (ascii << l->unicode.ascii_shift);
    put_u64(a, s, l->unicode.length, n);
    put(a, s, l->unicode.state, &state, 4);
    for (size_t i = 0; i < n; i++)
        put(a, s + head + i * kind, 0, &cps[i], kind); /* little-endian: low bytes */
    return s;
}

static uint64_t new_bytes(struct arena *a, const uint8_t *data, size_t n)
{
    uint64_t b = new_object(a, a->bytes, a->l->bytes.ob_sval + n + 1);
    put_u64(a, b, a->l->object.ob_size, n);
    put(a, b, a->l->bytes.ob_sval, data, n);
    return b;
}

/* A non-negative int (3.12+: lv_tag holds the digit count above 3 bits). */
static uint64_t new_int(struct arena *a, uint64_t value)
{
    const struct py_layout *l = a->l;
    uint32_t digits[3];
    size_t n = 0;
    for (; value && n < 3; value >>= l->obj.digit_bits)
        digits[n++] = (uint32_t)(value & ((1u << l->obj.digit_bits) - 1));
    uint64_t obj = new_object(a, a->int_, l->obj.long_digit + 4 * 3);
    put_u64(a, obj, l->obj.long_size, n ? (uint64_t)n << 3 : 1 /* zero */);
    put(a, obj, l->obj.long_digit, digits, 4 * n);
    return obj;
}

/* A 3.11+ dict of n items: str keys make a unicode-keys table, others a
 * general one (entries with the hash first). */
static uint64_t new_dict(struct arena *a, const uint64_t *keys, const uint64_t *values, size_t n,
                         int str_keys)
{
    const struct py_layout *l = a->l;
    size_t entry = str_keys ? 16 : 24, index_bytes = 8; /* 8 slots, 1-byte indices */
    uint64_t k = alloc(a, l->dict.dk_indices + index_bytes + 8 * entry);
    put_u8(a, k, l->dict.dk_size, 3);
    put_u8(a, k, l->dict.dk_log2_index_bytes, 3);
    put_u8(a, k, l->dict.dk_kind, str_keys ? 1 : 0);
    put_u64(a, k, l->dict.dk_nentries, n);
    uint64_t entries = k + l->dict.dk_indices + index_bytes;
    for (size_t i = 0; i < n; i++) {
        uint64_t e = entries + i * entry + (str_keys ? 0 : 8);
        put_u64(a, e, 0, keys[i]);
        put_u64(a, e, 8, values[i]);
    }
    uint64_t d = new_object(a, a->dict, 64);
    put_u64(a, d, l->dict.ma_used, n);
    put_u64(a, d, l->dict.ma_keys, k);
    put_u64(a, d, l->dict.ma_values, 0);
    return d;
}

static uint64_t new_dict1(struct arena *a, const char *key, uint64_t value)
{
    uint64_t k = new_str(a, key);
    return new_dict(a, &k, &value, 1, 1);
}

/* The 3.11+ location table of a function at line first whose instruction at
 * code unit UNITS - 1 is on line: four units on first, one on line (code 13:
 * no columns, a signed varint line delta). */
static uint64_t new_linetable(struct arena *a, int first, int line)
{
    uint8_t t[16];
    size_t n = 0;
    int delta = line - first;
    uint64_t raw = delta < 0 ? ((uint64_t)-delta << 1) | 1 : (uint64_t)delta << 1;
    t[n++] = 0x80 | (13 << 3) | (UNITS - 2);
    t[n++] = 0;
    t[n++] = 0x80 | (13 << 3) | 0;
    do {
        t[n++] = (uint8_t)((raw & 0x3f) | (raw > 0x3f ? 0x40 : 0));
        raw >>= 6;
    } while (raw);
    return new_bytes(a, t, n);
}

struct code {
    uint64_t addr;
    uint64_t bytecode[3]; /* where tlbc_index 0, 1, 2 run it */
};

static struct code new_code(struct arena *a, const struct synth_frame *f, int first)
{
    const struct py_layout *l = a->l;
    struct code c;
    size_t size = l->code.co_code_adaptive + 2 * UNITS + 8;
    c.addr = new_object(a, a->code, size < 512 ? 512 : size);
    const char *dot = strrchr(f->qualname, '.');
    put_u64(a, c.addr, l->code.co_name, new_str(a, dot ? dot + 1 : f->qualname));
    put_u64(a, c.addr, l->code.co_qualname, new_str(a, f->qualname));
    put_u64(a, c.addr, l->code.co_filename, new_str(a, f->filename));
    put_i32(a, c.addr, l->code.co_firstlineno, first);
    put_u64(a, c.addr, l->code.co_linetable, new_linetable(a, first, f->line));
    uint64_t names = new_object(a, a->tuple, 64); /* no locals */
    put_u64(a, c.addr, l->code.co_localsplusnames, names);
    put_u64(a, c.addr, l->code.co_localspluskinds, new_bytes(a, (const uint8_t *)"", 0));
    c.bytecode[0] = c.bytecode[1] = c.bytecode[2] = c.addr + l->code.co_code_adaptive;
    if (l->code.co_tlbc != PY_NO_FIELD) {
        uint64_t array = alloc(a, l->code.codearray_entries + 3 * 8);
        for (int i = 1; i < 3; i++)
            c.bytecode[i] = alloc(a, 2 * UNITS);
        put(a, array, l->code.codearray_entries, c.bytecode, sizeof(c.bytecode));
        put_u64(a, c.addr, l->code.co_tlbc, array);
    }
    return c;
}

/* One frame on a thread's data stack at at: running c's last instruction
 * (or, if started is 0, not started yet), with this owner. */
static void put_frame(struct arena *a, uint64_t at, const struct code *c, uint64_t previous,
                      int owner, int tlbc_index, int tagged, int started)
{
    const struct py_layout *l = a->l;
    uint64_t exec = c ? c->addr : 0;
    if (c && tagged)
        exec |= l->iframe.ref_tag_bits & 1; /* a borrowed (3.14) or deferred (3.14t) reference */
    put_u64(a, at, l->iframe.code, exec);
    put_u64(a, at, l->iframe.previous, previous);
    if (c)
        put_u64(a, at, l->iframe.instr,
                started ? c->bytecode[tlbc_index] + 2 * (UNITS - 1) : c->bytecode[tlbc_index] - 2);
    put_u8(a, at, l->iframe.owner, (uint8_t)owner);
    put_i32(a, at, l->iframe.tlbc_index, tlbc_index);
}

/* A thread's frames, root first; started 0 marks one still being set up,
 * interp one of the interpreter's own (owner_c: entry, shim and base frames,
 * which may hold a code object of CPython's, as the shims do). */
struct frame_spec {
    const struct code *code;
    int started;
    int interp;
};

/* Lays the frames out in a new data-stack chunk; returns the leaf. */
static uint64_t new_stack(struct arena *a, const struct frame_spec *frames, size_t n,
                          int tlbc_index, uint64_t *chunk)
{
    const struct py_layout *l = a->l;
    size_t size = (l->iframe.localsplus + 15) & ~(size_t)15;
    *chunk = alloc(a, CHUNK_SIZE);
    put_u64(a, *chunk, l->chunk.previous, 0);
    put_u64(a, *chunk, l->chunk.size, CHUNK_SIZE);
    uint64_t at = *chunk + l->chunk.data, previous = 0;
    for (size_t i = 0; i < n; i++, at += size) {
        /* 3.14 also has FRAME_OWNED_BY_CSTACK (owner_c + 1): C-stack shims
         * between Python frames. */
        int shim = l->major == 3 && l->minor == 14 && i > 0;
        int owner = frames[i].interp ? (int)l->iframe.owner_c + shim : PY_OWNED_BY_THREAD;
        put_frame(a, at, frames[i].code, previous, owner, tlbc_index, (int)(i & 1),
                  frames[i].started);
        previous = at;
    }
    put_u64(a, *chunk, l->chunk.top, (at - *chunk - l->chunk.data) / 8);
    return previous;
}

static uint64_t new_tstate(struct arena *a, uint64_t interp, uint64_t ident, int tid, uint64_t leaf,
                           uint64_t chunk, int attached)
{
    const struct py_layout *l = a->l;
    uint64_t t = alloc(a, 2048);
    put_u64(a, t, l->tstate.interp, interp);
    put_u64(a, t, l->tstate.current_frame, leaf);
    put_u64(a, t, l->tstate.thread_id, ident);
    put_u64(a, t, l->tstate.native_thread_id, (uint64_t)tid);
    put_u64(a, t, l->tstate.datastack_chunk, chunk);
    put_i32(a, t, l->tstate.state, attached ? PY_THREAD_ATTACHED : 0);
    return t;
}

/* _Py_DebugOffsets at the start of _PyRuntime, from the image's layout. */
static void put_debug_offsets(struct arena *a, uint64_t runtime, const struct synth_options *o)
{
    const struct py_debug_offsets_map *map = o->map;
    struct py_layout l = *a->l;
    int major = o->major ? o->major : l.major, minor = o->major ? o->minor : l.minor;
    uint64_t hex = (uint64_t)major << 24 | (uint64_t)minor << 16 | 0xf0;
    put(a, runtime, map->cookie_offset, map->cookie, 8);
    put_u64(a, runtime, map->version_offset, hex);
    put_u64(a, runtime, map->free_threaded_offset, (uint64_t)l.free_threaded);
    for (size_t i = 0; i < map->count; i++) {
        const struct py_debug_offset *e = &map->entries[i];
        uint32_t field = *layout_field(&l, e->layout_field);
        uint64_t base = e->debug_base != PY_NO_FIELD ? GIL_AT : 0;
        if (e->debug_base != PY_NO_FIELD)
            put_u64(a, runtime, e->debug_base, base);
        if (e->group_size != PY_NO_FIELD)
            put_u64(a, runtime, e->group_size, o->group_size ? o->group_size : 1u << 20);
        put_u64(a, runtime, e->debug_offset, field == PY_NO_FIELD ? 0 : base + field);
    }
}

static void make_types(struct arena *a)
{
    a->type = alloc(a, 1024); /* type's type is itself */
    put_u64(a, a->type, a->l->object.ob_type, a->type);
    a->code = new_type(a, "code", 0);
    a->str = new_type(a, "str", 0);
    a->bytes = new_type(a, "bytes", 0);
    a->tuple = new_type(a, "tuple", 0);
    a->dict = new_type(a, "dict", 0);
    a->int_ = new_type(a, "int", 0);
    a->module = new_type(a, "module", 0);
    a->thread = new_type(a, "Thread", 48); /* instance dict right after the header */
}

/* sys.modules with threading._active naming the threads. */
static uint64_t new_modules(struct arena *a, const uint64_t *idents)
{
    uint64_t keys[SYNTH_THREADS], threads[SYNTH_THREADS];
    for (size_t i = 0; i < SYNTH_THREADS; i++) {
        keys[i] = new_int(a, idents[i]);
        threads[i] = new_object(a, a->thread, 64);
        put_u64(a, threads[i], 48, new_dict1(a, "_name", new_str(a, synth_threads[i].name)));
    }
    uint64_t module = new_object(a, a->module, 64);
    put_u64(a, module, a->l->obj.module_dict,
            new_dict1(a, "_active", new_dict(a, keys, threads, SYNTH_THREADS, 0)));
    return new_dict1(a, "threading", module);
}

/* The three threads' stacks (see synth.h), newest first as in the list. */
static void new_threads(struct arena *a, uint64_t interp, const uint64_t *idents, uint64_t *tstates)
{
    struct code c[9];
    static const struct synth_frame setup = {"Work.setup", "/srv/app/w\xc3\xb6rk.py", 30};
    const struct synth_thread *t = synth_threads;
    c[0] = new_code(a, &t[0].frames[0], 5);
    c[1] = new_code(a, &t[0].frames[1], 1); /* bootstrap, shared */
    c[2] = new_code(a, &t[1].frames[0], 20);
    c[3] = new_code(a, &t[1].frames[1], 10);
    c[4] = new_code(a, &setup, 30);
    c[5] = new_code(a, &t[2].frames[0], 40);
    c[6] = new_code(a, &t[2].frames[1], 45);
    c[7] = new_code(a, &t[2].frames[2], 1);
    static const struct synth_frame shim = {"__shim__", "<shim>", 1};
    c[8] = new_code(a, &shim, 1);
    struct frame_spec s0[] = {{NULL, 1, 1}, {&c[1], 1, 0}, {&c[0], 1, 0}};
    struct frame_spec s1[] = {{NULL, 1, 1},  {&c[1], 1, 0}, {&c[3], 1, 0},
                              {&c[8], 1, 1}, {&c[2], 1, 0}, {&c[4], 0, 0}};
    struct frame_spec s2[] = {{&c[8], 1, 1}, {&c[7], 1, 0}, {&c[6], 1, 0}, {&c[5], 1, 0}};
    const struct frame_spec *specs[] = {s0, s1, s2};
    size_t counts[] = {3, 6, 4};
    /* Free-threaded: the two other threads run copies 1 and 2 of the
     * bytecode, the main thread the code objects' own. */
    int ft = a->l->code.co_tlbc != PY_NO_FIELD;
    int tlbc[SYNTH_THREADS] = {ft ? 1 : 0, ft ? 2 : 0, 0};
    for (int i = 0; i < SYNTH_THREADS; i++) {
        uint64_t chunk;
        uint64_t leaf = new_stack(a, specs[i], counts[i], tlbc[i], &chunk);
        tstates[i] = new_tstate(a, interp, idents[i], t[i].tid, leaf, chunk, t[i].running);
    }
    for (int i = 0; i < SYNTH_THREADS; i++) {
        put_u64(a, tstates[i], a->l->tstate.next, i + 1 < SYNTH_THREADS ? tstates[i + 1] : 0);
        put_u64(a, tstates[i], a->l->tstate.prev, i ? tstates[i - 1] : 0);
    }
}

/* The interpreter, its GIL, its threads and the runtime pointing at it. */
static uint64_t new_runtime(struct arena *a, const struct synth_options *o)
{
    const struct py_layout *l = a->l;
    static const uint64_t idents[SYNTH_THREADS] = {0x7f31aa000700ull, 0x7f31ab000700ull,
                                                   0x7f31ac000740ull};
    uint64_t tstates[SYNTH_THREADS];
    uint64_t runtime = alloc(a, 4096), interp = alloc(a, INTERP_SIZE);
    put_u64(a, runtime, l->runtime.interpreters_head, interp);
    put_u64(a, interp, l->interp.next, 0);
    put_u64(a, interp, l->interp.modules, new_modules(a, idents));
    new_threads(a, interp, idents, tstates);
    put_u64(a, interp, l->interp.tstate_head, tstates[0]);
    uint64_t gil = interp + GIL_AT;
    put_u64(a, interp, l->interp.ceval_gil, gil);
    int on = !l->free_threaded || o->gil_enabled;
    put_i32(a, gil, l->gil.enabled, on ? 1 : 0);
    put_i32(a, gil, l->gil.locked, on);
    put_u64(a, gil, l->gil.last_holder, tstates[SYNTH_THREADS - 1]);
    if (o->map)
        put_debug_offsets(a, runtime, o);
    return runtime;
}

uint8_t *synth_capture(const struct synth_options *o, size_t *size)
{
    struct arena a = {
        .mem = xcalloc(1, ARENA_SIZE), .next = ARENA_BASE + ARENA_START, .l = o->layout};
    make_types(&a);
    uint64_t runtime = new_runtime(&a, o);
    struct strbuf sb;
    strbuf_init(&sb);
    uint8_t head[4] = {(uint8_t)o->layout->major, (uint8_t)o->layout->minor, CAPTURE_FILL_FAULT,
                       o->layout->free_threaded ? CAPTURE_FREE_THREADED : 0};
    uint64_t words[6] = {runtime, 0, 0, a.code, 0, (uint64_t)-1}; /* tid_offset: unknown */
    uint32_t pid = SYNTH_PID, zero = 0, count = SYNTH_THREADS, one = 1;
    uint32_t len = (uint32_t)(a.next - ARENA_BASE);
    strbuf_add(&sb, CAPTURE_MAGIC, 8);
    strbuf_add(&sb, head, 4);
    strbuf_add(&sb, &pid, 4);
    strbuf_add(&sb, words, sizeof(words));
    strbuf_add(&sb, &zero, 4); /* no patches */
    strbuf_add(&sb, &count, 4);
    for (int i = 0; i < SYNTH_THREADS; i++) {
        uint32_t state[2] = {(uint32_t)synth_threads[i].tid, synth_threads[i].running ? 'R' : 'S'};
        strbuf_add(&sb, state, 8);
    }
    uint64_t base = ARENA_BASE;
    strbuf_add(&sb, &one, 4);
    strbuf_add(&sb, &base, 8);
    strbuf_add(&sb, &len, 4);
    strbuf_add(&sb, a.mem, len);
    free(a.mem);
    *size = sb.len;
    return (uint8_t *)strbuf_detach(&sb);
}
