/* Benchmark of emp_corr_compute: a group of 1,000 members with 100 outages
 * each over a year (100,000 outages), a fifth of them in shared events
 * that take 20-80 members down within a minute, observed time with a common
 * monitor gap and a few gaps of each member's own. Seeded, so runs compare.
 * A second scenario adds five events taking every member down at once (the
 * pair guard's worst case at the default budget).
 *   bench_corr [runs]    default 20 (at least 2); prints the first call, then
 *                        min / median / max of the others, in ms */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/stats_corr.h"

#define MIN_US (INT64_C(60) * 1000000)
#define HOUR_US (60 * MIN_US)
#define YEAR_US (INT64_C(365) * 24 * HOUR_US)

enum { MEMBERS = 1000, OWN = 80, SHARED_EVENTS = 400, MASS_EVENTS = 5, CAP = 400 };

struct member_data {
    struct emp_corr_ival down[CAP];
    int64_t fails[CAP];
    size_t n;
    struct emp_corr_ival obs[8];
    size_t n_obs;
};

static uint64_t rng_state = 42;

/* splitmix64 (Steele, Lea & Flood, OOPSLA 2014). */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * 0x1.0p-53;
}

static int64_t rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo));
}

static int64_t rng_exp(double mean)
{
    int64_t x = (int64_t)(-mean * log1p(-rng_unit()));
    return x > 0 ? x : 1;
}

static void add_outage(struct member_data *m, int64_t start, int64_t len)
{
    if (m->n == CAP || start >= YEAR_US)
        return;
    int64_t end = start + len < YEAR_US ? start + len : YEAR_US;
    m->down[m->n].start_us = start;
    m->down[m->n].end_us = end;
    m->n++;
}

static int cmp_ival(const void *a, const void *b)
{
    const struct emp_corr_ival *x = a, *y = b;
    return (x->start_us > y->start_us) - (x->start_us < y->start_us);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Observed: the year minus a 2 h monitor gap shared by all and three gaps
 * of the member's own, 1-30 min (so the common observed time is in ~3,000
 * pieces). */
static void make_observed(struct member_data *m)
{
    int64_t cuts[8];
    cuts[0] = 100 * 24 * HOUR_US;
    cuts[1] = cuts[0] + 2 * HOUR_US;
    for (size_t g = 0; g < 3; g++) {
        cuts[2 + 2 * g] = rng_range(0, YEAR_US - 2 * HOUR_US);
        cuts[3 + 2 * g] = cuts[2 + 2 * g] + rng_range(MIN_US, 30 * MIN_US);
    }
    struct emp_corr_ival gaps[4];
    for (size_t g = 0; g < 4; g++) {
        gaps[g].start_us = cuts[2 * g];
        gaps[g].end_us = cuts[2 * g + 1];
    }
    qsort(gaps, 4, sizeof gaps[0], cmp_ival);
    int64_t t = 0;
    m->n_obs = 0;
    for (size_t g = 0; g < 4; g++) {
        if (gaps[g].start_us > t) {
            m->obs[m->n_obs].start_us = t;
            m->obs[m->n_obs].end_us = gaps[g].start_us;
            m->n_obs++;
        }
        if (gaps[g].end_us > t)
            t = gaps[g].end_us;
    }
    m->obs[m->n_obs].start_us = t;
    m->obs[m->n_obs].end_us = YEAR_US;
    m->n_obs++;
}

