/*
 * elf.c - symbol and section lookup in ELF64 files.
 *
 * We read the section headers, then walk SHT_SYMTAB (full symbols, present
 * in unstripped builds such as pyenv's) before SHT_DYNSYM (exported symbols,
 * always present). Lookups are linear: a libpython has ~20k symbols and we do
 * a handful of lookups per attach, so a hash table would be wasted code.
 */
#include "proc/elf.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"

/* Returns a pointer to [off, off+len) inside the file, or NULL if out of bounds. */
static const void *at(const struct elf_file *ef, uint64_t off, uint64_t len)
{
    if (off > ef->size || len > ef->size - off)
        return NULL;
    return ef->data + off;
}

static const Elf64_Ehdr *header(const struct elf_file *ef)
{
    return at(ef, 0, sizeof(Elf64_Ehdr));
}

static const Elf64_Shdr *section_header(const struct elf_file *ef, unsigned index)
{
    const Elf64_Ehdr *eh = header(ef);
    if (index >= eh->e_shnum || eh->e_shentsize != sizeof(Elf64_Shdr))
        return NULL;
    return at(ef, eh->e_shoff + (uint64_t)index * sizeof(Elf64_Shdr), sizeof(Elf64_Shdr));
}

/* Returns the NUL-terminated string at off in the string table section, or NULL. */
static const char *string_at(const struct elf_file *ef, const Elf64_Shdr *strtab, uint64_t off)
{
    if (off >= strtab->sh_size)
        return NULL;
    const char *s = at(ef, strtab->sh_offset + off, strtab->sh_size - off);
    if (!s || !memchr(s, '\0', strtab->sh_size - off))
        return NULL;
    return s;
}

static int compute_min_vaddr(struct elf_file *ef)
{
    const Elf64_Ehdr *eh = header(ef);
    uint64_t min = UINT64_MAX;
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return -SG_ECORRUPT;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph =
            at(ef, eh->e_phoff + (uint64_t)i * sizeof(Elf64_Phdr), sizeof(Elf64_Phdr));
        if (!ph)
            return -SG_ECORRUPT;
        if (ph->p_type == PT_LOAD && ph->p_vaddr < min)
            min = ph->p_vaddr;
    }
    ef->min_vaddr = min == UINT64_MAX ? 0 : (min & ~(uint64_t)4095);
    return 0;
}

int elf_open_buffer(struct elf_file *ef, const uint8_t *data, size_t size)
{
    ef->data = data;
    ef->size = size;
    ef->min_vaddr = 0;
    ef->mapped = 0;
    const Elf64_Ehdr *eh = header(ef);
    if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return -SG_ECORRUPT;
    return compute_min_vaddr(ef);
}

int elf_open(struct elf_file *ef, const char *path)
{
    ef->data = NULL;
    ef->size = 0;
    ef->mapped = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -SG_EIO;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return -SG_ECORRUPT;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -SG_EIO;
    int err = elf_open_buffer(ef, map, (size_t)st.st_size);
    if (err) {
        munmap(map, (size_t)st.st_size);
        ef->data = NULL;
        ef->size = 0;
        return err;
    }
    ef->mapped = 1;
    return 0;
}

void elf_close(struct elf_file *ef)
{
    if (ef->data && ef->mapped)
        munmap((void *)ef->data, ef->size);
    ef->data = NULL;
    ef->size = 0;
    ef->mapped = 0;
}

static int lookup_in(const struct elf_file *ef, unsigned type, const char *name, uint64_t *value,
                     uint64_t *size)
{
    const Elf64_Ehdr *eh = header(ef);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        const Elf64_Shdr *sh = section_header(ef, i);
        if (!sh || sh->sh_type != type || sh->sh_entsize != sizeof(Elf64_Sym))
            continue;
        const Elf64_Shdr *strtab = section_header(ef, sh->sh_link);
        if (!strtab)
            continue;
        uint64_t count = sh->sh_size / sizeof(Elf64_Sym);
        for (uint64_t j = 0; j < count; j++) {
            const Elf64_Sym *sym = at(ef, sh->sh_offset + j * sizeof(Elf64_Sym), sizeof(Elf64_Sym));
            if (!sym)
                break;
            if (sym->st_shndx == SHN_UNDEF || sym->st_name == 0)
                continue;
            const char *s = string_at(ef, strtab, sym->st_name);
            if (s && strcmp(s, name) == 0) {
                *value = sym->st_value;
                if (size)
                    *size = sym->st_size;
                return 0;
            }
        }
    }
    return -SG_ENOTPY;
}

int elf_symbol(const struct elf_file *ef, const char *name, uint64_t *value, uint64_t *size)
{
    if (lookup_in(ef, SHT_SYMTAB, name, value, size) == 0)
        return 0;
    return lookup_in(ef, SHT_DYNSYM, name, value, size);
}

int elf_section(const struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *offset,
                uint64_t *size)
{
    const Elf64_Ehdr *eh = header(ef);
    const Elf64_Shdr *names = section_header(ef, eh->e_shstrndx);
    if (!names)
        return -SG_ENOTPY;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        const Elf64_Shdr *sh = section_header(ef, i);
        if (!sh)
            continue;
        const char *s = string_at(ef, names, sh->sh_name);
        if (s && strcmp(s, name) == 0) {
            *addr = sh->sh_addr;
            *offset = sh->sh_offset;
            *size = sh->sh_size;
            return 0;
        }
    }
    return -SG_ENOTPY;
}
