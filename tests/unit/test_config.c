/* Unit tests for config: a full configuration loads with every field,
 * defaults apply, and each class of problem is reported as its own line
 * naming the file and JSON path, all of them in one pass; the same for SLAs
 * and their references to targets and groups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "service/view.h"
#include "probes/kinds.h"
#include "tests/support/target.h"

struct result {
    enum emp_err rc;
    struct emp_config *cfg;
    size_t nerrs;
    char *errs;   /* everything written to errs */
};

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        if (*s == '\n')
            n++;
    return n;
}

/* Checks the invariants every load keeps: *out is set exactly when the
 * result is EMP_OK, and each problem counted is one line of errs. */
static void check_invariants(const struct result *r)
{
    if (r->rc == EMP_OK) {
        assert_non_null(r->cfg);
        assert_int_equal(r->nerrs, 0);
        assert_string_equal(r->errs, "");
    } else {
        assert_null(r->cfg);
        assert_true(r->nerrs > 0);
    }
    assert_int_equal(count_lines(r->errs), r->nerrs);
}

static void load_text(const char *text, struct result *r)
{
    size_t size = 0;
    FILE *errs = open_memstream(&r->errs, &size);
    assert_non_null(errs);
    r->cfg = (struct emp_config *)(uintptr_t)1; /* must be overwritten */
    r->rc = emp_config_load_string(text, "t.json", &emp_probe_kinds, &r->cfg, errs, &r->nerrs);
    assert_int_equal(fclose(errs), 0);
    check_invariants(r);
}

static void load_path(const char *path, struct result *r)
{
    size_t size = 0;
    FILE *errs = open_memstream(&r->errs, &size);
    assert_non_null(errs);
    r->rc = emp_config_load(path, &emp_probe_kinds, &r->cfg, errs, &r->nerrs);
    assert_int_equal(fclose(errs), 0);
    check_invariants(r);
}

static void result_free(struct result *r)
{
    emp_config_free(r->cfg);
    free(r->errs);
    memset(r, 0, sizeof *r);
}

/* The line of errs containing `needle`, which must be there. */
static void assert_has(const struct result *r, const char *needle)
{
    if (strstr(r->errs, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, r->errs);
}

/* Load `text`, expect exactly one problem containing `needle`. */
static void expect_one(const char *text, const char *needle)
{
    struct result r;
    load_text(text, &r);
    if (r.rc != EMP_ECONFIG || r.nerrs != 1)
        fail_msg("for %s\nexpected one problem with \"%s\", got %zu:\n%s", text, needle,
                 r.nerrs, r.errs);
    assert_has(&r, needle);
    result_free(&r);
}

/* Load `text`, which must be valid. */
static void expect_ok(const char *text)
{
    struct result r;
    load_text(text, &r);
    if (r.rc != EMP_OK)
        fail_msg("for %s\nexpected no problems, got:\n%s", text, r.errs);
    result_free(&r);
}

/* One http target with `extra` (a JSON members list, may be empty) added. */
static char *http_with(const char *extra)
{
    char *s = NULL;
    int n = asprintf(&s,
                     "{\"targets\": [{\"name\": \"web\", \"kind\": \"http\", "
                     "\"url\": \"http://127.0.0.1:9000/\"%s%s}]}",
                     extra[0] != '\0' ? ", " : "", extra);
    assert_true(n > 0);
    return s;
}

static void expect_http_one(const char *extra, const char *needle)
{
    char *text = http_with(extra);
    expect_one(text, needle);
    free(text);
}

static void expect_http_ok(const char *extra)
{
    char *text = http_with(extra);
    expect_ok(text);
    free(text);
}

static const char full_config[] =
    "{\n"
    "  \"listen\": \"0.0.0.0:9090\",\n"
    "  \"prober\": {\"name\": \"eu-1\", \"location\": \"Frankfurt, rack 3\"},\n"
    "  \"targets\": [\n"
    "    {\"name\": \"web\", \"kind\": \"http\", \"url\": \"http://127.0.0.1:9000/health\",\n"
    "     \"interval_ms\": 1000, \"timeout_ms\": 500, \"fail_threshold\": 3,\n"
    "     \"recover_threshold\": 2, \"degraded_ms\": 300, \"expect_status\": [200, 204],\n"
    "     \"group\": \"frontend\", \"reuse\": true},\n"
    "    {\"name\": \"cache\", \"kind\": \"tcp\", \"host\": \"127.0.0.1\", \"port\": 6379,\n"
    "     \"interval_ms\": 5000},\n"
    "    {\"name\": \"db\", \"kind\": \"postgres\",\n"
    "     \"conninfo\": \"host=127.0.0.1 port=5432 dbname=app\", \"query\": \"SELECT 2\"}\n"
    "  ]\n"
    "}\n";

static void test_full_config_loads_every_field(void **state)
{
    (void)state;
    struct result r;
    load_text(full_config, &r);
    assert_int_equal(r.rc, EMP_OK);
    const struct emp_config *c = r.cfg;
    assert_string_equal(c->path, "t.json");
    assert_string_equal(c->listen, "0.0.0.0:9090");
    assert_string_equal(c->listen_host, "0.0.0.0");
    assert_int_equal(c->listen_port, 9090);
    assert_string_equal(c->prober_name, "eu-1");
    assert_string_equal(c->prober_location, "Frankfurt, rack 3");
    assert_int_equal(c->n_targets, 3);

    const struct emp_target_config *w = &c->targets[0];
    assert_string_equal(w->name, "web");
    char buf[256];
    assert_ptr_equal(w->kind, test_kind("http"));
    assert_string_equal(test_target_str(w, "url", buf, sizeof buf), "http://127.0.0.1:9000/health");
    assert_int_equal(w->interval_ms, 1000);
    assert_int_equal(w->timeout_ms, 500);
    assert_int_equal(w->fail_threshold, 3);
    assert_int_equal(w->recover_threshold, 2);
    assert_int_equal(w->degraded_ms, 300);
    json_t *es = test_target_field(w, "expect_status");
    assert_int_equal(json_array_size(es), 2);
    assert_int_equal(json_integer_value(json_array_get(es, 0)), 200);
    assert_int_equal(json_integer_value(json_array_get(es, 1)), 204);
    json_decref(es);
    assert_string_equal(w->group, "frontend");
    assert_true(test_target_bool(w, "reuse"));
    assert_null(test_target_field(w, "host"));
    assert_null(test_target_field(w, "conninfo"));

    const struct emp_target_config *t = &c->targets[1];
    assert_string_equal(t->name, "cache");
    assert_ptr_equal(t->kind, test_kind("tcp"));
    assert_string_equal(test_target_str(t, "host", buf, sizeof buf), "127.0.0.1");
    assert_int_equal(test_target_int(t, "port"), 6379);
    assert_int_equal(t->interval_ms, 5000);
    assert_null(test_target_field(t, "url"));

    const struct emp_target_config *p = &c->targets[2];
    assert_string_equal(p->name, "db");
    assert_ptr_equal(p->kind, test_kind("postgres"));
    assert_string_equal(test_target_str(p, "conninfo", buf, sizeof buf),
                        "host=127.0.0.1 port=5432 dbname=app");
    assert_string_equal(test_target_str(p, "query", buf, sizeof buf), "SELECT 2");
    result_free(&r);
}

static void test_defaults_apply(void **state)
{
    (void)state;
    struct result r;
    load_text("{\"targets\": ["
              "{\"name\": \"a\", \"kind\": \"http\", \"url\": \"https://example.com\"},"
              "{\"name\": \"b\", \"kind\": \"tcp\", \"host\": \"::1\", \"port\": 22,"
              " \"interval_ms\": 1000},"
              "{\"name\": \"c\", \"kind\": \"postgres\", \"conninfo\": \"dbname=x\"}]}",
              &r);
    assert_int_equal(r.rc, EMP_OK);
    const struct emp_config *c = r.cfg;
    assert_string_equal(c->listen, EMP_DEFAULT_LISTEN);
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 8080);
    assert_string_equal(c->prober_name, EMP_DEFAULT_PROBER);
    assert_string_equal(c->prober_location, "");

    const struct emp_target_config *a = &c->targets[0];
    assert_int_equal(a->interval_ms, EMP_DEFAULT_INTERVAL_MS);
    assert_int_equal(a->timeout_ms, EMP_DEFAULT_TIMEOUT_MS);
    assert_int_equal(a->fail_threshold, EMP_DEFAULT_FAIL_THRESHOLD);
    assert_int_equal(a->recover_threshold, EMP_DEFAULT_RECOVER_THRESHOLD);
    assert_int_equal(a->degraded_ms, EMP_DEFAULT_DEGRADED_MS);
    json_t *es = test_target_field(a, "expect_status");
    assert_int_equal(json_array_size(es), 0);
    json_decref(es);
    assert_false(test_target_bool(a, "reuse"));
    assert_non_null(a->group);
    assert_string_equal(a->group, "");

    /* timeout defaults to the interval when that is shorter than 5 s */
    assert_int_equal(c->targets[1].timeout_ms, 1000);
    assert_string_equal(c->targets[1].group, "");
    char query[64];
    assert_string_equal(test_target_str(&c->targets[2], "query", query, sizeof query), "SELECT 1");
    result_free(&r);
}

