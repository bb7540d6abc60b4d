/* Correlated failures within a group, as one sweep over interval endpoints:
 * bursts of failure starts, the time with k or more members down against
 * the independent prediction, and pairwise co-down time. Pure: no I/O, no
 * clock. Times are radix-sorted relative to the earliest one, in one
 * scratch block reused by every phase: 1,000 members with 100,000 outages
 * cost a few milliseconds and a few megabytes. */
#include "analysis/stats_corr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every time minus the earliest must stay below this: keys carry one more
 * bit (end before start at equal times) and sums of durations stay far from
 * overflow. 2^62 us is about 146,000 years. */
#define SPAN_LIMIT (UINT64_C(1) << 62)

/* The pair table may take at most this much memory. */
#define PAIR_MAX_BYTES ((size_t)64 << 20)

void emp_corr_options_init(struct emp_corr_options *opt)
{
    opt->burst_window_us = EMP_CORR_DEFAULT_WINDOW_US;
    opt->max_pairs = EMP_CORR_DEFAULT_MAX_PAIRS;
    opt->rank = EMP_CORR_RANK_PHI;
    opt->max_pair_work = EMP_CORR_DEFAULT_MAX_PAIR_WORK;
}

void emp_corr_result_cleanup(struct emp_corr_result *r)
{
    if (r == NULL)
        return;
    free(r->burst_sizes);
    free(r->down_fraction);
    free(r->observed_at_least);
    free(r->independent_at_least);
    free(r->pairs);
    memset(r, 0, sizeof *r);
}

/* ---- sorting ---------------------------------------------------------- */

struct rec {
    uint64_t key;
    uint64_t val;
};

/* Stable LSD radix sort of v[0..n) by key: as few passes of at most 12
 * bits as cover max_key's bits (4 for a year in microseconds), skipping
 * passes where every key has the same digit. `tmp` has n slots. Returns
 * whichever of v and tmp holds the sorted records. */
static struct rec *radix_sort(struct rec *v, struct rec *tmp, size_t n, uint64_t max_key)
{
    enum { MAX_BITS = 12 };
    size_t cnt[1 << MAX_BITS];
    unsigned bits = 0;
    while (bits < 64 && (max_key >> bits) != 0)
        bits++;
    if (n == 0 || bits == 0)
        return v;
    unsigned passes = (bits + MAX_BITS - 1) / MAX_BITS;
    unsigned width = (bits + passes - 1) / passes;
    size_t radix = (size_t)1 << width, mask = radix - 1;
    for (unsigned shift = 0; shift < bits; shift += width) {
        memset(cnt, 0, radix * sizeof cnt[0]);
        for (size_t i = 0; i < n; i++)
            cnt[(v[i].key >> shift) & mask]++;
        if (cnt[(v[0].key >> shift) & mask] == n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < radix; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(v[i].key >> shift) & mask]++] = v[i];
        struct rec *t = v;
        v = tmp;
        tmp = t;
    }
    return v;
}

/* ---- input ------------------------------------------------------------ */

static enum emp_err check_ivals(const struct emp_corr_ival *v, size_t n, size_t member,
                                const char *what, struct emp_error *err)
{
    char detail[160];
    if (n > 0 && v == NULL) {
        snprintf(detail, sizeof detail, "members[%zu].%s is NULL with %zu intervals",
                 member, what, n);
        return emp_error_set(err, EMP_EINVAL, detail, "bad correlation input");
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].start_us > v[i].end_us) {
            snprintf(detail, sizeof detail, "members[%zu].%s[%zu]: start after end",
                     member, what, i);
            return emp_error_set(err, EMP_EINVAL, detail, "bad correlation input");
        }
    return EMP_OK;
}

static void widen(int64_t t, int64_t *lo, int64_t *hi)
{
    if (t < *lo)
        *lo = t;
    if (t > *hi)
        *hi = t;
}

/* ---- bursts ----------------------------------------------------------- */

