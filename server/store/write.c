/* Batched writes of the probe loop's events in one transaction: failures,
 * coverage spans and outage transitions with every batch, hourly rollups
 * counted in the writer's state and written about once a minute (finished
 * days compacted into one row each). One statement per table per batch
 * (INSERT ... SELECT FROM unnest of array parameters), so a batch of
 * thousands of results costs a handful of round trips. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store/db.h"
#include "store/dbi.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "store/write_state.h"

/* ---- statements ------------------------------------------------------ */

/* The counted hours add to rollups_recent, one row per target and hour. */
static const struct dbi_stmt st_rollups = {
    "emp_batch_rollups",
    "INSERT INTO rollups_recent AS r (target_id, prober_id, hour, ok, degraded, fail,"
    " latency_sum_us, latency_max_us, hist)"
    " SELECT u.t, $1, emp_ts(u.h), u.ok, u.dg, u.fl, u.ls, u.lm,"
    " ($9::int[])[(u.i - 1) * 14 + 1 : u.i * 14]"
    " FROM unnest($2::bigint[], $3::bigint[], $4::int[], $5::int[], $6::int[],"
    " $7::bigint[], $8::int[]) WITH ORDINALITY AS u(t, h, ok, dg, fl, ls, lm, i)"
    " ON CONFLICT (target_id, hour, prober_id) DO UPDATE SET"
    " ok = r.ok + EXCLUDED.ok, degraded = r.degraded + EXCLUDED.degraded,"
    " fail = r.fail + EXCLUDED.fail,"
    " latency_sum_us = r.latency_sum_us + EXCLUDED.latency_sum_us,"
    " latency_max_us = greatest(r.latency_max_us, EXCLUDED.latency_max_us),"
    " hist = emp_arr_add(r.hist, EXCLUDED.hist)",
    9};
/* The prober's finished days move into their day rows. */
static const struct dbi_stmt st_compact = {
    "emp_rollups_compact",
    "SELECT emp_rollups_compact($1, emp_ts($2))",
    2};
static const struct dbi_stmt st_failures = {
    "emp_batch_failures",
    "INSERT INTO failures (target_id, prober_id, at, latency_us, err_class, message)"
    " SELECT u.t, $1, emp_ts(u.a), u.l, u.c, u.m"
    " FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[])"
    " AS u(t, a, l, c, m)"
    " ON CONFLICT DO NOTHING",
    6};
/* GROUP BY: one row per key even if a batch named a span twice, which ON
 * CONFLICT DO UPDATE would refuse. */
static const struct dbi_stmt st_spans = {
    "emp_batch_spans",
    "INSERT INTO spans AS s (target_id, prober_id, started_at, ended_at, grace_ms)"
    " SELECT u.t, $1, emp_ts(u.s), emp_ts(max(u.e)), max(u.g)"
    " FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::int[]) AS u(t, s, e, g)"
    " GROUP BY u.t, u.s"
    " ON CONFLICT (target_id, prober_id, started_at) DO UPDATE SET"
    " ended_at = greatest(s.ended_at, EXCLUDED.ended_at), grace_ms = EXCLUDED.grace_ms",
    5};
/* DO NOTHING without a target also covers the one-open-outage index: a
 * replayed or duplicate opening is a no-op. */
static const struct dbi_stmt st_outage_open = {
    "emp_outage_open",
    "INSERT INTO outages (target_id, prober_id, started_at, err_class, message)"
    " VALUES ($1, $2, emp_ts($3), $4, $5) ON CONFLICT DO NOTHING",
    5};
/* A wall clock stepped backwards must not make the end precede the start. */
static const struct dbi_stmt st_outage_close = {
    "emp_outage_close",
    "UPDATE outages SET ended_at = greatest(emp_ts($4), started_at)"
    " WHERE target_id = $1 AND prober_id = $2 AND started_at = emp_ts($3)"
    " AND ended_at IS NULL",
    4};

/* The run's progress moves only forward: no row means the transaction's
 * events were committed before (see schema/005_spool_progress.sql). */
static const struct dbi_stmt st_progress_written = {
    "emp_progress_written",
    "UPDATE prober_runs SET written_seq = $2,"
    " rolled_seq = CASE WHEN $3 THEN $2 ELSE rolled_seq END"
    " WHERE id = $1 AND written_seq < $2",
    3};
static const struct dbi_stmt st_progress_rolled = {
    "emp_progress_rolled",
    "UPDATE prober_runs SET rolled_seq = $2 WHERE id = $1 AND rolled_seq < $2",
    2};
