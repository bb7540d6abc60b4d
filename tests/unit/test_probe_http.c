/* HTTP probes on a real loop against a misbehaving loopback server: status
 * checks, connection refused, a hang past the timeout, an endless chunked
 * body, endless headers, garbage instead of HTTP, and connection reuse. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/timeutil.h"
#include "probes/loop.h"
#include "probes/probe.h"
#include "probe_harness.h"
#include "tests/support/target.h"

/* The http kind, and what it shares in a loop (curl's multi handle). */
#define HTTP test_kind("http")

/* --- a server whose behaviour depends on the request path ------------- */

struct server {
    int lfd;
    int port;
    int stop_pipe[2];
    pthread_t thread;
    atomic_int connections;
};

struct conn {
    struct server *s;
    int fd;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Wait up to ms for the server to stop; true when it did. */
static bool stopping(struct server *s, int ms)
{
    struct pollfd pfd = {.fd = s->stop_pipe[0], .events = POLLIN};
    return poll(&pfd, 1, ms) > 0;
}

static void *serve_conn(void *arg)
{
    struct conn *c = arg;
    char req[4096];
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(c->fd, req + got, sizeof req - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    char path[64] = "";
    sscanf(req, "GET %63s", path);
    if (strcmp(path, "/ok") == 0) {
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        send_all(c->fd, resp, strlen(resp));
        /* Keep the connection open a moment so reuse is possible. */
        if (strstr(req, "Connection: close") == NULL) {
            got = 0;
            ssize_t r = recv(c->fd, req, sizeof req - 1, 0);
            if (r > 0)
                send_all(c->fd, resp, strlen(resp));
        }
    } else if (strcmp(path, "/once") == 0) {
        /* Answers the first request of a kept connection, not the next. */
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        send_all(c->fd, resp, strlen(resp));
        stopping(c->s, 5000);
    } else if (strcmp(path, "/500") == 0) {
        const char *resp = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
        send_all(c->fd, resp, strlen(resp));
    } else if (strcmp(path, "/hang") == 0) {
        stopping(c->s, 5000);
    } else if (strcmp(path, "/endless") == 0) {
        const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        send_all(c->fd, head, strlen(head));
        char chunk[8192 + 16];
        int n = snprintf(chunk, sizeof chunk, "2000\r\n");
        memset(chunk + n, 'x', 8192);
        memcpy(chunk + n + 8192, "\r\n", 2);
        for (int i = 0; i < 100000 && !stopping(c->s, 0); i++)
            send_all(c->fd, chunk, (size_t)n + 8192 + 2);
    } else if (strcmp(path, "/headers") == 0) {
        const char *head = "HTTP/1.1 200 OK\r\n";
        send_all(c->fd, head, strlen(head));
        char line[1024];
        for (int i = 0; i < 100000 && !stopping(c->s, 0); i++) {
            int n = snprintf(line, sizeof line, "X-Filler-%d: %0900d\r\n", i, 0);
            send_all(c->fd, line, (size_t)n);
        }
    } else if (strcmp(path, "/garbage") == 0) {
        const char *g = "SSH-2.0-NotHTTP\r\n\r\n\x01\x02\x03";
        send_all(c->fd, g, strlen(g));
    }
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_loop(void *arg)
{
    struct server *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
                              {.fd = s->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 || (p[1].revents & POLLIN))
            return NULL;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->connections, 1);
        struct conn *c = malloc(sizeof *c);
        c->s = s;
        c->fd = fd;
        pthread_t t;
        pthread_create(&t, NULL, serve_conn, c);
        pthread_detach(t);
    }
}

static void server_start(struct server *s)
{
    memset(s, 0, sizeof *s);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 64), 0);
    socklen_t len = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pipe(s->stop_pipe), 0);
    pthread_create(&s->thread, NULL, accept_loop, s);
}

static void server_stop(struct server *s)
{
    ssize_t w = write(s->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(s->thread, NULL);
    close(s->lfd);
    usleep(100 * 1000); /* let connection threads see the stop */
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
}

/* --- driving one probe ------------------------------------------------ */

static void on_done(struct emp_probe *pr)
{
    pr->in_flight = false;
    pr->r.latency_us = emp_mono_us() - pr->started_mono_us;
    emp_loop_stop(pr->loop);
}

static void run_probe(void *h, struct emp_loop *loop, struct emp_probe *pr)
{
    pr->loop = loop;
    pr->done = on_done;
    memset(&pr->r, 0, sizeof pr->r);
    pr->r.started_at_us = emp_now_us();
    pr->started_mono_us = emp_loop_update_time(loop);
    assert_int_equal(HTTP->start(pr, h), EMP_OK);
    emp_loop_run(loop, false);
}

/* An http target of `url` (free with emp_target_config_cleanup); `more`
 * adds keys, e.g. ", \"reuse\": true". */
static struct emp_target_config target(const char *url, int timeout_ms, const char *more)
{
    return test_target("{\"name\": \"t\", \"kind\": \"http\", \"url\": \"%s\","
                       " \"interval_ms\": %d, \"timeout_ms\": %d, \"fail_threshold\": 1,"
                       " \"recover_threshold\": 1%s}",
                       url, timeout_ms > 1000 ? timeout_ms : 1000, timeout_ms, more);
}

/* The probe harness gives the loop and the kind's shared state (these
 * tests run several probes of their own at once), and at the end checks
 * that no socket or lookup of the kind is left. */
struct fixture {
    struct probe_harness h;
    struct server srv;
    struct emp_loop *loop;
    void *http; /* the http kind's shared state */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || probe_harness_init(&f->h, "http") != 0)
        return -1;
    server_start(&f->srv);
    f->loop = f->h.loop;
    f->http = f->h.shared;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    server_stop(&f->srv);
    probe_harness_cleanup(&f->h);
    free(f);
    return 0;
}

