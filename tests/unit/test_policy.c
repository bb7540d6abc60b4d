/* The policy of targets made through the API (issue 13, item 6): CIDR
 * blocks (core/cidr.h) over IPv4, IPv6 and IPv4-mapped addresses; the
 * address rules (denied, allowed, this machine's API port); the
 * configuration's api.target_policy with its defaults and its errors; each
 * kind's check of a definition (postgres conninfo keywords, sockets, literal
 * addresses of every kind); and at probe time, a name that resolves to a
 * refused address failing the probe with the class "policy". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/cidr.h"
#include "probes/kinds.h"
#include "probes/policy.h"
#include "probe_harness.h"
#include "tests/support/target.h"

static struct sockaddr_in v4(const char *addr, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    return sa;
}

static struct sockaddr_in6 v6(const char *addr, int port)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    assert_int_equal(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
    return sa;
}

static struct emp_cidr cidr(const char *s)
{
    struct emp_cidr c;
    if (emp_cidr_parse(s, &c) != 0)
        fail_msg("not a CIDR block: %s", s);
    return c;
}

static bool in4(const char *block, const char *addr)
{
    struct emp_cidr c = cidr(block);
    struct sockaddr_in sa = v4(addr, 0);
    return emp_cidr_contains(&c, (struct sockaddr *)&sa);
}

static bool in6(const char *block, const char *addr)
{
    struct emp_cidr c = cidr(block);
    struct sockaddr_in6 sa = v6(addr, 0);
    return emp_cidr_contains(&c, (struct sockaddr *)&sa);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    static const char *const good[][2] = {
        {"169.254.0.0/16", "169.254.0.0/16"}, {"10.0.0.1", "10.0.0.1/32"},
        {"0.0.0.0/0", "0.0.0.0/0"},           {"fe80::/10", "fe80::/10"},
        {"::1", "::1/128"},                   {"FD00:EC2::254/128", "fd00:ec2::254/128"},
        {"::/0", "::/0"},                     {"10.0.0.0/08", "10.0.0.0/8"},
    };
    char buf[EMP_CIDR_BUFSZ];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct emp_cidr c = cidr(good[i][0]);
        assert_string_equal(emp_cidr_format(&c, buf), good[i][1]);
    }
    static const char *const bad[] = {
        "",          "/8",          "10.0.0.0/",   "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
        "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.1/8", "fe80::1/10", "::/129",     "host/8",
        "10.0.0/8",  "1.2.3.4.5",   "[::1]/128",   "10.0.0.0/8/8",
    };
    struct emp_cidr c;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (emp_cidr_parse(bad[i], &c) == 0)
            fail_msg("\"%s\" read as a CIDR block", bad[i]);
}

static void test_cidr_contains(void **state)
{
    (void)state;
    assert_true(in4("169.254.0.0/16", "169.254.169.254"));
    assert_true(in4("169.254.0.0/16", "169.254.0.0"));
    assert_true(in4("169.254.0.0/16", "169.254.255.255"));
    assert_false(in4("169.254.0.0/16", "169.255.0.1"));
    assert_false(in4("169.254.0.0/16", "169.253.255.255"));
    assert_true(in4("10.0.0.0/9", "10.127.0.1"));
    assert_false(in4("10.0.0.0/9", "10.128.0.1"));
    assert_true(in4("0.0.0.0/0", "203.0.113.7"));
    assert_true(in4("10.1.2.3", "10.1.2.3"));
    assert_false(in4("10.1.2.3", "10.1.2.4"));
    /* IPv6, prefixes off a byte boundary. */
    assert_true(in6("fe80::/10", "fe80::1"));
    assert_true(in6("fe80::/10", "febf:ffff::1"));
    assert_false(in6("fe80::/10", "fec0::1"));
    assert_false(in6("fe80::/10", "fe40::1"));
    assert_true(in6("::/0", "2001:db8::1"));
    assert_true(in6("fd00:ec2::254/128", "fd00:ec2::254"));
    assert_false(in6("fd00:ec2::254/128", "fd00:ec2::255"));
    /* The families do not mix, except for an IPv4-mapped IPv6 address,
     * which reaches the IPv4 address it carries. */
    assert_false(in6("0.0.0.0/0", "2001:db8::1"));
    assert_false(in4("::/0", "10.0.0.1"));
    assert_true(in6("169.254.0.0/16", "::ffff:169.254.169.254"));
    assert_false(in6("169.254.0.0/16", "::ffff:10.0.0.1"));
    assert_true(in6("::ffff:0:0/96", "::ffff:10.0.0.1"));
    struct emp_cidr c = cidr("10.0.0.0/8");
    struct sockaddr sa = {.sa_family = AF_UNIX};
    assert_false(emp_cidr_contains(&c, &sa));
}