/* Failure bursts after Ford et al., "Availability in Globally Distributed
 * Storage Systems", OSDI 2010, §4 (correlated failures): sorted by start, a
 * failure joins the current burst when it starts less than `window_us`
 * after the previous failure's start (w = 120 s there); a burst is a chain
 * of two or more. `v` and `tmp` have room for every failure. */
static enum emp_err compute_bursts(const struct emp_corr_member *m, size_t n, int64_t base,
                                   uint64_t max_key, int64_t window_us, struct rec *v,
                                   struct rec *tmp, struct emp_corr_result *out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < m[i].n_failures; f++) {
            v[total].key = (uint64_t)m[i].failure_starts[f] - (uint64_t)base;
            v[total++].val = 0;
        }
    out->n_failures = total;
    out->fraction_in_bursts = NAN;
    out->fraction_in_bursts_10 = NAN;
    if (total == 0)
        return EMP_OK;
    const struct rec *s = radix_sort(v, tmp, total, max_key);

    /* Two walks over the chains: the first finds the largest, so that the
     * size histogram of the second is no bigger than it needs to be. */
    size_t *hist = NULL;
    for (int walk = 0; walk < 2; walk++) {
        size_t run = 1;
        for (size_t i = 1; i <= total; i++) {
            if (i < total && s[i].key - s[i - 1].key < (uint64_t)window_us) {
                run++;
                continue;
            }
            if (run >= 2 && walk == 0) {
                out->n_bursts++;
                out->failures_in_bursts += run;
                if (run >= 10)
                    out->failures_in_bursts_10 += run;
                if (run > out->largest_burst)
                    out->largest_burst = run;
            } else if (run >= 2) {
                hist[run]++;
            }
            run = 1;
        }
        if (walk == 0) {
            if (out->n_bursts == 0)
                break;
            hist = calloc(out->largest_burst + 1, sizeof *hist);
            if (hist == NULL)
                return EMP_ENOMEM;
        }
    }
    out->fraction_in_bursts = (double)out->failures_in_bursts / (double)total;
    out->fraction_in_bursts_10 = (double)out->failures_in_bursts_10 / (double)total;
    if (hist == NULL)
        return EMP_OK;

    size_t sizes = 0;
    for (size_t z = 2; z <= out->largest_burst; z++)
        sizes += hist[z] != 0;
    out->burst_sizes = malloc(sizes * sizeof *out->burst_sizes);
    if (out->burst_sizes == NULL) {
        free(hist);
        return EMP_ENOMEM;
    }
    for (size_t z = 2; z <= out->largest_burst; z++)
        if (hist[z] != 0) {
            out->burst_sizes[out->n_burst_sizes].size = z;
            out->burst_sizes[out->n_burst_sizes].count = hist[z];
            out->n_burst_sizes++;
        }
    free(hist);
    return EMP_OK;
}

/* ---- pair table ------------------------------------------------------- */

/* Co-down time per pair, in whichever of two tables takes less memory:
 * dense, one int64 per pair i < j (N = 1,000: 4 MB), or open addressing
 * with linear probing sized for the known number of pair starts, so that
 * it never grows. Hash keys are (i << 32) | j with i < j: key 0 cannot
 * occur and marks an empty slot, so calloc'ed memory is an empty table. */
struct pslot {
    uint64_t key;
    int64_t us;
};

struct pairs {
    size_t n;          /* members */
    int64_t *dense;    /* n (n - 1) / 2 cells, or NULL */
    size_t *row;       /* dense: pair (i, j), i < j, is cell row[i] + j */
    struct pslot *s;   /* or cap slots */
    size_t cap;
};

/* MurmurHash3's 64-bit finalizer (Appleby): spreads (i, j) over the table. */
static uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    return k;
}

/* Room for at most `distinct` pairs. Returns false when even the smaller
 * table would pass PAIR_MAX_BYTES, or on allocation failure (then *nomem). */
