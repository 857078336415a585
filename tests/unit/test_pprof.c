/*
 * test_pprof.c - the pprof writer, checked by decoding its output: gunzip
 * with zlib, then a minimal protobuf reader of our own (varints and
 * length-delimited fields, packed or not) that rebuilds the string table,
 * samples, locations and functions. Checks multi-byte varints, leaf-first
 * location order, values [count, count * period], shared functions, the
 * metadata fields, and byte-for-byte determinism.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "format/format.h"
#include "profile/profile.h"

#define MAX_ITEMS 64

/* ---- a minimal profile.proto reader ---- */

struct pb {
    const uint8_t *p, *end;
};

static uint64_t pb_varint(struct pb *b)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        assert_true(b->p < b->end);
        uint8_t byte = *b->p++;
        v |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return v;
    }
    fail_msg("varint longer than 10 bytes");
    return 0;
}

/* Reads one field: sets *field, and either *value (varint) or *sub (bytes). */
static void pb_field(struct pb *b, unsigned *field, uint64_t *value, struct pb *sub)
{
    uint64_t key = pb_varint(b);
    *field = (unsigned)(key >> 3);
    switch (key & 7) {
    case 0:
        *value = pb_varint(b);
        sub->p = sub->end = NULL;
        break;
    case 2: {
        uint64_t len = pb_varint(b);
        assert_true(len <= (uint64_t)(b->end - b->p));
        sub->p = b->p;
        sub->end = b->p + len;
        b->p += len;
        break;
    }
    default:
        fail_msg("unexpected wire type %u", (unsigned)(key & 7));
    }
}

/* Reads a repeated integer field, packed (sub set) or not. */
static void pb_repeated(uint64_t *out, size_t *count, uint64_t value, struct pb *sub)
{
    if (!sub->p) {
        assert_true(*count < MAX_ITEMS);
        out[(*count)++] = value;
        return;
    }
    while (sub->p < sub->end) {
        assert_true(*count < MAX_ITEMS);
        out[(*count)++] = pb_varint(sub);
    }
}

struct sample {
    uint64_t locations[MAX_ITEMS];
    size_t location_count;
    uint64_t values[MAX_ITEMS];
    size_t value_count;
    uint64_t labels[4][2]; /* key, str string indices */
    size_t label_count;
};

struct location {
    uint64_t id, mapping, function, line;
    int lines;
};

struct mapping {
    uint64_t id, filename, has_functions, has_filenames, has_line_numbers;
};

struct function {
    uint64_t id, name, system_name, filename, start_line;
};

struct decoded {
    char *strings[MAX_ITEMS];
    size_t string_count;
    uint64_t sample_type[4][2]; /* type, unit string indices */
    size_t sample_type_count;
    struct sample samples[MAX_ITEMS];
    size_t sample_count;
    struct location locations[MAX_ITEMS];
    size_t location_count;
    struct function functions[MAX_ITEMS];
    size_t function_count;
    struct mapping mappings[4];
    size_t mapping_count;
    uint64_t period_type[2], period, duration, time;
    uint64_t comments[MAX_ITEMS];
    size_t comment_count;
};

static void decode_value_type(struct pb sub, uint64_t out[2])
{
    while (sub.p < sub.end) {
        unsigned field;
        uint64_t v = 0;
        struct pb none;
        pb_field(&sub, &field, &v, &none);
        if (field == 1 || field == 2)
            out[field - 1] = v;
    }
}

static void decode_sample(struct pb sub, struct sample *s)
{
    memset(s, 0, sizeof(*s));
    while (sub.p < sub.end) {
        unsigned field;
        uint64_t v = 0;
        struct pb inner;
        pb_field(&sub, &field, &v, &inner);
        if (field == 1)
            pb_repeated(s->locations, &s->location_count, v, &inner);
        else if (field == 2)
            pb_repeated(s->values, &s->value_count, v, &inner);
        else if (field == 3 && s->label_count < 4)
            decode_value_type(inner, s->labels[s->label_count++]); /* same field numbers */
    }
}

static void decode_location(struct pb sub, struct location *l)
{
    memset(l, 0, sizeof(*l));
    while (sub.p < sub.end) {
        unsigned field;
        uint64_t v = 0;
        struct pb inner;
        pb_field(&sub, &field, &v, &inner);
        if (field == 1) {
            l->id = v;
        } else if (field == 2) {
            l->mapping = v;
        } else if (field == 4) {
            l->lines++;
            while (inner.p < inner.end) {
                unsigned f2;
                uint64_t v2 = 0;
                struct pb none;
                pb_field(&inner, &f2, &v2, &none);
                if (f2 == 1)
                    l->function = v2;
                else if (f2 == 2)
                    l->line = v2;
            }
        }
    }
}

