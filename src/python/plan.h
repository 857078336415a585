/*
 * plan.h - the reads of one sample made again, in one system call, at the next.
 *
 * A program that is being profiled keeps its things where they were: the
 * thread states, the frames (or the data-stack block that holds them), the
 * code objects. The plan records where the walker read during a sample and,
 * when the next begins, reads all of it again with one batched read
 * (mem_read_batch: one process_vm_readv, one iovec per span). The walker
 * then reads exactly as before, through the plan's reader: a read that lies
 * inside a span of the batch is answered from it, any other goes to the
 * target (and is recorded for the next plan). Nothing is believed because it
 * was planned: the walker follows the pointers it finds in the batch's bytes
 * and checks them as it always does, so a pointer that changed leads to an
 * address outside the batch, hence to a live read.
 *
 * Which reads the batch may answer depends on when its bytes were copied,
 * because a walk's torn-stack check (python/walk.c) relies on an order: a
 * thread's top frame pointer read first, its frames after that, the top
 * pointer read again last. process_vm_readv copies its iovecs in order
 * (mm/process_vm_access.c walks them one after the other, each from its
 * lowest page up), so the batch is laid out in groups, each span of a group
 * copied after every span of the groups before it:
 *
 *   HEAD   where stacks start: the thread list, each thread's top frame
 *          pointer (3.11/3.12: and its _PyCFrame's frame), the GIL;
 *   DATA   frames, data-stack blocks, code-object headers;
 *   CHECK  the top pointers again, for the check after each walk.
 *
 * The walker says which group its reads belong to (plan_phase) and when a
 * thread's walk begins and ends. A thread's frames are answered from the
 * batch only if its top pointer was (else they would be older than it), and
 * its check only if every read of its walk was (else the check would be
 * older than a frame). Everything else reads live: a retried walk, names,
 * endpoints, code objects being decoded.
 *
 * Steady state, one thread: one batched call, not one per thing read.
 */
#ifndef SPYGLASS_PYTHON_PLAN_H
#define SPYGLASS_PYTHON_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "proc/mem.h"

/* Most spans one batch holds (process_vm_readv takes 1,024 per call;
 * mem_read_batch makes several calls for more, in order). */
#define PLAN_MAX_SPANS 4096
/* Most bytes one batch copies. */
#define PLAN_MAX_BYTES (16u << 20)
/* Most reads recorded in one sample; past it, the rest is not planned. */
#define PLAN_MAX_RECORD 65536
/* How far a data span reaches past what was read (never past its page):
 * a stack one call deeper than at the last sample still falls inside. */
#define PLAN_SLACK 1024
/* Spans of a group closer than this (both ends on pages that the spans
 * themselves touch, or on the page right after) are read as one. */
#define PLAN_PAGE 4096u

enum plan_phase {
    PLAN_OFF = 0,   /* read live, not recorded */
    PLAN_HEAD = 1,  /* the thread list, top frame pointers, the GIL */
    PLAN_DATA = 2,  /* frames and data-stack blocks of the thread being walked */
    PLAN_CODE = 3,  /* code-object headers (read into the DATA group) */
    PLAN_CHECK = 4, /* a walk's check: its top pointer read again */
};

/* How a thread's walk reads (plan_thread). */
enum plan_thread_mode {
    PLAN_THREAD_BATCHED = 0, /* its thread state was answered from the batch */
    PLAN_THREAD_LIVE = 1,    /* it was read live: so is everything of this walk */
    PLAN_THREAD_RETRY = 2,   /* a second walk of a moving thread: live, not recorded */
};

#define PLAN_GROUPS 3

/* One read recorded for the next batch. */
struct plan_read {
    uint64_t addr;
    uint32_t size;
    uint32_t offset; /* where the batch held it (in plan.bytes), or PLAN_LIVE */
    uint16_t group;  /* 0 HEAD, 1 DATA (and code), 2 CHECK */
    uint16_t slack;  /* a frame or block: planned PLAN_SLACK further */
    uint32_t zero;   /* 0: records are compared with memcmp */
};

#define PLAN_LIVE UINT32_MAX

