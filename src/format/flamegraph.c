/*
 * flamegraph.c - the profile as one self-contained, interactive SVG flame graph.
 *
 * Stacks are merged into a call tree whose root ("all") sits at the bottom;
 * children are ordered by name and each node's width is proportional to its
 * weight. Every drawn node is a <g> holding a <title> (full label, weight and
 * share), a <rect> and a <text>; its position in weight units lives in data-*
 * attributes. The embedded script is generic: it reads only those elements,
 * so names never reach script, and it adds hover details, click to zoom,
 * reset and regex search with the matched share.
 *
 * All text that goes into markup is first sanitised (invalid UTF-8 and
 * control characters become U+FFFD) and then XML-escaped. Output is
 * deterministic: nodes are written in (depth, x) order, colours come from a
 * hash of the function name, and nothing depends on time or addresses.
 *
 * With opt->baseline (report --diff) the graph is differential: widths are
 * the profile's own, and each frame is coloured by how much the share of
 * the total held by its path changed since the baseline (the same path in
 * the baseline's tree): red grew, blue shrank, white unchanged, the deepest
 * colour for the largest change in the graph. Its tooltip gives both shares.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "util/err.h"
#include "util/hash.h"
#include "util/utf8.h"
#include "util/util.h"

#define FG_WIDTH 1200      /* image width, px */
#define FG_PAD 10          /* left and right margin, px */
#define FG_FRAME_H 16      /* height of one stack level, px */
#define FG_CHAR_W 7.0      /* estimated glyph width of the 12px label font */
#define FG_MIN_SHARE 0.001 /* nodes below this share of the total are not drawn */
#define ROOT_FRAME UINT32_MAX
#define NO_NODE UINT32_MAX

/* One node of the merged call tree. x is the offset from the left edge of
 * the root, in weight units. */
struct node {
    uint32_t frame;  /* profile frame id, or ROOT_FRAME */
    uint32_t parent; /* node index, or NO_NODE for the root */
    uint32_t depth;  /* 0 for the root */
    uint64_t weight; /* the node's weight including its descendants */
    uint64_t x;
};

/* The tree: nodes[0] is the root; (parent, frame) -> child via open addressing. */
struct tree {
    struct node *nodes;
    size_t count;
    size_t cap;
    struct hash_index index; /* (parent, frame) -> node */
};

/* What the writer needs besides the tree. */
struct fg {
    const struct profile *profile;
    const struct format_options *opt;
    FILE *out;
    uint64_t total;
    char *unit;    /* sanitised weight unit */
    char **labels; /* sanitised label per frame id, built on first use */
    /* differential (opt->baseline): per node, the path's share of the
     * baseline's total (0..1), and the largest change of share drawn */
    double *base_share;
    double max_change;
};

/* ---- text: UTF-8 sanitising and XML escaping ---- */

/* Returns 1 if code point cp may appear in our XML text: no C0/C1 controls
 * (newlines and tabs included, so a label is always one line), no DEL, and
 * none of the two code points XML 1.0 forbids. */
static int xml_char_ok(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
        return 0;
    return cp != 0xFFFE && cp != 0xFFFF;
}

/* Appends s to sb as valid UTF-8 fit for XML: each invalid byte and each
 * forbidden character becomes U+FFFD. */
static void sanitize_append(struct strbuf *sb, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left > 0) {
        uint32_t cp;
        size_t n = utf8_decode(p, left, &cp);
        if (n == 0 || !xml_char_ok(cp)) {
            strbuf_addstr(sb, UTF8_REPLACEMENT);
            n = n ? n : 1;
        } else {
            strbuf_add(sb, p, n);
        }
        p += n;
        left -= n;
    }
}

/* Returns a sanitised copy of s; the caller frees it. */
static char *sanitize(const char *s)
{
    struct strbuf sb;
    strbuf_init(&sb);
    sanitize_append(&sb, s ? s : "");
    return strbuf_detach(&sb);
}

/* Writes len bytes of already sanitised text with the XML specials escaped;
 * escaping '>' also keeps "]]>" out of the output. */
static void put_escaped(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(s[i], out);
        }
    }
}

