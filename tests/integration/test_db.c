/* The store against a real PostgreSQL (EMPIRIC_TEST_DB): migrations (twice,
 * concurrently, a failing file), targets, batched writes of results and
 * outages read back as rollups, failures, outages and coverage spans,
 * idempotent replay, runs and heartbeats, exact microseconds, the pool and
 * the writer thread (including a database that appears late), and the
 * spool: numbered batches committed once, recovery after a crash, a
 * database away while events pile up, a full spool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "store/db.h"
#include "ingest/journal.h"
#include "ingest/spool.h"
#include "ingest/events.h"
#include "api/metrics.h"
#include "probes/state.h"
#include "core/timeutil.h"
#include "testdb.h"
#include "analysis/uptime.h"
#include "ingest/writer.h"
#include "tests/support/target.h"

#ifndef EMPIRIC_SOURCE_SCHEMA_DIR
#error "EMPIRIC_SOURCE_SCHEMA_DIR must name the schema/ directory"
#endif
#define SCHEMA EMPIRIC_SOURCE_SCHEMA_DIR

#define S INT64_C(1000000)
#define HOUR (3600 * S)
/* 2025-11-25T20:40:26.123457Z: odd microseconds on purpose. */
#define T0 INT64_C(1764103226123457)

struct fx {
    struct testdb tdb;
    struct emp_db *db;
    PGconn *pq;
    int64_t prober_id;
};
static struct fx F;

/* ---- helpers --------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int count_schema_files(void)
{
    DIR *d = opendir(SCHEMA);
    int n = 0;
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        size_t digits = strspn(de->d_name, "0123456789");
        if (digits > 0 && de->d_name[digits] == '_' && len > 4 &&
            strcmp(de->d_name + len - 4, ".sql") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Insert or update targets by name on `db`; returns their ids. */
static void sync_names(struct emp_db *db, const char **names, int n, int interval_ms, int64_t *ids)
{
    struct emp_target_config t[8];
    struct emp_config cfg = {0};
    assert_true(n <= 8);
    memset(t, 0, sizeof t);
    /* One tcp spec (host and port) that every target borrows. */
    struct emp_target_config tcp = test_target(
        "{\"name\": \"x\", \"kind\": \"tcp\", \"host\": \"127.0.0.1\", \"port\": 5432}");
    for (int i = 0; i < n; i++) {
        t[i].name = (char *)names[i];
        t[i].kind = test_kind("tcp");
        t[i].group = (char *)"g";
        t[i].interval_ms = interval_ms;
        t[i].timeout_ms = interval_ms / 2;
        t[i].fail_threshold = 2;
        t[i].recover_threshold = 1;
        t[i].spec = tcp.spec;
    }
    cfg.targets = t;
    cfg.n_targets = (size_t)n;
    struct emp_error err = {0};
    assert_int_equal(emp_db_sync_targets(db, &cfg, ids, &err), EMP_OK);
    emp_target_config_cleanup(&tcp);
}

static int64_t target(const char *name, int interval_ms)
{
    int64_t id = 0;
    sync_names(F.db, &name, 1, interval_ms, &id);
    assert_true(id > 0);
    return id;
}

/* A list of events under construction. */
struct batch {
    struct emp_event *ev;
    size_t n, cap;
};

static struct emp_event *b_add(struct batch *b, enum emp_event_kind kind, int64_t target_id)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->ev = realloc(b->ev, b->cap * sizeof *b->ev);
        assert_non_null(b->ev);
    }
    struct emp_event *e = &b->ev[b->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->target_id = target_id;
    e->interval_ms = 1000;
    return e;
}

static void b_result(struct batch *b, int64_t tid, int64_t at, int64_t lat, enum emp_status st)
{
    struct emp_event *e = b_add(b, EMP_EV_RESULT, tid);
    e->r.started_at_us = at;
    e->r.latency_us = lat;
    e->r.status = st;
    if (st == EMP_STATUS_FAIL) {
        snprintf(e->r.err_class, sizeof e->r.err_class, "timeout");
        snprintf(e->r.message, sizeof e->r.message, "no answer within %lld us", (long long)lat);
    }
}

static void b_open(struct batch *b, int64_t tid, int64_t at, const char *cls, const char *msg)
{
    struct emp_event *e = b_add(b, EMP_EV_OUTAGE_OPEN, tid);
    e->r.started_at_us = at;
    e->r.status = EMP_STATUS_FAIL;
    snprintf(e->r.err_class, sizeof e->r.err_class, "%s", cls);
    snprintf(e->r.message, sizeof e->r.message, "%s", msg);
}

static void b_close(struct batch *b, int64_t tid, int64_t started, int64_t ended)
{
    struct emp_event *e = b_add(b, EMP_EV_OUTAGE_CLOSE, tid);
    e->r.started_at_us = ended;
    e->outage_started_at_us = started;
}

static const struct emp_event *b_list(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->ev[i].next = i + 1 < b->n ? &b->ev[i + 1] : NULL;
    return b->n ? b->ev : NULL;
}

static void b_free(struct batch *b)
{
    free(b->ev);
    memset(b, 0, sizeof *b);
}

/* A writer's state that writes rollups with every batch, as most tests
 * read them back at once; test_rollups_held covers the default. */
static struct emp_write_state *state_new(void)
{
    struct emp_write_state *st = emp_write_state_new();
    assert_non_null(st);
    emp_write_state_set_rollup_flush(st, 0);
    return st;
}

static enum emp_err write_b(struct emp_write_state *tr, struct batch *b, struct emp_error *err)
{
    return emp_db_write_batch(F.db, F.prober_id, tr, b_list(b), err);
}

static void write_ok(struct emp_write_state *tr, struct batch *b)
{
    struct emp_error err = {0};
    enum emp_err rc = write_b(tr, b, &err);
    if (rc != EMP_OK)
        fail_msg("write_batch: %s: %s", err.msg, err.detail);
}

static size_t spans_of(int64_t tid, int64_t from, int64_t to, struct emp_span **out)
{
    size_t n = 0;
    struct emp_error err = {0};
    assert_int_equal(emp_db_list_spans(F.db, tid, from, to, out, &n, &err), EMP_OK);
    return n;
}

static size_t outages_of(int64_t tid, int64_t from, int64_t to, struct emp_outage **out)
{
    size_t n = 0;
    struct emp_error err = {0};
    assert_int_equal(emp_db_list_outages(F.db, tid, from, to, out, &n, &err), EMP_OK);
    return n;
}

static size_t failures_of(int64_t tid, int64_t from, int64_t to, struct emp_failure **out)
{
    size_t n = 0;
    struct emp_error err = {0};
    assert_int_equal(emp_db_list_failures(F.db, tid, from, to, out, &n, &err), EMP_OK);
    return n;
}

static size_t rollups_of(int64_t tid, int64_t from, int64_t to, struct emp_rollup **out)
{
    size_t n = 0;
    struct emp_error err = {0};
    assert_int_equal(emp_db_list_rollups(F.db, tid, from, to, out, &n, &err), EMP_OK);
    return n;
}

/* ---- fixture --------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    struct emp_error err = {0};
    if (testdb_create(&F.tdb) != 0)
        return -1;
    if (emp_db_connect(F.tdb.conninfo, &F.db, &err) != EMP_OK) {
        fprintf(stderr, "connect: %s: %s\n", err.msg, err.detail);
        return -1;
    }
    if (emp_db_migrate(F.db, SCHEMA, NULL, &err) != EMP_OK) {
        fprintf(stderr, "migrate: %s: %s\n", err.msg, err.detail);
        return -1;
    }
    if (emp_db_prober_register(F.db, "test", "lab", &F.prober_id, &err) != EMP_OK) {
        fprintf(stderr, "prober: %s: %s\n", err.msg, err.detail);
        return -1;
    }
    F.pq = testdb_pq(&F.tdb);
    return F.pq != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(F.pq);
    emp_db_close(F.db);
    testdb_drop(&F.tdb);
    return 0;
}

/* ---- migrations ------------------------------------------------------ */

static void test_migrate_twice(void **state)
{
    (void)state;
    struct testdb t;
    struct emp_db *db = NULL;
    struct emp_error err = {0};
    int applied = -1;
    int files = count_schema_files();
    assert_true(files >= 1);
    assert_int_equal(testdb_create(&t), 0);
    assert_int_equal(emp_db_connect(t.conninfo, &db, &err), EMP_OK);
    assert_int_equal(emp_db_migrate(db, SCHEMA, &applied, &err), EMP_OK);
    assert_int_equal(applied, files);
    assert_int_equal(emp_db_migrate(db, SCHEMA, &applied, &err), EMP_OK);
    assert_int_equal(applied, 0);
    PGconn *c = testdb_pq(&t);
    assert_non_null(c);
    assert_int_equal(testdb_scalar(c, "SELECT count(*) FROM schema_migrations"), files);
    assert_int_equal(testdb_scalar(c, "SELECT min(version) FROM schema_migrations"), 1);
    PQfinish(c);
    emp_db_close(db);
    testdb_drop(&t);
}

struct migrator {
    const char *conninfo;
    pthread_barrier_t *go;
    enum emp_err rc;
    int applied;
    struct emp_error err;
};

static void *migrate_thread(void *arg)
{
    struct migrator *m = arg;
    struct emp_db *db = NULL;
    m->rc = emp_db_connect(m->conninfo, &db, &m->err);
    pthread_barrier_wait(m->go);
    if (m->rc == EMP_OK)
        m->rc = emp_db_migrate(db, SCHEMA, &m->applied, &m->err);
    emp_db_close(db);
    return NULL;
}

