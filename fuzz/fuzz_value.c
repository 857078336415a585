/*
 * fuzz_value.c - libFuzzer harness for python/value.c over a fake address space.
 *
 * value.c must survive any memory: torn objects, lying lengths, pointer
 * cycles. Random bytes alone would almost never look like a Python object
 * (a type's tp_name must lead to "int" before an int is decoded), so the
 * harness builds a small world from the input in which pointers are cheap
 * to hit:
 *
 *   - the image (the input after a 4-byte header) is mapped at IMAGE_BASE;
 *     every 8-byte word of it whose top byte is TAG_OBJECT reads as a
 *     pointer into the image (IMAGE_BASE + its low 20 bits), and one whose
 *     top byte is TAG_TYPE as a pointer to fake type number (low byte);
 *   - the fake types sit at TYPE_BASE, TYPE_SIZE bytes each, filled from the
 *     image (so basicsize, dictoffset, flags and cached keys are fuzzed too),
 *     with tp_name pointing at a real built-in name ("int", "dict", ...) and
 *     the heap-type flag cleared for built-in names and set for the others.
 *
 * Header: byte 0 picks the layout (2.7 ... 3.13), byte 1 the call, bytes 2-3
 * the object's offset in the image, also used as the repr buffer size.
 * Besides the sanitizers' checks it asserts what must hold for any input:
 * the result is 0 or a negative SG_E* code; a repr is NUL-terminated inside
 * its buffer and valid UTF-8; a repr reads at most VALUE_REPR_BUDGET bytes
 * and any other call at most THREADS_BUDGET_MAX.
 *
 * Build and run: `make fuzz` (fuzz/run.sh), or by hand as in fuzz_linetable.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"
#include "python/layout.h"
#include "python/value.h"

#define IMAGE_BASE 0x7f0000100000ull
#define TYPE_BASE 0x7f0000000000ull
#define NAME_BASE 0x7f00000f0000ull
#define TYPE_SIZE 1024
#define TAG_OBJECT 0xA1
#define TAG_TYPE 0xA2
#define HEADER_LEN 4
/* value.c's largest budget (the thread-name walk). */
#define THREADS_BUDGET_MAX ((size_t)16 << 20)
#define TPFLAGS_HEAPTYPE (1ull << 9)

static const char *const type_names[] = {
    "NoneType", "bool",    "int",       "long",     "float",
    "str",      "unicode", "bytes",     "list",     "tuple",
    "dict",     "set",     "frozenset", "instance", "classobj",
    "cell",     "module",  "Thread",    "Point",    "collections.OrderedDict",
};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))
/* Heap types (user classes) start here in type_names. */
#define FIRST_HEAP_TYPE 17

static const int versions[][2] = {{2, 7},  {3, 6},  {3, 7},  {3, 8}, {3, 9},
                                  {3, 10}, {3, 11}, {3, 12}, {3, 13}};

/* The fake address space of one input. */
struct world {
    uint8_t *image;
    size_t image_size;
    uint8_t types[NTYPES][TYPE_SIZE];
    char names[NTYPES * 32];
    size_t bytes_read;
};

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void store64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* Copies [addr, addr + size) of one region if it lies inside it. */
static int read_region(uint64_t base, const uint8_t *data, size_t len, uint64_t addr, void *buf,
                       size_t size)
{
    if (addr < base || addr - base > len || size > len - (addr - base))
        return 0;
    memcpy(buf, data + (addr - base), size);
    return 1;
}

static int world_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct world *w = ctx;
    w->bytes_read += size;
    if (read_region(IMAGE_BASE, w->image, w->image_size, addr, buf, size) ||
        read_region(TYPE_BASE, &w->types[0][0], sizeof(w->types), addr, buf, size) ||
        read_region(NAME_BASE, (const uint8_t *)w->names, sizeof(w->names), addr, buf, size))
        return 0;
    return -SG_EFAULT;
}

/* Rewrites tagged words of an 8-byte aligned block into real pointers. */
static void relocate(uint8_t *block, size_t size)
{
    for (size_t at = 0; at + 8 <= size; at += 8) {
        uint64_t word = load64(block + at);
        uint8_t tag = (uint8_t)(word >> 56);
        if (tag == TAG_OBJECT)
            store64(block + at, IMAGE_BASE + (word & 0xfffff));
        else if (tag == TAG_TYPE)
            store64(block + at, TYPE_BASE + (word & 0xff) % NTYPES * TYPE_SIZE);
    }
}

