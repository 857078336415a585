/*
 * tasks_batch.c - one batched read for many small objects, coalesced.
 *
 * A sample reads hundreds of small objects per level (every task, every
 * coroutine). Asyncio makes them together, so CPython's allocator puts them
 * side by side in the same pages; one process_vm_readv iovec per object
 * makes the kernel look up and pin the same page again for each. Spans that
 * lie close together (within GAP bytes) are read as one span instead and
 * copied apart: on tasks_tree.py (203 tasks, 3.11), with the spans cut to
 * what is used, reading the tasks went from 766 to 375 us of CPU per
 * sample. A merged read that fails (it crossed into an unmapped gap) is
 * retried span by span.
 */
#include <stdlib.h>
#include <string.h>

#include "python/tasks_impl.h"
#include "util/util.h"

/* Spans at most this far apart are read together, in pieces of at most MAX_GROUP. */
#define GAP 512
#define MAX_GROUP (16u * 1024u)

struct order {
    uint64_t addr;
    size_t index;
};

static int by_addr(const void *pa, const void *pb)
{
    const struct order *a = pa, *b = pb;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* A run of spans read as one: spans order[first .. first + count). */
struct group {
    uint64_t start, end;
    size_t first, count;
    size_t offset; /* into the group buffer, when count > 1 */
};

struct batch_scratch {
    struct order *order;
    size_t order_cap;
    struct group *groups;
    size_t groups_cap;
    struct mem_span *reads;
    size_t reads_cap;
    uint8_t *buf;
    size_t buf_cap;
};

static struct batch_scratch *scratch(struct tasks_ctx *c)
{
    if (!c->s->batch)
        c->s->batch = xcalloc(1, sizeof(struct batch_scratch));
    return c->s->batch;
}

void tasks_batch_release(struct tasks_scratch *s)
{
    struct batch_scratch *b = s->batch;
    if (!b)
        return;
    free(b->order);
    free(b->groups);
    free(b->reads);
    free(b->buf);
    free(b);
    s->batch = NULL;
}

/* Sorts the spans by address and makes groups of those close together;
 * returns the group count, with the bytes a group buffer needs in *bytes. */
static size_t make_groups(struct batch_scratch *b, const struct mem_span *spans, size_t count,
                          size_t *bytes)
{
    size_t n = 0;
    int sorted = 1;
    b->order = xgrow(b->order, sizeof(*b->order), count, &b->order_cap);
    for (size_t i = 0; i < count; i++) {
        b->order[i] = (struct order){spans[i].addr, i};
        sorted &= i == 0 || spans[i - 1].addr <= spans[i].addr;
    }
    if (!sorted)
        qsort(b->order, count, sizeof(*b->order), by_addr);
    *bytes = 0;
    for (size_t k = 0; k < count; k++) {
        const struct mem_span *s = &spans[b->order[k].index];
        uint64_t end = s->addr + s->size;
        struct group *g = n ? &b->groups[n - 1] : NULL;
        if (g && s->addr <= g->end + GAP && end - g->start <= MAX_GROUP && end >= s->addr) {
            g->end = end > g->end ? end : g->end;
            g->count++;
            continue;
        }
        if (g && g->count > 1) {
            g->offset = *bytes;
            *bytes += g->end - g->start;
        }
        b->groups = xgrow(b->groups, sizeof(*b->groups), n + 1, &b->groups_cap);
        b->groups[n++] = (struct group){s->addr, end, k, 1, 0};
    }
    if (n && b->groups[n - 1].count > 1) {
        b->groups[n - 1].offset = *bytes;
        *bytes += b->groups[n - 1].end - b->groups[n - 1].start;
    }
    return n;
}

/* Reads the groups: a single span into its own buffer, a group into the
 * group buffer and then copied apart (or, if that read fails, each of its
 * spans again on its own). */
static void read_groups(struct tasks_ctx *c, struct batch_scratch *b, struct mem_span *spans,
                        size_t ngroups)
{
    size_t nretry = 0;
    b->reads = xgrow(b->reads, sizeof(*b->reads), ngroups, &b->reads_cap);
    for (size_t g = 0; g < ngroups; g++) {
        const struct group *gr = &b->groups[g];
        struct mem_span *one = &spans[b->order[gr->first].index];
        b->reads[g] = gr->count == 1 ? *one
                                     : (struct mem_span){gr->start, b->buf + gr->offset,
                                                         (size_t)(gr->end - gr->start), 0};
    }
    mem_read_batch(c->r, b->reads, ngroups);
    for (size_t g = 0; g < ngroups; g++) {
        const struct group *gr = &b->groups[g];
        for (size_t k = gr->first; k < gr->first + gr->count; k++) {
            struct mem_span *s = &spans[b->order[k].index];
            s->err = b->reads[g].err;
            if (gr->count > 1 && !s->err)
                memcpy(s->buf, b->buf + gr->offset + (s->addr - gr->start), s->size);
            if (gr->count > 1 && s->err)
                b->order[nretry++].index = b->order[k].index; /* k >= nretry: safe */
        }
    }
    if (!nretry)
        return;
    b->reads = xgrow(b->reads, sizeof(*b->reads), nretry, &b->reads_cap);
    for (size_t k = 0; k < nretry; k++)
        b->reads[k] = spans[b->order[k].index];
    mem_read_batch(c->r, b->reads, nretry);
    for (size_t k = 0; k < nretry; k++)
        spans[b->order[k].index].err = b->reads[k].err;
}

size_t tasks_batch(struct tasks_ctx *c, struct mem_span *spans, size_t count, size_t min_size)
{
    struct batch_scratch *b = scratch(c);
    size_t bytes, failed = 0;
    if (!count)
        return 0;
    size_t ngroups = make_groups(b, spans, count, &bytes);
    b->buf = xgrow(b->buf, 1, bytes ? bytes : 1, &b->buf_cap);
    read_groups(c, b, spans, ngroups);
    /* A long read may run past the object into an unmapped page: the
     * object itself may still read, up to the end of its page at least. */
    for (size_t i = 0; i < count; i++) {
        size_t to_page = 4096 - (size_t)(spans[i].addr & 4095);
        size_t size = to_page > min_size ? to_page : min_size;
        if (spans[i].err && spans[i].size > size) {
            spans[i].size = size;
            spans[i].err = mem_read(c->r, spans[i].addr, spans[i].buf, size);
        }
        if (spans[i].err && spans[i].size > to_page && to_page >= 16) {
            spans[i].size = to_page; /* a small object at the end of a mapping */
            spans[i].err = mem_read(c->r, spans[i].addr, spans[i].buf, to_page);
        }
        failed += spans[i].err != 0;
    }
    return failed;
}