static void test_migrate_concurrently(void **state)
{
    (void)state;
    enum { N = 4 };
    struct testdb t;
    int files = count_schema_files();
    assert_int_equal(testdb_create(&t), 0);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    struct migrator m[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].conninfo = t.conninfo;
        m[i].go = &go;
        assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &m[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (m[i].rc != EMP_OK)
            fail_msg("migrator %d: %s: %s", i, m[i].err.msg, m[i].err.detail);
        total += m[i].applied;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(total, files);
    PGconn *c = testdb_pq(&t);
    assert_non_null(c);
    assert_int_equal(testdb_scalar(c, "SELECT count(*) FROM schema_migrations"), files);
    assert_int_equal(testdb_scalar(c, "SELECT count(DISTINCT version) FROM schema_migrations"),
                     files);
    PQfinish(c);
    testdb_drop(&t);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    char path[512];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A failing file names itself and PostgreSQL's reason, keeps what came
 * before it, and leaves nothing of itself; non-matching names are skipped. */
static void test_migrate_failing_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/empiric_mig_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_text(dir, "001_one.sql", "CREATE TABLE one (x int);\nINSERT INTO one VALUES (1);\n");
    write_text(dir, "002_two.sql", "CREATE TABLE two (x int);\nCREATE TABLE broken (x nosuchtype);\n");
    write_text(dir, "README.md", "not a migration");
    write_text(dir, "abc.sql", "SELECT nonsense FROM nowhere;");
    write_text(dir, "10x_skip.sql", "SELECT nonsense FROM nowhere;");

    struct testdb t;
    struct emp_db *db = NULL;
    struct emp_error err = {0};
    int applied = -1;
    assert_int_equal(testdb_create(&t), 0);
    assert_int_equal(emp_db_connect(t.conninfo, &db, &err), EMP_OK);
    assert_int_not_equal(emp_db_migrate(db, dir, &applied, &err), EMP_OK);
    assert_int_equal(applied, 1);
    assert_non_null(strstr(err.msg, "002_two.sql"));
    assert_non_null(strstr(err.detail, "nosuchtype"));
    PGconn *c = testdb_pq(&t);
    assert_non_null(c);
    assert_int_equal(testdb_scalar(c, "SELECT count(*) FROM schema_migrations"), 1);
    assert_int_equal(testdb_scalar(c, "SELECT count(*) FROM one"), 1);
    assert_int_equal(testdb_scalar(c, "SELECT count(*) FROM pg_class WHERE relname = 'two'"), 0);
    /* Fixed, it applies on the next run. */
    write_text(dir, "002_two.sql", "CREATE TABLE two (x int);\n");
    assert_int_equal(emp_db_migrate(db, dir, &applied, &err), EMP_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(testdb_scalar(c, "SELECT count(*) FROM pg_class WHERE relname = 'two'"), 1);
    /* A missing directory is an error naming it. */
    assert_int_equal(emp_db_migrate(db, "/nonexistent/empiric", &applied, &err), EMP_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/empiric"));
    PQfinish(c);
    emp_db_close(db);
    testdb_drop(&t);
    remove_dir(dir);
}

/* ---- targets --------------------------------------------------------- */

static void test_sync_targets(void **state)
{
    (void)state;
    const char *names[] = {"sync-a", "sync-b"};
    int64_t ids[2], again[2];
    sync_names(F.db, names, 2, 1000, ids);
    assert_true(ids[0] > 0 && ids[1] > 0 && ids[0] != ids[1]);
    sync_names(F.db, names, 2, 1000, again);
    assert_memory_equal(ids, again, sizeof ids);
    sync_names(F.db, names, 2, 5000, again);
    assert_memory_equal(ids, again, sizeof ids);
    assert_int_equal(testdb_scalar(F.pq, "SELECT interval_ms FROM targets WHERE name = 'sync-a'"),
                     5000);

    int64_t id = 0;
    struct emp_error err = {0};
    assert_int_equal(emp_db_find_target(F.db, "sync-b", &id, &err), EMP_OK);
    assert_int_equal(id, ids[1]);
    assert_int_equal(emp_db_find_target(F.db, "no-such-target", &id, &err), EMP_ENOTFOUND);

    /* The spec is JSON of the kind's fields; a postgres conninfo is stored
     * without its password. */
    struct emp_target_config pg =
        test_target("{\"name\": \"sync-pg\", \"kind\": \"postgres\", \"group\": \"\","
                    " \"interval_ms\": 1000, \"timeout_ms\": 500, \"fail_threshold\": 1,"
                    " \"recover_threshold\": 1, \"query\": \"SELECT 1\","
                    " \"conninfo\": \"host=db.example user=mon password=s3cret dbname=app\"}");
    struct emp_config cfg = {.targets = &pg, .n_targets = 1};
    assert_int_equal(emp_db_sync_targets(F.db, &cfg, &id, &err), EMP_OK);
    assert_int_equal(testdb_scalar(F.pq, "SELECT count(*) FROM targets WHERE name = 'sync-pg'"
                                         " AND spec->>'kind' = 'postgres'"
                                         " AND spec->>'query' = 'SELECT 1'"
                                         " AND spec->>'conninfo' LIKE '%db.example%'"
                                         " AND spec::text NOT LIKE '%s3cret%'"),
                     1);
    emp_target_config_cleanup(&pg);
}

/* ---- microseconds ---------------------------------------------------- */

static void test_microsecond_round_trip(void **state)
{
    (void)state;
    struct emp_error err = {0};
    int64_t run = 0;
    const int64_t start = T0, beat = T0 + 999999, stop = T0 + 2 * S + 1;
    assert_int_equal(emp_db_run_start(F.db, F.prober_id, start, &run, &err), EMP_OK);
    assert_int_equal(emp_db_heartbeat(F.db, run, beat, &err), EMP_OK);
    assert_int_equal(emp_db_run_stop(F.db, run, stop, &err), EMP_OK);
    struct emp_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(emp_db_list_runs(F.db, F.prober_id, start, start + 1, &runs, &n, &err),
                     EMP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].run_id, run);
    assert_int_equal(runs[0].started_at_us, start);
    assert_int_equal(runs[0].last_beat_at_us, stop);
    assert_int_equal(runs[0].stopped_at_us, stop);
    free(runs);

    /* Through outages, failures and spans, including times before 1970
     * and far in the future. */
    int64_t tid = target("micro", 1000);
    const int64_t times[] = {T0, T0 + 86400 * S + 1, -T0 + 7, 1, 4102444800000001 /* 2100 */};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        int64_t t = times[i];
        struct emp_write_state *tr = state_new();
        struct batch b = {0};
        b_result(&b, tid, t, 1234, EMP_STATUS_FAIL);
        b_open(&b, tid, t, "refused", "x");
        b_close(&b, tid, t, t + 3);
        write_ok(tr, &b);
        b_free(&b);
        emp_write_state_free(tr);

        struct emp_outage *o = NULL;
        assert_int_equal(outages_of(tid, t, t + 1, &o), 1);
        assert_int_equal(o[0].started_at_us, t);
        assert_int_equal(o[0].ended_at_us, t + 3);
        free(o);
        struct emp_failure *f = NULL;
        assert_int_equal(failures_of(tid, t, t + 1, &f), 1);
        assert_int_equal(f[0].at_us, t);
        assert_int_equal(f[0].latency_us, 1234);
        free(f);
        struct emp_span *s = NULL;
        assert_int_equal(spans_of(tid, t, t + 1, &s), 1);
        assert_int_equal(s[0].started_at_us, t);
        assert_int_equal(s[0].ended_at_us, t);
        free(s);
    }
}

/* ---- results: rollups and failures ---------------------------------- */

static void test_hist_bucket(void **state)
{
    (void)state;
    assert_int_equal(emp_hist_bucket(-5), 0);
    assert_int_equal(emp_hist_bucket(0), 0);
    assert_int_equal(emp_hist_bucket(1000), 0);
    assert_int_equal(emp_hist_bucket(1001), 1);
    assert_int_equal(emp_hist_bucket(2000), 1);
    assert_int_equal(emp_hist_bucket(2001), 2);
    assert_int_equal(emp_hist_bucket(10000000), 12);
    assert_int_equal(emp_hist_bucket(10000001), 13);
    assert_int_equal(emp_hist_bucket(INT64_MAX), 13);
    for (int i = 1; i < EMP_HIST_BUCKETS - 1; i++)
        assert_true(emp_hist_bounds_ms[i] > emp_hist_bounds_ms[i - 1]);
}

static void test_rollups_and_failures(void **state)
{
    (void)state;
    int64_t tid = target("rollup", 1000);
    struct emp_write_state *tr = state_new();
    const int64_t h0 = (T0 / HOUR) * HOUR; /* 20:00 */
    struct batch b = {0};
    b_result(&b, tid, h0 + 1, 500, EMP_STATUS_OK);           /* bucket 0 */
    b_result(&b, tid, h0 + 2 * S, 1500, EMP_STATUS_OK);      /* bucket 1 */
    b_result(&b, tid, h0 + 4 * S, 3000, EMP_STATUS_OK);      /* bucket 2 */
    b_result(&b, tid, h0 + 6 * S, 7000, EMP_STATUS_DEGRADED); /* bucket 3 */
    b_result(&b, tid, h0 + 8 * S, 5 * S, EMP_STATUS_FAIL);   /* not in latency */
    b_result(&b, tid, h0 + HOUR - 1, 20 * S, EMP_STATUS_OK); /* bucket 13, same hour */
    b_result(&b, tid, h0 + HOUR, 900, EMP_STATUS_OK);        /* next hour */
    write_ok(tr, &b);
    b_free(&b);

    struct emp_rollup *r = NULL;
    assert_int_equal(rollups_of(tid, h0, h0 + 2 * HOUR, &r), 2);
    assert_int_equal(r[0].target_id, tid);
    assert_int_equal(r[0].hour_us, h0);
    assert_int_equal(r[0].ok, 4);
    assert_int_equal(r[0].degraded, 1);
    assert_int_equal(r[0].fail, 1);
    assert_int_equal(r[0].latency_sum_us, 500 + 1500 + 3000 + 7000 + 20 * S);
    assert_int_equal(r[0].latency_max_us, 20 * S);
    const int64_t want0[EMP_HIST_BUCKETS] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(r[0].hist, want0, sizeof want0);
    assert_int_equal(r[1].hour_us, h0 + HOUR);
    assert_int_equal(r[1].ok, 1);
    assert_int_equal(r[1].hist[0], 1);
    free(r);

    /* The window is by hour overlap: [h0 + 30 min, h0 + 1 h) is hour h0. */
    assert_int_equal(rollups_of(tid, h0 + HOUR / 2, h0 + HOUR, &r), 1);
    assert_int_equal(r[0].hour_us, h0);
    free(r);

    /* Rollups add up across batches. */
    b_result(&b, tid, h0 + 10 * S, 1500, EMP_STATUS_OK);
    b_result(&b, tid, h0 + 12 * S, 40 * S, EMP_STATUS_DEGRADED);
    write_ok(tr, &b);
    b_free(&b);
    assert_int_equal(rollups_of(tid, h0, h0 + 1, &r), 1);
    assert_int_equal(r[0].ok, 5);
    assert_int_equal(r[0].degraded, 2);
    assert_int_equal(r[0].fail, 1);
    assert_int_equal(r[0].latency_max_us, 40 * S);
    assert_int_equal(r[0].hist[1], 2);
    assert_int_equal(r[0].hist[13], 2);
    free(r);

    struct emp_failure *f = NULL;
    assert_int_equal(failures_of(tid, h0, h0 + 2 * HOUR, &f), 1);
    assert_int_equal(f[0].target_id, tid);
    assert_int_equal(f[0].at_us, h0 + 8 * S);
    assert_int_equal(f[0].latency_us, 5 * S);
    assert_string_equal(f[0].err_class, "timeout");
    assert_string_equal(f[0].message, "no answer within 5000000 us");
    free(f);
    /* [from, to): the failure at h0 + 8 s is outside [h0, h0 + 8 s). */
    assert_int_equal(failures_of(tid, h0, h0 + 8 * S, &f), 0);
    free(f);
    emp_write_state_free(tr);
}

/* The writer's default: rollups are held in memory and written about once
 * a minute of result time or when an hour is over; a failed batch counts
 * nothing; finished days move from rollups_recent into one row a day. */
static void test_rollups_held(void **state)
{
    (void)state;
    int64_t tid = target("held", 1000);
    int64_t bad = 987654321; /* no such target: the database rejects it */
    struct emp_write_state *st = emp_write_state_new();
    assert_non_null(st);
    const int64_t d0 = (T0 / (24 * HOUR)) * 24 * HOUR; /* a UTC midnight */
    const int64_t h0 = d0 + 22 * HOUR;
    struct batch b = {0};
    struct emp_rollup *r = NULL;
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM rollup_hours WHERE target_id = %lld",
             (long long)tid);

    b_result(&b, tid, h0 + 1 * S, 1500, EMP_STATUS_OK);
    b_result(&b, tid, h0 + 2 * S, 1500, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(emp_write_state_pending_rollups(st), 1);
    assert_int_equal(testdb_scalar(F.pq, sql), 0); /* held */

    /* A batch the database rejects keeps nothing, and counts nothing. */
    b_result(&b, tid, h0 + 3 * S, 1500, EMP_STATUS_OK);
    b_result(&b, bad, h0 + 3 * S, 1500, EMP_STATUS_OK);
    struct emp_error err = {0};
    assert_int_not_equal(write_b(st, &b, &err), EMP_OK);
    b_free(&b);

    /* A minute of results later the held hour is written. */
    b_result(&b, tid, h0 + 61 * S, 1500, EMP_STATUS_DEGRADED);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(emp_write_state_pending_rollups(st), 0);
    assert_int_equal(rollups_of(tid, h0, h0 + HOUR, &r), 1);
    assert_int_equal(r[0].ok, 2);
    assert_int_equal(r[0].degraded, 1);
    free(r);

    /* A new hour: the batch that begins it writes (22:00 is over). */
    b_result(&b, tid, h0 + HOUR + 5 * S, 700, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(rollups_of(tid, h0 + HOUR, h0 + 2 * HOUR, &r), 1);
    free(r);
    b_result(&b, tid, h0 + HOUR + 9 * S, 700, EMP_STATUS_FAIL);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(rollups_of(tid, h0 + HOUR, h0 + 2 * HOUR, &r), 1);
    assert_int_equal(r[0].fail, 0); /* held */
    free(r);
    /* Past midnight: 23:00 is written and the finished day compacted into
     * one row, read back hour by hour as before. */
    b_result(&b, tid, d0 + 24 * HOUR + 1 * S, 700, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(rollups_of(tid, h0, h0 + 2 * HOUR, &r), 2);
    assert_int_equal(r[0].hour_us, h0);
    assert_int_equal(r[0].ok, 2);
    assert_int_equal(r[0].degraded, 1);
    assert_int_equal(r[0].hist[1], 3);
    assert_int_equal(r[1].hour_us, h0 + HOUR);
    assert_int_equal(r[1].ok, 1);
    assert_int_equal(r[1].fail, 1);
    assert_int_equal(r[1].latency_max_us, 700);
    free(r);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM rollups WHERE target_id = %lld",
             (long long)tid);
    assert_int_equal(testdb_scalar(F.pq, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM rollups_recent WHERE target_id = %lld AND hour < emp_ts(%lld)",
             (long long)tid, (long long)(d0 + 24 * HOUR));
    assert_int_equal(testdb_scalar(F.pq, sql), 0);

    /* A result that comes late for the compacted day adds to its row at the
     * next compaction; until then it is read from rollups_recent. */
    b_result(&b, tid, h0 + 30 * S, 1500, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(emp_db_flush_rollups(F.db, F.prober_id, st, &err), EMP_OK);
    assert_int_equal(rollups_of(tid, h0, h0 + HOUR, &r), 1);
    assert_int_equal(r[0].ok, 3);
    free(r);
    /* The new day's hour was flushed too, and nothing stays held. */
    assert_int_equal(emp_write_state_pending_rollups(st), 0);
    assert_int_equal(rollups_of(tid, d0 + 24 * HOUR, d0 + 25 * HOUR, &r), 1);
    assert_int_equal(r[0].ok, 1);
    free(r);
    emp_write_state_free(st);
}

/* A repeated failure message is stored once; readers see every message,
 * also when the window starts after the row that holds it. */
static void test_failure_messages_carried(void **state)
{
    (void)state;
    int64_t tid = target("carried", 1000);
    struct emp_write_state *st = state_new();
    const int64_t t = (T0 / HOUR) * HOUR;
    struct batch b = {0};
    for (int i = 0; i < 4; i++)
        b_result(&b, tid, t + i * S, 5 * S, EMP_STATUS_FAIL); /* the same message */
    b_result(&b, tid, t + 4 * S, 7 * S, EMP_STATUS_FAIL);     /* another */
    b_result(&b, tid, t + 5 * S, 7 * S, EMP_STATUS_FAIL);
    write_ok(st, &b);
    b_free(&b);
    b_result(&b, tid, t + 6 * S, 7 * S, EMP_STATUS_FAIL); /* next batch, same again */
    write_ok(st, &b);
    b_free(&b);

    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM failures WHERE target_id = %lld AND message IS NOT NULL",
             (long long)tid);
    assert_int_equal(testdb_scalar(F.pq, sql), 2);
    struct emp_failure *f = NULL;
    assert_int_equal(failures_of(tid, t, t + HOUR, &f), 7);
    for (int i = 0; i < 7; i++)
        assert_string_equal(f[i].message, i < 4 ? "no answer within 5000000 us"
                                                : "no answer within 7000000 us");
    free(f);
    /* Windows that begin after the row holding the message. */
    assert_int_equal(failures_of(tid, t + 2 * S, t + 3 * S, &f), 1);
    assert_string_equal(f[0].message, "no answer within 5000000 us");
    free(f);
    assert_int_equal(failures_of(tid, t + 5 * S, t + HOUR, &f), 2);
    assert_string_equal(f[0].message, "no answer within 7000000 us");
    assert_string_equal(f[1].message, "no answer within 7000000 us");
    free(f);
    emp_write_state_free(st);
}

/* Monthly partitions are made on demand; a row that arrived before its
 * month had a partition moves out of the DEFAULT partition into it. */
static void test_partitions(void **state)
{
    (void)state;
    int64_t tid = target("partitioned", 1000);
    const int64_t at = INT64_C(1262304000) * S + 3 * 24 * HOUR; /* 2010-01-04 */
    struct emp_write_state *st = state_new();
    struct batch b = {0};
    b_result(&b, tid, at, 5 * S, EMP_STATUS_FAIL);
    write_ok(st, &b);
    b_free(&b);
    emp_write_state_free(st);
    static const char in_default[] = "SELECT count(*) FROM failures_default"
                                     " WHERE at >= '2010-01-01Z' AND at < '2010-02-01Z'";
    assert_int_equal(testdb_scalar(F.pq, in_default), 1);
    assert_int_equal(testdb_scalar(F.pq, "SELECT count(*) FROM rollups_recent r"
                                         " WHERE hour >= '2010-01-01Z' AND hour < '2010-02-01Z'"), 1);
    struct emp_error err = {0};
    assert_int_equal(emp_db_ensure_partitions(F.db, at, at, &err), EMP_OK);
    assert_int_equal(testdb_scalar(F.pq, in_default), 0);
    assert_int_equal(testdb_scalar(F.pq, "SELECT count(*) FROM failures_2010_01"), 1);
    assert_int_equal(testdb_scalar(F.pq, "SELECT count(*) FROM pg_class"
                                         " WHERE relname = 'rollups_2010_01'"), 1);
    /* Twice is a no-op. */
    assert_int_equal(emp_db_ensure_partitions(F.db, at, at, &err), EMP_OK);
    struct emp_failure *f = NULL;
    assert_int_equal(failures_of(tid, at, at + 1, &f), 1);
    free(f);
}

/* Messages with quotes, backslashes, braces, commas, NULL-looking text
 * and bytes that are not UTF-8 are stored (the latter replaced). */
static void test_awkward_text(void **state)
{
    (void)state;
    int64_t tid = target("awkward", 1000);
    struct emp_write_state *tr = state_new();
    const char *msgs[] = {"say \"hi\", {x} \\ y", "NULL", "", "caf\xc3\xa9 \xff\xfe end",
                          "\xe2\x82"};
    const char *want[] = {"say \"hi\", {x} \\ y", "NULL", "", "caf\xc3\xa9 ?? end", "??"};
    struct batch b = {0};
    for (int i = 0; i < 5; i++) {
        b_result(&b, tid, T0 + i * S, 10, EMP_STATUS_FAIL);
        snprintf(b.ev[b.n - 1].r.message, EMP_ERRMSG_MAX, "%s", msgs[i]);
    }
    b_open(&b, tid, T0, "http_status", "\xff bad \"open\"");
    write_ok(tr, &b);
    b_free(&b);
    struct emp_failure *f = NULL;
    assert_int_equal(failures_of(tid, T0, T0 + 10 * S, &f), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(f[i].message, want[i]);
    free(f);
    struct emp_outage *o = NULL;
    assert_int_equal(outages_of(tid, T0, T0 + 1, &o), 1);
    assert_string_equal(o[0].message, "? bad \"open\"");
    assert_string_equal(o[0].err_class, "http_status");
    free(o);
    emp_write_state_free(tr);
}

/* ---- outages --------------------------------------------------------- */

static void test_outages(void **state)
{
    (void)state;
    int64_t tid = target("outage", 1000);
    struct emp_write_state *tr = state_new();
    struct emp_error err = {0};
    const int64_t t1 = T0, t2 = T0 + 90 * S;
    struct batch b = {0};
    b_open(&b, tid, t1, "refused", "connection refused");
    write_ok(tr, &b);
    b_free(&b);

    struct emp_outage *o = NULL;
    size_t n = 0;
    assert_int_equal(emp_db_open_outages(F.db, F.prober_id, &o, &n, &err), EMP_OK);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (o[i].target_id == tid) {
            found = true;
            assert_int_equal(o[i].started_at_us, t1);
            assert_int_equal(o[i].ended_at_us, 0);
            assert_string_equal(o[i].err_class, "refused");
            assert_string_equal(o[i].message, "connection refused");
        }
    }
    free(o);
    assert_true(found);
    /* An ongoing outage overlaps any window after its start. */
    assert_int_equal(outages_of(tid, t1 + 1000 * HOUR, t1 + 1001 * HOUR, &o), 1);
    assert_int_equal(o[0].ended_at_us, 0);
    free(o);
    /* A second opening while one is open is ignored (one open outage per
     * target and prober). */
    b_open(&b, tid, t1 + 10 * S, "timeout", "other");
    write_ok(tr, &b);
    b_free(&b);
    assert_int_equal(outages_of(tid, t1, t2, &o), 1);
    free(o);

    b_close(&b, tid, t1, t2);
    write_ok(tr, &b);
    b_free(&b);
    assert_int_equal(outages_of(tid, t1, t2, &o), 1);
    assert_int_equal(o[0].started_at_us, t1);
    assert_int_equal(o[0].ended_at_us, t2);
    free(o);
    /* An outage belongs to [from, to) when it starts before `to` and ends
     * at or after `from`: the window ending where it starts has none of
     * it; the one starting where it ends has its repair (issue 12: a
     * repair at a window's first instant is that window's). */
    assert_int_equal(outages_of(tid, t1 - HOUR, t1, &o), 0);
    free(o);
    assert_int_equal(outages_of(tid, t2, t2 + HOUR, &o), 1);
    free(o);
    assert_int_equal(outages_of(tid, t2 - 1, t2 + HOUR, &o), 1);
    free(o);
    assert_int_equal(emp_db_open_outages(F.db, F.prober_id, &o, &n, &err), EMP_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(o[i].target_id, tid);
    free(o);

    /* A flap within one batch: open, close, open again, in order. */
    const int64_t t3 = T0 + HOUR, t4 = t3 + 5 * S, t5 = t3 + 9 * S;
    b_open(&b, tid, t3, "reset", "a");
    b_close(&b, tid, t3, t4);
    b_open(&b, tid, t5, "reset", "b");
    write_ok(tr, &b);
    b_free(&b);
    assert_int_equal(outages_of(tid, t3, t3 + HOUR, &o), 2);
    /* Newest first. */
    assert_int_equal(o[0].started_at_us, t5);
    assert_int_equal(o[0].ended_at_us, 0);
    assert_string_equal(o[0].message, "b");
    assert_int_equal(o[1].started_at_us, t3);
    assert_int_equal(o[1].ended_at_us, t4);
    free(o);
    /* A close whose end precedes the start (wall clock stepped back) is
     * clamped, not refused. */
    b_close(&b, tid, t5, t5 - 3 * S);
    write_ok(tr, &b);
    b_free(&b);
    assert_int_equal(outages_of(tid, t5 - 1, t5 + 1, &o), 1);
    assert_int_equal(o[0].started_at_us, t5);
    assert_int_equal(o[0].ended_at_us, t5);
    free(o);
    emp_write_state_free(tr);
}

/* ---- coverage spans -------------------------------------------------- */

/* Uptime over what the store really holds: two runs of a prober with a gap
 * between them, an outage that spans the gap. The gap is unknown time, even
 * inside the outage. */
static void test_uptime_with_unknown_time(void **state)
{
    (void)state;
    int64_t tid = target("uptime-gap", 1000); /* grace 2 s */
    struct batch b = {0};
    /* Run 1: ok at 0..10 s, failing from 11 s (outage opens at 11 s), dies
     * after the probe at 15 s. */
    struct emp_write_state *run1 = state_new();
    for (int i = 0; i <= 15; i++)
        b_result(&b, tid, T0 + i * S, 1000, i <= 10 ? EMP_STATUS_OK : EMP_STATUS_FAIL);
    b_open(&b, tid, T0 + 11 * S, "timeout", "no answer");
    write_ok(run1, &b);
    b_free(&b);
    emp_write_state_free(run1);
    /* Run 2 starts 10 s later: still failing at 25 and 26 s, recovers at
     * 27 s, ok until 40 s. */
    struct emp_write_state *run2 = state_new();
    for (int i = 25; i <= 40; i++)
        b_result(&b, tid, T0 + i * S, 1000, i <= 26 ? EMP_STATUS_FAIL : EMP_STATUS_OK);
    b_close(&b, tid, T0 + 11 * S, T0 + 27 * S);
    write_ok(run2, &b);
    b_free(&b);
    emp_write_state_free(run2);

    int64_t from = T0, to = T0 + 41 * S, now = T0 + 41 * S;
    struct emp_span *sp = NULL;
    struct emp_outage *ou = NULL;
    size_t ns = spans_of(tid, from, to, &sp);
    size_t no = outages_of(tid, from, to, &ou);
    assert_int_equal(ns, 2);
    assert_int_equal(no, 1);
    struct emp_uptime u;
    assert_int_equal(emp_uptime_compute(from, to, now, sp, ns, ou, no, &u), EMP_OK);
    /* Observed: [0, 15] and [25, 41] (the live span reaches now) = 31 s.
     * Down: [11, 15] + [25, 27] = 6 s. Unknown: the gap, 10 s. */
    assert_int_equal(u.down_us, 6 * S);
    assert_int_equal(u.up_us, 25 * S);
    assert_int_equal(u.unknown_us, 10 * S);
    assert_true(u.availability > 25.0 / 31 - 1e-9 && u.availability < 25.0 / 31 + 1e-9);
    assert_true(u.coverage > 31.0 / 41 - 1e-9 && u.coverage < 31.0 / 41 + 1e-9);
    assert_int_equal(u.streak_longest_us, 14 * S); /* [27, 41] */
    assert_int_equal(u.streak_current_us, 14 * S);
    free(sp);
    free(ou);

    /* Later, with the prober gone: the live span no longer reaches now, the
     * tail after it (beyond its grace) is unknown and no streak is
     * current. */
    now = T0 + 100 * S;
    to = T0 + 60 * S;
    ns = spans_of(tid, from, to, &sp);
    no = outages_of(tid, from, to, &ou);
    assert_int_equal(emp_uptime_compute(from, to, now, sp, ns, ou, no, &u), EMP_OK);
    assert_int_equal(u.up_us, 26 * S);      /* [0, 11] + [27, 42] */
    assert_int_equal(u.unknown_us, 28 * S); /* [15, 25] + [42, 60] */
    assert_int_equal(u.streak_current_us, 0);
    free(sp);
    free(ou);
}

/* A probe the prober cannot vouch for (it stalled) is no observation: it
 * ends the span, counts in no rollup and is no evidence. */
static void test_unknown_result_ends_span(void **state)
{
    (void)state;
    int64_t tid = target("unvouched", 1000); /* grace 2 s */
    struct emp_write_state *st = state_new();
    struct batch b = {0};
    b_result(&b, tid, T0, 100, EMP_STATUS_OK);
    b_result(&b, tid, T0 + 1 * S, 100, EMP_STATUS_OK);
    b_result(&b, tid, T0 + 2 * S, 600 * 1000, EMP_STATUS_UNKNOWN);
    b_result(&b, tid, T0 + 3 * S, 100, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    b_result(&b, tid, T0 + 4 * S, 100, EMP_STATUS_UNKNOWN); /* across batches too */
    write_ok(st, &b);
    b_free(&b);
    b_result(&b, tid, T0 + 5 * S, 100, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    struct emp_span *sp = NULL;
    assert_int_equal(spans_of(tid, T0, T0 + HOUR, &sp), 3);
    assert_int_equal(sp[0].started_at_us, T0);
    assert_int_equal(sp[0].ended_at_us, T0 + 1 * S);
    assert_int_equal(sp[1].started_at_us, T0 + 3 * S);
    assert_int_equal(sp[1].ended_at_us, T0 + 3 * S);
    assert_int_equal(sp[2].started_at_us, T0 + 5 * S);
    free(sp);
    struct emp_rollup *r = NULL;
    assert_int_equal(rollups_of(tid, T0, T0 + HOUR, &r), 1);
    assert_int_equal(r[0].ok + r[0].degraded + r[0].fail, 4);
    free(r);
    struct emp_failure *f = NULL;
    assert_int_equal(failures_of(tid, T0, T0 + HOUR, &f), 0);
    free(f);
    emp_write_state_free(st);
}

/* The wall clock stepped back an hour (issue 13, item 3): the prober's
 * unknown mark ends the span with no grace after it (it is not the live
 * span, though it began last), the results an hour earlier make a span of
 * their own and are not taken for replays, and the rollups held are
 * written at once, not an hour later when the results catch up. */
static void test_clock_stepped_back(void **state)
{
    (void)state;
    int64_t tid = target("stepped", 1000); /* grace 2 s */
    struct emp_write_state *st = emp_write_state_new(); /* rollups held */
    assert_non_null(st);
    const int64_t h0 = (T0 / HOUR) * HOUR;
    struct batch b = {0};
    b_result(&b, tid, h0 + 10 * S, 100, EMP_STATUS_OK);
    b_result(&b, tid, h0 + 11 * S, 100, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(emp_write_state_pending_rollups(st), 1);
    b_result(&b, tid, h0 + 11 * S, 0, EMP_STATUS_UNKNOWN); /* the mark */
    b_result(&b, tid, h0 + 12 * S - HOUR, 100, EMP_STATUS_OK);
    b_result(&b, tid, h0 + 13 * S - HOUR, 100, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(emp_write_state_pending_rollups(st), 0);
    b_result(&b, tid, h0 + 14 * S - HOUR, 100, EMP_STATUS_OK);
    write_ok(st, &b);
    b_free(&b);
    assert_int_equal(emp_write_state_pending_rollups(st), 1); /* held again */

    struct emp_span *sp = NULL;
    assert_int_equal(spans_of(tid, h0 - 2 * HOUR, h0 + HOUR, &sp), 2);
    assert_int_equal(sp[0].started_at_us, h0 + 12 * S - HOUR);
    assert_int_equal(sp[0].ended_at_us, h0 + 14 * S - HOUR);
    assert_int_equal(sp[1].started_at_us, h0 + 10 * S);
    assert_int_equal(sp[1].ended_at_us, h0 + 11 * S);
    assert_int_equal(sp[1].grace_us, 0);
    free(sp);
    struct emp_rollup *r = NULL;
    assert_int_equal(rollups_of(tid, h0 - 2 * HOUR, h0 + HOUR, &r), 2);
    assert_int_equal(r[0].hour_us, h0 - HOUR);
    assert_int_equal(r[0].ok, 2);
    assert_int_equal(r[1].hour_us, h0);
    assert_int_equal(r[1].ok, 2);
    free(r);
    emp_write_state_free(st);
}

static void test_spans(void **state)
{
    (void)state;
    int64_t tid = target("spans", 1000); /* grace 2 s */
    struct emp_write_state *tr = state_new();
    struct batch b = {0};
    b_result(&b, tid, T0, 100, EMP_STATUS_OK);
    b_result(&b, tid, T0 + 1 * S, 100, EMP_STATUS_FAIL);
    b_result(&b, tid, T0 + 2 * S, 100, EMP_STATUS_OK);
    write_ok(tr, &b);
    b_free(&b);
    struct emp_span *s = NULL;
    assert_int_equal(spans_of(tid, T0, T0 + HOUR, &s), 1);
    assert_int_equal(s[0].started_at_us, T0);
    assert_int_equal(s[0].ended_at_us, T0 + 2 * S);
    assert_int_equal(s[0].grace_us, 2 * S);
    free(s);

    /* 2 s later exactly: within grace, the span continues across batches. */
    b_result(&b, tid, T0 + 4 * S, 100, EMP_STATUS_OK);
    write_ok(tr, &b);
    b_free(&b);
    assert_int_equal(spans_of(tid, T0, T0 + HOUR, &s), 1);
    assert_int_equal(s[0].ended_at_us, T0 + 4 * S);
    free(s);

    /* A gap longer than grace starts a new span; so does a second gap
     * inside one batch. */
    b_result(&b, tid, T0 + 6 * S + 1, 100, EMP_STATUS_OK);
    b_result(&b, tid, T0 + 7 * S, 100, EMP_STATUS_OK);
    b_result(&b, tid, T0 + 20 * S, 100, EMP_STATUS_OK);
    write_ok(tr, &b);
    b_free(&b);
    assert_int_equal(spans_of(tid, T0, T0 + HOUR, &s), 3);
    assert_int_equal(s[0].started_at_us, T0);
    assert_int_equal(s[0].ended_at_us, T0 + 4 * S);
    assert_int_equal(s[1].started_at_us, T0 + 6 * S + 1);
    assert_int_equal(s[1].ended_at_us, T0 + 7 * S);
    assert_int_equal(s[2].started_at_us, T0 + 20 * S);
    assert_int_equal(s[2].ended_at_us, T0 + 20 * S);
    free(s);

    /* A new tracker (a new process) starts a new span even within grace:
     * the time across a restart is unknown. */
    struct emp_write_state *tr2 = state_new();
    b_result(&b, tid, T0 + 21 * S, 100, EMP_STATUS_OK);
    write_ok(tr2, &b);
    b_free(&b);
    assert_int_equal(spans_of(tid, T0, T0 + HOUR, &s), 4);
    assert_int_equal(s[2].ended_at_us, T0 + 20 * S);
    assert_int_equal(s[3].started_at_us, T0 + 21 * S);
    free(s);

    /* The window: a span is listed while its end plus grace reaches from. */
    assert_int_equal(spans_of(tid, T0 + 6 * S, T0 + HOUR, &s), 4); /* 4 s + 2 s */
    free(s);
    assert_int_equal(spans_of(tid, T0 + 6 * S + 1, T0 + HOUR, &s), 3);
    free(s);
    assert_int_equal(spans_of(tid, T0 - HOUR, T0, &s), 0); /* starts at to */
    free(s);
    assert_int_equal(spans_of(tid, T0 - HOUR, T0 + 1, &s), 1);
    free(s);

    /* A slower target gets a wider grace. */
    int64_t slow = target("spans-slow", 60000);
    struct batch b2 = {0};
    b_result(&b2, slow, T0, 100, EMP_STATUS_OK);
    b2.ev[0].interval_ms = 60000;
    b_result(&b2, slow, T0 + 100 * S, 100, EMP_STATUS_OK);
    b2.ev[1].interval_ms = 60000;
    write_ok(tr, &b2);
    b_free(&b2);
    assert_int_equal(spans_of(slow, T0, T0 + HOUR, &s), 1);
    assert_int_equal(s[0].ended_at_us, T0 + 100 * S);
    assert_int_equal(s[0].grace_us, 120 * S);
    free(s);
    emp_write_state_free(tr2);
    emp_write_state_free(tr);
}

/* A failed batch keeps nothing and does not advance the tracker. */
static void test_failed_batch_keeps_nothing(void **state)
{
    (void)state;
    int64_t tid = target("failed-batch", 1000);
    struct emp_write_state *tr = state_new();
    struct emp_error err = {0};
    struct batch b = {0};
    b_result(&b, tid, T0, 100, EMP_STATUS_FAIL);
    b_open(&b, tid, T0, "refused", "x");
    b_result(&b, INT64_C(987654321), T0, 100, EMP_STATUS_OK); /* no such target */
    assert_int_equal(write_b(tr, &b, &err), EMP_EINVAL);
    assert_string_equal(err.msg, "could not write batch");
    assert_non_null(strstr(err.detail, "foreign key"));
    b_free(&b);
    assert_true(emp_db_ok(F.db));

    struct emp_span *s = NULL;
    struct emp_outage *o = NULL;
    struct emp_failure *f = NULL;
    struct emp_rollup *r = NULL;
    assert_int_equal(spans_of(tid, T0 - HOUR, T0 + HOUR, &s), 0);
    assert_int_equal(outages_of(tid, T0 - HOUR, T0 + HOUR, &o), 0);
    assert_int_equal(failures_of(tid, T0 - HOUR, T0 + HOUR, &f), 0);
    assert_int_equal(rollups_of(tid, T0 - HOUR, T0 + HOUR, &r), 0);
    free(s);
    free(o);
    free(f);
    free(r);

    /* Had the tracker advanced, this would extend a span from T0. */
    b_result(&b, tid, T0 + 1 * S, 100, EMP_STATUS_OK);
    write_ok(tr, &b);
    b_free(&b);
    assert_int_equal(spans_of(tid, T0 - HOUR, T0 + HOUR, &s), 1);
    assert_int_equal(s[0].started_at_us, T0 + 1 * S);
    free(s);
    emp_write_state_free(tr);
}

/* ---- replay ---------------------------------------------------------- */

struct snapshot {
    struct emp_outage *o;
    size_t no;
    struct emp_failure *f;
    size_t nf;
    struct emp_span *s;
    size_t ns;
};

static void snap(int64_t tid, struct snapshot *x)
{
    x->no = outages_of(tid, T0 - HOUR, T0 + HOUR, &x->o);
    x->nf = failures_of(tid, T0 - HOUR, T0 + HOUR, &x->f);
    x->ns = spans_of(tid, T0 - HOUR, T0 + HOUR, &x->s);
}

static void snap_equal(const struct snapshot *a, const struct snapshot *b)
{
    assert_int_equal(a->no, b->no);
    assert_int_equal(a->nf, b->nf);
    assert_int_equal(a->ns, b->ns);
    for (size_t i = 0; i < a->no; i++) {
        assert_int_equal(a->o[i].started_at_us, b->o[i].started_at_us);
        assert_int_equal(a->o[i].ended_at_us, b->o[i].ended_at_us);
        assert_string_equal(a->o[i].message, b->o[i].message);
    }
    for (size_t i = 0; i < a->nf; i++) {
        assert_int_equal(a->f[i].at_us, b->f[i].at_us);
        assert_string_equal(a->f[i].message, b->f[i].message);
    }
    for (size_t i = 0; i < a->ns; i++) {
        assert_int_equal(a->s[i].started_at_us, b->s[i].started_at_us);
        assert_int_equal(a->s[i].ended_at_us, b->s[i].ended_at_us);
        assert_int_equal(a->s[i].grace_us, b->s[i].grace_us);
    }
}

static void snap_free(struct snapshot *x)
{
    free(x->o);
    free(x->f);
    free(x->s);
}

static void test_replay_is_idempotent(void **state)
{
    (void)state;
    int64_t tid = target("replay", 1000);
    struct emp_write_state *tr = state_new();
    struct batch b = {0};
    b_result(&b, tid, T0, 100, EMP_STATUS_OK);
    b_result(&b, tid, T0 + 1 * S, 100, EMP_STATUS_FAIL);
    b_result(&b, tid, T0 + 2 * S, 100, EMP_STATUS_FAIL);
    b_open(&b, tid, T0 + 1 * S, "timeout", "first failure");
    b_result(&b, tid, T0 + 3 * S, 100, EMP_STATUS_OK);
    b_close(&b, tid, T0 + 1 * S, T0 + 3 * S);
    b_result(&b, tid, T0 + 9 * S, 100, EMP_STATUS_OK); /* a second span */
    write_ok(tr, &b);
    struct snapshot first, again, fresh;
    snap(tid, &first);
    assert_int_equal(first.no, 1);
    assert_int_equal(first.nf, 2);
    assert_int_equal(first.ns, 2);

    /* The same batch again, as after an ambiguous commit. */
    write_ok(tr, &b);
    snap(tid, &again);
    snap_equal(&first, &again);

    /* And from a new process (empty tracker) replaying its spool. */
    struct emp_write_state *tr2 = state_new();
    write_ok(tr2, &b);
    snap(tid, &fresh);
    snap_equal(&first, &fresh);

    snap_free(&first);
    snap_free(&again);
    snap_free(&fresh);
    b_free(&b);
    emp_write_state_free(tr2);
    emp_write_state_free(tr);
}

/* ---- runs ------------------------------------------------------------ */

static void test_runs_and_heartbeats(void **state)
{
    (void)state;
    struct emp_error err = {0};
    int64_t prober = 0, again = 0;
    assert_int_equal(emp_db_prober_register(F.db, "runs", "eu-west", &prober, &err), EMP_OK);
    assert_int_equal(emp_db_prober_register(F.db, "runs", "eu-central", &again, &err), EMP_OK);
    assert_int_equal(prober, again);
    assert_int_not_equal(prober, F.prober_id);

    const int64_t t = T0 + 10 * HOUR;
    int64_t r1 = 0, r2 = 0;
    assert_int_equal(emp_db_run_start(F.db, prober, t, &r1, &err), EMP_OK);
    assert_int_equal(emp_db_heartbeat(F.db, r1, t + 5 * S, &err), EMP_OK);
    assert_int_equal(emp_db_heartbeat(F.db, r1, t + 10 * S, &err), EMP_OK);
    assert_int_equal(emp_db_heartbeat(F.db, r1, t + 7 * S, &err), EMP_OK); /* late: ignored */
    /* r1 is killed (never stopped); r2 starts later and stops. */
    assert_int_equal(emp_db_run_start(F.db, prober, t + 60 * S, &r2, &err), EMP_OK);
    assert_int_equal(emp_db_heartbeat(F.db, r2, t + 65 * S, &err), EMP_OK);
    assert_int_equal(emp_db_run_stop(F.db, r2, t + 66 * S, &err), EMP_OK);

    struct emp_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(emp_db_list_runs(F.db, prober, t, t + HOUR, &runs, &n, &err), EMP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].run_id, r1);
    assert_int_equal(runs[0].prober_id, prober);
    assert_int_equal(runs[0].started_at_us, t);
    assert_int_equal(runs[0].last_beat_at_us, t + 10 * S);
    assert_int_equal(runs[0].stopped_at_us, 0);
    assert_int_equal(runs[1].run_id, r2);
    assert_int_equal(runs[1].last_beat_at_us, t + 66 * S);
    assert_int_equal(runs[1].stopped_at_us, t + 66 * S);
    free(runs);
    /* Overlap: [t + 11 s, t + 60 s) touches neither run. */
    assert_int_equal(emp_db_list_runs(F.db, prober, t + 11 * S, t + 60 * S, &runs, &n, &err),
                     EMP_OK);
    assert_int_equal(n, 0);
    free(runs);
    assert_int_equal(emp_db_list_runs(F.db, prober, t + 10 * S, t + 60 * S + 1, &runs, &n, &err),
                     EMP_OK);
    assert_int_equal(n, 2);
    free(runs);

    assert_int_equal(emp_db_heartbeat(F.db, INT64_C(99999999), t, &err), EMP_ENOTFOUND);
}

/* ---- pool ------------------------------------------------------------ */

struct scrape {
    struct emp_metrics *m;
    struct emp_db_pool *pool;
    struct emp_target_status t;
    double avail;
    int database_up;
    int64_t took_ms;
};

static void *scrape(void *arg)
{
    struct scrape *sc = arg;
    struct emp_metrics_input in;
    int64_t t0 = mono_ms();
    emp_metrics_collect(sc->m, sc->pool, &sc->t, 1, emp_now_us(), &sc->avail, &in);
    sc->database_up = in.database_up;
    sc->took_ms = mono_ms() - t0;
    return NULL;
}

/* /metrics while the store is locked: the scrape that refreshes the cached
 * availability waits (at most the statement timeout) and finds the store
 * down; a scrape meanwhile answers at once from the figures cached before. */
static void test_metrics_stale_while_refreshing(void **state)
{
    (void)state;
    int64_t tid = target("scraped", 1000);
    struct emp_metrics m;
    assert_int_equal(emp_metrics_init(&m, NULL, NULL, NULL), 0);
    struct emp_db_pool *pool = NULL;
    struct emp_error err = {0};
    assert_int_equal(emp_db_pool_new(F.tdb.conninfo, 2, &pool, &err), EMP_OK);
    emp_db_pool_set_statement_timeout(pool, 1000);
    struct scrape a = {.m = &m, .pool = pool}, b;
    a.t.db_id = tid;
    a.t.interval_ms = 1000;
    snprintf(a.t.name, sizeof a.t.name, "scraped");
    b = a;
    scrape(&a);
    assert_int_equal(a.database_up, 1);

    pthread_mutex_lock(&m.mu);
    m.valid_until_mono_us = 1; /* stale */
    pthread_mutex_unlock(&m.mu);
    PGresult *lk = PQexec(F.pq, "BEGIN; LOCK TABLE spans, outages IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(lk), PGRES_COMMAND_OK);
    PQclear(lk);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, scrape, &a), 0);
    sleep_ms(200); /* a is refreshing, held up by the lock */
    scrape(&b);
    assert_true(b.took_ms < 150);
    assert_int_equal(b.database_up, 1); /* the cached figures */
    pthread_join(th, NULL);
    PQclear(PQexec(F.pq, "ROLLBACK"));
    assert_true(a.took_ms >= 900 && a.took_ms < 4000);
    assert_int_equal(a.database_up, 0);
    emp_db_pool_free(pool);
    emp_metrics_cleanup(&m);
}

static void test_pool(void **state)
{
    (void)state;
    struct emp_db_pool *pool = NULL;
    struct emp_error err = {0};
    assert_int_equal(emp_db_pool_new(F.tdb.conninfo, 2, &pool, &err), EMP_OK);
    struct emp_db *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(emp_db_pool_get(pool, &a, &err), EMP_OK);
    assert_int_equal(emp_db_pool_get(pool, &b, &err), EMP_OK);
    assert_int_equal(emp_db_pool_get(pool, &c, &err), EMP_OK);
    assert_true(a != b && b != c && a != c);
    int64_t id = 0;
    assert_int_equal(emp_db_find_target(a, "sync-a", &id, &err), EMP_OK);
    emp_db_pool_put(pool, a);
    emp_db_pool_put(pool, b);
    emp_db_pool_put(pool, c); /* beyond size: closed */
    struct emp_db *d = NULL;
    assert_int_equal(emp_db_pool_get(pool, &d, &err), EMP_OK);
    assert_true(d == a || d == b); /* reused */
    assert_true(emp_db_ok(d));
    emp_db_pool_put(pool, d);
    emp_db_pool_put(pool, NULL);
    emp_db_pool_free(pool);

    /* A locked table: a pool connection's query is cut off by the
     * statement timeout instead of waiting for the lock. */
    assert_int_equal(emp_db_pool_new(F.tdb.conninfo, 1, &pool, &err), EMP_OK);
    emp_db_pool_set_statement_timeout(pool, 300);
    PGresult *lk = PQexec(F.pq, "BEGIN; LOCK TABLE targets IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(lk), PGRES_COMMAND_OK);
    PQclear(lk);
    assert_int_equal(emp_db_pool_get(pool, &d, &err), EMP_OK);
    int64_t t0 = mono_ms();
    assert_int_equal(emp_db_find_target(d, "sync-a", &id, &err), EMP_EDB);
    int64_t waited = mono_ms() - t0;
    assert_true(waited >= 250 && waited < 3000);
    emp_db_pool_put(pool, d);
    PQclear(PQexec(F.pq, "ROLLBACK"));
    assert_int_equal(emp_db_pool_get(pool, &d, &err), EMP_OK);
    assert_int_equal(emp_db_find_target(d, "sync-a", &id, &err), EMP_OK);
    emp_db_pool_put(pool, d);
    emp_db_pool_free(pool);

    /* An unreachable server: get fails with the reason. */
    assert_int_equal(emp_db_pool_new("host=127.0.0.1 port=1 connect_timeout=2", 1, &pool, &err),
                     EMP_OK);
    assert_int_equal(emp_db_pool_get(pool, &d, &err), EMP_EDB);
    assert_string_equal(err.msg, "could not connect to database");
    assert_true(strlen(err.detail) > 0);
    emp_db_pool_free(pool);
}

/* ---- writer ---------------------------------------------------------- */

static struct emp_event result_ev(int64_t tid, int64_t at, enum emp_status st)
{
    struct emp_event e = {0};
    e.kind = EMP_EV_RESULT;
    e.target_id = tid;
    e.interval_ms = 1000;
    e.r.started_at_us = at;
    e.r.latency_us = 1000;
    e.r.status = st;
    if (st == EMP_STATUS_FAIL)
        snprintf(e.r.err_class, sizeof e.r.err_class, "refused");
    return e;
}

static void test_writer(void **state)
{
    (void)state;
    int64_t tid = target("writer", 1000);
    struct emp_error err = {0};
    int64_t run = 0;
    const int64_t t = T0 + 100 * HOUR;
    assert_int_equal(emp_db_run_start(F.db, F.prober_id, t, &run, &err), EMP_OK);
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 10000), 0);
    struct emp_writer *w = NULL;
    assert_int_equal(emp_writer_start(F.tdb.conninfo, F.prober_id, run, &q, NULL, &w, &err), EMP_OK);
    for (int i = 0; i < 5; i++) {
        struct emp_event e = result_ev(tid, t + i * S, i == 3 ? EMP_STATUS_FAIL : EMP_STATUS_OK);
        assert_true(emp_events_push(&q, &e));
    }
    /* An event the database rejects (no such target) is dropped alone. */
    struct emp_event bad = result_ev(INT64_C(987654321), t, EMP_STATUS_OK);
    assert_true(emp_events_push(&q, &bad));
    struct emp_event open = {.kind = EMP_EV_OUTAGE_OPEN, .target_id = tid};
    open.r.started_at_us = t + 3 * S;
    snprintf(open.r.err_class, sizeof open.r.err_class, "refused");
    assert_true(emp_events_push(&q, &open));
    sleep_ms(200);
    for (int i = 5; i < 8; i++) {
        struct emp_event e = result_ev(tid, t + i * S, EMP_STATUS_OK);
        assert_true(emp_events_push(&q, &e));
    }
    emp_events_close(&q);
    emp_writer_stop(w, 5000);
    emp_events_cleanup(&q);

    struct emp_span *s = NULL;
    assert_int_equal(spans_of(tid, t, t + HOUR, &s), 1);
    assert_int_equal(s[0].started_at_us, t);
    assert_int_equal(s[0].ended_at_us, t + 7 * S);
    free(s);
    struct emp_outage *o = NULL;
    assert_int_equal(outages_of(tid, t, t + HOUR, &o), 1);
    assert_int_equal(o[0].started_at_us, t + 3 * S);
    free(o);
    struct emp_rollup *r = NULL;
    assert_int_equal(rollups_of(tid, t, t + HOUR, &r), 1);
    assert_int_equal(r[0].ok + r[0].fail, 8);
    free(r);
    struct emp_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(emp_db_list_runs(F.db, F.prober_id, t, t + 1, &runs, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    assert_true(runs[0].stopped_at_us > 0);
    free(runs);
}

/* A fresh database prepared for prober `prober` with one target `name`,
 * then renamed aside so that connecting to it fails until away_end(). */
struct away {
    struct testdb t;
    int64_t prober, run, tid;
};

static void away_begin(struct away *a, const char *prober, const char *name)
{
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    char aside[96];
    assert_int_equal(testdb_create(&a->t), 0);
    assert_int_equal(emp_db_connect(a->t.conninfo, &db, &err), EMP_OK);
    assert_int_equal(emp_db_migrate(db, SCHEMA, NULL, &err), EMP_OK);
    assert_int_equal(emp_db_prober_register(db, prober, "", &a->prober, &err), EMP_OK);
    assert_int_equal(emp_db_run_start(db, a->prober, T0, &a->run, &err), EMP_OK);
    sync_names(db, &name, 1, 1000, &a->tid);
    emp_db_close(db);
    snprintf(aside, sizeof aside, " RENAME TO \"%s_aside\"", a->t.name);
    assert_int_equal(testdb_admin("ALTER DATABASE", a->t.name, aside), 0);
}

static void away_end(struct away *a)
{
    char back[96], to_name[96];
    snprintf(back, sizeof back, "%s_aside", a->t.name);
    snprintf(to_name, sizeof to_name, " RENAME TO \"%s\"", a->t.name);
    assert_int_equal(testdb_admin("ALTER DATABASE", back, to_name), 0);
}

/* The database is away when the writer starts and appears later: events
 * are kept and written once it can connect. "Away" is the database renamed
 * aside after it was prepared. */
static void test_writer_waits_for_database(void **state)
{
    (void)state;
    struct away a;
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    away_begin(&a, "late", "late");
    struct testdb t = a.t;
    int64_t prober = a.prober, run = a.run, tid = a.tid;

    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 10000), 0);
    struct emp_writer *w = NULL;
    assert_int_equal(emp_writer_start(t.conninfo, prober, run, &q, NULL, &w, &err), EMP_OK);
    struct emp_event e = result_ev(tid, T0, EMP_STATUS_OK);
    assert_true(emp_events_push(&q, &e));
    e = result_ev(tid, T0 + S, EMP_STATUS_FAIL);
    assert_true(emp_events_push(&q, &e));
    sleep_ms(800); /* a failed connect or two */
    away_end(&a);

    emp_events_close(&q);
    emp_writer_stop(w, 20000);
    emp_events_cleanup(&q);
    assert_int_equal(emp_db_connect(t.conninfo, &db, &err), EMP_OK);
    struct emp_failure *f = NULL;
    size_t n = 0;
    assert_int_equal(emp_db_list_failures(db, tid, T0, T0 + HOUR, &f, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    free(f);
    struct emp_span *sp = NULL;
    assert_int_equal(emp_db_list_spans(db, tid, T0, T0 + HOUR, &sp, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp[0].ended_at_us, T0 + S);
    free(sp);
    struct emp_run *runs = NULL;
    assert_int_equal(emp_db_list_runs(db, prober, T0, T0 + 1, &runs, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    assert_true(runs[0].stopped_at_us > 0);
    free(runs);
    emp_db_close(db);
    testdb_drop(&t);
}

/* ---- the spool ------------------------------------------------------- */

/* Number a batch's events from `first`. */
static void b_number(struct batch *b, uint64_t first)
{
    for (size_t i = 0; i < b->n; i++)
        b->ev[i].seq = first + i;
}

static int64_t q_int(const char *sql)
{
    PGresult *r = PQexec(F.pq, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    int64_t v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int64_t rollup_total(int64_t tid)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(ok + degraded + fail), 0) FROM rollup_hours"
             " WHERE target_id = %lld", (long long)tid);
    return q_int(sql);
}

static int64_t count_rows(const char *table, int64_t tid)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE target_id = %lld", table,
             (long long)tid);
    return q_int(sql);
}

static char *spool_path(const char *name)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/empiric-test-%d-%s.spool", (int)getpid(), name);
    unlink(path);
    return path;
}

/* Ten results (two failing) and an outage opened and closed. */
static void b_story(struct batch *b, int64_t tid, int64_t t)
{
    for (int i = 0; i < 10; i++)
        b_result(b, tid, t + i * S, 1000, i == 4 || i == 5 ? EMP_STATUS_FAIL : EMP_STATUS_OK);
    b_open(b, tid, t + 4 * S, "timeout", "no answer");
    b_close(b, tid, t + 4 * S, t + 6 * S);
}

/* A numbered batch written twice (its acknowledgement lost, or replayed
 * from the spool) is committed once: the second is rolled back, rollups
 * included, and the run's progress says how far it got. */
static void test_numbered_batch_commits_once(void **state)
{
    (void)state;
    struct emp_error err = {0};
    int64_t tid = target("once", 1000), run = 0;
    const int64_t t = T0 + 300 * HOUR;
    assert_int_equal(emp_db_run_start(F.db, F.prober_id, t, &run, &err), EMP_OK);
    struct batch b = {0};
    b_story(&b, tid, t);
    b_number(&b, 1);
    for (int round = 0; round < 2; round++) {
        /* The same state each time: a failed commit leaves it unchanged. */
        struct emp_write_state *st = state_new();
        emp_write_state_set_run(st, run);
        write_ok(st, &b);
        emp_write_state_free(st);
    }
    assert_int_equal(rollup_total(tid), 10);
    assert_int_equal(count_rows("failures", tid), 2);
    assert_int_equal(count_rows("outages", tid), 1);
    uint64_t written = 0, rolled = 0;
    assert_int_equal(emp_db_run_progress(F.db, run, &written, &rolled, &err), EMP_OK);
    assert_int_equal(written, b.n);
    assert_int_equal(rolled, b.n);
    b_free(&b);
}

/* Write `b`'s events into `sp` as records of at most `per` events. */
static void spool_batch(struct emp_spool *sp, int64_t run, struct batch *b, size_t per)
{
    static unsigned char buf[1 << 20];
    const struct emp_event *l = b_list(b);
    (void)l;
    for (size_t i = 0; i < b->n; i += per) {
        size_t n = b->n - i < per ? b->n - i : per;
        struct emp_journal_head h = {.prober_id = F.prober_id, .run_id = run,
                                     .first_seq = b->ev[i].seq};
        size_t len = emp_journal_encode(&h, &b->ev[i], (uint32_t)n, buf, sizeof buf);
        assert_true(len > 0);
        struct emp_error err = {0};
        assert_int_equal(emp_spool_append(sp, buf, len, &err), EMP_OK);
    }
}

/* A process killed after writing some batches but before their rollups
 * (held in memory) reached the database: recovery writes what is missing,
 * counts the rollups of what was written, and adds nothing when run
 * again. */
static void test_recover_after_crash(void **state)
{
    (void)state;
    struct emp_error err = {0};
    int64_t tid = target("crashed", 1000), run = 0;
    const int64_t t = T0 + 310 * HOUR;
    assert_int_equal(emp_db_run_start(F.db, F.prober_id, t, &run, &err), EMP_OK);
    struct batch b = {0};
    for (int i = 0; i < 30; i++)
        b_result(&b, tid, t + i * S, 1000, i >= 12 && i < 16 ? EMP_STATUS_FAIL : EMP_STATUS_OK);
    b_open(&b, tid, t + 12 * S, "timeout", "no answer");
    b_close(&b, tid, t + 12 * S, t + 16 * S);
    b_number(&b, 1);
    /* The first 20 events reached the database; their rollups stayed held
     * (the default: written once a minute of result time). */
    struct emp_write_state *st = emp_write_state_new();
    emp_write_state_set_run(st, run);
    struct batch first = {.ev = b.ev, .n = 20, .cap = 20};
    write_ok(st, &first);
    b_list(&b);
    assert_int_equal(emp_write_state_pending_rollups(st), 1);
    emp_write_state_free(st); /* the crash */
    assert_int_equal(rollup_total(tid), 0);
    assert_int_equal(count_rows("failures", tid), 4);

    const char *path = spool_path("crash");
    struct emp_spool *sp = NULL;
    assert_int_equal(emp_spool_open(path, 0, &sp, NULL, &err), EMP_OK);
    spool_batch(sp, run, &b, 7);
    struct emp_recovery rec;
    assert_int_equal(emp_writer_recover(F.db, sp, &rec, &err), EMP_OK);
    assert_int_equal(rec.records, 5);
    assert_int_equal(rec.counted, 20);
    assert_int_equal(rec.written, b.n - 20);
    assert_int_equal(rec.skipped, 0);
    assert_int_equal(emp_spool_records(sp), 0);
    assert_int_equal(rollup_total(tid), 30);
    assert_int_equal(count_rows("failures", tid), 4);
    struct emp_outage *o = NULL;
    assert_int_equal(outages_of(tid, t, t + HOUR, &o), 1);
    assert_int_equal(o[0].ended_at_us, t + 16 * S);
    free(o);
    struct emp_span *sps = NULL;
    size_t ns = spans_of(tid, t, t + HOUR, &sps);
    assert_true(ns >= 1);
    assert_int_equal(sps[ns - 1].ended_at_us, t + 29 * S);
    free(sps);

    /* The same records again (a crash after recovery wrote them but before
     * the spool was emptied): nothing is added. */
    spool_batch(sp, run, &b, 7);
    assert_int_equal(emp_writer_recover(F.db, sp, &rec, &err), EMP_OK);
    assert_int_equal(rec.skipped, b.n);
    assert_int_equal(rec.written + rec.counted, 0);
    assert_int_equal(rollup_total(tid), 30);
    assert_int_equal(count_rows("failures", tid), 4);
    assert_int_equal(count_rows("outages", tid), 1);
    emp_spool_close(sp);
    unlink(path);
    b_free(&b);
}

/* The database away: events go to the spool and wait there; back, they
 * are written in order and the spool is emptied. */
static void test_writer_spools_while_database_away(void **state)
{
    (void)state;
    struct away a;
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    away_begin(&a, "spooler", "spooled");
    struct testdb t = a.t;
    int64_t prober = a.prober, run = a.run, tid = a.tid;

    const char *path = spool_path("away");
    struct emp_spool *sp = NULL;
    assert_int_equal(emp_spool_open(path, 0, &sp, NULL, &err), EMP_OK);
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 10000), 0);
    struct emp_writer *w = NULL;
    struct emp_writer_opts opts = {.spool = sp, .fsync = EMP_FSYNC_ALWAYS};
    assert_int_equal(emp_writer_start(t.conninfo, prober, run, &q, &opts, &w, &err), EMP_OK);
    struct batch b = {0};
    b_story(&b, tid, T0);
    for (size_t i = 0; i < b.n; i++)
        assert_true(emp_events_push(&q, &b.ev[i]));
    struct emp_writer_stats ws = {0};
    for (int i = 0; i < 100 && ws.unwritten < b.n; i++) {
        sleep_ms(20);
        emp_writer_stats(w, &ws);
    }
    assert_int_equal(ws.unwritten, b.n);
    assert_true(ws.spool_bytes > EMP_SPOOL_HEADER_BYTES);
    /* Another process cannot take the same spool. */
    struct emp_spool *other = NULL;
    assert_int_equal(emp_spool_open(path, 0, &other, NULL, &err), EMP_EAGAIN);

    away_end(&a);
    for (int i = 0; i < 300 && ws.unwritten > 0; i++) {
        sleep_ms(20);
        emp_writer_stats(w, &ws);
    }
    assert_int_equal(ws.unwritten, 0);
    emp_events_close(&q);
    emp_writer_stop(w, 20000);
    emp_events_cleanup(&q);

    assert_int_equal(emp_db_connect(t.conninfo, &db, &err), EMP_OK);
    struct emp_outage *o = NULL;
    size_t n = 0;
    assert_int_equal(emp_db_list_outages(db, tid, T0, T0 + HOUR, &o, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].ended_at_us, T0 + 6 * S);
    free(o);
    struct emp_rollup *r = NULL;
    assert_int_equal(emp_db_list_rollups(db, tid, T0, T0 + HOUR, &r, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].ok + r[0].fail, 10);
    free(r);
    emp_db_close(db);
    /* Everything written and rolled up: the spool is empty. */
    struct emp_spool_info info;
    assert_int_equal(emp_spool_open(path, 0, &sp, &info, &err), EMP_OK);
    assert_int_equal(info.records, 0);
    emp_spool_close(sp);
    unlink(path);
    b_free(&b);
    testdb_drop(&t);
}

/* A full spool drops plain results first, then failures, and keeps every
 * outage transition; what it kept survives a stop with the database away
 * and is written by the next start. */
static void test_full_spool_keeps_transitions(void **state)
{
    (void)state;
    struct emp_error err = {0};
    int64_t tid = target("full", 1000), run = 0;
    const int64_t t = T0 + 320 * HOUR;
    assert_int_equal(emp_db_run_start(F.db, F.prober_id, t, &run, &err), EMP_OK);
    const char *path = spool_path("full");
    struct emp_spool *sp = NULL;
    assert_int_equal(emp_spool_open(path, 64 * 1024, &sp, NULL, &err), EMP_OK);
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 100000), 0);
    struct emp_writer *w = NULL;
    struct emp_writer_opts opts = {.spool = sp, .fsync = EMP_FSYNC_NEVER};
    assert_int_equal(emp_writer_start("host=127.0.0.1 port=1 connect_timeout=1", F.prober_id,
                                      run, &q, &opts, &w, &err),
                     EMP_OK);
    /* 3,000 results (1,000 of them failing) and 40 transitions, mixed. */
    struct batch b = {0};
    for (int i = 0; i < 3000; i++) {
        b_result(&b, tid, t + i * S, 1000, i % 3 == 0 ? EMP_STATUS_FAIL : EMP_STATUS_OK);
        if (i % 150 == 0)
            b_open(&b, tid, t + i * S, "timeout", "no answer");
        if (i % 150 == 75)
            b_close(&b, tid, t + (i - 75) * S, t + i * S);
    }
    for (size_t i = 0; i < b.n; i++)
        assert_true(emp_events_push(&q, &b.ev[i]));
    sleep_ms(300);
    struct emp_writer_stats ws;
    emp_writer_stats(w, &ws);
    assert_true(ws.dropped_results > 0);
    assert_true(ws.dropped_results > ws.dropped_failures);
    assert_true(ws.spool_bytes <= 64 * 1024);
    emp_events_close(&q);
    emp_writer_stop(w, 200);
    emp_events_cleanup(&q);

    /* What stayed in the spool: every transition, in order. */
    assert_int_equal(emp_spool_open(path, 64 * 1024, &sp, NULL, &err), EMP_OK);
    uint64_t off = 0, last_seq = 0;
    int transitions = 0, failures = 0, oks = 0;
    const void *p;
    size_t len;
    while (emp_spool_read(sp, &off, &p, &len, &err) == EMP_OK) {
        struct emp_journal_head h;
        struct emp_event *ev = NULL;
        assert_int_equal(emp_journal_decode(p, len, &h, &ev, &err), EMP_OK);
        while (ev != NULL) {
            struct emp_event *next = ev->next;
            assert_true(ev->seq > last_seq);
            last_seq = ev->seq;
            if (ev->kind != EMP_EV_RESULT)
                transitions++;
            else if (ev->r.status == EMP_STATUS_FAIL)
                failures++;
            else
                oks++;
            free(ev);
            ev = next;
        }
    }
    assert_int_equal(transitions, 40);
    assert_true(failures > 0);
    assert_int_equal((uint64_t)oks + ws.dropped_results, 2000);
    /* The next start writes them. */
    struct emp_recovery rec;
    assert_int_equal(emp_writer_recover(F.db, sp, &rec, &err), EMP_OK);
    assert_int_equal(rec.written, (uint64_t)(transitions + failures + oks));
    assert_int_equal(count_rows("outages", tid), 20);
    assert_int_equal(count_rows("failures", tid), failures);
    emp_spool_close(sp);
    unlink(path);
    b_free(&b);
}

/* The spool cannot be written (the disk is full: here, a file size limit):
 * events wait in memory and still reach the database; the error is
 * counted. */
static void test_spool_write_failure_falls_back_to_memory(void **state)
{
    (void)state;
    struct emp_error err = {0};
    int64_t tid = target("diskfull", 1000), run = 0;
    const int64_t t = T0 + 330 * HOUR;
    assert_int_equal(emp_db_run_start(F.db, F.prober_id, t, &run, &err), EMP_OK);
    const char *path = spool_path("diskfull");
    struct emp_spool *sp = NULL;
    assert_int_equal(emp_spool_open(path, 0, &sp, NULL, &err), EMP_OK);
    struct rlimit old, small = {.rlim_cur = 2048, .rlim_max = RLIM_INFINITY};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 100000), 0);
    struct emp_writer *w = NULL;
    struct emp_writer_opts opts = {.spool = sp, .fsync = EMP_FSYNC_NEVER};
    assert_int_equal(emp_writer_start(F.tdb.conninfo, F.prober_id, run, &q, &opts, &w, &err),
                     EMP_OK);
    struct batch b = {0};
    for (int i = 0; i < 600; i++)
        b_result(&b, tid, t + i * S, 1000, i % 50 == 7 ? EMP_STATUS_FAIL : EMP_STATUS_OK);
    for (size_t i = 0; i < b.n; i++)
        assert_true(emp_events_push(&q, &b.ev[i]));
    struct emp_writer_stats ws = {0};
    for (int i = 0; i < 300 && (ws.spool_errors == 0 || ws.unwritten > 0); i++) {
        sleep_ms(20);
        emp_writer_stats(w, &ws);
    }
    emp_events_close(&q);
    emp_writer_stop(w, 20000);
    emp_events_cleanup(&q);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);

    assert_true(ws.spool_errors > 0);
    assert_int_equal(ws.unwritten, 0);
    assert_int_equal(rollup_total(tid), 600);
    assert_int_equal(count_rows("failures", tid), 12);
    unlink(path);
    b_free(&b);
}

