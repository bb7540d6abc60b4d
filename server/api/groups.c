/* Handlers of /api/v1/groups: the groups the store knows (targets sharing a
 * non-empty group, configured or imported) and their sizes, and the
 * correlation of their members' failures. */
#include "api/api_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/stats.h"
#include "analysis/stats_corr.h"
#include "analysis/uptime.h"

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

/* The members of a group with their observations, as the correlation and
 * the pooled statistics need them. Everything owned; free with
 * group_data_free. */
struct group_data {
    struct emp_target_row *targets;
    size_t n;
    struct emp_span *spans;
    size_t n_spans;
    struct emp_outage_time *outages;
    size_t n_outages;
    struct emp_outage *scratch;  /* one member's outages at a time */
    size_t scratch_cap;
    /* Per member: its slice of spans and outages (both are ordered by
     * target id, as are the targets). */
    size_t *span_at, *span_n, *outage_at, *outage_n;
};

static void group_data_free(struct group_data *g)
{
    free(g->targets);
    free(g->spans);
    free(g->outages);
    free(g->scratch);
    free(g->span_at);
    free(g->span_n);
    free(g->outage_at);
    free(g->outage_n);
    memset(g, 0, sizeof *g);
}

/* Load the group r->name over [from, to). Returns true, or false with a
 * reply queued in *ret. */
static bool group_load(struct api_req *r, int64_t from, int64_t to, struct group_data *g,
                       enum MHD_Result *ret)
{
    struct emp_db *db;
    struct emp_error err;
    emp_error_clear(&err);
    memset(g, 0, sizeof *g);
    if (!api_db_get(r, &db, ret))
        return false;
    const char *what = "list group members";
    enum emp_err e = emp_db_group_targets(db, r->name, &g->targets, &g->n, &err);
    if (e == EMP_ENOTFOUND) {
        emp_db_pool_put(r->api->pool, db);
        *ret = api_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such group: %s", r->name);
        return false;
    }
    if (e == EMP_OK) {
        what = "list group coverage";
        e = emp_db_group_spans(db, r->name, from, to, &g->spans, &g->n_spans, &err);
    }
    if (e == EMP_OK) {
        what = "list group outages";
        e = emp_db_group_outage_times(db, r->name, from, to, &g->outages, &g->n_outages, &err);
    }
    if (e != EMP_OK) {
        *ret = api_db_error(r, db, e, &err, what);
        emp_db_pool_put(r->api->pool, db);
        group_data_free(g);
        return false;
    }
    emp_db_pool_put(r->api->pool, db);
    g->span_at = calloc(g->n, sizeof *g->span_at);
    g->span_n = calloc(g->n, sizeof *g->span_n);
    g->outage_at = calloc(g->n, sizeof *g->outage_at);
    g->outage_n = calloc(g->n, sizeof *g->outage_n);
    if (g->span_at == NULL || g->span_n == NULL || g->outage_at == NULL || g->outage_n == NULL) {
        group_data_free(g);
        *ret = api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return false;
    }
    size_t s = 0, o = 0;
    for (size_t i = 0; i < g->n; i++) {
        int64_t id = g->targets[i].id;
        while (s < g->n_spans && g->spans[s].target_id < id)
            s++;
        g->span_at[i] = s;
        while (s < g->n_spans && g->spans[s].target_id == id)
            s++;
        g->span_n[i] = s - g->span_at[i];
        while (o < g->n_outages && g->outages[o].target_id < id)
            o++;
        g->outage_at[i] = o;
        while (o < g->n_outages && g->outages[o].target_id == id)
            o++;
        g->outage_n[i] = o - g->outage_at[i];
    }
    return true;
}

/* Member i's observed and down time and its failure starts, for the
 * correlation. Arrays owned by the member struct (free_member). */
