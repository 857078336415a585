/*
 * detect.c - find _PyRuntime / interp_head in a target and pick its layout.
 *
 * Order of attempts, first that works wins:
 *   1. libpython*.so mapped into the target (pyenv and most distro builds),
 *   2. the executable itself (static builds such as Debian's /usr/bin/python3.11),
 *   3. a mapped file named python3.X: an interpreter started through a loader
 *      or wrapper (ld-linux-x86-64.so.2 python3.15 ...), whose /proc/PID/exe
 *      is the loader,
 * each by ELF symbol (.symtab, then .dynsym), relocated by where the file's
 * offset 0 is mapped. If no candidate has the symbols (stripped), the
 * writable data of a candidate that looks like Python is scanned for an
 * interpreter state that validates.
 *
 * The version comes from Py_Version (3.11+), else from the file name
 * ("libpython3.7m.so"), refined to major.minor.micro by the PY_VERSION
 * string in .rodata. A version newer than our newest table (3.16) is read
 * through its own _Py_DebugOffsets, with the newest table for the rest, and
 * a note that says so. From 3.13 on, python/debug_offsets.c then picks the
 * build's table (free-threaded or not) and corrects it.
 */
#include "python/detect.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc/elf.h"
#include "proc/maps.h"
#include "proc/proc.h"
#include "proc/tfile.h"
#include "python/debug_offsets.h"
#include "python/value.h"
#include "util/util.h"

/* Bytes of writable data we are willing to scan for a stripped runtime, over
 * all the candidate's mappings (a target may map its file many times), and
 * reads of target memory the scan's checks may make (a data section full of
 * pointers would cost one read each). */
#define SCAN_LIMIT ((uint64_t)64 << 20)
#define SCAN_MAX_READS 400000 /* real interpreters need 13,000-54,000 */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int is_libpython(const char *path)
{
    return strncmp(base_name(path), "libpython", 9) == 0 && strstr(base_name(path), ".so");
}

/* An interpreter executable mapped as a file: "python3.15", "python3.14t". */
static int is_python_binary(const char *path)
{
    const char *name = base_name(path);
    return strncmp(name, "python", 6) == 0 && isdigit((unsigned char)name[6]) &&
           !strstr(name, ".so");
}

/* 1 if a file name says free-threaded: "python3.14t", "libpython3.13t.so". */
static int free_threaded_name(const char *path)
{
    const char *name = base_name(path);
    const char *p = strncmp(name, "lib", 3) == 0 ? name + 3 : name;
    if (strncmp(p, "python", 6) != 0)
        return 0;
    p += 6;
    while (isdigit((unsigned char)*p) || *p == '.')
        p++;
    return *p == 't';
}

int detect_version_from_name(const char *path, int *major, int *minor)
{
    const char *name = base_name(path);
    const char *p = NULL;
    if (strncmp(name, "libpython", 9) == 0)
        p = name + 9;
    else if (strncmp(name, "python", 6) == 0)
        p = name + 6;
    if (!p || !isdigit((unsigned char)p[0]) || p[1] != '.' || !isdigit((unsigned char)p[2]))
        return -1;
    *major = p[0] - '0';
    *minor = atoi(p + 2);
    return 0;
}

/* Returns 1 if s looks like a PY_VERSION string: "3.11.7", "3.13.0rc1", "2.7.18+". */
static int looks_like_version(const char *s, size_t len)
{
    if (len < 5 || len > 12 || !isdigit((unsigned char)s[0]) || s[1] != '.')
        return 0;
    int dots = 0;
    size_t i = 0;
    while (i < len && (isdigit((unsigned char)s[i]) || s[i] == '.')) {
        dots += s[i] == '.';
        i++;
    }
    if (dots != 2 || s[i - 1] == '.')
        return 0;
    for (; i < len; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '+')
            return 0;
    }
    return 1;
}

/* Searches .rodata for a PY_VERSION string, preferring one matching
 * major.minor when major is non-zero. Writes it into out. */
