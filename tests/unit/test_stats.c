/* Reliability statistics against answers computed independently: published
 * chi-square tables and Kaplan–Meier/Weibull examples, the output of
 * stats_reference.py (another language, other methods: see its header),
 * hand-computed timelines and periods, and seeded simulations of
 * exponential, Weibull and lognormal processes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "analysis/stats.h"
#include "analysis/uptime.h"

#define S(x) ((int64_t)((x) * 1e6))
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Reference data (generated) ---------------------------------------- */

struct ref_chi2 {
    double p;
    int dof;
    double x;
};
struct ref_expci {
    double t;
    int r, time_terminated;
    double lo, hi;
};
struct ref_q {
    double p, v;
};
struct ref_km {
    double t, s, se;
    int at_risk, events;
};
struct ref_weibull {
    const char *name;
    double shape, scale, se_shape, lo, hi; /* lo, hi: the profile-likelihood 95% bounds */
};
#include "stats_reference.txt"

/* ---- Helpers ------------------------------------------------------------------ */

/* |a - b| <= rel·|b| + abs, both NaN counting as equal. */
static void near_(double a, double b, double rel, double abs_tol, const char *what, int line)
{
    if (isnan(a) && isnan(b))
        return;
    if (!(fabs(a - b) <= rel * fabs(b) + abs_tol)) {
        print_error("line %d: %s: got %.17g, want %.17g (rel %g, abs %g)\n", line, what, a, b,
                    rel, abs_tol);
        fail();
    }
}
#define assert_near(a, b, rel, abs_tol) near_((a), (b), (rel), (abs_tol), #a, __LINE__)
#define assert_absent(a) assert_true(isnan(a))

static struct emp_span span(double a, double b, double grace)
{
    struct emp_span s = {.started_at_us = S(a), .ended_at_us = S(b), .grace_us = S(grace)};
    return s;
}

#define ONGOING (-1.0)

static struct emp_outage outage(double a, double b)
{
    struct emp_outage o;
    memset(&o, 0, sizeof o);
    o.target_id = 1;
    o.started_at_us = S(a);
    o.ended_at_us = b == ONGOING ? 0 : S(b);
    return o;
}

/* A target's timeline and outages, owning the timeline. */
struct tgt {
    struct emp_segment *seg;
    size_t n_seg;
    struct emp_stats_target in;
};

static void tgt_build(struct tgt *t, double from, double to, double now,
                      const struct emp_span *sp, size_t ns, const struct emp_outage *o, size_t no)
{
    assert_int_equal(emp_timeline_build(S(from), S(to), S(now), sp, ns, o, no, &t->seg, &t->n_seg),
                     EMP_OK);
    t->in.seg = t->seg;
    t->in.n_seg = t->n_seg;
    t->in.outages = o;
    t->in.outage_times = NULL;
    t->in.n_outages = no;
}

static void tgt_free(struct tgt *t)
{
    free(t->seg);
    t->seg = NULL;
}

/* splitmix64 (Steele, Lea & Flood, OOPSLA 2014) seeding xoshiro256**
 * (Blackman & Vigna, "Scrambled linear pseudorandom number generators",
 * 2018): deterministic, the same on every platform. */
struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform on (0, 1). */
static double rng_unif(struct rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double rng_exp(struct rng *r, double mean)
{
    return -mean * log(rng_unif(r));
}

static double rng_weibull(struct rng *r, double shape, double scale)
{
    return scale * pow(-log(rng_unif(r)), 1.0 / shape);
}

static double rng_normal(struct rng *r)
{
    return sqrt(-2.0 * log(rng_unif(r))) * cos(6.283185307179586 * rng_unif(r));
}

/* ---- Chi-square ------------------------------------------------------------- */

static void test_chi2_published_tables(void **state)
{
    (void)state;
    /* Lower-tail probability p: P(X <= x) = p. Values as printed in the
     * usual tables (e.g. Abramowitz & Stegun Table 26.8, NIST/SEMATECH
     * e-Handbook §1.3.6.7.4), to their printed precision. */
    const struct {
        double p;
        int dof;
        double x, tol;
    } t[] = {
        {0.975, 2, 7.378, 5e-4},    {0.025, 2, 0.0506, 5e-5},  {0.975, 10, 20.483, 5e-4},
        {0.025, 10, 3.247, 5e-4},   {0.975, 100, 129.561, 5e-4}, {0.025, 100, 74.222, 5e-4},
        {0.95, 1, 3.841, 5e-4},     {0.05, 1, 0.00393, 5e-6},  {0.95, 30, 43.773, 5e-4},
        {0.99, 5, 15.086, 5e-4},    {0.01, 5, 0.554, 5e-4},    {0.5, 2, 1.386, 5e-4},
    };
    for (size_t i = 0; i < NELEM(t); i++)
        assert_near(emp_stats_chi2_quantile(t[i].p, t[i].dof), t[i].x, 0.0, t[i].tol);
    /* dof 2 has the exact form x = -2 ln(1 - p). */
    assert_near(emp_stats_chi2_quantile(0.975, 2), -2.0 * log(0.025), 1e-13, 0.0);
    assert_near(emp_stats_chi2_quantile(0.025, 2), -2.0 * log(0.975), 1e-13, 0.0);
    /* Out of range: absent. */
    assert_absent(emp_stats_chi2_quantile(0.0, 2));
    assert_absent(emp_stats_chi2_quantile(1.0, 2));
    assert_absent(emp_stats_chi2_quantile(0.5, 0));
    assert_absent(emp_stats_chi2_quantile(NAN, 3));
    assert_absent(emp_stats_chi2_cdf(1.0, -1));
    assert_near(emp_stats_chi2_cdf(0.0, 3), 0.0, 0.0, 0.0);
    assert_near(emp_stats_chi2_cdf(INFINITY, 3), 1.0, 0.0, 0.0);
}

static void test_chi2_reference(void **state)
{
    (void)state;
    for (size_t i = 0; i < NELEM(ref_chi2); i++) {
        double x = emp_stats_chi2_quantile(ref_chi2[i].p, ref_chi2[i].dof);
        assert_near(x, ref_chi2[i].x, 1e-10, 0.0);
        assert_near(emp_stats_chi2_cdf(x, ref_chi2[i].dof), ref_chi2[i].p, 1e-10, 0.0);
    }
    /* Relative precision far into the lower tail (down to 1e-200). */
    for (size_t i = 0; i < NELEM(ref_chi2_cdf); i++)
        assert_near(emp_stats_chi2_cdf(ref_chi2_cdf[i].x, ref_chi2_cdf[i].dof), ref_chi2_cdf[i].p,
                    1e-11, 0.0);
}

static void test_chi2_even_odd_paths_agree(void **state)
{
    (void)state;
    /* Even dof take the Poisson sum, any other dof the incomplete gamma:
     * at dof ± 1e-9 the two must meet. */
    const int dofs[] = {2, 4, 10, 50, 200, 2000};
    const double mult[] = {0.05, 0.3, 0.8, 1.0, 1.2, 2.0, 4.0};
    for (size_t i = 0; i < NELEM(dofs); i++) {
        for (size_t j = 0; j < NELEM(mult); j++) {
            double x = dofs[i] * mult[j] + 0.01;
            double a = emp_stats_chi2_cdf(x, dofs[i]);
            double b = emp_stats_chi2_cdf(x, dofs[i] + 1e-9);
            double c = emp_stats_chi2_cdf(x, dofs[i] - 1e-9);
            assert_near(a, (b + c) / 2.0, 1e-8, 1e-14);
        }
    }
}

static void test_exp_ci(void **state)
{
    (void)state;
    for (size_t i = 0; i < NELEM(ref_expci); i++) {
        struct emp_estimate e;
        emp_stats_exp_ci(ref_expci[i].t, (size_t)ref_expci[i].r, ref_expci[i].time_terminated,
                         0.95, &e);
        assert_near(e.lo, ref_expci[i].lo, 1e-10, 0.0);
        assert_near(e.hi, ref_expci[i].hi, 1e-10, 0.0);
        if (ref_expci[i].r == 0)
            assert_absent(e.estimate);
        else
            assert_near(e.estimate, ref_expci[i].t / ref_expci[i].r, 1e-15, 0.0);
    }
    /* Nothing observed: everything absent. */
    struct emp_estimate e;
    emp_stats_exp_ci(0.0, 0, true, 0.95, &e);
    assert_absent(e.estimate);
    assert_absent(e.lo);
    assert_absent(e.hi);
    /* No failure in 1000 h: only a lower bound, 2T/χ²(0.975; 2). */
    emp_stats_exp_ci(3.6e6, 0, true, 0.95, &e);
    assert_absent(e.estimate);
    assert_near(e.lo, 7.2e6 / 7.377758908227871, 1e-12, 0.0);
    assert_absent(e.hi);
}

/* ---- Quantiles and histograms ---------------------------------------------------- */

static void test_quantile_type7(void **state)
{
    (void)state;
    for (size_t i = 0; i < NELEM(ref_q); i++)
        assert_near(emp_stats_quantile(ref_q_data, NELEM(ref_q_data), ref_q[i].p), ref_q[i].v,
                    1e-12, 1e-12);
    const double one[] = {42.0}, two[] = {10.0, 20.0};
    assert_absent(emp_stats_quantile(one, 0, 0.5));
    assert_near(emp_stats_quantile(one, 1, 0.99), 42.0, 0.0, 0.0);
    assert_near(emp_stats_quantile(two, 2, 0.5), 15.0, 0.0, 0.0);
    assert_near(emp_stats_quantile(two, 2, 0.9), 19.0, 1e-15, 0.0);
    assert_near(emp_stats_quantile(two, 2, 0.0), 10.0, 0.0, 0.0);
    assert_near(emp_stats_quantile(two, 2, 1.0), 20.0, 0.0, 0.0);
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    assert_int_equal(emp_stats_hist_bucket(0.0), 0);
    assert_int_equal(emp_stats_hist_bucket(0.999), 0);
    assert_int_equal(emp_stats_hist_bucket(1.0), 1);
    assert_int_equal(emp_stats_hist_bucket(9.999), 1);
    assert_int_equal(emp_stats_hist_bucket(10.0), 2);
    assert_int_equal(emp_stats_hist_bucket(3600.0), 4);
    assert_int_equal(emp_stats_hist_bucket(99999999.0), 8);
    assert_int_equal(emp_stats_hist_bucket(1e8), 9);
    assert_int_equal(emp_stats_hist_bucket(1e12), 9);
    assert_int_equal(emp_stats_hist_bucket(-1.0), 0);
    assert_int_equal(emp_stats_hist_bucket(NAN), 0);
    for (int i = 0; i < EMP_STATS_HIST_BUCKETS - 1; i++)
        assert_near(emp_stats_hist_bounds_s[i], pow(10.0, i), 1e-15, 0.0);
}

/* ---- Kaplan–Meier ----------------------------------------------------------------- */

static void check_km(const struct emp_period *p, size_t n, const struct ref_km *ref, size_t nref)
{
    struct emp_km_point *km;
    size_t nk;
    assert_int_equal(emp_stats_km(p, n, 0, &km, &nk), EMP_OK);
    assert_int_equal(nk, nref);
    for (size_t i = 0; i < nk; i++) {
        assert_near(km[i].t_s, ref[i].t, 0.0, 0.0);
        assert_near(km[i].s, ref[i].s, 1e-13, 1e-15);
        assert_near(km[i].se, ref[i].se, 1e-12, 1e-15);
        assert_int_equal(km[i].at_risk, ref[i].at_risk);
        assert_int_equal(km[i].events, ref[i].events);
    }
    free(km);
}

static void test_km_6mp(void **state)
{
    (void)state;
    /* Freireich et al. (1963), 6-MP arm: the Kaplan–Meier table as
     * published (Klein & Moeschberger, Survival Analysis, 2nd ed., §4.2;
     * Kleinbaum & Klein, Survival Analysis, ch. 2), to 3 decimals. */
    const double t[] = {6, 7, 10, 13, 16, 22, 23};
    const double s[] = {0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448};
    const double se[] = {0.076, 0.087, 0.096, 0.107, 0.114, 0.128, 0.135};
    struct emp_km_point *km;
    size_t nk;
    /* Reversed order: the function sorts. */
    struct emp_period rev[NELEM(ref_6mp)];
    for (size_t i = 0; i < NELEM(ref_6mp); i++)
        rev[i] = ref_6mp[NELEM(ref_6mp) - 1 - i];
    assert_int_equal(emp_stats_km(rev, NELEM(rev), 0, &km, &nk), EMP_OK);
    assert_int_equal(nk, NELEM(t));
    for (size_t i = 0; i < nk; i++) {
        assert_near(km[i].t_s, t[i], 0.0, 0.0);
        assert_near(km[i].s, s[i], 0.0, 0.0005);
        assert_near(km[i].se, se[i], 0.0, 0.0005);
    }
    free(km);
    check_km(ref_6mp, NELEM(ref_6mp), ref_6mp_km, NELEM(ref_6mp_km));
    /* Ties of events and censorings at 3, zero times, S reaching 0 (its
     * standard error then absent). */
    check_km(ref_tie, NELEM(ref_tie), ref_tie_km, NELEM(ref_tie_km));
    /* No events: no curve. */
    struct emp_period cens[] = {{5.0, false}, {7.0, false}};
    assert_int_equal(emp_stats_km(cens, 2, 0, &km, &nk), EMP_OK);
    assert_int_equal(nk, 0);
    assert_null(km);
}

static void test_km_thinning(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct emp_period *p = malloc(N * sizeof *p);
    assert_non_null(p);
    for (int i = 0; i < N; i++) {
        p[i].t_s = i + 1;
        p[i].event = i % 3 != 0;
    }
    struct emp_km_point *full, *thin;
    size_t nf, nt;
    assert_int_equal(emp_stats_km(p, N, 0, &full, &nf), EMP_OK);
    assert_int_equal(emp_stats_km(p, N, 50, &thin, &nt), EMP_OK);
    assert_true(nt <= 50 && nt >= 40);
    assert_near(thin[nt - 1].t_s, full[nf - 1].t_s, 0.0, 0.0);
    /* Each kept point is a point of the full curve; the full curve never
     * strays more than a step (1/49) below the last kept point. */
    size_t j = 0;
    for (size_t i = 0; i < nf; i++) {
        while (j + 1 < nt && thin[j + 1].t_s <= full[i].t_s)
            j++;
        if (thin[j].t_s <= full[i].t_s)
            assert_true(thin[j].s - full[i].s <= 1.0 / 49.0 + 1e-12);
        if (thin[j].t_s == full[i].t_s)
            assert_near(thin[j].s, full[i].s, 0.0, 0.0);
    }
    free(full);
    free(thin);
    free(p);
}

/* ---- Weibull and lognormal ------------------------------------------------- */

static void check_weibull(const struct emp_period *p, size_t n, const struct ref_weibull *ref)
{
    struct emp_weibull w;
    assert_int_equal(emp_stats_weibull_fit(p, n, 0.5, &w), EMP_OK);
    /* The reference maximises the likelihood by golden section: good to
     * about 1e-8 in the shape. */
    assert_near(w.shape, ref->shape, 1e-7, 0.0);
    assert_near(w.scale_s, ref->scale, 1e-7, 0.0);
    /* The interval is where the profile likelihood falls χ²(0.95; 1)/2
     * below its maximum: the reference finds it by bisection on its own
     * golden-section profile. It is not symmetric on the log scale, as a
     * Wald interval would be (the reference's se_shape). */
    assert_near(w.shape_lo, ref->lo, 1e-6, 0.0);
    assert_near(w.shape_hi, ref->hi, 1e-6, 0.0);
    assert_true(w.shape_lo < w.shape && w.shape < w.shape_hi);
    assert_true(ref->se_shape > 0.0);
    assert_null(w.why_not);
    assert_true(w.clustered == (w.shape < 1.0));
}

static void test_weibull_reference(void **state)
{
    (void)state;
    struct emp_period bear[NELEM(ref_bearings)];
    for (size_t i = 0; i < NELEM(ref_bearings); i++) {
        bear[i].t_s = ref_bearings[i];
        bear[i].event = true;
    }
    check_weibull(bear, NELEM(bear), &ref_weibull[0]);
    /* Lieblein & Zelen's ball bearings as published: shape 2.102, scale
     * 81.88 (Lawless, Statistical Models and Methods for Lifetime Data). */
    struct emp_weibull w;
    assert_int_equal(emp_stats_weibull_fit(bear, NELEM(bear), 0.5, &w), EMP_OK);
    assert_near(w.shape, 2.102, 0.0, 0.0005);
    assert_near(w.scale_s, 81.88, 0.0, 0.005);
    assert_false(w.clustered);
    assert_int_equal(w.events, NELEM(bear));
    /* Censored: the 6-MP remission times. */
    check_weibull(ref_6mp, NELEM(ref_6mp), &ref_weibull[1]);
    /* Zero-length periods count at 0.5 s: failures cluster. */
    check_weibull(ref_zeros, NELEM(ref_zeros), &ref_weibull[2]);
    assert_int_equal(emp_stats_weibull_fit(ref_zeros, NELEM(ref_zeros), 0.5, &w), EMP_OK);
    assert_true(w.clustered);
    /* Scaling every time leaves the shape alone and scales the scale: the
     * t/t_max normalisation keeps huge times from overflowing. */
    struct emp_period big[NELEM(ref_bearings)];
    for (size_t i = 0; i < NELEM(ref_bearings); i++) {
        big[i].t_s = ref_bearings[i] * 1e250;
        big[i].event = true;
    }
    struct emp_weibull wb;
    assert_int_equal(emp_stats_weibull_fit(big, NELEM(big), 0.5, &wb), EMP_OK);
    assert_near(wb.shape, ref_weibull[0].shape, 1e-7, 0.0);
    assert_near(wb.scale_s, ref_weibull[0].scale * 1e250, 1e-7, 0.0);
}

static void test_weibull_absent(void **state)
{
    (void)state;
    struct emp_weibull w;
    /* One event: no fit. */
    struct emp_period one[] = {{10.0, true}, {50.0, false}};
    assert_int_equal(emp_stats_weibull_fit(one, 2, 0.5, &w), EMP_OK);
    assert_absent(w.shape);
    assert_absent(w.scale_s);
    assert_false(w.clustered);
    /* All events at the largest time: the likelihood has no maximum. */
    struct emp_period same[] = {{10.0, true}, {10.0, true}, {3.0, false}};
    assert_int_equal(emp_stats_weibull_fit(same, 3, 0.5, &w), EMP_OK);
    assert_absent(w.shape);
    assert_absent(w.shape_lo);
    assert_int_equal(w.events, 2);
    assert_int_equal(emp_stats_weibull_fit(NULL, 0, 0.5, &w), EMP_OK);
    assert_absent(w.shape);
    /* Fewer than five failures: no fit, and the reason (three once gave a
     * shape of 860 [271, 2731]). Five do. */
    struct emp_period few[] = {{10.0, true}, {13.0, true}, {11.5, true}, {12.2, true},
                               {30.0, false}, {9.0, true}};
    assert_int_equal(emp_stats_weibull_fit(few, 3, 0.5, &w), EMP_OK);
    assert_absent(w.shape);
    assert_absent(w.shape_hi);
    assert_string_equal(w.why_not, "fewer than 5 failures");
    assert_int_equal(emp_stats_weibull_fit(few, 5, 0.5, &w), EMP_OK);
    assert_absent(w.shape);
    assert_int_equal(w.events, 4);
    assert_int_equal(emp_stats_weibull_fit(few, 6, 0.5, &w), EMP_OK);
    assert_false(isnan(w.shape));
    assert_null(w.why_not);
}

/* Coverage of the shape's interval by simulation (fixed seed): samples of
 * 10 failures (complete, and with a fifth of periods censored at random),
 * true shapes 0.7 and 1.5; the profile-likelihood interval must hold the
 * true shape 93-97% of the time (the Wald interval it replaced: about
 * 90%). */
static void test_weibull_interval_coverage(void **state)
{
    (void)state;
    const double shapes[] = {0.7, 1.5};
    for (size_t c = 0; c < NELEM(shapes); c++) {
        for (int censored = 0; censored < 2; censored++) {
            struct rng r;
            rng_seed(&r, 4242 + c * 2 + (uint64_t)censored);
            const int runs = 4000;
            int hit = 0, fitted = 0;
            double width_log = 0.0;
            for (int run = 0; run < runs; run++) {
                struct emp_period p[16];
                size_t n = 0, events = 0;
                while (events < 10 && n < NELEM(p)) {
                    double t = rng_weibull(&r, shapes[c], 1000.0);
                    bool cut = censored && rng_unif(&r) < 0.2;
                    if (cut) /* censored at a uniform share of its length */
                        t *= rng_unif(&r);
                    p[n].t_s = t;
                    p[n].event = !cut;
                    events += !cut;
                    n++;
                }
                struct emp_weibull w;
                assert_int_equal(emp_stats_weibull_fit(p, n, 1e-9, &w), EMP_OK);
                if (isnan(w.shape))
                    continue;
                fitted++;
                hit += w.shape_lo <= shapes[c] && shapes[c] <= w.shape_hi;
                width_log += log(w.shape_hi / w.shape_lo);
            }
            double cov = (double)hit / fitted;
            print_message("shape %.1f%s, 10 failures: coverage %.3f over %d fits, mean width "
                          "x%.2f\n", shapes[c], censored ? " (a fifth censored)" : "", cov,
                          fitted, exp(width_log / fitted));
            assert_true(fitted > runs * 99 / 100);
            assert_true(cov >= 0.93 && cov <= 0.97);
        }
    }
}

static void test_lognormal(void **state)
{
    (void)state;
    struct emp_lognormal l;
    emp_stats_lognormal_fit(ref_repairs, NELEM(ref_repairs), 0.5, &l);
    assert_near(l.mu, ref_lognormal[0], 1e-13, 0.0);
    assert_near(l.sigma, ref_lognormal[1], 1e-13, 0.0);
    assert_int_equal(l.n, NELEM(ref_repairs));
    const double one[] = {60.0};
    emp_stats_lognormal_fit(one, 1, 0.5, &l);
    assert_near(l.mu, log(60.0), 1e-15, 0.0);
    assert_absent(l.sigma);
    emp_stats_lognormal_fit(NULL, 0, 0.5, &l);
    assert_absent(l.mu);
}

/* ---- Timeline ---------------------------------------------------------------- */

static void check_timeline_shape(const struct emp_segment *seg, size_t n, int64_t from, int64_t to)
{
    if (to <= from) {
        assert_int_equal(n, 0);
        return;
    }
    assert_true(n > 0);
    assert_int_equal(seg[0].start_us, from);
    assert_int_equal(seg[n - 1].end_us, to);
    for (size_t i = 0; i < n; i++) {
        assert_true(seg[i].start_us < seg[i].end_us);
        if (i > 0) {
            assert_int_equal(seg[i - 1].end_us, seg[i].start_us);
            assert_true(seg[i - 1].state != seg[i].state);
        }
    }
}

static void test_timeline_hand(void **state)
{
    (void)state;
    /* Observed 0-40 and 60-100 (live span: grace to now = 95 only), outage
     * 30-70 across the gap, a point failure at 80, an ongoing one from 90;
     * window to 120: [95, 120) is the future. */
    struct emp_span sp[] = {span(0, 40, 0), span(60, 90, 10)};
    struct emp_outage o[] = {outage(90, ONGOING), outage(30, 70), outage(80, 80)};
    struct emp_segment *seg;
    size_t n;
    assert_int_equal(emp_timeline_build(S(0), S(120), S(95), sp, 2, o, 3, &seg, &n), EMP_OK);
    const struct emp_segment want[] = {
        {S(0), S(30), EMP_SEG_UP},       {S(30), S(40), EMP_SEG_DOWN},
        {S(40), S(60), EMP_SEG_UNKNOWN}, {S(60), S(70), EMP_SEG_DOWN},
        {S(70), S(90), EMP_SEG_UP},      {S(90), S(95), EMP_SEG_DOWN},
        {S(95), S(120), EMP_SEG_UNKNOWN},
    };
    assert_int_equal(n, NELEM(want));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(seg[i].start_us, want[i].start_us);
        assert_int_equal(seg[i].end_us, want[i].end_us);
        assert_int_equal(seg[i].state, want[i].state);
    }
    struct emp_uptime u;
    emp_uptime_from_timeline(S(0), S(120), S(95), seg, n, &u);
    assert_int_equal(u.up_us, S(50));
    assert_int_equal(u.down_us, S(25));
    assert_int_equal(u.unknown_us, S(45));
    assert_int_equal(u.streak_longest_us, S(30));
    assert_int_equal(u.streak_current_us, 0);
    free(seg);
    /* Empty window: nothing; nothing observed: one unknown segment. */
    assert_int_equal(emp_timeline_build(S(5), S(5), S(10), sp, 2, o, 3, &seg, &n), EMP_OK);
    assert_int_equal(n, 0);
    assert_null(seg);
    assert_int_equal(emp_timeline_build(S(0), S(100), S(200), NULL, 0, o, 3, &seg, &n), EMP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(seg[0].state, EMP_SEG_UNKNOWN);
    free(seg);
}

static enum emp_seg_state brute_state(int64_t t, int64_t now, const struct emp_span *sp, size_t ns,
                                      const struct emp_outage *o, size_t no, int64_t end)
{
    bool obs = false, down = false;
    for (size_t i = 0; i < ns && t < end; i++) {
        int64_t a = sp[i].started_at_us, b = sp[i].ended_at_us;
        if (sp[i].grace_us > 0) { /* a span with a grace: the live one */
            int64_t g = b + sp[i].grace_us;
            g = g < now ? g : now;
            b = g > b ? g : b;
        }
        obs |= t >= a && t < b;
    }
    for (size_t i = 0; i < no && obs; i++) {
        int64_t a = o[i].started_at_us, b = o[i].ended_at_us == 0 ? now : o[i].ended_at_us;
        down |= t >= a && t < b;
    }
    return !obs ? EMP_SEG_UNKNOWN : down ? EMP_SEG_DOWN : EMP_SEG_UP;
}

static void test_timeline_random_against_brute_force(void **state)
{
    (void)state;
    struct rng r;
    rng_seed(&r, 99);
    for (int iter = 0; iter < 3000; iter++) {
        struct emp_span sp[5];
        struct emp_outage o[6];
        size_t ns = rng_next(&r) % 6, no = rng_next(&r) % 7;
        for (size_t i = 0; i < ns; i++) {
            double a = (double)(rng_next(&r) % 60) - 10;
            sp[i] = span(a, a + (double)(rng_next(&r) % 25),
                         rng_next(&r) % 3 == 0 ? (double)(rng_next(&r) % 10) : 0);
        }
        for (size_t i = 0; i < no; i++) {
            double a = (double)(rng_next(&r) % 60) - 10;
            o[i] = outage(a, rng_next(&r) % 4 == 0 ? ONGOING : a + (double)(rng_next(&r) % 15));
        }
        double from = (double)(rng_next(&r) % 20) - 5, to = from + (double)(rng_next(&r) % 50);
        double now = (double)(rng_next(&r) % 70);
        struct emp_segment *seg;
        size_t n;
        assert_int_equal(emp_timeline_build(S(from), S(to), S(now), sp, ns, o, no, &seg, &n),
                         EMP_OK);
        check_timeline_shape(seg, n, S(from), S(to));
        int64_t end = S(to) < S(now) ? S(to) : S(now);
        size_t k = 0;
        for (double t = from; t < to; t += 1.0) {
            while (seg[k].end_us <= S(t))
                k++;
            assert_int_equal(seg[k].state, brute_state(S(t), S(now), sp, ns, o, no, end));
        }
        /* The uptime figures are the same either way. */
        struct emp_uptime u1, u2;
        assert_int_equal(emp_uptime_compute(S(from), S(to), S(now), sp, ns, o, no, &u1), EMP_OK);
        emp_uptime_from_timeline(S(from), S(to), S(now), seg, n, &u2);
        assert_memory_equal(&u1, &u2, offsetof(struct emp_uptime, availability));
        assert_int_equal(u1.streak_current_us, u2.streak_current_us);
        assert_int_equal(u1.streak_longest_us, u2.streak_longest_us);
        assert_true(isnan(u1.availability) ? isnan(u2.availability)
                                           : u1.availability == u2.availability);
        free(seg);
    }
}

/* ---- Periods ------------------------------------------------------------------ */

static void get_periods(struct tgt *t, size_t nt, double from, double to, struct emp_periods *p)
{
    struct emp_stats_target in[8];
    assert_true(nt <= NELEM(in));
    for (size_t i = 0; i < nt; i++)
        in[i] = t[i].in;
    assert_int_equal(emp_stats_periods(in, nt, S(from), S(to), p), EMP_OK);
}

/* Expect the TTF periods (in order of the output) and the TTRs. */
static void check_ttf(const struct emp_periods *p, const struct emp_period *want, size_t n)
{
    assert_int_equal(p->n_ttf, n);
    /* Compare as multisets: sort both by (t, event). */
    struct emp_period *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b);
    memcpy(a, p->ttf, n * sizeof *a);
    memcpy(b, want, n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (a[j].t_s < a[i].t_s || (a[j].t_s == a[i].t_s && a[j].event > a[i].event)) {
                struct emp_period x = a[i];
                a[i] = a[j];
                a[j] = x;
            }
            if (b[j].t_s < b[i].t_s || (b[j].t_s == b[i].t_s && b[j].event > b[i].event)) {
                struct emp_period x = b[i];
                b[i] = b[j];
                b[j] = x;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        assert_near(a[i].t_s, b[i].t_s, 0.0, 1e-9);
        assert_int_equal(a[i].event, b[i].event);
    }
    free(a);
    free(b);
}

static void check_ttr(const struct emp_periods *p, const double *want, size_t n)
{
    assert_int_equal(p->n_ttr, n);
    for (size_t i = 0; i < n; i++)
        assert_near(p->ttr_s[i], want[i], 0.0, 1e-9);
}

static void test_periods_continuous(void **state)
{
    (void)state;
    /* Observed throughout. An outage, two point failures at one instant,
     * two touching outages (repaired and failed at 520), one ongoing. */
    struct emp_span sp[] = {span(0, 1000, 0)};
    struct emp_outage o[] = {outage(900, ONGOING), outage(520, 600), outage(100, 150),
                             outage(300, 300), outage(500, 520), outage(300, 300)};
    struct tgt t;
    tgt_build(&t, 0, 1000, 2000, sp, 1, o, NELEM(o));
    struct emp_periods p;
    get_periods(&t, 1, 0, 1000, &p);
    assert_int_equal(p.failures, 6);
    assert_int_equal(p.repairs, 5);
    assert_int_equal(p.starts_unobserved, 0);
    assert_int_equal(p.down_censored, 1);
    assert_int_equal(p.ttr_censored, 1);
    const struct emp_period ttf[] = {{100, true}, {150, true}, {0, true},
                                     {200, true}, {0, true},   {300, true}};
    check_ttf(&p, ttf, NELEM(ttf));
    const double ttr[] = {50, 0, 0, 20, 80};
    check_ttr(&p, ttr, NELEM(ttr));
    emp_periods_cleanup(&p);

    /* The report over it: MTTF = 750/6, MTTR = 250/5, time-terminated
     * MTTR (the window ends down). */
    struct emp_reliability r;
    assert_int_equal(emp_stats_reliability(&t.in, 1, S(0), S(1000), S(2000), NULL, &r), EMP_OK);
    assert_int_equal(r.failures, 6);
    assert_int_equal(r.repairs, 5);
    assert_near(r.up_s, 750, 0, 0);
    assert_near(r.down_s, 250, 0, 0);
    assert_near(r.mttf_s.estimate, 125.0, 1e-13, 0);
    assert_near(r.mttf_s.lo, 1500.0 / emp_stats_chi2_quantile(0.975, 14), 1e-13, 0);
    assert_near(r.mttf_s.hi, 1500.0 / emp_stats_chi2_quantile(0.025, 12), 1e-13, 0);
    assert_true(r.mttr_time_terminated);
    assert_near(r.mttr_s.estimate, 50.0, 1e-13, 0);
    assert_near(r.mttr_s.lo, 500.0 / emp_stats_chi2_quantile(0.975, 12), 1e-13, 0);
    assert_near(r.mttr_s.hi, 500.0 / emp_stats_chi2_quantile(0.025, 10), 1e-13, 0);
    assert_near(r.mtbf_s, 175.0, 1e-13, 0);
    /* TTF {0, 0, 100, 150, 200, 300}, type 7. */
    assert_int_equal(r.ttf.n, 6);
    assert_int_equal(r.ttf.n_censored, 0);
    assert_int_equal(r.ttf.n_zero, 2);
    assert_near(r.ttf.p50_s, 125.0, 1e-13, 0);
    assert_near(r.ttf.p90_s, 250.0, 1e-13, 0);
    assert_near(r.ttf.p99_s, 295.0, 1e-13, 0);
    assert_near(r.ttf.max_s, 300.0, 0, 0);
    assert_int_equal(r.ttf.hist[0], 2);
    assert_int_equal(r.ttf.hist[3], 4);
    /* TTR {0, 0, 20, 50, 80}. */
    assert_int_equal(r.ttr.n, 5);
    assert_int_equal(r.ttr.n_censored, 1);
    assert_near(r.ttr.p50_s, 20.0, 0, 0);
    assert_int_equal(r.ttr.hist[0], 2);
    assert_int_equal(r.ttr.hist[2], 3);
    double mu = (2 * log(0.5) + log(20) + log(50) + log(80)) / 5;
    assert_near(r.lognormal_ttr.mu, mu, 1e-14, 0);
    /* Survival: events only, at 0 (2 of 6), 100, 150, 200, 300. */
    assert_int_equal(r.n_survival, 5);
    assert_near(r.survival[0].s, 4.0 / 6.0, 1e-13, 0);
    assert_near(r.survival[4].s, 0.0, 0, 0);
    assert_absent(r.survival[4].se);
    assert_int_equal(r.weibull.events, 6);
    assert_false(isnan(r.weibull.shape));
    assert_int_equal(r.uptime.up_us, S(750));
    assert_int_equal(r.uptime.streak_longest_us, S(350));
    assert_int_equal(r.uptime.streak_current_us, 0);
    /* The same from times only (what a group query fetches). */
    struct emp_outage_time ot[NELEM(o)];
    for (size_t i = 0; i < NELEM(o); i++) {
        ot[i].target_id = 1;
        ot[i].started_at_us = o[i].started_at_us;
        ot[i].ended_at_us = o[i].ended_at_us;
    }
    struct emp_stats_target in2 = {t.seg, t.n_seg, NULL, ot, NELEM(ot)};
    struct emp_reliability r2;
    assert_int_equal(emp_stats_reliability(&in2, 1, S(0), S(1000), S(2000), NULL, &r2), EMP_OK);
    assert_int_equal(r2.failures, r.failures);
    assert_int_equal(r2.repairs, r.repairs);
    assert_near(r2.mttf_s.lo, r.mttf_s.lo, 0, 0);
    assert_near(r2.weibull.shape, r.weibull.shape, 0, 0);
    assert_int_equal(r2.n_survival, r.n_survival);
    emp_reliability_cleanup(&r2);
    emp_reliability_cleanup(&r);
    tgt_free(&t);
}

static void test_periods_unknown_time(void **state)
{
    (void)state;
    /* Observed 0-400, 600-900 and 950-1000. Outage 350-650 across the
     * first gap: a failure and a repair, but no TTR sample. 800-850
     * complete. 910-940 unseen entirely. */
    struct emp_span sp3[] = {span(0, 400, 0), span(600, 900, 0), span(950, 1000, 0)};
    struct emp_outage o[] = {outage(350, 650), outage(800, 850), outage(910, 940)};
    struct tgt t;
    tgt_build(&t, 0, 1000, 2000, sp3, 3, o, NELEM(o));
    struct emp_periods p;
    get_periods(&t, 1, 0, 1000, &p);
    assert_int_equal(p.failures, 2);
    assert_int_equal(p.repairs, 2);
    assert_int_equal(p.starts_unobserved, 1);
    assert_int_equal(p.down_censored, 1); /* 350-400 runs into unknown */
    assert_int_equal(p.ttr_censored, 2);
    const struct emp_period ttf[] = {{350, true}, {150, true}, {50, false}, {50, false}};
    check_ttf(&p, ttf, NELEM(ttf));
    const double ttr[] = {50};
    check_ttr(&p, ttr, NELEM(ttr));
    emp_periods_cleanup(&p);
    tgt_free(&t);

    struct emp_span sp[] = {span(0, 400, 0), span(600, 1000, 0)};
    /* A prober restart whose first probe fails: seen starting, so a
     * failure of the window, but it ends no observed up period (no TTF
     * event); its down time and repair count. */
    struct emp_outage o2[] = {outage(600, 620)};
    tgt_build(&t, 0, 1000, 2000, sp, 2, o2, 1);
    get_periods(&t, 1, 0, 1000, &p);
    assert_int_equal(p.failures, 1);
    assert_int_equal(p.starts_unobserved, 0);
    assert_int_equal(p.repairs, 1);
    const struct emp_period ttf2[] = {{400, false}, {380, false}};
    check_ttf(&p, ttf2, NELEM(ttf2));
    check_ttr(&p, NULL, 0);
    assert_int_equal(p.ttr_censored, 1);
    emp_periods_cleanup(&p);
    struct emp_reliability r;
    assert_int_equal(emp_stats_reliability(&t.in, 1, S(0), S(1000), S(2000), NULL, &r), EMP_OK);
    /* One failure in 780 s of observed up time (time-terminated). */
    assert_near(r.mttf_s.estimate, 780.0, 1e-13, 0);
    assert_near(r.mttf_s.lo, 2 * 780.0 / emp_stats_chi2_quantile(0.975, 4), 1e-13, 0);
    assert_near(r.mttf_s.hi, 2 * 780.0 / emp_stats_chi2_quantile(0.025, 2), 1e-13, 0);
    assert_near(r.mttr_s.estimate, 20.0, 1e-13, 0);
    assert_false(r.mttr_time_terminated);
    assert_near(r.mttr_s.lo, 40.0 / emp_stats_chi2_quantile(0.975, 2), 1e-13, 0);
    assert_near(r.mtbf_s, 800.0, 1e-13, 0);
    assert_int_equal(r.ttf.n, 0);
    assert_absent(r.ttf.p50_s);
    assert_int_equal(r.ttf.n_censored, 2);
    assert_int_equal(r.n_survival, 0);
    assert_absent(r.weibull.shape);
    emp_reliability_cleanup(&r);
    tgt_free(&t);

    /* A point failure at the last probe before a gap ends that up period. */
    struct emp_outage o3[] = {outage(400, 400)};
    tgt_build(&t, 0, 1000, 2000, sp, 2, o3, 1);
    get_periods(&t, 1, 0, 1000, &p);
    assert_int_equal(p.failures, 1);
    assert_int_equal(p.repairs, 1);
    const struct emp_period ttf3[] = {{400, true}, {400, false}};
    check_ttf(&p, ttf3, NELEM(ttf3));
    const double ttr3[] = {0};
    check_ttr(&p, ttr3, 1);
    emp_periods_cleanup(&p);
    tgt_free(&t);
}

static void test_periods_window_edges(void **state)
{
    (void)state;
    /* Window 100-900 inside continuous observation: an outage from before
     * (its repair counts, it is no TTR sample), one running past the end,
     * one starting exactly at `from` in a second target. */
    struct emp_span sp[] = {span(0, 1000, 0)};
    struct emp_outage o[] = {outage(50, 150), outage(850, 950)};
    struct emp_outage o2[] = {outage(100, 120), outage(500, 500)};
    struct tgt t[2];
    tgt_build(&t[0], 100, 900, 2000, sp, 1, o, 2);
    tgt_build(&t[1], 100, 900, 2000, sp, 1, o2, 2);
    struct emp_periods p;
    get_periods(&t[0], 1, 100, 900, &p);
    assert_int_equal(p.failures, 1);
    assert_int_equal(p.repairs, 1);
    assert_int_equal(p.ttr_censored, 2);
    assert_int_equal(p.down_censored, 1);
    const struct emp_period ttf[] = {{700, true}};
    check_ttf(&p, ttf, 1);
    emp_periods_cleanup(&p);
    /* Pooled with the second target. */
    get_periods(t, 2, 100, 900, &p);
    assert_int_equal(p.failures, 3); /* the one at `from` was seen starting */
    assert_int_equal(p.starts_unobserved, 0);
    assert_int_equal(p.repairs, 3);
    const struct emp_period ttf2[] = {{700, true}, {380, true}, {400, false}};
    check_ttf(&p, ttf2, NELEM(ttf2));
    emp_periods_cleanup(&p);
    struct emp_stats_target in[2] = {t[0].in, t[1].in};
    struct emp_reliability r;
    assert_int_equal(emp_stats_reliability(in, 2, S(100), S(900), S(2000), NULL, &r), EMP_OK);
    assert_int_equal(r.n_targets, 2);
    assert_near(r.up_s, 700 + 780, 0, 0);
    assert_near(r.down_s, 100 + 20, 0, 0);
    assert_near(r.uptime.coverage, 1.0, 1e-13, 0);
    assert_near(r.uptime.availability, 1480.0 / 1600.0, 1e-13, 0);
    /* A point failure does not break an uptime streak (as in
     * emp_uptime_compute): it has no down time. */
    assert_int_equal(r.uptime.streak_longest_us, S(780));
    assert_int_equal(r.uptime.streak_current_us, S(780));
    assert_near(r.mttf_s.estimate, 1480.0 / 3, 1e-13, 0);
    assert_near(r.mttr_s.estimate, 40.0, 1e-13, 0);
    emp_reliability_cleanup(&r);
    tgt_free(&t[0]);
    tgt_free(&t[1]);
}

static void test_periods_live_and_merged(void **state)
{
    (void)state;
    /* Asked at 600 for [0, 1000): an outage opened at 600 (now) ends the
     * up period; the future is not a censored up period. */
    struct emp_span sp[] = {span(0, 590, 15)};
    struct emp_outage o[] = {outage(600, ONGOING)};
    struct tgt t;
    tgt_build(&t, 0, 1000, 600, sp, 1, o, 1);
    struct emp_periods p;
    get_periods(&t, 1, 0, 1000, &p);
    assert_int_equal(p.failures, 1);
    assert_int_equal(p.repairs, 0);
    assert_int_equal(p.ttr_censored, 1);
    const struct emp_period ttf[] = {{600, true}};
    check_ttf(&p, ttf, 1);
    emp_periods_cleanup(&p);
    struct emp_reliability r;
    assert_int_equal(emp_stats_reliability(&t.in, 1, S(0), S(1000), S(600), NULL, &r), EMP_OK);
    assert_near(r.mttf_s.estimate, 600.0, 0, 0);
    assert_absent(r.mttr_s.estimate);
    assert_absent(r.mttr_s.lo);
    assert_absent(r.mtbf_s);
    emp_reliability_cleanup(&r);
    tgt_free(&t);

    /* Overlapping outages (two probers' records, a point failure inside
     * and one at the start of a longer outage) are one failure. */
    struct emp_span sp2[] = {span(0, 1000, 0)};
    struct emp_outage o2[] = {outage(100, 200), outage(150, 250), outage(180, 180),
                              outage(300, 350), outage(300, 300), outage(700, 650)};
    tgt_build(&t, 0, 1000, 2000, sp2, 1, o2, NELEM(o2));
    get_periods(&t, 1, 0, 1000, &p);
    assert_int_equal(p.failures, 2);
    assert_int_equal(p.repairs, 2);
    const struct emp_period ttf2[] = {{100, true}, {50, true}, {650, false}};
    check_ttf(&p, ttf2, NELEM(ttf2));
    const double ttr2[] = {150, 50};
    check_ttr(&p, ttr2, 2);
    emp_periods_cleanup(&p);
    tgt_free(&t);
}

static void test_reliability_empty(void **state)
{
    (void)state;
    /* Nothing observed: all unknown, everything absent, no allocation. */
    struct emp_outage o[] = {outage(10, 20)};
    struct tgt t;
    tgt_build(&t, 0, 100, 1000, NULL, 0, o, 1);
    struct emp_reliability r;
    assert_int_equal(emp_stats_reliability(&t.in, 1, S(0), S(100), S(1000), NULL, &r), EMP_OK);
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.repairs, 0);
    assert_int_equal(r.uptime.unknown_us, S(100));
    assert_absent(r.uptime.availability);
    assert_absent(r.mttf_s.estimate);
    assert_absent(r.mttf_s.lo);
    assert_absent(r.mttf_s.hi);
    assert_absent(r.mttr_s.estimate);
    assert_absent(r.mtbf_s);
    assert_absent(r.ttf.p50_s);
    assert_absent(r.ttr.p99_s);
    assert_absent(r.weibull.shape);
    assert_absent(r.lognormal_ttr.mu);
    assert_null(r.survival);
    emp_reliability_cleanup(&r);
    tgt_free(&t);
    /* Up all the time: MTTF has only its lower bound. */
    struct emp_span sp[] = {span(0, 100, 0)};
    tgt_build(&t, 0, 100, 1000, sp, 1, NULL, 0);
    assert_int_equal(emp_stats_reliability(&t.in, 1, S(0), S(100), S(1000), NULL, &r), EMP_OK);
    assert_absent(r.mttf_s.estimate);
    assert_near(r.mttf_s.lo, 200.0 / emp_stats_chi2_quantile(0.975, 2), 1e-13, 0);
    assert_absent(r.mttf_s.hi);
    assert_int_equal(r.ttf.n_censored, 1);
    assert_near(r.uptime.availability, 1.0, 0, 0);
    emp_reliability_cleanup(&r);
    tgt_free(&t);
    /* Reversed window; no targets. */
    assert_int_equal(emp_stats_reliability(NULL, 0, S(10), S(5), S(1000), NULL, &r), EMP_OK);
    assert_absent(r.mttf_s.estimate);
    emp_reliability_cleanup(&r);
    assert_int_equal(emp_stats_reliability(NULL, 0, S(0), S(5), S(1000), NULL, &r), EMP_OK);
    assert_int_equal(r.failures, 0);
    emp_reliability_cleanup(&r);
    emp_reliability_cleanup(NULL);
}

