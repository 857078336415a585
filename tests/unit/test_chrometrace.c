/*
 * test_chrometrace.c - the Trace Event Format writer: one track per thread
 * with complete events that continue while a frame stays on the stack, end
 * when it leaves and break over gaps; the aggregate laid end to end when
 * there is no timeline; metadata events, pid from the target, escaping and
 * write errors. Documents are parsed by Python's json module (json_check.h).
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
#include "json_check.h"
#include "profile/profile.h"
#include "util/err.h"

#define MS 1000000ull /* ns */

static char *render(const struct profile *p, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_non_null(out);
    assert_int_equal(chrometrace_write(p, out, NULL), 0);
    fclose(out);
    *len = size;
    return buf;
}

/* Python helpers available to every check: spans(tid) lists a track's
 * complete events as (name, ts, dur) in file order; U is the time unit
 * (1/1024 us), by which spans ending together are taken apart. */
static const char helpers[] = "ev = d['traceEvents']\n"
                              "U = 1 / 1024.0\n"
                              "def spans(tid):\n"
                              "    return [(e['name'], e['ts'], e['dur']) for e in ev if e['ph'] "
                              "== 'X' and e['tid'] == tid]\n"
                              "def meta(kind):\n"
                              "    return {e['tid']: e['args']['name'] for e in ev if e['ph'] == "
                              "'M' and e['name'] == kind}\n";

static void check(const struct profile *p, const char *script)
{
    if (!json_check_available())
        skip();
    size_t len;
    char *json = render(p, &len);
    char *program = malloc(sizeof(helpers) + strlen(script));
    assert_non_null(program);
    strcpy(program, helpers);
    strcat(program, script);
    int rc = json_check(json, len, program);
    if (rc != 0)
        fprintf(stderr, "document was:\n%s\n", json);
    assert_int_equal(rc, 0);
    free(program);
    free(json);
}

static struct profile *timeline_profile(double rate_hz)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->target, "pid 4321: python app.py");
    m->rate_hz = rate_hz;
    profile_enable_timeline(p);
    return p;
}

static uint32_t stack_of(struct profile *p, size_t depth, const char *const *names)
{
    uint32_t ids[8];
    for (size_t i = 0; i < depth; i++)
        ids[i] = profile_frame_id(p, names[i], "/srv/app.py", (int)i + 1, PF_PYTHON);
    return profile_add_stack(p, ids, depth, 1);
}

static void test_chrometrace_frames_continue_end_and_begin_with_the_stack(void **state)
{
    struct profile *p = timeline_profile(1000); /* 1 ms period */
    uint32_t ab = stack_of(p, 2, (const char *[]){"a", "b"});
    uint32_t ac = stack_of(p, 2, (const char *[]){"a", "c"});
    uint32_t a = stack_of(p, 1, (const char *[]){"a"});
    profile_add_event(p, 0 * MS, 7, ab);
    profile_add_event(p, 1 * MS, 7, ab);
    profile_add_event(p, 2 * MS, 7, ac);
    profile_add_event(p, 3 * MS, 7, a);
    profile_add_event(p, 4 * MS, 7, ab);
    /* At 2 ms b ends as c begins; at the end b (inner) ends before a. */
    check(p, "assert spans(7) == [('a', 0, 5000 - U), ('b', 0, 2000 - U), ('c', 2000, 1000 - U),\n"
             "                    ('b', 4000, 1000 - 2 * U)], spans(7)\n");
    profile_free(p);
}

static void test_chrometrace_one_track_per_thread_with_names(void **state)
{
    struct profile *p = timeline_profile(100);
    uint32_t a = stack_of(p, 1, (const char *[]){"a"});
    uint32_t b = stack_of(p, 1, (const char *[]){"b"});
    profile_add_event(p, 0, 4321, a);
    profile_add_event(p, 0, 4400, b);
    profile_add_event(p, 10 * MS, 4321, a);
    profile_add_event(p, 10 * MS, 4400, b);
    profile_set_thread_name(p, 4321, "MainThread");
    check(p, "assert meta('thread_name') == {4321: 'MainThread (tid 4321)', 4400: 'tid 4400'}\n"
             "assert meta('process_name') == {0: 'pid 4321: python app.py'}\n"
             "assert {e['pid'] for e in ev} == {4321}\n"
             "assert spans(4321) == [('a', 0, 20000 - U)]\n"
             "assert spans(4400) == [('b', 0, 20000 - U)]\n"
             "assert d['displayTimeUnit'] == 'ms'\n"
             "o = d['otherData']\n"
             "assert o['exporter'].startswith('spyglass ') and o['view'] == 'timeline'\n"
             "assert o['rate_hz'] == 100 and o['target'] == 'pid 4321: python app.py'\n");
    profile_free(p);
}

