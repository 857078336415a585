/*
 * lines.c - the memory_profiler-style line report (see lines.h).
 *
 * A function is a (name, file) pair of interned strings. For each one that
 * matches, every stack is searched from the leaf for the function's
 * innermost frame; that frame's line gets the stack's samples, growth,
 * release and peak RSS. The table then runs from the function's `def` line
 * to the end of its body, found in the source by indentation; when the
 * source cannot be read, only lines that have figures are printed.
 */
#include "report/lines.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/util.h"

#define MAX_FUNCTIONS 32
#define MAX_LINE 1000000      /* line numbers beyond this are ignored */
#define MAX_SOURCE (8u << 20) /* bytes of a source file read */

struct function {
    const char *name, *file; /* interned in the profile */
};

struct line_stat {
    uint64_t samples, grown, freed, peak_rss;
    int seen;
};

struct source {
    char *text;
    char **lines; /* lines[1..count] */
    size_t count;
};

/* Returns 1 if s ends with "sep" + tail, or equals tail. */
static int ends_with_part(const char *s, const char *tail, char sep)
{
    size_t ls = strlen(s), lt = strlen(tail);
    if (ls == lt)
        return strcmp(s, tail) == 0;
    return ls > lt && s[ls - lt - 1] == sep && strcmp(s + ls - lt, tail) == 0;
}

static int frame_matches(const struct profile_frame *f, const char *what)
{
    return f->kind == PF_PYTHON && (ends_with_part(f->name, what, '.') ||
                                    (f->file[0] && ends_with_part(f->file, what, '/')));
}

/* Collects the matching functions in frame order; returns their count. */
static size_t find_functions(const struct profile *p, const char *what, struct function *out)
{
    size_t n = 0;
    for (size_t i = 0; i < profile_frame_count(p) && n < MAX_FUNCTIONS; i++) {
        const struct profile_frame *f = profile_frame(p, (uint32_t)i);
        if (!frame_matches(f, what))
            continue;
        size_t j = 0;
        while (j < n && !(out[j].name == f->name && out[j].file == f->file))
            j++;
        if (j == n)
            out[n++] = (struct function){f->name, f->file};
    }
    return n;
}

/* Builds "a few functions the profile has" for the error message. */
static void list_some(const struct profile *p, char *err, size_t errsize)
{
    struct strbuf sb;
    strbuf_init(&sb);
    size_t listed = 0;
    for (size_t i = 0; i < profile_frame_count(p) && listed < 6; i++) {
        const struct profile_frame *f = profile_frame(p, (uint32_t)i);
        if (f->kind != PF_PYTHON || (sb.buf && strstr(sb.buf, f->name)))
            continue;
        strbuf_addf(&sb, "%s%s", listed++ ? ", " : "", f->name);
    }
    snprintf(err, errsize, "no function or file in the profile matches (it has: %s)",
             sb.buf ? sb.buf : "no Python functions");
    strbuf_release(&sb);
}

/* Adds up, per line of fn, the stacks whose innermost fn frame is on it.
 * Returns the stats indexed by line (caller frees) and sets *max_line. */
static struct line_stat *gather(const struct profile *p, const struct function *fn,
                                size_t *max_line)
{
    size_t cap = 0;
    struct line_stat *st = NULL;
    *max_line = 0;
    for (size_t s = 0; s < profile_stack_count(p); s++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *ids = profile_stack(p, (uint32_t)s, &depth, &weight);
        const struct profile_memory *m = profile_stack_memory(p, (uint32_t)s);
        for (size_t d = depth; d-- > 0;) {
            const struct profile_frame *f = profile_frame(p, ids[d]);
            if (f->name != fn->name || f->file != fn->file)
                continue;
            if (f->line <= 0 || f->line > MAX_LINE)
                break;
            size_t line = (size_t)f->line;
            if (line + 1 > cap) {
                size_t old = cap;
                st = xgrow(st, sizeof(*st), line + 1, &cap);
                memset(st + old, 0, (cap - old) * sizeof(*st));
            }
            struct line_stat *ls = &st[line];
            /* stacks charged while idle exist with no samples: count them
             * only once something is charged to them */
            if (!(m ? m->samples || m->grown || m->freed : weight))
                break;
            ls->seen = 1;
            ls->samples += m ? m->samples : weight;
            if (m) {
                ls->grown += m->grown;
                ls->freed += m->freed;
                ls->peak_rss = m->peak_rss > ls->peak_rss ? m->peak_rss : ls->peak_rss;
            }
            if (line > *max_line)
                *max_line = line;
            break;
        }
    }
    return st;
}