/* A target whose very first probe failed: the failure counts, but no up
 * time was observed, so MTTF and its interval are absent, not 0 [0, 0]
 * (issue 13, item 10). Once up time is seen, MTTF = up / failures. */
static void test_reliability_down_from_first_probe(void **state)
{
    (void)state;
    /* Down from the first probe, still down; from before the first probe
     * (unknown, then down) and from the first probe itself. */
    const double froms[] = {0, 100};
    for (size_t i = 0; i < NELEM(froms); i++) {
        struct emp_span sp[] = {span(100, 1000, 0)};
        struct emp_outage o[] = {outage(100, ONGOING)};
        struct tgt t;
        tgt_build(&t, froms[i], 1000, 1000, sp, 1, o, 1);
        struct emp_reliability r;
        assert_int_equal(
            emp_stats_reliability(&t.in, 1, S(froms[i]), S(1000), S(1000), NULL, &r), EMP_OK);
        assert_int_equal(r.failures, 1);
        assert_int_equal(r.uptime.up_us, 0);
        assert_near(r.uptime.availability, 0.0, 0, 0);
        assert_absent(r.mttf_s.estimate);
        assert_absent(r.mttf_s.lo);
        assert_absent(r.mttf_s.hi);
        assert_absent(r.mtbf_s);
        assert_absent(r.mttr_s.estimate);
        emp_reliability_cleanup(&r);
        tgt_free(&t);
    }
    /* A group whose members were all down from their first probes: the
     * pooled figures follow the same rule. */
    struct emp_span sp[] = {span(0, 300, 0)};
    struct emp_outage o[] = {outage(0, ONGOING)};
    struct tgt t, t2;
    tgt_build(&t, 0, 300, 300, sp, 1, o, 1);
    tgt_build(&t2, 0, 300, 300, sp, 1, o, 1);
    struct emp_stats_target in[2] = {t.in, t2.in};
    struct emp_reliability r;
    assert_int_equal(emp_stats_reliability(in, 2, S(0), S(300), S(300), NULL, &r), EMP_OK);
    assert_int_equal(r.failures, 2);
    assert_absent(r.mttf_s.estimate);
    assert_absent(r.mttf_s.lo);
    assert_absent(r.mttf_s.hi);
    emp_reliability_cleanup(&r);
    tgt_free(&t);
    tgt_free(&t2);
    /* Down from the first probe, repaired at 300, then up: MTTF = 700 s
     * of up time / 1 failure. */
    struct emp_span sp2[] = {span(0, 1000, 0)};
    struct emp_outage o2[] = {outage(0, 300)};
    tgt_build(&t, 0, 1000, 1000, sp2, 1, o2, 1);
    assert_int_equal(emp_stats_reliability(&t.in, 1, S(0), S(1000), S(1000), NULL, &r), EMP_OK);
    assert_int_equal(r.failures, 1);
    assert_int_equal(r.repairs, 1);
    assert_near(r.mttf_s.estimate, 700.0, 1e-13, 0);
    assert_near(r.mttf_s.lo, 1400.0 / emp_stats_chi2_quantile(0.975, 4), 1e-13, 0);
    assert_near(r.mttf_s.hi, 1400.0 / emp_stats_chi2_quantile(0.025, 2), 1e-13, 0);
    assert_near(r.mttr_s.estimate, 300.0, 1e-13, 0);
    emp_reliability_cleanup(&r);
    tgt_free(&t);
}

