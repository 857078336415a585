/*
 * test_speedscope.c - the speedscope writer: document shape, shared frames,
 * one sampled profile of all stacks without a timeline and one per thread
 * with it, JSON escaping (through the shared json.c), determinism and write
 * errors. Documents are parsed by Python's json module (json_check.h); the
 * official schema is checked in tests/e2e/test_formats_schema.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format/format.h"
#include "format/json.h"
#include "json_check.h"
#include "profile/profile.h"
#include "util/err.h"

static char *render(const struct profile *p, int full_filenames, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_non_null(out);
    struct format_options opt = {.full_filenames = full_filenames};
    assert_int_equal(speedscope_write(p, out, &opt), 0);
    fclose(out);
    *len = size;
    return buf;
}

/* Renders p and runs the Python assertions on it. */
static void check(const struct profile *p, const char *script)
{
    if (!json_check_available())
        skip();
    size_t len;
    char *json = render(p, 0, &len);
    int rc = json_check(json, len, script);
    if (rc != 0)
        fprintf(stderr, "document was:\n%s\n", json);
    assert_int_equal(rc, 0);
    free(json);
}

/* thread root -> main -> work | idle, weights 3 and 4, no timeline. */
static struct profile *aggregate_profile(void)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->target, "pid 77: python app.py");
    uint32_t thread = profile_frame_id(p, "thread \"MainThread\" (tid 77)", "", 0, PF_THREAD);
    uint32_t main_ = profile_frame_id(p, "main", "/srv/app.py", 3, PF_PYTHON);
    uint32_t work =
        profile_frame_id(p, "work", "/venv/lib/python3.11/site-packages/lib/w.py", 0, PF_PYTHON);
    uint32_t idle = profile_frame_id(p, "(idle)", "", 0, PF_NATIVE);
    profile_add_stack(p, (uint32_t[]){thread, main_, work}, 3, 3);
    profile_add_stack(p, (uint32_t[]){thread, main_, idle}, 3, 4);
    return p;
}

static void test_speedscope_document_shape(void **state)
{
    struct profile *p = aggregate_profile();
    check(p, "assert d['$schema'] == 'https://www.speedscope.app/file-format-schema.json'\n"
             "assert d['exporter'].startswith('spyglass ')\n"
             "assert d['name'] == 'pid 77: python app.py'\n"
             "assert d['activeProfileIndex'] == 0\n"
             "assert set(d) == {'$schema', 'exporter', 'name', 'activeProfileIndex', 'shared',"
             " 'profiles'}\n");
    profile_free(p);
}

static void test_speedscope_shared_frames_follow_frame_ids(void **state)
{
    struct profile *p = aggregate_profile();
    check(p, "assert d['shared']['frames'] == [\n"
             "    {'name': 'thread \"MainThread\" (tid 77)'},\n"
             "    {'name': 'main', 'file': '/srv/app.py', 'line': 3},\n"
             "    {'name': 'work', 'file': 'lib/w.py'},\n"
             "    {'name': '(idle)'}], d['shared']['frames']\n");
    profile_free(p);
}

static void test_speedscope_without_timeline_one_profile_of_all_stacks(void **state)
{
    struct profile *p = aggregate_profile();
    uint32_t lonely = profile_frame_id(p, "never", "x.py", 1, PF_PYTHON);
    profile_add_stack(p, &lonely, 1, 0); /* weight 0: left out */
    check(p, "assert d['profiles'] == [{'type': 'sampled', 'name': 'all samples',\n"
             "    'unit': 'none', 'startValue': 0, 'endValue': 7,\n"
             "    'samples': [[0, 1, 2], [0, 1, 3]], 'weights': [3, 4]}], d['profiles']\n");
    profile_free(p);
}

static void test_speedscope_maps_known_units(void **state)
{
    struct profile *p = aggregate_profile();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->unit, "bytes");
    check(p, "assert d['profiles'][0]['unit'] == 'bytes'\n");
    profile_set_meta_str(p, &m->unit, "ns");
    check(p, "assert d['profiles'][0]['unit'] == 'nanoseconds'\n");
    profile_set_meta_str(p, &m->unit, "furlongs");
    check(p, "assert d['profiles'][0]['unit'] == 'none'\n");
    profile_free(p);
}

