/* GET /api/v1/targets/{name}/reliability: MTTF, MTTR and MTBF with their
 * intervals, the distributions of time to failure and to repair, the
 * survival of up periods and the Weibull and lognormal fits, over a window.
 * The JSON of a struct emp_reliability is shared with the group endpoint. */
#include "api/handlers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "service/report.h"
#include "service/view.h"
#include "analysis/stats.h"
#include "analysis/uptime.h"

static json_t *estimate_json(const struct emp_estimate *e)
{
    return json_pack("{s:o,s:[o,o]}", "estimate", api_json_real(e->estimate), "ci95",
                     api_json_real(e->lo), api_json_real(e->hi));
}

static json_t *dist_json(const struct emp_dist *d)
{
    json_t *hist = json_array();
    for (int i = 0; hist != NULL && i < EMP_STATS_HIST_BUCKETS; i++) {
        json_t *le = i < EMP_STATS_HIST_BUCKETS - 1 ? json_real(emp_stats_hist_bounds_s[i])
                                                   : json_null();
        json_array_append_new(hist, json_pack("{s:o,s:I}", "below_s", le, "count",
                                              (json_int_t)d->hist[i]));
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o}", "completed", (json_int_t)d->n,
                     "censored", (json_int_t)d->n_censored, "truncated",
                     (json_int_t)d->n_truncated, "zero_length",
                     (json_int_t)d->n_zero, "p50", api_json_real(d->p50_s), "p90",
                     api_json_real(d->p90_s), "p99", api_json_real(d->p99_s), "max",
                     api_json_real(d->max_s), "histogram", hist);
}

json_t *api_reliability_json(const struct emp_reliability *rel)
{
    const struct emp_uptime *u = &rel->uptime;
    json_t *surv = json_array();
    for (size_t i = 0; surv != NULL && i < rel->n_survival; i++) {
        const struct emp_km_point *p = &rel->survival[i];
        json_array_append_new(surv, json_pack("{s:f,s:o,s:o,s:I}", "t_s", p->t_s, "s",
                                              api_json_real(p->s), "se", api_json_real(p->se),
                                              "at_risk", (json_int_t)p->at_risk));
    }
    const struct emp_weibull *w = &rel->weibull;
    bool fitted = isfinite(w->shape);
    json_t *weibull = json_pack(
        "{s:o,s:o,s:[o,o],s:o,s:s?,s:s?}", "shape", api_json_real(w->shape), "scale",
        api_json_real(w->scale_s), "shape_ci95", api_json_real(w->shape_lo),
        api_json_real(w->shape_hi), "clustered", fitted ? json_boolean(w->clustered) : json_null(),
        "meaning",
        !fitted ? NULL
        : w->clustered
            ? "shape < 1: the failure rate falls with time up; failures cluster"
            : "shape >= 1: no clustering; the failure rate does not fall with time up",
        "not_fitted", fitted ? NULL : w->why_not);
    return json_pack(
        "{s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o}",
        "from", api_json_time(rel->from_us), "to", api_json_time(rel->to_us), "targets",
        (json_int_t)rel->n_targets, "up_s", api_json_seconds(u->up_us), "down_s",
        api_json_seconds(u->down_us), "unknown_s", api_json_seconds(u->unknown_us),
        "availability", api_json_real(u->availability), "coverage", api_json_real(u->coverage),
        "streak_longest_s", api_json_seconds(u->streak_longest_us), "failures",
        (json_int_t)rel->failures, "repairs", (json_int_t)rel->repairs, "failures_unobserved",
        (json_int_t)rel->starts_unobserved, "mttf_s", estimate_json(&rel->mttf_s), "mttr_s",
        estimate_json(&rel->mttr_s), "mttr_time_terminated", rel->mttr_time_terminated,
        "mtbf_s", api_json_real(rel->mtbf_s), "ttf", dist_json(&rel->ttf), "ttr",
        dist_json(&rel->ttr), "weibull", weibull, "lognormal_ttr",
        json_pack("{s:o,s:o}", "mu", api_json_real(rel->lognormal_ttr.mu), "sigma",
                  api_json_real(rel->lognormal_ttr.sigma)),
        "survival", surv);
}

enum MHD_Result api_get_reliability(struct api_req *r)
{
    int64_t from, to;
    char msg[256];
    if (api_window(r, &from, &to, msg, sizeof msg) != 0)
        return api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
    struct emp_db *db;
    enum MHD_Result got;
    struct emp_view view;
    if (!api_view(r, &view, &got) || !api_db_get(r, &db, &got))
        return got;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_target_row t;
    struct emp_reliability rel;
    enum emp_err e = emp_report_target(db, r->name, &view, from, to, r->now_us, &t, &rel, &err);
    if (e != EMP_OK && e != EMP_ENOMEM) {
        enum MHD_Result ret = api_view_error(r, db, &view, e, &err, "load the target's history");
        emp_db_pool_put(r->api->pool, db);
        emp_reliability_cleanup(&rel);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);
    json_t *body = NULL;
    if (e == EMP_OK) {
        body = api_reliability_json(&rel);
        if (body != NULL && json_object_set_new(body, "target", json_string(r->name)) != 0) {
            json_decref(body);
            body = NULL;
        }
    }
    emp_reliability_cleanup(&rel);
    if (e != EMP_OK)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "could not compute the statistics: %s", emp_strerror(e));
    return api_reply(r, MHD_HTTP_OK, body);
}
