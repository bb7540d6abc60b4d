/* Benchmark: the statistics endpoints over a year of history of a group of
 * 1,000 targets with 100 outages each (100,000 outages), through the real
 * API and PostgreSQL. Prints the latency of each endpoint (median and
 * worst of the runs) and, as the baseline measured in the same run, that
 * of /api/v1/targets/{name}/uptime for one target.
 *
 * usage: bench_stats_api [members=1000] [outages_per_member=100] [runs=10]
 * Needs EMPIRIC_TEST_DB (scripts/bench sets it). */
#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../integration/testdb.h"
#include "api/api.h"
#include "store/db.h"
#include "probes/state.h"
#include "core/timeutil.h"

static size_t sink(char *d, size_t size, size_t nmemb, void *u)
{
    (void)d;
    (void)u;
    return size * nmemb;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* GET url `runs` times; prints median and worst milliseconds. */
static int time_get(const char *label, const char *url, int runs)
{
    CURL *e = curl_easy_init();
    double *ms = calloc((size_t)runs, sizeof *ms);
    long code = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    for (int i = 0; i < runs; i++) {
        int64_t t0 = emp_mono_us();
        if (curl_easy_perform(e) != CURLE_OK)
            code = -1;
        else
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        ms[i] = (double)(emp_mono_us() - t0) / 1000.0;
        if (code != 200)
            break;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    printf("  %-28s median %8.1f ms   worst %8.1f ms   (HTTP %ld)\n", label, ms[runs / 2],
           ms[runs - 1], code);
    free(ms);
    curl_easy_cleanup(e);
    return code == 200 ? 0 : 1;
}

static int exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "bench: %s\n", PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    int members = argc > 1 ? atoi(argv[1]) : 1000;
    int per = argc > 2 ? atoi(argv[2]) : 100;
    int runs = argc > 3 ? atoi(argv[3]) : 10;
    if (members < 2 || members > 100000 || per < 1 || per > 10000 || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: bench_stats_api [members] [outages_per_member] [runs]\n");
        return 2;
    }
    struct testdb tdb;
    if (testdb_create(&tdb) != 0)
        return 1;
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    int rc = 1;
    if (emp_db_connect(tdb.conninfo, &db, &err) != EMP_OK ||
        emp_db_migrate(db, EMPIRIC_SOURCE_SCHEMA_DIR, NULL, &err) != EMP_OK) {
        fprintf(stderr, "bench: %s: %s\n", err.msg, err.detail);
        goto out;
    }
    PGconn *c = PQconnectdb(tdb.conninfo);
    char sql[4096];
    int64_t t0 = emp_mono_us();
    /* A year of history: each member observed throughout, `per` outages
     * each, a third of them starting together in shared incidents. */
    snprintf(sql, sizeof sql,
             "INSERT INTO probers (name) VALUES ('bench');"
             "INSERT INTO targets (name, kind, grp, interval_ms, timeout_ms, fail_threshold,"
             " recover_threshold, degraded_ms) SELECT 'm' || i, 'history', 'g', 60000, 0, 0, 0,"
             " 0 FROM generate_series(1, %d) i;"
             "INSERT INTO spans (target_id, prober_id, started_at, ended_at, grace_ms)"
             " SELECT id, 1, '2025-01-01Z', '2026-01-01Z', 0 FROM targets;"
             "SELECT setseed(0.42);"
             "INSERT INTO outages (target_id, prober_id, started_at, ended_at, err_class, message)"
             " SELECT t.id, 1, s, s + (30 + random() * 3600) * interval '1 second', 'timeout', 'x'"
             " FROM targets t, LATERAL (SELECT DISTINCT CASE WHEN random() < 0.33"
             "  THEN '2025-01-01Z'::timestamptz + (floor(random() * 200) * 43200 + random() * 60)"
             "       * interval '1 second'"
             "  ELSE '2025-01-01Z'::timestamptz + random() * interval '364 days' END AS s"
             "  FROM generate_series(1, %d) WHERE t.id > 0) x ON CONFLICT DO NOTHING;"
             "ANALYZE;",
             members, per);
    if (exec(c, sql) != 0) {
        PQfinish(c);
        goto out;
    }
    PGresult *cnt = PQexec(c, "SELECT count(*) FROM outages");
    printf("bench_stats_api: %d members, %s outages over 2025 (set up in %.1f s)\n", members,
           PQgetvalue(cnt, 0, 0), (double)(emp_mono_us() - t0) / 1e6);
    PQclear(cnt);
    PQfinish(c);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct emp_config empty = {0};
    struct emp_state state;
    emp_state_init(&state, &empty, NULL);
    struct emp_db_pool *pool = NULL;
    struct emp_api *api = NULL;
    if (emp_db_pool_new(tdb.conninfo, 4, &pool, &err) != EMP_OK ||
        emp_api_start("127.0.0.1", 0, NULL, &state, pool, &api, &err) != EMP_OK) {
        fprintf(stderr, "bench: %s: %s\n", err.msg, err.detail);
        goto out;
    }
    char base[128], url[512];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", emp_api_port(api));
    const char *win = "from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z";
    rc = 0;
    snprintf(url, sizeof url, "%s/api/v1/targets/m1/uptime?%s", base, win);
    rc |= time_get("target uptime (baseline)", url, runs);
    snprintf(url, sizeof url, "%s/api/v1/targets/m1/reliability?%s", base, win);
    rc |= time_get("target reliability", url, runs);
    snprintf(url, sizeof url, "%s/api/v1/groups/g/reliability?%s", base, win);
    rc |= time_get("group reliability", url, runs);
    snprintf(url, sizeof url, "%s/api/v1/groups/g/correlation?%s", base, win);
    rc |= time_get("group correlation", url, runs);
    emp_api_stop(api);
    emp_db_pool_free(pool);
    emp_state_cleanup(&state);
    curl_global_cleanup();
out:
    emp_db_close(db);
    testdb_drop(&tdb);
    return rc;
}
