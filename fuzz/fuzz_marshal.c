/*
 * fuzz_marshal.c - libFuzzer harness for the pstats import path: the marshal
 * reader, the pstats loader on top of it, the content sniffer, and the
 * print_stats() table over whatever loads (NaN times, huge counts, odd names).
 *
 * Besides the sanitizers' checks, it asserts what must hold for any bytes:
 *   - marshal_parse and pstats_load return 0 or -SG_ECORRUPT, with a message
 *     on failure, and consume no more than the input;
 *   - a dump pstats_load accepts is one marshal_parse accepts, and the
 *     sniffer calls anything starting with a dict's type code pstats only
 *     when the second byte begins a key tuple or ends the dict;
 *   - the table prints without error for every sort key;
 *   - the call tree stays within its depth and node limits, never gives
 *     more own time than the dump has, and whatever loads re-saves
 *     (pstats_save) to bytes that load again with the same functions.
 * The input is copied into a block of its own size so ASan sees overreads.
 *
 * Build and run (clang), or `make fuzz` (corpus: fuzz/corpus/marshal/):
 *   clang -g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=undefined -Isrc fuzz/fuzz_marshal.c \
 *       src/import/marshal.c src/import/pstats.c src/report/table.c \
 *       src/report/calltree.c src/profile/profile.c src/profile/strtab.c \
 *       src/util/util.c src/util/marshal_out.c -o build/fuzz_marshal
 *   build/fuzz_marshal -max_total_time=180 fuzz/corpus/marshal
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/marshal.h"
#include "import/pstats.h"
#include "import/sniff.h"
#include "profile/profile.h"
#include "report/calltree.h"
#include "report/table.h"
#include "util/err.h"

static FILE *sink;

static void check_marshal(const uint8_t *data, size_t len)
{
    struct marshal_doc doc;
    int rc = marshal_parse(&doc, data, len);
    if (rc != 0 && rc != -SG_ECORRUPT)
        abort();
    if (rc == 0 && (!doc.root || doc.used > len || doc.used == 0))
        abort();
    if (rc != 0 && (doc.root || !doc.error[0]))
        abort();
    marshal_release(&doc);
}

static void print_tables(const struct pstats *st)
{
    static const char *const keys[] = {"cumulative", "tottime", "ncalls", "name",
                                       "stdname",    "nfl",     "pcalls", "line"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct table_options opt = {.sort = {table_sort_key(keys[i])},
                                    .sort_count = 1,
                                    .limit = (long)i - 1,
                                    .source = "fuzz.prof"};
        if (opt.sort[0] < 0 || table_print(st, sink, &opt) != 0)
            abort();
    }
    struct table_options unsorted = {.limit = -1};
    if (table_print(st, sink, &unsorted) != 0)
        abort();
}

static void check_tree(const struct pstats *st)
{
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(st, p, &r);
    if (r.nodes > CALLTREE_MAX_NODES || !(r.unplaced_s >= 0) || r.unplaced_s > r.total_s * 1.000001)
        abort();
    /* Every microsecond of own time is drawn (checked where doubles hold
     * microseconds exactly enough). */
    double want = r.total_s * 1e6, got = (double)profile_total_weight(p);
    if (r.total_s < 1e6 && fabs(got - want) > 2)
        abort();
    for (uint32_t id = 0; id < profile_stack_count(p); id++) {
        size_t depth;
        uint64_t weight;
        profile_stack(p, id, &depth, &weight);
        if (depth == 0 || depth > CALLTREE_MAX_DEPTH)
            abort();
    }
    profile_free(p);
}

static void check_resave(const struct pstats *st)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out || pstats_save(st, out) != 0)
        abort();
    fclose(out);
    struct pstats again;
    /* Keys only merge (a code object named like a string key), never appear. */
    if (pstats_load(&again, (const uint8_t *)buf, len) != 0 || again.count > st->count ||
        (st->count && !again.count))
        abort();
    pstats_release(&again);
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

    check_marshal(copy, len);
    enum sniff_kind kind = sniff_format(copy, len);
    if (kind == SNIFF_PSTATS && (len < 2 || (copy[0] & 0x7F) != '{'))
        abort();

    struct pstats st;
    int rc = pstats_load(&st, copy, len);
    if (rc != 0 && rc != -SG_ECORRUPT)
        abort();
    if (rc != 0 && !st.error[0])
        abort();
    if (rc == 0) {
        struct marshal_doc doc;
        if (marshal_parse(&doc, copy, len) != 0)
            abort();
        marshal_release(&doc);
        for (size_t i = 0; i < st.count; i++) {
            for (size_t j = 0; j < st.funcs[i].caller_count; j++) {
                size_t f = st.funcs[i].callers[j].func;
                if (f != PSTATS_NO_FUNC && f >= st.count)
                    abort();
            }
        }
        print_tables(&st);
        check_tree(&st);
        check_resave(&st);
    }
    pstats_release(&st);
    free(copy);
    return 0;
}