/* Writes arbitrary text (any bytes) sanitised and escaped. */
static void put_text(FILE *out, const char *s)
{
    char *clean = sanitize(s);
    put_escaped(out, clean, strlen(clean));
    free(clean);
}

/* Writes the part of a sanitised label that fits in a box px wide: the whole
 * label, or its first characters followed by "..", or nothing when fewer
 * than three characters fit. Counts code points, never splits one. */
static void put_fitted(FILE *out, const char *label, double px)
{
    double room_f = (px - 6.0) / FG_CHAR_W;
    size_t room = room_f > 0 ? (size_t)room_f : 0;
    size_t chars = 0, cut = 0;
    for (size_t i = 0; label[i]; i++) {
        if (((unsigned char)label[i] & 0xC0) == 0x80)
            continue;
        if (chars + 2 == room)
            cut = i;
        chars++;
    }
    if (chars <= room) {
        put_escaped(out, label, strlen(label));
    } else if (room >= 3) {
        put_escaped(out, label, cut);
        fputs("..", out);
    }
}

/* Formats v with thousands separators ("1,234,567") into buf (>= 32 bytes). */
static void format_count(uint64_t v, char *buf)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

/* ---- the call tree ---- */

static uint64_t node_hash(uint32_t parent, uint32_t frame)
{
    return hash_mix((uint64_t)parent << 32 | frame);
}

static uint64_t node_hash_of(const void *ctx, uint32_t id)
{
    const struct tree *t = ctx;
    return node_hash(t->nodes[id].parent, t->nodes[id].frame);
}

/* A child being looked for. */
struct node_key {
    uint32_t parent, frame;
};

static int node_same(const void *ctx, uint32_t id, const void *key)
{
    const struct tree *t = ctx;
    const struct node_key *k = key;
    return t->nodes[id].parent == k->parent && t->nodes[id].frame == k->frame;
}

/* Returns the index of parent's child for frame, adding it (weight 0) if
 * new, or NO_NODE when the tree cannot hold more nodes. */
static uint32_t tree_child(struct tree *t, uint32_t parent, uint32_t frame)
{
    if (t->count >= NO_NODE - 1)
        return NO_NODE;
    hash_index_reserve(&t->index, t->count, node_hash_of, t);
    struct node_key key = {parent, frame};
    uint32_t *slot = hash_index_find(&t->index, node_hash(parent, frame), node_same, t, &key);
    if (*slot)
        return *slot - 1;
    t->nodes = xgrow(t->nodes, sizeof(*t->nodes), t->count + 1, &t->cap);
    uint32_t id = (uint32_t)t->count++;
    t->nodes[id] = (struct node){frame, parent, t->nodes[parent].depth + 1, 0, 0};
    *slot = id + 1;
    return id;
}

/* Merges every stack of p into t (initialised empty by the caller). Returns
 * 0, or -SG_ENOMEM when there are more distinct paths than node ids. */
static int tree_build(struct tree *t, const struct profile *p)
{
    t->nodes = xgrow(t->nodes, sizeof(*t->nodes), 1, &t->cap);
    t->nodes[0] = (struct node){ROOT_FRAME, NO_NODE, 0, 0, 0};
    t->count = 1;
    size_t stacks = profile_stack_count(p);
    for (size_t s = 0; s < stacks; s++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(p, (uint32_t)s, &depth, &weight);
        uint32_t cur = 0;
        t->nodes[0].weight += weight;
        for (size_t i = 0; i < depth; i++) {
            cur = tree_child(t, cur, frames[i]);
            if (cur == NO_NODE)
                return -SG_ENOMEM;
            t->nodes[cur].weight += weight;
        }
    }
    return 0;
}

/* Returns parent's child for frame, or NO_NODE. */
static uint32_t tree_find(const struct tree *t, uint32_t parent, uint32_t frame)
{
    if (!t->index.cap)
        return NO_NODE;
    struct node_key key = {parent, frame};
    uint32_t *slot = hash_index_find(&t->index, node_hash(parent, frame), node_same, t, &key);
    return *slot ? *slot - 1 : NO_NODE;
}

static void tree_release(struct tree *t)
{
    free(t->nodes);
    hash_index_release(&t->index);
}

