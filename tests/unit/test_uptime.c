/* Uptime arithmetic against hand-computed answers: unknown time is never up
 * or down, outages count only where observed, the live span's grace,
 * clipping to the window, streaks; then a brute-force cross-check on random
 * inputs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "analysis/uptime.h"

#define S(x) ((int64_t)(x) * INT64_C(1000000))
/* cmocka 1.1 has no assert_double_equal. */
#define assert_near(a, b) assert_true(fabs((a) - (b)) < 1e-12)

static struct emp_span span(int64_t a, int64_t b, int64_t grace)
{
    struct emp_span s = {.started_at_us = S(a), .ended_at_us = S(b), .grace_us = S(grace)};
    return s;
}

#define ONGOING INT64_MIN

static struct emp_outage outage(int64_t a, int64_t b)
{
    struct emp_outage o = {.target_id = 1, .started_at_us = S(a),
                           .ended_at_us = b == ONGOING ? 0 : S(b)};
    return o;
}

struct expect {
    int64_t up, down, unknown, cur, longest; /* seconds */
};

static void check(int64_t from, int64_t to, int64_t now, const struct emp_span *sp,
                  size_t ns, const struct emp_outage *o, size_t no, struct expect e)
{
    struct emp_uptime u;
    assert_int_equal(emp_uptime_compute(S(from), S(to), S(now), sp, ns, o, no, &u), EMP_OK);
    assert_int_equal(u.from_us, S(from));
    assert_int_equal(u.to_us, S(to));
    assert_int_equal(u.up_us, S(e.up));
    assert_int_equal(u.down_us, S(e.down));
    assert_int_equal(u.unknown_us, S(e.unknown));
    assert_int_equal(u.streak_current_us, S(e.cur));
    assert_int_equal(u.streak_longest_us, S(e.longest));
    if (e.up + e.down == 0) {
        assert_true(isnan(u.availability));
    } else {
        assert_near(u.availability, (double)e.up / (double)(e.up + e.down));
    }
    assert_near(u.coverage, (double)(e.up + e.down) / (double)(to - from));
}

static void test_no_spans_all_unknown(void **state)
{
    (void)state;
    struct emp_outage o[] = {outage(10, 20)}; /* unobserved: not down */
    check(0, 100, 1000, NULL, 0, NULL, 0, (struct expect){0, 0, 100, 0, 0});
    check(0, 100, 1000, NULL, 0, o, 1, (struct expect){0, 0, 100, 0, 0});
}

static void test_gap_inside_window(void **state)
{
    (void)state;
    /* A restart: observed 0-40 and 60-100, unknown in between. */
    struct emp_span sp[] = {span(0, 40, 0), span(60, 100, 0)};
    check(0, 100, 100, sp, 2, NULL, 0, (struct expect){80, 0, 20, 40, 40});
}

static void test_outage_across_gap(void **state)
{
    (void)state;
    /* Outage 30-70 over the gap 40-60: only 30-40 and 60-70 are down. */
    struct emp_span sp[] = {span(0, 40, 0), span(60, 100, 0)};
    struct emp_outage o[] = {outage(30, 70)};
    check(0, 100, 100, sp, 2, o, 1, (struct expect){60, 20, 20, 30, 30});
}

static void test_ongoing_outage(void **state)
{
    (void)state;
    struct emp_span sp[] = {span(0, 100, 0)};
    struct emp_outage o[] = {outage(80, ONGOING)};
    check(0, 100, 100, sp, 1, o, 1, (struct expect){80, 20, 0, 0, 80});
    /* Asked at 90 for a window ending at 100: the future is unknown and the
     * ongoing outage lasts until now only. */
    struct emp_span sp2[] = {span(0, 90, 0)};
    check(0, 100, 90, sp2, 1, o, 1, (struct expect){80, 10, 10, 0, 80});
    /* Outages given in any order, overlapping each other. */
    struct emp_outage o3[] = {outage(50, 60), outage(10, 30), outage(20, 40)};
    check(0, 100, 100, sp, 1, o3, 3, (struct expect){60, 40, 0, 40, 40});
}

