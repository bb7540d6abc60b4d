/* Correlated failures against independent answers: small cases computed by
 * hand, 42 cases computed by brute force in exact arithmetic by
 * stats_corr_reference.py (its output, stats_corr_reference.inc, is
 * included below), burst edges, empty and bad inputs, and seeded
 * simulations: independent members give an all-down ratio near 1, members
 * with a shared cause a ratio far above it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "analysis/stats_corr.h"

#define S(x) ((int64_t)(x) * INT64_C(1000000))
#define H(x) ((int64_t)(x) * INT64_C(3600000000))

/* cmocka 1.1 has no assert_double_equal. Relative, NaN equals NaN. */
static void near_rel(double got, double want, double tol, const char *what)
{
    if ((isnan(want) && isnan(got)) || got == want)
        return;
    double scale = fabs(want) > 1.0 ? fabs(want) : 1.0;
    if (!(fabs(got - want) <= tol * scale))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

#define near(got, want) near_rel((got), (want), 1e-12, #got)

static struct emp_corr_result run(const struct emp_corr_member *m, size_t n,
                                  const struct emp_corr_options *opt)
{
    struct emp_corr_result r;
    struct emp_error e;
    emp_error_clear(&e);
    enum emp_err rc = emp_corr_compute(m, n, opt, &r, &e);
    if (rc != EMP_OK)
        fail_msg("emp_corr_compute: %s: %s", e.msg, e.detail);
    return r;
}

/* ---- by hand ---------------------------------------------------------- */

/* Two members observed over [0, 100) s.
 *   A down [10,30) [50,60): 30 s, p_A = 0.30
 *   B down [20,40) [55,70): 35 s, p_B = 0.35
 *   both: [20,30) [55,60) = 15 s, p_AB = 0.15
 *   >= 1 down: [10,40) [50,70) = 50 s -> 0.5
 *   independent: P(K>=1) = 1 - 0.7 * 0.65 = 0.545, P(K=2) = 0.3 * 0.35 = 0.105
 *   ratio = lift = 0.15 / 0.105 = 10/7
 *   phi = (0.15 - 0.105) / sqrt(0.3 * 0.7 * 0.35 * 0.65) = 0.045 / sqrt(0.047775)
 *   failures at 10, 20, 50, 55: each < 120 s after the previous: one burst
 *   of 4. */
static void test_hand_two(void **state)
{
    (void)state;
    const struct emp_corr_ival obs[] = {{S(0), S(100)}};
    const struct emp_corr_ival da[] = {{S(10), S(30)}, {S(50), S(60)}};
    const struct emp_corr_ival db[] = {{S(20), S(40)}, {S(55), S(70)}};
    const int64_t fa[] = {S(10), S(50)}, fb[] = {S(55), S(20)};
    const struct emp_corr_member m[] = {{obs, 1, da, 2, fa, 2}, {obs, 1, db, 2, fb, 2}};
    struct emp_corr_result r = run(m, 2, NULL);

    assert_int_equal(r.n_members, 2);
    assert_int_equal(r.common_observed_us, S(100));
    near(r.down_fraction[0], 0.30);
    near(r.down_fraction[1], 0.35);
    near(r.observed_at_least[0], 1.0);
    near(r.observed_at_least[1], 0.5);
    near(r.observed_at_least[2], 0.15);
    near(r.independent_at_least[0], 1.0);
    near(r.independent_at_least[1], 0.545);
    near(r.independent_at_least[2], 0.105);
    near(r.all_down_ratio, 10.0 / 7.0);
    near(r.all_down_log10_ratio, log10(10.0 / 7.0));
    assert_int_equal(r.n_pairs, 1);
    assert_int_equal(r.n_pairs_together, 1);
    assert_true(r.pairs_complete);
    assert_int_equal(r.pairs[0].i, 0);
    assert_int_equal(r.pairs[0].j, 1);
    assert_int_equal(r.pairs[0].both_down_us, S(15));
    near(r.pairs[0].p_both, 0.15);
    near(r.pairs[0].lift, 10.0 / 7.0);
    near(r.pairs[0].phi, 0.045 / sqrt(0.047775));

    assert_int_equal(r.n_failures, 4);
    assert_int_equal(r.n_bursts, 1);
    assert_int_equal(r.largest_burst, 4);
    assert_int_equal(r.failures_in_bursts, 4);
    assert_int_equal(r.failures_in_bursts_10, 0);
    near(r.fraction_in_bursts, 1.0);
    near(r.fraction_in_bursts_10, 0.0);
    assert_int_equal(r.n_burst_sizes, 1);
    assert_int_equal(r.burst_sizes[0].size, 4);
    assert_int_equal(r.burst_sizes[0].count, 1);
    emp_corr_result_cleanup(&r);
}

/* Three members with unknown gaps; the denominator is the time all three
 * were observed: A [0,100), B [0,50) [60,100), C [5,100)
 *   -> common = [5,50) [60,100) = 85 s.
 *   A down [10,20) [40,60)            -> in common [10,20) [40,50) = 20 s
 *   B down [15,25) [45,50) [70,80)    -> 10 + 5 + 10 = 25 s
 *   C down [0,3) (outside observed: ignored) [18,22) [45,65) [75,90)
 *                                     -> 4 + 5 + 5 + 15 = 29 s
 *   segments with their down sets:
 *     [10,15) A  [15,18) AB  [18,20) ABC  [20,22) BC  [22,25) B
 *     [40,45) A  [45,50) ABC  [60,65) C  [70,75) B  [75,80) BC  [80,90) C
 *   >= 1: 5+3+2+2+3+5+5+5+5+5+10 = 50 -> 50/85
 *   >= 2: 3+2+2+5+5 = 17 -> 17/85 = 0.2;  3: 2+5 = 7 -> 7/85
 *   pairs: AB 3+2+5 = 10, AC 2+5 = 7, BC 2+2+5+5 = 14 s
 *   independent all three: (20*25*29)/85^3 = 14500/614125
 *   ratio = (7/85) / (14500/614125) = 7 * 7225 / 14500 = 3.48793...
 *   lift AB = 10*85/(20*25) = 1.7, AC = 7*85/(20*29), BC = 14*85/(25*29) */
static void test_hand_three_gaps(void **state)
{
    (void)state;
    const struct emp_corr_ival oa[] = {{S(0), S(100)}};
    const struct emp_corr_ival ob[] = {{S(0), S(50)}, {S(60), S(100)}};
    const struct emp_corr_ival oc[] = {{S(5), S(100)}};
    const struct emp_corr_ival da[] = {{S(10), S(20)}, {S(40), S(60)}};
    const struct emp_corr_ival db[] = {{S(15), S(25)}, {S(45), S(50)}, {S(70), S(80)}};
    const struct emp_corr_ival dc[] = {{S(0), S(3)}, {S(18), S(22)}, {S(45), S(65)},
                                       {S(75), S(90)}};
    const struct emp_corr_member m[] = {
        {oa, 1, da, 2, NULL, 0}, {ob, 2, db, 3, NULL, 0}, {oc, 1, dc, 4, NULL, 0}};
    struct emp_corr_options opt;
    emp_corr_options_init(&opt);
    opt.rank = EMP_CORR_RANK_LIFT;
    struct emp_corr_result r = run(m, 3, &opt);

    assert_int_equal(r.common_observed_us, S(85));
    near(r.down_fraction[0], 20.0 / 85);
    near(r.down_fraction[1], 25.0 / 85);
    near(r.down_fraction[2], 29.0 / 85);
    near(r.observed_at_least[1], 50.0 / 85);
    near(r.observed_at_least[2], 0.2);
    near(r.observed_at_least[3], 7.0 / 85);
    near(r.independent_at_least[3], 14500.0 / 614125.0);
    near(r.all_down_ratio, 7.0 * 7225.0 / 14500.0);
    assert_int_equal(r.n_pairs, 3);
    /* by lift: AB 1.7 > BC 1.641 > AC 1.026 */
    assert_int_equal(r.pairs[0].i, 0);
    assert_int_equal(r.pairs[0].j, 1);
    near(r.pairs[0].lift, 1.7);
    assert_int_equal(r.pairs[1].i, 1);
    assert_int_equal(r.pairs[1].j, 2);
    assert_int_equal(r.pairs[1].both_down_us, S(14));
    near(r.pairs[1].lift, 14.0 * 85 / (25.0 * 29));
    assert_int_equal(r.pairs[2].both_down_us, S(7));
    near(r.pairs[2].lift, 7.0 * 85 / (20.0 * 29));
    assert_int_equal(r.n_failures, 0);
    assert_true(isnan(r.fraction_in_bursts));
    emp_corr_result_cleanup(&r);

    /* By phi (the default) BC ranks first: phi = (p_ij - p_i p_j) /
     * sqrt(p_i q_i p_j q_j); BC = (14*85 - 25*29) / sqrt(25*60*29*56). */
    r = run(m, 3, NULL);
    assert_int_equal(r.pairs[0].i, 1);
    assert_int_equal(r.pairs[0].j, 2);
    near(r.pairs[0].phi, (14.0 * 85 - 25.0 * 29) / sqrt(25.0 * 60 * 29 * 56));
    emp_corr_result_cleanup(&r);
}

/* ---- against the Python reference ------------------------------------- */

struct ref_pair {
    size_t i, j;
    int64_t both_us;
    double p_both, lift, phi;
};

struct ref_case {
    const char *name;
    size_t n;
    int64_t window_us;
    const struct emp_corr_member *members;
    int64_t common_us;
    const double *p, *observed, *independent;
    double ratio, log10_ratio;
    const struct ref_pair *pairs;
    size_t n_pairs;
    size_t n_failures, bursts, largest, in_bursts, in_bursts_10, n_sizes;
    const struct emp_corr_burst_size *sizes;
};

static const struct ref_case ref_cases[] = {
#include "stats_corr_reference.inc"
};

static double rank_of(double x)
{
    return isnan(x) ? -INFINITY : x;
}

static void check_ref(const struct ref_case *c)
{
    struct emp_corr_options opt;
    emp_corr_options_init(&opt);
    opt.burst_window_us = c->window_us;
    opt.max_pairs = 1000;
    struct emp_corr_result r = run(c->members, c->n, &opt);

    assert_int_equal(r.n_members, c->n);
    assert_int_equal(r.common_observed_us, c->common_us);
    for (size_t i = 0; i < c->n; i++)
        near(r.down_fraction[i], c->p[i]);
    for (size_t k = 0; k <= c->n; k++) {
        near(r.observed_at_least[k], c->observed[k]);
        near(r.independent_at_least[k], c->independent[k]);
    }
    near(r.all_down_ratio, c->ratio);
    near_rel(r.all_down_log10_ratio, c->log10_ratio, 1e-9, "log10 ratio");

    /* Every pair down together, ranked by phi: same set, non-increasing. */
    assert_true(r.pairs_complete);
    assert_int_equal(r.n_pairs_together, c->n_pairs);
    assert_int_equal(r.n_pairs, c->n_pairs);
    for (size_t k = 0; k < r.n_pairs; k++) {
        const struct emp_corr_pair *p = &r.pairs[k];
        const struct ref_pair *want = NULL;
        for (size_t x = 0; x < c->n_pairs; x++)
            if (c->pairs[x].i == p->i && c->pairs[x].j == p->j)
                want = &c->pairs[x];
        assert_non_null(want);
        assert_int_equal(p->both_down_us, want->both_us);
        near(p->p_both, want->p_both);
        near(p->lift, want->lift);
        near_rel(p->phi, want->phi, 1e-9, "phi");
        if (k > 0)
            assert_true(rank_of(r.pairs[k - 1].phi) >= rank_of(p->phi) - 1e-12);
    }
    double best_phi[1000];
    size_t n_all = r.n_pairs;
    for (size_t k = 0; k < n_all; k++)
        best_phi[k] = rank_of(r.pairs[k].phi);

    assert_int_equal(r.n_failures, c->n_failures);
    assert_int_equal(r.n_bursts, c->bursts);
    assert_int_equal(r.largest_burst, c->largest);
    assert_int_equal(r.failures_in_bursts, c->in_bursts);
    assert_int_equal(r.failures_in_bursts_10, c->in_bursts_10);
    assert_int_equal(r.n_burst_sizes, c->n_sizes);
    for (size_t k = 0; k < c->n_sizes; k++) {
        assert_int_equal(r.burst_sizes[k].size, c->sizes[k].size);
        assert_int_equal(r.burst_sizes[k].count, c->sizes[k].count);
    }
    if (c->n_failures == 0) {
        assert_true(isnan(r.fraction_in_bursts));
    } else {
        near(r.fraction_in_bursts, (double)c->in_bursts / (double)c->n_failures);
        near(r.fraction_in_bursts_10, (double)c->in_bursts_10 / (double)c->n_failures);
    }
    emp_corr_result_cleanup(&r);

    /* Top 2 are the two best of the full ranking. */
    opt.max_pairs = 2;
    r = run(c->members, c->n, &opt);
    assert_int_equal(r.n_pairs, n_all < 2 ? n_all : 2);
    assert_int_equal(r.n_pairs_together, n_all);
    for (size_t k = 0; k < r.n_pairs; k++)
        near_rel(rank_of(r.pairs[k].phi), best_phi[k], 1e-12, "top phi");
    emp_corr_result_cleanup(&r);

    /* By lift: non-increasing lift. */
    opt.max_pairs = 1000;
    opt.rank = EMP_CORR_RANK_LIFT;
    r = run(c->members, c->n, &opt);
    for (size_t k = 1; k < r.n_pairs; k++)
        assert_true(r.pairs[k - 1].lift >= r.pairs[k].lift);
    emp_corr_result_cleanup(&r);
}

static void test_reference(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ref_cases / sizeof ref_cases[0]; i++) {
        print_message("reference case %s\n", ref_cases[i].name);
        check_ref(&ref_cases[i]);
    }
}

