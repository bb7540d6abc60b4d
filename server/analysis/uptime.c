/* Uptime arithmetic over a window, as interval algebra: observed time is the
 * union of coverage spans, down time is observed time inside an outage, up
 * time is the rest of observed time, and everything else is unknown. The
 * timeline (segments of one state) is built first; the uptime figures are a
 * sum over it. Pure: no I/O, no clock — `now` is an argument. */
#include "analysis/uptime.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/ival.h"

static void set_all_unknown(int64_t from_us, int64_t to_us, struct emp_uptime *out)
{
    out->from_us = from_us;
    out->to_us = to_us;
    out->up_us = out->down_us = 0;
    out->unknown_us = to_us > from_us ? emp_sat_sub(to_us, from_us) : 0;
    out->availability = NAN;
    out->coverage = 0.0;
    out->streak_current_us = out->streak_longest_us = 0;
}

/* Append [a, b) in `state`, merging with the previous segment when it has
 * the same state. Empty pieces are dropped. */
static void emit(struct emp_segment *seg, size_t *n, int64_t a, int64_t b,
                 enum emp_seg_state state)
{
    if (a >= b)
        return;
    if (*n > 0 && seg[*n - 1].state == state && seg[*n - 1].end_us == a) {
        seg[*n - 1].end_us = b;
        return;
    }
    seg[*n].start_us = a;
    seg[*n].end_us = b;
    seg[*n].state = state;
    (*n)++;
}

enum emp_err emp_timeline_build(int64_t from_us, int64_t to_us, int64_t now_us,
                                const struct emp_span *spans, size_t n_spans,
                                const struct emp_outage *outages, size_t n_outages,
                                struct emp_segment **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (to_us <= from_us)
        return EMP_OK;

    /* Nothing after `now` or `to` can have been observed. */
    int64_t end_us = emp_min64(to_us, now_us);
    struct emp_ival *obs = NULL, *down = NULL;
    struct emp_segment *seg = NULL;
    size_t n_obs = 0, n_down = 0, n_seg = 0;
    enum emp_err rc = EMP_ENOMEM;

    /* Each observed interval yields at most one unknown gap before it and
     * alternating up/down pieces: 2·(outages meeting it) + 1. An outage meets
     * several observed intervals only by crossing the gaps between them, so
     * the total stays under 4·n_obs + 2·n_down + 2. */
    if (n_spans > SIZE_MAX / 8 / sizeof *seg || n_outages > SIZE_MAX / 8 / sizeof *seg)
        goto out;
    if (n_spans > 0 && (obs = malloc(n_spans * sizeof *obs)) == NULL)
        goto out;
    if (n_outages > 0 && (down = malloc(n_outages * sizeof *down)) == NULL)
        goto out;

    for (size_t i = 0; i < n_spans; i++) {
        int64_t b = spans[i].ended_at_us;
        /* A span is observed `grace` past its last probe, never past now:
         * the next probe was not due yet. The store gives a grace only to
         * the live span, a prober's last (store/history.c): which span that
         * is depends on the spans alone, never on the window, so that
         * windows split anywhere add up. */
        if (spans[i].grace_us > 0)
            b = emp_max64(b, emp_min64(now_us, emp_sat_add(b, spans[i].grace_us)));
        emp_ival_push_clipped(obs, &n_obs, spans[i].started_at_us, b, from_us, end_us);
    }
    n_obs = emp_ival_normalize(obs, n_obs);

    for (size_t i = 0; i < n_outages; i++) {
        int64_t b = outages[i].ended_at_us == 0 ? now_us : outages[i].ended_at_us;
        emp_ival_push_clipped(down, &n_down, outages[i].started_at_us, b, from_us, end_us);
    }
    n_down = emp_ival_normalize(down, n_down);

    seg = malloc((4 * n_obs + 2 * n_down + 2) * sizeof *seg);
    if (seg == NULL)
        goto out;

    /* Sweep observed intervals against outage intervals. Observed intervals
     * are disjoint and not touching, so unknown time lies between any two. */
    int64_t cur = from_us; /* everything before cur is classified */
    size_t j = 0;
    for (size_t i = 0; i < n_obs; i++) {
        int64_t a = obs[i].a, b = obs[i].b;
        emit(seg, &n_seg, cur, a, EMP_SEG_UNKNOWN);
        cur = a;
        while (j < n_down && down[j].b <= a)
            j++;
        size_t k = j;
        while (cur < b) {
            int64_t up_end = b;
            if (k < n_down && down[k].a < b)
                up_end = emp_max64(cur, down[k].a);
            emit(seg, &n_seg, cur, up_end, EMP_SEG_UP);
            cur = up_end;
            if (cur >= b)
                break;
            /* cur is inside outage k. */
            int64_t d_end = emp_min64(b, down[k].b);
            emit(seg, &n_seg, cur, d_end, EMP_SEG_DOWN);
            cur = d_end;
            if (down[k].b <= b)
                k++;
        }
        j = k;
    }
    emit(seg, &n_seg, cur, to_us, EMP_SEG_UNKNOWN);

    *out = seg;
    *n = n_seg;
    seg = NULL;
    rc = EMP_OK;
out:
    free(obs);
    free(down);
    free(seg);
    return rc;
}

