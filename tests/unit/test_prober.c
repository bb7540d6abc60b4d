/* The prober on a real loop: a target that hangs costs only its own timeout
 * and never delays the others; outages are confirmed by the threshold with
 * the first failing probe as their start; results, transitions and the live
 * state come out as the writer and the API expect. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "config.h"
#include "events.h"
#include "loop.h"
#include "prober.h"
#include "state.h"
#include "timeutil.h"

/* A listening socket that never accepts: connects succeed (the kernel
 * completes the handshake) and an HTTP request is never answered. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 512), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static int closed_port(void)
{
    int port;
    int fd = listener(&port);
    close(fd);
    return port;
}

struct stopper {
    struct emp_timer t;
    struct emp_loop *loop;
};

static void on_stop(struct emp_timer *t)
{
    struct stopper *s = t->data;
    emp_loop_stop(s->loop);
}

static void test_hung_target_does_not_delay_others(void **state)
{
    (void)state;
    int silent_port, open_port;
    int silent = listener(&silent_port);
    int open = listener(&open_port);
    int closed = closed_port();
    char json[2048];
    snprintf(json, sizeof json,
             "{\"targets\":["
             "{\"name\":\"hung\",\"kind\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
             " \"interval_ms\":400,\"timeout_ms\":300,\"fail_threshold\":2},"
             "{\"name\":\"a\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":100,\"timeout_ms\":50},"
             "{\"name\":\"b\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":100,\"timeout_ms\":50},"
             "{\"name\":\"down\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":100,\"timeout_ms\":50,\"fail_threshold\":3}]}",
             silent_port, open_port, open_port, closed);
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &cfg, stderr, NULL), EMP_OK);
    int64_t ids[4] = {11, 12, 13, 14};
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 100000), 0);
    struct emp_state st;
    assert_int_equal(emp_state_init(&st, cfg, ids), 0);

    struct emp_loop *loop = emp_loop_new();
    struct emp_prober *p = emp_prober_new(loop, cfg, ids, &q, &st);
    assert_non_null(p);
    struct stopper stop = {.loop = loop};
    stop.t.cb = on_stop;
    stop.t.data = &stop;
    assert_int_equal(emp_prober_start(p), 0);
    emp_loop_timer_start(loop, &stop.t, emp_mono_us() + 2000 * EMP_US_PER_MS);
    assert_int_equal(emp_loop_run(loop, false), 0);

    struct emp_prober_stats ps;
    emp_prober_stats(p, &ps);
    assert_int_equal(ps.skipped, 0);

    size_t n = 0;
    struct emp_event *ev = emp_events_pop_all(&q, 0, &n);
    int results[4] = {0}, fails[4] = {0}, opens[4] = {0};
    int64_t last_start[4] = {0}, max_gap[4] = {0}, first_fail[4] = {0};
    int64_t open_at[4] = {0};
    while (ev != NULL) {
        int i = (int)(ev->target_id - 11);
        assert_true(i >= 0 && i < 4);
        if (ev->kind == EMP_EV_RESULT) {
            results[i]++;
            if (ev->r.status == EMP_STATUS_FAIL) {
                if (fails[i]++ == 0)
                    first_fail[i] = ev->r.started_at_us;
                if (i == 0) {
                    assert_string_equal(ev->r.err_class, "timeout");
                    assert_true(ev->r.latency_us >= 290 * EMP_US_PER_MS);
                }
                if (i == 3)
                    assert_string_equal(ev->r.err_class, "refused");
            }
            if (last_start[i] != 0 && ev->r.started_at_us - last_start[i] > max_gap[i])
                max_gap[i] = ev->r.started_at_us - last_start[i];
            last_start[i] = ev->r.started_at_us;
        } else if (ev->kind == EMP_EV_OUTAGE_OPEN) {
            opens[i]++;
            open_at[i] = ev->r.started_at_us;
        }
        struct emp_event *next = ev->next;
        free(ev);
        ev = next;
    }
    /* The healthy targets ran every 100 ms throughout, all OK, even while
     * the hung target's probes sat on their 300 ms timeouts. */
    for (int i = 1; i <= 2; i++) {
        assert_true(results[i] >= 18);
        assert_int_equal(fails[i], 0);
        assert_true(max_gap[i] < 150 * EMP_US_PER_MS);
    }
    /* The hung target: every probe timed out, one outage from its first. */
    assert_true(results[0] >= 4);
    assert_int_equal(fails[0], results[0]);
    assert_int_equal(opens[0], 1);
    assert_int_equal(open_at[0], first_fail[0]);
    /* Refused at once: one outage, starting at the first failing probe. */
    assert_int_equal(opens[3], 1);
    assert_int_equal(open_at[3], first_fail[3]);

    size_t ns = 0;
    struct emp_target_status *snap = emp_state_snapshot(&st, emp_now_us(), &ns);
    assert_int_equal(ns, 4);
    assert_int_equal(snap[0].state, EMP_TS_DOWN);
    assert_int_equal(snap[0].since_us, first_fail[0]);
    assert_int_equal(snap[1].state, EMP_TS_UP);
    assert_int_equal(snap[2].state, EMP_TS_UP);
    assert_int_equal(snap[3].state, EMP_TS_DOWN);
    free(snap);

    emp_prober_free(p);
    emp_loop_free(loop);
    emp_state_cleanup(&st);
    emp_events_cleanup(&q);
    emp_config_free(cfg);
    close(silent);
    close(open);
}