static struct emp_result probe_path(struct fixture *f, const char *path, int timeout_ms,
                                    const int *expect, size_t n_expect)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->srv.port, path);
    char more[256] = "";
    for (size_t i = 0; i < n_expect; i++)
        snprintf(more + strlen(more), sizeof more - strlen(more), "%s%d",
                 i == 0 ? ", \"expect_status\": [" : ", ", expect[i]);
    if (n_expect > 0)
        strcat(more, "]");
    struct emp_target_config tc = target(url, timeout_ms, more);
    struct emp_probe pr = {.cfg = &tc};
    run_probe(f->http, f->loop, &pr);
    HTTP->cancel(&pr, f->http);
    emp_target_config_cleanup(&tc);
    return pr.r;
}

static void test_ok(void **state)
{
    struct emp_result r = probe_path(*state, "/ok", 1000, NULL, 0);
    assert_int_equal(r.status, EMP_STATUS_OK);
    assert_string_equal(r.err_class, "");
}

static void test_status_500_fails_and_expected_500_passes(void **state)
{
    struct emp_result r = probe_path(*state, "/500", 1000, NULL, 0);
    assert_int_equal(r.status, EMP_STATUS_FAIL);
    assert_string_equal(r.err_class, "http_status");
    assert_non_null(strstr(r.message, "500"));
    int only500[] = {500};
    r = probe_path(*state, "/500", 1000, only500, 1);
    assert_int_equal(r.status, EMP_STATUS_OK);
    int only204[] = {204};
    r = probe_path(*state, "/ok", 1000, only204, 1);
    assert_int_equal(r.status, EMP_STATUS_FAIL);
}

static void test_hang_times_out_on_time(void **state)
{
    struct emp_result r = probe_path(*state, "/hang", 300, NULL, 0);
    assert_int_equal(r.status, EMP_STATUS_FAIL);
    assert_string_equal(r.err_class, "timeout");
    assert_true(r.latency_us >= 290 * 1000);
    assert_true(r.latency_us < 1000 * 1000);
}

static void test_endless_body_is_capped(void **state)
{
    struct emp_result r = probe_path(*state, "/endless", 3000, NULL, 0);
    assert_int_equal(r.status, EMP_STATUS_FAIL);
    assert_string_equal(r.err_class, "body_too_large");
    assert_true(r.latency_us < 2000 * 1000);
}

static void test_endless_headers_are_capped(void **state)
{
    struct emp_result r = probe_path(*state, "/headers", 3000, NULL, 0);
    assert_int_equal(r.status, EMP_STATUS_FAIL);
    assert_string_equal(r.err_class, "headers_too_large");
}

static void test_garbage_is_a_protocol_failure(void **state)
{
    struct emp_result r = probe_path(*state, "/garbage", 1000, NULL, 0);
    assert_int_equal(r.status, EMP_STATUS_FAIL);
    assert_string_equal(r.err_class, "protocol");
}

static void test_refused(void **state)
{
    (void)state;
    struct fixture *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd); /* a port nobody listens on */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct emp_target_config tc = target(url, 1000, "");
    struct emp_probe pr = {.cfg = &tc};
    run_probe(f->http, f->loop, &pr);
    HTTP->cancel(&pr, f->http);
    emp_target_config_cleanup(&tc);
    assert_int_equal(pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(pr.r.err_class, "refused");
}

static void test_fresh_connection_unless_reuse(void **state)
{
    struct fixture *f = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", f->srv.port);
    struct emp_target_config tc = target(url, 1000, "");
    struct emp_probe pr = {.cfg = &tc};
    int before = atomic_load(&f->srv.connections);
    run_probe(f->http, f->loop, &pr);
    run_probe(f->http, f->loop, &pr);
    HTTP->cancel(&pr, f->http);
    assert_int_equal(atomic_load(&f->srv.connections) - before, 2);

    emp_target_config_cleanup(&tc);
    tc = target(url, 1000, ", \"reuse\": true");
    struct emp_probe pr2 = {.cfg = &tc};
    before = atomic_load(&f->srv.connections);
    run_probe(f->http, f->loop, &pr2);
    assert_int_equal(pr2.r.status, EMP_STATUS_OK);
    run_probe(f->http, f->loop, &pr2);
    assert_int_equal(pr2.r.status, EMP_STATUS_OK);
    HTTP->cancel(&pr2, f->http);
    emp_target_config_cleanup(&tc);
    assert_int_equal(atomic_load(&f->srv.connections) - before, 1);
}

