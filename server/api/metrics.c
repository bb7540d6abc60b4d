/* The /metrics exposition: gathers the live figures (state snapshot,
 * prober, queue, writer) and the cached 30-day availability, and writes
 * them in the Prometheus text format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). */
#include "api/metrics.h"

#include "core/buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "analysis/uptime.h"
#include "service/view.h"

int emp_metrics_init(struct emp_metrics *m, struct emp_prober *prober,
                     struct emp_events *events, struct emp_writer *writer)
{
    memset(m, 0, sizeof *m);
    if (pthread_mutex_init(&m->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&m->refreshed, NULL) != 0) {
        pthread_mutex_destroy(&m->mu);
        return -1;
    }
    m->prober = prober;
    m->events = events;
    m->writer = writer;
    return 0;
}

void emp_metrics_cleanup(struct emp_metrics *m)
{
    if (m == NULL)
        return;
    pthread_cond_destroy(&m->refreshed);
    pthread_mutex_destroy(&m->mu);
    free(m->availability);
    m->availability = NULL;
    m->n = 0;
}

/* ---- availability from the store ------------------------------------- */

/* Availability over the 30 days before now_us of each target into out[],
 * NaN where nothing was observed (or the target has no id). One connection,
 * two queries per target. Returns false when the store could not answer. */
static bool query_availability(struct emp_db_pool *pool, const struct emp_config *cfg,
                               const struct emp_target_status *t, size_t n, int64_t now_us,
                               double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NAN;
    if (pool == NULL)
        return false;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_db *db = NULL;
    if (emp_db_pool_get(pool, &db, &err) != EMP_OK || db == NULL)
        return false;
    bool ok = true;
    int64_t from = now_us - EMP_METRICS_WINDOW_US;
    for (size_t i = 0; i < n && ok; i++) {
        if (t[i].db_id == 0)
            continue;
        struct emp_view combined = EMP_VIEW_DEFAULT;
        combined.quorum = emp_view_quorum(cfg, t[i].name);
        struct emp_view_history h;
        struct emp_uptime u;
        ok = emp_view_history_load(db, t[i].db_id, from, now_us, now_us, &combined, &h, &err) ==
             EMP_OK;
        if (ok && emp_uptime_compute(from, now_us, now_us, h.spans, h.n_spans, h.outages,
                                     h.n_outages, &u) == EMP_OK)
            out[i] = u.availability;
        emp_view_history_free(&h);
    }
    emp_db_pool_put(pool, db);
    if (!ok) {
        char q1[300], q2[600];
        emp_warn("could not compute availability for /metrics", "error=%s detail=%s",
                 emp_log_quote(q1, sizeof q1, err.msg), emp_log_quote(q2, sizeof q2, err.detail));
        for (size_t i = 0; i < n; i++)
            out[i] = NAN;
    }
    return ok;
}

static void fill_input(struct emp_metrics *m, const struct emp_target_status *t, size_t n,
                       int64_t now_us, const double *avail, bool up,
                       struct emp_metrics_input *in);

/* Keep the figures `a` (taken; NULL: none) of a refresh that reached the
 * store or not (`up`), and end the refresh. Under m->mu. */
static void cache_store(struct emp_metrics *m, size_t n, double *a, bool up)
{
    m->refreshing = false;
    pthread_cond_broadcast(&m->refreshed);
    if (a != NULL && (up || m->n != n)) {
        free(m->availability);
        m->availability = a;
        m->n = n;
        a = NULL;
    }
    free(a);
    if (m->availability != NULL && m->n == n) {
        m->db_up = up;
        m->valid_until_mono_us =
            emp_mono_us() + (up ? EMP_METRICS_CACHE_US : EMP_METRICS_RETRY_US);
    }
}

/* The cached figures for n targets into out[] (NaN without them); whether
 * the store answered their refresh. Under m->mu. */
static bool cache_read(const struct emp_metrics *m, size_t n, double *out)
{
    bool ok = m->availability != NULL && m->n == n;
    for (size_t i = 0; i < n; i++)
        out[i] = ok ? m->availability[i] : NAN;
    return ok && m->db_up;
}

/* Whether figures for n targets are cached, and whether they are fresh.
 * Under m->mu. */
