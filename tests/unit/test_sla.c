/* SLA verification against hand-computed answers: calendar periods (month
 * lengths, leap February, quarters, ISO weeks across a year end), both
 * downtime rules, exclude_unknown both ways, credit tiers at their exact
 * boundaries, an outage spanning two periods, a period in progress; then a
 * brute-force cross-check of the outages rule on random inputs. Dates were
 * checked against Python's datetime (isocalendar for ISO weeks). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/db.h"
#include "analysis/sla.h"
#include "core/timeutil.h"

#define S(x) ((int64_t)(x) * INT64_C(1000000))
#define MIN_S 60
#define HOUR_S 3600
#define DAY_S 86400
/* cmocka 1.1 has no assert_double_equal. */
#define assert_near(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* An RFC 3339 time in microseconds. */
static int64_t T(const char *s)
{
    int64_t us = 0;
    assert_int_equal(emp_time_parse(s, &us), EMP_OK);
    return us;
}

static struct emp_span span_us(int64_t a, int64_t b, int64_t grace)
{
    struct emp_span s = {.started_at_us = a, .ended_at_us = b, .grace_us = grace};
    return s;
}

static struct emp_outage outage_us(int64_t a, int64_t b)
{
    struct emp_outage o = {.target_id = 1, .started_at_us = a, .ended_at_us = b};
    return o;
}

static struct emp_failure failure_us(int64_t at)
{
    struct emp_failure f = {.target_id = 1, .at_us = at};
    return f;
}

static struct emp_sla make_sla(double objective, enum emp_sla_period period,
                               enum emp_sla_rule rule, bool exclude_unknown)
{
    struct emp_sla s = {.name = "t", .objective_pct = objective, .period = period,
                        .rule = rule, .exclude_unknown = exclude_unknown};
    return s;
}

/* ---- calendar ---------------------------------------------------------- */

static void check_period(enum emp_sla_period p, const char *at, const char *start,
                         const char *end, const char *label)
{
    int64_t s = 0, e = 0;
    char buf[EMP_SLA_LABEL_SIZE];
    assert_int_equal(emp_sla_period_bounds(p, T(at), &s, &e), EMP_OK);
    if (s != T(start) || e != T(end)) {
        char b1[EMP_TIME_BUFSZ], b2[EMP_TIME_BUFSZ];
        fail_msg("%s period of %s: got [%s, %s), want [%s, %s)", emp_sla_period_name(p), at,
                 emp_time_format(s, b1), emp_time_format(e, b2), start, end);
    }
    assert_int_equal(emp_sla_period_label(p, T(at), buf), EMP_OK);
    assert_string_equal(buf, label);
    /* every instant of the period has the same bounds and label */
    int64_t s2 = 0, e2 = 0;
    assert_int_equal(emp_sla_period_bounds(p, e - 1, &s2, &e2), EMP_OK);
    assert_true(s2 == s && e2 == e);
    assert_int_equal(emp_sla_period_label(p, e - 1, buf), EMP_OK);
    assert_string_equal(buf, label);
}

static int64_t period_days(enum emp_sla_period p, const char *at)
{
    int64_t s = 0, e = 0;
    assert_int_equal(emp_sla_period_bounds(p, T(at), &s, &e), EMP_OK);
    return (e - s) / S(DAY_S);
}