static const struct dbi_stmt st_progress_get = {
    "emp_progress_get",
    "SELECT written_seq, rolled_seq FROM prober_runs WHERE id = $1",
    1};

/* ---- batch ----------------------------------------------------------- */

/* Move the run's progress to `seq` in the open transaction. `*fresh` is
 * false when it was there already: the caller rolls back. */
static enum emp_err advance_progress(struct emp_db *db, const struct dbi_stmt *st,
                                     int64_t run_id, uint64_t seq, bool rolled, bool *fresh,
                                     struct emp_error *err, const char *what)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], run_id), dbi_i64s(b[1], (int64_t)seq),
                          rolled ? "true" : "false"};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, st, vals, &res, err, what);
    if (rc == EMP_OK)
        *fresh = strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    return rc;
}

enum emp_err emp_db_run_progress(struct emp_db *db, int64_t run_id, uint64_t *written,
                                 uint64_t *rolled, struct emp_error *err)
{
    char b[24];
    const char *vals[] = {dbi_i64s(b, run_id)};
    PGresult *res = NULL;
    const char *what = "could not read the run's progress";
    enum emp_err rc = dbi_exec(db, &st_progress_get, vals, &res, err, what);
    if (rc == EMP_OK && PQntuples(res) == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "%s: no run %lld", what, (long long)run_id);
    if (rc == EMP_OK) {
        *written = (uint64_t)dbi_int64(res, 0, 0);
        *rolled = (uint64_t)dbi_int64(res, 0, 1);
    }
    PQclear(res);
    return rc;
}

static const char *const what_batch = "could not write batch";

#define US_PER_DAY (24 * US_PER_HOUR)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int cmp_roll(const void *pa, const void *pb)
{
    const struct roll_ent *a = *(const struct roll_ent *const *)pa;
    const struct roll_ent *b = *(const struct roll_ent *const *)pb;
    if (a->k.target_id != b->k.target_id)
        return a->k.target_id < b->k.target_id ? -1 : 1;
    return (a->k.hour_us > b->k.hour_us) - (a->k.hour_us < b->k.hour_us);
}

/* Add every entry of `m` to rollups_recent, in key order (so that
 * concurrent writers, were there any, would lock rows in one order). */
