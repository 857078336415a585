/*
 * walk.c - threads and frames of a live interpreter.
 *
 * One walker for every version: it branches only on the layout's frame kind
 * (heap frame objects before 3.11, interpreter frames after), the GIL kind
 * and which thread-id fields exist. Every chase is bounded: at most
 * WALK_MAX_THREADS thread states and WALK_MAX_DEPTH frames, and every object
 * whose type we can check (frames, code objects) is checked before use. A
 * torn read ends that thread's walk with an error code; it never loops.
 *
 * 3.14 tags the frame's code pointer (a _PyStackRef: untagged with the
 * layout's ref_tag_bits); frames whose owner is at least iframe.owner_c are
 * the interpreter's own (C-stack shims, entry frames, 3.15's base frame).
 * A free-threaded build runs each thread on its own copy of the bytecode
 * (tlbc_index), and has no GIL unless PYTHON_GIL=1: then a thread "holds the
 * GIL" when it is attached (runs Python), and w->gil_off says so.
 */
#include "python/walk.h"

#include <stdlib.h>
#include <string.h>

#include "proc/task.h"
#include "python/endpoint.h"
#include "python/tasks.h"
#include "python/value.h"
#include "util/util.h"

/* ob_refcnt opens every object (PyObject_HEAD) in every release build. */
#define OB_REFCNT 0
/* Largest frame header we read in one go (fields we use all sit below). */
#define FRAME_HEADER_MAX 512
/* 3.11+: most frames in a row that are not Python's (C-stack shims, frames
 * still being set up, non-code executables) before the chain is called torn.
 * CPython puts at most one entry frame between two Python frames. */
#define WALK_MAX_SKIPPED 16

void walk_init(struct walker *w, struct mem_reader *r, struct py_runtime *rt)
{
    memset(w, 0, sizeof(*w));
    plan_init(&w->plan, r);
    plan_init(&w->names_plan, r);
    w->r = &w->plan.reader;
    w->rt = rt;
    w->tid_offset = -1;
    w->names_gap = 1;
    w->want_names = 1;
    code_cache_init(&w->codes);
    task_stat_cache_init(&w->stats);
    tid_map_init(&w->tids);
}

void walk_release(struct walker *w)
{
    for (size_t i = 0; i < w->threads_cap; i++)
        free(w->threads[i].frames);
    free(w->threads);
    free(w->names);
    free(w->block);
    task_stat_cache_release(&w->stats);
    tid_map_release(&w->tids);
    code_cache_release(&w->codes);
    plan_release(&w->plan);
    plan_release(&w->names_plan);
    memset(w, 0, sizeof(*w));
}

void walk_set_reader(struct walker *w, struct mem_reader *r)
{
    plan_set_live(&w->plan, r);
    plan_set_live(&w->names_plan, r);
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

/* Adds the next frame outwards. Past WALK_MAX_DEPTH frames the outer part
 * of t->frames (from WALK_KEEP_INNER on) becomes a ring that keeps the
 * latest WALK_KEEP_OUTER, so that the walk ends holding both ends of a deep
 * stack; finish_frames puts the ring back in order. */
static void push_frame(struct py_thread *t, struct code_info *ci, uint64_t addr, int line,
                       int owner, uint64_t instr)
{
    struct py_frame f = {
        .code = ci, .frame_addr = addr, .line = line, .owner = owner, .instr = instr};
    if (t->depth < WALK_MAX_DEPTH) {
        if (t->depth == t->cap)
            t->frames = xgrow(t->frames, sizeof(*t->frames), t->depth + 1, &t->cap);
        t->frames[t->depth++] = f;
        return;
    }
    t->frames[WALK_KEEP_INNER + t->omitted % WALK_KEEP_OUTER] = f;
    t->omitted++;
}

static void reverse_frames(struct py_frame *f, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        struct py_frame tmp = f[i];
        f[i] = f[n - 1 - i];
        f[n - 1 - i] = tmp;
    }
}

/* Rotates the ring of outer frames so the oldest (innermost of them)
 * comes first: frames are then leaf first, with the omitted ones between
 * WALK_KEEP_INNER - 1 and WALK_KEEP_INNER. */