/* A frame and its id, for sorting frames into sibling order. */
struct ranked {
    const struct profile_frame *f;
    uint32_t id;
};

/* Orders frames by name, then file, line, kind and id: the sibling order. */
static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *ra = a, *rb = b;
    int c = strcmp(ra->f->name, rb->f->name);
    if (c == 0)
        c = strcmp(ra->f->file, rb->f->file);
    if (c == 0)
        c = (ra->f->line > rb->f->line) - (ra->f->line < rb->f->line);
    if (c == 0)
        c = ((int)ra->f->kind > (int)rb->f->kind) - ((int)ra->f->kind < (int)rb->f->kind);
    if (c == 0)
        c = (ra->id > rb->id) - (ra->id < rb->id);
    return c;
}

/* Returns rank[frame id]: each frame's position in sibling order. The
 * caller frees it. */
static uint32_t *frame_ranks(const struct profile *p)
{
    size_t count = profile_frame_count(p);
    struct ranked *order = xcalloc(count, sizeof(*order));
    uint32_t *rank = xcalloc(count, sizeof(*rank));
    for (size_t i = 0; i < count; i++)
        order[i] = (struct ranked){profile_frame(p, (uint32_t)i), (uint32_t)i};
    qsort(order, count, sizeof(*order), ranked_cmp);
    for (size_t i = 0; i < count; i++)
        rank[order[i].id] = (uint32_t)i;
    free(order);
    return rank;
}

/* A sort key: (major, minor) then the node. */
struct key {
    uint64_t major;
    uint64_t minor;
    uint32_t node;
};

static int key_cmp(const void *a, const void *b)
{
    const struct key *ka = a, *kb = b;
    if (ka->major != kb->major)
        return ka->major < kb->major ? -1 : 1;
    if (ka->minor != kb->minor)
        return ka->minor < kb->minor ? -1 : 1;
    return (ka->node > kb->node) - (ka->node < kb->node);
}

/* Sets every node's x: siblings sorted by frame rank, laid out left to
 * right from their parent's x. Parents have smaller indices than their
 * children, so sorting by parent index places each parent before its
 * children are laid out. */
static void tree_layout(struct tree *t, const uint32_t *rank)
{
    size_t n = t->count - 1;
    struct key *keys = xcalloc(n, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        const struct node *nd = &t->nodes[i + 1];
        keys[i] = (struct key){nd->parent, rank[nd->frame], (uint32_t)(i + 1)};
    }
    qsort(keys, n, sizeof(*keys), key_cmp);
    uint64_t next = 0;
    for (size_t i = 0; i < n; i++) {
        struct node *nd = &t->nodes[keys[i].node];
        if (i == 0 || keys[i].major != keys[i - 1].major)
            next = t->nodes[nd->parent].x;
        nd->x = next;
        next += nd->weight;
    }
    free(keys);
}

/* ---- drawing ---- */

/* Returns 1 if a native frame's name already says its library: one
 * without a symbol is named "library+0xOFFSET". */
static int names_its_library(const struct profile_frame *f)
{
    size_t len = strlen(f->file);
    return f->kind == PF_NATIVE_CODE && strncmp(f->name, f->file, len) == 0 &&
           strncmp(f->name + len, "+0x", 3) == 0;
}

/* Builds the display label of a frame: "name (file:line)" for Python
 * frames, "name (library)" for native ones (or "library+0xOFFSET" alone),
 * the bare name for synthetic ones. Returns it sanitised; the caller frees
 * it. */
static char *frame_label(const struct profile_frame *f, const struct format_options *opt)
{
    struct strbuf raw;
    strbuf_init(&raw);
    strbuf_addstr(&raw, f->name);
    if ((f->kind == PF_PYTHON || f->kind == PF_NATIVE_CODE) && f->file[0] &&
        !names_its_library(f)) {
        char *path = format_display_path(f->file, opt && opt->full_filenames);
        if (f->line > 0)
            strbuf_addf(&raw, " (%s:%d)", path, f->line);
        else
            strbuf_addf(&raw, " (%s)", path);
        free(path);
    }
    char *text = strbuf_detach(&raw);
    char *clean = sanitize(text);
    free(text);
    return clean;
}