static void decode_function(struct pb sub, struct function *f)
{
    memset(f, 0, sizeof(*f));
    while (sub.p < sub.end) {
        unsigned field;
        uint64_t v = 0;
        struct pb none;
        pb_field(&sub, &field, &v, &none);
        uint64_t *slots[] = {NULL, &f->id, &f->name, &f->system_name, &f->filename, &f->start_line};
        if (field >= 1 && field <= 5)
            *slots[field] = v;
    }
}

static void decode_mapping(struct pb sub, struct mapping *m)
{
    memset(m, 0, sizeof(*m));
    while (sub.p < sub.end) {
        unsigned field;
        uint64_t v = 0;
        struct pb none;
        pb_field(&sub, &field, &v, &none);
        if (field == 1)
            m->id = v;
        else if (field == 5)
            m->filename = v;
        else if (field == 7)
            m->has_functions = v;
        else if (field == 8)
            m->has_filenames = v;
        else if (field == 9)
            m->has_line_numbers = v;
    }
}

/* Gunzips buf and decodes the Profile message into d (strings malloc'd). */
static void decode(const char *buf, size_t size, struct decoded *d)
{
    memset(d, 0, sizeof(*d));
    assert_true(size > 18);
    assert_int_equal((uint8_t)buf[0], 0x1f);
    assert_int_equal((uint8_t)buf[1], 0x8b);
    size_t cap = 1 << 20;
    uint8_t *raw = malloc(cap);
    z_stream zs = {0};
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (uint8_t *)buf;
    zs.avail_in = (uInt)size;
    zs.next_out = raw;
    zs.avail_out = (uInt)cap;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    struct pb b = {raw, raw + zs.total_out};
    inflateEnd(&zs);
    while (b.p < b.end) {
        unsigned field;
        uint64_t v = 0;
        struct pb sub;
        pb_field(&b, &field, &v, &sub);
        switch (field) {
        case 1:
            decode_value_type(sub, d->sample_type[d->sample_type_count++]);
            break;
        case 2:
            decode_sample(sub, &d->samples[d->sample_count++]);
            break;
        case 3:
            assert_true(d->mapping_count < 4);
            decode_mapping(sub, &d->mappings[d->mapping_count++]);
            break;
        case 4:
            decode_location(sub, &d->locations[d->location_count++]);
            break;
        case 5:
            decode_function(sub, &d->functions[d->function_count++]);
            break;
        case 6:
            d->strings[d->string_count++] = strndup((const char *)sub.p, (size_t)(sub.end - sub.p));
            break;
        case 9:
            d->time = v;
            break;
        case 10:
            d->duration = v;
            break;
        case 11:
            decode_value_type(sub, d->period_type);
            break;
        case 12:
            d->period = v;
            break;
        case 13:
            pb_repeated(d->comments, &d->comment_count, v, &sub);
            break;
        default:
            fail_msg("unexpected Profile field %u", field);
        }
    }
    free(raw);
}

static void release(struct decoded *d)
{
    for (size_t i = 0; i < d->string_count; i++)
        free(d->strings[i]);
}

static const char *str(const struct decoded *d, uint64_t index)
{
    assert_true(index < d->string_count);
    return d->strings[index];
}

/* The function a location points to. */
static const struct function *func_of(const struct decoded *d, uint64_t location_id)
{
    for (size_t i = 0; i < d->location_count; i++) {
        if (d->locations[i].id != location_id)
            continue;
        for (size_t j = 0; j < d->function_count; j++) {
            if (d->functions[j].id == d->locations[i].function)
                return &d->functions[j];
        }
    }
    fail_msg("location %llu has no function", (unsigned long long)location_id);
    return NULL;
}

/* ---- helpers ---- */

static char *render(const struct profile *p, size_t *size)
{
    char *buf = NULL;
    FILE *out = open_memstream(&buf, size);
    assert_int_equal(pprof_write(p, out, &(struct format_options){0}), 0);
    fclose(out);
    return buf;
}