static int version_from_rodata(struct elf_file *ef, int major, int minor, char *out, size_t size)
{
    const uint8_t *bytes;
    uint64_t len;
    if (elf_section_data(ef, ".rodata", &bytes, &len) != 0)
        return -1;
    const char *data = (const char *)bytes;
    size_t i = 0;
    while (i < len) {
        const char *s = data + i;
        size_t n = strnlen(s, len - i);
        /* The linker merges string tails, so "3.10.13" may only exist as the
         * end of "/tmp/python-build.../Python-3.10.13": look at suffixes. */
        for (size_t p = n > 12 ? n - 12 : 0; i > 0 && p + 5 <= n; p++) {
            const char *v = s + p;
            if (p > 0 && (isdigit((unsigned char)v[-1]) || v[-1] == '.'))
                continue;
            if (!looks_like_version(v, n - p))
                continue;
            /* the last string of a hostile section may lack its NUL */
            char text[16];
            memcpy(text, v, n - p);
            text[n - p] = '\0';
            int ma = text[0] - '0', mi = atoi(text + 2);
            /* Without a name to go by, only a Python version will do (a
             * loader or libc carries versions of its own). */
            if (major == 0 ? ma == 2 || ma == 3 : ma == major && mi == minor) {
                strlcpy_safe(out, text, size);
                return 0;
            }
        }
        i += n + 1;
    }
    return -1;
}

/* A file that may hold the runtime: libpython or the executable. */
struct candidate {
    const char *path;     /* as the target names it in its maps */
    uint64_t base;        /* where its offset 0 is mapped */
    struct elf_file *elf; /* opened as the target maps it (proc/tfile.c) */
};

/* Reads the runtime's version: Py_Version if present, else names and .rodata. */
static int find_version(struct py_runtime *rt, struct mem_reader *r, struct candidate *c)
{
    uint64_t sym;
    if (elf_symbol(c->elf, "Py_Version", &sym, NULL) == 0) {
        uint32_t hex;
        if (mem_read_u32(r, elf_relocate(c->elf, c->base, sym), &hex) == 0 && (hex >> 24) == 3) {
            rt->major = (int)(hex >> 24);
            rt->minor = (int)((hex >> 16) & 0xff);
            rt->micro = (int)((hex >> 8) & 0xff);
            snprintf(rt->version, sizeof(rt->version), "%d.%d.%d", rt->major, rt->minor, rt->micro);
            return 0;
        }
    }
    int major = 0, minor = 0;
    detect_version_from_name(c->path, &major, &minor);
    char text[32];
    if (version_from_rodata(c->elf, major, minor, text, sizeof(text)) == 0) {
        rt->major = text[0] - '0';
        rt->minor = atoi(text + 2);
        const char *micro = strchr(text + 2, '.');
        rt->micro = micro ? atoi(micro + 1) : 0;
        strlcpy_safe(rt->version, text, sizeof(rt->version));
        return 0;
    }
    if (major) {
        rt->major = major;
        rt->minor = minor;
        rt->micro = 0;
        snprintf(rt->version, sizeof(rt->version), "%d.%d", major, minor);
        return 0;
    }
    return -SG_ENOTPY;
}

static void find_optional_symbols(struct py_runtime *rt, struct candidate *c)
{
    uint64_t sym;
    if (elf_symbol(c->elf, "_PyThreadState_Current", &sym, NULL) == 0)
        rt->tstate_current_addr = elf_relocate(c->elf, c->base, sym);
    if (elf_symbol(c->elf, "PyCode_Type", &sym, NULL) == 0)
        rt->code_type = elf_relocate(c->elf, c->base, sym);
    if (elf_symbol(c->elf, "PyFrame_Type", &sym, NULL) == 0)
        rt->frame_type = elf_relocate(c->elf, c->base, sym);
}