static const char *node_label(struct fg *g, const struct node *n)
{
    if (n->frame == ROOT_FRAME)
        return "all";
    if (!g->labels[n->frame])
        g->labels[n->frame] = frame_label(profile_frame(g->profile, n->frame), g->opt);
    return g->labels[n->frame];
}

/* A colour range per frame class (format_frame_class): hue from hue to
 * hue + hue_span, lightness from light to light + light_span. */
struct palette {
    const char *legend;
    double hue, hue_span, sat, light, light_span;
};

static const struct palette palettes[] = {
    {"user code", 8, 34, 0.80, 0.58, 0.10},
    {"stdlib", 195, 25, 0.60, 0.66, 0.10},
    {"site-packages", 88, 40, 0.45, 0.56, 0.10},
    {"thread / process / endpoint", 258, 25, 0.30, 0.70, 0.08},
    {"built-in / idle / other", 0, 0, 0.00, 0.72, 0.08},
    {"native (C/C++)", 160, 22, 0.50, 0.50, 0.10},
};
#define PALETTES (sizeof(palettes) / sizeof(palettes[0]))

/* Writes "rgb(r,g,b)" for hue (degrees), saturation and lightness (0..1). */
static void put_hsl(FILE *out, double h, double s, double l)
{
    double c = (1 - (l > 0.5 ? 2 * l - 1 : 1 - 2 * l)) * s;
    double hp = h / 60.0;
    double m = l - c / 2;
    double rgb[3] = {m, m, m};
    int sector = (int)hp % 6;
    double frac = hp - (double)(int)hp;
    double x = c * (sector % 2 ? 1 - frac : frac);
    static const int primary[6] = {0, 1, 1, 2, 2, 0}; /* channel getting c */
    static const int second[6] = {1, 0, 2, 1, 0, 2};  /* channel getting x */
    rgb[primary[sector]] += c;
    rgb[second[sector]] += x;
    fprintf(out, "rgb(%d,%d,%d)", (int)(rgb[0] * 255 + 0.5), (int)(rgb[1] * 255 + 0.5),
            (int)(rgb[2] * 255 + 0.5));
}

/* Writes the colour of a frame: its class picks the palette, a hash of its
 * name the place within it, so a function keeps its colour across graphs. */
static void put_frame_colour(FILE *out, const struct profile_frame *f)
{
    int cls = f ? format_frame_class(f) : 3;
    if (cls < 0 || (size_t)cls >= PALETTES)
        cls = 0;
    const struct palette *pal = &palettes[cls];
    uint64_t h = hash_str(HASH_SEED, f ? f->name : "all");
    double v1 = (double)(h >> 48) / 65535.0;
    double v2 = (double)((h >> 32) & 0xFFFF) / 65535.0;
    put_hsl(out, pal->hue + v1 * pal->hue_span, pal->sat, pal->light + v2 * pal->light_span);
}

/* The change of a node's share since the baseline, in 0..1 units. */
static double share_change(const struct fg *g, const struct node *n, uint32_t id)
{
    return (double)n->weight / (double)g->total - g->base_share[id];
}

/* Writes the colour of a node of a differential graph. */
static void put_change_colour(FILE *out, const struct fg *g, double change)
{
    double t = g->max_change > 0 ? fabs(change) / g->max_change : 0;
    if (t < 0.01)
        put_hsl(out, 0, 0, 0.93);
    else
        put_hsl(out, change > 0 ? 0 : 220, 0.80, 0.93 - 0.45 * t);
}

