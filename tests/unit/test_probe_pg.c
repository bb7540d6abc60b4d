/* Tests for the postgres probe on a real loop against the PostgreSQL named
 * by EMPIRIC_TEST_DB (a libpq conninfo on loopback, e.g. "host=127.0.0.1
 * port=55432 user=postgres dbname=postgres"); the tests that need it fail
 * when it is unset. Also, with no server at all: refused, dns, a silent
 * listener that must time out while the loop keeps running its timers, and
 * abandoning probes in flight. Authentication failures are not tested: the
 * test server trusts everyone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probes/kinds.h"
#include "probe_harness.h"

#define harness probe_harness

/* The target's own keys, set by each test before it starts a probe. */
static char pg_conninfo[1024];
static const char *pg_query;

static int setup(void **state)
{
    static struct probe_harness h;
    if (probe_harness_init(&h, "postgres") != 0)
        return -1;
    pg_conninfo[0] = '\0';
    pg_query = "SELECT 1";
    *state = &h;
    return 0;
}

static int teardown(void **state)
{
    probe_harness_cleanup(*state);
    return 0;
}

static const char *test_db(void)
{
    const char *db = getenv("EMPIRIC_TEST_DB");
    if (db == NULL || db[0] == '\0')
        fail_msg("EMPIRIC_TEST_DB is not set: it must name a PostgreSQL, e.g. "
                 "\"host=127.0.0.1 port=55432 user=postgres dbname=postgres\"");
    return db;
}

/* Append key='value' to `buf`, quoting as libpq wants. */
static void add_param(char *buf, size_t size, const char *key, const char *val)
{
    size_t n = strlen(buf);
    n += (size_t)snprintf(buf + n, size - n, "%s%s='", n ? " " : "", key);
    for (const char *p = val; *p && n + 3 < size; p++) {
        if (*p == '\'' || *p == '\\')
            buf[n++] = '\\';
        buf[n++] = *p;
    }
    snprintf(buf + n, size - n, "'");
}

/* pg_conninfo := the test database with `key` set to `val` (or removed
 * when val is NULL), twice over for key2/val2 (key2 may be NULL). */
static void db_with(const char *key, const char *val, const char *key2, const char *val2)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(test_db(), &err);
    if (opts == NULL)
        fail_msg("EMPIRIC_TEST_DB: %s", err ? err : "out of memory");
    pg_conninfo[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || (key && strcmp(o->keyword, key) == 0) ||
            (key2 && strcmp(o->keyword, key2) == 0))
            continue;
        add_param(pg_conninfo, sizeof pg_conninfo, o->keyword, o->val);
    }
    if (key && val)
        add_param(pg_conninfo, sizeof pg_conninfo, key, val);
    if (key2 && val2)
        add_param(pg_conninfo, sizeof pg_conninfo, key2, val2);
    PQconninfoFree(opts);
}

/* Start a probe of the conninfo and query set now. */
static void start_probe(struct harness *h)
{
    probe_harness_spec_json(h, json_pack("{s:s, s:s}", "conninfo", pg_conninfo, "query", pg_query));
    probe_harness_start(h);
}

static void run_probe(struct harness *h)
{
    start_probe(h);
    probe_harness_run(h, 20000);
    assert_false(h->guard_fired);
    assert_int_equal(h->done_calls, 1);
    if (h->pr.r.status == EMP_STATUS_FAIL)
        print_message("    %s: %s\n", h->pr.r.err_class, h->pr.r.message);
}

static void expect_fail(struct harness *h, const char *err_class)
{
    assert_int_equal(h->pr.r.status, EMP_STATUS_FAIL);
    assert_string_equal(h->pr.r.err_class, err_class);
    assert_true(strlen(h->pr.r.message) > 0);
    assert_null(strchr(h->pr.r.message, '\n'));
}

