/* Handlers of /api/v1/targets: the list, a page at a time (the store's
 * targets by name, each with its live state from memory; the live state
 * alone when the store is away), and per target the outages and the uptime
 * over a window (from the store). Query parameters are checked before the
 * database is touched. */
#include "api/handlers.h"
#include "service/view.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "analysis/uptime.h"

/* A page of the list: `limit` targets (at most TARGETS_PAGE_MAX) after
 * the name `after`, by name. By default the most a page holds, so that a
 * client that does not page still gets every target of all but the
 * largest installations (a page of 10,000 is built in tens of ms). */
#define TARGETS_PAGE_DEFAULT 10000
#define TARGETS_PAGE_MAX 10000

/* One listed target: as this process probes it (`live`), else as the
 * store knows it (`row`: its state unknown here). A new object, or NULL
 * when out of memory. */
static json_t *listed_json(const struct emp_target_status *live, const struct emp_target_row *row)
{
    const char *name = live != NULL ? live->name : row->name;
    const char *kind = live != NULL ? (live->kind != NULL ? live->kind->name : "") : row->kind;
    const char *group = live != NULL ? live->group : row->group;
    json_t *o = json_object();
    int bad = o == NULL;
    bad |= json_object_set_new(o, "name", api_json_text(name, EMP_NAME_MAX));
    bad |= json_object_set_new(o, "kind", api_json_text(kind, EMP_NAME_MAX));
    bad |= json_object_set_new(o, "group",
                               group[0] != '\0' ? api_json_text(group, EMP_NAME_MAX) : json_null());
    bad |= json_object_set_new(o, "state", json_string(emp_tstate_name(
                                               live != NULL ? live->state : EMP_TS_UNKNOWN)));
    bad |= json_object_set_new(o, "since", live != NULL && live->since_us != 0
                                               ? api_json_time(live->since_us)
                                               : json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ?limit= and ?after= into `*limit` and `*after` ("" : from the first):
 * true, or false with a 400 queued in `*ret`. */
static bool page_params(struct api_req *r, long *limit, const char **after, enum MHD_Result *ret)
{
    const char *l = api_query(r, "limit");
    *limit = TARGETS_PAGE_DEFAULT;
    if (l != NULL) {
        char *end = NULL;
        errno = 0;
        long v = strtol(l, &end, 10);
        if (errno != 0 || end == l || *end != '\0' || v < 1 || v > TARGETS_PAGE_MAX) {
            *ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                             "limit: expected an integer from 1 to %d", TARGETS_PAGE_MAX);
            return false;
        }
        *limit = v;
    }
    *after = api_query(r, "after");
    if (*after == NULL) {
        *after = "";
    } else if (!emp_config_valid_name(*after)) {
        *ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                         "after: expected a target name (the \"next\" of the previous page)");
        return false;
    }
    return true;
}

static int cmp_status_name(const void *pa, const void *pb)
{
    const struct emp_target_status *a = pa, *b = pb;
    return strcmp(a->name, b->name);
}

/* The page from the live state alone (the store away): sorted here, by
 * strcmp, each call; the live list is what this process probes. Appends
 * to `list`; `next` gets the last name when more follow. 0, or -1 when
 * out of memory. */
static int live_page(struct api_req *r, const char *after, long limit, json_t *list,
                     char *next)
{
    size_t n = 0;
    struct emp_target_status *st = emp_state_snapshot(r->api->state, r->now_us, &n);
    if (st == NULL)
        return -1;
    qsort(st, n, sizeof *st, cmp_status_name);
    size_t i = 0;
    while (i < n && strcmp(st[i].name, after) <= 0)
        i++;
    int bad = 0;
    size_t shown = 0;
    for (; i < n && shown < (size_t)limit && !bad; i++, shown++)
        bad |= json_array_append_new(list, listed_json(&st[i], NULL));
    if (!bad && i < n && shown > 0)
        snprintf(next, EMP_NAME_MAX + 1, "%s", st[i - 1].name);
    free(st);
    return bad ? -1 : 0;
}

