/*
 * elf.c - symbol and section lookup in ELF64 files a target hands us.
 *
 * We read the section headers, then walk SHT_SYMTAB (full symbols, present
 * in unstripped builds such as pyenv's) before SHT_DYNSYM (exported symbols,
 * always present). Lookups are linear: a libpython has ~20k symbols and we do
 * a handful of lookups per attach, so a hash table would be wasted code.
 *
 * A file and a buffer are read the same way (read_at): the buffer is the
 * fuzzers' and tests' stand-in for a file, so they exercise the one path.
 * Every offset and count comes from the file and is checked against the
 * file's size before use; section contents are read once (load) and kept in
 * chunks, whose total is capped.
 */
#include "proc/elf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/util.h"

struct elf_chunk {
    struct elf_chunk *next;
    uint64_t offset, size;
    uint8_t bytes[];
};

/* Reads size bytes at offset into buf. Returns 0, -SG_ECORRUPT if the range
 * is not inside the file, or -SG_EIO if the file could not be read (it may
 * have shrunk since we opened it). */
static int read_at(const struct elf_file *ef, uint64_t offset, void *buf, uint64_t size)
{
    if (offset > ef->size || size > ef->size - offset)
        return -SG_ECORRUPT;
    if (ef->fd < 0) {
        memcpy(buf, ef->data + offset, size);
        return 0;
    }
    uint64_t done = 0;
    while (done < size) {
        ssize_t n = pread(ef->fd, (uint8_t *)buf + done, size - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -SG_EIO;
        done += (uint64_t)n;
    }
    return 0;
}

/* Returns, in *out, the file's bytes [offset, offset + size), read on first
 * use and kept until elf_close. Returns 0, -SG_ENOMEM past the caps, or
 * read_at's error. */
static int load(struct elf_file *ef, uint64_t offset, uint64_t size, const uint8_t **out)
{
    for (struct elf_chunk *c = ef->chunks; c; c = c->next) {
        if (c->offset == offset && c->size == size) {
            *out = c->bytes;
            return 0;
        }
    }
    if (size > ELF_MAX_SECTION || size > ELF_MAX_LOADED - ef->loaded)
        return -SG_ENOMEM;
    if (offset > ef->size || size > ef->size - offset)
        return -SG_ECORRUPT; /* before allocating what a lying header asks for */
    struct elf_chunk *c = xmalloc(sizeof(*c) + size);
    int err = read_at(ef, offset, c->bytes, size);
    if (err) {
        free(c);
        return err;
    }
    c->offset = offset;
    c->size = size;
    c->next = ef->chunks;
    ef->chunks = c;
    ef->loaded += size;
    *out = c->bytes;
    return 0;
}

/* Loads the contents of section index (none for SHT_NOBITS, which has no
 * bytes in the file). */
static int load_section(struct elf_file *ef, size_t index, const uint8_t **out, uint64_t *size)
{
    if (index >= ef->section_count)
        return -SG_ECORRUPT;
    const Elf64_Shdr *sh = &ef->sections[index];
    if (sh->sh_type == SHT_NOBITS || sh->sh_type == SHT_NULL)
        return -SG_ENOTPY;
    *size = sh->sh_size;
    return load(ef, sh->sh_offset, sh->sh_size, out);
}

/* Copies the PT_LOAD program headers and finds min_vaddr. */
static int read_segments(struct elf_file *ef, const Elf64_Ehdr *eh)
{
    if (eh->e_phnum == 0)
        return 0;
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == PN_XNUM)
        return -SG_ECORRUPT;
    Elf64_Phdr *ph = xmalloc((size_t)eh->e_phnum * sizeof(*ph));
    int err = read_at(ef, eh->e_phoff, ph, (uint64_t)eh->e_phnum * sizeof(*ph));
    if (err) {
        free(ph);
        return -SG_ECORRUPT;
    }
    uint64_t min = UINT64_MAX;
    ef->segments = xcalloc(eh->e_phnum, sizeof(*ef->segments));
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        ef->segments[ef->segment_count++] = (struct elf_segment){
            .vaddr = ph[i].p_vaddr,
            .memsz = ph[i].p_memsz,
            .offset = ph[i].p_offset,
            .filesz = ph[i].p_filesz,
            .flags = ph[i].p_flags,
        };
        if (ph[i].p_vaddr < min)
            min = ph[i].p_vaddr;
    }
    free(ph);
    ef->min_vaddr = min == UINT64_MAX ? 0 : (min & ~(uint64_t)4095);
    return 0;
}

/* Copies the section headers and loads the section-name table. A file whose
 * section headers are missing or cut off keeps no sections: it has no
 * symbols, like a stripped one, but is still an ELF file. */
static void read_sections(struct elf_file *ef, const Elf64_Ehdr *eh)
{
    if (eh->e_shnum == 0 || eh->e_shentsize != sizeof(Elf64_Shdr))
        return;
    Elf64_Shdr *sh = xmalloc((size_t)eh->e_shnum * sizeof(*sh));
    if (read_at(ef, eh->e_shoff, sh, (uint64_t)eh->e_shnum * sizeof(*sh)) != 0) {
        free(sh);
        return;
    }
    ef->sections = sh;
    ef->section_count = eh->e_shnum;
    const uint8_t *names;
    uint64_t size;
    if (load_section(ef, eh->e_shstrndx, &names, &size) == 0) {
        ef->names = (const char *)names;
        ef->names_size = size;
    }
}

