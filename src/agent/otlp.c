/*
 * otlp.c - a window as an OTLP ExportProfilesServiceRequest (agent/encode.h).
 *
 * Field numbers, from opentelemetry-proto's profiles/v1development as the
 * collector v0.161.0 (pdata v1.67.0) decodes them:
 *   ExportProfilesServiceRequest { ResourceProfiles resource_profiles = 1;
 *                                  ProfilesDictionary dictionary = 2; }
 *   ProfilesDictionary { mapping_table = 1; location_table = 2;
 *       function_table = 3; link_table = 4; string_table = 5;
 *       attribute_table = 6 (KeyValueAndUnit); stack_table = 7 }
 *       (every table's entry 0 is the zero value, so index 0 means unset)
 *   ResourceProfiles { Resource resource = 1; ScopeProfiles scope_profiles = 2; }
 *   Resource { KeyValue attributes = 1; }  KeyValue { key = 1; AnyValue value = 2; }
 *   AnyValue { string_value = 1; int_value = 3; }
 *   ScopeProfiles { InstrumentationScope scope = 1 (name 1, version 2); Profile profiles = 2; }
 *   Profile { ValueType sample_type = 1; Sample samples = 2;
 *             fixed64 time_unix_nano = 3; duration_nano = 4;
 *             ValueType period_type = 5; period = 6; }
 *   ValueType { type_strindex = 1; unit_strindex = 2; }
 *   Sample { stack_index = 1; packed attribute_indices = 2; packed values = 4; }
 *   Stack { packed location_indices = 1 }  (leaf first)
 *   Location { mapping_index = 1; Line lines = 3; }  Line { function_index = 1; line = 2; }
 *   Function { name_strindex = 1; filename_strindex = 3; start_line = 4; }
 *   KeyValueAndUnit { key_strindex = 1; AnyValue value = 2; }
 * One Location per profile frame and one Function per (name, file), as in
 * format/pprof.c; one Stack and one Sample per profile stack.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/encode.h"
#include "util/hash.h"
#include "util/pb.h"

struct otlp {
    const struct profile *p;
    struct pb_strings strings;
    struct strbuf dict, scratch, inner, packed;
    uint32_t *location;       /* frame id -> location index (0: a label frame) */
    uint32_t *attribute;      /* frame id -> attribute index (label frames) */
    uint32_t *function_first; /* function index - 1 -> its first frame */
    size_t functions;
    struct hash_index function_index;
};

static uint64_t fn_hash(const struct profile_frame *f)
{
    return hash_mix((uint64_t)(uintptr_t)f->name ^ hash_mix((uint64_t)(uintptr_t)f->file));
}

static uint64_t fn_hash_of(const void *ctx, uint32_t id)
{
    const struct otlp *o = ctx;
    return fn_hash(profile_frame(o->p, o->function_first[id]));
}

static int fn_same(const void *ctx, uint32_t id, const void *key)
{
    const struct otlp *o = ctx;
    const struct profile_frame *f = key, *g = profile_frame(o->p, o->function_first[id]);
    return f->name == g->name && f->file == g->file; /* interned by the profile */
}

/* The function index of frame id, writing the function when new: the
 * table's entry 0 is the zero function, so the n-th function found (from
 * 0, as kept in the hash index) is entry n + 1. */
static uint64_t function_of(struct otlp *o, uint32_t id)
{
    const struct profile_frame *f = profile_frame(o->p, id);
    hash_index_reserve(&o->function_index, o->functions, fn_hash_of, o);
    uint32_t *slot = hash_index_find(&o->function_index, fn_hash(f), fn_same, o, f);
    uint32_t known = *slot;
    if (known)
        return known;
    o->function_first[o->functions] = id;
    *slot = (uint32_t)++o->functions;
    pb_uint(&o->scratch, 1, pb_string_index(&o->strings, f->name));
    pb_uint(&o->scratch, 3, pb_string_index(&o->strings, f->file));
    pb_message(&o->dict, 3, &o->scratch);
    return *slot;
}

/* OTLP's attribute key for a label: the semantic conventions' thread.name,
 * else the label under a "spyglass." prefix. */
static const char *attribute_key(const char *label)
{
    static const char *const keys[][2] = {{LABEL_THREAD, "thread.name"},
                                          {LABEL_IDLE, "spyglass.idle"},
                                          {LABEL_GIL, "spyglass.gil"},
                                          {LABEL_ENDPOINT, "spyglass.endpoint"}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!strcmp(label, keys[i][0]))
            return keys[i][1];
    }
    return label;
}

static void put_string_value(struct strbuf *kv, struct strbuf *any, const char *value)
{
    pb_string(any, 1, value);
    pb_message(kv, 2, any);
}

/* Locations, functions and attributes: one pass over the frames. Tables
 * are written field by field into the dictionary (order within a repeated
 * field is what counts, not between fields). */
static void put_frames(struct otlp *o)
{
    size_t frames = profile_frame_count(o->p);
    uint32_t locations = 1, attributes = 1;
    pb_bytes(&o->dict, 1, "", 0); /* the zero mapping */
    pb_bytes(&o->dict, 2, "", 0); /* the zero location */
    pb_bytes(&o->dict, 3, "", 0); /* the zero function */
    pb_bytes(&o->dict, 4, "", 0); /* the zero link */
    pb_bytes(&o->dict, 6, "", 0); /* the zero attribute */
    o->function_first = xcalloc(frames + 1, sizeof(uint32_t));
    for (uint32_t id = 0; id < frames; id++) {
        const struct profile_frame *f = profile_frame(o->p, id);
        if (f->kind == PF_LABEL) {
            pb_uint(&o->scratch, 1, pb_string_index(&o->strings, attribute_key(f->name)));
            put_string_value(&o->scratch, &o->inner, f->file);
            pb_message(&o->dict, 6, &o->scratch);
            o->attribute[id] = attributes++;
            continue;
        }
        uint64_t function = function_of(o, id);
        pb_uint(&o->inner, 1, function);
        pb_uint(&o->inner, 2, f->line > 0 ? (uint64_t)f->line : 0);
        pb_message(&o->scratch, 3, &o->inner);
        pb_message(&o->dict, 2, &o->scratch);
        o->location[id] = locations++;
    }
}

