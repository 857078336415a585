/*
 * cmd_report.c - `spyglass report FILE`: render a saved profile.
 *
 * Reads a cProfile/profile dump (pstats) or a collapsed-stacks file, told
 * apart by content, never by name, and writes it as the pstats table (what
 * pstats.Stats(FILE).sort_stats(...).print_stats(N) prints) or through any
 * of the writers in format/. A dump has caller edges, not stacks, so the
 * stack-based formats get the call tree of report/calltree.c, which says on
 * its face how it was made. A collapsed file is turned into a profile
 * directly; its table is that of the pstats dump format/pstats.c would
 * write for it. Results go through output.c: complete or absent.
 *
 * `report --diff BEFORE AFTER` reads two files of any of those kinds into
 * profiles, brings them to function level over one frame numbering
 * (report/diff.c), and writes a differential flame graph of AFTER coloured
 * by the change since BEFORE, or the text table of the biggest changes.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "format/format.h"
#include "import/import.h"
#include "import/pstats.h"
#include "import/sniff.h"
#include "profile/profile.h"
#include "report/calltree.h"
#include "report/diff.h"
#include "report/lines.h"
#include "report/table.h"
#include "util/err.h"
#include "util/output.h"
#include "util/util.h"

/* Larger inputs are refused: a dump's values take several times its size
 * in memory. Real dumps are a few MiB. */
#define REPORT_MAX_BYTES (256u << 20)

/* Rows of the --diff text table unless --limit says otherwise. */
#define DIFF_DEFAULT_ROWS 25

struct report_options {
    const char *input;  /* with --diff: AFTER */
    const char *before; /* --diff: BEFORE */
    int diff;
    const char *output; /* NULL: stdout */
    const char *format; /* NULL: from the output's extension, else table */
    struct table_options table;
    int sorted, limited; /* --sort / --limit given */
    double rate;         /* for collapsed input */
    int full_filenames;
    const char *lines; /* --lines: function or file */
};

/* What was read. */
struct input {
    uint8_t *data;
    size_t len;
    time_t mtime;
    int has_mtime;
    char *source; /* the table's first line */
};

