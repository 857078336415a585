/*
 * test_flamegraph.c - the SVG flame graph writer: document shape, metadata on
 * its face, escaping of hostile names, proportional widths, omission of
 * narrow frames, sibling order, truncation and byte-for-byte determinism.
 *
 * The writer's collaborators (src/profile/profile.c, and format_short_path /
 * format_frame_class from src/format/format.c) are given weak stand-ins
 * below, so this test builds before those modules land; when they are linked
 * in, their definitions replace the stand-ins.
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
#include "profile/profile.h"
#include "util/err.h"
#include "util/util.h"

/* ---- weak stand-ins: a minimal profile and the two format helpers ---- */

#define WEAK __attribute__((weak))

struct fake_stack {
    uint32_t *frames;
    size_t depth;
    uint64_t weight;
};

struct profile {
    struct profile_meta meta;
    struct profile_frame *frames;
    size_t frame_count, frame_cap;
    struct fake_stack *stacks;
    size_t stack_count, stack_cap;
    char **strings;
    size_t string_count, string_cap;
};

WEAK struct profile *profile_new(void)
{
    struct profile *p = xcalloc(1, sizeof(*p));
    p->meta.unit = xstrdup("samples");
    return p;
}

WEAK void profile_free(struct profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->stack_count; i++)
        free(p->stacks[i].frames);
    for (size_t i = 0; i < p->string_count; i++)
        free(p->strings[i]);
    free(p->meta.title);
    free(p->meta.target);
    free(p->meta.python_version);
    free(p->meta.unit);
    free(p->meta.note);
    free(p->frames);
    free(p->stacks);
    free(p->strings);
    free(p);
}

WEAK struct profile_meta *profile_meta(struct profile *p)
{
    return &p->meta;
}

WEAK const struct profile_meta *profile_meta_const(const struct profile *p)
{
    return &p->meta;
}

WEAK void profile_set_meta_str(struct profile *p, char **field, const char *value)
{
    free(*field);
    *field = value ? xstrdup(value) : NULL;
}

WEAK const char *profile_intern(struct profile *p, const char *s)
{
    for (size_t i = 0; i < p->string_count; i++) {
        if (strcmp(p->strings[i], s) == 0)
            return p->strings[i];
    }
    p->strings = xgrow(p->strings, sizeof(*p->strings), p->string_count + 1, &p->string_cap);
    p->strings[p->string_count] = xstrdup(s);
    return p->strings[p->string_count++];
}

WEAK uint32_t profile_frame_id(struct profile *p, const char *name, const char *file, int line,
                               enum profile_frame_kind kind)
{
    for (size_t i = 0; i < p->frame_count; i++) {
        const struct profile_frame *f = &p->frames[i];
        if (!strcmp(f->name, name) && !strcmp(f->file, file) && f->line == line && f->kind == kind)
            return (uint32_t)i;
    }
    p->frames = xgrow(p->frames, sizeof(*p->frames), p->frame_count + 1, &p->frame_cap);
    p->frames[p->frame_count] =
        (struct profile_frame){profile_intern(p, name), profile_intern(p, file), line, kind, 0};
    return (uint32_t)p->frame_count++;
}

WEAK uint32_t profile_add_stack(struct profile *p, const uint32_t *frames, size_t depth,
                                uint64_t weight)
{
    for (size_t i = 0; i < p->stack_count; i++) {
        struct fake_stack *s = &p->stacks[i];
        if (s->depth == depth && (!depth || !memcmp(s->frames, frames, depth * 4))) {
            s->weight += weight;
            return (uint32_t)i;
        }
    }
    p->stacks = xgrow(p->stacks, sizeof(*p->stacks), p->stack_count + 1, &p->stack_cap);
    struct fake_stack *s = &p->stacks[p->stack_count];
    s->frames = xcalloc(depth ? depth : 1, sizeof(*frames));
    if (depth)
        memcpy(s->frames, frames, depth * sizeof(*frames));
    s->depth = depth;
    s->weight = weight;
    return (uint32_t)p->stack_count++;
}

WEAK size_t profile_frame_count(const struct profile *p)
{
    return p->frame_count;
}

WEAK const struct profile_frame *profile_frame(const struct profile *p, uint32_t id)
{
    return &p->frames[id];
}

WEAK size_t profile_stack_count(const struct profile *p)
{
    return p->stack_count;
}

