/*
 * walk.c - threads and frames of a live interpreter.
 *
 * One walker for every version: it branches only on the layout's frame kind
 * (heap frame objects before 3.11, interpreter frames after), the GIL kind
 * and which thread-id fields exist. Every chase is bounded: at most
 * WALK_MAX_THREADS thread states and WALK_MAX_DEPTH frames, and every object
 * whose type we can check (frames, code objects) is checked before use. A
 * torn read ends that thread's walk with an error code; it never loops.
 */
#include "python/walk.h"

#include <stdlib.h>
#include <string.h>

#include "proc/task.h"
#include "python/endpoint.h"
#include "python/value.h"
#include "util/util.h"

/* Largest frame header we read in one go (fields we use all sit below). */
#define FRAME_HEADER_MAX 512
/* How far into glibc's struct pthread we look for the thread's tid. */
#define PTHREAD_SCAN 2048
/* 3.11+: most frames in a row that are not Python's (C-stack shims, frames
 * still being set up, non-code executables) before the chain is called torn.
 * CPython puts at most one entry frame between two Python frames. */
#define WALK_MAX_SKIPPED 16

void walk_init(struct walker *w, struct mem_reader *r, struct py_runtime *rt)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
    w->rt = rt;
    w->tid_offset = -1;
    w->names_gap = 1;
    w->want_names = 1;
    code_cache_init(&w->codes);
    task_stat_cache_init(&w->stats);
}

void walk_release(struct walker *w)
{
    for (size_t i = 0; i < w->threads_cap; i++)
        free(w->threads[i].frames);
    free(w->threads);
    free(w->names);
    free(w->block);
    task_stat_cache_release(&w->stats);
    code_cache_release(&w->codes);
    memset(w, 0, sizeof(*w));
}

/* Fields of a frame or thread state copy (PY_NO_FIELD gives 0). */
static uint64_t buf_u64(const uint8_t *buf, uint32_t off)
{
    return layout_u64(buf, FRAME_HEADER_MAX, off);
}

static int32_t buf_i32(const uint8_t *buf, uint32_t off)
{
    return layout_i32(buf, FRAME_HEADER_MAX, off);
}

/* Returns the number of bytes from 0 that cover all the given fields. */
static uint32_t span(const uint32_t *fields, size_t n)
{
    uint32_t end = 16;
    for (size_t i = 0; i < n; i++) {
        if (fields[i] != PY_NO_FIELD && fields[i] + 8 > end)
            end = fields[i] + 8;
    }
    return end < FRAME_HEADER_MAX ? end : FRAME_HEADER_MAX;
}

/* Brent's cycle detection for the pointer chains we follow (frames, thread
 * states): a torn read can link a chain back into itself, and a loop is cut
 * within twice its length instead of running to the depth limit. */
struct loop_guard {
    uint64_t mark;
    size_t power, steps;
};

static int loop_seen(struct loop_guard *g, uint64_t addr)
{
    if (g->power && addr == g->mark)
        return 1;
    if (++g->steps >= g->power) {
        g->mark = addr;
        g->power = g->power ? g->power * 2 : 1;
        g->steps = 0;
    }
    return 0;
}

static void push_frame(struct py_thread *t, struct code_info *ci, uint64_t addr, int line,
                       int owner)
{
    t->frames = xgrow(t->frames, sizeof(*t->frames), t->depth + 1, &t->cap);
    t->frames[t->depth++] =
        (struct py_frame){.code = ci, .frame_addr = addr, .line = line, .owner = owner};
}

/* <= 3.10: PyFrameObject chained by f_back. */
static int walk_frame_objects(struct walker *w, uint64_t frame, struct py_thread *t)
{
    const struct py_layout *l = &w->rt->layout;
    uint32_t fields[] = {l->object.ob_type, l->frame.f_back, l->frame.f_code, l->frame.f_lasti};
    uint32_t size = span(fields, 4);
    uint8_t buf[FRAME_HEADER_MAX];
    struct loop_guard guard = {0};
    while (frame) {
        if (t->depth >= WALK_MAX_DEPTH) {
            t->truncated = 1;
            return 0;
        }
        if (loop_seen(&guard, frame))
            return -SG_ECORRUPT;
        int err = mem_read(w->r, frame, buf, size);
        if (err)
            return err;
        if (w->rt->frame_type && buf_u64(buf, l->object.ob_type) != w->rt->frame_type)
            return -SG_ECORRUPT;
        struct code_info *ci;
        err = code_cache_get(&w->codes, w->r, l, w->rt->code_type, buf_u64(buf, l->frame.f_code),
                             &ci);
        if (err)
            return err;
        int64_t lasti = buf_i32(buf, l->frame.f_lasti);
        if (l->line_kind == PY_LINES_310 && lasti >= 0)
            lasti *= 2; /* 3.10 counts code units */
        push_frame(t, ci, frame, code_line(ci, l, lasti), 0);
        frame = buf_u64(buf, l->frame.f_back);
    }
    return 0;
}