static void report_help(void)
{
    char formats[256];
    format_list(formats, sizeof(formats));
    printf("usage: spyglass report FILE [-o OUT] [--format F] [--sort KEY] [--limit N]\n"
           "       spyglass report FILE --lines FUNCTION_OR_FILE\n"
           "       spyglass report --diff BEFORE AFTER [-o OUT.svg | --format text] [--limit N]\n\n"
           "Render a saved profile: a cProfile/profile dump (python -m cProfile -o FILE,\n"
           "pstats.Stats.dump_stats, spyglass record --format pstats), a collapsed-stack\n"
           "file (\"frame;frame;frame COUNT\" lines) or spyglass's own format (record\n"
           "--format spyglass). Which one is told from the content.\n\n"
           "By default it prints the pstats table, the same text and figures as\n"
           "    pstats.Stats(FILE).sort_stats(KEY).print_stats(N)\n"
           "with ncalls (\"total/primitive\" for recursion), tottime, percall, cumtime,\n"
           "percall and filename:lineno(function).\n\n"
           "Options:\n"
           "  -o, --output OUT     write to OUT instead of standard output\n"
           "  -f, --format F       table (or text), %s\n"
           "                       (default: from OUT's extension: .svg flamegraph,\n"
           "                       .folded collapsed, .json speedscope, .prof pstats,\n"
           "                       .pb.gz pprof; else table)\n"
           "  -s, --sort KEY       sort the table like pstats: cumulative, tottime, ncalls,\n"
           "                       name, pcalls, filename, line, nfl, stdname (or a unique\n"
           "                       abbreviation); repeat or separate with commas for ties.\n"
           "                       Default: the file's order, as print_stats() without\n"
           "                       sort_stats()\n"
           "  -n, --limit N        print at most N rows of the table\n"
           "  -l, --lines WHAT     a line-by-line table of each function WHAT names (a\n"
           "                       function, Class.method, or a file: app.py), in\n"
           "                       memory_profiler's columns: Mem usage (highest RSS seen\n"
           "                       on the line), Increment (net RSS change charged to it),\n"
           "                       Occurrences (samples on it), plus Time (share of all\n"
           "                       samples) and the source line. Memory columns need a\n"
           "                       profile from record --memory --format spyglass; other\n"
           "                       sampled profiles give the sample columns only\n"
           "  -r, --rate HZ        the sampling rate of a collapsed file, to turn counts\n"
           "                       into seconds (default 100, that of spyglass record)\n"
           "      --full-filenames show full file paths in flame graphs and other writers\n"
           "      --diff           compare two profiles: BEFORE AFTER (see below)\n"
           "  -h, --help           show this help\n\n"
           "A cProfile dump holds, per function, its times and its callers, not whole\n"
           "stacks: flame graphs and the other stack formats show a call tree rebuilt by\n"
           "splitting each function's time over its callees in proportion to the time on\n"
           "each edge, where each function keeps exactly its own time. Which path the\n"
           "time took is an estimate, and the output says so. --format pstats re-saves\n"
           "a dump exactly (a Python 2.7 dump becomes one Python 3 loads).\n\n"
           "--diff BEFORE AFTER compares two profiles of any kind above (a dump with a\n"
           "recording too), function by function (name and file; lines are left out, so\n"
           "code that moved still matches), by share of each profile's total. With -o\n"
           "OUT.svg (or --format flamegraph) it draws a differential flame graph: AFTER's\n"
           "frames, red where their share grew since BEFORE, blue where it shrank, the\n"
           "deepest colour for the largest change, both shares in each tooltip. Otherwise\n"
           "(--format text) it prints the functions whose own share changed most (%d\n"
           "rows, or --limit N), with their total share beside it.\n\n"
           "Examples:\n"
           "  python -m cProfile -o app.prof app.py\n"
           "  spyglass report app.prof --sort cumulative --limit 20\n"
           "  spyglass report app.prof -o app.svg\n"
           "  spyglass report app.prof -o app.pb.gz && go tool pprof -top app.pb.gz\n"
           "  spyglass record --memory -o mem.spyglass -- python load.py\n"
           "  spyglass report mem.spyglass --lines main\n"
           "  spyglass report --diff v1.prof v2.prof -o what-changed.svg\n"
           "  spyglass report --diff v1.prof v2.prof --limit 10\n",
           formats, DIFF_DEFAULT_ROWS);
}

/* ---- options ---- */

/* Adds the comma-separated sort keys in arg. Returns 0 or EXIT_USAGE. */
static int add_sort_keys(struct report_options *o, const char *arg)
{
    char *copy = xstrdup(arg), *save = NULL;
    int rc = 0;
    for (char *word = strtok_r(copy, ",", &save); word && !rc; word = strtok_r(NULL, ",", &save)) {
        int key = table_sort_key(word);
        if (key < 0)
            rc = cmd_usage_error("report",
                                 "unknown sort key '%s' (cumulative, tottime, ncalls, name, "
                                 "pcalls, filename, line, nfl, stdname, or a unique prefix)",
                                 word);
        else if (o->table.sort_count == TABLE_MAX_KEYS)
            rc = cmd_usage_error("report", "at most %d sort keys", TABLE_MAX_KEYS);
        else
            o->table.sort[o->table.sort_count++] = key;
    }
    if (!rc && !o->table.sort_count)
        rc = cmd_usage_error("report", "--sort wants a key, got '%s'", arg);
    free(copy);
    return rc;
}

