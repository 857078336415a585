/*
 * unwind.c - native stacks of a ptrace-stopped thread, with elfutils' libdwfl.
 *
 * libdwfl does the hard part: it knows the process's modules (reported from
 * /proc/PID/maps), finds each one's CFI (.eh_frame, else DWARF .debug_frame)
 * and runs it to step from a frame to its caller, falling back to the frame
 * pointer where a function has no CFI. This file feeds it one thread: the
 * registers (PTRACE_GETREGSET) and stack memory, which libdwfl asks for one
 * word at a time, from a per-walk cache of 4 KiB pages fetched four at a
 * time with one process_vm_readv. Names come from proc/symcache.c.
 *
 * Walks are bounded by the caller's max and UNWIND_MAX_DEPTH, and a frame
 * whose (pc, stack pointer) pair was seen before ends the walk (Brent's
 * cycle check: a real stack never revisits a frame; CFI over garbage can).
 */
#include "proc/unwind.h"

#include <elf.h>
#include <elfutils/libdwfl.h>
#include <elfutils/version.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <unistd.h>

#include "proc/maps.h"
#include "proc/mem.h"
#include "proc/proc.h"
#include "proc/symcache.h"
#include "proc/task.h"
#include "proc/tfile.h"
#include "util/err.h"
#include "util/util.h"

#define STACK_PAGE 4096u
#define STACK_PAGES 16       /* pages kept during one walk (64 KiB of stack) */
#define STACK_READ_PAGES 4   /* pages fetched per miss, in one system call */
#define NAMES_MAX 65536      /* addresses whose names are kept */
#define REFRESH_GAP_MAX 1024 /* most walks between automatic refreshes */
#define PF_EXITING_FLAG 0x4u /* the kernel's PF_EXITING, in /proc/.../stat's flags */

/* A page of the stopped thread's stack, read during the current walk. */
struct stack_page {
    uint64_t addr; /* page address; 0 when the slot is empty */
    uint8_t bytes[STACK_PAGE];
};

struct unwinder {
    pid_t pid;
    Dwfl *dwfl;
    Dwfl_Callbacks callbacks; /* libdwfl keeps a pointer to it */
    char *debuginfo_path;     /* NULL: libdwfl's default, /usr/lib/debug */
    struct mem_proc mem;
    struct mem_reader reader;

    /* The walk in progress. */
    pid_t tid;
    int walk_err; /* an SG code a callback met: the walk's result */
    size_t depth, max;
    int unknown_module; /* some frame's pc lies in no known module */
    enum unwind_end end;
    uint64_t pcs[UNWIND_MAX_DEPTH];
    uint8_t activation[UNWIND_MAX_DEPTH]; /* pc is where the thread is, not a return address */
    uint64_t seen_pc, seen_sp;            /* Brent's cycle check: the frame remembered */
    size_t seen_power, seen_len;
    struct stack_page pages[STACK_PAGES];
    unsigned next_page;

    struct symcache *names;

    uint64_t walks_since_refresh, refresh_gap;
    struct unwind_stats stats;
};

/* ---- Module files ---- */

/* Opens the file the target maps as module name (loaded at base) as the
 * target maps it (proc/tfile.c: the mapped file itself, never a path that a
 * container could have pointed at a file of the host). Returns an fd of a
 * regular file, or -1. */
static int open_module(struct unwinder *u, const char *name, uint64_t base)
{
    struct maps m;
    if (maps_read(&m, u->pid) != 0)
        return -1;
    const struct map_entry *e = NULL;
    for (size_t i = 0; i < m.count && (!e || e->start != base); i++) {
        if (strcmp(m.entries[i].path, name) == 0 &&
            (m.entries[i].start == base || (!e && m.entries[i].offset == 0)))
            e = &m.entries[i];
    }
    char why[512];
    struct stat st;
    int fd = -1;
    if (e && tfile_open_mapped(u->pid, e, &fd, why, sizeof(why)) == 0 &&
        (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) { /* never a device: reads could hang */
        close(fd);
        fd = -1;
    }
    maps_release(&m);
    return fd;
}

/* Opens a module's file as the target maps it. Deleted files we may not open
 * and the vdso go to libdwfl's own finder, which reads them from the
 * target's memory; it gets no other path, since it would open that path on
 * the host. Returns an fd (libdwfl owns it and *file_name) or -1. */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
                    char **file_name, Elf **elfp)
{
    struct unwinder *u = *userdata;
    if (u && name[0] == '/') {
        int fd = open_module(u, name, base);
        if (fd >= 0) {
            *file_name = xstrdup(name);
            return fd;
        }
    }
    if (name[0] == '/' && !str_endswith(name, " (deleted)"))
        return -1;
    return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

/* Gives every module the unwinder as its userdata, for find_elf. */
static int adopt_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
                        void *arg)
{
    *userdata = arg;
    return DWARF_CB_OK;
}