static bool cache_has(const struct emp_metrics *m, size_t n)
{
    return m->valid_until_mono_us != 0 && m->n == n;
}

static bool cache_fresh(const struct emp_metrics *m, size_t n)
{
    return cache_has(m, n) && emp_mono_us() < m->valid_until_mono_us;
}

/* Query the store and keep what it said; the caller claimed the refresh. */
static void refresh(struct emp_metrics *m, struct emp_db_pool *pool,
                    const struct emp_target_status *t, size_t n, int64_t now_us)
{
    double *a = malloc((n > 0 ? n : 1) * sizeof *a);
    bool up = a != NULL && query_availability(pool, m->cfg, t, n, now_us, a);
    pthread_mutex_lock(&m->mu);
    cache_store(m, n, a, up);
    pthread_mutex_unlock(&m->mu);
}

/* Serve from the cache, refreshing it when stale. One scrape refreshes,
 * outside the lock; scrapes meanwhile get the figures cached before (a
 * slow or locked database delays only the refreshing scrape, and that by
 * at most the pool's call deadline). Before anything was cached they wait
 * for the first refresh. */
static bool cached_availability(struct emp_metrics *m, struct emp_db_pool *pool,
                                const struct emp_target_status *t, size_t n, int64_t now_us,
                                double *out)
{
    pthread_mutex_lock(&m->mu);
    /* Nothing cached yet for these targets: wait for the refresh under way. */
    while (m->refreshing && !cache_has(m, n))
        pthread_cond_wait(&m->refreshed, &m->mu);
    if (!cache_fresh(m, n) && !m->refreshing) {
        m->refreshing = true;
        pthread_mutex_unlock(&m->mu);
        refresh(m, pool, t, n, now_us);
        pthread_mutex_lock(&m->mu);
    }
    bool up = cache_read(m, n, out);
    pthread_mutex_unlock(&m->mu);
    return up;
}

bool emp_metrics_collect_cached(struct emp_metrics *m, const struct emp_target_status *t,
                                size_t n, int64_t now_us, double *avail,
                                struct emp_metrics_input *in, bool *claimed)
{
    *claimed = false;
    if (m == NULL)
        return false;
    pthread_mutex_lock(&m->mu);
    bool has = cache_has(m, n);
    if (has && !cache_fresh(m, n) && !m->refreshing) {
        m->refreshing = true;
        *claimed = true;
    }
    bool up = has && cache_read(m, n, avail);
    pthread_mutex_unlock(&m->mu);
    if (!has)
        return false;
    fill_input(m, t, n, now_us, avail, up, in);
    return true;
}

void emp_metrics_refresh(struct emp_metrics *m, struct emp_db_pool *pool,
                         const struct emp_target_status *t, size_t n, int64_t now_us)
{
    refresh(m, pool, t, n, now_us);
}

/* Fill `in` around the availability figures `avail`. */
static void fill_input(struct emp_metrics *m, const struct emp_target_status *t, size_t n,
                       int64_t now_us, const double *avail, bool up,
                       struct emp_metrics_input *in)
{
    memset(in, 0, sizeof *in);
    in->targets = t;
    in->n = n;
    in->now_us = now_us;
    in->database_up = up ? 1 : 0;
    in->availability_30d = up ? avail : NULL;
    if (m == NULL)
        return;
    if (m->prober != NULL) {
        in->has_prober = true;
        emp_prober_stats(m->prober, &in->prober);
    }
    if (m->events != NULL) {
        in->has_queue = true;
        emp_events_counts(m->events, &in->queue_depth, &in->events_dropped);
    }
    if (m->writer != NULL) {
        in->has_writer = true;
        emp_writer_stats(m->writer, &in->writer);
    }
}

void emp_metrics_collect(struct emp_metrics *m, struct emp_db_pool *pool,
                         const struct emp_target_status *t, size_t n, int64_t now_us,
                         double *avail, struct emp_metrics_input *in)
{
    bool up = m != NULL ? cached_availability(m, pool, t, n, now_us, avail)
                        : query_availability(pool, NULL, t, n, now_us, avail);
    fill_input(m, t, n, now_us, avail, up, in);
}

/* ---- the text format ------------------------------------------------- */