enum emp_err emp_timeline_build_times(int64_t from_us, int64_t to_us, int64_t now_us,
                                      const struct emp_span *spans, size_t n_spans,
                                      const struct emp_outage_time *outages, size_t n_outages,
                                      struct emp_segment **out, size_t *n)
{
    /* Only the times are read: the rest of each element stays unset. */
    struct emp_outage *o = malloc((n_outages ? n_outages : 1) * sizeof *o);
    if (o == NULL) {
        *out = NULL;
        *n = 0;
        return EMP_ENOMEM;
    }
    for (size_t k = 0; k < n_outages; k++) {
        o[k].target_id = outages[k].target_id;
        o[k].started_at_us = outages[k].started_at_us;
        o[k].ended_at_us = outages[k].ended_at_us;
    }
    enum emp_err e = emp_timeline_build(from_us, to_us, now_us, spans, n_spans, o, n_outages,
                                        out, n);
    free(o);
    return e;
}

static enum emp_seg_state single_state(enum emp_err e, struct emp_segment *seg, size_t n)
{
    enum emp_seg_state st = e == EMP_OK && n == 1 ? seg[0].state : EMP_SEG_UNKNOWN;
    free(seg);
    return st;
}

enum emp_seg_state emp_timeline_state_at(int64_t t_us, int64_t now_us,
                                         const struct emp_span *spans, size_t n_spans,
                                         const struct emp_outage *outages, size_t n_outages)
{
    struct emp_segment *seg = NULL;
    size_t n = 0;
    enum emp_err e = emp_timeline_build(t_us, t_us + 1, now_us, spans, n_spans, outages,
                                        n_outages, &seg, &n);
    return single_state(e, seg, n);
}

enum emp_seg_state emp_timeline_state_at_times(int64_t t_us, int64_t now_us,
                                               const struct emp_span *spans, size_t n_spans,
                                               const struct emp_outage_time *outages,
                                               size_t n_outages)
{
    struct emp_segment *seg = NULL;
    size_t n = 0;
    enum emp_err e = emp_timeline_build_times(t_us, t_us + 1, now_us, spans, n_spans, outages,
                                              n_outages, &seg, &n);
    return single_state(e, seg, n);
}

void emp_uptime_from_timeline(int64_t from_us, int64_t to_us, int64_t now_us,
                              const struct emp_segment *seg, size_t n,
                              struct emp_uptime *out)
{
    set_all_unknown(from_us, to_us, out);
    if (to_us <= from_us)
        return;
    int64_t end_us = emp_min64(to_us, now_us);
    int64_t up = 0, down = 0, longest = 0, current = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t len = seg[i].end_us - seg[i].start_us;
        if (seg[i].state == EMP_SEG_UP) {
            up += len;
            longest = emp_max64(longest, len);
            /* A streak is current only if up time reaches the end of what
             * could be observed (min(to, now)); ending in an outage or in
             * unknown time (the prober died or fell behind) breaks it. */
            if (seg[i].end_us == end_us)
                current = len;
        } else if (seg[i].state == EMP_SEG_DOWN) {
            down += len;
        }
    }
    int64_t window = emp_sat_sub(to_us, from_us);
    int64_t observed = up + down;
    out->up_us = up;
    out->down_us = down;
    out->unknown_us = window - observed;
    out->availability = observed > 0 ? (double)up / (double)observed : NAN;
    out->coverage = (double)observed / (double)window;
    out->streak_longest_us = longest;
    out->streak_current_us = current;
}

enum emp_err emp_uptime_compute(int64_t from_us, int64_t to_us, int64_t now_us,
                                const struct emp_span *spans, size_t n_spans,
                                const struct emp_outage *outages, size_t n_outages,
                                struct emp_uptime *out)
{
    struct emp_segment *seg;
    size_t n;
    set_all_unknown(from_us, to_us, out);
    enum emp_err rc = emp_timeline_build(from_us, to_us, now_us, spans, n_spans,
                                         outages, n_outages, &seg, &n);
    if (rc != EMP_OK)
        return rc;
    emp_uptime_from_timeline(from_us, to_us, now_us, seg, n, out);
    free(seg);
    return EMP_OK;
}
