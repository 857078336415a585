/*
 * fuzz_spyglass.c - libFuzzer harness for spyglass's own format
 * (import/spyglass.c), the writers `spyglass report` feeds it into, and the
 * line report (report/lines.c).
 *
 * Besides the sanitizers' checks, it asserts what must hold for any bytes:
 *   - import_spyglass returns 0 or -SG_ECORRUPT with a "line N: ..."
 *     message, and keeps what it read before an error;
 *   - whatever was read goes through every writer without error;
 *   - the spyglass writer's output reads back without error, with the same
 *     total weight, the same memory weights in total and the same frames'
 *     first lines;
 *   - the line report of the first Python frame's function prints.
 * The input is copied into a block of its own size so ASan sees overreads.
 *
 * `make fuzz` builds and runs it (corpus: fuzz/corpus/spyglass/).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "import/import.h"
#include "profile/profile.h"
#include "report/lines.h"
#include "util/err.h"

static FILE *sink;

/* Sums every stack's memory weights (grown + freed + samples). */
static uint64_t memory_sum(const struct profile *p)
{
    uint64_t sum = 0;
    for (uint32_t id = 0; id < profile_stack_count(p); id++) {
        const struct profile_memory *m = profile_stack_memory(p, id);
        if (m)
            sum += m->grown + m->freed + m->samples;
    }
    return sum;
}

static void check_round_trip(const struct profile *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct format_options opt = {0};
    if (!out || spyglass_write(p, out, &opt) != 0)
        abort();
    fclose(out);
    struct profile *back = profile_new();
    char err[256];
    if (import_spyglass(buf, len, back, err, sizeof(err)) != 0)
        abort();
    if (profile_total_weight(back) != profile_total_weight(p) ||
        memory_sum(back) != memory_sum(p) ||
        profile_memory_enabled(back) != profile_memory_enabled(p) ||
        profile_frame_count(back) != profile_frame_count(p))
        abort();
    for (uint32_t id = 0; id < profile_frame_count(p); id++) {
        if (profile_frame(back, id)->first_line != profile_frame(p, id)->first_line)
            abort();
    }
    profile_free(back);
    free(buf);
}

static void check_lines(const struct profile *p)
{
    for (uint32_t id = 0; id < profile_frame_count(p); id++) {
        const struct profile_frame *f = profile_frame(p, id);
        if (f->kind != PF_PYTHON || !f->name[0])
            continue;
        char err[256];
        if (lines_print(p, f->name, sink, err, sizeof(err)) != 0)
            abort(); /* the frame's own name always matches */
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (!sink)
        abort();
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    if (len)
        memcpy(copy, data, len);
    struct profile *p = profile_new();
    char err[256] = "";
    int rc = import_spyglass(copy, len, p, err, sizeof(err));
    if (rc != 0 && (rc != -SG_ECORRUPT || strncmp(err, "line ", 5) != 0))
        abort();
    static const char *const writers[] = {"flamegraph",  "collapsed", "speedscope",
                                          "chrometrace", "pprof",     "spyglass"};
    for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
        struct format_options opt = {.full_filenames = (int)(i & 1)};
        if (format_find(writers[i])->write(p, sink, &opt) != 0)
            abort();
    }
    check_round_trip(p);
    check_lines(p);
    profile_free(p);
    free(copy);
    return 0;
}