/* ---- bursts ----------------------------------------------------------- */

static struct emp_corr_result bursts_of(const int64_t *starts, size_t n, int64_t window_us)
{
    /* One member per failure: bursts do not care whose failure it is. */
    struct emp_corr_member m[32];
    assert_true(n <= 32);
    for (size_t i = 0; i < n; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].failure_starts = &starts[i];
        m[i].n_failures = 1;
    }
    struct emp_corr_options opt;
    emp_corr_options_init(&opt);
    opt.burst_window_us = window_us;
    return run(m, n, &opt);
}

static void test_burst_edges(void **state)
{
    (void)state;
    /* Exactly the window apart: not joined ("less than"). */
    const int64_t exact[] = {S(0), S(120)};
    struct emp_corr_result r = bursts_of(exact, 2, S(120));
    assert_int_equal(r.n_bursts, 0);
    assert_int_equal(r.largest_burst, 0);
    assert_int_equal(r.n_burst_sizes, 0);
    near(r.fraction_in_bursts, 0.0);
    emp_corr_result_cleanup(&r);

    /* One microsecond less: joined. */
    const int64_t under[] = {S(120) - 1, S(0)};
    r = bursts_of(under, 2, S(120));
    assert_int_equal(r.n_bursts, 1);
    assert_int_equal(r.largest_burst, 2);
    near(r.fraction_in_bursts, 1.0);
    emp_corr_result_cleanup(&r);

    /* A chain: each within the window of the previous, 300 s end to end;
     * then a singleton; then a pair at the same instant; then 10 in a row. */
    const int64_t chain[] = {S(0), S(100), S(200), S(300),
                             S(1000),
                             S(2000), S(2000),
                             S(5000), S(5010), S(5020), S(5030), S(5040),
                             S(5050), S(5060), S(5070), S(5080), S(5090)};
    r = bursts_of(chain, 17, S(120));
    assert_int_equal(r.n_failures, 17);
    assert_int_equal(r.n_bursts, 3);
    assert_int_equal(r.largest_burst, 10);
    assert_int_equal(r.failures_in_bursts, 16);
    assert_int_equal(r.failures_in_bursts_10, 10);
    near(r.fraction_in_bursts, 16.0 / 17);
    near(r.fraction_in_bursts_10, 10.0 / 17);
    assert_int_equal(r.n_burst_sizes, 3);
    assert_int_equal(r.burst_sizes[0].size, 2);
    assert_int_equal(r.burst_sizes[1].size, 4);
    assert_int_equal(r.burst_sizes[2].size, 10);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(r.burst_sizes[k].count, 1);
    emp_corr_result_cleanup(&r);

    /* The same with a 60 s window: the chain's 100 s steps break it. */
    r = bursts_of(chain, 17, S(60));
    assert_int_equal(r.n_bursts, 2);
    assert_int_equal(r.largest_burst, 10);
    emp_corr_result_cleanup(&r);

    /* Singletons only. */
    const int64_t lone[] = {S(0), S(1000), S(5000)};
    r = bursts_of(lone, 3, S(120));
    assert_int_equal(r.n_bursts, 0);
    assert_int_equal(r.failures_in_bursts, 0);
    near(r.fraction_in_bursts, 0.0);
    assert_null(r.burst_sizes);
    emp_corr_result_cleanup(&r);

    /* A single failure. */
    r = bursts_of(lone, 1, S(120));
    assert_int_equal(r.n_failures, 1);
    assert_int_equal(r.n_bursts, 0);
    near(r.fraction_in_bursts, 0.0);
    emp_corr_result_cleanup(&r);

    /* Negative times (before 1970) sort like any other. */
    const int64_t neg[] = {S(-50), S(-100), S(10)};
    r = bursts_of(neg, 3, S(120));
    assert_int_equal(r.n_bursts, 1);
    assert_int_equal(r.largest_burst, 3);
    emp_corr_result_cleanup(&r);
}

