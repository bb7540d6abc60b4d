/* Reliability of one target from the store, and its table for people. */
#include "service/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "analysis/uptime.h"

enum emp_err emp_report_target(struct emp_db *db, const char *name, const struct emp_view *v,
                               int64_t from_us, int64_t to_us, int64_t now_us,
                               struct emp_target_row *target, struct emp_reliability *out,
                               struct emp_error *err)
{
    static const struct emp_view combined = EMP_VIEW_DEFAULT;
    struct emp_view_history h = {0};
    struct emp_segment *seg = NULL;
    size_t n_seg = 0;
    memset(out, 0, sizeof *out);
    enum emp_err e = emp_db_get_target(db, name, target, err);
    if (e == EMP_OK)
        e = emp_view_history_load(db, target->id, from_us, to_us, now_us,
                                  v != NULL ? v : &combined, &h, err);
    struct emp_span *spans = h.spans;
    struct emp_outage *outages = h.outages;
    size_t n_spans = h.n_spans, n_outages = h.n_outages;
    if (e == EMP_OK) {
        e = emp_timeline_build(from_us, to_us, now_us, spans, n_spans, outages, n_outages, &seg,
                               &n_seg);
        if (e != EMP_OK)
            emp_error_set(err, e, NULL, "could not build the timeline");
    }
    if (e == EMP_OK) {
        struct emp_stats_target st = {
            .seg = seg, .n_seg = n_seg, .outages = outages, .n_outages = n_outages,
            .before = emp_timeline_state_at(from_us - 1, now_us, spans, n_spans, outages,
                                            n_outages)};
        struct emp_stats_opts opts;
        emp_stats_opts_default(&opts);
        e = emp_stats_reliability(&st, 1, from_us, to_us, now_us, &opts, out);
        if (e != EMP_OK)
            emp_error_set(err, e, NULL, "could not compute the statistics");
    }
    free(seg);
    emp_view_history_free(&h);
    return e;
}

const char *emp_report_duration(double s, char *buf, size_t size)
{
    if (!isfinite(s))
        snprintf(buf, size, "n/a");
    else if (s < 120)
        snprintf(buf, size, "%.1f s", s);
    else if (s < 2 * 3600)
        snprintf(buf, size, "%.1f min", s / 60);
    else if (s < 2 * 86400)
        snprintf(buf, size, "%.1f h", s / 3600);
    else
        snprintf(buf, size, "%.1f d", s / 86400);
    return buf;
}

/* `none` says why a figure without even a bound is absent. */
static void estimate_line(FILE *f, const char *label, const struct emp_estimate *e,
                          const char *none)
{
    char a[32], b[32], c[32];
    if (isnan(e->estimate) && isnan(e->lo)) {
        fprintf(f, "%-14s n/a (%s)\n", label, none);
        return;
    }
    fprintf(f, "%-14s %-12s 95%% interval [%s, %s]\n", label,
            emp_report_duration(e->estimate, a, sizeof a), emp_report_duration(e->lo, b, sizeof b),
            isnan(e->hi) ? "unbounded" : emp_report_duration(e->hi, c, sizeof c));
}

static void dist_line(FILE *f, const char *label, const struct emp_dist *d)
{
    char a[32], b[32], c[32];
    fprintf(f, "%-14s p50 %s, p90 %s, p99 %s  (%zu completed, %zu censored)\n", label,
            emp_report_duration(d->p50_s, a, sizeof a), emp_report_duration(d->p90_s, b, sizeof b),
            emp_report_duration(d->p99_s, c, sizeof c), d->n, d->n_censored);
}

void emp_report_print(FILE *f, const struct emp_target_row *t, const struct emp_reliability *rel)
{
    char a[EMP_TIME_BUFSZ], b[EMP_TIME_BUFSZ], d1[32], d2[32], d3[32];
    const struct emp_uptime *u = &rel->uptime;
    fprintf(f, "%-14s %s (%s%s%s)\n", "Target", t->name, t->kind, t->group[0] ? ", group " : "",
            t->group);
    fprintf(f, "%-14s %s to %s (%s)\n", "Window", emp_time_format(rel->from_us, a),
            emp_time_format(rel->to_us, b),
            emp_report_duration((double)(rel->to_us - rel->from_us) / 1e6, d1, sizeof d1));
    fprintf(f, "%-14s up %s, down %s, unknown %s\n", "Time",
            emp_report_duration((double)u->up_us / 1e6, d1, sizeof d1),
            emp_report_duration((double)u->down_us / 1e6, d2, sizeof d2),
            emp_report_duration((double)u->unknown_us / 1e6, d3, sizeof d3));
    if (isnan(u->availability))
        fprintf(f, "%-14s n/a (nothing observed)\n", "Availability");
    else
        fprintf(f, "%-14s %.4f%%  (coverage %.2f%%)\n", "Availability", 100 * u->availability,
                100 * u->coverage);
    fprintf(f, "%-14s longest %s, current %s\n", "Streak",
            emp_report_duration((double)u->streak_longest_us / 1e6, d1, sizeof d1),
            emp_report_duration((double)u->streak_current_us / 1e6, d2, sizeof d2));
    fprintf(f, "%-14s %zu failures, %zu repairs\n", "Events", rel->failures, rel->repairs);
    estimate_line(f, "MTTF", &rel->mttf_s, "no up time observed");
    estimate_line(f, "MTTR", &rel->mttr_s, "no down time observed");
    fprintf(f, "%-14s %s\n", "MTBF", emp_report_duration(rel->mtbf_s, d1, sizeof d1));
    dist_line(f, "Time to fail", &rel->ttf);
    dist_line(f, "Time to repair", &rel->ttr);
    if (isfinite(rel->weibull.shape))
        fprintf(f, "%-14s shape %.3f, scale %s%s\n", "Weibull (TTF)", rel->weibull.shape,
                emp_report_duration(rel->weibull.scale_s, d1, sizeof d1),
                rel->weibull.clustered ? "  (shape < 1: failures cluster)" : "");
    else
        fprintf(f, "%-14s n/a (%s)\n", "Weibull (TTF)",
                rel->weibull.why_not != NULL ? rel->weibull.why_not : "not fitted");
    if (isfinite(rel->lognormal_ttr.mu))
        fprintf(f, "%-14s mu %.3f, sigma %.3f (median %s)\n", "Lognormal TTR",
                rel->lognormal_ttr.mu, rel->lognormal_ttr.sigma,
                emp_report_duration(exp(rel->lognormal_ttr.mu), d1, sizeof d1));
    else
        fprintf(f, "%-14s n/a\n", "Lognormal TTR");
}
