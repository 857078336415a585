/*
 * top.c - counts per function and line, in all and per thread, over a
 * sliding window.
 *
 * Entries live in one array, found through an open-addressing index keyed by
 * (thread, interned name, interned file, line, granularity). The thread is a
 * slot index, or ALL for the entries that sum every thread: those are what
 * the default view shows, so it needs no merging and stays exact however many
 * threads come and go. Each entry has a running sum per counter plus one
 * count per window bucket; when the window moves on, the bucket that falls
 * out is subtracted from the sums and zeroed.
 *
 * Memory stays bounded by what is alive: when entries double (or a window
 * bucket empties most of them), entries with nothing left in the window and
 * the per-thread entries of threads that have gone away are dropped, and the
 * names only they used with them (the string table is rebuilt from what is
 * kept: snapshots own copies of their strings). A server that starts a
 * thread per request thus keeps only its live threads' rows, while the
 * all-threads rows keep every sample. And whatever a target does, at most
 * TOP_MAX_ENTRIES entries are made: past that, a frame not seen before is
 * counted as "(other)" (its name not even interned), and the stacks that
 * had one are counted for the summary.
 */
#include "tui/top.h"

#include <stdlib.h>
#include <string.h>

#include "profile/strtab.h"
#include "util/hash.h"
#include "util/util.h"

enum { OWN_ACTIVE, OWN_IDLE, TOTAL_ACTIVE, TOTAL_IDLE, NCOUNT };

/* Compact only past this many entries. */
#define COMPACT_MIN 4096
/* The thread of the entries that sum all threads. */
#define ALL UINT32_MAX

struct entry {
    const char *name; /* interned: compared by pointer */
    const char *file; /* interned */
    int line;
    uint32_t thread; /* index into threads */
    int is_func;     /* 1: a function row (line = its first line) */
    uint64_t stamp;  /* the stack that last counted this entry's total */
    uint64_t sum[NCOUNT];
};

struct thread_slot {
    uint64_t key;
    const char *name;   /* interned, "" if unknown */
    uint64_t sum[2];    /* stacks in the window: active, idle */
    uint64_t last_tick; /* the tick that last saw it */
};

struct top_model {
    struct strtab strings;
    unsigned nbuckets;  /* TOP_BUCKETS, or 1 for all time */
    uint64_t bucket_ns; /* 0 for all time */
    uint64_t period_ns;
    double window_s;
    int started;       /* a tick has been seen since the start or reset */
    uint64_t epoch_ns; /* time of the first tick */
    uint64_t last_ns;  /* time of the latest tick */
    uint64_t cur;      /* absolute index of the current bucket */

    struct entry *entries;
    uint32_t *counts; /* entries_cap * nbuckets * NCOUNT */
    size_t nentries, entries_cap;
    struct hash_index index; /* (thread, name, file, line, is_func) -> entry */

    struct thread_slot *threads;
    uint32_t *thread_counts; /* threads_cap * nbuckets * 2 */
    size_t nthreads, threads_cap;

    uint64_t bucket_ticks[TOP_BUCKETS], bucket_gil[TOP_BUCKETS];
    uint64_t bucket_samples[TOP_BUCKETS][2];
    uint64_t ticks, gil_ticks, samples[2]; /* sums over the window */
    uint64_t ticks_since_reset;            /* also the serial of the current tick */
    size_t compact_at;                     /* entries that trigger the next compaction */
    const char *other, *empty;             /* interned "(other)" and "" */
    size_t max_entries;                    /* TOP_MAX_ENTRIES, or top_model_set_max_entries */
    uint64_t other_stacks, all_stacks; /* stacks with an "(other)" frame, and all, since start */
    uint64_t stamp;
    unsigned last_threads, last_active;
    int tick_gil; /* the current tick already counted as holding a GIL */
};

static void intern_fixed(struct top_model *m)
{
    m->other = strtab_intern(&m->strings, TOP_OTHER);
    m->empty = strtab_intern(&m->strings, "");
}

struct top_model *top_model_new(double window_s, uint64_t period_ns)
{
    struct top_model *m = xcalloc(1, sizeof(*m));
    strtab_init(&m->strings);
    intern_fixed(m);
    m->max_entries = TOP_MAX_ENTRIES;
    m->window_s = window_s > 0 ? window_s : 0;
    m->nbuckets = m->window_s > 0 ? TOP_BUCKETS : 1;
    if (m->window_s > 0) {
        m->bucket_ns = (uint64_t)(m->window_s * 1e9 / TOP_BUCKETS);
        if (m->bucket_ns == 0)
            m->bucket_ns = 1;
    }
    m->period_ns = period_ns ? period_ns : 1;
    m->compact_at = COMPACT_MIN;
    return m;
}

