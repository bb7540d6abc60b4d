/* The combined verdict of several locations (analysis/vantage.h): a sweep
 * over the locations' timelines, one cursor each, cutting at every
 * boundary any of them has. */
#include "analysis/vantage.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int emp_quorum_needed(const struct emp_quorum *q, int observing)
{
    int need;
    switch (q->rule) {
    case EMP_QUORUM_ANY: need = 1; break;
    case EMP_QUORUM_ALL: need = observing; break;
    case EMP_QUORUM_COUNT: need = q->count; break;
    case EMP_QUORUM_MAJORITY:
    default: need = observing / 2 + 1; break;
    }
    return need < 1 ? 1 : need;
}

static enum emp_vstate verdict(const struct emp_quorum *q, int observing, int down)
{
    int min = q->min_locations < 1 ? 1 : q->min_locations;
    if (observing < min)
        return EMP_V_UNKNOWN;
    if (down == 0)
        return EMP_V_UP;
    return down >= emp_quorum_needed(q, observing) ? EMP_V_DOWN : EMP_V_PARTIAL;
}

/* A timeline covers [from, to) contiguously. */
static bool covers(const struct emp_segment *s, size_t n, int64_t from_us, int64_t to_us)
{
    if (n == 0 || s[0].start_us != from_us || s[n - 1].end_us != to_us)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i].end_us <= s[i].start_us || (i > 0 && s[i].start_us != s[i - 1].end_us))
            return false;
    return true;
}

enum emp_err emp_vantage_combine(int64_t from_us, int64_t to_us,
                                 const struct emp_segment *const *loc, const size_t *n_seg,
                                 size_t n_loc, const struct emp_quorum *q,
                                 struct emp_vsegment **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (to_us <= from_us || n_loc == 0)
        return EMP_OK;
    if (n_loc > EMP_VANTAGE_MAX)
        return EMP_EINVAL;
    size_t cap = 0;
    for (size_t i = 0; i < n_loc; i++) {
        if (!covers(loc[i], n_seg[i], from_us, to_us))
            return EMP_EINVAL;
        cap += n_seg[i];
    }
    size_t cur[EMP_VANTAGE_MAX] = {0};
    struct emp_vsegment *v = malloc(cap * sizeof *v);
    if (v == NULL)
        return EMP_ENOMEM;
    size_t k = 0;
    int64_t t = from_us;
    while (t < to_us) {
        int64_t next = to_us;
        uint64_t observing = 0, down = 0;
        int n_obs = 0, n_down = 0;
        for (size_t i = 0; i < n_loc; i++) {
            const struct emp_segment *s = &loc[i][cur[i]];
            if (s->end_us < next)
                next = s->end_us;
            if (s->state != EMP_SEG_UNKNOWN) {
                observing |= UINT64_C(1) << i;
                n_obs++;
            }
            if (s->state == EMP_SEG_DOWN) {
                down |= UINT64_C(1) << i;
                n_down++;
            }
        }
        enum emp_vstate st = verdict(q, n_obs, n_down);
        if (k > 0 && v[k - 1].state == st && v[k - 1].observing == observing &&
            v[k - 1].down == down) {
            v[k - 1].end_us = next;
        } else {
            v[k++] = (struct emp_vsegment){.start_us = t, .end_us = next, .state = st,
                                           .observing = observing, .down = down};
        }
        for (size_t i = 0; i < n_loc; i++)
            if (loc[i][cur[i]].end_us == next && cur[i] + 1 < n_seg[i])
                cur[i]++;
        t = next;
    }
    *out = v;
    *n = k;
    return EMP_OK;
}

enum emp_err emp_vantage_history(const struct emp_vsegment *seg, size_t n, int64_t now_us,
                                 int64_t target_id, struct emp_span **spans, size_t *n_spans,
                                 struct emp_outage **outages, size_t *n_outages)
{
    *spans = NULL;
    *outages = NULL;
    *n_spans = *n_outages = 0;
    struct emp_span *sp = malloc((n > 0 ? n : 1) * sizeof *sp);
    struct emp_outage *ou = malloc((n > 0 ? n : 1) * sizeof *ou);
    if (sp == NULL || ou == NULL) {
        free(sp);
        free(ou);
        return EMP_ENOMEM;
    }
    size_t ns = 0, no = 0;
    for (size_t i = 0; i < n; i++) {
        const struct emp_vsegment *s = &seg[i];
        bool observed = s->state != EMP_V_UNKNOWN;
        bool joins = i > 0 && seg[i - 1].end_us == s->start_us;
        if (observed) {
            if (ns > 0 && joins && seg[i - 1].state != EMP_V_UNKNOWN)
                sp[ns - 1].ended_at_us = s->end_us;
            else
                sp[ns++] = (struct emp_span){.started_at_us = s->start_us,
                                             .ended_at_us = s->end_us,
                                             .target_id = target_id};
        }
        if (s->state == EMP_V_DOWN) {
            if (no > 0 && joins && seg[i - 1].state == EMP_V_DOWN) {
                ou[no - 1].ended_at_us = s->end_us;
            } else {
                memset(&ou[no], 0, sizeof ou[no]);
                ou[no].target_id = target_id;
                ou[no].started_at_us = s->start_us;
                ou[no].ended_at_us = s->end_us;
                memcpy(ou[no].err_class, "quorum", sizeof "quorum");
                no++;
            }
        }
    }
    if (no > 0 && n > 0 && seg[n - 1].state == EMP_V_DOWN && seg[n - 1].end_us >= now_us)
        ou[no - 1].ended_at_us = 0;
    *spans = sp;
    *outages = ou;
    *n_spans = ns;
    *n_outages = no;
    return EMP_OK;
}

void emp_vantage_totals(const struct emp_vsegment *seg, size_t n, struct emp_vtotals *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        int64_t d = seg[i].end_us - seg[i].start_us;
        switch (seg[i].state) {
        case EMP_V_UP: out->up_us += d; break;
        case EMP_V_DOWN: out->down_us += d; break;
        case EMP_V_PARTIAL:
            out->partial_us += d;
            out->partial_locations |= seg[i].down;
            break;
        case EMP_V_UNKNOWN:
        default: out->unknown_us += d; break;
        }
    }
}