/* Looks up the runtime symbols in one candidate. Returns 0 if found. */
static int find_by_symbols(struct py_runtime *rt, struct candidate *c)
{
    uint64_t sym;
    if (getenv("SPYGLASS_IGNORE_SYMBOLS"))
        return -SG_ENOTPY;
    if (elf_symbol(c->elf, "_PyRuntime", &sym, NULL) == 0) {
        rt->runtime_addr = elf_relocate(c->elf, c->base, sym);
        return 0;
    }
    if (elf_symbol(c->elf, "interp_head", &sym, NULL) == 0) {
        rt->interp_head_addr = elf_relocate(c->elf, c->base, sym);
        return 0;
    }
    return -SG_ENOTPY;
}

/* Returns 1 if interp looks like a live PyInterpreterState: its first thread
 * state points back at it. */
static int interp_validates(const struct py_layout *l, struct mem_reader *r, uint64_t interp)
{
    uint64_t tstate, back;
    if (interp == 0 || (interp & 7) || interp < 4096)
        return 0;
    if (mem_read_u64(r, interp + l->interp.tstate_head, &tstate) || tstate == 0 || (tstate & 7))
        return 0;
    if (mem_read_u64(r, tstate + l->tstate.interp, &back) || back != interp)
        return 0;
    /* Pointers that happen to point at each other are common in a data
     * section; an interpreter whose sys.modules is a dict and whose first
     * thread has an ident is not. */
    uint64_t ident, modules;
    char type[16];
    if (mem_read_u64(r, tstate + l->tstate.thread_id, &ident) || ident == 0)
        return 0;
    /* The ident is pthread_self(): glibc's and musl's struct pthread begin
     * with a pointer to themselves. */
    uint64_t self;
    if (mem_read_u64(r, ident, &self) || self != ident)
        return 0;
    if (mem_read_u64(r, interp + l->interp.modules, &modules) || modules == 0 || (modules & 7))
        return 0;
    if (value_type_name(r, l, modules, type, sizeof(type)) != 0)
        return 0;
    return strcmp(type, "dict") == 0;
}

/* Scans the writable mappings of the candidate (and the anonymous .bss right
 * after them) for the runtime (3.7+) or interp_head (2.7, 3.6). */
static int find_by_scan(struct py_runtime *rt, struct mem_reader *r, const struct maps *m,
                        const struct candidate *c)
{
    const struct py_layout *l = &rt->layout;
    uint64_t field = l->runtime.interpreters_head == PY_NO_FIELD ? 0 : l->runtime.interpreters_head;
    uint64_t budget = SCAN_LIMIT, reads_before = r->reads;
    for (size_t i = 0; i < m->count && budget > 0; i++) {
        const struct map_entry *e = &m->entries[i];
        int ours = strcmp(e->path, c->path) == 0;
        int bss = !ours && i > 0 && e->path[0] == '\0' &&
                  strcmp(m->entries[i - 1].path, c->path) == 0 && m->entries[i - 1].end == e->start;
        if ((!ours && !bss) || e->perms[1] != 'w' || e->end <= e->start)
            continue;
        uint64_t size = e->end - e->start < budget ? e->end - e->start : budget;
        budget -= size;
        uint8_t *buf = xmalloc(size);
        if (mem_read(r, e->start, buf, size)) {
            free(buf);
            continue;
        }
        for (uint64_t off = 0; off + field + 8 <= size; off += 8) {
            uint64_t interp;
            memcpy(&interp, buf + off + field, 8);
            if (r->reads - reads_before > SCAN_MAX_READS)
                break;
            if (interp_validates(l, r, interp)) {
                if (field)
                    rt->runtime_addr = e->start + off;
                else
                    rt->interp_head_addr = e->start + off;
                free(buf);
                rt->found_by_scan = 1;
                return 0;
            }
        }
        free(buf);
    }
    return -SG_ENOTPY;
}

/* Picks the table entry for rt's version (the build the file name says;
 * debug_offsets.c corrects that from the target). A 3.x newer than our
 * newest table gets the newest, marked newer: debug_offsets.c then reads
 * everything it can from the target itself. */