/* With the database unreachable, stop gives up after drain_ms. */
static void test_writer_stop_is_bounded(void **state)
{
    (void)state;
    struct emp_events q;
    struct emp_error err = {0};
    assert_int_equal(emp_events_init(&q, 100), 0);
    struct emp_writer *w = NULL;
    assert_int_equal(emp_writer_start("host=127.0.0.1 port=1 connect_timeout=1", 1, 1, &q, NULL, &w,
                                      &err),
                     EMP_OK);
    struct emp_event e = result_ev(1, T0, EMP_STATUS_OK);
    assert_true(emp_events_push(&q, &e));
    sleep_ms(100);
    emp_events_close(&q);
    int64_t t0 = mono_ms();
    emp_writer_stop(w, 300);
    int64_t took = mono_ms() - t0;
    assert_true(took < 3000);
    emp_events_cleanup(&q);
}

/* ---- scale ----------------------------------------------------------- */

/* 1,000 targets at 1 s, flushed every second: a 5,000-event batch. */
static void test_large_batch(void **state)
{
    (void)state;
    enum { TARGETS = 1000, SECONDS = 5 };
    static int64_t ids[TARGETS];
    char names[TARGETS][16];
    for (int i = 0; i < TARGETS; i += 8) {
        const char *nm[8];
        for (int k = 0; k < 8; k++) {
            snprintf(names[i + k], sizeof names[i + k], "bulk-%04d", i + k);
            nm[k] = names[i + k];
        }
        sync_names(F.db, nm, 8, 1000, &ids[i]);
    }
    struct emp_write_state *tr = state_new();
    struct batch b = {0};
    for (int s = 0; s < SECONDS; s++)
        for (int i = 0; i < TARGETS; i++)
            b_result(&b, ids[i], T0 + s * S + i, 1000 + i,
                     (i % 100 == 0) ? EMP_STATUS_FAIL : EMP_STATUS_OK);
    int64_t t0 = mono_ms();
    write_ok(tr, &b);
    int64_t took = mono_ms() - t0;
    print_message("    %d events written in %lld ms\n", TARGETS * SECONDS, (long long)took);
    b_free(&b);
    struct emp_span *sp = NULL;
    assert_int_equal(spans_of(ids[500], T0, T0 + HOUR, &sp), 1);
    assert_int_equal(sp[0].ended_at_us, T0 + 4 * S + 500);
    free(sp);
    struct emp_rollup *r = NULL;
    assert_int_equal(rollups_of(ids[0], T0, T0 + HOUR, &r), 1);
    assert_int_equal(r[0].fail, SECONDS);
    free(r);
    assert_int_equal(rollups_of(ids[1], T0, T0 + HOUR, &r), 1);
    assert_int_equal(r[0].ok, SECONDS);
    free(r);
    emp_write_state_free(tr);
}