/* Blocks the loop, as a starved or overloaded process would be. */
static void on_stall(struct emp_timer *t)
{
    (void)t;
    usleep(300 * 1000);
}

/* A timeout that fell while the loop itself stalled is no observation: its
 * result is unknown (not fed to the detector), while a refused connection
 * stands, and timeouts after the stall are failures again. */
static void test_stall_makes_timeouts_unknown(void **state)
{
    (void)state;
    int silent_port;
    int silent = listener(&silent_port);
    int closed = closed_port();
    char json[1024];
    snprintf(json, sizeof json,
             "{\"targets\":["
             "{\"name\":\"hung\",\"kind\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
             " \"interval_ms\":400,\"timeout_ms\":200,\"fail_threshold\":2},"
             "{\"name\":\"down\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":400,\"timeout_ms\":200,\"fail_threshold\":2}]}",
             silent_port, closed);
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &cfg, stderr, NULL), EMP_OK);
    int64_t ids[2] = {21, 22};
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 100000), 0);
    struct emp_loop *loop = emp_loop_new();
    struct emp_prober *p = emp_prober_new(loop, cfg, ids, &q, NULL);
    assert_non_null(p);
    struct stopper stop = {.loop = loop};
    stop.t.cb = on_stop;
    stop.t.data = &stop;
    struct emp_timer stall = {.cb = on_stall};
    int64_t t0 = emp_mono_us();
    assert_int_equal(emp_prober_start(p), 0);
    /* The hung target's first probe starts at once (spread slot 0) and
     * would time out at +200 ms; the loop sleeps from +50 to +350 ms. */
    emp_loop_timer_start(loop, &stall, t0 + 50 * EMP_US_PER_MS);
    emp_loop_timer_start(loop, &stop.t, t0 + 1500 * EMP_US_PER_MS);
    assert_int_equal(emp_loop_run(loop, false), 0);
    assert_true(emp_loop_stalls(loop) >= 1);

    struct emp_prober_stats ps;
    emp_prober_stats(p, &ps);
    assert_int_equal(ps.unknown, 1);
    size_t n = 0;
    struct emp_event *ev = emp_events_pop_all(&q, 0, &n);
    int unknown = 0, timeouts = 0, refused = 0, opens_hung = 0;
    int64_t first_timeout = 0, open_at = 0;
    bool first_hung = true;
    while (ev != NULL) {
        if (ev->kind == EMP_EV_RESULT && ev->target_id == 21) {
            if (first_hung)
                assert_int_equal(ev->r.status, EMP_STATUS_UNKNOWN);
            first_hung = false;
            if (ev->r.status == EMP_STATUS_UNKNOWN) {
                unknown++;
            } else {
                assert_int_equal(ev->r.status, EMP_STATUS_FAIL);
                assert_string_equal(ev->r.err_class, "timeout");
                if (timeouts++ == 0)
                    first_timeout = ev->r.started_at_us;
            }
        } else if (ev->kind == EMP_EV_RESULT) {
            assert_int_equal(ev->r.status, EMP_STATUS_FAIL); /* a refusal is never doubted */
            assert_string_equal(ev->r.err_class, "refused");
            refused++;
        } else if (ev->kind == EMP_EV_OUTAGE_OPEN && ev->target_id == 21) {
            opens_hung++;
            open_at = ev->r.started_at_us;
        }
        struct emp_event *next = ev->next;
        free(ev);
        ev = next;
    }
    assert_int_equal(unknown, 1);
    assert_true(timeouts >= 2);
    assert_true(refused >= 3);
    /* The outage begins at the first timeout it could vouch for. */
    assert_int_equal(opens_hung, 1);
    assert_int_equal(open_at, first_timeout);

    emp_prober_free(p);
    emp_loop_free(loop);
    emp_events_cleanup(&q);
    emp_config_free(cfg);
    close(silent);
}

