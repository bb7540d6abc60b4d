/* The store's side of `empiric import`: history-only targets, the "import"
 * prober, outages and coverage spans, written in one transaction with one
 * statement per table (INSERT ... SELECT FROM unnest of array parameters),
 * so that tens of thousands of rows cost a handful of round trips. One
 * import at a time; another waits a few seconds for it, then gives up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/dbi.h"
#include "core/text.h"
#include "store/import.h"

/* How long an import waits for a lock held by another import or session
 * before it gives up, and how often the server checks, while the import's
 * statements run, that its client is still there: a killed import's
 * statement then ends (and its locks go) within seconds, not when the
 * statement would have. */
#define IMPORT_LOCK_TIMEOUT_MS 5000
#define IMPORT_CHECK_INTERVAL_MS 2000

/* For this transaction only. Joined with pg_settings: a server before
 * PostgreSQL 14 has no client_connection_check_interval and skips it. */
static const struct dbi_stmt st_import_settings = {
    "emp_import_settings",
    "SELECT set_config(v.name, v.val, true)"
    " FROM (VALUES ('lock_timeout', $1), ('client_connection_check_interval', $2)) AS v(name, val)"
    " JOIN pg_settings p ON p.name = v.name",
    2};
/* One import at a time: a transaction advisory lock keyed by Empiric's
 * class (0x454D5049, "EMPI") and the oid of this schema's outages table, so
 * that imports into other schemas do not wait for each other. */
#define SQL_IMPORT_LOCK "SELECT pg_advisory_xact_lock(1162694729, 'outages'::regclass::oid::int)"
/* The tables' locks up front: a session holding one of them (a migration,
 * a VACUUM FULL) is met here, with a message that says so, rather than in
 * the middle of the writes. */
#define SQL_IMPORT_TABLES "LOCK TABLE probers, targets, outages, spans IN ROW EXCLUSIVE MODE"

/* No-op update on conflict so that RETURNING yields the existing id. */
static const struct dbi_stmt st_import_prober = {
    "emp_import_prober",
    "INSERT INTO probers (name, location) VALUES ($1, 'history import')"
    " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    1};
/* New targets are kind 'history': never probed, no thresholds. An existing
 * history target moves to the file's group when the file names one; a
 * probed target (owned by the configuration) is left as it is. Only rows
 * inserted or changed are returned; xmax = 0 tells an insert. */
static const struct dbi_stmt st_import_targets = {
    "emp_import_targets",
    "INSERT INTO targets AS t (name, kind, grp, spec, interval_ms, timeout_ms,"
    " fail_threshold, recover_threshold)"
    " SELECT u.n, 'history', u.g, '{\"kind\":\"history\"}', 0, 0, 0, 0"
    " FROM unnest($1::text[], $2::text[]) AS u(n, g)"
    " ON CONFLICT (name) DO UPDATE SET grp = EXCLUDED.grp, updated_at = now()"
    " WHERE t.kind = 'history' AND EXCLUDED.grp <> '' AND t.grp <> EXCLUDED.grp"
    " RETURNING (xmax = 0)",
    2};
/* (target, start, prober) is unique: a row imported before is left alone. */
static const struct dbi_stmt st_import_outages = {
    "emp_import_outages",
    "INSERT INTO outages (target_id, prober_id, started_at, ended_at, err_class, message)"
    " SELECT t.id, $1, emp_ts(u.s), emp_ts(u.e), 'import', u.c"
    " FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[]) AS u(n, s, e, c)"
    " JOIN targets t ON t.name = u.n"
    " ON CONFLICT DO NOTHING",
    5};
/* grace 0: an imported span is observed exactly from start to end. */
static const struct dbi_stmt st_import_spans = {
    "emp_import_spans",
    "INSERT INTO spans AS s (target_id, prober_id, started_at, ended_at, grace_ms)"
    " SELECT t.id, $1, emp_ts(u.a), emp_ts(u.b), 0"
    " FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS u(n, a, b)"
    " JOIN targets t ON t.name = u.n"
    " ON CONFLICT (target_id, prober_id, started_at) DO UPDATE SET ended_at = EXCLUDED.ended_at"
    " WHERE s.ended_at < EXCLUDED.ended_at",
    4};

/* Run `st` with `prober` (NULL: none) followed by the closed arrays. */
static enum emp_err exec_arrays(struct emp_db *db, const struct dbi_stmt *st, const char *prober,
                                struct dbi_arr *a, size_t n, PGresult **res, struct emp_error *err,
                                const char *what)
{
    const char *vals[8];
    size_t k = 0;
    if (prober != NULL)
        vals[k++] = prober;
    for (size_t i = 0; i < n; i++) {
        vals[k] = dbi_arr_end(&a[i]);
        if (vals[k++] == NULL)
            return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    return dbi_exec(db, st, vals, res, err, what);
}

static size_t cmd_tuples(const PGresult *res)
{
    return (size_t)strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
}

static enum emp_err write_targets(struct emp_db *db, const struct emp_import *imp,
                                  struct emp_import_stats *st, struct emp_error *err,
                                  const char *what)
{
    struct dbi_arr a[2] = {0};
    PGresult *res = NULL;
    for (size_t i = 0; i < imp->n_targets; i++) {
        dbi_arr_text(&a[0], imp->targets[i].name);
        dbi_arr_text(&a[1], imp->targets[i].group);
    }
    enum emp_err rc = exec_arrays(db, &st_import_targets, NULL, a, 2, &res, err, what);
    if (rc == EMP_OK) {
        int n = PQntuples(res);
        for (int i = 0; i < n; i++)
            if (strcmp(PQgetvalue(res, i, 0), "t") == 0)
                st->targets_new++;
        st->targets_existing = imp->n_targets - st->targets_new;
    }
    PQclear(res);
    dbi_arrs_free(a, 2);
    return rc;
}

static enum emp_err write_outages(struct emp_db *db, const char *prober,
                                  const struct emp_import *imp, struct emp_import_stats *st,
                                  struct emp_error *err, const char *what)
{
    struct dbi_arr a[4] = {0};
    PGresult *res = NULL;
    char cause[EMP_ERRMSG_MAX];
    for (size_t i = 0; i < imp->n_rows; i++) {
        const struct emp_import_row *r = &imp->rows[i];
        dbi_arr_text(&a[0], imp->targets[r->target].name);
        dbi_arr_i64(&a[1], r->start_us);
        dbi_arr_i64(&a[2], r->end_us);
        /* As long as a probe's message may be, cut at a character. */
        emp_text_copy(cause, sizeof cause, r->cause);
        dbi_arr_text(&a[3], cause);
    }
    enum emp_err rc = exec_arrays(db, &st_import_outages, prober, a, 4, &res, err, what);
    if (rc == EMP_OK) {
        st->outages_new = cmd_tuples(res);
        st->outages_present = imp->n_rows - st->outages_new;
    }
    PQclear(res);
    dbi_arrs_free(a, 4);
    return rc;
}

static enum emp_err write_spans(struct emp_db *db, const char *prober,
                                const struct emp_import *imp, struct emp_error *err,
                                const char *what)
{
    struct dbi_arr a[3] = {0};
    PGresult *res = NULL;
    for (size_t i = 0; i < imp->n_targets; i++) {
        if (imp->targets[i].span_start_us > imp->targets[i].span_end_us)
            continue; /* observed by no rule: unknown time, no span */
        dbi_arr_text(&a[0], imp->targets[i].name);
        dbi_arr_i64(&a[1], imp->targets[i].span_start_us);
        dbi_arr_i64(&a[2], imp->targets[i].span_end_us);
    }
    enum emp_err rc = exec_arrays(db, &st_import_spans, prober, a, 3, &res, err, what);
    PQclear(res);
    dbi_arrs_free(a, 3);
    return rc;
}

/* Run the parameterless `sql`, which takes a lock. Not granted within the
 * lock timeout (SQLSTATE 55P03, lock_not_available): EMP_EAGAIN with
 * `busy` as the message; other failures as dbi_result_error. Through
 * dbi_call, which gives the failed result (dbi_exec keeps only the
 * message). */
static enum emp_err take_lock(struct emp_db *db, const char *sql, const char *busy,
                              struct emp_error *err)
{
    const char *what = "could not lock the tables of the import";
    PGresult *res = dbi_call(db, &(struct dbi_send){.sql = sql}, err, what);
    if (res == NULL)
        return dbi_failed(err);
    enum emp_err rc = EMP_OK;
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state != NULL && strcmp(state, "55P03") == 0) {
            char detail[160];
            snprintf(detail, sizeof detail,
                     "not granted within %d s (lock_timeout); try again when it has finished",
                     IMPORT_LOCK_TIMEOUT_MS / 1000);
            rc = emp_error_set(err, EMP_EAGAIN, detail, "%s", busy);
        } else {
            rc = dbi_result_error(res, db, err, what);
        }
    }
    PQclear(res);
    return rc;
}

