/*
 * endpoint.c - which HTTP request a thread is serving, read from its frames.
 *
 * Three steps per thread and sample:
 *   1. From the leaf outwards, pick frames whose code has a local called
 *      `environ` (WSGI) or `scope` (ASGI); which codes do is memoised by
 *      code serial, so most frames cost nothing.
 *   2. Read that local. If the thread's cache entry has the same frame and
 *      dict, and the dict's version tag is unchanged, the cached label is
 *      still right.
 *   3. Otherwise read the dict (python/value.c lookups, each bounded) and
 *      build the label. A dict without the request keys (gunicorn starts with
 *      an empty environ) sends us on to the next frame outwards.
 * Everything read is type-checked by name first; anything unexpected means
 * "no request here", never an error.
 */
#include "python/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/task.h"
#include "python/locals.h"
#include "python/pystr.h"
#include "python/value.h"
#include "util/util.h"

#define CODES_CAP 8192   /* power of two */
#define THREADS_CAP 1024 /* power of two */
#define ROUTES_CAP 1024  /* power of two */
#define PROGRAMS_CAP 256 /* power of two */

/* pid -> hash of its command line. */
struct ep_program {
    pid_t pid;
    uint64_t hash;
};

enum ep_kind {
    EP_NONE = 0,
    EP_WSGI = 1, /* a local `environ` */
    EP_ASGI = 2, /* a local `scope` */
};

/* What a code object offers: set once per serial. */
struct ep_code {
    uint64_t serial; /* 0: empty slot */
    int8_t kind;     /* enum ep_kind */
    int16_t index;   /* the local's slot index (< LOCALS_SLOTS_MAX) */
    int8_t cell;     /* the slot may hold a cell */
};

/* The last answer for one thread. */
struct ep_thread {
    pid_t pid;
    uint64_t thread;     /* tstate address: distinct per live thread of a process */
    uint64_t frame_addr; /* the frame the dict was read from */
    uint64_t dict;
    uint64_t version; /* the dict's ma_version_tag when read */
    uint64_t request; /* WSGI: werkzeug's request object, while its rule is unknown */
    uint64_t not_frame, not_dict, not_version; /* the last dict that was no request */
    int resolved; /* 0: a route may still appear (Flask before matching) */
    int valid;
    char method[16];
    char shape[ENDPOINT_PATH_MAX + 1]; /* the collapsed raw path */
    char label[ENDPOINT_LABEL_MAX];
};

/* A route seen by a program for a method and a path shape (the path with
 * numeric segments collapsed): samples of the same shape taken before the
 * framework routed, or after it let go of its request object, use it too.
 * A program is a command line: the workers of one server share their
 * routes. */
struct ep_route {
    uint64_t key; /* hash of program, method and collapsed path; 0: empty */
    char label[ENDPOINT_LABEL_MAX];
};

void endpoint_init(struct endpoint_reader *er)
{
    memset(er, 0, sizeof(*er));
    er->codes_cap = CODES_CAP;
    er->codes = xcalloc(er->codes_cap, sizeof(*er->codes));
    er->threads_cap = THREADS_CAP;
    er->threads = xcalloc(er->threads_cap, sizeof(*er->threads));
    er->routes_cap = ROUTES_CAP;
    er->routes = xcalloc(er->routes_cap, sizeof(*er->routes));
    er->programs = xcalloc(PROGRAMS_CAP, sizeof(*er->programs));
}

void endpoint_release(struct endpoint_reader *er)
{
    free(er->codes);
    free(er->threads);
    free(er->routes);
    free(er->programs);
    memset(er, 0, sizeof(*er));
}

