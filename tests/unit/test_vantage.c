/* The combined verdict of several locations (analysis/vantage.c) on
 * hand-made timelines: the quorum's edges for each rule, ties at the same
 * microsecond, unknown locations (neither confirming nor vetoing), a
 * location joining mid-window, min_locations, the history the statistics
 * take (spans and outages), totals, and refused input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "analysis/vantage.h"

#define U EMP_SEG_UNKNOWN
#define P EMP_SEG_UP
#define D EMP_SEG_DOWN

/* A timeline from (end, state) pairs starting at `from`. */
struct tl {
    struct emp_segment s[16];
    size_t n;
};

static struct tl mk(int64_t from, int pairs, ...)
{
    struct tl t = {0};
    va_list ap;
    va_start(ap, pairs);
    int64_t start = from;
    for (int i = 0; i < pairs; i++) {
        int64_t end = va_arg(ap, int64_t);
        int st = va_arg(ap, int);
        t.s[t.n++] = (struct emp_segment){start, end, (enum emp_seg_state)st};
        start = end;
    }
    va_end(ap);
    return t;
}

/* Combine n timelines over [0, to) with `q`. */
static struct emp_vsegment *combine(struct tl *t, size_t n, int64_t to,
                                    const struct emp_quorum *q, size_t *out_n)
{
    const struct emp_segment *loc[8];
    size_t ns[8];
    for (size_t i = 0; i < n; i++) {
        loc[i] = t[i].s;
        ns[i] = t[i].n;
    }
    struct emp_vsegment *v = NULL;
    assert_int_equal(emp_vantage_combine(0, to, loc, ns, n, q, &v, out_n), EMP_OK);
    return v;
}

static void expect_seg(const struct emp_vsegment *v, int64_t s, int64_t e, enum emp_vstate st,
                       uint64_t observing, uint64_t down)
{
    assert_int_equal(v->start_us, s);
    assert_int_equal(v->end_us, e);
    assert_int_equal(v->state, st);
    assert_int_equal(v->observing, observing);
    assert_int_equal(v->down, down);
}

static void test_needed(void **state)
{
    (void)state;
    struct emp_quorum maj = EMP_QUORUM_DEFAULT;
    assert_int_equal(emp_quorum_needed(&maj, 1), 1);
    assert_int_equal(emp_quorum_needed(&maj, 2), 2);
    assert_int_equal(emp_quorum_needed(&maj, 3), 2);
    assert_int_equal(emp_quorum_needed(&maj, 4), 3);
    assert_int_equal(emp_quorum_needed(&maj, 0), 1);
    struct emp_quorum any = {EMP_QUORUM_ANY, 0, 1}, all = {EMP_QUORUM_ALL, 0, 1},
                      two = {EMP_QUORUM_COUNT, 2, 1};
    assert_int_equal(emp_quorum_needed(&any, 5), 1);
    assert_int_equal(emp_quorum_needed(&all, 5), 5);
    assert_int_equal(emp_quorum_needed(&two, 5), 2);
    assert_int_equal(emp_quorum_needed(&two, 1), 2);
}

/* Majority of three: one location down is partial, two are down. */
static void test_majority_edges(void **state)
{
    (void)state;
    struct tl t[3] = {
        mk(0, 3, (int64_t)100, P, (int64_t)300, D, (int64_t)1000, P), /* A: its own cut */
        mk(0, 3, (int64_t)200, P, (int64_t)400, D, (int64_t)1000, P),
        mk(0, 1, (int64_t)1000, P),
    };
    struct emp_quorum q = EMP_QUORUM_DEFAULT;
    size_t n;
    struct emp_vsegment *v = combine(t, 3, 1000, &q, &n);
    assert_int_equal(n, 5);
    expect_seg(&v[0], 0, 100, EMP_V_UP, 7, 0);
    expect_seg(&v[1], 100, 200, EMP_V_PARTIAL, 7, 1);
    expect_seg(&v[2], 200, 300, EMP_V_DOWN, 7, 3);   /* quorum reached at B's start */
    expect_seg(&v[3], 300, 400, EMP_V_PARTIAL, 7, 2); /* and lost at A's end */
    expect_seg(&v[4], 400, 1000, EMP_V_UP, 7, 0);
    struct emp_vtotals tot;
    emp_vantage_totals(v, n, &tot);
    assert_int_equal(tot.up_us, 700);
    assert_int_equal(tot.partial_us, 200);
    assert_int_equal(tot.down_us, 100);
    assert_int_equal(tot.unknown_us, 0);
    assert_int_equal(tot.partial_locations, 3);
    free(v);
}

/* Two locations going down at the same microsecond: the verdict changes
 * once, with no empty segment between. */
