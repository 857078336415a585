/*
 * http.h - a small HTTP/1.1 client over plain TCP, for the agent's pushes.
 *
 * One request per connection ("Connection: close"): the agent sends a few
 * requests a minute, so keeping connections alive is not worth the states
 * a long-lived socket can be in. Every step is bounded by one deadline:
 * name lookup aside, connecting, sending and reading the answer together
 * take at most timeout_ms. Only http:// URLs; TLS is left to a local
 * collector or proxy.
 */
#ifndef SPYGLASS_AGENT_HTTP_H
#define SPYGLASS_AGENT_HTTP_H

#include <stddef.h>

struct http_url {
    char host[256]; /* a name or an address ("[::1]" is kept without brackets) */
    char port[8];
    char path[512]; /* "" or "/prefix", never ending in '/' */
};

struct http_response {
    int status;      /* 200, 429, ... */
    char body[512];  /* the start of the answer's body, NUL-terminated */
    size_t body_len; /* bytes of body received (may exceed what was kept) */
};

/* Parses "http://HOST[:PORT][/PATH]" (default port 80). Returns 0, or -1
 * with a sentence in why. */
int http_url_parse(const char *url, struct http_url *u, char *why, size_t why_size);

/* POSTs body to u's path followed by path, with the content type. Returns 0
 * once an answer was read (whatever its status), or -1 with a sentence in
 * why (no route, refused, timed out, cut off). */
int http_post(const struct http_url *u, const char *path, const char *content_type,
              const void *body, size_t len, int timeout_ms, struct http_response *r, char *why,
              size_t why_size);

/* Parses the status line and body out of a whole answer (for tests).
 * Returns 0, or -1 if it is not HTTP. */
int http_parse_response(const char *data, size_t len, struct http_response *r);

#endif