/* A sample value: integers exactly, reals in 15 significant digits, and
 * the format's own spellings of the non-finite. */
static void value(struct emp_buf *b, double v)
{
    if (isnan(v))
        emp_buf_puts(b, "NaN");
    else if (isinf(v))
        emp_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else
        emp_buf_printf(b, "%.15g", v);
}

static void seconds(struct emp_buf *b, int64_t us)
{
    value(b, (double)us / (double)EMP_US_PER_S);
}

/* A label value, escaped as the format asks: backslash, double quote and
 * line feed. */
static void label_value(struct emp_buf *b, const char *s)
{
    for (const char *c = s; *c != '\0'; c++) {
        if (*c == '\\')
            emp_buf_puts(b, "\\\\");
        else if (*c == '"')
            emp_buf_puts(b, "\\\"");
        else if (*c == '\n')
            emp_buf_puts(b, "\\n");
        else
            emp_buf_put(b, c, 1);
    }
}

static void header(struct emp_buf *b, const char *name, const char *type, const char *help)
{
    emp_buf_puts(b, "# HELP ");
    emp_buf_puts(b, name);
    emp_buf_puts(b, " ");
    emp_buf_puts(b, help);
    emp_buf_puts(b, "\n# TYPE ");
    emp_buf_puts(b, name);
    emp_buf_puts(b, " ");
    emp_buf_puts(b, type);
    emp_buf_puts(b, "\n");
}

/* `name{target="..",kind="..",group=".."` without the closing brace, so
 * that callers may add labels. */
static void target_labels(struct emp_buf *b, const char *name, const struct emp_target_status *t)
{
    emp_buf_puts(b, name);
    emp_buf_puts(b, "{target=\"");
    label_value(b, t->name);
    emp_buf_puts(b, "\",kind=\"");
    label_value(b, t->kind != NULL ? t->kind->name : "");
    emp_buf_puts(b, "\",group=\"");
    label_value(b, t->group);
    emp_buf_puts(b, "\"");
}

static void target_sample(struct emp_buf *b, const char *name, const struct emp_target_status *t,
                          double v)
{
    target_labels(b, name, t);
    emp_buf_puts(b, "} ");
    value(b, v);
    emp_buf_puts(b, "\n");
}

static void target_counter(struct emp_buf *b, const char *name, const struct emp_target_status *t,
                           const char *extra, uint64_t v)
{
    target_labels(b, name, t);
    emp_buf_printf(b, "%s} %llu\n", extra != NULL ? extra : "", (unsigned long long)v);
}

static bool is_up(enum emp_tstate s)
{
    return s == EMP_TS_UP || s == EMP_TS_DEGRADED;
}