static void test_periods(void **state)
{
    (void)state;
    check_period(EMP_SLA_DAY, "2026-11-25T20:40:26Z", "2026-11-25T00:00:00Z",
                 "2026-11-26T00:00:00Z", "2026-11-25");
    check_period(EMP_SLA_MONTH, "2026-11-25T20:40:26Z", "2026-11-01T00:00:00Z",
                 "2026-12-01T00:00:00Z", "2026-11");
    check_period(EMP_SLA_MONTH, "2026-12-31T23:59:59.999999Z", "2026-12-01T00:00:00Z",
                 "2027-01-01T00:00:00Z", "2026-12");
    check_period(EMP_SLA_QUARTER, "2026-11-25T20:40:26Z", "2026-10-01T00:00:00Z",
                 "2027-01-01T00:00:00Z", "2026-Q4");
    check_period(EMP_SLA_QUARTER, "2026-03-31T23:59:59Z", "2026-01-01T00:00:00Z",
                 "2026-04-01T00:00:00Z", "2026-Q1");
    check_period(EMP_SLA_QUARTER, "2026-04-01T00:00:00Z", "2026-04-01T00:00:00Z",
                 "2026-07-01T00:00:00Z", "2026-Q2");
    check_period(EMP_SLA_QUARTER, "2026-08-15T00:00:00Z", "2026-07-01T00:00:00Z",
                 "2026-10-01T00:00:00Z", "2026-Q3");
    check_period(EMP_SLA_YEAR, "2026-11-25T20:40:26Z", "2026-01-01T00:00:00Z",
                 "2027-01-01T00:00:00Z", "2026");
    /* ISO weeks: Monday to Monday, labelled by the year of their Thursday */
    check_period(EMP_SLA_WEEK, "2026-11-25T20:40:26Z", "2026-11-23T00:00:00Z",
                 "2026-11-30T00:00:00Z", "2026-W48");
    check_period(EMP_SLA_WEEK, "2024-12-31T12:00:00Z", "2024-12-30T00:00:00Z",
                 "2025-01-06T00:00:00Z", "2025-W01");
    check_period(EMP_SLA_WEEK, "2021-01-01T00:00:00Z", "2020-12-28T00:00:00Z",
                 "2021-01-04T00:00:00Z", "2020-W53");
    check_period(EMP_SLA_WEEK, "2027-01-03T23:59:59Z", "2026-12-28T00:00:00Z",
                 "2027-01-04T00:00:00Z", "2026-W53");
    check_period(EMP_SLA_WEEK, "2027-01-04T00:00:00Z", "2027-01-04T00:00:00Z",
                 "2027-01-11T00:00:00Z", "2027-W01");
    /* the week of 1970-01-01 (a Thursday) begins before the epoch */
    check_period(EMP_SLA_WEEK, "1970-01-01T00:00:00Z", "1969-12-29T00:00:00Z",
                 "1970-01-05T00:00:00Z", "1970-W01");

    /* month lengths, leap years (2000 is one, 2100 is not) */
    const char *months[] = {"2026-01-15T00:00:00Z", "2026-02-15T00:00:00Z",
                            "2026-03-15T00:00:00Z", "2026-04-15T00:00:00Z",
                            "2026-05-15T00:00:00Z", "2026-06-15T00:00:00Z",
                            "2026-07-15T00:00:00Z", "2026-08-15T00:00:00Z",
                            "2026-09-15T00:00:00Z", "2026-10-15T00:00:00Z",
                            "2026-11-15T00:00:00Z", "2026-12-15T00:00:00Z"};
    const int64_t lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (size_t i = 0; i < 12; i++)
        assert_int_equal(period_days(EMP_SLA_MONTH, months[i]), lengths[i]);
    check_period(EMP_SLA_MONTH, "2024-02-29T12:00:00Z", "2024-02-01T00:00:00Z",
                 "2024-03-01T00:00:00Z", "2024-02");
    assert_int_equal(period_days(EMP_SLA_MONTH, "2024-02-10T00:00:00Z"), 29);
    assert_int_equal(period_days(EMP_SLA_MONTH, "2000-02-10T00:00:00Z"), 29);
    assert_int_equal(period_days(EMP_SLA_MONTH, "2100-02-10T00:00:00Z"), 28);
    assert_int_equal(period_days(EMP_SLA_QUARTER, "2024-02-10T00:00:00Z"), 91);
    assert_int_equal(period_days(EMP_SLA_QUARTER, "2026-02-10T00:00:00Z"), 90);
    assert_int_equal(period_days(EMP_SLA_YEAR, "2024-02-10T00:00:00Z"), 366);
    assert_int_equal(period_days(EMP_SLA_YEAR, "2026-02-10T00:00:00Z"), 365);

    /* the supported range */
    char buf[EMP_SLA_LABEL_SIZE];
    int64_t s, e;
    assert_int_equal(emp_sla_period_bounds(EMP_SLA_DAY, -1, &s, &e), EMP_ERANGE);
    assert_int_equal(emp_sla_period_bounds(EMP_SLA_DAY, EMP_SLA_MAX_US + 1, &s, &e),
                     EMP_ERANGE);
    assert_int_equal(emp_sla_period_label(EMP_SLA_DAY, -1, buf), EMP_ERANGE);
    assert_int_equal(emp_sla_period_bounds(EMP_SLA_YEAR, EMP_SLA_MAX_US, &s, &e), EMP_OK);
    assert_true(e == EMP_SLA_MAX_US + 1);
    assert_int_equal(emp_sla_period_label(EMP_SLA_MONTH, EMP_SLA_MAX_US, buf), EMP_OK);
    assert_string_equal(buf, "9999-12");
    assert_int_equal(emp_sla_period_label(EMP_SLA_WEEK, EMP_SLA_MAX_US, buf), EMP_OK);
    assert_string_equal(buf, "9999-W52");
    assert_int_equal(emp_sla_period_bounds((enum emp_sla_period)7, 0, &s, &e), EMP_EINVAL);
    assert_int_equal(emp_sla_period_label(EMP_SLA_DAY, 0, NULL), EMP_EINVAL);
}

static void test_bounds(void **state)
{
    (void)state;
    struct emp_sla sla = make_sla(99.9, EMP_SLA_MONTH, EMP_SLA_RULE_OUTAGES, true);
    int64_t lo = 0, hi = 0;
    assert_int_equal(emp_sla_bounds(&sla, T("2026-11-15T00:00:00Z"), T("2026-12-15T00:00:00Z"),
                                    &lo, &hi),
                     EMP_OK);
    assert_true(lo == T("2026-11-01T00:00:00Z") && hi == T("2027-01-01T00:00:00Z"));
    /* to is exclusive: a window ending on a period boundary stops there */
    assert_int_equal(emp_sla_bounds(&sla, T("2026-11-15T00:00:00Z"), T("2026-12-01T00:00:00Z"),
                                    &lo, &hi),
                     EMP_OK);
    assert_true(lo == T("2026-11-01T00:00:00Z") && hi == T("2026-12-01T00:00:00Z"));
    assert_int_equal(emp_sla_bounds(&sla, T("2026-11-15T00:00:00Z"), T("2026-11-15T00:00:00Z"),
                                    &lo, &hi),
                     EMP_OK);
    assert_true(lo == hi);
    assert_int_equal(emp_sla_bounds(&sla, S(10), S(5), &lo, &hi), EMP_EINVAL);
    assert_int_equal(emp_sla_bounds(&sla, -1, S(5), &lo, &hi), EMP_ERANGE);
    assert_int_equal(emp_sla_bounds(NULL, 0, S(5), &lo, &hi), EMP_EINVAL);
    assert_int_equal(emp_sla_bounds(&sla, 0, S(5), NULL, &hi), EMP_EINVAL);
}