static bool pairs_init(struct pairs *p, size_t n, size_t distinct, bool *nomem)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    *nomem = false;
    size_t all = n * (n - 1) / 2;  /* n < 2^32: no overflow */
    size_t want = distinct < all ? distinct : all;
    size_t cap = 16;
    while (cap < 2 * want)
        cap *= 2;
    size_t dense_bytes = all * sizeof *p->dense, hash_bytes = cap * sizeof *p->s;
    if (dense_bytes <= hash_bytes) {
        if (dense_bytes > PAIR_MAX_BYTES)
            return false;
        p->dense = calloc(all, sizeof *p->dense);
        p->row = malloc(n * sizeof *p->row);
        if (p->dense == NULL || p->row == NULL) {
            *nomem = true;
            return false;
        }
        /* Row-major upper triangle: row i starts after the n - 1 - r
         * cells of each earlier row r; j starts at i + 1. Wraps below
         * zero on purpose (unsigned) for j > i. */
        size_t start = 0;
        for (size_t i = 0; i < n; i++) {
            p->row[i] = start - i - 1;
            start += n - 1 - i;
        }
        return true;
    }
    if (hash_bytes > PAIR_MAX_BYTES)
        return false;
    p->s = calloc(cap, sizeof *p->s);
    p->cap = cap;
    *nomem = p->s == NULL;
    return !*nomem;
}

static void pairs_cleanup(struct pairs *p)
{
    free(p->dense);
    free(p->row);
    free(p->s);
}

static void pairs_add(struct pairs *p, uint32_t i, uint32_t j, int64_t us)
{
    if (i > j) {
        uint32_t t = i;
        i = j;
        j = t;
    }
    if (p->dense) {
        p->dense[p->row[i] + j] += us;
        return;
    }
    uint64_t key = (uint64_t)i << 32 | j;
    size_t x = mix64(key) & (p->cap - 1);
    while (p->s[x].key != key && p->s[x].key != 0)
        x = (x + 1) & (p->cap - 1);
    p->s[x].key = key;
    p->s[x].us += us;
}

/* ---- the sweep -------------------------------------------------------- */

/* Events: every endpoint of every observed and down interval, key
 * (t - base) << 1 | is_start, so that at equal times ends come first
 * (intervals are half-open); value member << 1 | is_down. */
static size_t build_events(const struct emp_corr_member *m, size_t n, int64_t base,
                           struct rec *ev)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (int down = 0; down < 2; down++) {
            const struct emp_corr_ival *v = down ? m[i].down : m[i].observed;
            size_t nv = down ? m[i].n_down : m[i].n_observed;
            for (size_t x = 0; x < nv; x++) {
                if (v[x].start_us == v[x].end_us)
                    continue;
                uint64_t val = (uint64_t)i << 1 | (uint64_t)down;
                ev[k].key = ((uint64_t)v[x].start_us - (uint64_t)base) << 1 | 1;
                ev[k++].val = val;
                ev[k].key = ((uint64_t)v[x].end_us - (uint64_t)base) << 1;
                ev[k++].val = val;
            }
        }
    }
    return k;
}

/* State of a sweep. A member is observed while its observed-interval count
 * is positive and down while its down count is; overlapping or touching
 * intervals thus count once (a "run" below is such a merged down period).
 * D, the members down now, is an array with each member's position so that
 * removal is a swap with the last. phi_us is the common observed time
 * elapsed so far, Phi(t): the common observed time inside [s, e) is
 * Phi(e) - Phi(s), so down and co-down time need no clipping against the
 * common time, only Phi at their endpoints. */
struct sweep {
    size_t n;
    uint32_t *obs_cnt, *down_cnt, *d, *pos;
    size_t *run_start;   /* event index where the member's run began */
    int64_t *open_phi;   /* Phi at the end of the member's current run */
    size_t nd, n_observed;
    int64_t phi_us;
};

static void sweep_reset(struct sweep *sw)
{
    memset(sw->obs_cnt, 0, sw->n * sizeof *sw->obs_cnt);
    memset(sw->down_cnt, 0, sw->n * sizeof *sw->down_cnt);
    sw->nd = 0;
    sw->n_observed = 0;
    sw->phi_us = 0;
}

