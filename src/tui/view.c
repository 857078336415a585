/*
 * view.c - the key table, view state changes, and building the sorted rows
 * of a snapshot for the current view.
 */
#include "tui/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

const struct top_key top_keys[] = {
    {'1', "1", TOP_ACT_SORT_OWN, "sort by own time (%Own, OwnTime); again: reverse"},
    {'2', "2", TOP_ACT_SORT_TOTAL, "sort by total time (%Total, TotalTime); again: reverse"},
    {'3', "3", TOP_ACT_SORT_NAME, "sort by function name; again: reverse"},
    {'4', "4", TOP_ACT_SORT_FILE, "sort by file:line; again: reverse"},
    {'l', "l", TOP_ACT_LINES, "one row per line / one row per function"},
    {'i', "i", TOP_ACT_IDLE, "show / hide idle samples (threads sleeping or waiting)"},
    {'t', "t", TOP_ACT_THREADS, "cycle threads: all, then one thread at a time"},
    {'T', "T", TOP_ACT_ALL_THREADS, "back to all threads"},
    {'e', "e", TOP_ACT_ENDPOINTS,
     "with --by-endpoint: one row per endpoint and function / all together (t: one at a time)"},
    {' ', "space", TOP_ACT_PAUSE, "pause / resume the display (sampling goes on)"},
    {'r', "r", TOP_ACT_RESET, "reset: forget all counts and start again"},
    {TOP_KEY_UP, "up", TOP_ACT_UP, "scroll up one row"},
    {'k', "k", TOP_ACT_UP, "scroll up one row"},
    {TOP_KEY_DOWN, "down", TOP_ACT_DOWN, "scroll down one row"},
    {'j', "j", TOP_ACT_DOWN, "scroll down one row"},
    {TOP_KEY_PAGE_UP, "PgUp", TOP_ACT_PAGE_UP, "scroll up one page"},
    {TOP_KEY_PAGE_DOWN, "PgDn", TOP_ACT_PAGE_DOWN, "scroll down one page"},
    {TOP_KEY_HOME, "Home", TOP_ACT_HOME, "back to the top row"},
    {'?', "?", TOP_ACT_HELP, "show / close this help"},
    {'h', "h", TOP_ACT_HELP, "show / close this help"},
    {'q', "q", TOP_ACT_QUIT, "quit (Ctrl-C too); a --pid target runs on"},
};
const size_t top_nkeys = sizeof(top_keys) / sizeof(top_keys[0]);

const struct top_key *top_key_find(int key)
{
    for (size_t i = 0; i < top_nkeys; i++) {
        if (top_keys[i].key == key)
            return &top_keys[i];
    }
    return NULL;
}

void top_view_init(struct top_view *v)
{
    memset(v, 0, sizeof(*v));
    v->sort = TOP_SORT_OWN;
}

static int set_sort(struct top_view *v, enum top_sort sort)
{
    if (v->sort == sort) {
        v->reverse = !v->reverse;
    } else {
        v->sort = sort;
        v->reverse = 0;
    }
    v->scroll = 0;
    return 1;
}

static int has_samples(const struct top_thread *t)
{
    return (t->samples[0] | t->samples[1]) != 0;
}

size_t top_thread_position(const struct top_snapshot *s, uint64_t key, size_t *count)
{
    size_t before = 0, n = 0;
    for (size_t i = 0; i < s->nthreads; i++) {
        if (!has_samples(&s->threads[i]))
            continue;
        n++;
        before += s->threads[i].key < key;
    }
    if (count)
        *count = n;
    return before + 1;
}

/* all -> each thread with samples, by key (for OS thread ids: the order they
 * were created, the main thread first) -> all. */
static int cycle_thread(struct top_view *v, const struct top_snapshot *s)
{
    const struct top_thread *next = NULL;
    for (size_t i = 0; i < s->nthreads; i++) {
        const struct top_thread *t = &s->threads[i];
        if (has_samples(t) && (!v->one_thread || t->key > v->thread) &&
            (!next || t->key < next->key))
            next = t;
    }
    v->scroll = 0;
    v->one_thread = next != NULL;
    if (next)
        v->thread = next->key;
    return 1;
}

int top_view_apply(struct top_view *v, enum top_action a, const struct top_snapshot *s, size_t page)
{
    if (page == 0)
        page = 1;
    switch (a) {
    case TOP_ACT_SORT_OWN:
        return set_sort(v, TOP_SORT_OWN);
    case TOP_ACT_SORT_TOTAL:
        return set_sort(v, TOP_SORT_TOTAL);
    case TOP_ACT_SORT_NAME:
        return set_sort(v, TOP_SORT_NAME);
    case TOP_ACT_SORT_FILE:
        return set_sort(v, TOP_SORT_FILE);
    case TOP_ACT_LINES:
        v->by_function = !v->by_function;
        v->scroll = 0;
        return 1;
    case TOP_ACT_IDLE:
        v->idle = !v->idle;
        return 1;
    case TOP_ACT_THREADS:
        return cycle_thread(v, s);
    case TOP_ACT_ENDPOINTS:
        if (!v->endpoints)
            return 0;
        v->split_threads = !v->split_threads;
        v->scroll = 0;
        return 1;
    case TOP_ACT_ALL_THREADS:
        if (!v->one_thread)
            return 0;
        v->one_thread = 0;
        v->scroll = 0;
        return 1;
    case TOP_ACT_PAUSE:
        v->paused = !v->paused;
        return 1;
    case TOP_ACT_HELP:
        v->help = !v->help;
        return 1;
    case TOP_ACT_UP:
        if (v->scroll == 0)
            return 0;
        v->scroll--;
        return 1;
    case TOP_ACT_DOWN:
        v->scroll++;
        return 1;
    case TOP_ACT_PAGE_UP:
        if (v->scroll == 0)
            return 0;
        v->scroll = v->scroll > page ? v->scroll - page : 0;
        return 1;
    case TOP_ACT_PAGE_DOWN:
        v->scroll += page;
        return 1;
    case TOP_ACT_HOME:
        if (v->scroll == 0)
            return 0;
        v->scroll = 0;
        return 1;
    case TOP_ACT_RESET:
    case TOP_ACT_QUIT:
        return 0;
    }
    return 0;
}

