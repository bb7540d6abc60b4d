/* SLA verification per calendar period (UTC): interval algebra over coverage
 * spans, outages and failing probe results, under the contract's own
 * downtime rule. Pure: no I/O, no clock. The conventions (what is counted,
 * how minutes are judged, which credit tier applies) are in
 * docs/measurement.md, "SLA verification". */
#include "analysis/sla.h"

#include "core/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ival.h"

#define US_PER_MIN (INT64_C(60) * INT64_C(1000000))
#define US_PER_DAY (INT64_C(86400) * INT64_C(1000000))
#define US_PER_MS INT64_C(1000)

/* ---- calendar ---------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* ISO 8601 weekday, Monday = 0, of a day number; 1970-01-01 was a Thursday. */
static int64_t iso_weekday(int64_t days)
{
    int64_t w = (days + 3) % 7;
    return w < 0 ? w + 7 : w;
}

/* The period holding day `days`, as day numbers [*d0, *d1). */
static void period_days(enum emp_sla_period p, int64_t days, int64_t *d0, int64_t *d1)
{
    int64_t y;
    int m, d;
    emp_civil_from_days(days, &y, &m, &d);
    switch (p) {
    case EMP_SLA_DAY:
        *d0 = days;
        *d1 = days + 1;
        break;
    case EMP_SLA_WEEK:
        *d0 = days - iso_weekday(days);
        *d1 = *d0 + 7;
        break;
    case EMP_SLA_MONTH:
        *d0 = emp_days_from_civil(y, m, 1);
        *d1 = m == 12 ? emp_days_from_civil(y + 1, 1, 1) : emp_days_from_civil(y, m + 1, 1);
        break;
    case EMP_SLA_QUARTER: {
        int qm = (m - 1) / 3 * 3 + 1;
        *d0 = emp_days_from_civil(y, qm, 1);
        *d1 = qm == 10 ? emp_days_from_civil(y + 1, 1, 1) : emp_days_from_civil(y, qm + 3, 1);
        break;
    }
    case EMP_SLA_YEAR:
    default:
        *d0 = emp_days_from_civil(y, 1, 1);
        *d1 = emp_days_from_civil(y + 1, 1, 1);
        break;
    }
}

static bool in_range(int64_t t_us)
{
    return t_us >= EMP_SLA_MIN_US && t_us <= EMP_SLA_MAX_US;
}

enum emp_err emp_sla_period_bounds(enum emp_sla_period p, int64_t t_us, int64_t *start_us,
                                   int64_t *end_us)
{
    if (!in_range(t_us))
        return EMP_ERANGE;
    if ((unsigned)p > (unsigned)EMP_SLA_YEAR || start_us == NULL || end_us == NULL)
        return EMP_EINVAL;
    int64_t d0, d1;
    period_days(p, floor_div(t_us, US_PER_DAY), &d0, &d1);
    *start_us = d0 * US_PER_DAY;
    *end_us = d1 * US_PER_DAY;
    return EMP_OK;
}

enum emp_err emp_sla_period_label(enum emp_sla_period p, int64_t t_us, char *buf)
{
    if (!in_range(t_us))
        return EMP_ERANGE;
    if ((unsigned)p > (unsigned)EMP_SLA_YEAR || buf == NULL)
        return EMP_EINVAL;
    int64_t days = floor_div(t_us, US_PER_DAY);
    int64_t y;
    int m, d;
    emp_civil_from_days(days, &y, &m, &d);
    /* Years are 1970..9999 here (in_range); the modulos only tell the
     * compiler how wide each field can be. */
    unsigned yy = (unsigned)y % 10000u, mm = (unsigned)m % 100u, dd = (unsigned)d % 100u;
    switch (p) {
    case EMP_SLA_DAY:
        snprintf(buf, EMP_SLA_LABEL_SIZE, "%04u-%02u-%02u", yy, mm, dd);
        break;
    case EMP_SLA_WEEK: {
        /* The ISO week-year is the year of the week's Thursday; the week
         * number counts Thursdays of that year. */
        int64_t thursday = days - iso_weekday(days) + 3;
        int64_t ty;
        int tm, td;
        emp_civil_from_days(thursday, &ty, &tm, &td);
        int64_t week = (thursday - emp_days_from_civil(ty, 1, 1)) / 7 + 1;
        snprintf(buf, EMP_SLA_LABEL_SIZE, "%04u-W%02u", (unsigned)ty % 10000u,
                 (unsigned)week % 100u);
        break;
    }
    case EMP_SLA_MONTH:
        snprintf(buf, EMP_SLA_LABEL_SIZE, "%04u-%02u", yy, mm);
        break;
    case EMP_SLA_QUARTER:
        snprintf(buf, EMP_SLA_LABEL_SIZE, "%04u-Q%u", yy, (mm + 2u) / 3u % 10u);
        break;
    case EMP_SLA_YEAR:
    default:
        snprintf(buf, EMP_SLA_LABEL_SIZE, "%04u", yy);
        break;
    }
    return EMP_OK;
}