static void test_overlapping_spans(void **state)
{
    (void)state;
    /* Several probers: the union counts once. */
    struct emp_span sp[] = {span(0, 50, 0), span(10, 30, 0), span(20, 70, 0)};
    check(0, 100, 200, sp, 3, NULL, 0, (struct expect){70, 0, 30, 0, 70});
    struct emp_outage o[] = {outage(40, 45)};
    check(0, 100, 200, sp, 3, o, 1, (struct expect){65, 5, 30, 0, 40});
}

static void test_window_clipping(void **state)
{
    (void)state;
    /* Spans and outages reaching outside the window, one span and one
     * outage entirely outside. */
    struct emp_span sp[] = {span(-100, -50, 0), span(-50, 150, 0)};
    struct emp_outage o[] = {outage(200, 300), outage(-10, 10), outage(90, 120),
                             outage(-500, -400)};
    check(0, 100, 200, sp, 2, o, 4, (struct expect){80, 20, 0, 0, 80});
    /* A window wholly in the future: nothing observed yet. */
    check(300, 400, 200, sp, 2, o, 4, (struct expect){0, 0, 100, 0, 0});
    /* An empty or reversed window computes nothing. */
    struct emp_uptime u;
    assert_int_equal(emp_uptime_compute(S(5), S(5), S(10), sp, 2, o, 4, &u), EMP_OK);
    assert_int_equal(u.up_us + u.down_us + u.unknown_us, 0);
    assert_int_equal(emp_uptime_compute(S(9), S(5), S(10), sp, 2, o, 4, &u), EMP_OK);
    assert_int_equal(u.up_us + u.down_us + u.unknown_us, 0);
}

static void test_live_span_grace(void **state)
{
    (void)state;
    /* Last probe at 90, next one due: observed until now (100). */
    struct emp_span sp[] = {span(0, 90, 15)};
    check(0, 200, 100, sp, 1, NULL, 0, (struct expect){100, 0, 100, 100, 100});
    /* Now 120: the grace ran out at 105; the prober is late, so the end is
     * unknown and no streak is current. */
    check(0, 200, 120, sp, 1, NULL, 0, (struct expect){105, 0, 95, 0, 105});
    /* Only the last span is live (the store gives a grace to it alone);
     * earlier ones end at their last probe. */
    struct emp_span sp2[] = {span(0, 50, 0), span(60, 90, 15)};
    check(0, 100, 100, sp2, 2, NULL, 0, (struct expect){90, 0, 10, 40, 50});
    /* The grace never reaches past `to`. */
    check(0, 95, 100, sp2, 2, NULL, 0, (struct expect){85, 0, 10, 35, 50});
}

static void test_streaks(void **state)
{
    (void)state;
    /* Touching spans are one stretch of observation (60 s up); the gap at
     * 60-70 breaks it; the outage at 80-85 breaks the next. */
    struct emp_span sp[] = {span(0, 30, 0), span(30, 60, 0), span(70, 100, 0)};
    struct emp_outage o[] = {outage(80, 85)};
    check(0, 100, 100, sp, 3, o, 1, (struct expect){85, 5, 10, 15, 60});
    /* Ending in an outage: no current streak. */
    struct emp_outage o2[] = {outage(95, 100)};
    check(0, 100, 100, sp, 3, o2, 1, (struct expect){85, 5, 10, 0, 60});
    /* Ending in unknown time: no current streak either. */
    struct emp_span sp3[] = {span(0, 90, 0)};
    check(0, 100, 100, sp3, 1, NULL, 0, (struct expect){90, 0, 10, 0, 90});
    /* All down: no streak at all. */
    struct emp_outage o4[] = {outage(-5, ONGOING)};
    check(0, 100, 100, sp, 3, o4, 1, (struct expect){0, 90, 10, 0, 0});
    /* A historical window: the streak running at `to` is current. */
    struct emp_span sp5[] = {span(0, 1000, 0)};
    struct emp_outage o5[] = {outage(10, 20)};
    check(0, 100, 1000, sp5, 1, o5, 1, (struct expect){90, 10, 0, 80, 80});
}

