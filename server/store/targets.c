/* Targets in the store: the configured ones synchronised at start, those
 * made through the API (their definition kept whole), and lookups by name. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/target.h"
#include "core/text.h"
#include "store/dbi.h"

static const struct dbi_stmt st_target_upsert = {
    "emp_target_upsert",
    "INSERT INTO targets AS t (name, kind, grp, spec, interval_ms, timeout_ms,"
    " fail_threshold, recover_threshold, degraded_ms)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)"
    " ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, grp = EXCLUDED.grp,"
    " spec = EXCLUDED.spec, interval_ms = EXCLUDED.interval_ms,"
    " timeout_ms = EXCLUDED.timeout_ms, fail_threshold = EXCLUDED.fail_threshold,"
    " recover_threshold = EXCLUDED.recover_threshold, degraded_ms = EXCLUDED.degraded_ms,"
    " api_definition = NULL,"
    " updated_at = CASE WHEN (t.kind, t.grp, t.spec, t.interval_ms, t.timeout_ms,"
    "   t.fail_threshold, t.recover_threshold, t.degraded_ms, t.api_definition) IS DISTINCT"
    "   FROM (EXCLUDED.kind, EXCLUDED.grp, EXCLUDED.spec, EXCLUDED.interval_ms,"
    "   EXCLUDED.timeout_ms, EXCLUDED.fail_threshold, EXCLUDED.recover_threshold,"
    "   EXCLUDED.degraded_ms, NULL::jsonb) THEN now() ELSE t.updated_at END"
    " RETURNING id",
    9};
static const struct dbi_stmt st_target_find = {"emp_target_find",
                                               "SELECT id FROM targets WHERE name = $1", 1};

/* The target's kind-specific fields as compact JSON (new string, free()):
 * its definition less the name, group and timing, a conninfo without its
 * passwords. */
static char *target_spec(const struct emp_target_config *t)
{
    static const char *const common[] = {"name",           "group",
                                         "interval_ms",    "timeout_ms",
                                         "fail_threshold", "recover_threshold",
                                         "degraded_ms"};
    json_t *o = emp_target_config_json(t, true);
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        json_object_del(o, common[i]);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(o);
    return text;
}

/* The parameters every statement that stores a target starts with ($1 to
 * $9): name, kind, group, spec, interval, timeout, thresholds, degraded.
 * `b` holds the numbers' text. */
#define TARGET_PARAMS 9
static void target_params(const struct emp_target_config *t, const char *spec, char b[5][24],
                          const char **vals)
{
    vals[0] = t->name;
    vals[1] = t->kind->name;
    vals[2] = t->group != NULL ? t->group : "";
    vals[3] = spec;
    vals[4] = dbi_i64s(b[0], t->interval_ms);
    vals[5] = dbi_i64s(b[1], t->timeout_ms);
    vals[6] = dbi_i64s(b[2], t->fail_threshold);
    vals[7] = dbi_i64s(b[3], t->recover_threshold);
    vals[8] = dbi_i64s(b[4], t->degraded_ms);
}

enum emp_err emp_db_sync_targets(struct emp_db *db, const struct emp_config *cfg,
                                 int64_t *ids, struct emp_error *err)
{
    const char *what = "could not store targets";
    enum emp_err rc = dbi_cmd(db, "BEGIN", err, what);
    if (rc != EMP_OK)
        return rc;
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct emp_target_config *t = &cfg->targets[i];
        char b[5][24];
        char *spec = target_spec(t);
        if (spec == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
            goto out;
        }
        const char *vals[TARGET_PARAMS];
        target_params(t, spec, b, vals);
        PGresult *res = NULL;
        rc = dbi_exec(db, &st_target_upsert, vals, &res, err, what);
        free(spec);
        if (rc != EMP_OK)
            goto out;
        ids[i] = dbi_int64(res, 0, 0);
        PQclear(res);
    }
    rc = dbi_cmd(db, "COMMIT", err, what);
out:
    if (rc != EMP_OK)
        dbi_rollback(db);
    return rc;
}

enum emp_err emp_db_find_target(struct emp_db *db, const char *name,
                                int64_t *id, struct emp_error *err)
{
    const char *vals[] = {name};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_target_find, vals, &res, err, "could not look up target");
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no target named \"%s\"", name);
    else
        *id = dbi_int64(res, 0, 0);
    PQclear(res);
    return rc;
}

/* ---- targets made through the API ------------------------------------ */

/* One statement, so that two writers of the same name cannot both create
 * it: the CTE sees the row as it was before, the conditional DO UPDATE
 * leaves a live one alone for a create ($11). */
static const struct dbi_stmt st_api_target_put = {
    "emp_api_target_put",
    "WITH old AS (SELECT api_definition IS NOT NULL AS live FROM targets WHERE name = $1)"
    " INSERT INTO targets AS t (name, kind, grp, spec, interval_ms, timeout_ms,"
    " fail_threshold, recover_threshold, degraded_ms, api_definition)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10::jsonb)"
    " ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, grp = EXCLUDED.grp,"
    " spec = EXCLUDED.spec, interval_ms = EXCLUDED.interval_ms,"
    " timeout_ms = EXCLUDED.timeout_ms, fail_threshold = EXCLUDED.fail_threshold,"
    " recover_threshold = EXCLUDED.recover_threshold, degraded_ms = EXCLUDED.degraded_ms,"
    " api_definition = EXCLUDED.api_definition, updated_at = now()"
    " WHERE t.api_definition IS NULL OR NOT $11::boolean"
    " RETURNING id, coalesce((SELECT live FROM old), false)",
    11};