/* Checks shared by emp_sla_bounds and emp_sla_compute. */
static enum emp_err check_window(const struct emp_sla *sla, int64_t from_us, int64_t to_us)
{
    if (sla == NULL || (unsigned)sla->period > (unsigned)EMP_SLA_YEAR)
        return EMP_EINVAL;
    if (!in_range(from_us) || to_us < EMP_SLA_MIN_US || to_us > EMP_SLA_MAX_US + 1)
        return EMP_ERANGE;
    if (to_us < from_us)
        return EMP_EINVAL;
    return EMP_OK;
}

enum emp_err emp_sla_bounds(const struct emp_sla *sla, int64_t from_us, int64_t to_us,
                            int64_t *load_from_us, int64_t *load_to_us)
{
    if (load_from_us == NULL || load_to_us == NULL)
        return EMP_EINVAL;
    enum emp_err rc = check_window(sla, from_us, to_us);
    if (rc != EMP_OK)
        return rc;
    int64_t end;
    emp_sla_period_bounds(sla->period, from_us, load_from_us, &end);
    if (to_us == from_us) {
        *load_to_us = *load_from_us;
        return EMP_OK;
    }
    int64_t start;
    emp_sla_period_bounds(sla->period, to_us - 1, &start, load_to_us);
    return EMP_OK;
}

/* ---- interval algebra -------------------------------------------------- */

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t x = *(const int64_t *)pa, y = *(const int64_t *)pb;
    return x < y ? -1 : x > y;
}

/* Sum of the overlaps of possibly overlapping intervals (sorted by a, with
 * prefix max ends `pmax`) with [lo, hi): several probers' time counts once
 * per prober. */
static int64_t overlap_sum(const struct emp_ival *v, const int64_t *pmax, size_t n, int64_t lo,
                           int64_t hi)
{
    int64_t sum = 0;
    for (size_t i = emp_ival_first_after(v, pmax, n, lo); i < n && v[i].a < hi; i++) {
        int64_t a = emp_max64(v[i].a, lo), b = emp_min64(v[i].b, hi);
        if (a < b)
            sum += b - a;
    }
    return sum;
}

/* Time of the whole minutes touched by a normalized list inside [lo, hi),
 * lo on a minute boundary; the minute holding hi - 1 counts only up to hi. */
static int64_t known_minutes_us(const struct emp_ival *v, size_t n, int64_t lo, int64_t hi)
{
    int64_t count = 0, last = INT64_MIN;
    for (size_t i = emp_ival_first_after(v, NULL, n, lo); i < n && v[i].a < hi; i++) {
        int64_t a = emp_max64(v[i].a, lo), b = emp_min64(v[i].b, hi);
        int64_t m0 = floor_div(a, US_PER_MIN), m1 = floor_div(b - 1, US_PER_MIN);
        if (last != INT64_MIN && m0 <= last)
            m0 = last + 1;
        if (m0 <= m1) {
            count += m1 - m0 + 1;
            last = m1;
        }
    }
    int64_t us = count * US_PER_MIN;
    int64_t hi_min = floor_div(hi - 1, US_PER_MIN);
    if (count > 0 && last == hi_min)
        us -= (hi_min + 1) * US_PER_MIN - hi;
    return us;
}

/* ---- the computation --------------------------------------------------- */

/* What the whole input becomes once, before the periods are walked. */
struct prep {
    struct emp_ival *obs; /* observed time, normalized */
    size_t n_obs;
    struct emp_ival *raw;  /* observed time per span, sorted by a, not merged */
    int64_t *raw_pmax;     /* prefix maximum of raw[].b */
    size_t n_raw;
    struct emp_ival *down; /* observed outage time, normalized */
    size_t n_down;
    int64_t *fail_at;      /* failure times, sorted */
    size_t n_fail;
    size_t *out_order;     /* outage indices sorted by start */
    struct emp_ival *out_iv; /* outage i as [start, effective end] in out_order */
    int64_t *out_pmax;
    size_t n_out;
};

