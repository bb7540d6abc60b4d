/* The prober on a real loop: a target that hangs costs only its own timeout
 * and never delays the others; outages are confirmed by the threshold with
 * the first failing probe as their start; results, transitions and the live
 * state come out as the writer and the API expect. Targets changed while it
 * runs: another thread adds one (probed at once, then at its interval),
 * redefines it (the detector carries on under the new definition) and
 * removes it (not probed after that, its open outage closed at its last
 * probe), the live state following with its indices in step; changes
 * before start, and one queued while the loop does not run. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
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

#include "config/config.h"
#include "ingest/events.h"
#include "probes/loop.h"
#include "probes/prober.h"
#include "probes/state.h"
#include "core/timeutil.h"
#include "probes/kinds.h"
#include "tests/support/net.h"
#include "tests/support/target.h"

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
    int silent = test_listener(&silent_port);
    int open = test_listener(&open_port);
    int closed = test_closed_port();
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
    assert_int_equal(emp_config_load_string(json, "test", &emp_probe_kinds, &cfg, stderr, NULL),
                     EMP_OK);
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
    int silent = test_listener(&silent_port);
    int closed = test_closed_port();
    char json[1024];
    snprintf(json, sizeof json,
             "{\"targets\":["
             "{\"name\":\"hung\",\"kind\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
             " \"interval_ms\":400,\"timeout_ms\":200,\"fail_threshold\":2},"
             "{\"name\":\"down\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":400,\"timeout_ms\":200,\"fail_threshold\":2}]}",
             silent_port, closed);
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &emp_probe_kinds, &cfg, stderr, NULL),
                     EMP_OK);
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
    int unknown = 0, timeouts = 0, refused = 0, opens_hung = 0, late_marks = 0;
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
        } else if (ev->kind == EMP_EV_RESULT && ev->r.status == EMP_STATUS_UNKNOWN) {
            /* The down target's probe due at +200 ms ran at +350: the time
             * before it is unknown (a mark at its due time). */
            late_marks++;
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
    assert_true(late_marks >= 1);
    assert_int_equal((uint64_t)late_marks, ps.late);
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
    int fd = test_listener(&port);
    char *json = malloc(50 * 128 + 64);
    size_t o = (size_t)sprintf(json, "{\"targets\":[");
    for (int i = 0; i < 50; i++)
        o += (size_t)sprintf(json + o, "%s{\"name\":\"t%d\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\","
                             "\"port\":%d,\"interval_ms\":1000}", i ? "," : "", i, port);
    sprintf(json + o, "]}");
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &emp_probe_kinds, &cfg, stderr, NULL),
                     EMP_OK);
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
        /* (An unknown mark for a probe that started late is not a probe.) */
        if (ev->kind == EMP_EV_RESULT && ev->r.status != EMP_STATUS_UNKNOWN) {
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

/* ---- targets changed at run time -------------------------------------- */

/* A tcp target definition (free with emp_target_config_cleanup). */
static struct emp_target_config tcp_target(const char *name, int port, int fail_threshold)
{
    return test_target("{\"name\": \"%s\", \"kind\": \"tcp\", \"host\": \"127.0.0.1\","
                       " \"port\": %d, \"interval_ms\": 100, \"timeout_ms\": 50,"
                       " \"fail_threshold\": %d, \"recover_threshold\": 1}",
                       name, port, fail_threshold);
}

struct driver {
    struct emp_prober *p;
    struct emp_loop *loop;
    struct emp_state *st;
    int open_port, closed;
    int64_t added_at, redefined_at, removed_at; /* wall clock */
    int rc_add, rc_redefine, rc_remove;
    bool b_seen_live, b_gone;
    long b_index;
};

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

static bool state_has(struct emp_state *st, const char *name, long *index)
{
    size_t n = 0;
    struct emp_target_status *s = emp_state_snapshot(st, emp_now_us(), &n);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        if (strcmp(s[i].name, name) == 0) {
            found = true;
            if (index != NULL)
                *index = (long)i;
        }
    }
    free(s);
    return found;
}