/* Advance to the event at t: the time since the previous event is common
 * observed time when every member was observed (never when there are no
 * members: then there are no events). Returns that time. */
static int64_t sweep_advance(struct sweep *sw, uint64_t t, uint64_t *prev)
{
    int64_t seg = sw->n_observed == sw->n ? (int64_t)(t - *prev) : 0;
    sw->phi_us += seg;
    *prev = t;
    return seg;
}

/* Apply one event. Returns +1 when it takes a member down (its down count
 * leaves 0), -1 when it brings one back up, 0 otherwise. */
static int sweep_apply(struct sweep *sw, const struct rec *ev)
{
    uint32_t mi = (uint32_t)(ev->val >> 1);
    bool start = ev->key & 1;
    uint32_t *cnt = (ev->val & 1) ? sw->down_cnt : sw->obs_cnt;
    bool change = start ? cnt[mi]++ == 0 : --cnt[mi] == 0;
    if (!(ev->val & 1)) {
        if (change)
            sw->n_observed += start ? 1 : (size_t)-1;
        return 0;
    }
    if (!change)
        return 0;
    if (start) {
        sw->pos[mi] = (uint32_t)sw->nd;
        sw->d[sw->nd++] = mi;
        return 1;
    }
    uint32_t last = sw->d[--sw->nd];
    sw->d[sw->pos[mi]] = last;
    sw->pos[last] = sw->pos[mi];
    return -1;
}

/* First pass: time_at[k] gets the common observed time with exactly k
 * members down, down_us[i] member i's down time in it; phi_end[s], for the
 * event s where a run starts, gets Phi at the run's end. Returns the pair
 * work of the second pass: the sum over run starts of the members already
 * down (in common observed time or not). */
static size_t sweep_count(struct sweep *sw, const struct rec *ev, size_t n_ev,
                          int64_t *time_at, int64_t *down_us, int64_t *phi_end)
{
    uint64_t prev = 0;
    size_t work = 0;
    sweep_reset(sw);
    for (size_t e = 0; e < n_ev; e++) {
        size_t nd = sw->nd;
        int64_t seg = sweep_advance(sw, ev[e].key >> 1, &prev);
        if (nd > 0)
            time_at[nd] += seg;
        int change = sweep_apply(sw, &ev[e]);
        uint32_t mi = (uint32_t)(ev[e].val >> 1);
        if (change > 0) {
            work += nd;
            down_us[mi] -= sw->phi_us;
            sw->run_start[mi] = e;
        } else if (change < 0) {
            down_us[mi] += sw->phi_us;
            phi_end[sw->run_start[mi]] = sw->phi_us;
        }
    }
    return work;
}

/* Second pass: when a run of member i starts at s, every open run of a
 * member j in D overlaps it on [s, min(end_i, end_j)), whose common
 * observed time is min(Phi(end_i), Phi(end_j)) - Phi(s), Phi being
 * non-decreasing. Each overlapping pair of runs is met exactly once, at the
 * later start, so the work is the sum of |D| over run starts, not |D|^2
 * per elementary segment. */
static void sweep_pairs(struct sweep *sw, const struct rec *ev, size_t n_ev,
                        const int64_t *phi_end, struct pairs *p)
{
    uint64_t prev = 0;
    sweep_reset(sw);
    for (size_t e = 0; e < n_ev; e++) {
        sweep_advance(sw, ev[e].key >> 1, &prev);
        size_t nd = sw->nd;
        if (sweep_apply(sw, &ev[e]) <= 0)
            continue;
        uint32_t mi = (uint32_t)(ev[e].val >> 1);
        int64_t end = phi_end[e];
        for (size_t k = 0; k < nd; k++) {
            uint32_t j = sw->d[k];
            int64_t both = (end < sw->open_phi[j] ? end : sw->open_phi[j]) - sw->phi_us;
            if (both > 0)
                pairs_add(p, mi, j, both);
        }
        sw->open_phi[mi] = end;
    }
}

/* ---- Poisson-binomial ------------------------------------------------- */

