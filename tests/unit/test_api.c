/* The HTTP API over a real socket, without a database: the router (404,
 * 405 + Allow, HEAD), /healthz, /api/v1/targets from the live state, query
 * validation (400 before the database is touched), 503 when the database is
 * away, the write endpoints' 401 and the body cap's 413, and odd requests
 * that must not hurt the server. The database-backed
 * answers are covered by the end-to-end tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "config/config.h"
#include "store/db.h"
#include "probes/state.h"
#include "core/timeutil.h"
#include "tests/support/target.h"

/* ---- a fake database server: counts connections and hangs up ---------- */

struct fake_db {
    int fd;
    int port;
    atomic_int accepted;
    atomic_bool stop;
    pthread_t thread;
};

static void *fake_db_run(void *arg)
{
    struct fake_db *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(f->fd, NULL, NULL);
        if (c >= 0) {
            atomic_fetch_add(&f->accepted, 1);
            close(c);
        }
    }
    return NULL;
}

static void fake_db_start(struct fake_db *f)
{
    memset(f, 0, sizeof *f);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f->fd, 16), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_db_run, f), 0);
}

static void fake_db_stop(struct fake_db *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->fd);
}

/* ---- fixture ---------------------------------------------------------- */

struct fixture {
    struct fake_db db;
    struct emp_target_config targets[4];
    struct emp_config cfg;
    struct emp_state state;
    struct emp_db_pool *pool;
    struct emp_api *api;
    int port;
    int64_t now_us;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fake_db_start(&fx->db);
    fx->targets[0] = (struct emp_target_config){
        .name = "web", .kind = test_kind("http"), .group = "front", .interval_ms = 1000};
    fx->targets[1] = (struct emp_target_config){
        .name = "db.main", .kind = test_kind("postgres"), .group = "", .interval_ms = 1000};
    fx->targets[2] = (struct emp_target_config){
        .name = "cache_1", .kind = test_kind("tcp"), .group = "", .interval_ms = 1000};
    fx->targets[3] = (struct emp_target_config){
        .name = "old-one", .kind = test_kind("tcp"), .group = "back", .interval_ms = 1000};
    fx->cfg.targets = fx->targets;
    fx->cfg.n_targets = 4;
    int64_t ids[4] = {1, 2, 3, 4};
    assert_int_equal(emp_state_init(&fx->state, &fx->cfg, ids), 0);
    /* Whole seconds, so that "since" formats without a fraction. */
    fx->now_us = emp_now_us() / EMP_US_PER_S * EMP_US_PER_S;
    emp_state_update(&fx->state, 0, EMP_TS_UP, fx->now_us - 60 * EMP_US_PER_S,
                     fx->now_us + 30 * EMP_US_PER_S);
    emp_state_update(&fx->state, 1, EMP_TS_DOWN, fx->now_us - 5 * EMP_US_PER_S,
                     fx->now_us + 30 * EMP_US_PER_S);
    /* cache_1 never probed; old-one probed too long ago. */
    emp_state_update(&fx->state, 3, EMP_TS_UP, fx->now_us - 100 * EMP_US_PER_S,
                     fx->now_us - 10 * EMP_US_PER_S);

    char conninfo[160];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d connect_timeout=2 sslmode=disable gssencmode=disable",
             fx->db.port);
    struct emp_error err;
    assert_int_equal(emp_db_pool_new(conninfo, 2, &fx->pool, &err), EMP_OK);
    assert_int_equal(emp_api_start("127.0.0.1", 0, NULL, &fx->state, fx->pool, &fx->api, &err),
                     EMP_OK);
    fx->port = emp_api_port(fx->api);
    assert_true(fx->port > 0 && fx->port < 65536);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    emp_api_stop(fx->api);
    emp_db_pool_free(fx->pool);
    emp_state_cleanup(&fx->state);
    fake_db_stop(&fx->db);
    free(fx);
    return 0;
}

/* ---- HTTP client ------------------------------------------------------ */

struct reply {
    long status;
    char body[8192];
    size_t len;
    char content_type[128];
    char allow[128];
    char cache_control[128];
    char www_authenticate[128];
    json_t *json; /* parsed body, or NULL */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t k = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    size_t take = k < room ? k : room;
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return k;
}

