/*
 * pprof.c - the profile as a gzip-compressed profile.proto message, the
 * format `go tool pprof` (and Pyroscope, Speedscope, ...) read.
 *
 * A small protobuf encoder of our own: varints, keys and length-delimited
 * fields, with nested messages built in a scratch buffer first (their length
 * precedes them). What goes in, by profile.proto field:
 *   string_table (6)   index 0 is "", every other string once
 *   sample_type (1)    [samples/count, wall/nanoseconds] (the first unit is
 *                      the profile's own weight unit when it is not samples);
 *                      a profile weighed in time (e.g. one rebuilt from a
 *                      cProfile dump, in microseconds) has [wall/nanoseconds]
 *                      alone, since it has no samples to count; one weighed
 *                      in bytes (record --memory) has [space/bytes] alone
 *   sample (2)         one per stack: location ids leaf first, values
 *                      [weight, weight * period] ([weight * unit] for time),
 *                      and the stack's leading PF_LABEL frames as string
 *                      labels (key = frame name, value = its file): the
 *                      agent's thread, idle, gil and endpoint
 *   mapping (3)        id 1, named after the target, that says it
 *                      already has functions, file names and lines: with
 *                      none, pprof looks for the "main binary" to symbolize
 *                      and warns "Main binary filename not available"; with
 *                      --native one more per library of native frames (id
 *                      2 on, named after the library, symbolized too), so
 *                      that a native frame is told apart as C code of its
 *                      library (pprof -traces and -raw show the mapping)
 *   location (4)       one per profile frame (id = frame id + 1), mapping
 *                      1 (a native frame: its library's), one line
 *   function (5)       one per (name, file), id from 1, without a system
 *                      name: pprof "demangles" a name equal to its system
 *                      name, and takes "<module>" or "<lambda>" for C++
 *                      template arguments and drops them; start_line is
 *                      where the function starts (its def line) when its
 *                      frames know it, else the smallest line seen in it
 *                      (0 when it has no lines)
 *   period_type (11), period (12): wall/nanoseconds, 1e9 / rate_hz (1 s
 *                      when the rate is unknown); "cpu" instead of "wall"
 *                      when format_options.time_type says so (the agent's
 *                      on-CPU windows: Pyroscope's process_cpu type)
 *   duration_nanos (10), and comments (13) with the title, target, Python
 *                      version and note; time_nanos (9) when the profile
 *                      knows its start (the agent's windows).
 * Synthetic frames (threads, processes, endpoints, native markers) are kept
 * as functions without a file, so pprof shows them as roots or leaves.
 * Output is deterministic, including the gzip header (no name, mtime 0).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "format/format.h"
#include "util/err.h"
#include "util/hash.h"
#include "util/pb.h"
#include "util/util.h"

/* ---- functions ---- */

/* Functions are told apart by name and file; the index holds, per function,
 * its first frame (function ids count from 1). */
struct functions {
    const struct profile *p;
    uint32_t *first; /* function id - 1 -> its first frame */
    size_t count;
    struct hash_index index;
};

static uint64_t function_hash(const struct profile_frame *f)
{
    return hash_str(hash_str(HASH_SEED, f->name) * 31, f->file);
}

static uint64_t function_hash_of(const void *ctx, uint32_t id)
{
    const struct functions *fs = ctx;
    return function_hash(profile_frame(fs->p, fs->first[id]));
}

static int function_same(const void *ctx, uint32_t id, const void *key)
{
    const struct functions *fs = ctx;
    const struct profile_frame *f = key, *g = profile_frame(fs->p, fs->first[id]);
    return !strcmp(f->name, g->name) && !strcmp(f->file, g->file);
}

/* Gives each frame a function id (from 1) shared by frames with the same
 * name and file, in order of first appearance, and each function its first
 * line if a frame knows it, else the smallest line among its frames.
 * Returns the frame -> function id array (caller frees); *lines (caller
 * frees) is indexed by function id. */