void endpoint_collapse_path(const char *path, char *out, size_t size)
{
    if (size == 0)
        return;
    size_t n = 0, limit = size - 1 < ENDPOINT_PATH_MAX ? size - 1 : ENDPOINT_PATH_MAX;
    int cut = 0;
    for (const char *p = path; *p && !cut;) {
        size_t seg = strcspn(p, "/"), digits = strspn(p, "0123456789");
        const char *text = seg > 0 && digits == seg ? "{n}" : p;
        size_t len = text == p ? seg + (p[seg] == '/') : 3;
        if (n + len > limit) {
            len = limit - n;
            cut = 1;
        }
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            out[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        }
        p += text == p ? len : seg;
    }
    if (cut && limit >= 3) { /* end in "..." on a UTF-8 character boundary */
        n = limit - 3;
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80)
            n--;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* Step 1: the memo of which local (if any) of ci holds a request dict. */
static const struct ep_code *code_marks(struct endpoint_reader *er, struct walker *w,
                                        const struct code_info *ci)
{
    struct ep_code *c = &er->codes[ci->serial & (er->codes_cap - 1)];
    if (c->serial == ci->serial)
        return c;
    static const char *const names[] = {[EP_WSGI] = "environ", [EP_ASGI] = "scope"};
    struct ep_code fresh = {.serial = ci->serial, .kind = EP_NONE};
    for (int kind = EP_WSGI; kind <= EP_ASGI; kind++) {
        int cell, ix = locals_find(w, ci, names[kind], &cell);
        if (ix >= 0) {
            fresh.kind = (int8_t)kind;
            fresh.index = (int8_t)ix;
            fresh.cell = (int8_t)cell;
            break;
        }
        if (ix != -SG_ENOTPY)
            return NULL; /* could not read the names: do not remember */
    }
    *c = fresh;
    return c;
}

static struct ep_thread *thread_slot(struct endpoint_reader *er, pid_t pid, uint64_t thread)
{
    uint64_t h = (thread >> 4) * 0x9E3779B97F4A7C15ull ^ (uint64_t)pid * 0xC2B2AE3D27D4EB4Full;
    return &er->threads[(h >> 32) & (er->threads_cap - 1)];
}

/* Reads the dict's version tag; 0 where the version has none (2.7). */
static uint64_t dict_version(struct walker *w, uint64_t dict)
{
    uint64_t version = 0;
    uint32_t off = w->rt->layout.dict.ma_version_tag;
    if (off == PY_NO_FIELD || mem_read_u64(w->r, dict + off, &version))
        return 0;
    return version;
}

/* Reads the str (2.7: str or unicode) at obj into out. */
static int read_text(struct walker *w, uint64_t obj, char *out, size_t size)
{
    char type[16];
    const struct py_layout *l = &w->rt->layout;
    int err = value_type_name(w->r, l, obj, type, sizeof(type));
    if (err)
        return err;
    if (strcmp(type, "str") != 0 && strcmp(type, "unicode") != 0)
        return -SG_ECORRUPT;
    return pystr_read(w->r, l, obj, out, size);
}

/* Reads dict[key] as text. */
static int dict_text(struct walker *w, uint64_t dict, const char *key, char *out, size_t size)
{
    uint64_t value;
    int err = value_dict_get_str(w->r, &w->rt->layout, dict, key, &value);
    return err ? err : read_text(w, value, out, size);
}

/* Reads obj.attr.attr2 as text (e.g. request.url_rule.rule). */
static int attr_text(struct walker *w, uint64_t obj, const char *attr, const char *attr2, char *out,
                     size_t size)
{
    uint64_t mid, value;
    const struct py_layout *l = &w->rt->layout;
    int err = value_getattr(w->r, l, obj, attr, &mid);
    if (!err)
        err = value_getattr(w->r, l, mid, attr2, &value);
    return err ? err : read_text(w, value, out, size);
}

/* Keeps an HTTP method short and plain: letters only, else "?". */
static void clean_method(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; in[n] && n + 1 < size; n++) {
        char c = in[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
            strlcpy_safe(out, "?", size);
            return;
        }
        out[n] = c;
    }
    out[n] = '\0';
}

/* Sets e->shape from the raw path; returns 0, or -1 if it is no URL path
 * (a torn read of a dict caught mid-update can hand us another string). */