static void prep_free(struct prep *p)
{
    free(p->obs);
    free(p->raw);
    free(p->raw_pmax);
    free(p->down);
    free(p->fail_at);
    free(p->out_order);
    free(p->out_iv);
    free(p->out_pmax);
}

/* For sorting outage indices by start (then index, for a stable order). */
struct out_key {
    int64_t start;
    size_t idx;
};

static int cmp_out_key(const void *pa, const void *pb)
{
    const struct out_key *x = pa, *y = pb;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void *alloc_n(size_t n, size_t size)
{
    return calloc(n > 0 ? n : 1, size);
}

static enum emp_err prepare(const struct emp_sla_input *in, int64_t now_us, struct prep *p)
{
    memset(p, 0, sizeof *p);
    size_t nsp = in->n_spans, nout = in->n_outages;
    p->obs = alloc_n(nsp, sizeof *p->obs);
    p->raw = alloc_n(nsp, sizeof *p->raw);
    p->raw_pmax = alloc_n(nsp, sizeof *p->raw_pmax);
    struct emp_ival *outs = alloc_n(nout, sizeof *outs);
    p->down = alloc_n(nsp + nout, sizeof *p->down);
    p->fail_at = alloc_n(in->n_failures, sizeof *p->fail_at);
    struct out_key *keys = alloc_n(nout, sizeof *keys);
    p->out_order = alloc_n(nout, sizeof *p->out_order);
    p->out_iv = alloc_n(nout, sizeof *p->out_iv);
    p->out_pmax = alloc_n(nout, sizeof *p->out_pmax);
    if (p->obs == NULL || p->raw == NULL || p->raw_pmax == NULL || outs == NULL ||
        p->down == NULL || p->fail_at == NULL || keys == NULL || p->out_order == NULL ||
        p->out_iv == NULL || p->out_pmax == NULL) {
        free(outs);
        free(keys);
        prep_free(p);
        memset(p, 0, sizeof *p);
        return EMP_ENOMEM;
    }

    /* Observed time, never past now; a span with a grace (the live one:
     * the store gives it to no other) reaches min(now, end + grace)
     * because its next probe is not due yet (as uptime.c). */
    for (size_t i = 0; i < nsp; i++) {
        const struct emp_span *s = &in->spans[i];
        int64_t b = s->ended_at_us;
        if (s->grace_us > 0)
            b = emp_max64(b, emp_min64(now_us, emp_sat_add(b, s->grace_us)));
        b = emp_min64(b, now_us);
        if (s->started_at_us < b)
            p->raw[p->n_raw++] = (struct emp_ival){s->started_at_us, b};
    }
    qsort(p->raw, p->n_raw, sizeof *p->raw, emp_ival_cmp);
    for (size_t i = 0; i < p->n_raw; i++) {
        p->obs[i] = p->raw[i];
        p->raw_pmax[i] = i == 0 ? p->raw[i].b : emp_max64(p->raw_pmax[i - 1], p->raw[i].b);
    }
    p->n_obs = emp_ival_normalize(p->obs, p->n_raw);

    /* Outage time that was observed is downtime. */
    size_t n_outs = 0;
    for (size_t i = 0; i < nout; i++) {
        const struct emp_outage *o = &in->outages[i];
        int64_t b = emp_min64(o->ended_at_us == 0 ? now_us : o->ended_at_us, now_us);
        if (o->started_at_us < b)
            outs[n_outs++] = (struct emp_ival){o->started_at_us, b};
    }
    n_outs = emp_ival_normalize(outs, n_outs);
    p->n_down = emp_ival_intersect(p->obs, p->n_obs, outs, n_outs, p->down);
    free(outs);

    for (size_t i = 0; i < in->n_failures; i++)
        p->fail_at[i] = in->failures[i].at_us;
    p->n_fail = in->n_failures;
    qsort(p->fail_at, p->n_fail, sizeof *p->fail_at, cmp_i64);

    /* Evidence: every outage, by start; an ongoing one lasts until now. */
    for (size_t i = 0; i < nout; i++)
        keys[i] = (struct out_key){in->outages[i].started_at_us, i};
    qsort(keys, nout, sizeof *keys, cmp_out_key);
    for (size_t k = 0; k < nout; k++) {
        const struct emp_outage *o = &in->outages[keys[k].idx];
        int64_t b = o->ended_at_us == 0 ? emp_max64(now_us, o->started_at_us) : o->ended_at_us;
        p->out_order[k] = keys[k].idx;
        p->out_iv[k] = (struct emp_ival){o->started_at_us, emp_max64(b, o->started_at_us)};
        p->out_pmax[k] = k == 0 ? p->out_iv[k].b : emp_max64(p->out_pmax[k - 1], p->out_iv[k].b);
    }
    p->n_out = nout;
    free(keys);
    return EMP_OK;
}

/* Outages overlapping [lo, hi), by start, into `dst` (may be NULL: only
 * count). A zero-length outage (a point failure) overlaps when lo <= start
 * < hi. The scan starts at the first outage whose prefix-max end reaches
 * lo, so that point failures at lo are kept. */
static size_t evidence(const struct prep *p, int64_t lo, int64_t hi, size_t *dst)
{
    size_t n = 0;
    size_t i = emp_ival_first_after(p->out_iv, p->out_pmax, p->n_out, lo - 1);
    for (; i < p->n_out && p->out_iv[i].a < hi; i++) {
        const struct emp_ival *v = &p->out_iv[i];
        bool hit = v->a == v->b ? v->a >= lo : v->b > lo;
        if (!hit)
            continue;
        if (dst != NULL)
            dst[n] = p->out_order[i];
        n++;
    }
    return n;
}

/* Downtime under the MINUTES rule in [lo, hi) (lo on a minute boundary).
 * A minute's probes are estimated as its observed time, summed over spans
 * (so over probers), divided by the interval; it is down when failures /
 * probes > max_failed_fraction. A minute with no observed time is unknown:
 * its failures, if any, are not counted. */
static int64_t minutes_down(const struct prep *p, const struct emp_sla *sla,
                            int64_t interval_us, int64_t lo, int64_t hi, int64_t *n_down)
{
    int64_t down = 0;
    size_t l = 0, h = p->n_fail;
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        if (p->fail_at[mid] < lo)
            l = mid + 1;
        else
            h = mid;
    }
    size_t i = l;
    while (i < p->n_fail && p->fail_at[i] < hi) {
        int64_t minute = floor_div(p->fail_at[i], US_PER_MIN);
        int64_t ms = minute * US_PER_MIN, me = emp_min64(ms + US_PER_MIN, hi);
        int64_t failed = 0;
        while (i < p->n_fail && p->fail_at[i] < me) {
            failed++;
            i++;
        }
        int64_t seen = overlap_sum(p->raw, p->raw_pmax, p->n_raw, ms, me);
        if (seen <= 0)
            continue;
        double probes = (double)seen / (double)interval_us;
        if ((double)failed > sla->max_failed_fraction * probes) {
            down += me - ms;
            (*n_down)++;
        }
    }
    return down;
}