/* Random timelines: the accounting identities hold whatever the input. */
static void test_periods_random_invariants(void **state)
{
    (void)state;
    struct rng r;
    rng_seed(&r, 2024);
    for (int iter = 0; iter < 3000; iter++) {
        struct emp_span sp[4];
        struct emp_outage o[8];
        size_t ns = rng_next(&r) % 5, no = rng_next(&r) % 9;
        double a = -20;
        for (size_t i = 0; i < ns; i++) {
            a += (double)(rng_next(&r) % 15);
            double b = a + (double)(rng_next(&r) % 60);
            sp[i] = span(a, b, rng_next(&r) % 3 == 0 ? 5 : 0);
            a = b;
        }
        for (size_t i = 0; i < no; i++) {
            double s = (double)(rng_next(&r) % 120) - 10;
            uint64_t k = rng_next(&r) % 6;
            o[i] = outage(s, k == 0 ? ONGOING : k == 1 ? s : s + (double)(rng_next(&r) % 20));
        }
        double from = (double)(rng_next(&r) % 30) - 10, to = from + 1 + (double)(rng_next(&r) % 100);
        double now = (double)(rng_next(&r) % 150);
        struct tgt t;
        tgt_build(&t, from, to, now, sp, ns, o, no);
        struct emp_reliability rel;
        assert_int_equal(emp_stats_reliability(&t.in, 1, S(from), S(to), S(now), NULL, &rel),
                         EMP_OK);
        struct emp_periods p;
        get_periods(&t, 1, from, to, &p);
        double sum = 0;
        size_t events = 0;
        for (size_t i = 0; i < p.n_ttf; i++) {
            sum += p.ttf[i].t_s;
            events += p.ttf[i].event;
            assert_true(p.ttf[i].t_s > 0 || p.ttf[i].event);
        }
        assert_near(sum, rel.up_s, 0, 1e-6);
        assert_true(events <= p.failures); /* a failure after unknown time ends no period */
        assert_true(p.n_ttr <= p.repairs && p.n_ttr <= p.failures);
        double down = 0;
        for (size_t i = 0; i < p.n_ttr; i++)
            down += p.ttr_s[i];
        assert_true(down <= rel.down_s + 1e-6);
        assert_true(p.failures + p.starts_unobserved <= no);
        assert_int_equal(rel.ttf.n + rel.ttf.n_censored, p.n_ttf);
        emp_periods_cleanup(&p);
        emp_reliability_cleanup(&rel);
        tgt_free(&t);
    }
}