/* Bytes read at once below a 3.11+ frame: a data-stack chunk is 16 KiB
 * (more for deep stacks), and callers sit below their callees. */
#define FRAME_BLOCK (16u * 1024u)
#define PAGE 4096u

/* Reads size bytes of the frame at addr through the walker's block: served
 * from the block when it covers them, else a new block that ends with this
 * frame and reaches down as far as is mapped (tried at FRAME_BLOCK, then
 * from addr's own page, then the frame alone). */
static int read_frame(struct walker *w, uint64_t addr, uint8_t *buf, uint32_t size, uint64_t chunk)
{
    if (addr >= w->block_base && addr + size <= w->block_base + w->block_len &&
        addr + size > addr) {
        memcpy(buf, w->block + (addr - w->block_base), size);
        return 0;
    }
    if (!w->block)
        w->block = xmalloc(FRAME_BLOCK + PAGE + FRAME_HEADER_MAX);
    uint64_t end = addr + size;
    uint64_t page = addr & ~(uint64_t)(PAGE - 1);
    uint64_t low = end > FRAME_BLOCK + PAGE ? (end - FRAME_BLOCK) & ~(uint64_t)(PAGE - 1) : page;
    if (low > page)
        low = page;
    /* In the thread's live data-stack chunk, everything from the chunk's
     * start up to this frame is mapped: one read covers all its callers. */
    if (chunk && chunk <= addr && addr - chunk < (64u << 20))
        low = end - chunk > FRAME_BLOCK ? (end - FRAME_BLOCK) : chunk;
    uint64_t starts[2] = {low, page};
    for (int i = 0; i < 2; i++) {
        uint64_t start = starts[i];
        if (i == 1 && start == starts[0])
            break; /* the same read again would fail the same way */
        w->block_reads++;
        if (mem_read(w->r, start, w->block, end - start) == 0) {
            w->block_base = start;
            w->block_len = end - start;
            memcpy(buf, w->block + (addr - start), size);
            return 0;
        }
    }
    w->block_len = 0;
    return mem_read(w->r, addr, buf, size);
}

/* 3.11+: _PyInterpreterFrame chained by previous. */
static int walk_interp_frames(struct walker *w, uint64_t frame, struct py_thread *t)
{
    const struct py_layout *l = &w->rt->layout;
    uint32_t fields[] = {l->iframe.code, l->iframe.previous, l->iframe.instr, l->iframe.owner};
    uint32_t size = span(fields, 4);
    uint8_t buf[FRAME_HEADER_MAX];
    size_t steps = 0, skipped = 0;
    struct loop_guard guard = {0};
    for (; frame; frame = buf_u64(buf, l->iframe.previous)) {
        if (t->depth >= WALK_MAX_DEPTH || ++steps > 2 * WALK_MAX_DEPTH) {
            t->truncated = 1;
            return 0;
        }
        if (loop_seen(&guard, frame))
            return -SG_ECORRUPT;
        /* A real stack never has many frames in a row that are not
         * Python's; a torn chain through garbage would (each a block read). */
        if (skipped > WALK_MAX_SKIPPED)
            return -SG_ECORRUPT;
        int err = read_frame(w, frame, buf, size, t->chunk);
        if (err)
            return err;
        int owner = buf[l->iframe.owner];
        uint64_t code = buf_u64(buf, l->iframe.code);
        struct code_info *ci;
        skipped++;
        /* Shim frames (3.12+) belong to C; 3.13 frames may hold non-code executables. */
        if (owner == PY_OWNED_BY_CSTACK && l->minor >= 12)
            continue;
        err = code_cache_get(&w->codes, w->r, l, w->rt->code_type, code, &ci);
        if (err == -SG_ECORRUPT && l->minor >= 13)
            continue;
        if (err)
            return err;
        int64_t offset =
            (int64_t)(buf_u64(buf, l->iframe.instr) - (code + l->code.co_code_adaptive));
        /* A frame whose first instruction has not run yet is still being
         * set up (CPython calls it incomplete): not part of the stack. */
        if (offset < 0 && owner != PY_OWNED_BY_GENERATOR)
            continue;
        skipped = 0;
        push_frame(t, ci, frame, code_line(ci, l, offset), owner);
    }
    return 0;
}