/* ---- empty and degenerate inputs ---------------------------------------- */

static void test_empty(void **state)
{
    (void)state;
    /* No members at all. */
    struct emp_corr_result r = run(NULL, 0, NULL);
    assert_int_equal(r.n_members, 0);
    assert_int_equal(r.n_failures, 0);
    assert_int_equal(r.n_bursts, 0);
    assert_true(isnan(r.fraction_in_bursts));
    assert_true(isnan(r.fraction_in_bursts_10));
    assert_int_equal(r.common_observed_us, 0);
    assert_true(isnan(r.observed_at_least[0]));
    assert_true(isnan(r.independent_at_least[0]));
    assert_true(isnan(r.all_down_ratio));
    assert_true(isnan(r.all_down_log10_ratio));
    assert_int_equal(r.n_pairs, 0);
    assert_int_equal(r.n_pairs_together, 0);
    emp_corr_result_cleanup(&r);
    emp_corr_result_cleanup(&r); /* twice is harmless */
    emp_corr_result_cleanup(NULL);

    /* Members that were never observed together: no common time, so every
     * k-down figure is undefined, while bursts still count. */
    const struct emp_corr_ival oa[] = {{S(0), S(10)}}, ob[] = {{S(10), S(20)}};
    const struct emp_corr_ival da[] = {{S(2), S(4)}}, db[] = {{S(12), S(14)}};
    const int64_t fa[] = {S(2)}, fb[] = {S(12)};
    const struct emp_corr_member m[] = {{oa, 1, da, 1, fa, 1}, {ob, 1, db, 1, fb, 1}};
    r = run(m, 2, NULL);
    assert_int_equal(r.common_observed_us, 0);
    for (size_t k = 0; k <= 2; k++) {
        assert_true(isnan(r.observed_at_least[k]));
        assert_true(isnan(r.independent_at_least[k]));
    }
    assert_true(isnan(r.down_fraction[0]));
    assert_true(isnan(r.all_down_ratio));
    assert_int_equal(r.n_pairs, 0);
    assert_int_equal(r.n_bursts, 1);
    emp_corr_result_cleanup(&r);

    /* A member with no observed intervals at all. */
    const struct emp_corr_member m2[] = {{oa, 1, da, 1, NULL, 0}, {NULL, 0, NULL, 0, NULL, 0}};
    r = run(m2, 2, NULL);
    assert_int_equal(r.common_observed_us, 0);
    assert_true(isnan(r.all_down_ratio));
    emp_corr_result_cleanup(&r);

    /* Observed, never down: ratio 0/0 undefined; P(K >= 1) = 0 both ways. */
    const struct emp_corr_member m3[] = {{oa, 1, NULL, 0, NULL, 0}, {oa, 1, da, 1, NULL, 0}};
    r = run(m3, 2, NULL);
    assert_int_equal(r.common_observed_us, S(10));
    near(r.observed_at_least[1], 0.2);
    near(r.independent_at_least[1], 0.2);
    near(r.observed_at_least[2], 0.0);
    near(r.independent_at_least[2], 0.0);
    assert_true(isnan(r.all_down_ratio));
    assert_true(isnan(r.all_down_log10_ratio));
    assert_int_equal(r.n_pairs, 0);
    emp_corr_result_cleanup(&r);

    /* Both down, never together: ratio 0, its log undefined, no pairs. */
    const struct emp_corr_ival dd[] = {{S(5), S(8)}};
    const struct emp_corr_member m4[] = {{oa, 1, da, 1, NULL, 0}, {oa, 1, dd, 1, NULL, 0}};
    r = run(m4, 2, NULL);
    near(r.all_down_ratio, 0.0);
    assert_true(isnan(r.all_down_log10_ratio));
    assert_int_equal(r.n_pairs_together, 0);
    emp_corr_result_cleanup(&r);

    /* Down all the time: phi undefined (an empty margin), lift defined. */
    const struct emp_corr_ival all[] = {{S(0), S(10)}};
    const struct emp_corr_member m5[] = {{oa, 1, all, 1, NULL, 0}, {oa, 1, da, 1, NULL, 0}};
    r = run(m5, 2, NULL);
    near(r.all_down_ratio, 1.0);
    assert_int_equal(r.n_pairs, 1);
    assert_true(isnan(r.pairs[0].phi));
    near(r.pairs[0].lift, 1.0);
    emp_corr_result_cleanup(&r);

    /* max_pairs 0: none returned, but counted. */
    struct emp_corr_options opt;
    emp_corr_options_init(&opt);
    opt.max_pairs = 0;
    r = run(m5, 2, &opt);
    assert_int_equal(r.n_pairs, 0);
    assert_null(r.pairs);
    assert_int_equal(r.n_pairs_together, 1);
    emp_corr_result_cleanup(&r);
}

