/* The outage state machine: thresholds, where outages start and end,
 * degraded results, flapping, resuming an outage after a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "probes/detector.h"

static struct emp_result res(int64_t t, enum emp_status s)
{
    struct emp_result r = {.started_at_us = t, .status = s};
    if (s == EMP_STATUS_FAIL) {
        snprintf(r.err_class, sizeof r.err_class, "refused");
        snprintf(r.message, sizeof r.message, "failure at %lld", (long long)t);
    }
    return r;
}

static enum emp_transition feed(struct emp_detector *d, int64_t t, enum emp_status s,
                                struct emp_detector_event *ev)
{
    struct emp_result r = res(t, s);
    return emp_detector_observe(d, &r, ev);
}

static void test_starts_unknown_then_up(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 2, 1);
    assert_int_equal(d.state, EMP_D_UNKNOWN);
    assert_int_equal(feed(&d, 100, EMP_STATUS_OK, &ev), EMP_T_NONE);
    assert_int_equal(d.state, EMP_D_UP);
    assert_int_equal(d.since_us, 100);
}

static void test_down_after_threshold_starts_at_first_failure(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 3, 1);
    feed(&d, 0, EMP_STATUS_OK, &ev);
    assert_int_equal(feed(&d, 10, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 20, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(d.state, EMP_D_UP);
    assert_int_equal(feed(&d, 30, EMP_STATUS_FAIL, &ev), EMP_T_OUTAGE_START);
    assert_int_equal(d.state, EMP_D_DOWN);
    assert_int_equal(ev.outage_started_at_us, 10); /* the FIRST failing probe */
    assert_string_equal(ev.message, "failure at 10");
    assert_string_equal(ev.err_class, "refused");
    /* More failures do not start another outage. */
    assert_int_equal(feed(&d, 40, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
}

static void test_up_after_recover_threshold_ends_at_first_success(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 1, 3);
    feed(&d, 0, EMP_STATUS_OK, &ev);
    assert_int_equal(feed(&d, 10, EMP_STATUS_FAIL, &ev), EMP_T_OUTAGE_START);
    assert_int_equal(ev.outage_started_at_us, 10);
    assert_int_equal(feed(&d, 20, EMP_STATUS_OK, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 30, EMP_STATUS_OK, &ev), EMP_T_NONE);
    assert_int_equal(d.state, EMP_D_DOWN);
    assert_int_equal(feed(&d, 40, EMP_STATUS_OK, &ev), EMP_T_OUTAGE_END);
    assert_int_equal(ev.outage_started_at_us, 10);
    assert_int_equal(ev.outage_ended_at_us, 20); /* first success, not the confirming one */
    assert_int_equal(d.state, EMP_D_UP);
    assert_int_equal(d.since_us, 20);
}

static void test_interrupted_runs_reset(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 2, 2);
    feed(&d, 0, EMP_STATUS_OK, &ev);
    /* fail, ok, fail, ok: never two failures in a row, never down. */
    for (int i = 1; i <= 20; i++)
        assert_int_equal(feed(&d, i * 10, i % 2 ? EMP_STATUS_FAIL : EMP_STATUS_OK, &ev),
                         EMP_T_NONE);
    assert_int_equal(d.state, EMP_D_UP);
    /* Down, then a recovering run broken by a failure: the end is the first
     * success of the run that completes. */
    assert_int_equal(feed(&d, 300, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 310, EMP_STATUS_FAIL, &ev), EMP_T_OUTAGE_START);
    assert_int_equal(ev.outage_started_at_us, 300);
    feed(&d, 320, EMP_STATUS_OK, &ev);
    feed(&d, 330, EMP_STATUS_FAIL, &ev);
    assert_int_equal(feed(&d, 340, EMP_STATUS_OK, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 350, EMP_STATUS_OK, &ev), EMP_T_OUTAGE_END);
    assert_int_equal(ev.outage_ended_at_us, 340);
}

static void test_flapping_gives_one_outage_per_confirmed_run(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 1, 1);
    int starts = 0, ends = 0;
    for (int i = 0; i < 100; i++) {
        enum emp_transition t = feed(&d, i, i % 2 ? EMP_STATUS_FAIL : EMP_STATUS_OK, &ev);
        if (t == EMP_T_OUTAGE_START) {
            starts++;
            assert_int_equal(ev.outage_started_at_us, i);
        }
        if (t == EMP_T_OUTAGE_END) {
            ends++;
            assert_int_equal(ev.outage_ended_at_us, i);
            assert_int_equal(ev.outage_started_at_us, i - 1);
        }
    }
    assert_int_equal(starts, 50);
    assert_int_equal(ends, 49);
    assert_int_equal(d.state, EMP_D_DOWN);
}