/* The number K of successes among independent trials with unequal
 * probabilities p_i is Poisson-binomial (Poisson 1837). Its pmf by the
 * standard recursion over trials (e.g. Y. Hong, "On computing the
 * distribution function for the Poisson binomial distribution", Comput.
 * Stat. Data Anal. 59, 2013, the recursive formula): after trial i,
 * P_i(k) = P_{i-1}(k) (1 - p_i) + P_{i-1}(k - 1) p_i. O(n^2), every term
 * non-negative, so no cancellation. The tail is summed from the top, small
 * terms first. */
void emp_corr_poisson_binomial_tail(const double *p, size_t n, double *tail, double *work)
{
    double *pmf = work;
    pmf[0] = 1.0;
    for (size_t i = 0; i < n; i++) {
        double q = 1.0 - p[i];
        pmf[i + 1] = pmf[i] * p[i];
        for (size_t k = i; k > 0; k--)
            pmf[k] = pmf[k] * q + pmf[k - 1] * p[i];
        pmf[0] *= q;
    }
    double acc = 0.0;
    for (size_t k = n + 1; k-- > 0;) {
        acc += pmf[k];
        tail[k] = acc > 1.0 ? 1.0 : acc;
    }
    tail[0] = 1.0;
}

/* ---- pair ranking ----------------------------------------------------- */

static double rank_key(double x)
{
    return isnan(x) ? -INFINITY : x;
}

/* > 0 when a ranks before b. */
static int pair_cmp(const struct emp_corr_pair *a, const struct emp_corr_pair *b,
                    enum emp_corr_rank rank)
{
    double a1 = rank_key(rank == EMP_CORR_RANK_LIFT ? a->lift : a->phi);
    double b1 = rank_key(rank == EMP_CORR_RANK_LIFT ? b->lift : b->phi);
    double a2 = rank_key(rank == EMP_CORR_RANK_LIFT ? a->phi : a->lift);
    double b2 = rank_key(rank == EMP_CORR_RANK_LIFT ? b->phi : b->lift);
    if (a1 != b1)
        return a1 > b1 ? 1 : -1;
    if (a2 != b2)
        return a2 > b2 ? 1 : -1;
    if (a->both_down_us != b->both_down_us)
        return a->both_down_us > b->both_down_us ? 1 : -1;
    if (a->i != b->i)
        return a->i < b->i ? 1 : -1;
    if (a->j != b->j)
        return a->j < b->j ? 1 : -1;
    return 0;
}

/* Min-heap by rank: the root is the worst of the kept pairs. */
static void heap_down(struct emp_corr_pair *h, size_t n, size_t x, enum emp_corr_rank rank)
{
    for (;;) {
        size_t l = 2 * x + 1, r = l + 1, w = x;
        if (l < n && pair_cmp(&h[l], &h[w], rank) < 0)
            w = l;
        if (r < n && pair_cmp(&h[r], &h[w], rank) < 0)
            w = r;
        if (w == x)
            return;
        struct emp_corr_pair t = h[x];
        h[x] = h[w];
        h[w] = t;
        x = w;
    }
}

static void heap_up(struct emp_corr_pair *h, size_t x, enum emp_corr_rank rank)
{
    while (x > 0) {
        size_t parent = (x - 1) / 2;
        if (pair_cmp(&h[x], &h[parent], rank) >= 0)
            return;
        struct emp_corr_pair t = h[x];
        h[x] = h[parent];
        h[parent] = t;
        x = parent;
    }
}

/* Lift ("interest", Brin, Motwani, Ullman & Tsur, "Dynamic itemset
 * counting and implication rules for market basket data", SIGMOD 1997):
 * P(A and B) / (P(A) P(B)), 1 under independence. Phi coefficient (Yule
 * 1912; Pearson's correlation of two binary variables) of the 2x2 table of
 * time {both down, only i, only j, neither}:
 * (p_ij - p_i p_j) / sqrt(p_i (1 - p_i) p_j (1 - p_j)); undefined when a
 * margin is empty, i.e. a member down none or all of the time. */
