/*
 * table.c - pstats' print_stats() report, reproduced exactly.
 *
 * The layout, the sort keys and their tie-breaking follow Lib/pstats.py
 * (identical from Python 3.6 to 3.13): rows are sorted by the chosen fields
 * with a stable sort, so ties keep the dump's dict order; each row is
 *     ncalls (right-aligned in 9, "nc/cc" when they differ), tottime,
 *     tottime/nc, cumtime, cumtime/cc (each "%8.3f", blank when dividing by
 *     zero), and the function as func_std_string() writes it:
 *     "file:line(name)", or for builtins (file "~", line 0) the name with
 *     its angle brackets turned into braces.
 * The header sums nc, cc and tt over all functions in dict order, as pstats
 * does, so even the rounding of the total matches. Dict order is the file's
 * for a Python 3 dump; for a dump written by Python 2.7 (byte-string keys)
 * it is 2.7's hash order (report/dictorder.c), which 2.7's pstats lists
 * and keeps among ties.
 */
#include "report/table.h"

#include <inttypes.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/dictorder.h"
#include "util/err.h"
#include "util/util.h"

/* The fields of pstats' sort tuple (cc, nc, tt, ct, file, line, name, stdname). */
enum field { F_CC, F_NC, F_TT, F_CT, F_FILE, F_LINE, F_NAME, F_STDNAME };

struct sort_field {
    enum field field;
    int direction; /* 1 ascending, -1 descending */
};

/* pstats' sort_arg_dict_default, in its order (which decides abbreviations). */
static const struct sort_key {
    const char *word;
    const char *description;
    struct sort_field fields[3];
    int field_count;
} sort_keys[] = {
    {"calls", "call count", {{F_NC, -1}}, 1},
    {"ncalls", "call count", {{F_NC, -1}}, 1},
    {"cumtime", "cumulative time", {{F_CT, -1}}, 1},
    {"cumulative", "cumulative time", {{F_CT, -1}}, 1},
    {"filename", "file name", {{F_FILE, 1}}, 1},
    {"line", "line number", {{F_LINE, 1}}, 1},
    {"module", "file name", {{F_FILE, 1}}, 1},
    {"name", "function name", {{F_NAME, 1}}, 1},
    {"nfl", "name/file/line", {{F_NAME, 1}, {F_FILE, 1}, {F_LINE, 1}}, 3},
    {"pcalls", "primitive call count", {{F_CC, -1}}, 1},
    {"stdname", "standard name", {{F_STDNAME, 1}}, 1},
    {"time", "internal time", {{F_TT, -1}}, 1},
    {"tottime", "internal time", {{F_TT, -1}}, 1},
};
#define SORT_KEY_COUNT (sizeof(sort_keys) / sizeof(sort_keys[0]))

/* One row being sorted. */
struct row {
    const struct pstats_func *func;
    char *stdname;
    size_t position; /* in the dump, for stability */
};

struct sorter {
    struct sort_field fields[TABLE_MAX_KEYS * 3];
    size_t count;
};

/* ---- sort keys ---- */

/* pstats' get_sort_arg_defs: every word and each of its prefixes is a key,
 * walking the words in order and each word's prefixes from the longest;
 * meeting a prefix that is already a key stops that word and makes the
 * prefix ambiguous, so it is dropped. */
int table_sort_key(const char *word)
{
    struct fragment {
        const char *text; /* the first len bytes of a key word */
        size_t len;
        int key;
        int bad;
    } seen[SORT_KEY_COUNT * 12];
    size_t count = 0;
    for (size_t k = 0; k < SORT_KEY_COUNT; k++) {
        const char *w = sort_keys[k].word;
        for (size_t len = strlen(w); len > 0; len--) {
            size_t i;
            for (i = 0; i < count; i++) {
                if (seen[i].len == len && !strncmp(seen[i].text, w, len))
                    break;
            }
            if (i < count) {
                seen[i].bad = 1;
                break;
            }
            seen[count++] = (struct fragment){w, len, (int)k, 0};
        }
    }
    size_t word_len = strlen(word);
    for (size_t i = 0; i < count; i++) {
        if (seen[i].len == word_len && !strncmp(seen[i].text, word, word_len))
            return seen[i].bad ? -1 : seen[i].key;
    }
    return -1;
}

