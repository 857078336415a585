/*
 * tasks_chain.c - every task's coroutine chain (python/tasks.h).
 *
 * Chains are read level by level over all tasks at once: every task's
 * coroutine in one batched read, then (<= 3.10) every coroutine's frame,
 * then the objects those frames await, and so on, so a sample of 200 tasks
 * costs a few system calls per level, not a few per task. What a suspended
 * frame awaits is the top of its value stack, when its next instruction
 * says it is suspended in a `yield from` / await (each version's rule is in
 * yf_at and the gen_view functions).
 */
#include <string.h>

#include "python/pystr.h"
#include "python/tasks_impl.h"
#include "util/util.h"

/* Bytes read of a generator's header (<= 3.10), and the value-stack slots
 * read with a frame (3.11+: inside the generator): a coroutine suspended
 * deeper in its stack costs one more read. */
#define GEN_SPAN_OLD 64
#define STACK_SLOTS 24
#define MIN_SPAN 64

/* Opcodes the yield-from rules look for (CPython's opcode.h). */
#define OP_YIELD_FROM 72           /* <= 3.10 */
#define OP_RESUME 151              /* 3.11, 3.12 */
#define OP_RESUME_QUICK 150        /* 3.11 */
#define OP_INSTRUMENTED_RESUME 240 /* 3.12 */
#define FRAME_SUSPENDED (-1)       /* 3.10 - 3.12: SUSPENDED; 3.13: SUSPENDED_YIELD_FROM */

static uint64_t u64_at(const uint8_t *buf, size_t size, uint32_t off)
{
    return layout_u64(buf, size, off);
}

/* ---- coroutine chains ---------------------------------------------------- */

/* Is the code at offset (bytes) suspended in a `yield from` / await? (The
 * next instruction decides: <= 3.10 YIELD_FROM, 3.11/3.12 a RESUME after a
 * yield from or await.) Remembered per code object and offset. */
static int yf_at(struct tasks_ctx *c, const struct code_info *ci, int64_t offset)
{
    const struct py_layout *l = c->l;
    struct tasks_yf_memo *m =
        &c->tr->memo->yf[hash_mix(ci->serial ^ ((uint64_t)offset << 32)) & (TASKS_MEMO - 1)];
    if (m->serial == ci->serial && m->offset == offset)
        return m->yf;
    uint8_t unit[2] = {0, 0};
    int64_t size = 0;
    int yf = 0;
    if (l->frame_kind == PY_FRAME_OBJECT) {
        uint64_t bytes;
        if (mem_read_u64(c->r, ci->addr + l->code.co_code, &bytes) ||
            mem_read(c->r, bytes + l->object.ob_size, &size, 8) || offset + 2 >= size ||
            mem_read(c->r, bytes + l->bytes.ob_sval + (uint64_t)offset + 2, unit, 1))
            return 0; /* not remembered: a read failed */
        yf = unit[0] == OP_YIELD_FROM;
    } else {
        if (mem_read(c->r, ci->addr + l->object.ob_size, &size, 8) || offset / 2 + 1 >= size ||
            mem_read(c->r, ci->addr + l->code.co_code_adaptive + (uint64_t)offset + 2, unit, 2))
            return 0;
        yf = (unit[0] == OP_RESUME || (l->minor == 11 && unit[0] == OP_RESUME_QUICK) ||
              (l->minor == 12 && unit[0] == OP_INSTRUMENTED_RESUME)) &&
             unit[1] >= 2;
    }
    *m = (struct tasks_yf_memo){ci->serial, offset, (int8_t)yf};
    return yf;
}

/* What a generator's frame says, read from buf (size bytes at frame). */
struct gen_view {
    uint64_t frame, code;
    int64_t offset; /* bytes into the bytecode; negative: not started */
    int suspended;  /* stopped where it may await something */
    uint64_t slot;  /* the value-stack slot holding what it awaits */
};