static enum emp_err member_build(struct group_data *g, size_t i, int64_t from, int64_t to,
                                 int64_t now, struct emp_corr_member *m)
{
    struct emp_segment *seg = NULL;
    size_t n_seg = 0;
    memset(m, 0, sizeof *m);
    size_t no = g->outage_n[i];
    if (no > g->scratch_cap) {
        struct emp_outage *sc = realloc(g->scratch, no * sizeof *sc);
        if (sc == NULL)
            return EMP_ENOMEM;
        g->scratch = sc;
        g->scratch_cap = no;
    }
    for (size_t k = 0; k < no; k++) {
        const struct emp_outage_time *t = &g->outages[g->outage_at[i] + k];
        g->scratch[k].target_id = t->target_id;
        g->scratch[k].started_at_us = t->started_at_us;
        g->scratch[k].ended_at_us = t->ended_at_us;
    }
    enum emp_err e = emp_timeline_build(from, to, now, g->spans + g->span_at[i], g->span_n[i],
                                        g->scratch, no, &seg, &n_seg);
    if (e != EMP_OK)
        return e;
    struct emp_corr_ival *obs = calloc(n_seg ? n_seg : 1, sizeof *obs);
    struct emp_corr_ival *down = calloc(n_seg ? n_seg : 1, sizeof *down);
    int64_t *starts = calloc(g->outage_n[i] ? g->outage_n[i] : 1, sizeof *starts);
    if (obs == NULL || down == NULL || starts == NULL) {
        free(seg);
        free(obs);
        free(down);
        free(starts);
        return EMP_ENOMEM;
    }
    size_t nobs = 0, nd = 0, nf = 0;
    for (size_t k = 0; k < n_seg; k++) {
        if (seg[k].state == EMP_SEG_UNKNOWN)
            continue;
        obs[nobs++] = (struct emp_corr_ival){seg[k].start_us, seg[k].end_us};
        if (seg[k].state == EMP_SEG_DOWN)
            down[nd++] = (struct emp_corr_ival){seg[k].start_us, seg[k].end_us};
    }
    free(seg);
    for (size_t k = 0; k < g->outage_n[i]; k++) {
        int64_t s = g->outages[g->outage_at[i] + k].started_at_us;
        if (s >= from && s < to)
            starts[nf++] = s;
    }
    m->observed = obs;
    m->n_observed = nobs;
    m->down = down;
    m->n_down = nd;
    m->failure_starts = starts;
    m->n_failures = nf;
    return EMP_OK;
}

static void free_member(struct emp_corr_member *m)
{
    free((void *)m->observed);
    free((void *)m->down);
    free((void *)m->failure_starts);
}

static json_t *corr_json(const struct api_req *r, const struct group_data *g,
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
    struct group_data g;
    enum MHD_Result ret;
    if (!group_load(r, from, to, &g, &ret))
        return ret;
    struct emp_corr_member *m = calloc(g.n, sizeof *m);
    enum emp_err e = m != NULL ? EMP_OK : EMP_ENOMEM;
    size_t built = 0;
    for (; e == EMP_OK && built < g.n; built++)
        e = member_build(&g, built, from, to, r->now_us, &m[built]);
    struct emp_corr_result c;
    memset(&c, 0, sizeof c);
    struct emp_error err;
    emp_error_clear(&err);
    if (e == EMP_OK)
        e = emp_corr_compute(m, g.n, &opts, &c, &err);
    json_t *body = e == EMP_OK ? corr_json(r, &g, &c, from, to, opts.burst_window_us) : NULL;
    emp_corr_result_cleanup(&c);
    for (size_t i = 0; m != NULL && i < built; i++)
        free_member(&m[i]);
    free(m);
    group_data_free(&g);
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
    struct group_data g;
    enum MHD_Result ret;
    if (!group_load(r, from, to, &g, &ret))
        return ret;
    struct emp_stats_target *st = calloc(g.n, sizeof *st);
    enum emp_err e = st != NULL ? EMP_OK : EMP_ENOMEM;
    size_t built = 0;
    for (; e == EMP_OK && built < g.n; built++) {
        size_t i = built;
        struct emp_segment *seg = NULL;
        size_t n_seg = 0;
        size_t no = g.outage_n[i];
        if (no > g.scratch_cap) {
            struct emp_outage *sc = realloc(g.scratch, no * sizeof *sc);
            if (sc == NULL) {
                e = EMP_ENOMEM;
                break;
            }
            g.scratch = sc;
            g.scratch_cap = no;
        }
        for (size_t k = 0; k < no; k++) {
            const struct emp_outage_time *t = &g.outages[g.outage_at[i] + k];
            g.scratch[k].target_id = t->target_id;
            g.scratch[k].started_at_us = t->started_at_us;
            g.scratch[k].ended_at_us = t->ended_at_us;
        }
        e = emp_timeline_build(from, to, r->now_us, g.spans + g.span_at[i], g.span_n[i],
                               g.scratch, no, &seg, &n_seg);
        st[i].seg = seg;
        st[i].n_seg = n_seg;
        st[i].outage_times = g.outages + g.outage_at[i];
        st[i].n_outages = no;
    }
    struct emp_reliability rel;
    memset(&rel, 0, sizeof rel);
    if (e == EMP_OK) {
        struct emp_stats_opts opts;
        emp_stats_opts_default(&opts);
        e = emp_stats_reliability(st, g.n, from, to, r->now_us, &opts, &rel);
    }
    json_t *body = NULL;
    if (e == EMP_OK) {
        body = api_reliability_json(&rel);
        if (body != NULL && json_object_set_new(body, "group", json_string(r->name)) != 0) {
            json_decref(body);
            body = NULL;
        }
    }
    emp_reliability_cleanup(&rel);
    for (size_t i = 0; st != NULL && i < built; i++)
        free((void *)st[i].seg);
    free(st);
    group_data_free(&g);
    if (e != EMP_OK)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "could not compute the statistics: %s", emp_strerror(e));
    return api_reply(r, MHD_HTTP_OK, body);
}
