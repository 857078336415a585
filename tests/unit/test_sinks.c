/*
 * test_sinks.c - what the agent's sender does with each answer
 * (agent/sinks.c): 2xx deletes the window, a client error refuses it for
 * good (deleted, counted, reported), 503 keeps it and backs off, 500 is
 * retried SENDER_MAX_500 times, then refused. The server is a socket of our
 * own on 127.0.0.1 answering a canned status per connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/sinks.h"
#include "util/util.h"

struct server {
    int fd, port;
    int status; /* answered to every request */
    int served;
    pthread_t thread;
    volatile int stop;
};

static void *serve(void *arg)
{
    struct server *sv = arg;
    while (!sv->stop) {
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            break;
        char buf[65536];
        ssize_t n = read(c, buf, sizeof(buf)); /* the request fits one read here */
        (void)n;
        sv->served++; /* before answering: the client returns once it has the answer */
        char answer[128];
        snprintf(answer, sizeof(answer), "HTTP/1.1 %d X\r\nContent-Length: 4\r\n\r\nnope",
                 sv->status);
        if (write(c, answer, strlen(answer)) < 0) {
            /* the client sees no answer */
        }
        close(c);
    }
    return NULL;
}

static void server_start(struct server *sv, int status)
{
    memset(sv, 0, sizeof(*sv));
    sv->status = status;
    sv->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(sv->fd, (struct sockaddr *)&a, &len);
    sv->port = ntohs(a.sin_port);
    assert_int_equal(listen(sv->fd, 8), 0);
    pthread_create(&sv->thread, NULL, serve, sv);
}

static void server_stop(struct server *sv)
{
    sv->stop = 1;
    shutdown(sv->fd, SHUT_RDWR);
    close(sv->fd);
    pthread_join(sv->thread, NULL);
}

struct events {
    int down, up, refused;
};

static void count(const struct sender_report *r, void *ctx)
{
    struct events *e = ctx;
    e->down += r->event == SENDER_DOWN;
    e->up += r->event == SENDER_UP;
    e->refused += r->event == SENDER_REFUSED;
}

/* A sinks with one Pyroscope sink at the server, its spool holding one file. */
static char *setup(struct sinks *s, struct server *sv, struct events *e)
{
    char tmpl[] = "/tmp/spyglass-sinks-XXXXXX", why[256], url[64];
    char *dir = xstrdup(mkdtemp(tmpl));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", sv->port);
    memset(s, 0, sizeof(*s));
    assert_int_equal(sinks_open(s, SINK_PYROSCOPE, url, dir, 10, 0, why, sizeof(why)), 0);
    assert_int_equal(
        spool_add(&s->sink[SINK_PYROSCOPE].spool, 1, "t-1", "body", 4, why, sizeof(why)), 0);
    s->report = count;
    s->report_ctx = e;
    return dir;
}

static void teardown(struct sinks *s, char *dir)
{
    sinks_close(s);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(dir);
}

static void test_sinks_2xx_deletes_the_window(void **state)
{
    struct server sv;
    struct sinks s;
    struct events e = {0};
    server_start(&sv, 200);
    char *dir = setup(&s, &sv, &e);
    struct sink *k = &s.sink[SINK_PYROSCOPE];
    assert_int_equal(sinks_send_one(&s, k), 1);
    assert_int_equal(k->sent, 1);
    assert_int_equal(spool_count(&k->spool, NULL), 0);
    assert_int_equal(sinks_send_one(&s, k), 0); /* nothing left */
    server_stop(&sv);
    teardown(&s, dir);
}

static void test_sinks_client_error_refuses_for_good(void **state)
{
    struct server sv;
    struct sinks s;
    struct events e = {0};
    server_start(&sv, 400);
    char *dir = setup(&s, &sv, &e);
    struct sink *k = &s.sink[SINK_PYROSCOPE];
    assert_int_equal(sinks_send_one(&s, k), 1);
    assert_int_equal(k->refused, 1);
    assert_int_equal(e.refused, 1);
    assert_int_equal(spool_count(&k->spool, NULL), 0);
    server_stop(&sv);
    teardown(&s, dir);
}

static void test_sinks_503_keeps_the_window_and_backs_off(void **state)
{
    struct server sv;
    struct sinks s;
    struct events e = {0};
    server_start(&sv, 503);
    char *dir = setup(&s, &sv, &e);
    struct sink *k = &s.sink[SINK_PYROSCOPE];
    assert_int_equal(sinks_send_one(&s, k), 0);
    assert_int_equal(e.down, 1);
    assert_int_equal(spool_count(&k->spool, NULL), 1);
    assert_int_equal(k->backoff_ms, 2 * SENDER_BACKOFF_MIN_MS);
    assert_int_equal(sinks_send_one(&s, k), 0); /* within the backoff: not even tried */
    assert_int_equal(sv.served, 1);
    sv.status = 200; /* the server is back */
    k->next_try_ms = 0;
    assert_int_equal(sinks_send_one(&s, k), 1);
    assert_int_equal(e.up, 1);
    assert_int_equal(e.down, 1); /* said once */
    assert_int_equal(k->backoff_ms, SENDER_BACKOFF_MIN_MS);
    server_stop(&sv);
    teardown(&s, dir);
}

static void test_sinks_500_is_retried_then_refused(void **state)
{
    struct server sv;
    struct sinks s;
    struct events e = {0};
    server_start(&sv, 500);
    char *dir = setup(&s, &sv, &e);
    struct sink *k = &s.sink[SINK_PYROSCOPE];
    for (int i = 1; i < SENDER_MAX_500; i++) {
        k->next_try_ms = 0;
        assert_int_equal(sinks_send_one(&s, k), 0);
        assert_int_equal(spool_count(&k->spool, NULL), 1);
    }
    k->next_try_ms = 0;
    assert_int_equal(sinks_send_one(&s, k), 1);
    assert_int_equal(k->refused, 1);
    assert_int_equal(spool_count(&k->spool, NULL), 0);
    server_stop(&sv);
    teardown(&s, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sinks_2xx_deletes_the_window),
        cmocka_unit_test(test_sinks_client_error_refuses_for_good),
        cmocka_unit_test(test_sinks_503_keeps_the_window_and_backs_off),
        cmocka_unit_test(test_sinks_500_is_retried_then_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
