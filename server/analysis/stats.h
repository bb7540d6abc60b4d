/* Reliability statistics of one target or a pooled group over a window
 * [from, to): failures and repairs, MTTF/MTTR/MTBF with exact chi-square
 * intervals, percentiles and histograms of time to failure (TTF) and time to
 * repair (TTR), Kaplan–Meier survival of up periods, Weibull and lognormal
 * fits. Pure: no I/O, no clock, no global state (safe from any thread).
 *
 * Absent figures. A figure that is undefined (MTTF without failures, a
 * percentile of nothing, a fit without enough data) is NaN; test with
 * isnan() and print null. No function here makes up a number.
 *
 * Units: durations are double seconds (suffix _s), instants int64
 * microseconds since the epoch (suffix _us), as everywhere in Empiric. */
#ifndef EMP_STATS_H
#define EMP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "core/err.h"
#include "analysis/uptime.h"

/* ---- Building blocks ---------------------------------------------------- */

/* Chi-square distribution with `dof` > 0 degrees of freedom, LOWER-TAIL
 * convention: emp_stats_chi2_cdf(x, k) = P(X <= x), and
 * emp_stats_chi2_quantile(p, k) is the x with P(X <= x) = p. So
 * χ²(0.975; 2) = 7.378 and χ²(0.025; 2) = 0.0506, as in the usual tables
 * headed by the lower-tail (cumulative) probability. Even dof use the
 * closed-form Poisson sum, others the regularized incomplete gamma. NaN for
 * arguments out of range (p outside (0, 1), dof <= 0, x NaN). */
double emp_stats_chi2_cdf(double x, double dof);
double emp_stats_chi2_quantile(double p, double dof);

/* An estimate with a two-sided interval; each member may be NaN (absent). */
struct emp_estimate {
    double estimate;
    double lo, hi;
};

/* The mean of an exponential distribution from `events` events in a total
 * exposure `total_s`, with a two-sided interval at confidence `conf`
 * (0.95 for 95%), a = 1 - conf:
 *   time_terminated (the observation stopped at a fixed time, Type I):
 *     lo = 2T/χ²(1 - a/2; 2r + 2), hi = 2T/χ²(a/2; 2r) (absent when r = 0);
 *   failure_terminated (it stopped at an event, Type II):
 *     lo = 2T/χ²(1 - a/2; 2r),     hi = 2T/χ²(a/2; 2r)  (both absent r = 0).
 * estimate = T / r, absent when r = 0. With T = 0 and r = 0 everything is
 * absent (nothing observed). */
void emp_stats_exp_ci(double total_s, size_t events, bool time_terminated,
                      double conf, struct emp_estimate *out);

/* The p-quantile (0 <= p <= 1) of `n` values sorted ascending, by
 * Hyndman & Fan's definition 7 (linear interpolation between order
 * statistics; R's and NumPy's default): h = (n - 1)p,
 * Q = x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋]). NaN when n = 0. */
double emp_stats_quantile(const double *sorted, size_t n, double p);

/* Histogram buckets of durations, decades: bucket 0 is [0, 1 s), bucket i
 * (1..8) is [10^(i-1), 10^i) s, bucket 9 is [10^8 s, +inf). The bounds
 * array holds the 9 inner bounds 1, 10, ..., 1e8. */
#define EMP_STATS_HIST_BUCKETS 10
extern const double emp_stats_hist_bounds_s[EMP_STATS_HIST_BUCKETS - 1];
/* Bucket index of a duration (negative or NaN goes to bucket 0). */
int emp_stats_hist_bucket(double t_s);

/* One observed period: an up period (time to failure) or a down period
 * (time to repair). event: ended by the failure (repair); false: right-
 * censored — still running when observation stopped. */
struct emp_period {
    double t_s;
    bool event;
};

/* One step of a Kaplan–Meier curve: at each distinct event time t, the
 * survival S(t) just after t (right-continuous), its Greenwood standard
 * error (NaN once S = 0), the number at risk just before t and the events
 * at t. */
struct emp_km_point {
    double t_s;
    double s;
    double se;
    size_t at_risk;
    size_t events;
};

/* Kaplan–Meier estimate from periods in any order (censored periods at an
 * event time are taken to outlast it: events before censorings at ties;
 * periods with a NaN time are ignored).
 * `max_points` > 1 thins the curve to at most that many points, keeping a
 * point whenever S has fallen by 1/(max_points - 1) since the last kept one
 * and always the last point (so the thinned curve is within that of the
 * full one); 0 keeps every event time. `*out` is a new array (free()),
 * NULL when `*n_out` is 0 (no events). Returns EMP_OK or EMP_ENOMEM. */
enum emp_err emp_stats_km(const struct emp_period *p, size_t n, size_t max_points,
                          struct emp_km_point **out, size_t *n_out);