static uint32_t *function_ids(const struct profile *p, uint64_t **lines, size_t *count)
{
    size_t frames = profile_frame_count(p);
    uint32_t *ids = xcalloc(frames, sizeof(*ids));
    struct functions fs = {p, xcalloc(frames + 1, sizeof(uint32_t)), 0, {NULL, 0}};
    *lines = xcalloc(frames + 1, sizeof(**lines));
    uint8_t *known = xcalloc(frames + 1, 1); /* function id -> line is a first line */
    for (uint32_t id = 0; id < frames; id++) {
        const struct profile_frame *f = profile_frame(p, id);
        if (f->kind == PF_LABEL)
            continue; /* a label, not a function (id 0: never written) */
        hash_index_reserve(&fs.index, fs.count, function_hash_of, &fs);
        uint32_t *slot = hash_index_find(&fs.index, function_hash(f), function_same, &fs, f);
        if (!*slot) {
            fs.first[fs.count] = id;
            *slot = (uint32_t)++fs.count;
        }
        ids[id] = *slot;
        uint64_t *line = &(*lines)[ids[id]];
        if (known[ids[id]])
            continue;
        if (f->first_line > 0) {
            *line = (uint64_t)f->first_line;
            known[ids[id]] = 1;
        } else if (f->line > 0 && (!*line || (uint64_t)f->line < *line)) {
            *line = (uint64_t)f->line;
        }
    }
    free(known);
    *count = fs.count;
    hash_index_release(&fs.index);
    free(fs.first);
    return ids;
}

/* ---- the message ---- */

struct encoder {
    const struct profile *p;
    struct pb_strings strings;
    struct strbuf msg;     /* the Profile message */
    struct strbuf scratch; /* one nested message at a time */
    struct strbuf packed;  /* packed repeated values inside it */
    char *owned[4];        /* comment strings the table borrows */
    const char *time_type; /* "wall", or the agent's "cpu" */
    size_t owned_count;
};

static void put_value_type(struct encoder *e, unsigned field, const char *type, const char *unit)
{
    pb_uint(&e->scratch, 1, pb_string_index(&e->strings, type));
    pb_uint(&e->scratch, 2, pb_string_index(&e->strings, unit));
    pb_message(&e->msg, field, &e->scratch);
}

/* Writes a stack's leading label frames as the sample's labels; returns
 * how many there were. */
static size_t put_labels(struct encoder *e, const uint32_t *frames, size_t depth)
{
    size_t n = 0;
    struct strbuf label;
    strbuf_init(&label);
    for (; n < depth; n++) {
        const struct profile_frame *f = profile_frame(e->p, frames[n]);
        if (f->kind != PF_LABEL)
            break;
        pb_uint(&label, 1, pb_string_index(&e->strings, f->name));
        pb_uint(&label, 2, pb_string_index(&e->strings, f->file));
        pb_message(&e->scratch, 3, &label);
    }
    strbuf_release(&label);
    return n;
}

/* Writes the samples; with counted set, each has [weight, weight * ns]
 * values, else [weight * ns] alone. */
static void put_samples(struct encoder *e, int counted, double ns)
{
    for (uint32_t id = 0; id < profile_stack_count(e->p); id++) {
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(e->p, id, &depth, &weight);
        size_t labels = put_labels(e, frames, depth);
        frames += labels;
        depth -= labels;
        for (size_t i = depth; i-- > 0;) /* leaf first */
            pb_varint(&e->packed, (uint64_t)frames[i] + 1);
        if (depth)
            pb_message(&e->scratch, 1, &e->packed);
        if (counted)
            pb_varint(&e->packed, weight);
        pb_varint(&e->packed, (uint64_t)llround((double)weight * ns)); /* 584 years fit */
        pb_message(&e->scratch, 2, &e->packed);
        pb_message(&e->msg, 2, &e->scratch);
    }
}

/* Gives each frame its mapping id: 1, or for a native frame (--native) one
 * per library from 2 on. Returns the frame -> mapping id array (caller
 * frees); *libs (caller frees) holds the libraries, by mapping id - 2. */