static int listener(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in in = {.sin_family = AF_INET};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof in;
    if (bind(fd, (struct sockaddr *)&in, len) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&in, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(in.sin_port);
    return fd;
}

static int closed_port(void)
{
    int port = 0;
    int fd = listener(1, &port);
    assert_true(fd >= 0);
    close(fd);
    return port;
}

static void test_select_ok(void **state)
{
    struct harness *h = *state;
    snprintf(pg_conninfo, sizeof pg_conninfo, "%s", test_db());
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
    assert_string_equal(h->pr.r.err_class, "");
    void *kstate = h->pr.kstate;
    /* Again, reusing the kind's state; several statements, all fine. */
    pg_query = "SELECT 1; SET application_name = 'empiric'; SELECT 2";
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
    assert_ptr_equal(h->pr.kstate, kstate);
}

static void test_localhost_name(void **state)
{
    struct harness *h = *state;
    /* A name: resolved by the probe, passed to libpq as hostaddr. */
    db_with("host", "localhost", "hostaddr", NULL);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
}

static void test_uri(void **state)
{
    struct harness *h = *state;
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(test_db(), &err);
    assert_non_null(opts);
    const char *port = "5432", *user = "postgres", *db = "postgres";
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    snprintf(pg_conninfo, sizeof pg_conninfo, "postgresql://%s@localhost:%s/%s", user, port, db);
    PQconninfoFree(opts);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
}

/* Two hosts: the first refuses, libpq moves on to the second. The port
 * list follows the host list, expanded with it. */
static void test_multi_host(void **state)
{
    struct harness *h = *state;
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(test_db(), &err);
    assert_non_null(opts);
    const char *port = "5432";
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL && strcmp(o->keyword, "port") == 0)
            port = o->val;
    char ports[64];
    snprintf(ports, sizeof ports, "%d,%s", closed_port(), port);
    PQconninfoFree(opts);
    db_with("host", "localhost,127.0.0.1", "port", ports);
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);

    /* Port and host lists that do not match. */
    db_with("host", "localhost,127.0.0.1", "port", "1,2,3");
    run_probe(h);
    expect_fail(h, "connect");
}

static void test_bad_query(void **state)
{
    struct harness *h = *state;
    snprintf(pg_conninfo, sizeof pg_conninfo, "%s", test_db());
    pg_query = "SELEC 1";
    run_probe(h);
    expect_fail(h, "query");
    assert_non_null(strstr(h->pr.r.message, "syntax error"));

    /* The first failing statement is the one reported. */
    pg_query = "SELECT 1; SELECT * FROM no_such_table_here; SELECT 2";
    run_probe(h);
    expect_fail(h, "query");
    assert_non_null(strstr(h->pr.r.message, "no_such_table_here"));

    pg_query = "";
    run_probe(h);
    expect_fail(h, "query");

    /* COPY would hand out results forever: refused, not hung. */
    pg_query = "COPY (SELECT 1) TO STDOUT";
    run_probe(h);
    expect_fail(h, "query");

    /* Notices are swallowed, not printed. */
    pg_query = "DO $$ BEGIN RAISE NOTICE 'hello'; END $$";
    run_probe(h);
    assert_int_equal(h->pr.r.status, EMP_STATUS_OK);
}

static void test_no_such_database(void **state)
{
    struct harness *h = *state;
    db_with("dbname", "empiric_no_such_database", NULL, NULL);
    run_probe(h);
    expect_fail(h, "connect");
    assert_non_null(strstr(h->pr.r.message, "does not exist"));
}

static void test_query_timeout(void **state)
{
    struct harness *h = *state;
    snprintf(pg_conninfo, sizeof pg_conninfo, "%s", test_db());
    pg_query = "SELECT pg_sleep(10)";
    h->cfg.timeout_ms = 300;
    int64_t t0 = emp_mono_us();
    run_probe(h);
    int64_t took_ms = (emp_mono_us() - t0) / EMP_US_PER_MS;
    expect_fail(h, "timeout");
    assert_non_null(strstr(h->pr.r.message, "query"));
    assert_true(took_ms >= 290 && took_ms < 2000);
}

