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

#define US_PER_HOUR INT64_C(3600000000)

static int64_t floor_hour(int64_t us)
{
    int64_t r = us % US_PER_HOUR;
    return r < 0 ? us - r - US_PER_HOUR : us - r;
}

/* ---- write state: maps keyed by (target, hour) ------------------------ */

/* A small open-addressing hash map of fixed-size slots, each starting with
 * its key. Spans are keyed by target (hour 0), rollups by target and hour. */
struct slot_key {
    int64_t target_id, hour_us;
    bool used;
};

struct slot_map {
    unsigned char *slots;
    size_t cap, n; /* cap is 0 or a power of two */
    size_t size;   /* bytes per slot, a struct starting with struct slot_key */
};

static size_t hash_key(int64_t a, int64_t b)
{
    uint64_t x = (uint64_t)a ^ ((uint64_t)b * UINT64_C(0x9e3779b97f4a7c15));
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x;
}

static struct slot_key *slot_at(const struct slot_map *m, size_t i)
{
    return (struct slot_key *)(void *)(m->slots + i * m->size);
}

static void *map_find(const struct slot_map *m, int64_t id, int64_t hour)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = hash_key(id, hour) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct slot_key *k = slot_at(m, i);
        if (!k->used)
            return NULL;
        if (k->target_id == id && k->hour_us == hour)
            return k;
    }
}