/* Writes one node as <g><title/><rect/><text/></g>. */
static void put_node(struct fg *g, const struct node *n, uint32_t id, double y)
{
    FILE *out = g->out;
    const struct profile_frame *f =
        n->frame == ROOT_FRAME ? NULL : profile_frame(g->profile, n->frame);
    const char *label = node_label(g, n);
    double scale = (double)(FG_WIDTH - 2 * FG_PAD) / (double)g->total;
    double x = FG_PAD + (double)n->x * scale, w = (double)n->weight * scale;
    char count[32];
    format_count(n->weight, count);
    fprintf(out,
            "<g class=\"f\" data-x=\"%" PRIu64 "\" data-w=\"%" PRIu64 "\" data-d=\"%" PRIu32
            "\"><title>",
            n->x, n->weight, n->depth);
    put_escaped(out, label, strlen(label));
    if (!strcmp(g->unit, "bytes")) /* record --memory: RSS growth */
        fprintf(out, "\n%.2f MiB (%s bytes)", (double)n->weight / 1048576.0, count);
    else {
        fprintf(out, "\n%s ", count);
        put_escaped(out, g->unit, strlen(g->unit));
    }
    fprintf(out, " (%.2f%%)", 100.0 * (double)n->weight / (double)g->total);
    if (g->base_share)
        fprintf(out, "\nbefore %.2f%%, change %+.2f points", 100.0 * g->base_share[id],
                100.0 * share_change(g, n, id));
    fprintf(out, "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"", x, y,
            w, FG_FRAME_H - 1);
    if (g->base_share)
        put_change_colour(out, g, share_change(g, n, id));
    else
        put_frame_colour(out, f);
    fprintf(out, "\"/><text x=\"%.2f\" y=\"%.1f\">", x + 3, y + FG_FRAME_H - 4.5);
    put_fitted(out, label, w);
    fputs("</text></g>\n", out);
}

/* Returns 1 if a node is wide enough to draw. */
static int node_visible(const struct fg *g, const struct node *n)
{
    return n->weight > 0 && (double)n->weight >= FG_MIN_SHARE * (double)g->total;
}

/* Writes the drawn nodes in (depth, x) order; frames_top is the y of the
 * deepest level, max_depth the deepest drawn level. */
static void put_frames(struct fg *g, const struct tree *t, uint32_t max_depth, double frames_top)
{
    struct key *keys = xcalloc(t->count, sizeof(*keys));
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++) {
        if (node_visible(g, &t->nodes[i]))
            keys[n++] = (struct key){t->nodes[i].depth, t->nodes[i].x, (uint32_t)i};
    }
    qsort(keys, n, sizeof(*keys), key_cmp);
    fprintf(g->out,
            "<g id=\"frames\" data-total=\"%" PRIu64 "\" data-left=\"%d\" data-width=\"%d\" "
            "data-charw=\"%.1f\">\n",
            g->total, FG_PAD, FG_WIDTH - 2 * FG_PAD, FG_CHAR_W);
    for (size_t i = 0; i < n; i++) {
        const struct node *nd = &t->nodes[keys[i].node];
        put_node(g, nd, keys[i].node, frames_top + (double)(max_depth - nd->depth) * FG_FRAME_H);
    }
    fputs("</g>\n", g->out);
    free(keys);
}

/* Builds the subtitle: target, Python version, rate, duration, peak RSS
 * (record --memory), samples and errors, whichever are known. m->samples
 * counts sampling ticks; a profile weighed in samples holds one per thread
 * per tick, so when those differ (--threads, several threads kept) both
 * are named, and the frames' "samples" are the latter. Returns raw
 * (unsanitised) text to free. */
static char *subtitle(const struct profile_meta *m, uint64_t total)
{
    struct strbuf sb;
    strbuf_init(&sb);
    const char *sep = "  \xC2\xB7  "; /* a middle dot */
    if (m->target && m->target[0])
        strbuf_addstr(&sb, m->target);
    if (m->python_version && m->python_version[0])
        strbuf_addf(&sb, "%sPython %s", sb.len ? sep : "", m->python_version);
    if (m->rate_hz > 0)
        strbuf_addf(&sb, "%s%g Hz", sb.len ? sep : "", m->rate_hz);
    if (m->duration_s > 0)
        strbuf_addf(&sb, "%s%.1f s", sb.len ? sep : "", m->duration_s);
    if (m->peak_rss > 0)
        strbuf_addf(&sb, "%sRSS growth in MiB, peak RSS %.1f MiB at %.2f s, final %.1f MiB",
                    sb.len ? sep : "", (double)m->peak_rss / 1048576.0,
                    (double)m->peak_rss_ns / 1e9, (double)m->final_rss / 1048576.0);
    if (m->samples > 0) {
        char samples[32], errors[32], stacks[32];
        format_count(m->samples, samples);
        format_count(m->errors, errors);
        format_count(total, stacks);
        int per_thread = m->unit && !strcmp(m->unit, "samples") && total != m->samples;
        if (per_thread)
            strbuf_addf(&sb, "%s%s ticks, %s thread samples", sb.len ? sep : "", samples, stacks);
        else
            strbuf_addf(&sb, "%s%s samples", sb.len ? sep : "", samples);
        strbuf_addf(&sb, "%s%s errors (%.1f%% of %s)", sep, errors,
                    100.0 * (double)m->errors / (double)m->samples,
                    per_thread ? "ticks" : "samples");
    }
    return strbuf_detach(&sb);
}