/* Maps an errno from reading /proc/PID/maps to an SG code. */
static int proc_errno_to_sg(int e)
{
    if (e == ENOENT || e == ESRCH)
        return -SG_ENOPROC;
    if (e == EACCES || e == EPERM)
        return -SG_EPERM;
    return -SG_EIO;
}

/* Reports the process's current modules to libdwfl; those still mapped where
 * they were are kept with what they loaded. Returns 0, -SG_ENOPROC,
 * -SG_EPERM or -SG_EIO. */
static int report_modules(struct unwinder *u)
{
    dwfl_report_begin(u->dwfl);
    int rc = dwfl_linux_proc_report(u->dwfl, u->pid);
    dwfl_report_end(u->dwfl, NULL, NULL);
    if (rc != 0)
        return rc > 0 ? proc_errno_to_sg(rc) : -SG_EIO;
    dwfl_getmodules(u->dwfl, adopt_module, u, 0);
    return 0;
}

/* ---- Thread state for libdwfl ---- */

/* Decides why PTRACE_GETREGSET said ESRCH: the thread is gone or being killed
 * (-SG_ENOPROC: it is a zombie, exiting, or has SIGKILL pending), or it is
 * alive but not in a ptrace stop of ours (-SG_EPERM). */
static int why_not_stopped(pid_t pid, pid_t tid)
{
    char path[96], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -SG_ENOPROC;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *after_name = strrchr(text, ')');
    char state = '?';
    unsigned flags = 0;
    if (!after_name || sscanf(after_name + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
        return -SG_ENOPROC;
    if (state == 'Z' || state == 'X' || (flags & PF_EXITING_FLAG))
        return -SG_ENOPROC;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
    f = fopen(path, "re");
    if (!f)
        return -SG_ENOPROC;
    int killed = 0;
    char line[256];
    unsigned long long pending;
    while (fgets(line, sizeof(line), f)) {
        if ((sscanf(line, "SigPnd: %llx", &pending) == 1 ||
             sscanf(line, "ShdPnd: %llx", &pending) == 1) &&
            (pending & (1ull << (SIGKILL - 1))))
            killed = 1;
    }
    fclose(f);
    return killed ? -SG_ENOPROC : -SG_EPERM;
}

/* Only the thread being walked exists for libdwfl. */
static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    struct unwinder *u = arg;
    if (*thread_argp)
        return 0;
    *thread_argp = u;
    return u->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
    struct unwinder *u = arg;
    *thread_argp = u;
    return tid == u->tid;
}

/* Reads the stopped thread's registers into libdwfl's first frame, in DWARF
 * register order. Fails (setting walk_err) if the thread is not stopped by
 * us or is gone. */
static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
    struct unwinder *u = thread_arg;
    struct user_regs_struct regs;
    struct iovec iov = {.iov_base = &regs, .iov_len = sizeof(regs)};
    if (ptrace(PTRACE_GETREGSET, u->tid, (void *)(uintptr_t)NT_PRSTATUS, &iov) != 0) {
        u->walk_err = errno == ESRCH ? why_not_stopped(u->pid, u->tid) : -SG_EPERM;
        return false;
    }
#if defined(__x86_64__)
    const Dwarf_Word dwarf[17] = {regs.rax, regs.rdx, regs.rcx, regs.rbx, regs.rsi, regs.rdi,
                                  regs.rbp, regs.rsp, regs.r8,  regs.r9,  regs.r10, regs.r11,
                                  regs.r12, regs.r13, regs.r14, regs.r15, regs.rip};
    return dwfl_thread_state_registers(thread, 0, 17, dwarf);
#elif defined(__aarch64__) /* x0-x30 then sp are DWARF 0-31; the pc has no number. Untested. */
    Dwarf_Word dwarf[32];
    for (int i = 0; i < 31; i++)
        dwarf[i] = regs.regs[i];
    dwarf[31] = regs.sp;
    dwfl_thread_state_register_pc(thread, regs.pc);
    return dwfl_thread_state_registers(thread, 0, 32, dwarf);
#else
    (void)regs;
    (void)thread;
    u->walk_err = -SG_EIO; /* no register mapping for this architecture yet */
    return false;
#endif
}

