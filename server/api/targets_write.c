/* One target: GET /api/v1/targets/{name} shows it with its definition;
 * POST /api/v1/targets creates one, PUT /api/v1/targets/{name} creates or
 * replaces it, DELETE removes it (the router has checked the bearer token).
 * A definition is a configuration file's target, checked by the same code
 * (config.c), so that errors name the JSON path. The store is the source
 * of truth of targets made this way: the change is written there first,
 * then handed to the running prober, which applies it on its own thread.
 * Targets of the configuration file belong to the file: 409 here. A
 * target made here is held to api.target_policy (probes/policy.h), and
 * there are at most api.max_targets of them. */
#include "api/handlers.h"
#include "service/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "probes/policy.h"
#include "probes/prober.h"
#include "config/target.h"
#include "probes/kinds.h"

/* How long a write waits for the prober to apply it before answering. */
#define APPLY_WAIT_MS 2000

/* A target as GET shows it (a new object; NULL when out of memory).
 * `definition` is stolen (NULL: none). */
static const char *vstate_name(enum emp_vstate s)
{
    switch (s) {
    case EMP_V_UP: return "up";
    case EMP_V_DOWN: return "down";
    case EMP_V_PARTIAL: return "partial";
    case EMP_V_UNKNOWN:
    default: return "unknown";
    }
}

static const char *seg_state_name(enum emp_seg_state s)
{
    return s == EMP_SEG_UP ? "up" : s == EMP_SEG_DOWN ? "down" : "unknown";
}

/* How each location sees target `name` now and their verdict, from the
 * store: {"verdict": {state, since, observing, down, quorum}, "locations":
 * [{location, state, since}]}; null when the store cannot say (the rest of
 * the reply does not depend on it). */
static json_t *vantage_json(struct api_req *r, const char *name)
{
    struct emp_db *db = NULL;
    struct emp_error err;
    emp_error_clear(&err);
    if (emp_db_pool_get_until(r->api->pool, r->until_mono_us, &db, &err) != EMP_OK)
        return json_null();
    struct emp_quorum q = emp_view_quorum(r->api->cfg, name);
    int64_t id = 0;
    struct emp_view_now now;
    bool ok = emp_db_find_target(db, name, &id, &err) == EMP_OK &&
              emp_view_now_load(db, id, r->now_us, &q, &now, &err) == EMP_OK;
    emp_db_pool_put(r->api->pool, db);
    if (!ok)
        return json_null();
    json_t *locs = json_array();
    for (size_t i = 0; locs != NULL && i < now.n; i++)
        json_array_append_new(
            locs, json_pack("{s:o,s:s,s:o}", "location",
                            api_json_text(now.loc[i].location, EMP_LOCATION_MAX), "state",
                            seg_state_name(now.loc[i].state), "since",
                            now.loc[i].since_us != 0 ? api_json_time(now.loc[i].since_us)
                                                     : json_null()));
    json_t *o = json_pack("{s:{s:s,s:o,s:i,s:i,s:i},s:o}", "verdict", "state",
                          vstate_name(now.verdict), "since",
                          now.since_us != 0 ? api_json_time(now.since_us) : json_null(),
                          "observing", now.observing, "down", now.down, "quorum", now.needed,
                          "locations", locs != NULL ? locs : json_array());
    free(now.loc);
    return o != NULL ? o : json_null();
}

static json_t *target_json(struct api_req *r, const char *name, const char *kind,
                           const char *group, const char *source, json_t *definition)
{
    struct emp_target_status live;
    bool is_live = emp_state_find(r->api->state, name, r->now_us, &live);
    json_t *o = json_object();
    int bad = o == NULL;
    bad |= json_object_set_new(o, "name", api_json_text(name, EMP_NAME_MAX));
    bad |= json_object_set_new(o, "kind", api_json_text(kind, EMP_NAME_MAX));
    bad |= json_object_set_new(o, "group", group != NULL && group[0] != '\0'
                                               ? api_json_text(group, EMP_NAME_MAX)
                                               : json_null());
    bad |= json_object_set_new(o, "state", json_string(emp_tstate_name(
                                               is_live ? live.state : EMP_TS_UNKNOWN)));
    bad |= json_object_set_new(o, "since", is_live && live.since_us != 0
                                               ? api_json_time(live.since_us)
                                               : json_null());
    bad |= json_object_set_new(o, "source", json_string(source));
    bad |= json_object_set_new(o, "definition", definition != NULL ? definition : json_null());
    if (!bad && strcmp(r->method, "GET") == 0)
        bad |= json_object_set_new(o, "vantage", vantage_json(r, name));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A stored definition (JSON text) as shown: read as a target, its secrets
 * redacted (a conninfo's passwords, a URL's userinfo: config/target.h). A
 * new object; JSON null when it no longer reads as a target (what it holds
 * cannot be vouched for); NULL when out of memory. */
static json_t *shown_definition(const char *text)
{
    struct emp_target_config tc;
    enum emp_err e = emp_config_parse_target(text, strlen(text), "stored definition", NULL,
                                             &emp_probe_kinds, &tc, NULL, NULL);
    if (e != EMP_OK)
        return e == EMP_ENOMEM ? NULL : json_null();
    json_t *def = emp_target_config_json(&tc, true);
    emp_target_config_cleanup(&tc);
    return def;
}

enum MHD_Result api_get_target(struct api_req *r)
{
    const struct emp_config *cfg = r->api->cfg;
    int ci = emp_config_find_target(cfg, r->name);
    if (ci >= 0) {
        const struct emp_target_config *tc = &cfg->targets[ci];
        json_t *def = emp_target_config_json(tc, true);
        if (def == NULL)
            return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return api_reply(r, MHD_HTTP_OK,
                         target_json(r, tc->name, tc->kind->name, tc->group, "config", def));
    }
    struct emp_db *db;
    enum MHD_Result got;
    if (!api_db_get(r, &db, &got))
        return got;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_target_row row;
    char *text = NULL;
    enum emp_err e = emp_db_api_target_get(db, r->name, &row, &text, &err);
    if (e != EMP_OK) {
        enum MHD_Result ret = api_db_error(r, db, e, &err, "look up the target");
        emp_db_pool_put(r->api->pool, db);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);
    json_t *def = text != NULL ? shown_definition(text) : NULL;
    bool oom = text != NULL && def == NULL;
    free(text);
    if (oom)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "could not read the stored definition");
    return api_reply(r, MHD_HTTP_OK, target_json(r, row.name, row.kind, row.group,
                                                 def != NULL ? "api" : "store", def));
}

