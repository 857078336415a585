/*
 * summary.c - the tables `record` and `top` print to stderr when they end.
 */
#include "cmd/cmd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "collect/roots.h"
#include "profile/profile.h"
#include "util/util.h"

/* Rows of the endpoint table before "... N more". */
#define TABLE_ROWS 25

static int busiest_first(const void *pa, const void *pb)
{
    const struct roots_endpoint *x = pa, *y = pb;
    if (x->active != y->active)
        return x->active < y->active ? 1 : -1;
    uint64_t sx = x->active + x->idle, sy = y->active + y->idle;
    if (sx != sy)
        return sx < sy ? 1 : -1;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

void cmd_print_endpoints(const struct roots *a, FILE *out)
{
    uint64_t active = 0, samples = 0;
    size_t n = a->nendpoints;
    if (!a->by_endpoint)
        return;
    struct roots_endpoint *rows = xmalloc((n ? n : 1) * sizeof(*rows));
    memcpy(rows, a->endpoints, n * sizeof(*rows));
    qsort(rows, n, sizeof(*rows), busiest_first);
    for (size_t i = 0; i < n; i++) {
        active += rows[i].active;
        samples += rows[i].active + rows[i].idle;
    }
    fprintf(out, "spyglass: time by endpoint (%" PRIu64 " thread samples, %" PRIu64 " active)\n",
            samples, active);
    fprintf(out, "  %-44s %9s %9s %7s\n", "endpoint", "samples", "active%", "idle%");
    for (size_t i = 0; i < n && i < TABLE_ROWS; i++) {
        const struct roots_endpoint *e = &rows[i];
        uint64_t total = e->active + e->idle;
        const char *name = profile_frame(a->profile, e->frame)->name;
        fprintf(out, "  %-44.*s %9" PRIu64 " %8.1f%% %6.1f%%\n", 44, name, total,
                active ? 100.0 * (double)e->active / (double)active : 0.0,
                total ? 100.0 * (double)e->idle / (double)total : 0.0);
    }
    if (n > TABLE_ROWS)
        fprintf(out, "  ... %zu more endpoints (all are in the profile)\n", n - TABLE_ROWS);
    fprintf(out, "  active%%: share of all on-CPU samples; idle%%: share of the endpoint's own "
                 "samples spent waiting (sleep, I/O, locks)\n");
    const struct endpoint_reader *er = &a->endpoints_reader;
    if (er->in_request)
        fprintf(out,
                "spyglass: endpoints: %" PRIu64 " of %" PRIu64 " thread samples in a request, "
                "%.0f%% of those from the cache; %.1f reads of target memory per sample\n",
                er->in_request, er->lookups, 100.0 * (double)er->hits / (double)er->in_request,
                (double)er->target_reads / (double)er->lookups);
    free(rows);
}