/* Reads the regular file at path (at most MAX_SOURCE bytes) into src, split
 * into lines. Returns 0 or -1. */
static int source_read(struct source *src, const char *path)
{
    memset(src, 0, sizeof(*src));
    /* only a regular file: a profile names the path, and a FIFO or a
     * device there must not block or feed us forever */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat file_stat;
    if (fd < 0)
        return -1;
    FILE *f = fstat(fd, &file_stat) == 0 && S_ISREG(file_stat.st_mode) ? fdopen(fd, "rb") : NULL;
    if (!f) {
        close(fd);
        return -1;
    }
    struct strbuf sb;
    strbuf_init(&sb);
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && sb.len < MAX_SOURCE)
        strbuf_add(&sb, chunk, n);
    fclose(f);
    src->text = sb.buf ? strbuf_detach(&sb) : xstrdup("");
    size_t cap = 0;
    char *s = src->text;
    while (*s) {
        src->lines = xgrow(src->lines, sizeof(*src->lines), src->count + 2, &cap);
        src->lines[++src->count] = s;
        char *nl = strchr(s, '\n');
        if (!nl)
            break;
        *nl = '\0';
        if (nl > s && nl[-1] == '\r')
            nl[-1] = '\0';
        s = nl + 1;
    }
    return 0;
}

static void source_release(struct source *src)
{
    free(src->text);
    free(src->lines);
}

static size_t indent_of(const char *s)
{
    size_t n = 0;
    while (s[n] == ' ' || s[n] == '\t')
        n++;
    return n;
}

static int is_blank(const char *s)
{
    return s[indent_of(s)] == '\0' || s[indent_of(s)] == '#';
}

/* Returns 1 if text is "def NAME(" or "async def NAME(" for the last
 * part of the qualified name. */
static int is_def_of(const char *text, const char *qualname)
{
    const char *name = strrchr(qualname, '.');
    name = name ? name + 1 : qualname;
    text += indent_of(text);
    if (!strncmp(text, "async ", 6))
        text += 6 + indent_of(text + 6);
    if (strncmp(text, "def ", 4))
        return 0;
    text += 4 + indent_of(text + 4);
    size_t len = strlen(name);
    return !strncmp(text, name, len) && (text[len] == '(' || isspace((unsigned char)text[len]));
}

/* Finds the lines to show: the def line above first_seen and the end of
 * the body below it, or just [first_seen, last_seen]. */
