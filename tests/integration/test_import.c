/* `empiric import` against a real PostgreSQL (EMPIRIC_TEST_DB): history
 * targets, outages and coverage spans written in one transaction, importing
 * twice adds nothing, a failure keeps nothing, existing targets are left to
 * their owner; the command's exit statuses; and the real LANL failure data
 * (tests/data): row counts, the skipped-row report, idempotence, and per
 * System the MTTR and failure bursts computed in SQL from what was stored,
 * against lanl_reference.txt (written by lanl_reference.py, in Python). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "ingest/import.h"
#include "service/report.h"
#include "testdb.h"
#include "core/timeutil.h"

#ifndef EMPIRIC_SOURCE_SCHEMA_DIR
#error "EMPIRIC_SOURCE_SCHEMA_DIR must name the schema/ directory"
#endif
#define SCHEMA EMPIRIC_SOURCE_SCHEMA_DIR
/* In the repository, with its provenance (tests/data/README.md). */
#define LANL_XZ SCHEMA "/../tests/data/lanl-failures-1996-2005.csv.xz"
#define LANL_REF SCHEMA "/../tests/integration/lanl_reference.txt"

#if defined(__SANITIZE_ADDRESS__)
#define LANL_MAX_S 60.0 /* sanitizers slow everything down */
#else
#define LANL_MAX_S 5.0
#endif

struct fx {
    struct testdb tdb;
    struct emp_db *db;
    PGconn *pq;
};
static struct fx F;

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    if (testdb_create_migrated(&F.tdb, SCHEMA, &F.db) != 0)
        return -1;
    F.pq = testdb_pq(&F.tdb);
    return F.pq != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(F.pq);
    emp_db_close(F.db);
    testdb_drop(&F.tdb);
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long q(const char *sql)
{
    return testdb_scalar(F.pq, sql);
}

/* Read `text` under `o`; the import must succeed. */
static struct emp_import *read_text(const char *text, struct emp_import_opts o)
{
    struct emp_import *imp = NULL;
    struct emp_error err = {0};
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    if (emp_import_read(f, &o, &imp, &err) != EMP_OK)
        fail_msg("read: %s: %s", err.msg, err.detail);
    fclose(f);
    return imp;
}

static struct emp_import_stats store(const struct emp_import *imp)
{
    struct emp_import_stats st;
    struct emp_error err = {0};
    if (emp_db_import(F.db, imp, &st, &err) != EMP_OK)
        fail_msg("import: %s: %s", err.msg, err.detail);
    return st;
}

static int64_t t(const char *rfc3339)
{
    int64_t us = 0;
    assert_int_equal(emp_time_parse(rfc3339, &us), EMP_OK);
    return us;
}

/* ---- small files ----------------------------------------------------- */

static const char *const SMALL =
    "target,start,end,cause\n"
    "web,2025-01-01T00:00:00Z,2025-01-01T00:10:00.123456Z,\"timeout, then \"\"502\"\"\"\n"
    "web,2025-01-02T00:00:00Z,,point failure\n"
    "db,2025-01-01T12:00:00Z,2025-01-01T13:00:00Z,\n"
    "db,2025-01-03T00:00:00Z,2025-01-02T00:00:00Z,end before start\n";