/* Touching, overlapping and empty intervals are merged or skipped, in any
 * order. */
static void test_merging(void **state)
{
    (void)state;
    const struct emp_corr_ival o1[] = {{S(0), S(40)}, {S(40), S(40)}, {S(40), S(100)}};
    const struct emp_corr_ival o2[] = {{S(0), S(100)}};
    const struct emp_corr_ival d1[] = {{S(10), S(20)}, {S(15), S(25)}, {S(25), S(30)},
                                       {S(50), S(50)}};
    const struct emp_corr_ival d2[] = {{S(10), S(30)}};
    const struct emp_corr_member m[] = {{o1, 3, d1, 4, NULL, 0}, {o2, 1, d2, 1, NULL, 0}};
    struct emp_corr_result r = run(m, 2, NULL);
    assert_int_equal(r.common_observed_us, S(100));
    near(r.down_fraction[0], 0.2);
    near(r.observed_at_least[2], 0.2);
    assert_int_equal(r.n_pairs, 1);
    assert_int_equal(r.pairs[0].both_down_us, S(20));
    emp_corr_result_cleanup(&r);

    /* Order does not matter either. */
    const struct emp_corr_ival o1r[] = {{S(40), S(100)}, {S(40), S(40)}, {S(0), S(40)}};
    const struct emp_corr_ival d1r[] = {{S(50), S(50)}, {S(25), S(30)}, {S(15), S(25)},
                                        {S(10), S(20)}};
    const struct emp_corr_member mr[] = {{o1r, 3, d1r, 4, NULL, 0}, {o2, 1, d2, 1, NULL, 0}};
    r = run(mr, 2, NULL);
    assert_int_equal(r.common_observed_us, S(100));
    near(r.down_fraction[0], 0.2);
    assert_int_equal(r.pairs[0].both_down_us, S(20));
    emp_corr_result_cleanup(&r);
}

