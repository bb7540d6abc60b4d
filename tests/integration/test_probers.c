/* Probers sharing one PostgreSQL (EMPIRIC_TEST_DB), issue 14: the list of
 * probers with their latest run, last beat and whether they are alive
 * (probers, runs and beats written through the store functions), and the
 * poll that brings another prober's API-made targets into this one: the
 * change counter moves once per real change, and the sync adds, redefines
 * and removes what the store says, skipping the file's names and what the
 * policy refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/target.h"
#include "core/timeutil.h"
#include "ingest/writer.h"
#include "probes/kinds.h"
#include "probes/loop.h"
#include "probes/prober.h"
#include "service/probers.h"
#include "service/target.h"
#include "store/db.h"
#include "testdb.h"
#include "tests/support/target.h"

#ifndef EMPIRIC_SOURCE_SCHEMA_DIR
#error "EMPIRIC_SOURCE_SCHEMA_DIR must name the schema/ directory"
#endif

#define S EMP_US_PER_S

struct fx {
    struct testdb tdb;
    struct emp_db *db;
};
static struct fx F;

static int group_setup(void **state)
{
    (void)state;
    return testdb_create_migrated(&F.tdb, EMPIRIC_SOURCE_SCHEMA_DIR, &F.db);
}

static int group_teardown(void **state)
{
    (void)state;
    emp_db_close(F.db);
    testdb_drop(&F.tdb);
    return 0;
}

static const struct emp_prober_view *find(const struct emp_prober_view *v, size_t n,
                                          const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].row.name, name) == 0)
            return &v[i];
    fail_msg("no prober %s in the list", name);
    return NULL;
}

static void test_list_probers(void **state)
{
    (void)state;
    struct emp_error err = {0};
    int64_t now = emp_now_us();
    int64_t alive_us = (int64_t)EMP_PROBER_ALIVE_BEATS * EMP_HEARTBEAT_MS * EMP_US_PER_MS;
    int64_t a, b, c, d, run;
    assert_int_equal(emp_db_prober_register(F.db, "paris-1", "eu-west", &a, &err), EMP_OK);
    assert_int_equal(emp_db_prober_register(F.db, "ohio-1", "us-east", &b, &err), EMP_OK);
    assert_int_equal(emp_db_prober_register(F.db, "never", "", &c, &err), EMP_OK);
    assert_int_equal(emp_db_prober_register(F.db, "gone", "eu-west", &d, &err), EMP_OK);
    /* paris-1: an old run stopped, the current one beating. */
    assert_int_equal(emp_db_run_start(F.db, a, now - 3600 * S, &run, &err), EMP_OK);
    assert_int_equal(emp_db_run_stop(F.db, run, now - 3000 * S, &err), EMP_OK);
    int64_t a_run;
    assert_int_equal(emp_db_run_start(F.db, a, now - 60 * S, &a_run, &err), EMP_OK);
    assert_int_equal(emp_db_heartbeat(F.db, a_run, now - 2 * S, &err), EMP_OK);
    /* ohio-1: running, but its last beat older than the bound (killed). */
    int64_t b_run;
    assert_int_equal(emp_db_run_start(F.db, b, now - 600 * S, &b_run, &err), EMP_OK);
    assert_int_equal(emp_db_heartbeat(F.db, b_run, now - alive_us - S, &err), EMP_OK);
    /* gone: beat a moment ago, then stopped. */
    int64_t d_run;
    assert_int_equal(emp_db_run_start(F.db, d, now - 30 * S, &d_run, &err), EMP_OK);
    assert_int_equal(emp_db_run_stop(F.db, d_run, now - S, &err), EMP_OK);

    struct emp_prober_view *v = NULL;
    size_t n = 0;
    assert_int_equal(emp_probers_list(F.db, now, "paris-1", NULL, &v, &n, &err), EMP_OK);
    assert_int_equal(n, 4);
    /* By name. */
    assert_string_equal(v[0].row.name, "gone");
    assert_string_equal(v[3].row.name, "paris-1");

    const struct emp_prober_view *p = find(v, n, "paris-1");
    assert_string_equal(p->row.location, "eu-west");
    assert_int_equal(p->row.run.run_id, a_run); /* the latest run, not the first */
    assert_int_equal(p->row.run.started_at_us, now - 60 * S);
    assert_int_equal(p->row.run.last_beat_at_us, now - 2 * S);
    assert_int_equal(p->row.run.stopped_at_us, 0);
    assert_true(p->alive);
    assert_true(p->self);
    assert_false(p->has_lag); /* no prober given: no lag */

    p = find(v, n, "ohio-1");
    assert_string_equal(p->row.location, "us-east");
    assert_int_equal(p->row.run.run_id, b_run);
    assert_false(p->alive);
    assert_false(p->self);
    assert_false(p->has_lag);

    p = find(v, n, "never");
    assert_int_equal(p->row.run.run_id, 0);
    assert_string_equal(p->row.location, "");
    assert_false(p->alive);

    p = find(v, n, "gone");
    assert_int_equal(p->row.run.run_id, d_run);
    assert_int_equal(p->row.run.stopped_at_us, now - S);
    assert_false(p->alive); /* stopped, however recent its last beat */
    free(v);

    /* The bound itself: a beat exactly alive_us old still counts; one
     * ahead of the reader's clock too. */
    struct emp_run r = {.run_id = 1, .last_beat_at_us = now - alive_us};
    assert_true(emp_probers_alive(&r, now));
    r.last_beat_at_us = now - alive_us - 1;
    assert_false(emp_probers_alive(&r, now));
    r.last_beat_at_us = now + 30 * S;
    assert_true(emp_probers_alive(&r, now));

    /* With this process's prober: its lag is known, the others' not. */
    struct emp_config *cfg = NULL;
    assert_int_equal(emp_config_load_string("{\"prober\":{\"name\":\"ohio-1\"},\"targets\":[]}",
                                            "t.json", &emp_probe_kinds, &cfg, stderr, NULL),
                     EMP_OK);
    struct emp_loop *loop = emp_loop_new();
    assert_non_null(loop);
    struct emp_prober *pr = emp_prober_new(loop, cfg, NULL, NULL, NULL);
    assert_non_null(pr);
    assert_int_equal(emp_probers_list(F.db, now, cfg->prober_name, pr, &v, &n, &err), EMP_OK);
    assert_true(find(v, n, "ohio-1")->has_lag);
    assert_true(find(v, n, "ohio-1")->self);
    assert_false(find(v, n, "paris-1")->has_lag);
    assert_false(find(v, n, "paris-1")->self);
    free(v);
    emp_prober_free(pr);
    emp_loop_free(loop);
    emp_config_free(cfg);
}