/* <= 3.10: a PyFrameObject read into buf. */
static int view_frame_object(struct tasks_ctx *c, uint64_t frame, const uint8_t *buf, size_t size,
                             struct gen_view *v)
{
    const struct py_layout *l = c->l;
    uint64_t type = u64_at(buf, size, l->object.ob_type);
    if (size < l->frame.f_localsplus || (c->w->rt->frame_type && type != c->w->rt->frame_type))
        return -SG_ECORRUPT;
    v->frame = frame;
    v->code = u64_at(buf, size, l->frame.f_code);
    int64_t lasti = layout_i32(buf, size, l->frame.f_lasti);
    v->offset = l->line_kind == PY_LINES_310 && lasti >= 0 ? lasti * 2 : lasti;
    uint64_t stack = u64_at(buf, size, l->genframe.f_valuestack);
    if (l->genframe.f_stacktop != PY_NO_FIELD) {
        uint64_t top = u64_at(buf, size, l->genframe.f_stacktop);
        v->suspended = top > stack && top - stack < (1u << 20) && lasti >= 0;
        v->slot = top - 8;
    } else {
        int32_t depth = layout_i32(buf, size, l->genframe.f_stackdepth);
        int8_t state = (int8_t)buf[l->genframe.f_state];
        v->suspended = state == FRAME_SUSPENDED && depth > 0 && depth < 4096 && lasti >= 0;
        v->slot = stack + 8 * (uint64_t)(depth - 1);
    }
    return 0;
}

/* 3.11+: the generator object (with its frame inside) read into buf.
 * Returns 1 if the generator has finished (no frame). */
static int view_gen_frame(struct tasks_ctx *c, uint64_t gen, const uint8_t *buf, size_t size,
                          struct gen_view *v)
{
    const struct py_layout *l = c->l;
    uint32_t f = l->gen.gi_iframe;
    int8_t state = (int8_t)buf[l->gen.gi_frame_state];
    if (state >= 1) /* completed, or cleared */
        return 1;
    if (size < f + l->iframe.localsplus)
        return -SG_ECORRUPT;
    v->frame = gen + f;
    v->code = u64_at(buf, size, f + l->iframe.code);
    v->offset =
        (int64_t)(u64_at(buf, size, f + l->iframe.instr) - (v->code + l->code.co_code_adaptive));
    int32_t top = layout_i32(buf, size, f + l->iframe.stacktop);
    v->suspended = state == FRAME_SUSPENDED && top > 0 && top < 4096 && v->offset >= 0;
    v->slot = v->frame + l->iframe.localsplus + 8 * (uint64_t)(top - 1);
    return 0;
}

static void add_out(struct tasks_ctx *c, const struct tasks_chain_cur *cur, struct code_info *ci,
                    const struct gen_view *v)
{
    struct tasks_scratch *s = c->s;
    s->out = xgrow(s->out, sizeof(*s->out), s->nout + 1, &s->out_cap);
    struct tasks_chain_out *o = &s->out[s->nout++];
    o->task = cur->task;
    o->frame = (struct py_frame){
        .code = ci, .frame_addr = v->frame, .line = code_line(ci, c->l, v->offset), .owner = 0};
    o->qualname = cur->qualname;
    o->link.gen = cur->gen;
    o->link.kind = cur->kind;
    o->link.qualname = -1;
}

static void push_next(struct tasks_ctx *c, const struct tasks_chain_cur *cur, uint64_t obj)
{
    struct tasks_scratch *s = c->s;
    if (!obj || cur->steps + 1 >= TASKS_MAX_CHAIN + 8)
        return;
    s->next = xgrow(s->next, sizeof(*s->next), s->nnext + 1, &s->next_cap);
    s->next[s->nnext++] = (struct tasks_chain_cur){
        .task = cur->task, .obj = obj, .steps = (uint16_t)(cur->steps + 1)};
}

/* A generator's frame, viewed: records it and goes on to what it awaits
 * (read from buf when the slot is inside it, else read now). */
