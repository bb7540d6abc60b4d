/* Store reads for the status page (db_status.h): one query per kind of row
 * for all targets (or all members of a group) at once, so that the page's
 * single call costs three round trips whatever the number of targets.
 * Times come back in binary. */
#include "store/status.h"

#include <stdlib.h>
#include <string.h>

#include "store/dbi.h"

/* Each read comes twice: for every target, and for the members of one
 * group (only the members' rows are read). Window bounds are
 * (SELECT emp_ts($n)): computed once per query rather than for every row. */
#define SPANS_WINDOW                                                                     \
    " s.started_at < (SELECT emp_ts($2))"                                                \
    " AND s.ended_at >= (SELECT emp_ts($1) - interval '2 days')"                         \
    " AND s.ended_at + s.grace_ms * interval '1 millisecond' >= (SELECT emp_ts($1))"
static const struct dbi_stmt st_status_spans = {
    "emp_status_spans",
    "SELECT s.target_id, s.started_at, s.ended_at, " LIVE_GRACE_MS "::bigint * 1000,"
    " s.prober_id FROM spans s"
    " WHERE" SPANS_WINDOW " ORDER BY s.target_id, s.started_at",
    2, 1};
/* A group's members in one scan of the key of spans: target_id = ANY (the
 * members' ids, computed once), each heap page visited once. */
#define GROUP_IDS "ANY (ARRAY(SELECT id FROM targets WHERE grp = $3))"
static const struct dbi_stmt st_status_spans_group = {
    "emp_status_spans_group",
    "SELECT s.target_id, s.started_at, s.ended_at, " LIVE_GRACE_MS "::bigint * 1000,"
    " s.prober_id FROM spans s"
    " WHERE s.target_id = " GROUP_IDS " AND" SPANS_WINDOW " ORDER BY s.target_id, s.started_at",
    3, 1};

/* Outages overlapping the window through outages_target_end_idx (schema
 * 004), from the index alone and in its order (no sort): target_id = ANY
 * (the ids of every target, or of the group's members, computed once), and
 * for each the walk starts where the window does. */
#define OUTAGES_SQL(ids)                                                                 \
    "SELECT x.target_id, x.started_at, x.ended_at, x.prober_id FROM outages x"           \
    " WHERE x.target_id = ANY (ARRAY(SELECT id FROM targets" ids "))"                    \
    " AND x.started_at < (SELECT emp_ts($2))"                                            \
    " AND coalesce(x.ended_at, 'infinity') >= (SELECT emp_ts($1))"                        \
    " ORDER BY x.target_id, coalesce(x.ended_at, 'infinity')"
static const struct dbi_stmt st_status_outage_times = {
    "emp_status_outage_times", OUTAGES_SQL(""), 2, 1};
static const struct dbi_stmt st_status_outage_times_group = {
    "emp_status_outage_times_group", OUTAGES_SQL(" WHERE grp = $3"), 3, 1};

/* The newest `per_target` outages of each target: per target, a short walk
 * down its (target_id, started_at, prober_id) index, not a ranking of every
 * outage in the store. */
#define RECENT_SQL(where)                                                                          \
    "SELECT o.target_id, o.started_at, o.ended_at, o.err_class, o.message, o.prober_id"            \
    " FROM targets t CROSS JOIN LATERAL ("                                                         \
    "  SELECT x.target_id, x.started_at, x.ended_at, x.err_class, x.message, x.prober_id"          \
    "  FROM outages x WHERE x.target_id = t.id AND x.started_at < emp_ts($1)"                      \
    "  ORDER BY x.started_at DESC, x.prober_id LIMIT $2) o" where                                  \
    " ORDER BY o.target_id, o.started_at DESC, o.prober_id"
static const struct dbi_stmt st_status_recent = {"emp_status_recent", RECENT_SQL(""), 2, 1};
static const struct dbi_stmt st_status_recent_group = {"emp_status_recent_group",
                                                       RECENT_SQL(" WHERE t.grp = $3"), 3, 1};

enum emp_err emp_db_status_spans(struct emp_db *db, const char *group, int64_t from_us,
                                 int64_t to_us, struct emp_span **out, size_t *n,
                                 struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], from_us), dbi_i64s(b[1], to_us), group};
    return dbi_query_spans(db, group != NULL ? &st_status_spans_group : &st_status_spans, vals,
                           out, n, err, "could not list coverage");
}

enum emp_err emp_db_status_outage_times(struct emp_db *db, const char *group, int64_t from_us,
                                        int64_t to_us, struct emp_outage_time **out,
                                        size_t *n, struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], from_us), dbi_i64s(b[1], to_us), group};
    return dbi_query_outage_times(db,
                                  group != NULL ? &st_status_outage_times_group
                                                : &st_status_outage_times,
                                  vals, out, n, err, "could not list outages");
}

enum emp_err emp_db_status_recent_outages(struct emp_db *db, const char *group, int64_t to_us,
                                          int per_target, struct emp_outage **out, size_t *n,
                                          struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], to_us), dbi_i64s(b[1], per_target), group};
    return dbi_query_outages(db, group != NULL ? &st_status_recent_group : &st_status_recent,
                             vals, out, n, err, "could not list recent outages");
}
