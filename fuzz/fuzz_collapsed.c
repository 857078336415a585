/*
 * fuzz_collapsed.c - libFuzzer harness for the collapsed-stack reader
 * (import/collapsed.c), the content sniffer, and the writers `spyglass
 * report` feeds what it reads into.
 *
 * Besides the sanitizers' checks, it asserts what must hold for any bytes:
 *   - import_collapsed returns 0, -SG_ECORRUPT (with a "line N: ..."
 *     message) or -SG_EIO, and keeps the stacks read before an error;
 *   - the sniffer never calls input with a NUL or another control byte in
 *     the part it looks at (64 KiB) collapsed;
 *   - whatever was read goes through every writer without error, and the
 *     collapsed writer's output reads back with the same total weight;
 *   - the pstats writer's output loads with the pstats loader.
 * The input is copied into a block of its own size so ASan sees overreads.
 *
 * `make fuzz` builds and runs it (corpus: fuzz/corpus/collapsed/).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "import/import.h"
#include "import/pstats.h"
#include "import/sniff.h"
#include "profile/profile.h"
#include "util/err.h"

static FILE *sink;

/* Writes p to a memory buffer with w; the caller frees *buf. */
static void write_to_memory(const struct format_writer *w, const struct profile *p, char **buf,
                            size_t *len)
{
    FILE *out = open_memstream(buf, len);
    struct format_options opt = {0};
    if (!out || w->write(p, out, &opt) != 0)
        abort();
    fclose(out);
}

/* Sum of the weights of non-empty stacks (the only ones collapsed keeps). */
static uint64_t drawn_weight(const struct profile *p)
{
    uint64_t sum = 0;
    for (uint32_t id = 0; id < profile_stack_count(p); id++) {
        size_t depth;
        uint64_t weight;
        profile_stack(p, id, &depth, &weight);
        if (depth)
            sum += weight;
    }
    return sum;
}

static void check_collapsed_round_trip(const struct profile *p)
{
    char *buf = NULL;
    size_t len = 0;
    write_to_memory(format_find("collapsed"), p, &buf, &len);
    if (!len) { /* nothing drawable; fmemopen refuses an empty buffer */
        if (drawn_weight(p) != 0)
            abort();
        free(buf);
        return;
    }
    FILE *in = fmemopen(buf, len, "rb");
    if (!in)
        abort();
    struct profile *back = profile_new();
    char err[256];
    if (import_collapsed(in, back, err, sizeof(err)) != 0)
        abort();
    if (drawn_weight(back) != drawn_weight(p))
        abort();
    fclose(in);
    profile_free(back);
    free(buf);
}

static void check_pstats(const struct profile *p)
{
    char *buf = NULL;
    size_t len = 0;
    write_to_memory(format_find("pstats"), p, &buf, &len);
    struct pstats st;
    if (pstats_load(&st, (const uint8_t *)buf, len) != 0)
        abort();
    pstats_release(&st);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (!sink)
        abort();
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    if (len)
        memcpy(copy, data, len);
    enum sniff_kind kind = sniff_format(copy, len);
    for (size_t i = 0; kind == SNIFF_COLLAPSED && i < len && i < 65536; i++) {
        if (copy[i] < 0x20 && copy[i] != '\t' && copy[i] != '\r' && copy[i] != '\n')
            abort(); /* the sniffer looked at this byte and called it text */
    }

    FILE *in = fmemopen(copy, len ? len : 1, "rb");
    if (!in)
        abort();
    struct profile *p = profile_new();
    profile_meta(p)->rate_hz = 100;
    char err[256] = "";
    int rc = len ? import_collapsed(in, p, err, sizeof(err)) : 0;
    fclose(in);
    if (rc != 0 && rc != -SG_ECORRUPT && rc != -SG_EIO)
        abort();
    if (rc != 0 && strncmp(err, "line ", 5) != 0)
        abort();
    static const char *const writers[] = {"flamegraph",  "collapsed", "speedscope",
                                          "chrometrace", "pstats",    "pprof"};
    for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
        struct format_options opt = {.full_filenames = (int)(i & 1)};
        if (format_find(writers[i])->write(p, sink, &opt) != 0)
            abort();
    }
    check_collapsed_round_trip(p);
    check_pstats(p);
    profile_free(p);
    free(copy);
    return 0;
}
