/* Timestamps: RFC 3339 and Unix-seconds parsing (accepted forms, offsets,
 * fractions, strict rejection), formatting, and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/timeutil.h"

#define S(x) ((int64_t)(x) * EMP_US_PER_S)

static int64_t parse_ok(const char *s)
{
    int64_t us = -12345;
    enum emp_err e = emp_time_parse(s, &us);
    if (e != EMP_OK)
        fail_msg("expected %s to parse, got %d", s, (int)e);
    return us;
}

static void test_parse_rfc3339(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-11-25T20:40:26Z"), S(1795639226));
    assert_int_equal(parse_ok("2026-11-25t20:40:26z"), S(1795639226));
    assert_int_equal(parse_ok("2026-11-25 20:40:26Z"), S(1795639226));
    assert_int_equal(parse_ok("2026-11-25T20:40:26.5Z"), S(1795639226) + 500000);
    assert_int_equal(parse_ok("2026-11-25T20:40:26.000001Z"), S(1795639226) + 1);
    /* Digits past microseconds are truncated. */
    assert_int_equal(parse_ok("2026-11-25T20:40:26.1234569Z"), S(1795639226) + 123456);
    assert_int_equal(parse_ok("2026-11-25T21:40:26.5+01:00"), S(1795639226) + 500000);
    assert_int_equal(parse_ok("2026-11-25T15:10:26-05:30"), S(1795639226));
    assert_int_equal(parse_ok("2026-11-25T20:40:26-00:00"), S(1795639226));
    /* Leap years and the day after. */
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), S(1709164800));
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), S(951782400));
    assert_int_equal(parse_ok("2024-03-01T00:00:00Z"), S(1709251200));
    /* Before the epoch and the extremes of four-digit years. */
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), S(-1));
    assert_int_equal(parse_ok("0000-01-01T00:00:00Z"), S(INT64_C(-62167219200)));
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), S(INT64_C(253402300799)));
    /* A leap second reads as the next second. */
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), S(1483228800));
}

static void test_parse_unix(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("0"), 0);
    assert_int_equal(parse_ok("1795639226"), S(1795639226));
    assert_int_equal(parse_ok("1795639226.25"), S(1795639226) + 250000);
    assert_int_equal(parse_ok("1795639226.0000019"), S(1795639226) + 1);
    assert_int_equal(parse_ok("-1.5"), -1500000);
    assert_int_equal(parse_ok("9223372036854"), S(INT64_C(9223372036854)));
    assert_int_equal(parse_ok("9223372036854.775807"), INT64_MAX);
    assert_int_equal(parse_ok("-9223372036854.775807"), -INT64_MAX);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        enum emp_err e;
    } bad[] = {
        {"", EMP_EINVAL},
        {" 1", EMP_EINVAL},
        {"1 ", EMP_EINVAL},
        {"+1", EMP_EINVAL},
        {"-", EMP_EINVAL},
        {"1.", EMP_EINVAL},
        {".5", EMP_EINVAL},
        {"1.5.", EMP_EINVAL},
        {"1e9", EMP_EINVAL},
        {"0x10", EMP_EINVAL},
        {"12abc", EMP_EINVAL},
        {"9223372036855", EMP_ERANGE},              /* * 1e6 overflows */
        {"9223372036854.775808", EMP_ERANGE},
        {"99999999999999999999999", EMP_ERANGE},
        {"2026-11-25", EMP_EINVAL},
        {"2026-11-25T20:40Z", EMP_EINVAL},
        {"2026-11-25T20:40:26", EMP_EINVAL},        /* no offset */
        {"2026-11-25T20:40:26Zx", EMP_EINVAL},
        {"2026-11-25T20:40:26Z ", EMP_EINVAL},
        {"2026-11-25T20:40:26.Z", EMP_EINVAL},
        {"2026-11-25T20:40:26+01", EMP_EINVAL},
        {"2026-11-25T20:40:26+0100", EMP_EINVAL},
        {"2026-11-25T20:40:26+01:00:00", EMP_EINVAL},
        {"2026-11-25X20:40:26Z", EMP_EINVAL},
        {"2026-1-25T20:40:26Z", EMP_EINVAL},
        {"20261-11-25T20:40:26Z", EMP_EINVAL},
        {"2026-13-01T00:00:00Z", EMP_ERANGE},
        {"2026-00-01T00:00:00Z", EMP_ERANGE},
        {"2026-02-30T00:00:00Z", EMP_ERANGE},
        {"2026-02-29T00:00:00Z", EMP_ERANGE},       /* not a leap year */
        {"1900-02-29T00:00:00Z", EMP_ERANGE},
        {"2026-04-31T00:00:00Z", EMP_ERANGE},
        {"2026-01-00T00:00:00Z", EMP_ERANGE},
        {"2026-01-01T24:00:00Z", EMP_ERANGE},
        {"2026-01-01T23:60:00Z", EMP_ERANGE},
        {"2026-01-01T23:59:61Z", EMP_ERANGE},
        {"2026-01-01T00:00:00+24:00", EMP_ERANGE},
        {"2026-01-01T00:00:00+01:60", EMP_ERANGE},
        {"2026-", EMP_EINVAL},
        {"2026-11-25T", EMP_EINVAL},
        {"2026-11-25T20:40:26.", EMP_EINVAL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = 777;
        enum emp_err e = emp_time_parse(bad[i].s, &us);
        if (e != bad[i].e)
            fail_msg("\"%s\": expected %d, got %d", bad[i].s, (int)bad[i].e, (int)e);
        assert_int_equal(us, 777); /* untouched on failure */
    }
    int64_t us;
    assert_int_equal(emp_time_parse(NULL, &us), EMP_EINVAL);
}