/* 400 with every problem of the definition (`problems`, stolen: one per
 * line), joined with "; ", under the error code `code`. */
static enum MHD_Result bad_definition(struct api_req *r, const char *code, char *problems)
{
    struct emp_buf msg = {0};
    char *save = NULL;
    for (char *line = strtok_r(problems, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (msg.len > 0)
            emp_buf_puts(&msg, "; ");
        emp_buf_puts(&msg, line);
    }
    free(problems);
    if (msg.oom || msg.p == NULL) {
        emp_buf_free(&msg);
        return api_error(r, MHD_HTTP_BAD_REQUEST, code, "bad target definition");
    }
    json_t *body = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message",
                             api_json_text(msg.p, msg.len));
    emp_buf_free(&msg);
    return api_reply(r, MHD_HTTP_BAD_REQUEST, body);
}

/* The prober, or NULL after queueing 503. */
static struct emp_prober *prober_or_503(struct api_req *r, enum MHD_Result *ret)
{
    struct emp_prober *p = atomic_load(&r->api->prober);
    if (p == NULL)
        *ret = api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                         "the prober is not running; try again later");
    return p;
}

static enum MHD_Result in_config(struct api_req *r, const char *name)
{
    return api_error(r, MHD_HTTP_CONFLICT, "conflict",
                     "target %s is defined in the configuration file %s; change it there", name,
                     r->api->cfg->path != NULL ? r->api->cfg->path : "");
}

/* Begin a change: take write_mu and a connection (true), or queue the
 * error in `*ret` (false, write_mu not held). */
static bool change_begin(struct api_req *r, struct emp_db **db, enum MHD_Result *ret)
{
    pthread_mutex_lock(&r->api->write_mu);
    if (api_db_get(r, db, ret))
        return true;
    pthread_mutex_unlock(&r->api->write_mu);
    return false;
}

/* Whether target `name` may be stored under api.max_targets (write_mu
 * held, so that two creates cannot both take the last place): it is
 * probed here already (a replacement), or fewer targets made through the
 * API are probed than the limit. The live state counts them, in constant
 * time, and what the limit protects (memory, probes, /metrics) is what is
 * probed; the configuration file's targets come first in it. */
static bool room_for(struct api_req *r, const char *name)
{
    struct emp_target_status st;
    if (emp_state_find(r->api->state, name, r->now_us, &st))
        return true;
    size_t n = emp_state_count(r->api->state);
    size_t in_file = r->api->cfg != NULL ? r->api->cfg->n_targets : 0;
    return n < in_file + (size_t)r->api->limits.max_targets;
}

/* Hand the change to the prober (under write_mu) and log it. */
static void apply(struct emp_prober *p, int64_t id, const struct emp_target_config *tc,
                  const char *name, const char *what)
{
    int rc = emp_prober_submit(p, id, tc, APPLY_WAIT_MS);
    if (rc < 0)
        emp_errorf("could not hand a target change to the prober", "target=%s change=%s", name,
                   what);
    else if (rc > 0)
        emp_warn("the prober has not applied a target change yet", "target=%s change=%s",
                 name, what);
    emp_info("target changed through the API", "target=%s change=%s", name, what);
}

/* The body read as a definition into `tc`, then held to the policy of
 * targets made through the API: true, or false with the 400 (every
 * problem named by its JSON path) or 500 queued in `*ret`. */