static void test_chrometrace_gaps_end_the_open_frames(void **state)
{
    struct profile *p = timeline_profile(1000);
    uint32_t a = stack_of(p, 1, (const char *[]){"a"});
    profile_add_event(p, 0, 1, a);
    profile_add_event(p, 1 * MS, 1, a);
    profile_add_event(p, 3 * MS, 1, a);  /* 2 periods later: still one span */
    profile_add_event(p, 10 * MS, 1, a); /* 7 periods later: a new one */
    check(p, "assert spans(1) == [('a', 0, 4000 - U), ('a', 10000, 1000 - U)], spans(1)\n");
    profile_free(p);
}

static void test_chrometrace_times_are_exact_binary_fractions(void **state)
{
    struct profile *p = timeline_profile(0); /* unknown rate: 1 ms tail */
    uint32_t a = stack_of(p, 1, (const char *[]){"a"});
    uint32_t b = stack_of(p, 1, (const char *[]){"b"});
    profile_add_event(p, 1500, 1, a);
    profile_add_event(p, 2750, 1, b);
    size_t len;
    char *json = render(p, &len);
    /* 1.5 us and 2.75 us are whole 1/1024 us, written in full; a ends one
     * unit (0.0009765625 us) before b begins. */
    assert_non_null(strstr(json, "\"ph\":\"X\",\"ts\":1.5,\"dur\":1.2490234375,"));
    assert_non_null(strstr(json, "\"ph\":\"X\",\"ts\":2.75,\"dur\":999.9990234375,"));
    free(json);
    profile_free(p);
}

static void test_chrometrace_a_span_ends_before_the_next_begins_in_doubles(void **state)
{
    /* The numbers: a span from 60082.186 us lasting 10004.718 us,
     * the next one starting at 70086.904 us. As decimal fractions, ts + dur
     * came to 70086.90400000001 in a viewer's doubles, past the next start. */
    struct profile *p = timeline_profile(100);
    uint32_t a = stack_of(p, 1, (const char *[]){"a"});
    uint32_t b = stack_of(p, 1, (const char *[]){"b"});
    uint64_t t = 60082186;
    for (int i = 0; i < 5; i++) /* samples every ~2 ms keep a open */
        profile_add_event(p, t + (uint64_t)i * 2000000, 1, a);
    profile_add_event(p, 70086904, 1, b);
    check(p, "s = spans(1)\n"
             "assert [x[0] for x in s] == ['a', 'b'], s\n"
             "assert all((v * 1024).is_integer() for x in s for v in x[1:]), s\n"
             "assert s[0][1] + s[0][2] == s[1][1] - U, s\n"
             "assert abs(s[1][1] - 70086.904) < 0.001, s\n");
    profile_free(p);
}

static void test_chrometrace_same_name_frames_never_end_together(void **state)
{
    /* a;f;f2 -> b;f: f ends as an f begins (the stack changed below it),
     * and f and f2 (one name, two lines) end together. Speedscope lost the
     * stack on both; each end now has a time of its own, before the begins. */
    struct profile *p = timeline_profile(1000);
    uint32_t a = profile_frame_id(p, "a", "m.py", 1, PF_PYTHON);
    uint32_t b = profile_frame_id(p, "b", "m.py", 2, PF_PYTHON);
    uint32_t f = profile_frame_id(p, "f", "m.py", 3, PF_PYTHON);
    uint32_t f2 = profile_frame_id(p, "f", "m.py", 4, PF_PYTHON);
    uint32_t s1 = profile_add_stack(p, (uint32_t[]){a, f, f2}, 3, 1);
    uint32_t s2 = profile_add_stack(p, (uint32_t[]){b, f}, 2, 1);
    profile_add_event(p, 0, 1, s1);
    profile_add_event(p, 1 * MS, 1, s2);
    check(
        p,
        "assert spans(1) == [('a', 0, 1000 - U), ('f', 0, 1000 - 2 * U),\n"
        "    ('f', 0, 1000 - 3 * U), ('b', 1000, 1000 - U), ('f', 1000, 1000 - 2 * U)], spans(1)\n"
        "times = [t for _, ts, dur in spans(1) for t in (ts + dur,)]\n"
        "assert len(set(times)) == len(times)\n");
    profile_free(p);
}

