/*
 * test_top_text.c - `top` as text: truncation at the end and in the middle
 * (keeping file and line), terminal-safe names, durations, the header's
 * figures, column layouts that never overflow the screen, and the plain
 * snapshot format.
 */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tui/text.h"

#define MS 1000000ull

/* top_fit into a fresh buffer; returns it (caller frees). */
static char *fit(const char *s, size_t width, enum top_trunc how, int ascii, int pad)
{
    struct strbuf sb;
    strbuf_init(&sb);
    top_fit(&sb, s, width, how, ascii, pad);
    strbuf_addstr(&sb, "");
    return strbuf_detach(&sb);
}

static void expect_fit(const char *s, size_t width, enum top_trunc how, int ascii, const char *want)
{
    char *got = fit(s, width, how, ascii, 0);
    assert_string_equal(got, want);
    free(got);
}

static void test_top_fit_end_and_middle(void **state)
{
    expect_fit("short", 10, TOP_TRUNC_END, 0, "short");
    expect_fit("exactly10!", 10, TOP_TRUNC_END, 0, "exactly10!");
    expect_fit("handle_request_for_user", 10, TOP_TRUNC_END, 0, "handle_re\xe2\x80\xa6");
    expect_fit("handle_request_for_user", 10, TOP_TRUNC_END, 1, "handle_...");
    /* middle: a third of the room for the head, the rest for the tail */
    expect_fit("/usr/lib/python3.11/json/decoder.py:353", 20, TOP_TRUNC_MIDDLE, 0,
               "/usr/l\xe2\x80\xa6"
               "ecoder.py:353");
    expect_fit("/usr/lib/python3.11/json/decoder.py:353", 20, TOP_TRUNC_MIDDLE, 1,
               "/usr/...coder.py:353");
    expect_fit("abcdef", 2, TOP_TRUNC_END, 1, "ab"); /* no room for "..." */
    expect_fit("abcdef", 2, TOP_TRUNC_MIDDLE, 1, "ef");
    expect_fit("abcdef", 0, TOP_TRUNC_END, 1, "abcdef"); /* 0: no limit */
    char *padded = fit("ab", 5, TOP_TRUNC_END, 1, 1);
    assert_string_equal(padded, "ab   ");
    free(padded);
}

static void test_top_fit_makes_names_safe_for_a_terminal(void **state)
{
    expect_fit("\x1b[31mred\x1b[0m", 0, TOP_TRUNC_END, 0, "?[31mred?[0m");
    expect_fit("a\tb\nc\x7f", 0, TOP_TRUNC_END, 0, "a?b?c?");
    expect_fit("csi\xc2\x9b"
               "2J",
               0, TOP_TRUNC_END, 0, "csi?2J"); /* C1 control */
    expect_fit("bad\xff\xfe", 0, TOP_TRUNC_END, 0, "bad??");
    expect_fit("over\xc0\xaflong", 0, TOP_TRUNC_END, 0, "over??long");
    expect_fit("surrogate\xed\xa0\x80", 0, TOP_TRUNC_END, 0, "surrogate???");
    expect_fit("cut\xe2\x82", 0, TOP_TRUNC_END, 0, "cut??"); /* truncated sequence */
    expect_fit("caf\xc3\xa9", 0, TOP_TRUNC_END, 0, "caf\xc3\xa9");
    expect_fit("caf\xc3\xa9", 0, TOP_TRUNC_END, 1, "caf?");
    assert_int_equal(top_text_width("caf\xc3\xa9", 0), 4);
}

static void test_top_fit_never_splits_a_character(void **state)
{
    /* five two-byte characters into three columns: two and the ellipsis */
    expect_fit("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3, TOP_TRUNC_END, 0,
               "\xc3\xa9\xc3\xa9\xe2\x80\xa6");
    /* wide characters count two columns each (wcwidth, in a UTF-8 locale) */
    if (setlocale(LC_CTYPE, "C.UTF-8")) {
        assert_int_equal(top_text_width("\xe6\x97\xa5\xe6\x9c\xac", 0), 4);
        expect_fit("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 4, TOP_TRUNC_END, 0,
                   "\xe6\x97\xa5\xe2\x80\xa6");
        setlocale(LC_CTYPE, "C");
    }
}

