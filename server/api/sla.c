/* GET /api/v1/targets/{name}/sla: every SLA of the configuration that covers
 * the target, verified per calendar period against what was observed. Each
 * period lists the outages that are its evidence. */
#include "api/handlers.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/sla.h"
#include "service/view.h"

/* The observations of one target over [from, to), all owned. */
struct obs {
    struct emp_span *spans;
    struct emp_outage *outages;
    struct emp_failure *failures;
    size_t n_spans, n_outages, n_failures;
};

static void obs_free(struct obs *o)
{
    free(o->spans);
    free(o->outages);
    free(o->failures);
    memset(o, 0, sizeof *o);
}

/* Failing results count only under the minutes rule, and only by when they
 * happened: loaded for that rule alone, times only. */
static enum emp_err obs_load(struct emp_db *db, int64_t id, int64_t from, int64_t to,
                             int64_t now, const struct emp_view *v, bool failures,
                             struct obs *o, struct emp_error *err, const char **what)
{
    *what = "read the target's history";
    struct emp_view_history h;
    enum emp_err e = emp_view_history_load(db, id, from, to, now, v, &h, err);
    /* The spans and outages are kept; the rest of the view is not needed. */
    o->spans = h.spans;
    o->n_spans = h.n_spans;
    o->outages = h.outages;
    o->n_outages = h.n_outages;
    h.spans = NULL;
    h.outages = NULL;
    emp_view_history_free(&h);
    if (e == EMP_OK && failures) {
        /* Probes are counted on the probers' own spans (the location's, or
         * all of them pooled); the outages stay the view's, as evidence. */
        *what = "list failures";
        free(o->spans);
        o->spans = NULL;
        o->n_spans = 0;
        e = emp_view_probe_rows(db, id, from, to, v, &o->spans, &o->n_spans, &o->failures,
                                &o->n_failures, err);
    }
    return e;
}

static json_t *outage_json(const struct emp_outage *o, int64_t now_us)
{
    int64_t end = o->ended_at_us != 0 ? o->ended_at_us : now_us;
    return json_pack("{s:o,s:o,s:o,s:{s:o,s:o}}", "start", api_json_time(o->started_at_us),
                     "end", o->ended_at_us != 0 ? api_json_time(o->ended_at_us) : json_null(),
                     "duration_s",
                     api_json_seconds(end > o->started_at_us ? end - o->started_at_us : 0),
                     "cause", "class", api_json_text(o->err_class, sizeof o->err_class),
                     "message", api_json_text(o->message, sizeof o->message));
}

static json_t *period_json(const struct emp_sla *sla, const struct emp_sla_period_result *p,
                           const struct obs *o, int64_t now_us)
{
    bool known = !isnan(p->availability_pct);
    json_t *ev = json_array();
    for (size_t i = 0; ev != NULL && i < p->n_outages; i++)
        if (json_array_append_new(ev, outage_json(&o->outages[p->outages[i]], now_us)) != 0) {
            json_decref(ev);
            ev = NULL;
        }
    if (ev == NULL)
        return NULL;
    return json_pack("{s:s,s:s,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "sla", sla->name,
                     "period", p->label, "start", api_json_time(p->start_us), "end",
                     api_json_time(p->end_us), "partial", p->partial, "availability",
                     api_json_real(p->availability_pct), "objective",
                     json_real(p->objective_pct), "met", known ? json_boolean(p->met) : json_null(),
                     "allowed_downtime_s", api_json_seconds(p->allowed_downtime_us),
                     "downtime_s", api_json_seconds(p->downtime_us), "credit_percent",
                     api_json_real(p->credit_pct), "outages", ev);
}

enum MHD_Result api_get_sla(struct api_req *r)
{
    int64_t from, to;
    char msg[256];
    if (api_window(r, &from, &to, msg, sizeof msg) != 0)
        return api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
    const struct emp_config *cfg = r->api->cfg;
    struct emp_db *db;
    enum MHD_Result got;
    struct emp_view view;
    if (!api_view(r, &view, &got) || !api_db_get(r, &db, &got))
        return got;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_target_row t;
    enum emp_err e = emp_db_get_target(db, r->name, &t, &err);
    if (e != EMP_OK) {
        enum MHD_Result ret = api_db_error(r, db, e, &err, "look up the target");
        emp_db_pool_put(r->api->pool, db);
        return ret;
    }
    json_t *periods = json_array();
    int bad = periods == NULL;
    size_t covering = 0;
    enum MHD_Result ret = MHD_NO;
    for (size_t k = 0; cfg != NULL && k < cfg->n_slas && !bad; k++) {
        const struct emp_sla *sla = &cfg->slas[k];
        if (!emp_sla_covers(sla, t.name, t.group))
            continue;
        covering++;
        int64_t lf, lt;
        if (emp_sla_bounds(sla, from, to, &lf, &lt) != EMP_OK) {
            ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                            "the window is outside the years an SLA report supports");
            goto out;
        }
        struct obs o = {0};
        const char *what;
        e = obs_load(db, t.id, lf, lt, r->now_us, &view, sla->rule == EMP_SLA_RULE_MINUTES, &o,
                     &err, &what);
        if (e != EMP_OK) {
            obs_free(&o);
            ret = api_view_error(r, db, &view, e, &err, what);
            goto out;
        }
        struct emp_sla_input in = {o.spans,    o.n_spans,    o.outages,
                                   o.n_outages, o.failures, o.n_failures,
                                   t.interval_ms};
        struct emp_sla_report rep;
        e = emp_sla_compute(sla, from, to, r->now_us, &in, &rep);
        if (e == EMP_ERANGE) {
            obs_free(&o);
            ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                            "the window holds more than %d %s periods; narrow it",
                            EMP_SLA_MAX_PERIODS, emp_sla_period_name(sla->period));
            goto out;
        }
        if (e != EMP_OK) {
            obs_free(&o);
            ret = api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                            "could not verify SLA %s: %s", sla->name, emp_strerror(e));
            goto out;
        }
        for (size_t i = 0; i < rep.n_periods && !bad; i++)
            bad |= json_array_append_new(periods, period_json(sla, &rep.periods[i], &o,
                                                              r->now_us));
        emp_sla_report_cleanup(&rep);
        obs_free(&o);
    }
    if (covering == 0 && !bad) {
        ret = api_error(r, MHD_HTTP_NOT_FOUND, "not_found",
                        "no SLA in the configuration covers target %s", r->name);
        goto out;
    }
    emp_db_pool_put(r->api->pool, db);
    db = NULL;
    json_t *body = NULL;
    if (!bad) {
        body = json_pack("{s:s,s:o}", "target", r->name, "periods", periods);
        periods = NULL;
    }
    ret = api_reply(r, MHD_HTTP_OK, body);
out:
    json_decref(periods);
    if (db != NULL)
        emp_db_pool_put(r->api->pool, db);
    return ret;
}