static int parse_limit(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Checks --diff's options once all are read. */
static int check_diff_options(struct report_options *o)
{
    if (!o->format) { /* .svg draws, .txt (or no known ending) prints the table */
        size_t len = o->output ? strlen(o->output) : 0;
        const struct format_writer *w = o->output ? format_for_path(o->output) : NULL;
        int txt = len >= 4 && !strcasecmp(o->output + len - 4, ".txt");
        o->format = !w || txt ? "table" : w->name;
    }
    if (strcmp(o->format, "table") != 0 && strcmp(o->format, "flamegraph") != 0)
        return cmd_usage_error("report", "--diff draws a flamegraph or prints a text table, not %s",
                               o->format);
    if (o->lines || o->sorted)
        return cmd_usage_error("report", "--diff orders its table by change: no --sort or "
                                         "--lines with it");
    if (o->limited && strcmp(o->format, "table") != 0)
        return cmd_usage_error("report", "--limit applies to the text table, not to %s", o->format);
    if (!o->limited)
        o->table.limit = DIFF_DEFAULT_ROWS;
    return 0;
}

/* Checks the combination of options once all are read. */
static int check_options(struct report_options *o)
{
    if (o->format && !strcmp(o->format, "text"))
        o->format = "table";
    if (o->diff)
        return check_diff_options(o);
    if (o->format && strcmp(o->format, "table") != 0 && !format_find(o->format)) {
        char formats[256];
        format_list(formats, sizeof(formats));
        return cmd_usage_error("report", "unknown format '%s' (known: table, %s)", o->format,
                               formats);
    }
    if (!o->format) {
        const struct format_writer *w = o->output ? format_for_path(o->output) : NULL;
        o->format = w ? w->name : "table";
    }
    if (o->lines && (o->sorted || o->limited || strcmp(o->format, "table") != 0))
        return cmd_usage_error("report", "--lines prints its own table: no --format, --sort "
                                         "or --limit with it");
    if (strcmp(o->format, "table") != 0 && (o->sorted || o->limited))
        return cmd_usage_error("report", "--sort and --limit apply to the table, not to %s",
                               o->format);
    return 0;
}

/* Returns 0, -1 after --help, or an exit code. */
static int parse(int argc, char **argv, struct report_options *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"format", required_argument, NULL, 'f'},
        {"sort", required_argument, NULL, 's'},   {"limit", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},   {"full-filenames", no_argument, NULL, 'L'},
        {"lines", required_argument, NULL, 'l'},  {"diff", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->table.limit = -1;
    o->rate = 100;
    static const char optstring[] = "o:f:s:n:r:l:h";
    optind = 1;
    opterr = 0;
    int c, rc = 0;
    while (!rc && (c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 's':
            o->sorted = 1;
            rc = add_sort_keys(o, optarg);
            break;
        case 'n':
            o->limited = 1;
            if (parse_limit(optarg, &o->table.limit))
                rc = cmd_usage_error("report", "--limit wants a number of rows, got '%s'", optarg);
            break;
        case 'r':
            o->rate = strtod(optarg, &end);
            if (end == optarg || *end || !isfinite(o->rate) || o->rate <= 0 || o->rate > 1e6)
                rc = cmd_usage_error("report", "--rate wants samples per second, got '%s'", optarg);
            break;
        case 'L':
            o->full_filenames = 1;
            break;
        case 'l':
            o->lines = optarg;
            break;
        case 'D':
            o->diff = 1;
            break;
        case 'h':
            report_help();
            return -1;
        default:
            return cmd_option_error("report", optstring, argv);
        }
    }
    if (rc)
        return rc;
    if (o->diff) {
        if (argc - optind != 2)
            return cmd_usage_error("report", "--diff compares two files: BEFORE AFTER (got %d)",
                                   argc - optind);
        o->before = argv[optind];
        o->input = argv[optind + 1];
        return check_options(o);
    }
    if (optind >= argc)
        return cmd_usage_error("report", "which file? give a .prof dump or collapsed stacks");
    if (optind + 1 < argc)
        return cmd_usage_error("report", "one file at a time (got '%s' and '%s')", argv[optind],
                               argv[optind + 1]);
    o->input = argv[optind];
    return check_options(o);
}

/* ---- input ---- */

static void too_big(const char *path)
{
    cmd_error("profile a shorter run, or fewer functions",
              "%s is larger than %u MiB, the most report reads", path, REPORT_MAX_BYTES >> 20);
}

/* Reads the whole input ("-": standard input). Returns 0, or prints the
 * error and returns EXIT_FAILURE_RUN. */
static int read_input(const char *path, struct input *in)
{
    memset(in, 0, sizeof(*in));
    int use_stdin = strcmp(path, "-") == 0;
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        int e = errno;
        cmd_error(e == ENOENT ? "check the path" : NULL, "cannot open %s: %s", path, strerror(e));
        return EXIT_FAILURE_RUN;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            cmd_error("give a file, not a directory", "%s is a directory", path);
            fclose(f);
            return EXIT_FAILURE_RUN;
        }
        if (S_ISREG(sb.st_mode) && !use_stdin) {
            in->mtime = sb.st_mtime;
            in->has_mtime = 1;
        }
        if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > REPORT_MAX_BYTES) {
            too_big(path);
            if (!use_stdin)
                fclose(f);
            return EXIT_FAILURE_RUN;
        }
    }
    struct strbuf buf;
    strbuf_init(&buf);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf.len <= REPORT_MAX_BYTES)
        strbuf_add(&buf, chunk, n);
    if (ferror(f)) {
        cmd_error(NULL, "cannot read %s: %s", path, strerror(errno));
        rc = EXIT_FAILURE_RUN;
    } else if (buf.len > REPORT_MAX_BYTES) {
        too_big(path);
        rc = EXIT_FAILURE_RUN;
    } else if (buf.len == 0) {
        cmd_error("was the profile written completely? (cProfile writes it when the program "
                  "exits normally)",
                  "%s is empty", path);
        rc = EXIT_FAILURE_RUN;
    }
    if (!use_stdin)
        fclose(f);
    in->len = buf.len;
    in->data = (uint8_t *)strbuf_detach(&buf);
    return rc;
}

