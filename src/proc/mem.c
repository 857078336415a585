/*
 * mem.c - reading target memory with process_vm_readv, or /proc/PID/mem.
 *
 * process_vm_readv needs no stop of the target and costs one syscall per call.
 * Where it is unavailable (ENOSYS, or EPERM under some seccomp policies) we
 * fall back to pread on /proc/PID/mem. Both only read.
 */
#include "proc/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <stdio.h>

/* Maps an errno from a read of the target to an SG code. */
static int errno_to_sg(int e)
{
    switch (e) {
    case ESRCH:
    case ENOENT:
        return -SG_ENOPROC;
    case EPERM:
    case EACCES:
        return -SG_EPERM;
    default:
        return -SG_EFAULT;
    }
}

static int read_via_fd(struct mem_proc *mp, uint64_t addr, void *buf, size_t size)
{
    if (mp->mem_fd < 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/mem", (int)mp->pid);
        mp->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (mp->mem_fd < 0)
            return errno_to_sg(errno);
    }
    ssize_t n = pread(mp->mem_fd, buf, size, (off_t)addr);
    if (n < 0)
        return errno_to_sg(errno);
    return (size_t)n == size ? 0 : -SG_EFAULT;
}

static int proc_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct mem_proc *mp = ctx;
    if (size == 0)
        return 0;
    if (!mp->use_fd) {
        struct iovec local = {.iov_base = buf, .iov_len = size};
        struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = size};
        ssize_t n = process_vm_readv(mp->pid, &local, 1, &remote, 1, 0);
        if (n == (ssize_t)size)
            return 0;
        if (n >= 0)
            return -SG_EFAULT;
        if (errno != ENOSYS)
            return errno_to_sg(errno);
        mp->use_fd = 1;
    }
    return read_via_fd(mp, addr, buf, size);
}

/* Most iovecs one process_vm_readv takes (the kernel's UIO_MAXIOV). */
#define BATCH_IOV_MAX 1024

/* Reads spans[0..count) with one process_vm_readv, at most BATCH_IOV_MAX.
 * The kernel stops at the first span it cannot read: spans before it are
 * done, that one is read alone to learn why, and the caller goes on after
 * it. Returns the spans settled; adds the calls made to *calls. */
static size_t proc_batch_once(struct mem_proc *mp, struct mem_span *spans, size_t count,
                              uint64_t *calls)
{
    struct iovec local[BATCH_IOV_MAX], remote[BATCH_IOV_MAX];
    size_t n = count < BATCH_IOV_MAX ? count : BATCH_IOV_MAX;
    for (size_t i = 0; i < n; i++) {
        local[i] = (struct iovec){.iov_base = spans[i].buf, .iov_len = spans[i].size};
        remote[i] =
            (struct iovec){.iov_base = (void *)(uintptr_t)spans[i].addr, .iov_len = spans[i].size};
    }
    ssize_t got = process_vm_readv(mp->pid, local, n, remote, n, 0);
    ++*calls;
    if (got < 0 && errno == ENOSYS) {
        mp->use_fd = 1; /* the caller goes on span by span through /proc/PID/mem */
        return 0;
    }
    if (got < 0 && errno != EFAULT) { /* the process is gone, or not ours */
        int err = errno_to_sg(errno);
        for (size_t i = 0; i < n; i++)
            spans[i].err = err;
        return n;
    }
    size_t done = 0, covered = got > 0 ? (size_t)got : 0;
    while (done < n && spans[done].size <= covered) {
        covered -= spans[done].size;
        spans[done++].err = 0;
    }
    if (done < n) { /* the span it stopped in */
        spans[done].err = proc_read(mp, spans[done].addr, spans[done].buf, spans[done].size);
        ++*calls;
        done++;
    }
    return done;
}

static uint64_t proc_read_batch(void *ctx, struct mem_span *spans, size_t count)
{
    struct mem_proc *mp = ctx;
    uint64_t calls = 0;
    for (size_t done = 0; done < count;) {
        if (mp->use_fd) {
            spans[done].err = proc_read(mp, spans[done].addr, spans[done].buf, spans[done].size);
            calls++;
            done++;
        } else {
            done += proc_batch_once(mp, spans + done, count - done, &calls);
        }
    }
    return calls;
}

void mem_read_batch(struct mem_reader *r, struct mem_span *spans, size_t count)
{
    if (count == 0)
        return;
    if (r->read_batch) {
        r->reads += r->read_batch(r->ctx, spans, count);
        return;
    }
    for (size_t i = 0; i < count; i++)
        spans[i].err = mem_read(r, spans[i].addr, spans[i].buf, spans[i].size);
}

void mem_proc_init(struct mem_proc *mp, struct mem_reader *reader, pid_t pid)
{
    mp->pid = pid;
    mp->mem_fd = -1;
    mp->use_fd = 0;
    reader->read = proc_read;
    reader->read_batch = proc_read_batch;
    reader->ctx = mp;
    reader->reads = 0;
}

void mem_proc_release(struct mem_proc *mp)
{
    if (mp->mem_fd >= 0)
        close(mp->mem_fd);
    mp->mem_fd = -1;
}

int mem_read_u64(struct mem_reader *r, uint64_t addr, uint64_t *out)
{
    return mem_read(r, addr, out, sizeof(*out));
}

int mem_read_u32(struct mem_reader *r, uint64_t addr, uint32_t *out)
{
    return mem_read(r, addr, out, sizeof(*out));
}

int mem_read_i32(struct mem_reader *r, uint64_t addr, int32_t *out)
{
    return mem_read(r, addr, out, sizeof(*out));
}

int mem_read_u8(struct mem_reader *r, uint64_t addr, uint8_t *out)
{
    return mem_read(r, addr, out, sizeof(*out));
}

int mem_read_cstr(struct mem_reader *r, uint64_t addr, char *buf, size_t size)
{
    if (size == 0)
        return -SG_ENOMEM;
    /* Read in pieces that never cross a page boundary, so a string that ends
     * just before an unmapped page still reads. */
    size_t got = 0;
    while (got + 1 < size) {
        uint64_t at = addr + got;
        size_t want = size - 1 - got;
        size_t to_page = 4096 - (size_t)(at & 4095);
        if (want > 64)
            want = 64;
        if (want > to_page)
            want = to_page;
        int err = mem_read(r, at, buf + got, want);
        if (err) {
            buf[got] = '\0';
            return got ? 0 : err;
        }
        if (memchr(buf + got, '\0', want))
            return 0;
        got += want;
    }
    buf[got] = '\0';
    return 0;
}

static int snapshot_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct mem_snapshot *ms = ctx;
    if (addr < ms->base || size > ms->size || addr - ms->base > ms->size - size)
        return -SG_EFAULT;
    memcpy(buf, ms->data + (addr - ms->base), size);
    return 0;
}

void mem_snapshot_init(struct mem_snapshot *ms, struct mem_reader *reader, uint64_t base,
                       const uint8_t *data, size_t size)
{
    ms->base = base;
    ms->data = data;
    ms->size = size;
    reader->read = snapshot_read;
    reader->read_batch = NULL;
    reader->ctx = ms;
    reader->reads = 0;
}
