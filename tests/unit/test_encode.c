/*
 * test_encode.c - the agent's push bodies (agent/otlp.c, agent/pyroscope.c),
 * decoded again by a few lines of protobuf reading: the OTLP request's
 * resource, dictionary tables (entry 0 the zero value), stacks leaf first,
 * sample attributes; Pyroscope's series labels around the pprof bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/encode.h"

/* ---- reading protobuf back ---- */

struct field {
    unsigned number, wire;
    uint64_t value;      /* varint or fixed64 */
    const uint8_t *data; /* length-delimited */
    size_t len;
};

static uint64_t varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            break;
    }
    return v;
}

/* The fields of msg[0..len) numbered number, into out (at most max). */
static size_t fields(const uint8_t *msg, size_t len, unsigned number, struct field *out, size_t max)
{
    const uint8_t *p = msg, *end = msg + len;
    size_t n = 0;
    while (p < end) {
        uint64_t key = varint(&p, end);
        struct field f = {(unsigned)(key >> 3), (unsigned)(key & 7), 0, NULL, 0};
        if (f.wire == 0) {
            f.value = varint(&p, end);
        } else if (f.wire == 1) {
            memcpy(&f.value, p, 8);
            p += 8;
        } else {
            f.len = varint(&p, end);
            f.data = p;
            p += f.len;
        }
        if (f.number == number && n < max)
            out[n++] = f;
    }
    return n;
}

static struct field one(const uint8_t *msg, size_t len, unsigned number)
{
    struct field f[1];
    assert_int_equal(fields(msg, len, number, f, 1), 1);
    return f[0];
}

static uint64_t varint_of(const uint8_t *msg, size_t len, unsigned number)
{
    struct field f[1];
    return fields(msg, len, number, f, 1) ? f[0].value : 0;
}

static int same(struct field f, const char *s)
{
    return f.len == strlen(s) && memcmp(f.data, s, f.len) == 0;
}

/* ---- the profile ---- */

/* Two samples of one stack <module> -> work, by two threads; idle labels. */
static struct profile *sample_profile(void)
{
    struct profile *p = profile_new();
    uint32_t module = profile_frame_id(p, "<module>", "/app.py", 10, PF_PYTHON);
    uint32_t work = profile_frame_id(p, "work", "/app.py", 4, PF_PYTHON);
    uint32_t main_thread = profile_frame_id(p, LABEL_THREAD, "MainThread", 0, PF_LABEL);
    uint32_t worker = profile_frame_id(p, LABEL_THREAD, "worker", 0, PF_LABEL);
    uint32_t busy = profile_frame_id(p, LABEL_IDLE, "false", 0, PF_LABEL);
    uint32_t a[] = {main_thread, busy, module, work}, b[] = {worker, busy, module, work};
    profile_add_stack(p, a, 4, 7);
    profile_add_stack(p, b, 4, 3);
    struct profile_meta *m = profile_meta(p);
    m->rate_hz = 20;
    m->start_unix_ns = 1796000000000000000ull;
    m->duration_s = 15;
    return p;
}

static const struct agent_labels labels = {"process_cpu", "shop", "box1", "3.11.7", 4242};

