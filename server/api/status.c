/* GET /api/v1/status: everything the status page shows, for every target
 * the store knows (configured or imported) in one call: live state, current
 * streak, availability over 24 h / 7 d / 30 d / 90 d, 90 daily bars (UTC
 * days, with how much of each day was observed), MTTF and MTTR with their
 * 95% intervals over 90 days, recent incidents, and per group the
 * correlation summary. The figures come from service/status.h; here they
 * become JSON, kept for a few seconds by a refresher thread. */
#include "api/handlers.h"
#include "service/view.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "service/status.h"

#define STATUS_DAYS EMP_STATUS_DAYS

static int cmp_live(const void *pa, const void *pb)
{
    const struct emp_target_status *a = pa, *b = pb;
    return strcmp(a->name, b->name);
}


/* A number, written as an integer when it is one: most daily figures are
 * exactly 0 or 1, and integers serialise several times faster than reals
 * (the page's JSON holds some 135,000 of them for 500 targets). */
static json_t *num_json(double v)
{
    if (v == (double)(json_int_t)v && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *avail_json(int64_t up, int64_t down)
{
    return up + down > 0 ? num_json((double)up / (double)(up + down)) : json_null();
}

/* The 90 daily bars from `day0`: parallel arrays, one element per day. */
static json_t *days_json(const struct emp_status_figures *f, int64_t day0, int64_t now)
{
    json_t *av = json_array(), *cov = json_array(), *dn = json_array(), *no = json_array();
    json_t *pa = json_array();
    int bad = av == NULL || cov == NULL || dn == NULL || no == NULL || pa == NULL;
    for (int d = 0; d < STATUS_DAYS && !bad; d++) {
        int64_t ds = day0 + d * EMP_DAY_US;
        int64_t de = ds + EMP_DAY_US < now ? ds + EMP_DAY_US : now;
        double span = de > ds ? (double)(de - ds) : 1.0;
        int64_t up = f->day_up_us[d], down = f->day_down_us[d];
        bad |= json_array_append_new(av, avail_json(up, down));
        bad |= json_array_append_new(cov, num_json((double)(up + down) / span));
        bad |= json_array_append_new(dn, num_json((double)down / 1e6));
        bad |= json_array_append_new(no, json_integer(f->day_outages[d]));
        bad |= json_array_append_new(pa, num_json((double)f->day_partial_us[d] / 1e6));
    }
    if (bad) {
        json_decref(av);
        json_decref(cov);
        json_decref(dn);
        json_decref(no);
        json_decref(pa);
        return NULL;
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "start", api_json_time(day0), "availability",
                     av, "coverage", cov, "down_s", dn, "outages", no, "partial_s", pa);
}

static json_t *estimate_json(const struct emp_estimate *e)
{
    return json_pack("{s:o,s:[o,o]}", "estimate", api_json_real(e->estimate), "ci95",
                     api_json_real(e->lo), api_json_real(e->hi));
}

static json_t *incidents_json(const struct emp_status_target *t, int64_t now)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < t->n_recent; i++) {
        const struct emp_outage *o = &t->recent[i];
        int64_t end = o->ended_at_us != 0 ? o->ended_at_us : now;
        int64_t dur = end > o->started_at_us ? end - o->started_at_us : 0;
        json_t *item = json_pack(
            "{s:o,s:o,s:o,s:{s:o,s:o}}", "start", api_json_time(o->started_at_us), "end",
            o->ended_at_us != 0 ? api_json_time(o->ended_at_us) : json_null(), "duration_s",
            api_json_seconds(dur), "cause", "class",
            api_json_text(o->err_class, sizeof o->err_class), "message",
            api_json_text(o->message, sizeof o->message));
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static json_t *target_json(const struct emp_status_page *st, const struct emp_target_status *live,
                           size_t n_live, const struct emp_status_target *t, enum emp_err *e)
{
    const struct emp_target_row *row = t->row;
    struct emp_target_status key;
    memset(&key, 0, sizeof key);
    snprintf(key.name, sizeof key.name, "%s", row->name);
    const struct emp_target_status *lv =
        n_live > 0 ? bsearch(&key, live, n_live, sizeof *live, cmp_live) : NULL;
    int64_t now = st->now_us;
    struct emp_status_figures f;
    *e = emp_status_figures(st, t, &f);
    if (*e != EMP_OK)
        return NULL;
    const struct emp_uptime u = f.window;
    json_t *rj = json_pack("{s:o,s:o,s:o,s:I,s:I}", "mttf_s", estimate_json(&f.mttf_s),
                           "mttr_s", estimate_json(&f.mttr_s), "mtbf_s", api_json_real(f.mtbf_s),
                           "failures", (json_int_t)f.failures, "repairs",
                           (json_int_t)f.repairs);

    json_t *o = json_object();
    int bad = o == NULL || rj == NULL;
    bad |= json_object_set_new(o, "name", api_json_text(row->name, sizeof row->name));
    bad |= json_object_set_new(o, "kind", lv != NULL ? json_string(lv->kind->name)
                                                     : api_json_text(row->kind, sizeof row->kind));
    bad |= json_object_set_new(o, "group", row->group[0] != '\0'
                                               ? api_json_text(row->group, sizeof row->group)
                                               : json_null());
    bad |= json_object_set_new(o, "configured", json_boolean(lv != NULL));
    bad |= json_object_set_new(o, "state",
                               json_string(lv != NULL ? emp_tstate_name(lv->state) : "unknown"));
    bad |= json_object_set_new(o, "since", lv != NULL && lv->since_us != 0
                                               ? api_json_time(lv->since_us)
                                               : json_null());
    bad |= json_object_set_new(o, "streak_s", api_json_seconds(u.streak_current_us));
    bad |= json_object_set_new(o, "streak_longest_s", api_json_seconds(u.streak_longest_us));
    bad |= json_object_set_new(
        o, "availability",
        json_pack("{s:o,s:o,s:o,s:o}", "24h", avail_json(f.up_us[0], f.down_us[0]), "7d",
                  avail_json(f.up_us[1], f.down_us[1]), "30d",
                  avail_json(f.up_us[2], f.down_us[2]), "90d", avail_json(u.up_us, u.down_us)));
    bad |= json_object_set_new(o, "coverage_90d", api_json_real(u.coverage));
    bad |= json_object_set_new(o, "locations", json_integer((json_int_t)t->n_locations));
    bad |= json_object_set_new(o, "partial_s_90d", api_json_seconds(t->vantage.partial_us));
    bad |= json_object_set_new(o, "days", days_json(&f, st->day0_us, now));
    bad |= json_object_set_new(o, "reliability", rj);
    bad |= json_object_set_new(o, "incidents", incidents_json(t, now));
    if (bad) {
        json_decref(o);
        *e = EMP_ENOMEM;
        return NULL;
    }
    return o;
}

/* The correlation summary of the `n` members at `t`. */
static json_t *group_json(const struct emp_status_page *st, const struct emp_status_target *t,
                          size_t n, enum emp_err *e)
{
    struct emp_corr_result c;
    json_t *members = json_array(), *out = NULL;
    *e = emp_status_group(st, t, n, &c);
    for (size_t k = 0; *e == EMP_OK && k < n; k++)
        if (members == NULL ||
            json_array_append_new(members, api_json_text(t[k].row->name,
                                                         sizeof t[k].row->name)) != 0)
            *e = EMP_ENOMEM;
    if (*e == EMP_OK) {
        out = json_pack("{s:o,s:O,s:I,s:I,s:I,s:o,s:o,s:o,s:o}", "name",
                        api_json_text(t[0].row->group, sizeof t[0].row->group), "members",
                        members, "failures", (json_int_t)c.n_failures, "bursts",
                        (json_int_t)c.n_bursts, "largest_burst", (json_int_t)c.largest_burst,
                        "common_observed_s", api_json_seconds(c.common_observed_us),
                        "all_down_observed", api_json_real(c.observed_at_least[n]),
                        "all_down_independent", api_json_real(c.independent_at_least[n]),
                        "all_down_ratio", api_json_real(c.all_down_ratio));
        if (out == NULL)
            *e = EMP_ENOMEM;
    }
    emp_corr_result_cleanup(&c);
    json_decref(members);
    return out;
}

/* `v` (stolen) as the reply writes it: compact, reals to 15 digits. */
static char *dump_json(json_t *v)
{
    char *text = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    return text;
}

/* The reply `head,"groups":[g[g0..g1)],"targets":[t[t0..t1)]}` from dumped
 * pieces, `head` being the dumped {"now":..,"days":..,"refresh_s":..}
 * without its closing brace: byte for byte what dumping the whole object
 * gives (jansson writes an object's keys in the order they were added,
 * compactly). A new string, or NULL. */
static char *assemble(const char *head, char *const *g, size_t g0, size_t g1,
                      char *const *t, size_t t0, size_t t1)
{
    struct emp_buf b = {0};
    emp_buf_puts(&b, head);
    emp_buf_puts(&b, ",\"groups\":[");
    for (size_t i = g0; i < g1; i++) {
        if (i > g0)
            emp_buf_put(&b, ",", 1);
        emp_buf_puts(&b, g[i]);
    }
    emp_buf_puts(&b, "],\"targets\":[");
    for (size_t i = t0; i < t1; i++) {
        if (i > t0)
            emp_buf_put(&b, ",", 1);
        emp_buf_puts(&b, t[i]);
    }
    emp_buf_puts(&b, "]}");
    if (b.oom) {
        emp_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* Why a status could not be built, for the reply. */
struct build_err {
    int status;            /* HTTP status */
    const char *code;      /* "unavailable", "not_found", "internal" */
    char message[160];
};

static void build_fail(struct build_err *be, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void build_fail(struct build_err *be, int status, const char *code, const char *fmt, ...)
{
    be->status = status;
    be->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->message, sizeof be->message, fmt, ap);
    va_end(ap);
}

/* A store failure: 503 when the database is away, else 500; the detail goes
 * to the log only. */
static void build_db_fail(struct build_err *be, struct emp_db *db, enum emp_err e,
                          const struct emp_error *err, const char *what)
{
    char q1[300], q2[600];
    bool away = db == NULL || !emp_db_ok(db) || e == EMP_EAGAIN;
    emp_log(away ? EMP_LOG_WARN : EMP_LOG_ERROR,
            away ? "database unavailable" : "database query failed",
            "path=/api/v1/status op=%s error=%s detail=%s", what,
            emp_log_quote(q1, sizeof q1, err->msg), emp_log_quote(q2, sizeof q2, err->detail));
    if (away)
        build_fail(be, 503, "unavailable", "the database is unavailable; try again later");
    else
        build_fail(be, 500, "internal", "could not %s", what);
}

/* The status's rows from the store. Returns true, or false with *be
 * filled. */
static bool load(struct emp_api *api, struct emp_status_page *st, const char *group,
                 const char *location, int64_t now, int64_t until_mono_us, struct build_err *be)
{
    struct emp_db *db = NULL;
    struct emp_error err;
    emp_error_clear(&err);
    enum emp_err e = emp_db_pool_get_until(api->pool, until_mono_us, &db, &err);
    if (e != EMP_OK || db == NULL) {
        build_db_fail(be, NULL, e != EMP_OK ? e : EMP_EDB, &err, "connect to the database");
        return false;
    }
    const char *what = "";
    e = emp_status_load(db, group, location, now, api->cfg, st, &what, &err);
    if (e == EMP_ENOTFOUND && location != NULL && strstr(err.msg, "location") != NULL)
        build_fail(be, 404, "not_found", "%s", err.msg);
    else if (e == EMP_ENOTFOUND)
        build_fail(be, 404, "not_found", "no such group: %.64s", group);
    else if (e != EMP_OK && strcmp(what, "compute the status") == 0)
        build_fail(be, 500, "internal", "out of memory");
    else if (e != EMP_OK)
        build_db_fail(be, db, e, &err, what);
    emp_db_pool_put(api->pool, db);
    return e == EMP_OK;
}

#define STATUS_CACHE_US (INT64_C(5) * EMP_US_PER_S)
#define CONTENT_TYPE_JSON "application/json; charset=utf-8"

/* A copy past STATUS_CACHE_US is still served, up to this age, while the
 * refresher runs: the next copy is at most a computation away, and a
 * request computing its own beside it would only slow both. */
#define STATUS_STALE_US (INT64_C(10) * EMP_US_PER_S)

/* A copy up to this age is served while the next one is being computed
 * (which takes well under a second unless the store is slow). */
#define STATUS_BUSY_STALE_US (INT64_C(30) * EMP_US_PER_S)

/* Whether the cached reply may answer at `now`: within STATUS_CACHE_US, or
 * within STATUS_STALE_US while the refresher keeps it (the caller has just
 * marked the status as wanted), or STATUS_BUSY_STALE_US while the next one
 * is being computed; at any age while the store could not give one (the
 * reply says when it was made: the page shows it). An older copy waits for
 * the computation on a worker. Under status_mu. */
static bool cache_usable(const struct emp_api *api, int64_t now)
{
    if (api->status_copy == NULL || now < api->status_at_us)
        return false;
    int64_t age = now - api->status_at_us;
    return age < STATUS_CACHE_US || (api->status_thread_on && age < STATUS_STALE_US) ||
           (api->status_busy && age < STATUS_BUSY_STALE_US) || api->status_store_away;
}

/* Note whether the last computation reached the store. */
static void note_store(struct emp_api *api, bool built, const struct build_err *be)
{
    pthread_mutex_lock(&api->status_mu);
    if (built)
        api->status_store_away = false;
    else if (be->status == MHD_HTTP_SERVICE_UNAVAILABLE)
        api->status_store_away = true;
    pthread_mutex_unlock(&api->status_mu);
}

/* What status_build makes. */
struct status_out {
    char *text;         /* the reply */
    size_t n_groups;    /* for all groups: each group's own reply, */
    char **group_names; /* in the order of the names (strcmp) */
    char **group_texts;
};

static void status_out_free(struct status_out *o)
{
    for (size_t k = 0; k < o->n_groups; k++) {
        free(o->group_names[k]);
        free(o->group_texts[k]);
    }
    free(o->group_names);
    free(o->group_texts);
    free(o->text);
    memset(o, 0, sizeof *o);
}

/* The replies kept for all groups and for each group. */
struct api_status_copy {
    struct MHD_Response *all;     /* our reference */
    size_t n_groups;
    char **names;                 /* sorted (strcmp) */
    struct MHD_Response **groups; /* our references; NULL: build it afresh */
};

static void copy_free(struct api_status_copy *c)
{
    if (c == NULL)
        return;
    if (c->all != NULL)
        MHD_destroy_response(c->all);
    for (size_t k = 0; k < c->n_groups; k++) {
        free(c->names[k]);
        if (c->groups[k] != NULL)
            MHD_destroy_response(c->groups[k]);
    }
    free(c->names);
    free(c->groups);
    free(c);
}

void api_status_copy_free(struct emp_api *api)
{
    copy_free(api->status_copy);
    api->status_copy = NULL;
}

/* A copy of what `o` holds (its texts stolen), or NULL. A group whose reply
 * could not be made is left to be built afresh when asked for. */
static struct api_status_copy *copy_new(struct status_out *o)
{
    struct api_status_copy *c = calloc(1, sizeof *c);
    if (c == NULL) {
        status_out_free(o);
        return NULL;
    }
    c->all = api_response_new(o->text, CONTENT_TYPE_JSON);
    o->text = NULL;
    if (o->n_groups > 0) {
        c->names = calloc(o->n_groups, sizeof *c->names);
        c->groups = calloc(o->n_groups, sizeof *c->groups);
    }
    if (c->all == NULL || (o->n_groups > 0 && (c->names == NULL || c->groups == NULL))) {
        status_out_free(o);
        copy_free(c);
        return NULL;
    }
    for (size_t k = 0; k < o->n_groups; k++) {
        c->names[k] = o->group_names[k];
        o->group_names[k] = NULL;
        c->groups[k] = api_response_new(o->group_texts[k], CONTENT_TYPE_JSON);
        o->group_texts[k] = NULL;
        c->n_groups = k + 1;
    }
    status_out_free(o);
    return c;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* The kept reply for `group` (NULL: all groups), or NULL. Under status_mu. */
static struct MHD_Response *copy_find(const struct api_status_copy *c, const char *group)
{
    if (c == NULL)
        return NULL;
    if (group == NULL)
        return c->all;
    char *const *at = c->n_groups > 0 ? bsearch(group, c->names, c->n_groups,
                                                 sizeof *c->names, cmp_name)
                                      : NULL;
    return at != NULL ? c->groups[at - c->names] : NULL;
}

/* Replace the kept replies by `c`; requests still sending the old ones
 * keep them alive (MHD counts their users) until they are done. */
static void cache_put(struct emp_api *api, int64_t now, struct api_status_copy *c)
{
    pthread_mutex_lock(&api->status_mu);
    struct api_status_copy *old = api->status_copy;
    api->status_copy = c;
    api->status_at_us = now;
    pthread_mutex_unlock(&api->status_mu);
    copy_free(old);
}

/* Keep the status fresh in the background while someone looks at it: one
 * computation for all targets gives the reply for all groups and, cut from
 * the same pieces, each group's reply. A request then never waits for the
 * computation (about 70 ms for 500 targets), and the figures are at most
 * STATUS_REFRESH_US old (STATUS_STALE_US when a computation runs late).
 * The refresher sleeps when nobody asked for STATUS_INTEREST_US. */
#define STATUS_REFRESH_US (INT64_C(4) * EMP_US_PER_S)
#define STATUS_INTEREST_US (INT64_C(120) * EMP_US_PER_S)

static bool status_build(struct emp_api *api, const char *group, const char *location,
                         int64_t now, int64_t until_mono_us, struct status_out *out,
                         struct build_err *be);

static void *refresher(void *arg)
{
    struct emp_api *api = arg;
    pthread_mutex_lock(&api->status_mu);
    while (!api->status_stop) {
        int64_t now = emp_now_us();
        bool wanted = api->status_wanted_us != 0 &&
                      now - api->status_wanted_us < STATUS_INTEREST_US;
        /* Counted from the last attempt, so that a store that is away is
         * retried every STATUS_REFRESH_US, not in a spin. */
        bool stale = api->status_tried_us == 0 || now - api->status_tried_us >= STATUS_REFRESH_US;
        if ((wanted && stale) || api->status_warm) {
            api->status_warm = false;
            api->status_tried_us = now;
            api->status_busy = true;
            pthread_mutex_unlock(&api->status_mu);
            struct build_err be = {0};
            struct status_out o;
            bool built = status_build(api, NULL, NULL, now, 0, &o, &be);
            note_store(api, built, &be);
            struct api_status_copy *c = built ? copy_new(&o) : NULL;
            if (c != NULL)
                cache_put(api, now, c);
            pthread_mutex_lock(&api->status_mu);
            api->status_busy = false;
            pthread_cond_broadcast(&api->status_cv); /* requests waiting for it */
            continue;
        }
        /* Sleep until the next refresh is due, or a second when nobody is
         * looking (a request wakes the thread). */
        int64_t wait_us = wanted ? api->status_tried_us + STATUS_REFRESH_US - now : EMP_US_PER_S;
        if (wait_us < 1000)
            wait_us = 1000;
        if (wait_us > EMP_US_PER_S)
            wait_us = EMP_US_PER_S;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + wait_us * 1000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&api->status_cv, &api->status_mu, &ts);
    }
    pthread_mutex_unlock(&api->status_mu);
    return NULL;
}

int api_status_start(struct emp_api *api)
{
    api->status_stop = false;
    if (pthread_cond_init(&api->status_cv, NULL) != 0)
        return -1;
    if (pthread_create(&api->status_thread, NULL, refresher, api) != 0) {
        pthread_cond_destroy(&api->status_cv);
        return -1;
    }
    api->status_thread_on = true;
    return 0;
}

void api_status_stop(struct emp_api *api)
{
    if (!api->status_thread_on)
        return;
    pthread_mutex_lock(&api->status_mu);
    api->status_stop = true;
    pthread_cond_signal(&api->status_cv);
    pthread_mutex_unlock(&api->status_mu);
    pthread_join(api->status_thread, NULL);
    pthread_cond_destroy(&api->status_cv);
    api->status_thread_on = false;
}

void api_status_warm(struct emp_api *api)
{
    if (api == NULL || !api->status_thread_on)
        return;
    /* Once: the refresher keeps it fresh only while someone asks. */
    pthread_mutex_lock(&api->status_mu);
    api->status_warm = true;
    pthread_cond_signal(&api->status_cv);
    pthread_mutex_unlock(&api->status_mu);
}

/* Served from the copy the refresher keeps, for all groups or for one, on
 * the MHD thread. When there is none fresh enough, or the group is not in
 * it, the request goes to a worker, which waits for the refresher (when it
 * is computing) or computes it there; what it put in the copy is then
 * served back on the MHD thread (a worker cannot share the kept reply).
 * Asking for either keeps the refresher going. */
/* One location's own status: computed on a worker each time, not kept. */
static enum MHD_Result location_status(struct api_req *r, const char *group,
                                       const char *location)
{
    if (!r->on_worker)
        return api_defer(r);
    struct build_err be = {0};
    struct status_out o;
    if (!status_build(r->api, group, location, r->now_us, r->until_mono_us, &o, &be))
        return api_error(r, (unsigned)be.status, be.code, "%s", be.message);
    char *text = o.text;
    o.text = NULL;
    status_out_free(&o);
    return api_reply_text(r, MHD_HTTP_OK, CONTENT_TYPE_JSON, text);
}

enum MHD_Result api_get_status(struct api_req *r)
{
    const char *group = api_query(r, "group");
    struct emp_view view;
    enum MHD_Result bad;
    if (!api_view(r, &view, &bad))
        return bad;
    if (view.location != NULL)
        return location_status(r, group, view.location);
    struct emp_api *api = r->api;
    pthread_mutex_lock(&api->status_mu);
    bool first = api->status_wanted_us == 0;
    api->status_wanted_us = r->now_us;
    if (first && api->status_thread_on)
        pthread_cond_broadcast(&api->status_cv);
    if (!r->on_worker) {
        /* Queued under the lock, so that the refresher cannot drop the
         * response between the check and MHD taking its reference. */
        struct MHD_Response *kept =
            cache_usable(api, emp_now_us()) ? copy_find(api->status_copy, group) : NULL;
        enum MHD_Result ret = kept != NULL ? api_reply_shared(r, MHD_HTTP_OK, kept) : MHD_NO;
        pthread_mutex_unlock(&api->status_mu);
        if (kept != NULL)
            return ret;
        if (r->retried)
            return api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                             "the status is being computed; try again");
        return api_defer(r);
    }
    /* The refresher is computing it: wait for that rather than do the same
     * work beside it (bounded; then compute here). */
    if (api->status_busy && !cache_usable(api, r->now_us)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 2;
        while (api->status_busy &&
               pthread_cond_timedwait(&api->status_cv, &api->status_mu, &ts) == 0) {
        }
    }
    bool kept = cache_usable(api, emp_now_us()) && copy_find(api->status_copy, group) != NULL;
    pthread_mutex_unlock(&api->status_mu);
    if (kept)
        return api_defer(r);

    struct build_err be = {0};
    struct status_out o;
    bool built = status_build(r->api, group, NULL, r->now_us, r->until_mono_us, &o, &be);
    note_store(r->api, built, &be);
    if (!built) {
        /* Without the store, the kept copy (if any) is what there is. */
        bool kept_now = false;
        pthread_mutex_lock(&api->status_mu);
        kept_now = cache_usable(api, emp_now_us()) && copy_find(api->status_copy, group) != NULL;
        pthread_mutex_unlock(&api->status_mu);
        if (kept_now)
            return api_defer(r);
        return api_error(r, (unsigned)be.status, be.code, "%s", be.message);
    }
    if (group != NULL) {
        char *text = o.text;
        o.text = NULL;
        status_out_free(&o);
        return api_reply_text(r, MHD_HTTP_OK, CONTENT_TYPE_JSON, text);
    }
    struct api_status_copy *c = copy_new(&o);
    if (c == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    cache_put(r->api, r->now_us, c);
    return api_defer(r);
}

/* The status of all groups (group NULL) or one into *out (free with
 * status_out_free): the reply, and for all groups each group's own reply
 * too; the store must answer by until_mono_us (0: the pool's call deadline
 * alone). Returns false with *be filled. */
static bool status_build(struct emp_api *api, const char *group, const char *location,
                         int64_t now, int64_t until_mono_us, struct status_out *out,
                         struct build_err *be)
{
    memset(out, 0, sizeof *out);
    struct emp_status_page st;
    memset(&st, 0, sizeof st); /* freed even when the pool gives no connection */
    int64_t t_load = emp_mono_us();
    if (!load(api, &st, group, location, now, until_mono_us, be)) {
        emp_status_cleanup(&st);
        return false;
    }
    size_t n_live = 0;
    struct emp_target_status *live = emp_state_snapshot(api->state, now, &n_live);
    if (live == NULL) {
        emp_status_cleanup(&st);
        build_fail(be, 500, "internal", "out of memory");
        return false;
    }
    qsort(live, n_live, sizeof *live, cmp_live);

    /* Each target and group is dumped as soon as it is built: the reply is
     * assembled from the pieces (assemble), and so are the replies of the
     * single groups. */
    int64_t t_targets = emp_mono_us();
    enum emp_err e = EMP_OK;
    size_t n_t = st.n_t, n_g = 0;
    char **tt = calloc(n_t ? n_t : 1, sizeof *tt), **gt = calloc(n_t ? n_t : 1, sizeof *gt);
    char **gname = calloc(n_t ? n_t : 1, sizeof *gname);
    size_t *glo = calloc(n_t ? n_t : 1, sizeof *glo), *ghi = calloc(n_t ? n_t : 1, sizeof *ghi);
    if (tt == NULL || gt == NULL || gname == NULL || glo == NULL || ghi == NULL)
        e = EMP_ENOMEM;
    for (size_t i = 0; e == EMP_OK && i < n_t; i++) {
        e = emp_status_timeline(&st, i);
        if (e != EMP_OK)
            break;
        json_t *o = target_json(&st, live, n_live, &st.t[i], &e);
        if (o != NULL && (tt[i] = dump_json(o)) == NULL)
            e = EMP_ENOMEM;
    }
    int64_t t_groups = emp_mono_us();
    for (size_t lo = 0; e == EMP_OK && lo < n_t && st.t[lo].row->group[0] != '\0';) {
        size_t hi = lo + 1;
        while (hi < n_t && strcmp(st.t[hi].row->group, st.t[lo].row->group) == 0)
            hi++;
        json_t *g = group_json(&st, &st.t[lo], hi - lo, &e);
        if (g != NULL) {
            gt[n_g] = dump_json(g);
            gname[n_g] = strdup(st.t[lo].row->group);
            glo[n_g] = lo;
            ghi[n_g] = hi;
            if (gt[n_g++] == NULL || gname[n_g - 1] == NULL)
                e = EMP_ENOMEM;
        }
        lo = hi;
    }
    emp_status_cleanup(&st);
    free(live);
    int64_t t_dump = emp_mono_us();
    char *head = NULL;
    if (e == EMP_OK) {
        /* {"now":...,"days":90,"refresh_s":30} less its closing brace. */
        head = dump_json(json_pack("{s:o,s:I,s:I}", "now", api_json_time(now), "days",
                                   (json_int_t)STATUS_DAYS, "refresh_s", (json_int_t)30));
        if (head == NULL)
            e = EMP_ENOMEM;
        else
            head[strlen(head) - 1] = '\0';
    }
    if (e == EMP_OK && (out->text = assemble(head, gt, 0, n_g, tt, 0, n_t)) == NULL)
        e = EMP_ENOMEM;
    if (e == EMP_OK && group == NULL && n_g > 0) {
        out->group_names = calloc(n_g, sizeof *out->group_names);
        out->group_texts = calloc(n_g, sizeof *out->group_texts);
        if (out->group_names == NULL || out->group_texts == NULL)
            e = EMP_ENOMEM;
        for (size_t k = 0; e == EMP_OK && k < n_g; k++) {
            out->group_names[k] = gname[k];
            gname[k] = NULL;
            out->n_groups = k + 1;
            out->group_texts[k] = assemble(head, gt, k, k + 1, tt, glo[k], ghi[k]);
            if (out->group_texts[k] == NULL)
                e = EMP_ENOMEM;
        }
    }
    for (size_t i = 0; tt != NULL && i < n_t; i++)
        free(tt[i]);
    for (size_t k = 0; gt != NULL && k < n_g; k++) {
        free(gt[k]);
        free(gname[k]);
    }
    free(tt);
    free(gt);
    free(gname);
    free(glo);
    free(ghi);
    free(head);
    if (e != EMP_OK) {
        status_out_free(out);
        if (e == EMP_ENOMEM)
            build_fail(be, 500, "internal", "out of memory");
        else
            build_fail(be, 500, "internal", "could not compute the status: %s", emp_strerror(e));
        return false;
    }
    emp_debug("status computed",
              "targets=%zu load_ms=%.1f targets_ms=%.1f groups_ms=%.1f dump_ms=%.1f", n_t,
              (double)(t_targets - t_load) / 1e3, (double)(t_groups - t_targets) / 1e3,
              (double)(t_dump - t_groups) / 1e3, (double)(emp_mono_us() - t_dump) / 1e3);
    return true;
}
