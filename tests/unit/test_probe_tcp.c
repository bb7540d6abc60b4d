/* Tests for the tcp probe on a real loop, loopback only: connect OK,
 * refused on a closed port, dns failure, timeouts (a full accept queue and
 * an already-passed deadline), abandoning a probe in flight, reuse of the
 * kind's state across probes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probes/kinds.h"
#include "probe_harness.h"

#define harness probe_harness

static int setup(void **state)
{
    static struct probe_harness h;
    if (probe_harness_init(&h, "tcp") != 0)
        return -1;
    *state = &h;
    return 0;
}

static int teardown(void **state)
{
    probe_harness_cleanup(*state);
    return 0;
}

/* The target: host and port. */
static void target_at(struct harness *h, const char *host, int port)
{
    probe_harness_spec(h, "{\"host\": \"%s\", \"port\": %d}", host, port);
}

static void run_probe(struct harness *h)
{
    probe_harness_start(h);
    probe_harness_run(h, 20000);
    assert_false(h->guard_fired);
    assert_int_equal(h->done_calls, 1);
    if (h->pr.r.status == EMP_STATUS_FAIL)
        print_message("    %s: %s\n", h->pr.r.err_class, h->pr.r.message);
}

static int listener(int family, int backlog, int *port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        len = sizeof *in6;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* A port nobody listens on: bound, then closed. */
static int closed_port(void)
{
    int port = 0;
    int fd = listener(AF_INET, 1, &port);
    assert_true(fd >= 0);
    close(fd);
    return port;
}

static void test_connect_ok(void **state)
{
    struct harness *h = *state;
    int port;
    int lfd = listener(AF_INET, 16, &port);
    assert_true(lfd >= 0);
    target_at(h, "127.0.0.1", port);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
    assert_string_equal(h->pr.r.err_class, "");
    assert_string_equal(h->pr.r.message, "");
    /* The kind's state stays for the next probe, which reuses it. */
    void *kstate = h->pr.kstate;
    assert_non_null(kstate);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
    assert_ptr_equal(h->pr.kstate, kstate);
    close(lfd);
}

static void test_connect_localhost(void **state)
{
    struct harness *h = *state;
    int port;
    int lfd = listener(AF_INET, 16, &port);
    assert_true(lfd >= 0);
    target_at(h, "localhost", port);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
    close(lfd);
}

static void test_connect_ipv6(void **state)
{
    struct harness *h = *state;
    int port;
    int lfd = listener(AF_INET6, 16, &port);
    if (lfd < 0)
        skip(); /* no IPv6 loopback here */
    target_at(h, "::1", port);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
    close(lfd);
}

static void test_refused(void **state)
{
    struct harness *h = *state;
    int port = closed_port();
    target_at(h, "127.0.0.1", port);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(h->pr.r.err_class, "refused");
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    assert_non_null(strstr(h->pr.r.message, want));
    assert_non_null(strstr(h->pr.r.message, "refused"));
}

static void test_refused_localhost(void **state)
{
    struct harness *h = *state;
    target_at(h, "localhost", closed_port());
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(h->pr.r.err_class, "refused");
}

static void test_dns_failure(void **state)
{
    struct harness *h = *state;
    /* Rejected by the resolver before any query is sent. */
    target_at(h, "a..invalid", 80);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(h->pr.r.err_class, "dns");
    assert_non_null(strstr(h->pr.r.message, "a..invalid"));
}

/* The deadline passed before the name was resolved: "dns" (the DNS did not
 * answer in time), marked as a deadline failure so that the prober may
 * doubt it when its loop stalled, with the lookup in flight abandoned. */
static void test_timeout_while_resolving(void **state)
{
    struct harness *h = *state;
    target_at(h, "localhost", 80);
    h->cfg.timeout_ms = 1;
    memset(&h->pr.r, 0, sizeof h->pr.r);
    h->pr.started_mono_us = emp_loop_update_time(h->loop) - 10 * EMP_US_PER_S;
    h->pr.in_flight = true;
    h->done_calls = 0;
    assert_int_equal(h->kind->start(&h->pr, h->shared), EMP_OK);
    probe_harness_run(h, 20000);
    assert_int_equal(h->done_calls, 1);
    assert_int_equal(h->pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(h->pr.r.err_class, "dns");
    assert_true(h->pr.deadline_passed);
    assert_non_null(strstr(h->pr.r.message, "resolving localhost"));
}

/* Fill a listener's accept queue so that further SYNs are dropped; returns
 * the number of filler sockets in `fds`, or -1 when the platform answers
 * them anyway. */
static int fill_backlog(int port, int *fds, int max)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < max; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
        int r = connect(fds[i], (struct sockaddr *)&in, sizeof in);
        if (r == 0)
            continue;
        assert_int_equal(errno, EINPROGRESS);
        struct pollfd p = {.fd = fds[i], .events = POLLOUT};
        if (poll(&p, 1, 200) == 0)
            return i + 1; /* this one hangs: the queue is full */
    }
    for (int i = 0; i < max; i++)
        close(fds[i]);
    return -1;
}

static void test_timeout_while_connecting(void **state)
{
    struct harness *h = *state;
    int port;
    int lfd = listener(AF_INET, 0, &port);
    assert_true(lfd >= 0);
    int fillers[16];
    int n = fill_backlog(port, fillers, 16);
    if (n < 0) {
        close(lfd);
        skip();
    }
    target_at(h, "127.0.0.1", port);
    h->cfg.timeout_ms = 300;
    int64_t t0 = emp_mono_us();
    run_probe(h);
    int64_t took_ms = (emp_mono_us() - t0) / EMP_US_PER_MS;
    assert_int_equal(h->pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(h->pr.r.err_class, "timeout");
    assert_non_null(strstr(h->pr.r.message, "connecting to 127.0.0.1:"));
    assert_true(took_ms >= 290 && took_ms < 2000);
    for (int i = 0; i < n; i++)
        close(fillers[i]);
    close(lfd);
}

/* Cleanup abandons a probe in flight without calling done(); the loop then
 * has nothing of it left. */
static void test_cleanup_in_flight(void **state)
{
    struct harness *h = *state;
    int port;
    int lfd = listener(AF_INET, 16, &port);
    assert_true(lfd >= 0);
    const char *hosts[] = {"localhost", "127.0.0.1"};
    for (size_t i = 0; i < 2; i++) {
        target_at(h, hosts[i], port);
        probe_harness_start(h);
        probe_harness_cancel(h);
        assert_false(emp_timer_active(&h->pr.deadline));
        probe_harness_run(h, 100);
        assert_true(h->guard_fired);
        assert_int_equal(h->done_calls, 0);
    }
    /* And while connecting: fill the queue so the connect hangs. */
    int lfd2 = listener(AF_INET, 0, &port);
    assert_true(lfd2 >= 0);
    int fillers[16];
    int n = fill_backlog(port, fillers, 16);
    if (n > 0) {
        target_at(h, "127.0.0.1", port);
        probe_harness_start(h);
        probe_harness_run(h, 100); /* resolved and connecting by now */
        assert_int_equal(h->done_calls, 0);
        probe_harness_cancel(h);
        probe_harness_run(h, 50);
        assert_int_equal(h->done_calls, 0);
        for (int i = 0; i < n; i++)
            close(fillers[i]);
    }
    close(lfd2);
    close(lfd);
    probe_harness_cancel(h); /* twice is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_localhost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_localhost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_while_resolving, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_while_connecting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests_name("probe_tcp", tests, NULL, NULL);
}