static int set_shape(struct ep_thread *e, const char *path, int empty_ok)
{
    if (path[0] != '/' && !(empty_ok && path[0] == '\0'))
        return -1;
    endpoint_collapse_path(path[0] ? path : "/", e->shape, sizeof(e->shape));
    return 0;
}

/* Labels e with the route template, or with its path shape. */
static void set_label(struct ep_thread *e, const char *route)
{
    char shown[ENDPOINT_PATH_MAX + 1];
    if (route)
        endpoint_collapse_path(route, shown, sizeof(shown));
    snprintf(e->label, sizeof(e->label), "%s %s", e->method, route ? shown : e->shape);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    return h;
}

/* The hash of pid's command line, read once per pid. */
static uint64_t program_of(struct endpoint_reader *er, pid_t pid)
{
    struct ep_program *p = &er->programs[(uint64_t)pid & (PROGRAMS_CAP - 1)];
    if (p->pid != pid) {
        char cmdline[1024] = "";
        proc_cmdline(pid, cmdline, sizeof(cmdline));
        p->pid = pid;
        p->hash = fnv1a(0xcbf29ce484222325ull ^ (uint64_t)(cmdline[0] ? 0 : pid), cmdline);
    }
    return p->hash;
}

/* The memo key of e's method and shape in pid's program; never 0. */
static uint64_t route_key(struct endpoint_reader *er, pid_t pid, const struct ep_thread *e)
{
    uint64_t h = fnv1a(fnv1a(fnv1a(program_of(er, pid), e->method), " "), e->shape);
    return h ? h : 1;
}

static struct ep_route *route_slot(struct endpoint_reader *er, uint64_t key)
{
    return &er->routes[(key ^ (key >> 32)) & (er->routes_cap - 1)];
}

/* Labels e from a route seen before for its shape. Returns 1 if known. */
static int route_recall(struct endpoint_reader *er, pid_t pid, struct ep_thread *e)
{
    uint64_t key = route_key(er, pid, e);
    struct ep_route *r = route_slot(er, key);
    if (r->key != key)
        return 0;
    strlcpy_safe(e->label, r->label, sizeof(e->label));
    return 1;
}

static void route_remember(struct endpoint_reader *er, pid_t pid, const struct ep_thread *e)
{
    uint64_t key = route_key(er, pid, e);
    struct ep_route *r = route_slot(er, key);
    r->key = key;
    strlcpy_safe(r->label, e->label, sizeof(r->label));
}

/* Flask: the matched rule, once routing has run. Returns 1 if found. */
static int wsgi_route(struct endpoint_reader *er, struct walker *w, struct ep_thread *e)
{
    char rule[ENDPOINT_PATH_MAX + 1];
    if (!e->request || attr_text(w, e->request, "url_rule", "rule", rule, sizeof(rule)) != 0)
        return 0;
    set_label(e, rule);
    route_remember(er, w->rt->pid, e);
    e->resolved = 1;
    return 1;
}

/* Step 3 for WSGI. Returns 1 if dict is a request environ. */
static int read_wsgi(struct endpoint_reader *er, struct walker *w, uint64_t dict,
                     struct ep_thread *e)
{
    char method[32], path[512];
    if (dict_text(w, dict, "REQUEST_METHOD", method, sizeof(method)) ||
        dict_text(w, dict, "PATH_INFO", path, sizeof(path)) || set_shape(e, path, 1))
        return 0;
    clean_method(method, e->method, sizeof(e->method));
    set_label(e, NULL);
    e->request = 0;
    e->resolved = 1;
    /* Flask keeps its request object in the environ while it serves it (and
     * sets it to None after). Before routing it has no rule yet: look again
     * in later samples, unless this shape was routed before. */
    if (value_dict_get_str(w->r, &w->rt->layout, dict, "werkzeug.request", &e->request) == 0 &&
        !wsgi_route(er, w, e) && !route_recall(er, w->rt->pid, e))
        e->resolved = 0;
    return 1;
}

