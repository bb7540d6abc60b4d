/* The API's tokens and targets in a real PostgreSQL (EMPIRIC_TEST_DB):
 * only a token's SHA-256 is stored, names are unique, use is noted,
 * revocation deletes; targets made through the API are created once,
 * replaced, removed with their history kept, revived, and taken back by a
 * configuration file that defines the same name. Strings meant to break
 * SQL are stored as the data they are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store/db.h"
#include "config/target.h"
#include "testdb.h"
#include "core/timeutil.h"
#include "service/token.h"
#include "tests/support/target.h"

#ifndef EMPIRIC_SOURCE_SCHEMA_DIR
#error "EMPIRIC_SOURCE_SCHEMA_DIR must name the schema/ directory"
#endif

struct fx {
    struct testdb tdb;
    struct emp_db *db;
    PGconn *pq;
};
static struct fx F;

static int group_setup(void **state)
{
    (void)state;
    if (testdb_create_migrated(&F.tdb, EMPIRIC_SOURCE_SCHEMA_DIR, &F.db) != 0)
        return -1;
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

/* The number of rows of `sql` with one text parameter. */
static long long count1(const char *sql, const char *param)
{
    const char *vals[] = {param};
    PGresult *res = PQexecParams(F.pq, sql, 1, NULL, vals, NULL, NULL, 0);
    long long v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    return v;
}

static void test_tokens(void **state)
{
    (void)state;
    struct emp_error err = {0};
    char token[EMP_TOKEN_LEN + 1];
    unsigned char hash[EMP_TOKEN_HASH_BYTES];
    assert_int_equal(emp_token_new(token), EMP_OK);
    assert_int_equal(emp_token_hash(token, strlen(token), hash), EMP_OK);
    int64_t before = emp_now_us();
    assert_int_equal(emp_db_token_create(F.db, "ci", hash, &err), EMP_OK);
    /* A second token of the same name is refused, the first kept. */
    unsigned char other[EMP_TOKEN_HASH_BYTES];
    assert_int_equal(emp_token_hash("x", 1, other), EMP_OK);
    assert_int_equal(emp_db_token_create(F.db, "ci", other, &err), EMP_EEXIST);
    /* The same hash under another name breaks the unique index: an error,
     * not a second way in. */
    assert_int_not_equal(emp_db_token_create(F.db, "ci2", hash, &err), EMP_OK);

    /* Nothing in the table holds the token itself; the hash is SHA-256. */
    assert_int_equal(count1("SELECT count(*) FROM api_tokens t WHERE strpos(t::text, $1) > 0",
                            token),
                     0);
    assert_int_equal(count1("SELECT count(*) FROM api_tokens WHERE hash = sha256(convert_to($1, "
                            "'UTF8'))",
                            token),
                     1);
    assert_int_equal(testdb_scalar(F.pq, "SELECT count(*) FROM information_schema.columns"
                                         " WHERE table_name = 'api_tokens'"),
                     5);

    struct emp_token_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(emp_db_token_list(F.db, &rows, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].name, "ci");
    assert_memory_equal(rows[0].hash, hash, sizeof hash);
    assert_true(rows[0].created_at_us >= before - 5 * EMP_US_PER_S);
    assert_int_equal(rows[0].last_used_at_us, 0);
    assert_int_equal(emp_token_find(rows, n, hash), 0);
    assert_int_equal(emp_token_find(rows, n, other), -1);
    int64_t id = rows[0].id;
    free(rows);

    assert_int_equal(emp_db_token_touch(F.db, id, &err), EMP_OK);
    assert_int_equal(emp_db_token_list(F.db, &rows, &n, &err), EMP_OK);
    assert_true(rows[0].last_used_at_us >= rows[0].created_at_us);
    free(rows);

    /* A name meant to break SQL is only a name. */
    const char *evil = "x'); DROP TABLE api_tokens; --";
    assert_int_equal(emp_db_token_create(F.db, evil, other, &err), EMP_OK);
    assert_int_equal(emp_db_token_list(F.db, &rows, &n, &err), EMP_OK);
    assert_int_equal(n, 2);
    free(rows);
    assert_int_equal(emp_db_token_revoke(F.db, evil, &err), EMP_OK);

    assert_int_equal(emp_db_token_revoke(F.db, "ci", &err), EMP_OK);
    assert_int_equal(emp_db_token_revoke(F.db, "ci", &err), EMP_ENOTFOUND);
    assert_int_equal(emp_db_token_list(F.db, &rows, &n, &err), EMP_OK);
    assert_int_equal(n, 0);
    free(rows);
}