static void test_format(void **state)
{
    (void)state;
    char buf[EMP_TIME_BUFSZ];
    assert_string_equal(emp_time_format(0, buf), "1970-01-01T00:00:00Z");
    assert_string_equal(emp_time_format(S(1795639226), buf), "2026-11-25T20:40:26Z");
    assert_string_equal(emp_time_format(S(1795639226) + 500000, buf),
                        "2026-11-25T20:40:26.500000Z");
    assert_string_equal(emp_time_format(S(1795639226) + 1, buf),
                        "2026-11-25T20:40:26.000001Z");
    assert_string_equal(emp_time_format(S(1795639226) + 120000, buf),
                        "2026-11-25T20:40:26.120000Z");
    assert_string_equal(emp_time_format(-1, buf), "1969-12-31T23:59:59.999999Z");
    assert_string_equal(emp_time_format(S(1709164800), buf), "2024-02-29T00:00:00Z");
    assert_string_equal(emp_time_format(S(INT64_C(-62167219200)), buf),
                        "0000-01-01T00:00:00Z");
    assert_string_equal(emp_time_format(S(INT64_C(253402300799)), buf),
                        "9999-12-31T23:59:59Z");
    /* The extremes do not crash and stay within the buffer. */
    emp_time_format(INT64_MAX, buf);
    assert_true(strlen(buf) < EMP_TIME_BUFSZ);
    emp_time_format(INT64_MIN, buf);
    assert_true(strlen(buf) < EMP_TIME_BUFSZ);
}

static void test_round_trip(void **state)
{
    (void)state;
    char buf[EMP_TIME_BUFSZ];
    /* Every 97th day of years 0000..9999, with assorted times of day. */
    for (int64_t day = -719528; day < 2932896; day += 97) {
        int64_t sod = ((day * 7919) % 86400 + 86400) % 86400;
        int64_t frac = day % 3 == 0 ? 0 : ((day * 104729) % 1000000 + 1000000) % 1000000;
        int64_t us = (day * 86400 + sod) * EMP_US_PER_S + frac;
        int64_t back = -1;
        emp_time_format(us, buf);
        if (emp_time_parse(buf, &back) != EMP_OK || back != us)
            fail_msg("%lld -> %s -> %lld", (long long)us, buf, (long long)back);
    }
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t a = emp_mono_us(), b = emp_mono_us();
    assert_true(b >= a);
    /* After 2020 and before 2100. */
    assert_true(emp_now_us() > S(1577836800));
    assert_true(emp_now_us() < S(INT64_C(4102444800)));
}

/* The monotonic clock at 1000 s, the wall clock at 1.8e9 s. */
#define MONO0 S(1000)
#define WALL0 S(1800000000)

static void test_clockmap_follows_monotonic(void **state)
{
    (void)state;
    struct emp_clockmap c;
    emp_clockmap_init(&c, MONO0, WALL0);
    assert_int_equal(c.segment, 1);
    /* Agreeing clocks: the mapping is the wall clock. */
    for (int64_t k = 1; k <= 100; k++)
        assert_int_equal(emp_clockmap_map(&c, MONO0 + S(k), WALL0 + S(k)), WALL0 + S(k));
    assert_int_equal(c.segment, 1);
    assert_int_equal(c.step_us, 0);
    /* An instant past, unchecked. */
    assert_int_equal(emp_clockmap_at(&c, MONO0 + S(99)), WALL0 + S(99));
    /* A monotonic time before the last counts as the last. */
    assert_int_equal(emp_clockmap_map(&c, MONO0 + S(50), WALL0 + S(100)), WALL0 + S(100));
    assert_int_equal(c.mono_us, MONO0 + S(100));
}