/* Returns the bytes of the stack page at page_addr if this walk read it. */
static const uint8_t *cached_page(const struct unwinder *u, uint64_t page_addr)
{
    for (size_t i = 0; i < STACK_PAGES; i++)
        if (u->pages[i].addr == page_addr)
            return u->pages[i].bytes;
    return NULL;
}

/* Takes the next cache slot (round robin), empty. */
static struct stack_page *take_slot(struct unwinder *u)
{
    struct stack_page *slot = &u->pages[u->next_page];
    u->next_page = (u->next_page + 1) % STACK_PAGES;
    slot->addr = 0;
    return slot;
}

/* Reads the page at page_addr and the pages above it (where the callers'
 * frames live) in one process_vm_readv. It reads whole iovecs up to the
 * first unreadable page; mem_read_batch would spend a call on each failed
 * page to learn why, and at the top of a stack the pages above always fail.
 * Returns the number of pages read, 0 if even the first failed. */
static size_t read_ahead(struct unwinder *u, uint64_t page_addr)
{
    struct iovec local[STACK_READ_PAGES], remote[STACK_READ_PAGES];
    struct stack_page *slots[STACK_READ_PAGES];
    size_t count = 0;
    for (uint64_t addr = page_addr; count < STACK_READ_PAGES; addr += STACK_PAGE) {
        if (addr < page_addr || (count && cached_page(u, addr)))
            break; /* wrapped around, or the rest was read already */
        slots[count] = take_slot(u);
        local[count] = (struct iovec){.iov_base = slots[count]->bytes, .iov_len = STACK_PAGE};
        remote[count] = (struct iovec){.iov_base = (void *)(uintptr_t)addr, .iov_len = STACK_PAGE};
        count++;
    }
    u->stats.reads++;
    ssize_t got = process_vm_readv(u->pid, local, count, remote, count, 0);
    size_t pages = got > 0 ? (size_t)got / STACK_PAGE : 0;
    for (size_t i = 0; i < pages; i++)
        slots[i]->addr = page_addr + i * STACK_PAGE;
    return pages;
}

/* Returns the stack page at page_addr (never 0), reading it on a miss.
 * Returns NULL if it cannot be read; a vanished process also sets
 * walk_err. */
static const uint8_t *stack_page(struct unwinder *u, uint64_t page_addr)
{
    const uint8_t *hit = cached_page(u, page_addr);
    if (hit)
        return hit;
    if (!u->mem.use_fd && read_ahead(u, page_addr) > 0)
        return cached_page(u, page_addr);
    /* Through mem.c, for its answer (gone, not mapped) and its /proc/PID/mem
     * fallback where process_vm_readv is missing. */
    struct stack_page *slot = take_slot(u);
    uint64_t calls = u->reader.reads;
    int err = mem_read(&u->reader, page_addr, slot->bytes, STACK_PAGE);
    u->stats.reads += u->reader.reads - calls;
    if (err == -SG_ENOPROC)
        u->walk_err = -SG_ENOPROC;
    if (err)
        return NULL;
    slot->addr = page_addr;
    return slot->bytes;
}