static struct profile *sample_profile(void)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    m->rate_hz = 250; /* 4 ms */
    m->duration_s = 2.5;
    profile_set_meta_str(p, &m->title, "spyglass record");
    profile_set_meta_str(p, &m->python_version, "3.11.7");
    uint32_t main_ = profile_frame_id(p, "main", "app.py", 10, PF_PYTHON);
    uint32_t work = profile_frame_id(p, "work", "app.py", 21, PF_PYTHON);
    uint32_t work2 = profile_frame_id(p, "work", "app.py", 23, PF_PYTHON);
    uint32_t thread = profile_frame_id(p, "thread \"w\"", "", 0, PF_THREAD);
    profile_add_stack(p, (uint32_t[]){main_, work}, 2, 300);
    profile_add_stack(p, (uint32_t[]){thread, main_, work2}, 3, 1);
    profile_add_stack(p, (uint32_t[]){main_}, 1, (uint64_t)1 << 40);
    return p;
}

/* ---- tests ---- */

static void test_pprof_header_and_value_types(void **state)
{
    struct profile *p = sample_profile();
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_string_equal(str(&d, 0), "");
    assert_int_equal(d.sample_type_count, 2);
    assert_string_equal(str(&d, d.sample_type[0][0]), "samples");
    assert_string_equal(str(&d, d.sample_type[0][1]), "count");
    assert_string_equal(str(&d, d.sample_type[1][0]), "wall");
    assert_string_equal(str(&d, d.sample_type[1][1]), "nanoseconds");
    assert_string_equal(str(&d, d.period_type[0]), "wall");
    assert_string_equal(str(&d, d.period_type[1]), "nanoseconds");
    assert_int_equal(d.period, 4000000);
    assert_int_equal(d.duration, 2500000000ull);
    assert_int_equal(d.time, 0); /* unknown: left out */
    assert_int_equal(d.comment_count, 2);
    assert_string_equal(str(&d, d.comments[0]), "title: spyglass record");
    assert_string_equal(str(&d, d.comments[1]), "python: 3.11.7");
    /* Every string once. */
    for (size_t i = 0; i < d.string_count; i++) {
        for (size_t j = i + 1; j < d.string_count; j++)
            assert_string_not_equal(d.strings[i], d.strings[j]);
    }
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_samples_are_leaf_first_with_period_values(void **state)
{
    struct profile *p = sample_profile();
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.sample_count, 3);
    const struct sample *s = &d.samples[0];
    assert_int_equal(s->location_count, 2);
    assert_string_equal(str(&d, func_of(&d, s->locations[0])->name), "work");
    assert_string_equal(str(&d, func_of(&d, s->locations[1])->name), "main");
    assert_int_equal(s->value_count, 2);
    assert_int_equal(s->values[0], 300); /* a two-byte varint */
    assert_int_equal(s->values[1], 300 * 4000000ull);
    s = &d.samples[1];
    assert_int_equal(s->location_count, 3);
    assert_string_equal(str(&d, func_of(&d, s->locations[2])->name), "thread \"w\"");
    s = &d.samples[2];
    assert_true(s->values[0] == (uint64_t)1 << 40); /* a six-byte varint */
    assert_true(s->values[1] == ((uint64_t)1 << 40) * 4000000ull);
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_locations_share_functions(void **state)
{
    struct profile *p = sample_profile();
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.location_count, 4); /* one per frame */
    assert_int_equal(d.function_count, 3); /* main, work (two lines), thread */
    for (size_t i = 0; i < d.location_count; i++) {
        assert_int_equal(d.locations[i].id, i + 1);
        assert_int_equal(d.locations[i].lines, 1);
    }
    assert_int_equal(d.locations[1].line, 21);
    assert_int_equal(d.locations[2].line, 23);
    assert_int_equal(d.locations[1].function, d.locations[2].function);
    const struct function *work = func_of(&d, 2);
    assert_string_equal(str(&d, work->name), "work");
    /* No system name: pprof would strip "<...>" from names equal to it. */
    assert_int_equal(work->system_name, 0);
    assert_string_equal(str(&d, work->filename), "app.py");
    assert_int_equal(work->start_line, 21); /* smallest line seen: no first line known */
    const struct function *thread = func_of(&d, 4);
    assert_string_equal(str(&d, thread->filename), "");
    assert_int_equal(thread->start_line, 0);
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_start_line_is_the_def_line(void **state)
{
    /* spin() is defined on line 3 and sampled on line 5 only: go tool pprof
     * showed s=5. Its frames know their function's first line. */
    struct profile *p = profile_new();
    uint32_t spin = profile_frame_id(p, "spin", "app.py", 5, PF_PYTHON);
    profile_set_first_line(p, spin, 3);
    profile_set_first_line(p, spin, 9); /* the first one recorded wins */
    uint32_t spin2 = profile_frame_id(p, "spin", "app.py", 4, PF_PYTHON);
    profile_add_stack(p, &spin, 1, 2);
    profile_add_stack(p, &spin2, 1, 1);
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.function_count, 1);
    assert_int_equal(d.functions[0].start_line, 3);
    assert_int_equal(d.locations[0].line, 5);
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_one_symbolized_mapping_for_every_location(void **state)
{
    /* Without a mapping go tool pprof warns "Main binary filename not
     * available" on every command; a mapping that says it has functions,
     * file names and lines is not symbolized again. */
    struct profile *p = sample_profile();
    profile_set_meta_str(p, &profile_meta(p)->target, "pid 42 (python app.py)");
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.mapping_count, 1);
    const struct mapping *m = &d.mappings[0];
    assert_int_equal(m->id, 1);
    assert_string_equal(str(&d, m->filename), "pid 42 (python app.py)");
    assert_true(m->has_functions && m->has_filenames && m->has_line_numbers);
    for (size_t i = 0; i < d.location_count; i++)
        assert_int_equal(d.locations[i].mapping, 1);
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_native_frames_have_a_mapping_per_library(void **state)
{
    /* --native: a C frame's location belongs to its library's mapping, so
     * that pprof tells it apart from the Python code around it. */
    struct profile *p = profile_new();
    uint32_t f[4];
    f[0] = profile_frame_id(p, "compress", "app.py", 3, PF_PYTHON);
    f[1] = profile_frame_id(p, "zlib_compress", "libpython3.11.so.1.0", 0, PF_NATIVE_CODE);
    f[2] = profile_frame_id(p, "deflate", "libz.so.1.2.13", 0, PF_NATIVE_CODE);
    f[3] = profile_frame_id(p, "longest_match", "libz.so.1.2.13", 0, PF_NATIVE_CODE);
    profile_add_stack(p, f, 4, 2);
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.mapping_count, 3);
    assert_int_equal(d.mappings[1].id, 2);
    assert_string_equal(str(&d, d.mappings[1].filename), "libpython3.11.so.1.0");
    assert_int_equal(d.mappings[2].id, 3);
    assert_string_equal(str(&d, d.mappings[2].filename), "libz.so.1.2.13");
    assert_true(d.mappings[2].has_functions && d.mappings[2].has_filenames);
    static const uint64_t want[] = {1, 2, 3, 3}; /* the target's, libpython's, libz's twice */
    assert_int_equal(d.location_count, 4);
    for (size_t i = 0; i < 4; i++) /* frame id f[i] is location id f[i] + 1 */
        assert_int_equal(d.locations[f[i]].mapping, want[i]);
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_unknown_rate_uses_one_second(void **state)
{
    struct profile *p = profile_new();
    uint32_t f = profile_frame_id(p, "f", "a.py", 1, PF_PYTHON);
    profile_add_stack(p, &f, 1, 3);
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.period, 1000000000ull);
    assert_int_equal(d.samples[0].values[1], 3000000000ull);
    assert_int_equal(d.duration, 0);
    assert_int_equal(d.comment_count, 0);
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_time_weighed_profile_has_one_wall_value(void **state)
{
    /* A call tree rebuilt from a cProfile dump: weights in microseconds and
     * no samples to count. */
    struct profile *p = profile_new();
    profile_set_meta_str(p, &profile_meta(p)->unit, "microseconds");
    uint32_t f = profile_frame_id(p, "<module>", "a.py", 1, PF_PYTHON);
    profile_add_stack(p, &f, 1, 1500);
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.sample_type_count, 1);
    assert_string_equal(str(&d, d.sample_type[0][0]), "wall");
    assert_string_equal(str(&d, d.sample_type[0][1]), "nanoseconds");
    assert_int_equal(d.sample_count, 1);
    assert_int_equal(d.samples[0].value_count, 1);
    assert_int_equal(d.samples[0].values[0], 1500000);
    assert_int_equal(d.period, 1000);
    assert_string_equal(str(&d, d.functions[0].name), "<module>");
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_byte_weighed_profile_has_one_space_value(void **state)
{
    /* record --memory: weights are bytes of growth, not samples. */
    struct profile *p = profile_new();
    profile_set_meta_str(p, &profile_meta(p)->unit, "bytes");
    profile_meta(p)->rate_hz = 100;
    uint32_t f = profile_frame_id(p, "grow", "a.py", 3, PF_PYTHON);
    profile_add_stack(p, &f, 1, 4096);
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.sample_type_count, 1);
    assert_string_equal(str(&d, d.sample_type[0][0]), "space");
    assert_string_equal(str(&d, d.sample_type[0][1]), "bytes");
    assert_int_equal(d.samples[0].value_count, 1);
    assert_int_equal(d.samples[0].values[0], 4096);
    assert_int_equal(d.period, 10000000); /* still the sampling period */
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_output_is_deterministic(void **state)
{
    struct profile *p = sample_profile();
    size_t a_size, b_size;
    char *a = render(p, &a_size);
    char *b = render(p, &b_size);
    assert_int_equal(a_size, b_size);
    assert_memory_equal(a, b, a_size);
    /* gzip header: no mtime (bytes 4-7 zero). */
    assert_int_equal(a[4] | a[5] | a[6] | a[7], 0);
    free(a);
    free(b);
    profile_free(p);
}

static void test_pprof_empty_profile(void **state)
{
    struct profile *p = profile_new();
    size_t size;
    char *buf = render(p, &size);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.sample_count, 0);
    assert_int_equal(d.sample_type_count, 2);
    release(&d);
    free(buf);
    profile_free(p);
}