static void test_encode_otlp_request_reads_back(void **state)
{
    struct profile *p = sample_profile();
    struct strbuf out;
    strbuf_init(&out);
    encode_otlp(p, &labels, &out);
    const uint8_t *req = (const uint8_t *)out.buf;
    struct field dict = one(req, out.len, 2), rp = one(req, out.len, 1);

    struct field strings[64];
    size_t nstrings = fields(dict.data, dict.len, 5, strings, 64);
    assert_true(nstrings > 5);
    assert_int_equal(strings[0].len, 0); /* "" first */

    /* the resource: service.name and process.pid */
    struct field res = one(rp.data, rp.len, 1), attrs[8];
    size_t nattrs = fields(res.data, res.len, 1, attrs, 8);
    assert_int_equal(nattrs, 5);
    assert_true(same(one(attrs[0].data, attrs[0].len, 1), "service.name"));
    struct field value = one(attrs[0].data, attrs[0].len, 2);
    assert_true(same(one(value.data, value.len, 1), "shop"));
    value = one(attrs[2].data, attrs[2].len, 2);
    assert_int_equal(varint_of(value.data, value.len, 3), 4242);

    /* the profile */
    struct field sp = one(rp.data, rp.len, 2), prof = one(sp.data, sp.len, 2);
    assert_int_equal(one(prof.data, prof.len, 3).value, 1796000000000000000ull);
    assert_int_equal(varint_of(prof.data, prof.len, 6), 50000000); /* 1e9 / 20 Hz */
    struct field samples[4], stacks[4], locations[8], functions[8], table[8];
    assert_int_equal(fields(prof.data, prof.len, 2, samples, 4), 2);
    assert_int_equal(fields(dict.data, dict.len, 7, stacks, 4), 3);    /* zero + 2 */
    assert_int_equal(fields(dict.data, dict.len, 2, locations, 8), 3); /* zero + 2 */
    assert_int_equal(fields(dict.data, dict.len, 3, functions, 8), 3); /* zero + 2 */
    assert_int_equal(fields(dict.data, dict.len, 6, table, 8), 4);     /* zero + 3 */
    assert_int_equal(stacks[0].len, 0);
    assert_int_equal(locations[0].len, 0);

    /* sample 0: stack 1, weight 7, attributes thread.name=MainThread, spyglass.idle=false */
    struct field s0 = samples[0];
    assert_int_equal(varint_of(s0.data, s0.len, 1), 1);
    struct field vals = one(s0.data, s0.len, 4);
    const uint8_t *vp = vals.data;
    assert_int_equal(varint(&vp, vals.data + vals.len), 7);
    struct field attr_ix = one(s0.data, s0.len, 2);
    vp = attr_ix.data;
    uint64_t first_attr = varint(&vp, attr_ix.data + attr_ix.len);
    struct field kv = table[first_attr];
    uint64_t key = varint_of(kv.data, kv.len, 1);
    assert_true(same(strings[key], "thread.name"));
    value = one(kv.data, kv.len, 2);
    assert_true(same(one(value.data, value.len, 1), "MainThread"));

    /* its stack: leaf (work, line 4) first */
    struct field ix = one(stacks[1].data, stacks[1].len, 1);
    vp = ix.data;
    uint64_t leaf = varint(&vp, ix.data + ix.len);
    struct field line = one(locations[leaf].data, locations[leaf].len, 3);
    assert_int_equal(varint_of(line.data, line.len, 2), 4);
    uint64_t fn = varint_of(line.data, line.len, 1);
    assert_true(same(strings[varint_of(functions[fn].data, functions[fn].len, 1)], "work"));

    strbuf_release(&out);
    profile_free(p);
}

static void test_encode_pyroscope_push_request_labels_the_series(void **state)
{
    struct strbuf out;
    strbuf_init(&out);
    encode_pyroscope(&labels, "PPROF", 5, &out);
    struct field series = one((const uint8_t *)out.buf, out.len, 1), pairs[8];
    size_t n = fields(series.data, series.len, 1, pairs, 8);
    assert_int_equal(n, 5);
    const char *want[][2] = {{"__name__", "process_cpu"},
                             {"service_name", "shop"},
                             {"host", "box1"},
                             {"pid", "4242"},
                             {"python_version", "3.11.7"}};
    for (size_t i = 0; i < n; i++) {
        assert_true(same(one(pairs[i].data, pairs[i].len, 1), want[i][0]));
        assert_true(same(one(pairs[i].data, pairs[i].len, 2), want[i][1]));
    }
    struct field sample = one(series.data, series.len, 2);
    assert_true(same(one(sample.data, sample.len, 1), "PPROF"));
    strbuf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_otlp_request_reads_back),
        cmocka_unit_test(test_encode_pyroscope_push_request_labels_the_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
