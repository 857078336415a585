/*
 * test_http.c - the agent's HTTP client (agent/http.c): URLs, answers, and a
 * POST to a listener of our own on 127.0.0.1 (a socket, not a server: it
 * reads the request and writes a canned answer), including one that never
 * answers (the deadline holds).
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

#include "agent/http.h"

static void test_http_url_parse_takes_host_port_and_path(void **state)
{
    struct http_url u;
    char why[256];
    assert_int_equal(http_url_parse("http://127.0.0.1:4040", &u, why, sizeof(why)), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "4040");
    assert_string_equal(u.path, "");
    assert_int_equal(http_url_parse("http://pyro.example/base/", &u, why, sizeof(why)), 0);
    assert_string_equal(u.port, "80");
    assert_string_equal(u.path, "/base");
    assert_int_equal(http_url_parse("http://[::1]:4318/", &u, why, sizeof(why)), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "4318");
}

static void test_http_url_parse_refuses_what_it_cannot_send_to(void **state)
{
    struct http_url u;
    char why[256];
    assert_int_equal(http_url_parse("https://x:443", &u, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "https is not supported"));
    assert_int_equal(http_url_parse("pyroscope:4040", &u, why, sizeof(why)), -1);
    assert_int_equal(http_url_parse("http://x:99999", &u, why, sizeof(why)), -1);
    assert_int_equal(http_url_parse("http://x:40a0", &u, why, sizeof(why)), -1);
    assert_int_equal(http_url_parse("http://", &u, why, sizeof(why)), -1);
}

static void test_http_parse_response_status_and_body(void **state)
{
    struct http_response r;
    const char ok[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nbad labels!trailing";
    assert_int_equal(http_parse_response(ok, sizeof(ok) - 1, &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "bad labels!");
    const char junk[] = "SSH-2.0-OpenSSH\r\n";
    assert_int_equal(http_parse_response(junk, sizeof(junk) - 1, &r), -1);
}

struct listener {
    int fd;
    int port;
    const char *answer; /* NULL: accept, read, never answer */
    char request[4096];
};

static void *serve_one(void *arg)
{
    struct listener *l = arg;
    int c = accept(l->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t got = 0;
    while (got < sizeof(l->request) - 1) {
        ssize_t n = read(c, l->request + got, sizeof(l->request) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        l->request[got] = '\0';
        char *end = strstr(l->request, "\r\n\r\n");
        if (end && strstr(l->request, "Content-Length: 5") && strlen(end + 4) >= 5)
            break;
    }
    if (l->answer) {
        if (write(c, l->answer, strlen(l->answer)) < 0) {
            /* the test sees no answer */
        }
    } else {
        char byte;
        if (read(c, &byte, 1) < 0) { /* wait for the client to give up */
        }
    }
    close(c);
    return NULL;
}

static void listen_local(struct listener *l)
{
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(l->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(l->fd, (struct sockaddr *)&a, &len);
    l->port = ntohs(a.sin_port);
    assert_int_equal(listen(l->fd, 1), 0);
}

static void test_http_post_sends_request_and_reads_answer(void **state)
{
    struct listener l = {.answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    listen_local(&l);
    pthread_t t;
    pthread_create(&t, NULL, serve_one, &l);
    char url[64], why[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/base", l.port);
    struct http_url u;
    assert_int_equal(http_url_parse(url, &u, why, sizeof(why)), 0);
    struct http_response r;
    assert_int_equal(
        http_post(&u, "/push", "application/proto", "hello", 5, 5000, &r, why, sizeof(why)), 0);
    pthread_join(t, NULL);
    close(l.fd);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(l.request, "POST /base/push HTTP/1.1\r\n"));
    assert_non_null(strstr(l.request, "Content-Type: application/proto\r\n"));
    assert_non_null(strstr(l.request, "\r\n\r\nhello"));
}

static void test_http_post_gives_up_at_its_deadline(void **state)
{
    struct listener l = {.answer = NULL};
    listen_local(&l);
    pthread_t t;
    pthread_create(&t, NULL, serve_one, &l);
    char url[64], why[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", l.port);
    struct http_url u;
    http_url_parse(url, &u, why, sizeof(why));
    struct http_response r;
    assert_int_equal(http_post(&u, "/x", "a/b", "hello", 5, 300, &r, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "timed out"));
    pthread_join(t, NULL);
    close(l.fd);
}

static void test_http_post_says_when_nobody_listens(void **state)
{
    struct listener l = {0};
    listen_local(&l);
    close(l.fd); /* the port is free now: connecting is refused */
    char url[64], why[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", l.port);
    struct http_url u;
    http_url_parse(url, &u, why, sizeof(why));
    struct http_response r;
    assert_int_equal(http_post(&u, "/x", "a/b", "hello", 5, 2000, &r, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "cannot connect"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_url_parse_takes_host_port_and_path),
        cmocka_unit_test(test_http_url_parse_refuses_what_it_cannot_send_to),
        cmocka_unit_test(test_http_parse_response_status_and_body),
        cmocka_unit_test(test_http_post_sends_request_and_reads_answer),
        cmocka_unit_test(test_http_post_gives_up_at_its_deadline),
        cmocka_unit_test(test_http_post_says_when_nobody_listens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