/* Stacks in the dictionary and samples in the profile (msg), one each per
 * profile stack. */
static void put_stacks(struct otlp *o, struct strbuf *msg)
{
    pb_bytes(&o->dict, 7, "", 0); /* the zero stack */
    for (uint32_t id = 0; id < profile_stack_count(o->p); id++) {
        size_t depth, labels = 0;
        uint64_t weight;
        const uint32_t *frames = profile_stack(o->p, id, &depth, &weight);
        while (labels < depth && profile_frame(o->p, frames[labels])->kind == PF_LABEL)
            labels++;
        for (size_t i = depth; i-- > labels;) /* leaf first */
            pb_varint(&o->packed, o->location[frames[i]]);
        if (o->packed.len)
            pb_message(&o->scratch, 1, &o->packed);
        pb_message(&o->dict, 7, &o->scratch);
        pb_uint(&o->scratch, 1, (uint64_t)id + 1);
        for (size_t i = 0; i < labels; i++)
            pb_varint(&o->packed, o->attribute[frames[i]]);
        if (o->packed.len)
            pb_message(&o->scratch, 2, &o->packed);
        pb_varint(&o->packed, weight);
        pb_message(&o->scratch, 4, &o->packed);
        pb_message(msg, 2, &o->scratch);
    }
}

static void put_value_type(struct otlp *o, struct strbuf *msg, unsigned field, const char *type,
                           const char *unit)
{
    pb_uint(&o->scratch, 1, pb_string_index(&o->strings, type));
    pb_uint(&o->scratch, 2, pb_string_index(&o->strings, unit));
    pb_message(msg, field, &o->scratch);
}

/* The Profile message into msg. */
static void put_profile(struct otlp *o, const struct agent_labels *l, struct strbuf *msg)
{
    const struct profile_meta *m = profile_meta_const(o->p);
    uint64_t period = m->rate_hz > 0 ? (uint64_t)llround(1e9 / m->rate_hz) : 0;
    put_value_type(o, msg, 1, "samples", "count");
    put_stacks(o, msg);
    pb_fixed64(msg, 3, m->start_unix_ns);
    pb_uint(msg, 4, m->duration_s > 0 ? (uint64_t)llround(m->duration_s * 1e9) : 0);
    put_value_type(o, msg, 5, strcmp(l->name, "wall") ? "cpu" : "wall", "nanoseconds");
    pb_uint(msg, 6, period);
}

static void put_attribute(struct strbuf *res, struct strbuf *kv, struct strbuf *any,
                          const char *key, const char *value, int64_t number)
{
    pb_string(kv, 1, key);
    if (value)
        pb_string(any, 1, value);
    else
        pb_uint(any, 3, (uint64_t)number);
    pb_message(kv, 2, any);
    pb_message(res, 1, kv);
}

/* ResourceProfiles { resource, scope_profiles { scope, profile } } into out. */
static void put_resource(const struct agent_labels *l, struct strbuf *profile, struct strbuf *out)
{
    struct strbuf res, kv, any;
    strbuf_init(&res);
    strbuf_init(&kv);
    strbuf_init(&any);
    put_attribute(&res, &kv, &any, "service.name", l->service, 0);
    put_attribute(&res, &kv, &any, "host.name", l->host, 0);
    put_attribute(&res, &kv, &any, "process.pid", NULL, l->pid);
    put_attribute(&res, &kv, &any, "process.runtime.name", "CPython", 0);
    put_attribute(&res, &kv, &any, "process.runtime.version", l->python, 0);
    pb_message(&kv, 1, &res); /* kv: the ResourceProfiles being built */
    pb_string(&any, 1, "spyglass");
    pb_string(&any, 2, SPYGLASS_VERSION);
    pb_message(&res, 1, &any); /* res: the ScopeProfiles */
    pb_message(&res, 2, profile);
    pb_message(&kv, 2, &res);
    pb_message(out, 1, &kv);
    strbuf_release(&res);
    strbuf_release(&kv);
    strbuf_release(&any);
}

void encode_otlp(const struct profile *p, const struct agent_labels *l, struct strbuf *out)
{
    struct otlp o;
    memset(&o, 0, sizeof(o));
    o.p = p;
    strbuf_init(&o.dict);
    strbuf_init(&o.scratch);
    strbuf_init(&o.inner);
    strbuf_init(&o.packed);
    size_t frames = profile_frame_count(p);
    o.location = xcalloc(frames + 1, sizeof(uint32_t));
    o.attribute = xcalloc(frames + 1, sizeof(uint32_t));
    struct strbuf profile;
    strbuf_init(&profile);
    pb_string_index(&o.strings, "");
    put_frames(&o);
    put_profile(&o, l, &profile);
    for (size_t i = 0; i < o.strings.count; i++)
        pb_string(&o.dict, 5, o.strings.list[i]);
    put_resource(l, &profile, out);
    pb_message(out, 2, &o.dict);
    strbuf_release(&profile);
    strbuf_release(&o.dict);
    strbuf_release(&o.scratch);
    strbuf_release(&o.inner);
    strbuf_release(&o.packed);
    pb_strings_release(&o.strings);
    hash_index_release(&o.function_index);
    free(o.location);
    free(o.attribute);
    free(o.function_first);
}
