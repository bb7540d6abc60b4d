/* Batched writes of the probe loop's events in one transaction: hourly
 * rollups aggregated in C, failures, coverage spans through the span
 * tracker, and outage transitions. One statement per table per batch
 * (INSERT ... SELECT FROM unnest of array parameters), so a batch of
 * thousands of results costs a handful of round trips. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "db_int.h"

const int emp_hist_bounds_ms[EMP_HIST_BUCKETS - 1] = {1,   2,    5,    10,   20,   50,   100,
                                                      200, 500, 1000, 2000, 5000, 10000};

int emp_hist_bucket(int64_t latency_us)
{
    for (int i = 0; i < EMP_HIST_BUCKETS - 1; i++)
        if (latency_us <= (int64_t)emp_hist_bounds_ms[i] * 1000)
            return i;
    return EMP_HIST_BUCKETS - 1;
}

#define US_PER_HOUR INT64_C(3600000000)

static int64_t floor_hour(int64_t us)
{
    int64_t r = us % US_PER_HOUR;
    return r < 0 ? us - r - US_PER_HOUR : us - r;
}

/* ---- span tracker ---------------------------------------------------- */

/* The span a target is in: a small open-addressing hash keyed by target. */
struct span_ent {
    int64_t target_id;
    int64_t start_us, end_us, grace_us;
    bool used;      /* slot taken */
    bool has_span;  /* start/end are meaningful */
};

struct span_map {
    struct span_ent *e;
    size_t cap, n; /* cap is 0 or a power of two */
};

struct emp_span_tracker {
    struct span_map m;
};

static size_t hash_id(int64_t id)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x;
}

static struct span_ent *map_find(const struct span_map *m, int64_t id)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = hash_id(id) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->e[i].used)
            return NULL;
        if (m->e[i].target_id == id)
            return &m->e[i];
    }
}

/* Make room for `extra` more entries at a load of at most 1/2. */
static bool map_reserve(struct span_map *m, size_t extra)
{
    if ((m->n + extra) * 2 <= m->cap)
        return true;
    size_t cap = m->cap ? m->cap : 16;
    while ((m->n + extra) * 2 > cap)
        cap *= 2;
    struct span_ent *e = calloc(cap, sizeof *e);
    if (e == NULL)
        return false;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->e[j].used)
            continue;
        size_t i = hash_id(m->e[j].target_id) & (cap - 1);
        while (e[i].used)
            i = (i + 1) & (cap - 1);
        e[i] = m->e[j];
    }
    free(m->e);
    m->e = e;
    m->cap = cap;
    return true;
}

/* The entry for `id`, inserted (zeroed, has_span false) when missing;
 * NULL when out of memory. Pointers die at the next insertion. */
static struct span_ent *map_put(struct span_map *m, int64_t id, bool *created)
{
    struct span_ent *f = map_find(m, id);
    *created = false;
    if (f != NULL)
        return f;
    if (!map_reserve(m, 1))
        return NULL;
    size_t i = hash_id(id) & (m->cap - 1);
    while (m->e[i].used)
        i = (i + 1) & (m->cap - 1);
    memset(&m->e[i], 0, sizeof m->e[i]);
    m->e[i].used = true;
    m->e[i].target_id = id;
    m->n++;
    *created = true;
    return &m->e[i];
}

static void map_free(struct span_map *m)
{
    free(m->e);
    m->e = NULL;
    m->cap = m->n = 0;
}

struct emp_span_tracker *emp_span_tracker_new(void)
{
    return calloc(1, sizeof(struct emp_span_tracker));
}

void emp_span_tracker_free(struct emp_span_tracker *t)
{
    if (t == NULL)
        return;
    map_free(&t->m);
    free(t);
}

/* ---- statements ------------------------------------------------------ */