static void world_build(struct world *w, const struct py_layout *l, const uint8_t *data,
                        size_t size)
{
    memset(w, 0, sizeof(*w));
    w->image_size = size;
    w->image = malloc(size ? size : 1);
    memcpy(w->image, data, size);
    relocate(w->image, size);
    size_t name_at = 0;
    for (size_t k = 0; k < NTYPES; k++) {
        uint8_t *t = w->types[k];
        for (size_t i = 0; size && i < TYPE_SIZE; i++)
            t[i] = data[(k * 64 + i) % size];
        relocate(t, TYPE_SIZE);
        store64(t + l->object.tp_name, NAME_BASE + name_at);
        uint64_t flags = load64(t + l->object.tp_flags);
        flags = k < FIRST_HEAP_TYPE ? flags & ~TPFLAGS_HEAPTYPE : flags | TPFLAGS_HEAPTYPE;
        store64(t + l->object.tp_flags, flags);
        strcpy(w->names + name_at, type_names[k]);
        name_at += strlen(type_names[k]) + 1;
    }
}

/* Returns 1 if s is well-formed UTF-8. */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        size_t extra = *s < 0x80             ? 0
                       : (*s & 0xE0) == 0xC0 ? 1
                       : (*s & 0xF0) == 0xE0 ? 2
                       : (*s & 0xF8) == 0xF0 ? 3
                                             : 9;
        if (extra == 9)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[k] & 0xC0) != 0x80)
                return 0;
        }
        s += extra + 1;
    }
    return 1;
}

static int count_item(uint64_t key, uint64_t value, void *ctx)
{
    (void)key;
    (void)value;
    ++*(size_t *)ctx;
    return 0;
}

static void count_thread(uint64_t ident, const char *name, void *ctx)
{
    (void)ident;
    if (!utf8_valid((const unsigned char *)name))
        abort();
    ++*(size_t *)ctx;
}

static void check_rc(int rc)
{
    if (rc > 0 || rc < -SG_ENOMEM)
        abort();
}

/* Runs one value.c call on obj; checks what every call promises. */
static void run_call(struct world *w, struct mem_reader *r, const struct py_layout *l, int call,
                     uint64_t obj, size_t repr_size)
{
    char buf[512];
    uint64_t value;
    int64_t number;
    size_t n = 0;
    int rc;
    w->bytes_read = 0;
    switch (call % 6) {
    case 0:
        memset(buf, 'Z', sizeof(buf));
        rc = value_repr(r, l, obj, buf, repr_size);
        if (memchr(buf, '\0', repr_size) == NULL || !utf8_valid((unsigned char *)buf) ||
            w->bytes_read > VALUE_REPR_BUDGET)
            abort();
        break;
    case 1:
        rc = value_getattr(r, l, obj, call & 8 ? "_name" : "x", &value);
        break;
    case 2:
        rc = value_dict_get_str(r, l, obj, call & 8 ? "threading" : "k", &value);
        break;
    case 3:
        rc = value_dict_foreach(r, l, obj, 1000, count_item, &n);
        break;
    case 4:
        rc = value_thread_names(r, l, obj, count_thread, &n);
        break;
    default:
        rc = call & 8 ? value_read_int(r, l, obj, &number)
                      : value_type_name(r, l, obj, buf, sizeof(buf));
        break;
    }
    check_rc(rc);
    if (w->bytes_read > THREADS_BUDGET_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER_LEN)
        return 0;
    const int *v = versions[data[0] % (sizeof(versions) / sizeof(versions[0]))];
    const struct py_layout *l = layout_find(v[0], v[1]);
    if (!l)
        abort();
    size_t at = (size_t)data[2] | (size_t)data[3] << 8;
    static struct world w;
    world_build(&w, l, data + HEADER_LEN, size - HEADER_LEN);
    struct mem_reader r = {.read = world_read, .ctx = &w};
    size_t repr_size = 1 + at % 511;
    run_call(&w, &r, l, data[1], IMAGE_BASE + at, repr_size);
    free(w.image);
    return 0;
}