/* Step 3 for ASGI. Returns 1 if dict is an http or websocket scope. */
static int read_asgi(struct endpoint_reader *er, struct walker *w, uint64_t dict,
                     struct ep_thread *e)
{
    char type[16], method[32], path[512], route[ENDPOINT_PATH_MAX + 1];
    uint64_t route_obj;
    if (dict_text(w, dict, "type", type, sizeof(type)) ||
        dict_text(w, dict, "path", path, sizeof(path)) || set_shape(e, path, 0))
        return 0;
    if (strcmp(type, "http") == 0 && dict_text(w, dict, "method", method, sizeof(method)) == 0)
        clean_method(method, e->method, sizeof(e->method));
    else if (strcmp(type, "websocket") == 0)
        strlcpy_safe(e->method, "WS", sizeof(e->method));
    else
        return 0;
    /* The scope gains "route" when FastAPI matches; that changes the dict's
     * version, so a later sample reads it again. */
    int routed = value_dict_get_str(w->r, &w->rt->layout, dict, "route", &route_obj) == 0 &&
                 value_getattr(w->r, &w->rt->layout, route_obj, "path", &route_obj) == 0 &&
                 read_text(w, route_obj, route, sizeof(route)) == 0;
    set_label(e, routed ? route : NULL);
    if (routed)
        route_remember(er, w->rt->pid, e);
    else
        route_recall(er, w->rt->pid, e);
    e->request = 0;
    e->resolved = 1;
    return 1;
}

/* Steps 2 and 3 for one candidate frame. Returns 1 with e->label set if the
 * frame's dict is a request. A dict found not to be one is remembered too,
 * so a stack with such a dict inside the request frame stays cheap. */
static int candidate(struct endpoint_reader *er, struct walker *w, const struct py_frame *f,
                     const struct ep_code *c, struct ep_thread *e)
{
    uint64_t dict;
    if (locals_get(w, f, c->index, c->cell, &dict) != 0) {
        /* Unbound now, yet the stack we read had frames inside this one: a
         * running target (not paused: no thread states handed to the
         * walker) finished the request between the two reads. The stack
         * belonged to the request last seen in this frame. */
        if (!w->nstates && e->valid && e->frame_addr == f->frame_addr) {
            er->hits++;
            return 1;
        }
        return 0;
    }
    uint64_t version = dict_version(w, dict);
    if (e->valid && e->frame_addr == f->frame_addr && e->dict == dict && version &&
        e->version == version) {
        er->hits++;
        if (!e->resolved)
            wsgi_route(er, w, e);
        return 1;
    }
    if (e->not_frame == f->frame_addr && e->not_dict == dict && version &&
        e->not_version == version)
        return 0;
    er->reads++;
    struct ep_thread fresh = *e;
    int ok = c->kind == EP_WSGI ? read_wsgi(er, w, dict, &fresh) : read_asgi(er, w, dict, &fresh);
    if (!ok) {
        e->not_frame = f->frame_addr;
        e->not_dict = dict;
        e->not_version = version;
        return 0;
    }
    fresh.valid = 1;
    fresh.frame_addr = f->frame_addr;
    fresh.dict = dict;
    fresh.version = version;
    *e = fresh;
    return 1;
}

int endpoint_of_thread(struct endpoint_reader *er, struct walker *w, const struct py_thread *t,
                       char *label, size_t size)
{
    struct ep_thread *e = thread_slot(er, w->rt->pid, t->tstate);
    int tried = 0;
    if (size)
        label[0] = '\0';
    er->lookups++;
    if (e->pid != w->rt->pid || e->thread != t->tstate) {
        memset(e, 0, sizeof(*e));
        e->pid = w->rt->pid;
        e->thread = t->tstate;
    }
    for (size_t d = 0; d < t->depth && tried < ENDPOINT_MAX_CANDIDATES; d++) {
        const struct py_frame *f = &t->frames[d];
        const struct ep_code *c = code_marks(er, w, f->code);
        if (!c || c->kind == EP_NONE)
            continue;
        tried++;
        if (candidate(er, w, f, c, e)) {
            strlcpy_safe(label, e->label, size);
            return 1;
        }
    }
    return 0;
}