/* The definition of a tcp target `name` on `host`:`port`, as the API
 * stores it, into `tc` (cleanup owed); a new string. */
static char *api_target(const char *name, const char *host, int port,
                        struct emp_target_config *tc)
{
    *tc = test_target("{\"name\":\"%s\",\"kind\":\"tcp\",\"host\":\"%s\",\"port\":%d,"
                      "\"interval_ms\":1000,\"timeout_ms\":500}",
                      name, host, port);
    json_t *j = emp_target_config_json(tc, false);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    assert_non_null(text);
    return text;
}

/* Store `name` as made through the API (as another prober's API would). */
static int64_t put(const char *name, const char *host, int port)
{
    struct emp_error err = {0};
    struct emp_target_config tc;
    char *text = api_target(name, host, port, &tc);
    int64_t id = 0;
    bool created;
    assert_int_equal(emp_db_api_target_put(F.db, &tc, text, false, &id, &created, &err), EMP_OK);
    emp_target_config_cleanup(&tc);
    free(text);
    return id;
}

static int64_t changes(void)
{
    struct emp_error err = {0};
    int64_t n = -1;
    assert_int_equal(emp_db_api_target_changes(F.db, &n, &err), EMP_OK);
    return n;
}

static void test_sync_api_targets(void **state)
{
    (void)state;
    struct emp_error err = {0};
    struct emp_config *cfg = NULL;
    assert_int_equal(
        emp_config_load_string("{\"prober\":{\"name\":\"b\"},\"targets\":[{\"name\":\"filed\","
                               "\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":1}]}",
                               "t.json", &emp_probe_kinds, &cfg, stderr, NULL),
        EMP_OK);
    int64_t ids[1];
    assert_int_equal(emp_db_sync_targets(F.db, cfg, ids, &err), EMP_OK);
    struct emp_loop *loop = emp_loop_new();
    assert_non_null(loop);
    struct emp_prober *p = emp_prober_new(loop, cfg, ids, NULL, NULL);
    assert_non_null(p);
    struct emp_target_sync *s = emp_target_sync_new(cfg, p);
    assert_non_null(s);

    size_t probed = 99;
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 0);
    assert_int_equal(emp_prober_count(p), 1);

    /* The counter moves once per change, not for a definition stored
     * again as it was, nor for the file's targets synced again. */
    int64_t c0 = changes();
    int64_t x = put("x", "127.0.0.1", 7001);
    assert_int_equal(changes(), c0 + 1);
    put("x", "127.0.0.1", 7001);
    assert_int_equal(changes(), c0 + 1);
    assert_int_equal(emp_db_sync_targets(F.db, cfg, ids, &err), EMP_OK);
    assert_int_equal(changes(), c0 + 1);

    /* Made elsewhere: added. */
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 1);
    assert_int_equal(emp_prober_count(p), 2);
    /* Nothing changed: nothing done. */
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 1);
    assert_int_equal(emp_prober_count(p), 2);

    /* Redefined: still one target, under the same id. */
    assert_int_equal(put("x", "127.0.0.1", 7002), x);
    assert_int_equal(changes(), c0 + 2);
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 1);
    assert_int_equal(emp_prober_count(p), 2);

    /* A name this prober's file defines (another prober's API took the
     * row): the file's definition stays, nothing added. And one that
     * api.target_policy refuses (link-local, the cloud metadata address):
     * not probed. */
    assert_int_equal(put("filed", "127.0.0.1", 7003), ids[0]);
    put("meta", "169.254.169.254", 80);
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 1);
    assert_int_equal(emp_prober_count(p), 2);

    /* Redefined into what the policy refuses: no longer probed. */
    put("x", "169.254.169.254", 80);
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 0);
    assert_int_equal(emp_prober_count(p), 1);
    /* And back. */
    put("x", "127.0.0.1", 7004);
    put("y", "127.0.0.1", 7005);
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 2);
    assert_int_equal(emp_prober_count(p), 3);

    /* Removed elsewhere: removed here. */
    int64_t rid;
    assert_int_equal(emp_db_api_target_remove(F.db, "x", &rid, &err), EMP_OK);
    assert_int_equal(rid, x);
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 1);
    assert_int_equal(emp_prober_count(p), 2);

    assert_int_equal(emp_db_api_target_remove(F.db, "y", &rid, &err), EMP_OK);
    assert_int_equal(emp_target_sync_poll(s, F.db, &probed, &err), EMP_OK);
    assert_int_equal(probed, 0);
    assert_int_equal(emp_prober_count(p), 1);

    emp_target_sync_free(s);
    emp_prober_free(p);
    emp_loop_free(loop);
    emp_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_probers),
        cmocka_unit_test(test_sync_api_targets),
    };
    return cmocka_run_group_tests_name("probers", tests, group_setup, group_teardown);
}