static void test_chrometrace_python_frames_carry_file_and_line(void **state)
{
    struct profile *p = timeline_profile(100);
    uint32_t t = profile_frame_id(p, "thread \"w\" (tid 3)", "", 0, PF_THREAD);
    uint32_t f =
        profile_frame_id(p, "get", "/v/lib/python3.11/site-packages/r/api.py", 73, PF_PYTHON);
    uint32_t s = profile_add_stack(p, (uint32_t[]){t, f}, 2, 1);
    profile_add_event(p, 0, 3, s);
    check(p, "x = [e for e in ev if e['ph'] == 'X']\n"
             "assert x[0]['cat'] == 'thread' and 'args' not in x[0]\n"
             "assert x[1]['cat'] == 'python'\n"
             "assert x[1]['args'] == {'file': 'r/api.py', 'line': 73}, x[1]\n");
    profile_free(p);
}

static void test_chrometrace_without_timeline_lays_the_aggregate_end_to_end(void **state)
{
    struct profile *p = profile_new();
    profile_meta(p)->rate_hz = 100; /* 10 ms per sample */
    uint32_t a = profile_frame_id(p, "a", "m.py", 1, PF_PYTHON);
    uint32_t b = profile_frame_id(p, "b", "m.py", 2, PF_PYTHON);
    uint32_t c = profile_frame_id(p, "c", "m.py", 3, PF_PYTHON);
    uint32_t z = profile_frame_id(p, "z", "m.py", 4, PF_PYTHON);
    profile_add_stack(p, &z, 1, 1);
    profile_add_stack(p, (uint32_t[]){a, c}, 2, 1);
    profile_add_stack(p, (uint32_t[]){a, b}, 2, 2);
    profile_add_stack(p, NULL, 0, 5); /* nothing to draw */
    check(p, "assert {e['pid'] for e in ev} == {1}\n"
             "assert meta('thread_name') == {1: 'all samples (aggregate, not a timeline)'}\n"
             "assert spans(1) == [('a', 0, 30000 - U), ('b', 0, 20000 - U),\n"
             "    ('c', 20000, 10000 - 2 * U), ('z', 30000, 10000 - U)], spans(1)\n"
             "assert d['otherData']['view'] == 'aggregate'\n");
    profile_free(p);
}

static void test_chrometrace_empty_profile_is_valid(void **state)
{
    struct profile *p = profile_new();
    check(p, "assert [e['ph'] for e in ev] == ['M', 'M']\n"
             "assert d['otherData']['rate_hz'] == 0\n");
    profile_free(p);
}

static void test_chrometrace_escapes_hostile_names(void **state)
{
    struct profile *p = timeline_profile(100);
    uint32_t f = profile_frame_id(p, "x\"}],\n\x02\xff", "/a\\b.py", 1, PF_PYTHON);
    uint32_t s = profile_add_stack(p, &f, 1, 1);
    profile_add_event(p, 0, 9, s);
    profile_set_thread_name(p, 9, "t\"\n");
    check(p, "assert spans(9)[0][0] == 'x\"}],\\n\\x02\\ufffd'\n"
             "assert meta('thread_name') == {9: 't\"\\n (tid 9)'}\n");
    profile_free(p);
}

static void test_chrometrace_reports_write_errors(void **state)
{
    FILE *full = fopen("/dev/full", "w");
    if (!full)
        skip();
    struct profile *p = profile_new();
    assert_int_equal(chrometrace_write(p, full, NULL), -SG_EIO);
    fclose(full);
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chrometrace_frames_continue_end_and_begin_with_the_stack),
        cmocka_unit_test(test_chrometrace_one_track_per_thread_with_names),
        cmocka_unit_test(test_chrometrace_gaps_end_the_open_frames),
        cmocka_unit_test(test_chrometrace_times_are_exact_binary_fractions),
        cmocka_unit_test(test_chrometrace_a_span_ends_before_the_next_begins_in_doubles),
        cmocka_unit_test(test_chrometrace_same_name_frames_never_end_together),
        cmocka_unit_test(test_chrometrace_python_frames_carry_file_and_line),
        cmocka_unit_test(test_chrometrace_without_timeline_lays_the_aggregate_end_to_end),
        cmocka_unit_test(test_chrometrace_empty_profile_is_valid),
        cmocka_unit_test(test_chrometrace_escapes_hostile_names),
        cmocka_unit_test(test_chrometrace_reports_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