static void per_target(struct emp_buf *b, const struct emp_metrics_input *in)
{
    static const enum emp_tstate states[] = {EMP_TS_UNKNOWN, EMP_TS_UP, EMP_TS_DEGRADED,
                                             EMP_TS_DOWN};
    const struct emp_target_status *t = in->targets;

    header(b, "empiric_target_up", "gauge",
           "1 while the target is up or degraded, 0 while down; absent while unknown.");
    for (size_t i = 0; i < in->n; i++)
        if (t[i].state != EMP_TS_UNKNOWN)
            target_sample(b, "empiric_target_up", &t[i], is_up(t[i].state) ? 1 : 0);

    header(b, "empiric_target_state", "gauge",
           "1 for the target's current state (unknown, up, degraded, down), 0 for the others.");
    for (size_t i = 0; i < in->n; i++)
        for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
            target_labels(b, "empiric_target_state", &t[i]);
            emp_buf_printf(b, ",state=\"%s\"} %d\n", emp_tstate_name(states[k]),
                    t[i].state == states[k] ? 1 : 0);
        }

    header(b, "empiric_target_streak_seconds", "gauge",
           "Time since the target last came up (degraded counts as up) as seen by this "
           "process; 0 while down or unknown.");
    for (size_t i = 0; i < in->n; i++) {
        int64_t streak = 0;
        if (is_up(t[i].state) && t[i].up_since_us != 0 && in->now_us > t[i].up_since_us)
            streak = in->now_us - t[i].up_since_us;
        target_labels(b, "empiric_target_streak_seconds", &t[i]);
        emp_buf_puts(b, "} ");
        seconds(b, streak);
        emp_buf_puts(b, "\n");
    }

    header(b, "empiric_probe_duration_seconds", "histogram",
           "Duration of the target's probes since this process started, failures included.");
    for (size_t i = 0; i < in->n; i++) {
        uint64_t cum = 0;
        for (size_t k = 0; k < EMP_STATE_LATENCY_BUCKETS; k++) {
            cum += t[i].latency_hist[k];
            target_labels(b, "empiric_probe_duration_seconds_bucket", &t[i]);
            emp_buf_puts(b, ",le=\"");
            if (k < EMP_STATE_LATENCY_BUCKETS - 1)
                seconds(b, emp_state_latency_bounds_us[k]);
            else
                emp_buf_puts(b, "+Inf");
            emp_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
        }
        target_labels(b, "empiric_probe_duration_seconds_sum", &t[i]);
        emp_buf_puts(b, "} ");
        seconds(b, t[i].latency_sum_us);
        emp_buf_puts(b, "\n");
        target_counter(b, "empiric_probe_duration_seconds_count", &t[i], NULL, cum);
    }

    header(b, "empiric_probes_total", "counter",
           "Probes of the target completed since this process started, by result.");
    for (size_t i = 0; i < in->n; i++) {
        target_counter(b, "empiric_probes_total", &t[i], ",result=\"ok\"",
                       t[i].probes[EMP_STATUS_OK]);
        target_counter(b, "empiric_probes_total", &t[i], ",result=\"degraded\"",
                       t[i].probes[EMP_STATUS_DEGRADED]);
        target_counter(b, "empiric_probes_total", &t[i], ",result=\"fail\"",
                       t[i].probes[EMP_STATUS_FAIL]);
    }

    header(b, "empiric_outages_total", "counter",
           "Outages of the target that began while this process ran (not those it continued).");
    for (size_t i = 0; i < in->n; i++)
        target_counter(b, "empiric_outages_total", &t[i], NULL, t[i].outages);

    if (in->availability_30d != NULL) {
        header(b, "empiric_target_availability_30d", "gauge",
               "Up time over observed time in the last 30 days, from the store (cached up to "
               "60 s); absent when nothing was observed.");
        for (size_t i = 0; i < in->n; i++)
            if (isfinite(in->availability_30d[i]))
                target_sample(b, "empiric_target_availability_30d", &t[i],
                              in->availability_30d[i]);
    }
}

