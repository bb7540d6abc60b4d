/* Handlers of /api/v1/targets: the live list (from the in-memory state, no
 * database), and per target the outages and the uptime over a window (from
 * the store). Query parameters are checked before the database is touched. */
#include "api/handlers.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "analysis/uptime.h"

enum MHD_Result api_get_targets(struct api_req *r)
{
    size_t n = 0;
    struct emp_target_status *st = emp_state_snapshot(r->api->state, r->now_us, &n);
    if (st == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    json_t *list = json_array();
    int bad = list == NULL;
    for (size_t i = 0; i < n && !bad; i++) {
        const struct emp_target_status *t = &st[i];
        json_t *o = json_object();
        bad |= json_object_set_new(o, "name", api_json_text(t->name, sizeof t->name));
        bad |= json_object_set_new(o, "kind", json_string(t->kind != NULL ? t->kind->name : ""));
        bad |= json_object_set_new(o, "group", t->group[0] != '\0'
                                                   ? api_json_text(t->group, sizeof t->group)
                                                   : json_null());
        bad |= json_object_set_new(o, "state", json_string(emp_tstate_name(t->state)));
        bad |= json_object_set_new(o, "since", t->since_us != 0 ? api_json_time(t->since_us)
                                                                : json_null());
        bad |= json_array_append_new(list, o);
    }
    /* Targets only the store knows (imported history, or configured
     * before): listed too, their state unknown to this process. Without
     * the database the live list alone is still an answer. */
    struct emp_db *db = NULL;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_target_row *rows = NULL;
    size_t n_rows = 0;
    if (!bad && emp_db_pool_get_until(r->api->pool, r->until_mono_us, &db, &err) == EMP_OK &&
        db != NULL) {
        if (emp_db_list_targets(db, &rows, &n_rows, &err) != EMP_OK)
            n_rows = 0;
        emp_db_pool_put(r->api->pool, db);
    }
    for (size_t i = 0; i < n_rows && !bad; i++) {
        bool live = false;
        for (size_t k = 0; k < n && !live; k++)
            live = strcmp(st[k].name, rows[i].name) == 0;
        if (live)
            continue;
        json_t *o = json_object();
        bad |= json_object_set_new(o, "name", api_json_text(rows[i].name, sizeof rows[i].name));
        bad |= json_object_set_new(o, "kind", api_json_text(rows[i].kind, sizeof rows[i].kind));
        bad |= json_object_set_new(o, "group", rows[i].group[0] != '\0'
                                                   ? api_json_text(rows[i].group,
                                                                   sizeof rows[i].group)
                                                   : json_null());
        bad |= json_object_set_new(o, "state", json_string("unknown"));
        bad |= json_object_set_new(o, "since", json_null());
        bad |= json_array_append_new(list, o);
    }
    free(rows);
    free(st);
    json_t *body = NULL;
    if (!bad)
        body = json_pack("{s:o}", "targets", list);
    else
        json_decref(list);
    return api_reply(r, MHD_HTTP_OK, body);
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
    if (!open_target(r, &from, &to, &db, &id, &ret))
        return ret;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_outage *o = NULL;
    size_t n = 0;
    enum emp_err e = emp_db_list_outages(db, id, from, to, &o, &n, &err);
    if (e != EMP_OK) {
        ret = api_db_error(r, db, e, &err, "list outages");
        emp_db_pool_put(r->api->pool, db);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);

    if (n > 1)
        qsort(o, n, sizeof *o, cmp_outage_desc);
    if (csv) {
        char *text = outages_csv(o, n, r->now_us);
        free(o);
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
        bad |= json_array_append_new(list, item);
    }
    free(o);
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
    if (!open_target(r, &from, &to, &db, &id, &ret))
        return ret;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_span *spans = NULL;
    struct emp_outage *outages = NULL;
    size_t n_spans = 0, n_outages = 0;
    const char *what = "list coverage spans";
    enum emp_err e = emp_db_list_spans(db, id, from, to, &spans, &n_spans, &err);
    if (e == EMP_OK) {
        what = "list outages";
        e = emp_db_list_outages(db, id, from, to, &outages, &n_outages, &err);
    }
    if (e != EMP_OK) {
        ret = api_db_error(r, db, e, &err, what);
        emp_db_pool_put(r->api->pool, db);
        free(spans);
        free(outages);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);

    struct emp_uptime u;
    e = emp_uptime_compute(from, to, r->now_us, spans, n_spans, outages, n_outages, &u);
    free(spans);
    free(outages);
    if (e != EMP_OK)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");

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
    if (bad) {
        json_decref(body);
        body = NULL;
    }
    return api_reply(r, MHD_HTTP_OK, body);
}
