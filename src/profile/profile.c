/*
 * profile.c - the aggregated profile: interned strings -> frames -> stacks
 * -> weights, and an optional timeline of (time, thread, stack) events.
 *
 * Frames and stacks live in dense arrays indexed by id (insertion order) and
 * are found again through open-addressing hash indexes whose slots hold
 * id + 1 (0 is an empty slot). Adding a sample whose stack was seen before
 * hashes the frame ids, finds the stack and adds to its weight: O(depth), no
 * allocation. Stack frame lists are copied once into pool chunks that never
 * move, so the pointers profile_stack returns stay valid until profile_free.
 *
 * Ids are uint32_t. Running out of them (four billion distinct frames or
 * stacks, far beyond memory) is treated like running out of memory: one line
 * on stderr and exit, as the x* allocators do.
 */
#include "profile/profile.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/strtab.h"
#include "util/util.h"

#define POOL_CHUNK_IDS 16384 /* frame ids per ordinary pool chunk (64 KiB) */

struct stack_rec {
    const uint32_t *frames; /* in a pool chunk; root first */
    size_t depth;
    uint64_t weight;
    uint64_t hash;
};

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    uint32_t ids[];
};

struct thread_rec {
    uint64_t thread;
    char *name;
};

/* An open-addressing index of ids: slots hold id + 1, 0 marks empty. */
struct index {
    uint32_t *slots;
    size_t cap; /* 0 or a power of two */
};

struct profile {
    struct profile_meta meta;
    struct strtab strings;

    struct profile_frame *frames;
    size_t frame_count, frame_cap;
    struct index frame_index;

    struct stack_rec *stacks;
    size_t stack_count, stack_cap;
    struct index stack_index;
    struct pool_chunk *pool;
    uint64_t total_weight;

    int memory;
    struct profile_memory *mem; /* parallel to stacks when memory is on */
    size_t mem_cap;

    struct profile_rss_point *rss_points;
    size_t rss_count, rss_cap;

    int timeline;
    struct profile_event *events;
    size_t event_count, event_cap;
    struct thread_rec *threads;
    size_t thread_count, thread_cap;
    struct index thread_index;
};

static const uint32_t empty_stack[1] = {0};

/* ---- hashing ---- */

/* splitmix64's finaliser: spreads every input bit over the whole word. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Frames hash by the identity of their interned strings. */
static uint64_t frame_hash(const char *name, const char *file, int line,
                           enum profile_frame_kind kind)
{
    uint64_t h = mix((uint64_t)(uintptr_t)name);
    h = mix(h ^ (uint64_t)(uintptr_t)file);
    return mix(h ^ ((uint64_t)(uint32_t)line << 8) ^ (uint64_t)kind);
}

static uint64_t stack_hash(const uint32_t *frames, size_t depth)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ depth;
    for (size_t i = 0; i < depth; i++)
        h = (h ^ frames[i]) * 0x100000001b3ull + (h >> 32);
    return mix(h);
}

static uint64_t thread_hash(uint64_t thread)
{
    return mix(thread);
}

/* ---- the id index ---- */

static void out_of_ids(const char *what)
{
    fprintf(stderr, "spyglass: error: profile has too many distinct %s\n", what);
    exit(1);
}

/* Returns the first slot on hash's probe path that is empty or for which
 * same(p, id, key) holds. */
static uint32_t *index_probe(const struct index *ix, uint64_t hash,
                             int (*same)(const struct profile *, uint32_t, const void *),
                             const struct profile *p, const void *key)
{
    size_t mask = ix->cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        uint32_t slot = ix->slots[i];
        if (slot == 0 || same(p, slot - 1, key))
            return &ix->slots[i];
    }
}

/* Makes room for one more of count entries, rehashing with hash_of(p, id)
 * when the load factor would pass 1/2. */
static void index_reserve(struct index *ix, size_t count, const struct profile *p,
                          uint64_t (*hash_of)(const struct profile *, uint32_t))
{
    if (count + 1 <= ix->cap / 2)
        return;
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    uint32_t *slots = xcalloc(cap, sizeof(*slots));
    for (size_t id = 0; id < count; id++) {
        size_t i = (size_t)hash_of(p, (uint32_t)id) & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)id + 1;
    }
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
}

/* ---- lifecycle and metadata ---- */

struct profile *profile_new(void)
{
    struct profile *p = xcalloc(1, sizeof(*p));
    strtab_init(&p->strings);
    p->meta.unit = xstrdup("samples");
    return p;
}

static void meta_release(struct profile_meta *m)
{
    free(m->title);
    free(m->target);
    free(m->python_version);
    free(m->unit);
    free(m->note);
}