/* libdwfl's memory reader: one word of the stopped thread's memory, which may
 * straddle two pages. Returns false if unreadable. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
    struct unwinder *u = arg;
    uint8_t word[sizeof(*result)];
    for (size_t got = 0; got < sizeof(word);) {
        uint64_t at = addr + got;
        uint64_t page_addr = at & ~(uint64_t)(STACK_PAGE - 1);
        if (page_addr == 0 || at < addr)
            return false; /* the null page, or past the top of the address space */
        const uint8_t *page = stack_page(u, page_addr);
        if (!page)
            return false;
        size_t in_page = STACK_PAGE - (size_t)(at - page_addr);
        size_t take = sizeof(word) - got < in_page ? sizeof(word) - got : in_page;
        memcpy(word + got, page + (at - page_addr), take);
        got += take;
    }
    memcpy(result, word, sizeof(word));
    return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

/* ---- The walk ---- */

/* Brent's cycle check over (pc, sp): returns 1 if this frame is the one
 * remembered, which a real stack never shows twice. sp 0 (unknown) is
 * never a repeat. */
static int frame_repeats(struct unwinder *u, uint64_t pc, uint64_t sp)
{
    if (sp && pc == u->seen_pc && sp == u->seen_sp)
        return 1;
    if (++u->seen_len == u->seen_power) {
        u->seen_pc = pc;
        u->seen_sp = sp;
        u->seen_power *= 2;
        u->seen_len = 0;
    }
    return 0;
}

/* Returns the frame's stack pointer, or 0 where libdwfl cannot say. */
static uint64_t frame_sp(Dwfl_Frame *state)
{
#if _ELFUTILS_PREREQ(0, 188) && defined(__x86_64__)
    Dwarf_Word sp;
    if (dwfl_frame_reg(state, 7, &sp) == 0) /* DWARF register 7: rsp */
        return sp;
#elif _ELFUTILS_PREREQ(0, 188) && defined(__aarch64__)
    Dwarf_Word sp;
    if (dwfl_frame_reg(state, 31, &sp) == 0)
        return sp;
#endif
    return 0; /* before elfutils 0.188: only max depth bounds a garbage walk */
}

/* Called by libdwfl for each frame, innermost first: records it, or ends the
 * walk at max depth or at a repeated frame. */
static int on_frame(Dwfl_Frame *state, void *arg)
{
    struct unwinder *u = arg;
    Dwarf_Addr pc;
    bool activation;
    if (!dwfl_frame_pc(state, &pc, &activation)) {
        u->end = UNWIND_END_LOST;
        return DWARF_CB_ABORT;
    }
    if (u->depth == u->max) {
        u->end = UNWIND_END_MAX;
        return DWARF_CB_ABORT;
    }
    if (frame_repeats(u, pc, frame_sp(state))) {
        u->end = UNWIND_END_LOOP;
        return DWARF_CB_ABORT;
    }
    uint64_t lookup = activation || pc == 0 ? pc : pc - 1;
    if (!dwfl_addrmodule(u->dwfl, lookup))
        u->unknown_module = 1;
    u->pcs[u->depth] = pc;
    u->activation[u->depth] = activation;
    u->depth++;
    return DWARF_CB_OK;
}

/* One walk of thread tid into u->pcs. Returns 0 with at least one frame, or
 * the error a callback met (-SG_ENOPROC, -SG_EPERM), or -SG_EFAULT. */
static int walk(struct unwinder *u, pid_t tid, size_t max)
{
    u->tid = tid;
    u->walk_err = 0;
    u->depth = 0;
    u->max = max;
    u->end = UNWIND_END_BOTTOM;
    u->unknown_module = 0;
    u->seen_pc = u->seen_sp = 0;
    u->seen_power = 1;
    u->seen_len = 0;
    for (size_t i = 0; i < STACK_PAGES; i++)
        u->pages[i].addr = 0; /* the stack changed since the last walk */
    int rc = dwfl_getthread_frames(u->dwfl, tid, on_frame, u);
    if (u->walk_err)
        return u->walk_err;
    if (u->depth == 0)
        return -SG_EFAULT;
    if (rc != 0 && u->end == UNWIND_END_BOTTOM)
        u->end = UNWIND_END_LOST; /* libdwfl gave up: no CFI, or the stack unreadable */
    return 0;
}

