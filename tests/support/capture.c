/*
 * capture.c - record a walk's reads, write them as a capture file, load one
 * back as a fake process image (format in capture.h).
 */
#include "capture.h"

#include <stdlib.h>
#include <string.h>

#include "python/layout.h"
#include "util/util.h"

struct capture_read {
    uint64_t addr;
    size_t len;
    uint8_t *bytes;
};

/* --- recording -------------------------------------------------------------------------- */

static int recording_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct capture_recorder *cr = ctx;
    int err = mem_read(cr->live, addr, buf, size);
    if (err || size == 0)
        return err;
    cr->reads = xgrow(cr->reads, sizeof(*cr->reads), cr->nreads + 1, &cr->reads_cap);
    struct capture_read *rd = &cr->reads[cr->nreads++];
    rd->addr = addr;
    rd->len = size;
    rd->bytes = xmalloc(size);
    memcpy(rd->bytes, buf, size);
    return 0;
}

void capture_recorder_init(struct capture_recorder *cr, struct mem_reader *live,
                           struct mem_reader *reader)
{
    memset(cr, 0, sizeof(*cr));
    cr->live = live;
    reader->read = recording_read;
    reader->read_batch = NULL; /* each read is recorded on its own */
    reader->ctx = cr;
    reader->reads = 0;
}

void capture_recorder_release(struct capture_recorder *cr)
{
    for (size_t i = 0; i < cr->nreads; i++)
        free(cr->reads[i].bytes);
    free(cr->reads);
    memset(cr, 0, sizeof(*cr));
}

/* --- writing ---------------------------------------------------------------------------- */

