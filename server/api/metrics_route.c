/* GET /metrics: the Prometheus exposition of the live state, the prober's
 * figures and the cached 30-day availability (formatting in metrics.c).
 * Without the database the live figures are still served, with
 * empiric_database_up 0. GET /api/v1/monitor: the monitor's account of
 * itself (is it on time, is its network suspect, is the database taking
 * its events) as JSON, from memory alone. */
#include "api/handlers.h"

#include <stdlib.h>

#include "api/metrics.h"

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
    struct emp_metrics_input in;
    emp_metrics_collect(r->api->state->metrics, r->api->pool, st, n, r->now_us, avail, &in);
    char *text = emp_metrics_format(&in);
    free(avail);
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
        "{s:o,s:i,s:{s:o,s:o,s:o},s:o,s:o,s:o,s:{s:o,s:o},s:b,s:o}", "now",
        api_json_time(r->now_us), "max_lag_ms", cfg != NULL ? cfg->max_lag_ms : 0, "lag_s",
        "p50", api_json_seconds(ps.lag_p50_us), "p99", api_json_seconds(ps.lag_p99_us), "max",
        api_json_seconds(ps.lag_max_us), "probes", u64(ps.probes), "skipped", u64(ps.skipped),
        "late", u64(ps.late), "unknown", "stall", u64(ps.unknown), "network",
        u64(ps.unknown_network), "network_suspect", ps.network_suspect, "canaries", canaries);
    if (body != NULL && m->writer != NULL) {
        struct emp_writer_stats ws;
        emp_writer_stats(m->writer, &ws);
        json_object_set_new(body, "writer",
                            json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "unwritten", u64(ws.unwritten),
                                      "spool_bytes", u64(ws.spool_bytes), "dropped_results",
                                      u64(ws.dropped_results), "dropped_failures",
                                      u64(ws.dropped_failures), "spool_errors",
                                      u64(ws.spool_errors), "errors", u64(ws.errors)));
    }
    if (body == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    return api_reply(r, MHD_HTTP_OK, body);
}
