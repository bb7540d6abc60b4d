/* Correlated failures within a group of targets: failure bursts, observed
 * P(k or more members down) against the independent (Poisson-binomial)
 * prediction, and the most correlated pairs. Pure: no I/O, no clock. */
#ifndef EMP_STATS_CORR_H
#define EMP_STATS_CORR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* A half-open time interval [start_us, end_us), microseconds since the
 * epoch. Named apart from any interval type of the uptime module. */
struct emp_corr_ival {
    int64_t start_us, end_us;
};

/* One group member (a target), all arrays borrowed for the call.
 * - observed: when some prober watched the member.
 * - down: when the member was down. Meant to lie inside `observed`; down
 *   time outside the common observed time (below) is ignored either way.
 * Sorted disjoint intervals are expected, but any order is accepted:
 * overlapping or touching intervals count once, empty ones not at all;
 * start > end is rejected. Any array may be NULL when its count is 0.
 * - failure_starts: start times of the member's failures in the window,
 *   any order: its outages merged as the reliability statistics merge them
 *   (emp_stats_failure_starts), so that overlapping outages of one member
 *   (several probers', say) are one failure. Used for bursts only; need
 *   not lie in observed time. */
struct emp_corr_member {
    const struct emp_corr_ival *observed;
    size_t n_observed;
    const struct emp_corr_ival *down;
    size_t n_down;
    const int64_t *failure_starts;
    size_t n_failures;
};

/* How pairs are ranked: by the phi coefficient (the default: a correlation,
 * which does not reward two rarely-down members for one shared outage) or
 * by lift. Ties break on the other measure, then p_both, then (i, j). */
enum emp_corr_rank {
    EMP_CORR_RANK_PHI = 0,
    EMP_CORR_RANK_LIFT = 1,
};

#define EMP_CORR_DEFAULT_WINDOW_US (INT64_C(120) * 1000000) /* Ford et al. */
#define EMP_CORR_DEFAULT_MAX_PAIRS 10
#define EMP_CORR_DEFAULT_MAX_PAIR_WORK ((size_t)1 << 23)

struct emp_corr_options {
    int64_t burst_window_us;  /* > 0: a failure joins the burst when it starts
                                 less than this after the previous one */
    size_t max_pairs;         /* M: how many pairs to return (0: none) */
    enum emp_corr_rank rank;
    size_t max_pair_work;     /* guard on time and memory: the pair work is
                                 the number of (down run, run already open)
                                 overlaps, i.e. the sum over down-run starts
                                 of the members down then. Past it, or when
                                 the pair table would pass 64 MB (dense for
                                 up to ~2,900 members), no pair figure is
                                 reported (pairs_complete false) rather than
                                 a partial one. Everything else is. */
};

struct emp_corr_burst_size {
    size_t size;   /* failures in the burst, >= 2 */
    size_t count;  /* bursts of that size */
};

struct emp_corr_pair {
    size_t i, j;    /* member indexes into the input, i < j */
    int64_t both_down_us;
    double p_both;  /* fraction of common observed time with both down */
    double lift;    /* p_both / (p_i p_j) */
    double phi;     /* phi coefficient of the 2x2 time table; NaN when a
                       member is down all or none of the time */
};

/* Every figure that is undefined is NaN, never a made-up number (the API
 * turns NaN into null). */
struct emp_corr_result {
    size_t n_members;
    size_t n_failures;

    /* Bursts (over all failure starts, observed time or not). */
    size_t n_bursts;
    size_t largest_burst;          /* 0 when there is no burst */
    size_t failures_in_bursts;
    size_t failures_in_bursts_10;  /* in bursts of >= 10 failures */
    double fraction_in_bursts;     /* NaN when n_failures == 0 */
    double fraction_in_bursts_10;  /* NaN when n_failures == 0 */
    struct emp_corr_burst_size *burst_sizes; /* owned; ascending size */
    size_t n_burst_sizes;

    /* k-down, over the COMMON observed time: the intersection of all
     * members' observed time (only there is "k of N down" known). */
    int64_t common_observed_us;
    double *down_fraction;         /* owned, [n_members]: p_i, member i's
                                      down time / common observed time */
    double *observed_at_least;     /* owned, [n_members + 1], index k:
                                      fraction of common observed time with
                                      >= k members down; [0] = 1 */
    double *independent_at_least;  /* owned, [n_members + 1], index k:
                                      P(K >= k), K Poisson-binomial(p_i);
                                      may underflow to 0 for large k.
                                      These three are all NaN (but
                                      allocated) when common_observed_us
                                      is 0. */
    /* observed / independent at k = n_members: NaN when undefined (no
     * common observed time, no members, or some member never down: 0/0);
     * 0 when never all down; +inf only past DBL_MAX (see the log). */
    double all_down_ratio;
    double all_down_log10_ratio;   /* log10 of the same; NaN unless the
                                      observed fraction and every p_i > 0 */

    /* Pairs that were down together (p_both > 0) in common observed time;
     * the top max_pairs by the chosen rank, best first. */
    struct emp_corr_pair *pairs;   /* owned */
    size_t n_pairs;
    size_t n_pairs_together;       /* pairs ever down together; 0 when
                                      !pairs_complete */
    bool pairs_complete;           /* false: the guard (max_pair_work) was
                                      hit and no pair is reported */
};

/* Defaults: 120 s window, 10 pairs ranked by phi, pair work guard 2^23
 * (about 30 ms of pair accumulation). */
void emp_corr_options_init(struct emp_corr_options *opt);

/* Compute all figures for `n_members` members (`members` may be NULL when
 * 0). `opt` NULL means the defaults. On EMP_OK `out` holds owned arrays:
 * release them with emp_corr_result_cleanup. On failure (EMP_EINVAL for a
 * reversed interval, a NULL array with a count, or a bad option;
 * EMP_ERANGE for times more than 2^62 us apart or 2^32 - 1 members or
 * more; EMP_ENOMEM) `out` holds nothing to free and `err` (may be NULL)
 * says what. Cost: O(E) radix sorting of the E interval endpoints and
 * failure starts, O(N^2) for the Poisson-binomial, plus the pair work;
 * memory: 32 bytes per endpoint or failure, plus the pair table. */
enum emp_err emp_corr_compute(const struct emp_corr_member *members, size_t n_members,
                              const struct emp_corr_options *opt,
                              struct emp_corr_result *out, struct emp_error *err);

/* Free what `r` owns and zero it; accepts NULL and a zeroed result. */
void emp_corr_result_cleanup(struct emp_corr_result *r);

/* Poisson-binomial tail: tail[k] = P(K >= k) for k = 0..n, K the number of
 * successes of n independent trials with probabilities p[0..n-1] (each in
 * [0, 1]). `tail` is caller-owned with n + 1 slots; `work` likewise n + 1
 * slots of scratch. */
void emp_corr_poisson_binomial_tail(const double *p, size_t n, double *tail, double *work);

#endif
