/* GET /metrics: the Prometheus exposition of the live state, the prober's
 * figures and the cached 30-day availability (formatting in metrics.c).
 * Without the database the live figures are still served, with
 * empiric_database_up 0. GET /api/v1/monitor: the monitor's account of
 * itself (is it on time, is its network suspect, is the database taking
 * its events) as JSON, from memory alone. */
#include "api/handlers.h"

#include <stdlib.h>

#include "api/metrics.h"
#include "api/work.h"

/* The refresh of the 30-day figures that a scrape found due, run on a
 * worker while the scrape is answered from memory. */
struct refresh_job {
    struct api_job job;
    struct emp_api *api;
    struct emp_target_status *targets; /* owned */
    size_t n;
    int64_t now_us;
};

static void run_refresh(struct api_job *job)
{
    struct refresh_job *j = (struct refresh_job *)job;
    emp_metrics_refresh(j->api->state->metrics, j->api->pool, j->targets, j->n, j->now_us);
    free(j->targets);
    free(j);
}

/* Start the refresh claimed for `t` (taken). Never waits: without a worker
 * to run it, the refresh ends at once as failed (retried soon). */
static void refresh_later(struct emp_api *api, struct emp_target_status *t, size_t n,
                          int64_t now_us)
{
    struct refresh_job *j = calloc(1, sizeof *j);
    if (j != NULL) {
        *j = (struct refresh_job){.job.run = run_refresh, .api = api, .targets = t, .n = n,
                                  .now_us = now_us};
        if (api->work != NULL && api_work_submit(api->work, &j->job))
            return;
        free(j);
    }
    emp_metrics_refresh(api->state->metrics, NULL, t, n, now_us);
    free(t);
}

/* From memory on the MHD thread (a refresh that is due goes to a worker);
 * on a worker only before anything was cached, or without a cache. */
enum MHD_Result api_get_metrics(struct api_req *r)
{
    size_t n = 0;
    struct emp_target_status *st = emp_state_snapshot(r->api->state, r->now_us, &n);
    double *avail = malloc((n > 0 ? n : 1) * sizeof *avail);
    if (st == NULL || avail == NULL) {
        free(st);
        free(avail);
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    }
    struct emp_metrics *m = r->api->state->metrics;
    struct emp_metrics_input in;
    bool claimed = false;
    if (r->on_worker)
        emp_metrics_collect(m, r->api->pool, st, n, r->now_us, avail, &in);
    else if (!emp_metrics_collect_cached(m, st, n, r->now_us, avail, &in, &claimed)) {
        free(avail);
        free(st);
        return api_defer(r);
    }
    char *text = emp_metrics_format(&in);
    free(avail);
    if (claimed)
        refresh_later(r->api, st, n, r->now_us);
    else
        free(st);
    return api_reply_text(r, MHD_HTTP_OK, EMP_METRICS_CONTENT_TYPE, text);
}

static json_t *u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

enum MHD_Result api_get_monitor(struct api_req *r)
{
    const struct emp_metrics *m = r->api->state->metrics;
    if (m == NULL || m->prober == NULL)
        return api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "no_prober",
                         "this process runs no prober");
    struct emp_prober_stats ps;
    emp_prober_stats(m->prober, &ps);
    const struct emp_config *cfg = r->api->cfg;
    json_t *canaries = json_array();
    for (size_t i = 0; cfg != NULL && canaries != NULL && i < cfg->n_canaries; i++)
        json_array_append_new(canaries, json_string(cfg->canaries[i]));
    json_t *body = json_pack(
        "{s:o,s:i,s:{s:o,s:o,s:o},s:o,s:o,s:o,s:{s:o,s:o},s:b,s:o,s:{s:o,s:o}}", "now",
        api_json_time(r->now_us), "max_lag_ms", cfg != NULL ? cfg->max_lag_ms : 0, "lag_s",
        "p50", api_json_seconds(ps.lag_p50_us), "p99", api_json_seconds(ps.lag_p99_us), "max",
        api_json_seconds(ps.lag_max_us), "probes", u64(ps.probes), "skipped", u64(ps.skipped),
        "late", u64(ps.late), "unknown", "stall", u64(ps.unknown), "network",
        u64(ps.unknown_network), "network_suspect", ps.network_suspect, "canaries", canaries,
        "clock_steps", "count", u64(ps.clock_steps), "last_s",
        ps.clock_steps > 0 ? api_json_seconds(ps.clock_step_last_us) : json_null());
    if (body != NULL && m->writer != NULL) {
        struct emp_writer_stats ws;
        emp_writer_stats(m->writer, &ws);
        json_object_set_new(body, "writer",
                            json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "unwritten", u64(ws.unwritten),
                                      "spool_bytes", u64(ws.spool_bytes), "dropped_results",
                                      u64(ws.dropped_results), "dropped_failures",
                                      u64(ws.dropped_failures), "spool_errors",
                                      u64(ws.spool_errors), "memory_only_transitions",
                                      u64(ws.memory_only_transitions), "lost_transitions",
                                      u64(ws.lost_transitions_before), "errors",
                                      u64(ws.errors)));
    }
    if (body == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    return api_reply(r, MHD_HTTP_OK, body);
}