void top_model_free(struct top_model *m)
{
    if (!m)
        return;
    strtab_release(&m->strings);
    free(m->entries);
    free(m->counts);
    hash_index_release(&m->index);
    free(m->threads);
    free(m->thread_counts);
    free(m);
}

uint64_t top_model_other(const struct top_model *m, uint64_t *all)
{
    *all = m->all_stacks;
    return m->other_stacks;
}

size_t top_model_string_count(const struct top_model *m)
{
    return strtab_count(&m->strings);
}

void top_model_set_max_entries(struct top_model *m, size_t entries)
{
    m->max_entries = entries;
}

size_t top_model_entries(const struct top_model *m)
{
    return m->nentries;
}

static uint32_t *entry_counts(struct top_model *m, size_t e, unsigned bucket)
{
    return m->counts + (e * m->nbuckets + bucket) * NCOUNT;
}

static uint32_t *thread_counts(struct top_model *m, size_t t, unsigned bucket)
{
    return m->thread_counts + (t * m->nbuckets + bucket) * 2;
}

static uint64_t entry_hash(const struct entry *en)
{
    uint64_t h = hash_mix((uint64_t)(uintptr_t)en->name);
    h = hash_mix(h ^ (uint64_t)(uintptr_t)en->file);
    h = hash_mix(h ^ ((uint64_t)en->thread << 32 | (uint32_t)en->line));
    return h ^ (uint64_t)en->is_func;
}

static uint64_t entry_hash_of(const void *ctx, uint32_t id)
{
    const struct top_model *m = ctx;
    return entry_hash(&m->entries[id]);
}

/* Names and files are interned: comparing pointers compares strings. */
static int entry_same(const void *ctx, uint32_t id, const void *key)
{
    const struct entry *en = &((const struct top_model *)ctx)->entries[id], *k = key;
    return en->name == k->name && en->file == k->file && en->line == k->line &&
           en->thread == k->thread && en->is_func == k->is_func;
}

/* Returns the index of the entry for the key, adding an empty one if new;
 * past TOP_MAX_ENTRIES, NO_ENTRY instead, except for "(other)" entries (at
 * most two per thread, so they cannot run away). */
#define NO_ENTRY SIZE_MAX
static size_t entry_for(struct top_model *m, uint32_t thread, const char *name, const char *file,
                        int line, int is_func)
{
    struct entry key = {
        .name = name, .file = file, .line = line, .thread = thread, .is_func = is_func};
    hash_index_reserve(&m->index, m->nentries, entry_hash_of, m);
    uint32_t *slot = hash_index_find(&m->index, entry_hash(&key), entry_same, m, &key);
    if (*slot)
        return *slot - 1;
    if (m->nentries >= m->max_entries && name != m->other)
        return NO_ENTRY;
    size_t old_cap = m->entries_cap;
    m->entries = xgrow(m->entries, sizeof(*m->entries), m->nentries + 1, &m->entries_cap);
    if (m->entries_cap != old_cap) {
        size_t per_entry = (size_t)m->nbuckets * NCOUNT;
        m->counts = xrealloc(m->counts, m->entries_cap * per_entry * sizeof(*m->counts));
    }
    size_t e = m->nentries++;
    struct entry *en = &m->entries[e];
    memset(en, 0, sizeof(*en));
    en->name = name;
    en->file = file;
    en->line = line;
    en->thread = thread;
    en->is_func = is_func;
    memset(entry_counts(m, e, 0), 0, (size_t)m->nbuckets * NCOUNT * sizeof(*m->counts));
    *slot = (uint32_t)(e + 1);
    return e;
}

/* Returns the slot of thread key, adding it if new; a non-empty name replaces
 * the one known. */
static uint32_t thread_for(struct top_model *m, uint64_t key, const char *name)
{
    size_t t = 0;
    while (t < m->nthreads && m->threads[t].key != key)
        t++;
    if (t == m->nthreads) {
        size_t old_cap = m->threads_cap;
        m->threads = xgrow(m->threads, sizeof(*m->threads), m->nthreads + 1, &m->threads_cap);
        if (m->threads_cap != old_cap)
            m->thread_counts = xrealloc(m->thread_counts, m->threads_cap * m->nbuckets * 2 *
                                                              sizeof(*m->thread_counts));
        m->nthreads++;
        memset(&m->threads[t], 0, sizeof(m->threads[t]));
        m->threads[t].key = key;
        m->threads[t].name = strtab_intern(&m->strings, "");
        memset(thread_counts(m, t, 0), 0, (size_t)m->nbuckets * 2 * sizeof(*m->thread_counts));
    }
    if (name && name[0] && strcmp(m->threads[t].name, name) != 0)
        m->threads[t].name = strtab_intern(&m->strings, name);
    return (uint32_t)t;
}

