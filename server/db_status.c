/* Store reads for the status page (db_status.h): one query per kind of row
 * for all targets at once, so that the page's single call costs three round
 * trips whatever the number of targets. Times come back in binary. */
#include "db_status.h"

#include <stdlib.h>
#include <string.h>

#include "db_int.h"

static const struct dbi_stmt st_status_spans = {
    "emp_status_spans",
    "SELECT s.target_id, s.started_at, s.ended_at, s.grace_ms::bigint * 1000"
    " FROM spans s"
    " WHERE s.started_at < emp_ts($2)"
    " AND s.ended_at >= emp_ts($1) - interval '2 days'"
    " AND s.ended_at + s.grace_ms * interval '1 millisecond' >= emp_ts($1)"
    " ORDER BY s.target_id, s.started_at",
    2, 1};
static const struct dbi_stmt st_status_outage_times = {
    "emp_status_outage_times",
    "SELECT o.target_id, o.started_at, o.ended_at FROM outages o"
    " WHERE o.started_at < emp_ts($2)"
    " AND (o.ended_at IS NULL OR o.ended_at > emp_ts($1))"
    " ORDER BY o.target_id, o.started_at",
    2, 1};
static const struct dbi_stmt st_status_recent = {
    "emp_status_recent",
    "SELECT target_id, started_at, ended_at, err_class, message FROM ("
    " SELECT o.target_id, o.started_at, o.ended_at, o.err_class, o.message,"
    " row_number() OVER (PARTITION BY o.target_id"
    " ORDER BY o.started_at DESC, o.prober_id) AS k"
    " FROM outages o WHERE o.started_at < emp_ts($1)) x"
    " WHERE k <= $2 ORDER BY target_id, started_at DESC",
    2, 1};

enum emp_err emp_db_status_spans(struct emp_db *db, int64_t from_us, int64_t to_us,
                                 struct emp_span **out, size_t *n, struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], from_us), dbi_i64s(b[1], to_us)};
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_status_spans, vals, sizeof **out, &rows, n, &res, err,
                              "could not list coverage");
    if (rc != EMP_OK)
        return rc;
    struct emp_span *s = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        s[i].target_id = dbi_bin_int64(res, r, 0);
        s[i].started_at_us = dbi_bin_time_us(res, r, 1);
        s[i].ended_at_us = dbi_bin_time_us(res, r, 2);
        s[i].grace_us = dbi_bin_int64(res, r, 3);
    }
    PQclear(res);
    *out = s;
    return EMP_OK;
}

enum emp_err emp_db_status_outage_times(struct emp_db *db, int64_t from_us, int64_t to_us,
                                        struct emp_outage_time **out, size_t *n,
                                        struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], from_us), dbi_i64s(b[1], to_us)};
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_status_outage_times, vals, sizeof **out, &rows, n, &res,
                              err, "could not list outages");
    if (rc != EMP_OK)
        return rc;
    struct emp_outage_time *o = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        o[i].target_id = dbi_bin_int64(res, r, 0);
        o[i].started_at_us = dbi_bin_time_us(res, r, 1);
        o[i].ended_at_us = dbi_bin_time_us(res, r, 2);
    }
    PQclear(res);
    *out = o;
    return EMP_OK;
}

enum emp_err emp_db_status_recent_outages(struct emp_db *db, int64_t to_us, int per_target,
                                          struct emp_outage **out, size_t *n,
                                          struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], to_us), dbi_i64s(b[1], per_target)};
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_status_recent, vals, sizeof **out, &rows, n, &res, err,
                              "could not list recent outages");
    if (rc != EMP_OK)
        return rc;
    struct emp_outage *o = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        o[i].target_id = dbi_bin_int64(res, r, 0);
        o[i].started_at_us = dbi_bin_time_us(res, r, 1);
        o[i].ended_at_us = dbi_bin_time_us(res, r, 2);
        /* Binary text is the bytes themselves; libpq NUL-terminates. */
        dbi_text(res, r, 3, o[i].err_class, sizeof o[i].err_class);
        dbi_text(res, r, 4, o[i].message, sizeof o[i].message);
    }
    PQclear(res);
    *out = o;
    return EMP_OK;
}
