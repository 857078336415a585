/*
 * elf.h - just enough ELF64 to find symbols and sections in a mapped binary.
 *
 * The file is mmap'd read-only; every offset taken from it is bounds-checked
 * against its size, so a truncated or hostile file fails cleanly.
 */
#ifndef SPYGLASS_PROC_ELF_H
#define SPYGLASS_PROC_ELF_H

#include <stddef.h>
#include <stdint.h>

struct elf_file {
    const uint8_t *data;
    size_t size;
    uint64_t min_vaddr; /* lowest PT_LOAD p_vaddr, page aligned */
    int mapped;         /* 1 if elf_open mapped data (elf_close unmaps it) */
};

/* Maps the ELF file at path. Returns 0, -SG_EIO (cannot open), or
 * -SG_ECORRUPT (not a 64-bit little-endian ELF). */
int elf_open(struct elf_file *ef, const char *path);
/* Same, over a caller-owned buffer (for tests and fuzzing); not unmapped by elf_close. */
int elf_open_buffer(struct elf_file *ef, const uint8_t *data, size_t size);
void elf_close(struct elf_file *ef);

/* Looks name up in .symtab then .dynsym. On success returns 0 and sets *value
 * (the unrelocated st_value) and, if size is non-NULL, *size. Returns
 * -SG_ENOTPY when absent. */
int elf_symbol(const struct elf_file *ef, const char *name, uint64_t *value, uint64_t *size);

/* Finds a section by name. Returns 0 and its address, file offset and size, or -SG_ENOTPY. */
int elf_section(const struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *offset,
                uint64_t *size);

/* Returns the address the symbol value v has in a process that mapped the
 * file's offset 0 at base. */
static inline uint64_t elf_relocate(const struct elf_file *ef, uint64_t base, uint64_t v)
{
    return base - ef->min_vaddr + v;
}

#endif