/* The thread-state field the walk starts from: the frame pointer, or on
 * 3.11 and 3.12 the _PyCFrame pointer that holds it. */
static uint32_t thread_top_field(const struct py_layout *l)
{
    if (l->frame_kind == PY_FRAME_OBJECT)
        return l->tstate.frame;
    if (l->tstate.current_frame != PY_NO_FIELD)
        return l->tstate.current_frame;
    return l->tstate.cframe;
}

/* Walks from t->top, read with the thread list. */
static int walk_thread(struct walker *w, struct py_thread *t)
{
    const struct py_layout *l = &w->rt->layout;
    uint64_t frame = t->top;
    int err = 0;
    t->depth = 0;
    t->truncated = 0;
    w->block_len = 0; /* the target has moved on since the block was read */
    if (l->frame_kind == PY_FRAME_OBJECT)
        return walk_frame_objects(w, frame, t);
    if (l->tstate.current_frame == PY_NO_FIELD && frame) /* frame is the _PyCFrame */
        err = mem_read_u64(w->r, frame + l->cframe.current_frame, &frame);
    return err ? err : walk_interp_frames(w, frame, t);
}

int walk_stack(struct walker *w, uint64_t tstate, struct py_thread *t)
{
    uint64_t top;
    int err = mem_read_u64(w->r, tstate + thread_top_field(&w->rt->layout), &top);
    if (err)
        return err;
    t->top = top;
    t->chunk = 0;
    if (w->rt->layout.tstate.datastack_chunk != PY_NO_FIELD &&
        mem_read_u64(w->r, tstate + w->rt->layout.tstate.datastack_chunk, &t->chunk))
        t->chunk = 0;
    return walk_thread(w, t);
}

/* Returns the thread state holding the GIL, or 0 if none (or unknown). */
static uint64_t gil_holder(struct walker *w, uint64_t interp)
{
    const struct py_layout *l = &w->rt->layout;
    uint64_t holder = 0, gil;
    int32_t locked;
    switch (l->gil_kind) {
    case PY_GIL_CURRENT_SYMBOL:
        if (w->rt->tstate_current_addr)
            mem_read_u64(w->r, w->rt->tstate_current_addr, &holder);
        break;
    case PY_GIL_RUNTIME_TSTATE:
        mem_read_u64(w->r, w->rt->runtime_addr + l->runtime.gilstate_tstate_current, &holder);
        break;
    case PY_GIL_INTERP_CEVAL:
        if (mem_read_u64(w->r, interp + l->interp.ceval_gil, &gil) || !gil)
            break;
        if (mem_read_i32(w->r, gil + l->gil.locked, &locked) || !locked)
            break;
        mem_read_u64(w->r, gil + l->gil.last_holder, &holder);
        break;
    }
    return holder;
}

static int tid_listed(const pid_t *tids, int count, int32_t tid)
{
    for (int i = 0; i < count; i++) {
        if (tids[i] == tid)
            return 1;
    }
    return 0;
}

/* Before 3.8 a thread state only has the pthread_t, which in glibc is the
 * address of struct pthread. Its tid field sits at a fixed offset that we
 * find once: the offset where every thread's struct holds a distinct tid of
 * the process and the main thread's holds the pid. */
static void find_tid_offset(struct walker *w)
{
    pid_t *tids;
    int ntids = task_list(w->rt->pid, &tids);
    if (ntids <= 0 || w->nthreads < 2) {
        free(tids);
        return;
    }
    size_t n = w->nthreads;
    uint8_t *structs = xcalloc(n, PTHREAD_SCAN);
    for (size_t i = 0; i < n; i++) {
        if (mem_read(w->r, w->threads[i].ident, structs + i * PTHREAD_SCAN, PTHREAD_SCAN))
            goto out;
    }
    for (size_t off = 0; off + 4 <= PTHREAD_SCAN; off += 4) {
        int ok = 1, saw_pid = 0;
        for (size_t i = 0; i < n && ok; i++) {
            int32_t tid;
            memcpy(&tid, structs + i * PTHREAD_SCAN + off, 4);
            ok = tid > 0 && tid_listed(tids, ntids, tid);
            saw_pid |= tid == w->rt->pid;
            for (size_t j = 0; j < i && ok; j++) {
                int32_t other;
                memcpy(&other, structs + j * PTHREAD_SCAN + off, 4);
                ok = other != tid;
            }
        }
        if (ok && saw_pid) {
            w->tid_offset = (int64_t)off;
            break;
        }
    }
out:
    free(structs);
    free(tids);
}