static const struct dbi_stmt st_rollups = {
    "emp_batch_rollups",
    "INSERT INTO rollups AS r (target_id, prober_id, hour, ok, degraded, fail,"
    " latency_sum_us, latency_max_us, hist)"
    " SELECT u.t, $1, emp_ts(u.h), u.ok, u.dg, u.fl, u.ls, u.lm,"
    " ($9::bigint[])[(u.i - 1) * 14 + 1 : u.i * 14]"
    " FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],"
    " $7::bigint[], $8::bigint[]) WITH ORDINALITY AS u(t, h, ok, dg, fl, ls, lm, i)"
    " ON CONFLICT (target_id, prober_id, hour) DO UPDATE SET"
    " ok = r.ok + EXCLUDED.ok, degraded = r.degraded + EXCLUDED.degraded,"
    " fail = r.fail + EXCLUDED.fail,"
    " latency_sum_us = r.latency_sum_us + EXCLUDED.latency_sum_us,"
    " latency_max_us = greatest(r.latency_max_us, EXCLUDED.latency_max_us),"
    " hist = emp_hist_add(r.hist, EXCLUDED.hist)",
    9};
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

/* ---- batch ----------------------------------------------------------- */


static int cmp_target_hour(const void *pa, const void *pb)
{
    const struct emp_event *a = *(const struct emp_event *const *)pa;
    const struct emp_event *b = *(const struct emp_event *const *)pb;
    if (a->target_id != b->target_id)
        return a->target_id < b->target_id ? -1 : 1;
    int64_t ha = floor_hour(a->r.started_at_us), hb = floor_hour(b->r.started_at_us);
    return (ha > hb) - (ha < hb);
}

struct rollup_acc {
    int64_t target_id, hour_us, ok, degraded, fail, sum, max;
    int64_t hist[EMP_HIST_BUCKETS];
};

static const char *const what_batch = "could not write batch";