static void test_empty_and_missing_targets_are_valid(void **state)
{
    (void)state;
    const char *texts[] = {"{}", "{\"targets\": []}", "{\"prober\": {}}"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct result r;
        load_text(texts[i], &r);
        assert_int_equal(r.rc, EMP_OK);
        assert_int_equal(r.cfg->n_targets, 0);
        assert_string_equal(r.cfg->prober_name, "local");
        assert_int_equal(emp_config_find_target(r.cfg, "web"), -1);
        result_free(&r);
    }
}

static void test_listen_forms(void **state)
{
    (void)state;
    struct result r;
    load_text("{\"listen\": \"[::1]:9000\"}", &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_string_equal(r.cfg->listen, "[::1]:9000");
    assert_string_equal(r.cfg->listen_host, "::1");
    assert_int_equal(r.cfg->listen_port, 9000);
    result_free(&r);

    load_text("{\"listen\": \"localhost:65535\"}", &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_string_equal(r.cfg->listen_host, "localhost");
    assert_int_equal(r.cfg->listen_port, 65535);
    result_free(&r);

    const char *bad[] = {"localhost", "::1:80", "[::1]80", "[::1:80", "[zz]:80",
                         "h:0", "h:65536", "h:80x", "h:-1", "h: 80", ":80", "",
                         "a b:80", "h:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"listen\": \"%s\"}", bad[i]);
        expect_one(text, "t.json: listen: expected \"host:port\" or \"[v6]:port\"");
    }
    expect_one("{\"listen\": 8080}", "t.json: listen: expected \"host:port\" or "
                                     "\"[v6]:port\" with a port from 1 to 65535, got 8080");
}

static void test_syntax_error_has_line_and_column(void **state)
{
    (void)state;
    struct result r;
    load_text("{\n  \"listen\": \"127.0.0.1:1\",\n  }\n", &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    assert_int_equal(r.nerrs, 1);
    /* FILE:LINE:COLUMN: TEXT, the error at the stray brace on line 3 */
    assert_true(strncmp(r.errs, "t.json:3:3: ", 12) == 0);
    result_free(&r);

    load_text("{\"a\": 1} x", &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    assert_true(strncmp(r.errs, "t.json:1:", 9) == 0);
    assert_has(&r, "end of file expected");
    result_free(&r);

    load_text("", &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    assert_int_equal(r.nerrs, 1);
    result_free(&r);
}

static void test_duplicate_keys_rejected(void **state)
{
    (void)state;
    struct result r;
    load_text("{\"targets\": [\n"
              "  {\"name\": \"a\", \"kind\": \"tcp\",\n"
              "   \"host\": \"h\", \"port\": 1, \"port\": 2}]}",
              &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    assert_int_equal(r.nerrs, 1);
    assert_true(strncmp(r.errs, "t.json:3:", 9) == 0);
    assert_has(&r, "duplicate object key");
    result_free(&r);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_one("{\"colour\": 1}", "t.json: colour: unknown key; the top level takes "
                                  "listen, prober, targets");
    expect_one("{\"prober\": {\"nmae\": \"x\"}}",
               "t.json: prober.nmae: unknown key, did you mean \"name\"?");
    expect_one("{\"prober\": {\"region\": \"x\"}}",
               "prober.region: unknown key; prober takes name, location");
    expect_http_one("\"intervall_ms\": 5",
                    "targets[0].intervall_ms: unknown key, did you mean \"interval_ms\"?");
    expect_http_one("\"colour\": 5", "targets[0].colour: unknown key; a http target takes");
    /* keys that are not identifiers are quoted in the path */
    expect_http_one("\"a b\": 5", "targets[0][\"a b\"]: unknown key");
    /* keys of another kind */
    expect_one("{\"targets\": [{\"name\": \"c\", \"kind\": \"tcp\", \"host\": \"h\","
               " \"port\": 1, \"url\": \"http://h/\"}]}",
               "t.json: targets[0].url: not valid for kind tcp (only for http)");
    expect_http_one("\"port\": 80", "targets[0].port: not valid for kind http (only for tcp)");
    expect_http_one("\"query\": \"SELECT 1\"",
                    "targets[0].query: not valid for kind http (only for postgres)");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_http_one("\"interval_ms\": \"5s\"",
                    "t.json: targets[0].interval_ms: expected an integer from 100 to "
                    "86400000, got \"5s\"\n");
    expect_http_one("\"interval_ms\": 1000.5",
                    "targets[0].interval_ms: expected an integer from 100 to 86400000, "
                    "got 1000.5");
    expect_http_one("\"interval_ms\": true", "targets[0].interval_ms: expected an integer");
    expect_http_one("\"interval_ms\": null", "got null");
    expect_http_one("\"reuse\": \"yes\"",
                    "targets[0].reuse: expected true or false, got \"yes\"");
    expect_http_one("\"reuse\": 1", "targets[0].reuse: expected true or false, got 1");
    expect_http_one("\"group\": 7", "targets[0].group: expected a string");
    expect_http_one("\"expect_status\": 200",
                    "targets[0].expect_status: expected an array of at most 16 status codes");
    expect_http_one("\"expect_status\": [200, \"204\"]",
                    "targets[0].expect_status[1]: expected an integer from 100 to 599, "
                    "got \"204\"");
    expect_one("{\"targets\": {}}",
               "t.json: targets: expected an array of target objects, got {}");
    expect_one("{\"targets\": [5]}", "t.json: targets[0]: expected an object, got 5");
    expect_one("{\"prober\": \"x\"}", "t.json: prober: expected an object");
    expect_one("{\"prober\": {\"location\": 3}}",
               "prober.location: expected a string, got 3");
    expect_one("[1, 2]", "t.json: expected an object at the top level, got [1,2]");
    expect_one("{\"targets\": [{\"name\": 5, \"kind\": \"tcp\", \"host\": \"h\","
               " \"port\": 1}]}",
               "targets[0].name: expected a name of 1 to 128 characters");
    expect_one("{\"targets\": [{\"name\": \"a\", \"kind\": [\"tcp\"], \"host\": \"h\","
               " \"port\": 1}]}",
               "targets[0].kind: expected one of \"http\", \"tcp\", \"postgres\", "
               "got [\"tcp\"]");
}

static void test_missing_required_fields(void **state)
{
    (void)state;
    struct result r;
    load_text("{\"targets\": [{},"
              " {\"name\": \"h\", \"kind\": \"http\"},"
              " {\"name\": \"t\", \"kind\": \"tcp\"},"
              " {\"name\": \"p\", \"kind\": \"postgres\"}]}",
              &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    assert_int_equal(r.nerrs, 6);
    assert_has(&r, "t.json: targets[0].kind: required, expected one of \"http\", \"tcp\", "
                   "\"postgres\"\n");
    assert_has(&r, "t.json: targets[0].name: required, expected a name of 1 to 128 "
                   "characters from [A-Za-z0-9._-]\n");
    assert_has(&r, "t.json: targets[1].url: required, expected an http:// or https:// URL");
    assert_has(&r, "t.json: targets[2].host: required");
    assert_has(&r, "t.json: targets[2].port: required, expected an integer from 1 to 65535");
    assert_has(&r, "t.json: targets[3].conninfo: required, expected a libpq connection "
                   "string");
    result_free(&r);
}

static void test_duplicate_names(void **state)
{
    (void)state;
    struct result r;
    load_text("{\"targets\": ["
              "{\"name\": \"web\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 1},"
              "{\"name\": \"api\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 2},"
              "{\"name\": \"web\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 3},"
              "{\"name\": \"api\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 4},"
              "{\"name\": \"web\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 5}]}",
              &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    assert_int_equal(r.nerrs, 3);
    assert_has(&r, "t.json: targets[2].name: duplicate target name \"web\" "
                   "(first at targets[0])\n");
    assert_has(&r, "targets[3].name: duplicate target name \"api\" (first at targets[1])\n");
    assert_has(&r, "targets[4].name: duplicate target name \"web\" (first at targets[0])\n");
    result_free(&r);
}

static void test_names(void **state)
{
    (void)state;
    char long_name[EMP_NAME_MAX + 2];
    memset(long_name, 'x', sizeof long_name);
    long_name[EMP_NAME_MAX] = '\0';
    char text[512];
    /* 128 characters is the longest allowed */
    snprintf(text, sizeof text,
             "{\"targets\": [{\"name\": \"%s\", \"kind\": \"tcp\", \"host\": \"h\","
             " \"port\": 1}]}",
             long_name);
    expect_ok(text);
    long_name[EMP_NAME_MAX] = 'x';
    long_name[EMP_NAME_MAX + 1] = '\0';
    snprintf(text, sizeof text,
             "{\"targets\": [{\"name\": \"%s\", \"kind\": \"tcp\", \"host\": \"h\","
             " \"port\": 1}]}",
             long_name);
    expect_one(text, "targets[0].name: expected a name of 1 to 128 characters");

    expect_ok("{\"targets\": [{\"name\": \"A-z_0.9\", \"kind\": \"tcp\", \"host\": \"h\","
              " \"port\": 1}]}");
    const char *bad[] = {"", "a b", "a/b", "caf\\u00e9", "a\\nb", "x:y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"targets\": [{\"name\": \"%s\", \"kind\": \"tcp\", \"host\": \"h\","
                 " \"port\": 1}]}",
                 bad[i]);
        expect_one(text, "t.json: targets[0].name: expected a name of 1 to 128 characters "
                         "from [A-Za-z0-9._-], got \"");
    }
    expect_one("{\"prober\": {\"name\": \"eu west\"}}",
               "t.json: prober.name: expected a name of 1 to 128 characters from "
               "[A-Za-z0-9._-], got \"eu west\"");
}

static void test_urls(void **state)
{
    (void)state;
    const char *good[] = {"http://h", "https://example.com/x?y=1#z", "HTTP://h:1/",
                          "http://[::1]:8080/health", "https://user:pw@h:65535/"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"targets\": [{\"name\": \"w\", \"kind\": \"http\", \"url\": \"%s\"}]}",
                 good[i]);
        expect_ok(text);
    }
    const char *bad[] = {"", "ftp://h/", "h/x", "http://", "http:///x", "http://u@/x",
                         "http://:80/", "http://h:0/", "http://h:65536/", "http://h:x/",
                         "http://h/a b", "http://h/\\t", "http://[::1/", "//h/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"targets\": [{\"name\": \"w\", \"kind\": \"http\", \"url\": \"%s\"}]}",
                 bad[i]);
        expect_one(text, "t.json: targets[0].url: expected an http:// or https:// URL with a "
                         "host, got \"");
    }
    expect_one("{\"targets\": [{\"name\": \"w\", \"kind\": \"http\", \"url\": \"ftp://h\"}]}",
               "got \"ftp://h\" (scheme must be http:// or https://)");
    expect_one("{\"targets\": [{\"name\": \"w\", \"kind\": \"http\", \"url\": \"http:///x\"}]}",
               "got \"http:///x\" (missing host)");
}

static void test_tcp_hosts_and_ports(void **state)
{
    (void)state;
    const char *bad_ports[] = {"0", "65536", "-1", "\"80\"", "80.0"};
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"targets\": [{\"name\": \"a\", \"kind\": \"tcp\", \"host\": \"h\","
                 " \"port\": 1}, {\"name\": \"b\", \"kind\": \"tcp\", \"host\": \"h\","
                 " \"port\": %s}]}",
                 bad_ports[i]);
        expect_one(text, "t.json: targets[1].port: expected an integer from 1 to 65535, got ");
    }
    expect_ok("{\"targets\": [{\"name\": \"b\", \"kind\": \"tcp\", \"host\": \"db.example\","
              " \"port\": 65535}]}");
    const char *bad_hosts[] = {"", "a b", "[::1]", "h/x"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"targets\": [{\"name\": \"b\", \"kind\": \"tcp\", \"host\": \"%s\","
                 " \"port\": 1}]}",
                 bad_hosts[i]);
        expect_one(text, "t.json: targets[0].host: expected a host name or IP address");
    }
}

static void test_ranges(void **state)
{
    (void)state;
    /* the edges are valid */
    expect_http_ok("\"interval_ms\": 100, \"timeout_ms\": 100, \"degraded_ms\": 100");
    expect_http_ok("\"interval_ms\": 86400000, \"timeout_ms\": 10, \"degraded_ms\": 0");
    expect_http_ok("\"fail_threshold\": 100, \"recover_threshold\": 1");
    expect_http_ok("\"expect_status\": [100, 599]");
    expect_http_ok("\"expect_status\": []");
    expect_http_ok("\"expect_status\": [200,201,202,203,204,205,206,207,208,226,"
                   "300,301,302,303,304,307]");

    expect_http_one("\"interval_ms\": 99",
                    "targets[0].interval_ms: expected an integer from 100 to 86400000, got 99");
    expect_http_one("\"interval_ms\": 86400001", "got 86400001");
    expect_http_one("\"interval_ms\": 99999999999999", "got 99999999999999");
    expect_http_one("\"timeout_ms\": 9",
                    "targets[0].timeout_ms: expected an integer from 10 to interval_ms "
                    "(10000), got 9");
    expect_http_one("\"interval_ms\": 1000, \"timeout_ms\": 1001",
                    "targets[0].timeout_ms: expected an integer from 10 to interval_ms (1000), "
                    "got 1001");
    expect_http_one("\"fail_threshold\": 0",
                    "targets[0].fail_threshold: expected an integer from 1 to 100, got 0");
    expect_http_one("\"recover_threshold\": 101",
                    "targets[0].recover_threshold: expected an integer from 1 to 100, got 101");
    expect_http_one("\"timeout_ms\": 500, \"degraded_ms\": 501",
                    "targets[0].degraded_ms: expected an integer from 0 to timeout_ms (500), "
                    "got 501");
    /* with no timeout given, degraded_ms is bounded by the default timeout */
    expect_http_one("\"interval_ms\": 200, \"degraded_ms\": 201",
                    "targets[0].degraded_ms: expected an integer from 0 to timeout_ms (200)");
    expect_http_one("\"degraded_ms\": -1", "targets[0].degraded_ms: expected an integer");
    expect_http_one("\"expect_status\": [99]",
                    "targets[0].expect_status[0]: expected an integer from 100 to 599, got 99");
    expect_http_one("\"expect_status\": [200, 600]", "targets[0].expect_status[1]: ");
    expect_http_one("\"expect_status\": [200,201,202,203,204,205,206,207,208,226,"
                    "300,301,302,303,304,307,308]",
                    "targets[0].expect_status: expected at most 16 status codes, got 17");
    /* a bad interval is reported once, not again through the timeout */
    expect_http_one("\"interval_ms\": 5, \"timeout_ms\": 5000", "targets[0].interval_ms: ");
}

/* The spool and the monitor's own doubt: defaults, values, errors with
 * their JSON paths. */
/* "vantage": the quorum by which several locations' verdicts combine. */
static void test_vantage(void **state)
{
    (void)state;
    struct result r;
    load_text("{\"targets\": []}", &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_int_equal(r.cfg->quorum.rule, EMP_QUORUM_MAJORITY);
    assert_int_equal(r.cfg->quorum.min_locations, 1);
    result_free(&r);
    load_text("{\"vantage\": {\"quorum\": 2, \"min_locations\": 2}}", &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_int_equal(r.cfg->quorum.rule, EMP_QUORUM_COUNT);
    assert_int_equal(r.cfg->quorum.count, 2);
    assert_int_equal(r.cfg->quorum.min_locations, 2);
    result_free(&r);
    load_text("{\"vantage\": {\"quorum\": \"any\"}}", &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_int_equal(r.cfg->quorum.rule, EMP_QUORUM_ANY);
    result_free(&r);
    expect_ok("{\"vantage\": {\"quorum\": \"all\"}}");
    expect_ok("{\"vantage\": {\"quorum\": \"majority\"}}");
    expect_one("{\"vantage\": {\"quorum\": \"most\"}}",
               "t.json: vantage.quorum: expected \"majority\", \"any\", \"all\" or a number "
               "of locations from 1 to 64, got \"most\"");
    expect_one("{\"vantage\": {\"quorum\": 0}}", "vantage.quorum");
    expect_one("{\"vantage\": {\"quorum\": 65}}", "vantage.quorum");
    expect_one("{\"vantage\": {\"min_locations\": 0}}",
               "t.json: vantage.min_locations: expected an integer from 1 to 64, got 0");
    expect_one("{\"vantage\": {\"quorom\": 2}}", "vantage");
    expect_one("{\"vantage\": 3}", "t.json: vantage: expected an object");

    /* A target's own quorum: kept, shown in its definition, and preferred
     * to the configuration's (min_locations stays the configuration's). */
    load_text("{\"vantage\": {\"quorum\": \"any\", \"min_locations\": 2}, \"targets\": ["
              "{\"name\": \"a\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 1, "
              "\"quorum\": 3},"
              "{\"name\": \"b\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 2}]}",
              &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_true(r.cfg->targets[0].has_quorum);
    assert_false(r.cfg->targets[1].has_quorum);
    struct emp_quorum qa = emp_view_quorum(r.cfg, "a"), qb = emp_view_quorum(r.cfg, "b");
    assert_int_equal(qa.rule, EMP_QUORUM_COUNT);
    assert_int_equal(qa.count, 3);
    assert_int_equal(qa.min_locations, 2);
    assert_int_equal(qb.rule, EMP_QUORUM_ANY);
    assert_int_equal(emp_view_quorum(NULL, "a").rule, EMP_QUORUM_MAJORITY);
    json_t *def = emp_target_config_json(&r.cfg->targets[0], true);
    assert_int_equal(json_integer_value(json_object_get(def, "quorum")), 3);
    json_decref(def);
    def = emp_target_config_json(&r.cfg->targets[1], true);
    assert_null(json_object_get(def, "quorum"));
    json_decref(def);
    result_free(&r);
    expect_one("{\"targets\": [{\"name\": \"a\", \"kind\": \"tcp\", \"host\": \"h\", "
               "\"port\": 1, \"quorum\": \"half\"}]}",
               "t.json: targets[0].quorum: expected \"majority\", \"any\", \"all\" or a "
               "number of locations from 1 to 64, got \"half\"");
}

static void test_spool_and_monitor(void **state)
{
    (void)state;
    struct result r;
    load_text("{\"prober\": {\"name\": \"eu-1\"}, \"targets\": []}", &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_string_equal(r.cfg->spool_path, "eu-1.spool");
    assert_int_equal(r.cfg->spool_max_mb, EMP_DEFAULT_SPOOL_MAX_MB);
    assert_int_equal(r.cfg->spool_fsync, EMP_FSYNC_SECOND);
    assert_int_equal(r.cfg->max_lag_ms, EMP_DEFAULT_MAX_LAG_MS);
    assert_int_equal(r.cfg->n_canaries, 0);
    result_free(&r);

    load_text("{\"spool\": {\"path\": \"/var/lib/empiric/x.spool\", \"max_mb\": 1, "
              "\"fsync\": \"always\"}, \"prober\": {\"max_lag_ms\": 200, "
              "\"canaries\": [\"gw\", \"dns\"]}, \"targets\": ["
              "{\"name\": \"gw\", \"kind\": \"tcp\", \"host\": \"10.0.0.1\", \"port\": 22},"
              "{\"name\": \"dns\", \"kind\": \"tcp\", \"host\": \"10.0.0.2\", \"port\": 53}]}",
              &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_string_equal(r.cfg->spool_path, "/var/lib/empiric/x.spool");
    assert_int_equal(r.cfg->spool_max_mb, 1);
    assert_int_equal(r.cfg->spool_fsync, EMP_FSYNC_ALWAYS);
    assert_int_equal(r.cfg->max_lag_ms, 200);
    assert_int_equal(r.cfg->n_canaries, 2);
    assert_string_equal(r.cfg->canaries[1], "dns");
    result_free(&r);

    expect_one("{\"spool\": {\"fsync\": \"sometimes\"}}",
               "t.json: spool.fsync: expected one of \"never\", \"second\", \"always\", "
               "got \"sometimes\"");
    expect_one("{\"spool\": {\"max_mb\": 0}}",
               "t.json: spool.max_mb: expected an integer from 1 to 1048576, got 0");
    expect_one("{\"spool\": {\"path\": \"\"}}", "t.json: spool.path: expected a file path");
    expect_one("{\"spool\": {\"size\": 3}}", "spool");
    expect_one("{\"spool\": 3}", "t.json: spool: expected an object");
    expect_one("{\"prober\": {\"max_lag_ms\": 0}}",
               "t.json: prober.max_lag_ms: expected an integer from 1 to 60000, got 0");
    expect_one("{\"prober\": {\"canaries\": [\"nope\"]}}",
               "t.json: prober.canaries[0]: expected the name of a configured target, "
               "got \"nope\"");
    expect_one("{\"prober\": {\"canaries\": \"gw\"}}",
               "t.json: prober.canaries: expected a list of at most 16 target names");
    char *twice = http_with("");
    char *text = NULL;
    assert_true(asprintf(&text, "{\"prober\": {\"canaries\": [\"web\", \"web\"]}, %s",
                         twice + 1) > 0);
    expect_one(text, "t.json: prober.canaries[1]: target \"web\" is named twice");
    free(text);
    free(twice);
}

static void test_unknown_kind(void **state)
{
    (void)state;
    /* keys of real kinds are not blamed when the kind itself is wrong */
    expect_one("{\"targets\": [{\"name\": \"u\", \"kind\": \"udp\", \"host\": \"h\","
               " \"port\": 53}]}",
               "t.json: targets[0].kind: expected one of \"http\", \"tcp\", \"postgres\", "
               "got \"udp\"\n");
    expect_one("{\"targets\": [{\"name\": \"u\", \"kind\": \"\", \"url\": \"http://h\"}]}",
               "targets[0].kind: expected one of \"http\", \"tcp\", \"postgres\", got \"\"");
    expect_one("{\"targets\": [{\"name\": \"u\", \"kind\": \"HTTP\", \"url\": \"http://h\"}]}",
               "got \"HTTP\"");
}

static void test_postgres(void **state)
{
    (void)state;
    expect_ok("{\"targets\": [{\"name\": \"p\", \"kind\": \"postgres\","
              " \"conninfo\": \"postgresql://u@127.0.0.1:5432/app?sslmode=disable\"}]}");
    struct result r;
    load_text("{\"targets\": [{\"name\": \"p\", \"kind\": \"postgres\","
              " \"conninfo\": \"host=h password=hunter2 port\"}]}",
              &r);
    assert_int_equal(r.nerrs, 1);
    /* libpq's own words, on one line, and the password is not echoed */
    assert_has(&r, "t.json: targets[0].conninfo: expected a libpq connection string: "
                   "missing \"=\" after \"port\" in connection info string\n");
    assert_null(strstr(r.errs, "hunter2"));
    result_free(&r);

    expect_one("{\"targets\": [{\"name\": \"p\", \"kind\": \"postgres\","
               " \"conninfo\": \"bogus=1\"}]}",
               "targets[0].conninfo: expected a libpq connection string: invalid "
               "connection option \"bogus\"");
    expect_one("{\"targets\": [{\"name\": \"p\", \"kind\": \"postgres\", \"conninfo\": \"\"}]}",
               "targets[0].conninfo: expected a libpq connection string, got \"\"");
    expect_one("{\"targets\": [{\"name\": \"p\", \"kind\": \"postgres\","
               " \"conninfo\": \"dbname=x\", \"query\": \"\"}]}",
               "targets[0].query: expected a non-empty SQL query, got \"\"");
    expect_one("{\"targets\": [{\"name\": \"p\", \"kind\": \"postgres\","
               " \"conninfo\": \"dbname=x\", \"query\": 1}]}",
               "targets[0].query: expected a non-empty SQL query, got 1");
}

/* A definition as shown (emp_target_config_json with `redact`): a URL's
 * userinfo and credential headers hidden, whatever the kind; as stored
 * (without `redact`): whole, since the probe needs it (issue 13, item 5). */
static void test_shown_definition_redacts(void **state)
{
    (void)state;
    struct emp_target_config tc =
        test_target("{\"name\": \"w\", \"kind\": \"http\", \"group\": \"g\","
                    " \"url\": \"http://admin:hunter2@[::1]:8080/a@b?c=d:e@f\"}");
    json_t *shown = emp_target_config_json(&tc, true);
    json_t *kept = emp_target_config_json(&tc, false);
    assert_non_null(shown);
    assert_non_null(kept);
    assert_string_equal(json_string_value(json_object_get(shown, "url")),
                        "http://admin:***@[::1]:8080/a@b?c=d:e@f");
    assert_string_equal(json_string_value(json_object_get(kept, "url")),
                        "http://admin:hunter2@[::1]:8080/a@b?c=d:e@f");
    assert_string_equal(json_string_value(json_object_get(shown, "group")), "g");
    json_decref(shown);
    json_decref(kept);
    emp_target_config_cleanup(&tc);

    /* A conninfo written as a URI: the kind's own redaction. */
    tc = test_target("{\"name\": \"p\", \"kind\": \"postgres\","
                     " \"conninfo\": \"postgresql://app:hunter2@db/app\"}");
    shown = emp_target_config_json(&tc, true);
    char *text = json_dumps(shown, 0);
    assert_non_null(text);
    assert_null(strstr(text, "hunter2"));
    free(text);
    json_decref(shown);
    emp_target_config_cleanup(&tc);
}

/* A kind that writes headers, as one may: the shared rule hides them
 * (members of an object, or "Name: value" lines) and URLs at any depth,
 * without the kind having to. */
static int fake_to_json(const void *spec, bool redact, json_t *o)
{
    (void)spec;
    (void)redact;
    json_t *v = json_loads("{\"endpoint\": \"https://t0ken@h/x\","
                           " \"headers\": {\"Authorization\": \"Bearer s3\","
                           " \"x-API-key\": 42, \"Accept\": \"text/plain\"},"
                           " \"more\": [{\"HEADERS\": [\"cookie: a=s4\", \"Accept: */*\","
                           " \"no colon\"]}, \"ftp://u:s5@h\"]}",
                           0, NULL);
    /* A name too long to check: hidden too. */
    char line[300];
    memset(line, 'X', 200);
    snprintf(line + 200, sizeof line - 200, ": s6");
    int bad = json_array_append_new(json_object_get(json_array_get(json_object_get(v, "more"), 0),
                                                    "HEADERS"),
                                    json_string(line));
    bad |= json_object_update(o, v);
    json_decref(v);
    return bad;
}

static void test_shown_definition_headers(void **state)
{
    (void)state;
    static const struct emp_probe_kind fake = {.name = "fake", .to_json = fake_to_json};
    static int spec;
    struct emp_target_config tc = {.name = "f", .group = "", .kind = &fake, .spec = &spec};
    json_t *shown = emp_target_config_json(&tc, true);
    json_t *want = json_loads("{\"endpoint\": \"https://***@h/x\","
                              " \"headers\": {\"Authorization\": \"***\","
                              " \"x-API-key\": \"***\", \"Accept\": \"text/plain\"}}",
                              0, NULL);
    assert_non_null(shown);
    assert_non_null(want);
    const char *key;
    json_t *v;
    json_object_foreach(want, key, v)
    {
        if (!json_equal(json_object_get(shown, key), v)) {
            char *got = json_dumps(shown, JSON_SORT_KEYS);
            fail_msg("%s: got %s", key, got);
        }
    }
    const json_t *more = json_object_get(shown, "more");
    const json_t *lines = json_object_get(json_array_get(more, 0), "HEADERS");
    assert_int_equal(json_array_size(lines), 4);
    assert_string_equal(json_string_value(json_array_get(lines, 0)), "cookie: ***");
    assert_string_equal(json_string_value(json_array_get(lines, 1)), "Accept: */*");
    assert_string_equal(json_string_value(json_array_get(lines, 2)), "no colon");
    assert_string_equal(json_string_value(json_array_get(lines, 3)) + 200, ": ***");
    assert_string_equal(json_string_value(json_array_get(more, 1)), "ftp://u:***@h");
    json_decref(want);
    json_decref(shown);
    /* Not redacted: as written. */
    json_t *kept = emp_target_config_json(&tc, false);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(kept, "headers"), "Authorization")),
        "Bearer s3");
    json_decref(kept);
}

/* A refused definition's message does not echo a URL's password. */
static void test_refused_url_not_echoed(void **state)
{
    (void)state;
    expect_one("{\"targets\": [{\"name\": \"w\", \"kind\": \"http\","
               " \"url\": \"http://admin:hunter2@h:0/\"}]}",
               "got \"http://admin:***@h:0/\" (port must be from 1 to 65535)");
}

static void test_every_problem_is_reported(void **state)
{
    (void)state;
    struct result r;
    load_text("{\n"
              "  \"listen\": \"nohost\",\n"
              "  \"prober\": {\"name\": \"\", \"extra\": 1},\n"
              "  \"verbose\": true,\n"
              "  \"targets\": [\n"
              "    {\"name\": \"web\", \"kind\": \"http\", \"url\": \"ftp://x\","
              "     \"interval_ms\": \"5s\", \"fail_threshold\": 0, \"reuse\": \"no\"},\n"
              "    {\"name\": \"web\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 70000,"
              "     \"url\": \"http://h\"},\n"
              "    {\"name\": \"bad name\", \"kind\": \"smtp\"},\n"
              "    {\"name\": \"pg\", \"kind\": \"postgres\", \"conninfo\": \"x\","
              "     \"expect_status\": [200]}\n"
              "  ]\n"
              "}\n",
              &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    const char *lines[] = {
        "t.json: listen: expected \"host:port\"",
        "t.json: prober.name: expected a name",
        "t.json: prober.extra: unknown key",
        "t.json: verbose: unknown key",
        "t.json: targets[0].url: expected an http:// or https:// URL",
        "t.json: targets[0].interval_ms: expected an integer from 100 to 86400000, got \"5s\"",
        "t.json: targets[0].fail_threshold: expected an integer from 1 to 100, got 0",
        "t.json: targets[0].reuse: expected true or false, got \"no\"",
        "t.json: targets[1].name: duplicate target name \"web\" (first at targets[0])",
        "t.json: targets[1].port: expected an integer from 1 to 65535, got 70000",
        "t.json: targets[1].url: not valid for kind tcp",
        "t.json: targets[2].name: expected a name",
        "t.json: targets[2].kind: expected one of",
        "t.json: targets[3].conninfo: expected a libpq connection string: ",
        "t.json: targets[3].expect_status: not valid for kind postgres",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        assert_has(&r, lines[i]);
    assert_int_equal(r.nerrs, sizeof lines / sizeof lines[0]);
    result_free(&r);
}

static void test_long_values_are_cut(void **state)
{
    (void)state;
    char big[600];
    memset(big, 'a', sizeof big);
    big[sizeof big - 1] = '\0';
    char text[800];
    snprintf(text, sizeof text, "{\"listen\": [\"%s\"]}", big);
    struct result r;
    load_text(text, &r);
    assert_int_equal(r.nerrs, 1);
    assert_has(&r, "got [\"aaaa");
    assert_has(&r, "...\n");
    assert_true(strlen(r.errs) < 200);
    result_free(&r);

    /* cut between, never inside, UTF-8 sequences */
    char text2[800] = "{\"listen\": \"";
    for (int i = 0; i < 100; i++)
        strcat(text2, "\xc3\xa9");
    strcat(text2, "\"}");
    load_text(text2, &r);
    assert_int_equal(r.nerrs, 1);
    assert_has(&r, "\xc3\xa9... (missing \":port\")\n");
    result_free(&r);
}

static void test_load_from_file(void **state)
{
    (void)state;
    char path[] = "/tmp/empiric-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(full_config, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);

    struct result r;
    load_path(path, &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_string_equal(r.cfg->path, path);
    assert_int_equal(r.cfg->n_targets, 3);
    result_free(&r);

    /* syntax errors in a file carry the file name, line and column */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\n\n  \"listen\" \"x\"\n}\n", fp);
    assert_int_equal(fclose(fp), 0);
    load_path(path, &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s:3:", path);
    assert_true(strncmp(r.errs, prefix, strlen(prefix)) == 0);
    result_free(&r);
    assert_int_equal(unlink(path), 0);

    load_path(path, &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    char want[128];
    snprintf(want, sizeof want, "%s: cannot read: %s\n", path, strerror(ENOENT));
    assert_string_equal(r.errs, want);
    result_free(&r);

    load_path("/tmp", &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    snprintf(want, sizeof want, "/tmp: cannot read: %s\n", strerror(EISDIR));
    assert_string_equal(r.errs, want);
    result_free(&r);
}

static void test_find_target_and_kind_name(void **state)
{
    (void)state;
    struct result r;
    load_text(full_config, &r);
    assert_int_equal(emp_config_find_target(r.cfg, "web"), 0);
    assert_int_equal(emp_config_find_target(r.cfg, "db"), 2);
    assert_int_equal(emp_config_find_target(r.cfg, "nope"), -1);
    assert_int_equal(emp_config_find_target(r.cfg, NULL), -1);
    assert_int_equal(emp_config_find_target(NULL, "web"), -1);
    result_free(&r);
    /* The kinds, by name from the table. */
    assert_string_equal(emp_kinds_find(&emp_probe_kinds, "http")->name, "http");
    assert_string_equal(emp_kinds_find(&emp_probe_kinds, "tcp")->name, "tcp");
    assert_string_equal(emp_kinds_find(&emp_probe_kinds, "postgres")->name, "postgres");
    assert_null(emp_kinds_find(&emp_probe_kinds, "unknown"));
    assert_null(emp_kinds_find(&emp_probe_kinds, NULL));
}

static void test_arguments_and_null_errs(void **state)
{
    (void)state;
    struct emp_config *cfg = (struct emp_config *)(uintptr_t)1;
    size_t n = 99;
    /* with no stream the problems are still counted */
    assert_int_equal(
        emp_config_load_string("{\"a\": 1, \"b\": 2}", "x.json", &emp_probe_kinds, &cfg, NULL, &n),
        EMP_ECONFIG);
    assert_null(cfg);
    assert_int_equal(n, 2);
    assert_int_equal(emp_config_load_string("{}", NULL, &emp_probe_kinds, &cfg, NULL, NULL),
                     EMP_OK);
    assert_string_equal(cfg->path, "(string)");
    emp_config_free(cfg);
    assert_int_equal(emp_config_load_string(NULL, "x", &emp_probe_kinds, &cfg, NULL, NULL),
                     EMP_EINVAL);
    assert_null(cfg);
    assert_int_equal(emp_config_load_string("{}", "x", &emp_probe_kinds, NULL, NULL, NULL),
                     EMP_EINVAL);
    assert_int_equal(emp_config_load(NULL, &emp_probe_kinds, &cfg, NULL, NULL), EMP_EINVAL);
    emp_config_free(NULL);
}

/* ---- SLAs -------------------------------------------------------------- */

#define SLA_TARGETS                                                                      \
    "\"targets\": ["                                                                     \
    "{\"name\": \"web\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 1, "              \
    "\"group\": \"frontend\"},"                                                          \
    "{\"name\": \"api\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 2, "              \
    "\"group\": \"frontend\"},"                                                          \
    "{\"name\": \"db\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 3}]"

static const char sla_config[] =
    "{" SLA_TARGETS ",\n"
    " \"slas\": [\n"
    "  {\"name\": \"vendor\", \"objective\": 99.95, \"period\": \"month\",\n"
    "   \"downtime_rule\": {\"kind\": \"minutes\", \"max_failed_fraction\": 0.5},\n"
    "   \"credits\": [{\"below\": 99.0, \"credit_percent\": 25},\n"
    "                {\"below\": 99.95, \"credit_percent\": 10},\n"
    "                {\"below\": 95, \"credit_percent\": 100}],\n"
    "   \"exclude_unknown\": false, \"targets\": [\"db\"], \"groups\": [\"frontend\"]},\n"
    "  {\"name\": \"internal\", \"objective\": 99, \"targets\": [\"web\", \"db\"]}\n"
    " ]}\n";

/* One SLA with `members` (a JSON members list) over the three targets. */
static char *sla_with(const char *members)
{
    char *s = NULL;
    int n = asprintf(&s, "{" SLA_TARGETS ", \"slas\": [{%s}]}", members);
    assert_true(n > 0);
    return s;
}

static void expect_sla_one(const char *members, const char *needle)
{
    char *text = sla_with(members);
    expect_one(text, needle);
    free(text);
}

static void expect_sla_ok(const char *members)
{
    char *text = sla_with(members);
    expect_ok(text);
    free(text);
}

#define SLA_MIN "\"name\": \"s\", \"objective\": 99.9, \"targets\": [\"web\"]"

static void test_slas_load(void **state)
{
    (void)state;
    struct result r;
    load_text(sla_config, &r);
    assert_int_equal(r.rc, EMP_OK);
    const struct emp_config *c = r.cfg;
    assert_int_equal(c->n_slas, 2);

    const struct emp_sla *v = &c->slas[0];
    assert_string_equal(v->name, "vendor");
    assert_true(v->objective_pct == 99.95);
    assert_int_equal(v->period, EMP_SLA_MONTH);
    assert_int_equal(v->rule, EMP_SLA_RULE_MINUTES);
    assert_true(v->max_failed_fraction == 0.5);
    assert_false(v->exclude_unknown);
    /* tiers are stored highest threshold first */
    assert_int_equal(v->n_credits, 3);
    assert_true(v->credits[0].below_pct == 99.95 && v->credits[0].credit_pct == 10);
    assert_true(v->credits[1].below_pct == 99.0 && v->credits[1].credit_pct == 25);
    assert_true(v->credits[2].below_pct == 95 && v->credits[2].credit_pct == 100);
    assert_int_equal(v->n_targets, 1);
    assert_string_equal(v->targets[0], "db");
    assert_int_equal(v->n_groups, 1);
    assert_string_equal(v->groups[0], "frontend");

    const struct emp_sla *in = &c->slas[1];
    assert_string_equal(in->name, "internal");
    assert_true(in->objective_pct == 99.0);
    /* defaults */
    assert_int_equal(in->period, EMP_DEFAULT_SLA_PERIOD);
    assert_int_equal(in->rule, EMP_SLA_RULE_OUTAGES);
    assert_true(in->max_failed_fraction == 0.0);
    assert_true(in->exclude_unknown);
    assert_int_equal(in->n_credits, 0);
    assert_int_equal(in->n_groups, 0);
    assert_int_equal(in->n_targets, 2);

    /* attachment: by target name or by the target's group */
    assert_true(emp_sla_covers(v, "web", "frontend"));
    assert_true(emp_sla_covers(v, "api", "frontend"));
    assert_true(emp_sla_covers(v, "db", ""));
    assert_false(emp_sla_covers(v, "other", ""));
    assert_false(emp_sla_covers(v, "other", NULL));
    assert_true(emp_sla_covers(in, "web", "frontend"));
    assert_false(emp_sla_covers(in, "api", "frontend"));
    assert_false(emp_sla_covers(NULL, "web", "frontend"));

    assert_int_equal(emp_config_find_sla(c, "vendor"), 0);
    assert_int_equal(emp_config_find_sla(c, "internal"), 1);
    assert_int_equal(emp_config_find_sla(c, "nope"), -1);
    assert_int_equal(emp_config_find_sla(c, NULL), -1);
    assert_int_equal(emp_config_find_sla(NULL, "vendor"), -1);
    result_free(&r);

    /* no slas, or an empty list, is valid */
    load_text("{\"slas\": []}", &r);
    assert_int_equal(r.rc, EMP_OK);
    assert_int_equal(r.cfg->n_slas, 0);
    result_free(&r);
}

static void test_sla_values(void **state)
{
    (void)state;
    const char *periods[] = {"day", "week", "month", "quarter", "year"};
    for (size_t i = 0; i < sizeof periods / sizeof periods[0]; i++) {
        char members[128];
        snprintf(members, sizeof members, SLA_MIN ", \"period\": \"%s\"", periods[i]);
        struct result r;
        char *text = sla_with(members);
        load_text(text, &r);
        free(text);
        assert_int_equal(r.rc, EMP_OK);
        assert_int_equal(r.cfg->slas[0].period, (int)i);
        assert_string_equal(emp_sla_period_name(r.cfg->slas[0].period), periods[i]);
        result_free(&r);
    }
    /* the edges */
    expect_sla_ok("\"name\": \"s\", \"objective\": 100, \"groups\": [\"frontend\"]");
    expect_sla_ok("\"name\": \"s\", \"objective\": 0.001, \"targets\": [\"web\"]");
    expect_sla_ok(SLA_MIN ", \"downtime_rule\": {\"kind\": \"minutes\", "
                  "\"max_failed_fraction\": 0.999}");
    expect_sla_ok(SLA_MIN ", \"downtime_rule\": {\"kind\": \"minutes\"}");
    expect_sla_ok(SLA_MIN ", \"downtime_rule\": {\"kind\": \"outages\"}");
    expect_sla_ok(SLA_MIN ", \"credits\": [{\"below\": 99.9, \"credit_percent\": 0},"
                  " {\"below\": 0.5, \"credit_percent\": 100}]");
    /* equal credits for two tiers are allowed */
    expect_sla_ok(SLA_MIN ", \"credits\": [{\"below\": 99, \"credit_percent\": 10},"
                  " {\"below\": 98, \"credit_percent\": 10}]");
    expect_sla_ok("\"name\": \"s\", \"objective\": 99.9, \"exclude_unknown\": true, "
                  "\"targets\": [], \"groups\": [\"frontend\"]");
    assert_int_equal(emp_sla_period_parse("Month"), -1);
    assert_int_equal(emp_sla_period_parse(NULL), -1);
    assert_string_equal(emp_sla_period_name((enum emp_sla_period)9), "unknown");
    assert_string_equal(emp_sla_rule_name(EMP_SLA_RULE_MINUTES), "minutes");
    assert_string_equal(emp_sla_rule_name((enum emp_sla_rule)9), "unknown");
}

static void test_sla_errors(void **state)
{
    (void)state;
    /* references */
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9, \"targets\": [\"web\", \"wbe\"]",
                   "t.json: slas[0].targets[1]: expected the name of a configured target, "
                   "got \"wbe\"\n");
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9, \"groups\": [\"backend\"]",
                   "t.json: slas[0].groups[0]: expected the group of a configured target, "
                   "got \"backend\"\n");
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9, \"groups\": [\"\"]",
                   "slas[0].groups[0]: expected the group of a configured target, got \"\"");
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9, \"targets\": [\"db\", 3]",
                   "slas[0].targets[1]: expected the name of a configured target, got 3");
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9, \"targets\": [\"db\", \"web\", \"db\"]",
                   "t.json: slas[0].targets[2]: duplicate target \"db\" (first at "
                   "slas[0].targets[0])\n");
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9, \"targets\": \"web\"",
                   "t.json: slas[0].targets: expected an array of target names, got \"web\"");
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9, \"groups\": {}",
                   "t.json: slas[0].groups: expected an array of group names, got {}");
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9",
                   "t.json: slas[0]: expected \"targets\" or \"groups\" naming what the SLA "
                   "covers, got neither\n");
    expect_sla_one("\"name\": \"s\", \"objective\": 99.9, \"targets\": [], \"groups\": []",
                   "slas[0]: expected \"targets\" or \"groups\"");

    /* name and objective */
    expect_sla_one("\"objective\": 99.9, \"targets\": [\"web\"]",
                   "t.json: slas[0].name: required, expected a name of 1 to 128 characters");
    expect_sla_one("\"name\": \"a b\", \"objective\": 99.9, \"targets\": [\"web\"]",
                   "slas[0].name: expected a name of 1 to 128 characters from "
                   "[A-Za-z0-9._-], got \"a b\"");
    expect_sla_one("\"name\": \"s\", \"targets\": [\"web\"]",
                   "t.json: slas[0].objective: required, expected a percentage greater than 0 "
                   "and at most 100\n");
    const char *bad_objectives[] = {"0", "-1", "100.01", "\"99.9\"", "true", "null"};
    for (size_t i = 0; i < sizeof bad_objectives / sizeof bad_objectives[0]; i++) {
        char members[128], want[128];
        snprintf(members, sizeof members,
                 "\"name\": \"s\", \"targets\": [\"web\"], \"objective\": %s",
                 bad_objectives[i]);
        snprintf(want, sizeof want,
                 "t.json: slas[0].objective: expected a percentage greater than 0 and at "
                 "most 100, got %s\n",
                 bad_objectives[i]);
        expect_sla_one(members, want);
    }

    /* period */
    expect_sla_one(SLA_MIN ", \"period\": \"monthly\"",
                   "t.json: slas[0].period: expected one of \"day\", \"week\", \"month\", "
                   "\"quarter\", \"year\", got \"monthly\"\n");
    expect_sla_one(SLA_MIN ", \"period\": 30", "slas[0].period: expected one of");

    /* downtime rule */
    expect_sla_one(SLA_MIN ", \"downtime_rule\": \"minutes\"",
                   "t.json: slas[0].downtime_rule: expected {\"kind\": \"outages\"} or "
                   "{\"kind\": \"minutes\", \"max_failed_fraction\": F}, got \"minutes\"");
    expect_sla_one(SLA_MIN ", \"downtime_rule\": {}",
                   "t.json: slas[0].downtime_rule.kind: required, expected one of "
                   "\"outages\", \"minutes\"\n");
    expect_sla_one(SLA_MIN ", \"downtime_rule\": {\"kind\": \"seconds\"}",
                   "slas[0].downtime_rule.kind: expected one of \"outages\", \"minutes\", "
                   "got \"seconds\"");
    const char *bad_fractions[] = {"1", "1.5", "-0.1", "\"0\""};
    for (size_t i = 0; i < sizeof bad_fractions / sizeof bad_fractions[0]; i++) {
        char members[160], want[160];
        snprintf(members, sizeof members,
                 SLA_MIN ", \"downtime_rule\": {\"kind\": \"minutes\", "
                         "\"max_failed_fraction\": %s}",
                 bad_fractions[i]);
        snprintf(want, sizeof want,
                 "t.json: slas[0].downtime_rule.max_failed_fraction: expected a number from "
                 "0 to less than 1, got %s\n",
                 bad_fractions[i]);
        expect_sla_one(members, want);
    }
    expect_sla_one(SLA_MIN ", \"downtime_rule\": {\"kind\": \"outages\", "
                   "\"max_failed_fraction\": 0.1}",
                   "t.json: slas[0].downtime_rule.max_failed_fraction: not valid for kind "
                   "outages (only for minutes)\n");
    expect_sla_one(SLA_MIN ", \"downtime_rule\": {\"kind\": \"minutes\","
                   " \"max_failed_fractoin\": 0.1}",
                   "slas[0].downtime_rule.max_failed_fractoin: unknown key, did you mean "
                   "\"max_failed_fraction\"?");

    /* credits */
    expect_sla_one(SLA_MIN ", \"credits\": {\"below\": 99, \"credit_percent\": 10}",
                   "t.json: slas[0].credits: expected an array of {\"below\": PERCENT, "
                   "\"credit_percent\": PERCENT}, got {");
    expect_sla_one(SLA_MIN ", \"credits\": [10]",
                   "t.json: slas[0].credits[0]: expected {\"below\": PERCENT, "
                   "\"credit_percent\": PERCENT}, got 10\n");
    expect_sla_one(SLA_MIN ", \"credits\": [{\"credit_percent\": 10}]",
                   "t.json: slas[0].credits[0].below: required, expected a percentage "
                   "greater than 0 and at most the objective (99.9)\n");
    expect_sla_one(SLA_MIN ", \"credits\": [{\"below\": 99.95, \"credit_percent\": 10}]",
                   "t.json: slas[0].credits[0].below: expected a percentage greater than 0 "
                   "and at most the objective (99.9), got 99.95\n");
    expect_sla_one(SLA_MIN ", \"credits\": [{\"below\": 0, \"credit_percent\": 10}]",
                   "slas[0].credits[0].below: expected a percentage greater than 0");
    expect_sla_one(SLA_MIN ", \"credits\": [{\"below\": 99}]",
                   "t.json: slas[0].credits[0].credit_percent: required, expected a "
                   "percentage from 0 to 100\n");
    expect_sla_one(SLA_MIN ", \"credits\": [{\"below\": 99, \"credit_percent\": 101}]",
                   "t.json: slas[0].credits[0].credit_percent: expected a percentage from 0 "
                   "to 100, got 101\n");
    expect_sla_one(SLA_MIN ", \"credits\": [{\"below\": 99, \"credit_percent\": \"10%\"}]",
                   "slas[0].credits[0].credit_percent: expected a percentage from 0 to 100, "
                   "got \"10%\"");
    expect_sla_one(SLA_MIN ", \"credits\": [{\"below\": 99, \"credit_percent\": 10,"
                   " \"credit\": 5}]",
                   "slas[0].credits[0].credit: unknown key; a credit tier takes below, "
                   "credit_percent");
    expect_sla_one(SLA_MIN ", \"credits\": [{\"below\": 99, \"credit_percent\": 10},"
                   " {\"below\": 98, \"credit_percent\": 25},"
                   " {\"below\": 99.0, \"credit_percent\": 30}]",
                   "t.json: slas[0].credits[2].below: duplicate tier below 99.0 (first at "
                   "slas[0].credits[0])\n");
    /* a worse availability may not owe less */
    expect_sla_one(SLA_MIN ", \"credits\": [{\"below\": 95, \"credit_percent\": 5},"
                   " {\"below\": 99, \"credit_percent\": 10}]",
                   "t.json: slas[0].credits[0].credit_percent: expected at least 10, the "
                   "credit below 99 at slas[0].credits[1] (a lower availability may not owe "
                   "less), got 5\n");
    /* with a bad objective, thresholds are checked against 100 only */
    expect_sla_one("\"name\": \"s\", \"objective\": 101, \"targets\": [\"web\"],"
                   " \"credits\": [{\"below\": 99.95, \"credit_percent\": 10}]",
                   "slas[0].objective: ");

    /* the rest */
    expect_sla_one(SLA_MIN ", \"exclude_unknown\": \"yes\"",
                   "t.json: slas[0].exclude_unknown: expected true or false, got \"yes\"\n");
    expect_sla_one(SLA_MIN ", \"objectif\": 99",
                   "slas[0].objectif: unknown key, did you mean \"objective\"?");
    expect_sla_one(SLA_MIN ", \"owner\": \"ops\"",
                   "slas[0].owner: unknown key; an SLA takes name, objective, period, "
                   "downtime_rule, credits, exclude_unknown, targets, groups");
    expect_one("{\"slas\": {}}", "t.json: slas: expected an array of SLA objects, got {}\n");
    expect_one("{\"slas\": [[]]}", "t.json: slas[0]: expected an object, got []\n");
    expect_one("{\"sla\": []}", "t.json: sla: unknown key, did you mean \"slas\"?\n");

    struct result r;
    load_text("{" SLA_TARGETS ", \"slas\": ["
              "{\"name\": \"s\", \"objective\": 99, \"targets\": [\"web\"]},"
              "{\"name\": \"t\", \"objective\": 99, \"targets\": [\"web\"]},"
              "{\"name\": \"s\", \"objective\": 98, \"targets\": [\"db\"]}]}",
              &r);
    assert_int_equal(r.nerrs, 1);
    assert_has(&r, "t.json: slas[2].name: duplicate SLA name \"s\" (first at slas[0])\n");
    result_free(&r);

    /* A target that is itself invalid can still be referred to: the mistake
     * is reported once, at the target. */
    expect_one("{\"targets\": [{\"name\": \"web\", \"kind\": \"tcp\", \"host\": \"h\","
               " \"port\": 0, \"group\": \"g\"}],"
               " \"slas\": [{\"name\": \"s\", \"objective\": 99, \"targets\": [\"web\"],"
               " \"groups\": [\"g\"]}]}",
               "t.json: targets[0].port: expected an integer from 1 to 65535, got 0\n");
    /* with no targets at all, every reference is unknown */
    expect_one("{\"slas\": [{\"name\": \"s\", \"objective\": 99, \"targets\": [\"web\"]}]}",
               "t.json: slas[0].targets[0]: expected the name of a configured target, got "
               "\"web\"\n");
}

static void test_sla_every_problem_is_reported(void **state)
{
    (void)state;
    struct result r;
    load_text("{" SLA_TARGETS ",\n"
              " \"slas\": [\n"
              "  {\"name\": \"x y\", \"objective\": 120, \"period\": \"fortnight\",\n"
              "   \"downtime_rule\": {\"kind\": \"minutes\", \"max_failed_fraction\": 2},\n"
              "   \"credits\": [{\"below\": 99, \"credit_percent\": 200}, 5],\n"
              "   \"exclude_unknown\": 1, \"targets\": [\"nope\"], \"groups\": [\"none\"],\n"
              "   \"colour\": \"red\"},\n"
              "  {\"name\": \"ok\", \"objective\": 99.9, \"groups\": [\"frontend\"]},\n"
              "  7\n"
              " ]}\n",
              &r);
    assert_int_equal(r.rc, EMP_ECONFIG);
    const char *lines[] = {
        "t.json: slas[0].name: expected a name",
        "t.json: slas[0].objective: expected a percentage greater than 0 and at most 100, "
        "got 120",
        "t.json: slas[0].period: expected one of",
        "t.json: slas[0].downtime_rule.max_failed_fraction: expected a number from 0 to less "
        "than 1, got 2",
        "t.json: slas[0].credits[0].credit_percent: expected a percentage from 0 to 100, got "
        "200",
        "t.json: slas[0].credits[1]: expected {",
        "t.json: slas[0].exclude_unknown: expected true or false, got 1",
        "t.json: slas[0].targets[0]: expected the name of a configured target, got \"nope\"",
        "t.json: slas[0].groups[0]: expected the group of a configured target, got \"none\"",
        "t.json: slas[0].colour: unknown key",
        "t.json: slas[2]: expected an object, got 7",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        assert_has(&r, lines[i]);
    assert_int_equal(r.nerrs, sizeof lines / sizeof lines[0]);
    result_free(&r);
}

/* Fail the Nth jansson allocation: once the text has parsed, a failure must
 * come back as EMP_ENOMEM, never as a configuration problem or a success,
 * and leak nothing. (jansson reports a failure inside its lexer as a syntax
 * error, so those are let through as long as they say where.) */
static int allocs_left;

static void *failing_malloc(size_t size)
{
    if (allocs_left-- <= 0)
        return NULL;
    return malloc(size);
}

static void run_with_failures(const char *text, enum emp_err want)
{
    bool succeeded = false;
    for (int n = 0; n < 10000 && !succeeded; n++) {
        allocs_left = n;
        json_set_alloc_funcs(failing_malloc, free);
        struct result r;
        load_text(text, &r);
        json_set_alloc_funcs(malloc, free);
        if (r.rc == EMP_ENOMEM)
            assert_has(&r, "t.json: out of memory\n");
        else if (r.rc != want)
            assert_true(r.rc == EMP_ECONFIG && r.nerrs == 1 &&
                        strncmp(r.errs, "t.json:", 7) == 0 && r.errs[7] >= '1' &&
                        r.errs[7] <= '9');
        succeeded = r.rc == want;
        result_free(&r);
    }
    assert_true(succeeded);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    run_with_failures(full_config, EMP_OK);
    run_with_failures(sla_config, EMP_OK);
    run_with_failures("{\"targets\": [{\"name\": \"a b\", \"kind\": \"x\", \"q\": [1]},"
                      " {\"name\": \"a\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 1},"
                      " {\"name\": \"a\", \"kind\": \"tcp\", \"host\": \"h\", \"port\": 1}],"
                      " \"odd key\": 1}",
                      EMP_ECONFIG);
    run_with_failures("{" SLA_TARGETS ", \"slas\": ["
                      "{\"name\": \"s\", \"objective\": 99, \"targets\": [\"web\", \"x\", \"web\"],"
                      " \"credits\": [{\"below\": 90, \"credit_percent\": 5},"
                      " {\"below\": 99, \"credit_percent\": 10}]},"
                      "{\"name\": \"s\", \"objective\": 99, \"groups\": [\"frontend\", \"y\"]}]}",
                      EMP_ECONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config_loads_every_field),
        cmocka_unit_test(test_defaults_apply),
        cmocka_unit_test(test_empty_and_missing_targets_are_valid),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_syntax_error_has_line_and_column),
        cmocka_unit_test(test_duplicate_keys_rejected),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_missing_required_fields),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_tcp_hosts_and_ports),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_spool_and_monitor),
        cmocka_unit_test(test_vantage),
        cmocka_unit_test(test_postgres),
        cmocka_unit_test(test_every_problem_is_reported),
        cmocka_unit_test(test_long_values_are_cut),
        cmocka_unit_test(test_load_from_file),
        cmocka_unit_test(test_find_target_and_kind_name),
        cmocka_unit_test(test_slas_load),
        cmocka_unit_test(test_sla_values),
        cmocka_unit_test(test_sla_errors),
        cmocka_unit_test(test_sla_every_problem_is_reported),
        cmocka_unit_test(test_arguments_and_null_errs),
        cmocka_unit_test(test_shown_definition_redacts),
        cmocka_unit_test(test_shown_definition_headers),
        cmocka_unit_test(test_refused_url_not_echoed),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
