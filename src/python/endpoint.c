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

#include "proc/proc.h"
#include "python/locals.h"
#include "python/pystr.h"
#include "python/value.h"
#include "util/hash.h"
#include "util/util.h"

#define CODES_CAP 8192   /* power of two */
#define THREADS_CAP 1024 /* power of two */
#define ROUTES_CAP 1024  /* power of two */
#define PROGRAMS_CAP 256 /* power of two */

#define SCAN_MAX_ENTRIES 512 /* most dict entries looked at for the request keys */

/* Every dict key we look for, by id. */
enum ep_key_id {
    K_REQUEST_METHOD,
    K_PATH_INFO,
    K_WERKZEUG_REQUEST, /* WSGI environ */
    K_TYPE,
    K_PATH,
    K_METHOD,
    K_ROUTE, /* ASGI scope */
    K_COUNT,
    K_OTHER = -1
};

static const char *const key_names[K_COUNT] = {[K_REQUEST_METHOD] = "REQUEST_METHOD",
                                               [K_PATH_INFO] = "PATH_INFO",
                                               [K_WERKZEUG_REQUEST] = "werkzeug.request",
                                               [K_TYPE] = "type",
                                               [K_PATH] = "path",
                                               [K_METHOD] = "method",
                                               [K_ROUTE] = "route"};

/* pid -> hash of its command line. */
struct ep_program {
    pid_t pid;
    uint64_t runtime; /* the runtime's address: a process that exec'd is new */
    uint64_t hash;
    uint64_t str_types[2]; /* addresses of str (2.7: and unicode) type objects seen */
};

enum ep_kind {
    EP_NONE = 0,
    EP_WSGI = 1,    /* a local `environ` */
    EP_ASGI = 2,    /* a local `scope` */
    EP_REQUEST = 3, /* a local `request` object: Django's views, aiohttp's handlers */
    EP_TORNADO = 4, /* `self` of tornado's RequestHandler._execute: self.request */
};