/* ---- names ---- */

/* func_std_string: a newly allocated "file:line(name)", or for a builtin
 * ("~", 0) its name, with "<...>" shown as "{...}". */
static char *std_string(const struct pstats_key *k)
{
    if (k->line == 0 && !strcmp(k->file, "~")) {
        size_t n = strlen(k->name);
        if (n >= 2 && k->name[0] == '<' && k->name[n - 1] == '>')
            return xasprintf("{%.*s}", (int)(n - 2), k->name + 1);
        return xstrdup(k->name);
    }
    return xasprintf("%s:%" PRId64 "(%s)", k->file, k->line, k->name);
}

void table_source_line(char *buf, size_t size, const char *path, time_t mtime)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (!localtime_r(&mtime, &tm)) {
        snprintf(buf, size, "%s", path);
        return;
    }
    /* time.ctime()'s layout, always in English: "Mon Nov  3 08:05:17 2026". */
    snprintf(buf, size, "%s %s%3d %.2d:%.2d:%.2d %d    %s", days[tm.tm_wday % 7],
             months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             tm.tm_year + 1900, path);
}

/* ---- sorting ---- */

static int compare_field(const struct row *a, const struct row *b, enum field field)
{
    const struct pstats_func *x = a->func, *y = b->func;
    switch (field) {
    case F_CC:
        return (x->cc > y->cc) - (x->cc < y->cc);
    case F_NC:
        return (x->nc > y->nc) - (x->nc < y->nc);
    case F_TT: /* NaN compares equal to everything, as with Python's < and > */
        return (x->tt > y->tt) - (x->tt < y->tt);
    case F_CT:
        return (x->ct > y->ct) - (x->ct < y->ct);
    case F_FILE:
        return strcmp(x->key.file, y->key.file);
    case F_LINE:
        return (x->key.line > y->key.line) - (x->key.line < y->key.line);
    case F_NAME:
        return strcmp(x->key.name, y->key.name);
    case F_STDNAME:
        return strcmp(a->stdname, b->stdname);
    }
    return 0;
}

/* Orders rows as pstats' TupleComp, then by dump position (Python's sort is
 * stable). qsort_r passes the sorter. Comparing UTF-8 bytes with strcmp
 * orders strings by code point, as Python compares str. */
static int compare_rows(const void *pa, const void *pb, void *ctx)
{
    const struct row *a = pa, *b = pb;
    const struct sorter *s = ctx;
    for (size_t i = 0; i < s->count; i++) {
        int c = compare_field(a, b, s->fields[i].field);
        if (c)
            return c < 0 ? -s->fields[i].direction : s->fields[i].direction;
    }
    return (a->position > b->position) - (a->position < b->position);
}

/* ---- printing ---- */

/* rows[0 .. st->count) are in dict order. */
static void print_header(const struct pstats *st, const struct row *rows, FILE *out,
                         const struct table_options *opt)
{
    /* Python ints do not overflow; wrapping (unsigned) keeps this defined
     * for absurd dumps, where pstats would print a huge number instead. */
    uint64_t total_calls = 0, prim_calls = 0;
    double total_tt = 0;
    for (size_t i = 0; i < st->count; i++) {
        total_calls += (uint64_t)rows[i].func->nc;
        prim_calls += (uint64_t)rows[i].func->cc;
        total_tt += rows[i].func->tt;
    }
    if (opt->source)
        fprintf(out, "%s\n\n", opt->source);
    for (size_t i = 0; i < st->count; i++) {
        if (st->funcs[i].top_level)
            fprintf(out, "         %s\n", st->funcs[i].key.name);
    }
    fprintf(out, "         %" PRId64 " function calls ", (int64_t)total_calls);
    if (total_calls != prim_calls)
        fprintf(out, "(%" PRId64 " primitive calls) ", (int64_t)prim_calls);
    fprintf(out, "in %.3f seconds\n\n", total_tt);
}

