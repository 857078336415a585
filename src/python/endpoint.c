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

#define KEYS_CAP 4096        /* power of two */
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

/* What the str object at addr in process pid says, as a key id. Most keys
 * are constants of the server's code (interned, one object for the
 * process's life), so after the first request a scan reads no key text;
 * header keys made per request are read each time. */
struct ep_key {
    pid_t pid;
    uint64_t addr;
    int8_t id; /* enum ep_key_id */
};

/* pid -> hash of its command line. */
struct ep_program {
    pid_t pid;
    uint64_t runtime; /* the runtime's address: a process that exec'd is new */
    uint64_t hash;
    uint64_t str_types[2]; /* addresses of str (2.7: and unicode) type objects seen */
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
    er->keys = xcalloc(KEYS_CAP, sizeof(*er->keys));
}

void endpoint_release(struct endpoint_reader *er)
{
    free(er->codes);
    free(er->threads);
    free(er->routes);
    free(er->programs);
    free(er->keys);
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
    /* state: kind 1 (bits 2-4), compact (bit 5), ascii (bit 6) */
    if (fast && ((state >> 2) & 7) == 1 && (state >> 5 & 1) && (state >> 6 & 1) && length >= 0 &&
        length <= TEXT_INLINE && (size_t)length < size) {
        memcpy(out, buf + head, (size_t)length);
        out[length] = '\0';
        return memchr(out, '\0', (size_t)length) ? -SG_ECORRUPT : 0;
    }
    return pystr_read(w->r, l, obj, out, size);
}

struct scan {
    struct endpoint_reader *er;
    struct walker *w;
    uint64_t wanted; /* bit per key id */
    uint64_t found;
    uint64_t *values; /* indexed by key id */
    int use_memo;
};

/* The key id of the str at addr (K_OTHER if not one of ours). */
static int key_id(struct scan *sc, uint64_t addr)
{
    pid_t pid = sc->w->rt->pid;
    uint64_t h = (addr >> 4) * 0x9E3779B97F4A7C15ull ^ (uint64_t)pid;
    struct ep_key *k = &sc->er->keys[(h >> 40) & (KEYS_CAP - 1)];
    if (sc->use_memo && k->pid == pid && k->addr == addr)
        return k->id;
    char text[ENDPOINT_PATH_MAX + 1];
    int id = K_OTHER;
    if (read_text(sc->er, sc->w, addr, text, sizeof(text)) == 0) {
        for (int i = 0; i < K_COUNT && id == K_OTHER; i++)
            id = strcmp(text, key_names[i]) == 0 ? i : K_OTHER;
    }
    *k = (struct ep_key){.pid = pid, .addr = addr, .id = (int8_t)id};
    return id;
}

static int scan_entry(uint64_t key, uint64_t value, void *ctx)
{
    struct scan *sc = ctx;
    int id = key_id(sc, key);
    if (id != K_OTHER && (sc->wanted >> id & 1) && !(sc->found >> id & 1)) {
        sc->values[id] = value;
        sc->found |= 1ull << id;
    }
    return sc->found == sc->wanted; /* all found: stop */
}

/* Looks up every key id in wanted (a bit mask) in one pass over dict;
 * values[id] is set for those found. If a key of must is missing, scans once
 * more reading every key's text (the memo may be stale: an address reused).
 * Returns the mask of keys found, or 0 if dict could not be read. */
static uint64_t dict_scan(struct endpoint_reader *er, struct walker *w, uint64_t dict,
                          uint64_t wanted, uint64_t must, uint64_t *values)
{
    struct scan sc = {.er = er, .w = w, .wanted = wanted, .values = values, .use_memo = 1};
    for (int pass = 0; pass < 2; pass++) {
        sc.found = 0;
        if (value_dict_foreach(w->r, &w->rt->layout, dict, SCAN_MAX_ENTRIES, scan_entry, &sc))
            return 0;
        if ((sc.found & must) == must)
            break;
        sc.use_memo = 0;
    }
    return sc.found;
}

#define BIT(id) (1ull << (id))

/* Reads obj.attr.attr2 as text (e.g. request.url_rule.rule). */
static int attr_text(struct endpoint_reader *er, struct walker *w, uint64_t obj, const char *attr,
                     const char *attr2, char *out, size_t size)
{
    uint64_t mid, value;
    const struct py_layout *l = &w->rt->layout;
    int err = value_getattr(w->r, l, obj, attr, &mid);
    if (!err)
        err = value_getattr(w->r, l, mid, attr2, &value);
    return err ? err : read_text(er, w, value, out, size);
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

/* Flask: the matched rule, once routing has run. Returns 1 if found. */
static int wsgi_route(struct endpoint_reader *er, struct walker *w, struct ep_thread *e)
{
    char rule[ENDPOINT_PATH_MAX + 1];
    if (!e->request || attr_text(er, w, e->request, "url_rule", "rule", rule, sizeof(rule)) != 0)
        return 0;
    set_label(e, rule);
    route_remember(er, w, e);
    e->resolved = 1;
    return 1;
}

/* Step 3 for WSGI. Returns 1 if dict is a request environ. */
static int read_wsgi(struct endpoint_reader *er, struct walker *w, uint64_t dict,
                     struct ep_thread *e)
{
    char method[32], path[512];
    uint64_t v[K_COUNT], must = BIT(K_REQUEST_METHOD) | BIT(K_PATH_INFO);
    uint64_t found = dict_scan(er, w, dict, must | BIT(K_WERKZEUG_REQUEST), must, v);
    if ((found & must) != must || read_text(er, w, v[K_REQUEST_METHOD], method, sizeof(method)) ||
        read_text(er, w, v[K_PATH_INFO], path, sizeof(path)) || set_shape(e, path, 1))
        return 0;
    clean_method(method, e->method, sizeof(e->method));
    set_label(e, NULL);
    e->request = found & BIT(K_WERKZEUG_REQUEST) ? v[K_WERKZEUG_REQUEST] : 0;
    e->resolved = 1;
    /* Flask keeps its request object in the environ while it serves it (and
     * sets it to None after). Before routing it has no rule yet: look again
     * in later samples, unless this shape was routed before. */
    if (e->request && !route_recall(er, w, e) && !wsgi_route(er, w, e))
        e->resolved = 0;
    return 1;
}

/* Step 3 for ASGI. Returns 1 if dict is an http or websocket scope. */
static int read_asgi(struct endpoint_reader *er, struct walker *w, uint64_t dict,
                     struct ep_thread *e)
{
    char type[16], method[32], path[512], route[ENDPOINT_PATH_MAX + 1];
    uint64_t v[K_COUNT], route_obj, must = BIT(K_TYPE) | BIT(K_PATH);
    uint64_t found = dict_scan(er, w, dict, must | BIT(K_METHOD) | BIT(K_ROUTE), must, v);
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
        if (!e->resolved && route_recall(er, w, e))
            e->resolved = 1;
        else if (!e->resolved)
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