/* Another thread, as the API's would: add b, make it fail, remove it. */
static void *drive(void *arg)
{
    struct driver *d = arg;
    char name[] = "b";
    sleep_ms(300);
    struct emp_target_config b = tcp_target(name, d->open_port, 2);
    d->added_at = emp_now_us();
    d->rc_add = emp_prober_submit(d->p, 50, &b, 2000);
    emp_target_config_cleanup(&b);
    d->b_seen_live = state_has(d->st, "b", &d->b_index);
    sleep_ms(500);
    b = tcp_target(name, d->closed, 2);
    d->redefined_at = emp_now_us();
    d->rc_redefine = emp_prober_submit(d->p, 50, &b, 2000);
    emp_target_config_cleanup(&b);
    sleep_ms(700);
    d->removed_at = emp_now_us();
    d->rc_remove = emp_prober_submit(d->p, 50, NULL, 2000);
    d->b_gone = !state_has(d->st, "b", NULL);
    sleep_ms(500);
    emp_loop_stop(d->loop);
    return NULL;
}

static void test_add_redefine_remove_while_running(void **state)
{
    (void)state;
    int open_port;
    int open_fd = test_listener(&open_port);
    char json[512];
    snprintf(json, sizeof json,
             "{\"targets\":[{\"name\":\"a\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\","
             "\"port\":%d,\"interval_ms\":100,\"timeout_ms\":50}]}",
             open_port);
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &emp_probe_kinds, &cfg, stderr, NULL),
                     EMP_OK);
    int64_t ids[1] = {7};
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 100000), 0);
    struct emp_state st;
    assert_int_equal(emp_state_init(&st, cfg, ids), 0);
    struct emp_loop *loop = emp_loop_new();
    struct emp_prober *p = emp_prober_new(loop, cfg, ids, &q, &st);
    assert_non_null(p);
    assert_int_equal(emp_prober_start(p), 0);

    struct driver d = {.p = p, .loop = loop, .st = &st, .open_port = open_port,
                       .closed = test_closed_port(), .b_index = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drive, &d), 0);
    assert_int_equal(emp_loop_run(loop, false), 0);
    pthread_join(th, NULL);

    assert_int_equal(d.rc_add, 0);
    assert_int_equal(d.rc_redefine, 0);
    assert_int_equal(d.rc_remove, 0);
    assert_true(d.b_seen_live);
    assert_int_equal(d.b_index, 1);
    assert_true(d.b_gone);
    assert_int_equal(emp_prober_count(p), 1);
    assert_true(state_has(&st, "a", NULL));
    assert_int_equal(st.n, 1);

    size_t n = 0;
    struct emp_event *ev = emp_events_pop_all(&q, 0, &n);
    int a_results = 0, b_ok = 0, b_fail = 0, opens = 0, closes = 0;
    int64_t b_first = 0, b_last = 0, open_start = 0, close_start = 0, close_end = 0;
    while (ev != NULL) {
        if (ev->target_id == 7 && ev->kind == EMP_EV_RESULT)
            a_results++;
        if (ev->target_id == 50 && ev->kind == EMP_EV_RESULT) {
            if (b_first == 0)
                b_first = ev->r.started_at_us;
            b_last = ev->r.started_at_us;
            if (ev->r.status == EMP_STATUS_FAIL) {
                b_fail++;
                /* Failures only under the second definition. */
                assert_true(ev->r.started_at_us >= d.redefined_at);
            } else {
                b_ok++;
            }
        }
        if (ev->target_id == 50 && ev->kind == EMP_EV_OUTAGE_OPEN) {
            opens++;
            open_start = ev->r.started_at_us;
        }
        if (ev->target_id == 50 && ev->kind == EMP_EV_OUTAGE_CLOSE) {
            closes++;
            close_start = ev->outage_started_at_us;
            close_end = ev->r.started_at_us;
        }
        struct emp_event *next = ev->next;
        free(ev);
        ev = next;
    }
    /* The configured target went on at its interval for ~2 s. */
    assert_true(a_results >= 12);
    /* b was probed at once, then every 100 ms while it existed. */
    assert_true(b_first >= d.added_at);
    assert_true(b_first - d.added_at < 100 * EMP_US_PER_MS);
    assert_true(b_ok >= 3);
    assert_true(b_fail >= 3);
    /* Not after its removal. */
    assert_true(b_last <= d.removed_at);
    /* The outage under the new definition, closed at the last probe. */
    assert_int_equal(opens, 1);
    assert_int_equal(closes, 1);
    assert_int_equal(close_start, open_start);
    assert_true(open_start >= d.redefined_at);
    assert_int_equal(close_end, b_last);

    emp_prober_free(p);
    emp_loop_free(loop);
    emp_state_cleanup(&st);
    emp_events_cleanup(&q);
    emp_config_free(cfg);
    close(open_fd);
}

