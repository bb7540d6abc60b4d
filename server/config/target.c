/* Target definitions: a target's common keys (name, kind, group, timing,
 * thresholds) read here, its kind's own keys by the kind (config/kind.h);
 * deep copies (the prober owns its targets); and the JSON form a
 * configuration's "targets" writes, which the API stores and shows. */
#include "config/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/parse.h"
#include "core/buf.h"
#include "core/redact.h"

#define GROUP_EXPECTED "a string of at most 128 bytes without control characters"
#define KIND_EXPECTED_MAX 512
#define TARGET_KEYS_MAX 128

/* Keys every target takes, whatever its kind. */
static const char *const common_keys[] = {
    "name",
    "kind",
    "group",
    "interval_ms",
    "timeout_ms",
    "fail_threshold",
    "recover_threshold",
    "degraded_ms",
    "quorum",
};
#define N_COMMON (sizeof common_keys / sizeof common_keys[0])

const struct emp_probe_kind *emp_kinds_find(const struct emp_kinds *kinds, const char *name)
{
    for (size_t i = 0; kinds != NULL && name != NULL && i < kinds->n; i++)
        if (strcmp(kinds->v[i]->name, name) == 0)
            return kinds->v[i];
    return NULL;
}

int emp_kinds_index(const struct emp_kinds *kinds, const struct emp_probe_kind *kind)
{
    for (size_t i = 0; kinds != NULL && kind != NULL && i < kinds->n && i < EMP_KINDS_MAX; i++)
        if (kinds->v[i] == kind)
            return (int)i;
    return -1;
}

/* `one of "http", "tcp", "postgres"`: the kinds of the table. */
static void kinds_expected(const struct emp_kinds *kinds, char *buf, size_t size)
{
    int used = snprintf(buf, size, "one of ");
    for (size_t i = 0; kinds != NULL && i < kinds->n && used > 0 && (size_t)used < size; i++)
        used += snprintf(buf + used, size - (size_t)used, "%s\"%s\"", i > 0 ? ", " : "",
                         kinds->v[i]->name);
}

/* The keys a target may have: the common ones, then each kind's own, a key
 * that several kinds take listed once with all their bits. */
static size_t target_keys(const struct emp_kinds *kinds, struct emp_cfg_key *keys)
{
    size_t n = 0;
    for (size_t i = 0; i < N_COMMON; i++)
        keys[n++] = (struct emp_cfg_key){common_keys[i], EMP_CFG_ALL_KINDS};
    for (size_t k = 0; kinds != NULL && k < kinds->n && k < EMP_KINDS_MAX; k++) {
        for (const char *const *key = kinds->v[k]->keys; key != NULL && *key != NULL; key++) {
            size_t i = 0;
            while (i < n && strcmp(keys[i].key, *key) != 0)
                i++;
            if (i < n)
                keys[i].kinds |= 1u << k;
            else if (n < TARGET_KEYS_MAX)
                keys[n++] = (struct emp_cfg_key){*key, 1u << k};
        }
    }
    return n;
}

/* Fill `out` from targets[i]. `seen` maps each valid name so far to its
 * index, for duplicate names. */
/* `where` names the object in messages ("targets[3]", or "" for a target
 * on its own). */