static void test_first_probes_are_spread(void **state)
{
    (void)state;
    /* 50 targets at 1 s: the first probes must not all fire at once. */
    int port;
    int fd = listener(&port);
    char *json = malloc(50 * 128 + 64);
    size_t o = (size_t)sprintf(json, "{\"targets\":[");
    for (int i = 0; i < 50; i++)
        o += (size_t)sprintf(json + o, "%s{\"name\":\"t%d\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\","
                             "\"port\":%d,\"interval_ms\":1000}", i ? "," : "", i, port);
    sprintf(json + o, "]}");
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &cfg, stderr, NULL), EMP_OK);
    free(json);
    struct emp_events q;
    emp_events_init(&q, 1000);
    struct emp_loop *loop = emp_loop_new();
    struct emp_prober *p = emp_prober_new(loop, cfg, NULL, &q, NULL);
    struct stopper stop = {.loop = loop};
    stop.t.cb = on_stop;
    stop.t.data = &stop;
    int64_t t0 = emp_now_us();
    emp_prober_start(p);
    emp_loop_timer_start(loop, &stop.t, emp_mono_us() + 990 * EMP_US_PER_MS);
    emp_loop_run(loop, false);
    size_t n = 0;
    struct emp_event *ev = emp_events_pop_all(&q, 0, &n);
    int per_100ms[10] = {0};
    int total = 0;
    while (ev != NULL) {
        if (ev->kind == EMP_EV_RESULT) {
            int64_t off = ev->r.started_at_us - t0;
            int slot = (int)(off / (100 * EMP_US_PER_MS));
            assert_true(slot >= 0 && slot < 10);
            per_100ms[slot]++;
            total++;
        }
        struct emp_event *next = ev->next;
        free(ev);
        ev = next;
    }
    assert_int_equal(total, 50);
    for (int i = 0; i < 10; i++)
        assert_true(per_100ms[i] >= 3 && per_100ms[i] <= 7);
    emp_prober_free(p);
    emp_loop_free(loop);
    emp_events_cleanup(&q);
    emp_config_free(cfg);
    close(fd);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hung_target_does_not_delay_others),
        cmocka_unit_test(test_first_probes_are_spread),
        cmocka_unit_test(test_stall_makes_timeouts_unknown),
    };
    int rc = cmocka_run_group_tests_name("prober", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