static void finish_frames(struct py_thread *t)
{
    size_t shift = t->omitted % WALK_KEEP_OUTER;
    if (!shift) /* also when nothing was omitted: frames may be NULL then */
        return;
    struct py_frame *ring = t->frames + WALK_KEEP_INNER;
    reverse_frames(ring, shift);
    reverse_frames(ring + shift, WALK_KEEP_OUTER - shift);
    reverse_frames(ring, WALK_KEEP_OUTER);
}

/* Python frames walked so far, kept or not. */
static size_t walked(const struct py_thread *t)
{
    return t->depth + t->omitted;
}

/* The walk (leaf to root) passed the outermost frame of one C evaluation
 * call: it ends with the frame pushed last (in the ring of outer frames,
 * past WALK_MAX_DEPTH), or with none yet. */
static void eval_boundary(struct py_thread *t)
{
    struct py_frame *last = NULL;
    if (t->omitted)
        last = &t->frames[WALK_KEEP_INNER + (t->omitted - 1) % WALK_KEEP_OUTER];
    else if (t->depth)
        last = &t->frames[t->depth - 1];
    if (!last)
        t->eval_leaf++;
    else if (last->eval_entry < UINT8_MAX)
        last->eval_entry++;
}

/* <= 3.10: PyFrameObject chained by f_back. A frame whose reference count
 * reads 0 has been freed (it waits in a free list, or as its code's zombie
 * frame, for reuse): the thread returned from it while we read the chain. */
