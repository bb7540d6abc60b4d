/* The prober when the wall clock steps (its monotonic clock untouched): the
 * test's wall clock goes back an hour, then forward two, while one target
 * answers, one refuses and one hangs past its timeout (a probe in flight
 * at the step). Each target's results keep their order and durations within
 * each frame of the clock, an unknown mark ends its span before its first
 * result of a new frame, no outage spans a step or ends before it began,
 * and the steps are counted. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "config/config.h"
#include "core/timeutil.h"
#include "ingest/events.h"
#include "probes/kinds.h"
#include "probes/loop.h"
#include "probes/prober.h"
#include "probes/state.h"
#include "tests/support/net.h"

#define HOUR (3600 * EMP_US_PER_S)

/* The test's wall clock: the system's plus an offset its timers step. */
struct test_clock {
    int64_t offset_us;
    struct emp_timer back, forward, stop;
    struct emp_loop *loop;
};

static int64_t test_wall(void *ctx)
{
    const struct test_clock *c = ctx;
    return emp_now_us() + c->offset_us;
}

static void on_back(struct emp_timer *t)
{
    struct test_clock *c = t->data;
    c->offset_us -= HOUR;
}

static void on_forward(struct emp_timer *t)
{
    struct test_clock *c = t->data;
    c->offset_us += 2 * HOUR;
}

static void on_stop(struct emp_timer *t)
{
    struct test_clock *c = t->data;
    emp_loop_stop(c->loop);
}

/* What one target's events showed. */
struct seen {
    int64_t id;
    int frame;          /* of the last result: 0, -1 (back an hour), +1 */
    int64_t last_us;    /* its time */
    bool marked;        /* an unknown mark since, at or after last_us */
    int crossings;      /* frames entered after the first */
    int results, opens, closes;
    bool open;
    int64_t open_at;
};

/* The frame of wall time `us`, given the system's wall time `t0` at the
 * start: offsets are whole hours, the test lasts seconds. */
static int frame_of(int64_t us, int64_t t0)
{
    return (int)llround((double)(us - t0) / (double)HOUR);
}

static void see(struct seen *s, const struct emp_event *ev, int64_t t0)
{
    const struct emp_result *r = &ev->r;
    if (ev->kind == EMP_EV_RESULT && r->status == EMP_STATUS_UNKNOWN) {
        /* A mark ends the span in the old frame, after its last result. */
        if (s->results > 0) {
            assert_int_equal(frame_of(r->started_at_us, t0), s->frame);
            assert_true(r->started_at_us >= s->last_us);
        }
        s->marked = true;
        return;
    }
    if (ev->kind == EMP_EV_RESULT) {
        int f = frame_of(r->started_at_us, t0);
        if (s->results > 0 && f != s->frame) {
            assert_true(s->marked); /* a span never crosses a step */
            assert_false(s->open);  /* nor does an outage */
            s->crossings++;
        } else if (s->results > 0) {
            /* 100 ms apart, give or take the loop's lag. */
            assert_true(r->started_at_us > s->last_us);
            assert_true(r->started_at_us - s->last_us < 600 * EMP_US_PER_MS);
        }
        s->frame = f;
        s->last_us = r->started_at_us;
        s->marked = false;
        s->results++;
        return;
    }
    if (ev->kind == EMP_EV_OUTAGE_OPEN) {
        assert_false(s->open);
        assert_int_equal(frame_of(ev->outage_started_at_us, t0), s->frame);
        s->open = true;
        s->open_at = ev->outage_started_at_us;
        s->opens++;
        return;
    }
    assert_true(s->open);
    assert_int_equal(ev->outage_started_at_us, s->open_at);
    /* Ends after it began, in its own frame, within the test's seconds. */
    assert_true(r->started_at_us > s->open_at);
    assert_true(r->started_at_us - s->open_at < 2 * EMP_US_PER_S);
    assert_int_equal(frame_of(r->started_at_us, t0), s->frame);
    s->open = false;
    s->closes++;
}