static enum emp_err write_rollups(struct emp_db *db, const char *prober,
                                  const struct slot_map *m, struct emp_error *err)
{
    if (m->n == 0)
        return EMP_OK;
    struct dbi_arr a[8] = {0};
    enum emp_err rc = EMP_OK;
    const struct roll_ent **e = malloc(m->n * sizeof *e);
    if (e == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (ws_slot_at(m, i)->used)
            e[n++] = (const struct roll_ent *)ws_slot_at(m, i);
    qsort(e, n, sizeof *e, cmp_roll);
    for (size_t i = 0; i < n; i++) {
        const struct roll_ent *r = e[i];
        dbi_arr_i64(&a[0], r->k.target_id);
        dbi_arr_i64(&a[1], r->k.hour_us);
        dbi_arr_i64(&a[2], r->ok);
        dbi_arr_i64(&a[3], r->degraded);
        dbi_arr_i64(&a[4], r->fail);
        dbi_arr_i64(&a[5], r->sum);
        dbi_arr_i64(&a[6], r->max < INT32_MAX ? r->max : INT32_MAX);
        for (int k = 0; k < EMP_HIST_BUCKETS; k++)
            dbi_arr_i64(&a[7], r->hist[k]);
    }
    const char *vals[9] = {prober};
    for (int k = 0; k < 8; k++) {
        vals[k + 1] = dbi_arr_end(&a[k]);
        if (vals[k + 1] == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
            goto out;
        }
    }
    rc = dbi_exec_cmd(db, &st_rollups, vals, err, what_batch);
out:
    dbi_arrs_free(a, 8);
    free(e);
    return rc;
}

/* Days before the one of `latest_us` are finished: compact them, once per
 * day (and once after a start, which tidies what a previous run left). */
static enum emp_err compact_days(struct emp_db *db, const char *prober,
                                 const struct emp_write_state *st, int64_t latest_us,
                                 int64_t *compacted_day, struct emp_error *err)
{
    int64_t day = floor_div(latest_us, US_PER_DAY);
    *compacted_day = st->compacted_day;
    if (st->compacted_day != 0 && day <= st->compacted_day)
        return EMP_OK;
    char b[24];
    const char *vals[] = {prober, dbi_i64s(b, day * US_PER_DAY)};
    enum emp_err rc = dbi_exec_cmd(db, &st_compact, vals, err, what_batch);
    if (rc == EMP_OK)
        *compacted_day = day;
    return rc;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h * UINT64_C(0x100000001b3); /* the terminator, so "a"+"b" != "ab"+"" */
}

/* Months since 1970-01 (UTC) of a time. */
static int64_t utc_month(int64_t us)
{
    int64_t days = floor_div(us, US_PER_DAY);
    int64_t y;
    int m, d;
    emp_civil_from_days(days, &y, &m, &d);
    return (y - 1970) * 12 + (m - 1);
}

/* The failures of the batch, in order. A message equal to the previous
 * failure's of the same target (and prober) in the same month is stored as
 * NULL: an outage's probes mostly fail alike, and the text is most of a
 * row. Readers carry the message forward (emp_db_list_failures). `staged`
 * holds the batch's targets, advanced by write_spans. */
static enum emp_err write_failures(struct emp_db *db, const char *prober,
                                   struct slot_map *staged, const struct emp_event *events,
                                   struct emp_error *err)
{
    struct dbi_arr a[5] = {0};
    enum emp_err rc = EMP_OK;
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        const struct emp_result *r = &ev->r;
        if (ev->kind != EMP_EV_RESULT || r->status != EMP_STATUS_FAIL)
            continue;
        struct span_ent *t = ws_map_find(staged, ev->target_id, 0);
        uint64_t h = fnv1a(fnv1a(UINT64_C(0xcbf29ce484222325), r->err_class), r->message);
        int64_t month = utc_month(r->started_at_us);
        bool same = t != NULL && t->has_fail && t->fail_hash == h && t->fail_month == month;
        if (t != NULL) {
            t->has_fail = true;
            t->fail_hash = h;
            t->fail_month = month;
        }
        dbi_arr_i64(&a[0], ev->target_id);
        dbi_arr_i64(&a[1], r->started_at_us);
        dbi_arr_i64(&a[2], r->latency_us);
        dbi_arr_text(&a[3], r->err_class);
        if (same)
            dbi_arr_null(&a[4]);
        else
            dbi_arr_text(&a[4], r->message);
    }
    if (a[0].n == 0)
        goto out;
    const char *vals[6] = {prober};
    for (int k = 0; k < 5; k++) {
        vals[k + 1] = dbi_arr_end(&a[k]);
        if (vals[k + 1] == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
            goto out;
        }
    }
    rc = dbi_exec_cmd(db, &st_failures, vals, err, what_batch);
out:
    dbi_arrs_free(a, 5);
    return rc;
}

static void span_row(struct dbi_arr *a, const struct span_ent *s)
{
    dbi_arr_i64(&a[0], s->k.target_id);
    dbi_arr_i64(&a[1], s->start_us);
    dbi_arr_i64(&a[2], s->end_us);
    dbi_arr_i64(&a[3], s->grace_us / 1000);
}

/* Advance copies of the state's spans (in `staged`) through the RESULT
 * events, in their order, and upsert every span touched. */
static enum emp_err write_spans(struct emp_db *db, const char *prober,
                                const struct slot_map *spans,
                                struct slot_map *staged, const struct emp_event *events,
                                struct emp_error *err)
{
    struct dbi_arr a[4] = {0};
    enum emp_err rc = EMP_OK;
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        if (ev->kind != EMP_EV_RESULT)
            continue;
        bool created;
        struct span_ent *cur = ws_map_put(staged, ev->target_id, 0, &created);
        if (cur == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
            goto out;
        }
        if (created) {
            const struct span_ent *old = ws_map_find(spans, ev->target_id, 0);
            if (old != NULL)
                *cur = *old;
        }
        int64_t interval_ms = ev->interval_ms > EMP_MIN_INTERVAL_MS ? ev->interval_ms
                                                                    : EMP_MIN_INTERVAL_MS;
        int64_t grace_us = 2 * interval_ms * 1000;
        int64_t t = ev->r.started_at_us;
        if (ev->r.status == EMP_STATUS_UNKNOWN) {
            /* The prober could not vouch for this probe: the span ends at
             * the last probe it could, and the next result begins anew. No
             * grace after it: were it the prober's last span (store/dbi.h,
             * LIVE_GRACE_MS; a later one may begin earlier after the wall
             * clock stepped back), the time past its end is still unknown. */
            if (cur->has_span && t >= cur->end_us) {
                cur->grace_us = 0;
                span_row(a, cur);
                cur->has_span = false;
            }
            continue;
        }
        if (cur->has_span && t >= cur->end_us && t - cur->end_us <= grace_us) {
            cur->end_us = t;
            cur->grace_us = grace_us;
        } else if (cur->has_span && t < cur->end_us) {
            /* Late or replayed: inside or before what is already covered. */
        } else {
            if (cur->has_span)
                span_row(a, cur);
            cur->has_span = true;
            cur->start_us = cur->end_us = t;
            cur->grace_us = grace_us;
        }
    }
    for (size_t i = 0; i < staged->cap; i++) {
        const struct span_ent *e = (const struct span_ent *)ws_slot_at(staged, i);
        if (e->k.used && e->has_span)
            span_row(a, e);
    }
    if (a[0].n == 0)
        goto out;
    const char *vals[5] = {prober};
    for (int k = 0; k < 4; k++) {
        vals[k + 1] = dbi_arr_end(&a[k]);
        if (vals[k + 1] == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
            goto out;
        }
    }
    rc = dbi_exec_cmd(db, &st_spans, vals, err, what_batch);