static int read_headers(struct elf_file *ef)
{
    Elf64_Ehdr eh;
    if (read_at(ef, 0, &eh, sizeof(eh)) != 0)
        return -SG_ECORRUPT;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return -SG_ECORRUPT;
    int err = read_segments(ef, &eh);
    if (err)
        return err;
    read_sections(ef, &eh);
    return 0;
}

static void init(struct elf_file *ef, int fd, const uint8_t *data, uint64_t size)
{
    memset(ef, 0, sizeof(*ef));
    ef->fd = fd;
    ef->data = data;
    ef->size = size;
}

int elf_open_buffer(struct elf_file *ef, const uint8_t *data, size_t size)
{
    init(ef, -1, data, size);
    int err = read_headers(ef);
    if (err)
        elf_close(ef);
    return err;
}

int elf_open_fd(struct elf_file *ef, int fd)
{
    struct stat st;
    init(ef, fd, NULL, 0);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        elf_close(ef);
        return -SG_EIO; /* a device or FIFO must never be read: it may block or have effects */
    }
    ef->size = (uint64_t)st.st_size;
    int err = read_headers(ef);
    if (err)
        elf_close(ef);
    return err;
}

void elf_close(struct elf_file *ef)
{
    while (ef->chunks) {
        struct elf_chunk *next = ef->chunks->next;
        free(ef->chunks);
        ef->chunks = next;
    }
    free(ef->sections);
    free(ef->segments);
    if (ef->fd >= 0)
        close(ef->fd);
    init(ef, -1, NULL, 0);
}

/* Returns the NUL-terminated string at off in a string table, or NULL. */
static const char *string_at(const uint8_t *table, uint64_t table_size, uint64_t off)
{
    if (off >= table_size || !memchr(table + off, '\0', table_size - off))
        return NULL;
    return (const char *)table + off;
}

/* Looks name up in one symbol table section; *budget is how many more
 * entries this lookup may look at. */
static int lookup_table(struct elf_file *ef, size_t index, const char *name, uint64_t *value,
                        uint64_t *size, uint64_t *budget)
{
    const Elf64_Shdr *sh = &ef->sections[index];
    uint64_t count = sh->sh_size / sizeof(Elf64_Sym);
    if (count > *budget)
        count = *budget;
    *budget -= count;
    const uint8_t *syms, *strings;
    uint64_t strings_size;
    unsigned link = sh->sh_link;
    if (load(ef, sh->sh_offset, count * sizeof(Elf64_Sym), &syms) != 0 ||
        load_section(ef, link, &strings, &strings_size) != 0)
        return -SG_ENOTPY;
    for (uint64_t j = 0; j < count; j++) {
        Elf64_Sym sym;
        memcpy(&sym, syms + j * sizeof(sym), sizeof(sym)); /* chunks are not aligned for it */
        if (sym.st_shndx == SHN_UNDEF || sym.st_name == 0)
            continue;
        const char *s = string_at(strings, strings_size, sym.st_name);
        if (s && strcmp(s, name) == 0) {
            *value = sym.st_value;
            if (size)
                *size = sym.st_size;
            return 0;
        }
    }
    return -SG_ENOTPY;
}

static int lookup_in(struct elf_file *ef, unsigned type, const char *name, uint64_t *value,
                     uint64_t *size, uint64_t *budget)
{
    for (size_t i = 0; i<ef->section_count && * budget> 0; i++) {
        const Elf64_Shdr *sh = &ef->sections[i];
        if (sh->sh_type != type || sh->sh_entsize != sizeof(Elf64_Sym))
            continue;
        if (lookup_table(ef, i, name, value, size, budget) == 0)
            return 0;
    }
    return -SG_ENOTPY;
}

int elf_symbol(struct elf_file *ef, const char *name, uint64_t *value, uint64_t *size)
{
    uint64_t budget = ELF_MAX_SYMBOLS;
    if (lookup_in(ef, SHT_SYMTAB, name, value, size, &budget) == 0)
        return 0;
    return lookup_in(ef, SHT_DYNSYM, name, value, size, &budget);
}

/* Returns the index of the first section called name, or -1. */
static long find_section(const struct elf_file *ef, const char *name)
{
    if (!ef->names)
        return -1;
    for (size_t i = 0; i < ef->section_count; i++) {
        const char *s =
            string_at((const uint8_t *)ef->names, ef->names_size, ef->sections[i].sh_name);
        if (s && strcmp(s, name) == 0)
            return (long)i;
    }
    return -1;
}

int elf_section(const struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *offset,
                uint64_t *size)
{
    long i = find_section(ef, name);
    if (i < 0)
        return -SG_ENOTPY;
    *addr = ef->sections[i].sh_addr;
    *offset = ef->sections[i].sh_offset;
    *size = ef->sections[i].sh_size;
    return 0;
}

int elf_section_data(struct elf_file *ef, const char *name, const uint8_t **data, uint64_t *size)
{
    long i = find_section(ef, name);
    if (i < 0)
        return -SG_ENOTPY;
    return load_section(ef, (size_t)i, data, size);
}