struct member_stat {
    double p;   /* down fraction */
    double sd;  /* sqrt(p (1 - p)); NaN when p is 0 or 1 */
};

struct top {
    struct emp_corr_pair *heap;
    size_t n, cap;
    enum emp_corr_rank rank;
    size_t together;
    const struct member_stat *st;
    const int64_t *down_us;
    double total;
};

static void top_offer(struct top *t, size_t i, size_t j, int64_t both_us)
{
    if (both_us <= 0) /* down together only in time not commonly observed */
        return;
    t->together++;
    if (t->cap == 0)
        return;
    double a = (double)both_us;
    double lift = a * t->total / ((double)t->down_us[i] * (double)t->down_us[j]);
    double phi = (a / t->total - t->st[i].p * t->st[j].p) / (t->st[i].sd * t->st[j].sd);
    /* Cheap rejection before building the pair: worse on the first key. */
    if (t->n == t->cap) {
        double root = rank_key(t->rank == EMP_CORR_RANK_LIFT ? t->heap[0].lift : t->heap[0].phi);
        if (rank_key(t->rank == EMP_CORR_RANK_LIFT ? lift : phi) < root)
            return;
    }
    struct emp_corr_pair p = {.i = i, .j = j, .both_down_us = both_us,
                              .p_both = a / t->total, .lift = lift, .phi = phi};
    if (t->n < t->cap) {
        t->heap[t->n] = p;
        heap_up(t->heap, t->n++, t->rank);
    } else if (pair_cmp(&p, &t->heap[0], t->rank) > 0) {
        t->heap[0] = p;
        heap_down(t->heap, t->n, 0, t->rank);
    }
}

/* The best opt->max_pairs pairs by a bounded heap: O(P log M) for P pairs
 * down together; `distinct` bounds P. */
static enum emp_err top_pairs(const struct pairs *p, size_t distinct, const int64_t *down_us,
                              int64_t total_us, const struct emp_corr_options *opt,
                              struct emp_corr_result *out)
{
    enum emp_err rc = EMP_OK;
    struct top t = {.cap = opt->max_pairs < distinct ? opt->max_pairs : distinct,
                    .rank = opt->rank, .down_us = down_us, .total = (double)total_us};
    struct member_stat *st = malloc(p->n * sizeof *st);
    if (t.cap > 0)
        t.heap = malloc(t.cap * sizeof *t.heap);
    if (st == NULL || (t.cap > 0 && t.heap == NULL)) {
        rc = EMP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < p->n; i++) {
        st[i].p = (double)down_us[i] / (double)total_us;
        st[i].sd = down_us[i] > 0 && down_us[i] < total_us ? sqrt(st[i].p * (1.0 - st[i].p))
                                                           : NAN;
    }
    t.st = st;
    if (p->dense) {
        const int64_t *cell = p->dense;
        for (size_t i = 0; i + 1 < p->n; i++)
            for (size_t j = i + 1; j < p->n; j++, cell++)
                if (*cell > 0)
                    top_offer(&t, i, j, *cell);
    } else {
        for (size_t x = 0; x < p->cap; x++)
            if (p->s[x].key != 0)
                top_offer(&t, (size_t)(p->s[x].key >> 32), (size_t)(p->s[x].key & UINT32_MAX),
                          p->s[x].us);
    }
    /* Heap-sort in place: popping the worst to the back leaves the best
     * first. */
    for (size_t k = t.n; k > 1; k--) {
        struct emp_corr_pair x = t.heap[0];
        t.heap[0] = t.heap[k - 1];
        t.heap[k - 1] = x;
        heap_down(t.heap, k - 1, 0, t.rank);
    }
    if (t.n > 0) {
        out->pairs = t.heap;
        t.heap = NULL;
    }
    out->n_pairs = t.n;
    out->n_pairs_together = t.together;
out:
    free(st);
    free(t.heap);
    return rc;
}

/* ---- the whole computation -------------------------------------------- */

