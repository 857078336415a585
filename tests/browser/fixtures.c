/*
 * fixtures.c - writes the SVG flame graphs the browser test loads.
 *
 *   fixtures DIR    writes DIR/demo.svg, DIR/xss.svg and DIR/big.svg
 *
 * demo.svg has known weights (total 1,000) so the browser test can assert
 * exact shares; xss.svg is made of hostile names and metadata; big.svg has
 * about 100,000 distinct frames, to see that writing and loading stay
 * fast. Built by run.sh against the real profile and format modules.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "profile/profile.h"
#include "util/util.h"

/* Adds weight to the stack of frame ids ids[0..depth). */
static void stack(struct profile *p, uint64_t weight, const uint32_t *ids, size_t depth)
{
    profile_add_stack(p, ids, depth, weight);
}

static uint32_t py(struct profile *p, const char *name, const char *file, int line)
{
    return profile_frame_id(p, name, file, line, PF_PYTHON);
}

/*
 * process -> MainThread -> main -> handle_request -> render -> dumps -> encode     300
 *                                                 -> query_db -> execute           250
 *                                                 -> query_db -> fetch_rows        100
 *         -> worker-1   -> worker_loop -> <idle>                                   200
 *                                      -> compute                                  150
 * Total 1,000; handle_request 650, query_db 350, render 300.
 */
static struct profile *demo_profile(void)
{
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->title, "spyglass record");
    profile_set_meta_str(p, &m->target, "pid 4242 (python app.py)");
    profile_set_meta_str(p, &m->python_version, "3.11.7");
    m->rate_hz = 100;
    m->duration_s = 10;
    m->samples = 1000;
    m->errors = 2;
    const char *app = "/srv/app/app.py";
    const char *json = "/usr/lib/python3.11/json/__init__.py";
    const char *enc = "/usr/lib/python3.11/json/encoder.py";
    const char *sqla = "/srv/venv/lib/python3.11/site-packages/sqlalchemy/engine/base.py";
    uint32_t proc = profile_frame_id(p, "process 4242 python app.py", "", 0, PF_PROCESS);
    uint32_t main_thread = profile_frame_id(p, "thread 0x7f01 \"MainThread\"", "", 0, PF_THREAD);
    uint32_t worker = profile_frame_id(p, "thread 0x7f02 \"worker-1\"", "", 0, PF_THREAD);
    uint32_t main_fn = py(p, "main", app, 40), handle = py(p, "handle_request", app, 25);
    uint32_t render = py(p, "render", app, 12), query = py(p, "query_db", app, 30);
    uint32_t a[] = {proc,
                    main_thread,
                    main_fn,
                    handle,
                    render,
                    py(p, "dumps", json, 231),
                    py(p, "JSONEncoder.encode", enc, 199)};
    stack(p, 300, a, 7);
    uint32_t b[] = {proc,   main_thread, main_fn,
                    handle, query,       py(p, "Connection.execute", sqla, 1410)};
    stack(p, 250, b, 6);
    uint32_t c[] = {proc, main_thread, main_fn, handle, query, py(p, "fetch_rows", app, 33)};
    stack(p, 100, c, 6);
    uint32_t loop = py(p, "worker_loop", app, 50);
    uint32_t d[] = {proc, worker, loop, profile_frame_id(p, "<idle>", "", 0, PF_NATIVE)};
    stack(p, 200, d, 4);
    uint32_t e[] = {proc, worker, loop, py(p, "compute", app, 60)};
    stack(p, 150, e, 4);
    return p;
}

/* Hostile names and metadata; every one must show up as text only. The
 * names mark themselves: the browser test asserts window.__xss stays unset. */
static struct profile *xss_profile(void)
{
    static const char *names[] = {
        "<script>window.__xss=1</script>",
        "<img src=x onerror=\"window.__xss=2\">",
        "\"]]><script>window.__xss=3</script>",
        "'onmouseover='window.__xss=4",
        "a&b<c>d\"e'f",
        "new\nline\x01\x7f",
        "bad\xff\xfe utf8 \xc3",
        "<svg onload=\"window.__xss=5\"/>",
        "</title></g><script>alert('xss6')</script>",
    };
    struct profile *p = profile_new();
    struct profile_meta *m = profile_meta(p);
    profile_set_meta_str(p, &m->title, "<script>window.__xss=7</script>");
    profile_set_meta_str(p, &m->target, "]]><foreignObject><script>window.__xss=8</script>");
    profile_set_meta_str(p, &m->note, "<a href=\"javascript:alert(9)\">x</a>");
    uint32_t root = profile_frame_id(p, "<b onclick=alert(10)>root</b>", "", 0, PF_PROCESS);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint32_t ids[2] = {root, py(p, names[i], "<x>&\"'.py", (int)i + 1)};
        stack(p, 10, ids, 2);
    }
    return p;
}

/* About 100,000 distinct frames and 120,000 call-tree nodes: 700 branches
 * (0.14% each, so drawn) of 26 levels, each path ending in its own leaf
 * (0.001%, so omitted). */
static struct profile *big_profile(void)
{
    struct profile *p = profile_new();
    profile_set_meta_str(p, &profile_meta(p)->title, "big profile");
    uint32_t ids[30];
    ids[0] = py(p, "main", "/srv/app/main.py", 1);
    for (int s = 0; s < 100000; s++) {
        char name[64];
        int branch = s % 700;
        snprintf(name, sizeof(name), "branch_%03d", branch);
        ids[1] = py(p, name, "/srv/app/branches.py", branch + 1);
        for (int level = 0; level < 26; level++) {
            snprintf(name, sizeof(name), "step_%02d", level);
            ids[2 + level] = py(p, name, "/srv/app/steps.py", level + 1);
        }
        snprintf(name, sizeof(name), "leaf_%06d", s);
        ids[28] = py(p, name, "/srv/app/leaves.py", s % 1000 + 1);
        stack(p, 1, ids, 29);
    }
    return p;
}

/* Writes p as a flame graph to dir/name; returns 0 or -1. */
static int write_svg(struct profile *p, const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *out = fopen(path, "w");
    int err = -1;
    if (out) {
        err = flamegraph_write(p, out, NULL);
        if (fclose(out) != 0)
            err = -1;
    }
    if (err)
        fprintf(stderr, "fixtures: cannot write %s\n", path);
    free(path);
    profile_free(p);
    return err ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fixtures DIR\n");
        return 2;
    }
    int err = write_svg(demo_profile(), argv[1], "demo.svg");
    err |= write_svg(xss_profile(), argv[1], "xss.svg");
    err |= write_svg(big_profile(), argv[1], "big.svg");
    return err ? 1 : 0;
}
