/* What the store recorded of a target over a window [from, to): outages,
 * coverage spans, hourly rollups and failing probes (the evidence), each
 * over all probers of the target. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/dbi.h"

/* The reads of a window: bounds are written (SELECT emp_ts($n)), computed
 * once per query, where emp_ts($n) in a filter is computed again for every
 * row (timestamptz arithmetic is only STABLE, so it is not folded). An
 * outage belongs to [from, to) when started_at < to and
 * coalesce(ended_at, 'infinity') >= from: ongoing ones never end, and one
 * ending exactly at `from` (a repair at the window's first instant, a point
 * failure there) is the window's too. Spelled so, the end reaches
 * outages_target_end_idx (schema 004), which starts the walk at the window
 * rather than at the target's first outage. */
static const struct dbi_stmt st_list_outages = {
    "emp_list_outages",
    "SELECT target_id, started_at, ended_at, err_class, message, prober_id"
    " FROM outages WHERE target_id = $1 AND started_at < (SELECT emp_ts($3))"
    " AND coalesce(ended_at, 'infinity') >= (SELECT emp_ts($2))"
    " ORDER BY started_at DESC, prober_id",
    3, 1};
/* grace_ms is at most 2 * EMP_MAX_INTERVAL_MS (2 days): the first ended_at
 * bound lets the index find candidates, the second is exact. */
static const struct dbi_stmt st_list_spans = {
    "emp_list_spans",
    "SELECT s.started_at, s.ended_at, " LIVE_GRACE_MS "::bigint * 1000, s.prober_id"
    " FROM spans s"
    " WHERE s.target_id = $1 AND s.started_at < (SELECT emp_ts($3))"
    " AND s.ended_at >= (SELECT emp_ts($2) - interval '2 days')"
    " AND s.ended_at + s.grace_ms * interval '1 millisecond' >= (SELECT emp_ts($2))"
    " ORDER BY s.started_at, s.prober_id",
    3, 1};
static const struct dbi_stmt st_list_rollups = {
    "emp_list_rollups",
    "SELECT emp_us(hour), sum(ok)::bigint, sum(degraded)::bigint, sum(fail)::bigint,"
    " sum(latency_sum_us)::bigint, max(latency_max_us), emp_hist_sum(hist::bigint[])"
    " FROM rollup_hours WHERE target_id = $1 AND hour < emp_ts($3)"
    " AND hour > emp_ts($2) - interval '1 hour'"
    " AND day >= (emp_ts($2) AT TIME ZONE 'UTC')::date - 1"
    " AND day <= (emp_ts($3) AT TIME ZONE 'UTC')::date"
    " GROUP BY hour ORDER BY hour",
    3};
/* A NULL message repeats the previous one of the target and prober in the
 * month (write.c): carried forward within the window (grp counts the
 * messages so far), and from before the window for its first rows. */
static const struct dbi_stmt st_list_failures = {
    "emp_list_failures",
    "SELECT emp_us(at), latency_us, err_class,"
    " coalesce(message, first_value(message) OVER (PARTITION BY prober_id, grp ORDER BY at),"
    "  (SELECT p.message FROM failures p WHERE p.target_id = $1 AND p.prober_id = w.prober_id"
    "   AND p.at < emp_ts($2) AND p.message IS NOT NULL"
    "   AND p.at >= date_trunc('month', emp_ts($2) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    "   ORDER BY p.at DESC LIMIT 1), '')"
    " FROM (SELECT f.*, count(message) OVER (PARTITION BY prober_id ORDER BY at) AS grp"
    "  FROM failures f WHERE target_id = $1 AND at >= emp_ts($2) AND at < emp_ts($3)) AS w"
    " ORDER BY at, prober_id",
    3};

/* Only when the failures happened (an SLA's minutes rule needs no more):
 * the key alone, no message to carry forward. */
static const struct dbi_stmt st_list_failure_times = {
    "emp_list_failure_times",
    "SELECT at, prober_id FROM failures WHERE target_id = $1 AND at >= emp_ts($2)"
    " AND at < emp_ts($3) ORDER BY at, prober_id",
    3, 1};

static const struct dbi_stmt st_prober_locations = {
    "emp_prober_locations", "SELECT id, location FROM probers ORDER BY id", 0};

