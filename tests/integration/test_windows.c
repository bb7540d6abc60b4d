/* Window edges against a real PostgreSQL (EMPIRIC_TEST_DB): history
 * imported from CSV, then a target's reliability (emp_report_target, what
 * `empiric report` and /reliability give) over a month and over the two
 * halves of it split at an event's very instant. Splitting a window must
 * never lose an event: a point failure at the split, a repair at the split,
 * and two touching outages split where one ends and the next starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"
#include "ingest/import.h"
#include "service/group.h"
#include "service/report.h"
#include "store/db.h"
#include "testdb.h"

#ifndef EMPIRIC_SOURCE_SCHEMA_DIR
#error "EMPIRIC_SOURCE_SCHEMA_DIR must name the schema/ directory"
#endif

struct fx {
    struct testdb tdb;
    struct emp_db *db;
};
static struct fx F;

/* Observed from May to July (the group's coverage runs from its earliest
 * row to its latest), with the outages the tests split. */
static const char *const HISTORY =
    "target,start,end\n"
    "rp-edge,2026-05-01T00:00:00Z,\n"
    "rp-edge,2026-07-31T00:00:00Z,\n"
    "rp-point,2026-06-13T00:00:00Z,\n"
    "rp-repair,2026-06-12T23:00:00Z,2026-06-13T00:00:00Z\n"
    "rp-touch,2026-06-20T00:00:00Z,2026-06-20T01:00:00Z\n"
    "rp-touch,2026-06-20T01:00:00Z,2026-06-20T02:00:00Z\n"
    "rp-ovl,2026-06-03T00:00:00Z,2026-06-03T01:00:00Z\n"
    "rp-ovl,2026-06-03T00:01:00Z,2026-06-03T02:00:00Z\n"
    "rp-x,2026-06-11T00:00:00Z,2026-06-11T01:00:00Z\n";

static int setup(void **state)
{
    (void)state;
    struct emp_error err = {0};
    memset(&F, 0, sizeof F);
    if (testdb_create_migrated(&F.tdb, EMPIRIC_SOURCE_SCHEMA_DIR, &F.db) != 0)
        return -1;
    struct emp_import_opts o = {.group = "rp"};
    struct emp_import *imp = NULL;
    FILE *f = fmemopen((void *)HISTORY, strlen(HISTORY), "r");
    struct emp_import_stats st;
    int rc = f != NULL && emp_import_read(f, &o, &imp, &err) == EMP_OK &&
                     emp_db_import(F.db, imp, &st, &err) == EMP_OK
                 ? 0
                 : -1;
    if (rc != 0)
        fprintf(stderr, "import: %s: %s\n", err.msg, err.detail);
    if (f != NULL)
        fclose(f);
    emp_import_free(imp);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    emp_db_close(F.db);
    testdb_drop(&F.tdb);
    return 0;
}

static int64_t t(const char *rfc3339)
{
    int64_t us = 0;
    assert_int_equal(emp_time_parse(rfc3339, &us), EMP_OK);
    return us;
}

struct counts {
    size_t failures, repairs;
    int64_t up_us, down_us, unknown_us;
};

static struct counts counts(const char *name, const char *from, const char *to)
{
    struct emp_target_row row;
    struct emp_reliability rel;
    struct emp_error err = {0};
    if (emp_report_target(F.db, name, NULL, t(from), t(to), t("2026-12-01T00:00:00Z"), &row, &rel,
                          &err) != EMP_OK)
        fail_msg("report of %s: %s: %s", name, err.msg, err.detail);
    struct counts c = {rel.failures, rel.repairs, rel.uptime.up_us, rel.uptime.down_us,
                       rel.uptime.unknown_us};
    emp_reliability_cleanup(&rel);
    return c;
}

/* The month equals its halves split at `at`, and the month holds
 * `failures` and `repairs`. */
static void check_split(const char *name, const char *at, size_t failures, size_t repairs)
{
    static const char from[] = "2026-06-01T00:00:00Z", to[] = "2026-07-01T00:00:00Z";
    struct counts whole = counts(name, from, to);
    struct counts a = counts(name, from, at), b = counts(name, at, to);
    print_message("%s: June %zu failures %zu repairs; split at %s: %zu + %zu, %zu + %zu\n",
                  name, whole.failures, whole.repairs, at, a.failures, b.failures, a.repairs,
                  b.repairs);
    assert_int_equal(whole.failures, failures);
    assert_int_equal(whole.repairs, repairs);
    assert_int_equal(a.failures + b.failures, whole.failures);
    assert_int_equal(a.repairs + b.repairs, whole.repairs);
    assert_int_equal(a.up_us + b.up_us, whole.up_us);
    assert_int_equal(a.down_us + b.down_us, whole.down_us);
    assert_int_equal(a.unknown_us + b.unknown_us, whole.unknown_us);
}