WEAK const uint32_t *profile_stack(const struct profile *p, uint32_t id, size_t *depth,
                                   uint64_t *weight)
{
    *depth = p->stacks[id].depth;
    *weight = p->stacks[id].weight;
    return p->stacks[id].frames;
}

WEAK uint64_t profile_total_weight(const struct profile *p)
{
    uint64_t total = 0;
    for (size_t i = 0; i < p->stack_count; i++)
        total += p->stacks[i].weight;
    return total;
}

WEAK const char *format_short_path(const char *path)
{
    const char *s = strstr(path, "site-packages/");
    return s ? s + strlen("site-packages/") : path;
}

WEAK int format_frame_class(const struct profile_frame *f)
{
    if (f->kind == PF_THREAD || f->kind == PF_PROCESS || f->kind == PF_ENDPOINT)
        return 3;
    if (f->kind == PF_NATIVE)
        return 4;
    if (strstr(f->file, "site-packages/"))
        return 2;
    return strstr(f->file, "/lib/python") ? 1 : 0;
}

/* ---- helpers ---- */

/* Renders p; returns the SVG (NUL-terminated, caller frees) and its length. */
static char *render(const struct profile *p, const struct format_options *opt, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_non_null(out);
    assert_int_equal(flamegraph_write(p, out, opt), 0);
    fclose(out);
    if (len)
        *len = size;
    return buf;
}

/* Adds a stack of Python frames given as "name@file:line" strings. */
static void add(struct profile *p, uint64_t weight, size_t depth, ...)
{
    uint32_t ids[16];
    va_list ap;
    va_start(ap, depth);
    for (size_t i = 0; i < depth; i++) {
        char spec[256];
        strlcpy_safe(spec, va_arg(ap, const char *), sizeof(spec));
        char *at = strchr(spec, '@'), *colon = at ? strrchr(at, ':') : NULL;
        int line = 0;
        if (at)
            *at = '\0';
        if (colon) {
            *colon = '\0';
            line = atoi(colon + 1);
        }
        ids[i] = profile_frame_id(p, spec, at ? at + 1 : "", line, PF_PYTHON);
    }
    va_end(ap);
    profile_add_stack(p, ids, depth, weight);
}

/* Returns attribute attr of the first <rect> after "<title>" + label in svg,
 * or -1 when the frame is not drawn. */
static double rect_attr(const char *svg, const char *label, const char *attr)
{
    char key[512], at[64];
    snprintf(key, sizeof(key), "<title>%s\n", label);
    const char *t = strstr(svg, key);
    if (!t)
        return -1;
    const char *r = strstr(t, "<rect ");
    snprintf(at, sizeof(at), " %s=\"", attr);
    const char *a = strstr(r, at);
    assert_non_null(a);
    return strtod(a + strlen(at), NULL);
}

/* Returns the label text drawn for the frame whose title starts with label. */
static char *drawn_text(const char *svg, const char *label)
{
    char key[512];
    snprintf(key, sizeof(key), "<title>%s\n", label);
    const char *t = strstr(svg, key);
    assert_non_null(t);
    const char *open = strstr(strstr(t, "<text "), ">") + 1;
    return xstrndup(open, (size_t)(strstr(open, "</text>") - open));
}

static int starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *s = strstr(hay, needle); s; s = strstr(s + 1, needle))
        n++;
    return n;
}

/* Returns 1 if s[0..len) is valid UTF-8 with no control bytes but '\n'. */
static int clean_utf8(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        if ((c < 0x20 && c != '\n') || c == 0x7F || (c >= 0x80 && c < 0xC2) || c > 0xF4)
            return 0;
        if (i + n > len)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        }
        i += n;
    }
    return 1;
}

/* main -> work (75) and main -> idle (25), with metadata. */
static struct profile *basic_profile(void)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->title, "spyglass record");
    profile_set_meta_str(p, &m->target, "pid 1234 (python app.py)");
    profile_set_meta_str(p, &m->python_version, "3.11.7");
    profile_set_meta_str(p, &m->note, "idle threads dropped");
    m->rate_hz = 100;
    m->duration_s = 10;
    m->samples = 1000;
    m->errors = 3;
    add(p, 75, 2, "main@app.py:3", "work@app.py:10");
    add(p, 25, 2, "main@app.py:3", "idle@app.py:20");
    return p;
}

/* ---- tests ---- */