static void test_import_small(void **state)
{
    (void)state;
    struct emp_import_opts o = {.group = "shop"};
    struct emp_import *imp = read_text(SMALL, o);
    assert_int_equal(imp->n_rows, 3);
    assert_int_equal(imp->n_skipped, 1);
    struct emp_import_stats st = store(imp);
    assert_int_equal(st.outages_new, 3);
    assert_int_equal(st.outages_present, 0);
    assert_int_equal(st.targets_new, 2);
    assert_int_equal(st.targets_existing, 0);

    assert_int_equal(q("SELECT count(*) FROM targets WHERE kind = 'history' AND grp = 'shop'"), 2);
    assert_int_equal(q("SELECT count(*) FROM probers WHERE name = 'import'"), 1);
    assert_int_equal(q("SELECT count(*) FROM outages o JOIN probers p ON p.id = o.prober_id"
                       " WHERE p.name = 'import' AND o.err_class = 'import'"),
                     3);
    assert_int_equal(q("SELECT count(*) FROM outages WHERE message = 'timeout, then \"502\"'"), 1);

    int64_t web = 0, db = 0;
    struct emp_error err = {0};
    assert_int_equal(emp_db_find_target(F.db, "web", &web, &err), EMP_OK);
    assert_int_equal(emp_db_find_target(F.db, "db", &db, &err), EMP_OK);
    struct emp_outage *out = NULL;
    size_t n = 0;
    int64_t from = t("2024-01-01T00:00:00Z"), to = t("2026-01-01T00:00:00Z");
    assert_int_equal(emp_db_list_outages(F.db, web, from, to, &out, &n, &err), EMP_OK);
    assert_int_equal(n, 2);
    /* Newest first: the point failure ends where it starts. */
    assert_int_equal(out[0].started_at_us, t("2025-01-02T00:00:00Z"));
    assert_int_equal(out[0].ended_at_us, out[0].started_at_us);
    assert_int_equal(out[1].ended_at_us, t("2025-01-01T00:10:00.123456Z"));
    free(out);

    /* One group: both targets observed from the group's first start to its
     * last end, exactly (no grace). */
    struct emp_span *sp = NULL;
    assert_int_equal(emp_db_list_spans(F.db, db, from, to, &sp, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp[0].started_at_us, t("2025-01-01T00:00:00Z"));
    assert_int_equal(sp[0].ended_at_us, t("2025-01-02T00:00:00Z"));
    assert_int_equal(sp[0].grace_us, 0);
    free(sp);

    /* Twice: nothing new. */
    st = store(imp);
    assert_int_equal(st.outages_new, 0);
    assert_int_equal(st.outages_present, 3);
    assert_int_equal(st.targets_new, 0);
    assert_int_equal(st.targets_existing, 2);
    assert_int_equal(q("SELECT count(*) FROM outages"), 3);
    assert_int_equal(q("SELECT count(*) FROM spans"), 2);
    emp_import_free(imp);

    /* A later file of the same group extends what is known; its older
     * rows stay as they were. */
    imp = read_text("target,start,end\n"
                    "web,2025-01-01T00:00:00Z,2025-01-01T05:00:00Z\n"
                    "web,2025-01-05T00:00:00Z,2025-01-05T01:00:00Z\n",
                    o);
    st = store(imp);
    assert_int_equal(st.outages_new, 1);
    assert_int_equal(st.outages_present, 1);
    assert_int_equal(q("SELECT count(*) FROM outages WHERE ended_at ="
                       " '2025-01-01T00:10:00.123456Z'"),
                     1);
    assert_int_equal(q("SELECT count(*) FROM spans WHERE ended_at = '2025-01-05T01:00:00Z'"), 1);
    emp_import_free(imp);
}

/* A target that never failed: a row with start and end empty names it, and
 * --observed-from/--observed-to say when every target was watched, so that
 * "no failure in a year" is a year up, not nothing at all. A row outside
 * the period is skipped; without a period, the quiet target exists but was
 * observed by no rule (under coverage "target": no span, its time
 * unknown). */
static void test_import_target_without_outages(void **state)
{
    (void)state;
    static const char *const text = "target,start,end\n"
                                     "quiet,,\n"
                                     "busy,2025-03-01T00:00:00Z,2025-03-01T01:00:00Z\n"
                                     "busy,2024-12-31T23:00:00Z,2025-01-01T00:30:00Z\n";
    struct emp_import_opts o = {.group = "q", .observed_from_us = t("2025-01-01T00:00:00Z"),
                                .observed_to_us = t("2026-01-01T00:00:00Z")};
    struct emp_import *imp = read_text(text, o);
    assert_int_equal(imp->n_targets, 2);
    assert_int_equal(imp->n_rows, 1);
    assert_int_equal(imp->n_declared, 1);
    assert_int_equal(imp->n_skipped, 1); /* the row before the period */
    struct emp_import_stats st = store(imp);
    assert_int_equal(st.targets_new, 2);
    emp_import_free(imp);

    struct emp_target_row row;
    struct emp_reliability rel;
    struct emp_error err = {0};
    assert_int_equal(emp_report_target(F.db, "quiet", NULL, t("2025-01-01T00:00:00Z"),
                                       t("2026-01-01T00:00:00Z"), t("2026-06-01T00:00:00Z"),
                                       &row, &rel, &err),
                     EMP_OK);
    assert_int_equal(rel.failures, 0);
    assert_int_equal(rel.uptime.up_us, 365 * 86400 * INT64_C(1000000));
    assert_int_equal(rel.uptime.unknown_us, 0);
    emp_reliability_cleanup(&rel);
    assert_int_equal(emp_report_target(F.db, "busy", NULL, t("2025-01-01T00:00:00Z"),
                                       t("2026-01-01T00:00:00Z"), t("2026-06-01T00:00:00Z"),
                                       &row, &rel, &err),
                     EMP_OK);
    assert_int_equal(rel.failures, 1);
    assert_int_equal(rel.uptime.down_us, 3600 * INT64_C(1000000));
    emp_reliability_cleanup(&rel);

    /* No period, coverage per target: "lonely" is a target, observed by
     * no rule. */
    struct emp_import_opts o2 = {.coverage = EMP_COVERAGE_TARGET};
    imp = read_text("target,start,end\nlonely,,\n", o2);
    assert_int_equal(imp->n_targets, 1);
    assert_true(imp->targets[0].span_start_us > imp->targets[0].span_end_us);
    store(imp);
    emp_import_free(imp);
    assert_int_equal(q("SELECT count(*) FROM targets WHERE name = 'lonely'"), 1);
    assert_int_equal(q("SELECT count(*) FROM spans s JOIN targets x ON x.id = s.target_id"
                       " WHERE x.name = 'lonely'"),
                     0);

    /* Half a period is a mistake. */
    struct emp_import_opts bad = {.observed_from_us = t("2025-01-01T00:00:00Z")};
    struct emp_error e2 = {0};
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_int_equal(emp_import_read(f, &bad, &imp, &e2), EMP_EINVAL);
    fclose(f);
    assert_non_null(strstr(e2.msg, "--observed-to"));
}

/* Targets without a group are each observed over their own rows: after
 * "early"'s last row nothing is known of it, however late "late"'s rows
 * run (before, the whole file's span made that time up). */
static void test_import_own_periods(void **state)
{
    (void)state;
    struct emp_import_opts o = {0};
    struct emp_import *imp = read_text("target,start,end\n"
                                       "early,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z\n"
                                       "early,2025-01-10T00:00:00Z,2025-01-10T00:05:00Z\n"
                                       "late,2025-03-01T00:00:00Z,2025-03-02T00:00:00Z\n",
                                       o);
    store(imp);
    emp_import_free(imp);
    assert_int_equal(q("SELECT count(*) FROM spans s JOIN targets x ON x.id = s.target_id"
                       " WHERE x.name = 'early' AND s.started_at = '2025-01-01T00:00:00Z'"
                       " AND s.ended_at = '2025-01-10T00:05:00Z'"),
                     1);
    assert_int_equal(q("SELECT count(*) FROM spans s JOIN targets x ON x.id = s.target_id"
                       " WHERE x.name = 'late' AND s.started_at = '2025-03-01T00:00:00Z'"
                       " AND s.ended_at = '2025-03-02T00:00:00Z'"),
                     1);
    assert_int_equal(q("SELECT count(*) FROM spans"), 2);

    /* February: after early's last row, before late's first. */
    struct emp_target_row row;
    struct emp_reliability rel;
    struct emp_error err = {0};
    int64_t from = t("2025-02-01T00:00:00Z"), to = t("2025-03-01T00:00:00Z");
    assert_int_equal(emp_report_target(F.db, "early", NULL, from, to, t("2026-01-01T00:00:00Z"), &row,
                                       &rel, &err),
                     EMP_OK);
    assert_int_equal(rel.uptime.up_us, 0);
    assert_int_equal(rel.uptime.down_us, 0);
    assert_int_equal(rel.uptime.unknown_us, to - from);
    emp_reliability_cleanup(&rel);
}

/* The import waits at most a few seconds for a lock (another import, a
 * migration), then says so and writes nothing; it does not queue behind
 * it for as long as that takes. */
static void test_import_lock_timeout(void **state)
{
    (void)state;
    /* A connection of its own, with a statement timeout so that an import
     * without a lock timeout fails here instead of hanging the test. */
    char conninfo[4096];
    snprintf(conninfo, sizeof conninfo, "%s options='-c statement_timeout=20000'",
             F.tdb.conninfo);
    struct emp_db *db = NULL;
    struct emp_error err = {0};
    assert_int_equal(emp_db_connect(conninfo, &db, &err), EMP_OK);
    struct emp_import_opts o = {0};
    struct emp_import *imp = read_text(SMALL, o);

    PGresult *r = PQexec(F.pq, "BEGIN; LOCK TABLE outages IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    struct emp_import_stats st;
    double t0 = mono_s();
    enum emp_err rc = emp_db_import(db, imp, &st, &err);
    double waited = mono_s() - t0;
    print_message("    import under a held lock: %s after %.1f s: %s: %s\n", emp_strerror(rc),
                  waited, err.msg, err.detail);
    assert_int_equal(rc, EMP_EAGAIN);
    assert_true(waited < 10.0);
    assert_non_null(strstr(err.msg, "holds a lock"));
    assert_non_null(strstr(err.detail, "try again"));
    r = PQexec(F.pq, "ROLLBACK");
    PQclear(r);
    assert_int_equal(q("SELECT count(*) FROM targets"), 0);

    /* Free again: the same connection imports. */
    st = store(imp);
    assert_int_equal(st.outages_new, 3);
    emp_import_free(imp);
    emp_db_close(db);
}

static void test_import_existing_targets(void **state)
{
    (void)state;
    /* A probed target owned by the configuration. */
    PGresult *r = PQexec(F.pq, "INSERT INTO targets (name, kind, grp, interval_ms, timeout_ms,"
                               " fail_threshold, recover_threshold)"
                               " VALUES ('web', 'http', 'prod', 1000, 500, 2, 1)");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    struct emp_import_opts o = {.group = "old"};
    struct emp_import *imp = read_text(SMALL, o);
    struct emp_import_stats st = store(imp);
    emp_import_free(imp);
    assert_int_equal(st.targets_new, 1);
    assert_int_equal(st.targets_existing, 1);
    assert_int_equal(st.outages_new, 3);
    assert_int_equal(q("SELECT count(*) FROM targets WHERE name = 'web' AND kind = 'http'"
                       " AND grp = 'prod'"),
                     1);
    assert_int_equal(q("SELECT count(*) FROM targets WHERE name = 'db' AND kind = 'history'"
                       " AND grp = 'old'"),
                     1);
    /* A history target follows the group a later file gives it; no group
     * in the file leaves it where it is. */
    o.group = "new";
    imp = read_text(SMALL, o);
    st = store(imp);
    emp_import_free(imp);
    assert_int_equal(st.targets_new, 0);
    assert_int_equal(q("SELECT count(*) FROM targets WHERE grp = 'new'"), 1);
    assert_int_equal(q("SELECT count(*) FROM targets WHERE grp = 'prod'"), 1);
    o.group = NULL;
    imp = read_text(SMALL, o);
    st = store(imp);
    emp_import_free(imp);
    assert_int_equal(q("SELECT count(*) FROM targets WHERE grp = 'new'"), 1);
    assert_int_equal(q("SELECT count(*) FROM outages"), 3);
}

static void test_import_failure_keeps_nothing(void **state)
{
    (void)state;
    struct emp_import_opts o = {0};
    struct emp_import *imp = read_text(SMALL, o);
    /* Corrupt the last row behind the reader's back: the outages CHECK
     * rejects it after targets and the prober were written. */
    imp->rows[imp->n_rows - 1].end_us = imp->rows[imp->n_rows - 1].start_us - 1;
    struct emp_import_stats st;
    struct emp_error err = {0};
    assert_int_equal(emp_db_import(F.db, imp, &st, &err), EMP_EINVAL);
    assert_int_equal(st.outages_new, 0);
    assert_int_equal(q("SELECT count(*) FROM targets"), 0);
    assert_int_equal(q("SELECT count(*) FROM probers"), 0);
    assert_int_equal(q("SELECT count(*) FROM outages"), 0);
    assert_true(emp_db_ok(F.db));
    /* The connection is usable afterwards. */
    imp->rows[imp->n_rows - 1].end_us = imp->rows[imp->n_rows - 1].start_us;
    st = store(imp);
    assert_int_equal(st.outages_new, 3);
    emp_import_free(imp);
    /* An empty import writes nothing at all. */
    imp = read_text("target,start\n", o);
    st = store(imp);
    assert_int_equal(st.outages_new, 0);
    emp_import_free(imp);
}

/* ---- the command ----------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Run `empiric import ARGS` (built next to this test) in tmpdir; returns
 * the exit status, stdout and stderr in tmpdir/out and tmpdir/err. */
static int run_cli(const char *args)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    assert_non_null(slash);
    *slash = '\0';
    char bin[PATH_MAX + 16];
    snprintf(bin, sizeof bin, "%s/empiric", self);
    if (access(bin, X_OK) != 0)
        fail_msg("%s not found: build the empiric target first", bin);
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' import %s >out 2>err", tmpdir, bin, args);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static char *slurp(const char *name)
{
    static char buf[8192];
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static void test_import_cli(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/empiric-import-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    setenv("EMPIRIC_DB", F.tdb.conninfo, 1);
    write_file("good.csv", "target,start,end\napi,2025-01-01T00:00:00Z,2025-01-01T00:01:00Z\n");
    write_file("bad.csv", SMALL);
    write_file("lanl.csv", "System,nodenum,Prob Started,Prob Fixed\n"
                           "2,0,6/21/2005 10:54,6/21/2005 11:00\n");

    /* --strict with a bad row: exit 1, nothing written. */
    assert_int_equal(run_cli("--strict bad.csv"), 1);
    contains(slurp("err"), "bad.csv:5: end 2025-01-02T00:00:00Z is before start");
    contains(slurp("err"), "1 bad row; nothing written (--strict)");
    assert_int_equal(q("SELECT count(*) FROM outages"), 0);
    /* --dry-run writes nothing either. */
    assert_int_equal(run_cli("--dry-run good.csv"), 0);
    assert_int_equal(q("SELECT count(*) FROM targets"), 0);
    /* Clean: 0. */
    assert_int_equal(run_cli("good.csv"), 0);
    contains(slurp("out"), "outages imported   1\n");
    /* Rows skipped: 3, the rest imported. */
    assert_int_equal(run_cli("bad.csv"), 3);
    contains(slurp("out"), "outages imported   3\n");
    contains(slurp("out"), "skipped rows       1\n");
    /* Again, from stdin: nothing new. */
    assert_int_equal(run_cli("- < bad.csv"), 3);
    contains(slurp("out"), "outages imported   0\n");
    contains(slurp("out"), "already present    3\n");
    contains(slurp("out"), "file               <stdin>\n");
    assert_int_equal(q("SELECT count(*) FROM outages"), 4);
    /* Local times with a zone; the options may come in any order. */
    assert_int_equal(run_cli("lanl.csv --tz America/Denver --target-col System,nodenum"
                             " --group-col System --start-col 'Prob Started'"
                             " --end-col 'Prob Fixed' --time-format '%m/%d/%Y %H:%M'"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM outages o JOIN targets t ON t.id = o.target_id"
                       " WHERE t.name = '2-0' AND t.grp = '2'"
                       " AND o.started_at = '2005-06-21T16:54:00Z'"),
                     1);
    /* A target without outages over a stated period. */
    write_file("quiet.csv", "target,start,end\nquiet-cli,,\n");
    assert_int_equal(run_cli("quiet.csv --group q --observed-from 2026-01-01T00:00:00Z"
                             " --observed-to 2026-02-01T00:00:00Z"),
                     0);
    contains(slurp("out"), "targets w/o outage 1\n");
    contains(slurp("out"), "coverage           the given period\n");
    assert_int_equal(q("SELECT count(*) FROM spans s JOIN targets t ON t.id = s.target_id"
                       " WHERE t.name = 'quiet-cli' AND s.started_at = '2026-01-01T00:00:00Z'"
                       " AND s.ended_at = '2026-02-01T00:00:00Z'"),
                     1);
    assert_int_equal(run_cli("quiet.csv --observed-from soon --observed-to later"), 2);
    contains(slurp("err"), "--observed-from: expected an RFC 3339 time");
    assert_int_equal(run_cli("quiet.csv --observed-from 2026-01-01T00:00:00Z"), 1);
    contains(slurp("err"), "--observed-to");
    /* A row dated in the future (a placeholder for "not yet", or a wrong
     * format): the file is refused with the row's line, nothing written. */
    long long outages = q("SELECT count(*) FROM outages");
    write_file("future.csv", "target,start,end\n"
                             "fut-a,2025-01-01T00:00:00Z,2025-01-01T00:01:00Z\n"
                             "fut-b,9999-12-31T00:00:00Z,\n");
    assert_int_equal(run_cli("future.csv"), 1);
    contains(slurp("err"), "future.csv:3: start 9999-12-31T00:00:00Z is in the future");
    contains(slurp("err"), "line 3");
    assert_int_equal(q("SELECT count(*) FROM outages"), outages);
    assert_int_equal(q("SELECT count(*) FROM targets WHERE name LIKE 'fut-%'"), 0);
    /* Errors: 1; usage: 2. */
    assert_int_equal(run_cli("missing.csv"), 1);
    contains(slurp("err"), "could not open \"missing.csv\"");
    assert_int_equal(run_cli("--target-col host good.csv"), 1);
    contains(slurp("err"), "--target-col: no column \"host\" in the header");
    assert_int_equal(run_cli("--tz Nowhere/Special good.csv"), 1);
    contains(slurp("err"), "unknown time zone");
    assert_int_equal(run_cli(""), 2);
    assert_int_equal(run_cli("a.csv b.csv"), 2);
    assert_int_equal(run_cli("--coverage all good.csv"), 2);
    assert_int_equal(run_cli("--no-such-option good.csv"), 2);
    assert_int_equal(run_cli("--help"), 0);
    contains(slurp("out"), "Exit status");
    /* A database that is not there: 1. */
    setenv("EMPIRIC_DB", "host=127.0.0.1 port=1 connect_timeout=2", 1);
    assert_int_equal(run_cli("good.csv"), 1);
    unsetenv("EMPIRIC_DB");

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* ---- LANL ------------------------------------------------------------ */

struct lanl_reports {
    size_t n, empty_node, dups;
    long first_empty, last_empty;
};

static void lanl_report(void *arg, long line, const char *msg)
{
    struct lanl_reports *r = arg;
    r->n++;
    if (strcmp(msg, "target column \"nodenum\" is empty; row skipped") == 0) {
        if (r->empty_node++ == 0)
            r->first_empty = line;
        r->last_empty = line;
    } else if (strstr(msg, "same target and start as line") != NULL) {
        r->dups++;
    } else {
        print_message("    unexpected report: line %ld: %s\n", line, msg);
    }
}

static const struct emp_import_opts LANL_OPTS = {
    .target_cols = "System,nodenum",
    .group_cols = "System",
    .start_col = "Prob Started",
    .end_col = "Prob Fixed",
    .cause_cols = "Facilities,Hardware,Human Error,Network,Undetermined,Software",
    .time_format = "%m/%d/%Y %H:%M",
    .tz = "America/Denver",
};

static struct emp_import *read_lanl(struct lanl_reports *rep)
{
    if (access(LANL_XZ, R_OK) != 0)
        fail_msg("the LANL data is missing: %s (tests/data/README.md says what it is)",
                 LANL_XZ);
    FILE *f = popen("xz -dc '" LANL_XZ "'", "r");
    assert_non_null(f);
    struct emp_import_opts o = LANL_OPTS;
    o.report = lanl_report;
    o.report_arg = rep;
    struct emp_import *imp = NULL;
    struct emp_error err = {0};
    enum emp_err rc = emp_import_read(f, &o, &imp, &err);
    int st = pclose(f);
    if (st != 0)
        fail_msg("xz -dc failed (status %d): is xz-utils installed?", st);
    if (rc != EMP_OK)
        fail_msg("read: %s: %s", err.msg, err.detail);
    return imp;
}

struct ref_group {
    char name[16];
    long long targets, outages, repair_sum, bursts, in_bursts, largest, span_a, span_z;
    double mttr;
};

struct ref {
    long long rows_read, skipped, skipped_first, skipped_last, duplicates, outages, targets,
        groups;
    struct ref_group g[64];
    size_t n;
};

static void read_ref(struct ref *r)
{
    memset(r, 0, sizeof *r);
    FILE *f = fopen(LANL_REF, "r");
    if (f == NULL)
        fail_msg("cannot open %s", LANL_REF);
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        struct ref_group *g = &r->g[r->n];
        if (line[0] == '#')
            continue;
        if (sscanf(line, "group %15s %lld %lld %lld %lf %lld %lld %lld %lld %lld", g->name,
                   &g->targets, &g->outages, &g->repair_sum, &g->mttr, &g->bursts,
                   &g->in_bursts, &g->largest, &g->span_a, &g->span_z) == 10) {
            assert_true(++r->n < 64);
            continue;
        }
        sscanf(line, "rows_read %lld", &r->rows_read);
        sscanf(line, "skipped %lld", &r->skipped);
        sscanf(line, "skipped_lines %lld %lld", &r->skipped_first, &r->skipped_last);
        sscanf(line, "duplicates %lld", &r->duplicates);
        sscanf(line, "outages %lld", &r->outages);
        sscanf(line, "targets %lld", &r->targets);
        sscanf(line, "groups %lld", &r->groups);
    }
    fclose(f);
    assert_true(r->n > 0);
}

/* Per group, from what the store holds: members, outages, repair time
 * (sum and mean), bursts (an outage joins the current burst when it starts
 * less than 120 s after the previous start in the group; two or more make a
 * burst; ties broken by id so the running sum is deterministic), and the
 * imported coverage span. */
static const char *const GROUP_SQL =
    "WITH o AS ("
    "  SELECT t.grp, o.id, o.target_id, emp_us(o.started_at) / 1000000 AS s,"
    "         emp_us(o.ended_at) / 1000000 AS e"
    "  FROM outages o JOIN targets t ON t.id = o.target_id"
    "  JOIN probers p ON p.id = o.prober_id WHERE p.name = 'import'),"
    " f AS ("
    "  SELECT grp, s, id, CASE WHEN s - lag(s) OVER (PARTITION BY grp ORDER BY s, id) < 120"
    "                     THEN 0 ELSE 1 END AS first FROM o),"
    " b AS (SELECT grp, sum(first) OVER (PARTITION BY grp ORDER BY s, id) AS burst FROM f),"
    " bs AS (SELECT grp, burst, count(*) AS size FROM b GROUP BY grp, burst),"
    " ab AS (SELECT grp, count(*) FILTER (WHERE size >= 2) AS bursts,"
    "        coalesce(sum(size) FILTER (WHERE size >= 2), 0) AS in_bursts,"
    "        coalesce(max(size) FILTER (WHERE size >= 2), 0) AS largest FROM bs GROUP BY grp),"
    " ao AS (SELECT grp, count(DISTINCT target_id) AS targets, count(*) AS outages,"
    "        sum(e - s) AS repair, avg(e - s) AS mttr FROM o GROUP BY grp),"
    " sp AS (SELECT t.grp, min(emp_us(sp.started_at)) / 1000000 AS a,"
    "        max(emp_us(sp.ended_at)) / 1000000 AS z,"
    "        count(DISTINCT (sp.started_at, sp.ended_at)) AS distinct_spans, count(*) AS spans"
    "        FROM spans sp JOIN targets t ON t.id = sp.target_id"
    "        JOIN probers p ON p.id = sp.prober_id WHERE p.name = 'import' GROUP BY t.grp)"
    " SELECT ao.grp, targets, outages, repair, mttr, bursts, in_bursts, largest, a, z,"
    "        distinct_spans, spans"
    " FROM ao JOIN ab USING (grp) JOIN sp USING (grp) ORDER BY ao.grp";

static void check_groups(const struct ref *ref)
{
    PGresult *res = PQexec(F.pq, GROUP_SQL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s", PQresultErrorMessage(res));
    assert_int_equal((size_t)PQntuples(res), ref->n);
    for (int i = 0; i < PQntuples(res); i++) {
        const struct ref_group *g = NULL;
        for (size_t k = 0; k < ref->n; k++)
            if (strcmp(ref->g[k].name, PQgetvalue(res, i, 0)) == 0)
                g = &ref->g[k];
        if (g == NULL)
            fail_msg("group %s is not in the reference", PQgetvalue(res, i, 0));
        long long v[12];
        for (int c = 1; c < 12; c++)
            v[c] = c == 4 ? 0 : strtoll(PQgetvalue(res, i, c), NULL, 10);
        double mttr = strtod(PQgetvalue(res, i, 4), NULL);
        if (v[1] != g->targets || v[2] != g->outages || v[3] != g->repair_sum ||
            v[5] != g->bursts || v[6] != g->in_bursts || v[7] != g->largest ||
            v[8] != g->span_a || v[9] != g->span_z || fabs(mttr - g->mttr) > 1e-6 * g->mttr)
            fail_msg("group %s: store has targets %lld outages %lld repair %lld mttr %.6f"
                     " bursts %lld in_bursts %lld largest %lld span %lld..%lld;"
                     " reference %lld %lld %lld %.6f %lld %lld %lld %lld..%lld",
                     g->name, v[1], v[2], v[3], mttr, v[5], v[6], v[7], v[8], v[9], g->targets,
                     g->outages, g->repair_sum, g->mttr, g->bursts, g->in_bursts, g->largest,
                     g->span_a, g->span_z);
        /* Coverage per group: every member has the group's one span. */
        assert_int_equal(v[10], 1);
        assert_int_equal(v[11], g->targets);
    }
    PQclear(res);
}

static void test_import_lanl(void **state)
{
    (void)state;
    struct ref ref;
    read_ref(&ref);

    struct lanl_reports rep = {0};
    double t0 = mono_s();
    struct emp_import *imp = read_lanl(&rep);
    double t1 = mono_s();
    struct emp_import_stats st = store(imp);
    double t2 = mono_s();

    assert_int_equal(imp->n_read, ref.rows_read);
    assert_int_equal(imp->n_skipped, ref.skipped);
    assert_int_equal(imp->n_duplicates, ref.duplicates);
    assert_int_equal(imp->n_rows, ref.outages);
    assert_int_equal(imp->n_targets, ref.targets);
    /* The report: one line per skipped row (all of system 17, which has no
     * node numbers) and per duplicate, nothing else. */
    assert_int_equal(rep.empty_node, ref.skipped);
    assert_int_equal(rep.first_empty, ref.skipped_first);
    assert_int_equal(rep.last_empty, ref.skipped_last);
    assert_int_equal(rep.dups, ref.duplicates);
    assert_int_equal(rep.n, ref.skipped + ref.duplicates);

    assert_int_equal(st.outages_new, ref.outages);
    assert_int_equal(st.outages_present, 0);
    assert_int_equal(st.targets_new, ref.targets);
    assert_int_equal(q("SELECT count(*) FROM outages"), ref.outages);
    assert_int_equal(q("SELECT count(*) FROM targets WHERE kind = 'history'"), ref.targets);
    assert_int_equal(q("SELECT count(DISTINCT grp) FROM targets"), ref.groups);
    assert_int_equal(q("SELECT count(*) FROM outages WHERE message = 'Hardware: Graphics Accel Hdwr'"
                       " AND started_at = '2005-06-21T16:54:00Z'"),
                     1);
    check_groups(&ref);

    /* Again: nothing new, nothing changed. */
    memset(&rep, 0, sizeof rep);
    double t3 = mono_s();
    struct emp_import *again = read_lanl(&rep);
    struct emp_import_stats st2 = store(again);
    double t4 = mono_s();
    assert_int_equal(st2.outages_new, 0);
    assert_int_equal(st2.outages_present, ref.outages);
    assert_int_equal(st2.targets_new, 0);
    assert_int_equal(q("SELECT count(*) FROM outages"), ref.outages);
    assert_int_equal(q("SELECT count(*) FROM spans"), ref.targets);
    check_groups(&ref);

    print_message("    LANL import: %zu rows, %zu outages, %zu targets: read %.3f s,"
                  " database %.3f s, total %.3f s; second import %.3f s\n",
                  imp->n_read, st.outages_new, imp->n_targets, t1 - t0, t2 - t1, t2 - t0,
                  t4 - t3);
    assert_true(t2 - t0 < LANL_MAX_S);
    emp_import_free(imp);
    emp_import_free(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_target_without_outages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_own_periods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_lock_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_existing_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_failure_keeps_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_lanl, setup, teardown),
    };
    return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