enum emp_err emp_db_prober_locations(struct emp_db *db, struct emp_prober_location **out,
                                     size_t *n, struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_prober_locations, NULL, sizeof **out, &rows, n,
                                     &res, err, "could not list the probers' locations");
    if (rc != EMP_OK)
        return rc;
    struct emp_prober_location *a = rows;
    for (size_t i = 0; i < *n; i++) {
        a[i].prober_id = dbi_int64(res, (int)i, 0);
        dbi_text(res, (int)i, 1, a[i].location, sizeof a[i].location);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}

enum emp_err emp_db_list_outages(struct emp_db *db, int64_t target_id, int64_t from_us,
                                 int64_t to_us, struct emp_outage **out, size_t *n,
                                 struct emp_error *err)
{
    char b[3][24];
    const char *vals[] = {dbi_i64s(b[0], target_id), dbi_i64s(b[1], from_us),
                          dbi_i64s(b[2], to_us)};
    return dbi_query_outages(db, &st_list_outages, vals, out, n, err, "could not list outages");
}

enum emp_err emp_db_list_spans(struct emp_db *db, int64_t target_id, int64_t from_us, int64_t to_us,
                               struct emp_span **out, size_t *n, struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_window_rows(db, &st_list_spans, target_id, from_us, to_us, sizeof **out,
                                      &rows, n, &res, err, "could not list coverage spans");
    if (rc != EMP_OK)
        return rc;
    struct emp_span *a = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        a[i].started_at_us = dbi_bin_time_us(res, r, 0);
        a[i].ended_at_us = dbi_bin_time_us(res, r, 1);
        a[i].grace_us = dbi_bin_int64(res, r, 2);
        a[i].prober_id = dbi_bin_int64(res, r, 3);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}

/* Parse a bigint[] in text form ("{1,2,3}") into hist. */
static void parse_hist(const char *s, int64_t hist[EMP_HIST_BUCKETS])
{
    memset(hist, 0, sizeof(int64_t) * EMP_HIST_BUCKETS);
    if (*s == '{')
        s++;
    for (int i = 0; i < EMP_HIST_BUCKETS && *s != '\0' && *s != '}'; i++) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno != 0)
            return;
        hist[i] = (int64_t)v;
        s = end;
        if (*s == ',')
            s++;
    }
}

enum emp_err emp_db_list_rollups(struct emp_db *db, int64_t target_id,
                                 int64_t from_us, int64_t to_us,
                                 struct emp_rollup **out, size_t *n,
                                 struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_window_rows(db, &st_list_rollups, target_id, from_us, to_us, sizeof **out,
                                      &rows, n, &res, err, "could not list rollups");
    if (rc != EMP_OK)
        return rc;
    struct emp_rollup *a = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        a[i].target_id = target_id;
        a[i].hour_us = dbi_int64(res, r, 0);
        a[i].ok = dbi_int64(res, r, 1);
        a[i].degraded = dbi_int64(res, r, 2);
        a[i].fail = dbi_int64(res, r, 3);
        a[i].latency_sum_us = dbi_int64(res, r, 4);
        a[i].latency_max_us = dbi_int64(res, r, 5);
        parse_hist(PQgetvalue(res, r, 6), a[i].hist);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}

enum emp_err emp_db_list_failures(struct emp_db *db, int64_t target_id,
                                  int64_t from_us, int64_t to_us,
                                  struct emp_failure **out, size_t *n,
                                  struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_window_rows(db, &st_list_failures, target_id, from_us, to_us,
                                      sizeof **out, &rows, n, &res, err, "could not list failures");
    if (rc != EMP_OK)
        return rc;
    struct emp_failure *a = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        a[i].target_id = target_id;
        a[i].at_us = dbi_int64(res, r, 0);
        a[i].latency_us = dbi_int64(res, r, 1);
        dbi_text(res, r, 2, a[i].err_class, sizeof a[i].err_class);
        dbi_text(res, r, 3, a[i].message, sizeof a[i].message);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}

enum emp_err emp_db_list_failure_times(struct emp_db *db, int64_t target_id,
                                       int64_t from_us, int64_t to_us,
                                       struct emp_failure **out, size_t *n,
                                       struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_window_rows(db, &st_list_failure_times, target_id, from_us, to_us,
                                      sizeof **out, &rows, n, &res, err, "could not list failures");
    if (rc != EMP_OK)
        return rc;
    struct emp_failure *a = rows;
    for (size_t i = 0; i < *n; i++) {
        a[i].target_id = target_id;
        a[i].at_us = dbi_bin_time_us(res, (int)i, 0);
        a[i].prober_id = dbi_bin_int64(res, (int)i, 1);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}
