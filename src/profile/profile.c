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
#include "util/hash.h"
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

struct profile {
    struct profile_meta meta;
    struct strtab strings;

    struct profile_frame *frames;
    size_t frame_count, frame_cap;
    struct hash_index frame_index;

    struct stack_rec *stacks;
    size_t stack_count, stack_cap;
    struct hash_index stack_index;
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
    struct hash_index thread_index;

    struct profile_limits limits; /* profile_set_limits */
    size_t stack_frames;          /* frame ids all stacks hold */
    uint32_t other_frame;         /* "(other)", made when a limit is first hit */
    int have_other;
    struct profile_overflow overflow;
};

static const uint32_t empty_stack[1] = {0};

static uint32_t other_frame(struct profile *p);
static uint32_t other_stack(struct profile *p, uint64_t weight);

/* ---- hashing ---- */

/* Frames hash by the identity of their interned strings. */
static uint64_t frame_hash(const char *name, const char *file, int line,
                           enum profile_frame_kind kind)
{
    uint64_t h = hash_mix((uint64_t)(uintptr_t)name);
    h = hash_mix(h ^ (uint64_t)(uintptr_t)file);
    return hash_mix(h ^ ((uint64_t)(uint32_t)line << 8) ^ (uint64_t)kind);
}

static uint64_t stack_hash(const uint32_t *frames, size_t depth)
{
    return hash_mix(hash_bytes(HASH_SEED ^ depth, frames, depth * sizeof(*frames)));
}

/* ---- lifecycle and metadata ---- */