static void test_ties(void **state)
{
    (void)state;
    struct tl t[3] = {
        mk(0, 3, (int64_t)100, P, (int64_t)200, D, (int64_t)300, P),
        mk(0, 3, (int64_t)100, P, (int64_t)200, D, (int64_t)300, P),
        mk(0, 1, (int64_t)300, P),
    };
    struct emp_quorum q = EMP_QUORUM_DEFAULT;
    size_t n;
    struct emp_vsegment *v = combine(t, 3, 300, &q, &n);
    assert_int_equal(n, 3);
    expect_seg(&v[0], 0, 100, EMP_V_UP, 7, 0);
    expect_seg(&v[1], 100, 200, EMP_V_DOWN, 7, 3);
    expect_seg(&v[2], 200, 300, EMP_V_UP, 7, 0);
    for (size_t i = 0; i < n; i++)
        assert_true(v[i].start_us < v[i].end_us);
    free(v);
}

/* A location that does not observe neither confirms nor vetoes: the
 * majority is of those observing. */
static void test_unknown_location(void **state)
{
    (void)state;
    struct tl t[3] = {
        mk(0, 2, (int64_t)500, U, (int64_t)1000, P), /* A joins at 500 */
        mk(0, 2, (int64_t)200, P, (int64_t)1000, D),
        mk(0, 3, (int64_t)300, P, (int64_t)700, D, (int64_t)1000, P),
    };
    struct emp_quorum q = EMP_QUORUM_DEFAULT;
    size_t n;
    struct emp_vsegment *v = combine(t, 3, 1000, &q, &n);
    assert_int_equal(n, 5);
    expect_seg(&v[0], 0, 200, EMP_V_UP, 6, 0);
    expect_seg(&v[1], 200, 300, EMP_V_PARTIAL, 6, 2); /* 1 of 2: majority is 2 */
    expect_seg(&v[2], 300, 500, EMP_V_DOWN, 6, 6);
    expect_seg(&v[3], 500, 700, EMP_V_DOWN, 7, 6);    /* A joins, up: 2 of 3 still */
    expect_seg(&v[4], 700, 1000, EMP_V_PARTIAL, 7, 2);
    free(v);
}

/* Nobody observing, or fewer than min_locations: unknown. */
static void test_min_locations(void **state)
{
    (void)state;
    struct tl t[2] = {
        mk(0, 2, (int64_t)100, U, (int64_t)400, D),
        mk(0, 3, (int64_t)200, U, (int64_t)300, P, (int64_t)400, U),
    };
    struct emp_quorum q = EMP_QUORUM_DEFAULT;
    size_t n;
    struct emp_vsegment *v = combine(t, 2, 400, &q, &n);
    assert_int_equal(n, 4);
    expect_seg(&v[0], 0, 100, EMP_V_UNKNOWN, 0, 0);
    expect_seg(&v[1], 100, 200, EMP_V_DOWN, 1, 1);    /* one observing: its own word */
    expect_seg(&v[2], 200, 300, EMP_V_PARTIAL, 3, 1); /* two observing: 1 of 2 */
    expect_seg(&v[3], 300, 400, EMP_V_DOWN, 1, 1);
    free(v);
    q.min_locations = 2;
    v = combine(t, 2, 400, &q, &n);
    assert_int_equal(n, 4);
    expect_seg(&v[0], 0, 100, EMP_V_UNKNOWN, 0, 0);
    expect_seg(&v[1], 100, 200, EMP_V_UNKNOWN, 1, 1);
    expect_seg(&v[2], 200, 300, EMP_V_PARTIAL, 3, 1);
    expect_seg(&v[3], 300, 400, EMP_V_UNKNOWN, 1, 1);
    free(v);
}

/* The other rules on the same timelines. */
static void test_rules(void **state)
{
    (void)state;
    struct tl t[3] = {
        mk(0, 2, (int64_t)100, D, (int64_t)300, P),
        mk(0, 3, (int64_t)100, P, (int64_t)200, D, (int64_t)300, P),
        mk(0, 1, (int64_t)300, D),
    };
    size_t n;
    struct emp_quorum any = {EMP_QUORUM_ANY, 0, 1};
    struct emp_vsegment *v = combine(t, 3, 300, &any, &n);
    assert_int_equal(n, 3); /* down all along, who is down changes */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].state, EMP_V_DOWN);
    free(v);
    struct emp_quorum all = {EMP_QUORUM_ALL, 0, 1};
    v = combine(t, 3, 300, &all, &n);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].state, EMP_V_PARTIAL);
    assert_int_equal(v[1].state, EMP_V_PARTIAL);
    assert_int_equal(v[2].state, EMP_V_PARTIAL);
    free(v);
    struct emp_quorum two = {EMP_QUORUM_COUNT, 2, 1};
    v = combine(t, 3, 300, &two, &n);
    assert_int_equal(n, 3);
    expect_seg(&v[0], 0, 100, EMP_V_DOWN, 7, 5);
    expect_seg(&v[1], 100, 200, EMP_V_DOWN, 7, 6);
    expect_seg(&v[2], 200, 300, EMP_V_PARTIAL, 7, 4);
    free(v);
}