static void count_entry(struct top_model *m, size_t e, int counter)
{
    uint32_t *c = entry_counts(m, e, (unsigned)(m->cur % m->nbuckets)) + counter;
    if (*c == UINT32_MAX)
        return; /* saturate: sums stay equal to the sum of the buckets */
    (*c)++;
    m->entries[e].sum[counter]++;
}

/* A thread is alive if the previous tick saw it: compaction runs at the start
 * of a tick, when ticks_since_reset is still the previous tick's serial. */
static int thread_alive(const struct top_model *m, uint32_t t)
{
    return m->threads[t].last_tick >= m->ticks_since_reset;
}

static int droppable(const struct top_model *m, const struct entry *en)
{
    const uint64_t *s = en->sum;
    return !(s[0] | s[1] | s[2] | s[3]) || (en->thread != ALL && !thread_alive(m, en->thread));
}

/* Rebuilds the string table from the names the entries and threads still
 * use, when most of it is names of dropped entries (a program that keeps
 * making new functions, watched with a window). Entries hash by string
 * address: the caller rebuilds the index. */
static void renew_strings(struct top_model *m)
{
    if (strtab_count(&m->strings) <= 2 * m->nentries + m->nthreads + 64)
        return;
    struct strtab fresh;
    strtab_init(&fresh);
    for (size_t e = 0; e < m->nentries; e++) {
        m->entries[e].name = strtab_intern(&fresh, m->entries[e].name);
        m->entries[e].file = strtab_intern(&fresh, m->entries[e].file);
    }
    for (size_t t = 0; t < m->nthreads; t++)
        m->threads[t].name = strtab_intern(&fresh, m->threads[t].name);
    strtab_release(&m->strings);
    m->strings = fresh;
    intern_fixed(m);
}

/* Drops the entries with nothing in the window and those of threads that are
 * gone, and the threads with them, if that is most entries (or if force). */
static void compact(struct top_model *m, int force)
{
    size_t drop = 0;
    for (size_t e = 0; e < m->nentries; e++)
        drop += droppable(m, &m->entries[e]);
    if (m->nentries < COMPACT_MIN || (!force && drop * 2 < m->nentries))
        return;
    /* New thread indexes first (UINT32_MAX: dropped), then entries, then threads. */
    uint32_t *remap = xmalloc((m->nthreads + 1) * sizeof(*remap));
    size_t nt = 0;
    for (size_t t = 0; t < m->nthreads; t++)
        remap[t] = thread_alive(m, (uint32_t)t) ? (uint32_t)nt++ : UINT32_MAX;
    size_t per_entry = (size_t)m->nbuckets * NCOUNT, ne = 0;
    for (size_t e = 0; e < m->nentries; e++) {
        if (droppable(m, &m->entries[e]))
            continue;
        m->entries[ne] = m->entries[e];
        if (m->entries[e].thread != ALL)
            m->entries[ne].thread = remap[m->entries[e].thread];
        memmove(entry_counts(m, ne, 0), entry_counts(m, e, 0), per_entry * sizeof(*m->counts));
        ne++;
    }
    size_t per_thread = (size_t)m->nbuckets * 2;
    for (size_t t = 0; t < m->nthreads; t++) {
        if (remap[t] == UINT32_MAX)
            continue;
        m->threads[remap[t]] = m->threads[t];
        memmove(thread_counts(m, remap[t], 0), thread_counts(m, t, 0),
                per_thread * sizeof(*m->thread_counts));
    }
    m->nthreads = nt;
    m->nentries = ne;
    free(remap);
    renew_strings(m);
    hash_index_rebuild(&m->index, m->nentries, entry_hash_of, m);
}

/* Empties one bucket, taking its counts out of the window sums. */
static void clear_bucket(struct top_model *m, unsigned b)
{
    for (size_t e = 0; e < m->nentries; e++) {
        uint32_t *c = entry_counts(m, e, b);
        for (int k = 0; k < NCOUNT; k++) {
            m->entries[e].sum[k] -= c[k];
            c[k] = 0;
        }
    }
    for (size_t t = 0; t < m->nthreads; t++) {
        uint32_t *c = thread_counts(m, t, b);
        m->threads[t].sum[0] -= c[0];
        m->threads[t].sum[1] -= c[1];
        c[0] = c[1] = 0;
    }
    m->ticks -= m->bucket_ticks[b];
    m->gil_ticks -= m->bucket_gil[b];
    m->samples[0] -= m->bucket_samples[b][0];
    m->samples[1] -= m->bucket_samples[b][1];
    m->bucket_ticks[b] = m->bucket_gil[b] = 0;
    m->bucket_samples[b][0] = m->bucket_samples[b][1] = 0;
}