struct profile *profile_new(void)
{
    struct profile *p = xcalloc(1, sizeof(*p));
    strtab_init(&p->strings);
    p->limits = (struct profile_limits){PROFILE_MAX_IDS, PROFILE_MAX_IDS, SIZE_MAX, SIZE_MAX};
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
    hash_index_release(&p->frame_index);
    free(p->stacks);
    hash_index_release(&p->stack_index);
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
    hash_index_release(&p->thread_index);
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

static int frame_same(const void *ctx, uint32_t id, const void *key)
{
    const struct profile *p = ctx;
    const struct frame_key *k = key;
    const struct profile_frame *f = &p->frames[id];
    return f->name == k->name && f->file == k->file && f->line == k->line && f->kind == k->kind;
}

static uint64_t frame_hash_of(const void *ctx, uint32_t id)
{
    const struct profile *p = ctx;
    const struct profile_frame *f = &p->frames[id];
    return frame_hash(f->name, f->file, f->line, f->kind);
}

uint32_t profile_frame_id(struct profile *p, const char *name, const char *file, int line,
                          enum profile_frame_kind kind)
{
    /* At the cap nothing new is interned, or a flood of new names would
     * grow the string table past the cap on frames. */
    int full = p->frame_count + 1 >= p->limits.frames || /* the last id is kept for "(other)" */
               strtab_bytes(&p->strings) >= p->limits.string_bytes;
    struct frame_key key;
    if (full) {
        key.name = strtab_find(&p->strings, name ? name : "");
        key.file = strtab_find(&p->strings, file ? file : "");
    } else {
        key.name = profile_intern(p, name);
        key.file = profile_intern(p, file);
    }
    key.line = line;
    key.kind = kind;
    uint32_t *slot = NULL;
    if (key.name && key.file) {
        hash_index_reserve(&p->frame_index, p->frame_count, frame_hash_of, p);
        slot = hash_index_find(&p->frame_index, frame_hash(key.name, key.file, line, kind),
                               frame_same, p, &key);
        if (*slot)
            return *slot - 1;
    }
    if (full) {
        p->overflow.frames++;
        return other_frame(p);
    }
    p->frames = xgrow(p->frames, sizeof(*p->frames), p->frame_count + 1, &p->frame_cap);
    p->frames[p->frame_count] = (struct profile_frame){key.name, key.file, line, kind, 0};
    *slot = (uint32_t)p->frame_count + 1;
    return (uint32_t)p->frame_count++;
}

void profile_set_first_line(struct profile *p, uint32_t id, int first_line)
{
    if (id < p->frame_count && first_line > 0 && !p->frames[id].first_line)
        p->frames[id].first_line = first_line;
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

static int stack_same(const void *ctx, uint32_t id, const void *key)
{
    const struct profile *p = ctx;
    const struct stack_key *k = key;
    const struct stack_rec *s = &p->stacks[id];
    /* frames may be NULL for an empty stack: memcmp must not see it */
    return s->hash == k->hash && s->depth == k->depth &&
           (k->depth == 0 || memcmp(s->frames, k->frames, k->depth * sizeof(*k->frames)) == 0);
}

static uint64_t stack_hash_of(const void *ctx, uint32_t id)
{
    const struct profile *p = ctx;
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

/* Appends a stack record (frames copied into the pool); returns its id. */
static uint32_t new_stack(struct profile *p, const uint32_t *frames, size_t depth, uint64_t hash)
{
    p->stacks = xgrow(p->stacks, sizeof(*p->stacks), p->stack_count + 1, &p->stack_cap);
    uint32_t id = (uint32_t)p->stack_count++;
    p->stacks[id] = (struct stack_rec){pool_copy(p, frames, depth), depth, 0, hash};
    p->stack_frames += depth;
    if (p->memory) {
        p->mem = xgrow(p->mem, sizeof(*p->mem), p->stack_count, &p->mem_cap);
        p->mem[id] = (struct profile_memory){0, 0, 0, 0};
    }
    return id;
}

static uint32_t add_weight(struct profile *p, uint32_t id, uint64_t weight)
{
    p->stacks[id].weight = add_saturating(p->stacks[id].weight, weight);
    p->total_weight = add_saturating(p->total_weight, weight);
    return id;
}

/* Returns 1 if a frame of the stack is "(other)": some of its weight
 * belongs to frames the profile no longer told apart. */
static int holds_other(const struct profile *p, const uint32_t *frames, size_t depth)
{
    for (size_t i = 0; p->have_other && i < depth; i++) {
        if (frames[i] == p->other_frame)
            return 1;
    }
    return 0;
}

uint32_t profile_add_stack(struct profile *p, const uint32_t *frames, size_t depth, uint64_t weight)
{
#ifndef NDEBUG
    for (size_t i = 0; i < depth; i++)
        assert(frames[i] < p->frame_count);
#endif
    if (depth > PROFILE_MAX_DEPTH)
        return other_stack(p, weight);
    if (holds_other(p, frames, depth))
        p->overflow.weight = add_saturating(p->overflow.weight, weight);
    struct stack_key key = {frames, depth, stack_hash(frames, depth)};
    hash_index_reserve(&p->stack_index, p->stack_count, stack_hash_of, p);
    uint32_t *slot = hash_index_find(&p->stack_index, key.hash, stack_same, p, &key);
    if (*slot)
        return add_weight(p, *slot - 1, weight);
    /* the last id is kept for "(other)" */
    if (p->stack_count + 1 >= p->limits.stacks || depth > p->limits.stack_frames - p->stack_frames)
        return other_stack(p, weight);
    uint32_t id = new_stack(p, frames, depth, key.hash);
    *slot = id + 1;
    return add_weight(p, id, weight);
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

static int thread_same(const void *ctx, uint32_t id, const void *key)
{
    const struct profile *p = ctx;
    return p->threads[id].thread == *(const uint64_t *)key;
}

static uint64_t thread_hash_of(const void *ctx, uint32_t id)
{
    const struct profile *p = ctx;
    return hash_mix(p->threads[id].thread);
}

void profile_set_thread_name(struct profile *p, uint64_t thread, const char *name)
{
    hash_index_reserve(&p->thread_index, p->thread_count, thread_hash_of, p);
    uint32_t *slot = hash_index_find(&p->thread_index, hash_mix(thread), thread_same, p, &thread);
    char *copy = xstrdup(name ? name : "");
    if (*slot) {
        free(p->threads[*slot - 1].name);
        p->threads[*slot - 1].name = copy;
        return;
    }
    if (p->thread_count + 1 >= p->limits.frames) { /* a thread flood: names past it go */
        free(copy);
        return;
    }
    p->threads = xgrow(p->threads, sizeof(*p->threads), p->thread_count + 1, &p->thread_cap);
    p->threads[p->thread_count] = (struct thread_rec){thread, copy};
    *slot = (uint32_t)++p->thread_count;
}

const char *profile_thread_name(const struct profile *p, uint64_t thread)
{
    if (!p->thread_index.cap)
        return NULL;
    uint32_t *slot = hash_index_find(&p->thread_index, hash_mix(thread), thread_same, p, &thread);
    return *slot ? p->threads[*slot - 1].name : NULL;
}

/* ---- limits ---- */

static size_t clamp_ids(size_t n)
{
    return n < 2 ? 2 : n > PROFILE_MAX_IDS ? PROFILE_MAX_IDS : n;
}

void profile_limits_for(size_t frames, struct profile_limits *l)
{
    size_t f = frames > PROFILE_MAX_IDS / 64 ? PROFILE_MAX_IDS / 64 : frames;
    *l = (struct profile_limits){f, 4 * f, 64 * f, 256 * f};
}

void profile_set_limits(struct profile *p, const struct profile_limits *l)
{
    p->limits = *l;
    p->limits.frames = clamp_ids(l->frames);
    p->limits.stacks = clamp_ids(l->stacks);
}

size_t profile_string_count(const struct profile *p)
{
    return strtab_count(&p->strings);
}

const struct profile_overflow *profile_overflow(const struct profile *p)
{
    return &p->overflow;
}

/* The "(other)" frame that stands for every frame past the limit. It takes
 * the id kept for it, whatever the limit. */
static uint32_t other_frame(struct profile *p)
{
    if (p->have_other)
        return p->other_frame;
    const char *name = profile_intern(p, PROFILE_OTHER), *file = profile_intern(p, "");
    struct frame_key key = {name, file, 0, PF_NATIVE};
    uint32_t *slot =
        hash_index_find(&p->frame_index, frame_hash(name, file, 0, PF_NATIVE), frame_same, p, &key);
    if (!*slot) {
        p->frames = xgrow(p->frames, sizeof(*p->frames), p->frame_count + 1, &p->frame_cap);
        p->frames[p->frame_count] = (struct profile_frame){name, file, 0, PF_NATIVE, 0};
        *slot = (uint32_t)++p->frame_count;
    }
    p->other_frame = *slot - 1;
    p->have_other = 1;
    return p->other_frame;
}

/* Adds weight to the stack "(other)", which stands for every stack past the
 * limit (and for any absurdly deep one); it takes the id kept for it. */
static uint32_t other_stack(struct profile *p, uint64_t weight)
{
    uint32_t frame = other_frame(p);
    struct stack_key key = {&frame, 1, stack_hash(&frame, 1)};
    hash_index_reserve(&p->stack_index, p->stack_count, stack_hash_of, p);
    uint32_t *slot = hash_index_find(&p->stack_index, key.hash, stack_same, p, &key);
    if (!*slot)
        *slot = new_stack(p, &frame, 1, key.hash) + 1;
    p->overflow.stacks++;
    p->overflow.weight = add_saturating(p->overflow.weight, weight);
    return add_weight(p, *slot - 1, weight);
}