static void per_prober(struct emp_buf *b, const struct emp_metrics_input *in)
{
    if (in->database_up >= 0) {
        header(b, "empiric_database_up", "gauge",
               "1 when the store answered the last availability query, else 0.");
        emp_buf_printf(b, "empiric_database_up %d\n", in->database_up ? 1 : 0);
    }
    if (in->has_prober) {
        const struct emp_prober_stats *p = &in->prober;
        header(b, "empiric_scheduling_lag_seconds", "summary",
               "How late probes started after their due time (quantiles over the last "
               "65536 probes).");
        emp_buf_printf(b, "empiric_scheduling_lag_seconds{quantile=\"0.5\"} ");
        seconds(b, p->lag_p50_us);
        emp_buf_printf(b, "\nempiric_scheduling_lag_seconds{quantile=\"0.99\"} ");
        seconds(b, p->lag_p99_us);
        emp_buf_printf(b, "\nempiric_scheduling_lag_seconds_sum ");
        seconds(b, p->lag_sum_us);
        emp_buf_printf(b, "\nempiric_scheduling_lag_seconds_count %llu\n",
                (unsigned long long)p->lag_samples);
        header(b, "empiric_scheduling_lag_max_seconds", "gauge",
               "The largest scheduling lag since this process started.");
        emp_buf_printf(b, "empiric_scheduling_lag_max_seconds ");
        seconds(b, p->lag_max_us);
        emp_buf_puts(b, "\n");
        header(b, "empiric_probes_skipped_total", "counter",
               "Probe runs skipped because the previous one was still running or the loop "
               "fell behind.");
        emp_buf_printf(b, "empiric_probes_skipped_total %llu\n", (unsigned long long)p->skipped);
        header(b, "empiric_probes_unknown_total", "counter",
               "Probes whose verdict was discarded, their time unknown: reason=\"stall\", a "
               "timeout or slow answer while the probe loop itself stalled; reason=\"network\", "
               "a failure while every canary target failed.");
        emp_buf_printf(b, "empiric_probes_unknown_total{reason=\"stall\"} %llu\n",
                       (unsigned long long)p->unknown);
        emp_buf_printf(b, "empiric_probes_unknown_total{reason=\"network\"} %llu\n",
                       (unsigned long long)p->unknown_network);
        header(b, "empiric_probes_late_total", "counter",
               "Probes started more than prober.max_lag_ms after their due time; the time "
               "since the target's previous probe is unknown.");
        emp_buf_printf(b, "empiric_probes_late_total %llu\n", (unsigned long long)p->late);
        header(b, "empiric_network_suspect", "gauge",
               "1 while every canary target fails (the monitor's own network is suspect and "
               "other targets' failures are unknown), else 0.");
        emp_buf_printf(b, "empiric_network_suspect %d\n", p->network_suspect ? 1 : 0);
        header(b, "empiric_clock_steps_total", "counter",
               "Steps of the wall clock (2 s or more away from the monotonic clock): each ends "
               "the targets' spans, its time unknown.");
        emp_buf_printf(b, "empiric_clock_steps_total %llu\n", (unsigned long long)p->clock_steps);
    }
    if (in->has_queue) {
        header(b, "empiric_event_queue_depth", "gauge",
               "Events waiting for the database writer.");
        emp_buf_printf(b, "empiric_event_queue_depth %zu\n", in->queue_depth);
        header(b, "empiric_events_dropped_total", "counter",
               "Probe results dropped because the writer's queue was full.");
        emp_buf_printf(b, "empiric_events_dropped_total %llu\n",
                (unsigned long long)in->events_dropped);
    }
    if (in->has_writer) {
        header(b, "empiric_database_write_errors_total", "counter",
               "Failed connections, writes and heartbeats of the database writer (each retry "
               "counts), and events the database rejected.");
        emp_buf_printf(b, "empiric_database_write_errors_total %llu\n",
                (unsigned long long)in->writer.errors);
        const struct emp_writer_stats *w = &in->writer;
        header(b, "empiric_events_unwritten", "gauge",
               "Events taken from the queue that the database does not have yet (in the "
               "spool, or in memory when there is none).");
        emp_buf_printf(b, "empiric_events_unwritten %llu\n", (unsigned long long)w->unwritten);
        header(b, "empiric_spool_bytes", "gauge",
               "Size of the local spool file, which holds events until the database has them.");
        emp_buf_printf(b, "empiric_spool_bytes %llu\n", (unsigned long long)w->spool_bytes);
        header(b, "empiric_spool_dropped_total", "counter",
               "Events dropped because the spool was full while the database was away: plain "
               "results first, then failures; outage transitions are never dropped.");
        emp_buf_printf(b, "empiric_spool_dropped_total{kind=\"result\"} %llu\n",
                       (unsigned long long)w->dropped_results);
        emp_buf_printf(b, "empiric_spool_dropped_total{kind=\"failure\"} %llu\n",
                       (unsigned long long)w->dropped_failures);
        header(b, "empiric_spool_errors_total", "counter",
               "Spool writes, reads or syncs that failed (events then wait in memory).");
        emp_buf_printf(b, "empiric_spool_errors_total %llu\n", (unsigned long long)w->spool_errors);
        header(b, "empiric_spool_memory_only_transitions", "gauge",
               "Outage transitions held in memory alone now (the spool full or failing): "
               "what a crash would lose.");
        emp_buf_printf(b, "empiric_spool_memory_only_transitions %llu\n",
                       (unsigned long long)w->memory_only_transitions);
        header(b, "empiric_spool_lost_transitions", "gauge",
               "Outage transitions the previous run held in memory alone when it ended: lost "
               "(read from the spool at start).");
        emp_buf_printf(b, "empiric_spool_lost_transitions %llu\n",
                       (unsigned long long)w->lost_transitions_before);
    }
}

char *emp_metrics_format(const struct emp_metrics_input *in)
{
    struct emp_buf b = {0};
    per_target(&b, in);
    per_prober(&b, in);
    if (b.oom || b.p == NULL) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