static void resolve_tids(struct walker *w)
{
    const struct py_layout *l = &w->rt->layout;
    if (l->tstate.native_thread_id != PY_NO_FIELD)
        return; /* read with the thread state */
    if (w->nthreads == 1) {
        w->threads[0].tid = w->rt->pid;
        return;
    }
    if (w->tid_offset < 0)
        find_tid_offset(w);
    if (w->tid_offset < 0)
        return;
    for (size_t i = 0; i < w->nthreads; i++) {
        int32_t tid = 0;
        if (mem_read_i32(w->r, w->threads[i].ident + (uint64_t)w->tid_offset, &tid) == 0)
            w->threads[i].tid = tid;
    }
}

static void name_thread(uint64_t ident, const char *name, void *ctx)
{
    struct walker *w = ctx;
    if (w->nnames == w->names_cap && w->nnames >= WALK_MAX_THREADS)
        return;
    w->names = xgrow(w->names, sizeof(*w->names), w->nnames + 1, &w->names_cap);
    w->names[w->nnames].ident = ident;
    strlcpy_safe(w->names[w->nnames].name, name, sizeof(w->names[w->nnames].name));
    w->nnames++;
}

static const char *cached_name(const struct walker *w, uint64_t ident)
{
    for (size_t i = 0; i < w->nnames; i++) {
        if (w->names[i].ident == ident)
            return w->names[i].name;
    }
    return NULL;
}

/* Names the threads from the cache, reading threading's registry again
 * (a walk of sys.modules and a dict) only when a thread is not in the cache
 * or the cache is old: names rarely change, and the read costs dozens of
 * reads. */
static void name_threads(struct walker *w, uint64_t interp)
{
    /* A thread that just started is in the thread list before threading
     * registers it: nameless entries are retried sooner. */
    int nameless = 0, unknown = 0;
    for (size_t i = 0; i < w->nnames; i++)
        nameless |= w->names[i].name[0] == '\0';
    for (size_t i = 0; i < w->nthreads && !unknown; i++)
        unknown = cached_name(w, w->threads[i].ident) == NULL;
    if (unknown)
        w->names_gap = 1;
    ++w->names_age;
    int stale =
        unknown || w->names_age >= WALK_NAMES_REFRESH || (nameless && w->names_age >= w->names_gap);
    if (stale && nameless && !unknown && w->names_gap < WALK_NAMES_REFRESH)
        w->names_gap *= 2; /* retry the nameless after 1, 2, 4, ... samples */
    if (stale) {
        uint64_t modules = 0;
        w->nnames = 0;
        w->names_age = 0;
        if (mem_read_u64(w->r, interp + w->rt->layout.interp.modules, &modules) == 0 && modules)
            value_thread_names(w->r, &w->rt->layout, modules, name_thread, w);
        for (size_t i = 0; i < w->nthreads; i++) { /* remember the nameless too */
            if (!cached_name(w, w->threads[i].ident))
                name_thread(w->threads[i].ident, "", w);
        }
    }
    for (size_t i = 0; i < w->nthreads; i++) {
        struct py_thread *t = &w->threads[i];
        const char *name = cached_name(w, t->ident);
        if (name && !name[0])
            name = NULL;
        /* A program that never imported threading still has a main thread,
         * the one whose OS tid is the pid; threading would name it so. */
        /* Without a tid, the main thread is the oldest thread state: new
         * ones are pushed at the head, so it is the last. */
        if (!name && (t->tid == w->rt->pid || (t->tid == 0 && i + 1 == w->nthreads)))
            name = "MainThread";
        strlcpy_safe(t->name, name ? name : "", sizeof(t->name));
    }
}