static void generate(struct member_data *md, struct emp_corr_member *m, size_t mass_events)
{
    rng_state = 42;
    for (size_t i = 0; i < MEMBERS; i++) {
        md[i].n = 0;
        make_observed(&md[i]);
        for (size_t k = 0; k < OWN; k++)
            add_outage(&md[i], rng_range(0, YEAR_US), rng_exp(30.0 * MIN_US));
    }
    for (size_t e = 0; e < SHARED_EVENTS; e++) {
        int64_t at = rng_range(0, YEAR_US);
        int64_t len = rng_exp(45.0 * MIN_US);
        size_t k = (size_t)rng_range(20, 81);
        for (size_t x = 0; x < k; x++) {
            size_t i = (size_t)rng_range(0, MEMBERS);
            add_outage(&md[i], at + rng_range(0, MIN_US), len / 2 + rng_exp((double)len / 2));
        }
    }
    for (size_t e = 0; e < mass_events; e++) {
        int64_t at = rng_range(0, YEAR_US);
        for (size_t i = 0; i < MEMBERS; i++)
            add_outage(&md[i], at + rng_range(0, MIN_US), 20 * MIN_US + rng_range(0, MIN_US));
    }
    for (size_t i = 0; i < MEMBERS; i++) {
        qsort(md[i].down, md[i].n, sizeof md[i].down[0], cmp_ival);
        for (size_t k = 0; k < md[i].n; k++)
            md[i].fails[k] = md[i].down[k].start_us;
        qsort(md[i].fails, md[i].n, sizeof md[i].fails[0], cmp_i64);
        m[i].observed = md[i].obs;
        m[i].n_observed = md[i].n_obs;
        m[i].down = md[i].down;
        m[i].n_down = md[i].n;
        m[i].failure_starts = md[i].fails;
        m[i].n_failures = md[i].n;
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int scenario(const char *name, struct member_data *md, struct emp_corr_member *m,
                    size_t mass_events, int runs)
{
    generate(md, m, mass_events);
    double *ms = malloc((size_t)runs * sizeof *ms);
    if (ms == NULL)
        return 1;
    struct emp_corr_result r;
    struct emp_error e;
    for (int k = 0; k < runs; k++) {
        double t0 = now_ms();
        enum emp_err rc = emp_corr_compute(m, MEMBERS, NULL, &r, &e);
        ms[k] = now_ms() - t0;
        if (rc != EMP_OK) {
            fprintf(stderr, "bench_corr: %s: %s\n", e.msg, e.detail);
            free(ms);
            return 1;
        }
        if (k + 1 < runs)
            emp_corr_result_cleanup(&r);
    }
    /* The first call also pays for fresh pages (costly in some VMs); the
     * rest reuse what malloc kept, as a long-running server does. */
    double first = ms[0];
    qsort(ms + 1, (size_t)runs - 1, sizeof *ms, cmp_double);
    printf("%s: %zu members, %zu outages: first call %.2f ms; then min %.2f ms, median "
           "%.2f ms, max %.2f ms (%d runs)\n",
           name, r.n_members, r.n_failures, first, ms[runs > 1], ms[(runs + 1) / 2],
           ms[runs - 1], runs - 1);
    printf("  common observed %.1f h; bursts %zu (largest %zu), %.1f%% of failures in "
           "bursts, %.1f%% in bursts >= 10\n",
           (double)r.common_observed_us / (double)HOUR_US, r.n_bursts, r.largest_burst,
           100.0 * r.fraction_in_bursts, 100.0 * r.fraction_in_bursts_10);
    printf("  P(>=2 down) observed %.3g vs independent %.3g; P(>=10) %.3g vs %.3g; "
           "all-down ratio %g (log10 %g)\n",
           r.observed_at_least[2], r.independent_at_least[2], r.observed_at_least[10],
           r.independent_at_least[10], r.all_down_ratio, r.all_down_log10_ratio);
    if (r.n_pairs > 0)
        printf("  pairs down together %zu; top pair %zu-%zu lift %.1f phi %.3f\n",
               r.n_pairs_together, r.pairs[0].i, r.pairs[0].j, r.pairs[0].lift,
               r.pairs[0].phi);
    else
        printf("  pairs: %s\n", r.pairs_complete ? "none" : "over the work guard");
    emp_corr_result_cleanup(&r);
    free(ms);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 20;
    if (argc > 1) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end != '\0' || v < 2 || v > 10000) {
            fprintf(stderr, "usage: bench_corr [runs]\n");
            return 2;
        }
        runs = (int)v;
    }
    struct member_data *md = calloc(MEMBERS, sizeof *md);
    struct emp_corr_member *m = calloc(MEMBERS, sizeof *m);
    if (md == NULL || m == NULL) {
        fprintf(stderr, "bench_corr: out of memory\n");
        return 1;
    }
    int rc = scenario("bursts", md, m, 0, runs);
    if (rc == 0)
        rc = scenario("bursts + 5 whole-group outages", md, m, MASS_EVENTS, runs);
    free(md);
    free(m);
    return rc;
}
