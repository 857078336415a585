/*
 * http.c - POST over plain TCP with one deadline (agent/http.h).
 *
 * The socket is non-blocking throughout and every wait is a poll() up to
 * the deadline, so a server that accepts and then says nothing costs at
 * most timeout_ms, never a hung agent. The answer is read until the server
 * closes (we asked it to) or Content-Length is reached; only its start is
 * kept, which is all a status line and an error message need.
 */
#include "agent/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

#define HTTP_HEAD_MAX 8192 /* status line and headers we look at */

int http_url_parse(const char *url, struct http_url *u, char *why, size_t why_size)
{
    memset(u, 0, sizeof(*u));
    if (strncmp(url, "https://", 8) == 0) {
        snprintf(why, why_size,
                 "%s: https is not supported (send to a local collector or "
                 "proxy over http)",
                 url);
        return -1;
    }
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(why, why_size, "%s: not an http:// URL", url);
        return -1;
    }
    const char *host = url + 7, *end;
    if (*host == '[') { /* [IPv6]:port */
        end = strchr(host, ']');
        if (!end)
            goto bad;
        snprintf(u->host, sizeof(u->host), "%.*s", (int)(end - host - 1), host + 1);
        end++;
    } else {
        end = host + strcspn(host, ":/");
        snprintf(u->host, sizeof(u->host), "%.*s", (int)(end - host), host);
    }
    if (!u->host[0])
        goto bad;
    snprintf(u->port, sizeof(u->port), "80");
    if (*end == ':') {
        const char *port = end + 1;
        end = port + strspn(port, "0123456789");
        long v = strtol(port, NULL, 10);
        if (end == port || end - port > 5 || v <= 0 || v > 65535 || (*end && *end != '/'))
            goto bad;
        snprintf(u->port, sizeof(u->port), "%ld", v);
    }
    if (*end && *end != '/')
        goto bad;
    snprintf(u->path, sizeof(u->path), "%s", end);
    size_t n = strlen(u->path);
    while (n > 0 && u->path[n - 1] == '/')
        u->path[--n] = '\0';
    return 0;
bad:
    snprintf(why, why_size, "%s: not a URL of the form http://HOST[:PORT][/PATH]", url);
    return -1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until fd is ready for events or the deadline passes. Returns 0,
 * or -1 (errno ETIMEDOUT on the deadline). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* Connects to one of the addresses, within the deadline. Returns the
 * socket, or -1 with errno. */
static int connect_to(const struct addrinfo *ai, uint64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) != 0)
        goto fail;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        goto fail;
    if (err) {
        errno = err;
        goto fail;
    }
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int open_connection(const struct http_url *u, uint64_t deadline, char *why, size_t why_size)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        snprintf(why, why_size, "cannot resolve %s: %s", u->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_to(ai, deadline);
        if (fd < 0)
            err = errno;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(why, why_size, "cannot connect to %s:%s: %s", u->host, u->port,
                 err == ETIMEDOUT ? "timed out" : strerror(err));
    return fd;
}

static int send_all(int fd, const void *data, size_t len, uint64_t deadline)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (wait_fd(fd, POLLOUT, deadline) != 0)
            return -1;
    }
    return 0;
}

/* The value of header name in head (the headers, NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':')
            return line + n + 1;
    }
    return NULL;
}

int http_parse_response(const char *data, size_t len, struct http_response *r)
{
    memset(r, 0, sizeof(*r));
    char head[HTTP_HEAD_MAX];
    size_t hlen = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
    memcpy(head, data, hlen);
    head[hlen] = '\0';
    int status;
    if (sscanf(head, "HTTP/1.%*[01] %3d", &status) != 1 || status < 100 || status > 599)
        return -1;
    r->status = status;
    char *end = strstr(head, "\r\n\r\n");
    if (!end)
        return 0;
    size_t body_at = (size_t)(end - head) + 4;
    r->body_len = len - body_at;
    const char *cl = header(head, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) < r->body_len)
        r->body_len = strtoull(cl, NULL, 10);
    size_t keep = r->body_len < sizeof(r->body) - 1 ? r->body_len : sizeof(r->body) - 1;
    memcpy(r->body, data + body_at, keep);
    r->body[keep] = '\0';
    return 0;
}

/* Reads the answer until the server closes it, the body is complete, or the
 * deadline passes. Keeps at most HTTP_HEAD_MAX bytes. */
static int read_answer(int fd, uint64_t deadline, struct http_response *r, char *why,
                       size_t why_size)
{
    char buf[HTTP_HEAD_MAX];
    size_t len = 0, total = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && wait_fd(fd, POLLIN, deadline) == 0)
                continue;
            snprintf(why, why_size, "no answer: %s",
                     errno == ETIMEDOUT ? "timed out" : strerror(errno));
            return -1;
        }
        size_t room = sizeof(buf) - len;
        memcpy(buf + len, chunk, (size_t)n < room ? (size_t)n : room);
        len += (size_t)n < room ? (size_t)n : room;
        total += (size_t)n;
        if (http_parse_response(buf, len, r) == 0) {
            const char *end = memmem(buf, len, "\r\n\r\n", 4);
            char head[HTTP_HEAD_MAX];
            size_t hlen = end ? (size_t)(end - buf) : 0;
            memcpy(head, buf, hlen);
            head[hlen] = '\0';
            const char *cl = end ? header(head, "Content-Length") : NULL;
            if (cl && total >= hlen + 4 + strtoull(cl, NULL, 10))
                break;
        }
    }
    if (http_parse_response(buf, len, r) != 0) {
        snprintf(why, why_size,
                 len ? "the answer is not HTTP"
                     : "the server closed the "
                       "connection without answering");
        return -1;
    }
    return 0;
}

int http_post(const struct http_url *u, const char *path, const char *content_type,
              const void *body, size_t len, int timeout_ms, struct http_response *r, char *why,
              size_t why_size)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    int fd = open_connection(u, deadline, why, why_size);
    if (fd < 0)
        return -1;
    int is_v6 = strchr(u->host, ':') != NULL;
    char *head = xasprintf("POST %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: spyglass/%s\r\n"
                           "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                           u->path, path, is_v6 ? "[" : "", u->host, is_v6 ? "]" : "", u->port,
                           SPYGLASS_VERSION, content_type, len);
    int rc = -1;
    if (send_all(fd, head, strlen(head), deadline) != 0 || send_all(fd, body, len, deadline) != 0)
        snprintf(why, why_size, "sending to %s:%s failed: %s", u->host, u->port,
                 errno == ETIMEDOUT ? "timed out" : strerror(errno));
    else
        rc = read_answer(fd, deadline, r, why, why_size);
    free(head);
    close(fd);
    return rc;
}
