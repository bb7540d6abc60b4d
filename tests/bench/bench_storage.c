/* Benchmark: bytes of PostgreSQL per target-year at 99.9% availability.
 * Synthesizes one year of probe results for N targets in a scratch database
 * through the writer's real path (emp_db_write_batch with its write state),
 * with outages that bring availability to the goal, then VACUUM ANALYZE and
 * measures every table (heap, TOAST, indexes) against the empty schema.
 *
 * usage: bench_storage [--interval-ms 10000] [--targets 20] [--outages 10]
 *                      [--availability 0.999] [--batch-s 3600]
 * Needs EMPIRIC_TEST_DB (scripts/bench sets it). Ends with one line
 * `BENCH storage ...`; exit 0 when it ran (met=no is a figure, not a crash). */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../integration/testdb.h"
#include "benchdb.h"
#include "config/config.h"
#include "store/db.h"
#include "ingest/events.h"
#include "core/timeutil.h"

#define US_PER_S INT64_C(1000000)
#define YEAR_START_US (INT64_C(1735689600) * US_PER_S) /* 2025-01-01T00:00:00Z */
#define YEAR_US (INT64_C(365) * 86400 * US_PER_S)
#define GOAL_BYTES 1000000LL
#define FAIL_THRESHOLD 2 /* as the targets are configured below */
#define MAX_TABLES 32

struct opts {
    long long interval_ms, targets, outages, batch_s;
    double availability;
};

/* What one target is doing: next probe, outage windows, detector state. */
struct tstate {
    int64_t id;
    int64_t phase_us;  /* offset of its probes within an interval */
    int64_t next_us;   /* time of its next probe */
    int64_t *out_start, out_dur_us;
    int cur;           /* next outage window not yet over */
    int consec_fail;
    int64_t first_fail_us;
    bool open;
};

struct counts {
    long long results, fails, opened, closed, batches;
};