void profile_free(struct profile *p)
{
    if (!p)
        return;
    meta_release(&p->meta);
    strtab_release(&p->strings);
    free(p->frames);
    free(p->frame_index.slots);
    free(p->stacks);
    free(p->stack_index.slots);
    struct pool_chunk *c = p->pool;
    while (c) {
        struct pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(p->mem);
    free(p->rss_points);
    free(p->events);
    for (size_t i = 0; i < p->thread_count; i++)
        free(p->threads[i].name);
    free(p->threads);
    free(p->thread_index.slots);
    free(p);
}

struct profile_meta *profile_meta(struct profile *p)
{
    return &p->meta;
}

const struct profile_meta *profile_meta_const(const struct profile *p)
{
    return &p->meta;
}

void profile_set_meta_str(struct profile *p, char **field, const char *value)
{
    char *copy = value ? xstrdup(value) : NULL; /* value may alias *field */
    free(*field);
    *field = copy;
}

const char *profile_intern(struct profile *p, const char *s)
{
    return strtab_intern(&p->strings, s ? s : "");
}

/* ---- frames ---- */

struct frame_key {
    const char *name, *file; /* interned */
    int line;
    enum profile_frame_kind kind;
};

static int frame_same(const struct profile *p, uint32_t id, const void *key)
{
    const struct frame_key *k = key;
    const struct profile_frame *f = &p->frames[id];
    return f->name == k->name && f->file == k->file && f->line == k->line && f->kind == k->kind;
}

static uint64_t frame_hash_of(const struct profile *p, uint32_t id)
{
    const struct profile_frame *f = &p->frames[id];
    return frame_hash(f->name, f->file, f->line, f->kind);
}

uint32_t profile_frame_id(struct profile *p, const char *name, const char *file, int line,
                          enum profile_frame_kind kind)
{
    struct frame_key key = {profile_intern(p, name), profile_intern(p, file), line, kind};
    index_reserve(&p->frame_index, p->frame_count, p, frame_hash_of);
    uint32_t *slot = index_probe(&p->frame_index, frame_hash(key.name, key.file, line, kind),
                                 frame_same, p, &key);
    if (*slot)
        return *slot - 1;
    if (p->frame_count >= UINT32_MAX - 1)
        out_of_ids("frames");
    p->frames = xgrow(p->frames, sizeof(*p->frames), p->frame_count + 1, &p->frame_cap);
    p->frames[p->frame_count] = (struct profile_frame){key.name, key.file, line, kind};
    *slot = (uint32_t)p->frame_count + 1;
    return (uint32_t)p->frame_count++;
}

size_t profile_frame_count(const struct profile *p)
{
    return p->frame_count;
}

const struct profile_frame *profile_frame(const struct profile *p, uint32_t id)
{
    return id < p->frame_count ? &p->frames[id] : NULL;
}

/* ---- stacks ---- */

struct stack_key {
    const uint32_t *frames;
    size_t depth;
    uint64_t hash;
};

static int stack_same(const struct profile *p, uint32_t id, const void *key)
{
    const struct stack_key *k = key;
    const struct stack_rec *s = &p->stacks[id];
    /* frames may be NULL for an empty stack: memcmp must not see it */
    return s->hash == k->hash && s->depth == k->depth &&
           (k->depth == 0 || memcmp(s->frames, k->frames, k->depth * sizeof(*k->frames)) == 0);
}

static uint64_t stack_hash_of(const struct profile *p, uint32_t id)
{
    return p->stacks[id].hash;
}

/* Copies depth frame ids into the pool; the copy never moves. */
static const uint32_t *pool_copy(struct profile *p, const uint32_t *frames, size_t depth)
{
    if (depth == 0)
        return empty_stack;
    struct pool_chunk *c = p->pool;
    if (!c || c->cap - c->used < depth) {
        size_t cap = depth > POOL_CHUNK_IDS / 4 ? depth : POOL_CHUNK_IDS;
        if (cap > (SIZE_MAX - sizeof(*c)) / sizeof(uint32_t))
            out_of_ids("stack frames");
        c = xmalloc(sizeof(*c) + cap * sizeof(uint32_t));
        c->used = 0;
        c->cap = cap;
        if (cap == POOL_CHUNK_IDS || !p->pool) {
            c->next = p->pool;
            p->pool = c;
        } else {
            /* A chunk sized for one deep stack goes behind the current
             * chunk, which keeps its free space. */
            c->next = p->pool->next;
            p->pool->next = c;
        }
    }
    uint32_t *copy = c->ids + c->used;
    memcpy(copy, frames, depth * sizeof(*frames));
    c->used += depth;
    return copy;
}

static uint64_t add_saturating(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint32_t profile_add_stack(struct profile *p, const uint32_t *frames, size_t depth, uint64_t weight)
{
#ifndef NDEBUG
    for (size_t i = 0; i < depth; i++)
        assert(frames[i] < p->frame_count);
#endif
    struct stack_key key = {frames, depth, stack_hash(frames, depth)};
    index_reserve(&p->stack_index, p->stack_count, p, stack_hash_of);
    uint32_t *slot = index_probe(&p->stack_index, key.hash, stack_same, p, &key);
    uint32_t id;
    if (*slot) {
        id = *slot - 1;
    } else {
        if (p->stack_count >= UINT32_MAX - 1)
            out_of_ids("stacks");
        p->stacks = xgrow(p->stacks, sizeof(*p->stacks), p->stack_count + 1, &p->stack_cap);
        id = (uint32_t)p->stack_count++;
        p->stacks[id] = (struct stack_rec){pool_copy(p, frames, depth), depth, 0, key.hash};
        *slot = id + 1;
        if (p->memory) {
            p->mem = xgrow(p->mem, sizeof(*p->mem), p->stack_count, &p->mem_cap);
            p->mem[id] = (struct profile_memory){0, 0, 0, 0};
        }
    }
    p->stacks[id].weight = add_saturating(p->stacks[id].weight, weight);
    p->total_weight = add_saturating(p->total_weight, weight);
    return id;
}

size_t profile_stack_count(const struct profile *p)
{
    return p->stack_count;
}

const uint32_t *profile_stack(const struct profile *p, uint32_t id, size_t *depth, uint64_t *weight)
{
    if (id >= p->stack_count) {
        *depth = 0;
        *weight = 0;
        return NULL;
    }
    *depth = p->stacks[id].depth;
    *weight = p->stacks[id].weight;
    return p->stacks[id].frames;
}

uint64_t profile_total_weight(const struct profile *p)
{
    return p->total_weight;
}

/* ---- memory weights ---- */

void profile_enable_memory(struct profile *p)
{
    if (p->memory)
        return;
    p->memory = 1;
    if (p->stack_count) {
        p->mem = xgrow(p->mem, sizeof(*p->mem), p->stack_count, &p->mem_cap);
        memset(p->mem, 0, p->stack_count * sizeof(*p->mem));
    }
}

int profile_memory_enabled(const struct profile *p)
{
    return p->memory;
}

void profile_add_memory(struct profile *p, uint32_t stack, const struct profile_memory *w)
{
    if (!p->memory || stack >= p->stack_count)
        return;
    struct profile_memory *m = &p->mem[stack];
    m->samples = add_saturating(m->samples, w->samples);
    m->grown = add_saturating(m->grown, w->grown);
    m->freed = add_saturating(m->freed, w->freed);
    if (w->peak_rss > m->peak_rss)
        m->peak_rss = w->peak_rss;
}

const struct profile_memory *profile_stack_memory(const struct profile *p, uint32_t stack)
{
    return p->memory && stack < p->stack_count ? &p->mem[stack] : NULL;
}

/* ---- timeline ---- */

void profile_enable_timeline(struct profile *p)
{
    p->timeline = 1;
}

int profile_timeline_enabled(const struct profile *p)
{
    return p->timeline;
}

void profile_add_event(struct profile *p, uint64_t time_ns, uint64_t thread, uint32_t stack)
{
    if (!p->timeline)
        return;
    p->events = xgrow(p->events, sizeof(*p->events), p->event_count + 1, &p->event_cap);
    p->events[p->event_count++] = (struct profile_event){time_ns, thread, stack};
}

size_t profile_event_count(const struct profile *p)
{
    return p->event_count;
}

const struct profile_event *profile_event(const struct profile *p, size_t index)
{
    return index < p->event_count ? &p->events[index] : NULL;
}

void profile_add_rss_point(struct profile *p, uint64_t time_ns, uint64_t rss)
{
    if (!p->timeline || (p->rss_count && p->rss_points[p->rss_count - 1].rss == rss))
        return;
    p->rss_points = xgrow(p->rss_points, sizeof(*p->rss_points), p->rss_count + 1, &p->rss_cap);
    p->rss_points[p->rss_count++] = (struct profile_rss_point){time_ns, rss};
}

size_t profile_rss_point_count(const struct profile *p)
{
    return p->rss_count;
}

const struct profile_rss_point *profile_rss_point(const struct profile *p, size_t index)
{
    return index < p->rss_count ? &p->rss_points[index] : NULL;
}

static int thread_same(const struct profile *p, uint32_t id, const void *key)
{
    return p->threads[id].thread == *(const uint64_t *)key;
}

static uint64_t thread_hash_of(const struct profile *p, uint32_t id)
{
    return thread_hash(p->threads[id].thread);
}

void profile_set_thread_name(struct profile *p, uint64_t thread, const char *name)
{
    index_reserve(&p->thread_index, p->thread_count, p, thread_hash_of);
    uint32_t *slot = index_probe(&p->thread_index, thread_hash(thread), thread_same, p, &thread);
    char *copy = xstrdup(name ? name : "");
    if (*slot) {
        free(p->threads[*slot - 1].name);
        p->threads[*slot - 1].name = copy;
        return;
    }
    if (p->thread_count >= UINT32_MAX - 1)
        out_of_ids("threads");
    p->threads = xgrow(p->threads, sizeof(*p->threads), p->thread_count + 1, &p->thread_cap);
    p->threads[p->thread_count] = (struct thread_rec){thread, copy};
    *slot = (uint32_t)++p->thread_count;
}

const char *profile_thread_name(const struct profile *p, uint64_t thread)
{
    if (!p->thread_index.cap)
        return NULL;
    uint32_t *slot = index_probe(&p->thread_index, thread_hash(thread), thread_same, p, &thread);
    return *slot ? p->threads[*slot - 1].name : NULL;
}