static void test_bad_outage_ignored(void **state)
{
    (void)state;
    /* An outage ending before it starts (bad data) contributes nothing. */
    struct emp_span sp[] = {span(0, 100, 0)};
    struct emp_outage o[] = {outage(50, 40)};
    check(0, 100, 100, sp, 1, o, 1, (struct expect){100, 0, 0, 100, 100});
}

/* Brute force on a grid of whole seconds: the same definitions, evaluated
 * second by second. */
static void brute(int64_t from, int64_t to, int64_t now, const struct emp_span *sp,
                  size_t ns, const struct emp_outage *o, size_t no, struct expect *e)
{
    *e = (struct expect){0, 0, 0, 0, 0};
    int64_t end = to < now ? to : now;
    int64_t run = 0;
    for (int64_t t = from; t < to; t++) {
        int obs = 0, down = 0;
        for (size_t i = 0; i < ns && t < end; i++) {
            int64_t a = sp[i].started_at_us / S(1), b = sp[i].ended_at_us / S(1);
            if (sp[i].grace_us > 0) { /* a span with a grace: the live one */
                int64_t g = b + sp[i].grace_us / S(1);
                g = g < now ? g : now;
                b = g > b ? g : b;
            }
            obs |= t >= a && t < b;
        }
        for (size_t i = 0; i < no && obs; i++) {
            int64_t a = o[i].started_at_us / S(1);
            int64_t b = o[i].ended_at_us == 0 ? now : o[i].ended_at_us / S(1);
            down |= t >= a && t < b;
        }
        if (!obs) {
            e->unknown++;
            run = 0;
        } else if (down) {
            e->down++;
            run = 0;
        } else {
            e->up++;
            run++;
            if (t == end - 1)
                e->cur = run;
            if (run > e->longest)
                e->longest = run;
        }
    }
}

static void test_random_against_brute_force(void **state)
{
    (void)state;
    srand(12345);
    for (int iter = 0; iter < 3000; iter++) {
        struct emp_span sp[5];
        struct emp_outage o[5];
        size_t ns = (size_t)(rand() % 6), no = (size_t)(rand() % 6);
        for (size_t i = 0; i < ns; i++) {
            int64_t a = rand() % 60 - 10;
            sp[i] = span(a, a + rand() % 25, rand() % 3 == 0 ? rand() % 10 : 0);
        }
        for (size_t i = 0; i < no; i++) {
            int64_t a = rand() % 60 - 10;
            o[i] = outage(a, rand() % 4 == 0 ? ONGOING : a + 1 + rand() % 15);
        }
        int64_t from = rand() % 20 - 5, to = from + 1 + rand() % 50;
        int64_t now = rand() % 70;
        struct expect e;
        brute(from, to, now, sp, ns, o, no, &e);
        check(from, to, now, sp, ns, o, no, e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_spans_all_unknown),
        cmocka_unit_test(test_gap_inside_window),
        cmocka_unit_test(test_outage_across_gap),
        cmocka_unit_test(test_ongoing_outage),
        cmocka_unit_test(test_overlapping_spans),
        cmocka_unit_test(test_window_clipping),
        cmocka_unit_test(test_live_span_grace),
        cmocka_unit_test(test_streaks),
        cmocka_unit_test(test_bad_outage_ignored),
        cmocka_unit_test(test_random_against_brute_force),
    };
    return cmocka_run_group_tests_name("uptime", tests, NULL, NULL);
}