enum emp_err emp_corr_compute(const struct emp_corr_member *members, size_t n_members,
                              const struct emp_corr_options *opt,
                              struct emp_corr_result *out, struct emp_error *err)
{
    struct emp_corr_options defaults;
    enum emp_err rc = EMP_OK;
    struct rec *scratch = NULL;
    int64_t *down_us = NULL, *time_at = NULL;
    double *pb_work = NULL;
    struct sweep sw = {0};
    struct pairs pairs = {0};
    const size_t n = n_members;

    memset(out, 0, sizeof *out);
    if (opt == NULL) {
        emp_corr_options_init(&defaults);
        opt = &defaults;
    }
    if (opt->burst_window_us <= 0)
        return emp_error_set(err, EMP_EINVAL, "burst window must be positive",
                             "bad correlation options");
    if (opt->rank != EMP_CORR_RANK_PHI && opt->rank != EMP_CORR_RANK_LIFT)
        return emp_error_set(err, EMP_EINVAL, "unknown pair ranking",
                             "bad correlation options");
    if (n > 0 && members == NULL)
        return emp_error_set(err, EMP_EINVAL, "members is NULL", "bad correlation input");
    if (n >= UINT32_MAX)
        return emp_error_set(err, EMP_ERANGE, "more than 2^32 - 2 members",
                             "bad correlation input");

    int64_t lo = INT64_MAX, hi = INT64_MIN;
    size_t n_ev = 0, n_fail = 0;
    for (size_t i = 0; i < n; i++) {
        const struct emp_corr_member *m = &members[i];
        rc = check_ivals(m->observed, m->n_observed, i, "observed", err);
        if (rc == EMP_OK)
            rc = check_ivals(m->down, m->n_down, i, "down", err);
        if (rc != EMP_OK)
            return rc;
        if (m->n_failures > 0 && m->failure_starts == NULL)
            return emp_error_set(err, EMP_EINVAL, "failure_starts is NULL",
                                 "bad correlation input");
        for (size_t k = 0; k < m->n_observed; k++) {
            widen(m->observed[k].start_us, &lo, &hi);
            widen(m->observed[k].end_us, &lo, &hi);
        }
        for (size_t k = 0; k < m->n_down; k++) {
            widen(m->down[k].start_us, &lo, &hi);
            widen(m->down[k].end_us, &lo, &hi);
        }
        for (size_t k = 0; k < m->n_failures; k++)
            widen(m->failure_starts[k], &lo, &hi);
        n_ev += 2 * (m->n_observed + m->n_down);
        n_fail += m->n_failures;
    }
    int64_t base = lo <= hi ? lo : 0;
    uint64_t max_key = lo <= hi ? (uint64_t)hi - (uint64_t)lo : 0;
    if (max_key >= SPAN_LIMIT)
        return emp_error_set(err, EMP_ERANGE, "times more than 2^62 us apart",
                             "bad correlation input");

    out->n_members = n;
    out->pairs_complete = true;
    out->all_down_ratio = NAN;
    out->all_down_log10_ratio = NAN;
    size_t n1 = n ? n : 1, n_scratch = n_ev > n_fail ? n_ev : n_fail;
    out->down_fraction = malloc(n1 * sizeof *out->down_fraction);
    out->observed_at_least = malloc((n + 1) * sizeof *out->observed_at_least);
    out->independent_at_least = malloc((n + 1) * sizeof *out->independent_at_least);
    down_us = calloc(n1, sizeof *down_us);
    time_at = calloc(n + 1, sizeof *time_at);
    pb_work = malloc((n + 1) * sizeof *pb_work);
    sw.n = n;
    sw.obs_cnt = malloc(n1 * sizeof *sw.obs_cnt);
    sw.down_cnt = malloc(n1 * sizeof *sw.down_cnt);
    sw.d = malloc(n1 * sizeof *sw.d);
    sw.pos = malloc(n1 * sizeof *sw.pos);
    sw.run_start = malloc(n1 * sizeof *sw.run_start);
    sw.open_phi = malloc(n1 * sizeof *sw.open_phi);
    /* One block for both sorts, reused: fresh pages are costly. */
    scratch = malloc(2 * (n_scratch ? n_scratch : 1) * sizeof *scratch);
    if (out->down_fraction == NULL || out->observed_at_least == NULL ||
        out->independent_at_least == NULL || down_us == NULL || time_at == NULL ||
        pb_work == NULL || sw.obs_cnt == NULL || sw.down_cnt == NULL || sw.d == NULL ||
        sw.pos == NULL || sw.run_start == NULL || sw.open_phi == NULL || scratch == NULL) {
        rc = EMP_ENOMEM;
        goto out;
    }

