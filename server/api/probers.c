/* GET /api/v1/probers: the probers sharing the database, each with its
 * location, latest run, last heartbeat, whether it is alive, and the lag
 * of this process's own prober (service/probers.h says what each means). */
#include "api/handlers.h"

#include <stdlib.h>

#include "core/timeutil.h"
#include "ingest/writer.h"
#include "service/probers.h"

/* One prober as shown (a new object; NULL when out of memory). */
static json_t *prober_json(const struct emp_prober_view *v)
{
    const struct emp_run *run = &v->row.run;
    json_t *o = json_object();
    int bad = o == NULL;
    bad |= json_object_set_new(o, "name", api_json_text(v->row.name, EMP_NAME_MAX));
    bad |= json_object_set_new(o, "location", v->row.location[0] != '\0'
                                                  ? api_json_text(v->row.location,
                                                                  sizeof v->row.location - 1)
                                                  : json_null());
    bad |= json_object_set_new(o, "alive", json_boolean(v->alive));
    bad |= json_object_set_new(o, "self", json_boolean(v->self));
    bad |= json_object_set_new(o, "last_beat_at", run->run_id != 0
                                                      ? api_json_time(run->last_beat_at_us)
                                                      : json_null());
    json_t *r = json_null();
    if (run->run_id != 0)
        r = json_pack("{s:I,s:o,s:o}", "id", (json_int_t)run->run_id, "started_at",
                      api_json_time(run->started_at_us), "stopped_at",
                      run->stopped_at_us != 0 ? api_json_time(run->stopped_at_us)
                                              : json_null());
    bad |= json_object_set_new(o, "run", r);
    json_t *lag = json_null();
    if (v->has_lag)
        lag = json_pack("{s:o,s:o,s:o}", "p50", api_json_seconds(v->lag_p50_us), "p99",
                        api_json_seconds(v->lag_p99_us), "max", api_json_seconds(v->lag_max_us));
    bad |= json_object_set_new(o, "lag_s", lag);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

enum MHD_Result api_get_probers(struct api_req *r)
{
    struct emp_db *db;
    enum MHD_Result got;
    if (!api_db_get(r, &db, &got))
        return got;
    struct emp_error err;
    emp_error_clear(&err);
    const struct emp_config *cfg = r->api->cfg;
    struct emp_prober_view *v = NULL;
    size_t n = 0;
    enum emp_err e = emp_probers_list(db, r->now_us, cfg != NULL ? cfg->prober_name : NULL,
                                      atomic_load(&r->api->prober), &v, &n, &err);
    if (e != EMP_OK) {
        enum MHD_Result ret = api_db_error(r, db, e, &err, "list probers");
        emp_db_pool_put(r->api->pool, db);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);
    json_t *list = json_array();
    int bad = list == NULL;
    for (size_t i = 0; i < n && !bad; i++)
        bad |= json_array_append_new(list, prober_json(&v[i]));
    free(v);
    json_t *body = NULL;
    if (!bad)
        body = json_pack("{s:o,s:o,s:o,s:o}", "now", api_json_time(r->now_us), "heartbeat_s",
                         api_json_seconds(EMP_HEARTBEAT_MS * EMP_US_PER_MS), "alive_within_s",
                         api_json_seconds((int64_t)EMP_PROBER_ALIVE_BEATS * EMP_HEARTBEAT_MS *
                                          EMP_US_PER_MS), "probers", list);
    else
        json_decref(list);
    return api_reply(r, MHD_HTTP_OK, body);
}
