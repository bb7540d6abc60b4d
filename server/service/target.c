/* Target definitions apart from a configuration file: the prober's own
 * copies of targets added at run time, the JSON form the API stores and
 * shows, and loading the API's targets from the store at start. */
#include "service/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "probes/prober.h"

/* A copy of `s` into `*dst` (NULL stays NULL); false when out of memory. */
static bool copy_str(char **dst, const char *s)
{
    *dst = NULL;
    if (s == NULL)
        return true;
    *dst = strdup(s);
    return *dst != NULL;
}

enum emp_err emp_target_config_copy(struct emp_target_config *dst,
                                    const struct emp_target_config *src)
{
    *dst = *src;
    bool ok = copy_str(&dst->name, src->name);
    ok &= copy_str(&dst->group, src->group);
    ok &= copy_str(&dst->url, src->url);
    ok &= copy_str(&dst->host, src->host);
    ok &= copy_str(&dst->conninfo, src->conninfo);
    ok &= copy_str(&dst->query, src->query);
    if (ok)
        return EMP_OK;
    emp_target_config_cleanup(dst);
    memset(dst, 0, sizeof *dst);
    return EMP_ENOMEM;
}

static int set_string(json_t *o, const char *key, const char *v)
{
    return json_object_set_new(o, key, json_string(v != NULL ? v : ""));
}

json_t *emp_target_config_json(const struct emp_target_config *t, bool redact)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = set_string(o, "name", t->name);
    bad |= set_string(o, "kind", emp_kind_name(t->kind));
    bad |= set_string(o, "group", t->group);
    bad |= json_object_set_new(o, "interval_ms", json_integer(t->interval_ms));
    bad |= json_object_set_new(o, "timeout_ms", json_integer(t->timeout_ms));
    bad |= json_object_set_new(o, "fail_threshold", json_integer(t->fail_threshold));
    bad |= json_object_set_new(o, "recover_threshold", json_integer(t->recover_threshold));
    bad |= json_object_set_new(o, "degraded_ms", json_integer(t->degraded_ms));
    switch (t->kind) {
    case EMP_KIND_HTTP: {
        bad |= set_string(o, "url", t->url);
        /* Empty means any 2xx or 3xx, as an absent key does. */
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < t->n_expect_status; i++)
            bad |= json_array_append_new(a, json_integer(t->expect_status[i]));
        bad |= json_object_set_new(o, "expect_status", a);
        bad |= json_object_set_new(o, "reuse", json_boolean(t->reuse));
        break;
    }
    case EMP_KIND_TCP:
        bad |= set_string(o, "host", t->host);
        bad |= json_object_set_new(o, "port", json_integer(t->port));
        break;
    case EMP_KIND_POSTGRES: {
        char *shown = redact && t->conninfo != NULL ? emp_db_redact_conninfo(t->conninfo) : NULL;
        bad |= set_string(o, "conninfo", redact ? (shown != NULL ? shown : "") : t->conninfo);
        free(shown);
        bad |= set_string(o, "query", t->query);
        break;
    }
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

enum emp_err emp_target_load_api(struct emp_db *db, const struct emp_config *cfg,
                                 struct emp_prober *p, size_t *n_loaded,
                                 struct emp_error *err)
{
    struct emp_api_target *t = NULL;
    size_t n = 0, loaded = 0;
    if (n_loaded != NULL)
        *n_loaded = 0;
    enum emp_err rc = emp_db_api_targets(db, &t, &n, err);
    if (rc != EMP_OK)
        return rc;
    for (size_t i = 0; i < n && rc == EMP_OK; i++) {
        if (emp_config_find_target(cfg, t[i].name) >= 0) {
            emp_warn("target made through the API is in the configuration file too; "
                     "the file's definition is used",
                     "target=%s", t[i].name);
            continue;
        }
        char source[EMP_NAME_MAX + 64];
        snprintf(source, sizeof source, "targets.api_definition of %s", t[i].name);
        struct emp_target_config tc;
        size_t nerrs = 0;
        enum emp_err e = emp_config_parse_target(t[i].definition, strlen(t[i].definition), source,
                                                 NULL, &tc, stderr, &nerrs);
        if (e == EMP_ENOMEM)
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
        else if (e != EMP_OK || strcmp(tc.name, t[i].name) != 0)
            emp_warn("target made through the API no longer validates; not probed",
                     "target=%s problems=%zu", t[i].name, nerrs);
        else if (emp_prober_put(p, t[i].id, &tc) != 0)
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
        else
            loaded++;
        emp_target_config_cleanup(&tc);
    }
    emp_db_api_targets_free(t, n);
    if (n_loaded != NULL)
        *n_loaded = loaded;
    return rc;
}