out:
    dbi_arrs_free(a, 4);
    return rc;
}

static enum emp_err write_outage(struct emp_db *db, const char *prober,
                                 const struct emp_event *ev, struct emp_error *err)
{
    char b[3][24];
    char cls[EMP_ERRCLASS_MAX], msg[EMP_ERRMSG_MAX];
    if (ev->kind == EMP_EV_OUTAGE_OPEN) {
        emp_text_copy(cls, sizeof cls, ev->r.err_class);
        emp_text_copy(msg, sizeof msg, ev->r.message);
        const char *vals[] = {dbi_i64s(b[0], ev->target_id), prober,
                              dbi_i64s(b[1], ev->r.started_at_us), cls, msg};
        return dbi_exec_cmd(db, &st_outage_open, vals, err, what_batch);
    }
    const char *vals[] = {dbi_i64s(b[0], ev->target_id), prober,
                          dbi_i64s(b[1], ev->outage_started_at_us),
                          dbi_i64s(b[2], ev->r.started_at_us)};
    return dbi_exec_cmd(db, &st_outage_close, vals, err, what_batch);
}

/* The time of the last result of `events` in their order (0: none). */
static int64_t final_result_us(const struct emp_event *events)
{
    int64_t t = 0;
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next)
        if (ev->kind == EMP_EV_RESULT)
            t = ev->r.started_at_us;
    return t;
}

/* Whether the rollups counted so far, with a batch of results from
 * `first_us` whose last (in order) is at `final_us`, are due to be
 * written: at least every flush_us of result time, as soon as an hour is
 * complete, and when the results' time went back more than flush_us (the
 * wall clock was stepped back). Measured on the batch's last result, not
 * the latest ever counted: after a step back that one stays ahead of every
 * result for as long as the step, and nothing would be written meanwhile. */
static bool rollups_due(const struct emp_write_state *st, int64_t first_us, int64_t final_us)
{
    if (st->flush_us == 0)
        return true;
    int64_t base = st->last_flush_us != 0 ? st->last_flush_us : first_us;
    return final_us - base >= st->flush_us || base - final_us > st->flush_us ||
           ws_floor_hour(final_us) != ws_floor_hour(base);
}

enum emp_err emp_db_write_batch(struct emp_db *db, int64_t prober_id,
                                struct emp_write_state *st,
                                const struct emp_event *events,
                                struct emp_error *err)
{
    struct slot_map staged = {.size = sizeof(struct span_ent)};
    struct slot_map rolls = {.size = sizeof(struct roll_ent)};
    size_t n_res = 0, n_all = 0;
    uint64_t max_seq = 0;
    int64_t first_us = INT64_MAX, last_us = INT64_MIN, compacted_day = st->compacted_day;
    char prober[24];
    enum emp_err rc = EMP_OK;