static void test_clockmap_steps(void **state)
{
    (void)state;
    struct emp_clockmap c;
    emp_clockmap_init(&c, MONO0, WALL0);
    assert_int_equal(emp_clockmap_map(&c, MONO0 + S(10), WALL0 + S(10)), WALL0 + S(10));
    /* Back an hour between two readings 1 s apart: a new segment at the
     * wall clock's time; the step and where the old segment ended. */
    int64_t t = emp_clockmap_map(&c, MONO0 + S(11), WALL0 + S(11) - S(3600));
    assert_int_equal(t, WALL0 + S(11) - S(3600));
    assert_int_equal(c.segment, 2);
    assert_int_equal(c.step_us, -S(3600));
    assert_int_equal(c.step_from_us, WALL0 + S(10));
    /* The new segment follows the monotonic clock from there. */
    assert_int_equal(emp_clockmap_map(&c, MONO0 + S(20), WALL0 + S(20) - S(3600)),
                     WALL0 + S(20) - S(3600));
    assert_int_equal(c.segment, 2);
    /* Forward two hours. */
    t = emp_clockmap_map(&c, MONO0 + S(21), WALL0 + S(21) + S(3600));
    assert_int_equal(t, WALL0 + S(21) + S(3600));
    assert_int_equal(c.segment, 3);
    assert_int_equal(c.step_us, S(7200));
    assert_int_equal(c.step_from_us, WALL0 + S(20) - S(3600));
    /* A suspend stops the monotonic clock, not the wall clock: a step. */
    t = emp_clockmap_map(&c, MONO0 + S(22), WALL0 + S(22) + S(3600) + S(600));
    assert_int_equal(c.segment, 4);
    assert_int_equal(c.step_us, S(600));
}

static void test_clockmap_tolerance(void **state)
{
    (void)state;
    struct emp_clockmap c;
    /* Off by exactly EMP_CLOCK_STEP_US either way: not a step. */
    emp_clockmap_init(&c, MONO0, WALL0);
    emp_clockmap_map(&c, MONO0 + S(1), WALL0 + S(1) + EMP_CLOCK_STEP_US);
    assert_int_equal(c.segment, 1);
    emp_clockmap_init(&c, MONO0, WALL0);
    emp_clockmap_map(&c, MONO0 + S(1), WALL0 + S(1) - EMP_CLOCK_STEP_US);
    assert_int_equal(c.segment, 1);
    /* One microsecond more: a step. */
    emp_clockmap_init(&c, MONO0, WALL0);
    emp_clockmap_map(&c, MONO0 + S(1), WALL0 + S(1) + EMP_CLOCK_STEP_US + 1);
    assert_int_equal(c.segment, 2);
    emp_clockmap_init(&c, MONO0, WALL0);
    emp_clockmap_map(&c, MONO0 + S(1), WALL0 + S(1) - EMP_CLOCK_STEP_US - 1);
    assert_int_equal(c.segment, 2);
}

/* Smaller disagreements (a leap second, a small NTP step) are absorbed at
 * 1 % of the elapsed time: the mapped time never goes back, runs at 99 to
 * 101 % of the monotonic clock's rate, and meets the wall clock again. */
static void test_clockmap_slews_small_offsets(void **state)
{
    (void)state;
    for (int sign = -1; sign <= 1; sign += 2) {
        struct emp_clockmap c;
        emp_clockmap_init(&c, MONO0, WALL0);
        int64_t prev = WALL0, off = sign * S(1);
        int64_t met = -1;
        for (int64_t k = 1; k <= 2000; k++) {
            int64_t mono = MONO0 + k * S(1) / 10; /* every 100 ms */
            int64_t wall = WALL0 + (mono - MONO0) + off;
            int64_t t = emp_clockmap_map(&c, mono, wall);
            assert_int_equal(c.segment, 1);
            int64_t dt = t - prev;
            assert_true(dt >= S(1) / 10 * 99 / 100 && dt <= S(1) / 10 * 101 / 100);
            prev = t;
            if (t == wall && met < 0)
                met = k;
        }
        /* 1 s at 1 ms per 100 ms: 1000 readings. */
        assert_int_equal(met, 1000);
        /* The mapping then follows the wall clock. */
        assert_int_equal(prev, WALL0 + 2000 * S(1) / 10 + off);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rfc3339), cmocka_unit_test(test_parse_unix),
        cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_clockmap_follows_monotonic),
        cmocka_unit_test(test_clockmap_steps),
        cmocka_unit_test(test_clockmap_tolerance),
        cmocka_unit_test(test_clockmap_slews_small_offsets),
    };
    return cmocka_run_group_tests_name("timeutil", tests, NULL, NULL);
}