/* ---- Simulations ------------------------------------------------------------- */

enum dist { D_EXP, D_WEIBULL, D_LOGNORMAL };
struct law {
    enum dist d;
    double a, b; /* exp: mean; Weibull: shape, scale; lognormal: mu, sigma */
};

static double draw(struct rng *r, struct law l)
{
    switch (l.d) {
    case D_EXP:
        return rng_exp(r, l.a);
    case D_WEIBULL:
        return rng_weibull(r, l.a, l.b);
    case D_LOGNORMAL:
        return exp(l.a + l.b * rng_normal(r));
    }
    return 0;
}

/* One simulated target over [0, w): an alternating up/down process started
 * well before 0 (so the window opens in a typical state), observed through
 * spans with random monitor gaps (mean gap_mean s, none when 0). Arrays
 * grow as needed; the caller frees them. */
struct sim {
    struct emp_outage *o;
    size_t no, cap_o;
    struct emp_span *sp;
    size_t ns, cap_s;
};

static void sim_push_outage(struct sim *s, double a, double b)
{
    if (s->no == s->cap_o) {
        s->cap_o = s->cap_o ? 2 * s->cap_o : 64;
        s->o = realloc(s->o, s->cap_o * sizeof *s->o);
        assert_non_null(s->o);
    }
    memset(&s->o[s->no], 0, sizeof s->o[0]);
    s->o[s->no].started_at_us = S(a);
    s->o[s->no].ended_at_us = S(b);
    s->no++;
}

