/* What the API takes from configuration: the "api" object of limits
 * (defaults, every field, errors naming file, JSON path and expectation),
 * and single target definitions as the write endpoints receive them
 * (emp_config_parse_target: the checks of a configuration's targets, with
 * paths relative to the object), their copies and their JSON form, which
 * must read back as the same definition. */
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
#include "probes/kinds.h"
#include "tests/support/target.h"

/* Load `text`; returns the problems written (a new string). */
static char *load(const char *text, struct emp_config **cfg, enum emp_err *rc)
{
    char *errs = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&errs, &size);
    assert_non_null(f);
    *rc = emp_config_load_string(text, "t.json", &emp_probe_kinds, cfg, f, NULL);
    fclose(f);
    return errs;
}

static void test_api_defaults(void **state)
{
    (void)state;
    enum emp_err rc;
    struct emp_config *cfg = NULL;
    char *errs = load("{}", &cfg, &rc);
    assert_int_equal(rc, EMP_OK);
    assert_int_equal(cfg->api.threads, 4);
    assert_int_equal(cfg->api.max_connections, 1024);
    assert_int_equal(cfg->api.max_connections_per_ip, 64);
    assert_int_equal(cfg->api.idle_timeout_s, 10);
    assert_int_equal(cfg->api.request_deadline_s, 30);
    assert_int_equal(cfg->api.connection_memory_kib, 64);
    assert_int_equal(cfg->api.max_body_bytes, 65536);
    emp_config_free(cfg);
    free(errs);

    errs = load("{\"api\": {\"threads\": 2, \"max_connections\": 10, "
                "\"max_connections_per_ip\": 0, \"idle_timeout_s\": 5, "
                "\"request_deadline_s\": 7, \"connection_memory_kib\": 32, "
                "\"max_body_bytes\": 2048}}",
                &cfg, &rc);
    assert_int_equal(rc, EMP_OK);
    assert_int_equal(cfg->api.threads, 2);
    assert_int_equal(cfg->api.max_connections, 10);
    assert_int_equal(cfg->api.max_connections_per_ip, 0);
    assert_int_equal(cfg->api.idle_timeout_s, 5);
    assert_int_equal(cfg->api.request_deadline_s, 7);
    assert_int_equal(cfg->api.connection_memory_kib, 32);
    assert_int_equal(cfg->api.max_body_bytes, 2048);
    emp_config_free(cfg);
    free(errs);
}

static void test_api_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"{\"api\": 3}", "t.json: api: expected an object of limits, got 3\n"},
        {"{\"api\": {\"threads\": 0}}",
         "t.json: api.threads: expected an integer from 1 to 64, got 0\n"},
        {"{\"api\": {\"request_deadline_s\": \"30s\"}}",
         "t.json: api.request_deadline_s: expected an integer from 1 to 3600, got \"30s\"\n"},
        {"{\"api\": {\"max_body_bytes\": 100}}",
         "t.json: api.max_body_bytes: expected an integer from 1024 to 16777216, got 100\n"},
        {"{\"api\": {\"max_connections\": 3}}",
         "t.json: api.max_connections: expected at least api.threads (4), got 3\n"},
        {"{\"api\": {\"idle_timeout\": 3}}",
         "t.json: api.idle_timeout: unknown key, did you mean \"idle_timeout_s\"?\n"},
        {"{\"api\": {\"max_connections_per_ip\": -1, \"connection_memory_kib\": 8}}",
         "t.json: api.max_connections_per_ip: expected an integer from 0 to 1000000, got -1\n"
         "t.json: api.connection_memory_kib: expected an integer from 16 to 16384, got 8\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum emp_err rc;
        struct emp_config *cfg = NULL;
        char *errs = load(cases[i].text, &cfg, &rc);
        assert_int_equal(rc, EMP_ECONFIG);
        assert_null(cfg);
        assert_string_equal(errs, cases[i].want);
        free(errs);
    }
}