/* The page from the store: every target it knows (configured, made
 * through the API, imported), each with its live state when this process
 * probes it. Appends to `list`; `next` as live_page's. 0; -1 when out of
 * memory; 1 when the store did not answer. */
static int store_page(struct api_req *r, const char *after, long limit, json_t *list,
                      char *next)
{
    struct emp_db *db = NULL;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_target_row *rows = NULL;
    size_t n = 0;
    if (emp_db_pool_get_until(r->api->pool, r->until_mono_us, &db, &err) != EMP_OK || db == NULL)
        return 1;
    /* One more than asked: whether another page follows. */
    enum emp_err e = emp_db_list_targets_page(db, after, limit + 1, &rows, &n, &err);
    emp_db_pool_put(r->api->pool, db);
    if (e != EMP_OK)
        return 1;
    int bad = 0;
    for (size_t i = 0; i < n && i < (size_t)limit && !bad; i++) {
        struct emp_target_status live;
        bool is_live = emp_state_find(r->api->state, rows[i].name, r->now_us, &live);
        bad |= json_array_append_new(list, listed_json(is_live ? &live : NULL, &rows[i]));
    }
    if (!bad && n > (size_t)limit)
        snprintf(next, EMP_NAME_MAX + 1, "%s", rows[limit - 1].name);
    free(rows);
    return bad ? -1 : 0;
}