static void header_value(char *dst, size_t dstsz, const char *line, size_t len,
                         const char *name)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl > 0 && *v == ' ') {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(dst, dstsz, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t k = size * n;
    header_value(r->content_type, sizeof r->content_type, p, k, "Content-Type");
    header_value(r->allow, sizeof r->allow, p, k, "Allow");
    header_value(r->cache_control, sizeof r->cache_control, p, k, "Cache-Control");
    header_value(r->www_authenticate, sizeof r->www_authenticate, p, k, "WWW-Authenticate");
    return k;
}

/* `path` is sent as is (curl does not re-encode it); `header` (may be
 * NULL) is one more request header. */
static void request_h(struct fixture *fx, const char *method, const char *path,
                      const char *body, const char *header, struct reply *r);

static void request(struct fixture *fx, const char *method, const char *path,
                    const char *body, struct reply *r)
{
    request_h(fx, method, path, body, NULL, r);
}

static void request_h(struct fixture *fx, const char *method, const char *path,
                      const char *body, const char *header, struct reply *r)
{
    memset(r, 0, sizeof *r);
    char url[65536 + 64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fx->port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    struct curl_slist *hs = header != NULL ? curl_slist_append(NULL, header) : NULL;
    if (hs != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    if (r->len > 0)
        r->json = json_loadb(r->body, r->len, 0, NULL);
}

static void reply_free(struct reply *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* Expect an error reply with this status and code (sending `body` and
 * one more `header`, either may be NULL). */
static void expect_error_h(struct fixture *fx, const char *method, const char *path,
                           const char *body, const char *header, long status, const char *code)
{
    struct reply r;
    request_h(fx, method, path, body, header, &r);
    if (r.status != status)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, status, r.status, r.body);
    assert_string_equal(r.content_type, "application/json; charset=utf-8");
    assert_non_null(r.json);
    const char *got = json_string_value(json_object_get(json_object_get(r.json, "error"), "code"));
    assert_non_null(got);
    assert_string_equal(got, code);
    assert_non_null(
        json_string_value(json_object_get(json_object_get(r.json, "error"), "message")));
    reply_free(&r);
}

static void expect_error(struct fixture *fx, const char *method, const char *path,
                         long status, const char *code)
{
    expect_error_h(fx, method, path, NULL, NULL, status, code);
}

/* ---- tests ------------------------------------------------------------ */

static void test_healthz(void **state)
{
    struct fixture *fx = *state;
    struct reply r;
    request(fx, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json; charset=utf-8");
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    reply_free(&r);
    request(fx, "HEAD", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    reply_free(&r);
}

static const json_t *find_target(const json_t *list, const char *name)
{
    size_t i;
    const json_t *t;
    json_array_foreach(list, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
            return t;
    }
    fail_msg("target %s not listed", name);
    return NULL;
}

static void expect_target(const json_t *list, const char *name, const char *kind,
                          const char *group, const char *st, int64_t since_us)
{
    const json_t *t = find_target(list, name);
    assert_int_equal(json_object_size(t), 5);
    assert_string_equal(json_string_value(json_object_get(t, "kind")), kind);
    if (group == NULL)
        assert_true(json_is_null(json_object_get(t, "group")));
    else
        assert_string_equal(json_string_value(json_object_get(t, "group")), group);
    assert_string_equal(json_string_value(json_object_get(t, "state")), st);
    if (since_us == 0) {
        assert_true(json_is_null(json_object_get(t, "since")));
    } else {
        char buf[EMP_TIME_BUFSZ];
        assert_string_equal(json_string_value(json_object_get(t, "since")),
                            emp_time_format(since_us, buf));
    }
}

static void test_targets(void **state)
{
    struct fixture *fx = *state;
    struct reply r;
    request(fx, "GET", "/api/v1/targets", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json; charset=utf-8");
    assert_non_null(r.json);
    const json_t *list = json_object_get(r.json, "targets");
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 4);
    int64_t s = EMP_US_PER_S;
    expect_target(list, "web", "http", "front", "up", fx->now_us - 60 * s);
    expect_target(list, "db.main", "postgres", NULL, "down", fx->now_us - 5 * s);
    expect_target(list, "cache_1", "tcp", NULL, "unknown", 0);
    /* Stale: unknown since the last result we had. */
    expect_target(list, "old-one", "tcp", "back", "unknown", fx->now_us - 10 * s);
    reply_free(&r);
    /* The query string does not matter here. */
    request(fx, "GET", "/api/v1/targets?x=1&&=&y", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

static void test_not_found(void **state)
{
    struct fixture *fx = *state;
    static const char *paths[] = {
        /* "/" is the status page (api/static.c). */
        "/nope", "/healthz/", "//healthz", "/healthzz", "/HEALTHZ", "/api/v1",
        "/api/v1/targets/", "/api/v1/targets/web/", "/api/v1/targets//uptime",
        "/api/v1/targets/web/uptime/", "/api/v1/targets/web/uptime/x",
        "/api/v1/targets/web/downtime", "/api/v2/targets",
        /* Names outside [A-Za-z0-9._-] never reach the database. */
        "/api/v1/targets/bad%20name/uptime", "/api/v1/targets/a%2Fb/outages",
        "/api/v1/targets/%C3%A9t%C3%A9/uptime", "/api/v1/targets/x%00y/uptime",
        "/api/v1/targets/%FF/uptime", "/api/v1/targets/x'%3B--/outages",
    };
    int before = atomic_load(&fx->db.accepted);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        expect_error(fx, "GET", paths[i], 404, "not_found");
    /* A name one byte too long. */
    char p[512];
    int n = snprintf(p, sizeof p, "/api/v1/targets/");
    memset(p + n, 'a', EMP_NAME_MAX + 1);
    snprintf(p + n + EMP_NAME_MAX + 1, sizeof p - (size_t)n - EMP_NAME_MAX - 1, "/uptime");
    expect_error(fx, "GET", p, 404, "not_found");
    assert_int_equal(atomic_load(&fx->db.accepted), before);
}

static void test_method_not_allowed(void **state)
{
    struct fixture *fx = *state;
    static const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"};
    static const char *paths[] = {"/healthz", "/api/v1/targets/web/uptime",
                                  "/api/v1/targets/web/outages"};
    int before = atomic_load(&fx->db.accepted);
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            struct reply r;
            request(fx, methods[m], paths[i], NULL, &r);
            if (r.status != 405)
                fail_msg("%s %s: expected 405, got %ld", methods[m], paths[i], r.status);
            assert_string_equal(r.allow, "GET, HEAD");
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
                "method_not_allowed");
            reply_free(&r);
        }
    }
    /* With a body nobody asked for. */
    struct reply r;
    request(fx, "POST", "/healthz", "{\"a\":1}", &r);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    /* The targets take writes too: Allow says which. */
    static const struct {
        const char *method, *path, *allow;
    } writes[] = {
        {"PUT", "/api/v1/targets", "GET, HEAD, POST"},
        {"DELETE", "/api/v1/targets", "GET, HEAD, POST"},
        {"PATCH", "/api/v1/targets", "GET, HEAD, POST"},
        {"POST", "/api/v1/targets/web", "GET, HEAD, PUT, DELETE"},
        {"PATCH", "/api/v1/targets/web", "GET, HEAD, PUT, DELETE"},
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        request(fx, writes[i].method, writes[i].path, NULL, &r);
        if (r.status != 405)
            fail_msg("%s %s: expected 405, got %ld", writes[i].method, writes[i].path, r.status);
        assert_string_equal(r.allow, writes[i].allow);
        reply_free(&r);
    }
    /* Unknown path and wrong method: 404. */
    expect_error(fx, "POST", "/nope", 404, "not_found");
    assert_int_equal(atomic_load(&fx->db.accepted), before);
}

static void test_bad_times(void **state)
{
    struct fixture *fx = *state;
    static const char *queries[] = {
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        "from=2026-02-30T00:00:00Z",
        "from=2026-01-01T24:00:00Z",
        "from=2026-01-01T00:00:00Zjunk",
        "from=",
        "from",
        "to=",
        "from=1e9",
        "from=0x10",
        "from=%201700000000",
        "from=1700000000%00",
        "from=99999999999999999999",
        "from=9223372036854",           /* parses, but past year 9999 */
        "to=-99999999999",              /* before year 0 */
        "from=1700000100&to=1700000000", /* reversed */
        "from=1700000000&to=1700000000", /* empty */
        "from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00+02:00",
        "to=1700000000&from=bad",
    };
    int before = atomic_load(&fx->db.accepted);
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/targets/web/uptime?%s", queries[i]);
        expect_error(fx, "GET", path, 400, "bad_request");
        snprintf(path, sizeof path, "/api/v1/targets/web/outages?%s", queries[i]);
        expect_error(fx, "GET", path, 400, "bad_request");
    }
    /* Rejected before the database was touched. */
    assert_int_equal(atomic_load(&fx->db.accepted), before);
}

static void test_db_unavailable(void **state)
{
    struct fixture *fx = *state;
    static const char *paths[] = {
        "/api/v1/targets/web/uptime",
        "/api/v1/targets/web/outages",
        "/api/v1/targets/no-such-target_1.x/uptime",
        "/api/v1/targets/web/uptime?from=1700000000&to=1700003600.5",
        "/api/v1/targets/web/outages?from=2026-01-01T00:00:00Z",
        /* An unescaped '+' arrives as a space and is read back as '+'. */
        "/api/v1/targets/web/uptime?from=2026-01-01T00:00:00+01:00",
        "/api/v1/targets/web/uptime?from=2026-01-01T00:00:00%2B01:00",
        /* One target's definition is in the store unless configured. */
        "/api/v1/targets/web",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int before = atomic_load(&fx->db.accepted);
        expect_error(fx, "GET", paths[i], 503, "unavailable");
        /* It did try the database. */
        assert_true(atomic_load(&fx->db.accepted) > before);
    }
    /* HEAD gets the status without a body. */
    struct reply r;
    request(fx, "HEAD", "/api/v1/targets/web/uptime", NULL, &r);
    assert_int_equal(r.status, 503);
    reply_free(&r);
}

static void test_db_refused(void **state)
{
    (void)state;
    /* Nothing listens on port 1: connection refused, 503. */
    struct emp_state st;
    struct emp_config cfg = {0};
    assert_int_equal(emp_state_init(&st, &cfg, NULL), 0);
    struct emp_db_pool *pool;
    struct emp_api *api;
    struct emp_error err;
    assert_int_equal(emp_db_pool_new("host=127.0.0.1 port=1 connect_timeout=1", 1, &pool, &err),
                     EMP_OK);
    assert_int_equal(emp_api_start("127.0.0.1", 0, NULL, &st, pool, &api, &err), EMP_OK);
    struct fixture fx = {.port = emp_api_port(api)};
    expect_error(&fx, "GET", "/api/v1/targets/web/outages", 503, "unavailable");
    struct reply r;
    request(&fx, "GET", "/api/v1/targets", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"targets\":[],\"next\":null}");
    reply_free(&r);
    emp_api_stop(api);
    emp_db_pool_free(pool);
    emp_state_cleanup(&st);
}

static void test_start_errors(void **state)
{
    struct fixture *fx = *state;
    struct emp_api *api = (struct emp_api *)1;
    struct emp_error err;
    /* The port is taken. */
    assert_int_not_equal(emp_api_start("127.0.0.1", fx->port, NULL, &fx->state, fx->pool, &api, &err),
                         EMP_OK);
    assert_null(api);
    assert_int_not_equal(emp_api_start("127.0.0.1", 70000, NULL, &fx->state, fx->pool, &api, &err),
                         EMP_OK);
    assert_int_not_equal(emp_api_start("not an address", 0, NULL, &fx->state, fx->pool, &api, &err),
                         EMP_OK);
    /* IPv6 loopback, brackets or not, when the host has it. */
    if (emp_api_start("[::1]", 0, NULL, &fx->state, fx->pool, &api, &err) == EMP_OK) {
        assert_true(emp_api_port(api) > 0);
        emp_api_stop(api);
    }
    emp_api_stop(NULL);
    assert_int_equal(emp_api_port(NULL), -1);
}

/* Badge routes: "{name}" followed by a suffix inside one segment. */
static void expect_badge(struct fixture *fx, const char *path, const char *label,
                         const char *value, const char *color)
{
    struct reply r;
    request(fx, "GET", path, NULL, &r);
    if (r.status != 200)
        fail_msg("GET %s: expected 200, got %ld: %s", path, r.status, r.body);
    assert_string_equal(r.content_type, "image/svg+xml");
    assert_string_equal(r.cache_control, "no-cache, max-age=0");
    assert_true(strncmp(r.body, "<svg ", 5) == 0);
    char want[256];
    snprintf(want, sizeof want, "<title>%s: %s</title>", label, value);
    if (strstr(r.body, want) == NULL)
        fail_msg("GET %s: no %s in %s", path, want, r.body);
    snprintf(want, sizeof want, "fill=\"%s\"", color);
    assert_non_null(strstr(r.body, want));
    reply_free(&r);
}

static void test_badge_routes(void **state)
{
    struct fixture *fx = *state;
    int before = atomic_load(&fx->db.accepted);
    /* The state of configured targets comes from the live state. */
    expect_badge(fx, "/badge/web/state.svg", "web", "up", "#4c1");
    expect_badge(fx, "/badge/db.main/state.svg", "db.main", "down", "#e05d44");
    expect_badge(fx, "/badge/cache_1/state.svg", "cache_1", "unknown", "#9f9f9f");
    expect_badge(fx, "/badge/old-one/state.svg?x=1", "old-one", "unknown", "#9f9f9f");
    struct reply r;
    request(fx, "HEAD", "/badge/web/state.svg", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    reply_free(&r);
    /* Not badge paths, or bad names: 404 before the database. */
    static const char *paths[] = {
        "/badge", "/badge/", "/badge/.svg", "/badge/web", "/badge/web.SVG", "/badge/web.svgx",
        "/badge/web.svg/", "/badge/web.png", "/badge/web/state", "/badge/web/state.svg/",
        "/badge/web/state.svg/x", "/badge//state.svg", "/badge/web/.svg", "/badge/web/status.svg",
        "/badge/web/state.svg.svg", "/badge/a%20b.svg", "/badge/a%2Fb.svg", "/badge/%C3%A9.svg",
        "/badge/a%20b/state.svg", "/badges/web.svg", "/api/v1/badge/web.svg",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        expect_error(fx, "GET", paths[i], 404, "not_found");
    /* A window the badge cannot read: 400 before the database. */
    static const char *windows[] = {"", "30", "0d", "1w", "-7d", "7d%20", "3651d", "1.5h"};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "/badge/web.svg?window=%s", windows[i]);
        expect_error(fx, "GET", p, 400, "bad_request");
    }
    /* Other methods: 405 with Allow. */
    request(fx, "POST", "/badge/web.svg", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    reply_free(&r);
    request(fx, "DELETE", "/badge/web/state.svg", NULL, &r);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    request(fx, "GET", "/api/v1/openapi.json", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json; charset=utf-8");
    assert_true(strncmp(r.body, "{", 1) == 0);
    assert_non_null(strstr(r.body, "\"openapi\": \"3.0."));
    reply_free(&r);
    assert_int_equal(atomic_load(&fx->db.accepted), before);
    /* The uptime badge and the state of a target the live state does not
     * know need the store: 503 without it. A name may hold ".svg". */
    static const char *db_paths[] = {"/badge/web.svg", "/badge/web.svg?window=24h",
                                     "/badge/x.svg.svg", "/badge/no-such/state.svg",
                                     "/badge/state.svg"};
    for (size_t i = 0; i < sizeof db_paths / sizeof db_paths[0]; i++) {
        int b = atomic_load(&fx->db.accepted);
        expect_error(fx, "GET", db_paths[i], 503, "unavailable");
        assert_true(atomic_load(&fx->db.accepted) > b);
    }
}

static void test_odd_requests(void **state)
{
    struct fixture *fx = *state;
    struct reply r;
    /* A very long URL: refused by the server's limits, not a crash. */
    static char path[60000];
    memcpy(path, "/api/v1/targets/web/uptime?from=", 32);
    memset(path + 32, '1', sizeof path - 33);
    path[sizeof path - 1] = '\0';
    request(fx, "GET", path, NULL, &r);
    assert_true(r.status >= 400 && r.status < 500);
    reply_free(&r);
    /* Many parameters, repeated ones. */
    request(fx, "GET", "/api/v1/targets/web/uptime?from=x&from=1&a=%zz&b=%", NULL, &r);
    assert_true(r.status == 400 || r.status == 503);
    reply_free(&r);
    /* The server is still there. */
    request(fx, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

/* Write endpoints without a valid token: the same 401, with
 * WWW-Authenticate, whatever is wrong, and the database is not asked when
 * there is no token to look for. A well-formed token needs the store. */
static void test_write_needs_token(void **state)
{
    struct fixture *fx = *state;
    static const char *headers[] = {
        NULL, "Authorization: Basic dXNlcjpwYXNz", "Authorization: Bearer",
        "Authorization: Bearer ", "Authorization: Token emp_abc", "Authorization: Bearerx emp_a",
    };
    static const struct {
        const char *method, *path, *body;
    } writes[] = {
        {"POST", "/api/v1/targets", "{\"name\":\"x\",\"kind\":\"tcp\",\"host\":\"h\",\"port\":1}"},
        {"PUT", "/api/v1/targets/x", "{\"kind\":\"tcp\",\"host\":\"h\",\"port\":1}"},
        {"DELETE", "/api/v1/targets/x", NULL},
        {"POST", "/api/v1/targets", NULL},
    };
    char first[8192] = "";
    int before = atomic_load(&fx->db.accepted);
    for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
        for (size_t w = 0; w < sizeof writes / sizeof writes[0]; w++) {
            struct reply r;
            request_h(fx, writes[w].method, writes[w].path, writes[w].body, headers[h], &r);
            if (r.status != 401)
                fail_msg("%s %s with %s: expected 401, got %ld", writes[w].method,
                         writes[w].path, headers[h] ? headers[h] : "no token", r.status);
            assert_string_equal(r.www_authenticate, "Bearer realm=\"empiric\"");
            assert_string_equal(r.content_type, "application/json; charset=utf-8");
            if (first[0] == '\0')
                snprintf(first, sizeof first, "%s", r.body);
            assert_string_equal(r.body, first);
            reply_free(&r);
        }
    }
    assert_int_equal(atomic_load(&fx->db.accepted), before);
    /* A token of the right form must be looked up: 503 without a store. */
    expect_error_h(fx, "DELETE", "/api/v1/targets/x", NULL,
                   "Authorization: bearer emp_0000000000000000000000000000000000000000000", 503,
                   "unavailable");
    assert_true(atomic_load(&fx->db.accepted) > before);
}

/* A body over the cap (65536 by default) is refused with 413 before it is
 * read, before the token and the database, on any path. */
static void test_body_too_large(void **state)
{
    struct fixture *fx = *state;
    size_t n = 65537;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    int before = atomic_load(&fx->db.accepted);
    static const char *paths[] = {"/api/v1/targets", "/healthz", "/api/v1/targets/x/uptime"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        expect_error_h(fx, "POST", paths[i], big, NULL, 413, "too_large");
    expect_error_h(fx, "PUT", "/api/v1/targets/x", big,
                   "Authorization: Bearer emp_0000000000000000000000000000000000000000000", 413,
                   "too_large");
    big[n - 1] = '\0'; /* exactly the cap: read, then the token is missing */
    expect_error_h(fx, "POST", "/api/v1/targets", big, NULL, 401, "unauthorized");
    free(big);
    assert_int_equal(atomic_load(&fx->db.accepted), before);
}

/* Query parameters that the store could not take as text (bytes that are
 * not UTF-8) are refused before any handler reads them; %00 is not decoded
 * (a NUL would cut a value short into another one), so what follows it
 * still counts. */
static void test_query_text(void **state)
{
    struct fixture *fx = *state;
    static const char *paths[] = {
        "/api/v1/status?group=%FF",
        "/api/v1/targets/web/outages?format=csv%00x",
        "/api/v1/groups/g/correlation?window_s=120%00",
        "/badge/web.svg?window=7d%00",
        "/api/v1/targets/web/uptime?%C3%28=1",
        "/api/v1/targets/web/uptime?x=%ED%A0%80", /* a UTF-16 surrogate */
        "/api/v1/targets/web/uptime?x=%C0%AF",    /* an overlong '/' */
    };
    int before = atomic_load(&fx->db.accepted);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        expect_error(fx, "GET", paths[i], 400, "bad_request");
    assert_int_equal(atomic_load(&fx->db.accepted), before);
    /* Unicode is fine: a group nobody has is the store's to say. */
    expect_error(fx, "GET", "/api/v1/targets/web/uptime?x=%E2%98%83", 503, "unavailable");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_bad_times),
        cmocka_unit_test(test_db_unavailable),
        cmocka_unit_test(test_db_refused),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_odd_requests),
        cmocka_unit_test(test_badge_routes),
        cmocka_unit_test(test_write_needs_token),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_query_text),
    };
    int rc = cmocka_run_group_tests_name("api", tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
