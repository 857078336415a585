/*
 * elf.h - just enough ELF64 to find symbols and sections in a target's binary.
 *
 * The file comes from the target (proc/tfile.c opens it as the target maps
 * it), so it is hostile input: every count and offset is checked against the
 * file's size and against fixed caps before use. Nothing is mmap'd: a target
 * that truncates its own file while we read it would kill an mmap reader with
 * SIGBUS. The headers are copied at open, and only the sections a lookup
 * needs are read (pread), once each, into memory freed by elf_close.
 */
#ifndef SPYGLASS_PROC_ELF_H
#define SPYGLASS_PROC_ELF_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

/* Most bytes of one section read into memory (a libpython's largest table,
 * its .strtab, is under 1 MiB; a static 3.11's .rodata 2 MiB). */
#define ELF_MAX_SECTION ((uint64_t)64 << 20)
/* Most bytes read into memory for one file, all sections together. */
#define ELF_MAX_LOADED ((uint64_t)256 << 20)
/* Most symbol entries one lookup looks at, over all symbol tables
 * (a libpython has 13,000 in .symtab; a large static program 300,000). */
#define ELF_MAX_SYMBOLS ((uint64_t)1 << 22)

struct elf_chunk;

/* One PT_LOAD segment: file bytes [offset, offset + filesz) are mapped at
 * vaddr; the rest of memsz is zero-filled. */
struct elf_segment {
    uint64_t vaddr, memsz;
    uint64_t offset, filesz;
    uint32_t flags; /* PF_R, PF_W, PF_X */
};

struct elf_file {
    int fd;               /* the file (elf_open_fd), or -1 */
    const uint8_t *data;  /* or the caller's buffer (elf_open_buffer) */
    uint64_t size;        /* the file's size when opened */
    uint64_t min_vaddr;   /* lowest PT_LOAD p_vaddr, page aligned */
    Elf64_Shdr *sections; /* section headers, copied at open */
    size_t section_count;
    const char *names; /* the section-name table (a chunk), or NULL */
    uint64_t names_size;
    struct elf_segment *segments;
    size_t segment_count;
    struct elf_chunk *chunks; /* section contents read so far */
    uint64_t loaded;          /* bytes held by chunks */
};

/* Reads the ELF file open at fd, which elf_file now owns (elf_close closes
 * it; so does a failure). Returns 0, -SG_EIO (not a regular file, or a read
 * failed) or -SG_ECORRUPT (not a well-formed 64-bit little-endian ELF). */
int elf_open_fd(struct elf_file *ef, int fd);
/* Same over a caller-owned buffer (tests, fuzzing); the buffer must outlive ef. */
int elf_open_buffer(struct elf_file *ef, const uint8_t *data, size_t size);
/* Frees what ef holds and closes its file; no-op on a closed one. */
void elf_close(struct elf_file *ef);

/* Looks name up in .symtab then .dynsym. On success returns 0 and sets *value
 * (the unrelocated st_value) and, if size is non-NULL, *size. Returns
 * -SG_ENOTPY when absent (or past the caps). */
int elf_symbol(struct elf_file *ef, const char *name, uint64_t *value, uint64_t *size);

/* Finds a section by name. Returns 0 and its address, file offset and size, or -SG_ENOTPY. */
int elf_section(const struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *offset,
                uint64_t *size);

/* Reads the contents of the section name (at most ELF_MAX_SECTION bytes).
 * Returns 0 and sets *data (owned by ef, valid until elf_close) and *size;
 * -SG_ENOTPY if there is no such section with contents in the file,
 * -SG_ENOMEM past the caps, -SG_EIO if the read failed (the file shrank). */
int elf_section_data(struct elf_file *ef, const char *name, const uint8_t **data, uint64_t *size);

/* Returns the address the symbol value v has in a process that mapped the
 * file's offset 0 at base. */
static inline uint64_t elf_relocate(const struct elf_file *ef, uint64_t base, uint64_t v)
{
    return base - ef->min_vaddr + v;
}

#endif