enum MHD_Result api_get_targets(struct api_req *r)
{
    long limit;
    const char *after;
    enum MHD_Result ret;
    if (!page_params(r, &limit, &after, &ret))
        return ret;
    char next[EMP_NAME_MAX + 1] = "";
    json_t *list = json_array();
    if (list == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    /* Without the store the live list alone is still an answer. */
    int rc = store_page(r, after, limit, list, next);
    if (rc == 1) {
        json_array_clear(list);
        rc = live_page(r, after, limit, list, next);
    }
    if (rc != 0) {
        json_decref(list);
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    }
    return api_reply(r, MHD_HTTP_OK,
                     json_pack("{s:o,s:o}", "targets", list, "next",
                               next[0] != '\0' ? json_string(next) : json_null()));
}

/* Newest first. */
static int cmp_outage_desc(const void *pa, const void *pb)
{
    const struct emp_outage *a = pa, *b = pb;
    if (a->started_at_us != b->started_at_us)
        return a->started_at_us > b->started_at_us ? -1 : 1;
    return 0;
}

/* The window from the query string, then a connection and the target's id.
 * Returns true with `*db` borrowed (give it back) and `*id` set, or false
 * when a reply has been queued in `*ret`. */
static bool open_target(struct api_req *r, int64_t *from, int64_t *to, struct emp_db **db,
                        int64_t *id, enum MHD_Result *ret)
{
    char msg[256];
    struct emp_error err;
    emp_error_clear(&err);
    *db = NULL;
    if (api_window(r, from, to, msg, sizeof msg) != 0) {
        *ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
        return false;
    }
    if (!api_db_get(r, db, ret))
        return false;
    enum emp_err e = emp_db_find_target(*db, r->name, id, &err);
    if (e != EMP_OK) {
        *ret = api_db_error(r, *db, e, &err, "look up the target");
        emp_db_pool_put(r->api->pool, *db);
        *db = NULL;
        return false;
    }
    return true;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line
 * break; a leading =, +, - or @ is prefixed with ' so that a spreadsheet
 * does not run a target's error text as a formula. */
static void csv_field(struct emp_buf *t, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        emp_buf_put(t, "\"", 1);
    if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
        emp_buf_put(t, "'", 1);
    for (const char *c = s; *c != '\0'; c++) {
        if (*c == '"')
            emp_buf_put(t, "\"", 1);
        emp_buf_put(t, c, 1);
    }
    if (quote)
        emp_buf_put(t, "\"", 1);
}

static char *outages_csv(const struct emp_outage *o, size_t n, int64_t now_us)
{
    struct emp_buf t = {0};
    emp_buf_puts(&t, "start,end,duration_s,class,message\r\n");
    for (size_t i = 0; i < n; i++) {
        char a[EMP_TIME_BUFSZ], b[EMP_TIME_BUFSZ], d[48];
        int64_t end = o[i].ended_at_us != 0 ? o[i].ended_at_us : now_us;
        snprintf(d, sizeof d, "%.6f",
                 (double)(end > o[i].started_at_us ? end - o[i].started_at_us : 0) / 1e6);
        emp_buf_puts(&t, emp_time_format(o[i].started_at_us, a));
        emp_buf_puts(&t, ",");
        emp_buf_puts(&t, o[i].ended_at_us != 0 ? emp_time_format(o[i].ended_at_us, b) : "");
        emp_buf_puts(&t, ",");
        emp_buf_puts(&t, d);
        emp_buf_puts(&t, ",");
        csv_field(&t, o[i].err_class);
        emp_buf_puts(&t, ",");
        csv_field(&t, o[i].message);
        emp_buf_puts(&t, "\r\n");
    }
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

/* Names of the locations in `mask` (bit i: h->locations[i]) as a JSON
 * array; an unnamed location ("") is left out. */
static json_t *location_names(const struct emp_view_history *h, uint64_t mask)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < h->n_locations && i < 64; i++)
        if ((mask >> i & 1) && h->locations[i][0] != '\0')
            json_array_append_new(a, api_json_text(h->locations[i], EMP_LOCATION_MAX));
    return a;
}

/* The locations that saw outage `o`: the one asked for, those down in a
 * combined one, or the one location that recorded it. */
static json_t *outage_locations(const struct emp_view_history *h, const struct emp_view *v,
                                const struct emp_outage *o, int64_t now_us)
{
    if (v->location != NULL) {
        json_t *a = json_array();
        if (a != NULL)
            json_array_append_new(a, api_json_text(v->location, EMP_LOCATION_MAX));
        return a;
    }
    if (h->seg != NULL)
        return location_names(h, emp_view_outage_locations(h, o, now_us));
    return location_names(h, h->n_locations == 1 ? 1 : 0);
}

/* What a figure's vantage point was: {"location": the one asked for or
 * null, "locations": those combined (or the one), "partial_s": time some
 * but fewer than the quorum were down (counted as up), "partial_locations":
 * who was down then}. NULL when out of memory. */
static json_t *vantage_json(const struct emp_view_history *h, const struct emp_view *v)
{
    uint64_t all = h->n_locations >= 64 ? UINT64_MAX : (UINT64_C(1) << h->n_locations) - 1;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "location", v->location != NULL
                                                     ? api_json_text(v->location,
                                                                     EMP_LOCATION_MAX)
                                                     : json_null());
    bad |= json_object_set_new(o, "locations", v->location != NULL
                                                   ? json_pack("[s]", v->location)
                                                   : location_names(h, all));
    bad |= json_object_set_new(o, "partial_s", api_json_seconds(h->totals.partial_us));
    bad |= json_object_set_new(o, "partial_locations",
                               location_names(h, h->totals.partial_locations));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

enum MHD_Result api_get_outages(struct api_req *r)
{
    int64_t from, to, id;
    struct emp_db *db;
    enum MHD_Result ret;
    const char *format = api_query(r, "format");
    if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
        return api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                         "format: expected \"json\" or \"csv\"");
    bool csv = format != NULL && strcmp(format, "csv") == 0;
    struct emp_view view;
    if (!api_view(r, &view, &ret) || !open_target(r, &from, &to, &db, &id, &ret))
        return ret;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_view_history h;
    enum emp_err e = emp_view_history_load(db, id, from, to, r->now_us, &view, &h, &err);
    if (e != EMP_OK) {
        ret = api_view_error(r, db, &view, e, &err, "list outages");
        emp_db_pool_put(r->api->pool, db);
        emp_view_history_free(&h);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);
    /* The outages of the window (a combination reads around it). */
    struct emp_outage *o = h.outages;
    size_t n = 0;
    for (size_t i = 0; i < h.n_outages; i++) {
        int64_t end = o[i].ended_at_us != 0 ? o[i].ended_at_us : INT64_MAX;
        if (o[i].started_at_us < to && end >= from)
            o[n++] = o[i];
    }