/* A tcp target (free with emp_target_config_cleanup). */
static struct emp_target_config target(const char *name, const char *group, int port)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:i}", "name", name, "kind", "tcp",
                  "group", group, "interval_ms", 1000, "timeout_ms", 500, "fail_threshold", 2,
                  "recover_threshold", 1, "host", "127.0.0.1", "port", port);
    char *text = json_dumps(o, JSON_COMPACT);
    assert_non_null(text);
    struct emp_target_config t = test_target("%s", text);
    free(text);
    json_decref(o);
    return t;
}

static char *definition(const struct emp_target_config *t)
{
    json_t *j = emp_target_config_json(t, false);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    assert_non_null(s);
    return s;
}

static void test_api_targets(void **state)
{
    (void)state;
    struct emp_error err = {0};
    char name[] = "made", group[] = "'; DROP TABLE outages; --";
    struct emp_target_config t = target(name, group, 5432);
    char *def = definition(&t);
    int64_t id = 0, id2 = 0;
    bool created = false;
    assert_int_equal(emp_db_api_target_put(F.db, &t, def, true, &id, &created, &err), EMP_OK);
    assert_true(created);
    /* Create again: the name is taken. */
    assert_int_equal(emp_db_api_target_put(F.db, &t, def, true, &id2, &created, &err),
                     EMP_EEXIST);
    /* Replace. */
    emp_target_config_cleanup(&t);
    t = target(name, group, 6543);
    char *def2 = definition(&t);
    assert_int_equal(emp_db_api_target_put(F.db, &t, def2, false, &id2, &created, &err), EMP_OK);
    assert_false(created);
    assert_int_equal(id2, id);
    assert_int_equal(count1("SELECT count(*) FROM targets WHERE grp = $1", group), 1);
    assert_int_equal(testdb_scalar(F.pq, "SELECT count(*) FROM pg_tables WHERE tablename = "
                                         "'outages'"),
                     1);

    struct emp_api_target *list = NULL;
    size_t n = 0;
    assert_int_equal(emp_db_api_targets(F.db, &list, &n, &err), EMP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "made");
    assert_int_equal(list[0].id, id);
    /* The stored definition reads back as the replacement. */
    struct emp_target_config back;
    assert_int_equal(emp_config_parse_target(list[0].definition, strlen(list[0].definition),
                                             "stored", NULL, &emp_probe_kinds, &back, stderr, NULL),
                     EMP_OK);
    assert_int_equal(test_target_int(&back, "port"), 6543);
    assert_string_equal(back.group, group);
    emp_target_config_cleanup(&back);
    emp_db_api_targets_free(list, n);

    struct emp_target_row row;
    char *text = NULL;
    assert_int_equal(emp_db_api_target_get(F.db, "made", &row, &text, &err), EMP_OK);
    assert_non_null(text);
    assert_string_equal(row.kind, "tcp");
    free(text);
    assert_int_equal(emp_db_api_target_get(F.db, "nope", &row, &text, &err), EMP_ENOTFOUND);

    /* Removed: not an API target any more, its row (history) kept. */
    int64_t rid = 0;
    assert_int_equal(emp_db_api_target_remove(F.db, "made", &rid, &err), EMP_OK);
    assert_int_equal(rid, id);
    assert_int_equal(emp_db_api_target_remove(F.db, "made", &rid, &err), EMP_ENOTFOUND);
    assert_int_equal(emp_db_api_target_get(F.db, "made", &row, &text, &err), EMP_OK);
    assert_null(text);
    assert_int_equal(emp_db_api_targets(F.db, &list, &n, &err), EMP_OK);
    assert_int_equal(n, 0);
    emp_db_api_targets_free(list, n);
    /* Made again: the same row, history and all. */
    assert_int_equal(emp_db_api_target_put(F.db, &t, def2, true, &id2, &created, &err), EMP_OK);
    assert_true(created);
    assert_int_equal(id2, id);

    /* A configuration file that defines the name takes it over. */
    struct emp_config cfg = {0};
    cfg.targets = &t;
    cfg.n_targets = 1;
    int64_t ids[1];
    assert_int_equal(emp_db_sync_targets(F.db, &cfg, ids, &err), EMP_OK);
    assert_int_equal(ids[0], id);
    assert_int_equal(emp_db_api_targets(F.db, &list, &n, &err), EMP_OK);
    assert_int_equal(n, 0);
    emp_db_api_targets_free(list, n);
    emp_target_config_cleanup(&t);
    free(def);
    free(def2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_api_targets),
    };
    return cmocka_run_group_tests_name("tokens", tests, group_setup, group_teardown);
}