/* ---- the outages rule -------------------------------------------------- */

/* November 2026 (30 days) fully observed; objective 99.9 allows 2592 s. */
static void test_outages_rule(void **state)
{
    (void)state;
    struct emp_sla_credit tiers[] = {{99.9, 10}, {99.0, 25}};
    struct emp_sla sla = make_sla(99.9, EMP_SLA_MONTH, EMP_SLA_RULE_OUTAGES, true);
    sla.credits = tiers;
    sla.n_credits = 2;
    int64_t nov = T("2026-11-01T00:00:00Z"), dec = T("2026-12-01T00:00:00Z");
    int64_t now = T("2027-01-01T00:00:00Z");
    struct emp_span spans[] = {span_us(nov, dec, 0)};
    struct emp_outage outs[] = {
        outage_us(T("2026-11-10T10:00:00Z"), T("2026-11-10T10:30:00Z")), /* 1800 s */
        outage_us(T("2026-11-20T00:00:00Z"), T("2026-11-20T00:16:40Z")), /* 1000 s */
        outage_us(T("2026-11-25T00:00:00Z"), T("2026-11-25T07:30:00Z")), /* 27000 s */
    };
    struct emp_sla_input in = {.spans = spans, .n_spans = 1, .outages = outs};
    struct emp_sla_report r;

    /* 1800 s down: met */
    in.n_outages = 1;
    assert_int_equal(emp_sla_compute(&sla, nov, dec, now, &in, &r), EMP_OK);
    assert_int_equal(r.n_periods, 1);
    const struct emp_sla_period_result *p = &r.periods[0];
    assert_string_equal(p->label, "2026-11");
    assert_true(p->start_us == nov && p->end_us == dec);
    assert_false(p->partial);
    assert_true(p->elapsed_us == S(30 * DAY_S) && p->observed_us == S(30 * DAY_S));
    assert_true(p->unknown_us == 0 && p->counted_us == S(30 * DAY_S));
    assert_true(p->downtime_us == S(1800));
    assert_true(p->allowed_downtime_us == S(2592));
    assert_near(p->availability_pct, 100.0 * (2592000 - 1800) / 2592000); /* 99.9305... */
    assert_near(p->objective_pct, 99.9);
    assert_true(p->met);
    assert_near(p->credit_pct, 0.0);
    assert_int_equal(p->n_outages, 1);
    assert_int_equal(p->outages[0], 0);
    assert_int_equal(p->down_minutes, 0);
    emp_sla_report_cleanup(&r);

    /* 2800 s: breached, 99.892% is under 99.9: 10% */
    in.n_outages = 2;
    assert_int_equal(emp_sla_compute(&sla, nov, dec, now, &in, &r), EMP_OK);
    p = &r.periods[0];
    assert_true(p->downtime_us == S(2800));
    assert_near(p->availability_pct, 100.0 * (2592000 - 2800) / 2592000);
    assert_false(p->met);
    assert_near(p->credit_pct, 10.0);
    assert_int_equal(p->n_outages, 2);
    emp_sla_report_cleanup(&r);

    /* 29800 s: 98.85% is under 99.0 too: the lowest threshold's tier */
    in.n_outages = 3;
    assert_int_equal(emp_sla_compute(&sla, nov, dec, now, &in, &r), EMP_OK);
    p = &r.periods[0];
    assert_true(p->downtime_us == S(29800));
    assert_near(p->availability_pct, 100.0 * (2592000 - 29800) / 2592000);
    assert_near(p->credit_pct, 25.0);
    assert_int_equal(p->n_outages, 3);
    assert_int_equal(p->outages[2], 2);
    emp_sla_report_cleanup(&r);

    /* exactly the allowance: met, no credit; a microsecond more: breached */
    outs[0] = outage_us(T("2026-11-10T10:00:00Z"), T("2026-11-10T10:43:12Z")); /* 2592 s */
    in.n_outages = 1;
    assert_int_equal(emp_sla_compute(&sla, nov, dec, now, &in, &r), EMP_OK);
    assert_true(r.periods[0].downtime_us == S(2592));
    assert_true(r.periods[0].met);
    assert_near(r.periods[0].credit_pct, 0.0);
    emp_sla_report_cleanup(&r);
    outs[0].ended_at_us += 1;
    assert_int_equal(emp_sla_compute(&sla, nov, dec, now, &in, &r), EMP_OK);
    assert_false(r.periods[0].met);
    assert_near(r.periods[0].credit_pct, 10.0);
    emp_sla_report_cleanup(&r);
}

/* One outage from 31 October 23:00 to 1 November 01:00: an hour in each
 * month, evidence in both; the window selects periods, each is whole. */