static void test_degraded_is_not_downtime(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 1, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(feed(&d, i, EMP_STATUS_DEGRADED, &ev), EMP_T_NONE);
    assert_int_equal(d.state, EMP_D_UP);
    assert_int_equal(d.last_status, EMP_STATUS_DEGRADED);
    /* A degraded result ends an outage like any success. */
    assert_int_equal(feed(&d, 20, EMP_STATUS_FAIL, &ev), EMP_T_OUTAGE_START);
    assert_int_equal(feed(&d, 30, EMP_STATUS_DEGRADED, &ev), EMP_T_OUTAGE_END);
    assert_int_equal(ev.outage_ended_at_us, 30);
}

static void test_first_observations_failing(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 2, 1);
    assert_int_equal(feed(&d, 5, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(d.state, EMP_D_UNKNOWN);
    assert_int_equal(feed(&d, 6, EMP_STATUS_FAIL, &ev), EMP_T_OUTAGE_START);
    assert_int_equal(ev.outage_started_at_us, 5);
}

static void test_resume_outage_after_restart(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 3, 1);
    emp_detector_resume_outage(&d, 1000, "timeout", "hung");
    assert_int_equal(d.state, EMP_D_DOWN);
    /* Still failing: continues, no new outage. */
    assert_int_equal(feed(&d, 5000, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    /* Recovers: the resumed outage ends, with its original start. */
    assert_int_equal(feed(&d, 6000, EMP_STATUS_OK, &ev), EMP_T_OUTAGE_END);
    assert_int_equal(ev.outage_started_at_us, 1000);
    assert_int_equal(ev.outage_ended_at_us, 6000);
}

/* After a step of the wall clock: the runs before it are forgotten, so a
 * failing run or an outage begins again at its first probe after the step,
 * never at a time of the old clock. */
static void test_restart_forgets_runs_keeps_thresholds(void **state)
{
    (void)state;
    struct emp_detector d;
    struct emp_detector_event ev;
    emp_detector_init(&d, 2, 2);
    assert_int_equal(feed(&d, 1000, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 2000, EMP_STATUS_FAIL, &ev), EMP_T_OUTAGE_START);
    assert_int_equal(feed(&d, 3000, EMP_STATUS_OK, &ev), EMP_T_NONE); /* recovering run */
    emp_detector_restart(&d);
    assert_int_equal(d.state, EMP_D_UNKNOWN);
    assert_int_equal(d.fail_threshold, 2);
    assert_int_equal(d.recover_threshold, 2);
    /* Earlier than before: the clock went back. One failure is no outage. */
    assert_int_equal(feed(&d, 500, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 600, EMP_STATUS_FAIL, &ev), EMP_T_OUTAGE_START);
    assert_int_equal(ev.outage_started_at_us, 500);

    /* A failing run cut by the step starts over. */
    emp_detector_init(&d, 3, 1);
    assert_int_equal(feed(&d, 100, EMP_STATUS_OK, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 200, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 300, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    emp_detector_restart(&d);
    assert_int_equal(feed(&d, 9000, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 9100, EMP_STATUS_FAIL, &ev), EMP_T_NONE);
    assert_int_equal(feed(&d, 9200, EMP_STATUS_FAIL, &ev), EMP_T_OUTAGE_START);
    assert_int_equal(ev.outage_started_at_us, 9000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_unknown_then_up),
        cmocka_unit_test(test_down_after_threshold_starts_at_first_failure),
        cmocka_unit_test(test_up_after_recover_threshold_ends_at_first_success),
        cmocka_unit_test(test_interrupted_runs_reset),
        cmocka_unit_test(test_flapping_gives_one_outage_per_confirmed_run),
        cmocka_unit_test(test_degraded_is_not_downtime),
        cmocka_unit_test(test_first_observations_failing),
        cmocka_unit_test(test_resume_outage_after_restart),
        cmocka_unit_test(test_restart_forgets_runs_keeps_thresholds),
    };
    return cmocka_run_group_tests_name("detector", tests, NULL, NULL);
}