static void line_range(const struct source *src, const struct function *fn, size_t first_seen,
                       size_t last_seen, size_t *from, size_t *to)
{
    *from = first_seen;
    *to = last_seen;
    if (!src->count || first_seen > src->count || !strcmp(fn->name, "<module>"))
        return;
    size_t def = 0;
    for (size_t l = first_seen; l >= 1 && !def; l--) {
        if (is_def_of(src->lines[l], fn->name))
            def = l;
    }
    if (!def)
        return;
    size_t indent = indent_of(src->lines[def]), end = def;
    for (size_t l = def + 1; l <= src->count; l++) {
        if (is_blank(src->lines[l]))
            continue;
        if (indent_of(src->lines[l]) <= indent)
            break;
        end = l;
    }
    *from = def;
    *to = end > last_seen ? end : last_seen;
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void put_row(FILE *out, size_t line, const struct line_stat *ls, int memory,
                    uint64_t total_samples, const char *text)
{
    if (!ls || !ls->seen) {
        fprintf(out, "%6zu %12s %12s %12s %8s   %s\n", line, "", "", "", "", text);
        return;
    }
    char usage[32] = "", inc[32] = "";
    if (memory) {
        double net = mib(ls->grown) - mib(ls->freed);
        snprintf(usage, sizeof(usage), "%.1f MiB", mib(ls->peak_rss));
        snprintf(inc, sizeof(inc), "%.1f MiB", net > -0.05 && net < 0.05 ? 0.0 : net);
    }
    fprintf(out, "%6zu %12s %12s %12" PRIu64 " %7.1f%%   %s\n", line, usage, inc, ls->samples,
            total_samples ? 100.0 * (double)ls->samples / (double)total_samples : 0.0, text);
}

/* Sums samples, growth and release over all stacks. */
static void totals(const struct profile *p, uint64_t *samples, uint64_t *grown, uint64_t *freed)
{
    *samples = *grown = *freed = 0;
    for (size_t s = 0; s < profile_stack_count(p); s++) {
        size_t depth;
        uint64_t weight;
        profile_stack(p, (uint32_t)s, &depth, &weight);
        const struct profile_memory *m = profile_stack_memory(p, (uint32_t)s);
        *samples += m ? m->samples : weight;
        *grown += m ? m->grown : 0;
        *freed += m ? m->freed : 0;
    }
}

static void print_function(const struct profile *p, const struct function *fn, FILE *out)
{
    size_t max_line;
    struct line_stat *st = gather(p, fn, &max_line);
    int memory = profile_memory_enabled(p);
    uint64_t samples, grown, freed, fn_grown = 0, fn_freed = 0;
    totals(p, &samples, &grown, &freed);
    size_t first = 0;
    for (size_t l = 1; l <= max_line; l++) {
        if (st[l].seen && !first)
            first = l;
        fn_grown += st[l].grown;
        fn_freed += st[l].freed;
    }
    struct source src;
    int have_source = source_read(&src, fn->file) == 0;
    size_t from = first, to = max_line;
    if (have_source && first)
        line_range(&src, fn, first, max_line, &from, &to);
    fprintf(out, "Function: %s\nFilename: %s%s\n", fn->name, fn->file,
            have_source ? "" : " (source not readable: lines with figures only)");
    if (memory)
        fprintf(out,
                "Growth charged here %.1f MiB of %.1f MiB, release %.1f MiB of %.1f MiB; "
                "Mem usage is the highest RSS seen on the line\n",
                mib(fn_grown), mib(grown), mib(fn_freed), mib(freed));
    fprintf(out, "\n%6s %12s %12s %12s %8s   %s\n", "Line #", "Mem usage", "Increment",
            "Occurrences", "Time", "Line Contents");
    fprintf(out, "%s\n",
            "==========================================================="
            "=====================");
    for (size_t l = from; first && l <= to; l++) {
        const struct line_stat *ls = l <= max_line ? &st[l] : NULL;
        if (!have_source && !(ls && ls->seen))
            continue;
        const char *text = have_source && l <= src.count ? src.lines[l] : "";
        put_row(out, l, ls, memory, samples, text);
    }
    if (!first)
        fputs("(no samples on a line of this function: recorded with --function?)\n", out);
    fputc('\n', out);
    if (have_source)
        source_release(&src);
    free(st);
}

int lines_print(const struct profile *p, const char *what, FILE *out, char *err, size_t errsize)
{
    struct function fns[MAX_FUNCTIONS];
    size_t n = find_functions(p, what, fns);
    if (!n) {
        list_some(p, err, errsize);
        return -1;
    }
    const struct profile_meta *m = profile_meta_const(p);
    if (profile_memory_enabled(p) && m->peak_rss)
        fprintf(out,
                "%s%sPeak RSS %.1f MiB at %.2f s, final %.1f MiB; %" PRIu64 " samples at %g Hz\n\n",
                m->target ? m->target : "", m->target ? "\n" : "", mib(m->peak_rss),
                (double)m->peak_rss_ns / 1e9, mib(m->final_rss), m->samples, m->rate_hz);
    for (size_t i = 0; i < n; i++)
        print_function(p, &fns[i], out);
    return fflush(out) != 0 || ferror(out) ? -SG_EIO : 0;
}