/* ---- the address rules --------------------------------------------------- */

static const char *refuses4(const struct emp_target_policy *pol, const char *addr, int port,
                            char *why)
{
    struct sockaddr_in sa = v4(addr, port);
    return emp_policy_refuses(pol, (struct sockaddr *)&sa, why);
}

static const char *refuses6(const struct emp_target_policy *pol, const char *addr, int port,
                            char *why)
{
    struct sockaddr_in6 sa = v6(addr, port);
    return emp_policy_refuses(pol, (struct sockaddr *)&sa, why);
}

static void test_default_policy(void **state)
{
    (void)state;
    const struct emp_target_policy *pol = emp_target_policy_default();
    char why[EMP_POLICY_WHY_MAX];
    assert_non_null(refuses4(pol, "169.254.169.254", 80, why));
    assert_string_equal(why,
                        "169.254.169.254 is in api.target_policy.denied_cidrs (169.254.0.0/16)");
    assert_non_null(refuses6(pol, "fe80::1", 80, why));
    assert_string_equal(why, "fe80::1 is in api.target_policy.denied_cidrs (fe80::/10)");
    assert_non_null(refuses6(pol, "fd00:ec2::254", 80, why));
    assert_non_null(refuses6(pol, "::ffff:169.254.169.254", 80, why));
    /* Everything else is allowed, loopback included: the API port is not
     * known without a configuration. */
    assert_null(refuses4(pol, "10.0.0.1", 80, why));
    assert_null(refuses4(pol, "127.0.0.1", 8080, why));
    assert_null(refuses6(pol, "2001:db8::1", 443, why));
    /* No policy: the configuration file's targets. */
    assert_null(refuses4(NULL, "169.254.169.254", 80, why));
}

static void test_allowed_and_denied(void **state)
{
    (void)state;
    struct emp_cidr allowed[] = {cidr("10.0.0.0/8"), cidr("2001:db8::/32")};
    struct emp_cidr denied[] = {cidr("10.9.0.0/16")};
    struct emp_target_policy pol = {.allowed = allowed, .n_allowed = 2, .denied = denied,
                                    .n_denied = 1};
    char why[EMP_POLICY_WHY_MAX];
    assert_null(refuses4(&pol, "10.1.2.3", 80, why));
    assert_null(refuses6(&pol, "2001:db8::5", 80, why));
    assert_null(refuses6(&pol, "::ffff:10.1.2.3", 80, why));
    /* Denied wins over allowed. */
    assert_non_null(refuses4(&pol, "10.9.1.1", 80, why));
    assert_string_equal(why, "10.9.1.1 is in api.target_policy.denied_cidrs (10.9.0.0/16)");
    assert_non_null(refuses4(&pol, "192.0.2.1", 80, why));
    assert_string_equal(why, "192.0.2.1 is not in api.target_policy.allowed_cidrs");
    assert_non_null(refuses6(&pol, "2001:db9::1", 80, why));
    assert_non_null(refuses4(&pol, "127.0.0.1", 80, why));
}

/* A literal host, a port, and what the policy says: NULL when allowed,
 * else text its refusal holds. */
struct host_case {
    const char *host;
    int port;
    const char *refused;
};

static void expect_hosts(const struct emp_target_policy *pol, const struct host_case *c,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char why[EMP_POLICY_WHY_MAX];
        const char *got = emp_policy_refuses_host(pol, c[i].host, c[i].port, why);
        if (c[i].refused == NULL && got != NULL)
            fail_msg("%s port %d refused: %s", c[i].host, c[i].port, got);
        if (c[i].refused != NULL && (got == NULL || strstr(got, c[i].refused) == NULL))
            fail_msg("%s port %d: wanted \"%s\", got \"%s\"", c[i].host, c[i].port,
                     c[i].refused, got != NULL ? got : "(allowed)");
    }
}

