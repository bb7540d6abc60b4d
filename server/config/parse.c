/* Reading a configuration's JSON with every problem reported
 * (config/parse.h): messages, JSON paths, key checks with suggestions,
 * field readers and value checks. */
#include "config/parse.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/redact.h"

#define KEY_SIMPLE_MAX 64 /* longer keys are quoted in paths */

/* One problem, one line: `FILE: WHERE: TEXT`. */
void emp_cfg_report(struct emp_cfg *c, const char *where, const char *fmt, ...)
{
    c->nerrs++;
    if (c->errs == NULL)
        return;
    if (where != NULL && where[0] != '\0')
        fprintf(c->errs, "%s: %s: ", c->file, where);
    else
        fprintf(c->errs, "%s: ", c->file);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->errs, fmt, ap);
    va_end(ap);
    fputc('\n', c->errs);
}

/* Copy `s` into `dst` (size > 3), cutting it to fit with "..." at the end,
 * never inside a UTF-8 sequence. */
static void copy_cut(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n < size) {
        memcpy(dst, s, n + 1);
        return;
    }
    size_t keep = size - 4;
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
        keep--;
    memcpy(dst, s, keep);
    memcpy(dst + keep, "...", 4);
}

/* Compact JSON text of `v`, cut to EMP_CFG_SHOW_MAX bytes. Reals with 15
 * significant digits, so that 100.01 reads as written, not as
 * 100.01000000000001. */
struct emp_cfg_shown emp_cfg_show(struct emp_cfg *c, const json_t *v)
{
    struct emp_cfg_shown out;
    /* A value echoed in a problem is shown too: a URL's password hidden. */
    struct emp_buf b = {0};
    bool secret = json_is_string(v) && emp_redact_url(&b, json_string_value(v));
    json_t *hidden = secret && !b.oom ? json_string(b.p) : NULL;
    emp_buf_free(&b);
    char *s = secret && hidden == NULL
                  ? NULL
                  : json_dumps(secret ? hidden : v,
                               JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(hidden);
    if (s == NULL) {
        c->oom = true;
        snprintf(out.s, sizeof out.s, "(value)");
        return out;
    }
    copy_cut(out.s, sizeof out.s, s);
    free(s);
    return out;
}

static bool is_simple_key(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > KEY_SIMPLE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = key[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

/* A path cut to EMP_CFG_WHERE_MAX bytes; a path that long is already unreadable. */
struct emp_cfg_where emp_cfg_where_fmt(const char *fmt, ...)
{
    struct emp_cfg_where w;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w.s, sizeof w.s, fmt, ap);
    va_end(ap);
    return w;
}

/* `base.key`, or `base["odd key"]` when the key is not an identifier. */
struct emp_cfg_where emp_cfg_at_key(struct emp_cfg *c, const char *base, const char *key)
{
    if (is_simple_key(key))
        return base[0] == '\0' ? emp_cfg_where_fmt("%s", key)
                               : emp_cfg_where_fmt("%s.%s", base, key);
    json_t *k = json_string(key); /* keys are valid UTF-8: jansson checked */
    struct emp_cfg_shown q;
    if (k == NULL) {
        c->oom = true;
        snprintf(q.s, sizeof q.s, "\"?\"");
    } else {
        q = emp_cfg_show(c, k);
        json_decref(k);
    }
    return emp_cfg_where_fmt("%s[%s]", base, q.s);
}

struct emp_cfg_where emp_cfg_at_index(const char *base, size_t i)
{
    return emp_cfg_where_fmt("%s[%zu]", base, i);
}

/* Edit distance, for "did you mean"; keys are short. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > KEY_SIMPLE_MAX || lb > KEY_SIMPLE_MAX)
        return SIZE_MAX;
    size_t row[KEY_SIMPLE_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Report every key of `obj` that `keys` does not allow for `kind` (-1 when
 * there is no kind or it is unknown: then only keys valid for no kind are
 * reported). `holder` names the object in messages ("a tcp target"). */
void emp_cfg_check_keys(struct emp_cfg *c, const json_t *obj, const char *base,
                        const struct emp_cfg_key *keys, size_t n_keys, int kind, const char *holder)
{
    unsigned kind_bit = kind >= 0 ? 1u << kind : 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct emp_cfg_key *spec = NULL;
        for (size_t i = 0; i < n_keys && spec == NULL; i++)
            if (strcmp(keys[i].key, key) == 0)
                spec = &keys[i];
        if (spec != NULL && (kind_bit == 0 || (spec->kinds & kind_bit) != 0))
            continue;
        struct emp_cfg_where w = emp_cfg_at_key(c, base, key);
        if (spec != NULL) {
            char owners[64] = "";
            for (size_t k = 0; c->kinds != NULL && k < c->kinds->n; k++) {
                if ((spec->kinds & (1u << k)) == 0)
                    continue;
                size_t used = strlen(owners);
                snprintf(owners + used, sizeof owners - used, "%s%s", used > 0 ? ", " : "",
                         c->kinds->v[k]->name);
            }
            emp_cfg_report(c, w.s, "not valid for kind %s (only for %s)", c->kinds->v[kind]->name,
                           owners);
            continue;
        }
        const char *near = NULL;
        size_t best = 3; /* suggest within two edits */
        for (size_t i = 0; i < n_keys; i++) {
            if (kind_bit != 0 && (keys[i].kinds & kind_bit) == 0)
                continue;
            size_t d = distance(key, keys[i].key);
            if (d < best && d < strlen(key)) {
                best = d;
                near = keys[i].key;
            }
        }
        if (near != NULL) {
            emp_cfg_report(c, w.s, "unknown key, did you mean \"%s\"?", near);
            continue;
        }
        char valid[512] = "";
        for (size_t i = 0; i < n_keys; i++) {
            if (kind_bit != 0 && (keys[i].kinds & kind_bit) == 0)
                continue;
            size_t used = strlen(valid);
            snprintf(valid + used, sizeof valid - used, "%s%s", used > 0 ? ", " : "",
                     keys[i].key);
        }
        emp_cfg_report(c, w.s, "unknown key; %s takes %s", holder, valid);
    }
}

/* ---- field readers ----------------------------------------------------- */

char *emp_cfg_dup(struct emp_cfg *c, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        c->oom = true;
    return d;
}

/* Integer `key` of `obj` in [min, max] into *out, or `dflt` when absent.
 * `max_from` names the field the upper bound comes from, or is NULL. */
enum emp_cfg_field emp_cfg_get_int(struct emp_cfg *c, const json_t *obj, const char *base,
                                   const char *key, long long min, long long max,
                                   const char *max_from, int dflt, int *out)
{
    *out = dflt;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return EMP_CFG_ABSENT;
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n >= min && n <= max) {
            *out = (int)n;
            return EMP_CFG_OK;
        }
    }
    struct emp_cfg_where w = emp_cfg_at_key(c, base, key);
    if (max_from != NULL)
        emp_cfg_report(c, w.s, "expected an integer from %lld to %s (%lld), got %s", min, max_from,
                       max, emp_cfg_show(c, v).s);
    else
        emp_cfg_report(c, w.s, "expected an integer from %lld to %lld, got %s", min, max,
                       emp_cfg_show(c, v).s);
    return EMP_CFG_BAD;
}