static void test_invalid(void **state)
{
    (void)state;
    struct emp_corr_result r;
    struct emp_error e;
    const struct emp_corr_ival ok[] = {{S(0), S(10)}};
    const struct emp_corr_ival rev[] = {{S(10), S(5)}};

    struct emp_corr_member m = {rev, 1, NULL, 0, NULL, 0};
    assert_int_equal(emp_corr_compute(&m, 1, NULL, &r, &e), EMP_EINVAL);
    assert_non_null(strstr(e.detail, "members[0].observed[0]"));
    assert_null(r.down_fraction);

    struct emp_corr_member m2[] = {{ok, 1, NULL, 0, NULL, 0}, {ok, 1, rev, 1, NULL, 0}};
    assert_int_equal(emp_corr_compute(m2, 2, NULL, &r, &e), EMP_EINVAL);
    assert_non_null(strstr(e.detail, "members[1].down[0]"));

    struct emp_corr_member m3 = {NULL, 1, NULL, 0, NULL, 0};
    assert_int_equal(emp_corr_compute(&m3, 1, NULL, &r, &e), EMP_EINVAL);
    struct emp_corr_member m4 = {ok, 1, NULL, 0, NULL, 3};
    assert_int_equal(emp_corr_compute(&m4, 1, NULL, &r, &e), EMP_EINVAL);
    assert_int_equal(emp_corr_compute(NULL, 2, NULL, &r, NULL), EMP_EINVAL);

    struct emp_corr_options opt;
    emp_corr_options_init(&opt);
    opt.burst_window_us = 0;
    assert_int_equal(emp_corr_compute(NULL, 0, &opt, &r, &e), EMP_EINVAL);
    emp_corr_options_init(&opt);
    opt.rank = (enum emp_corr_rank)7;
    assert_int_equal(emp_corr_compute(NULL, 0, &opt, &r, &e), EMP_EINVAL);

    /* Times spanning more than 2^62 us. */
    const struct emp_corr_ival wide[] = {{INT64_MIN / 2, INT64_MAX / 2}};
    struct emp_corr_member m5 = {wide, 1, NULL, 0, NULL, 0};
    assert_int_equal(emp_corr_compute(&m5, 1, NULL, &r, &e), EMP_ERANGE);
    /* Just inside the limit works. */
    const struct emp_corr_ival big[] = {{-(INT64_C(1) << 61), (INT64_C(1) << 61) - 1}};
    const struct emp_corr_ival bigd[] = {{0, INT64_C(1) << 60}};
    struct emp_corr_member m6 = {big, 1, bigd, 1, NULL, 0};
    assert_int_equal(emp_corr_compute(&m6, 1, NULL, &r, &e), EMP_OK);
    near(r.down_fraction[0], (double)(INT64_C(1) << 60) / (double)((INT64_C(1) << 62) - 1));
    emp_corr_result_cleanup(&r);
}