static void take_frame(struct tasks_ctx *c, const struct tasks_chain_cur *cur,
                       const struct gen_view *v, const uint8_t *buf, uint64_t buf_addr, size_t size)
{
    struct code_info *ci;
    if (code_cache_get(&c->w->codes, c->r, c->l, c->w->rt->code_type, v->code, &ci) != 0) {
        c->tr->torn++;
        return;
    }
    if (tasks_code_class(c, ci) == CC_FUTURE_AWAIT) {
        /* A pure-Python Future's own __await__: the end. Its `self` (its
         * first local) is the future the task waits on. */
        struct py_task *t = &c->tr->tasks[cur->task];
        uint64_t self = v->frame + (c->l->frame_kind == PY_FRAME_INTERP ? c->l->iframe.localsplus
                                                                        : c->l->frame.f_localsplus);
        if (t->pure && !c->tr->names && !t->waiter && self >= buf_addr &&
            self + 8 <= buf_addr + size)
            memcpy(&t->waiter, buf + (self - buf_addr), 8);
        return;
    }
    add_out(c, cur, ci, v);
    /* 3.13 has a frame state of its own for it (SUSPENDED_YIELD_FROM). */
    if (!v->suspended || (c->l->minor < 13 && !yf_at(c, ci, v->offset)))
        return;
    uint64_t next = 0;
    if (v->slot >= buf_addr && v->slot + 8 <= buf_addr + size)
        memcpy(&next, buf + (v->slot - buf_addr), 8);
    else if (mem_read_u64(c->r, v->slot, &next))
        return;
    push_next(c, cur, next);
}

/* One level of every chain: the objects in s->cur. Generators' frames are
 * read inside their object (3.11+) or in a second batch (<= 3.10). */
static void chain_level(struct tasks_ctx *c, size_t n)
{
    struct tasks_scratch *s = c->s;
    const struct py_layout *l = c->l;
    int old = l->frame_kind == PY_FRAME_OBJECT;
    size_t frame_span = l->frame.f_localsplus + 8 * STACK_SLOTS;
    size_t span = old ? GEN_SPAN_OLD : l->gen.gi_iframe + l->iframe.localsplus + 8 * STACK_SLOTS;
    uint8_t *buf = tasks_scratch_buf(c, n, n * (span > frame_span ? span : frame_span));
    for (size_t i = 0; i < n; i++)
        s->spans[i] = (struct mem_span){s->cur[i].obj, buf + i * span, span, 0};
    tasks_batch(c, s->spans, n, old ? MIN_SPAN : l->gen.gi_iframe + l->iframe.localsplus);
    size_t frames = 0;
    for (size_t i = 0; i < n; i++) {
        struct tasks_chain_cur *cur = &s->cur[i];
        const uint8_t *b = s->spans[i].buf;
        size_t size = s->spans[i].size;
        const struct tk_type *k;
        if (s->spans[i].err || tasks_kind(c, u64_at(b, size, l->object.ob_type), &k) != 0) {
            c->tr->torn++;
            continue;
        }
        if (k->kind == TK_ASEND) { /* async for: go on to the async generator */
            push_next(c, cur, u64_at(b, size, l->gen.ags_gen));
            continue;
        }
        if (k->kind != TK_COROUTINE && k->kind != TK_GENERATOR && k->kind != TK_ASYNC_GEN)
            continue; /* a FutureIter, a future, anything else: the end */
        cur->gen = cur->obj;
        cur->qualname = u64_at(b, size, l->gen.gi_qualname);
        cur->kind = k->kind == TK_COROUTINE   ? TASK_CORO_COROUTINE
                    : k->kind == TK_GENERATOR ? TASK_CORO_GENERATOR
                                              : TASK_CORO_ASYNC_GEN;
        struct gen_view v = {0};
        if (!old) {
            int r = view_gen_frame(c, cur->obj, b, size, &v);
            if (r < 0)
                c->tr->torn++;
            if (r == 0)
                take_frame(c, cur, &v, b, cur->obj, size);
            continue;
        }
        cur->obj = u64_at(b, size, l->gen.gi_frame); /* NULL: finished */
        if (cur->obj)
            s->cur[frames++] = *cur;
    }
    if (!old || !frames)
        return;
    for (size_t i = 0; i < frames; i++)
        s->spans[i] = (struct mem_span){s->cur[i].obj, buf + i * frame_span, frame_span, 0};
    tasks_batch(c, s->spans, frames, l->frame.f_localsplus);
    for (size_t i = 0; i < frames; i++) {
        struct gen_view v = {0};
        if (s->spans[i].err ||
            view_frame_object(c, s->cur[i].obj, s->spans[i].buf, s->spans[i].size, &v) != 0) {
            c->tr->torn++;
            continue;
        }
        take_frame(c, &s->cur[i], &v, s->spans[i].buf, s->cur[i].obj, s->spans[i].size);
    }
}