/* Where a request object's route template is. */
enum ep_route_kind {
    ROUTE_NONE = 0,
    ROUTE_FLASK,   /* environ["werkzeug.request"].url_rule.rule */
    ROUTE_DJANGO,  /* request.resolver_match.route (Django 2.2+) */
    ROUTE_AIOHTTP, /* request._match_info._route._resource._formatter or ._path */
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
    uint64_t object;     /* the local's object: the dict, or a request object */
    uint64_t dict;       /* the dict (a request object's __dict__; 0: none) */
    uint64_t version;    /* the dict's ma_version_tag when read */
    uint64_t request;    /* the request object whose route is looked for */
    uint64_t not_frame, not_object, not_version; /* the last object that was no request */
    int resolved;   /* 0: a route may still appear (before the framework routed) */
    int route_kind; /* enum ep_route_kind */
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

/* Tornado keeps the request on its handler: the frame of
 * RequestHandler._execute is under every handler method. */
static int is_tornado_execute(const struct code_info *ci)
{
    const char *tail = "tornado/web.py";
    size_t n = strlen(ci->filename), t = strlen(tail);
    return strcmp(ci->name, "_execute") == 0 && n >= t && strcmp(ci->filename + n - t, tail) == 0;
}

/* Step 1: the memo of which local (if any) of ci holds a request dict. */
static const struct ep_code *code_marks(struct endpoint_reader *er, struct walker *w,
                                        const struct code_info *ci)
{
    struct ep_code *c = &er->codes[ci->serial & (er->codes_cap - 1)];
    if (c->serial == ci->serial)
        return c;
    static const char *const names[] = {[EP_WSGI] = "environ",
                                        [EP_ASGI] = "scope",
                                        [EP_REQUEST] = "request",
                                        [EP_TORNADO] = "self"};
    struct ep_code fresh = {.serial = ci->serial, .kind = EP_NONE};
    for (int kind = EP_WSGI; kind <= EP_TORNADO; kind++) {
        if (kind == EP_TORNADO && !is_tornado_execute(ci))
            break;
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

/* Reads the dict's version tag; 0 where the version has none: 2.7, and 3.14+,
 * which dropped ma_version_tag. A 0 never matches, so there every sample
 * reads the dict again. No cheaper signal is safe on 3.14: _ma_watcher_tag
 * holds watcher bits, not a version (measured: it stays 0 across inserts
 * and deletes), and a server that frees one request's environ and builds
 * the next one the same way gets the same addresses back from CPython's
 * allocator for the dict, its keys and often its values, so a signature of
 * addresses and sizes would keep the previous request's label. */
static uint64_t dict_version(struct walker *w, uint64_t dict)
{
    uint64_t version = 0;
    uint32_t off = w->rt->layout.dict.ma_version_tag;
    if (off == PY_NO_FIELD || mem_read_u64(w->r, dict + off, &version))
        return 0;
    return version;
}

/* What we know of the program w reads: made on first use. */
static struct ep_program *program(struct endpoint_reader *er, struct walker *w)
{
    pid_t pid = w->rt->pid;
    uint64_t runtime = w->rt->runtime_addr ? w->rt->runtime_addr : w->rt->interp_head_addr;
    struct ep_program *p = &er->programs[(uint64_t)pid & (PROGRAMS_CAP - 1)];
    if (p->pid != pid || p->runtime != runtime) {
        char cmdline[1024] = "";
        proc_cmdline(pid, cmdline, sizeof(cmdline));
        memset(p, 0, sizeof(*p));
        p->pid = pid;
        p->runtime = runtime;
        p->hash = hash_str(HASH_SEED ^ (uint64_t)(cmdline[0] ? 0 : pid), cmdline);
    }
    return p;
}

/* Returns 1 if type is a str type of p (2.7: str or unicode), checking it
 * by name once per type object. */
static int is_str_type(struct walker *w, struct ep_program *p, uint64_t obj, uint64_t type)
{
    char name[16];
    if (type && (type == p->str_types[0] || type == p->str_types[1]))
        return 1;
    if (value_type_name(w->r, &w->rt->layout, obj, name, sizeof(name)) != 0 ||
        (strcmp(name, "str") != 0 && strcmp(name, "unicode") != 0))
        return 0;
    p->str_types[p->str_types[0] ? 1 : 0] = type;
    return 1;
}

/* Reads the str (2.7: str or unicode) at obj into out. A compact ASCII str
 * (3.3+) of up to TEXT_INLINE characters takes one read: its header and its
 * text; anything else goes through pystr_read. */
#define TEXT_INLINE 120
static int read_text(struct endpoint_reader *er, struct walker *w, uint64_t obj, char *out,
                     size_t size)
{
    struct ep_program *p = program(er, w);
    const struct py_layout *l = &w->rt->layout;
    uint8_t buf[256];
    size_t head = l->unicode.ascii_size;
    uint64_t type;
    int64_t length = -1;
    uint32_t state = 0;
    int fast = l->string_kind == PY_STR_3 && head + TEXT_INLINE <= sizeof(buf) &&
               mem_read(w->r, obj, buf, head + TEXT_INLINE) == 0;
    if (fast) {
        memcpy(&type, buf + l->object.ob_type, 8);
        memcpy(&length, buf + l->unicode.length, 8);
        memcpy(&state, buf + l->unicode.state, 4);
    } else if (mem_read_u64(w->r, obj + l->object.ob_type, &type) != 0) {
        return -SG_EFAULT;
    }
    if (!is_str_type(w, p, obj, type))
        return -SG_ECORRUPT;
    /* state: kind 1, compact, ascii */
    if (fast && layout_str_kind(l, state) == 1 && layout_str_compact(l, state) &&
        layout_str_ascii(l, state) && length >= 0 && length <= TEXT_INLINE &&
        (size_t)length < size) {
        memcpy(out, buf + head, (size_t)length);
        out[length] = '\0';
        return memchr(out, '\0', (size_t)length) ? -SG_ECORRUPT : 0;
    }
    return pystr_read(w->r, l, obj, out, size);
}

/* Bytes read of each key: enough for the longest name we look for
 * ("werkzeug.request", 16) and a little more. */
#define KEY_TEXT_READ 24

/* Where a str's text starts: compact ASCII (3.x) or a 2.7 str. */
static size_t key_text_offset(const struct py_layout *l)
{
    return l->string_kind == PY_STR_3 ? l->unicode.ascii_size : l->bytes.ob_sval;
}

/* The key id named by a str whose first key_text_offset + KEY_TEXT_READ
 * bytes are buf, or K_OTHER (not plain ASCII text, or not one of ours). The
 * type is checked by the caller. */
static int key_match(const struct py_layout *l, const uint8_t *buf)
{
    int64_t len;
    if (l->string_kind == PY_STR_3) {
        uint32_t state;
        memcpy(&len, buf + l->unicode.length, 8);
        memcpy(&state, buf + l->unicode.state, 4);
        /* state: kind 1, compact, ascii (the bits moved in 3.14t: layout.h) */
        if (layout_str_kind(l, state) != 1 || !layout_str_compact(l, state) ||
            !layout_str_ascii(l, state))
            return K_OTHER;
    } else {
        memcpy(&len, buf + l->object.ob_size, 8);
    }
    const char *text = (const char *)buf + key_text_offset(l);
    for (int i = 0; i < K_COUNT && len > 0 && len <= KEY_TEXT_READ; i++) {
        if ((size_t)len == strlen(key_names[i]) && memcmp(text, key_names[i], (size_t)len) == 0)
            return i;
    }
    return K_OTHER;
}

struct scan_item {
    uint64_t key, value;
};

struct scan {
    struct scan_item items[SCAN_MAX_ENTRIES];
    size_t count;
};

static int scan_collect(uint64_t key, uint64_t value, void *ctx)
{
    struct scan *sc = ctx;
    sc->items[sc->count++] = (struct scan_item){key, value};
    return sc->count == SCAN_MAX_ENTRIES; /* full: stop */
}

/* Reads every key of sc in one batched read and fills values[id] for the
 * ids in wanted. Returns the mask of ids found. */
static uint64_t scan_keys(struct endpoint_reader *er, struct walker *w, const struct scan *sc,
                          uint64_t wanted, uint64_t *values)
{
    const struct py_layout *l = &w->rt->layout;
    size_t span = key_text_offset(l) + KEY_TEXT_READ, n = sc->count;
    uint8_t *bufs = xmalloc(n * span);
    struct mem_span *spans = xmalloc(n * sizeof(*spans));
    for (size_t i = 0; i < n; i++)
        spans[i] =
            (struct mem_span){.addr = sc->items[i].key, .buf = bufs + i * span, .size = span};
    mem_read_batch(w->r, spans, n);
    uint64_t found = 0, type;
    for (size_t i = 0; i < n; i++) {
        int id = spans[i].err ? K_OTHER : key_match(l, bufs + i * span);
        if (id == K_OTHER || !(wanted >> id & 1) || (found >> id & 1))
            continue;
        memcpy(&type, bufs + i * span + l->object.ob_type, 8);
        if (!is_str_type(w, program(er, w), sc->items[i].key, type))
            continue;
        values[id] = sc->items[i].value;
        found |= 1ull << id;
    }
    er->keys_read += n;
    free(spans);
    free(bufs);
    return found;
}

/* Looks up every key id in wanted (a bit mask) in dict: one pass over its
 * entries, then one batched read of all its keys. Returns the mask of keys
 * found, or 0 if dict could not be read. */
static uint64_t dict_scan(struct endpoint_reader *er, struct walker *w, uint64_t dict,
                          uint64_t wanted, uint64_t *values)
{
    struct scan *sc = xmalloc(sizeof(*sc));
    sc->count = 0;
    uint64_t found = 0;
    if (value_dict_foreach(w->r, &w->rt->layout, dict, SCAN_MAX_ENTRIES, scan_collect, sc) == 0 &&
        sc->count)
        found = scan_keys(er, w, sc, wanted, values);
    free(sc);
    return found;
}

#define BIT(id) (1ull << (id))

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

/* The memo key of e's method and shape in pid's program; never 0. */
static uint64_t route_key(struct endpoint_reader *er, struct walker *w, const struct ep_thread *e)
{
    uint64_t h = hash_str(hash_str(hash_str(program(er, w)->hash, e->method), " "), e->shape);
    return h ? h : 1;
}

static struct ep_route *route_slot(struct endpoint_reader *er, uint64_t key)
{
    return &er->routes[(key ^ (key >> 32)) & (er->routes_cap - 1)];
}

/* Labels e from a route seen before for its shape. Returns 1 if known. */
static int route_recall(struct endpoint_reader *er, struct walker *w, struct ep_thread *e)
{
    uint64_t key = route_key(er, w, e);
    struct ep_route *r = route_slot(er, key);
    if (r->key != key)
        return 0;
    strlcpy_safe(e->label, r->label, sizeof(e->label));
    return 1;
}

static void route_remember(struct endpoint_reader *er, struct walker *w, const struct ep_thread *e)
{
    uint64_t key = route_key(er, w, e);
    struct ep_route *r = route_slot(er, key);
    r->key = key;
    strlcpy_safe(r->label, e->label, sizeof(r->label));
}

/* Follows obj.names[0].names[1]... and reads the last as text. */
static int attr_path_text(struct endpoint_reader *er, struct walker *w, uint64_t obj,
                          const char *const *names, size_t n, char *out, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (value_getattr(w->r, &w->rt->layout, obj, names[i], &obj) != 0)
            return -SG_ENOTPY;
    }
    return read_text(er, w, obj, out, size);
}

/* Is obj None (a framework's "not routed yet")? */
static int is_none(struct walker *w, uint64_t obj)
{
    char name[16];
    return value_type_name(w->r, &w->rt->layout, obj, name, sizeof(name)) == 0 &&
           strcmp(name, "NoneType") == 0;
}

/* The route template of e->request, by its framework. Returns 1 if found
 * (or known never to come: a Django without routes), 0 if not yet. */
static int read_route(struct endpoint_reader *er, struct walker *w, struct ep_thread *e,
                      char *route, size_t size)
{
    static const char *const flask[] = {"url_rule", "rule"};
    static const char *const django[] = {"resolver_match", "route"};
    static const char *const aiohttp[] = {"_match_info", "_route", "_resource", "_formatter"};
    static const char *const aiohttp_plain[] = {"_match_info", "_route", "_resource", "_path"};
    uint64_t match;
    route[0] = '\0';
    switch (e->route_kind) {
    case ROUTE_FLASK:
        return attr_path_text(er, w, e->request, flask, 2, route, size) == 0;
    case ROUTE_DJANGO:
        /* Django's routes have no leading slash: "users/<int:pk>/". */
        if (attr_path_text(er, w, e->request, django, 2, route + 1, size - 1) == 0) {
            route[0] = '/';
            return 1;
        }
        /* No route although resolved: Django before 2.2 keeps only a regex. */
        return value_getattr(w->r, &w->rt->layout, e->request, django[0], &match) == 0 &&
               !is_none(w, match);
    case ROUTE_AIOHTTP:
        return attr_path_text(er, w, e->request, aiohttp, 4, route, size) == 0 ||
               attr_path_text(er, w, e->request, aiohttp_plain, 4, route, size) == 0;
    }
    return 1;
}

/* Labels e with its request's route once the framework has routed it.
 * Returns 1 if e is resolved now. */
static int find_route(struct endpoint_reader *er, struct walker *w, struct ep_thread *e)
{
    char route[ENDPOINT_PATH_MAX + 1];
    if (route_recall(er, w, e) || !e->request)
        return e->resolved = 1;
    if (!read_route(er, w, e, route, sizeof(route)))
        return e->resolved = 0; /* not routed yet: look again in later samples */
    if (route[0]) {
        set_label(e, route);
        route_remember(er, w, e);
    }
    return e->resolved = 1;
}

/* Step 3 for WSGI. Returns 1 if dict is a request environ. */
static int read_wsgi(struct endpoint_reader *er, struct walker *w, uint64_t dict,
                     struct ep_thread *e)
{
    char method[32], path[512];
    uint64_t v[K_COUNT], must = BIT(K_REQUEST_METHOD) | BIT(K_PATH_INFO);
    uint64_t found = dict_scan(er, w, dict, must | BIT(K_WERKZEUG_REQUEST), v);
    if ((found & must) != must || read_text(er, w, v[K_REQUEST_METHOD], method, sizeof(method)) ||
        read_text(er, w, v[K_PATH_INFO], path, sizeof(path)) || set_shape(e, path, 1))
        return 0;
    clean_method(method, e->method, sizeof(e->method));
    set_label(e, NULL);
    e->request = found & BIT(K_WERKZEUG_REQUEST) ? v[K_WERKZEUG_REQUEST] : 0;
    e->route_kind = ROUTE_FLASK;
    /* Flask keeps its request object in the environ while it serves it (and
     * sets it to None after). Before routing it has no rule yet: look again
     * in later samples, unless this shape was routed before. */
    find_route(er, w, e);
    return 1;
}

/* Step 3 for ASGI. Returns 1 if dict is an http or websocket scope. */
static int read_asgi(struct endpoint_reader *er, struct walker *w, uint64_t dict,
                     struct ep_thread *e)
{
    char type[16], method[32], path[512], route[ENDPOINT_PATH_MAX + 1];
    uint64_t v[K_COUNT], route_obj, must = BIT(K_TYPE) | BIT(K_PATH);
    uint64_t found = dict_scan(er, w, dict, must | BIT(K_METHOD) | BIT(K_ROUTE), v);
    if ((found & must) != must || read_text(er, w, v[K_TYPE], type, sizeof(type)) ||
        read_text(er, w, v[K_PATH], path, sizeof(path)) || set_shape(e, path, 0))
        return 0;
    if (strcmp(type, "http") == 0 && (found & BIT(K_METHOD)) &&
        read_text(er, w, v[K_METHOD], method, sizeof(method)) == 0)
        clean_method(method, e->method, sizeof(e->method));
    else if (strcmp(type, "websocket") == 0)
        strlcpy_safe(e->method, "WS", sizeof(e->method));
    else
        return 0;
    set_label(e, NULL);
    /* The scope gains "route" when FastAPI matches; that changes the dict's
     * version, so a later sample reads it again. A shape routed before needs
     * no reading. */
    if (!route_recall(er, w, e) && (found & BIT(K_ROUTE)) &&
        value_getattr(w->r, &w->rt->layout, v[K_ROUTE], "path", &route_obj) == 0 &&
        read_text(er, w, route_obj, route, sizeof(route)) == 0) {
        set_label(e, route);
        route_remember(er, w, e);
    }
    e->request = 0;
    e->resolved = 1;
    return 1;
}

/* Reads obj.name as text into out. */
static int text_attr(struct endpoint_reader *er, struct walker *w, uint64_t obj, const char *name,
                     char *out, size_t size)
{
    return attr_path_text(er, w, obj, &name, 1, out, size);
}

/* aiohttp keeps the request line in request._message: with its pure
 * Python parser a named tuple (method, path, ...) whose path still has its
 * query string; with its C parser (the usual case) an extension object we
 * cannot read, and then the route template, once routed, stands for the
 * path. */
static int aiohttp_path(struct endpoint_reader *er, struct walker *w, struct ep_thread *e,
                        uint64_t request, char *out, size_t size)
{
    const struct py_layout *l = &w->rt->layout;
    uint64_t message, item;
    char type[64];
    if (value_getattr(w->r, l, request, "_message", &message) == 0 &&
        value_type_name(w->r, l, message, type, sizeof(type)) == 0 &&
        strcmp(type, "RawRequestMessage") == 0 &&
        mem_read_u64(w->r, message + l->obj.tuple_item + 8, &item) == 0 &&
        read_text(er, w, item, out, size) == 0) {
        out[strcspn(out, "?")] = '\0';
        return 0;
    }
    e->request = request;
    e->route_kind = ROUTE_AIOHTTP;
    return read_route(er, w, e, out, size) && out[0] ? 0 : -SG_ENOTPY;
}

/* Step 3 for a request object: Django's HttpRequest and Tornado's
 * HTTPServerRequest (method and path attributes), aiohttp's Request
 * (_method, and the path of _message). Returns 1 if obj is one. */
static int read_request(struct endpoint_reader *er, struct walker *w, uint64_t obj,
                        struct ep_thread *e)
{
    char method[32], path[512];
    int aiohttp = text_attr(er, w, obj, "method", method, sizeof(method)) != 0;
    if (aiohttp && text_attr(er, w, obj, "_method", method, sizeof(method)) != 0)
        return 0;
    if ((aiohttp ? aiohttp_path(er, w, e, obj, path, sizeof(path))
                 : text_attr(er, w, obj, "path", path, sizeof(path))) != 0 ||
        set_shape(e, path, 0))
        return 0;
    clean_method(method, e->method, sizeof(e->method));
    set_label(e, NULL);
    e->request = obj;
    e->route_kind = aiohttp ? ROUTE_AIOHTTP : ROUTE_DJANGO;
    find_route(er, w, e);
    return 1;
}

/* The object a candidate frame offers, and the dict whose version tag says
 * whether it changed (0: none, read it every time). */
static int candidate_object(struct walker *w, const struct py_frame *f, const struct ep_code *c,
                            uint64_t *obj, uint64_t *dict)
{
    const struct py_layout *l = &w->rt->layout;
    int err = locals_get(w, f, c->index, c->cell, obj);
    *dict = *obj;
    if (err || c->kind < EP_REQUEST)
        return err;
    if (c->kind == EP_TORNADO && value_getattr(w->r, l, *obj, "request", obj) != 0)
        return -SG_ENOTPY;
    if (value_instance_dict(w->r, l, *obj, dict) != 0)
        *dict = 0;
    return 0;
}

/* Steps 2 and 3 for one candidate frame. Returns 1 with e->label set if the
 * frame's dict is a request. A dict found not to be one is remembered too,
 * so a stack with such a dict inside the request frame stays cheap. */
static int candidate(struct endpoint_reader *er, struct walker *w, const struct py_frame *f,
                     const struct ep_code *c, struct ep_thread *e)
{
    uint64_t obj, dict;
    if (candidate_object(w, f, c, &obj, &dict) != 0) {
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
    uint64_t version = dict ? dict_version(w, dict) : 0;
    if (e->valid && e->frame_addr == f->frame_addr && e->object == obj && e->dict == dict &&
        version && e->version == version) {
        er->hits++;
        if (!e->resolved)
            find_route(er, w, e);
        return 1;
    }
    if (e->not_frame == f->frame_addr && e->not_object == obj && version &&
        e->not_version == version)
        return 0;
    er->reads++;
    struct ep_thread fresh = *e;
    int ok = c->kind == EP_WSGI   ? read_wsgi(er, w, dict, &fresh)
             : c->kind == EP_ASGI ? read_asgi(er, w, dict, &fresh)
                                  : read_request(er, w, obj, &fresh);
    if (!ok) {
        e->not_frame = f->frame_addr;
        e->not_object = obj;
        e->not_version = version;
        return 0;
    }
    fresh.valid = 1;
    fresh.frame_addr = f->frame_addr;
    fresh.object = obj;
    fresh.dict = dict;
    fresh.version = version;
    *e = fresh;
    return 1;
}

/* endpoint_of_thread without the read count. */
static int find_request(struct endpoint_reader *er, struct walker *w, const struct py_thread *t,
                        char *label, size_t size)
{
    struct ep_thread *e = thread_slot(er, w->rt->pid, t->tstate);
    int tried = 0;
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

int endpoint_of_thread(struct endpoint_reader *er, struct walker *w, const struct py_thread *t,
                       char *label, size_t size)
{
    uint64_t reads = w->r->reads;
    if (size)
        label[0] = '\0';
    er->lookups++;
    int found = find_request(er, w, t, label, size);
    er->in_request += (uint64_t)found;
    er->target_reads += w->r->reads - reads;
    return found;
}

/* ---- asyncio tasks (python/tasks.c) ---------------------------------------- */

int endpoint_of_frames(struct endpoint_reader *er, struct walker *w, uint64_t key,
                       struct py_frame *frames, size_t depth, char *label, size_t size,
                       uint64_t *request)
{
    struct py_thread view;
    memset(&view, 0, sizeof(view));
    view.tstate = key;
    view.frames = frames;
    view.depth = depth;
    if (size)
        label[0] = '\0';
    *request = 0;
    uint64_t hits = er->hits; /* the statistics are of threads */
    int found = find_request(er, w, &view, label, size);
    er->hits = hits;
    if (!found)
        return 0;
    *request = endpoint_request(er, w->rt->pid, key);
    return 1;
}

uint64_t endpoint_request(struct endpoint_reader *er, pid_t pid, uint64_t key)
{
    const struct ep_thread *e = thread_slot(er, pid, key);
    return e->valid && e->pid == pid && e->thread == key ? e->dict : 0;
}