/* The error for content that is neither a dump nor collapsed stacks. */
static void unknown_content(const char *path, const struct input *in)
{
    const char *hint = "report reads cProfile/profile dumps (python -m cProfile -o FILE ...) "
                       "and collapsed stacks ('frame;frame;frame COUNT' lines)";
    if (in->len >= 2 && in->data[0] == 0x1f && in->data[1] == 0x8b)
        cmd_error(hint,
                  "%s is gzip-compressed (a pprof profile?), not a pstats or "
                  "collapsed-stack file",
                  path);
    else if (in->len >= 1 && (in->data[0] & 0x7f) == '{')
        cmd_error(hint,
                  "%s: not a pstats dump: a marshalled dict, but its first key is not a "
                  "(file, line, function) tuple (byte 1)",
                  path);
    else
        cmd_error(hint, "%s: not a pstats or collapsed-stack file", path);
}

/* ---- output ---- */

/* Opens the destination. Returns 0 or EXIT_FAILURE_RUN (printed). */
static int open_output(const struct report_options *o, int binary, struct output *out)
{
    const char *path = o->output ? o->output : "-";
    if (binary && !strcmp(path, "-") && isatty(STDOUT_FILENO)) {
        cmd_error("give a file with -o (e.g. -o profile.prof, -o profile.pb.gz)",
                  "refusing to write binary %s data to a terminal", o->format);
        return EXIT_FAILURE_RUN;
    }
    char why[512];
    if (output_open(out, path, why, sizeof(why))) {
        cmd_error("choose a writable file with -o", "%s", why);
        return EXIT_FAILURE_RUN;
    }
    return 0;
}

/* Commits or discards the output after writing returned err. */
static int finish_output(const struct report_options *o, struct output *out, int err)
{
    char why[512] = "";
    if (!err)
        err = output_commit(out, why, sizeof(why));
    else
        output_abort_why(out, errno, why, sizeof(why)); /* disk full: say so */
    if (err) {
        cmd_error("check free space and permissions", "could not write %s: %s",
                  o->output ? o->output : "standard output", why[0] ? why : sg_strerror(err));
        return EXIT_FAILURE_RUN;
    }
    if (o->output)
        fprintf(stderr, "spyglass: wrote %s (%s)\n", o->output, o->format);
    return EXIT_OK;
}