/* Within the open transaction: its settings, then its locks. */
static enum emp_err import_begin(struct emp_db *db, struct emp_error *err)
{
    char lock_ms[24], check_ms[24];
    const char *vals[] = {dbi_i64s(lock_ms, IMPORT_LOCK_TIMEOUT_MS),
                          dbi_i64s(check_ms, IMPORT_CHECK_INTERVAL_MS)};
    enum emp_err rc = dbi_exec_cmd(db, &st_import_settings, vals, err,
                                   "could not set the import's lock timeout");
    if (rc == EMP_OK)
        rc = take_lock(db, SQL_IMPORT_LOCK, "another import is running", err);
    if (rc == EMP_OK)
        rc = take_lock(db, SQL_IMPORT_TABLES,
                       "another session holds a lock on the import's tables", err);
    return rc;
}

enum emp_err emp_db_import(struct emp_db *db, const struct emp_import *imp,
                           struct emp_import_stats *st, struct emp_error *err)
{
    const char *what = "could not import";
    const char *pname[] = {EMP_IMPORT_PROBER};
    PGresult *res = NULL;
    char prober[24];
    memset(st, 0, sizeof *st);
    if (imp->n_targets == 0) /* targets without outages are still imported */
        return EMP_OK;
    enum emp_err rc = dbi_cmd(db, "BEGIN", err, what);
    if (rc != EMP_OK)
        return rc;
    rc = import_begin(db, err);
    if (rc != EMP_OK)
        goto out;
    rc = dbi_exec(db, &st_import_prober, pname, &res, err, "could not register the import prober");
    if (rc != EMP_OK)
        goto out;
    dbi_i64s(prober, dbi_int64(res, 0, 0));
    PQclear(res);
    rc = write_targets(db, imp, st, err, "could not import targets");
    if (rc == EMP_OK)
        rc = write_outages(db, prober, imp, st, err, "could not import outages");
    if (rc == EMP_OK)
        rc = write_spans(db, prober, imp, err, "could not import coverage spans");
    if (rc == EMP_OK)
        rc = dbi_cmd(db, "COMMIT", err, what);
out:
    if (rc != EMP_OK) {
        dbi_rollback(db);
        memset(st, 0, sizeof *st);
    }
    return rc;
}
