/*
 * plan.c - one batched read per sample, from where the last sample read
 * (python/plan.h says what may be answered from it, and why).
 *
 * Per sample: plan_begin reads the batch, the walker's reads are answered
 * from it by a binary search in their group (or go live), every planned
 * read is appended to a record, and plan_end turns the record into the next
 * batch: sorted by group and address, neighbours merged, data spans reaching
 * a little further. A sample that read exactly what the last one read (the
 * steady state) keeps its batch as it is.
 */
#include "python/plan.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Largest span that merging builds (a single read may be larger). */
#define PLAN_SPAN_MAX (64u << 10)

static int plan_read(void *ctx, uint64_t addr, void *buf, size_t size);
static uint64_t plan_read_batch(void *ctx, struct mem_span *spans, size_t count);

void plan_init(struct plan *p, struct mem_reader *live)
{
    memset(p, 0, sizeof(*p));
    p->live = live;
    p->reader.read = plan_read;
    p->reader.read_batch = plan_read_batch;
    p->reader.ctx = p;
}

void plan_release(struct plan *p)
{
    free(p->spans);
    free(p->bytes);
    free(p->prev_bytes);
    free(p->rec);
    free(p->built);
    free(p->scratch);
    memset(p, 0, sizeof(*p));
}

void plan_set_live(struct plan *p, struct mem_reader *live)
{
    p->live = live;
    p->nspans = 0;
    p->nbuilt = 0;
    p->batch_layout = 0;
    memset(p->group_end, 0, sizeof(p->group_end));
}

/* The group a read in the current phase belongs to, or -1 if it is not
 * planned (outside a sample, PLAN_OFF, a retried walk). */
static int group_of(const struct plan *p)
{
    if (!p->active || (p->in_thread && p->thread_mode == PLAN_THREAD_RETRY))
        return -1;
    switch (p->phase) {
    case PLAN_HEAD:
        return 0;
    case PLAN_DATA:
    case PLAN_CODE:
        return 1;
    case PLAN_CHECK:
        return 2;
    default:
        return -1;
    }
}

/* Whether the batch may answer a read of the current phase (plan.h: a
 * thread's frames only after its top pointer, its check only after all). */
static int may_serve(const struct plan *p)
{
    switch (p->phase) {
    case PLAN_HEAD:
    case PLAN_DATA:
        return !p->in_thread || !p->thread_live;
    case PLAN_CHECK:
        return !p->in_thread || (!p->thread_live && !p->thread_missed);
    default:
        return 1;
    }
}

static int holds(const struct mem_span *s, uint64_t addr, size_t size)
{
    return addr >= s->addr && addr - s->addr <= s->size && size <= s->size - (addr - s->addr);
}

/* The span of group g that holds all of [addr, addr + size) and was read
 * without error, or NULL. The span found last in the group is tried first:
 * a thread's frames sit mostly in one span. */