static void sim_push_span(struct sim *s, double a, double b)
{
    if (s->ns == s->cap_s) {
        s->cap_s = s->cap_s ? 2 * s->cap_s : 16;
        s->sp = realloc(s->sp, s->cap_s * sizeof *s->sp);
        assert_non_null(s->sp);
    }
    s->sp[s->ns++] = span(a, b, 0);
}

static void simulate(struct rng *r, struct sim *s, double w, struct law up, struct law down,
                     double burn, double gap_mean, double obs_mean)
{
    s->no = s->ns = 0;
    double t = -burn;
    while (t < w) {
        double a = t + draw(r, up);
        if (a >= w)
            break;
        double b = a + draw(r, down);
        /* Outages that end after the window stay open. */
        sim_push_outage(s, a, b);
        t = b;
    }
    if (gap_mean <= 0) {
        sim_push_span(s, -burn, w + 1);
        return;
    }
    double a = -burn;
    while (a < w) {
        double b = a + rng_exp(r, obs_mean);
        sim_push_span(s, a, b);
        a = b + rng_exp(r, gap_mean);
    }
}

static void test_sim_exponential_coverage(void **state)
{
    (void)state;
    /* MTTF 1 h, MTTR 5 min, a window of about 100 failures; half the
     * windows seen through a monitor with gaps (mean 30 min every ~11 h).
     * The 95% intervals must cover the truth in 93–97% of 2,000 windows. */
    const struct law up = {D_EXP, 3600.0, 0}, down = {D_EXP, 300.0, 0};
    const double w = 100.0 * 3900.0;
    const int n_win = 2000;
    struct rng r;
    rng_seed(&r, 20240601);
    struct sim s = {0};
    int cover_f = 0, cover_r = 0;
    double sum_f = 0, sum_r = 0;
    for (int i = 0; i < n_win; i++) {
        simulate(&r, &s, w, up, down, 20000.0, i % 2 ? 1800.0 : 0.0, 40000.0);
        struct tgt t;
        tgt_build(&t, 0, w, w + 1e6, s.sp, s.ns, s.o, s.no);
        struct emp_reliability rel;
        assert_int_equal(emp_stats_reliability(&t.in, 1, 0, S(w), S(w + 1e6), NULL, &rel),
                         EMP_OK);
        cover_f += rel.mttf_s.lo <= up.a && up.a <= rel.mttf_s.hi;
        cover_r += rel.mttr_s.lo <= down.a && down.a <= rel.mttr_s.hi;
        sum_f += rel.mttf_s.estimate;
        sum_r += rel.mttr_s.estimate;
        emp_reliability_cleanup(&rel);
        tgt_free(&t);
    }
    double cf = (double)cover_f / n_win, cr = (double)cover_r / n_win;
    print_message("exponential: MTTF covered %.2f%%, MTTR covered %.2f%%, mean MTTF %.1f, "
                  "mean MTTR %.2f\n", 100 * cf, 100 * cr, sum_f / n_win, sum_r / n_win);
    assert_true(cf >= 0.93 && cf <= 0.97);
    assert_true(cr >= 0.93 && cr <= 0.97);
    assert_near(sum_f / n_win, up.a, 0.02, 0);
    assert_near(sum_r / n_win, down.a, 0.02, 0);
    free(s.o);
    free(s.sp);
}