/* ---- Poisson-binomial ------------------------------------------------- */

static void test_poisson_binomial(void **state)
{
    (void)state;
    /* Equal p: the binomial, tail by the closed form. */
    double p[20], tail[21], work[21];
    for (size_t i = 0; i < 20; i++)
        p[i] = 0.3;
    emp_corr_poisson_binomial_tail(p, 20, tail, work);
    double acc = 0.0;
    for (int k = 20; k >= 0; k--) {
        double c = exp(lgamma(21.0) - lgamma(k + 1.0) - lgamma(21.0 - k));
        acc += c * pow(0.3, k) * pow(0.7, 20 - k);
        near_rel(tail[k], acc, 1e-12, "binomial tail");
    }
    /* Certain and impossible trials shift and cut the distribution. */
    const double q[] = {1.0, 0.0, 0.5, 1.0};
    emp_corr_poisson_binomial_tail(q, 4, tail, work);
    near(tail[0], 1.0);
    near(tail[1], 1.0);
    near(tail[2], 1.0);
    near(tail[3], 0.5);
    near(tail[4], 0.0);
    /* n = 0. */
    emp_corr_poisson_binomial_tail(NULL, 0, tail, work);
    near(tail[0], 1.0);
}

/* Many members all down together: the independent product underflows
 * double, the ratio's log does not. 400 members, each down [0,10) of
 * [0,100): observed 0.1, independent 0.1^400; log10 ratio = 399. */
static void test_underflow(void **state)
{
    (void)state;
    enum { N = 400 };
    static struct emp_corr_member m[N];
    const struct emp_corr_ival obs[] = {{S(0), S(100)}};
    const struct emp_corr_ival down[] = {{S(0), S(10)}};
    for (size_t i = 0; i < N; i++) {
        struct emp_corr_member x = {obs, 1, down, 1, NULL, 0};
        m[i] = x;
    }
    struct emp_corr_result r = run(m, N, NULL);
    near(r.observed_at_least[N], 0.1);
    assert_true(r.independent_at_least[N] == 0.0);
    near_rel(r.all_down_log10_ratio, 399.0, 1e-9, "log10 ratio");
    assert_true(isinf(r.all_down_ratio));
    assert_int_equal(r.n_pairs_together, N * (N - 1) / 2);
    assert_int_equal(r.n_pairs, 10);
    emp_corr_result_cleanup(&r);

    /* 300: 1e-300 is still a double, the ratio is finite. */
    r = run(m, 300, NULL);
    near_rel(r.all_down_ratio, 1e299, 1e-9, "ratio");
    emp_corr_result_cleanup(&r);

    /* The pair-work guard: past it no pair is reported, the rest is. */
    struct emp_corr_options opt;
    emp_corr_options_init(&opt);
    opt.max_pair_work = 1000;
    r = run(m, N, &opt);
    assert_false(r.pairs_complete);
    assert_int_equal(r.n_pairs, 0);
    assert_int_equal(r.n_pairs_together, 0);
    near(r.observed_at_least[N], 0.1);
    emp_corr_result_cleanup(&r);
}

/* A chain: member i down [i, i + 3) s of [0, n + 10): neighbours share
 * 2 s, members two apart 1 s. 3,000 members make the dense pair table
 * 36 MB against a hash of 16,384 slots, so this takes the hash; 30 the
 * dense table. Both must give the same figures. */
static void check_chain(size_t n)
{
    struct emp_corr_member *m = calloc(n, sizeof *m);
    struct emp_corr_ival *down = calloc(n, sizeof *down);
    assert_non_null(m);
    assert_non_null(down);
    struct emp_corr_ival obs = {0, S(n + 10)};
    for (size_t i = 0; i < n; i++) {
        down[i].start_us = S(i);
        down[i].end_us = S(i + 3);
        m[i].observed = &obs;
        m[i].n_observed = 1;
        m[i].down = &down[i];
        m[i].n_down = 1;
    }
    struct emp_corr_result r = run(m, n, NULL);
    assert_true(r.pairs_complete);
    assert_int_equal(r.n_pairs_together, (n - 1) + (n - 2));
    assert_int_equal(r.n_pairs, 10);
    double t = (double)(n + 10), p = 3.0 / t;
    for (size_t k = 0; k < 10; k++) {
        /* Equal phi: ties go to the lower index. */
        assert_int_equal(r.pairs[k].i, k);
        assert_int_equal(r.pairs[k].j, k + 1);
        assert_int_equal(r.pairs[k].both_down_us, S(2));
        near(r.pairs[k].lift, (2.0 / t) / (p * p));
        near_rel(r.pairs[k].phi, (2.0 / t - p * p) / (p * (1.0 - p)), 1e-9, "phi");
    }
    near(r.observed_at_least[3], (double)(n - 2) / t);
    near(r.observed_at_least[4], 0.0);
    emp_corr_result_cleanup(&r);

    struct emp_corr_options opt;
    emp_corr_options_init(&opt);
    opt.max_pairs = SIZE_MAX;
    r = run(m, n, &opt);
    assert_int_equal(r.n_pairs, (n - 1) + (n - 2));
    int64_t sum = 0;
    for (size_t k = 0; k < r.n_pairs; k++)
        sum += r.pairs[k].both_down_us;
    assert_int_equal(sum, S(2) * (int64_t)(n - 1) + S(1) * (int64_t)(n - 2));
    assert_int_equal(r.pairs[r.n_pairs - 1].both_down_us, S(1));
    emp_corr_result_cleanup(&r);
    free(m);
    free(down);
}