static void test_outage_spanning_two_periods(void **state)
{
    (void)state;
    struct emp_sla sla = make_sla(99.9, EMP_SLA_MONTH, EMP_SLA_RULE_OUTAGES, true);
    int64_t oct = T("2026-10-01T00:00:00Z"), dec = T("2026-12-01T00:00:00Z");
    struct emp_span spans[] = {span_us(oct, dec, 0)};
    struct emp_outage outs[] = {
        outage_us(T("2026-11-20T00:00:00Z"), T("2026-11-20T00:10:00Z")), /* after `to` */
        outage_us(T("2026-10-31T23:00:00Z"), T("2026-11-01T01:00:00Z")),
        /* ends exactly where November begins: October's only */
        outage_us(T("2026-10-31T22:00:00Z"), T("2026-11-01T00:00:00Z")),
        /* a point failure (imported, no end) on the boundary: November's */
        outage_us(T("2026-11-01T00:00:00Z"), T("2026-11-01T00:00:00Z")),
    };
    struct emp_sla_input in = {.spans = spans, .n_spans = 1, .outages = outs, .n_outages = 4};
    struct emp_sla_report r;
    assert_int_equal(emp_sla_compute(&sla, T("2026-10-15T00:00:00Z"),
                                     T("2026-11-15T00:00:00Z"), T("2027-01-01T00:00:00Z"),
                                     &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 2);
    const struct emp_sla_period_result *o = &r.periods[0], *n = &r.periods[1];
    assert_string_equal(o->label, "2026-10");
    assert_string_equal(n->label, "2026-11");
    assert_true(o->counted_us == S(31 * DAY_S) && n->counted_us == S(30 * DAY_S));
    /* October: 22:00-24:00 (the two outages overlap 23:00-24:00) */
    assert_true(o->downtime_us == S(2 * HOUR_S));
    assert_near(o->availability_pct, 100.0 * (2678400 - 7200) / 2678400);
    assert_true(o->allowed_downtime_us == S(2678) + 400000); /* 2678.4 s */
    assert_false(o->met);
    /* November: 00:00-01:00 and the 10 minutes after the window's end */
    assert_true(n->downtime_us == S(HOUR_S + 600));
    assert_false(n->met);
    /* evidence by start time */
    assert_int_equal(o->n_outages, 2);
    assert_int_equal(o->outages[0], 2);
    assert_int_equal(o->outages[1], 1);
    assert_int_equal(n->n_outages, 3);
    assert_int_equal(n->outages[0], 1);
    assert_int_equal(n->outages[1], 3);
    assert_int_equal(n->outages[2], 0);
    emp_sla_report_cleanup(&r);
}

/* 25 November observed 06:00-18:00 only; outages 10:00-11:00 and
 * 17:30-19:30 (half an hour of it observed): 5400 s down. */
static void test_exclude_unknown(void **state)
{
    (void)state;
    int64_t day = T("2026-11-25T00:00:00Z"), next = T("2026-11-26T00:00:00Z");
    int64_t now = T("2026-12-01T00:00:00Z");
    struct emp_span spans[] = {span_us(T("2026-11-25T06:00:00Z"), T("2026-11-25T18:00:00Z"), 0)};
    struct emp_outage outs[] = {
        outage_us(T("2026-11-25T10:00:00Z"), T("2026-11-25T11:00:00Z")),
        outage_us(T("2026-11-25T17:30:00Z"), T("2026-11-25T19:30:00Z")),
    };
    struct emp_sla_input in = {.spans = spans, .n_spans = 1, .outages = outs, .n_outages = 2};
    struct emp_sla_report r;

    /* true: over the 12 observed hours, 87.5% */
    struct emp_sla sla = make_sla(99.0, EMP_SLA_DAY, EMP_SLA_RULE_OUTAGES, true);
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    const struct emp_sla_period_result *p = &r.periods[0];
    assert_string_equal(p->label, "2026-11-25");
    assert_true(p->elapsed_us == S(DAY_S));
    assert_true(p->observed_us == S(12 * HOUR_S) && p->unknown_us == S(12 * HOUR_S));
    assert_true(p->counted_us == S(12 * HOUR_S));
    assert_true(p->downtime_us == S(5400));
    assert_near(p->availability_pct, 87.5);
    assert_true(p->allowed_downtime_us == S(432));
    assert_false(p->met);
    assert_int_equal(p->n_outages, 2);
    emp_sla_report_cleanup(&r);

    /* false: the 12 unknown hours count as up, 93.75% */
    sla.exclude_unknown = false;
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    p = &r.periods[0];
    assert_true(p->counted_us == S(DAY_S));
    assert_true(p->downtime_us == S(5400));
    assert_near(p->availability_pct, 93.75);
    assert_true(p->allowed_downtime_us == S(864));
    emp_sla_report_cleanup(&r);

    /* A day never observed has no availability either way: no evidence, no
     * verdict, no credit (the API prints null). */
    struct emp_sla_credit tiers[] = {{99.0, 10}};
    sla.credits = tiers;
    sla.n_credits = 1;
    for (int excl = 0; excl <= 1; excl++) {
        sla.exclude_unknown = excl;
        in.n_spans = 0;
        assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
        p = &r.periods[0];
        assert_true(p->observed_us == 0 && p->unknown_us == S(DAY_S));
        assert_true(isnan(p->availability_pct));
        assert_true(isnan(p->credit_pct));
        assert_false(p->met);
        assert_true(p->downtime_us == 0);
        assert_true(p->counted_us == (excl ? 0 : S(DAY_S)));
        assert_true(p->allowed_downtime_us == (excl ? 0 : S(864)));
        assert_int_equal(p->n_outages, 2); /* still the evidence there is */
        emp_sla_report_cleanup(&r);
    }
}

/* ---- the minutes rule -------------------------------------------------- */

/* 25 November fully observed, a probe every 10 s: 6 per minute. */
static void test_minutes_rule(void **state)
{
    (void)state;
    int64_t day = T("2026-11-25T00:00:00Z"), next = T("2026-11-26T00:00:00Z");
    int64_t now = T("2026-12-01T00:00:00Z");
    struct emp_span spans[] = {span_us(day, next, 0)};
    struct emp_failure fails[16];
    size_t nf = 0;
    fails[nf++] = failure_us(T("2026-11-25T10:00:05Z"));           /* 1 of 6 */
    for (int i = 0; i < 3; i++)
        fails[nf++] = failure_us(T("2026-11-25T10:01:00Z") + S(10 * i)); /* 3 of 6 */
    for (int i = 0; i < 4; i++)
        fails[nf++] = failure_us(T("2026-11-25T10:02:00Z") + S(10 * i)); /* 4 of 6 */
    for (int i = 5; i >= 0; i--)                                   /* any order */
        fails[nf++] = failure_us(T("2026-11-25T23:59:00Z") + S(10 * i)); /* 6 of 6 */
    /* an outage is not what this rule counts */
    struct emp_outage outs[] = {outage_us(T("2026-11-25T03:00:00Z"), T("2026-11-25T04:00:00Z"))};
    struct emp_sla_input in = {.spans = spans, .n_spans = 1, .outages = outs, .n_outages = 1,
                               .failures = fails, .n_failures = nf, .interval_ms = 10000};
    struct emp_sla_report r;

    /* 0.0: any failed probe makes the minute down: 4 minutes */
    struct emp_sla sla = make_sla(99.9, EMP_SLA_DAY, EMP_SLA_RULE_MINUTES, true);
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    const struct emp_sla_period_result *p = &r.periods[0];
    assert_int_equal(p->down_minutes, 4);
    assert_true(p->downtime_us == S(240));
    assert_true(p->counted_us == S(DAY_S));
    assert_near(p->availability_pct, 100.0 * (86400 - 240) / 86400);
    assert_true(p->allowed_downtime_us == S(86) + 400000); /* 86.4 s */
    assert_false(p->met);
    assert_int_equal(p->n_outages, 1);
    emp_sla_report_cleanup(&r);

    /* 0.5: down only above half: 4/6 and 6/6, not 3/6 */
    sla.max_failed_fraction = 0.5;
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    p = &r.periods[0];
    assert_int_equal(p->down_minutes, 2);
    assert_true(p->downtime_us == S(120));
    assert_near(p->availability_pct, 100.0 * (86400 - 120) / 86400);
    emp_sla_report_cleanup(&r);

    /* Two probers each observing the whole day: 12 probes a minute, so 4
     * of 12 and 6 of 12 are not above half; 7 of 12 is. */
    struct emp_span two[] = {span_us(day, next, 0), span_us(day, next, 0)};
    in.spans = two;
    in.n_spans = 2;
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    assert_int_equal(r.periods[0].down_minutes, 0);
    assert_true(r.periods[0].observed_us == S(DAY_S));
    emp_sla_report_cleanup(&r);
    fails[nf++] = failure_us(T("2026-11-25T23:59:05Z"));
    in.n_failures = nf;
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    assert_int_equal(r.periods[0].down_minutes, 1);
    assert_true(r.periods[0].downtime_us == S(60));
    emp_sla_report_cleanup(&r);

    /* a positive interval is required */
    in.interval_ms = 0;
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_EINVAL);
    assert_int_equal(r.n_periods, 0);
}