static bool read_definition(struct api_req *r, const char *path_name,
                            struct emp_target_config *tc, enum MHD_Result *ret)
{
    char *problems = NULL;
    size_t plen = 0;
    FILE *errs = open_memstream(&problems, &plen);
    const char *code = "bad_request";
    enum emp_err e = emp_config_parse_target(r->body, r->body_len, "request body", path_name,
                                             &emp_probe_kinds, tc, errs, NULL);
    if (e == EMP_OK) {
        tc->policy = r->api->cfg != NULL ? &r->api->cfg->target_policy
                                         : emp_target_policy_default();
        code = EMP_POLICY_CLASS;
        e = emp_policy_check_target(tc, "request body", errs, NULL);
    }
    if (errs != NULL)
        fclose(errs);
    if (e == EMP_OK) {
        free(problems);
        return true;
    }
    emp_target_config_cleanup(tc);
    if (e == EMP_ENOMEM) {
        free(problems);
        *ret = api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    } else {
        *ret = bad_definition(r, code, problems);
    }
    return false;
}

/* POST (`path_name` NULL, `create_only`) and PUT. */
static enum MHD_Result write_target(struct api_req *r, const char *path_name, bool create_only)
{
    struct emp_target_config tc;
    enum MHD_Result ret;
    if (!read_definition(r, path_name, &tc, &ret))
        return ret;
    enum emp_err e;
    struct emp_prober *p = NULL;
    json_t *def = NULL;
    char *text = NULL;
    if (path_name != NULL && strcmp(tc.name, path_name) != 0) {
        ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "request body: name: expected \"%s\" as in the path, got \"%s\"",
                        path_name, tc.name);
        goto out;
    }
    if (emp_config_find_target(r->api->cfg, tc.name) >= 0) {
        ret = in_config(r, tc.name);
        goto out;
    }
    p = prober_or_503(r, &ret);
    if (p == NULL)
        goto out;
    def = emp_target_config_json(&tc, false);
    text = def != NULL ? json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text == NULL) {
        ret = api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto out;
    }
    struct emp_db *db;
    if (!change_begin(r, &db, &ret))
        goto out;
    struct emp_error err;
    emp_error_clear(&err);
    int64_t id = 0;
    bool created = false;
    if (room_for(r, tc.name))
        e = emp_db_api_target_put(db, &tc, text, create_only, &id, &created, &err);
    else
        e = EMP_ERANGE;
    if (e == EMP_OK)
        apply(p, id, &tc, tc.name, created ? "created" : "replaced");
    pthread_mutex_unlock(&r->api->write_mu);
    if (e == EMP_EEXIST)
        ret = api_error(r, MHD_HTTP_CONFLICT, "conflict",
                        "a target called %s exists; PUT /api/v1/targets/%s replaces it",
                        tc.name, tc.name);
    else if (e == EMP_ERANGE)
        ret = api_error(r, MHD_HTTP_CONFLICT, "too_many_targets",
                        "%d targets made through the API exist, as many as api.max_targets "
                        "allows; delete one, or raise the limit in the configuration file",
                        r->api->limits.max_targets);
    else if (e != EMP_OK)
        ret = api_db_error(r, db, e, &err, "store the target");
    emp_db_pool_put(r->api->pool, db);
    if (e != EMP_OK)
        goto out;
    json_t *body = target_json(r, tc.name, tc.kind->name, tc.group, "api", shown_definition(text));
    if (created) {
        char location[sizeof "/api/v1/targets/" + EMP_NAME_MAX];
        snprintf(location, sizeof location, "/api/v1/targets/%s", tc.name);
        ret = api_reply_header(r, MHD_HTTP_CREATED, body, MHD_HTTP_HEADER_LOCATION, location);
    } else {
        ret = api_reply(r, MHD_HTTP_OK, body);
    }
out:
    free(text);
    json_decref(def);
    emp_target_config_cleanup(&tc);
    return ret;
}

enum MHD_Result api_post_target(struct api_req *r)
{
    return write_target(r, NULL, true);
}

enum MHD_Result api_put_target(struct api_req *r)
{
    return write_target(r, r->name, false);
}

enum MHD_Result api_delete_target(struct api_req *r)
{
    if (emp_config_find_target(r->api->cfg, r->name) >= 0)
        return in_config(r, r->name);
    enum MHD_Result ret;
    struct emp_prober *p = prober_or_503(r, &ret);
    if (p == NULL)
        return ret;
    struct emp_db *db;
    if (!change_begin(r, &db, &ret))
        return ret;
    struct emp_error err;
    emp_error_clear(&err);
    int64_t id = 0;
    enum emp_err e = emp_db_api_target_remove(db, r->name, &id, &err);
    if (e == EMP_OK)
        apply(p, id, NULL, r->name, "removed");
    pthread_mutex_unlock(&r->api->write_mu);
    if (e == EMP_ENOTFOUND)
        ret = api_error(r, MHD_HTTP_NOT_FOUND, "not_found",
                        "no target %s made through the API", r->name);
    else if (e != EMP_OK)
        ret = api_db_error(r, db, e, &err, "remove the target");
    else
        ret = api_reply(r, MHD_HTTP_OK,
                        json_pack("{s:s,s:b}", "name", r->name, "deleted", 1));
    emp_db_pool_put(r->api->pool, db);
    return ret;
}