static void print_row(FILE *out, const struct row *r)
{
    const struct pstats_func *f = r->func;
    char calls[48];
    if (f->nc != f->cc)
        snprintf(calls, sizeof(calls), "%" PRId64 "/%" PRId64, f->nc, f->cc);
    else
        snprintf(calls, sizeof(calls), "%" PRId64, f->nc);
    fprintf(out, "%9s %8.3f ", calls, f->tt);
    if (f->nc == 0)
        fputs("         ", out);
    else
        fprintf(out, "%8.3f ", f->tt / (double)f->nc);
    fprintf(out, "%8.3f ", f->ct);
    if (f->cc == 0)
        fputs("         ", out);
    else
        fprintf(out, "%8.3f ", f->ct / (double)f->cc);
    fprintf(out, "%s\n", r->stdname);
}

/* Builds the rows in dict order (see the top of the file); the caller
 * frees them with free_rows. */
static struct row *make_rows(const struct pstats *st)
{
    struct row *rows = xcalloc(st->count ? st->count : 1, sizeof(*rows));
    size_t *order = xcalloc(st->count ? st->count : 1, sizeof(*order));
    if (!st->byte_keys || dictorder_py27(st, order) != 0) {
        for (size_t i = 0; i < st->count; i++)
            order[i] = i;
    }
    for (size_t i = 0; i < st->count; i++) {
        rows[i].func = &st->funcs[order[i]];
        rows[i].stdname = std_string(&rows[i].func->key);
        rows[i].position = i;
    }
    free(order);
    return rows;
}

static void free_rows(struct row *rows, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(rows[i].stdname);
    free(rows);
}

/* The "Ordered by" line, and the rows in that order. */
static void sort_rows(struct row *rows, size_t count, const struct table_options *opt,
                      struct strbuf *msg)
{
    struct sorter s = {.count = 0};
    if (!opt->sort_count) {
        strbuf_addstr(msg, "   Random listing order was used\n");
        return;
    }
    strbuf_addstr(msg, "   Ordered by: ");
    for (size_t i = 0; i < opt->sort_count && i < TABLE_MAX_KEYS; i++) {
        const struct sort_key *k = &sort_keys[opt->sort[i]];
        strbuf_addf(msg, "%s%s", i ? ", " : "", k->description);
        for (int j = 0; j < k->field_count; j++)
            s.fields[s.count++] = k->fields[j];
    }
    strbuf_addch(msg, '\n');
    qsort_r(rows, count, sizeof(*rows), compare_rows, &s);
}

int table_print(const struct pstats *st, FILE *out, const struct table_options *opt)
{
    for (size_t i = 0; i < opt->sort_count; i++) {
        if (opt->sort[i] < 0 || (size_t)opt->sort[i] >= SORT_KEY_COUNT)
            return -SG_ECORRUPT;
    }
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    locale_t old_locale = c_locale ? uselocale(c_locale) : (locale_t)0;
    struct row *rows = make_rows(st);
    struct strbuf msg;
    strbuf_init(&msg);
    print_header(st, rows, out, opt);
    sort_rows(rows, st->count, opt, &msg);
    size_t shown = st->count;
    if (opt->limit >= 0 && (size_t)opt->limit < st->count) {
        shown = (size_t)opt->limit;
        strbuf_addf(&msg, "   List reduced from %zu to %zu due to restriction <%ld>\n", st->count,
                    shown, opt->limit);
    }
    if (shown) {
        fprintf(out, "%s\n", msg.buf);
        fputs("   ncalls  tottime  percall  cumtime  percall filename:lineno(function)\n", out);
        for (size_t i = 0; i < shown; i++)
            print_row(out, &rows[i]);
        fputs("\n\n", out);
    }
    strbuf_release(&msg);
    free_rows(rows, st->count);
    if (c_locale) {
        uselocale(old_locale);
        freelocale(c_locale);
    }
    return ferror(out) ? -SG_EIO : 0;
}