/* The qualname of each frame's coroutine (names only): one read per
 * distinct str object (most tasks share their coroutines' functions). */
static void read_qualnames(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_scratch *s = c->s;
    struct {
        uint64_t obj;
        int32_t index;
    } seen[256];
    memset(seen, 0, sizeof(seen));
    tr->nqualnames = 0;
    for (size_t i = 0; i < s->nout; i++) {
        uint64_t q = s->out[i].qualname;
        size_t h = (size_t)hash_mix(q) & 255;
        if (!q)
            continue;
        if (seen[h].obj == q) {
            s->out[i].link.qualname = seen[h].index;
            continue;
        }
        tr->qualnames =
            xgrow(tr->qualnames, sizeof(*tr->qualnames), tr->nqualnames + 1, &tr->qualnames_cap);
        if (pystr_read(c->r, c->l, q, tr->qualnames[tr->nqualnames], TASKS_NAME_MAX) != 0)
            continue;
        seen[h].obj = q;
        seen[h].index = (int32_t)tr->nqualnames;
        s->out[i].link.qualname = (int32_t)tr->nqualnames++;
    }
}

/* Puts the frames found into their tasks' places, outermost first. */
static void place_frames(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_scratch *s = c->s;
    size_t need = s->nout, pos = 0;
    tr->frames = xgrow(tr->frames, sizeof(*tr->frames), need ? need : 1, &tr->frames_cap);
    tr->links = xgrow(tr->links, sizeof(*tr->links), need ? need : 1, &tr->links_cap);
    for (size_t i = 0; i < tr->ntasks; i++)
        tr->tasks[i].nframes = 0;
    for (size_t i = 0; i < s->nout; i++)
        tr->tasks[s->out[i].task].nframes++;
    for (size_t i = 0; i < tr->ntasks; i++) {
        tr->tasks[i].frame0 = pos;
        pos += tr->tasks[i].nframes;
        tr->tasks[i].nframes = 0;
    }
    for (size_t i = 0; i < s->nout; i++) { /* stable: levels were walked in order */
        struct py_task *t = &tr->tasks[s->out[i].task];
        tr->frames[t->frame0 + t->nframes] = s->out[i].frame;
        tr->links[t->frame0 + t->nframes] = s->out[i].link;
        t->nframes++;
    }
    tr->nframes = s->nout;
}

void tasks_read_chains(struct tasks_ctx *c)
{
    struct task_reader *tr = c->tr;
    struct tasks_scratch *s = c->s;
    size_t n = 0;
    s->nout = 0;
    s->cur = xgrow(s->cur, sizeof(*s->cur), tr->ntasks ? tr->ntasks : 1, &s->cur_cap);
    for (size_t i = 0; i < tr->ntasks; i++) {
        if (tr->tasks[i].coro)
            s->cur[n++] = (struct tasks_chain_cur){.task = i, .obj = tr->tasks[i].coro};
    }
    for (int level = 0; n && level < TASKS_MAX_CHAIN + 8; level++) {
        s->nnext = 0;
        chain_level(c, n);
        n = s->nnext;
        struct tasks_chain_cur *swap = s->cur;
        size_t swap_cap = s->cur_cap;
        s->cur = s->next;
        s->cur_cap = s->next_cap;
        s->next = swap;
        s->next_cap = swap_cap;
    }
    if (tr->names)
        read_qualnames(c);
    place_frames(c);
}