static void test_flamegraph_is_an_svg_document_with_title_and_subtitle(void **state)
{
    struct profile *p = basic_profile();
    char *svg = render(p, NULL, NULL);
    assert_true(strncmp(svg, "<?xml", 5) == 0);
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "</svg>\n"));
    assert_non_null(strstr(svg, ">spyglass record</text>"));
    assert_non_null(strstr(svg, "pid 1234 (python app.py)"));
    assert_non_null(strstr(svg, "Python 3.11.7"));
    assert_non_null(strstr(svg, "100 Hz"));
    assert_non_null(strstr(svg, "10.0 s"));
    /* 1,000 ticks, of which 100 thread stacks were kept: the subtitle says
     * which count is which (the frames count the latter). */
    assert_non_null(strstr(svg, "1,000 ticks, 100 thread samples"));
    assert_non_null(strstr(svg, "3 errors (0.3% of ticks)"));
    assert_non_null(strstr(svg, ">idle threads dropped</tspan></text>"));
    assert_non_null(strstr(svg, "id=\"reset\""));
    assert_non_null(strstr(svg, "id=\"search\""));
    assert_int_equal(count(svg, "<script"), 1);
    assert_null(strstr(svg, "http://www.w3.org/1999/xlink")); /* no external references */
    assert_null(strstr(svg, "href"));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_subtitle_says_samples_when_one_per_tick(void **state)
{
    struct profile *p = basic_profile();
    profile_meta(p)->samples = 100; /* one thread, every tick kept */
    char *svg = render(p, NULL, NULL);
    assert_non_null(strstr(svg, "100 samples"));
    assert_non_null(strstr(svg, "3 errors (3.0% of samples)"));
    assert_null(strstr(svg, "ticks"));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_long_note_wraps_within_the_image(void **state)
{
    struct profile *p = basic_profile();
    struct strbuf note;
    strbuf_init(&note);
    for (int i = 0; i < 40; i++)
        strbuf_addf(&note, "%sword%02d", i ? " " : "", i); /* 279 characters */
    profile_set_meta_str(p, &profile_meta(p)->note, note.buf);
    char *svg = render(p, NULL, NULL);
    const char *start = strstr(svg, "<text id=\"note\"");
    assert_non_null(start);
    const char *end = strstr(start, "</text>");
    /* Two lines of at most 168 characters (1,180 px at 7 px a glyph),
     * whose text joined is the note. */
    struct strbuf joined;
    strbuf_init(&joined);
    int lines = 0;
    for (const char *t = strstr(start, "<tspan"); t && t < end; t = strstr(t + 1, "<tspan")) {
        const char *text = strchr(t, '>') + 1, *close = strstr(text, "</tspan>");
        assert_true(close - text <= 168);
        strbuf_add(&joined, text, (size_t)(close - text));
        lines++;
    }
    assert_int_equal(lines, 2);
    assert_string_equal(joined.buf, note.buf);
    strbuf_release(&joined);
    strbuf_release(&note);
    free(svg);
    profile_free(p);
}

static void test_flamegraph_differential_colours_by_change_of_share(void **state)
{
    /* Before: work 25 of 100, idle 75; after (basic_profile): work 75, idle
     * 25. The baseline interns the same frames in the same order. */
    struct profile *base = profile_new();
    add(base, 25, 2, "main@app.py:3", "work@app.py:10");
    add(base, 75, 2, "main@app.py:3", "idle@app.py:20");
    struct profile *p = basic_profile();
    struct format_options opt = {.baseline = base};
    char *svg = render(p, &opt, NULL);
    assert_non_null(strstr(svg, "<title>work (app.py:10)\n75 samples (75.00%)\n"
                                "before 25.00%, change +50.00 points</title>"));
    assert_non_null(strstr(svg, "<title>idle (app.py:20)\n25 samples (25.00%)\n"
                                "before 75.00%, change -50.00 points</title>"));
    assert_non_null(strstr(svg, "<title>main (app.py:3)\n100 samples (100.00%)\n"
                                "before 100.00%, change +0.00 points</title>"));
    /* The deepest red and blue for the largest change, white for none. */
    const char *work = strstr(strstr(svg, "<title>work ("), "fill=\"");
    const char *idle = strstr(strstr(svg, "<title>idle ("), "fill=\"");
    const char *main_ = strstr(strstr(svg, "<title>main ("), "fill=\"");
    assert_true(starts_with(work, "fill=\"rgb(220,24,24)\""));
    assert_true(starts_with(idle, "fill=\"rgb(24,90,220)\""));
    assert_true(starts_with(main_, "fill=\"rgb(237,237,237)\""));
    assert_non_null(strstr(svg, "share grew (deepest: +50.00 points)"));
    assert_null(strstr(svg, "site-packages</text>")); /* no frame-class legend */
    free(svg);
    profile_free(p);
    profile_free(base);
}

static void test_flamegraph_tooltip_gives_label_weight_and_share(void **state)
{
    struct profile *p = basic_profile();
    char *svg = render(p, NULL, NULL);
    assert_non_null(strstr(svg, "<title>work (app.py:10)\n75 samples (75.00%)</title>"));
    assert_non_null(strstr(svg, "<title>main (app.py:3)\n100 samples (100.00%)</title>"));
    assert_non_null(strstr(svg, "<title>all\n100 samples (100.00%)</title>"));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_widths_are_proportional_to_weight(void **state)
{
    struct profile *p = basic_profile();
    char *svg = render(p, NULL, NULL);
    double full = rect_attr(svg, "all", "width");
    assert_true(full > 1000);
    assert_true(rect_attr(svg, "main (app.py:3)", "width") == full);
    double work = rect_attr(svg, "work (app.py:10)", "width");
    double idle = rect_attr(svg, "idle (app.py:20)", "width");
    assert_true(work > 0.75 * full - 0.01 && work < 0.75 * full + 0.01);
    assert_true(idle > 0.25 * full - 0.01 && idle < 0.25 * full + 0.01);
    free(svg);
    profile_free(p);
}

static void test_flamegraph_siblings_sorted_by_name_root_at_bottom(void **state)
{
    struct profile *p = basic_profile();
    char *svg = render(p, NULL, NULL);
    double left = rect_attr(svg, "all", "x");
    /* "idle" sorts before "work" although it was added second */
    assert_true(rect_attr(svg, "idle (app.py:20)", "x") == left);
    assert_true(rect_attr(svg, "work (app.py:10)", "x") > left);
    /* the root is lowest on the page, the leaves highest */
    assert_true(rect_attr(svg, "all", "y") > rect_attr(svg, "main (app.py:3)", "y"));
    assert_true(rect_attr(svg, "main (app.py:3)", "y") > rect_attr(svg, "work (app.py:10)", "y"));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_escapes_hostile_names(void **state)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->title, "<b>title</b>");
    profile_set_meta_str(p, &m->note, "]]><script>alert('note')</script>");
    add(p, 10, 1, "<script>alert(1)</script>@<img src=x onerror=alert(2)>.py:1");
    add(p, 10, 1, "a&b@app.py:2");
    add(p, 10, 1, "say\"hi'@app.py:3");
    add(p, 10, 1, "x]]>y@app.py:4");
    add(p, 10, 1, "line\nbreak@app.py:5");
    add(p, 10, 1, "ctl\x01x@app.py:6");
    add(p, 10, 1, "bad\xff\xfe\xc0\xafutf8\xe2\x82@app.py:7");
    size_t len;
    char *svg = render(p, NULL, &len);

    assert_null(strstr(svg, "<script>alert"));
    assert_null(strstr(svg, "<img"));
    assert_null(strstr(svg, "<b>"));
    assert_int_equal(count(svg, "<script"), 1);
    assert_int_equal(count(svg, "]]>"), 2); /* only the ends of our style and script */
    assert_non_null(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt; (&lt;img src=x "
                                "onerror=alert(2)&gt;.py:1)"));
    assert_non_null(strstr(svg, "&lt;b&gt;title&lt;/b&gt;"));
    assert_non_null(strstr(svg, "a&amp;b (app.py:2)"));
    assert_null(strstr(svg, "a&b"));
    assert_non_null(strstr(svg, "say&quot;hi&#39; (app.py:3)"));
    assert_non_null(strstr(svg, "x]]&gt;y (app.py:4)"));
    assert_non_null(strstr(svg, "line\xEF\xBF\xBD"
                                "break (app.py:5)"));
    assert_non_null(strstr(svg, "ctl\xEF\xBF\xBDx (app.py:6)"));
    assert_non_null(strstr(svg, "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDutf8"));
    assert_true(clean_utf8((const unsigned char *)svg, len));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_omits_narrow_frames_but_counts_their_weight(void **state)
{
    struct profile *p = profile_new();
    add(p, 9999, 2, "main@app.py:1", "big@app.py:2");
    add(p, 1, 2, "main@app.py:1", "tiny@app.py:3");
    char *svg = render(p, NULL, NULL);
    assert_null(strstr(svg, "tiny"));
    assert_non_null(strstr(svg, "<title>main (app.py:1)\n10,000 samples (100.00%)</title>"));
    assert_non_null(strstr(svg, "<title>big (app.py:2)\n9,999 samples (99.99%)</title>"));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_truncates_labels_to_fit(void **state)
{
    struct profile *p = profile_new();
    add(p, 94, 1, "main@app.py:1");
    add(p, 6, 1, "a_function_with_a_rather_long_name@app.py:2");
    char *svg = render(p, NULL, NULL);
    char *text = drawn_text(svg, "a_function_with_a_rather_long_name (app.py:2)");
    size_t n = strlen(text);
    assert_true(n >= 3);
    assert_string_equal(text + n - 2, "..");
    assert_true(strncmp(text, "a_func", 6) == 0);
    /* 6% of the width is about 70 px: some ten characters */
    assert_true(n <= 12);
    free(text);
    text = drawn_text(svg, "main (app.py:1)");
    assert_string_equal(text, "main (app.py:1)");
    free(text);
    free(svg);
    profile_free(p);
}

static void test_flamegraph_shortens_paths_unless_full_filenames(void **state)
{
    struct profile *p = profile_new();
    add(p, 1, 1, "get@/venv/lib/python3.11/site-packages/requests/api.py:73");
    char *svg = render(p, NULL, NULL);
    assert_non_null(strstr(svg, "<title>get (requests/api.py:73)\n"));
    free(svg);
    struct format_options full = {.full_filenames = 1};
    svg = render(p, &full, NULL);
    assert_non_null(
        strstr(svg, "<title>get (/venv/lib/python3.11/site-packages/requests/api.py:73)\n"));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_synthetic_frames_have_no_location(void **state)
{
    struct profile *p = profile_new();
    uint32_t ids[2] = {profile_frame_id(p, "thread 0x1 \"MainThread\"", "", 0, PF_THREAD),
                       profile_frame_id(p, "run", "app.py", 0, PF_PYTHON)};
    profile_add_stack(p, ids, 2, 5);
    char *svg = render(p, NULL, NULL);
    assert_non_null(strstr(svg, "<title>thread 0x1 &quot;MainThread&quot;\n5 samples"));
    assert_non_null(strstr(svg, "<title>run (app.py)\n5 samples"));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_same_profile_gives_same_bytes(void **state)
{
    struct profile *p = basic_profile();
    size_t len1, len2;
    char *a = render(p, NULL, &len1);
    char *b = render(p, NULL, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(a, b, len1);
    free(a);
    free(b);
    profile_free(p);
}

static void test_flamegraph_insertion_order_does_not_change_output(void **state)
{
    struct profile *p = profile_new(), *q = profile_new();
    add(p, 5, 3, "main@app.py:1", "b@app.py:2", "x@app.py:9");
    add(p, 7, 2, "main@app.py:1", "a@app.py:3");
    add(p, 2, 3, "main@app.py:1", "b@app.py:2", "w@app.py:8");
    add(q, 2, 3, "main@app.py:1", "b@app.py:2", "w@app.py:8");
    add(q, 7, 2, "main@app.py:1", "a@app.py:3");
    add(q, 5, 3, "main@app.py:1", "b@app.py:2", "x@app.py:9");
    size_t len1, len2;
    char *a = render(p, NULL, &len1);
    char *b = render(q, NULL, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(a, b, len1);
    free(a);
    free(b);
    profile_free(p);
    profile_free(q);
}

static void test_flamegraph_empty_profile_is_still_a_document(void **state)
{
    struct profile *p = profile_new();
    char *svg = render(p, NULL, NULL);
    assert_true(strncmp(svg, "<?xml", 5) == 0);
    assert_non_null(strstr(svg, "No samples."));
    assert_null(strstr(svg, "class=\"f\""));
    assert_non_null(strstr(svg, "</svg>\n"));
    free(svg);
    profile_free(p);
}

static void test_flamegraph_write_error_is_reported(void **state)
{
    FILE *out = fopen("/dev/full", "w");
    if (!out)
        skip();
    struct profile *p = basic_profile();
    assert_int_equal(flamegraph_write(p, out, NULL), -SG_EIO);
    fclose(out);
    profile_free(p);
}

static void test_flamegraph_deep_and_wide_profile(void **state)
{
    /* 2,000 distinct leaves under 50 levels: every one is drawn once */
    struct profile *p = profile_new();
    uint32_t ids[51];
    for (int d = 0; d < 50; d++) {
        char name[32];
        snprintf(name, sizeof(name), "level%02d", d);
        ids[d] = profile_frame_id(p, name, "deep.py", d + 1, PF_PYTHON);
    }
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "leaf%04d", i);
        ids[50] = profile_frame_id(p, name, "deep.py", 100, PF_PYTHON);
        profile_add_stack(p, ids, 51, 1);
    }
    add(p, 1000000, 1, "heavy@deep.py:1");
    char *svg = render(p, NULL, NULL);
    /* the 2,000 leaves are 0.0001% each: omitted; the 50 levels (0.2%) drawn */
    assert_int_equal(count(svg, "class=\"f\""), 1 + 50 + 1);
    free(svg);
    profile_free(p);
}

static void test_flamegraph_native_frames_have_a_colour_class_of_their_own(void **state)
{
    struct profile *p = profile_new();
    add(p, 5, 1, "work@app.py:3");
    char *plain = render(p, NULL, NULL);
    assert_null(strstr(plain, "native (C/C++)")); /* no native frame: no legend entry */
    uint32_t ids[3] = {
        profile_frame_id(p, "work", "app.py", 3, PF_PYTHON),
        profile_frame_id(p, "deflate", "libz.so.1.2.13", 0, PF_NATIVE_CODE),
        profile_frame_id(p, "libz.so.1.2.13+0x4a00", "libz.so.1.2.13", 0, PF_NATIVE_CODE)};
    profile_add_stack(p, ids, 3, 5);
    char *svg = render(p, NULL, NULL);
    assert_non_null(strstr(svg, ">native (C/C++)</text>"));
    assert_non_null(strstr(svg, "<title>deflate (libz.so.1.2.13)\n5 samples"));
    /* a frame without a symbol names its library once */
    assert_non_null(strstr(svg, "<title>libz.so.1.2.13+0x4a00\n5 samples"));
    /* its palette (teal: green and blue above red) is no Python class's */
    const char *fill = strstr(strstr(svg, "<title>deflate (libz"), "fill=\"rgb(");
    int r, g, b;
    assert_int_equal(sscanf(fill, "fill=\"rgb(%d,%d,%d)", &r, &g, &b), 3);
    assert_true(g > r && b > r);
    free(plain);
    free(svg);
    profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flamegraph_native_frames_have_a_colour_class_of_their_own),
        cmocka_unit_test(test_flamegraph_is_an_svg_document_with_title_and_subtitle),
        cmocka_unit_test(test_flamegraph_subtitle_says_samples_when_one_per_tick),
        cmocka_unit_test(test_flamegraph_long_note_wraps_within_the_image),
        cmocka_unit_test(test_flamegraph_differential_colours_by_change_of_share),
        cmocka_unit_test(test_flamegraph_tooltip_gives_label_weight_and_share),
        cmocka_unit_test(test_flamegraph_widths_are_proportional_to_weight),
        cmocka_unit_test(test_flamegraph_siblings_sorted_by_name_root_at_bottom),
        cmocka_unit_test(test_flamegraph_escapes_hostile_names),
        cmocka_unit_test(test_flamegraph_omits_narrow_frames_but_counts_their_weight),
        cmocka_unit_test(test_flamegraph_truncates_labels_to_fit),
        cmocka_unit_test(test_flamegraph_shortens_paths_unless_full_filenames),
        cmocka_unit_test(test_flamegraph_synthetic_frames_have_no_location),
        cmocka_unit_test(test_flamegraph_same_profile_gives_same_bytes),
        cmocka_unit_test(test_flamegraph_insertion_order_does_not_change_output),
        cmocka_unit_test(test_flamegraph_empty_profile_is_still_a_document),
        cmocka_unit_test(test_flamegraph_write_error_is_reported),
        cmocka_unit_test(test_flamegraph_deep_and_wide_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