/* Changes before start, indices in step, a change queued while the loop
 * does not run. */
static void test_changes_before_start(void **state)
{
    (void)state;
    const char *json =
        "{\"targets\":["
        "{\"name\":\"a\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":1,\"interval_ms\":1000},"
        "{\"name\":\"b\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":1,\"interval_ms\":1000},"
        "{\"name\":\"c\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":1,\"interval_ms\":1000}]}";
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &emp_probe_kinds, &cfg, stderr, NULL),
                     EMP_OK);
    int64_t ids[3] = {1, 2, 3};
    struct emp_state st;
    assert_int_equal(emp_state_init(&st, cfg, ids), 0);
    struct emp_loop *loop = emp_loop_new();
    struct emp_prober *p = emp_prober_new(loop, cfg, ids, NULL, &st);
    assert_non_null(p);

    char dname[] = "d", ename[] = "e";
    struct emp_target_config dt = tcp_target(dname, 1, 2);
    assert_int_equal(emp_prober_put(p, 99, &dt), 0);
    assert_int_equal(emp_prober_count(p), 4);
    assert_int_equal(emp_prober_remove(p, 2), 0);
    assert_int_equal(emp_prober_remove(p, 2), -1);
    assert_int_equal(emp_prober_remove(p, 12345), -1);
    assert_int_equal(emp_prober_count(p), 3);
    assert_int_equal(st.n, 3);
    assert_string_equal(st.t[0].name, "a");
    assert_string_equal(st.t[1].name, "c");
    assert_string_equal(st.t[2].name, "d");
    assert_int_equal(st.t[2].db_id, 99);
    /* Redefining keeps the index; the state takes the new group. */
    free(dt.group);
    dt.group = strdup("newgroup");
    assert_non_null(dt.group);
    dt.interval_ms = 500;
    assert_int_equal(emp_prober_put(p, 99, &dt), 0);
    emp_target_config_cleanup(&dt);
    assert_int_equal(emp_prober_count(p), 3);
    assert_string_equal(st.t[2].group, "newgroup");
    assert_int_equal(st.t[2].interval_ms, 500);

    /* Queued while the loop is not running: not applied yet. */
    struct emp_target_config et = tcp_target(ename, 1, 2);
    assert_int_equal(emp_prober_submit(p, 100, &et, 0), 1);
    assert_int_equal(emp_prober_submit(p, 1, NULL, 50), 1);
    assert_int_equal(emp_prober_count(p), 3);
    struct stopper stop = {.loop = loop};
    stop.t.cb = on_stop;
    stop.t.data = &stop;
    emp_loop_timer_start(loop, &stop.t, emp_mono_us() + 200 * EMP_US_PER_MS);
    assert_int_equal(emp_loop_run(loop, false), 0);
    assert_int_equal(emp_prober_count(p), 3);
    assert_string_equal(st.t[0].name, "c");
    assert_string_equal(st.t[1].name, "d");
    assert_string_equal(st.t[2].name, "e");
    /* A change left queued at the end is freed with the prober. */
    assert_int_equal(emp_prober_submit(p, 101, &et, 0), 1);
    emp_target_config_cleanup(&et);

    emp_prober_free(p);
    emp_loop_free(loop);
    emp_state_cleanup(&st);
    emp_config_free(cfg);
}