/* A kept connection that stops answering times out as "timeout": its
 * name was looked up on the first probe, the DNS is not to blame. */
static void test_timeout_on_kept_connection(void **state)
{
    struct fixture *f = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/once", f->srv.port);
    struct emp_target_config tc = target(url, 300, ", \"reuse\": true");
    struct emp_probe pr = {.cfg = &tc};
    run_probe(f->http, f->loop, &pr);
    assert_int_equal(pr.r.status, EMP_STATUS_OK);
    pr.deadline_passed = false;
    run_probe(f->http, f->loop, &pr);
    HTTP->cancel(&pr, f->http);
    emp_target_config_cleanup(&tc);
    assert_int_equal(pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(pr.r.err_class, "timeout");
    assert_true(pr.deadline_passed);
}

/* Many probes completing in the same loop iteration (a burst of answers
 * or of timeouts) are all finished, each with its own result. */
struct burst {
    int done, n;
};

static void on_burst_done(struct emp_probe *pr)
{
    struct burst *b = pr->owner;
    pr->in_flight = false;
    if (++b->done == b->n)
        emp_loop_stop(pr->loop);
}

static void test_burst_of_completions(void **state)
{
    enum { N = 64 };
    struct fixture *f = *state;
    char ok_url[64], bad_url[64];
    snprintf(ok_url, sizeof ok_url, "http://127.0.0.1:%d/ok", f->srv.port);
    snprintf(bad_url, sizeof bad_url, "http://127.0.0.1:%d/500", f->srv.port);
    struct emp_target_config ok = target(ok_url, 2000, ""), bad = target(bad_url, 2000, "");
    struct emp_probe *pr = calloc(N, sizeof *pr);
    assert_non_null(pr);
    struct burst b = {.n = N};
    for (int i = 0; i < N; i++) {
        pr[i] = (struct emp_probe){.cfg = i % 2 ? &bad : &ok, .loop = f->loop,
                                   .done = on_burst_done, .owner = &b};
        pr[i].started_mono_us = emp_loop_update_time(f->loop);
        assert_int_equal(HTTP->start(&pr[i], f->http), EMP_OK);
    }
    emp_loop_run(f->loop, false);
    assert_int_equal(b.done, N);
    for (int i = 0; i < N; i++) {
        assert_false(pr[i].in_flight);
        if (i % 2) {
            assert_int_equal(pr[i].r.status, EMP_STATUS_FAIL);
            assert_string_equal(pr[i].r.err_class, "http_status");
        } else {
            assert_int_equal(pr[i].r.status, EMP_STATUS_OK);
        }
        HTTP->cancel(&pr[i], f->http);
    }
    free(pr);
    emp_target_config_cleanup(&ok);
    emp_target_config_cleanup(&bad);
}

/* Probes go through a proxy named in the environment, as libcurl's own
 * rules say, and straight to the target when none is named. */
static void test_environment_proxy_is_honoured(void **state)
{
    struct fixture *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd); /* a proxy nobody runs */
    char proxy[64], url[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", f->srv.port);
    struct emp_target_config tc = target(url, 1000, "");

    /* libcurl reads the variables at each transfer; no_proxy would let
     * loopback bypass the proxy. */
    char *no_proxy[2] = {NULL, NULL};
    const char *no_proxy_names[2] = {"no_proxy", "NO_PROXY"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(no_proxy_names[i]);
        no_proxy[i] = v != NULL ? strdup(v) : NULL;
        unsetenv(no_proxy_names[i]);
    }
    setenv("http_proxy", proxy, 1);
    void *via_proxy = NULL;
    assert_int_equal(HTTP->loop_new(f->loop, &via_proxy), EMP_OK);
    struct emp_probe pr = {.cfg = &tc};
    run_probe(via_proxy, f->loop, &pr);
    HTTP->cancel(&pr, via_proxy);
    HTTP->loop_free(via_proxy);
    unsetenv("http_proxy");
    for (int i = 0; i < 2; i++) {
        if (no_proxy[i] != NULL)
            setenv(no_proxy_names[i], no_proxy[i], 1);
        free(no_proxy[i]);
    }
    assert_int_equal(pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(pr.r.err_class, "refused");

    struct emp_probe direct = {.cfg = &tc};
    run_probe(f->http, f->loop, &direct);
    HTTP->cancel(&direct, f->http);
    emp_target_config_cleanup(&tc);
    assert_int_equal(direct.r.status, EMP_STATUS_OK);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_500_fails_and_expected_500_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_times_out_on_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endless_body_is_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endless_headers_are_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_is_a_protocol_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_connection_unless_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_on_kept_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_of_completions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_proxy_is_honoured, setup, teardown),
    };
    int rc = cmocka_run_group_tests_name("probe_http", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