/* Reads the thread-state list into w->threads (no stacks yet). */
static int read_thread_list(struct walker *w, uint64_t interp)
{
    const struct py_layout *l = &w->rt->layout;
    uint64_t tstate;
    int err = mem_read_u64(w->r, interp + l->interp.tstate_head, &tstate);
    if (err)
        return err;
    uint32_t top_field = thread_top_field(l);
    uint32_t fields[] = {l->tstate.thread_id, l->tstate.native_thread_id,
                         l->tstate.interp,    l->tstate.next,
                         top_field,           l->tstate.datastack_chunk};
    uint32_t size = span(fields, 6);
    struct loop_guard guard = {0};
    w->nthreads = 0;
    while (tstate && w->nthreads < WALK_MAX_THREADS) {
        if (loop_seen(&guard, tstate))
            return -SG_ECORRUPT;
        if (w->nthreads == w->threads_cap) {
            size_t old = w->threads_cap;
            w->threads = xgrow(w->threads, sizeof(*w->threads), old + 1, &w->threads_cap);
            memset(w->threads + old, 0, (w->threads_cap - old) * sizeof(*w->threads));
        }
        struct py_thread *t = &w->threads[w->nthreads];
        /* One read for every field we need of the thread state. */
        uint8_t buf[FRAME_HEADER_MAX];
        err = mem_read(w->r, tstate, buf, size);
        if (err)
            return err;
        uint64_t ident = buf_u64(buf, l->tstate.thread_id);
        uint64_t tid = buf_u64(buf, l->tstate.native_thread_id);
        uint64_t back = buf_u64(buf, l->tstate.interp);
        uint64_t next = buf_u64(buf, l->tstate.next);
        if (back != interp)
            return -SG_ECORRUPT;
        t->top = buf_u64(buf, top_field);
        t->chunk = buf_u64(buf, l->tstate.datastack_chunk);
        t->tstate = tstate;
        t->ident = ident;
        t->tid = (pid_t)(tid & 0x7fffffff);
        t->name[0] = '\0';
        t->holds_gil = 0;
        t->idle = 0;
        t->os_state = '?';
        t->depth = 0;
        t->error = 0;
        w->nthreads++;
        tstate = next;
    }
    return 0;
}

static int thread_state(struct walker *w, pid_t tid, char *state)
{
    if (!w->nstates)
        return task_state_cached(&w->stats, w->rt->pid, tid, state);
    for (size_t i = 0; i < w->nstates; i++) {
        if (w->state_tids[i] == tid) {
            *state = w->states[i];
            return *state == '?' ? -1 : 0;
        }
    }
    return -1;
}

/* Walks every listed thread's stack (and finds its request, if asked). */
static void walk_stacks(struct walker *w)
{
    for (size_t i = 0; i < w->nthreads; i++) {
        struct py_thread *t = &w->threads[i];
        t->error = walk_thread(w, t);
        /* Right after its stack: a running thread may leave the request. */
        t->endpoint[0] = '\0';
        if (w->endpoints && t->depth)
            endpoint_of_thread(w->endpoints, w, t, t->endpoint, sizeof(t->endpoint));
    }
}

int walk_sample(struct walker *w)
{
    uint64_t interp;
    code_cache_trim(&w->codes);
    int err = detect_interp_head(w->rt, w->r, &interp);
    if (!err)
        err = read_thread_list(w, interp);
    if (err) {
        w->nthreads = 0;
        return err;
    }
    resolve_tids(w);
    task_stat_cache_round(&w->stats);
    uint64_t holder = gil_holder(w, interp);
    for (size_t i = 0; i < w->nthreads; i++) {
        struct py_thread *t = &w->threads[i];
        t->holds_gil = holder && holder == t->tstate;
        if (t->tid && thread_state(w, t->tid, &t->os_state) == 0)
            t->idle = task_state_idle(t->os_state);
    }
    /* Code objects already cached are trusted during the walk and checked
     * afterwards, all in one batched read, instead of one read each: a
     * stack of 50 distinct functions costs 50 reads fewer. If one changed
     * under its address (freed, another object there), walk again reading
     * each as needed. */
    w->codes.defer = 1;
    walk_stacks(w);
    w->codes.defer = 0;
    if (code_cache_verify(&w->codes, w->r, &w->rt->layout, w->rt->code_type))
        walk_stacks(w);
    for (size_t i = 0; i < w->nthreads; i++)
        w->errors += w->threads[i].error != 0;
    if (w->want_names)
        name_threads(w, interp);
    return 0;
}