static void test_api_port(void **state)
{
    (void)state;
    struct emp_target_policy pol = {.api_port = 8080};
    /* The API's port on this machine, whatever the address that reaches
     * it: loopback, unspecified, IPv4-mapped; not another port of this
     * machine, nor the same port elsewhere. */
    static const struct host_case cases[] = {
        {"127.0.0.1", 8080,
         "127.0.0.1 port 8080 is this monitor's own API, which its targets may not probe"},
        {"127.1.2.3", 8080, "port 8080 is this monitor's own API"},
        {"0.0.0.0", 8080, "own API"},
        {"::1", 8080, "::1 port 8080 is this monitor's own API"},
        {"[::]", 8080, "own API"},
        {"::ffff:127.0.0.1", 8080, "own API"},
        {"127.0.0.1", 8081, NULL},
        {"::1", 443, NULL},
        {"192.0.2.1", 8080, NULL},
        {"2001:db8::1", 8080, NULL},
    };
    expect_hosts(&pol, cases, sizeof cases / sizeof cases[0]);
}

static void test_literal_hosts(void **state)
{
    (void)state;
    struct emp_cidr denied[] = {cidr("169.254.0.0/16"), cidr("fe80::/10")};
    struct emp_target_policy pol = {.denied = denied, .n_denied = 2, .api_port = 9000};
    /* In brackets or not, with a scope or not; names are checked once
     * resolved. */
    static const struct host_case cases[] = {
        {"169.254.169.254", 80, "169.254.169.254 is in api.target_policy.denied_cidrs"},
        {"[fe80::1]", 80, "fe80::1 is in"},
        {"fe80::1%eth0", 80, "fe80::1 is in"},
        {"[::1]", 9000, "own API"},
        {"[::1]", 9001, NULL},
        {"metadata.google.internal", 80, NULL},
        {"localhost", 9000, NULL},
        {"", 80, NULL},
    };
    expect_hosts(&pol, cases, sizeof cases / sizeof cases[0]);
}

/* ---- api.target_policy in the configuration ------------------------------ */

static struct emp_config *load(const char *text, char *errs, size_t size)
{
    FILE *f = fmemopen(errs, size, "w");
    assert_non_null(f);
    struct emp_config *cfg = NULL;
    emp_config_load_string(text, "t.json", &emp_probe_kinds, &cfg, f, NULL);
    fclose(f);
    return cfg;
}