/* Observation stops at 12:00:30 and resumes at 12:05:00. Minute 12:00 was
 * observed for 30 s, so it had 3 probes; minutes 12:01-12:04 are unknown. */
static void test_minutes_partly_observed(void **state)
{
    (void)state;
    int64_t day = T("2026-11-25T00:00:00Z"), next = T("2026-11-26T00:00:00Z");
    int64_t now = T("2026-12-01T00:00:00Z");
    struct emp_span spans[] = {span_us(day, T("2026-11-25T12:00:30Z"), 0),
                               span_us(T("2026-11-25T12:05:00Z"), next, 0)};
    struct emp_failure fails[] = {
        failure_us(T("2026-11-25T12:00:10Z")), /* 1 of 3 */
        failure_us(T("2026-11-25T12:02:00Z")), /* in an unknown minute: not counted */
    };
    struct emp_sla_input in = {.spans = spans, .n_spans = 2, .failures = fails,
                               .n_failures = 2, .interval_ms = 10000};
    struct emp_sla_report r;
    struct emp_sla sla = make_sla(99.9, EMP_SLA_DAY, EMP_SLA_RULE_MINUTES, true);

    sla.max_failed_fraction = 0.3; /* 1/3 > 0.3: the whole minute is down */
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    const struct emp_sla_period_result *p = &r.periods[0];
    assert_true(p->observed_us == S(DAY_S - 270) && p->unknown_us == S(270));
    /* counted in whole known minutes: all but the 4 unknown ones */
    assert_true(p->counted_us == S(DAY_S - 240));
    assert_int_equal(p->down_minutes, 1);
    assert_true(p->downtime_us == S(60));
    assert_near(p->availability_pct, 100.0 * (86160 - 60) / 86160);
    assert_true(p->allowed_downtime_us == S(86) + 160000); /* 86.16 s */
    assert_true(p->met);
    emp_sla_report_cleanup(&r);

    sla.exclude_unknown = false;
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    p = &r.periods[0];
    assert_true(p->counted_us == S(DAY_S));
    assert_near(p->availability_pct, 100.0 * (86400 - 60) / 86400);
    emp_sla_report_cleanup(&r);

    sla.max_failed_fraction = 0.4; /* 1/3 < 0.4: up */
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    assert_int_equal(r.periods[0].down_minutes, 0);
    assert_near(r.periods[0].availability_pct, 100.0);
    assert_true(r.periods[0].met);
    emp_sla_report_cleanup(&r);
}