/* Upsert the rollups of `res` (RESULT events, sorted here). */
static enum emp_err write_rollups(struct emp_db *db, const char *prober,
                                  const struct emp_event **res, size_t n,
                                  struct emp_error *err)
{
    struct dbi_arr a[8] = {0};
    enum emp_err rc = EMP_OK;
    qsort(res, n, sizeof *res, cmp_target_hour);
    for (size_t i = 0; i < n;) {
        struct rollup_acc acc = {.target_id = res[i]->target_id,
                                 .hour_us = floor_hour(res[i]->r.started_at_us)};
        for (; i < n && res[i]->target_id == acc.target_id &&
               floor_hour(res[i]->r.started_at_us) == acc.hour_us;
             i++) {
            const struct emp_result *r = &res[i]->r;
            if (r->status == EMP_STATUS_FAIL) {
                acc.fail++;
                continue;
            }
            if (r->status == EMP_STATUS_DEGRADED)
                acc.degraded++;
            else
                acc.ok++;
            int64_t lat = r->latency_us > 0 ? r->latency_us : 0;
            acc.sum += lat;
            if (lat > acc.max)
                acc.max = lat;
            acc.hist[emp_hist_bucket(lat)]++;
        }
        dbi_arr_i64(&a[0], acc.target_id);
        dbi_arr_i64(&a[1], acc.hour_us);
        dbi_arr_i64(&a[2], acc.ok);
        dbi_arr_i64(&a[3], acc.degraded);
        dbi_arr_i64(&a[4], acc.fail);
        dbi_arr_i64(&a[5], acc.sum);
        dbi_arr_i64(&a[6], acc.max);
        for (int k = 0; k < EMP_HIST_BUCKETS; k++)
            dbi_arr_i64(&a[7], acc.hist[k]);
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
    return rc;
}

static enum emp_err write_failures(struct emp_db *db, const char *prober,
                                   const struct emp_event **res, size_t n,
                                   struct emp_error *err)
{
    struct dbi_arr a[5] = {0};
    enum emp_err rc = EMP_OK;
    for (size_t i = 0; i < n; i++) {
        const struct emp_result *r = &res[i]->r;
        if (r->status != EMP_STATUS_FAIL)
            continue;
        dbi_arr_i64(&a[0], res[i]->target_id);
        dbi_arr_i64(&a[1], r->started_at_us);
        dbi_arr_i64(&a[2], r->latency_us);
        dbi_arr_text(&a[3], r->err_class);
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
    dbi_arr_i64(&a[0], s->target_id);
    dbi_arr_i64(&a[1], s->start_us);
    dbi_arr_i64(&a[2], s->end_us);
    dbi_arr_i64(&a[3], s->grace_us / 1000);
}

/* Advance copies of the tracker's spans (in `staged`) through the RESULT
 * events, in their order, and upsert every span touched. */
static enum emp_err write_spans(struct emp_db *db, const char *prober,
                                const struct emp_span_tracker *tracker,
                                struct span_map *staged, const struct emp_event *events,
                                struct emp_error *err)
{
    struct dbi_arr a[4] = {0};
    enum emp_err rc = EMP_OK;
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        if (ev->kind != EMP_EV_RESULT)
            continue;
        bool created;
        struct span_ent *cur = map_put(staged, ev->target_id, &created);
        if (cur == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
            goto out;
        }
        if (created) {
            const struct span_ent *old = map_find(&tracker->m, ev->target_id);
            if (old != NULL)
                *cur = *old;
        }
        int64_t interval_ms = ev->interval_ms > EMP_MIN_INTERVAL_MS ? ev->interval_ms
                                                                    : EMP_MIN_INTERVAL_MS;
        int64_t grace_us = 2 * interval_ms * 1000;
        int64_t t = ev->r.started_at_us;
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
    for (size_t i = 0; i < staged->cap; i++)
        if (staged->e[i].used && staged->e[i].has_span)
            span_row(a, &staged->e[i]);
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
        dbi_utf8_copy(cls, sizeof cls, ev->r.err_class);
        dbi_utf8_copy(msg, sizeof msg, ev->r.message);
        const char *vals[] = {dbi_i64s(b[0], ev->target_id), prober,
                              dbi_i64s(b[1], ev->r.started_at_us), cls, msg};
        return dbi_exec_cmd(db, &st_outage_open, vals, err, what_batch);
    }
    const char *vals[] = {dbi_i64s(b[0], ev->target_id), prober,
                          dbi_i64s(b[1], ev->outage_started_at_us),
                          dbi_i64s(b[2], ev->r.started_at_us)};
    return dbi_exec_cmd(db, &st_outage_close, vals, err, what_batch);
}

enum emp_err emp_db_write_batch(struct emp_db *db, int64_t prober_id,
                                struct emp_span_tracker *spans,
                                const struct emp_event *events,
                                struct emp_error *err)
{
    struct span_map staged = {0};
    const struct emp_event **res = NULL;
    size_t n_res = 0, n_all = 0;
    char prober[24];
    enum emp_err rc = EMP_OK;

    dbi_i64s(prober, prober_id);
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        n_all++;
        if (ev->kind == EMP_EV_RESULT)
            n_res++;
    }
    if (n_all == 0)
        return EMP_OK;
    res = malloc((n_res ? n_res : 1) * sizeof *res);
    if (res == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
    n_res = 0;
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next)
        if (ev->kind == EMP_EV_RESULT)
            res[n_res++] = ev;

    rc = dbi_cmd(db, "BEGIN", err, what_batch);
    if (rc != EMP_OK)
        goto out;
    if (n_res > 0) {
        rc = write_spans(db, prober, spans, &staged, events, err);
        if (rc == EMP_OK)
            rc = write_failures(db, prober, res, n_res, err);
        if (rc == EMP_OK)
            rc = write_rollups(db, prober, res, n_res, err);
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
    /* Room in the tracker first, so that nothing can fail after COMMIT. */
    if (!map_reserve(&spans->m, staged.n)) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what_batch);
        goto out;
    }
    rc = dbi_cmd(db, "COMMIT", err, what_batch);
    if (rc != EMP_OK)
        goto out;
    for (size_t i = 0; i < staged.cap; i++) {
        if (!staged.e[i].used)
            continue;
        bool created;
        struct span_ent *e = map_put(&spans->m, staged.e[i].target_id, &created);
        if (e != NULL)
            *e = staged.e[i];
    }
out:
    if (rc != EMP_OK)
        dbi_rollback(db);
    map_free(&staged);
    free(res);
    return rc;
}
