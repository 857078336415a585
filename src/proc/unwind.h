/*
 * unwind.h - native (C/C++) stacks of another process's threads, for --native.
 *
 * An unwinder holds, per target process, elfutils' view of its address space
 * (libdwfl: one module per mapped ELF file, its CFI and symbol tables, loaded
 * lazily and kept), so a sample pays only for the walk. It never stops or
 * resumes anything: the caller stops the thread first (proc/pause.c:
 * PTRACE_SEIZE + PTRACE_INTERRUPT) and lets it go afterwards. Registers are
 * read with PTRACE_GETREGSET, which the kernel allows only to the tracer
 * thread: call unwind_thread from the thread that stopped tid. Stack memory
 * is read with process_vm_readv, a few pages per call.
 *
 * Why our own thread callbacks and not dwfl_linux_proc_attach: without
 * assume_ptrace_stopped that function PTRACE_ATTACHes each thread itself
 * (with SIGSTOP), which fails with EPERM on a thread we already seized; with
 * it, it keeps /proc/PID/task and /proc/PID/exe open and reads through its
 * own 4 KiB cache. Ours read bigger blocks, tell a vanished thread from one
 * that is not stopped, and open files through /proc/PID/root (containers).
 * Separate debug files are looked up by build id under /usr/lib/debug only:
 * never through debuginfod, which would download during a sample.
 *
 * Cost, measured on this 2-core VM under load: a walk plus names takes 20-60
 * us for the 10-20 native frames of a Python 3.11-3.13 stack (Python calls
 * share one C frame there) and 120-210 us for the 170 frames of Python 3.8
 * recursing 50 deep (~0.7-1.2 us a frame), with one process_vm_readv per
 * 16 KiB of stack. The first walk through a module costs milliseconds (its
 * ELF file, CFI and symbol table: 2-8 ms for a first sample); memory is
 * 1-2 MB of heap per process plus mapped files (page cache), 5 MB with numpy.
 *
 * Not thread-safe: one unwinder is used by one thread at a time. Registers
 * are mapped for x86-64 (arm64's mapping is written but untested; elsewhere
 * every walk fails with -SG_EIO).
 */
#ifndef SPYGLASS_PROC_UNWIND_H
#define SPYGLASS_PROC_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* No walk is longer than this, whatever max the caller passes. */
#define UNWIND_MAX_DEPTH 1024

struct unwinder;

/* One native frame, innermost first. The strings belong to the unwinder and
 * stay valid until its next unwind_thread, unwind_refresh or unwind_free. */
struct native_frame {
    uint64_t pc;        /* where the thread is (frame 0), else the return address */
    uint64_t offset;    /* pc - start of symbol; without a symbol, pc's address in the
                           module's file (what addr2line -e FILE takes); without a module, 0 */
    const char *module; /* basename of the mapped file ("libc.so.6", "[vdso]"), or NULL */
    const char *symbol; /* function name as the symbol table has it (GCC's clone suffixes
                           such as ".lto_priv.0" or ".cold" kept), C++ demangled, without
                           a symbol version; NULL when no symbol covers pc */
};

/* How the last walk ended. */
enum unwind_end {
    UNWIND_END_BOTTOM, /* reached the outermost frame (_start, clone): the whole stack */
    UNWIND_END_MAX,    /* stopped at the caller's max (or UNWIND_MAX_DEPTH) */
    UNWIND_END_LOST,   /* no unwind info for a frame, or its stack unreadable: partial */
    UNWIND_END_LOOP,   /* a frame repeated (garbage stack): cut there */
};

/* Counters since unwind_new, for the sampler's summary. */
struct unwind_stats {
    uint64_t walks;       /* unwind_thread calls that returned 0 */
    uint64_t frames;      /* frames they returned */
    uint64_t reads;       /* process_vm_readv calls for stack memory */
    uint64_t refreshes;   /* module lists re-read: unwind_refresh, or a walk that met
                             code in no known module */
    uint64_t name_misses; /* symbol lookups the name cache did not answer */
    uint64_t ends[4];     /* walks by enum unwind_end */
};

/* Prepares an unwinder for process pid: reads its module list. Touches no
 * thread. On success returns 0 and sets *out (free it with unwind_free).
 * Returns -SG_ENOPROC if the process is gone, -SG_EPERM if we may not read
 * it, -SG_EIO if elfutils cannot make sense of its modules. */
int unwind_new(pid_t pid, struct unwinder **out);

/* Frees everything; no-op on NULL. */
void unwind_free(struct unwinder *u);

/* Re-reads the process's modules (after dlopen/dlclose). Modules still
 * mapped where they were keep their loaded tables. Returns 0, -SG_ENOPROC
 * or -SG_EPERM; the unwinder stays usable either way. A walk that meets
 * code in no known module refreshes by itself, at most once per 1, 2, 4 ...
 * 1024 walks while that keeps happening (JIT code lives outside modules). */
int unwind_refresh(struct unwinder *u);

/*
 * Walks the native stack of thread tid of the process, which the calling
 * thread must have ptrace-stopped. Fills frames[0..*depth), innermost first,
 * at most max (and UNWIND_MAX_DEPTH). Returns 0 when at least the innermost
 * frame was read (the stack may be partial: unwind_last_end says how it
 * ended), -SG_ENOPROC if the thread is gone or being killed (also in the
 * middle of the walk), -SG_EPERM if it is not stopped by this thread, or
 * -SG_EFAULT if not even the first frame could be read. On error *depth is 0.
 */
int unwind_thread(struct unwinder *u, pid_t tid, struct native_frame *frames, size_t max,
                  size_t *depth);

/* How the last successful unwind_thread ended. */
enum unwind_end unwind_last_end(const struct unwinder *u);

/* The counters so far. */
const struct unwind_stats *unwind_stats(const struct unwinder *u);

#endif