/* Storage of one target-year at 10 s probes and 99.9% availability
 * (reported, for the design's budget; loosely bounded here). */
static void test_storage_per_target_year(void **state)
{
    (void)state;
    struct testdb t;
    struct emp_db *db = NULL;
    struct emp_error err = {0};
    assert_int_equal(testdb_create(&t), 0);
    assert_int_equal(emp_db_connect(t.conninfo, &db, &err), EMP_OK);
    assert_int_equal(emp_db_migrate(db, SCHEMA, NULL, &err), EMP_OK);
    int64_t prober = 0, tid = 0;
    const char *name = "year";
    assert_int_equal(emp_db_prober_register(db, "p", "", &prober, &err), EMP_OK);
    sync_names(db, &name, 1, 10000, &tid);
    struct emp_write_state *tr = emp_write_state_new(); /* rollups held as the writer does */
    const int64_t y0 = (T0 / HOUR) * HOUR;
    /* Each hour: a handful of results with spread latencies stands in for
     * its 360 probes (a rollup row's size does not depend on its counts);
     * 0.1% of 3,153,600 probes fail: one failure every 1,000 probes. */
    struct batch b = {0};
    for (int h = 0; h < 8760; h++) {
        for (int k = 0; k < 3; k++) {
            struct emp_event *e = b_add(&b, EMP_EV_RESULT, tid);
            e->interval_ms = 10000;
            e->r.started_at_us = y0 + h * HOUR + k * 10 * S;
            e->r.latency_us = 800 + 3000 * k;
        }
        if (h % 8 < 3) {
            b_result(&b, tid, y0 + h * HOUR + 30 * S, 5 * S, EMP_STATUS_FAIL);
            b.ev[b.n - 1].interval_ms = 10000;
        }
        if (b.n > 4000 || h == 8759) {
            assert_int_equal(emp_db_write_batch(db, prober, tr, b_list(&b), &err), EMP_OK);
            b.n = 0;
        }
    }
    b_free(&b);
    assert_int_equal(emp_db_flush_rollups(db, prober, tr, &err), EMP_OK);
    emp_write_state_free(tr);
    PGconn *c = testdb_pq(&t);
    assert_non_null(c);
    PQclear(PQexec(c, "VACUUM ANALYZE"));
    long long roll = testdb_scalar(c, "SELECT emp_relation_bytes('rollups')");
    long long fail = testdb_scalar(c, "SELECT emp_relation_bytes('failures')");
    long long fails = testdb_scalar(c, "SELECT count(*) FROM failures");
    long long hours = testdb_scalar(c, "SELECT count(*) FROM rollup_hours");
    assert_int_equal(hours, 8760);
    print_message("    one target-year: rollups %lld KiB (8760 hours), failures %lld KiB"
                  " (%lld rows)\n",
                  roll / 1024, fail / 1024, fails);
    /* One row a day, compressed in line: well under the 1 MB a target-year
     * may cost in all (8760 hourly rows took 2.7 MB). */
    assert_true(roll > 0 && roll < 1024 * 1024);
    PQfinish(c);
    emp_db_close(db);
    testdb_drop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_migrate_concurrently),
        cmocka_unit_test(test_migrate_failing_file),
        cmocka_unit_test(test_sync_targets),
        cmocka_unit_test(test_microsecond_round_trip),
        cmocka_unit_test(test_hist_bucket),
        cmocka_unit_test(test_rollups_and_failures),
        cmocka_unit_test(test_rollups_held),
        cmocka_unit_test(test_failure_messages_carried),
        cmocka_unit_test(test_partitions),
        cmocka_unit_test(test_awkward_text),
        cmocka_unit_test(test_outages),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_unknown_result_ends_span),
        cmocka_unit_test(test_clock_stepped_back),
        cmocka_unit_test(test_failed_batch_keeps_nothing),
        cmocka_unit_test(test_replay_is_idempotent),
        cmocka_unit_test(test_runs_and_heartbeats),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_metrics_stale_while_refreshing),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_writer_waits_for_database),
        cmocka_unit_test(test_writer_stop_is_bounded),
        cmocka_unit_test(test_numbered_batch_commits_once),
        cmocka_unit_test(test_recover_after_crash),
        cmocka_unit_test(test_writer_spools_while_database_away),
        cmocka_unit_test(test_full_spool_keeps_transitions),
        cmocka_unit_test(test_spool_write_failure_falls_back_to_memory),
        cmocka_unit_test(test_large_batch),
        cmocka_unit_test(test_uptime_with_unknown_time),
        cmocka_unit_test(test_storage_per_target_year),
    };
    return cmocka_run_group_tests_name("db", tests, group_setup, group_teardown);
}
