/*
 * format_driver.c - writes a fixed, hand-built profile in every format, for
 * tests/e2e/test_formats_schema.py to check with real parsers (the official
 * speedscope schema, Python's json, an XML parser).
 *
 *   format_driver OUTDIR
 *       writes OUTDIR/{aggregate,timeline}.{svg,folded,speedscope.json,
 *       trace.json}: the same stacks without and with a timeline.
 *   format_driver --import FILE OUTDIR
 *       reads FILE as collapsed stacks and writes OUTDIR/imported.* the same
 *       way; prints the reader's message and exits 1 if it fails.
 *
 * The writer for each file is chosen by format_for_path, as `record -o` does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "import/import.h"
#include "profile/profile.h"

static const char *const endings[] = {".svg", ".folded", ".speedscope.json", ".trace.json"};

static int write_all(const struct profile *p, const char *dir, const char *stem)
{
    for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s%s", dir, stem, endings[i]);
        const struct format_writer *w = format_for_path(path);
        FILE *out = fopen(path, "w");
        if (!w || !out) {
            fprintf(stderr, "format_driver: cannot write %s\n", path);
            return 1;
        }
        struct format_options opt = {0};
        int rc = w->write(p, out, &opt);
        if (fclose(out) != 0 || rc != 0) {
            fprintf(stderr, "format_driver: %s writer failed on %s (%d)\n", w->name, path, rc);
            return 1;
        }
    }
    return 0;
}

static uint32_t frame(struct profile *p, const char *name, const char *file, int line)
{
    return profile_frame_id(p, name, file, line, PF_PYTHON);
}

/* Two threads; stdlib, site-packages and user code; an idle marker; names
 * with quotes, separators, a newline and invalid UTF-8. */
static struct profile *build(int timeline)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->title, "spyglass record");
    profile_set_meta_str(p, &m->target, "pid 4242: python app.py --port 8000");
    profile_set_meta_str(p, &m->python_version, "3.11.7");
    m->rate_hz = 100;
    m->duration_s = 0.1;
    m->samples = 10;
    if (timeline)
        profile_enable_timeline(p);

    uint32_t main_thread =
        profile_frame_id(p, "thread \"MainThread\" (tid 4242)", "", 0, PF_THREAD);
    uint32_t worker =
        profile_frame_id(p, "thread \"worker \\\"1\\\"\" (tid 4243)", "", 0, PF_THREAD);
    uint32_t module = frame(p, "<module>", "/srv/app/app.py", 40);
    uint32_t serve = frame(p, "serve_forever", "/usr/lib/python3.11/socketserver.py", 232);
    uint32_t handle = frame(p, "Handler.handle", "/srv/app/app.py", 12);
    uint32_t query = frame(p, "Session.execute",
                           "/venv/lib/python3.11/site-packages/sqlalchemy/orm/session.py", 2229);
    uint32_t render = frame(p, "render;template\n\"x\" \xff", "/srv/app/templates.py", 0);
    uint32_t run = frame(p, "Thread.run", "/usr/lib/python3.11/threading.py", 975);
    uint32_t idle = profile_frame_id(p, "(idle)", "", 0, PF_NATIVE);

    uint32_t s_query =
        profile_add_stack(p, (uint32_t[]){main_thread, module, serve, handle, query}, 5, 0);
    uint32_t s_render =
        profile_add_stack(p, (uint32_t[]){main_thread, module, serve, handle, render}, 5, 0);
    uint32_t s_idle = profile_add_stack(p, (uint32_t[]){main_thread, module, serve, idle}, 4, 0);
    uint32_t s_run = profile_add_stack(p, (uint32_t[]){worker, run}, 2, 0);
    profile_set_thread_name(p, 4242, "MainThread");
    profile_set_thread_name(p, 4243, "worker \"1\"");

    /* Ten ticks at 100 Hz: the main thread queries, renders, idles; the
     * worker runs every other tick. */
    const uint32_t main_ticks[10] = {s_query, s_query, s_query, s_render, s_render,
                                     s_idle,  s_query, s_query, s_render, s_idle};
    for (uint64_t t = 0; t < 10; t++) {
        uint64_t now = t * 10000000ull;
        profile_add_stack(p, (uint32_t[]){0}, 0, 0); /* no-op weight, exercises depth 0 */
        size_t depth;
        uint64_t weight;
        const uint32_t *frames = profile_stack(p, main_ticks[t], &depth, &weight);
        profile_add_event(p, now, 4242, profile_add_stack(p, frames, depth, 1));
        if (t % 2 == 0) {
            frames = profile_stack(p, s_run, &depth, &weight);
            profile_add_event(p, now + 5000, 4243, profile_add_stack(p, frames, depth, 1));
        }
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc == 2) {
        struct profile *agg = build(0), *tl = build(1);
        int rc = write_all(agg, argv[1], "aggregate") || write_all(tl, argv[1], "timeline");
        profile_free(agg);
        profile_free(tl);
        return rc;
    }
    if (argc == 4 && strcmp(argv[1], "--import") == 0) {
        FILE *in = fopen(argv[2], "r");
        if (!in) {
            perror(argv[2]);
            return 1;
        }
        struct profile *p = profile_new();
        char err[256];
        int rc = import_collapsed(in, p, err, sizeof(err));
        fclose(in);
        if (rc) {
            fprintf(stderr, "format_driver: %s: %s\n", argv[2], err);
            profile_free(p);
            return 1;
        }
        rc = write_all(p, argv[3], "imported");
        profile_free(p);
        return rc;
    }
    fprintf(stderr, "usage: format_driver OUTDIR | format_driver --import FILE OUTDIR\n");
    return 2;
}