static const struct mem_span *find(struct plan *p, int g, uint64_t addr, size_t size)
{
    size_t first = g ? p->group_end[g - 1] : 0, lo = first, hi = p->group_end[g];
    size_t last = p->found[g];
    if (last >= first && last < hi && holds(&p->spans[last], addr, size))
        lo = last + 1;
    else {
        while (lo < hi) { /* the first span starting after addr */
            size_t mid = lo + (hi - lo) / 2;
            if (p->spans[mid].addr <= addr)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    if (lo == first)
        return NULL;
    const struct mem_span *s = &p->spans[lo - 1];
    if (s->err || !holds(s, addr, size))
        return NULL;
    p->found[g] = lo - 1;
    return s;
}

/* Records a read of group g; bytes is where the batch held it, or NULL if
 * it was read live. */
static void record(struct plan *p, int g, uint64_t addr, size_t size, const uint8_t *bytes)
{
    if (!p->recording || size > UINT32_MAX || addr + size < addr)
        return;
    if (p->nrec >= PLAN_MAX_RECORD) {
        p->overflow = 1;
        return;
    }
    if (p->nrec == p->rec_cap)
        p->rec = xgrow(p->rec, sizeof(*p->rec), p->nrec + 1, &p->rec_cap);
    p->rec[p->nrec++] = (struct plan_read){
        .addr = addr,
        .size = (uint32_t)size,
        .offset = bytes ? (uint32_t)(bytes - p->bytes) : PLAN_LIVE,
        .group = (uint16_t)g,
        .slack = p->phase == PLAN_DATA,
    };
}

/* A planned read went to the target: what that means for the thread. */
static void note_miss(struct plan *p)
{
    p->missed++;
    if (!p->in_thread)
        return;
    if (p->phase == PLAN_HEAD)
        p->thread_live = 1; /* its top pointer is newer than the batch */
    else if (p->phase == PLAN_DATA)
        p->thread_missed = 1; /* a frame is newer than the batch's check */
}

/* Where the batch holds [addr, addr + size), if it may answer a read of it
 * in group g: then the read counts as made, and is recorded. */
static const uint8_t *held(struct plan *p, int g, uint64_t addr, size_t size)
{
    const struct mem_span *s = g >= 0 && may_serve(p) ? find(p, g, addr, size) : NULL;
    if (!s)
        return NULL;
    const uint8_t *bytes = (const uint8_t *)s->buf + (addr - s->addr);
    p->served++;
    record(p, g, addr, size, bytes);
    return bytes;
}

/* Answers a read from the batch if it may and can: returns 1 if it did. */
static int serve(struct plan *p, int g, uint64_t addr, void *buf, size_t size)
{
    const uint8_t *bytes = held(p, g, addr, size);
    if (bytes)
        memcpy(buf, bytes, size);
    return bytes != NULL;
}

const uint8_t *plan_peek(struct plan *p, uint64_t addr, size_t size)
{
    const uint8_t *bytes = held(p, group_of(p), addr, size);
    p->last_served = bytes != NULL;
    return bytes;
}

static int plan_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct plan *p = ctx;
    int g = group_of(p);
    p->last_served = serve(p, g, addr, buf, size);
    if (p->last_served) {
        p->reader.reads--; /* mem_read counted a call that was not made */
        return 0;
    }
    if (g >= 0)
        note_miss(p);
    int err = mem_read(p->live, addr, buf, size);
    if (!err && g >= 0)
        record(p, g, addr, size, NULL);
    return err;
}

/* Answers what the batch holds, reads the rest in one batch of its own. */
static uint64_t plan_read_batch(void *ctx, struct mem_span *spans, size_t count)
{
    struct plan *p = ctx;
    int g = group_of(p);
    size_t nmiss = 0;
    uint64_t before = p->live->reads;
    p->scratch = xgrow(p->scratch, sizeof(*p->scratch), count, &p->scratch_cap);
    for (size_t i = 0; i < count; i++) {
        /* err 1 (no SG_E* code is positive) marks the spans read live */
        spans[i].err = serve(p, g, spans[i].addr, spans[i].buf, spans[i].size) ? 0 : 1;
        if (spans[i].err)
            p->scratch[nmiss++] = spans[i];
    }
    mem_read_batch(p->live, p->scratch, nmiss);
    for (size_t i = 0, m = 0; i < count; i++) {
        if (spans[i].err != 1)
            continue;
        spans[i].err = p->scratch[m++].err;
        if (g >= 0)
            p->missed++;
        if (!spans[i].err && g >= 0)
            record(p, g, spans[i].addr, spans[i].size, NULL);
    }
    return p->live->reads - before;
}

/* Makes the last batch's bytes prev_bytes and points the spans at the
 * other buffer, for the batch about to be read. */
static void swap_buffers(struct plan *p)
{
    uint8_t *bytes = p->bytes;
    size_t cap = p->bytes_cap;
    p->bytes = p->prev_bytes;
    p->bytes_cap = p->prev_cap;
    p->prev_bytes = bytes;
    p->prev_cap = cap;
    p->bytes = xgrow(p->bytes, 1, p->bytes_len, &p->bytes_cap);
    for (size_t i = 0, at = 0; i < p->nspans; at += p->spans[i++].size)
        p->spans[i].buf = p->bytes + at;
}

void plan_begin(struct plan *p)
{
    p->active = 1;
    p->phase = PLAN_HEAD;
    p->in_thread = 0;
    p->recording = 1;
    p->nrec = 0;
    p->overflow = 0;
    p->prev_layout = p->batch_layout;
    p->prev_whole = p->batch_whole;
    p->batch_layout = 0;
    if (!p->nspans)
        return;
    swap_buffers(p);
    uint64_t before = p->live->reads;
    mem_read_batch(p->live, p->spans, p->nspans);
    p->reader.reads += p->live->reads - before;
    p->batches++;
    p->batch_layout = p->layout;
    p->batch_whole = 1;
    for (size_t i = 0; i < p->nspans; i++)
        p->batch_whole &= p->spans[i].err == 0;
}

/* Whether the bytes of r are the same in this batch and the last. A
 * data-stack block ends with the frame that runs now: its tail, which
 * changes most, is compared first. */
static int same_bytes(const struct plan *p, const struct plan_read *r)
{
    if (r->offset == PLAN_LIVE || (size_t)r->offset + r->size > p->bytes_len)
        return 0;
    const uint8_t *now = p->bytes + r->offset, *then = p->prev_bytes + r->offset;
    size_t tail = r->size > 512 ? 512 : r->size;
    return memcmp(now + r->size - tail, then + r->size - tail, tail) == 0 &&
           memcmp(now, then, r->size - tail) == 0;
}

int plan_unchanged(struct plan *p, size_t from, size_t to)
{
    if (!p->active || !p->batch_layout || p->batch_layout != p->prev_layout || !p->batch_whole ||
        !p->prev_whole || from > to || to > p->nbuilt)
        return 0;
    for (size_t i = from; i < to; i++) {
        if (!same_bytes(p, &p->built[i]))
            return 0;
    }
    if (!p->recording || p->overflow || p->nrec + (to - from) > PLAN_MAX_RECORD)
        return 0;
    p->rec = xgrow(p->rec, sizeof(*p->rec), p->nrec + (to - from), &p->rec_cap);
    memcpy(p->rec + p->nrec, p->built + from, (to - from) * sizeof(*p->rec));
    p->nrec += to - from;
    p->served += to - from;
    return 1;
}

void plan_phase(struct plan *p, enum plan_phase phase)
{
    p->phase = phase;
}

void plan_thread(struct plan *p, enum plan_thread_mode mode)
{
    p->in_thread = 1;
    p->thread_mode = mode;
    p->thread_live = mode != PLAN_THREAD_BATCHED;
    p->thread_missed = 0;
    p->phase = PLAN_HEAD;
}

void plan_thread_end(struct plan *p)
{
    p->in_thread = 0;
    p->phase = PLAN_OFF;
}

static int by_group_then_address(const void *a, const void *b)
{
    const struct plan_read *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return 0;
}

static uint64_t page_of(uint64_t addr)
{
    return addr / PLAN_PAGE;
}

/* The end of a data read, reaching PLAN_SLACK further within its last page
 * (which is mapped: the read's last byte is on it). */
static uint64_t reach(uint64_t end)
{
    uint64_t page_end = (page_of(end - 1) + 1) * PLAN_PAGE;
    uint64_t far = end + PLAN_SLACK;
    if (far < end || far > page_end)
        far = page_end;
    return far;
}

/* Adds [start, end) to group g's spans (the last ones added): merged with
 * the last span if they overlap or sit on the same or neighbouring pages,
 * since a span costs more than copying a page. Returns 0, or -1 when the
 * batch is full. */
static int add_span(struct plan *p, size_t first, uint64_t start, uint64_t end)
{
    if (p->nspans > first) {
        struct mem_span *last = &p->spans[p->nspans - 1];
        uint64_t last_end = last->addr + last->size;
        uint64_t merged_end = end > last_end ? end : last_end;
        if (page_of(start) <= page_of(last_end - 1) + 1 &&
            merged_end - last->addr <= PLAN_SPAN_MAX) {
            last->size = merged_end - last->addr;
            return 0;
        }
    }
    if (p->nspans >= PLAN_MAX_SPANS)
        return -1;
    p->spans = xgrow(p->spans, sizeof(*p->spans), p->nspans + 1, &p->spans_cap);
    p->spans[p->nspans++] = (struct mem_span){.addr = start, .size = end - start};
    return 0;
}

/* Lays the spans out in p->bytes; a batch past PLAN_MAX_BYTES is cut there
 * (what is cut is read live). */
static void place_spans(struct plan *p)
{
    size_t total = 0, kept = 0;
    while (kept < p->nspans && total + p->spans[kept].size <= PLAN_MAX_BYTES)
        total += p->spans[kept++].size;
    p->nspans = kept;
    for (int g = 0; g < PLAN_GROUPS; g++) {
        if (p->group_end[g] > kept)
            p->group_end[g] = kept;
    }
    p->bytes_len = total; /* the buffers are sized and the spans placed by plan_begin */
    p->layout++;
}

/* Builds the batch from the record (sorted in place). */
static void build(struct plan *p)
{
    qsort(p->rec, p->nrec, sizeof(*p->rec), by_group_then_address);
    p->nspans = 0;
    size_t i = 0;
    for (int g = 0; g < PLAN_GROUPS; g++) {
        size_t first = p->nspans;
        for (; i < p->nrec && p->rec[i].group == g; i++) {
            uint64_t start = p->rec[i].addr, end = start + p->rec[i].size;
            if (p->rec[i].slack)
                end = reach(end);
            if (add_span(p, first, start, end))
                break;
        }
        while (i < p->nrec && p->rec[i].group == g)
            i++; /* the batch is full: the rest is read live */
        p->group_end[g] = p->nspans;
    }
    place_spans(p);
}

void plan_end(struct plan *p)
{
    p->active = 0;
    p->in_thread = 0;
    p->phase = PLAN_OFF;
    if (p->nrec == p->nbuilt &&
        (p->nrec == 0 || memcmp(p->rec, p->built, p->nrec * sizeof(*p->rec)) == 0))
        return; /* read what the last sample read: the same batch again */
    p->built = xgrow(p->built, sizeof(*p->built), p->nrec, &p->built_cap);
    if (p->nrec)
        memcpy(p->built, p->rec, p->nrec * sizeof(*p->rec));
    p->nbuilt = p->nrec;
    build(p);
}
