/* Targets for tests: made from JSON through the configuration's own reader
 * (so a test's target is one a user could write), and a kind's fields read
 * back through its JSON form (a kind's spec is private to its file).
 * Header-only: every test is one executable. Failures end the test. */
#ifndef EMP_TEST_SUPPORT_TARGET_H
#define EMP_TEST_SUPPORT_TARGET_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/target.h"
#include "probes/kinds.h"

/* The kind called `name` in Empiric's table; aborts when there is none. */
static inline const struct emp_probe_kind *test_kind(const char *name)
{
    const struct emp_probe_kind *k = emp_kinds_find(&emp_probe_kinds, name);
    if (k == NULL) {
        fprintf(stderr, "test: no probe kind called %s\n", name);
        abort();
    }
    return k;
}

/* A target from a printf-formatted JSON object, as a configuration's
 * "targets" holds it; free with emp_target_config_cleanup. Aborts (with
 * the problems) when it does not read. */
static inline struct emp_target_config test_target(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline struct emp_target_config test_target(const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    struct emp_target_config tc;
    if (n < 0 || (size_t)n >= sizeof text ||
        emp_config_parse_target(text, (size_t)n, "test target", NULL, &emp_probe_kinds, &tc, stderr,
                                NULL) != EMP_OK) {
        fprintf(stderr, "test: not a target: %s\n", text);
        abort();
    }
    return tc;
}

/* Field `key` of the target's JSON form (the kind's keys included): a new
 * reference, or NULL when it has none. */
static inline json_t *test_target_field(const struct emp_target_config *tc, const char *key)
{
    json_t *o = emp_target_config_json(tc, false);
    if (o == NULL)
        abort();
    json_t *v = json_incref(json_object_get(o, key));
    json_decref(o);
    return v;
}

/* The string field `key`, copied into `buf` ("" when absent or not a
 * string); returns buf. */
static inline const char *test_target_str(const struct emp_target_config *tc, const char *key,
                                          char *buf, size_t size)
{
    json_t *v = test_target_field(tc, key);
    snprintf(buf, size, "%s", json_is_string(v) ? json_string_value(v) : "");
    json_decref(v);
    return buf;
}

/* The integer field `key` (-1 when absent or not an integer). */
static inline long long test_target_int(const struct emp_target_config *tc, const char *key)
{
    json_t *v = test_target_field(tc, key);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(v);
    return n;
}

/* The boolean field `key` (false when absent). */
static inline bool test_target_bool(const struct emp_target_config *tc, const char *key)
{
    json_t *v = test_target_field(tc, key);
    bool b = json_is_true(v);
    json_decref(v);
    return b;
}

#endif