/* Make room for `extra` more entries at a load of at most 1/2. */
static bool map_reserve(struct slot_map *m, size_t extra)
{
    if ((m->n + extra) * 2 <= m->cap)
        return true;
    size_t cap = m->cap ? m->cap : 16;
    while ((m->n + extra) * 2 > cap)
        cap *= 2;
    unsigned char *slots = calloc(cap, m->size);
    if (slots == NULL)
        return false;
    for (size_t j = 0; j < m->cap; j++) {
        const struct slot_key *k = slot_at(m, j);
        if (!k->used)
            continue;
        size_t i = hash_key(k->target_id, k->hour_us) & (cap - 1);
        while (((struct slot_key *)(void *)(slots + i * m->size))->used)
            i = (i + 1) & (cap - 1);
        memcpy(slots + i * m->size, k, m->size);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

/* The entry for the key, inserted (zeroed) when missing; NULL when out of
 * memory. Pointers die at the next insertion that grows the map. */
static void *map_put(struct slot_map *m, int64_t id, int64_t hour, bool *created)
{
    void *f = map_find(m, id, hour);
    *created = false;
    if (f != NULL)
        return f;
    if (!map_reserve(m, 1))
        return NULL;
    size_t i = hash_key(id, hour) & (m->cap - 1);
    while (slot_at(m, i)->used)
        i = (i + 1) & (m->cap - 1);
    struct slot_key *k = slot_at(m, i);
    memset(k, 0, m->size);
    k->used = true;
    k->target_id = id;
    k->hour_us = hour;
    m->n++;
    *created = true;
    return k;
}

static void map_clear(struct slot_map *m)
{
    if (m->cap > 0)
        memset(m->slots, 0, m->cap * m->size);
    m->n = 0;
}

static void map_free(struct slot_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

/* What the writer remembers of a target: the span it is in, and which
 * failure it stored last (so a repeated message is stored once). */
struct span_ent {
    struct slot_key k;
    int64_t start_us, end_us, grace_us;
    bool has_span; /* start/end are meaningful */
    bool has_fail; /* fail_hash and fail_month are meaningful */
    uint64_t fail_hash; /* of the last failure's class and message */
    int64_t fail_month; /* UTC month (months since 1970) of that failure */
};

/* A target's counts for one hour not yet written. */
struct roll_ent {
    struct slot_key k;
    int64_t ok, degraded, fail, sum, max;
    int64_t hist[EMP_HIST_BUCKETS];
};

struct emp_write_state {
    struct slot_map spans;  /* of struct span_ent */
    struct slot_map rolls;  /* of struct roll_ent: counted, not yet written */
    int64_t flush_us;       /* rollups are written at least this often */
    int64_t last_flush_us;  /* result time of the last write (0: none yet) */
    int64_t latest_us;      /* latest result time counted */
    int64_t compacted_day;  /* days before this one (since the epoch) are compacted */
    int64_t run_id;         /* 0: events carry no numbers, no progress kept */
    uint64_t counted_seq;   /* the held rollups count every result up to this */
};

struct emp_write_state *emp_write_state_new(void)
{
    struct emp_write_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->spans.size = sizeof(struct span_ent);
    st->rolls.size = sizeof(struct roll_ent);
    st->flush_us = EMP_ROLLUP_FLUSH_MS * EMP_US_PER_MS;
    return st;
}

void emp_write_state_set_rollup_flush(struct emp_write_state *st, int64_t flush_ms)
{
    st->flush_us = flush_ms > 0 ? flush_ms * EMP_US_PER_MS : 0;
}

void emp_write_state_set_run(struct emp_write_state *st, int64_t run_id)
{
    st->run_id = run_id;
}

size_t emp_write_state_pending_rollups(const struct emp_write_state *st)
{
    return st->rolls.n;
}

void emp_write_state_free(struct emp_write_state *st)
{
    if (st == NULL)
        return;
    map_free(&st->spans);
    map_free(&st->rolls);
    free(st);
}

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

/* Count the RESULT events of `events` into `m` (of struct roll_ent). */
static bool count_results(struct slot_map *m, const struct emp_event *events)
{
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        if (ev->kind != EMP_EV_RESULT)
            continue;
        const struct emp_result *r = &ev->r;
        if (r->status == EMP_STATUS_UNKNOWN)
            continue; /* not an observation */
        bool created;
        struct roll_ent *acc = map_put(m, ev->target_id, floor_hour(r->started_at_us), &created);
        if (acc == NULL)
            return false;
        if (r->status == EMP_STATUS_FAIL) {
            acc->fail++;
            continue;
        }
        if (r->status == EMP_STATUS_DEGRADED)
            acc->degraded++;
        else
            acc->ok++;
        int64_t lat = r->latency_us > 0 ? r->latency_us : 0;
        acc->sum += lat;
        if (lat > acc->max)
            acc->max = lat;
        acc->hist[emp_hist_bucket(lat)]++;
    }
    return true;
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
        if (slot_at(m, i)->used)
            e[n++] = (const struct roll_ent *)slot_at(m, i);
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
        struct span_ent *t = map_find(staged, ev->target_id, 0);
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
        struct span_ent *cur = map_put(staged, ev->target_id, 0, &created);
        if (cur == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
            goto out;
        }
        if (created) {
            const struct span_ent *old = map_find(spans, ev->target_id, 0);
            if (old != NULL)
                *cur = *old;
        }
        int64_t interval_ms = ev->interval_ms > EMP_MIN_INTERVAL_MS ? ev->interval_ms
                                                                    : EMP_MIN_INTERVAL_MS;
        int64_t grace_us = 2 * interval_ms * 1000;
        int64_t t = ev->r.started_at_us;
        if (ev->r.status == EMP_STATUS_UNKNOWN) {
            /* The prober could not vouch for this probe: the span ends at
             * the last probe it could, and the next result begins anew. */
            if (cur->has_span && t >= cur->end_us) {
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
        const struct span_ent *e = (const struct span_ent *)slot_at(staged, i);
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

/* Whether the rollups counted so far, with a batch of results from
 * `first_us` to `last_us`, are due to be written: at least every flush_us
 * of result time, and as soon as an hour is complete. */
static bool rollups_due(const struct emp_write_state *st, int64_t first_us, int64_t last_us)
{
    if (st->flush_us == 0)
        return true;
    int64_t base = st->last_flush_us != 0 ? st->last_flush_us : first_us;
    int64_t latest = last_us > st->latest_us ? last_us : st->latest_us;
    return latest - base >= st->flush_us || floor_hour(latest) != floor_hour(base);
}

/* Count events and results, and raise `*max_seq`, `*first_us` (down) and
 * `*last_us` (up) to the events' numbers and result times. */
static void scan(const struct emp_event *events, size_t *n_all, size_t *n_res, uint64_t *max_seq,
                 int64_t *first_us, int64_t *last_us)
{
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        (*n_all)++;
        if (ev->seq > *max_seq)
            *max_seq = ev->seq;
        if (ev->kind != EMP_EV_RESULT)
            continue;
        (*n_res)++;
        if (ev->r.started_at_us < *first_us)
            *first_us = ev->r.started_at_us;
        if (ev->r.started_at_us > *last_us)
            *last_us = ev->r.started_at_us;
    }
}

static bool map_copy(struct slot_map *dst, const struct slot_map *src)
{
    *dst = (struct slot_map){.size = src->size};
    if (src->cap == 0)
        return true;
    dst->slots = malloc(src->cap * src->size);
    if (dst->slots == NULL)
        return false;
    memcpy(dst->slots, src->slots, src->cap * src->size);
    dst->cap = src->cap;
    dst->n = src->n;
    return true;
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
    scan(events, &n_all, &n_res, &max_seq, &first_us, &last_us);
    if (n_all == 0)
        return EMP_OK;
    const int64_t latest = n_res > 0 && last_us > st->latest_us ? last_us : st->latest_us;
    /* Rollups are counted in memory and written now and then: the counts
     * so far plus this batch's when due, else only room is made for the
     * batch's, to be counted once it is committed. */
    bool flush = n_res > 0 && rollups_due(st, first_us, last_us);
    if (flush && (!map_copy(&rolls, &st->rolls) || !count_results(&rolls, events))) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
        goto out;
    }
    if (!flush && !map_reserve(&st->rolls, n_res)) {
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
    if (!map_reserve(&st->spans, staged.n)) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
        goto out;
    }
    rc = dbi_cmd(db, fresh ? "COMMIT" : "ROLLBACK", err, what_batch);
    if (rc != EMP_OK)
        goto out;
    for (size_t i = 0; i < staged.cap; i++) {
        const struct span_ent *s = (const struct span_ent *)slot_at(&staged, i);
        if (!s->k.used)
            continue;
        bool created;
        struct span_ent *e = map_put(&st->spans, s->k.target_id, 0, &created);
        if (e != NULL)
            *e = *s;
    }
    if (n_res > 0) {
        if (flush) {
            map_clear(&st->rolls);
            st->compacted_day = compacted_day;
            st->last_flush_us = latest;
        } else {
            if (st->last_flush_us == 0)
                st->last_flush_us = first_us;
            count_results(&st->rolls, events); /* room was made: cannot fail */
        }
        st->latest_us = latest;
    }
    if (max_seq > st->counted_seq)
        st->counted_seq = max_seq;
out:
    if (rc != EMP_OK)
        dbi_rollback(db);
    map_free(&staged);
    map_free(&rolls);
    return rc;
}

bool emp_write_state_count(struct emp_write_state *st, const struct emp_event *events)
{
    int64_t first_us = INT64_MAX, last_us = INT64_MIN;
    uint64_t seq = st->counted_seq;
    size_t n_all = 0, n_res = 0;
    scan(events, &n_all, &n_res, &seq, &first_us, &last_us);
    if (!map_reserve(&st->rolls, n_res))
        return false;
    count_results(&st->rolls, events); /* room was made: cannot fail */
    if (n_res > 0) {
        if (st->last_flush_us == 0)
            st->last_flush_us = first_us;
        if (last_us > st->latest_us)
            st->latest_us = last_us;
    }
    st->counted_seq = seq;
    return true;
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
    map_clear(&st->rolls);
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