static int pick_layout(struct py_runtime *rt, const char *path, char *why, size_t why_size)
{
    int ft = free_threaded_name(path);
    const struct py_layout *l = layout_find_build(rt->major, rt->minor, ft);
    const struct py_layout *newest = layout_newest(ft);
    if (!l)
        l = layout_find(rt->major, rt->minor);
    if (!l && rt->major == 3 && rt->minor > newest->minor) {
        l = newest;
        rt->newer = 1;
        snprintf(rt->note, sizeof(rt->note),
                 "Python %s is newer than spyglass knows (up to %d.%d): its layout is read from "
                 "its own _Py_DebugOffsets, with %s's table for the rest; stacks may be wrong",
                 rt->version, newest->major, newest->minor, newest->name);
    }
    if (!l) {
        char list[160];
        layout_list_supported(list, sizeof(list));
        snprintf(why, why_size,
                 "process %d runs Python %s, which spyglass does not support "
                 "(supported: %s)",
                 (int)rt->pid, rt->version, list);
        return -SG_EVERSION;
    }
    rt->layout = *l;
    rt->free_threaded = l->free_threaded;
    return 0;
}

/* The layout from _Py_DebugOffsets (3.13+), as SPYGLASS_LAYOUT asks. */
static int apply_debug_offsets(struct py_runtime *rt, struct mem_reader *r, char *why,
                               size_t why_size)
{
    enum debug_offsets_mode mode;
    const char *text = getenv("SPYGLASS_LAYOUT");
    if (debug_offsets_parse_mode(text, &mode)) {
        snprintf(why, why_size, "SPYGLASS_LAYOUT=%s is not one of auto, table, offsets", text);
        return -SG_EVERSION;
    }
    int err = debug_offsets_apply(rt, r, mode, why, why_size);
    if (!err && !rt->newer && !rt->layout.tested[0])
        snprintf(rt->note, sizeof(rt->note),
                 "spyglass's %s table was never run against a real Python %s here (it comes from "
                 "CPython's headers and the process's own offsets); stacks may be wrong",
                 rt->layout.name, rt->layout.name);
    return err;
}

int detect_in_file(struct py_runtime *rt, struct mem_reader *r, const struct maps *m,
                   const char *path, uint64_t base, struct elf_file *ef, char *why, size_t why_size)
{
    struct candidate cand = {.path = path, .base = base, .elf = ef}, *c = &cand;
    int have_symbols = find_by_symbols(rt, c) == 0;
    int err = find_version(rt, r, c);
    if (err)
        return have_symbols ? -SG_EVERSION : err;
    /* A file with neither Python's symbols nor its name (a loader, an
     * embedding program) is Python only if its version string is one we
     * know: ld-linux carries "2.2.5". */
    if (!have_symbols && !is_libpython(c->path) && !is_python_binary(c->path) &&
        !layout_find(rt->major, rt->minor))
        return -SG_ENOTPY;
    err = pick_layout(rt, c->path, why, why_size);
    if (err)
        return err;
    strlcpy_safe(rt->binary, c->path, sizeof(rt->binary));
    find_optional_symbols(rt, c);
    if (!have_symbols && find_by_scan(rt, r, m, c))
        return -SG_ENOTPY;
    return apply_debug_offsets(rt, r, why, why_size);
}

/* Names the process for error messages: "12 (bash)". */
static void describe(pid_t pid, char *buf, size_t size)
{
    char comm[64] = "?";
    proc_comm(pid, comm, sizeof(comm));
    snprintf(buf, size, "%d (%s)", (int)pid, comm);
}

/* Returns 1 if a file of this name would hold a runtime if it were readable. */
static int looks_like_python(const char *path)
{
    return is_libpython(path) || strstr(base_name(path), "python") != NULL;
}

/* Opens the file the target maps at e as it maps it, as an ELF file. On
 * failure says why in why (a sentence only for the open). */
static int open_mapped(pid_t pid, const struct map_entry *e, struct elf_file *ef, char *why,
                       size_t why_size)
{
    int fd;
    int err = tfile_open_mapped(pid, e, &fd, why, why_size);
    if (err)
        return err;
    err = elf_open_fd(ef, fd);
    if (err)
        snprintf(why, why_size, "%.300s, as process %d maps it, is not an ELF file we can read",
                 e->path, (int)pid);
    return err;
}