static void test_pair_tables(void **state)
{
    (void)state;
    check_chain(30);
    check_chain(3000);
}

/* 4,500 members, 2,600 of them down together: 3.4 million pairs, within
 * the default work guard, but the dense table would be 81 MB and the hash
 * 128 MB: past the 64 MB cap, so no pairs, and everything else. */
static void test_pair_memory_guard(void **state)
{
    (void)state;
    enum { N = 4500, DOWN = 2600 };
    struct emp_corr_member *m = calloc(N, sizeof *m);
    assert_non_null(m);
    static const struct emp_corr_ival obs = {0, S(100)}, down = {S(10), S(20)};
    for (size_t i = 0; i < N; i++) {
        m[i].observed = &obs;
        m[i].n_observed = 1;
        m[i].down = &down;
        m[i].n_down = i < DOWN ? 1 : 0;
    }
    struct emp_corr_result r = run(m, N, NULL);
    assert_false(r.pairs_complete);
    assert_int_equal(r.n_pairs, 0);
    assert_null(r.pairs);
    near(r.observed_at_least[DOWN], 0.1);
    near(r.observed_at_least[DOWN + 1], 0.0);
    assert_true(isnan(r.all_down_ratio)); /* some never down: 0/0 */
    emp_corr_result_cleanup(&r);
    free(m);
}

/* ---- failing allocations ------------------------------------------------ */

/* Fail the Nth allocation for every N until the call succeeds (SQLite's
 * habit): each failure must return EMP_ENOMEM with nothing left allocated
 * and nothing in `out`. glibc lets a program replace malloc; the wrappers
 * forward to glibc's own, and count what is live while `counting`. Not
 * under AddressSanitizer, which owns malloc itself. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ALLOC_FAULTS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ALLOC_FAULTS 0
#endif
#endif
#ifndef HAVE_ALLOC_FAULTS
#define HAVE_ALLOC_FAULTS 1
#endif

#if HAVE_ALLOC_FAULTS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static bool counting;
static long fail_in = -1; /* allocations left before one fails; -1: none */
static long live;

static bool alloc_fails(void)
{
    if (!counting || fail_in < 0)
        return false;
    return fail_in-- == 0;
}

void *malloc(size_t n)
{
    if (alloc_fails())
        return NULL;
    void *p = __libc_malloc(n);
    live += counting && p;
    return p;
}

void *calloc(size_t n, size_t size)
{
    if (alloc_fails())
        return NULL;
    void *p = __libc_calloc(n, size);
    live += counting && p;
    return p;
}

void *realloc(void *old, size_t n)
{
    if (alloc_fails())
        return NULL;
    void *p = __libc_realloc(old, n);
    live += counting && p && old == NULL;
    return p;
}

void free(void *p)
{
    live -= counting && p;
    __libc_free(p);
}
#endif

static void test_alloc_failures(void **state)
{
    (void)state;
#if HAVE_ALLOC_FAULTS
    /* hand_three_gaps with failures, bursts and pairs: every phase. */
    const struct ref_case *c = &ref_cases[1];
    struct emp_corr_result r;
    struct emp_error e;
    long n;
    for (n = 0;; n++) {
        counting = true;
        live = 0;
        fail_in = n;
        enum emp_err rc = emp_corr_compute(c->members, c->n, NULL, &r, &e);
        bool failed = fail_in < 0;
        fail_in = -1;
        if (rc == EMP_OK && n == 0) {
            counting = false;
            emp_corr_result_cleanup(&r);
            skip(); /* malloc is not ours (valgrind) */
        }
        if (rc == EMP_OK) {
            assert_false(failed);
            emp_corr_result_cleanup(&r);
            counting = false;
            assert_int_equal(live, 0);
            break;
        }
        counting = false;
        assert_int_equal(rc, EMP_ENOMEM);
        assert_int_equal(e.code, EMP_ENOMEM);
        assert_int_equal(live, 0);
        assert_null(r.down_fraction);
        assert_null(r.burst_sizes);
        assert_null(r.pairs);
    }
    print_message("%ld allocations failed one at a time\n", n);
    assert_true(n > 10);
#else
    skip();
#endif
}

/* ---- seeded simulations ------------------------------------------------- */

/* splitmix64 (Steele, Lea & Flood, OOPSLA 2014): small, seeded, portable. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int64_t rng_exp_us(uint64_t *s, double mean_us)
{
    double u = (double)(rng_next(s) >> 11) * 0x1.0p-53;
    int64_t x = (int64_t)(-mean_us * log1p(-u));
    return x > 0 ? x : 1;
}

/* Alternating up/down renewal process over [0, horizon). */
static size_t simulate(uint64_t *s, int64_t horizon, double up_mean, double down_mean,
                       struct emp_corr_ival *out, size_t cap)
{
    size_t n = 0;
    int64_t t = rng_exp_us(s, up_mean);
    while (t < horizon && n < cap) {
        int64_t d = rng_exp_us(s, down_mean);
        out[n].start_us = t;
        out[n].end_us = t + d < horizon ? t + d : horizon;
        n++;
        t += d + rng_exp_us(s, up_mean);
    }
    assert_true(t >= horizon); /* not cut short by cap */
    return n;
}