/* Splits sanitised text into lines of at most max characters at spaces (a
 * longer word gets a line of its own). Each line but the last keeps its
 * trailing space, so the lines joined are the text. Returns the count and
 * fills starts[] (at most max_lines; the last line takes the rest). */
static size_t wrap_lines(const char *text, size_t max, size_t *starts, size_t max_lines)
{
    size_t count = 0, line_start = 0, chars = 0, last_break = 0;
    starts[count++] = 0;
    for (size_t i = 0; text[i]; i++) {
        if (((unsigned char)text[i] & 0xC0) == 0x80)
            continue;
        chars++;
        if (text[i] == ' ')
            last_break = i + 1;
        if (chars > max && last_break > line_start && count < max_lines) {
            starts[count++] = line_start = last_break;
            chars = 0;
            for (size_t j = last_break; j <= i; j++)
                chars += ((unsigned char)text[j] & 0xC0) != 0x80;
        }
    }
    return count;
}

/* The style sheet and the script, kept as src/format/flamegraph.css and
 * flamegraph.js and compiled in by tools/embed.sh (the Makefile's
 * build/gen/flamegraph_assets.c). The script relies on the class names. */
extern const char flamegraph_css[];
extern const char flamegraph_js[];

/* Writes a button: a framed text label the script listens on. */
static void put_button(FILE *out, const char *id, const char *cls, int x, int w, const char *text)
{
    fprintf(out,
            "<g id=\"%s\" class=\"%s\"><rect x=\"%d\" y=\"8\" width=\"%d\" height=\"20\" "
            "rx=\"3\"/><text x=\"%d\" y=\"22\">%s</text></g>\n",
            id, cls, x, w, x + w / 2, text);
}

/* Writes a differential graph's colour key: the two ends of the scale. */
static void put_diff_legend(FILE *out, const struct fg *g, int y)
{
    static const char *const labels[] = {"share grew (deepest: +%.2f points)", "unchanged",
                                         "share shrank (deepest: -%.2f points)"};
    int x = FG_PAD;
    fputs("<g class=\"legend\">", out);
    for (int i = 0; i < 3; i++) {
        char text[64];
        snprintf(text, sizeof(text), labels[i], 100.0 * g->max_change);
        fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"11\" height=\"11\" fill=\"", x, y - 10);
        put_change_colour(out, g, (1 - i) * g->max_change);
        fprintf(out, "\"/><text x=\"%d\" y=\"%d\">%s</text>", x + 15, y, text);
        x += 15 + (int)(strlen(text) * 6.2) + 18;
    }
    fputs("</g>\n", out);
}

/* Returns 1 if the profile holds native (C/C++) frames. */
static int has_native_code(const struct profile *p)
{
    for (size_t i = 0; i < profile_frame_count(p); i++) {
        if (profile_frame(p, (uint32_t)i)->kind == PF_NATIVE_CODE)
            return 1;
    }
    return 0;
}

/* Writes the colour key, one swatch per frame class (native code's only
 * when the profile has some). */
static void put_legend(FILE *out, int y, int native)
{
    int x = FG_PAD;
    fputs("<g class=\"legend\">", out);
    for (size_t cls = 0; cls < PALETTES - (native ? 0 : 1); cls++) {
        const struct palette *pal = &palettes[cls];
        fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"11\" height=\"11\" fill=\"", x, y - 10);
        put_hsl(out, pal->hue + pal->hue_span / 2, pal->sat, pal->light + pal->light_span / 2);
        fprintf(out, "\"/><text x=\"%d\" y=\"%d\">%s</text>", x + 15, y, pal->legend);
        x += 15 + (int)(strlen(pal->legend) * 6.2) + 18;
    }
    fputs("</g>\n", out);
}