/* Sizes of one table: heap with TOAST, FSM and VM; its indexes; rows. */
struct tsize {
    char name[64];
    long long table, index, rows;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_storage [--interval-ms 100..3600000 (10000)]"
                    " [--targets 1..10000 (20)]\n"
                    "                     [--outages 0..100000 per target-year (10)]"
                    " [--availability 0.5..1 (0.999)]\n"
                    "                     [--batch-s 1..86400 (3600)]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    /* The default interval is the configuration's default (10 s). */
    *o = (struct opts){10000, 20, 10, 3600, 0.999};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc)
            return -1;
        const char *v = argv[++i];
        int bad;
        if (strcmp(k, "--interval-ms") == 0)
            bad = parse_ll(v, 100, 3600000, &o->interval_ms);
        else if (strcmp(k, "--targets") == 0)
            bad = parse_ll(v, 1, 10000, &o->targets);
        else if (strcmp(k, "--outages") == 0)
            bad = parse_ll(v, 0, 100000, &o->outages);
        else if (strcmp(k, "--batch-s") == 0)
            bad = parse_ll(v, 1, 86400, &o->batch_s);
        else if (strcmp(k, "--availability") == 0) {
            char *end = NULL;
            errno = 0;
            o->availability = strtod(v, &end);
            bad = errno != 0 || end == v || *end != '\0' || !(o->availability >= 0.5) ||
                  !(o->availability <= 1.0);
        } else
            bad = 1;
        if (bad) {
            fprintf(stderr, "bench_storage: bad %s \"%s\"\n", k, v);
            return -1;
        }
    }
    return 0;
}

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "bench_storage: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Sizes of every table of the public schema after VACUUM ANALYZE, by name. */
static int measure(PGconn *c, struct tsize *out, size_t *n)
{
    if (exec_ok(c, "VACUUM ANALYZE") != 0)
        return -1;
    /* A partitioned table counts with all its partitions. */
    PGresult *r = PQexec(c, "SELECT c.relname,"
                            " CASE c.relkind WHEN 'p' THEN (SELECT sum(pg_table_size(p.relid))"
                            "  FROM pg_partition_tree(c.oid) p) ELSE pg_table_size(c.oid) END,"
                            " CASE c.relkind WHEN 'p' THEN (SELECT sum(pg_indexes_size(p.relid))"
                            "  FROM pg_partition_tree(c.oid) p) ELSE pg_indexes_size(c.oid) END,"
                            " (xpath('/row/n/text()', query_to_xml("
                            "  format('SELECT count(*) AS n FROM %I', c.relname),"
                            "  false, true, '')))[1]::text::bigint"
                            " FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"
                            " WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p')"
                            " AND NOT c.relispartition ORDER BY c.relname");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) > MAX_TABLES) {
        fprintf(stderr, "bench_storage: could not measure tables: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    *n = (size_t)PQntuples(r);
    for (size_t i = 0; i < *n; i++) {
        snprintf(out[i].name, sizeof out[i].name, "%s", PQgetvalue(r, (int)i, 0));
        out[i].table = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
        out[i].index = strtoll(PQgetvalue(r, (int)i, 2), NULL, 10);
        out[i].rows = strtoll(PQgetvalue(r, (int)i, 3), NULL, 10);
    }
    PQclear(r);
    return 0;
}

static const struct tsize *find_size(const struct tsize *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    return NULL;
}

/* Failure evidence as probes really word it; class and latency go together. */
static void fill_failure(struct emp_result *r, int64_t id, int64_t interval_ms)
{
    int64_t timeout_ms = interval_ms / 2 < 10000 ? interval_ms / 2 : 10000;
    switch (id % 3) {
    case 0:
        snprintf(r->err_class, sizeof r->err_class, "timeout");
        snprintf(r->message, sizeof r->message,
                 "Connection timed out after %" PRId64 " milliseconds", timeout_ms);
        r->latency_us = timeout_ms * 1000;
        break;
    case 1:
        snprintf(r->err_class, sizeof r->err_class, "refused");
        snprintf(r->message, sizeof r->message,
                 "Failed to connect to svc-%" PRId64 ".example.internal port 443 after 1 ms:"
                 " Couldn't connect to server",
                 id);
        r->latency_us = 900 + (int64_t)(rng() % 400);
        break;
    default:
        snprintf(r->err_class, sizeof r->err_class, "http_status");
        snprintf(r->message, sizeof r->message, "HTTP 503, expected 2xx or 3xx");
        r->latency_us = 3000 + (int64_t)(rng() % 20000);
        break;
    }
}

/* Append one event to the batch array and return it. */
static struct emp_event *push_ev(struct emp_event *ev, size_t *n, size_t cap,
                                 enum emp_event_kind kind, const struct tstate *t,
                                 int32_t interval_ms)
{
    if (*n >= cap)
        abort(); /* cap is computed to hold the worst case */
    struct emp_event *e = &ev[(*n)++];
    e->next = NULL;
    e->kind = kind;
    e->target_id = t->id;
    e->interval_ms = interval_ms;
    e->outage_started_at_us = 0;
    e->r.err_class[0] = '\0';
    e->r.message[0] = '\0';
    return e;
}

/* Probes of target `t` in [.., until): results, and the detector's outage
 * transitions right after the probe that causes them (as the prober pushes
 * them). */
static void gen_target(struct tstate *t, const struct opts *o, int64_t until,
                       struct emp_event *ev, size_t *n, size_t cap, struct counts *k)
{
    const int64_t ivl_us = o->interval_ms * 1000;
    const int32_t ivl = (int32_t)o->interval_ms;
    for (; t->next_us < until; t->next_us += ivl_us) {
        int64_t at = t->next_us;
        while (t->cur < o->outages && at >= t->out_start[t->cur] + t->out_dur_us)
            t->cur++;
        bool down = t->cur < o->outages && at >= t->out_start[t->cur];
        struct emp_event *e = push_ev(ev, n, cap, EMP_EV_RESULT, t, ivl);
        e->r.started_at_us = at;
        k->results++;
        if (down) {
            e->r.status = EMP_STATUS_FAIL;
            fill_failure(&e->r, t->id, o->interval_ms);
            k->fails++;
            if (t->consec_fail++ == 0)
                t->first_fail_us = at;
            if (!t->open && t->consec_fail >= FAIL_THRESHOLD) {
                struct emp_result first = e->r;
                struct emp_event *x = push_ev(ev, n, cap, EMP_EV_OUTAGE_OPEN, t, ivl);
                x->r = first;
                x->r.started_at_us = t->first_fail_us;
                x->outage_started_at_us = t->first_fail_us;
                t->open = true;
                k->opened++;
            }
            continue;
        }
        e->r.status = EMP_STATUS_OK;
        /* Mostly a few ms, a tail to a few hundred: spreads the histogram. */
        uint64_t u = rng();
        e->r.latency_us = 2000 + (int64_t)(u % 30000) + ((u >> 32) % 50 == 0 ? 250000 : 0);
        if (t->open) {
            struct emp_event *x = push_ev(ev, n, cap, EMP_EV_OUTAGE_CLOSE, t, ivl);
            x->r = (struct emp_result){.started_at_us = at, .status = EMP_STATUS_OK};
            x->outage_started_at_us = t->first_fail_us;
            t->open = false;
            k->closed++;
        }
        t->consec_fail = 0;
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    const size_t nt = (size_t)o.targets;
    const int64_t ivl_us = o.interval_ms * 1000;
    const double est_results = (double)YEAR_US / (double)ivl_us * (double)nt;
    const double est_batches = (double)YEAR_US / ((double)o.batch_s * 1e6);
    /* Measured here (2 cores, PostgreSQL 15 local): ~3.5 ms a batch plus
     * ~0.5 us a result. */
    const double est_s = est_batches * 3.5e-3 + est_results * 0.5e-6;
    printf("bench_storage: %zu targets, interval %lld ms, %lld outages/target-year at %.4g%%"
           " availability, batches of %lld s: %.1f M results in %.0f batches (~%.0f s)\n",
           nt, o.interval_ms, o.outages, o.availability * 100, o.batch_s, est_results / 1e6,
           est_batches, est_s);
    if (est_s > 300)
        printf("bench_storage: note: this is slow (> 5 min); use --targets 1 at short"
               " intervals (bytes are per target anyway) or longer --batch-s\n");
    fflush(stdout);

    struct testdb tdb;
    if (testdb_create(&tdb) != 0)
        return 1;
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    struct emp_write_state *tr = NULL;
    struct tstate *ts = calloc(nt, sizeof *ts);
    int64_t *ids = calloc(nt, sizeof *ids);
    int64_t *starts = calloc(nt * (size_t)(o.outages ? o.outages : 1), sizeof *starts);
    struct emp_event *ev = NULL;
    PGconn *c = NULL;
    struct tsize before[MAX_TABLES], after[MAX_TABLES];
    size_t n_before = 0, n_after = 0;
    struct counts k = {0};
    int rc = 1;

    if (ts == NULL || ids == NULL || starts == NULL)
        goto out;
    int64_t prober = 0, run = 0;
    if (emp_db_connect(tdb.conninfo, &db, &err) != EMP_OK ||
        emp_db_migrate(db, EMPIRIC_SOURCE_SCHEMA_DIR, NULL, &err) != EMP_OK) {
        fprintf(stderr, "bench_storage: %s: %s\n", err.msg, err.detail);
        goto out;
    }
    c = testdb_pq(&tdb);
    if (c == NULL || measure(c, before, &n_before) != 0)
        goto out;
    if (emp_db_prober_register(db, "bench", "here", &prober, &err) != EMP_OK ||
        emp_db_run_start(db, prober, YEAR_START_US, &run, &err) != EMP_OK ||
        bench_sync_targets(db, (size_t)o.targets, (int)o.interval_ms, FAIL_THRESHOLD, ids, &err) != 0 ||
        emp_db_ensure_partitions(db, YEAR_START_US, YEAR_START_US + YEAR_US, &err) != EMP_OK) {
        fprintf(stderr, "bench_storage: %s: %s\n", err.msg, err.detail);
        goto out;
    }

    /* Outages: one in each equal slot of the year, at a random place in its
     * middle half, all of the same length; downtime = (1 - availability). */
    const int64_t down_us = (int64_t)((1.0 - o.availability) * (double)YEAR_US);
    for (size_t i = 0; i < nt; i++) {
        struct tstate *t = &ts[i];
        t->id = ids[i];
        t->phase_us = (ivl_us * (int64_t)i) / (int64_t)nt;
        t->next_us = YEAR_START_US + t->phase_us;
        t->out_start = &starts[i * (size_t)o.outages];
        t->out_dur_us = o.outages ? down_us / o.outages : 0;
        for (long long j = 0; j < o.outages; j++) {
            int64_t slot = YEAR_US / o.outages;
            t->out_start[j] = YEAR_START_US + j * slot + slot / 4 +
                              (int64_t)(rng() % (uint64_t)(slot / 2 > 1 ? slot / 2 : 1));
        }
    }

    /* Room for the worst batch: every probe of the window plus a transition. */
    const int64_t batch_us = o.batch_s * US_PER_S;
    size_t cap = nt * (size_t)(batch_us / ivl_us + 2) * 2;
    ev = malloc(cap * sizeof *ev);
    tr = emp_write_state_new();
    if (ev == NULL || tr == NULL) {
        fprintf(stderr, "bench_storage: out of memory for %zu events\n", cap);
        goto out;
    }

    const int64_t t0 = emp_mono_us();
    int64_t next_report = YEAR_START_US + 30 * 86400 * US_PER_S;
    int64_t next_vacuum = YEAR_START_US + 86400 * US_PER_S;
    for (int64_t w = YEAR_START_US; w < YEAR_START_US + YEAR_US; w += batch_us) {
        int64_t until = w + batch_us;
        if (until > YEAR_START_US + YEAR_US)
            until = YEAR_START_US + YEAR_US;
        size_t n = 0;
        for (size_t i = 0; i < nt; i++)
            gen_target(&ts[i], &o, until, ev, &n, cap, &k);
        if (n == 0)
            continue;
        for (size_t i = 0; i + 1 < n; i++)
            ev[i].next = &ev[i + 1];
        if (emp_db_write_batch(db, prober, tr, ev, &err) != EMP_OK) {
            fprintf(stderr, "bench_storage: %s: %s\n", err.msg, err.detail);
            goto out;
        }
        k.batches++;
        /* A simulated day passes in a fraction of a second here, a real
         * one gives autovacuum (every minute) ~1,400 chances to reclaim the
         * recent hours' churn: vacuum once a simulated day instead. */
        if (until >= next_vacuum) {
            if (exec_ok(c, "VACUUM rollups_recent") != 0)
                goto out;
            next_vacuum += 86400 * US_PER_S;
        }
        if (until >= next_report) {
            double s = (double)(emp_mono_us() - t0) / 1e6;
            fprintf(stderr, "  day %3lld: %.1f M results in %.0f s (%.2f M/s)\n",
                    (long long)((until - YEAR_START_US) / (86400 * US_PER_S)),
                    (double)k.results / 1e6, s, (double)k.results / 1e6 / (s > 0 ? s : 1));
            next_report += 30 * 86400 * US_PER_S;
        }
    }
    if (emp_db_flush_rollups(db, prober, tr, &err) != EMP_OK ||
        emp_db_heartbeat(db, run, YEAR_START_US + YEAR_US, &err) != EMP_OK ||
        emp_db_run_stop(db, run, YEAR_START_US + YEAR_US, &err) != EMP_OK) {
        fprintf(stderr, "bench_storage: %s: %s\n", err.msg, err.detail);
        goto out;
    }
    double write_s = (double)(emp_mono_us() - t0) / 1e6;
    printf("wrote %lld results (%lld failing, availability %.4f%%), %lld outages opened,"
           " %lld closed, in %lld batches, %.1f s (%.2f M results/s)\n",
           k.results, k.fails, 100.0 * (1.0 - (double)k.fails / (double)k.results), k.opened,
           k.closed, k.batches, write_s, (double)k.results / 1e6 / write_s);

    if (measure(c, after, &n_after) != 0)
        goto out;

    /* Per target-year: (after - empty schema) / targets. */
    printf("\nbytes per target-year (after VACUUM ANALYZE, minus the empty schema):\n");
    printf("  %-18s %12s %12s %12s %12s %14s\n", "table", "rows/target", "heap+toast",
           "indexes", "total", "bytes/row");
    long long sum = 0, per[4] = {0};
    static const char *const named[4] = {"rollups", "failures", "outages", "spans"};
    for (size_t i = 0; i < n_after; i++) {
        const struct tsize *a = &after[i];
        const struct tsize *b = find_size(before, n_before, a->name);
        long long tb = a->table - (b ? b->table : 0), ib = a->index - (b ? b->index : 0);
        long long rows = a->rows - (b ? b->rows : 0);
        long long tot = (tb + ib) / (long long)nt;
        sum += tb + ib;
        for (int j = 0; j < 4; j++)
            if (strcmp(a->name, named[j]) == 0)
                per[j] = tot;
        printf("  %-18s %12.1f %12lld %12lld %12lld %14.1f\n", a->name,
               (double)rows / (double)nt, tb / (long long)nt, ib / (long long)nt, tot,
               rows > 0 ? (double)(tb + ib) / (double)rows : 0.0);
    }
    long long total = sum / (long long)nt;
    printf("  %-18s %12s %12s %12s %12lld\n", "total", "", "", "", total);

    /* Each index, to show where the index bytes go. */
    PGresult *r = PQexec(c, "SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid)"
                            " FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
                            " JOIN pg_namespace s ON s.oid = t.relnamespace"
                            " WHERE s.nspname = 'public' AND pg_relation_size(i.indexrelid) > 8192"
                            " ORDER BY 2 DESC");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        printf("\nindexes (whole database, all targets):\n");
        for (int i = 0; i < PQntuples(r); i++)
            printf("  %-28s %12s bytes\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    }
    PQclear(r);

    printf("\nBENCH storage interval_ms=%lld targets=%zu bytes_per_target_year=%lld rollups=%lld"
           " failures=%lld outages=%lld spans=%lld goal_bytes=%lld met=%s\n",
           o.interval_ms, nt, total, per[0], per[1], per[2], per[3], GOAL_BYTES,
           total < GOAL_BYTES ? "yes" : "no");
    rc = 0;
out:
    if (c != NULL)
        PQfinish(c);
    emp_write_state_free(tr);
    emp_db_close(db);
    testdb_drop(&tdb);
    free(ev);
    free(starts);
    free(ids);
    free(ts);
    return rc;
}
