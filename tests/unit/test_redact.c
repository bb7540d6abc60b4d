/* Unit tests for core/redact: a URL's userinfo and credential headers
 * hidden for display (issue 13, item 5), with the edge cases a parser gets
 * wrong: no userinfo, a user without a password, '@' in the path, query or
 * password, percent-encoded ':', IPv6 hosts, header names in any case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/redact.h"

/* `in` redacted must read `want`, and say whether it changed. */
static void check_url(const char *in, const char *want)
{
    struct emp_buf b = {0};
    bool changed = emp_redact_url(&b, in);
    assert_false(b.oom);
    assert_non_null(b.p);
    if (strcmp(b.p, want) != 0)
        fail_msg("redacting %s: got %s, want %s", in, b.p, want);
    assert_int_equal(changed, strcmp(in, want) != 0);
    emp_buf_free(&b);
}

static void test_url_userinfo(void **state)
{
    (void)state;
    check_url("http://admin:secret@host/", "http://admin:***@host/");
    check_url("https://admin:secret@host", "https://admin:***@host");
    check_url("http://admin:secret@host:8080", "http://admin:***@host:8080");
    check_url("http://admin:secret@host?x=1", "http://admin:***@host?x=1");
    check_url("http://admin:secret@host#top", "http://admin:***@host#top");
    check_url("HTTPS://Admin:S3cret@Host/", "HTTPS://Admin:***@Host/");
    check_url("postgresql://app:pw@db.example/app", "postgresql://app:***@db.example/app");
    /* A ':' in the password: everything after the first one is hidden. */
    check_url("http://admin:se:cret@host/", "http://admin:***@host/");
}

static void test_url_without_secret(void **state)
{
    (void)state;
    check_url("http://host/", "http://host/");
    check_url("http://host", "http://host");
    check_url("", "");
    check_url("host", "host");
    /* An empty password hides nothing (RFC 3986 §3.2.1), an empty
     * userinfo neither. */
    check_url("http://admin:@host/", "http://admin:@host/");
    check_url("http://@host/", "http://@host/");
    /* Not a URL with an authority: nothing to take for userinfo. */
    check_url("admin:secret@host", "admin:secret@host");
    check_url("mailto:admin:secret@host", "mailto:admin:secret@host");
    check_url("1http://admin:secret@host/", "1http://admin:secret@host/");
    check_url("http:/admin:secret@host/", "http:/admin:secret@host/");
}

static void test_url_user_without_password(void **state)
{
    (void)state;
    /* A lone user name is often a token: hidden whole. */
    check_url("http://admin@host/", "http://***@host/");
    check_url("https://ghp_0123456789abcdef@host/x", "https://***@host/x");
}

static void test_url_at_signs(void **state)
{
    (void)state;
    /* '@' in the path, query or fragment is no userinfo. */
    check_url("http://host/a@b", "http://host/a@b");
    check_url("http://host/a:b@c", "http://host/a:b@c");
    check_url("http://host?u=a:b@c", "http://host?u=a:b@c");
    check_url("http://host#a:b@c", "http://host#a:b@c");
    check_url("http://admin:secret@host/a:b@c?d=e:f@g",
              "http://admin:***@host/a:b@c?d=e:f@g");
    /* An unencoded '@' in the password: the userinfo runs to the last '@'
     * of the authority, so that no part of the password shows. */
    check_url("http://admin:p@ss@host/", "http://admin:***@host/");
    check_url("http://admin@x:p@host/", "http://admin@x:***@host/");
    check_url("http://p@ss@host/", "http://***@host/");
}

static void test_url_percent_encoded(void **state)
{
    (void)state;
    /* An encoded ':' is part of the user or the password, not the split. */
    check_url("http://admin:p%3Ass@host/", "http://admin:***@host/");
    check_url("http://ad%3Amin:pw@host/", "http://ad%3Amin:***@host/");
    check_url("http://ad%3Amin@host/", "http://***@host/");
    check_url("http://admin:p%40ss@host/", "http://admin:***@host/");
}

static void test_url_ipv6(void **state)
{
    (void)state;
    check_url("http://[::1]:8080/", "http://[::1]:8080/");
    check_url("http://[fe80::1%25eth0]/x", "http://[fe80::1%25eth0]/x");
    check_url("http://admin:secret@[::1]:8080/", "http://admin:***@[::1]:8080/");
    check_url("http://admin@[2001:db8::1]/", "http://***@[2001:db8::1]/");
}

static void test_url_appends(void **state)
{
    (void)state;
    struct emp_buf b = {0};
    emp_buf_puts(&b, "url=");
    assert_true(emp_redact_url(&b, "http://a:b@h/"));
    assert_string_equal(b.p, "url=http://a:***@h/");
    emp_buf_free(&b);
}

static void test_header_names(void **state)
{
    (void)state;
    const char *secret[] = {"Authorization",   "authorization",  "AUTHORIZATION",
                            "Proxy-Authorization", "Cookie",     "set-cookie",
                            "X-Api-Key",       "x-api-key",      "X-API-KEY",
                            "X-Auth-Token",    "PRIVATE-TOKEN",  "X-Vault-Token",
                            "X-Client-Secret", "X-Password",     "X-Session-Id",
                            "X-Amz-Security-Token", "X-Hub-Signature", "Api-Credential"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (!emp_redact_header(secret[i]))
            fail_msg("%s should be redacted", secret[i]);
    const char *plain[] = {"Accept", "Content-Type", "User-Agent", "Host", "X-Request-Id",
                           "Cache-Control", "Keep-Alive", ""};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (emp_redact_header(plain[i]))
            fail_msg("%s should be shown", plain[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_userinfo),
        cmocka_unit_test(test_url_without_secret),
        cmocka_unit_test(test_url_user_without_password),
        cmocka_unit_test(test_url_at_signs),
        cmocka_unit_test(test_url_percent_encoded),
        cmocka_unit_test(test_url_ipv6),
        cmocka_unit_test(test_url_appends),
        cmocka_unit_test(test_header_names),
    };
    return cmocka_run_group_tests_name("redact", tests, NULL, NULL);
}