/* A point failure exactly at a window's start belongs to that window. */
static void test_point_failure_at_from(void **state)
{
    (void)state;
    check_split("rp-point", "2026-06-13T00:00:00Z", 1, 1);
}

/* A repair exactly at a window's start belongs to that window. */
static void test_repair_at_from(void **state)
{
    (void)state;
    check_split("rp-repair", "2026-06-13T00:00:00Z", 1, 1);
}

/* Two outages touching at one instant, split there: the first's repair and
 * the second's failure both stay. */
static void test_touching_outages_split_between(void **state)
{
    (void)state;
    check_split("rp-touch", "2026-06-20T01:00:00Z", 2, 2);
}

/* Two overlapping outages of one member are one failure in the
 * correlation too (as in its reliability), and no burst: a burst is
 * failures of different members. */
static void test_correlation_merges_overlapping_outages(void **state)
{
    (void)state;
    struct counts ovl = counts("rp-ovl", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z");
    assert_int_equal(ovl.failures, 1);
    int64_t from = t("2026-06-01T00:00:00Z"), to = t("2026-07-01T00:00:00Z");
    struct emp_group_data g;
    struct emp_error err = {0};
    const char *what = NULL;
    if (emp_group_load(F.db, "rp", from, to, t("2026-12-01T00:00:00Z"), NULL, NULL, &g, &what,
                       &err) != EMP_OK)
        fail_msg("group: %s: %s", err.msg, err.detail);
    struct emp_corr_result c;
    assert_int_equal(emp_group_correlation(&g, from, to, t("2026-12-01T00:00:00Z"), NULL, &c,
                                           &err),
                     EMP_OK);
    print_message("group rp in June: %zu failures, %zu bursts, largest %zu\n", c.n_failures,
                  c.n_bursts, c.largest_burst);
    /* rp-point 1, rp-repair 1, rp-touch 2, rp-ovl 1, rp-x 1 (rp-edge: none
     * in June) */
    assert_int_equal(c.n_failures, 6);
    assert_int_equal(c.n_bursts, 0);
    emp_corr_result_cleanup(&c);
    emp_group_data_free(&g);
}

/* An up period already running at the window's start is left-truncated:
 * observed from May, the 20 days up before rp-x's outage on June 11 are
 * not a 10-day time to failure of June. Its failure counts; the period is
 * no sample (truncated), and the one after the repair is censored by the
 * window's end. */
static void test_up_period_cut_by_from_is_truncated(void **state)
{
    (void)state;
    struct emp_target_row row;
    struct emp_reliability rel;
    struct emp_error err = {0};
    assert_int_equal(emp_report_target(F.db, "rp-x", NULL, t("2026-06-01T00:00:00Z"),
                                       t("2026-07-01T00:00:00Z"), t("2026-12-01T00:00:00Z"),
                                       &row, &rel, &err),
                     EMP_OK);
    print_message("rp-x over June: %zu failures, ttf completed %zu censored %zu truncated %zu,"
                  " p50 %.0f s\n", rel.failures, rel.ttf.n, rel.ttf.n_censored,
                  rel.ttf.n_truncated, rel.ttf.p50_s);
    assert_int_equal(rel.failures, 1);
    assert_int_equal(rel.ttf.n, 0);
    assert_int_equal(rel.ttf.n_truncated, 1);
    assert_int_equal(rel.ttf.n_censored, 1);
    assert_true(isnan(rel.ttf.p50_s));
    emp_reliability_cleanup(&rel);
    /* Over May to July the same period is whole: 41 days up, then the
     * failure. */
    assert_int_equal(emp_report_target(F.db, "rp-x", NULL, t("2026-05-01T00:00:00Z"),
                                       t("2026-08-01T00:00:00Z"), t("2026-12-01T00:00:00Z"),
                                       &row, &rel, &err),
                     EMP_OK);
    assert_int_equal(rel.ttf.n, 1);
    assert_int_equal(rel.ttf.n_truncated, 0);
    assert_true(rel.ttf.p50_s > 40 * 86400.0);
    emp_reliability_cleanup(&rel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_point_failure_at_from),
        cmocka_unit_test(test_repair_at_from),
        cmocka_unit_test(test_touching_outages_split_between),
        cmocka_unit_test(test_correlation_merges_overlapping_outages),
        cmocka_unit_test(test_up_period_cut_by_from_is_truncated),
    };
    return cmocka_run_group_tests_name("windows", tests, setup, teardown);
}