size_t top_help_lines(char (*lines)[128], size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < top_nkeys && n < max; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            seen |= top_keys[j].action == top_keys[i].action;
        if (seen)
            continue;
        char labels[48] = "";
        size_t len = 0;
        for (size_t j = i; j < top_nkeys; j++) {
            if (top_keys[j].action == top_keys[i].action && len < sizeof(labels))
                len += (size_t)snprintf(labels + len, sizeof(labels) - len, "%s%s", len ? ", " : "",
                                        top_keys[j].label);
        }
        snprintf(lines[n++], sizeof(lines[0]), "  %-10s %s", labels, top_keys[i].help);
    }
    return n;
}

const char *top_thread_name(const struct top_snapshot *s, uint64_t key)
{
    for (size_t i = 0; i < s->nthreads; i++) {
        if (s->threads[i].key == key)
            return s->threads[i].name ? s->threads[i].name : "";
    }
    return "";
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
    return (a < b) - (a > b);
}

/* The stable tie-break: name, file, line, thread. */
static int by_place(const struct top_row *a, const struct top_row *b)
{
    int c = strcmp(a->name, b->name);
    if (!c)
        c = strcmp(a->file, b->file);
    if (!c)
        c = (a->line > b->line) - (a->line < b->line);
    if (!c)
        c = (a->thread_key > b->thread_key) - (a->thread_key < b->thread_key);
    return c;
}

static int by_view(const void *pa, const void *pb, void *ctx)
{
    const struct top_row *a = pa, *b = pb;
    const struct top_view *v = ctx;
    int c = 0;
    switch (v->sort) {
    case TOP_SORT_OWN:
        c = cmp_u64_desc(a->own, b->own);
        if (!c)
            c = cmp_u64_desc(a->total, b->total);
        break;
    case TOP_SORT_TOTAL:
        c = cmp_u64_desc(a->total, b->total);
        if (!c)
            c = cmp_u64_desc(a->own, b->own);
        break;
    case TOP_SORT_NAME:
        break;
    case TOP_SORT_FILE:
        c = strcmp(a->file, b->file);
        if (!c)
            c = (a->line > b->line) - (a->line < b->line);
        break;
    }
    if (!c)
        c = by_place(a, b);
    return v->reverse ? -c : c;
}

size_t top_rows(const struct top_snapshot *s, const struct top_view *v, struct top_row **rows,
                size_t *cap)
{
    const struct top_entry *entries = v->by_function ? s->funcs : s->lines;
    size_t nentries = v->by_function ? s->nfuncs : s->nlines, n = 0;
    int idle = v->idle ? 1 : 0;
    /* All threads together: the summed entries; else the per-thread ones. */
    int want_all = !v->one_thread && !v->split_threads;
    for (size_t i = 0; i < nentries; i++) {
        const struct top_entry *e = &entries[i];
        if ((e->thread == TOP_ALL_THREADS) != want_all)
            continue;
        const struct top_thread *t = want_all ? NULL : &s->threads[e->thread];
        if (v->one_thread && t->key != v->thread)
            continue;
        uint64_t own = e->own[0] + (idle ? e->own[1] : 0);
        uint64_t total = e->total[0] + (idle ? e->total[1] : 0);
        if (!own && !total)
            continue;
        *rows = xgrow(*rows, sizeof(**rows), n + 1, cap);
        struct top_row *r = &(*rows)[n++];
        memset(r, 0, sizeof(*r));
        r->name = e->name;
        r->file = e->file;
        r->line = e->line;
        r->thread = v->split_threads && t ? (t->name ? t->name : "") : NULL;
        r->thread_key = t ? t->key : 0;
        r->own = own;
        r->total = total;
    }
    uint64_t samples = v->one_thread ? 0 : s->samples[0] + (idle ? s->samples[1] : 0);
    for (size_t i = 0; i < s->nthreads && v->one_thread; i++) {
        if (s->threads[i].key == v->thread)
            samples = s->threads[i].samples[0] + (idle ? s->threads[i].samples[1] : 0);
    }
    double per_sample_s = s->ticks ? (double)s->span_ns / 1e9 / (double)s->ticks : 0;
    for (size_t i = 0; i < n; i++) {
        struct top_row *r = &(*rows)[i];
        r->own_pct = samples ? 100.0 * (double)r->own / (double)samples : 0;
        r->total_pct = samples ? 100.0 * (double)r->total / (double)samples : 0;
        r->own_s = (double)r->own * per_sample_s;
        r->total_s = (double)r->total * per_sample_s;
    }
    if (n > 1)
        qsort_r(*rows, n, sizeof(**rows), by_view, (void *)v);
    return n;
}