/* (1 - pct/100) x counted, to the nearest microsecond: the downtime at which
 * availability is exactly pct. Rounding here absorbs the binary error of
 * figures like 99.95, so that boundary cases compare exactly. */
static int64_t budget_us(int64_t counted_us, double pct)
{
    return llround((double)counted_us * (100.0 - pct) / 100.0);
}

static void evaluate(const struct prep *p, const struct emp_sla *sla, int64_t interval_us,
                     int64_t now_us, struct emp_sla_period_result *r)
{
    int64_t lo = r->start_us, hi = emp_min64(r->end_us, now_us);
    r->partial = r->end_us > now_us;
    r->elapsed_us = hi - lo;
    r->observed_us = emp_ival_measure(p->obs, p->n_obs, lo, hi);
    r->unknown_us = r->elapsed_us - r->observed_us;
    r->objective_pct = sla->objective_pct;

    int64_t known_us;
    if (sla->rule == EMP_SLA_RULE_MINUTES) {
        known_us = known_minutes_us(p->obs, p->n_obs, lo, hi);
        r->downtime_us = minutes_down(p, sla, interval_us, lo, hi, &r->down_minutes);
    } else {
        known_us = r->observed_us;
        r->downtime_us = emp_ival_measure(p->down, p->n_down, lo, hi);
    }
    r->counted_us = sla->exclude_unknown ? known_us : r->elapsed_us;
    r->allowed_downtime_us = budget_us(r->counted_us, sla->objective_pct);

    if (r->observed_us == 0) {
        /* No evidence at all: nothing to vouch for, either way. */
        r->availability_pct = NAN;
        r->met = false;
        r->credit_pct = NAN;
        return;
    }
    r->availability_pct =
        100.0 * (double)(r->counted_us - r->downtime_us) / (double)r->counted_us;
    r->met = r->downtime_us <= r->allowed_downtime_us;
    /* The tier owed is the one with the lowest threshold that availability
     * is strictly below (tiers are validated so that it is also the highest
     * credit). */
    r->credit_pct = 0.0;
    double lowest = INFINITY;
    for (size_t k = 0; k < sla->n_credits; k++) {
        const struct emp_sla_credit *t = &sla->credits[k];
        if (r->downtime_us > budget_us(r->counted_us, t->below_pct) && t->below_pct < lowest) {
            lowest = t->below_pct;
            r->credit_pct = t->credit_pct;
        }
    }
}