static int by_address(const void *a, const void *b)
{
    const struct capture_read *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void put(FILE *out, const void *p, size_t n)
{
    fwrite(p, 1, n, out);
}

static void put_u32(FILE *out, uint32_t v)
{
    put(out, &v, 4);
}

static void put_u64(FILE *out, uint64_t v)
{
    put(out, &v, 8);
}

/* The layout words that differ from the table's entry for the version. */
static void write_patches(const struct py_layout *used, FILE *out)
{
    const struct py_layout *table =
        layout_find_build(used->major, used->minor, used->free_threaded);
    uint32_t patches[sizeof(*used) / 4][2], count = 0;
    for (size_t off = offsetof(struct py_layout, runtime); table && off + 4 <= sizeof(*used);
         off += 4) {
        uint32_t value;
        memcpy(&value, (const char *)used + off, 4);
        if (memcmp((const char *)table + off, &value, 4) != 0) {
            patches[count][0] = (uint32_t)off;
            patches[count++][1] = value;
        }
    }
    put_u32(out, count);
    put(out, patches, count * sizeof(patches[0]));
}

/* The reads from i on that overlap or touch each other (reads sorted by
 * address) form one segment ending at *end; returns the first read after it. */
static size_t merged_run(const struct capture_read *reads, size_t i, size_t n, uint64_t *end)
{
    *end = reads[i].addr + reads[i].len;
    for (i++; i < n && reads[i].addr <= *end; i++) {
        if (reads[i].addr + reads[i].len > *end)
            *end = reads[i].addr + reads[i].len;
    }
    return i;
}

/* Merges the recorded reads into disjoint segments and writes them. */
static void write_segments(struct capture_read *reads, size_t n, FILE *out)
{
    qsort(reads, n, sizeof(*reads), by_address);
    uint64_t end;
    uint32_t count = 0;
    for (size_t i = 0; i < n; i = merged_run(reads, i, n, &end))
        count++;
    put_u32(out, count);
    for (size_t i = 0, next; i < n; i = next) {
        uint64_t start = reads[i].addr;
        next = merged_run(reads, i, n, &end);
        /* The target was stopped: overlapping reads hold the same bytes. */
        uint8_t *seg = xcalloc(1, end - start);
        for (size_t k = i; k < next; k++)
            memcpy(seg + (reads[k].addr - start), reads[k].bytes, reads[k].len);
        put_u64(out, start);
        put_u32(out, (uint32_t)(end - start));
        put(out, seg, end - start);
        free(seg);
    }
}

int capture_write(struct capture_recorder *cr, const struct py_runtime *rt, int64_t tid_offset,
                  const pid_t *tids, const char *states, size_t count, FILE *out)
{
    put(out, CAPTURE_MAGIC, 8);
    uint8_t head[4] = {(uint8_t)rt->major, (uint8_t)rt->minor, CAPTURE_FILL_FAULT,
                       rt->layout.free_threaded ? CAPTURE_FREE_THREADED : 0};
    put(out, head, 4);
    put_u32(out, (uint32_t)rt->pid);
    put_u64(out, rt->runtime_addr);
    put_u64(out, rt->interp_head_addr);
    put_u64(out, rt->tstate_current_addr);
    put_u64(out, rt->code_type);
    put_u64(out, rt->frame_type);
    put_u64(out, (uint64_t)tid_offset);
    write_patches(&rt->layout, out);
    if (count > CAPTURE_MAX_STATES)
        count = CAPTURE_MAX_STATES;
    put_u32(out, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        put_u32(out, (uint32_t)tids[i]);
        put_u32(out, (uint8_t)states[i]);
    }
    /* Sorts the recorder's list of reads in place. */
    write_segments(cr->reads, cr->nreads, out);
    return fflush(out) == 0 && !ferror(out) ? 0 : -SG_EIO;
}

/* --- loading ---------------------------------------------------------------------------- */

struct cursor {
    const uint8_t *p;
    size_t left;
};

static int take(struct cursor *c, void *out, size_t n)
{
    if (c->left < n)
        return -1;
    memcpy(out, c->p, n);
    c->p += n;
    c->left -= n;
    return 0;
}

static int segment_order(const void *a, const void *b)
{
    const struct capture_segment *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void apply_patches(struct cursor *c, struct py_layout *l)
{
    uint32_t count, off, value;
    if (take(c, &count, 4))
        return;
    for (uint32_t i = 0; i < count && i < CAPTURE_MAX_PATCHES; i++) {
        if (take(c, &off, 4) || take(c, &value, 4))
            return;
        /* Only offset words, aligned, and no larger than detect.c accepts
         * from a target's _Py_DebugOffsets. */
        if (off < offsetof(struct py_layout, runtime) || off % 4 || off > sizeof(*l) - 4 ||
            value > UINT32_MAX / 2)
            continue;
        memcpy((char *)l + off, &value, 4);
    }
}

static void read_states(struct cursor *c, struct capture_image *img)
{
    uint32_t count, tid, state;
    if (take(c, &count, 4))
        return;
    for (uint32_t i = 0; i < count && i < CAPTURE_MAX_STATES; i++) {
        if (take(c, &tid, 4) || take(c, &state, 4))
            return;
        img->tids[img->nstates] = (pid_t)tid;
        img->states[img->nstates++] = (char)state;
    }
}

static void read_segments(struct cursor *c, struct capture_image *img)
{
    uint32_t count, len;
    uint64_t addr;
    if (take(c, &count, 4))
        return;
    size_t cap = 0;
    for (uint32_t i = 0; i < count && i < CAPTURE_MAX_SEGMENTS; i++) {
        if (take(c, &addr, 8) || take(c, &len, 4))
            break;
        if (len > c->left)
            len = (uint32_t)c->left; /* a cut tail: keep what is there */
        if (addr + len < addr)
            continue; /* wraps around the address space */
        img->segments = xgrow(img->segments, sizeof(*img->segments), img->nsegments + 1, &cap);
        img->segments[img->nsegments++] = (struct capture_segment){addr, c->p, len};
        c->p += len;
        c->left -= len;
    }
    if (img->nsegments > 1)
        qsort(img->segments, img->nsegments, sizeof(*img->segments), segment_order);
}

int capture_parse(const uint8_t *data, size_t size, struct capture_image *img)
{
    memset(img, 0, sizeof(*img));
    struct cursor c = {data, size};
    char magic[8];
    uint8_t head[4];
    uint32_t pid;
    struct py_runtime *rt = &img->rt;
    if (take(&c, magic, 8) || memcmp(magic, CAPTURE_MAGIC, 8) || take(&c, head, 4) ||
        take(&c, &pid, 4) || take(&c, &rt->runtime_addr, 8) || take(&c, &rt->interp_head_addr, 8) ||
        take(&c, &rt->tstate_current_addr, 8) || take(&c, &rt->code_type, 8) ||
        take(&c, &rt->frame_type, 8) || take(&c, &img->tid_offset, 8))
        return -SG_ECORRUPT;
    int ft = head[3] & CAPTURE_FREE_THREADED;
    const struct py_layout *table = layout_find_build(head[0], head[1], ft);
    if (!table)
        table = layout_find(head[0], head[1]); /* a flag a fuzzer set */
    if (!table)
        return -SG_ECORRUPT;
    rt->pid = (pid_t)(pid & 0x7fffffff);
    rt->major = head[0];
    rt->minor = head[1];
    rt->free_threaded = table->free_threaded;
    snprintf(rt->version, sizeof(rt->version), "%d.%d.0%s", rt->major, rt->minor,
             table->free_threaded ? "t" : "");
    rt->layout = *table;
    img->fill = head[2] % 3;
    apply_patches(&c, &rt->layout);
    read_states(&c, img);
    read_segments(&c, img);
    return 0;
}

void capture_image_release(struct capture_image *img)
{
    free(img->segments);
    memset(img, 0, sizeof(*img));
}

/* The last segment starting at or below addr, or NULL. */
static const struct capture_segment *segment_at(const struct capture_image *img, uint64_t addr)
{
    size_t lo = 0, hi = img->nsegments;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (img->segments[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? &img->segments[lo - 1] : NULL;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Copies into buf (the bytes of [addr, addr + size)) every captured byte
 * in that range: memory around and between segments is filled, what was
 * captured reads as captured. */
static void overlay_segments(const struct capture_image *img, uint64_t addr, uint8_t *buf,
                             size_t size)
{
    const struct capture_segment *seg = segment_at(img, addr);
    for (size_t i = seg ? (size_t)(seg - img->segments) : 0;
         i < img->nsegments && img->segments[i].addr < addr + size; i++) {
        const struct capture_segment *s = &img->segments[i];
        uint64_t from = s->addr > addr ? s->addr : addr;
        uint64_t end = s->addr + s->len < addr + size ? s->addr + s->len : addr + size;
        if (from < end)
            memcpy(buf + (from - addr), s->data + (from - s->addr), end - from);
    }
}

static int image_read(void *ctx, uint64_t addr, void *buf, size_t size)
{
    struct capture_image *img = ctx;
    if (addr + size < addr || size > (64u << 20))
        return -SG_EFAULT; /* process_vm_readv fails on such reads too */
    img->bytes_read += size;
    const struct capture_segment *seg = segment_at(img, addr);
    if (seg && addr - seg->addr <= seg->len && size <= seg->len - (addr - seg->addr)) {
        memcpy(buf, seg->data + (addr - seg->addr), size);
        return 0;
    }
    switch (img->fill) {
    case CAPTURE_FILL_RANDOM: /* byte i of the word at a is byte i of mix(a / 8) */
        for (uint64_t word = addr & ~7ull; word < addr + size; word += 8) {
            uint64_t bytes = mix(word >> 3);
            uint64_t from = word < addr ? addr : word;
            uint64_t to = word + 8 < addr + size ? word + 8 : addr + size;
            memcpy((uint8_t *)buf + (from - addr), (uint8_t *)&bytes + (from - word), to - from);
        }
        overlay_segments(img, addr, buf, size);
        return 0;
    case CAPTURE_FILL_ZERO:
        memset(buf, 0, size);
        overlay_segments(img, addr, buf, size);
        return 0;
    default:
        return -SG_EFAULT;
    }
}

/* As process_vm_readv: one call for the whole batch. */
static uint64_t image_read_batch(void *ctx, struct mem_span *spans, size_t count)
{
    for (size_t i = 0; i < count; i++)
        spans[i].err = image_read(ctx, spans[i].addr, spans[i].buf, spans[i].size);
    return 1;
}

void capture_reader_init(struct capture_image *img, struct mem_reader *reader)
{
    reader->read = image_read;
    reader->read_batch = image_read_batch;
    reader->ctx = img;
    reader->reads = 0;
}