/* The minutes rule in a day still in progress at 12:00:30: the current
 * minute counts for its 30 elapsed seconds, as known time and as downtime. */
static void test_minutes_in_progress(void **state)
{
    (void)state;
    int64_t day = T("2026-11-25T00:00:00Z"), next = T("2026-11-26T00:00:00Z");
    int64_t now = T("2026-11-25T12:00:30Z");
    struct emp_span spans[] = {span_us(day, now - S(2), S(20))};
    struct emp_failure fails[] = {failure_us(T("2026-11-25T12:00:10Z"))};
    struct emp_sla_input in = {.spans = spans, .n_spans = 1, .failures = fails,
                               .n_failures = 1, .interval_ms = 10000};
    struct emp_sla sla = make_sla(99.9, EMP_SLA_DAY, EMP_SLA_RULE_MINUTES, true);
    struct emp_sla_report r;
    assert_int_equal(emp_sla_compute(&sla, day, next, now, &in, &r), EMP_OK);
    const struct emp_sla_period_result *p = &r.periods[0];
    assert_true(p->partial);
    assert_true(p->elapsed_us == S(12 * HOUR_S + 30));
    assert_true(p->observed_us == p->elapsed_us);
    assert_true(p->counted_us == p->elapsed_us);
    assert_int_equal(p->down_minutes, 1);
    assert_true(p->downtime_us == S(30));
    assert_near(p->availability_pct, 100.0 * (43230 - 30) / 43230);
    emp_sla_report_cleanup(&r);
}

/* ---- tiers ------------------------------------------------------------- */

/* One fully observed day (86400 s) and tiers given out of order. */
static void check_tier(int64_t down_us, bool met, double credit)
{
    struct emp_sla_credit tiers[] = {{99.0, 25}, {99.95, 10}, {95.0, 100}};
    struct emp_sla sla = make_sla(99.95, EMP_SLA_DAY, EMP_SLA_RULE_OUTAGES, true);
    sla.credits = tiers;
    sla.n_credits = 3;
    int64_t day = T("2026-11-25T00:00:00Z"), next = T("2026-11-26T00:00:00Z");
    struct emp_span spans[] = {span_us(day, next, 0)};
    struct emp_outage outs[] = {outage_us(day, day + down_us)};
    struct emp_sla_input in = {.spans = spans, .n_spans = 1, .outages = outs,
                               .n_outages = down_us > 0};
    struct emp_sla_report r;
    assert_int_equal(emp_sla_compute(&sla, day, next, next, &in, &r), EMP_OK);
    const struct emp_sla_period_result *p = &r.periods[0];
    assert_true(p->downtime_us == down_us);
    assert_true(p->allowed_downtime_us == S(43) + 200000); /* 43.2 s */
    if (p->met != met || fabs(p->credit_pct - credit) > 1e-12)
        fail_msg("down %lld us: availability %.9f, met %d credit %g; want met %d credit %g",
                 (long long)down_us, p->availability_pct, p->met, p->credit_pct, met, credit);
    emp_sla_report_cleanup(&r);
}

static void test_credit_tiers(void **state)
{
    (void)state;
    check_tier(0, true, 0);
    check_tier(S(43) + 200000, true, 0);     /* 99.95% exactly: not below 99.95 */
    check_tier(S(43) + 200001, false, 10);   /* just below 99.95 */
    check_tier(S(864), false, 10);           /* 99.0% exactly: not below 99.0 */
    check_tier(S(864) + 1, false, 25);
    check_tier(S(4320), false, 25);          /* 95.0% */
    check_tier(S(4320) + 1, false, 100);
    check_tier(S(DAY_S), false, 100);        /* 0% */
}

/* ---- periods in a computation ------------------------------------------ */