/* ---- Names ---- */

/* Fills frames[0..depth) from the walk's pcs. */
static void name_frames(struct unwinder *u, struct native_frame *frames)
{
    for (size_t i = 0; i < u->depth; i++) {
        uint64_t pc = u->pcs[i];
        /* A return address can be the first byte after the function that
         * called (a call to a noreturn function ends it): look up pc - 1. */
        struct symcache_name name;
        symcache_lookup(u->names, u->dwfl, u->activation[i] || pc == 0 ? pc : pc - 1, &name);
        frames[i].pc = pc;
        frames[i].module = name.module;
        frames[i].symbol = name.symbol;
        if (name.symbol)
            frames[i].offset = pc - name.start;
        else
            frames[i].offset = name.module ? pc - name.bias : 0;
    }
    u->stats.name_misses = symcache_misses(u->names);
}

/* ---- Public interface ---- */

int unwind_new(pid_t pid, struct unwinder **out)
{
    *out = NULL;
    int err = proc_check(pid);
    if (err)
        return err;
    struct unwinder *u = xcalloc(1, sizeof(*u));
    u->pid = pid;
    u->names = symcache_new();
    u->callbacks.find_elf = find_elf;
    /* Local build-id files only: dwfl_standard_find_debuginfo would also ask
     * debuginfod (DEBUGINFOD_URLS) and download in the middle of a sample. */
    u->callbacks.find_debuginfo = dwfl_build_id_find_debuginfo;
    u->callbacks.debuginfo_path = &u->debuginfo_path;
    mem_proc_init(&u->mem, &u->reader, pid);
    u->dwfl = dwfl_begin(&u->callbacks);
    err = u->dwfl ? report_modules(u) : -SG_EIO;
    if (!err && !dwfl_attach_state(u->dwfl, NULL, pid, &thread_callbacks, u))
        err = -SG_EIO;
    if (err) {
        unwind_free(u);
        return err;
    }
    *out = u;
    return 0;
}

void unwind_free(struct unwinder *u)
{
    if (!u)
        return;
    if (u->dwfl)
        dwfl_end(u->dwfl);
    symcache_free(u->names);
    mem_proc_release(&u->mem);
    free(u);
}

int unwind_refresh(struct unwinder *u)
{
    u->stats.refreshes++;
    u->walks_since_refresh = 0;
    symcache_clear(u->names); /* an address may now belong to another module */
    return report_modules(u);
}

/* Whether a walk that met unknown code may refresh the module list now. */
static int refresh_due(const struct unwinder *u)
{
    return u->walks_since_refresh >= u->refresh_gap;
}

int unwind_thread(struct unwinder *u, pid_t tid, struct native_frame *frames, size_t max,
                  size_t *depth)
{
    *depth = 0;
    if (max > UNWIND_MAX_DEPTH)
        max = UNWIND_MAX_DEPTH;
    if (symcache_count(u->names) >= NAMES_MAX)
        symcache_clear(u->names);
    int err = walk(u, tid, max);
    if (!err && u->unknown_module && refresh_due(u)) {
        /* Code outside every known module: a library loaded since the last
         * refresh, or JIT code. Refresh and walk again; if that does not
         * help, wait twice as long before the next try. */
        err = unwind_refresh(u) == 0 ? walk(u, tid, max) : err;
        if (!err && u->unknown_module)
            u->refresh_gap = u->refresh_gap ? u->refresh_gap * 2 : 1;
        else
            u->refresh_gap = 0;
        if (u->refresh_gap > REFRESH_GAP_MAX)
            u->refresh_gap = REFRESH_GAP_MAX;
    }
    u->walks_since_refresh++;
    if (err)
        return err;
    name_frames(u, frames);
    *depth = u->depth;
    u->stats.walks++;
    u->stats.frames += u->depth;
    u->stats.ends[u->end]++;
    return 0;
}

enum unwind_end unwind_last_end(const struct unwinder *u)
{
    return u->end;
}

const struct unwind_stats *unwind_stats(const struct unwinder *u)
{
    return &u->stats;
}