/* Union by start of two sorted lists (overlaps left to the library). */
static size_t merge_by_start(const struct emp_corr_ival *a, size_t na,
                             const struct emp_corr_ival *b, size_t nb,
                             struct emp_corr_ival *out)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        if (j >= nb || (i < na && a[i].start_us <= b[j].start_us))
            out[n++] = a[i++];
        else
            out[n++] = b[j++];
    }
    return n;
}

enum { SIM_N = 3, SIM_CAP = 60000 };

struct sim {
    struct emp_corr_ival own[SIM_N][SIM_CAP];
    struct emp_corr_ival shared[SIM_CAP];
    struct emp_corr_ival down[SIM_N][2 * SIM_CAP];
    int64_t fails[SIM_N][2 * SIM_CAP];
    struct emp_corr_member m[SIM_N];
};

/* Members down on their own (up `up_h`, down 1 h mean: p = 1 / (up_h + 1)),
 * plus, when `shared_cause`, all down together during a common process's
 * outages (up 50 h, down 1 h mean). 200,000 hours. */
static struct emp_corr_result simulate_group(struct sim *sim, uint64_t seed, double up_h,
                                             bool shared_cause)
{
    const int64_t horizon = H(200000);
    static const struct emp_corr_ival obs[] = {{0, H(200000)}};
    uint64_t s = seed;
    size_t ns = shared_cause ? simulate(&s, horizon, 50.0 * H(1), 1.0 * H(1), sim->shared,
                                        SIM_CAP)
                             : 0;
    for (size_t i = 0; i < SIM_N; i++) {
        size_t no = simulate(&s, horizon, up_h * H(1), 1.0 * H(1), sim->own[i], SIM_CAP);
        size_t nd = merge_by_start(sim->own[i], no, sim->shared, ns, sim->down[i]);
        for (size_t k = 0; k < nd; k++)
            sim->fails[i][k] = sim->down[i][k].start_us;
        struct emp_corr_member x = {obs, 1, sim->down[i], nd, sim->fails[i], nd};
        sim->m[i] = x;
    }
    return run(sim->m, SIM_N, NULL);
}

static void test_sim_independent(void **state)
{
    (void)state;
    struct sim *sim = malloc(sizeof *sim);
    assert_non_null(sim);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct emp_corr_result r = simulate_group(sim, seed, 4.0, false);
        print_message("independent seed %llu: p = %.4f %.4f %.4f, all-down ratio %.3f\n",
                      (unsigned long long)seed, r.down_fraction[0], r.down_fraction[1],
                      r.down_fraction[2], r.all_down_ratio);
        for (size_t i = 0; i < SIM_N; i++)
            near_rel(r.down_fraction[i], 0.2, 0.03, "p_i near 0.2");
        for (size_t k = 1; k <= SIM_N; k++)
            near_rel(r.observed_at_least[k] / r.independent_at_least[k], 1.0,
                     k == SIM_N ? 0.1 : 0.05, "observed/independent near 1");
        near_rel(r.all_down_ratio, 1.0, 0.1, "all-down ratio near 1");
        for (size_t k = 0; k < r.n_pairs; k++) {
            near_rel(r.pairs[k].lift, 1.0, 0.05, "lift near 1");
            near_rel(r.pairs[k].phi, 0.0, 0.02, "phi near 0");
        }
        emp_corr_result_cleanup(&r);
    }
    free(sim);
}

static void test_sim_shared_cause(void **state)
{
    (void)state;
    struct sim *sim = malloc(sizeof *sim);
    assert_non_null(sim);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct emp_corr_result r = simulate_group(sim, seed, 9.0, true);
        print_message("shared cause seed %llu: all-down ratio %.2f, top phi %.3f, "
                      "%zu of %zu failures in bursts\n",
                      (unsigned long long)seed, r.all_down_ratio, r.pairs[0].phi,
                      r.failures_in_bursts, r.n_failures);
        /* Own p = 0.1, shared 1/51: about 0.021 / 0.118^3 ~ 13. */
        assert_true(r.all_down_ratio > 5.0);
        assert_int_equal(r.n_pairs, 3);
        for (size_t k = 0; k < r.n_pairs; k++) {
            assert_true(r.pairs[k].lift > 1.5);
            assert_true(r.pairs[k].phi > 0.1);
        }
        /* Each shared outage starts three failures at the same instant. */
        assert_true(r.n_bursts > 0);
        assert_true(r.largest_burst >= 3);
        emp_corr_result_cleanup(&r);
    }
    free(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_two),
        cmocka_unit_test(test_hand_three_gaps),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_burst_edges),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_merging),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_poisson_binomial),
        cmocka_unit_test(test_underflow),
        cmocka_unit_test(test_pair_tables),
        cmocka_unit_test(test_pair_memory_guard),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_sim_independent),
        cmocka_unit_test(test_sim_shared_cause),
    };
    return cmocka_run_group_tests_name("stats_corr", tests, NULL, NULL);
}