static void load_target(struct emp_cfg *c, const json_t *t, const char *where, size_t i,
                        json_t *seen, struct emp_target_config *out)
{
    struct emp_cfg_where base = emp_cfg_where_fmt("%s", where);
    if (!json_is_object(t)) {
        emp_cfg_report(c, base.s, "expected an object, got %s", emp_cfg_show(c, t).s);
        return;
    }

    const char *s;
    enum emp_cfg_field f = emp_cfg_get_string(c, t, base.s, "name", EMP_CFG_NAME_EXPECTED, &s);
    if (f == EMP_CFG_ABSENT) {
        emp_cfg_report_missing(c, base.s, "name", EMP_CFG_NAME_EXPECTED);
    } else if (f == EMP_CFG_OK && !emp_config_valid_name(s)) {
        emp_cfg_report_value(c, t, base.s, "name", EMP_CFG_NAME_EXPECTED, NULL);
    } else if (f == EMP_CFG_OK) {
        const json_t *first = json_object_get(seen, s);
        if (first != NULL)
            emp_cfg_report(c, emp_cfg_at_key(c, base.s, "name").s,
                           "duplicate target name \"%s\" (first at targets[%lld])", s,
                           (long long)json_integer_value(first));
        else if (json_object_set_new(seen, s, json_integer((json_int_t)i)) != 0)
            c->oom = true;
        out->name = emp_cfg_dup(c, s);
    }

    /* The kind decides which keys are valid. */
    char kind_expected[KIND_EXPECTED_MAX];
    kinds_expected(c->kinds, kind_expected, sizeof kind_expected);
    int kind = -1;
    f = emp_cfg_get_string(c, t, base.s, "kind", kind_expected, &s);
    if (f == EMP_CFG_ABSENT)
        emp_cfg_report_missing(c, base.s, "kind", kind_expected);
    if (f == EMP_CFG_OK)
        kind = emp_kinds_index(c->kinds, emp_kinds_find(c->kinds, s));
    if (f == EMP_CFG_OK && kind < 0)
        emp_cfg_report_value(c, t, base.s, "kind", kind_expected, NULL);
    out->kind = kind >= 0 ? c->kinds->v[kind] : NULL;

    f = emp_cfg_get_string(c, t, base.s, "group", GROUP_EXPECTED, &s);
    if (f == EMP_CFG_OK && (strlen(s) > EMP_NAME_MAX || emp_cfg_has_control(s)))
        emp_cfg_report_value(c, t, base.s, "group", GROUP_EXPECTED, NULL);
    else if (f != EMP_CFG_BAD)
        out->group = emp_cfg_dup(c, f == EMP_CFG_OK ? s : "");

    /* When a bound is itself bad, check against the widest it could be so
     * that one mistake is reported once. */
    f = emp_cfg_get_int(c, t, base.s, "interval_ms", EMP_MIN_INTERVAL_MS, EMP_MAX_INTERVAL_MS, NULL,
                        EMP_DEFAULT_INTERVAL_MS, &out->interval_ms);
    int interval_max = f == EMP_CFG_BAD ? EMP_MAX_INTERVAL_MS : out->interval_ms;
    int timeout_dflt =
        out->interval_ms < EMP_DEFAULT_TIMEOUT_MS ? out->interval_ms : EMP_DEFAULT_TIMEOUT_MS;
    f = emp_cfg_get_int(c, t, base.s, "timeout_ms", EMP_MIN_TIMEOUT_MS, interval_max, "interval_ms",
                        timeout_dflt, &out->timeout_ms);
    int timeout_max = f == EMP_CFG_BAD ? interval_max : out->timeout_ms;
    emp_cfg_get_int(c, t, base.s, "fail_threshold", 1, EMP_MAX_THRESHOLD, NULL,
                    EMP_DEFAULT_FAIL_THRESHOLD, &out->fail_threshold);
    emp_cfg_get_int(c, t, base.s, "recover_threshold", 1, EMP_MAX_THRESHOLD, NULL,
                    EMP_DEFAULT_RECOVER_THRESHOLD, &out->recover_threshold);
    emp_cfg_get_int(c, t, base.s, "degraded_ms", 0, timeout_max, "timeout_ms",
                    EMP_DEFAULT_DEGRADED_MS, &out->degraded_ms);
    out->quorum = (struct emp_quorum)EMP_QUORUM_DEFAULT;
    out->has_quorum = emp_cfg_get_quorum(c, t, base.s, "quorum", &out->quorum) == EMP_CFG_OK;

    if (out->kind != NULL)
        out->kind->parse(c, t, base.s, &out->spec);
    char holder[64] = "a target";
    if (out->kind != NULL)
        snprintf(holder, sizeof holder, "a %s target", out->kind->name);
    struct emp_cfg_key keys[TARGET_KEYS_MAX];
    size_t n_keys = target_keys(c->kinds, keys);
    emp_cfg_check_keys(c, t, base.s, keys, n_keys, kind, holder);
}

void emp_cfg_load_targets(struct emp_cfg *c, const json_t *root, struct emp_config *cfg)
{
    const json_t *ts = json_object_get(root, "targets");
    if (ts == NULL)
        return;
    if (!json_is_array(ts)) {
        emp_cfg_report(c, "targets", "expected an array of target objects, got %s",
                       emp_cfg_show(c, ts).s);
        return;
    }
    size_t n = json_array_size(ts);
    if (n == 0)
        return;
    cfg->targets = calloc(n, sizeof *cfg->targets);
    json_t *seen = json_object();
    if (cfg->targets == NULL || seen == NULL) {
        c->oom = true;
        json_decref(seen);
        return;
    }
    cfg->n_targets = n;
    for (size_t i = 0; i < n; i++)
        load_target(c, json_array_get(ts, i), emp_cfg_at_index("targets", i).s, i, seen,
                    &cfg->targets[i]);
    json_decref(seen);
}