/* Prints the table of st. */
static int write_table(const struct report_options *o, const struct input *in,
                       const struct pstats *st)
{
    struct output out;
    if (open_output(o, 0, &out))
        return EXIT_FAILURE_RUN;
    struct table_options topt = o->table;
    topt.source = in->source;
    return finish_output(o, &out, table_print(st, out.file, &topt));
}

/* Writes p with the writer o->format. */
static int write_profile(const struct report_options *o, const struct profile *p)
{
    const struct format_writer *w = format_find(o->format);
    struct output out;
    if (open_output(o, !strcmp(w->name, "pprof") || !strcmp(w->name, "pstats"), &out))
        return EXIT_FAILURE_RUN;
    struct format_options fo = {.full_filenames = o->full_filenames};
    return finish_output(o, &out, w->write(p, out.file, &fo));
}

/* ---- a pstats dump ---- */

static void calltree_meta(struct profile *p, const char *path, const struct calltree_result *r)
{
    struct profile_meta *m = profile_meta(p);
    char *target = xasprintf("%s (cProfile/pstats dump)", path);
    struct strbuf note;
    strbuf_init(&note);
    strbuf_addstr(&note, "call tree estimated from cProfile's caller edges: each function's "
                         "time is split over its callees in proportion to the time on each "
                         "edge; own times are the dump's");
    if (r->total_s > 0 && r->unplaced_s > 0.001 * r->total_s)
        strbuf_addf(&note,
                    "; %.1f%% of the time in functions the tree does not reach, drawn "
                    "as roots",
                    100.0 * r->unplaced_s / r->total_s);
    profile_set_meta_str(p, &m->title, "spyglass report");
    profile_set_meta_str(p, &m->target, target);
    profile_set_meta_str(p, &m->note, note.buf);
    m->duration_s = r->total_s;
    free(target);
    strbuf_release(&note);
}

/* The error for a dump pstats_load refused. */
static void dump_error(const char *path, const struct pstats *st)
{
    cmd_error(strstr(st->error, "truncated")
                  ? "the file is cut short: copy it again, or let the profiled program "
                    "finish writing it"
                  : "is it a cProfile/profile dump (python -m cProfile -o FILE, "
                    "pstats.Stats.dump_stats)?",
              "%s: %s", path, st->error);
}

/* The call tree of a loaded dump, as a new profile. */
static struct profile *dump_tree(const char *path, const struct pstats *st)
{
    struct profile *p = profile_new();
    struct calltree_result r;
    calltree_build(st, p, &r);
    calltree_meta(p, path, &r);
    return p;
}

static int report_pstats(const struct report_options *o, const struct input *in)
{
    if (o->lines) {
        cmd_error("record with spyglass (--format spyglass, or collapsed) to keep line numbers",
                  "%s is a cProfile/pstats dump: it has figures per function, not per line",
                  o->input);
        return EXIT_FAILURE_RUN;
    }
    struct pstats st;
    int err = pstats_load(&st, in->data, in->len);
    int rc = EXIT_OK;
    if (err) {
        dump_error(o->input, &st);
        rc = EXIT_FAILURE_RUN;
    } else if (!strcmp(o->format, "table")) {
        rc = write_table(o, in, &st);
    } else if (!strcmp(o->format, "pstats")) {
        struct output out;
        rc = open_output(o, 1, &out);
        if (!rc)
            rc = finish_output(o, &out, pstats_save(&st, out.file));
    } else {
        struct profile *p = dump_tree(o->input, &st);
        rc = write_profile(o, p);
        profile_free(p);
    }
    pstats_release(&st);
    return rc;
}

/* ---- collapsed stacks ---- */

