/* Probers and their runs: a run is one process lifetime, bounded by its
 * heartbeats; the outages a prober left open, for the next run to continue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/text.h"
#include "store/dbi.h"

static const struct dbi_stmt st_prober_register = {
    "emp_prober_register",
    "INSERT INTO probers (name, location) VALUES ($1, $2)"
    " ON CONFLICT (name) DO UPDATE SET location = EXCLUDED.location RETURNING id",
    2};
static const struct dbi_stmt st_run_start = {
    "emp_run_start",
    "INSERT INTO prober_runs (prober_id, started_at, last_beat_at, pid, hostname)"
    " VALUES ($1, emp_ts($2), emp_ts($2), $3, $4) RETURNING id",
    4};
static const struct dbi_stmt st_heartbeat = {
    "emp_heartbeat",
    "UPDATE prober_runs SET last_beat_at = greatest(last_beat_at, emp_ts($2))"
    " WHERE id = $1",
    2};
static const struct dbi_stmt st_run_stop = {
    "emp_run_stop",
    "UPDATE prober_runs SET stopped_at = emp_ts($2),"
    " last_beat_at = greatest(last_beat_at, emp_ts($2)) WHERE id = $1",
    2};
static const struct dbi_stmt st_list_runs = {
    "emp_list_runs",
    "SELECT id, prober_id, emp_us(started_at), emp_us(last_beat_at), emp_us(stopped_at)"
    " FROM prober_runs WHERE prober_id = $1 AND started_at < emp_ts($3)"
    " AND greatest(stopped_at, last_beat_at) >= emp_ts($2)"
    " ORDER BY started_at, id",
    3};

enum emp_err emp_db_prober_register(struct emp_db *db, const char *name,
                                    const char *location, int64_t *prober_id,
                                    struct emp_error *err)
{
    const char *vals[] = {name, location != NULL ? location : ""};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_prober_register, vals, &res, err,
                               "could not register prober");
    if (rc != EMP_OK)
        return rc;
    *prober_id = dbi_int64(res, 0, 0);
    PQclear(res);
    return EMP_OK;
}

enum emp_err emp_db_run_start(struct emp_db *db, int64_t prober_id,
                              int64_t now_us, int64_t *run_id,
                              struct emp_error *err)
{
    char b[3][24];
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    char safe_host[256];
    emp_text_copy(safe_host, sizeof safe_host, host);
    const char *vals[] = {dbi_i64s(b[0], prober_id), dbi_i64s(b[1], now_us),
                          dbi_i64s(b[2], (int64_t)getpid()), safe_host};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_run_start, vals, &res, err, "could not record prober run");
    if (rc != EMP_OK)
        return rc;
    *run_id = dbi_int64(res, 0, 0);
    PQclear(res);
    return EMP_OK;
}

static enum emp_err run_update(struct emp_db *db, const struct dbi_stmt *st,
                               int64_t run_id, int64_t now_us, struct emp_error *err,
                               const char *what)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], run_id), dbi_i64s(b[1], now_us)};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, st, vals, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    if (strcmp(PQcmdTuples(res), "0") == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "%s: no run %lld", what,
                           (long long)run_id);
    PQclear(res);
    return rc;
}

enum emp_err emp_db_heartbeat(struct emp_db *db, int64_t run_id, int64_t now_us,
                              struct emp_error *err)
{
    return run_update(db, &st_heartbeat, run_id, now_us, err, "could not write heartbeat");
}

enum emp_err emp_db_run_stop(struct emp_db *db, int64_t run_id, int64_t now_us,
                             struct emp_error *err)
{
    return run_update(db, &st_run_stop, run_id, now_us, err, "could not record run stop");
}

enum emp_err emp_db_list_runs(struct emp_db *db, int64_t prober_id, int64_t from_us, int64_t to_us,
                              struct emp_run **out, size_t *n, struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_window_rows(db, &st_list_runs, prober_id, from_us, to_us, sizeof **out,
                                      &rows, n, &res, err, "could not list prober runs");
    if (rc != EMP_OK)
        return rc;
    struct emp_run *a = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        a[i].run_id = dbi_int64(res, r, 0);
        a[i].prober_id = dbi_int64(res, r, 1);
        a[i].started_at_us = dbi_int64(res, r, 2);
        a[i].last_beat_at_us = dbi_int64(res, r, 3);
        a[i].stopped_at_us = dbi_int64(res, r, 4);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}

/* Each prober with its latest run (by start): one index probe per prober
 * on prober_runs (prober_id, started_at). */
static const struct dbi_stmt st_list_probers = {
    "emp_list_probers",
    "SELECT p.id, p.name, p.location, coalesce(r.id, 0), coalesce(emp_us(r.started_at), 0),"
    " coalesce(emp_us(r.last_beat_at), 0), coalesce(emp_us(r.stopped_at), 0)"
    " FROM probers p LEFT JOIN LATERAL (SELECT id, started_at, last_beat_at, stopped_at"
    "   FROM prober_runs WHERE prober_id = p.id ORDER BY started_at DESC, id DESC LIMIT 1) r"
    " ON true ORDER BY p.name",
    0};

enum emp_err emp_db_list_probers(struct emp_db *db, struct emp_prober_row **out, size_t *n,
                                 struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_list_probers, NULL, sizeof **out, &rows, n, &res,
                                     err, "could not list probers");
    if (rc != EMP_OK)
        return rc;
    struct emp_prober_row *a = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        a[i].prober_id = dbi_int64(res, r, 0);
        dbi_text(res, r, 1, a[i].name, sizeof a[i].name);
        dbi_text(res, r, 2, a[i].location, sizeof a[i].location);
        a[i].run.prober_id = a[i].prober_id;
        a[i].run.run_id = dbi_int64(res, r, 3);
        a[i].run.started_at_us = dbi_int64(res, r, 4);
        a[i].run.last_beat_at_us = dbi_int64(res, r, 5);
        a[i].run.stopped_at_us = dbi_int64(res, r, 6);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}

static const struct dbi_stmt st_open_outages = {
    "emp_open_outages",
    "SELECT target_id, emp_us(started_at), err_class, message FROM outages"
    " WHERE prober_id = $1 AND ended_at IS NULL ORDER BY started_at, target_id",
    1};

enum emp_err emp_db_open_outages(struct emp_db *db, int64_t prober_id, struct emp_outage **out,
                                 size_t *n, struct emp_error *err)
{
    char b[24];
    const char *vals[] = {dbi_i64s(b, prober_id)};
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_open_outages, vals, sizeof **out, &rows, n, &res, err,
                                     "could not list open outages");
    if (rc != EMP_OK)
        return rc;
    struct emp_outage *a = rows;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        a[i].target_id = dbi_int64(res, r, 0);
        a[i].started_at_us = dbi_int64(res, r, 1);
        a[i].ended_at_us = 0;
        dbi_text(res, r, 2, a[i].err_class, sizeof a[i].err_class);
        dbi_text(res, r, 3, a[i].message, sizeof a[i].message);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}