/* The history the statistics take: spans split by unknown time, an outage
 * per down stretch (unknown time ends one), the last one ongoing when it
 * reaches now. */
static void test_history(void **state)
{
    (void)state;
    struct emp_vsegment v[] = {
        {0, 100, EMP_V_UP, 3, 0},
        {100, 200, EMP_V_DOWN, 3, 3},
        {200, 250, EMP_V_DOWN, 3, 1}, /* still down, by another quorum */
        {250, 300, EMP_V_PARTIAL, 3, 1},
        {300, 400, EMP_V_UNKNOWN, 0, 0},
        {400, 500, EMP_V_DOWN, 1, 1},
        {500, 600, EMP_V_UNKNOWN, 0, 0},
        {600, 700, EMP_V_DOWN, 1, 1},
    };
    struct emp_span *sp;
    struct emp_outage *ou;
    size_t ns, no;
    assert_int_equal(emp_vantage_history(v, 8, 700, 42, &sp, &ns, &ou, &no), EMP_OK);
    assert_int_equal(ns, 3);
    assert_int_equal(sp[0].started_at_us, 0);
    assert_int_equal(sp[0].ended_at_us, 300);
    assert_int_equal(sp[1].started_at_us, 400);
    assert_int_equal(sp[1].ended_at_us, 500);
    assert_int_equal(sp[2].started_at_us, 600);
    assert_int_equal(sp[2].ended_at_us, 700);
    assert_int_equal(sp[0].grace_us, 0);
    assert_int_equal(no, 3);
    assert_int_equal(ou[0].started_at_us, 100);
    assert_int_equal(ou[0].ended_at_us, 250);
    assert_int_equal(ou[1].started_at_us, 400);
    assert_int_equal(ou[1].ended_at_us, 500);
    assert_int_equal(ou[2].started_at_us, 600);
    assert_int_equal(ou[2].ended_at_us, 0); /* reaches now: ongoing */
    assert_int_equal(ou[0].target_id, 42);
    assert_string_equal(ou[0].err_class, "quorum");
    free(sp);
    free(ou);
    /* The same ending before now: ended. */
    assert_int_equal(emp_vantage_history(v, 8, 900, 42, &sp, &ns, &ou, &no), EMP_OK);
    assert_int_equal(ou[2].ended_at_us, 700);
    free(sp);
    free(ou);
    /* Round trip: the history's timeline is the combined one's up/down. */
    struct emp_span *sp2;
    struct emp_outage *ou2;
    assert_int_equal(emp_vantage_history(v, 8, 900, 42, &sp2, &ns, &ou2, &no), EMP_OK);
    struct emp_segment *seg;
    size_t nseg;
    assert_int_equal(emp_timeline_build(0, 700, 900, sp2, ns, ou2, no, &seg, &nseg), EMP_OK);
    struct emp_uptime u;
    emp_uptime_from_timeline(0, 700, 900, seg, nseg, &u);
    assert_int_equal(u.down_us, 100 + 50 + 100 + 100);
    assert_int_equal(u.up_us, 100 + 50); /* partial time counts as up */
    assert_int_equal(u.unknown_us, 200);
    free(seg);
    free(sp2);
    free(ou2);
}

static void test_refused(void **state)
{
    (void)state;
    struct tl gap = mk(0, 1, (int64_t)90, P); /* does not reach 100 */
    const struct emp_segment *loc[1] = {gap.s};
    size_t ns[1] = {gap.n};
    struct emp_quorum q = EMP_QUORUM_DEFAULT;
    struct emp_vsegment *v = (void *)1;
    size_t n = 7;
    assert_int_equal(emp_vantage_combine(0, 100, loc, ns, 1, &q, &v, &n), EMP_EINVAL);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_int_equal(emp_vantage_combine(0, 0, loc, ns, 1, &q, &v, &n), EMP_OK);
    assert_null(v);
    struct tl ok = mk(0, 1, (int64_t)100, P);
    const struct emp_segment *many[EMP_VANTAGE_MAX + 1];
    size_t nmany[EMP_VANTAGE_MAX + 1];
    for (size_t i = 0; i <= EMP_VANTAGE_MAX; i++) {
        many[i] = ok.s;
        nmany[i] = ok.n;
    }
    assert_int_equal(emp_vantage_combine(0, 100, many, nmany, EMP_VANTAGE_MAX + 1, &q, &v, &n),
                     EMP_EINVAL);
    assert_int_equal(emp_vantage_combine(0, 100, many, nmany, EMP_VANTAGE_MAX, &q, &v, &n),
                     EMP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].observing, UINT64_MAX);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_needed),
        cmocka_unit_test(test_majority_edges),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_unknown_location),
        cmocka_unit_test(test_min_locations),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