    dbi_i64s(prober, prober_id);
    ws_scan(events, &n_all, &n_res, &max_seq, &first_us, &last_us);
    if (n_all == 0)
        return EMP_OK;
    const int64_t latest = n_res > 0 && last_us > st->latest_us ? last_us : st->latest_us;
    /* Rollups are counted in memory and written now and then: the counts
     * so far plus this batch's when due, else only room is made for the
     * batch's, to be counted once it is committed. */
    const int64_t final_us = final_result_us(events);
    bool flush = n_res > 0 && rollups_due(st, first_us, final_us);
    if (flush && (!ws_map_copy(&rolls, &st->rolls) || !ws_count_results(&rolls, events))) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
        goto out;
    }
    if (!flush && !ws_map_reserve(&st->rolls, n_res)) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
        goto out;
    }

    rc = dbi_cmd(db, "BEGIN", err, what_batch);
    if (rc != EMP_OK)
        goto out;
    if (n_res > 0) {
        rc = write_spans(db, prober, &st->spans, &staged, events, err);
        if (rc == EMP_OK)
            rc = write_failures(db, prober, &staged, events, err);
        if (rc == EMP_OK && flush)
            rc = write_rollups(db, prober, &rolls, err);
        if (rc == EMP_OK && flush)
            rc = compact_days(db, prober, st, latest, &compacted_day, err);
        if (rc != EMP_OK)
            goto out;
    }
    /* Outage transitions in order: a flap (open, close, open) in one batch
     * must reach the table in that order. */
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        if (ev->kind == EMP_EV_RESULT)
            continue;
        rc = write_outage(db, prober, ev, err);
        if (rc != EMP_OK)
            goto out;
    }
    /* Numbered events: a batch committed before (its acknowledgement lost,
     * or replayed from the spool) is rolled back, and the state advances
     * as it did then: the same state and events gave the same writes. */
    bool fresh = true;
    if (st->run_id != 0 && max_seq > 0) {
        rc = advance_progress(db, &st_progress_written, st->run_id, max_seq, flush, &fresh, err,
                              what_batch);
        if (rc != EMP_OK)
            goto out;
    }
    /* Room in the state first, so that nothing can fail after COMMIT. */
    if (!ws_map_reserve(&st->spans, staged.n)) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
        goto out;
    }
    rc = dbi_cmd(db, fresh ? "COMMIT" : "ROLLBACK", err, what_batch);
    if (rc != EMP_OK)
        goto out;
    for (size_t i = 0; i < staged.cap; i++) {
        const struct span_ent *s = (const struct span_ent *)ws_slot_at(&staged, i);
        if (!s->k.used)
            continue;
        bool created;
        struct span_ent *e = ws_map_put(&st->spans, s->k.target_id, 0, &created);
        if (e != NULL)
            *e = *s;
    }
    if (n_res > 0) {
        if (flush) {
            ws_map_clear(&st->rolls);
            st->compacted_day = compacted_day;
            st->last_flush_us = final_us;
        } else {
            if (st->last_flush_us == 0)
                st->last_flush_us = first_us;
            ws_count_results(&st->rolls, events); /* room was made: cannot fail */
        }
        st->latest_us = latest;
    }
    if (max_seq > st->counted_seq)
        st->counted_seq = max_seq;
out:
    if (rc != EMP_OK)
        dbi_rollback(db);
    ws_map_free(&staged);
    ws_map_free(&rolls);
    return rc;
}

enum emp_err emp_db_flush_rollups(struct emp_db *db, int64_t prober_id,
                                  struct emp_write_state *st, struct emp_error *err)
{
    if (st->rolls.n == 0)
        return EMP_OK;
    char prober[24];
    dbi_i64s(prober, prober_id);
    enum emp_err rc = dbi_cmd(db, "BEGIN", err, what_batch);
    int64_t compacted_day = st->compacted_day;
    bool fresh = true;
    if (rc == EMP_OK)
        rc = write_rollups(db, prober, &st->rolls, err);
    if (rc == EMP_OK)
        rc = compact_days(db, prober, st, st->latest_us, &compacted_day, err);
    if (rc == EMP_OK && st->run_id != 0 && st->counted_seq > 0)
        rc = advance_progress(db, &st_progress_rolled, st->run_id, st->counted_seq, true, &fresh,
                              err, what_batch);
    if (rc == EMP_OK)
        rc = dbi_cmd(db, fresh ? "COMMIT" : "ROLLBACK", err, what_batch);
    if (rc != EMP_OK) {
        dbi_rollback(db);
        return rc;
    }
    ws_map_clear(&st->rolls);
    st->compacted_day = compacted_day;
    st->last_flush_us = st->latest_us;
    return EMP_OK;
}

static const struct dbi_stmt st_ensure_partitions = {
    "emp_ensure_partitions",
    "SELECT emp_ensure_partitions(emp_ts($1), emp_ts($2))",
    2};

enum emp_err emp_db_ensure_partitions(struct emp_db *db, int64_t from_us, int64_t to_us,
                                      struct emp_error *err)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], from_us), dbi_i64s(b[1], to_us)};
    return dbi_exec_cmd(db, &st_ensure_partitions, vals, err,
                        "could not create time partitions");
}