/* Parse one definition; returns the problems (a new string). */
static char *parse(const char *text, const char *name, struct emp_target_config *t,
                   enum emp_err *rc, size_t *nerrs)
{
    char *errs = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&errs, &size);
    assert_non_null(f);
    *rc = emp_config_parse_target(text, text != NULL ? strlen(text) : 0, "body", name,
                                  &emp_probe_kinds, t, f, nerrs);
    fclose(f);
    return errs;
}

static void test_parse_target(void **state)
{
    (void)state;
    struct emp_target_config t;
    enum emp_err rc;
    size_t n;
    char *errs = parse("{\"name\":\"web\",\"kind\":\"http\",\"url\":\"http://h:1/x\","
                       "\"interval_ms\":1000,\"expect_status\":[200,204],\"group\":\"g\"}",
                       NULL, &t, &rc, &n);
    assert_int_equal(rc, EMP_OK);
    assert_int_equal(n, 0);
    assert_string_equal(errs, "");
    assert_string_equal(t.name, "web");
    assert_string_equal(t.group, "g");
    assert_ptr_equal(t.kind, test_kind("http"));
    assert_int_equal(t.interval_ms, 1000);
    assert_int_equal(t.timeout_ms, 1000); /* min(5000, interval) */
    json_t *es = test_target_field(&t, "expect_status");
    assert_int_equal(json_array_size(es), 2);
    json_decref(es);
    emp_target_config_cleanup(&t);
    free(errs);

    /* The name from the path when the body has none. */
    errs = parse("{\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":5}", "db-1", &t, &rc, &n);
    assert_int_equal(rc, EMP_OK);
    assert_string_equal(t.name, "db-1");
    assert_string_equal(t.group, "");
    emp_target_config_cleanup(&t);
    free(errs);
}

static void test_parse_target_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[1]", "body: expected an object, got [1]\n"},
        {"{\"kind\":\"tcp\",\"host\":\"h\",\"port\":1}",
         "body: name: required, expected a name of 1 to 128 characters from [A-Za-z0-9._-]\n"},
        {"{\"name\":\"a'; DROP TABLE outages; --\",\"kind\":\"tcp\",\"host\":\"h\",\"port\":1}",
         "body: name: expected a name of 1 to 128 characters from [A-Za-z0-9._-], "
         "got \"a'; DROP TABLE outages; --\"\n"},
        {"{\"name\":\"x\",\"kind\":\"tcp\",\"host\":\"h\",\"port\":1,\"interval_ms\":\"5s\"}",
         "body: interval_ms: expected an integer from 100 to 86400000, got \"5s\"\n"},
        {"{\"name\":\"x\",\"kind\":\"tcp\",\"host\":\"h\",\"port\":1,\"url\":\"http://h/\"}",
         "body: url: not valid for kind tcp (only for http)\n"},
        {"{\"name\":\"x\",\"kind\":\"http\",\"url\":\"ftp://h/\"}",
         NULL /* the URL's own message */},
        {"{\"name\":\"x\",", NULL /* a syntax error with line and column */},
        {"{\"name\":\"x\",\"name\":\"y\",\"kind\":\"tcp\",\"host\":\"h\",\"port\":1}", NULL},
        {"{\"name\":\"x\\u0000y\",\"kind\":\"tcp\",\"host\":\"h\",\"port\":1}", NULL},
        {"", NULL},
        {NULL, "body: expected a target definition, got nothing\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct emp_target_config t;
        memset(&t, 0xa5, sizeof t); /* must be zeroed on failure */
        enum emp_err rc;
        size_t n = 0;
        char *errs = parse(cases[i].text, NULL, &t, &rc, &n);
        if (rc != EMP_ECONFIG)
            fail_msg("case %zu: expected a problem, got none", i);
        assert_true(n > 0);
        assert_null(t.name);
        assert_null(t.spec);
        assert_int_equal(strncmp(errs, "body", 4), 0);
        if (cases[i].want != NULL)
            assert_string_equal(errs, cases[i].want);
        free(errs);
    }
}

