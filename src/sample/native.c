/*
 * native.c - every stopped thread's native stack, once per tick (sample/native.h).
 *
 * One unwinder per process (proc/unwind.h) keeps the modules' CFI and symbol
 * tables from tick to tick. Per tick, each thread's frames are appended to
 * one array and their names to one text buffer, as offsets while the buffer
 * may still move, then turned into pointers once the tick is complete.
 */
#include "sample/native.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proc/proc.h"
#include "proc/task.h"
#include "util/err.h"
#include "util/util.h"

/* A thread's name, and the tick it was last seen in: a thread id seen again
 * after a gap may belong to a new thread, whose name is read afresh. */
struct native_name {
    pid_t tid;
    uint64_t seen;
    char name[32];
};

struct native_names {
    struct native_name *e;
    size_t count, cap;
};

/* Names kept at most; past it the cache starts again. */
#define NAMES_MAX 4096
/* No name offset: the frame has no symbol or no module. */
#define NO_TEXT ((uintptr_t)-1)

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int native_init(struct native_stacks *n, pid_t pid)
{
    memset(n, 0, sizeof(*n));
    n->pid = pid;
    n->names = xcalloc(1, sizeof(*n->names));
    int err = unwind_new(pid, &n->unwinder);
    if (err)
        native_release(n);
    return err;
}

void native_release(struct native_stacks *n)
{
    unwind_free(n->unwinder);
    free(n->stacks);
    free(n->syms);
    free(n->text);
    if (n->names)
        free(n->names->e);
    free(n->names);
    memset(n, 0, sizeof(*n));
}

/* Copies s (with its NUL) to the tick's text; returns its offset, or
 * NO_TEXT for NULL. */
static uintptr_t add_text(struct native_stacks *n, const char *s)
{
    if (!s)
        return NO_TEXT;
    size_t len = strlen(s) + 1;
    n->text = xgrow(n->text, 1, n->text_len + len, &n->text_cap);
    memcpy(n->text + n->text_len, s, len);
    n->text_len += len;
    return n->text_len - len;
}

/* Unwinds one stopped thread into the tick's arrays; frames hold text
 * offsets (fixed up by resolve_text). */
static void unwind_one(struct native_stacks *n, struct native_stack *s,
                       struct native_frame *scratch)
{
    size_t depth = 0;
    s->err = unwind_thread(n->unwinder, s->tid, scratch, NATIVE_MAX_DEPTH, &depth);
    if (s->err) {
        n->stats.gone += s->err == -SG_ENOPROC;
        n->stats.failed += s->err != -SG_ENOPROC;
        return;
    }
    s->end = unwind_last_end(n->unwinder);
    n->stats.walks++;
    n->stats.partial += s->end != UNWIND_END_BOTTOM;
    n->stats.frames += depth;
    n->syms = xgrow(n->syms, sizeof(*n->syms), n->nsyms + depth, &n->syms_cap);
    for (size_t i = 0; i < depth; i++) {
        struct native_sym *sym = &n->syms[n->nsyms + i];
        sym->pc = scratch[i].pc;
        sym->offset = scratch[i].offset;
        sym->symbol = (const char *)add_text(n, scratch[i].symbol);
        sym->module = (const char *)add_text(n, scratch[i].module);
    }
    s->frames = (const struct native_sym *)(uintptr_t)n->nsyms; /* an index until resolved */
    s->depth = depth;
    n->nsyms += depth;
}

/* Turns the tick's offsets into pointers, now that the buffers stay put. */
static void resolve_text(struct native_stacks *n)
{
    for (size_t i = 0; i < n->nsyms; i++) {
        struct native_sym *sym = &n->syms[i];
        uintptr_t symbol = (uintptr_t)sym->symbol, module = (uintptr_t)sym->module;
        sym->symbol = symbol == NO_TEXT ? NULL : n->text + symbol;
        sym->module = module == NO_TEXT ? NULL : n->text + module;
    }
    for (size_t i = 0; i < n->count; i++) {
        struct native_stack *s = &n->stacks[i];
        s->frames = s->depth ? n->syms + (uintptr_t)s->frames : NULL;
    }
}

void native_unwind(struct native_stacks *n, const pid_t *tids, const char *states, size_t count,
                   int skip_idle)
{
    uint64_t start = thread_cpu_ns();
    struct native_frame scratch[NATIVE_MAX_DEPTH]; /* 16 KiB */
    n->stats.ticks++;
    n->count = n->nsyms = n->text_len = 0;
    n->stacks = xgrow(n->stacks, sizeof(*n->stacks), count ? count : 1, &n->cap);
    for (size_t i = 0; i < count; i++) {
        struct native_stack *s = &n->stacks[n->count++];
        *s = (struct native_stack){.tid = tids[i], .state = states ? states[i] : '?'};
        if (skip_idle && task_state_idle(s->state)) {
            n->stats.skipped++;
            continue;
        }
        unwind_one(n, s, scratch);
    }
    resolve_text(n);
    n->stats.cpu_ns += thread_cpu_ns() - start;
}

const struct native_stack *native_find(const struct native_stacks *n, pid_t tid)
{
    for (size_t i = 0; i < n->count; i++) {
        if (n->stacks[i].tid == tid)
            return &n->stacks[i];
    }
    return NULL;
}

/* Reads thread tid's comm into e->name ("" if unreadable). */
static void read_name(pid_t pid, pid_t tid, struct native_name *e)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
    e->name[0] = '\0';
    if (proc_read_small(path, e->name, sizeof(e->name)) > 0)
        e->name[strcspn(e->name, "\n")] = '\0';
}

const char *native_thread_name(const struct native_stacks *n, pid_t tid)
{
    struct native_names *names = n->names;
    uint64_t tick = n->stats.ticks;
    for (size_t i = 0; i < names->count; i++) {
        struct native_name *e = &names->e[i];
        if (e->tid != tid)
            continue;
        if (e->seen + 1 < tick) /* not seen last tick: maybe another thread now */
            read_name(n->pid, tid, e);
        e->seen = tick;
        return e->name;
    }
    if (names->count >= NAMES_MAX)
        names->count = 0;
    names->e = xgrow(names->e, sizeof(*names->e), names->count + 1, &names->cap);
    struct native_name *e = &names->e[names->count++];
    e->tid = tid;
    e->seen = tick;
    read_name(n->pid, tid, e);
    return e->name;
}
