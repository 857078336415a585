/*
 * fuzz_elf.c - libFuzzer harness for the ELF reader (proc/elf.c) and the
 * runtime detection behind it (python/detect.c: symbols, the version from
 * Py_Version, the file name or the PY_VERSION string in .rodata, the scan of
 * a stripped binary's data, 3.13's _Py_DebugOffsets).
 *
 * The input is an ELF file, as a target would hand us one. The harness
 * builds the process that maps it: every PT_LOAD segment is mapped at
 * BASE - min_vaddr + p_vaddr, its file bytes first and zeros after (so
 * Py_Version, _PyRuntime's initialiser and the debug offsets read from
 * memory are the file's own bytes), at most MAX_MAPS segments of at most
 * MAX_MAP bytes each, writable where PF_W says so. The file's name in those
 * maps, which the version may be read from, is picked by the input's size.
 *
 * Besides the sanitizers' checks it asserts what must hold for any input:
 * every lookup returns 0 or a negative SG_E* code; a found runtime has a
 * supported layout and a NUL-terminated version; no section read exceeds
 * ELF_MAX_SECTION. The corpus (fuzz/corpus/elf) is made from the installed
 * interpreters' own files by tools/elf_corpus.py: their headers, symbol
 * tables and version strings, plus truncated and mutated variants.
 *
 * Build and run: `make fuzz` (fuzz/run.sh).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc/elf.h"
#include "proc/maps.h"
#include "proc/mem.h"
#include "python/detect.h"
#include "util/err.h"

#define BASE 0x7f1234000000ull
#define MAX_MAPS 16
#define MAX_MAP ((uint64_t)1 << 20)

static const char *const names[] = {
    "/usr/bin/python",
    "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
    "/opt/python/lib/libpython2.7.so.1.0",
    "/usr/local/bin/python3.13 (deleted)",
};

/* The process image: the input's PT_LOAD segments at their addresses. */
struct image {
    const uint8_t *data;
    size_t size;
    struct elf_segment segs[MAX_MAPS];
    uint64_t starts[MAX_MAPS];
    size_t count;
};

/* Reads from the segment holding [addr, addr + size): file bytes, then zeros. */
static int image_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    const struct image *im = ctx;
    for (size_t i = 0; i < im->count; i++) {
        const struct elf_segment *s = &im->segs[i];
        uint64_t start = im->starts[i];
        if (addr < start || addr - start > s->memsz || size > s->memsz - (addr - start))
            continue;
        uint64_t at = addr - start;
        for (size_t k = 0; k < size; k++) {
            uint64_t file = s->offset + at + k;
            int present = at + k < s->filesz && file >= s->offset && file < im->size;
            ((uint8_t *)buf)[k] = present ? im->data[file] : 0;
        }
        return 0;
    }
    return -SG_EFAULT;
}

static void check_code(int rc)
{
    if (rc > 0 || rc < -SG_ENOMEM)
        abort();
}

/* Maps the segments like a loader would, as maps entries named path. */
static void build_process(const struct elf_file *ef, struct image *im, struct maps *m,
                          struct map_entry *entries, const char *path)
{
    im->count = 0;
    for (size_t i = 0; i < ef->segment_count && im->count < MAX_MAPS; i++) {
        struct elf_segment s = ef->segments[i];
        if (s.memsz == 0)
            continue;
        if (s.memsz > MAX_MAP)
            s.memsz = MAX_MAP;
        uint64_t start = BASE - ef->min_vaddr + s.vaddr;
        if (start < BASE - ef->min_vaddr || start > UINT64_MAX - s.memsz)
            continue; /* wraps around: no loader maps that */
        im->segs[im->count] = s;
        im->starts[im->count] = start;
        entries[im->count] = (struct map_entry){
            .start = start,
            .end = start + s.memsz,
            .offset = s.vaddr - ef->min_vaddr,
            .perms = {'r', (s.flags & PF_W) ? 'w' : '-', (s.flags & PF_X) ? 'x' : '-', 'p', 0},
            .path = (char *)path,
        };
        im->count++;
    }
    m->entries = entries;
    m->count = m->cap = im->count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct elf_file ef;
    if (elf_open_buffer(&ef, data, size) != 0)
        return 0;
    static const char *const symbols[] = {"_PyRuntime", "interp_head", "Py_Version", "PyCode_Type",
                                          "no_such_symbol"};
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        uint64_t value, sym_size;
        check_code(elf_symbol(&ef, symbols[i], &value, &sym_size));
    }
    const uint8_t *rodata;
    uint64_t rodata_size;
    if (elf_section_data(&ef, ".rodata", &rodata, &rodata_size) == 0 &&
        rodata_size > ELF_MAX_SECTION)
        abort();

    struct image im = {.data = data, .size = size};
    struct map_entry entries[MAX_MAPS];
    struct maps m;
    const char *path = names[size % (sizeof(names) / sizeof(names[0]))];
    build_process(&ef, &im, &m, entries, path);
    struct mem_reader r = {.read = image_read, .ctx = &im};
    struct py_runtime rt;
    char why[512];
    memset(&rt, 0, sizeof(rt));
    rt.pid = 1234;
    int rc = detect_in_file(&rt, &r, &m, path, BASE, &ef, why, sizeof(why));
    check_code(rc);
    if (rc == 0 && (!memchr(rt.version, '\0', sizeof(rt.version)) ||
                    !memchr(rt.binary, '\0', sizeof(rt.binary)) || rt.layout.major != rt.major))
        abort();
    elf_close(&ef);
    return 0;
}