static int walk_frame_objects(struct walker *w, uint64_t frame, struct py_thread *t)
{
    const struct py_layout *l = &w->rt->layout;
    uint32_t fields[] = {OB_REFCNT, l->object.ob_type, l->frame.f_back, l->frame.f_code,
                         l->frame.f_lasti};
    uint32_t size = span(fields, 5);
    uint8_t buf[FRAME_HEADER_MAX];
    struct loop_guard guard = {0};
    while (frame) {
        if (walked(t) >= WALK_MAX_CHAIN) {
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
        if ((int64_t)buf_u64(buf, OB_REFCNT) <= 0)
            return -SG_ECORRUPT;
        struct code_info *ci;
        err = code_cache_get(&w->codes, w->plan.live, l, w->rt->code_type,
                             buf_u64(buf, l->frame.f_code), &ci);
        if (err)
            return err;
        int64_t lasti = buf_i32(buf, l->frame.f_lasti);
        if (l->line_kind == PY_LINES_310 && lasti >= 0)
            lasti *= 2; /* 3.10 counts code units */
        push_frame(t, ci, frame, code_line(ci, l, lasti), 0,
                   (uint32_t)buf_i32(buf, l->frame.f_lasti));
        eval_boundary(t); /* before 3.11 each frame has its own C call */
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
 * frame and reaches down: to the start of the thread's live data-stack
 * chunk (at most FRAME_BLOCK) for a frame inside it; to the start of its own
 * page for a frame elsewhere (a generator's, a 3.12+ C-stack shim, an older
 * chunk's); as far as FRAME_BLOCK when the chunk is not known. If that read
 * fails, from its own page, then the frame alone. */
static int read_frame(struct walker *w, uint64_t addr, uint8_t *buf, uint32_t size, uint64_t chunk)
{
    if (addr >= w->block_base && addr + size <= w->block_base + w->block_len &&
        addr + size > addr) {
        memcpy(buf, w->block_data + (addr - w->block_base), size);
        return 0;
    }
    if (!w->block)
        w->block = xmalloc(FRAME_BLOCK + PAGE + FRAME_HEADER_MAX);
    uint64_t end = addr + size;
    uint64_t page = addr & ~(uint64_t)(PAGE - 1);
    uint64_t low = page;
    /* In the thread's live data-stack chunk, everything from the chunk's
     * start up to this frame is mapped: one read covers all its callers. */
    if (chunk && chunk <= addr && addr - chunk < (64u << 20))
        low = end - chunk > FRAME_BLOCK ? (end - FRAME_BLOCK) : chunk;
    else if (!chunk && end > FRAME_BLOCK + PAGE)
        low = (end - FRAME_BLOCK) & ~(uint64_t)(PAGE - 1); /* below page: size < PAGE */
    /* The sample's batch may hold the block: then it is used where it is. */
    w->block_data = plan_peek(&w->plan, low, end - low);
    if (w->block_data) {
        w->block_base = low;
        w->block_len = end - low;
        memcpy(buf, w->block_data + (addr - low), size);
        return 0;
    }
    uint64_t starts[2] = {low, page};
    for (int i = 0; i < 2; i++) {
        uint64_t start = starts[i];
        if (i == 1 && start == starts[0])
            break; /* the same read again would fail the same way */
        w->block_reads++;
        if (mem_read(w->r, start, w->block, end - start) == 0) {
            w->block_data = w->block;
            w->block_base = start;
            w->block_len = end - start;
            memcpy(buf, w->block + (addr - start), size);
            return 0;
        }
    }
    w->block_len = 0;
    return mem_read(w->r, addr, buf, size);
}

/* 3.11+: whether the outermost frame of a chain (previous is NULL) is
 * where the thread entered the interpreter from C, as every complete chain
 * ends: a frame marked is_entry (3.11) or the entry shim frame owned by
 * the C stack (3.12+). A chain that ends anywhere else was read while the
 * thread overwrote it. */
static int ends_at_entry(const struct py_layout *l, const uint8_t *buf)
{
    if (l->iframe.is_entry != PY_NO_FIELD)
        return buf[l->iframe.is_entry] != 0;
    if (l->iframe.owner_c != PY_NO_FIELD) /* 3.14+: an entry frame; 3.15: the base frame */
        return buf[l->iframe.owner] >= l->iframe.owner_c;
    return 1;
}

/* 3.11+: _PyInterpreterFrame chained by previous. */
static int walk_interp_frames(struct walker *w, uint64_t frame, struct py_thread *t)
{
    const struct py_layout *l = &w->rt->layout;
    uint32_t fields[] = {l->iframe.code,  l->iframe.previous, l->iframe.instr,
                         l->iframe.owner, l->iframe.is_entry, l->iframe.tlbc_index};
    uint32_t size = span(fields, 6);
    uint8_t buf[FRAME_HEADER_MAX];
    size_t steps = 0, skipped = 0;
    struct loop_guard guard = {0};
    if (!frame)
        return 0;
    for (; frame; frame = buf_u64(buf, l->iframe.previous)) {
        if (walked(t) >= WALK_MAX_CHAIN || ++steps > 2 * WALK_MAX_CHAIN) {
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
        /* 3.11 flags the frame each C evaluation call was entered with;
         * 3.12+ puts a shim frame below it instead (3.14+: an entry frame). */
        int entry = l->iframe.is_entry != PY_NO_FIELD && buf[l->iframe.is_entry];
        uint64_t code = layout_untag(l, buf_u64(buf, l->iframe.code));
        struct code_info *ci;
        uint64_t base;
        skipped++;
        /* Shim and entry frames (3.12+) belong to C; 3.13+ frames may hold
         * non-code executables. */
        if (l->iframe.owner_c != PY_NO_FIELD && (uint32_t)owner >= l->iframe.owner_c) {
            eval_boundary(t);
            continue;
        }
        err = code_cache_get(&w->codes, w->plan.live, l, w->rt->code_type, code, &ci);
        if (err == -SG_ECORRUPT && l->minor >= 13)
            continue;
        if (!err)
            err = code_bytecode(&w->codes, w->r, l, ci, buf_i32(buf, l->iframe.tlbc_index), &base);
        if (err)
            return err;
        int64_t offset = (int64_t)(buf_u64(buf, l->iframe.instr) - base);
        /* A frame whose first instruction has not run yet is still being
         * set up (CPython calls it incomplete): not part of the stack. */
        if (offset < 0 && owner != PY_OWNED_BY_GENERATOR) {
            if (entry)
                eval_boundary(t); /* its C call has begun all the same */
            continue;
        }
        skipped = 0;
        push_frame(t, ci, frame, code_line(ci, l, offset), owner, buf_u64(buf, l->iframe.instr));
        if (entry)
            eval_boundary(t);
    }
    return ends_at_entry(l, buf) ? 0 : -SG_ECORRUPT;
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

/* The first frame of t's walk: t->top itself, or on 3.11 and 3.12 the
 * current frame of the _PyCFrame it points to. */
static int first_frame(struct walker *w, const struct py_thread *t, uint64_t *frame)
{
    const struct py_layout *l = &w->rt->layout;
    *frame = t->top;
    if (l->frame_kind == PY_FRAME_INTERP && l->tstate.current_frame == PY_NO_FIELD && t->top)
        return mem_read_u64(w->r, t->top + l->cframe.current_frame, frame);
    return 0;
}

/* Walks from t->top, read with the thread list, and remembers the first
 * frame in t->frame0. */
static int walk_thread(struct walker *w, struct py_thread *t)
{
    const struct py_layout *l = &w->rt->layout;
    t->depth = 0;
    t->omitted = 0;
    t->truncated = 0;
    t->eval_leaf = 0;
    w->block_len = 0; /* the target has moved on since the block was read */
    int err = first_frame(w, t, &t->frame0);
    if (err)
        return err;
    plan_phase(&w->plan, PLAN_DATA);
    if (l->frame_kind == PY_FRAME_OBJECT)
        err = walk_frame_objects(w, t->frame0, t);
    else
        err = walk_interp_frames(w, t->frame0, t);
    finish_frames(t);
    return err;
}

/* The frame a frame object or interpreter frame links back to, or 0. */
static uint64_t read_back(struct walker *w, uint64_t frame)
{
    const struct py_layout *l = &w->rt->layout;
    uint32_t field = l->frame_kind == PY_FRAME_OBJECT ? l->frame.f_back : l->iframe.previous;
    uint64_t back = 0;
    if (!frame || mem_read_u64(w->r, frame + field, &back))
        return 0;
    return back;
}

/* Frames followed back from where a thread moved to (move_is_harmless). */
#define WALK_MOVE_FOLLOW 4

/* Whether what t's walk read still holds now that the thread has moved
 * from frame0 to frame. Frames are read leaf first, and the thread leaves
 * them leaf first too: if the frame it runs now is the leaf we read or its
 * caller, or calls made from either (followed back at most
 * WALK_MOVE_FOLLOW frames, one read each), then the thread never left the
 * caller of our leaf, and every frame we read after the leaf was still
 * live when we read it. The leaf and its caller may have been left and
 * entered again at the same address meanwhile: the other checks (reference
 * counts, the entry frame) catch most of what that tears. */
static int move_is_harmless(struct walker *w, const struct py_thread *t, uint64_t frame)
{
    uint64_t caller = t->depth > 1 ? t->frames[1].frame_addr : 0;
    for (int i = 0; frame && i <= WALK_MOVE_FOLLOW; i++) {
        if (frame == t->frame0 || (caller && frame == caller))
            return 1;
        if (i < WALK_MOVE_FOLLOW)
            frame = read_back(w, frame);
    }
    return 0;
}

/* Callers whose position stack_moved reads again (the innermost ones:
 * where a stack changes while it is read). */
#define WALK_CHECK_CALLERS 64

/* Whether a caller of t's walk, from frames[from] outwards, is no longer
 * where the walk read it. A caller does not move while its callee runs, so
 * one that did was read before or after the frames above it changed: the
 * thread returned through it and called again, maybe to the very frame
 * addresses we read (the data stack reuses them), which the top pointer
 * alone cannot tell. One batched read (served from the sample's batch in
 * the steady state). */
static int callers_moved(struct walker *w, const struct py_thread *t, size_t from)
{
    const struct py_layout *l = &w->rt->layout;
    int objects = l->frame_kind == PY_FRAME_OBJECT;
    uint32_t field = objects ? l->frame.f_lasti : l->iframe.instr;
    size_t n = t->depth < WALK_CHECK_CALLERS ? t->depth : WALK_CHECK_CALLERS;
    struct mem_span spans[WALK_CHECK_CALLERS];
    uint64_t now[WALK_CHECK_CALLERS] = {0};
    size_t count = 0;
    for (size_t i = from; i < n; i++) {
        spans[count] = (struct mem_span){
            .addr = t->frames[i].frame_addr + field, .buf = &now[count], .size = objects ? 4 : 8};
        count++;
    }
    if (!count)
        return 0;
    mem_read_batch(w->r, spans, count);
    for (size_t i = 0; i < count; i++) {
        uint64_t was = t->frames[from + i].instr;
        if (spans[i].err || (objects ? (uint32_t)now[i] != (uint32_t)was : now[i] != was))
            return 1;
    }
    return 0;
}

/* Reads t's top again (one read; two on 3.11 and 3.12, where the frame
 * hangs off a _PyCFrame). Returns 1 if the thread moved in a way that may
 * have torn what we read (see move_is_harmless). t->top and t->chunk are
 * updated for another walk. */
static int stack_moved(struct walker *w, struct py_thread *t)
{
    const struct py_layout *l = &w->rt->layout;
    uint64_t top, frame;
    plan_phase(&w->plan, PLAN_CHECK);
    if (mem_read_u64(w->r, t->tstate + thread_top_field(l), &top))
        return 1;
    int moved = 0;
    t->top = top;
    if (first_frame(w, t, &frame))
        moved = 1;
    /* The leaf moves as it runs, and so does its caller once the thread
     * returned to it (a harmless move, below): the callers past them must
     * not have. */
    if (!moved)
        moved = callers_moved(w, t, frame == t->frame0 ? 1 : 2);
    plan_phase(&w->plan, PLAN_OFF); /* the rest reads live: the thread moved */
    if (!moved && frame != t->frame0)
        moved = !move_is_harmless(w, t, frame);
    if (moved && l->tstate.datastack_chunk != PY_NO_FIELD &&
        mem_read_u64(w->r, t->tstate + l->tstate.datastack_chunk, &t->chunk))
        t->chunk = 0;
    return moved;
}

/* Whether t's last walk holds for this sample (struct walk_memo): same
 * thread state, same start, code entries still those it found, and every
 * read it made gets the same bytes from this sample's batch. If so, t has
 * its frames back and their code objects are queued for the sample's check
 * as a walk would have queued them. */
static int memo_holds(struct walker *w, struct py_thread *t)
{
    const struct walk_memo *m = &t->memo;
    if (!m->valid || !t->batched || !w->codes.defer || m->tstate != t->tstate || m->top != t->top ||
        m->chunk != t->chunk || m->codes != w->codes.generation ||
        !plan_unchanged(&w->plan, m->from, m->to))
        return 0;
    t->depth = m->depth;
    t->omitted = m->omitted;
    t->truncated = m->truncated;
    t->frame0 = m->frame0;
    for (size_t i = 0; i < t->depth; i++)
        code_cache_keep(&w->codes, t->frames[i].code);
    w->kept++;
    return 1;
}

/* Walks t (or keeps its last walk, memo_holds), checking the result: a walk
 * that failed or whose thread moved meanwhile is done again, once; if that
 * one fails or moves too, t gets an error (torn if it moved) and its frames
 * are not to be used. */
static void walk_checked(struct walker *w, struct py_thread *t)
{
    t->torn = 0;
    t->retried = 0;
    t->kept = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        plan_thread(&w->plan, attempt      ? PLAN_THREAD_RETRY
                              : t->batched ? PLAN_THREAD_BATCHED
                                           : PLAN_THREAD_LIVE);
        struct walk_memo m = {.tstate = t->tstate, .top = t->top, .chunk = t->chunk};
        m.from = plan_mark(&w->plan);
        t->kept = attempt == 0 && memo_holds(w, t);
        t->error = t->kept ? 0 : walk_thread(w, t);
        m.to = plan_mark(&w->plan);
        int moved = !w->paused && stack_moved(w, t);
        plan_thread_end(&w->plan);
        m.valid = attempt == 0 && !t->error && !moved && !w->plan.overflow && t->batched;
        m.codes = w->codes.generation;
        m.depth = t->depth;
        m.omitted = t->omitted;
        m.truncated = t->truncated;
        m.frame0 = t->frame0;
        t->memo = m;
        if (!t->error && !moved)
            return;
        t->kept = 0;
        if (attempt == 0) {
            w->retried++;
            t->retried = 1;
            continue;
        }
        if (moved || t->error == -SG_ECORRUPT) {
            t->torn = 1;
            t->error = -SG_ECORRUPT;
            w->torn++;
        }
    }
}

int walk_stack(struct walker *w, uint64_t tstate, struct py_thread *t)
{
    uint64_t top;
    int err = mem_read_u64(w->r, tstate + thread_top_field(&w->rt->layout), &top);
    if (err)
        return err;
    t->top = top;
    t->tstate = tstate;
    t->chunk = 0;
    if (w->rt->layout.tstate.datastack_chunk != PY_NO_FIELD &&
        mem_read_u64(w->r, tstate + w->rt->layout.tstate.datastack_chunk, &t->chunk))
        t->chunk = 0;
    return walk_thread(w, t);
}

/* Returns the thread state holding the GIL, or 0 if none (or unknown).
 * Sets w->gil_off if the target runs without one (a free-threaded build,
 * unless PYTHON_GIL=1 turned it on). */
static uint64_t gil_holder(struct walker *w, uint64_t interp)
{
    const struct py_layout *l = &w->rt->layout;
    uint64_t holder = 0, gil;
    int32_t locked, enabled;
    w->gil_off = 0;
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
        if (l->gil.enabled != PY_NO_FIELD &&
            mem_read_i32(w->r, gil + l->gil.enabled, &enabled) == 0 && !enabled) {
            w->gil_off = 1;
            break;
        }
        if (mem_read_i32(w->r, gil + l->gil.locked, &locked) || !locked)
            break;
        mem_read_u64(w->r, gil + l->gil.last_holder, &holder);
        break;
    }
    return holder;
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
        struct mem_reader *r = &w->names_plan.reader;
        w->nnames = 0;
        w->names_age = 0;
        /* The dicts and objects read last time, read again in one call. */
        plan_begin(&w->names_plan);
        if (mem_read_u64(r, interp + w->rt->layout.interp.modules, &modules) == 0 && modules)
            value_thread_names(r, &w->rt->layout, modules, name_thread, w);
        plan_end(&w->names_plan);
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
    uint32_t fields[] = {
        l->tstate.thread_id, l->tstate.native_thread_id, l->tstate.interp, l->tstate.next,
        top_field,           l->tstate.datastack_chunk,  l->tstate.state};
    uint32_t size = span(fields, 7);
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
        t->batched = plan_last_served(&w->plan);
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
        t->native_tid = (pid_t)(tid & 0x7fffffff);
        t->name[0] = '\0';
        t->holds_gil = 0;
        t->attached = l->tstate.state == PY_NO_FIELD
                          ? -1
                          : buf_i32(buf, l->tstate.state) == PY_THREAD_ATTACHED;
        t->idle = 0;
        t->os_state = '?';
        t->depth = 0;
        t->error = 0;
        w->nthreads++;
        tstate = next;
    }
    return 0;
}

/* Walks every listed thread's stack (and finds its request, if asked). */
static void walk_stacks(struct walker *w)
{
    for (size_t i = 0; i < w->nthreads; i++) {
        struct py_thread *t = &w->threads[i];
        walk_checked(w, t);
        /* Right after its stack: a running thread may leave the request. */
        t->endpoint[0] = '\0';
        if (w->endpoints && t->depth && !t->error)
            endpoint_of_thread(w->endpoints, w, t, t->endpoint, sizeof(t->endpoint));
    }
}

/* walk_sample's work between plan_begin and plan_end. */
static int sample_threads(struct walker *w)
{
    uint64_t interp;
    int err = detect_interp_head(w->rt, w->r, &interp);
    if (!err)
        err = read_thread_list(w, interp);
    if (err) {
        w->nthreads = 0;
        return err;
    }
    task_stat_cache_round(&w->stats);
    tid_resolve(w);
    uint64_t holder = gil_holder(w, interp);
    /* Without a GIL, every thread that runs Python may: the attached. */
    for (size_t i = 0; i < w->nthreads; i++)
        w->threads[i].holds_gil =
            w->gil_off ? w->threads[i].attached == 1 : holder && holder == w->threads[i].tstate;
    /* Code objects already cached are trusted during the walk and checked
     * afterwards, all in one batched read, instead of one read each: a
     * stack of 50 distinct functions costs 50 reads fewer. If one changed
     * under its address (freed, another object there), walk again reading
     * each as needed. */
    w->codes.defer = 1;
    walk_stacks(w);
    w->codes.defer = 0;
    plan_phase(&w->plan, PLAN_CODE);
    size_t stale = code_cache_verify(&w->codes, w->r, &w->rt->layout, w->rt->code_type);
    plan_phase(&w->plan, PLAN_OFF);
    if (stale)
        walk_stacks(w);
    /* An idle thread's state was kept unread if its walk could be: read it
     * now where the walk was not kept (python/tid.h). */
    tid_confirm(w);
    for (size_t i = 0; i < w->nthreads; i++)
        w->errors += w->threads[i].error != 0;
    if (w->tasks && tasks_sample(w->tasks, w) != 0)
        w->tasks->errors++;
    if (w->want_names)
        name_threads(w, interp);
    return 0;
}

int walk_sample(struct walker *w)
{
    code_cache_trim(&w->codes);
    /* Reads, in one call, what the last sample read (python/plan.h). */
    plan_begin(&w->plan);
    int err = sample_threads(w);
    plan_end(&w->plan);
    return err;
}