static void test_pprof_write_error_is_reported(void **state)
{
    struct profile *p = sample_profile();
    FILE *full = fopen("/dev/full", "w");
    if (!full)
        skip();
    setvbuf(full, NULL, _IONBF, 0);
    assert_int_not_equal(pprof_write(p, full, &(struct format_options){0}), 0);
    fclose(full);
    profile_free(p);
}

/* The agent's windows: leading PF_LABEL frames are sample labels, not
 * locations; the start time is time_nanos; "cpu" replaces "wall". */
static void test_pprof_label_frames_become_sample_labels(void **state)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    m->rate_hz = 19;
    m->start_unix_ns = 1796000000123456789ull;
    uint32_t thread = profile_frame_id(p, "thread", "MainThread", 0, PF_LABEL);
    uint32_t gil = profile_frame_id(p, "gil", "true", 0, PF_LABEL);
    uint32_t work = profile_frame_id(p, "work", "app.py", 21, PF_PYTHON);
    profile_add_stack(p, (uint32_t[]){thread, gil, work}, 3, 5);
    char *buf = NULL;
    size_t size;
    FILE *out = open_memstream(&buf, &size);
    assert_int_equal(pprof_write(p, out, &(struct format_options){.time_type = "cpu"}), 0);
    fclose(out);
    struct decoded d;
    decode(buf, size, &d);
    assert_int_equal(d.time, 1796000000123456789ull);
    assert_string_equal(str(&d, d.sample_type[1][0]), "cpu");
    assert_string_equal(str(&d, d.period_type[0]), "cpu");
    assert_int_equal(d.sample_count, 1);
    assert_int_equal(d.samples[0].location_count, 1); /* work only */
    assert_string_equal(str(&d, func_of(&d, d.samples[0].locations[0])->name), "work");
    assert_int_equal(d.samples[0].label_count, 2);
    assert_string_equal(str(&d, d.samples[0].labels[0][0]), "thread");
    assert_string_equal(str(&d, d.samples[0].labels[0][1]), "MainThread");
    assert_string_equal(str(&d, d.samples[0].labels[1][0]), "gil");
    assert_string_equal(str(&d, d.samples[0].labels[1][1]), "true");
    for (size_t i = 0; i < d.function_count; i++)
        assert_string_not_equal(str(&d, d.functions[i].name), "thread");
    release(&d);
    free(buf);
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pprof_header_and_value_types),
        cmocka_unit_test(test_pprof_samples_are_leaf_first_with_period_values),
        cmocka_unit_test(test_pprof_locations_share_functions),
        cmocka_unit_test(test_pprof_start_line_is_the_def_line),
        cmocka_unit_test(test_pprof_one_symbolized_mapping_for_every_location),
        cmocka_unit_test(test_pprof_native_frames_have_a_mapping_per_library),
        cmocka_unit_test(test_pprof_unknown_rate_uses_one_second),
        cmocka_unit_test(test_pprof_time_weighed_profile_has_one_wall_value),
        cmocka_unit_test(test_pprof_byte_weighed_profile_has_one_space_value),
        cmocka_unit_test(test_pprof_output_is_deterministic),
        cmocka_unit_test(test_pprof_empty_profile),
        cmocka_unit_test(test_pprof_write_error_is_reported),
        cmocka_unit_test(test_pprof_label_frames_become_sample_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