/* A pool of targets with Weibull up times and lognormal repairs. */
static void sim_pool(uint64_t seed, struct law up, struct law down, struct emp_reliability *rel)
{
    enum { NT = 20 };
    const double w = 1e7;
    struct rng r;
    rng_seed(&r, seed);
    struct sim s[NT];
    struct tgt t[NT];
    struct emp_stats_target in[NT];
    memset(s, 0, sizeof s);
    for (int i = 0; i < NT; i++) {
        simulate(&r, &s[i], w, up, down, 2e5, i % 4 == 0 ? 3600.0 : 0.0, 5e5);
        tgt_build(&t[i], 0, w, w, s[i].sp, s[i].ns, s[i].o, s[i].no);
        in[i] = t[i].in;
    }
    struct emp_stats_opts opts;
    emp_stats_opts_default(&opts);
    opts.survival_max_points = 200;
    assert_int_equal(emp_stats_reliability(in, NT, 0, S(w), S(w), &opts, rel), EMP_OK);
    for (int i = 0; i < NT; i++) {
        tgt_free(&t[i]);
        free(s[i].o);
        free(s[i].sp);
    }
}

/* S(t) of the Kaplan–Meier curve at t (1 before the first event). */
static double km_at(const struct emp_reliability *rel, double t)
{
    double s = 1.0;
    for (size_t i = 0; i < rel->n_survival && rel->survival[i].t_s <= t; i++)
        s = rel->survival[i].s;
    return s;
}