/* The table of a sampled profile: the pstats dump our writer makes of it,
 * loaded back, so that the table shows what pstats would show for it. */
static int table_of_profile(const struct report_options *o, const struct input *in,
                            const struct profile *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        cmd_error(NULL, "out of memory");
        return EXIT_FAILURE_RUN;
    }
    struct format_options fo = {.full_filenames = 1};
    int err = pstats_write(p, mem, &fo);
    if (fclose(mem) != 0 && !err)
        err = -SG_EIO;
    struct pstats st;
    memset(&st, 0, sizeof(st));
    if (!err)
        err = pstats_load(&st, (const uint8_t *)buf, len);
    int rc = err ? EXIT_FAILURE_RUN : write_table(o, in, &st);
    if (err)
        cmd_error(NULL, "%s: cannot build the table: %s", o->input, st.error[0] ? st.error : "?");
    pstats_release(&st);
    free(buf);
    return rc;
}

/* Prints the --lines table of p. */
static int write_lines(const struct report_options *o, const struct profile *p)
{
    struct output out;
    if (open_output(o, 0, &out))
        return EXIT_FAILURE_RUN;
    char why[512] = "";
    int err = lines_print(p, o->lines, out.file, why, sizeof(why));
    if (err == -1) {
        output_abort(&out);
        cmd_error("give a function name (main, Class.method) or a file (app.py) from the profile",
                  "%s: '%s': %s", o->input, o->lines, why);
        return EXIT_FAILURE_RUN;
    }
    return finish_output(o, &out, err);
}

/* Renders a profile read from a sampled file, as o asks. */
static int render_profile(const struct report_options *o, const struct input *in,
                          const struct profile *p)
{
    if (o->lines)
        return write_lines(o, p);
    return !strcmp(o->format, "table") ? table_of_profile(o, in, p) : write_profile(o, p);
}

/* ---- spyglass's own format ---- */

/* Reads spyglass's own format into a new profile *out. Returns 0, or
 * prints the error and returns EXIT_FAILURE_RUN. */
static int spyglass_profile(const char *path, const struct input *in, struct profile **out)
{
    struct profile *p = profile_new();
    char why[256] = "";
    if (import_spyglass((const char *)in->data, in->len, p, why, sizeof(why))) {
        cmd_error("was the file written by spyglass record --format spyglass, and completely?",
                  "%s: %s", path, why);
        profile_free(p);
        return EXIT_FAILURE_RUN;
    }
    *out = p;
    return 0;
}

static int report_spyglass(const struct report_options *o, const struct input *in)
{
    struct profile *p;
    int rc = spyglass_profile(o->input, in, &p);
    if (!rc) {
        rc = render_profile(o, in, p);
        profile_free(p);
    }
    return rc;
}

/* Reads collapsed stacks into a new profile *out, counts at o->rate.
 * Returns 0, or prints the error and returns EXIT_FAILURE_RUN. */
static int collapsed_profile(const struct report_options *o, const char *path,
                             const struct input *in, struct profile **out)
{
    FILE *f = fmemopen(in->data, in->len, "rb");
    if (!f) {
        cmd_error(NULL, "cannot read %s: %s", path, strerror(errno));
        return EXIT_FAILURE_RUN;
    }
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    char why[256] = "";
    int err = import_collapsed(f, p, why, sizeof(why));
    fclose(f);
    if (err) {
        cmd_error("each line should be 'frame;frame;frame COUNT' (root first)", "%s: %s", path,
                  why);
        profile_free(p);
        return EXIT_FAILURE_RUN;
    }
    char *target = xasprintf("%s (collapsed stacks)", path);
    profile_set_meta_str(p, &m->title, "spyglass report");
    profile_set_meta_str(p, &m->target, target);
    profile_set_meta_str(p, &m->unit, "samples");
    m->rate_hz = o->rate;
    m->samples = profile_total_weight(p);
    m->duration_s = (double)m->samples / o->rate;
    free(target);
    *out = p;
    return 0;
}