/* String `key` of `obj` into *out (borrowed from `obj`). A value that is not
 * a string is reported with `expected`. */
enum emp_cfg_field emp_cfg_get_string(struct emp_cfg *c, const json_t *obj, const char *base,
                                      const char *key, const char *expected, const char **out)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return EMP_CFG_ABSENT;
    if (!json_is_string(v)) {
        emp_cfg_report(c, emp_cfg_at_key(c, base, key).s, "expected %s, got %s", expected,
                       emp_cfg_show(c, v).s);
        return EMP_CFG_BAD;
    }
    *out = json_string_value(v);
    return EMP_CFG_OK;
}

/* Number `key` of `obj` (an integer or a real) into *out, or `dflt` when
 * absent. A value that is not a number is reported with `expected`; the
 * range is the caller's to check. */
enum emp_cfg_field emp_cfg_get_number(struct emp_cfg *c, const json_t *obj, const char *base,
                                      const char *key, const char *expected, double dflt,
                                      double *out)
{
    *out = dflt;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return EMP_CFG_ABSENT;
    if (!json_is_number(v)) {
        emp_cfg_report(c, emp_cfg_at_key(c, base, key).s, "expected %s, got %s", expected,
                       emp_cfg_show(c, v).s);
        return EMP_CFG_BAD;
    }
    *out = json_number_value(v);
    return EMP_CFG_OK;
}