static void test_period_sequences(void **state)
{
    (void)state;
    struct emp_sla_input in = {.interval_ms = 10000};
    struct emp_sla_report r;
    int64_t now = T("2030-01-01T00:00:00Z");

    /* a year by quarter: 90, 91, 92, 92 days */
    struct emp_sla sla = make_sla(99.9, EMP_SLA_QUARTER, EMP_SLA_RULE_OUTAGES, false);
    assert_int_equal(emp_sla_compute(&sla, T("2026-01-01T00:00:00Z"), T("2027-01-01T00:00:00Z"),
                                     now, &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 4);
    const char *ql[] = {"2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"};
    const int64_t qd[] = {90, 91, 92, 92};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(r.periods[i].label, ql[i]);
        assert_true(r.periods[i].elapsed_us == S(qd[i] * DAY_S));
        assert_true(r.periods[i].counted_us == S(qd[i] * DAY_S)); /* unknown as up */
        assert_true(isnan(r.periods[i].availability_pct));         /* but never seen */
    }
    emp_sla_report_cleanup(&r);

    /* ISO weeks across the end of 2026, which has 53 */
    sla.period = EMP_SLA_WEEK;
    assert_int_equal(emp_sla_compute(&sla, T("2026-12-24T00:00:00Z"), T("2027-01-05T00:00:00Z"),
                                     now, &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 3);
    assert_string_equal(r.periods[0].label, "2026-W52");
    assert_string_equal(r.periods[1].label, "2026-W53");
    assert_string_equal(r.periods[2].label, "2027-W01");
    assert_true(r.periods[1].start_us == T("2026-12-28T00:00:00Z"));
    assert_true(r.periods[1].end_us == T("2027-01-04T00:00:00Z"));
    emp_sla_report_cleanup(&r);

    /* leap February, and a window inside one period */
    sla.period = EMP_SLA_MONTH;
    assert_int_equal(emp_sla_compute(&sla, T("2024-02-10T00:00:00Z"), T("2024-02-11T00:00:00Z"),
                                     now, &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 1);
    assert_string_equal(r.periods[0].label, "2024-02");
    assert_true(r.periods[0].elapsed_us == S(29 * DAY_S));
    emp_sla_report_cleanup(&r);

    /* years; the first week of 1970 begins before the epoch */
    sla.period = EMP_SLA_YEAR;
    assert_int_equal(emp_sla_compute(&sla, T("2023-06-01T00:00:00Z"), T("2025-06-01T00:00:00Z"),
                                     now, &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 3);
    assert_string_equal(r.periods[1].label, "2024");
    assert_true(r.periods[1].elapsed_us == S(366 * DAY_S));
    emp_sla_report_cleanup(&r);
    sla.period = EMP_SLA_WEEK;
    assert_int_equal(emp_sla_compute(&sla, 0, S(DAY_S), now, &in, &r), EMP_OK);
    assert_int_equal(r.n_periods, 1);
    assert_string_equal(r.periods[0].label, "1970-W01");
    assert_true(r.periods[0].start_us == -S(3 * DAY_S));
    emp_sla_report_cleanup(&r);

    /* an empty window has no periods; too many periods is refused */
    sla.period = EMP_SLA_DAY;
    assert_int_equal(emp_sla_compute(&sla, S(5), S(5), now, &in, &r), EMP_OK);
    assert_int_equal(r.n_periods, 0);
    assert_null(r.periods);
    assert_int_equal(emp_sla_compute(&sla, T("2010-01-01T00:00:00Z"),
                                     T("2020-12-31T00:00:00Z"), now, &in, &r),
                     EMP_ERANGE);
    assert_int_equal(emp_sla_compute(&sla, T("2010-01-01T00:00:00Z"),
                                     T("2019-12-31T00:00:00Z"), now, &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 3651);
    emp_sla_report_cleanup(&r);
}

/* 15 November 12:00: November is in progress, later months have not begun. */
static void test_partial_period(void **state)
{
    (void)state;
    struct emp_sla sla = make_sla(99.9, EMP_SLA_MONTH, EMP_SLA_RULE_OUTAGES, true);
    int64_t nov = T("2026-11-01T00:00:00Z"), now = T("2026-11-15T12:00:00Z");
    /* the live span's last probe was 5 s ago, its grace 20 s: observed
     * until now, not beyond */
    struct emp_span spans[] = {span_us(nov, now - S(5), S(20))};
    struct emp_outage outs[] = {outage_us(now - S(HOUR_S), 0)}; /* ongoing */
    struct emp_sla_input in = {.spans = spans, .n_spans = 1, .outages = outs, .n_outages = 1};
    struct emp_sla_report r;
    assert_int_equal(emp_sla_compute(&sla, T("2026-10-01T00:00:00Z"),
                                     T("2027-02-01T00:00:00Z"), now, &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 2);
    const struct emp_sla_period_result *o = &r.periods[0], *p = &r.periods[1];
    assert_string_equal(o->label, "2026-10");
    assert_false(o->partial);
    assert_true(isnan(o->availability_pct)); /* before the first span */
    assert_int_equal(o->n_outages, 0);
    assert_string_equal(p->label, "2026-11");
    assert_true(p->partial);
    assert_true(p->end_us == T("2026-12-01T00:00:00Z"));
    int64_t elapsed = S(14 * DAY_S + 12 * HOUR_S); /* 1252800 s */
    assert_true(p->elapsed_us == elapsed && p->observed_us == elapsed);
    assert_true(p->downtime_us == S(HOUR_S));
    assert_near(p->availability_pct, 100.0 * (1252800 - 3600) / 1252800);
    assert_true(p->allowed_downtime_us == S(1252) + 800000); /* so far: 1252.8 s */
    assert_false(p->met);
    assert_int_equal(p->n_outages, 1);
    emp_sla_report_cleanup(&r);

    /* a window wholly in the future has nothing to report */
    assert_int_equal(emp_sla_compute(&sla, T("2027-01-01T00:00:00Z"),
                                     T("2027-02-01T00:00:00Z"), now, &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 0);
}

static void test_arguments(void **state)
{
    (void)state;
    struct emp_sla sla = make_sla(99.9, EMP_SLA_DAY, EMP_SLA_RULE_OUTAGES, true);
    struct emp_sla_input in = {0};
    struct emp_sla_report r;
    memset(&r, 0xff, sizeof r); /* must be zeroed */
    assert_int_equal(emp_sla_compute(NULL, 0, S(10), S(10), &in, &r), EMP_EINVAL);
    assert_null(r.periods);
    assert_int_equal(emp_sla_compute(&sla, 0, S(10), S(10), NULL, &r), EMP_EINVAL);
    assert_int_equal(emp_sla_compute(&sla, 0, S(10), S(10), &in, NULL), EMP_EINVAL);
    assert_int_equal(emp_sla_compute(&sla, S(10), 0, S(10), &in, &r), EMP_EINVAL);
    assert_int_equal(emp_sla_compute(&sla, -S(1), S(10), S(10), &in, &r), EMP_ERANGE);
    assert_int_equal(emp_sla_compute(&sla, 0, EMP_SLA_MAX_US + 2, S(10), &in, &r), EMP_ERANGE);
    in.n_spans = 1; /* with no array */
    assert_int_equal(emp_sla_compute(&sla, 0, S(10), S(10), &in, &r), EMP_EINVAL);
    emp_sla_report_cleanup(&r);
    emp_sla_report_cleanup(NULL);
    emp_sla_cleanup(NULL);

    /* the last day that can be reported */
    in.n_spans = 0;
    assert_int_equal(emp_sla_compute(&sla, EMP_SLA_MAX_US, EMP_SLA_MAX_US + 1,
                                     EMP_SLA_MAX_US + 1, &in, &r),
                     EMP_OK);
    assert_int_equal(r.n_periods, 1);
    assert_string_equal(r.periods[0].label, "9999-12-31");
    emp_sla_report_cleanup(&r);
}

/* ---- cross-check ------------------------------------------------------- */

/* Random second-aligned spans (several probers) and outages over two days
 * by day: the outages rule against a second-by-second count. */
static void test_outages_rule_brute_force(void **state)
{
    (void)state;
    srand(20261125);
    int64_t d0 = T("2026-11-25T00:00:00Z");
    int64_t now_s = 2 * DAY_S - 3 * HOUR_S; /* the second day is in progress */
    static unsigned char obs[2 * DAY_S], down[2 * DAY_S];
    for (int trial = 0; trial < 40; trial++) {
        struct emp_span spans[8];
        struct emp_outage outs[8];
        size_t ns = (size_t)(rand() % 8), no = (size_t)(rand() % 8);
        memset(obs, 0, sizeof obs);
        memset(down, 0, sizeof down);
        for (size_t i = 0; i < ns; i++) {
            int64_t a = rand() % (2 * DAY_S), len = rand() % (12 * HOUR_S);
            spans[i] = span_us(d0 + S(a), d0 + S(a + len), 0);
            for (int64_t t = a; t < a + len && t < now_s; t++)
                obs[t] = 1;
        }
        for (size_t i = 0; i < no; i++) {
            int64_t a = rand() % (2 * DAY_S), len = rand() % (4 * HOUR_S);
            bool ongoing = rand() % 5 == 0;
            outs[i] = outage_us(d0 + S(a), ongoing ? 0 : d0 + S(a + len));
            int64_t b = ongoing ? now_s : a + len;
            for (int64_t t = a; t < b && t < now_s; t++)
                down[t] = 1;
        }
        struct emp_sla sla = make_sla(99.0, EMP_SLA_DAY, EMP_SLA_RULE_OUTAGES, true);
        struct emp_sla_input in = {.spans = spans, .n_spans = ns, .outages = outs,
                                   .n_outages = no};
        struct emp_sla_report r;
        assert_int_equal(emp_sla_compute(&sla, d0, d0 + S(2 * DAY_S), d0 + S(now_s), &in, &r),
                         EMP_OK);
        assert_int_equal(r.n_periods, 2);
        for (int k = 0; k < 2; k++) {
            int64_t o = 0, d = 0;
            for (int64_t t = k * DAY_S; t < (k + 1) * DAY_S; t++) {
                o += obs[t];
                d += obs[t] & down[t];
            }
            const struct emp_sla_period_result *p = &r.periods[k];
            assert_true(p->observed_us == S(o));
            assert_true(p->downtime_us == S(d));
            if (o > 0)
                assert_near(p->availability_pct, 100.0 * (double)(o - d) / (double)o);
            else
                assert_true(isnan(p->availability_pct));
        }
        assert_false(r.periods[0].partial);
        assert_true(r.periods[1].partial);
        emp_sla_report_cleanup(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_outages_rule),
        cmocka_unit_test(test_outage_spanning_two_periods),
        cmocka_unit_test(test_exclude_unknown),
        cmocka_unit_test(test_minutes_rule),
        cmocka_unit_test(test_minutes_partly_observed),
        cmocka_unit_test(test_minutes_in_progress),
        cmocka_unit_test(test_credit_tiers),
        cmocka_unit_test(test_period_sequences),
        cmocka_unit_test(test_partial_period),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_outages_rule_brute_force),
    };
    return cmocka_run_group_tests_name("sla", tests, NULL, NULL);
}