#define NOTE_MAX_LINES 4
/* Characters of the 12px subtitle font a line holds across the image. */
#define NOTE_LINE_CHARS ((size_t)((FG_WIDTH - 2 * FG_PAD) / FG_CHAR_W))

/* Where the header's lines go (baselines, px); 0 for a line not shown. The
 * note is wrapped to the image's width. */
struct header {
    int title_y, subtitle_y, note_y, legend_y;
    int frames_top; /* the top of the deepest drawn level */
    char *note;     /* sanitised note, or NULL */
    size_t note_starts[NOTE_MAX_LINES], note_lines;
};

/* Lays out the header for meta m; sub is the subtitle text. */
static struct header header_layout(const struct profile_meta *m, const char *sub)
{
    struct header h = {24, 0, 0, 0, 0, NULL, {0}, 0};
    int y = h.title_y;
    if (sub[0])
        h.subtitle_y = y += 20;
    if (m->note && m->note[0]) {
        h.note = sanitize(m->note);
        h.note_lines = wrap_lines(h.note, NOTE_LINE_CHARS, h.note_starts, NOTE_MAX_LINES);
        h.note_y = y += 16;
        y += 15 * (int)(h.note_lines - 1);
    }
    h.legend_y = y += 20;
    h.frames_top = y + 10;
    return h;
}

/* Writes a centred line of header text (sanitised and escaped). */
static void put_header_line(FILE *out, const char *id, const char *cls, int y, const char *text)
{
    fprintf(out, "<text id=\"%s\" class=\"%s\" x=\"%d\" y=\"%d\">", id, cls, FG_WIDTH / 2, y);
    put_text(out, text);
    fputs("</text>\n", out);
}

/* Writes the note, one <tspan> per wrapped line; its text content is the
 * whole note. */
static void put_note(FILE *out, const struct header *h)
{
    fprintf(out, "<text id=\"note\" class=\"sub\" x=\"%d\" y=\"%d\">", FG_WIDTH / 2, h->note_y);
    for (size_t i = 0; i < h->note_lines; i++) {
        size_t start = h->note_starts[i];
        size_t end = i + 1 < h->note_lines ? h->note_starts[i + 1] : strlen(h->note);
        fprintf(out, "<tspan x=\"%d\" y=\"%d\">", FG_WIDTH / 2, h->note_y + 15 * (int)i);
        put_escaped(out, h->note + start, end - start);
        fputs("</tspan>", out);
    }
    fputs("</text>\n", out);
}

/* Writes the header: title, subtitle, note, buttons and legend. */
static void put_header(FILE *out, const struct fg *g, const struct header *h,
                       const struct profile_meta *m, const char *sub)
{
    put_header_line(out, "title", "title", h->title_y,
                    m->title && m->title[0] ? m->title : "Flame graph");
    if (h->subtitle_y)
        put_header_line(out, "subtitle", "sub", h->subtitle_y, sub);
    if (h->note_y)
        put_note(out, h);
    put_button(out, "reset", "btn off", FG_PAD, 90, "Reset zoom");
    put_button(out, "search", "btn", FG_WIDTH - FG_PAD - 100, 100, "Search");
    if (g->base_share)
        put_diff_legend(out, g, h->legend_y);
    else
        put_legend(out, h->legend_y, has_native_code(g->profile));
}

/* Returns the deepest level among drawn nodes. */
static uint32_t max_drawn_depth(const struct fg *g, const struct tree *t)
{
    uint32_t max_depth = 0;
    for (size_t i = 0; i < t->count; i++) {
        if (t->nodes[i].depth > max_depth && node_visible(g, &t->nodes[i]))
            max_depth = t->nodes[i].depth;
    }
    return max_depth;
}