static void test_top_format_seconds(void **state)
{
    char buf[32];
    const struct {
        double s;
        const char *want;
    } cases[] = {{0, "0.00s"},     {0.004, "0.00s"}, {1.234, "1.23s"}, {9.99, "9.99s"},
                 {9.999, "10.0s"}, {59.94, "59.9s"}, {99.96, "1m39s"}, {125, "2m05s"},
                 {3599, "59m59s"}, {3600, "1h00m"},  {7380, "2h03m"},  {-5, "0.00s"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        top_format_seconds(cases[i].s, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

/* A snapshot by hand: 200 ticks over 2 s, 150 active and 50 idle samples of
 * two threads, the GIL held in 120 ticks. */
static void fill_snapshot(struct top_snapshot *s, struct top_thread threads[2])
{
    top_snapshot_init(s);
    threads[0] = (struct top_thread){.key = 11, .name = "MainThread", .samples = {150, 0}};
    threads[1] = (struct top_thread){.key = 12, .name = "sleeper", .samples = {0, 50}};
    s->threads = threads;
    s->nthreads = 2;
    s->ticks = 200;
    s->gil_ticks = 120;
    s->samples[0] = 150;
    s->samples[1] = 50;
    s->span_ns = 2000 * MS;
    s->ticks_since_reset = 200;
    s->last_threads = 2;
    s->last_active = 1;
    s->window_s = 10;
}

static void test_top_header_shows_the_figures(void **state)
{
    struct top_snapshot s;
    struct top_thread threads[2];
    fill_snapshot(&s, threads);
    struct top_view v;
    top_view_init(&v);
    struct top_status st = {.pid = 4242,
                            .command = "python3 app.py\x1b]0;x",
                            .python_version = "3.11.7",
                            .elapsed_s = 2.5,
                            .ticks = 250,
                            .errors = 5,
                            .since_reset_s = -1};
    struct strbuf lines[TOP_HEADER_LINES];
    for (int i = 0; i < TOP_HEADER_LINES; i++)
        strbuf_init(&lines[i]);
    top_header(&st, &s, &v, lines);
    assert_string_equal(lines[0].buf, "spyglass top: pid 4242, Python 3.11.7, elapsed 2.50s: "
                                      "python3 app.py?]0;x");
    assert_string_equal(lines[1].buf, "samples 200, 100.0 Hz, threads 1 active of 2, GIL 60.0%, "
                                      "idle 25.0%, errors 5 (2.0%)");
    assert_string_equal(lines[2].buf, "view: lines, all threads, idle hidden, sort %Own, "
                                      "window 10s");
    v.one_thread = 1;
    v.thread = 12;
    v.by_function = 1;
    v.sort = TOP_SORT_TOTAL;
    v.reverse = 1;
    v.paused = 1;
    st.gil_only = 1;
    st.since_reset_s = 1.5;
    top_header(&st, &s, &v, lines);
    assert_non_null(strstr(lines[1].buf, "idle 100.0%")); /* the sleeper's own share */
    assert_string_equal(lines[2].buf, "view: functions, thread 2/2 \"sleeper\" (12), idle hidden, "
                                      "GIL holder only, sort %Total (reversed), window 10s, "
                                      "reset 1.50s ago  [PAUSED]");
    for (int i = 0; i < TOP_HEADER_LINES; i++)
        strbuf_release(&lines[i]);
}

static struct top_row make_row(const char *name, const char *file, int line, double own_pct)
{
    struct top_row r = {.name = name,
                        .file = file,
                        .line = line,
                        .own_pct = own_pct,
                        .total_pct = own_pct + 10,
                        .own_s = own_pct / 10,
                        .total_s = own_pct / 10 + 1};
    return r;
}

static void test_top_layout_fits_every_width(void **state)
{
    struct top_row rows[3] = {
        make_row("handle_request_with_a_rather_long_name", "/srv/app/handlers/users.py", 123, 52.5),
        make_row("Session.send", "/usr/lib/python3/dist-packages/requests/sessions.py", 703, 7),
        make_row("f", "x.py", 1, 0.1),
    };
    struct top_view v;
    top_view_init(&v);
    struct strbuf line;
    strbuf_init(&line);
    for (size_t width = 20; width <= 200; width++) {
        struct top_layout l;
        top_layout(&l, width, &v, rows, 3, 0, 0);
        line.len = 0;
        top_format_heading(&l, &v, &line, NULL, NULL);
        assert_true(top_text_width(line.buf, 0) <= width);
        for (int i = 0; i < 3; i++) {
            line.len = 0;
            top_format_row(&l, &rows[i], &line);
            assert_true(top_text_width(line.buf, 0) <= width);
            if (l.file_w && i == 0) /* the middle cut keeps the line number */
                assert_non_null(strstr(line.buf, ":123"));
        }
        assert_int_equal(l.times, width >= 59);
        assert_true(l.file_w == 0 || l.file_w >= 9);
    }
    struct top_layout l;
    top_layout(&l, 200, &v, rows, 3, 0, 0);
    line.len = 0;
    top_format_row(&l, &rows[1], &line); /* wide: shortened path, nothing cut */
    assert_non_null(strstr(line.buf, "Session.send  "));
    assert_non_null(strstr(line.buf, "  requests/sessions.py:703"));
    char want[256]; /* the function padded to the longest name, 38 columns */
    snprintf(want, sizeof(want), "  7.0%%  17.0%%     0.70s     1.70s  %-38s  %s", "Session.send",
             "requests/sessions.py:703");
    assert_string_equal(line.buf, want);
    top_layout(&l, 200, &v, rows, 3, 0, 1);
    line.len = 0;
    top_format_row(&l, &rows[1], &line);
    assert_non_null(strstr(line.buf, "/usr/lib/python3/dist-packages/requests/sessions.py:703"));
    strbuf_release(&line);
}

static void test_top_heading_marks_the_sorted_column(void **state)
{
    struct top_row row = make_row("f", "x.py", 1, 1);
    struct top_view v;
    top_view_init(&v);
    struct top_layout l;
    struct strbuf line;
    strbuf_init(&line);
    size_t start, end;
    top_layout(&l, 100, &v, &row, 1, 1, 0);
    enum top_sort sorts[] = {TOP_SORT_OWN, TOP_SORT_TOTAL, TOP_SORT_NAME, TOP_SORT_FILE};
    const char *titles[] = {"%Own", "%Total", "Function", "file:line"};
    for (int i = 0; i < 4; i++) {
        v.sort = sorts[i];
        line.len = 0;
        top_format_heading(&l, &v, &line, &start, &end);
        assert_true(end > start);
        assert_memory_equal(line.buf + start, titles[i], end - start);
    }
    strbuf_release(&line);
}

static void test_top_plain_snapshot_is_complete_and_parseable(void **state)
{
    struct top_snapshot s;
    struct top_thread threads[2];
    fill_snapshot(&s, threads);
    struct top_view v;
    top_view_init(&v);
    struct top_status st = {.pid = 7,
                            .command = "python3 x.py",
                            .python_version = "2.7.18",
                            .elapsed_s = 2,
                            .ticks = 200,
                            .since_reset_s = -1};
    struct top_row rows[3] = {
        make_row("hot", "/a/very/long/directory/name/that/is/not/cut/x.py", 17, 75),
        make_row("warm", "x.py", 21, 20),
        make_row("cold", "x.py", 30, 5),
    };
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_int_equal(top_write_text(f, &st, &s, &v, rows, 3, 2, 0), 0);
    fclose(f);
    const char *want =
        "spyglass top: pid 7, Python 2.7.18, elapsed 2.00s: python3 x.py\n"
        "samples 200, 100.0 Hz, threads 1 active of 2, GIL 60.0%, idle 25.0%, errors 0 (0.0%)\n"
        "view: lines, all threads, idle hidden, sort %Own, window 10s\n"
        "  %Own %Total   OwnTime TotalTime  Function  file:line\n"
        " 75.0%  85.0%     7.50s     8.50s  hot       "
        "/a/very/long/directory/name/that/is/not/cut/x.py:17\n"
        " 20.0%  30.0%     2.00s     3.00s  warm      x.py:21\n"
        "(1 more rows)\n"
        "\n";
    assert_string_equal(text, want);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_fit_end_and_middle),
        cmocka_unit_test(test_top_fit_makes_names_safe_for_a_terminal),
        cmocka_unit_test(test_top_fit_never_splits_a_character),
        cmocka_unit_test(test_top_format_seconds),
        cmocka_unit_test(test_top_header_shows_the_figures),
        cmocka_unit_test(test_top_layout_fits_every_width),
        cmocka_unit_test(test_top_heading_marks_the_sorted_column),
        cmocka_unit_test(test_top_plain_snapshot_is_complete_and_parseable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