static const struct dbi_stmt st_api_target_remove = {
    "emp_api_target_remove",
    "UPDATE targets SET api_definition = NULL, updated_at = now()"
    " WHERE name = $1 AND api_definition IS NOT NULL RETURNING id",
    1};
static const struct dbi_stmt st_api_targets = {
    "emp_api_targets",
    "SELECT id, name, api_definition::text FROM targets WHERE api_definition IS NOT NULL"
    " ORDER BY name",
    0};
static const struct dbi_stmt st_api_target_get = {
    "emp_api_target_get",
    "SELECT id, name, kind, grp, coalesce(interval_ms, 0), api_definition::text"
    " FROM targets WHERE name = $1",
    1};

static const struct dbi_stmt st_api_target_changes = {
    "emp_api_target_changes", "SELECT n FROM api_target_changes", 0};

enum emp_err emp_db_api_target_changes(struct emp_db *db, int64_t *changes,
                                       struct emp_error *err)
{
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_api_target_changes, NULL, &res, err,
                               "could not read the count of changes to targets made through "
                               "the API");
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) != 1)
        rc = emp_error_set(err, EMP_EDB, NULL,
                           "api_target_changes holds %d rows, not 1 (did you run `empiric "
                           "migrate`?)", PQntuples(res));
    else
        *changes = dbi_int64(res, 0, 0);
    PQclear(res);
    return rc;
}

enum emp_err emp_db_api_target_put(struct emp_db *db, const struct emp_target_config *t,
                                   const char *definition, bool create_only, int64_t *id,
                                   bool *created, struct emp_error *err)
{
    const char *what = "could not store the target";
    char b[5][24];
    char *spec = target_spec(t);
    if (spec == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    const char *vals[TARGET_PARAMS + 2];
    target_params(t, spec, b, vals);
    vals[TARGET_PARAMS] = definition;
    vals[TARGET_PARAMS + 1] = create_only ? "true" : "false";
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_api_target_put, vals, &res, err, what);
    free(spec);
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rc = emp_error_set(err, EMP_EEXIST, NULL, "a target called \"%s\" exists", t->name);
    } else {
        *id = dbi_int64(res, 0, 0);
        *created = strcmp(PQgetvalue(res, 0, 1), "t") != 0;
    }
    PQclear(res);
    return rc;
}

enum emp_err emp_db_api_target_remove(struct emp_db *db, const char *name, int64_t *id,
                                      struct emp_error *err)
{
    const char *vals[] = {name};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_api_target_remove, vals, &res, err,
                               "could not remove the target");
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no target \"%s\" made through the API",
                           name);
    else
        *id = dbi_int64(res, 0, 0);
    PQclear(res);
    return rc;
}

void emp_db_api_targets_free(struct emp_api_target *t, size_t n)
{
    for (size_t i = 0; t != NULL && i < n; i++)
        free(t[i].definition);
    free(t);
}

/* A new copy of column `col`, or NULL when it is NULL; *oom on failure. */
static char *text_or_null(const PGresult *res, int row, int col, bool *oom)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    char *s = strdup(PQgetvalue(res, row, col));
    if (s == NULL)
        *oom = true;
    return s;
}

enum emp_err emp_db_api_targets(struct emp_db *db, struct emp_api_target **out, size_t *n,
                                struct emp_error *err)
{
    const char *what = "could not list the targets made through the API";
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_api_targets, NULL, sizeof **out, &rows, n, &res,
                                     err, what);
    if (rc != EMP_OK)
        return rc;
    struct emp_api_target *t = rows;
    bool oom = false;
    for (size_t i = 0; i < *n; i++) {
        t[i].id = dbi_int64(res, (int)i, 0);
        dbi_text(res, (int)i, 1, t[i].name, sizeof t[i].name);
        t[i].definition = text_or_null(res, (int)i, 2, &oom);
    }
    PQclear(res);
    if (oom) {
        emp_db_api_targets_free(t, *n);
        *n = 0;
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    *out = t;
    return EMP_OK;
}

enum emp_err emp_db_api_target_get(struct emp_db *db, const char *name,
                                   struct emp_target_row *row, char **definition,
                                   struct emp_error *err)
{
    const char *vals[] = {name};
    PGresult *res = NULL;
    *definition = NULL;
    enum emp_err rc = dbi_exec(db, &st_api_target_get, vals, &res, err,
                               "could not look up the target");
    if (rc != EMP_OK)
        return rc;
    bool oom = false;
    if (PQntuples(res) == 0) {
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no target named \"%s\"", name);
    } else {
        memset(row, 0, sizeof *row);
        row->id = dbi_int64(res, 0, 0);
        dbi_text(res, 0, 1, row->name, sizeof row->name);
        dbi_text(res, 0, 2, row->kind, sizeof row->kind);
        dbi_text(res, 0, 3, row->group, sizeof row->group);
        row->interval_ms = (int)dbi_int64(res, 0, 4);
        *definition = text_or_null(res, 0, 5, &oom);
        if (oom)
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "could not look up the target");
    }
    PQclear(res);
    return rc;
}