static void test_config(void **state)
{
    (void)state;
    char errs[4096] = "";
    struct emp_config *cfg = load("{\"listen\": \"127.0.0.1:8090\"}", errs, sizeof errs);
    assert_non_null(cfg);
    const struct emp_target_policy *p = &cfg->target_policy;
    assert_int_equal(cfg->api.max_targets, EMP_DEFAULT_API_MAX_TARGETS);
    assert_int_equal(p->api_port, 8090);
    assert_int_equal(p->n_allowed, 0);
    assert_int_equal(p->n_denied, emp_target_policy_default()->n_denied);
    assert_true(emp_policy_conninfo_key(p, "host"));
    assert_true(emp_policy_conninfo_key(p, "password"));
    assert_true(emp_policy_conninfo_key(p, "sslmode"));
    static const char *const file_keys[] = {"sslkey", "sslcert", "sslrootcert", "sslcrl",
                                            "passfile", "service", "servicefile", "krbsrvname"};
    for (size_t i = 0; i < sizeof file_keys / sizeof file_keys[0]; i++)
        if (emp_policy_conninfo_key(p, file_keys[i]))
            fail_msg("%s allowed by default", file_keys[i]);
    emp_config_free(cfg);

    cfg = load("{\"api\": {\"max_targets\": 5, \"target_policy\": {"
               "\"allowed_cidrs\": [\"10.0.0.0/8\"], \"denied_cidrs\": [],"
               "\"conninfo_keys\": [\"host\", \"sslrootcert\"]}}}",
               errs, sizeof errs);
    assert_non_null(cfg);
    p = &cfg->target_policy;
    assert_int_equal(cfg->api.max_targets, 5);
    assert_int_equal(p->n_allowed, 1);
    assert_int_equal(p->n_denied, 0);
    assert_true(emp_policy_conninfo_key(p, "sslrootcert"));
    assert_false(emp_policy_conninfo_key(p, "user"));
    char why[EMP_POLICY_WHY_MAX];
    assert_null(refuses4(p, "10.2.3.4", 80, why));
    assert_non_null(refuses4(p, "192.0.2.1", 80, why));
    emp_config_free(cfg);

    static const char *const bad[][2] = {
        {"{\"api\": {\"max_targets\": -1}}", "t.json: api.max_targets: expected an integer"},
        {"{\"api\": {\"target_policy\": []}}", "t.json: api.target_policy: expected an object"},
        {"{\"api\": {\"target_policy\": {\"denied_cidrs\": \"10.0.0.0/8\"}}}",
         "t.json: api.target_policy.denied_cidrs: expected a list of at most 256 address blocks"},
        {"{\"api\": {\"target_policy\": {\"allowed_cidrs\": [\"10.0.0.0/8\", \"10.0.0.1/8\"]}}}",
         "t.json: api.target_policy.allowed_cidrs[1]: expected an IPv4 or IPv6 address block"},
        {"{\"api\": {\"target_policy\": {\"denied_cidrs\": [7]}}}",
         "t.json: api.target_policy.denied_cidrs[0]: expected an IPv4 or IPv6"},
        {"{\"api\": {\"target_policy\": {\"conninfo_keys\": [\"host\", \"Host=x\"]}}}",
         "t.json: api.target_policy.conninfo_keys[1]: expected a libpq connection keyword"},
        {"{\"api\": {\"target_policy\": {\"denied\": []}}}",
         "t.json: api.target_policy.denied: unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(errs, 0, sizeof errs);
        cfg = load(bad[i][0], errs, sizeof errs);
        if (cfg != NULL || strstr(errs, bad[i][1]) == NULL)
            fail_msg("%s: wanted \"%s\", got \"%s\"", bad[i][0], bad[i][1], errs);
    }
}

/* ---- definitions --------------------------------------------------------- */

/* The problems `pol` finds in the definition `json` ("" when none). */
static const char *police(const struct emp_target_policy *pol, const char *json, char *out,
                          size_t size)
{
    struct emp_target_config tc = test_target("%s", json);
    tc.policy = pol;
    memset(out, 0, size);
    FILE *f = fmemopen(out, size, "w");
    assert_non_null(f);
    size_t n = 0;
    enum emp_err e = emp_policy_check_target(&tc, "body", f, &n);
    fclose(f);
    assert_int_equal(e, n == 0 ? EMP_OK : EMP_ECONFIG);
    emp_target_config_cleanup(&tc);
    return out;
}

static void expect_refused(const struct emp_target_policy *pol, const char *json,
                           const char *want)
{
    char out[2048];
    police(pol, json, out, sizeof out);
    if (strstr(out, want) == NULL)
        fail_msg("%s: wanted \"%s\", got \"%s\"", json, want, out);
}

static void expect_allowed(const struct emp_target_policy *pol, const char *json)
{
    char out[2048];
    police(pol, json, out, sizeof out);
    if (out[0] != '\0')
        fail_msg("%s: refused: %s", json, out);
}

#define PG(conninfo) "{\"name\": \"p\", \"kind\": \"postgres\", \"conninfo\": \"" conninfo "\"}"

static void test_postgres_definitions(void **state)
{
    (void)state;
    char errs[512];
    struct emp_config *cfg = load("{\"listen\": \"127.0.0.1:8090\"}", errs, sizeof errs);
    assert_non_null(cfg);
    const struct emp_target_policy *pol = &cfg->target_policy;
    expect_allowed(pol, PG("host=db.example.com port=5433 dbname=app user=probe password=x "
                           "sslmode=verify-full connect_timeout=3 application_name=empiric"));
    expect_allowed(pol, PG("postgresql://probe:x@db1.example.com:5432,10.0.0.7:5433/app"));
    expect_allowed(pol, PG("host=db.example.com hostaddr=10.0.0.7"));
    /* Keys that read this machine's files, in either form of conninfo. */
    expect_refused(pol, PG("host=db sslkey=/etc/ssl/private/monitor.key"),
                   "body: conninfo: refused by the target policy: key \"sslkey\" is not in "
                   "api.target_policy.conninfo_keys");
    expect_refused(pol, PG("host=db sslcert=/x"), "key \"sslcert\"");
    expect_refused(pol, PG("host=db sslrootcert=/x"), "key \"sslrootcert\"");
    expect_refused(pol, PG("host=db sslcrl=/x"), "key \"sslcrl\"");
    expect_refused(pol, PG("host=db passfile=/root/.pgpass"), "key \"passfile\"");
    expect_refused(pol, PG("service=prod"), "key \"service\"");
    expect_refused(pol, PG("postgresql://db/app?sslkey=/x"), "key \"sslkey\"");
    /* Where it connects. */
    expect_refused(pol, PG("dbname=app"), "host or hostaddr is required");
    expect_refused(pol, PG("host=/var/run/postgresql"),
                   "host \"/var/run/postgresql\" is a Unix-domain socket of this machine");
    expect_refused(pol, PG("host=@abstract"), "is a Unix-domain socket");
    expect_refused(pol, PG("host=db1,,db2"), "host element 2 is empty");
    expect_refused(pol, PG("host=a,b hostaddr=10.0.0.1,"), "hostaddr element 2 is empty");
    expect_refused(pol, PG("host=169.254.169.254"),
                   "169.254.169.254 is in api.target_policy.denied_cidrs (169.254.0.0/16)");
    expect_refused(pol, PG("host=db hostaddr=169.254.169.254"), "denied_cidrs");
    expect_refused(pol, PG("host=db1,fe80::1 port=5432,5433"), "fe80::1 is in");
    expect_refused(pol, PG("host=127.0.0.1 port=8090"), "127.0.0.1 port 8090 is this monitor's");
    expect_refused(pol, PG("host=10.0.0.1,::1 port=5432,8090"), "::1 port 8090");
    expect_allowed(pol, PG("host=127.0.0.1 port=5432"));
    /* Each problem is named. */
    char out[2048];
    police(pol, PG("host=/tmp sslkey=/k sslcert=/c"), out, sizeof out);
    assert_non_null(strstr(out, "\"sslkey\""));
    assert_non_null(strstr(out, "\"sslcert\""));
    assert_non_null(strstr(out, "Unix-domain socket"));
    /* The configuration file's targets: nothing is checked. */
    expect_allowed(NULL, PG("host=/tmp sslkey=/k"));
    emp_config_free(cfg);
}

static void test_http_tcp_definitions(void **state)
{
    (void)state;
    char errs[512];
    struct emp_config *cfg = load("{\"listen\": \"[::1]:8090\"}", errs, sizeof errs);
    assert_non_null(cfg);
    const struct emp_target_policy *pol = &cfg->target_policy;
    expect_refused(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": "
                        "\"http://169.254.169.254/latest/meta-data/\"}",
                   "body: url: refused by the target policy: 169.254.169.254 is in "
                   "api.target_policy.denied_cidrs (169.254.0.0/16)");
    /* The forms curl reads as that address too. */
    expect_refused(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": \"http://0xA9FEA9FE/\"}",
                   "169.254.169.254 is in");
    expect_refused(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": \"http://2852039166/\"}",
                   "169.254.169.254 is in");
    expect_refused(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": \"http://[fe80::1]/\"}",
                   "fe80::1 is in");
    expect_refused(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": \"http://[::1]:8090/\"}",
                   "::1 port 8090 is this monitor's own API");
    expect_refused(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": \"http://127.0.0.1:8090/\"}",
                   "port 8090");
    expect_allowed(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": \"http://127.0.0.1/\"}");
    expect_allowed(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": \"https://[::1]/\"}");
    expect_allowed(pol, "{\"name\": \"h\", \"kind\": \"http\", \"url\": "
                        "\"http://metadata.google.internal/\"}");
    expect_refused(pol, "{\"name\": \"t\", \"kind\": \"tcp\", \"host\": \"169.254.1.1\", "
                        "\"port\": 22}",
                   "body: host: refused by the target policy: 169.254.1.1 is in");
    expect_refused(pol, "{\"name\": \"t\", \"kind\": \"tcp\", \"host\": \"::1\", \"port\": 8090}",
                   "::1 port 8090");
    expect_allowed(pol, "{\"name\": \"t\", \"kind\": \"tcp\", \"host\": \"::1\", \"port\": 22}");
    expect_allowed(pol, "{\"name\": \"t\", \"kind\": \"tcp\", \"host\": \"db.example.com\", "
                        "\"port\": 8090}");
    emp_config_free(cfg);
}

/* ---- at probe time: names resolved ---------------------------------------- */

/* A listening socket on 127.0.0.1 (the kernel accepts for it); its port. */
static int listener(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(*fd >= 0);
    struct sockaddr_in sa = v4("127.0.0.1", 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(*fd, 16), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* One probe of `kind` with keys `spec` under `pol`: its result. */
static struct emp_result probe_once(const char *kind, const struct emp_target_policy *pol,
                                    const char *spec)
{
    struct probe_harness h;
    assert_int_equal(probe_harness_init(&h, kind), 0);
    h.cfg.timeout_ms = 3000;
    h.cfg.policy = pol;
    probe_harness_spec(&h, "%s", spec);
    probe_harness_start(&h);
    probe_harness_run(&h, 5000);
    assert_int_equal(h.done_calls, 1);
    struct emp_result r = h.pr.r;
    probe_harness_cleanup(&h);
    return r;
}

static void expect_policy_failure(const struct emp_result *r, const char *want)
{
    assert_int_equal(r->status, EMP_STATUS_FAIL);
    assert_string_equal(r->err_class, "policy");
    if (strstr(r->message, want) == NULL)
        fail_msg("wanted \"%s\" in \"%s\"", want, r->message);
}

static void test_probe_time(void **state)
{
    (void)state;
    int fd;
    int port = listener(&fd);
    /* localhost: 127.0.0.1 and perhaps ::1, both refused. */
    struct emp_cidr denied[] = {cidr("127.0.0.0/8"), cidr("::1/128")};
    struct emp_target_policy pol = {.denied = denied, .n_denied = 2};
    char spec[256];

    snprintf(spec, sizeof spec, "{\"host\": \"localhost\", \"port\": %d}", port);
    struct emp_result r = probe_once("tcp", NULL, spec);
    assert_int_equal(r.status, EMP_STATUS_OK); /* the configuration file's target */
    r = probe_once("tcp", &pol, spec);
    expect_policy_failure(&r, "localhost: ");
    expect_policy_failure(&r, "is in api.target_policy.denied_cidrs");

    snprintf(spec, sizeof spec, "{\"url\": \"http://localhost:%d/\"}", port);
    r = probe_once("http", &pol, spec);
    expect_policy_failure(&r, "localhost: ");
    expect_policy_failure(&r, "is in api.target_policy.denied_cidrs");

    snprintf(spec, sizeof spec, "{\"conninfo\": \"host=localhost port=%d\"}", port);
    r = probe_once("postgres", &pol, spec);
    expect_policy_failure(&r, "localhost: ");

    /* The API's own port, reached through a name. */
    struct emp_target_policy own = {.api_port = port};
    snprintf(spec, sizeof spec, "{\"host\": \"localhost\", \"port\": %d}", port);
    r = probe_once("tcp", &own, spec);
    expect_policy_failure(&r, "is this monitor's own API");
    snprintf(spec, sizeof spec, "{\"host\": \"localhost\", \"port\": %d}", port);
    struct emp_target_policy other = {.api_port = port == 65535 ? 1 : port + 1};
    r = probe_once("tcp", &other, spec);
    assert_int_equal(r.status, EMP_STATUS_OK);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_contains),
        cmocka_unit_test(test_default_policy),
        cmocka_unit_test(test_allowed_and_denied),
        cmocka_unit_test(test_api_port),
        cmocka_unit_test(test_literal_hosts),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_postgres_definitions),
        cmocka_unit_test(test_http_tcp_definitions),
        cmocka_unit_test(test_probe_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