static void test_sim_weibull_lognormal(void **state)
{
    (void)state;
    const struct {
        double shape, scale, mu, sigma;
    } cases[] = {{0.7, 20000.0, 4.8, 1.0}, {2.0, 30000.0, 6.0, 0.5}, {1.0, 10000.0, 3.0, 1.5}};
    for (size_t c = 0; c < NELEM(cases); c++) {
        struct law up = {D_WEIBULL, cases[c].shape, cases[c].scale};
        struct law down = {D_LOGNORMAL, cases[c].mu, cases[c].sigma};
        struct emp_reliability rel;
        sim_pool(1000 + c, up, down, &rel);
        print_message("weibull k=%.2f λ=%.0f: n=%zu shape %.4f [%.4f, %.4f] scale %.1f; "
                      "lognormal mu %.4f sigma %.4f (n=%zu)\n",
                      cases[c].shape, cases[c].scale, rel.weibull.events, rel.weibull.shape,
                      rel.weibull.shape_lo, rel.weibull.shape_hi, rel.weibull.scale_s,
                      rel.lognormal_ttr.mu, rel.lognormal_ttr.sigma, rel.lognormal_ttr.n);
        assert_true(rel.weibull.events > 3000);
        assert_near(rel.weibull.shape, cases[c].shape, 0.05, 0);
        assert_near(rel.weibull.scale_s, cases[c].scale, 0.05, 0);
        assert_true(rel.weibull.shape_lo < rel.weibull.shape && rel.weibull.shape < rel.weibull.shape_hi);
        assert_true(rel.weibull.clustered == (rel.weibull.shape < 1.0));
        assert_near(rel.lognormal_ttr.mu, cases[c].mu, 0, 0.05);
        assert_near(rel.lognormal_ttr.sigma, cases[c].sigma, 0.05, 0);
        /* Percentiles of up times against the law's quantiles
         * λ(-ln(1-p))^{1/k}; the repair median against e^mu. */
        assert_near(rel.ttf.p50_s, cases[c].scale * pow(log(2.0), 1 / cases[c].shape), 0.06, 0);
        assert_near(rel.ttf.p90_s, cases[c].scale * pow(log(10.0), 1 / cases[c].shape), 0.06, 0);
        assert_near(rel.ttr.p50_s, exp(cases[c].mu), 0.06, 0);
        /* Kaplan–Meier against the true survival at the true quartiles. */
        for (double q = 0.25; q < 0.8; q += 0.25) {
            double tq = cases[c].scale * pow(-log(1 - q), 1 / cases[c].shape);
            assert_near(km_at(&rel, tq), 1 - q, 0, 0.03);
        }
        assert_true(rel.n_survival <= 200);
        uint64_t total = 0;
        for (int i = 0; i < EMP_STATS_HIST_BUCKETS; i++)
            total += rel.ttf.hist[i];
        assert_int_equal(total, rel.ttf.n);
        emp_reliability_cleanup(&rel);
    }
    /* Shape < 1 is reported as clustering; shape 2 is not. */
    struct emp_reliability rel;
    sim_pool(7, (struct law){D_WEIBULL, 0.5, 5000.0}, (struct law){D_EXP, 60.0, 0}, &rel);
    assert_true(rel.weibull.clustered);
    assert_true(rel.weibull.shape_hi < 1.0);
    emp_reliability_cleanup(&rel);
    sim_pool(8, (struct law){D_WEIBULL, 2.0, 5000.0}, (struct law){D_EXP, 60.0, 0}, &rel);
    assert_false(rel.weibull.clustered);
    emp_reliability_cleanup(&rel);
}

/* A group of 1,000 targets with 100 outages each, pooled: the accounting
 * still adds up, and the time is printed (the benchmark proper is under
 * tests/bench). */
static void test_pooled_large(void **state)
{
    (void)state;
    enum { NT = 1000 };
    const double w = 365.0 * 86400.0;
    struct rng r;
    rng_seed(&r, 31337);
    struct sim *s = calloc(NT, sizeof *s);
    struct tgt *t = calloc(NT, sizeof *t);
    struct emp_stats_target *in = calloc(NT, sizeof *in);
    assert_non_null(s);
    assert_non_null(t);
    assert_non_null(in);
    size_t total = 0;
    for (int i = 0; i < NT; i++) {
        simulate(&r, &s[i], w, (struct law){D_EXP, w / 100.0, 0}, (struct law){D_EXP, 600.0, 0},
                 0.0, i % 10 == 0 ? 86400.0 : 0.0, 30 * 86400.0);
        total += s[i].no;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < NT; i++) {
        tgt_build(&t[i], 0, w, w, s[i].sp, s[i].ns, s[i].o, s[i].no);
        in[i] = t[i].in;
    }
    struct emp_reliability rel;
    assert_int_equal(emp_stats_reliability(in, NT, 0, S(w), S(w), NULL, &rel), EMP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("pooled: %d targets, %zu outages, %zu survival points: %.1f ms "
                  "(timelines and report)\n", NT, total, rel.n_survival, ms);
    assert_true(total > 90000);
    assert_true(rel.failures + rel.starts_unobserved <= total);
    assert_near(rel.mttf_s.estimate, w / 100.0, 0.03, 0);
    assert_near(rel.mttr_s.estimate, 600.0, 0.03, 0);
    assert_near(rel.weibull.shape, 1.0, 0.03, 0);
    emp_reliability_cleanup(&rel);
    for (int i = 0; i < NT; i++) {
        tgt_free(&t[i]);
        free(s[i].o);
        free(s[i].sp);
    }
    free(s);
    free(t);
    free(in);
}

/* A member's failures are its outages merged: overlapping ones are one
 * (several probers' outages of one target), touching ones two, a point
 * failure inside a longer outage none of its own; only starts in the
 * window count. */
static void test_failure_starts_merge(void **state)
{
    (void)state;
#define OT(a, b) ((struct emp_outage_time){1, (a) * 1000000, (b) * 1000000})
    struct emp_outage_time o[] = {
        OT(100, 160), OT(101, 220), /* overlapping: one failure at 100 */
        OT(220, 230),               /* touching the end: a new one */
        OT(240, 300), OT(240, 240), /* a point failure at its start: merged */
        OT(250, 250),               /* a point failure inside: merged */
        OT(400, 400), OT(400, 400), /* two point failures at one instant */
        OT(500, 0), OT(510, 520),   /* ongoing, and one inside it */
        OT(50, 40),                 /* end before start: ignored */
        OT(10, 20),                 /* before the window */
    };
#undef OT
    int64_t starts[sizeof o / sizeof o[0]];
    size_t n = 0;
    assert_int_equal(emp_stats_failure_starts(o, sizeof o / sizeof o[0], 30 * 1000000,
                                              1000 * 1000000, starts, &n),
                     EMP_OK);
    const int64_t want[] = {100, 220, 240, 400, 400, 500};
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(starts[i], want[i] * 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chi2_published_tables),
        cmocka_unit_test(test_chi2_reference),
        cmocka_unit_test(test_chi2_even_odd_paths_agree),
        cmocka_unit_test(test_exp_ci),
        cmocka_unit_test(test_quantile_type7),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_km_6mp),
        cmocka_unit_test(test_km_thinning),
        cmocka_unit_test(test_weibull_reference),
        cmocka_unit_test(test_weibull_absent),
        cmocka_unit_test(test_weibull_interval_coverage),
        cmocka_unit_test(test_failure_starts_merge),
        cmocka_unit_test(test_lognormal),
        cmocka_unit_test(test_timeline_hand),
        cmocka_unit_test(test_timeline_random_against_brute_force),
        cmocka_unit_test(test_periods_continuous),
        cmocka_unit_test(test_periods_unknown_time),
        cmocka_unit_test(test_periods_window_edges),
        cmocka_unit_test(test_periods_live_and_merged),
        cmocka_unit_test(test_reliability_empty),
        cmocka_unit_test(test_reliability_down_from_first_probe),
        cmocka_unit_test(test_periods_random_invariants),
        cmocka_unit_test(test_sim_exponential_coverage),
        cmocka_unit_test(test_sim_weibull_lognormal),
        cmocka_unit_test(test_pooled_large),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
