/* The OpenAPI description (server/api/openapi.json, embedded) against the
 * router's table, both ways: every route served is described, every
 * described path is served, with the same methods. Also: the document is
 * OpenAPI 3.0, every path template parameter is declared, every operation
 * has a 200 response, and every $ref resolves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/handlers.h"

/* `path` with every "{...}" written as "{}": the router says {name} where
 * the description says {name} or {group}. */
static void normalize(const char *path, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *c = path; *c != '\0' && o + 3 < outsz; c++) {
        out[o++] = *c;
        if (*c == '{') {
            while (*c != '\0' && *c != '}')
                c++;
            if (*c == '\0')
                break;
            out[o++] = '}';
        }
    }
    out[o] = '\0';
}

static void lower(const char *s, char *out, size_t outsz)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < outsz; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

static json_t *load_doc(void)
{
    json_error_t e;
    json_t *doc = json_loadb(api_openapi_json, api_openapi_json_len, JSON_REJECT_DUPLICATES, &e);
    if (doc == NULL)
        fail_msg("server/api/openapi.json:%d:%d: %s", e.line, e.column, e.text);
    assert_int_equal(strlen(api_openapi_json), api_openapi_json_len);
    return doc;
}

static void test_routes_described(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    assert_true(json_is_object(paths));
    const char *method, *pattern;
    size_t n = 0;
    for (size_t i = 0; emp_api_route_at(i, &method, &pattern); i++, n++) {
        char want[512], got[512], m[16];
        normalize(pattern, want, sizeof want);
        lower(method, m, sizeof m);
        bool found = false;
        const char *key;
        json_t *item;
        json_object_foreach(paths, key, item)
        {
            normalize(key, got, sizeof got);
            if (strcmp(got, want) == 0 && json_object_get(item, m) != NULL)
                found = true;
        }
        if (!found)
            fail_msg("route %s %s is not described in server/api/openapi.json", method, pattern);
    }
    assert_true(n >= 14);
    json_decref(doc);
}

static void test_described_served(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    const char *key;
    json_t *item;
    json_object_foreach(paths, key, item)
    {
        char want[512], got[512];
        normalize(key, want, sizeof want);
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op)
        {
            if (strcmp(m, "parameters") == 0 || strcmp(m, "summary") == 0 ||
                strcmp(m, "description") == 0 || strcmp(m, "servers") == 0)
                continue;
            bool served = false;
            const char *method, *pattern;
            for (size_t i = 0; !served && emp_api_route_at(i, &method, &pattern); i++) {
                char lm[16];
                lower(method, lm, sizeof lm);
                normalize(pattern, got, sizeof got);
                served = strcmp(got, want) == 0 && strcmp(lm, m) == 0;
            }
            if (!served)
                fail_msg("%s %s is described but not served", m, key);
        }
    }
    json_decref(doc);
}

/* Follow "#/a/b/c" from the document root. */
static json_t *resolve(json_t *doc, const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ref + 2);
    json_t *at = doc;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok != NULL && at != NULL;
         tok = strtok_r(NULL, "/", &save))
        at = json_object_get(at, tok);
    return at;
}

static void check_refs(json_t *doc, json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (strcmp(k, "$ref") == 0) {
                assert_true(json_is_string(x));
                if (resolve(doc, json_string_value(x)) == NULL)
                    fail_msg("$ref %s does not resolve", json_string_value(x));
            } else {
                check_refs(doc, x);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) check_refs(doc, x);
    }
}

static void test_document(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    const char *version = json_string_value(json_object_get(doc, "openapi"));
    assert_non_null(version);
    assert_true(strncmp(version, "3.0.", 4) == 0);
    assert_non_null(json_string_value(json_object_get(json_object_get(doc, "info"), "title")));
    check_refs(doc, doc);
    /* The error schema is the one api_error writes. */
    json_t *err = resolve(doc, "#/components/schemas/Error/properties/error/properties");
    assert_non_null(json_object_get(err, "code"));
    assert_non_null(json_object_get(err, "message"));

    json_t *paths = json_object_get(doc, "paths");
    const char *key;
    json_t *item;
    json_object_foreach(paths, key, item)
    {
        json_t *op = json_object_get(item, "get");
        assert_non_null(op);
        json_t *responses = json_object_get(op, "responses");
        if (json_object_get(responses, "200") == NULL)
            fail_msg("GET %s: no 200 response", key);
        assert_non_null(json_string_value(json_object_get(op, "operationId")));
        /* Each {param} of the template is declared in the path. */
        for (const char *c = strchr(key, '{'); c != NULL; c = strchr(c + 1, '{')) {
            const char *end = strchr(c, '}');
            assert_non_null(end);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(end - c - 1), c + 1);
            bool declared = false;
            size_t i;
            json_t *p;
            json_array_foreach(json_object_get(op, "parameters"), i, p)
            {
                json_t *rp = p;
                if (json_object_get(p, "$ref") != NULL)
                    rp = resolve(doc, json_string_value(json_object_get(p, "$ref")));
                if (rp != NULL &&
                    strcmp(json_string_value(json_object_get(rp, "in")), "path") == 0 &&
                    strcmp(json_string_value(json_object_get(rp, "name")), name) == 0)
                    declared = json_is_true(json_object_get(rp, "required"));
            }
            if (!declared)
                fail_msg("GET %s: path parameter %s not declared as required", key, name);
        }
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_described),
        cmocka_unit_test(test_described_served),
        cmocka_unit_test(test_document),
    };
    return cmocka_run_group_tests_name("api_openapi", tests, NULL, NULL);
}
