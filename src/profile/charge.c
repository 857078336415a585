/*
 * charge.c - charging RSS changes to stacks; the rule is in charge.h.
 */
#include "profile/charge.h"

#include <string.h>

void charge_init(struct charge *c, struct profile *p)
{
    memset(c, 0, sizeof(*c));
    c->profile = p;
    c->prev_active = -1;
    profile_enable_memory(p);
}

/* Adds a change of delta bytes (signed by grew) to stack id at RSS rss. */
static void charge_to(struct charge *c, uint32_t id, uint64_t delta, int grew, uint64_t rss)
{
    struct profile_memory w = {0, grew ? delta : 0, grew ? 0 : delta, rss};
    if (grew) {
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(c->profile, id, &depth, &weight);
        profile_add_stack(c->profile, frames, depth, delta);
        c->grown += delta;
    } else {
        c->freed += delta;
    }
    profile_add_memory(c->profile, id, &w);
}

static void track_peak(struct charge *c, uint64_t time_ns, uint64_t rss)
{
    struct profile_meta *m = profile_meta(c->profile);
    if (rss > m->peak_rss) {
        m->peak_rss = rss;
        m->peak_rss_ns = time_ns;
    }
    m->final_rss = rss;
}

void charge_sample(struct charge *c, uint64_t time_ns, uint64_t rss, int64_t active, int64_t idle)
{
    track_peak(c, time_ns, rss);
    profile_add_rss_point(c->profile, time_ns, rss); /* kept with a timeline only */
    if (!c->started) {
        c->started = 1;
        c->first_rss = c->prev_rss = rss;
        c->prev_active = active;
        return;
    }
    int grew = rss >= c->prev_rss;
    uint64_t delta = grew ? rss - c->prev_rss : c->prev_rss - rss;
    int rule = active >= 0 ? 0 : c->prev_active >= 0 ? 1 : idle >= 0 ? 2 : -1;
    int64_t target = rule == 0 ? active : rule == 1 ? c->prev_active : idle;
    if (delta && rule < 0) {
        c->uncharged += delta;
    } else if (delta) {
        c->by_rule[rule]++;
        charge_to(c, (uint32_t)target, delta, grew, rss);
    }
    c->prev_rss = rss;
    c->prev_active = active;
}