/* Looks for the runtime in libpython, then in the executable, then in a
 * mapped python3.X file (a loader or wrapper ran it), each opened as the
 * target maps it (never by the path it shows: proc/tfile.h). If none holds
 * it and a file that looks like Python could not be opened, that failure is
 * the answer (a deleted or replaced interpreter read without root). */
static int detect_candidates(pid_t pid, struct mem_reader *r, struct py_runtime *rt,
                             const struct maps *m, char *why, size_t why_size)
{
    char exe[PATH_MAX], link[64], open_why[512] = "";
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1); /* a name to find in maps, never opened */
    exe[n > 0 ? n : 0] = '\0';
    const struct map_entry *lib = maps_find_file(m, is_libpython);
    const struct map_entry *bin = maps_find_file(m, is_python_binary);
    const struct map_entry *files[3] = {
        lib ? maps_file_start(m, lib->path) : NULL, exe[0] ? maps_file_start(m, exe) : NULL,
        bin && strcmp(bin->path, exe) != 0 ? maps_file_start(m, bin->path) : NULL};
    int err = -SG_ENOTPY, open_err = 0;
    for (int i = 0; i < 3 && err == -SG_ENOTPY; i++) {
        struct elf_file ef;
        if (!files[i])
            continue;
        char failed[512];
        int e = open_mapped(pid, files[i], &ef, failed, sizeof(failed));
        if (e) {
            if (!open_err && looks_like_python(files[i]->path)) {
                open_err = e;
                strlcpy_safe(open_why, failed, sizeof(open_why));
            }
            continue;
        }
        memset(rt, 0, sizeof(*rt));
        rt->pid = pid;
        err = detect_in_file(rt, r, m, files[i]->path, files[i]->start, &ef, why, why_size);
        elf_close(&ef);
    }
    if (err == -SG_ENOTPY && open_err) {
        strlcpy_safe(why, open_why, why_size);
        return open_err;
    }
    return err;
}

int detect_runtime(pid_t pid, struct mem_reader *r, struct py_runtime *rt, char *why,
                   size_t why_size)
{
    memset(rt, 0, sizeof(*rt));
    rt->pid = pid;
    why[0] = '\0';
    char who[96];
    int err = proc_check(pid);
    if (err) {
        snprintf(why, why_size,
                 err == -SG_EPERM ? "permission denied reading process %d" : "no such process: %d",
                 (int)pid);
        return err;
    }
    describe(pid, who, sizeof(who));
    char state = '?';
    if (proc_state(pid, &state) == 0 && state == 'Z') {
        snprintf(why, why_size, "process %s has exited (a zombie waiting for its parent)", who);
        return -SG_ENOPROC;
    }
    struct maps m;
    err = maps_read(&m, pid);
    if (err) {
        snprintf(why, why_size, "cannot read the memory map of process %s: %s", who,
                 sg_strerror(err));
        return err;
    }
    err = detect_candidates(pid, r, rt, &m, why, why_size);
    maps_release(&m);
    if (err == -SG_ENOTPY)
        snprintf(why, why_size,
                 "process %s is not running Python (no Python runtime found "
                 "in its executable or libraries)",
                 who);
    else if (err == -SG_EVERSION && !why[0])
        snprintf(why, why_size, "cannot tell which Python version process %s runs", who);
    else if (err && !why[0])
        snprintf(why, why_size, "cannot read process %s: %s", who, sg_strerror(err));
    return err;
}

int detect_interp_head(const struct py_runtime *rt, struct mem_reader *r, uint64_t *interp)
{
    uint64_t addr = rt->runtime_addr ? rt->runtime_addr + rt->layout.runtime.interpreters_head
                                     : rt->interp_head_addr;
    int err = mem_read_u64(r, addr, interp);
    if (!err && *interp == 0)
        err = -SG_ECORRUPT; /* not initialised yet, or finalising */
    return err;
}