void emp_sla_report_cleanup(struct emp_sla_report *r)
{
    if (r == NULL)
        return;
    free(r->periods);
    free(r->outage_pool);
    memset(r, 0, sizeof *r);
}

enum emp_err emp_sla_compute(const struct emp_sla *sla, int64_t from_us, int64_t to_us,
                             int64_t now_us, const struct emp_sla_input *in,
                             struct emp_sla_report *out)
{
    if (out == NULL)
        return EMP_EINVAL;
    memset(out, 0, sizeof *out);
    if (in == NULL || (in->n_spans > 0 && in->spans == NULL) ||
        (in->n_outages > 0 && in->outages == NULL) ||
        (in->n_failures > 0 && in->failures == NULL))
        return EMP_EINVAL;
    enum emp_err rc = check_window(sla, from_us, to_us);
    if (rc != EMP_OK)
        return rc;
    if (sla->rule == EMP_SLA_RULE_MINUTES &&
        (in->interval_ms <= 0 || in->interval_ms > INT64_MAX / US_PER_MS))
        return EMP_EINVAL;
    int64_t interval_us = in->interval_ms * US_PER_MS;

    /* Periods that overlap [from, to) and have begun by now. */
    size_t n = 0;
    if (to_us > from_us) {
        /* The first period may begin before 1970 (the week of 1970-01-01),
         * so each is located by an instant inside it: from, then the
         * previous period's end (at most year 9999 while below to). */
        int64_t t = from_us, start = 0, end = 0;
        for (;;) {
            if (emp_sla_period_bounds(sla->period, t, &start, &end) != EMP_OK ||
                start >= to_us || start >= now_us)
                break;
            if (++n > EMP_SLA_MAX_PERIODS)
                return EMP_ERANGE;
            t = end;
            if (t >= to_us)
                break;
        }
    }
    if (n == 0)
        return EMP_OK;

    struct prep p;
    rc = prepare(in, now_us, &p);
    if (rc != EMP_OK)
        return rc;
    out->periods = calloc(n, sizeof *out->periods);
    if (out->periods == NULL) {
        rc = EMP_ENOMEM;
        goto out;
    }

    size_t pool_n = 0;
    int64_t t = from_us;
    for (size_t k = 0; k < n; k++) {
        struct emp_sla_period_result *r = &out->periods[k];
        emp_sla_period_bounds(sla->period, t, &r->start_us, &r->end_us);
        emp_sla_period_label(sla->period, t, r->label);
        evaluate(&p, sla, interval_us, now_us, r);
        r->n_outages = evidence(&p, r->start_us, r->end_us, NULL);
        pool_n += r->n_outages;
        t = r->end_us;
    }
    out->n_periods = n;
    if (pool_n > 0) {
        out->outage_pool = calloc(pool_n, sizeof *out->outage_pool);
        if (out->outage_pool == NULL) {
            rc = EMP_ENOMEM;
            goto out;
        }
        size_t used = 0;
        for (size_t k = 0; k < n; k++) {
            struct emp_sla_period_result *r = &out->periods[k];
            r->outages = out->outage_pool + used;
            used += evidence(&p, r->start_us, r->end_us, out->outage_pool + used);
        }
    }
out:
    prep_free(&p);
    if (rc != EMP_OK)
        emp_sla_report_cleanup(out);
    return rc;
}
