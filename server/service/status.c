/* The status page's figures (service/status.h): rows of every target from
 * three queries, one timeline per target, and the figures derived from it. */
#include "service/status.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/status.h"

/* Targets ordered by group (ungrouped last), then name. */
static int cmp_target(const void *pa, const void *pb)
{
    const struct emp_status_target *a = pa, *b = pb;
    bool ga = a->row->group[0] != '\0', gb = b->row->group[0] != '\0';
    if (ga != gb)
        return ga ? -1 : 1;
    int c = strcmp(a->row->group, b->row->group);
    return c != 0 ? c : strcmp(a->row->name, b->row->name);
}

/* First index in [0, n) of rows with target_id >= id; rows sorted by it. */
#define LOWER_BOUND(arr, n, id, out)                                                      \
    do {                                                                                  \
        size_t lo_ = 0, hi_ = (n);                                                        \
        while (lo_ < hi_) {                                                               \
            size_t mid_ = lo_ + (hi_ - lo_) / 2;                                          \
            if ((arr)[mid_].target_id < (id))                                             \
                lo_ = mid_ + 1;                                                           \
            else                                                                          \
                hi_ = mid_;                                                               \
        }                                                                                 \
        (out) = lo_;                                                                      \
    } while (0)

static int64_t floor_day(int64_t us)
{
    return us >= 0 ? us / EMP_DAY_US * EMP_DAY_US
                   : -((-us + EMP_DAY_US - 1) / EMP_DAY_US) * EMP_DAY_US;
}

void emp_status_cleanup(struct emp_status_page *s)
{
    for (size_t i = 0; s->t != NULL && i < s->n_t; i++) {
        free(s->t[i].seg);
        emp_view_rows_free(&s->t[i].view);
        free(s->t[i].own_recent);
    }
    free(s->t);
    free(s->rows);
    free(s->spans);
    free(s->ot);
    free(s->recent);
    memset(s, 0, sizeof *s);
}

/* A target seen from several locations: its rows become their verdict
 * combined, and its incidents the combined outages. */
static enum emp_err combine_target(struct emp_status_page *s, struct emp_status_target *t,
                                   const struct emp_prober_location *pl, size_t npl,
                                   const struct emp_config *cfg, const char *location)
{
    struct emp_quorum q = emp_view_quorum(cfg, t->row->name);
    enum emp_err e = emp_view_rows_combine(pl, npl, &q, location, t->row->id, s->from_us, s->now_us,
                                           s->now_us, t->spans, t->n_spans, t->ot, t->n_ot,
                                           &t->view);
    t->n_locations = t->view.n_locations;
    if (e != EMP_OK || t->view.owned_spans == NULL) {
        if (t->n_recent > EMP_STATUS_INCIDENTS) /* newest first */
            t->n_recent = EMP_STATUS_INCIDENTS;
        return e;
    }
    t->spans = t->view.spans;
    t->n_spans = t->view.n_spans;
    t->ot = t->view.ot;
    t->n_ot = t->view.n_ot;
    t->vantage = t->view.totals;
    if (location != NULL) {
        /* The location's own incidents. */
        size_t k = 0;
        t->own_recent = malloc((t->n_recent + 1) * sizeof *t->own_recent);
        if (t->own_recent == NULL)
            return EMP_ENOMEM;
        for (size_t i = 0; i < t->n_recent; i++) {
            const char *loc = "";
            for (size_t j = 0; j < npl; j++)
                if (pl[j].prober_id == t->recent[i].prober_id)
                    loc = pl[j].location;
            if (strcmp(loc, location) == 0 && k < EMP_STATUS_INCIDENTS)
                t->own_recent[k++] = t->recent[i];
        }
        t->recent = t->own_recent;
        t->n_recent = k;
        return EMP_OK;
    }
    e = emp_view_name_outages(t->ot, t->n_ot, t->recent, t->n_recent, s->now_us,
                              EMP_STATUS_INCIDENTS, &t->own_recent, &t->n_recent);
    t->recent = t->own_recent;
    return e;
}

