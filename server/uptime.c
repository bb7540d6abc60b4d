/* Uptime arithmetic over a window, as interval algebra: observed time is the
 * union of coverage spans, down time is observed time inside an outage, up
 * time is the rest of observed time, and everything else is unknown. Pure:
 * no I/O, no clock — `now` is an argument. */
#include "uptime.h"

#include <math.h>
#include <stdlib.h>

struct ival {
    int64_t a, b; /* [a, b) */
};

static int64_t min64(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

static int64_t max64(int64_t x, int64_t y)
{
    return x > y ? x : y;
}

static int64_t sat_add(int64_t x, int64_t y)
{
    int64_t r;
    if (__builtin_add_overflow(x, y, &r))
        return y > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_sub(int64_t x, int64_t y)
{
    int64_t r;
    if (__builtin_sub_overflow(x, y, &r))
        return y < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int cmp_ival(const void *pa, const void *pb)
{
    const struct ival *x = pa, *y = pb;
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    return 0;
}

/* Sort and merge overlapping or touching intervals in place; returns the new
 * count. */
static size_t normalize(struct ival *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_ival);
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i].a <= v[k].b) {
            if (v[i].b > v[k].b)
                v[k].b = v[i].b;
        } else {
            v[++k] = v[i];
        }
    }
    return k + 1;
}

/* Clip [a, b) to [lo, hi) and append it to v when something is left. */
static void push_clipped(struct ival *v, size_t *n, int64_t a, int64_t b,
                         int64_t lo, int64_t hi)
{
    a = max64(a, lo);
    b = min64(b, hi);
    if (a < b) {
        v[*n].a = a;
        v[*n].b = b;
        (*n)++;
    }
}

static void set_all_unknown(int64_t from_us, int64_t to_us, struct emp_uptime *out)
{
    out->from_us = from_us;
    out->to_us = to_us;
    out->up_us = out->down_us = 0;
    out->unknown_us = to_us > from_us ? sat_sub(to_us, from_us) : 0;
    out->availability = NAN;
    out->coverage = 0.0;
    out->streak_current_us = out->streak_longest_us = 0;
}

enum emp_err emp_uptime_compute(int64_t from_us, int64_t to_us, int64_t now_us,
                                const struct emp_span *spans, size_t n_spans,
                                const struct emp_outage *outages, size_t n_outages,
                                struct emp_uptime *out)
{
    set_all_unknown(from_us, to_us, out);
    if (to_us <= from_us)
        return EMP_OK;

    /* Nothing after `now` or `to` can have been observed. */
    int64_t end_us = min64(to_us, now_us);
    struct ival *obs = NULL, *down = NULL;
    size_t n_obs = 0, n_down = 0;
    if (n_spans > 0) {
        obs = malloc(n_spans * sizeof *obs);
        if (obs == NULL)
            return EMP_ENOMEM;
    }
    if (n_outages > 0) {
        down = malloc(n_outages * sizeof *down);
        if (down == NULL) {
            free(obs);
            return EMP_ENOMEM;
        }
    }

    for (size_t i = 0; i < n_spans; i++) {
        int64_t b = spans[i].ended_at_us;
        /* The live span is assumed observed for `grace` past its last probe:
         * the next probe is not due yet. */
        if (i + 1 == n_spans && spans[i].grace_us > 0)
            b = max64(b, min64(now_us, sat_add(b, spans[i].grace_us)));
        push_clipped(obs, &n_obs, spans[i].started_at_us, b, from_us, end_us);
    }
    n_obs = normalize(obs, n_obs);

    for (size_t i = 0; i < n_outages; i++) {
        int64_t b = outages[i].ended_at_us == 0 ? now_us : outages[i].ended_at_us;
        push_clipped(down, &n_down, outages[i].started_at_us, b, from_us, end_us);
    }
    n_down = normalize(down, n_down);

    /* Sweep observed intervals against outage intervals. Every piece of
     * observed time not inside an outage is up; each maximal up piece is a
     * streak. Observed intervals are disjoint and not touching, so a gap
     * between them (unknown time) always ends a streak. */
    int64_t observed = 0, down_us = 0, longest = 0, last_up_len = 0, last_up_end = 0;
    size_t j = 0;
    for (size_t i = 0; i < n_obs; i++) {
        int64_t a = obs[i].a, b = obs[i].b;
        observed += b - a;
        int64_t cur = a; /* start of the part of [a, b) not yet classified */
        while (j < n_down && down[j].b <= a)
            j++;
        size_t k = j;
        while (cur < b) {
            int64_t up_end = b;
            if (k < n_down && down[k].a < b)
                up_end = max64(cur, down[k].a);
            if (up_end > cur) {
                int64_t len = up_end - cur;
                longest = max64(longest, len);
                last_up_len = len;
                last_up_end = up_end;
            }
            cur = up_end;
            if (cur >= b)
                break;
            /* cur is inside outage k. */
            int64_t d_end = min64(b, down[k].b);
            down_us += d_end - cur;
            cur = d_end;
            if (down[k].b <= b)
                k++;
        }
        j = k;
    }

    int64_t window = sat_sub(to_us, from_us);
    out->up_us = observed - down_us;
    out->down_us = down_us;
    out->unknown_us = window - observed;
    out->availability = observed > 0 ? (double)out->up_us / (double)observed : NAN;
    out->coverage = (double)observed / (double)window;
    out->streak_longest_us = longest;
    /* A streak is current only if up time reaches the end of what could be
     * observed (min(to, now)); ending in an outage or in unknown time (the
     * prober died or fell behind) breaks it. */
    out->streak_current_us = (last_up_len > 0 && last_up_end == end_us) ? last_up_len : 0;

    free(obs);
    free(down);
    return EMP_OK;
}