struct plan {
    /* The reader to read the target through. Its `reads` counts calls made
     * to the target (a batch counts its calls, an answered read none). */
    struct mem_reader reader;
    struct mem_reader *live; /* the target itself */
    int active;              /* between plan_begin and plan_end */
    enum plan_phase phase;
    int in_thread; /* between plan_thread and plan_thread_end */
    enum plan_thread_mode thread_mode;
    int thread_live;   /* this walk reads the target, not the batch */
    int thread_missed; /* a frame of this walk was read live: its check must be too */
    int recording;     /* reads are recorded for the next plan */
    int overflow;      /* this sample read more than PLAN_MAX_RECORD: not all recorded */
    int last_served;   /* the last read was answered from the batch */

    /* The batch: spans of group g at [group_end[g - 1], group_end[g]) (from 0
     * for g = 0), sorted by address, apart from each other; their bytes in
     * `bytes`, their errors set by each read of the batch. */
    struct mem_span *spans;
    size_t nspans, spans_cap;
    size_t group_end[PLAN_GROUPS];
    size_t found[PLAN_GROUPS]; /* the span of each group that answered last */
    uint8_t *bytes;
    size_t bytes_len, bytes_cap;
    /* The last sample's batch, for plan_unchanged: valid when it was laid out
     * as this one (no plan was built in between) and both read whole. */
    uint8_t *prev_bytes;
    size_t prev_cap;
    unsigned layout;             /* counts the batches built */
    unsigned batch_layout;       /* of the batch being served; 0: none */
    unsigned prev_layout;        /* of the last sample's batch; 0: none */
    int batch_whole, prev_whole; /* every span of the batch was read */
    struct mem_span *scratch;    /* reads of a batch that the batch cannot answer */
    size_t scratch_cap;

    /* This sample's reads, and those the batch was built from (a sample
     * that read the same as the last keeps its plan without building it). */
    struct plan_read *rec, *built;
    size_t nrec, rec_cap, nbuilt, built_cap;

    uint64_t batches; /* batches read */
    uint64_t served;  /* reads answered from a batch */
    uint64_t missed;  /* planned reads (not PLAN_OFF) that went to the target */
};

/* Prepares a plan that reads live (it has no batch until a sample was
 * recorded). */
void plan_init(struct plan *p, struct mem_reader *live);
void plan_release(struct plan *p);

/* Reads from live from now on and forgets the plan (another image). */
void plan_set_live(struct plan *p, struct mem_reader *live);

/* Starts a sample: reads the batch planned by the last one (one call for
 * up to 1,024 spans) and records this sample's reads. Phase: PLAN_HEAD. */
void plan_begin(struct plan *p);

/* Ends a sample: builds the next batch from the reads recorded. */
void plan_end(struct plan *p);

/* Says which group the next reads belong to (nothing outside a sample). */
void plan_phase(struct plan *p, enum plan_phase phase);

/* Starts a thread's walk (phase PLAN_HEAD) and ends it (phase PLAN_OFF). */
void plan_thread(struct plan *p, enum plan_thread_mode mode);
void plan_thread_end(struct plan *p);

/* Where the batch holds size bytes at addr, if it may answer a read of
 * them now (as a read through p->reader would be answered; recorded as
 * one); else NULL, and nothing is recorded: read them through p->reader.
 * The bytes stay until plan_end. */
const uint8_t *plan_peek(struct plan *p, uint64_t addr, size_t size);

/* The position in this sample's record of the next read recorded. */
static inline size_t plan_mark(const struct plan *p)
{
    return p->nrec;
}

/* Whether the reads recorded in the last sample at [from, to) of its record
 * (two plan_mark values of then) were all answered from its batch, and this
 * sample's batch holds the same bytes for each: whatever those reads
 * decided would be decided again. If so they count as made again (recorded
 * and answered, in the phase they were made in) and 1 is returned. */
int plan_unchanged(struct plan *p, size_t from, size_t to);

/* Returns 1 if the last read was answered from the batch. */
static inline int plan_last_served(const struct plan *p)
{
    return p->last_served;
}

#endif