enum emp_err emp_status_load(struct emp_db *db, const char *group, const char *location,
                             int64_t now_us, const struct emp_config *cfg,
                             struct emp_status_page *s, const char **what,
                             struct emp_error *err)
{
    memset(s, 0, sizeof *s);
    s->now_us = now_us;
    s->from_us = now_us - EMP_STATUS_DAYS * EMP_DAY_US;
    s->day0_us = floor_day(now_us) - (EMP_STATUS_DAYS - 1) * EMP_DAY_US;
    *what = "list targets";
    enum emp_err e = emp_db_list_targets(db, &s->rows, &s->n_rows, err);
    if (e == EMP_OK) {
        *what = "list coverage";
        e = emp_db_status_spans(db, group, s->from_us, now_us, &s->spans, &s->n_spans, err);
    }
    if (e == EMP_OK) {
        *what = "list outages";
        e = emp_db_status_outage_times(db, group, s->from_us, now_us, &s->ot, &s->n_ot, err);
    }
    struct emp_prober_location *pl = NULL;
    size_t npl = 0;
    if (e == EMP_OK) {
        *what = "list the probers' locations";
        e = emp_view_locations(db, location, &pl, &npl, err);
    }
    /* The newest incidents of each prober, so that one location's, or
     * the combined ones, are all there (up to 16 probers). */
    if (e == EMP_OK) {
        *what = "list recent outages";
        int per = EMP_STATUS_INCIDENTS * (int)(npl < 1 ? 1 : npl > 16 ? 16 : npl);
        e = emp_db_status_recent_outages(db, group, now_us, per, &s->recent, &s->n_recent, err);
    }
    if (e != EMP_OK) {
        free(pl);
        return e;
    }
    *what = "compute the status";
    s->t = calloc(s->n_rows ? s->n_rows : 1, sizeof *s->t);
    if (s->t == NULL) {
        free(pl);
        return emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < s->n_rows; i++) {
        const struct emp_target_row *row = &s->rows[i];
        if (group != NULL && strcmp(row->group, group) != 0)
            continue;
        struct emp_status_target *t = &s->t[s->n_t++];
        t->row = row;
        size_t s0, s1, o0, o1, r0, r1;
        LOWER_BOUND(s->spans, s->n_spans, row->id, s0);
        LOWER_BOUND(s->spans, s->n_spans, row->id + 1, s1);
        LOWER_BOUND(s->ot, s->n_ot, row->id, o0);
        LOWER_BOUND(s->ot, s->n_ot, row->id + 1, o1);
        LOWER_BOUND(s->recent, s->n_recent, row->id, r0);
        LOWER_BOUND(s->recent, s->n_recent, row->id + 1, r1);
        t->spans = s->spans + s0;
        t->n_spans = s1 - s0;
        t->ot = s->ot + o0;
        t->n_ot = o1 - o0;
        t->recent = s->recent + r0;
        t->n_recent = r1 - r0;
        if (combine_target(s, t, pl, npl, cfg, location) != EMP_OK) {
            free(pl);
            return emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
        }
    }
    free(pl);
    if (group != NULL && s->n_t == 0)
        return emp_error_set(err, EMP_ENOTFOUND, NULL, "no such group: %.64s", group);
    qsort(s->t, s->n_t, sizeof *s->t, cmp_target);
    return EMP_OK;
}

enum emp_err emp_status_timeline(struct emp_status_page *s, size_t i)
{
    struct emp_status_target *t = &s->t[i];
    return emp_timeline_build_times(s->from_us, s->now_us, s->now_us, t->spans, t->n_spans,
                                    t->ot, t->n_ot, &t->seg, &t->n_seg);
}

/* Up and down time of a timeline inside [a, b). */
static void sum_window(const struct emp_segment *seg, size_t n, int64_t a, int64_t b,
                       int64_t *up, int64_t *down)
{
    *up = *down = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t s = seg[i].start_us > a ? seg[i].start_us : a;
        int64_t e = seg[i].end_us < b ? seg[i].end_us : b;
        if (e <= s)
            continue;
        if (seg[i].state == EMP_SEG_UP)
            *up += e - s;
        else if (seg[i].state == EMP_SEG_DOWN)
            *down += e - s;
    }
}

/* Add [start, end) to per_day[] (EMP_STATUS_DAYS UTC days from day0),
 * clipped to [day0, now). */
static void add_by_day(int64_t start, int64_t end, int64_t day0, int64_t now, int64_t *per_day)
{
    int64_t a = start > day0 ? start : day0;
    int64_t e = end < now ? end : now;
    while (a < e) {
        int64_t d = (a - day0) / EMP_DAY_US;
        if (d >= EMP_STATUS_DAYS)
            break;
        int64_t de = day0 + (d + 1) * EMP_DAY_US;
        int64_t x = e < de ? e : de;
        per_day[d] += x - a;
        a = x;
    }
}

/* The daily bars from `day0` (a UTC midnight) to `now`, by one sweep over
 * the segments. */