static uint32_t *mapping_ids(const struct profile *p, const char ***libs, size_t *nlibs)
{
    size_t frames = profile_frame_count(p), cap = 0;
    uint32_t *ids = xcalloc(frames + 1, sizeof(*ids));
    *libs = NULL;
    *nlibs = 0;
    for (uint32_t id = 0; id < frames; id++) {
        const struct profile_frame *f = profile_frame(p, id);
        ids[id] = 1;
        if (f->kind != PF_NATIVE_CODE || !f->file[0])
            continue;
        size_t i = 0; /* a profile has a few dozen libraries at most */
        while (i < *nlibs && strcmp((*libs)[i], f->file) != 0)
            i++;
        if (i == *nlibs) {
            *libs = xgrow(*libs, sizeof(**libs), *nlibs + 1, &cap);
            (*libs)[(*nlibs)++] = f->file;
        }
        ids[id] = (uint32_t)i + 2;
    }
    return ids;
}

/* Writes one mapping that says it is symbolized already. */
static void put_mapping(struct encoder *e, uint64_t id, const char *name)
{
    pb_uint(&e->scratch, 1, id);
    pb_uint(&e->scratch, 5, pb_string_index(&e->strings, name));
    pb_uint(&e->scratch, 7, 1); /* has_functions */
    pb_uint(&e->scratch, 8, 1); /* has_filenames */
    pb_uint(&e->scratch, 9, 1); /* has_line_numbers */
    pb_message(&e->msg, 3, &e->scratch);
}

/* The target's mapping (id 1), then one per library of native frames. */
static void put_mappings(struct encoder *e, const char **libs, size_t nlibs)
{
    const struct profile_meta *m = profile_meta_const(e->p);
    put_mapping(e, 1, m->target ? m->target : m->title ? m->title : "spyglass profile");
    for (size_t i = 0; i < nlibs; i++)
        put_mapping(e, i + 2, libs[i]);
}

static void put_locations(struct encoder *e, const uint32_t *func_ids, const uint32_t *map_ids)
{
    struct strbuf line;
    strbuf_init(&line);
    for (uint32_t id = 0; id < profile_frame_count(e->p); id++) {
        const struct profile_frame *f = profile_frame(e->p, id);
        if (f->kind == PF_LABEL)
            continue;
        pb_uint(&e->scratch, 1, (uint64_t)id + 1);
        pb_uint(&e->scratch, 2, map_ids[id]);
        pb_uint(&line, 1, func_ids[id]);
        pb_uint(&line, 2, f->line > 0 ? (uint64_t)f->line : 0);
        pb_message(&e->scratch, 4, &line);
        pb_message(&e->msg, 4, &e->scratch);
    }
    strbuf_release(&line);
}

static void put_functions(struct encoder *e, const uint32_t *func_ids, const uint64_t *lines)
{
    uint32_t next = 1;
    for (uint32_t id = 0; id < profile_frame_count(e->p); id++) {
        if (func_ids[id] != next)
            continue; /* not the first frame of its function */
        const struct profile_frame *f = profile_frame(e->p, id);
        uint64_t name = pb_string_index(&e->strings, f->name);
        pb_uint(&e->scratch, 1, next);
        pb_uint(&e->scratch, 2, name);
        pb_uint(&e->scratch, 4, pb_string_index(&e->strings, f->file));
        pb_uint(&e->scratch, 5, lines[next]);
        pb_message(&e->msg, 5, &e->scratch);
        next++;
    }
}

static void put_comment(struct encoder *e, const char *label, const char *value)
{
    if (!value || !value[0])
        return;
    /* The table borrows its strings: this one is freed with the encoder. */
    char *text = xasprintf("%s: %s", label, value);
    e->owned[e->owned_count++] = text;
    pb_uint(&e->msg, 13, pb_string_index(&e->strings, text));
}