/* The JSON form reads back as the same definition; a copy is deep; the
 * redacted form has no password. */
static void test_json_round_trip(void **state)
{
    (void)state;
    static const char *defs[] = {
        "{\"name\":\"h\",\"kind\":\"http\",\"url\":\"https://x.example/p?q=1\",\"group\":\"g\","
        "\"interval_ms\":2000,\"timeout_ms\":700,\"fail_threshold\":3,\"recover_threshold\":2,"
        "\"degraded_ms\":300,\"expect_status\":[200,301],\"reuse\":true}",
        "{\"name\":\"t\",\"kind\":\"tcp\",\"host\":\"::1\",\"port\":65535}",
        "{\"name\":\"p\",\"kind\":\"postgres\",\"conninfo\":\"host=h password=sekrit dbname=d\","
        "\"query\":\"SELECT 2\"}",
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        struct emp_target_config a, b, c;
        enum emp_err rc;
        size_t n;
        char *errs = parse(defs[i], NULL, &a, &rc, &n);
        assert_int_equal(rc, EMP_OK);
        free(errs);
        assert_int_equal(emp_target_config_copy(&c, &a), EMP_OK);
        json_t *j = emp_target_config_json(&c, false);
        assert_non_null(j);
        char *text = json_dumps(j, JSON_COMPACT);
        errs = parse(text, NULL, &b, &rc, &n);
        if (rc != EMP_OK)
            fail_msg("%s does not read back: %s", text, errs);
        free(errs);
        assert_string_equal(a.name, b.name);
        assert_string_equal(a.group, b.group);
        assert_ptr_equal(a.kind, b.kind);
        assert_int_equal(a.interval_ms, b.interval_ms);
        assert_int_equal(a.timeout_ms, b.timeout_ms);
        assert_int_equal(a.fail_threshold, b.fail_threshold);
        assert_int_equal(a.recover_threshold, b.recover_threshold);
        assert_int_equal(a.degraded_ms, b.degraded_ms);
        /* The kind's own fields, every one, through their JSON form. */
        json_t *ja = emp_target_config_json(&a, false), *jb = emp_target_config_json(&b, false);
        assert_true(json_equal(ja, jb));
        json_decref(jb);
        char v1[256], v2[256];
        assert_int_equal(test_target_int(&a, "port"), test_target_int(&b, "port"));
        assert_int_equal(test_target_bool(&a, "reuse"), test_target_bool(&b, "reuse"));
        static const char *const keys[] = {"url", "host", "conninfo", "query"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            assert_string_equal(test_target_str(&a, keys[k], v1, sizeof v1),
                                test_target_str(&b, keys[k], v2, sizeof v2));
        /* The copy is deep: its own spec, equal to the original's. */
        assert_ptr_not_equal(a.spec, c.spec);
        json_t *jc = emp_target_config_json(&c, false);
        assert_true(json_equal(ja, jc));
        json_decref(jc);
        json_decref(ja);
        if (strcmp(a.kind->name, "postgres") == 0) {
            json_t *shown = emp_target_config_json(&a, true);
            const char *ci = json_string_value(json_object_get(shown, "conninfo"));
            assert_non_null(ci);
            assert_null(strstr(ci, "sekrit"));
            assert_non_null(strstr(ci, "host='h'"));
            json_decref(shown);
        }
        free(text);
        json_decref(j);
        emp_target_config_cleanup(&a);
        emp_target_config_cleanup(&b);
        emp_target_config_cleanup(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_defaults),
        cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_parse_target),
        cmocka_unit_test(test_parse_target_errors),
        cmocka_unit_test(test_json_round_trip),
    };
    return cmocka_run_group_tests_name("api_config", tests, NULL, NULL);
}