/* Weibull S(t) = exp(-(t/scale)^shape) fitted by maximum likelihood to
 * right-censored periods. Zero-length periods are counted at `zero_floor_s`
 * (see struct emp_stats_opts). Absent (NaN, with `why_not` saying why)
 * unless there are at least EMP_WEIBULL_MIN_EVENTS events and the
 * likelihood has a finite maximum (not all events at the largest time):
 * from fewer, the estimate is noise (three failures gave a shape of 860).
 * shape_lo/hi: the 95% likelihood-ratio interval from the modified profile
 * likelihood (its coverage, 94–95% with 10 failures, checked by simulation
 * in tests/unit/test_stats.c). clustered: shape < 1 (a
 * decreasing hazard: a failure is more likely soon after the last one —
 * failures cluster). */
#define EMP_WEIBULL_MIN_EVENTS 5
struct emp_weibull {
    double shape, scale_s;
    double shape_lo, shape_hi;
    bool clustered;
    size_t n, events;
    const char *why_not; /* NULL when fitted; a static string otherwise */
};
enum emp_err emp_stats_weibull_fit(const struct emp_period *p, size_t n,
                                   double zero_floor_s, struct emp_weibull *out);

/* Lognormal fit (maximum likelihood) of complete durations: mu and sigma of
 * ln(t / 1 s); zeros counted at `zero_floor_s`. mu absent when n = 0, sigma
 * when n < 2. */
struct emp_lognormal {
    double mu, sigma;
    size_t n;
};
void emp_stats_lognormal_fit(const double *t_s, size_t n, double zero_floor_s,
                             struct emp_lognormal *out);

/* ---- Periods of a target over a window ----------------------------------- */

/* One target's input: its timeline from emp_timeline_build over the same
 * [from, to) and `now`, and its outages (any order; ended_at_us == 0 while
 * ongoing) — the ones the timeline was built from — either as full rows
 * (`outages`) or, when `outages` is NULL, as times only (`outage_times`,
 * what a group query fetches). All borrowed. */
struct emp_stats_target {
    const struct emp_segment *seg;
    size_t n_seg;
    const struct emp_outage *outages;
    const struct emp_outage_time *outage_times;
    size_t n_outages;
    /* The state in the instant before `from` (emp_timeline_state_at(from -
     * 1, ...)): decides what the window makes of an outage ending or
     * starting exactly at `from`, as a window holding that instant would.
     * EMP_SEG_UNKNOWN (zero) when not known. */
    enum emp_seg_state before;
};

/* The events and periods of one or more targets over [from, to), pooled.
 *
 * Outages of one target that overlap are one outage (start of the first,
 * end of the last); a zero-length outage (a point failure, e.g. an imported
 * row without an end) is a failure followed at once by a repair.
 * - failures: every outage seen starting in [from, to) (the r):
 *   its start lies in observed time. One that followed no observed up time
 *   (it starts right after unknown time, or exactly at `from`) ends no up
 *   period, so it gives no TTF sample, but it counts: the failure happened
 *   even if the up time before it was not seen, and MTTF = up / r stays
 *   conservative. An outage starting inside unknown time (data no probe
 *   saw) is not a failure of the window; it is counted in
 *   `starts_unobserved`.
 * - repairs: outages ending in [from, to) with the target seen DOWN just
 *   before (a point failure: when it followed observed up time, or a
 *   repair at the same instant). At `from` itself "just before" is the
 *   target's `before`, so that windows split at any instant add up: each
 *   failure and repair, and the up, down and unknown time, of a window is
 *   in exactly one of its parts.
 * - ttf: up periods, one per maximal stretch of observed up time, split at
 *   point failures. A period starts at a repair, at the start of
 *   observation, or at a point failure; it ends at a failure (event) or,
 *   right-censored, where unknown time or the end of the window (`to`, or
 *   `now` before it) cuts it. Zero-length periods (a repair and a failure,
 *   or two point failures, at the same instant) are kept as events of
 *   length 0; censored ones of length 0 carry no information and are
 *   dropped. A period already running at `from` (the target seen up in the
 *   instant before) is left-truncated: how long it had lasted is not the
 *   window's to know, so it is no sample of the distribution, the
 *   Kaplan–Meier curve or the Weibull fit; it is counted in
 *   `ttf_truncated` (its failure still counts). Hence: TTF events plus
 *   truncated periods ending in a failure = failures ending observed up
 *   time, and MTTF = up / failures stays the exponential MLE (memoryless:
 *   the truncated time is up time like any other).
 * - ttr_s: completed repairs: outages whose failure and repair both count,
 *   with no unknown time between (length 0 for a point failure). Outages
 *   cut by the window or by unknown time are not samples; they are counted
 *   in `ttr_censored`.
 * - down_censored: down stretches that end in unknown time or at the end
 *   of the window rather than at a repair (decides the MTTR interval). */