/* Builds the whole Profile message in e->msg. */
static void encode(struct encoder *e)
{
    const struct profile_meta *meta = profile_meta_const(e->p);
    uint64_t period_ns = meta->rate_hz > 0 ? (uint64_t)llround(1e9 / meta->rate_hz) : 1000000000;
    const char *unit = meta->unit && meta->unit[0] ? meta->unit : "samples";
    double unit_ns = format_unit_ns(unit);
    pb_string_index(&e->strings, "");
    if (unit_ns > 0) {
        put_value_type(e, 1, "wall", "nanoseconds");
        put_samples(e, 0, unit_ns);
        period_ns = (uint64_t)unit_ns;
    } else if (!strcmp(unit, "bytes")) {
        put_value_type(e, 1, "space", "bytes");
        put_samples(e, 0, 1);
    } else {
        put_value_type(e, 1, unit, "count");
        put_value_type(e, 1, e->time_type, "nanoseconds");
        put_samples(e, 1, period_ns ? (double)period_ns : 1);
    }
    size_t func_count;
    uint64_t *lines;
    uint32_t *func_ids = function_ids(e->p, &lines, &func_count);
    const char **libs;
    size_t nlibs;
    uint32_t *map_ids = mapping_ids(e->p, &libs, &nlibs);
    put_mappings(e, libs, nlibs);
    put_locations(e, func_ids, map_ids);
    free(map_ids);
    free(libs);
    put_functions(e, func_ids, lines);
    free(func_ids);
    free(lines);
    pb_uint(&e->msg, 9, meta->start_unix_ns);
    if (meta->duration_s > 0)
        pb_uint(&e->msg, 10, (uint64_t)llround(meta->duration_s * 1e9));
    put_value_type(e, 11, e->time_type, "nanoseconds");
    pb_uint(&e->msg, 12, period_ns);
    put_comment(e, "title", meta->title);
    put_comment(e, "target", meta->target);
    put_comment(e, "python", meta->python_version);
    put_comment(e, "note", meta->note);
}

/* Appends the string table (field 6) once every string is known. */
static void put_string_table(struct encoder *e)
{
    for (size_t i = 0; i < e->strings.count; i++)
        pb_bytes(&e->msg, 6, e->strings.list[i], strlen(e->strings.list[i]));
}

/* ---- gzip ---- */

/* Compresses data into out as one gzip member. Returns 0 or -SG_EIO. */
static int gzip_to(FILE *out, const void *data, size_t len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* windowBits 15 + 16: a gzip wrapper with a zero header (no name, mtime 0). */
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -SG_EIO;
    unsigned char buf[65536];
    const unsigned char *in = data;
    int err = 0, rc;
    do {
        /* avail_in is 32 bits: feed at most 1 GiB at a time. */
        if (!zs.avail_in && len) {
            size_t n = len < (1u << 30) ? len : (1u << 30);
            zs.next_in = (unsigned char *)in;
            zs.avail_in = (uInt)n;
            in += n;
            len -= n;
        }
        zs.next_out = buf;
        zs.avail_out = sizeof(buf);
        rc = deflate(&zs, len ? Z_NO_FLUSH : Z_FINISH);
        size_t have = sizeof(buf) - zs.avail_out;
        /* deflate() wrote buf[0..have); cppcheck cannot see into zlib. */
        /* cppcheck-suppress uninitvar */
        if (rc == Z_STREAM_ERROR || fwrite(buf, 1, have, out) != have) {
            err = -SG_EIO;
            break;
        }
    } while (rc != Z_STREAM_END);
    deflateEnd(&zs);
    return err;
}

int pprof_write(const struct profile *p, FILE *out, const struct format_options *opt)
{
    struct encoder e = {.p = p, .time_type = opt && opt->time_type ? opt->time_type : "wall"};
    strbuf_init(&e.msg);
    strbuf_init(&e.scratch);
    strbuf_init(&e.packed);
    encode(&e);
    put_string_table(&e);
    int err = gzip_to(out, e.msg.buf, e.msg.len);
    if (!err && ferror(out))
        err = -SG_EIO;
    for (size_t i = 0; i < e.owned_count; i++)
        free(e.owned[i]);
    pb_strings_release(&e.strings);
    strbuf_release(&e.msg);
    strbuf_release(&e.scratch);
    strbuf_release(&e.packed);
    return err;
}
