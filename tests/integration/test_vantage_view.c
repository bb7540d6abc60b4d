/* A target's history as one location or all of them combined
 * (service/view.c) against a real PostgreSQL (EMPIRIC_TEST_DB): three
 * probers in locations A, B and C observe one target; A and B each record
 * an outage, overlapping for 50 s. Combined by a majority, there is one
 * outage (where both are down), 150 s of partial time with A and B, and
 * the reliability report counts one failure; ?location=A is A's own
 * record; an unknown location is refused; one location alone is passed
 * through as recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"
#include "service/group.h"
#include "service/status.h"
#include "service/view.h"
#include "store/db.h"
#include "testdb.h"

#ifndef EMPIRIC_SOURCE_SCHEMA_DIR
#error "EMPIRIC_SOURCE_SCHEMA_DIR must name the schema/ directory"
#endif

#define T0 INT64_C(1780000000)          /* seconds; a 2026 instant */
#define US(s) ((int64_t)(s) * EMP_US_PER_S)

struct fx {
    struct testdb tdb;
    struct emp_db *db;
    PGconn *sql;
    int64_t target, lone;
};
static struct fx F;

static void sql(const char *fmt, ...)
{
    char q[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(F.sql, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    PQclear(r);
}

static int64_t sql_id(const char *q)
{
    PGresult *r = PQexec(F.sql, q);
    int64_t id = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                     ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                     : -1;
    PQclear(r);
    return id;
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    if (testdb_create_migrated(&F.tdb, EMPIRIC_SOURCE_SCHEMA_DIR, &F.db) != 0)
        return -1;
    F.sql = PQconnectdb(F.tdb.conninfo);
    if (PQstatus(F.sql) != CONNECTION_OK)
        return -1;
    sql("INSERT INTO probers (name, location) VALUES ('p-a', 'A'), ('p-b', 'B'), ('p-c', 'C'),"
        " ('p-solo', 'S')");
    sql("INSERT INTO targets (name, kind, grp, interval_ms, timeout_ms, fail_threshold,"
        " recover_threshold) VALUES ('svc', 'http', 'g', 1000, 500, 2, 1),"
        " ('lone', 'http', '', 1000, 500, 2, 1)");
    F.target = sql_id("SELECT id FROM targets WHERE name = 'svc'");
    F.lone = sql_id("SELECT id FROM targets WHERE name = 'lone'");
    /* Every prober observes svc over [T0, T0 + 1000 s]. */
    sql("INSERT INTO spans (target_id, prober_id, started_at, ended_at, grace_ms)"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 0 FROM probers"
        " WHERE name IN ('p-a', 'p-b', 'p-c')",
        (long long)F.target, (long long)T0, (long long)(T0 + 1000));
    sql("INSERT INTO outages (target_id, prober_id, started_at, ended_at, err_class, message)"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 'refused', 'A saw it'"
        " FROM probers WHERE name = 'p-a'",
        (long long)F.target, (long long)(T0 + 100), (long long)(T0 + 200));
    sql("INSERT INTO outages (target_id, prober_id, started_at, ended_at, err_class, message)"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 'timeout', 'B saw it'"
        " FROM probers WHERE name = 'p-b'",
        (long long)F.target, (long long)(T0 + 150), (long long)(T0 + 300));
    /* lone: one location only. */
    sql("INSERT INTO spans (target_id, prober_id, started_at, ended_at, grace_ms)"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 0 FROM probers"
        " WHERE name = 'p-solo'",
        (long long)F.lone, (long long)T0, (long long)(T0 + 1000));
    sql("INSERT INTO outages (target_id, prober_id, started_at, ended_at, err_class, message)"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 'refused', 'solo'"
        " FROM probers WHERE name = 'p-solo'",
        (long long)F.lone, (long long)(T0 + 10), (long long)(T0 + 20));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(F.sql);
    emp_db_close(F.db);
    testdb_drop(&F.tdb);
    return 0;
}

static void test_combined(void **state)
{
    (void)state;
    struct emp_view v = EMP_VIEW_DEFAULT;
    struct emp_view_history h;
    struct emp_error err = {0};
    int64_t now = US(T0 + 5000);
    assert_int_equal(emp_view_history_load(F.db, F.target, US(T0), US(T0 + 1000), now, &v, &h,
                                           &err),
                     EMP_OK);
    assert_int_equal(h.n_locations, 3);
    assert_string_equal(h.locations[0], "A");
    assert_string_equal(h.locations[2], "C");
    assert_int_equal(h.n_outages, 1);
    assert_int_equal(h.outages[0].started_at_us, US(T0 + 150)); /* the quorum reached */
    assert_int_equal(h.outages[0].ended_at_us, US(T0 + 200));   /* and lost */
    assert_string_equal(h.outages[0].err_class, "timeout");      /* B completed it */
    assert_string_equal(h.outages[0].message, "B saw it");
    assert_int_equal(emp_view_outage_locations(&h, &h.outages[0], now), 3); /* A and B */
    assert_int_equal(h.n_spans, 1);
    assert_int_equal(h.spans[0].started_at_us, US(T0));
    assert_int_equal(h.spans[0].ended_at_us, US(T0 + 1000));
    assert_int_equal(h.totals.partial_us, US(150));
    assert_int_equal(h.totals.partial_locations, 3);
    assert_int_equal(h.totals.down_us, US(50));
    assert_int_equal(h.totals.up_us, US(800));

    /* Any one location down is enough: A's start to B's end. */
    v.quorum.rule = EMP_QUORUM_ANY;
    struct emp_view_history any;
    assert_int_equal(emp_view_history_load(F.db, F.target, US(T0), US(T0 + 1000), now, &v, &any,
                                           &err),
                     EMP_OK);
    assert_int_equal(any.n_outages, 1);
    assert_int_equal(any.outages[0].started_at_us, US(T0 + 100));
    assert_int_equal(any.outages[0].ended_at_us, US(T0 + 300));
    assert_string_equal(any.outages[0].message, "A saw it");
    emp_view_history_free(&any);
    emp_view_history_free(&h);
}

static void test_one_location(void **state)
{
    (void)state;
    struct emp_view v = EMP_VIEW_DEFAULT;
    v.location = "A";
    struct emp_view_history h;
    struct emp_error err = {0};
    int64_t now = US(T0 + 5000);
    assert_int_equal(emp_view_history_load(F.db, F.target, US(T0), US(T0 + 1000), now, &v, &h,
                                           &err),
                     EMP_OK);
    assert_int_equal(h.n_outages, 1);
    assert_int_equal(h.outages[0].started_at_us, US(T0 + 100));
    assert_int_equal(h.outages[0].ended_at_us, US(T0 + 200));
    assert_int_equal(h.n_spans, 1);
    assert_int_equal(h.n_locations, 0); /* nothing combined */
    emp_view_history_free(&h);

    v.location = "nowhere";
    assert_int_equal(emp_view_history_load(F.db, F.target, US(T0), US(T0 + 1000), now, &v, &h,
                                           &err),
                     EMP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nowhere"));
    emp_view_history_free(&h);

    /* A target seen from one location: its record as it is. */
    v.location = NULL;
    assert_int_equal(emp_view_history_load(F.db, F.lone, US(T0), US(T0 + 1000), now, &v, &h,
                                           &err),
                     EMP_OK);
    assert_int_equal(h.n_locations, 1);
    assert_int_equal(h.n_outages, 1);
    assert_string_equal(h.outages[0].message, "solo");
    assert_null(h.seg);
    emp_view_history_free(&h);
}

/* A gap in a location's observation inside its own outage (a late probe,
 * its writer away) neither ends the combined outage nor vetoes it. */
static void test_gap_inside_outage(void **state)
{
    (void)state;
    sql("INSERT INTO targets (name, kind, grp, interval_ms, timeout_ms, fail_threshold,"
        " recover_threshold) VALUES ('gap', 'http', '', 1000, 500, 2, 1)");
    int64_t id = sql_id("SELECT id FROM targets WHERE name = 'gap'");
    /* A observes [0, 120] and [140, 1000]; B and C all of it. */
    sql("INSERT INTO spans (target_id, prober_id, started_at, ended_at, grace_ms)"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 0 FROM probers"
        " WHERE name IN ('p-b', 'p-c')",
        (long long)id, (long long)T0, (long long)(T0 + 1000));
    sql("INSERT INTO spans (target_id, prober_id, started_at, ended_at, grace_ms)"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 0 FROM probers"
        " WHERE name = 'p-a' UNION ALL"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 0 FROM probers"
        " WHERE name = 'p-a'",
        (long long)id, (long long)T0, (long long)(T0 + 120), (long long)id,
        (long long)(T0 + 140), (long long)(T0 + 1000));
    sql("INSERT INTO outages (target_id, prober_id, started_at, ended_at, err_class)"
        " SELECT %lld, id, to_timestamp(%lld), to_timestamp(%lld), 'connect' FROM probers"
        " WHERE name IN ('p-a', 'p-b')",
        (long long)id, (long long)(T0 + 100), (long long)(T0 + 200));
    struct emp_view v = EMP_VIEW_DEFAULT;
    struct emp_view_history h;
    struct emp_error err = {0};
    assert_int_equal(emp_view_history_load(F.db, id, US(T0), US(T0 + 1000), US(T0 + 5000), &v,
                                           &h, &err),
                     EMP_OK);
    assert_int_equal(h.n_outages, 1);
    assert_int_equal(h.outages[0].started_at_us, US(T0 + 100));
    assert_int_equal(h.outages[0].ended_at_us, US(T0 + 200));
    assert_int_equal(h.totals.partial_us, 0);
    emp_view_history_free(&h);
}

/* The bulk readers combine as well: a group's members, the status page. */
static void test_bulk_readers(void **state)
{
    (void)state;
    struct emp_error err = {0};
    const char *what = NULL;
    struct emp_group_data g;
    int64_t now = US(T0 + 5000);
    assert_int_equal(emp_group_load(F.db, "g", US(T0), US(T0 + 1000), now, NULL, NULL, &g,
                                    &what, &err),
                     EMP_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.outage_n[0], 1);
    assert_int_equal(g.outages[g.outage_at[0]].started_at_us, US(T0 + 150));
    assert_int_equal(g.outages[g.outage_at[0]].ended_at_us, US(T0 + 200));
    assert_int_equal(g.span_n[0], 1);
    assert_int_equal(g.spans[g.span_at[0]].target_id, F.target);
    emp_group_data_free(&g);

    /* The status page over the 90 days before now (T0 is within them). */
    struct emp_status_page st;
    now = US(T0 + 86400);
    assert_int_equal(emp_status_load(F.db, "g", NULL, now, NULL, &st, &what, &err), EMP_OK);
    assert_int_equal(st.n_t, 1);
    assert_int_equal(st.t[0].n_locations, 3);
    assert_int_equal(st.t[0].n_ot, 1);
    assert_int_equal(st.t[0].n_recent, 1);
    assert_int_equal(st.t[0].recent[0].started_at_us, US(T0 + 150));
    assert_string_equal(st.t[0].recent[0].message, "B saw it");
    assert_int_equal(st.t[0].vantage.partial_us, US(150));
    emp_status_cleanup(&st);

    /* One location alone: its own outage and incident. */
    assert_int_equal(emp_status_load(F.db, "g", "A", now, NULL, &st, &what, &err), EMP_OK);
    assert_int_equal(st.t[0].n_ot, 1);
    assert_int_equal(st.t[0].ot[0].started_at_us, US(T0 + 100));
    assert_int_equal(st.t[0].n_recent, 1);
    assert_string_equal(st.t[0].recent[0].message, "A saw it");
    emp_status_cleanup(&st);
    assert_int_equal(emp_status_load(F.db, "g", "nowhere", now, NULL, &st, &what, &err),
                     EMP_ENOTFOUND);
    emp_status_cleanup(&st);
    assert_int_equal(emp_group_load(F.db, "g", US(T0), US(T0 + 1000), now, NULL, "B", &g, &what,
                                    &err),
                     EMP_OK);
    assert_int_equal(g.outage_n[0], 1);
    assert_int_equal(g.outages[g.outage_at[0]].started_at_us, US(T0 + 150));
    emp_group_data_free(&g);
}

/* The probe-level rows of an SLA's minutes rule: one location's, or all
 * pooled. */
static void test_probe_rows(void **state)
{
    (void)state;
    sql("INSERT INTO failures (target_id, prober_id, at, latency_us, err_class)"
        " SELECT %lld, id, to_timestamp(%lld) + n * interval '1 second', 0, 'refused'"
        " FROM probers, generate_series(0, 1) n WHERE name IN ('p-a', 'p-b')",
        (long long)F.target, (long long)(T0 + 120));
    struct emp_view v = EMP_VIEW_DEFAULT;
    struct emp_span *sp;
    struct emp_failure *fa;
    size_t ns, nf;
    struct emp_error err = {0};
    assert_int_equal(emp_view_probe_rows(F.db, F.target, US(T0), US(T0 + 1000), &v, &sp, &ns,
                                         &fa, &nf, &err),
                     EMP_OK);
    assert_int_equal(ns, 3); /* every prober's span */
    assert_int_equal(nf, 4);
    free(sp);
    free(fa);
    v.location = "B";
    assert_int_equal(emp_view_probe_rows(F.db, F.target, US(T0), US(T0 + 1000), &v, &sp, &ns,
                                         &fa, &nf, &err),
                     EMP_OK);
    assert_int_equal(ns, 1);
    assert_int_equal(nf, 2);
    assert_int_equal(fa[0].at_us, US(T0 + 120));
    free(sp);
    free(fa);
    v.location = "Z";
    assert_int_equal(emp_view_probe_rows(F.db, F.target, US(T0), US(T0 + 1000), &v, &sp, &ns,
                                         &fa, &nf, &err),
                     EMP_ENOTFOUND);
    free(sp);
    free(fa);
}

/* Each location's state now and their verdict, since when. */
static void test_now(void **state)
{
    (void)state;
    struct emp_quorum q = EMP_QUORUM_DEFAULT;
    struct emp_view_now now;
    struct emp_error err = {0};
    assert_int_equal(emp_view_now_load(F.db, F.target, US(T0 + 1000), &q, &now, &err), EMP_OK);
    assert_int_equal(now.n, 3);
    assert_string_equal(now.loc[0].location, "A");
    assert_int_equal(now.loc[0].state, EMP_SEG_UP);
    assert_int_equal(now.loc[0].since_us, US(T0 + 200));
    assert_int_equal(now.loc[1].since_us, US(T0 + 300));
    assert_int_equal(now.loc[2].since_us, US(T0));
    assert_int_equal(now.verdict, EMP_V_UP);
    assert_int_equal(now.since_us, US(T0 + 300));
    assert_int_equal(now.observing, 3);
    assert_int_equal(now.down, 0);
    assert_int_equal(now.needed, 2);
    free(now.loc);

    assert_int_equal(emp_view_now_load(F.db, F.target, US(T0 + 180), &q, &now, &err), EMP_OK);
    assert_int_equal(now.loc[0].state, EMP_SEG_DOWN);
    assert_int_equal(now.loc[0].since_us, US(T0 + 100));
    assert_int_equal(now.loc[1].state, EMP_SEG_DOWN);
    assert_int_equal(now.loc[2].state, EMP_SEG_UP);
    assert_int_equal(now.verdict, EMP_V_DOWN);
    assert_int_equal(now.since_us, US(T0 + 150));
    assert_int_equal(now.down, 2);
    free(now.loc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combined),
        cmocka_unit_test(test_one_location),
        cmocka_unit_test(test_bulk_readers),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_probe_rows),
        cmocka_unit_test(test_gap_inside_outage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
