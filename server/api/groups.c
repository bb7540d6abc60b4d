/* Handlers of /api/v1/groups: the groups the store knows (targets sharing a
 * non-empty group, configured or imported) and their sizes, and the
 * correlation of their members' failures. */
#include "api/handlers.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/group.h"
#include "service/view.h"

enum MHD_Result api_get_groups(struct api_req *r)
{
    struct emp_db *db;
    enum MHD_Result got;
    if (!api_db_get(r, &db, &got))
        return got;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_group_row *g = NULL;
    size_t n = 0;
    enum emp_err e = emp_db_list_groups(db, &g, &n, &err);
    if (e != EMP_OK) {
        enum MHD_Result ret = api_db_error(r, db, e, &err, "list groups");
        emp_db_pool_put(r->api->pool, db);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);
    json_t *list = json_array();
    int bad = list == NULL;
    for (size_t i = 0; i < n && !bad; i++) {
        json_t *o = json_object();
        bad |= json_object_set_new(o, "name", api_json_text(g[i].name, sizeof g[i].name));
        bad |= json_object_set_new(o, "members", json_integer(g[i].members));
        bad |= json_array_append_new(list, o);
    }
    free(g);
    json_t *body = NULL;
    if (!bad)
        body = json_pack("{s:o}", "groups", list);
    else
        json_decref(list);
    return api_reply(r, MHD_HTTP_OK, body);
}

/* ---- /api/v1/groups/{group}/correlation ------------------------------- */

/* Load the group r->name over [from, to). Returns true, or false with a
 * reply queued in *ret. */
static bool group_load(struct api_req *r, int64_t from, int64_t to, struct emp_group_data *g,
                       enum MHD_Result *ret)
{
    struct emp_db *db;
    struct emp_error err;
    emp_error_clear(&err);
    memset(g, 0, sizeof *g);
    struct emp_view view;
    if (!api_view(r, &view, ret) || !api_db_get(r, &db, ret))
        return false;
    const char *what = NULL;
    enum emp_err e = emp_group_load(db, r->name, from, to, r->now_us, r->api->cfg, view.location,
                                    g, &what, &err);
    if (e == EMP_ENOTFOUND && view.location != NULL && strstr(err.msg, "location") != NULL)
        *ret = api_error(r, MHD_HTTP_NOT_FOUND, "not_found", "%s", err.msg);
    else if (e == EMP_ENOTFOUND)
        *ret = api_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such group: %s", r->name);
    else if (e != EMP_OK && what == NULL)
        *ret = api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    else if (e != EMP_OK)
        *ret = api_db_error(r, db, e, &err, what);
    emp_db_pool_put(r->api->pool, db);
    if (e != EMP_OK)
        emp_group_data_free(g);
    return e == EMP_OK;
}