/* Moves the window so that it ends at now_ns. */
static void advance(struct top_model *m, uint64_t now_ns)
{
    if (m->nbuckets == 1)
        return;
    uint64_t target = (now_ns - m->epoch_ns) / m->bucket_ns;
    if (target <= m->cur)
        return;
    uint64_t steps = target - m->cur;
    if (steps > m->nbuckets)
        steps = m->nbuckets;
    for (uint64_t i = 1; i <= steps; i++)
        clear_bucket(m, (unsigned)((m->cur + i) % m->nbuckets));
    m->cur = target;
    compact(m, 0); /* a bucket fell out: most entries may be empty now */
}

void top_model_tick(struct top_model *m, const struct top_tick *t)
{
    uint64_t now = t->now_ns;
    if (!m->started) {
        m->started = 1;
        m->epoch_ns = now;
        m->cur = 0;
    } else {
        if (now < m->last_ns)
            now = m->last_ns;
        advance(m, now);
    }
    if (m->nentries >= m->compact_at) {
        compact(m, 1);
        m->compact_at = m->nentries * 2 > COMPACT_MIN ? m->nentries * 2 : COMPACT_MIN;
    }
    m->last_ns = now;
    unsigned b = (unsigned)(m->cur % m->nbuckets);
    m->bucket_ticks[b]++;
    m->ticks++;
    if (t->gil_held) {
        m->bucket_gil[b]++;
        m->gil_ticks++;
    }
    m->ticks_since_reset++;
    m->last_threads = t->threads;
    m->last_active = t->active;
    m->tick_gil = t->gil_held;
}

void top_model_tick_more(struct top_model *m, const struct top_tick *t)
{
    if (!m->started)
        return;
    m->last_threads += t->threads;
    m->last_active += t->active;
    if (t->gil_held && !m->tick_gil) {
        m->bucket_gil[m->cur % m->nbuckets]++;
        m->gil_ticks++;
        m->tick_gil = 1;
    }
}

/* Counts one frame in the entry for (thread, name, file, line, granularity),
 * or in that thread's "(other)" entry when the model is full (returns 1). */
static int count_frame(struct top_model *m, uint32_t thread, const char *name, const char *file,
                       int line, int is_func, int leaf, int idle)
{
    size_t e = entry_for(m, thread, name, file, line, is_func);
    int other = e == NO_ENTRY;
    if (other)
        e = entry_for(m, thread, m->other, m->empty, 0, is_func);
    if (leaf)
        count_entry(m, e, OWN_ACTIVE + idle);
    if (m->entries[e].stamp != m->stamp) {
        m->entries[e].stamp = m->stamp; /* recursion counts once */
        count_entry(m, e, TOTAL_ACTIVE + idle);
    }
    return other;
}

/* Sets the interned name and file of f. When the model is full, nothing new
 * is interned: a frame whose strings were never seen is "(other)" (returns
 * 1), as is the frame the profile feeding us made "(other)" past its caps. */
static int frame_strings(struct top_model *m, const struct top_frame *f, const char **name,
                         const char **file)
{
    const char *n = f->name ? f->name : "?", *fl = f->file ? f->file : "";
    if (strcmp(n, TOP_OTHER) == 0 && !fl[0]) {
        *name = m->other;
        *file = m->empty;
        return 1;
    }
    if (m->nentries < m->max_entries) {
        *name = strtab_intern(&m->strings, n);
        *file = strtab_intern(&m->strings, fl);
        return 0;
    }
    *name = strtab_find(&m->strings, n);
    *file = strtab_find(&m->strings, fl);
    if (*name && *file)
        return 0;
    *name = m->other;
    *file = m->empty;
    return 1;
}