struct emp_periods {
    struct emp_period *ttf;
    size_t n_ttf;
    double *ttr_s;
    size_t n_ttr;
    size_t ttr_censored;
    size_t failures, repairs;
    size_t starts_unobserved;
    size_t down_censored;
    size_t ttf_truncated;
};

/* Fill `out` for `n_targets` targets (pooled). `out` is owned by the caller
 * and must be released with emp_periods_cleanup, also after an error.
 * Returns EMP_OK or EMP_ENOMEM. */
enum emp_err emp_stats_periods(const struct emp_stats_target *targets, size_t n_targets,
                               int64_t from_us, int64_t to_us, struct emp_periods *out);
void emp_periods_cleanup(struct emp_periods *p);

/* The starts in [from, to) of one target's failures, ascending, into
 * `starts` (room for n), `*n_starts` of them: its outages `o` (any order)
 * merged by the rule above, so that overlapping outages (several probers'
 * records of one incident) are one failure wherever failures are counted
 * (the correlation's bursts too). EMP_OK or EMP_ENOMEM. */
enum emp_err emp_stats_failure_starts(const struct emp_outage_time *o, size_t n, int64_t from_us,
                                      int64_t to_us, int64_t *starts, size_t *n_starts);

/* ---- The reliability report ---------------------------------------------- */

struct emp_stats_opts {
    /* Zero-length periods (two failures in the same second, a repair in the
     * minute it started) are real and are kept; the Weibull and lognormal
     * fits, which take logarithms, count them at this length: half the
     * time resolution of the data. Default 0.5 s (timestamps to the
     * second); 30 s suits data with minute resolution. Percentiles,
     * histograms and Kaplan–Meier use the true 0. */
    double zero_floor_s;
    /* Thin the survival curve to this many points (see emp_stats_km);
     * 0 keeps every event time (one per up period of a large group: 10^5
     * points). Default 256. */
    size_t survival_max_points;
};
/* Fill `o` with the defaults. */
void emp_stats_opts_default(struct emp_stats_opts *o);

/* Percentiles and histogram of completed periods. */
struct emp_dist {
    size_t n;          /* completed periods (events) */
    size_t n_censored; /* censored periods (not in the figures below) */
    size_t n_zero;     /* completed periods of length 0 */
    size_t n_truncated; /* periods that began before the window (left-
                           truncated): in no figure below */
    double p50_s, p90_s, p99_s; /* Hyndman–Fan type 7; NaN when n = 0 */
    double max_s;               /* NaN when n = 0 */
    uint64_t hist[EMP_STATS_HIST_BUCKETS];
};

struct emp_reliability {
    int64_t from_us, to_us;
    size_t n_targets;
    /* Summed over the targets: up/down/unknown time; availability and
     * coverage of the sums (coverage = observed / (n_targets × window));
     * streaks are the largest of any one target. */
    struct emp_uptime uptime;
    double up_s, down_s;
    size_t failures, repairs;    /* as in struct emp_periods */
    size_t starts_unobserved;
    /* MTTF = up / failures, 95% interval time-terminated (T = up time);
     * absent, interval too, when no up time was observed (a target down
     * from its first probe), whatever the failures.
     * MTTR = down / repairs, 95% interval failure-terminated (2m degrees of
     * freedom both sides) when every down stretch ended in a repair, else
     * time-terminated like MTTF (mttr_time_terminated says which).
     * MTBF = MTTF + MTTR. Absent members are NaN. */
    struct emp_estimate mttf_s, mttr_s;
    bool mttr_time_terminated;
    double mtbf_s;
    struct emp_dist ttf, ttr;
    /* Kaplan–Meier survival of up periods (TTF with censoring); a new
     * array owned by this struct, NULL when n_survival is 0. */
    struct emp_km_point *survival;
    size_t n_survival;
    struct emp_weibull weibull;        /* of up periods, with censoring */
    struct emp_lognormal lognormal_ttr; /* of completed repairs */
};

/* Compute the report over [from, to) for `n_targets` targets (1 for one
 * target, the members for a pooled group), each with its timeline built for
 * the same from, to and `now`. `opts` may be NULL (defaults). An empty or
 * reversed window (to <= from) gives EMP_OK with every figure zero or
 * absent. On success the caller owes emp_reliability_cleanup(out); on
 * error (EMP_ENOMEM) nothing is owed and `out` holds no allocation. Time and memory are linear in the outages and segments but
 * for one radix sort; 1,000 targets with 100,000 outages in all take about
 * 20 ms (plus about 3 ms for their timelines). */
enum emp_err emp_stats_reliability(const struct emp_stats_target *targets, size_t n_targets,
                                   int64_t from_us, int64_t to_us, int64_t now_us,
                                   const struct emp_stats_opts *opts,
                                   struct emp_reliability *out);
/* Free what `r` owns; accepts NULL and a zeroed struct. */
void emp_reliability_cleanup(struct emp_reliability *r);

#endif
