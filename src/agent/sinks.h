/*
 * sinks.h - where the agent's windows go, and the sender that drains them.
 *
 * Each window is encoded once per destination and added to that
 * destination's spool (agent/spool.h): --dir gets the gzipped pprof itself
 * (the spool's bound is the folder's rotation), --push a Pyroscope push
 * body, --otlp an OTLP request body. A sender thread takes the oldest file
 * of each server's spool, POSTs it and deletes it once the server took it:
 *
 *   2xx                      sent, deleted
 *   400, 413, 415, 422, ...  refused for good (bad input): deleted, counted
 *   408, 429, 5xx, no answer the server is away or busy: kept, retried
 *                            with a doubling backoff (SENDER_BACKOFF_MIN_MS
 *                            .. SENDER_BACKOFF_MAX_MS); a file answered 500
 *                            SENDER_MAX_500 times in a row is refused (the
 *                            server says 500 to a malformed profile too)
 *
 * What happens is reported through a callback (the command layer prints).
 */
#ifndef SPYGLASS_AGENT_SINKS_H
#define SPYGLASS_AGENT_SINKS_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "agent/http.h"
#include "agent/spool.h"
#include "agent/window.h"

#define SENDER_BACKOFF_MIN_MS 500
#define SENDER_BACKOFF_MAX_MS 8000
#define SENDER_TIMEOUT_MS 10000
#define SENDER_MAX_500 5

enum sink_kind { SINK_DIR = 0, SINK_PYROSCOPE = 1, SINK_OTLP = 2, SINK_COUNT = 3 };

enum sender_event {
    SENDER_DOWN,    /* a send failed and the server's files wait (first failure) */
    SENDER_UP,      /* a send worked again after failures */
    SENDER_REFUSED, /* the server refused a file for good: deleted */
};

struct sink {
    int on;
    enum sink_kind kind;
    const char *url_text; /* as given */
    struct http_url url;
    struct spool spool;
    /* the sender's state (server sinks) */
    uint64_t sent, refused, failures;
    int down;
    unsigned backoff_ms;
    uint64_t next_try_ms;
    char *retrying; /* the file answered 500, and how many times */
    int answers_500;
};

struct sender_report {
    const struct sink *sink;
    enum sender_event event;
    int status;          /* the HTTP status, 0 when there was no answer */
    const char *message; /* the server's answer, or why there was none */
};

typedef void (*sender_fn)(const struct sender_report *r, void *ctx);

struct sinks {
    struct sink sink[SINK_COUNT];
    uint64_t windows; /* windows added */
    uint64_t empty;   /* windows with no sample left (all threads idle): not added */
    /* the sender thread */
    pthread_t thread;
    int running;
    volatile sig_atomic_t stop_sender;
    sender_fn report;
    void *report_ctx;
};

/* Opens the spool of one destination: for SINK_DIR, dir is the folder the
 * windows go to; for a server, url is its base URL and dir its spool.
 * Returns 0, or -1 with a sentence in why. */
int sinks_open(struct sinks *s, enum sink_kind kind, const char *url, const char *dir,
               size_t max_files, uint64_t max_bytes, char *why, size_t why_size);
void sinks_close(struct sinks *s);

/* Encodes a closed window for every destination and adds it to their
 * spools. Returns 0, or -1 with a sentence in why (the window is lost for
 * the destinations that failed). */
int sinks_add(struct sinks *s, const struct window *win, char *why, size_t why_size);

/* Starts the sender thread if a server destination is on. */
void sinks_start_sender(struct sinks *s, sender_fn report, void *ctx);
/* Stops it: it tries for up to drain_ms more to empty the spools first. */
void sinks_stop_sender(struct sinks *s, int drain_ms);

/* Tries the oldest file of one server sink once, if its backoff allows.
 * Returns 1 if a file was sent or refused, 0 if there was nothing to do or
 * the send failed. (The sender thread's step; tests call it directly.) */
int sinks_send_one(struct sinks *s, struct sink *k);

#endif