static void test_steps_end_spans_and_outages(void **state)
{
    (void)state;
    int silent_port, open_port;
    int silent = test_listener(&silent_port);
    int open_fd = test_listener(&open_port);
    int closed_port = test_closed_port();
    char json[1024];
    snprintf(json, sizeof json,
             "{\"targets\":["
             "{\"name\":\"up\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":100,\"timeout_ms\":80,\"fail_threshold\":2},"
             "{\"name\":\"down\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             " \"interval_ms\":100,\"timeout_ms\":80,\"fail_threshold\":2},"
             "{\"name\":\"hung\",\"kind\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
             " \"interval_ms\":100,\"timeout_ms\":80,\"fail_threshold\":2}]}",
             open_port, closed_port, silent_port);
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string(json, "test", &emp_probe_kinds, &cfg, stderr, NULL),
                     EMP_OK);
    int64_t ids[3] = {1, 2, 3};
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 100000), 0);
    struct emp_state st;
    assert_int_equal(emp_state_init(&st, cfg, ids), 0);
    struct emp_loop *loop = emp_loop_new();
    struct emp_prober *p = emp_prober_new(loop, cfg, ids, &q, &st);
    assert_non_null(p);
    struct test_clock clock = {.loop = loop};
    clock.back = (struct emp_timer){.cb = on_back, .data = &clock};
    clock.forward = (struct emp_timer){.cb = on_forward, .data = &clock};
    clock.stop = (struct emp_timer){.cb = on_stop, .data = &clock};
    emp_prober_set_wall_clock(p, test_wall, &clock);
    int64_t t0 = emp_now_us(), m0 = emp_mono_us();
    assert_int_equal(emp_prober_start(p), 0);
    /* Off the 100 ms grid, so that the hung target's probe is in flight. */
    emp_loop_timer_start(loop, &clock.back, m0 + 530 * EMP_US_PER_MS);
    emp_loop_timer_start(loop, &clock.forward, m0 + 1030 * EMP_US_PER_MS);
    emp_loop_timer_start(loop, &clock.stop, m0 + 1600 * EMP_US_PER_MS);
    assert_int_equal(emp_loop_run(loop, false), 0);

    struct emp_prober_stats ps;
    emp_prober_stats(p, &ps);
    assert_int_equal(ps.clock_steps, 2);
    assert_true(llabs(ps.clock_step_last_us - 2 * HOUR) < EMP_US_PER_S);

    struct seen s[3] = {{.id = 1}, {.id = 2}, {.id = 3}};
    size_t n = 0;
    struct emp_event *ev = emp_events_pop_all(&q, 0, &n);
    while (ev != NULL) {
        assert_true(ev->target_id >= 1 && ev->target_id <= 3);
        see(&s[ev->target_id - 1], ev, t0);
        struct emp_event *next = ev->next;
        free(ev);
        ev = next;
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s[i].crossings, 2); /* frames 0, -1, +1 in turn */
        assert_int_equal(s[i].frame, 1);
        assert_true(s[i].results >= 12);
    }
    assert_int_equal(s[0].opens, 0);
    /* The failing ones: an outage in each frame, the first two closed at
     * the steps. */
    for (int i = 1; i < 3; i++) {
        assert_int_equal(s[i].opens, 3);
        assert_int_equal(s[i].closes, 2);
    }
    /* The live state is the last frame's. */
    size_t nst = 0;
    struct emp_target_status *ts = emp_state_snapshot(&st, t0 + HOUR, &nst);
    assert_int_equal(nst, 3);
    assert_int_equal(ts[0].state, EMP_TS_UP);
    assert_int_equal(frame_of(ts[0].since_us, t0), 1);
    assert_int_equal(frame_of(ts[0].up_since_us, t0), 1);
    assert_int_equal(ts[1].state, EMP_TS_DOWN);
    assert_int_equal(frame_of(ts[1].since_us, t0), 1);
    free(ts);

    emp_prober_free(p);
    emp_loop_free(loop);
    emp_state_cleanup(&st);
    emp_events_cleanup(&q);
    emp_config_free(cfg);
    close(silent);
    close(open_fd);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_end_spans_and_outages),
    };
    int rc = cmocka_run_group_tests_name("prober_clock", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