/* Canaries: while every canary fails, another target's failures are
 * unknown (no outage, no evidence); once a canary answers they count. */
struct reopen {
    struct emp_timer t;
    int port, fd;
};

static void on_reopen(struct emp_timer *t)
{
    struct reopen *r = t->data;
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)r->port)};
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->fd, 64), 0);
}

static void test_canaries_make_failures_unknown(void **state)
{
    (void)state;
    struct reopen gw = {.port = test_closed_port(), .fd = -1};
    int dead = test_closed_port();
    char json[1024];
    snprintf(json, sizeof json,
             "{\"prober\":{\"canaries\":[\"gateway\"]},\"targets\":["
             "{\"name\":\"gateway\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":100,\"timeout_ms\":50},"
             "{\"name\":\"app\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":100,\"timeout_ms\":50,\"fail_threshold\":2}]}",
             gw.port, dead);
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &emp_probe_kinds, &cfg, stderr, NULL),
                     EMP_OK);
    int64_t ids[2] = {31, 32};
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 100000), 0);
    struct emp_loop *loop = emp_loop_new();
    struct emp_prober *p = emp_prober_new(loop, cfg, ids, &q, NULL);
    assert_non_null(p);
    struct stopper stop = {.loop = loop};
    stop.t.cb = on_stop;
    stop.t.data = &stop;
    gw.t.cb = on_reopen;
    gw.t.data = &gw;
    int64_t t0 = emp_mono_us();
    int64_t t0_wall = emp_now_us();
    assert_int_equal(emp_prober_start(p), 0);
    emp_loop_timer_start(loop, &gw.t, t0 + 1000 * EMP_US_PER_MS);
    emp_loop_timer_start(loop, &stop.t, t0 + 1600 * EMP_US_PER_MS);
    assert_int_equal(emp_loop_run(loop, false), 0);

    struct emp_prober_stats ps;
    emp_prober_stats(p, &ps);
    assert_false(ps.network_suspect); /* the gateway answers again */
    size_t n = 0;
    struct emp_event *ev = emp_events_pop_all(&q, 0, &n);
    int app_unknown = 0, app_fail_after = 0, app_fail_before = 0, app_opens = 0;
    int64_t open_at = 0;
    /* The gateway's first probe (spread slot 0) comes before the app's. */
    while (ev != NULL) {
        bool after = ev->r.started_at_us > t0_wall + 1050 * EMP_US_PER_MS;
        if (ev->target_id == 32 && ev->kind == EMP_EV_RESULT) {
            if (ev->r.status == EMP_STATUS_UNKNOWN) {
                assert_false(after);
                app_unknown++;
            } else if (after) {
                app_fail_after++;
            } else if (ev->r.started_at_us < t0_wall + 950 * EMP_US_PER_MS) {
                app_fail_before++;
            }
        } else if (ev->target_id == 32 && ev->kind == EMP_EV_OUTAGE_OPEN) {
            app_opens++;
            open_at = ev->r.started_at_us;
        }
        struct emp_event *next = ev->next;
        free(ev);
        ev = next;
    }
    assert_true(app_unknown >= 7);
    assert_int_equal(app_fail_before, 0);
    assert_true(app_fail_after >= 3);
    /* The app's outage begins with the first failure that counted. */
    assert_int_equal(app_opens, 1);
    assert_true(open_at > t0_wall + 950 * EMP_US_PER_MS);
    assert_int_equal(ps.unknown_network, (uint64_t)app_unknown);

    close(gw.fd);
    emp_prober_free(p);
    emp_loop_free(loop);
    emp_events_cleanup(&q);
    emp_config_free(cfg);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hung_target_does_not_delay_others),
        cmocka_unit_test(test_first_probes_are_spread),
        cmocka_unit_test(test_stall_makes_timeouts_unknown),
        cmocka_unit_test(test_canaries_make_failures_unknown),
        cmocka_unit_test(test_add_redefine_remove_while_running),
        cmocka_unit_test(test_changes_before_start),
    };
    int rc = cmocka_run_group_tests_name("prober", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