void top_model_add(struct top_model *m, const struct top_stack *s)
{
    if (!m->started)
        return;
    int idle = s->idle ? 1 : 0;
    unsigned b = (unsigned)(m->cur % m->nbuckets);
    uint32_t th = thread_for(m, s->thread, s->thread_name);
    uint32_t *tc = thread_counts(m, th, b);
    m->threads[th].last_tick = m->ticks_since_reset;
    if (s->depth == 0 || tc[idle] == UINT32_MAX)
        return;
    tc[idle]++;
    m->threads[th].sum[idle]++;
    m->bucket_samples[b][idle]++;
    m->samples[idle]++;
    m->stamp++;
    int other = 0;
    for (size_t d = 0; d < s->depth; d++) {
        const struct top_frame *f = &s->frames[d];
        const char *name, *file;
        int unknown = frame_strings(m, f, &name, &file);
        int line = unknown ? 0 : f->line, first = unknown ? 0 : f->first_line;
        other |= unknown;
        /* a frame with known strings may still find no room: also "(other)" */
        other |= count_frame(m, ALL, name, file, line, 0, d == 0, idle);
        other |= count_frame(m, ALL, name, file, first, 1, d == 0, idle);
        other |= count_frame(m, th, name, file, line, 0, d == 0, idle);
        other |= count_frame(m, th, name, file, first, 1, d == 0, idle);
    }
    m->other_stacks += other;
    m->all_stacks++;
}

void top_model_reset(struct top_model *m)
{
    m->nentries = 0;
    hash_index_clear(&m->index);
    m->nthreads = 0;
    memset(m->bucket_ticks, 0, sizeof(m->bucket_ticks));
    memset(m->bucket_gil, 0, sizeof(m->bucket_gil));
    memset(m->bucket_samples, 0, sizeof(m->bucket_samples));
    m->ticks = m->gil_ticks = m->ticks_since_reset = 0;
    m->samples[0] = m->samples[1] = 0;
    m->compact_at = COMPACT_MIN;
    m->last_threads = m->last_active = 0;
    m->started = 0;
    m->cur = 0;
    strtab_release(&m->strings); /* snapshots own copies of theirs */
    intern_fixed(m);
}

void top_snapshot_init(struct top_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    strtab_init(&s->strings);
}

void top_snapshot_release(struct top_snapshot *s)
{
    free(s->lines);
    free(s->funcs);
    free(s->threads);
    strtab_release(&s->strings);
    top_snapshot_init(s);
}

/* Wall time covered by the window: from the start of its oldest bucket (or
 * the first tick) to the end of the latest tick's period. */
static uint64_t window_span(const struct top_model *m)
{
    if (!m->started)
        return 0;
    uint64_t start = m->epoch_ns;
    if (m->nbuckets > 1 && m->cur >= m->nbuckets)
        start += (m->cur - m->nbuckets + 1) * m->bucket_ns;
    return m->last_ns + m->period_ns - start;
}

void top_model_snapshot(const struct top_model *m, struct top_snapshot *s)
{
    s->nlines = s->nfuncs = 0;
    strtab_release(&s->strings); /* the model may free its strings once we return */
    for (size_t e = 0; e < m->nentries; e++) {
        const struct entry *en = &m->entries[e];
        if (!(en->sum[0] | en->sum[1] | en->sum[2] | en->sum[3]))
            continue;
        struct top_entry **arr = en->is_func ? &s->funcs : &s->lines;
        size_t *n = en->is_func ? &s->nfuncs : &s->nlines;
        size_t *cap = en->is_func ? &s->funcs_cap : &s->lines_cap;
        *arr = xgrow(*arr, sizeof(**arr), *n + 1, cap);
        struct top_entry *out = &(*arr)[(*n)++];
        out->name = strtab_intern(&s->strings, en->name);
        out->file = strtab_intern(&s->strings, en->file);
        out->line = en->line;
        out->thread = en->thread == ALL ? TOP_ALL_THREADS : en->thread;
        out->own[0] = en->sum[OWN_ACTIVE];
        out->own[1] = en->sum[OWN_IDLE];
        out->total[0] = en->sum[TOTAL_ACTIVE];
        out->total[1] = en->sum[TOTAL_IDLE];
    }
    s->threads = xgrow(s->threads, sizeof(*s->threads), m->nthreads + 1, &s->threads_cap);
    s->nthreads = m->nthreads;
    for (size_t t = 0; t < m->nthreads; t++) {
        s->threads[t].key = m->threads[t].key;
        s->threads[t].name = strtab_intern(&s->strings, m->threads[t].name);
        s->threads[t].samples[0] = m->threads[t].sum[0];
        s->threads[t].samples[1] = m->threads[t].sum[1];
    }
    s->samples[0] = m->samples[0];
    s->samples[1] = m->samples[1];
    s->ticks = m->ticks;
    s->gil_ticks = m->gil_ticks;
    s->span_ns = window_span(m);
    s->ticks_since_reset = m->ticks_since_reset;
    s->last_threads = m->last_threads;
    s->last_active = m->last_active;
    s->window_s = m->window_s;
    s->other_stacks = m->other_stacks;
}