/* Boolean `key` of `obj` into *out, or `dflt` when absent. */
enum emp_cfg_field emp_cfg_get_bool(struct emp_cfg *c, const json_t *obj, const char *base,
                                    const char *key, bool dflt, bool *out)
{
    *out = dflt;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return EMP_CFG_ABSENT;
    if (!json_is_boolean(v)) {
        emp_cfg_report(c, emp_cfg_at_key(c, base, key).s, "expected true or false, got %s",
                       emp_cfg_show(c, v).s);
        return EMP_CFG_BAD;
    }
    *out = json_is_true(v);
    return EMP_CFG_OK;
}

void emp_cfg_report_missing(struct emp_cfg *c, const char *base, const char *key,
                            const char *expected)
{
    emp_cfg_report(c, emp_cfg_at_key(c, base, key).s, "required, expected %s", expected);
}

void emp_cfg_report_value(struct emp_cfg *c, const json_t *obj, const char *base, const char *key,
                          const char *expected, const char *why)
{
    const json_t *v = json_object_get(obj, key);
    if (why != NULL)
        emp_cfg_report(c, emp_cfg_at_key(c, base, key).s, "expected %s, got %s (%s)", expected,
                       emp_cfg_show(c, v).s, why);
    else
        emp_cfg_report(c, emp_cfg_at_key(c, base, key).s, "expected %s, got %s", expected,
                       emp_cfg_show(c, v).s);
}

/* ---- value checks ------------------------------------------------------ */

bool emp_cfg_is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

bool emp_config_valid_name(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > EMP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!emp_cfg_is_name_char(s[i]))
            return false;
    return true;
}

bool emp_cfg_has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return true;
    return false;
}

bool emp_cfg_valid_host(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > EMP_CFG_HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!emp_cfg_is_name_char(s[i]) && s[i] != ':' && s[i] != '%')
            return false;
    return true;
}

/* A decimal port 1..65535 spanning all of s[0..n). */
int emp_cfg_parse_port(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    int port = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= EMP_CFG_PORT_MAX ? port : -1;
}

void emp_cfg_report_json_error(struct emp_cfg *c, const json_error_t *e)
{
    /* jansson leaves the text empty when it could not even allocate its
     * lexer. (An allocation failure inside the lexer reads as a syntax
     * error; jansson does not tell the two apart.) */
    if (json_error_code(e) == json_error_out_of_memory || e->text[0] == '\0') {
        c->oom = true;
        return;
    }
    c->nerrs++;
    if (c->errs == NULL)
        return;
    /* jansson quotes the text near the error as it is: a line end in it
     * must not split the one line of the problem. */
    char text[sizeof e->text];
    snprintf(text, sizeof text, "%s", e->text);
    for (char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (e->line > 0)
        fprintf(c->errs, "%s:%d:%d: %s\n", c->file, e->line, e->column, text);
    else
        fprintf(c->errs, "%s: %s\n", c->file, text);
}

#define QUORUM_EXPECTED "\"majority\", \"any\", \"all\" or a number of locations from 1 to 64"

enum emp_cfg_field emp_cfg_get_quorum(struct emp_cfg *c, const json_t *obj, const char *base,
                                      const char *key, struct emp_quorum *out)
{
    const json_t *q = json_object_get(obj, key);
    if (q == NULL)
        return EMP_CFG_ABSENT;
    const char *s = json_string_value(q);
    if (s != NULL && strcmp(s, "majority") == 0) {
        out->rule = EMP_QUORUM_MAJORITY;
    } else if (s != NULL && strcmp(s, "any") == 0) {
        out->rule = EMP_QUORUM_ANY;
    } else if (s != NULL && strcmp(s, "all") == 0) {
        out->rule = EMP_QUORUM_ALL;
    } else if (json_is_integer(q) && json_integer_value(q) >= 1 &&
               json_integer_value(q) <= EMP_QUORUM_MAX) {
        out->rule = EMP_QUORUM_COUNT;
        out->count = (int)json_integer_value(q);
    } else {
        emp_cfg_report_value(c, obj, base, key, QUORUM_EXPECTED, NULL);
        return EMP_CFG_BAD;
    }
    return EMP_CFG_OK;
}

json_t *emp_quorum_json(const struct emp_quorum *q)
{
    switch (q->rule) {
    case EMP_QUORUM_ANY: return json_string("any");
    case EMP_QUORUM_ALL: return json_string("all");
    case EMP_QUORUM_COUNT: return json_integer(q->count);
    case EMP_QUORUM_MAJORITY:
    default: return json_string("majority");
    }
}