static void test_speedscope_samples_at_a_known_rate_are_microseconds(void **state)
{
    /* speedscope shows counts for "none": give it time where we know it. */
    struct profile *p = aggregate_profile();
    struct profile_meta *m = profile_meta(p);
    m->rate_hz = 100;
    check(p, "pr = d['profiles'][0]\n"
             "assert pr['unit'] == 'microseconds', pr\n"
             "assert pr['weights'] == [30000, 40000] and pr['endValue'] == 70000, pr\n");
    m->rate_hz = 97; /* 10309.278 us a tick: rounded per sample entry */
    check(p, "pr = d['profiles'][0]\n"
             "assert pr['weights'] == [30928, 41237] and pr['endValue'] == 72165, pr\n");
    profile_set_meta_str(p, &m->unit, "bytes"); /* record --memory: bytes stay bytes */
    check(p, "pr = d['profiles'][0]\n"
             "assert pr['unit'] == 'bytes' and pr['weights'] == [3, 4], pr\n");
    profile_free(p);
}

static void test_speedscope_timeline_ticks_are_microseconds_at_a_known_rate(void **state)
{
    struct profile *p = profile_new();
    profile_meta(p)->rate_hz = 200;
    profile_enable_timeline(p);
    uint32_t a = profile_frame_id(p, "a", "m.py", 1, PF_PYTHON);
    uint32_t s = profile_add_stack(p, &a, 1, 1);
    for (uint64_t t = 0; t < 3; t++)
        profile_add_event(p, t * 5000000, 1, s);
    check(p, "pr = d['profiles'][0]\n"
             "assert pr['unit'] == 'microseconds' and pr['weights'] == [15000], pr\n"
             "assert pr['endValue'] == 15000\n");
    profile_free(p);
}

static void test_speedscope_timeline_gives_one_profile_per_thread(void **state)
{
    struct profile *p = profile_new();
    profile_enable_timeline(p);
    uint32_t a = profile_frame_id(p, "a", "m.py", 1, PF_PYTHON);
    uint32_t b = profile_frame_id(p, "b", "m.py", 2, PF_PYTHON);
    uint32_t sa = profile_add_stack(p, &a, 1, 1);
    uint32_t sab = profile_add_stack(p, (uint32_t[]){a, b}, 2, 1);
    /* Thread 200 is added first but sorts after 100; thread 100's events
     * arrive out of time order. */
    profile_add_event(p, 0, 200, sa);
    profile_add_event(p, 30, 100, sab);
    profile_add_event(p, 10, 100, sa);
    profile_add_event(p, 20, 100, sa);
    profile_add_event(p, 40, 100, sa);
    profile_add_event(p, 10, 200, sa);
    profile_add_event(p, 50, 100, 999); /* an unknown stack id is skipped */
    profile_set_thread_name(p, 100, "MainThread");
    check(p, "ps = d['profiles']\n"
             "assert [x['name'] for x in ps] == ['MainThread (tid 100)', 'tid 200']\n"
             "assert ps[0]['samples'] == [[0], [0, 1], [0]], ps[0]\n"
             "assert ps[0]['weights'] == [2, 1, 1]\n"
             "assert ps[0]['endValue'] == 4 and ps[0]['unit'] == 'none'\n"
             "assert ps[1]['samples'] == [[0]] and ps[1]['weights'] == [2]\n"
             "assert d['activeProfileIndex'] == 0\n");
    profile_free(p);
}

static void test_speedscope_opens_the_busiest_thread(void **state)
{
    struct profile *p = profile_new();
    profile_enable_timeline(p);
    uint32_t a = profile_frame_id(p, "a", "m.py", 1, PF_PYTHON);
    uint32_t s = profile_add_stack(p, &a, 1, 1);
    profile_add_event(p, 0, 1, s);
    for (uint64_t t = 0; t < 3; t++)
        profile_add_event(p, t, 2, s);
    check(p, "assert d['activeProfileIndex'] == 1\n");
    profile_free(p);
}

static void test_speedscope_empty_profile_is_valid(void **state)
{
    struct profile *p = profile_new();
    check(p, "assert d['shared']['frames'] == []\n"
             "assert d['profiles'][0]['samples'] == [] and d['profiles'][0]['endValue'] == 0\n"
             "assert d['name'] == 'spyglass profile'\n");
    profile_enable_timeline(p); /* enabled but empty: the aggregate again */
    check(p, "assert d['profiles'][0]['name'] == 'all samples'\n");
    profile_free(p);
}

