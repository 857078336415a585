/*
 * sinks.c - windows to folders and servers (agent/sinks.h).
 */
#include "agent/sinks.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/format.h"
#include "util/util.h"

static const char *const exts[SINK_COUNT] = {".pb.gz", ".push", ".otlp"};
static const char *const paths[SINK_COUNT] = {"", "/push.v1.PusherService/Push",
                                              "/v1development/profiles"};
static const char *const types[SINK_COUNT] = {"", "application/proto", "application/x-protobuf"};

int sinks_open(struct sinks *s, enum sink_kind kind, const char *url, const char *dir,
               size_t max_files, uint64_t max_bytes, char *why, size_t why_size)
{
    struct sink *k = &s->sink[kind];
    memset(k, 0, sizeof(*k));
    k->kind = kind;
    k->url_text = url;
    if (url && http_url_parse(url, &k->url, why, why_size) != 0)
        return -1;
    if (spool_open(&k->spool, dir, exts[kind], max_files, max_bytes, why, why_size) != 0)
        return -1;
    k->on = 1;
    k->backoff_ms = SENDER_BACKOFF_MIN_MS;
    return 0;
}

void sinks_close(struct sinks *s)
{
    for (int i = 0; i < SINK_COUNT; i++) {
        if (s->sink[i].on)
            spool_close(&s->sink[i].spool);
        free(s->sink[i].retrying);
        s->sink[i].retrying = NULL;
        s->sink[i].on = 0;
    }
}

/* The window's pprof, gzipped, in out. Returns 0 or -1. */
static int pprof_bytes(const struct window *win, struct strbuf *out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    struct format_options fo = {.time_type = strcmp(win->labels.name, "wall") ? "cpu" : "wall"};
    int err = pprof_write(win->profile, f, &fo);
    if (fclose(f) != 0)
        err = -1;
    if (!err)
        strbuf_add(out, buf, len);
    free(buf);
    return err ? -1 : 0;
}

/* A file name part from the service and pid: [A-Za-z0-9._-] only. */
static void tag_of(const struct window *win, char *tag, size_t size)
{
    snprintf(tag, size, "%.60s-%d", win->labels.service, (int)win->pid);
    for (char *c = tag; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_')
            *c = '_';
    }
}

int sinks_add(struct sinks *s, const struct window *win, char *why, size_t why_size)
{
    if (profile_stack_count(win->profile) == 0) {
        s->empty++;
        return 0;
    }
    struct strbuf gz, body;
    strbuf_init(&gz);
    strbuf_init(&body);
    char tag[96];
    tag_of(win, tag, sizeof(tag));
    int rc = 0;
    int need_pprof = s->sink[SINK_DIR].on || s->sink[SINK_PYROSCOPE].on;
    if (need_pprof && pprof_bytes(win, &gz) != 0) {
        snprintf(why, why_size, "could not encode the window of pid %d", (int)win->pid);
        rc = -1;
    }
    for (int i = 0; i < SINK_COUNT && rc == 0; i++) {
        struct sink *k = &s->sink[i];
        if (!k->on)
            continue;
        body.len = 0;
        if (i == SINK_DIR)
            strbuf_add(&body, gz.buf, gz.len);
        else if (i == SINK_PYROSCOPE)
            encode_pyroscope(&win->labels, gz.buf, gz.len, &body);
        else
            encode_otlp(win->profile, &win->labels, &body);
        if (spool_add(&k->spool, win->start_unix_ns, tag, body.buf, body.len, why, why_size) != 0)
            rc = -1;
    }
    if (rc == 0)
        s->windows++;
    strbuf_release(&gz);
    strbuf_release(&body);
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void report(struct sinks *s, const struct sink *k, enum sender_event e, int status,
                   const char *message)
{
    struct sender_report r = {k, e, status, message};
    if (s->report)
        s->report(&r, s->report_ctx);
}

/* Refused for good: a 4xx other than 408 / 429, or a file that keeps
 * getting 500. */
static int refused(struct sink *k, const char *path, int status)
{
    if (status >= 400 && status < 500 && status != 408 && status != 429)
        return 1;
    if (status != 500)
        return 0;
    if (!k->retrying || strcmp(k->retrying, path) != 0) {
        free(k->retrying);
        k->retrying = xstrdup(path);
        k->answers_500 = 0;
    }
    return ++k->answers_500 >= SENDER_MAX_500;
}

static void failed(struct sinks *s, struct sink *k, int status, const char *message)
{
    k->failures++;
    if (!k->down)
        report(s, k, SENDER_DOWN, status, message);
    k->down = 1;
    k->next_try_ms = now_ms() + k->backoff_ms;
    k->backoff_ms =
        k->backoff_ms * 2 > SENDER_BACKOFF_MAX_MS ? SENDER_BACKOFF_MAX_MS : k->backoff_ms * 2;
}

int sinks_send_one(struct sinks *s, struct sink *k)
{
    if (now_ms() < k->next_try_ms)
        return 0;
    void *data;
    size_t len;
    char *path = spool_oldest(&k->spool, &data, &len);
    if (!path)
        return 0;
    struct http_response r;
    char why[512] = "";
    int done = 0;
    if (http_post(&k->url, paths[k->kind], types[k->kind], data, len, SENDER_TIMEOUT_MS, &r, why,
                  sizeof(why)) != 0) {
        failed(s, k, 0, why);
    } else if (r.status >= 200 && r.status < 300) {
        spool_remove(&k->spool, path);
        k->sent++;
        done = 1;
    } else if (refused(k, path, r.status)) {
        spool_remove(&k->spool, path);
        k->refused++;
        report(s, k, SENDER_REFUSED, r.status, r.body);
        done = 1;
    } else {
        failed(s, k, r.status, r.body);
    }
    if (done) {
        if (k->down)
            report(s, k, SENDER_UP, r.status, "");
        k->down = 0;
        k->backoff_ms = SENDER_BACKOFF_MIN_MS;
        k->next_try_ms = 0;
    }
    free(path);
    free(data);
    return done;
}

/* One round over the server sinks; returns 1 if any file was done. */
static int send_round(struct sinks *s)
{
    int done = 0;
    for (int i = SINK_PYROSCOPE; i < SINK_COUNT; i++) {
        if (s->sink[i].on)
            done |= sinks_send_one(s, &s->sink[i]);
    }
    return done;
}

static void *sender_main(void *arg)
{
    struct sinks *s = arg;
    while (!s->stop_sender) {
        if (!send_round(s)) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

void sinks_start_sender(struct sinks *s, sender_fn fn, void *ctx)
{
    s->report = fn;
    s->report_ctx = ctx;
    if (!s->sink[SINK_PYROSCOPE].on && !s->sink[SINK_OTLP].on)
        return;
    s->stop_sender = 0;
    /* Signals are the sampling thread's: the sender starts with all blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&s->thread, NULL, sender_main, s) == 0)
        s->running = 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void sinks_stop_sender(struct sinks *s, int drain_ms)
{
    if (!s->running)
        return;
    s->stop_sender = 1;
    pthread_join(s->thread, NULL);
    s->running = 0;
    /* A last try, in this thread: what is left stays in the spool for the
     * next start. */
    uint64_t end = now_ms() + (uint64_t)drain_ms;
    for (int i = SINK_PYROSCOPE; i < SINK_COUNT; i++)
        s->sink[i].next_try_ms = 0;
    while (now_ms() < end && send_round(s)) {
    }
}