enum emp_err emp_config_parse_target(const char *text, size_t len, const char *source,
                                     const char *name, const struct emp_kinds *kinds,
                                     struct emp_target_config *out, FILE *errs, size_t *nerrs)
{
    struct emp_cfg c = {.file = source != NULL ? source : "(target)", .errs = errs, .kinds = kinds};
    json_error_t e;
    json_t *t = NULL, *seen = NULL;
    memset(out, 0, sizeof *out);
    if (text == NULL) {
        emp_cfg_report(&c, NULL, "expected a target definition, got nothing");
        goto out;
    }
    t = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (t == NULL) {
        emp_cfg_report_json_error(&c, &e);
        goto out;
    }
    seen = json_object();
    if (seen == NULL) {
        c.oom = true;
        goto out;
    }
    if (name != NULL && json_is_object(t) && json_object_get(t, "name") == NULL &&
        json_object_set_new(t, "name", json_string(name)) != 0)
        c.oom = true;
    else
        load_target(&c, t, "", 0, seen, out);
out:
    json_decref(seen);
    json_decref(t);
    if (c.oom) {
        c.nerrs++;
        if (c.errs != NULL)
            fprintf(c.errs, "%s: out of memory\n", c.file);
    }
    if (nerrs != NULL)
        *nerrs = c.nerrs;
    if (c.nerrs == 0)
        return EMP_OK;
    emp_target_config_cleanup(out);
    memset(out, 0, sizeof *out);
    return c.oom ? EMP_ENOMEM : EMP_ECONFIG;
}

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
    dst->spec = NULL;
    bool ok = copy_str(&dst->name, src->name);
    ok &= copy_str(&dst->group, src->group);
    if (src->kind != NULL && src->spec != NULL) {
        dst->spec = src->kind->copy(src->spec);
        ok &= dst->spec != NULL;
    }
    if (ok)
        return EMP_OK;
    emp_target_config_cleanup(dst);
    memset(dst, 0, sizeof *dst);
    return EMP_ENOMEM;
}

void emp_target_config_cleanup(struct emp_target_config *t)
{
    free(t->name);
    free(t->group);
    if (t->kind != NULL)
        t->kind->free_spec(t->spec);
    t->name = t->group = NULL;
    t->spec = NULL;
}

static int set_string(json_t *o, const char *key, const char *v)
{
    return json_object_set_new(o, key, json_string(v != NULL ? v : ""));
}

static bool is_common_key(const char *key)
{
    for (size_t i = 0; i < N_COMMON; i++)
        if (strcmp(key, common_keys[i]) == 0)
            return true;
    return false;
}

/* A header line "Name: value" with a credential's value redacted (into
 * `b`); false when it is not one. */
static bool redact_header_line(struct emp_buf *b, const char *s)
{
    const char *colon = strchr(s, ':');
    if (colon == NULL || colon == s)
        return false;
    /* A name too long to check is hidden: better a harmless value than a
     * credential. */
    char name[128];
    size_t n = (size_t)(colon - s);
    bool secret = n >= sizeof name;
    if (!secret) {
        memcpy(name, s, n);
        name[n] = '\0';
        secret = emp_redact_header(name);
    }
    if (!secret)
        return false;
    emp_buf_put(b, s, (size_t)(colon - s) + 1);
    emp_buf_puts(b, " " EMP_REDACTED);
    return true;
}

/* Redact what the kind wrote in `v` (see emp_target_config_json): URLs'
 * userinfo anywhere; within a "headers" value, credential headers, as
 * members of an object or as "Name: value" strings. 0, or -1 when out of
 * memory. */
static int redact_value(json_t *v, bool in_headers)
{
    int bad = 0;
    if (json_is_string(v)) {
        struct emp_buf b = {0};
        bool changed = in_headers && redact_header_line(&b, json_string_value(v));
        if (!changed) {
            emp_buf_reset(&b);
            changed = emp_redact_url(&b, json_string_value(v));
        }
        if (b.oom)
            bad = -1;
        else if (changed)
            bad = json_string_set(v, b.p);
        emp_buf_free(&b);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            bad |= redact_value(e, in_headers);
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m)
        {
            if (in_headers && emp_redact_header(key))
                bad |= json_object_set_new(v, key, json_string(EMP_REDACTED));
            else
                bad |= redact_value(m, strcasecmp(key, "headers") == 0);
        }
    }
    return bad;
}

json_t *emp_target_config_json(const struct emp_target_config *t, bool redact)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = set_string(o, "name", t->name);
    bad |= set_string(o, "kind", t->kind != NULL ? t->kind->name : "");
    bad |= set_string(o, "group", t->group);
    bad |= json_object_set_new(o, "interval_ms", json_integer(t->interval_ms));
    bad |= json_object_set_new(o, "timeout_ms", json_integer(t->timeout_ms));
    bad |= json_object_set_new(o, "fail_threshold", json_integer(t->fail_threshold));
    bad |= json_object_set_new(o, "recover_threshold", json_integer(t->recover_threshold));
    bad |= json_object_set_new(o, "degraded_ms", json_integer(t->degraded_ms));
    if (t->has_quorum)
        bad |= json_object_set_new(o, "quorum", emp_quorum_json(&t->quorum));
    if (t->kind != NULL && t->spec != NULL)
        bad |= t->kind->to_json(t->spec, redact, o);
    /* What every kind's keys share, redacted here once so that no kind can
     * forget it: the kind itself leaves out what only it knows as secret. */
    const char *key;
    json_t *v;
    if (redact && !bad) {
        json_object_foreach(o, key, v)
        {
            if (!is_common_key(key))
                bad |= redact_value(v, strcasecmp(key, "headers") == 0);
        }
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