static void test_refused(void **state)
{
    struct harness *h = *state;
    snprintf(pg_conninfo, sizeof pg_conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=postgres", closed_port());
    run_probe(h);
    expect_fail(h, "refused");

    snprintf(pg_conninfo, sizeof pg_conninfo,
             "host=localhost port=%d user=postgres dbname=postgres", closed_port());
    run_probe(h);
    expect_fail(h, "refused");
}

static void test_dns(void **state)
{
    struct harness *h = *state;
    /* Rejected by the resolver before any query is sent. */
    snprintf(pg_conninfo, sizeof pg_conninfo, "host=a..invalid user=postgres");
    run_probe(h);
    expect_fail(h, "dns");
    assert_non_null(strstr(h->pr.r.message, "a..invalid"));
}

static void test_bad_conninfo(void **state)
{
    struct harness *h = *state;
    snprintf(pg_conninfo, sizeof pg_conninfo, "this is not a conninfo");
    run_probe(h);
    expect_fail(h, "internal");
}

/* Ticks every 10 ms and remembers the longest gap between two ticks. */
struct ticker {
    struct emp_timer t;
    struct emp_loop *loop;
    int ticks;
    int64_t last_us, max_gap_us;
};

static void on_tick(struct emp_timer *t)
{
    struct ticker *k = t->data;
    int64_t now = emp_mono_us();
    if (k->ticks > 0 && now - k->last_us > k->max_gap_us)
        k->max_gap_us = now - k->last_us;
    k->ticks++;
    k->last_us = now;
    emp_loop_timer_start(k->loop, t, emp_loop_now(k->loop) + 10 * EMP_US_PER_MS);
}

/* A server that accepts and never says a word: the probe times out, and
 * the loop keeps serving its other timers meanwhile. */
static void test_silent_server_times_out(void **state)
{
    struct harness *h = *state;
    int port;
    int lfd = listener(16, &port); /* the kernel completes the handshakes */
    assert_true(lfd >= 0);
    snprintf(pg_conninfo, sizeof pg_conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", port);
    h->cfg.timeout_ms = 500;
    struct ticker k = {.loop = h->loop};
    k.t.cb = on_tick;
    k.t.data = &k;
    emp_loop_timer_start(h->loop, &k.t, emp_loop_update_time(h->loop));
    int64_t t0 = emp_mono_us();
    run_probe(h);
    int64_t took_ms = (emp_mono_us() - t0) / EMP_US_PER_MS;
    emp_loop_timer_stop(h->loop, &k.t);
    expect_fail(h, "timeout");
    assert_non_null(strstr(h->pr.r.message, "connecting"));
    assert_true(took_ms >= 490 && took_ms < 2000);
    assert_true(k.ticks >= 25);
    assert_true(k.max_gap_us < 100 * EMP_US_PER_MS);

    /* With SSL negotiation (the default "prefer") as well. */
    snprintf(pg_conninfo, sizeof pg_conninfo,
             "host=localhost port=%d user=postgres dbname=postgres", port);
    h->cfg.timeout_ms = 200;
    run_probe(h);
    expect_fail(h, "timeout");
    close(lfd);
}

/* Cleanup abandons a probe in flight, in each phase, without done(). */
static void test_cleanup_in_flight(void **state)
{
    struct harness *h = *state;
    int port;
    int lfd = listener(16, &port);
    assert_true(lfd >= 0);
    const char *fmt[] = {
        "host=localhost port=%d user=postgres", /* resolving */
        "host=127.0.0.1 port=%d user=postgres", /* connecting, silent */
    };
    for (size_t i = 0; i < 2; i++) {
        snprintf(pg_conninfo, sizeof pg_conninfo, fmt[i], port);
        start_probe(h);
        if (i == 1)
            probe_harness_run(h, 50);
        assert_int_equal(h->done_calls, 0);
        probe_harness_cancel(h);
        assert_false(emp_timer_active(&h->pr.deadline));
        probe_harness_run(h, 50);
        assert_true(h->guard_fired);
        assert_int_equal(h->done_calls, 0);
    }
    /* Before the kick timer ran at all. */
    start_probe(h);
    probe_harness_cancel(h);
    probe_harness_run(h, 20);
    assert_int_equal(h->done_calls, 0);
    close(lfd);
}

static void test_cleanup_during_query(void **state)
{
    struct harness *h = *state;
    snprintf(pg_conninfo, sizeof pg_conninfo, "%s", test_db());
    pg_query = "SELECT pg_sleep(10)";
    start_probe(h);
    probe_harness_run(h, 300); /* connected and waiting for the query by now */
    assert_int_equal(h->done_calls, 0);
    probe_harness_cancel(h);
    probe_harness_run(h, 20);
    assert_int_equal(h->done_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_conninfo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localhost_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_such_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_during_query, setup, teardown),
    };
    return cmocka_run_group_tests_name("probe_pg", tests, NULL, NULL);
}