    rc = compute_bursts(members, n, base, max_key, opt->burst_window_us, scratch,
                        scratch + n_scratch, out);
    if (rc != EMP_OK)
        goto out;

    n_ev = build_events(members, n, base, scratch);
    struct rec *ev = radix_sort(scratch, scratch + n_scratch, n_ev, max_key << 1 | 1);
    /* The other half of the scratch is free now: Phi at each run's end. */
    int64_t *phi_end = (int64_t *)(ev == scratch ? scratch + n_scratch : scratch);
    size_t pair_work = sweep_count(&sw, ev, n_ev, time_at, down_us, phi_end);
    int64_t total_us = sw.phi_us;
    out->common_observed_us = total_us;

    if (total_us == 0) {
        for (size_t i = 0; i < n; i++)
            out->down_fraction[i] = NAN;
        for (size_t k = 0; k <= n; k++)
            out->observed_at_least[k] = out->independent_at_least[k] = NAN;
        goto out; /* no pair can have been down together in common time */
    }

    /* Observed: time with exactly k down, summed from the top; the rest of
     * the common observed time had nobody down. */
    int64_t at_least = 0;
    for (size_t k = n; k >= 1; k--) {
        at_least += time_at[k];
        out->observed_at_least[k] = (double)at_least / (double)total_us;
    }
    out->observed_at_least[0] = 1.0;
    for (size_t i = 0; i < n; i++)
        out->down_fraction[i] = (double)down_us[i] / (double)total_us;
    emp_corr_poisson_binomial_tail(out->down_fraction, n, out->independent_at_least, pb_work);

    /* The headline, observed P(all down) / prod p_i, in logs so that a
     * product underflowing double does not turn a large ratio into inf or
     * NaN. All down some of the time implies every p_i > 0. */
    bool some_never = false;
    double log_indep = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (down_us[i] == 0)
            some_never = true;
        else
            log_indep += log(out->down_fraction[i]);
    }
    if (!some_never) {
        if (time_at[n] == 0) {
            out->all_down_ratio = 0.0;
        } else {
            double lr = log(out->observed_at_least[n]) - log_indep;
            out->all_down_ratio = exp(lr);
            out->all_down_log10_ratio = lr / log(10.0);
        }
    }

    /* Pairs, unless the guard says the work or the table would be too big:
     * then none rather than some. */
    if (pair_work == 0)
        goto out;
    bool nomem = false;
    if (pair_work > opt->max_pair_work || !pairs_init(&pairs, n, pair_work, &nomem)) {
        if (nomem)
            rc = EMP_ENOMEM;
        out->pairs_complete = false;
        goto out;
    }
    sweep_pairs(&sw, ev, n_ev, phi_end, &pairs);
    rc = top_pairs(&pairs, pair_work, down_us, total_us, opt, out);
out:
    free(scratch);
    free(down_us);
    free(time_at);
    free(pb_work);
    free(sw.obs_cnt);
    free(sw.down_cnt);
    free(sw.d);
    free(sw.pos);
    free(sw.run_start);
    free(sw.open_phi);
    pairs_cleanup(&pairs);
    if (rc != EMP_OK) {
        emp_corr_result_cleanup(out);
        if (rc == EMP_ENOMEM)
            emp_error_set(err, rc, NULL, "out of memory computing correlation");
    }
    return rc;
}