static void test_speedscope_escapes_hostile_names(void **state)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->target, "pid 1: \"quoted\" \\ back");
    uint32_t f = profile_frame_id(p, "a\"b\\c\nd\x01\x1f\t</script>", "f\r.py", 1, PF_PYTHON);
    uint32_t g = profile_frame_id(
        p, "bad \xff utf8 \xc3\x28 \xed\xa0\x80 ok \xc3\xa9 \xf0\x9f\x94\xa5", "", 0, PF_PYTHON);
    profile_add_stack(p, (uint32_t[]){f, g}, 2, 1);
    check(p, "fr = d['shared']['frames']\n"
             "assert d['name'] == 'pid 1: \"quoted\" \\\\ back'\n"
             "assert fr[0]['name'] == 'a\"b\\\\c\\nd\\x01\\x1f\\t</script>', fr[0]\n"
             "assert fr[0]['file'] == 'f\\r.py'\n"
             "assert fr[1]['name'] == 'bad \\ufffd utf8 \\ufffd( \\ufffd\\ufffd\\ufffd ok "
             "\\u00e9 \\U0001f525', ascii(fr[1]['name'])\n");
    profile_free(p);
}

static void test_json_string_exact_bytes(void **state)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    json_string(out, "q\"b\\n\n\x01\x7f\xe2\x82\xac\xc0\xaf\xf4\x90\x80\x80\xe2\x82");
    putc(' ', out);
    json_number(out, 0.1);
    putc(' ', out);
    json_number(out, 1.0 / 0.0);
    putc(' ', out);
    json_number(out, 100);
    fclose(out);
    assert_string_equal(buf, "\"q\\\"b\\\\n\\u000a\\u0001\x7f\xe2\x82\xac"
                             "\xef\xbf\xbd\xef\xbf\xbd"                         /* overlong */
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" /* > U+10FFFF */
                             "\xef\xbf\xbd\xef\xbf\xbd\" 0.1 null 100");        /* truncated */
    free(buf);
}

static void test_speedscope_output_is_deterministic(void **state)
{
    struct profile *p = aggregate_profile();
    size_t len1, len2;
    char *one = render(p, 0, &len1), *two = render(p, 0, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(one, two, len1);
    free(one);
    free(two);
    profile_free(p);
}

static void test_speedscope_full_filenames(void **state)
{
    struct profile *p = aggregate_profile();
    size_t len;
    char *json = render(p, 1, &len);
    assert_non_null(strstr(json, "\"file\":\"/venv/lib/python3.11/site-packages/lib/w.py\""));
    free(json);
    profile_free(p);
}

static void test_speedscope_reports_write_errors(void **state)
{
    FILE *full = fopen("/dev/full", "w");
    if (!full)
        skip();
    struct profile *p = aggregate_profile();
    assert_int_equal(speedscope_write(p, full, NULL), -SG_EIO);
    fclose(full);
    profile_free(p);
}

static void test_speedscope_native_frames_have_their_library_as_file(void **state)
{
    struct profile *p = profile_new();
    uint32_t ids[2] = {profile_frame_id(p, "work", "/srv/app.py", 3, PF_PYTHON),
                       profile_frame_id(p, "deflate", "libz.so.1.2.13", 0, PF_NATIVE_CODE)};
    profile_add_stack(p, ids, 2, 2);
    check(p, "f = d['shared']['frames']\n"
             "assert f[0] == {'name': 'work', 'file': '/srv/app.py', 'line': 3}\n"
             "assert f[1] == {'name': 'deflate', 'file': 'libz.so.1.2.13'}\n");
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speedscope_native_frames_have_their_library_as_file),
        cmocka_unit_test(test_speedscope_document_shape),
        cmocka_unit_test(test_speedscope_shared_frames_follow_frame_ids),
        cmocka_unit_test(test_speedscope_without_timeline_one_profile_of_all_stacks),
        cmocka_unit_test(test_speedscope_maps_known_units),
        cmocka_unit_test(test_speedscope_samples_at_a_known_rate_are_microseconds),
        cmocka_unit_test(test_speedscope_timeline_ticks_are_microseconds_at_a_known_rate),
        cmocka_unit_test(test_speedscope_timeline_gives_one_profile_per_thread),
        cmocka_unit_test(test_speedscope_opens_the_busiest_thread),
        cmocka_unit_test(test_speedscope_empty_profile_is_valid),
        cmocka_unit_test(test_speedscope_escapes_hostile_names),
        cmocka_unit_test(test_json_string_exact_bytes),
        cmocka_unit_test(test_speedscope_output_is_deterministic),
        cmocka_unit_test(test_speedscope_full_filenames),
        cmocka_unit_test(test_speedscope_reports_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