static void days(const struct emp_status_target *t, int64_t day0, int64_t now,
                 struct emp_status_figures *f)
{
    for (size_t i = 0; i < t->n_seg; i++) {
        const struct emp_segment *s = &t->seg[i];
        if (s->state != EMP_SEG_UNKNOWN)
            add_by_day(s->start_us, s->end_us, day0, now,
                       s->state == EMP_SEG_UP ? f->day_up_us : f->day_down_us);
    }
    for (size_t i = 0; i < t->n_ot; i++) {
        int64_t s = t->ot[i].started_at_us;
        if (s >= day0 && s < now && (s - day0) / EMP_DAY_US < EMP_STATUS_DAYS)
            f->day_outages[(s - day0) / EMP_DAY_US]++;
    }
    for (size_t i = 0; i < t->view.n_seg; i++)
        if (t->view.seg[i].state == EMP_V_PARTIAL)
            add_by_day(t->view.seg[i].start_us, t->view.seg[i].end_us, day0, now,
                       f->day_partial_us);
}

enum emp_err emp_status_figures(const struct emp_status_page *s, const struct emp_status_target *t,
                                struct emp_status_figures *f)
{
    memset(f, 0, sizeof *f);
    int64_t from = s->from_us, now = s->now_us;
    emp_uptime_from_timeline(from, now, now, t->seg, t->n_seg, &f->window);
    static const int64_t back[3] = {EMP_DAY_US, 7 * EMP_DAY_US, 30 * EMP_DAY_US};
    for (int k = 0; k < 3; k++)
        sum_window(t->seg, t->n_seg, now - back[k], now, &f->up_us[k], &f->down_us[k]);
    days(t, s->day0_us, now, f);

    struct emp_stats_target st = {
        .seg = t->seg, .n_seg = t->n_seg, .outage_times = t->ot, .n_outages = t->n_ot,
        .before = emp_timeline_state_at_times(from - 1, now, t->spans, t->n_spans, t->ot,
                                              t->n_ot)};
    struct emp_stats_opts opts;
    emp_stats_opts_default(&opts);
    opts.survival_max_points = 2;
    struct emp_reliability rel;
    memset(&rel, 0, sizeof rel);
    enum emp_err e = emp_stats_reliability(&st, 1, from, now, now, &opts, &rel);
    if (e != EMP_OK)
        return e;
    f->mttf_s = rel.mttf_s;
    f->mttr_s = rel.mttr_s;
    f->mtbf_s = rel.mtbf_s;
    f->failures = rel.failures;
    f->repairs = rel.repairs;
    emp_reliability_cleanup(&rel);
    return EMP_OK;
}

enum emp_err emp_status_group(const struct emp_status_page *s, const struct emp_status_target *t,
                              size_t n, struct emp_corr_result *out)
{
    int64_t from = s->from_us, now = s->now_us;
    memset(out, 0, sizeof *out);
    struct emp_corr_member *m = calloc(n ? n : 1, sizeof *m);
    size_t n_iv = 0, n_starts = 0;
    for (size_t i = 0; i < n; i++) {
        n_iv += 2 * t[i].n_seg;
        n_starts += t[i].n_ot;
    }
    struct emp_corr_ival *iv = calloc(n_iv ? n_iv : 1, sizeof *iv);
    int64_t *starts = calloc(n_starts ? n_starts : 1, sizeof *starts);
    enum emp_err e = EMP_ENOMEM;
    if (m == NULL || iv == NULL || starts == NULL)
        goto out;
    size_t vi = 0, si = 0;
    for (size_t k = 0; k < n; k++) {
        const struct emp_status_target *x = &t[k];
        struct emp_corr_ival *obs = iv + vi;
        size_t nobs = 0;
        for (size_t q = 0; q < x->n_seg; q++)
            if (x->seg[q].state != EMP_SEG_UNKNOWN)
                obs[nobs++] = (struct emp_corr_ival){x->seg[q].start_us, x->seg[q].end_us};
        vi += nobs;
        struct emp_corr_ival *dn = iv + vi;
        size_t nd = 0;
        for (size_t q = 0; q < x->n_seg; q++)
            if (x->seg[q].state == EMP_SEG_DOWN)
                dn[nd++] = (struct emp_corr_ival){x->seg[q].start_us, x->seg[q].end_us};
        vi += nd;
        int64_t *fs = starts + si;
        size_t nf = 0;
        e = emp_stats_failure_starts(x->ot, x->n_ot, from, now, fs, &nf);
        if (e != EMP_OK)
            goto out;
        si += nf;
        m[k] = (struct emp_corr_member){obs, nobs, dn, nd, fs, nf};
    }
    struct emp_error err;
    emp_error_clear(&err);
    e = emp_corr_compute(m, n, NULL, out, &err);
out:
    free(m);
    free(iv);
    free(starts);
    return e;
}