/* Writes the whole document for a built and laid-out tree. */
static void put_document(struct fg *g, const struct tree *t, const struct profile_meta *m)
{
    FILE *out = g->out;
    char *sub = subtitle(m, g->total);
    struct header h = header_layout(m, sub);
    uint32_t max_depth = g->total ? max_drawn_depth(g, t) : 0;
    int levels = g->total ? (int)max_depth + 1 : 0;
    int height = h.frames_top + levels * FG_FRAME_H + 34;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", out);
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\">\n<title>",
            FG_WIDTH, height, FG_WIDTH, height);
    put_text(out, m->title && m->title[0] ? m->title : "Flame graph");
    fprintf(out, "</title>\n<style><![CDATA[\n%s]]></style>\n", flamegraph_css);
    fputs("<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
          "<stop offset=\"5%\" stop-color=\"#f2f2f2\"/><stop offset=\"95%\" "
          "stop-color=\"#fbfbf4\"/></linearGradient></defs>\n",
          out);
    fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n", FG_WIDTH,
            height);
    put_header(out, g, &h, m, sub);
    free(sub);
    free(h.note);
    if (g->total)
        put_frames(g, t, max_depth, h.frames_top);
    else
        fputs("<g id=\"frames\" data-total=\"0\" data-left=\"0\" data-width=\"0\" "
              "data-charw=\"7\"></g>\n",
              out);
    fprintf(out, "<text id=\"details\" x=\"%d\" y=\"%d\">%s</text>\n", FG_PAD, height - 12,
            g->total ? "Hover over a frame for details; click to zoom; Ctrl-F to search."
                     : "No samples.");
    fprintf(out, "<text id=\"matched\" x=\"%d\" y=\"%d\"></text>\n", FG_WIDTH - FG_PAD,
            height - 12);
    fprintf(out, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n</svg>\n",
            flamegraph_js);
}

/* A differential graph: each node's path's share of the baseline, and the
 * largest change among drawn nodes. Returns 0 or -SG_ENOMEM. */
static int compare_with_baseline(struct fg *g, const struct tree *t, const struct profile *base)
{
    struct tree bt = {0};
    int err = tree_build(&bt, base);
    if (err) {
        tree_release(&bt);
        return err;
    }
    uint32_t *match = xcalloc(t->count, sizeof(*match));
    g->base_share = xcalloc(t->count, sizeof(*g->base_share));
    double base_total = (double)bt.nodes[0].weight;
    for (size_t i = 0; i < t->count; i++) { /* parents come before their children */
        const struct node *n = &t->nodes[i];
        match[i] = i == 0                        ? 0
                   : match[n->parent] == NO_NODE ? NO_NODE
                                                 : tree_find(&bt, match[n->parent], n->frame);
        if (match[i] != NO_NODE && base_total > 0)
            g->base_share[i] = (double)bt.nodes[match[i]].weight / base_total;
        if (node_visible(g, n) && fabs(share_change(g, n, (uint32_t)i)) > g->max_change)
            g->max_change = fabs(share_change(g, n, (uint32_t)i));
    }
    free(match);
    tree_release(&bt);
    return 0;
}

/* Writes p as an interactive SVG flame graph. Returns 0, -SG_EIO when
 * writing fails, or -SG_ENOMEM for a tree beyond 2^32 nodes. */
int flamegraph_write(const struct profile *p, FILE *out, const struct format_options *opt)
{
    const struct profile_meta *m = profile_meta_const(p);
    struct tree t = {0};
    size_t frame_count = profile_frame_count(p);
    struct fg g = {p, opt, out, 0, NULL, NULL, NULL, 0};
    uint32_t *rank = NULL;
    int err = tree_build(&t, p);
    if (err)
        goto out;
    g.total = t.nodes[0].weight;
    g.unit = sanitize(m->unit && m->unit[0] ? m->unit : "samples");
    g.labels = xcalloc(frame_count, sizeof(*g.labels));
    rank = frame_ranks(p);
    tree_layout(&t, rank);
    if (opt && opt->baseline && g.total && (err = compare_with_baseline(&g, &t, opt->baseline)))
        goto out;
    put_document(&g, &t, m);
    if (fflush(out) != 0 || ferror(out))
        err = -SG_EIO;
out:
    for (size_t i = 0; g.labels && i < frame_count; i++)
        free(g.labels[i]);
    free(g.labels);
    free(g.unit);
    free(g.base_share);
    free(rank);
    tree_release(&t);
    return err;
}