static json_t *corr_json(const struct api_req *r, const struct emp_group_data *g,
                         const struct emp_corr_result *c, int64_t from, int64_t to,
                         int64_t window_us)
{
    json_t *sizes = json_object();
    for (size_t i = 0; sizes != NULL && i < c->n_burst_sizes; i++) {
        char k[24];
        snprintf(k, sizeof k, "%zu", c->burst_sizes[i].size);
        json_object_set_new(sizes, k, json_integer((json_int_t)c->burst_sizes[i].count));
    }
    json_t *kd = json_array();
    for (size_t k = 1; kd != NULL && k <= c->n_members; k++)
        json_array_append_new(kd, json_pack("{s:I,s:o,s:o}", "k", (json_int_t)k, "observed",
                                            api_json_real(c->observed_at_least[k]),
                                            "independent",
                                            api_json_real(c->independent_at_least[k])));
    json_t *pairs = json_array();
    for (size_t p = 0; pairs != NULL && p < c->n_pairs; p++) {
        const struct emp_corr_pair *x = &c->pairs[p];
        json_array_append_new(
            pairs, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "a",
                             api_json_text(g->targets[x->i].name, sizeof g->targets[x->i].name),
                             "b",
                             api_json_text(g->targets[x->j].name, sizeof g->targets[x->j].name),
                             "both_down_s", api_json_seconds(x->both_down_us), "p_both",
                             api_json_real(x->p_both), "lift", api_json_real(x->lift), "phi",
                             api_json_real(x->phi)));
    }
    return json_pack("{s:s,s:o,s:o,s:f,s:I,s:I,s:o,s:{s:I,s:o,s:o,s:o,s:I},s:o,s:o,s:o,s:o,s:b}",
                     "group", r->name, "from", api_json_time(from), "to", api_json_time(to),
                     "window_s", (double)window_us / 1e6, "members", (json_int_t)c->n_members,
                     "failures", (json_int_t)c->n_failures, "common_observed_s",
                     api_json_seconds(c->common_observed_us), "bursts", "count",
                     (json_int_t)c->n_bursts, "sizes", sizes, "fraction_in_bursts",
                     api_json_real(c->fraction_in_bursts), "fraction_in_bursts_10",
                     api_json_real(c->fraction_in_bursts_10), "largest",
                     (json_int_t)c->largest_burst, "k_down", kd, "all_down_ratio",
                     api_json_real(c->all_down_ratio), "all_down_log10_ratio",
                     api_json_real(c->all_down_log10_ratio), "pairs", pairs,
                     "pairs_complete", c->pairs_complete);
}

enum MHD_Result api_get_correlation(struct api_req *r)
{
    int64_t from, to;
    char msg[256];
    if (api_window(r, &from, &to, msg, sizeof msg) != 0)
        return api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
    struct emp_corr_options opts;
    emp_corr_options_init(&opts);
    const char *w = api_query(r, "window_s");
    if (w != NULL) {
        char *end = NULL;
        errno = 0;
        double v = strtod(w, &end);
        if (errno != 0 || end == w || *end != '\0' || !(v > 0 && v <= 86400 * 30))
            return api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                             "window_s: expected seconds greater than 0, at most 2592000");
        opts.burst_window_us = (int64_t)(v * 1e6);
        if (opts.burst_window_us < 1)
            opts.burst_window_us = 1;
    }
    struct emp_group_data g;
    enum MHD_Result ret;
    if (!group_load(r, from, to, &g, &ret))
        return ret;
    struct emp_corr_result c;
    struct emp_error err;
    emp_error_clear(&err);
    enum emp_err e = emp_group_correlation(&g, from, to, r->now_us, &opts, &c, &err);
    json_t *body = e == EMP_OK ? corr_json(r, &g, &c, from, to, opts.burst_window_us) : NULL;
    emp_corr_result_cleanup(&c);
    emp_group_data_free(&g);
    if (e != EMP_OK)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "could not compute the correlation: %s", emp_strerror(e));
    return api_reply(r, MHD_HTTP_OK, body);
}

/* ---- /api/v1/groups/{group}/reliability ------------------------------- */

/* The members pooled: their up and down time summed, their up periods and
 * repairs taken together. */
enum MHD_Result api_get_group_reliability(struct api_req *r)
{
    int64_t from, to;
    char msg[256];
    if (api_window(r, &from, &to, msg, sizeof msg) != 0)
        return api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
    struct emp_group_data g;
    enum MHD_Result ret;
    if (!group_load(r, from, to, &g, &ret))
        return ret;
    struct emp_reliability rel;
    enum emp_err e = emp_group_reliability(&g, from, to, r->now_us, &rel);
    json_t *body = NULL;
    if (e == EMP_OK) {
        body = api_reliability_json(&rel);
        if (body != NULL && json_object_set_new(body, "group", json_string(r->name)) != 0) {
            json_decref(body);
            body = NULL;
        }
    }
    emp_reliability_cleanup(&rel);
    emp_group_data_free(&g);
    if (e != EMP_OK)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "could not compute the statistics: %s", emp_strerror(e));
    return api_reply(r, MHD_HTTP_OK, body);
}