static int report_collapsed(const struct report_options *o, const struct input *in)
{
    struct profile *p;
    int rc = collapsed_profile(o, o->input, in, &p);
    if (!rc) {
        rc = render_profile(o, in, p);
        profile_free(p);
    }
    return rc;
}

/* ---- report --diff ---- */

/* Reads any saved profile into a new profile *out: a dump as its call
 * tree, collapsed stacks, spyglass's own format. Returns 0, or prints the
 * error and returns EXIT_FAILURE_RUN. */
static int load_profile(const struct report_options *o, const char *path, struct profile **out)
{
    struct input in;
    int rc = read_input(path, &in);
    if (!rc) {
        switch (sniff_format(in.data, in.len)) {
        case SNIFF_PSTATS: {
            struct pstats st;
            if (pstats_load(&st, in.data, in.len)) {
                dump_error(path, &st);
                rc = EXIT_FAILURE_RUN;
            } else {
                *out = dump_tree(path, &st);
            }
            pstats_release(&st);
            break;
        }
        case SNIFF_COLLAPSED:
            rc = collapsed_profile(o, path, &in, out);
            break;
        case SNIFF_SPYGLASS:
            rc = spyglass_profile(path, &in, out);
            break;
        default:
            unknown_content(path, &in);
            rc = EXIT_FAILURE_RUN;
        }
    }
    free(in.data);
    return rc;
}

/* Says on the differential graph's face what it shows. */
static void diff_meta(const struct report_options *o, struct profile *after)
{
    struct profile_meta *m = profile_meta(after);
    char *target = xasprintf("%s \xE2\x86\x92 %s", o->before, o->input); /* an arrow */
    profile_set_meta_str(after, &m->title, "spyglass report --diff");
    profile_set_meta_str(after, &m->target, target);
    profile_set_meta_str(after, &m->note,
                         "differential flame graph: the frames and widths are AFTER's, by "
                         "function; the colour is the change of each frame's share of the "
                         "total since BEFORE (red grew, blue shrank); functions gone since "
                         "BEFORE are in the --format text table");
    m->samples = m->errors = 0; /* two runs: no one tick count */
    m->rate_hz = 0;
    m->duration_s = 0;
    free(target);
}

static int report_diff(const struct report_options *o)
{
    struct profile *before = NULL, *after = NULL;
    int rc = load_profile(o, o->before, &before);
    if (!rc)
        rc = load_profile(o, o->input, &after);
    if (!rc) {
        struct diff_pair d;
        diff_pair_build(before, after, &d);
        struct output out;
        rc = open_output(o, 0, &out);
        if (!rc && !strcmp(o->format, "flamegraph")) {
            diff_meta(o, d.after);
            struct format_options fo = {.full_filenames = o->full_filenames, .baseline = d.before};
            rc = finish_output(o, &out, flamegraph_write(d.after, out.file, &fo));
        } else if (!rc) {
            struct diff_print_options dopt = {o->before, o->input, o->table.limit};
            rc = finish_output(o, &out, diff_print(&d, out.file, &dopt));
        }
        diff_pair_release(&d);
    }
    profile_free(before);
    profile_free(after);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    struct report_options o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (o.diff)
        return report_diff(&o);
    struct input in;
    rc = read_input(o.input, &in);
    if (!rc) {
        char source[4200];
        if (in.has_mtime) {
            table_source_line(source, sizeof(source), o.input, in.mtime);
            in.source = source;
        }
        switch (sniff_format(in.data, in.len)) {
        case SNIFF_PSTATS:
            rc = report_pstats(&o, &in);
            break;
        case SNIFF_COLLAPSED:
            rc = report_collapsed(&o, &in);
            break;
        case SNIFF_SPYGLASS:
            rc = report_spyglass(&o, &in);
            break;
        default:
            unknown_content(o.input, &in);
            rc = EXIT_FAILURE_RUN;
        }
        in.source = NULL;
    }
    free(in.data);
    return rc;
}