    if (n > 1)
        qsort(o, n, sizeof *o, cmp_outage_desc);
    if (csv) {
        char *text = outages_csv(o, n, r->now_us);
        emp_view_history_free(&h);
        return api_reply_text(r, MHD_HTTP_OK, "text/csv; charset=utf-8", text);
    }
    json_t *list = json_array();
    int bad = list == NULL;
    for (size_t i = 0; i < n && !bad; i++) {
        int64_t end = o[i].ended_at_us != 0 ? o[i].ended_at_us : r->now_us;
        int64_t dur = end > o[i].started_at_us ? end - o[i].started_at_us : 0;
        json_t *cause = json_object();
        bad |= json_object_set_new(cause, "class",
                                   api_json_text(o[i].err_class, sizeof o[i].err_class));
        bad |= json_object_set_new(cause, "message",
                                   api_json_text(o[i].message, sizeof o[i].message));
        json_t *item = json_object();
        bad |= json_object_set_new(item, "start", api_json_time(o[i].started_at_us));
        bad |= json_object_set_new(item, "end", o[i].ended_at_us != 0
                                                    ? api_json_time(o[i].ended_at_us)
                                                    : json_null());
        bad |= json_object_set_new(item, "duration_s", api_json_seconds(dur));
        bad |= json_object_set_new(item, "cause", cause);
        bad |= json_object_set_new(item, "locations", outage_locations(&h, &view, &o[i],
                                                                       r->now_us));
        bad |= json_array_append_new(list, item);
    }
    emp_view_history_free(&h);
    json_t *body = NULL;
    if (!bad)
        body = json_pack("{s:o}", "outages", list);
    else
        json_decref(list);
    return api_reply(r, MHD_HTTP_OK, body);
}

enum MHD_Result api_get_uptime(struct api_req *r)
{
    int64_t from, to, id;
    struct emp_db *db;
    enum MHD_Result ret;
    struct emp_view view;
    if (!api_view(r, &view, &ret) || !open_target(r, &from, &to, &db, &id, &ret))
        return ret;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_view_history h;
    enum emp_err e = emp_view_history_load(db, id, from, to, r->now_us, &view, &h, &err);
    if (e != EMP_OK) {
        ret = api_view_error(r, db, &view, e, &err, "read the target's history");
        emp_db_pool_put(r->api->pool, db);
        emp_view_history_free(&h);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);

    struct emp_uptime u;
    e = emp_uptime_compute(from, to, r->now_us, h.spans, h.n_spans, h.outages, h.n_outages, &u);
    json_t *partial = vantage_json(&h, &view);
    emp_view_history_free(&h);
    if (e != EMP_OK || partial == NULL) {
        json_decref(partial);
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    }

    json_t *body = json_object();
    int bad = body == NULL;
    bad |= json_object_set_new(body, "target", json_string(r->name));
    bad |= json_object_set_new(body, "from", api_json_time(from));
    bad |= json_object_set_new(body, "to", api_json_time(to));
    bad |= json_object_set_new(body, "up_s", api_json_seconds(u.up_us));
    bad |= json_object_set_new(body, "down_s", api_json_seconds(u.down_us));
    bad |= json_object_set_new(body, "unknown_s", api_json_seconds(u.unknown_us));
    bad |= json_object_set_new(body, "availability", api_json_real(u.availability));
    bad |= json_object_set_new(body, "coverage", api_json_real(u.coverage));
    bad |= json_object_set_new(body, "streak_current_s", api_json_seconds(u.streak_current_us));
    bad |= json_object_set_new(body, "streak_longest_s", api_json_seconds(u.streak_longest_us));
    bad |= json_object_update(body, partial);
    json_decref(partial);
    if (bad) {
        json_decref(body);
        body = NULL;
    }
    return api_reply(r, MHD_HTTP_OK, body);
}
