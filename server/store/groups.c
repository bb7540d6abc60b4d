/* Reads over the store's targets and groups: the whole target list
 * (configured and imported), the groups, and the outages and coverage spans
 * of all members of a group in one round trip each, for the correlation and
 * group statistics. */
#include <stdlib.h>
#include <string.h>

#include "store/dbi.h"

static const struct dbi_stmt st_list_targets = {
    "emp_list_targets",
    "SELECT id, name, kind, grp, coalesce(interval_ms, 0) FROM targets ORDER BY name", 0};
static const struct dbi_stmt st_list_targets_page = {
    "emp_list_targets_page",
    "SELECT id, name, kind, grp, coalesce(interval_ms, 0) FROM targets WHERE name > $1"
    " ORDER BY name LIMIT $2::bigint",
    2};
static const struct dbi_stmt st_get_target = {
    "emp_get_target",
    "SELECT id, name, kind, grp, coalesce(interval_ms, 0) FROM targets WHERE name = $1", 1};
static const struct dbi_stmt st_list_groups = {
    "emp_list_groups",
    "SELECT grp, count(*) FROM targets WHERE grp <> '' GROUP BY grp ORDER BY grp", 0};
static const struct dbi_stmt st_group_targets = {
    "emp_group_targets",
    "SELECT id, name, kind, grp, coalesce(interval_ms, 0) FROM targets WHERE grp = $1"
    " ORDER BY id",
    1};
/* The members' windows in one index scan each: target_id = ANY (the
 * members' ids, computed once), outages through outages_target_end_idx
 * (schema 004, index only, in its order: no sort), spans through their key
 * with every heap page visited once for the whole group rather than once
 * per member. Window bounds are computed once per query, not per row. */
#define GROUP_IDS "ANY (ARRAY(SELECT id FROM targets WHERE grp = $1))"
static const struct dbi_stmt st_group_outage_times = {
    "emp_group_outage_times",
    "SELECT o.target_id, o.started_at, o.ended_at, o.prober_id FROM outages o"
    " WHERE o.target_id = " GROUP_IDS " AND o.started_at < (SELECT emp_ts($3))"
    " AND coalesce(o.ended_at, 'infinity') >= (SELECT emp_ts($2))"
    " ORDER BY o.target_id, coalesce(o.ended_at, 'infinity')",
    3, 1};
static const struct dbi_stmt st_group_spans = {
    "emp_group_spans",
    "SELECT s.target_id, s.started_at, s.ended_at, " LIVE_GRACE_MS "::bigint * 1000,"
    " s.prober_id FROM spans s WHERE s.target_id = " GROUP_IDS
    " AND s.started_at < (SELECT emp_ts($3))"
    " AND s.ended_at >= (SELECT emp_ts($2) - interval '2 days')"
    " AND s.ended_at + s.grace_ms * interval '1 millisecond' >= (SELECT emp_ts($2))"
    " ORDER BY s.target_id, s.started_at",
    3, 1};

static void target_row(const PGresult *res, int r, struct emp_target_row *t)
{
    t->id = dbi_int64(res, r, 0);
    dbi_text(res, r, 1, t->name, sizeof t->name);
    dbi_text(res, r, 2, t->kind, sizeof t->kind);
    dbi_text(res, r, 3, t->group, sizeof t->group);
    t->interval_ms = (int)dbi_int64(res, r, 4);
}

static enum emp_err target_rows(struct emp_db *db, const struct dbi_stmt *st,
                                const char *const *vals, struct emp_target_row **out,
                                size_t *n, struct emp_error *err, const char *what)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, st, vals, sizeof **out, &rows, n, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    struct emp_target_row *t = rows;
    for (size_t i = 0; i < *n; i++)
        target_row(res, (int)i, &t[i]);
    PQclear(res);
    *out = t;
    return EMP_OK;
}

enum emp_err emp_db_list_targets(struct emp_db *db, struct emp_target_row **out,
                                 size_t *n, struct emp_error *err)
{
    return target_rows(db, &st_list_targets, NULL, out, n, err, "could not list targets");
}

enum emp_err emp_db_list_targets_page(struct emp_db *db, const char *after, long limit,
                                      struct emp_target_row **out, size_t *n,
                                      struct emp_error *err)
{
    char b[24];
    const char *vals[] = {after != NULL ? after : "", dbi_i64s(b, limit > 0 ? limit : 0)};
    return target_rows(db, &st_list_targets_page, vals, out, n, err, "could not list targets");
}

enum emp_err emp_db_get_target(struct emp_db *db, const char *name,
                               struct emp_target_row *out, struct emp_error *err)
{
    struct emp_target_row *rows = NULL;
    size_t n = 0;
    const char *vals[] = {name};
    enum emp_err rc = target_rows(db, &st_get_target, vals, &rows, &n, err,
                                  "could not look up target");
    if (rc == EMP_OK && n == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no target called \"%s\"", name);
    if (rc == EMP_OK)
        *out = rows[0];
    free(rows);
    return rc;
}

enum emp_err emp_db_list_groups(struct emp_db *db, struct emp_group_row **out,
                                size_t *n, struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_list_groups, NULL, sizeof **out, &rows, n, &res,
                                 err, "could not list groups");
    if (rc != EMP_OK)
        return rc;
    struct emp_group_row *g = rows;
    for (size_t i = 0; i < *n; i++) {
        dbi_text(res, (int)i, 0, g[i].name, sizeof g[i].name);
        g[i].members = dbi_int64(res, (int)i, 1);
    }
    PQclear(res);
    *out = g;
    return EMP_OK;
}

enum emp_err emp_db_group_targets(struct emp_db *db, const char *group,
                                  struct emp_target_row **out, size_t *n,
                                  struct emp_error *err)
{
    const char *vals[] = {group};
    enum emp_err rc = target_rows(db, &st_group_targets, vals, out, n, err,
                                  "could not list group members");
    if (rc == EMP_OK && *n == 0) {
        free(*out);
        *out = NULL;
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no group called \"%s\"", group);
    }
    return rc;
}

enum emp_err emp_db_group_outage_times(struct emp_db *db, const char *group,
                                       int64_t from_us, int64_t to_us,
                                       struct emp_outage_time **out, size_t *n,
                                       struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {group, dbi_i64s(b[0], from_us), dbi_i64s(b[1], to_us)};
    return dbi_query_outage_times(db, &st_group_outage_times, vals, out, n, err,
                                  "could not list group outages");
}

enum emp_err emp_db_group_spans(struct emp_db *db, const char *group, int64_t from_us,
                                int64_t to_us, struct emp_span **out, size_t *n,
                                struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {group, dbi_i64s(b[0], from_us), dbi_i64s(b[1], to_us)};
    return dbi_query_spans(db, &st_group_spans, vals, out, n, err,
                           "could not list group coverage");
}
