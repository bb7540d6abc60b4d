/* Loads and validates the JSON configuration. Validation does not stop at the
 * first problem: check-config lists every one, each as
 * `FILE: JSON.PATH: expected WHAT, got VALUE`, and nothing is returned
 * unless there were none. */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
/* Only for PQconninfoParse: a bad conninfo should fail check-config, not the
 * first connection attempt hours later. No connection is made here. */
#include <libpq-fe.h>

#define SHOW_MAX 60        /* bytes of a bad value quoted in a message */
#define WHERE_MAX 256      /* bytes of a JSON path in a message */
#define HOST_MAX 253       /* longest DNS name */
#define KEY_SIMPLE_MAX 64  /* longer keys are quoted in paths */
#define STATUS_MIN 100
#define STATUS_MAX 599
#define PORT_MAX 65535

#define NAME_EXPECTED "a name of 1 to 128 characters from [A-Za-z0-9._-]"
#define GROUP_EXPECTED "a string of at most 128 bytes without control characters"
#define LISTEN_EXPECTED "\"host:port\" or \"[v6]:port\" with a port from 1 to 65535"
#define URL_EXPECTED "an http:// or https:// URL with a host"
#define HOST_EXPECTED "a host name or IP address (no brackets, no port)"
#define KIND_EXPECTED "one of \"http\", \"tcp\", \"postgres\""
#define PERIOD_EXPECTED "one of \"day\", \"week\", \"month\", \"quarter\", \"year\""
#define RULE_EXPECTED "one of \"outages\", \"minutes\""
#define OBJECTIVE_EXPECTED "a percentage greater than 0 and at most 100"
#define FRACTION_EXPECTED "a number from 0 to less than 1"
#define CREDIT_EXPECTED "a percentage from 0 to 100"
#define FSYNC_EXPECTED "one of \"never\", \"second\", \"always\""
#define PATH_EXPECTED "a file path without control characters"
#define SPOOL_MAX_MB_MAX 1048576

struct ctx {
    const char *file;  /* names the source in every message */
    FILE *errs;        /* may be NULL */
    size_t nerrs;
    bool oom;          /* an allocation failed; the result is EMP_ENOMEM */
};

/* A JSON path or a shown value, returned by value so that messages can use
 * them inline; a temporary lives until the end of the full expression. */
struct where { char s[WHERE_MAX]; };
struct shown { char s[SHOW_MAX + 1]; };

enum field { FIELD_ABSENT, FIELD_OK, FIELD_BAD };

/* Which kinds a target key is valid for. */
#define K_HTTP (1u << EMP_KIND_HTTP)
#define K_TCP (1u << EMP_KIND_TCP)
#define K_PG (1u << EMP_KIND_POSTGRES)
#define K_ALL (K_HTTP | K_TCP | K_PG)

struct key_spec {
    const char *key;
    unsigned kinds;
};

static const struct key_spec top_keys[] = {
    {"listen", K_ALL}, {"prober", K_ALL}, {"targets", K_ALL}, {"slas", K_ALL},
    {"api", K_ALL},
    {"spool", K_ALL},
};
static const struct key_spec spool_keys[] = {
    {"path", K_ALL}, {"max_mb", K_ALL}, {"fsync", K_ALL},
};
static const struct key_spec prober_keys[] = {
    {"name", K_ALL}, {"location", K_ALL}, {"max_lag_ms", K_ALL}, {"canaries", K_ALL},
};
static const struct key_spec sla_keys[] = {
    {"name", K_ALL},          {"objective", K_ALL},
    {"period", K_ALL},        {"downtime_rule", K_ALL},
    {"credits", K_ALL},       {"exclude_unknown", K_ALL},
    {"targets", K_ALL},       {"groups", K_ALL},
};
static const struct key_spec rule_keys[] = {
    {"kind", K_ALL}, {"max_failed_fraction", K_ALL},
};
static const struct key_spec credit_keys[] = {
    {"below", K_ALL}, {"credit_percent", K_ALL},
};
static const struct key_spec target_keys[] = {
    {"name", K_ALL},          {"kind", K_ALL},
    {"group", K_ALL},         {"interval_ms", K_ALL},
    {"timeout_ms", K_ALL},    {"fail_threshold", K_ALL},
    {"recover_threshold", K_ALL}, {"degraded_ms", K_ALL},
    {"url", K_HTTP},          {"expect_status", K_HTTP},
    {"reuse", K_HTTP},        {"host", K_TCP},
    {"port", K_TCP},          {"conninfo", K_PG},
    {"query", K_PG},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const kind_names[] = {"http", "tcp", "postgres"};

const char *emp_kind_name(enum emp_target_kind kind)
{
    if ((unsigned)kind < N_ELEMS(kind_names))
        return kind_names[kind];
    return "unknown";
}

int emp_config_find_target(const struct emp_config *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return -1;
    for (size_t i = 0; i < cfg->n_targets && i <= INT_MAX; i++)
        if (cfg->targets[i].name != NULL && strcmp(cfg->targets[i].name, name) == 0)
            return (int)i;
    return -1;
}

int emp_config_find_sla(const struct emp_config *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return -1;
    for (size_t i = 0; i < cfg->n_slas && i <= INT_MAX; i++)
        if (cfg->slas[i].name != NULL && strcmp(cfg->slas[i].name, name) == 0)
            return (int)i;
    return -1;
}

void emp_target_config_cleanup(struct emp_target_config *t)
{
    free(t->name);
    free(t->group);
    free(t->url);
    free(t->host);
    free(t->conninfo);
    free(t->query);
}

void emp_config_free(struct emp_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_targets; i++)
        emp_target_config_cleanup(&cfg->targets[i]);
    free(cfg->targets);
    for (size_t i = 0; i < cfg->n_slas; i++)
        emp_sla_cleanup(&cfg->slas[i]);
    free(cfg->slas);
    free(cfg->path);
    free(cfg->listen);
    free(cfg->listen_host);
    free(cfg->prober_name);
    free(cfg->prober_location);
    for (size_t i = 0; i < cfg->n_canaries; i++)
        free(cfg->canaries[i]);
    free(cfg->canaries);
    free(cfg->spool_path);
    free(cfg);
}

/* ---- messages ---------------------------------------------------------- */

static void report(struct ctx *c, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One problem, one line: `FILE: WHERE: TEXT`. */
static void report(struct ctx *c, const char *where, const char *fmt, ...)
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

/* Compact JSON text of `v`, cut to SHOW_MAX bytes. Reals with 15
 * significant digits, so that 100.01 reads as written, not as
 * 100.01000000000001. */
static struct shown show(struct ctx *c, const json_t *v)
{
    struct shown out;
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
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

static struct where where_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A path cut to WHERE_MAX bytes; a path that long is already unreadable. */
static struct where where_fmt(const char *fmt, ...)
{
    struct where w;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w.s, sizeof w.s, fmt, ap);
    va_end(ap);
    return w;
}

/* `base.key`, or `base["odd key"]` when the key is not an identifier. */
static struct where at_key(struct ctx *c, const char *base, const char *key)
{
    if (is_simple_key(key))
        return base[0] == '\0' ? where_fmt("%s", key) : where_fmt("%s.%s", base, key);
    json_t *k = json_string(key); /* keys are valid UTF-8: jansson checked */
    struct shown q;
    if (k == NULL) {
        c->oom = true;
        snprintf(q.s, sizeof q.s, "\"?\"");
    } else {
        q = show(c, k);
        json_decref(k);
    }
    return where_fmt("%s[%s]", base, q.s);
}

static struct where at_index(const char *base, size_t i)
{
    return where_fmt("%s[%zu]", base, i);
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
static void check_keys(struct ctx *c, const json_t *obj, const char *base,
                       const struct key_spec *keys, size_t n_keys, int kind,
                       const char *holder)
{
    unsigned kind_bit = kind >= 0 ? 1u << kind : 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const struct key_spec *spec = NULL;
        for (size_t i = 0; i < n_keys && spec == NULL; i++)
            if (strcmp(keys[i].key, key) == 0)
                spec = &keys[i];
        if (spec != NULL && (kind_bit == 0 || (spec->kinds & kind_bit) != 0))
            continue;
        struct where w = at_key(c, base, key);
        if (spec != NULL) {
            char owners[64] = "";
            for (size_t k = 0; k < N_ELEMS(kind_names); k++) {
                if ((spec->kinds & (1u << k)) == 0)
                    continue;
                size_t used = strlen(owners);
                snprintf(owners + used, sizeof owners - used, "%s%s",
                         used > 0 ? ", " : "", kind_names[k]);
            }
            report(c, w.s, "not valid for kind %s (only for %s)",
                   kind_names[kind], owners);
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
            report(c, w.s, "unknown key, did you mean \"%s\"?", near);
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
        report(c, w.s, "unknown key; %s takes %s", holder, valid);
    }
}

/* ---- field readers ----------------------------------------------------- */

static char *dup(struct ctx *c, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        c->oom = true;
    return d;
}

/* Integer `key` of `obj` in [min, max] into *out, or `dflt` when absent.
 * `max_from` names the field the upper bound comes from, or is NULL. */
static enum field get_int(struct ctx *c, const json_t *obj, const char *base,
                          const char *key, long long min, long long max,
                          const char *max_from, int dflt, int *out)
{
    *out = dflt;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return FIELD_ABSENT;
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n >= min && n <= max) {
            *out = (int)n;
            return FIELD_OK;
        }
    }
    struct where w = at_key(c, base, key);
    if (max_from != NULL)
        report(c, w.s, "expected an integer from %lld to %s (%lld), got %s", min, max_from,
               max, show(c, v).s);
    else
        report(c, w.s, "expected an integer from %lld to %lld, got %s", min, max,
               show(c, v).s);
    return FIELD_BAD;
}

/* String `key` of `obj` into *out (borrowed from `obj`). A value that is not
 * a string is reported with `expected`. */
static enum field get_string(struct ctx *c, const json_t *obj, const char *base,
                             const char *key, const char *expected, const char **out)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return FIELD_ABSENT;
    if (!json_is_string(v)) {
        report(c, at_key(c, base, key).s, "expected %s, got %s", expected, show(c, v).s);
        return FIELD_BAD;
    }
    *out = json_string_value(v);
    return FIELD_OK;
}

/* Number `key` of `obj` (an integer or a real) into *out, or `dflt` when
 * absent. A value that is not a number is reported with `expected`; the
 * range is the caller's to check. */
static enum field get_number(struct ctx *c, const json_t *obj, const char *base,
                             const char *key, const char *expected, double dflt,
                             double *out)
{
    *out = dflt;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return FIELD_ABSENT;
    if (!json_is_number(v)) {
        report(c, at_key(c, base, key).s, "expected %s, got %s", expected, show(c, v).s);
        return FIELD_BAD;
    }
    *out = json_number_value(v);
    return FIELD_OK;
}

/* Boolean `key` of `obj` into *out, or `dflt` when absent. */
static enum field get_bool(struct ctx *c, const json_t *obj, const char *base,
                           const char *key, bool dflt, bool *out)
{
    *out = dflt;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return FIELD_ABSENT;
    if (!json_is_boolean(v)) {
        report(c, at_key(c, base, key).s, "expected true or false, got %s", show(c, v).s);
        return FIELD_BAD;
    }
    *out = json_is_true(v);
    return FIELD_OK;
}

static void report_missing(struct ctx *c, const char *base, const char *key,
                           const char *expected)
{
    report(c, at_key(c, base, key).s, "required, expected %s", expected);
}

static void report_value(struct ctx *c, const json_t *obj, const char *base,
                         const char *key, const char *expected, const char *why)
{
    const json_t *v = json_object_get(obj, key);
    if (why != NULL)
        report(c, at_key(c, base, key).s, "expected %s, got %s (%s)", expected,
               show(c, v).s, why);
    else
        report(c, at_key(c, base, key).s, "expected %s, got %s", expected, show(c, v).s);
}

/* ---- value checks ------------------------------------------------------ */

static bool is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > EMP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(s[i]))
            return false;
    return true;
}

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return true;
    return false;
}

static bool valid_host(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(s[i]) && s[i] != ':' && s[i] != '%')
            return false;
    return true;
}

/* A decimal port 1..65535 spanning all of s[0..n). */
static int parse_port(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    int port = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= PORT_MAX ? port : -1;
}

/* Split "host:port" or "[v6]:port". Returns NULL and fills *host_out (new)
 * and *port_out, or returns why it is not valid. *host_out stays NULL on an
 * allocation failure. */
static const char *split_listen(const char *s, char **host_out, int *port_out)
{
    *host_out = NULL;
    const char *host, *colon;
    size_t host_len;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL)
            return "missing \"]\"";
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
        if (*colon != ':')
            return "missing \":port\" after \"]\"";
        char v6[INET6_ADDRSTRLEN + 1];
        struct in6_addr addr;
        if (host_len == 0 || host_len >= sizeof v6)
            return "not an IPv6 address in brackets";
        memcpy(v6, host, host_len);
        v6[host_len] = '\0';
        if (inet_pton(AF_INET6, v6, &addr) != 1)
            return "not an IPv6 address in brackets";
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return "missing \":port\"";
        host = s;
        host_len = (size_t)(colon - s);
        if (host_len == 0)
            return "missing host";
        if (memchr(host, ':', host_len) != NULL)
            return "IPv6 addresses go in brackets";
        if (host_len > HOST_MAX)
            return "host too long";
        for (size_t i = 0; i < host_len; i++)
            if (!is_name_char(host[i]))
                return "host has a character outside [A-Za-z0-9._-]";
    }
    int port = parse_port(colon + 1, strlen(colon + 1));
    if (port < 0)
        return "port must be a number from 1 to 65535";
    *host_out = strndup(host, host_len);
    *port_out = port;
    return NULL;
}

/* Why `s` is not an acceptable probe URL, or NULL when it is. */
static const char *url_problem(struct ctx *c, const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return "contains a space or control character";
    size_t skip = strncasecmp(s, "http://", 7) == 0    ? 7
                  : strncasecmp(s, "https://", 8) == 0 ? 8
                                                       : 0;
    if (skip == 0)
        return "scheme must be http:// or https://";
    /* curl reads "http:///x" as host "x"; we want the host where it is
     * written: between "//" (after any user@) and the first "/?#" or ":". */
    const char *auth = s + skip;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', auth_len);
    const char *host_at = at != NULL ? at + 1 : auth;
    if (host_at == auth + auth_len || *host_at == ':')
        return "missing host";
    CURLU *u = curl_url();
    if (u == NULL) {
        c->oom = true;
        return NULL;
    }
    const char *why = NULL;
    char *host = NULL, *port = NULL;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, s, 0);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        c->oom = true;
        goto out;
    }
    if (rc != CURLUE_OK) {
        why = curl_url_strerror(rc);
        goto out;
    }
    rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        c->oom = true;
        goto out;
    }
    if (rc != CURLUE_OK || host == NULL || host[0] == '\0') {
        why = "missing host";
        goto out;
    }
    rc = curl_url_get(u, CURLUPART_PORT, &port, 0);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        c->oom = true;
        goto out;
    }
    if (rc == CURLUE_OK && parse_port(port, strlen(port)) < 0)
        why = "port must be from 1 to 65535";
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return why;
}

/* ---- sections ---------------------------------------------------------- */

static void load_listen(struct ctx *c, const json_t *root, struct emp_config *cfg)
{
    const char *s;
    enum field f = get_string(c, root, "", "listen", LISTEN_EXPECTED, &s);
    if (f == FIELD_BAD)
        return;
    if (f == FIELD_ABSENT)
        s = EMP_DEFAULT_LISTEN;
    const char *why = split_listen(s, &cfg->listen_host, &cfg->listen_port);
    if (why != NULL) {
        report_value(c, root, "", "listen", LISTEN_EXPECTED, why);
        return;
    }
    if (cfg->listen_host == NULL)
        c->oom = true;
    cfg->listen = dup(c, s);
}

static void load_prober(struct ctx *c, const json_t *root, struct emp_config *cfg)
{
    const char *name = EMP_DEFAULT_PROBER, *location = "";
    const json_t *p = json_object_get(root, "prober");
    if (p != NULL && !json_is_object(p)) {
        report(c, "prober", "expected an object with \"name\" and \"location\", got %s",
               show(c, p).s);
    } else if (p != NULL) {
        const char *s;
        enum field f = get_string(c, p, "prober", "name", NAME_EXPECTED, &s);
        if (f == FIELD_OK && !valid_name(s))
            report_value(c, p, "prober", "name", NAME_EXPECTED, NULL);
        else if (f == FIELD_OK)
            name = s;
        if (get_string(c, p, "prober", "location", "a string", &s) == FIELD_OK)
            location = s;
        check_keys(c, p, "prober", prober_keys, N_ELEMS(prober_keys), -1, "prober");
    }
    cfg->prober_name = dup(c, name);
    cfg->prober_location = dup(c, location);
    cfg->max_lag_ms = EMP_DEFAULT_MAX_LAG_MS;
    if (p != NULL && json_is_object(p))
        get_int(c, p, "prober", "max_lag_ms", 1, 60000, NULL, EMP_DEFAULT_MAX_LAG_MS,
                &cfg->max_lag_ms);
}

#define CANARIES_EXPECTED "a list of at most 16 target names"

/* prober.canaries: names of configured targets, each once; after
 * load_targets. */
static void load_canaries(struct ctx *c, const json_t *root, struct emp_config *cfg)
{
    const json_t *p = json_object_get(root, "prober");
    const json_t *v = json_is_object(p) ? json_object_get(p, "canaries") : NULL;
    if (v == NULL)
        return;
    if (!json_is_array(v) || json_array_size(v) > EMP_MAX_CANARIES) {
        report_value(c, p, "prober", "canaries", CANARIES_EXPECTED, NULL);
        return;
    }
    size_t n = json_array_size(v);
    cfg->canaries = calloc(n ? n : 1, sizeof *cfg->canaries);
    if (cfg->canaries == NULL) {
        c->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        struct where w = at_index("prober.canaries", i);
        const char *name = json_string_value(e);
        if (name == NULL || emp_config_find_target(cfg, name) < 0) {
            report(c, w.s, "expected the name of a configured target, got %s", show(c, e).s);
            continue;
        }
        bool seen = false;
        for (size_t k = 0; k < cfg->n_canaries; k++)
            seen |= strcmp(cfg->canaries[k], name) == 0;
        if (seen) {
            report(c, w.s, "target %s is named twice", show(c, e).s);
            continue;
        }
        cfg->canaries[cfg->n_canaries] = dup(c, name);
        if (cfg->canaries[cfg->n_canaries] != NULL)
            cfg->n_canaries++;
    }
}

/* "spool": {"path", "max_mb", "fsync"}; after load_prober (the default
 * path names the prober). */
static void load_spool(struct ctx *c, const json_t *root, struct emp_config *cfg)
{
    static const char *const fsyncs[] = {"never", "second", "always"};
    const char *path = NULL;
    cfg->spool_max_mb = EMP_DEFAULT_SPOOL_MAX_MB;
    cfg->spool_fsync = EMP_DEFAULT_SPOOL_FSYNC;
    const json_t *sp = json_object_get(root, "spool");
    if (sp != NULL && !json_is_object(sp)) {
        report(c, "spool", "expected an object with \"path\", \"max_mb\", \"fsync\", got %s",
               show(c, sp).s);
    } else if (sp != NULL) {
        const char *s;
        enum field f = get_string(c, sp, "spool", "path", PATH_EXPECTED, &s);
        if (f == FIELD_OK && (s[0] == '\0' || has_control(s)))
            report_value(c, sp, "spool", "path", PATH_EXPECTED, NULL);
        else if (f == FIELD_OK)
            path = s;
        get_int(c, sp, "spool", "max_mb", 1, SPOOL_MAX_MB_MAX, NULL, EMP_DEFAULT_SPOOL_MAX_MB,
                &cfg->spool_max_mb);
        if (get_string(c, sp, "spool", "fsync", FSYNC_EXPECTED, &s) == FIELD_OK) {
            size_t i = 0;
            while (i < N_ELEMS(fsyncs) && strcmp(s, fsyncs[i]) != 0)
                i++;
            if (i < N_ELEMS(fsyncs))
                cfg->spool_fsync = (enum emp_fsync)i;
            else
                report_value(c, sp, "spool", "fsync", FSYNC_EXPECTED, NULL);
        }
        check_keys(c, sp, "spool", spool_keys, N_ELEMS(spool_keys), -1, "spool");
    }
    if (path != NULL) {
        cfg->spool_path = dup(c, path);
    } else if (cfg->prober_name != NULL) {
        size_t n = strlen(cfg->prober_name) + sizeof ".spool";
        cfg->spool_path = malloc(n);
        if (cfg->spool_path == NULL)
            c->oom = true;
        else
            snprintf(cfg->spool_path, n, "%s.spool", cfg->prober_name);
    }
}

static void load_http(struct ctx *c, const json_t *t, const char *base,
                      struct emp_target_config *out)
{
    const char *s;
    enum field f = get_string(c, t, base, "url", URL_EXPECTED, &s);
    if (f == FIELD_ABSENT) {
        report_missing(c, base, "url", URL_EXPECTED);
    } else if (f == FIELD_OK) {
        const char *why = url_problem(c, s);
        if (why != NULL)
            report_value(c, t, base, "url", URL_EXPECTED, why);
        else
            out->url = dup(c, s);
    }

    const json_t *es = json_object_get(t, "expect_status");
    if (es != NULL && !json_is_array(es)) {
        report(c, at_key(c, base, "expect_status").s,
               "expected an array of at most %d status codes from %d to %d, got %s",
               EMP_MAX_EXPECT_STATUS, STATUS_MIN, STATUS_MAX, show(c, es).s);
    } else if (es != NULL) {
        struct where w = at_key(c, base, "expect_status");
        size_t n = json_array_size(es);
        if (n > EMP_MAX_EXPECT_STATUS)
            report(c, w.s, "expected at most %d status codes, got %zu",
                   EMP_MAX_EXPECT_STATUS, n);
        size_t i;
        const json_t *v;
        json_array_foreach(es, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < STATUS_MIN ||
                json_integer_value(v) > STATUS_MAX) {
                report(c, at_index(w.s, i).s, "expected an integer from %d to %d, got %s",
                       STATUS_MIN, STATUS_MAX, show(c, v).s);
            } else if (i < EMP_MAX_EXPECT_STATUS) {
                out->expect_status[i] = (int)json_integer_value(v);
            }
        }
        out->n_expect_status = n < EMP_MAX_EXPECT_STATUS ? n : EMP_MAX_EXPECT_STATUS;
    }

    const json_t *reuse = json_object_get(t, "reuse");
    if (reuse != NULL && !json_is_boolean(reuse))
        report(c, at_key(c, base, "reuse").s, "expected true or false, got %s",
               show(c, reuse).s);
    out->reuse = reuse != NULL && json_is_true(reuse);
}

static void load_tcp(struct ctx *c, const json_t *t, const char *base,
                     struct emp_target_config *out)
{
    const char *s;
    enum field f = get_string(c, t, base, "host", HOST_EXPECTED, &s);
    if (f == FIELD_ABSENT)
        report_missing(c, base, "host", HOST_EXPECTED);
    else if (f == FIELD_OK && !valid_host(s))
        report_value(c, t, base, "host", HOST_EXPECTED, NULL);
    else if (f == FIELD_OK)
        out->host = dup(c, s);

    if (get_int(c, t, base, "port", 1, PORT_MAX, NULL, 0, &out->port) == FIELD_ABSENT)
        report_missing(c, base, "port", "an integer from 1 to 65535");
}

static void load_postgres(struct ctx *c, const json_t *t, const char *base,
                          struct emp_target_config *out)
{
    static const char expected[] = "a libpq connection string";
    const char *s;
    enum field f = get_string(c, t, base, "conninfo", expected, &s);
    if (f == FIELD_ABSENT) {
        report_missing(c, base, "conninfo", expected);
    } else if (f == FIELD_OK && s[0] == '\0') {
        report_value(c, t, base, "conninfo", expected, NULL);
    } else if (f == FIELD_OK) {
        char *msg = NULL;
        PQconninfoOption *opts = PQconninfoParse(s, &msg);
        if (opts == NULL && msg == NULL) {
            c->oom = true;
        } else if (opts == NULL) {
            /* libpq's text ends in a newline. The value is not echoed: it
             * may hold a password. */
            size_t n = strlen(msg);
            while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                msg[--n] = '\0';
            for (char *p = msg; *p != '\0'; p++)
                if (*p == '\n')
                    *p = ' ';
            report(c, at_key(c, base, "conninfo").s, "expected %s: %s", expected, msg);
        } else {
            out->conninfo = dup(c, s);
        }
        PQconninfoFree(opts);
        PQfreemem(msg);
    }

    f = get_string(c, t, base, "query", "a non-empty SQL query", &s);
    if (f == FIELD_OK && s[0] == '\0')
        report_value(c, t, base, "query", "a non-empty SQL query", NULL);
    else if (f != FIELD_BAD)
        out->query = dup(c, f == FIELD_OK ? s : EMP_DEFAULT_QUERY);
}

/* Fill `out` from targets[i]. `seen` maps each valid name so far to its
 * index, for duplicate names. */
/* `where` names the object in messages ("targets[3]", or "" for a target
 * on its own). */
static void load_target(struct ctx *c, const json_t *t, const char *where, size_t i,
                        json_t *seen, struct emp_target_config *out)
{
    struct where base = where_fmt("%s", where);
    if (!json_is_object(t)) {
        report(c, base.s, "expected an object, got %s", show(c, t).s);
        return;
    }

    const char *s;
    enum field f = get_string(c, t, base.s, "name", NAME_EXPECTED, &s);
    if (f == FIELD_ABSENT) {
        report_missing(c, base.s, "name", NAME_EXPECTED);
    } else if (f == FIELD_OK && !valid_name(s)) {
        report_value(c, t, base.s, "name", NAME_EXPECTED, NULL);
    } else if (f == FIELD_OK) {
        const json_t *first = json_object_get(seen, s);
        if (first != NULL)
            report(c, at_key(c, base.s, "name").s,
                   "duplicate target name \"%s\" (first at targets[%lld])", s,
                   (long long)json_integer_value(first));
        else if (json_object_set_new(seen, s, json_integer((json_int_t)i)) != 0)
            c->oom = true;
        out->name = dup(c, s);
    }

    /* The kind decides which keys are valid. */
    int kind = -1;
    f = get_string(c, t, base.s, "kind", KIND_EXPECTED, &s);
    if (f == FIELD_ABSENT)
        report_missing(c, base.s, "kind", KIND_EXPECTED);
    for (size_t k = 0; f == FIELD_OK && k < N_ELEMS(kind_names); k++)
        if (strcmp(s, kind_names[k]) == 0)
            kind = (int)k;
    if (f == FIELD_OK && kind < 0)
        report_value(c, t, base.s, "kind", KIND_EXPECTED, NULL);
    out->kind = kind < 0 ? EMP_KIND_HTTP : (enum emp_target_kind)kind;

    f = get_string(c, t, base.s, "group", GROUP_EXPECTED, &s);
    if (f == FIELD_OK && (strlen(s) > EMP_NAME_MAX || has_control(s)))
        report_value(c, t, base.s, "group", GROUP_EXPECTED, NULL);
    else if (f != FIELD_BAD)
        out->group = dup(c, f == FIELD_OK ? s : "");

    /* When a bound is itself bad, check against the widest it could be so
     * that one mistake is reported once. */
    f = get_int(c, t, base.s, "interval_ms", EMP_MIN_INTERVAL_MS, EMP_MAX_INTERVAL_MS, NULL,
                EMP_DEFAULT_INTERVAL_MS, &out->interval_ms);
    int interval_max = f == FIELD_BAD ? EMP_MAX_INTERVAL_MS : out->interval_ms;
    int timeout_dflt = out->interval_ms < EMP_DEFAULT_TIMEOUT_MS ? out->interval_ms
                                                                 : EMP_DEFAULT_TIMEOUT_MS;
    f = get_int(c, t, base.s, "timeout_ms", EMP_MIN_TIMEOUT_MS, interval_max,
                "interval_ms", timeout_dflt, &out->timeout_ms);
    int timeout_max = f == FIELD_BAD ? interval_max : out->timeout_ms;
    get_int(c, t, base.s, "fail_threshold", 1, EMP_MAX_THRESHOLD, NULL,
            EMP_DEFAULT_FAIL_THRESHOLD, &out->fail_threshold);
    get_int(c, t, base.s, "recover_threshold", 1, EMP_MAX_THRESHOLD, NULL,
            EMP_DEFAULT_RECOVER_THRESHOLD, &out->recover_threshold);
    get_int(c, t, base.s, "degraded_ms", 0, timeout_max, "timeout_ms",
            EMP_DEFAULT_DEGRADED_MS, &out->degraded_ms);

    if (kind == EMP_KIND_HTTP)
        load_http(c, t, base.s, out);
    else if (kind == EMP_KIND_TCP)
        load_tcp(c, t, base.s, out);
    else if (kind == EMP_KIND_POSTGRES)
        load_postgres(c, t, base.s, out);
    char holder[32] = "a target";
    if (kind >= 0)
        snprintf(holder, sizeof holder, "a %s target", kind_names[kind]);
    check_keys(c, t, base.s, target_keys, N_ELEMS(target_keys), kind, holder);
}

static void load_targets(struct ctx *c, const json_t *root, struct emp_config *cfg)
{
    const json_t *ts = json_object_get(root, "targets");
    if (ts == NULL)
        return;
    if (!json_is_array(ts)) {
        report(c, "targets", "expected an array of target objects, got %s", show(c, ts).s);
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
        load_target(c, json_array_get(ts, i), at_index("targets", i).s, i, seen,
                    &cfg->targets[i]);
    json_decref(seen);
}

/* ---- SLAs -------------------------------------------------------------- */

#define CREDIT_SHAPE "{\"below\": PERCENT, \"credit_percent\": PERCENT}"
#define RULE_SHAPE "{\"kind\": \"outages\"} or {\"kind\": \"minutes\", \"max_failed_fraction\": F}"

/* The target names and non-empty groups written in `targets`, whether or
 * not the rest of each target is valid, so that a mistake in a target is
 * not reported again at every SLA naming it. */
static void collect_refs(struct ctx *c, const json_t *root, json_t *names, json_t *groups)
{
    const json_t *ts = json_object_get(root, "targets");
    size_t i;
    const json_t *t;
    if (!json_is_array(ts))
        return;
    json_array_foreach(ts, i, t) {
        const char *n = json_string_value(json_object_get(t, "name"));
        const char *g = json_string_value(json_object_get(t, "group"));
        if (n != NULL && json_object_set_new(names, n, json_true()) != 0)
            c->oom = true;
        if (g != NULL && g[0] != '\0' && json_object_set_new(groups, g, json_true()) != 0)
            c->oom = true;
    }
}

/* The list `key` of `s` into a new array of new strings: every entry must
 * be a key of `known` (else reported with `expected`) and appear once.
 * `what` names an entry in messages ("target"). */
static void load_refs(struct ctx *c, const json_t *s, const char *base, const char *key,
                      const json_t *known, const char *expected, const char *what,
                      char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    const json_t *v = json_object_get(s, key);
    if (v == NULL)
        return;
    struct where w = at_key(c, base, key);
    if (!json_is_array(v)) {
        report(c, w.s, "expected an array of %s names, got %s", what, show(c, v).s);
        return;
    }
    size_t n = json_array_size(v);
    if (n == 0)
        return;
    char **names = calloc(n, sizeof *names);
    json_t *seen = json_object();
    if (names == NULL || seen == NULL) {
        c->oom = true;
        free(names);
        json_decref(seen);
        return;
    }
    size_t i, k = 0;
    const json_t *e;
    json_array_foreach(v, i, e) {
        struct where wi = at_index(w.s, i);
        const char *name = json_string_value(e);
        if (name == NULL || json_object_get(known, name) == NULL) {
            report(c, wi.s, "expected %s, got %s", expected, show(c, e).s);
            continue;
        }
        const json_t *first = json_object_get(seen, name);
        if (first != NULL) {
            /* Shown as JSON: the name is the file's, control characters and all. */
            report(c, wi.s, "duplicate %s %s (first at %s[%lld])", what, show(c, e).s, w.s,
                   (long long)json_integer_value(first));
            continue;
        }
        if (json_object_set_new(seen, name, json_integer((json_int_t)i)) != 0)
            c->oom = true;
        names[k] = dup(c, name);
        if (names[k] != NULL)
            k++;
    }
    json_decref(seen);
    *out = names;
    *n_out = k;
}

static void load_rule(struct ctx *c, const json_t *s, const char *base, struct emp_sla *out)
{
    out->rule = EMP_DEFAULT_SLA_RULE;
    out->max_failed_fraction = 0.0;
    const json_t *r = json_object_get(s, "downtime_rule");
    if (r == NULL)
        return;
    struct where w = at_key(c, base, "downtime_rule");
    if (!json_is_object(r)) {
        report(c, w.s, "expected %s, got %s", RULE_SHAPE, show(c, r).s);
        return;
    }
    const char *kind;
    int rule = -1;
    enum field f = get_string(c, r, w.s, "kind", RULE_EXPECTED, &kind);
    if (f == FIELD_ABSENT)
        report_missing(c, w.s, "kind", RULE_EXPECTED);
    else if (f == FIELD_OK && strcmp(kind, emp_sla_rule_name(EMP_SLA_RULE_OUTAGES)) == 0)
        rule = EMP_SLA_RULE_OUTAGES;
    else if (f == FIELD_OK && strcmp(kind, emp_sla_rule_name(EMP_SLA_RULE_MINUTES)) == 0)
        rule = EMP_SLA_RULE_MINUTES;
    else if (f == FIELD_OK)
        report_value(c, r, w.s, "kind", RULE_EXPECTED, NULL);
    if (rule >= 0)
        out->rule = (enum emp_sla_rule)rule;

    double x;
    f = get_number(c, r, w.s, "max_failed_fraction", FRACTION_EXPECTED, 0.0, &x);
    if (f == FIELD_OK && rule == EMP_SLA_RULE_OUTAGES)
        report(c, at_key(c, w.s, "max_failed_fraction").s,
               "not valid for kind outages (only for minutes)");
    else if (f == FIELD_OK && !(x >= 0.0 && x < 1.0))
        report_value(c, r, w.s, "max_failed_fraction", FRACTION_EXPECTED, NULL);
    else if (f == FIELD_OK)
        out->max_failed_fraction = x;
    check_keys(c, r, w.s, rule_keys, N_ELEMS(rule_keys), -1, "downtime_rule");
}

struct tier {
    double below, credit;
    size_t idx;       /* in credits[] */
    const json_t *obj;
};

/* Highest threshold first; the order of the file among equals. */
static int cmp_tier(const void *pa, const void *pb)
{
    const struct tier *x = pa, *y = pb;
    if (x->below != y->below)
        return x->below > y->below ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Credit tiers, stored highest threshold first. Thresholds are distinct
 * and at most the objective (`objective` is the JSON value, or NULL when
 * it is missing or bad: then 100), and a lower threshold never owes a
 * smaller credit: a worse availability must not cost the vendor less. */
static void load_credits(struct ctx *c, const json_t *s, const char *base,
                         const json_t *objective, struct emp_sla *out)
{
    const json_t *v = json_object_get(s, "credits");
    if (v == NULL)
        return;
    struct where w = at_key(c, base, "credits");
    if (!json_is_array(v)) {
        report(c, w.s, "expected an array of %s, got %s", CREDIT_SHAPE, show(c, v).s);
        return;
    }
    size_t n = json_array_size(v);
    if (n == 0)
        return;
    struct tier *tiers = calloc(n, sizeof *tiers);
    if (tiers == NULL) {
        c->oom = true;
        return;
    }
    double max_below = objective != NULL ? json_number_value(objective) : 100.0;
    char below_expected[128];
    snprintf(below_expected, sizeof below_expected,
             "a percentage greater than 0 and at most the objective (%s)",
             objective != NULL ? show(c, objective).s : "100");

    size_t i, k = 0;
    const json_t *e;
    json_array_foreach(v, i, e) {
        struct where wi = at_index(w.s, i);
        if (!json_is_object(e)) {
            report(c, wi.s, "expected %s, got %s", CREDIT_SHAPE, show(c, e).s);
            continue;
        }
        double below, credit;
        bool ok = true;
        enum field f = get_number(c, e, wi.s, "below", below_expected, 0.0, &below);
        if (f == FIELD_ABSENT)
            report_missing(c, wi.s, "below", below_expected);
        else if (f == FIELD_OK && !(below > 0.0 && below <= max_below))
            report_value(c, e, wi.s, "below", below_expected, NULL);
        ok = f == FIELD_OK && below > 0.0 && below <= max_below;
        f = get_number(c, e, wi.s, "credit_percent", CREDIT_EXPECTED, 0.0, &credit);
        if (f == FIELD_ABSENT)
            report_missing(c, wi.s, "credit_percent", CREDIT_EXPECTED);
        else if (f == FIELD_OK && !(credit >= 0.0 && credit <= 100.0))
            report_value(c, e, wi.s, "credit_percent", CREDIT_EXPECTED, NULL);
        ok = ok && f == FIELD_OK && credit >= 0.0 && credit <= 100.0;
        check_keys(c, e, wi.s, credit_keys, N_ELEMS(credit_keys), -1, "a credit tier");
        if (ok)
            tiers[k++] = (struct tier){below, credit, i, e};
    }

    qsort(tiers, k, sizeof *tiers, cmp_tier);
    size_t m = 0;
    for (size_t j = 0; j < k; j++) {
        const struct tier *t = &tiers[j];
        struct where wt = at_index(w.s, t->idx);
        if (m > 0 && t->below == tiers[m - 1].below) {
            report(c, at_key(c, wt.s, "below").s, "duplicate tier below %s (first at %s[%zu])",
                   show(c, json_object_get(t->obj, "below")).s, w.s, tiers[m - 1].idx);
            continue;
        }
        if (m > 0 && t->credit < tiers[m - 1].credit) {
            const struct tier *up = &tiers[m - 1];
            report(c, at_key(c, wt.s, "credit_percent").s,
                   "expected at least %s, the credit below %s at %s[%zu] (a lower "
                   "availability may not owe less), got %s",
                   show(c, json_object_get(up->obj, "credit_percent")).s,
                   show(c, json_object_get(up->obj, "below")).s, w.s, up->idx,
                   show(c, json_object_get(t->obj, "credit_percent")).s);
            continue;
        }
        tiers[m++] = *t;
    }
    if (m > 0) {
        out->credits = calloc(m, sizeof *out->credits);
        if (out->credits == NULL) {
            c->oom = true;
            m = 0;
        }
    }
    for (size_t j = 0; j < m; j++)
        out->credits[j] = (struct emp_sla_credit){tiers[j].below, tiers[j].credit};
    out->n_credits = m;
    free(tiers);
}

/* Fill `out` from slas[i]. `seen` maps each valid SLA name so far to its
 * index; `names` and `groups` are the targets' names and groups. */
static void load_sla(struct ctx *c, const json_t *s, size_t i, json_t *seen,
                     const json_t *names, const json_t *groups, struct emp_sla *out)
{
    struct where base = at_index("slas", i);
    out->period = EMP_DEFAULT_SLA_PERIOD;
    out->rule = EMP_DEFAULT_SLA_RULE;
    out->exclude_unknown = EMP_DEFAULT_EXCLUDE_UNKNOWN;
    if (!json_is_object(s)) {
        report(c, base.s, "expected an object, got %s", show(c, s).s);
        return;
    }

    const char *str;
    enum field f = get_string(c, s, base.s, "name", NAME_EXPECTED, &str);
    if (f == FIELD_ABSENT) {
        report_missing(c, base.s, "name", NAME_EXPECTED);
    } else if (f == FIELD_OK && !valid_name(str)) {
        report_value(c, s, base.s, "name", NAME_EXPECTED, NULL);
    } else if (f == FIELD_OK) {
        const json_t *first = json_object_get(seen, str);
        if (first != NULL)
            report(c, at_key(c, base.s, "name").s,
                   "duplicate SLA name \"%s\" (first at slas[%lld])", str,
                   (long long)json_integer_value(first));
        else if (json_object_set_new(seen, str, json_integer((json_int_t)i)) != 0)
            c->oom = true;
        out->name = dup(c, str);
    }

    double objective;
    const json_t *objective_ok = NULL;
    f = get_number(c, s, base.s, "objective", OBJECTIVE_EXPECTED, 0.0, &objective);
    if (f == FIELD_ABSENT)
        report_missing(c, base.s, "objective", OBJECTIVE_EXPECTED);
    else if (f == FIELD_OK && !(objective > 0.0 && objective <= 100.0))
        report_value(c, s, base.s, "objective", OBJECTIVE_EXPECTED, NULL);
    else if (f == FIELD_OK)
        objective_ok = json_object_get(s, "objective");
    out->objective_pct = objective_ok != NULL ? objective : 100.0;

    f = get_string(c, s, base.s, "period", PERIOD_EXPECTED, &str);
    int period = f == FIELD_OK ? emp_sla_period_parse(str) : -1;
    if (f == FIELD_OK && period < 0)
        report_value(c, s, base.s, "period", PERIOD_EXPECTED, NULL);
    else if (period >= 0)
        out->period = (enum emp_sla_period)period;

    load_rule(c, s, base.s, out);
    load_credits(c, s, base.s, objective_ok, out);
    get_bool(c, s, base.s, "exclude_unknown", EMP_DEFAULT_EXCLUDE_UNKNOWN,
             &out->exclude_unknown);
    load_refs(c, s, base.s, "targets", names, "the name of a configured target", "target",
              &out->targets, &out->n_targets);
    load_refs(c, s, base.s, "groups", groups, "the group of a configured target", "group",
              &out->groups, &out->n_groups);

    /* An SLA that covers nothing is a mistake, not a way to switch it off. */
    const json_t *tv = json_object_get(s, "targets"), *gv = json_object_get(s, "groups");
    bool no_targets = tv == NULL || (json_is_array(tv) && json_array_size(tv) == 0);
    bool no_groups = gv == NULL || (json_is_array(gv) && json_array_size(gv) == 0);
    if (no_targets && no_groups)
        report(c, base.s, "expected \"targets\" or \"groups\" naming what the SLA covers, "
                          "got neither");
    check_keys(c, s, base.s, sla_keys, N_ELEMS(sla_keys), -1, "an SLA");
}

static void load_slas(struct ctx *c, const json_t *root, struct emp_config *cfg)
{
    const json_t *ss = json_object_get(root, "slas");
    if (ss == NULL)
        return;
    if (!json_is_array(ss)) {
        report(c, "slas", "expected an array of SLA objects, got %s", show(c, ss).s);
        return;
    }
    size_t n = json_array_size(ss);
    if (n == 0)
        return;
    cfg->slas = calloc(n, sizeof *cfg->slas);
    json_t *seen = json_object(), *names = json_object(), *groups = json_object();
    if (cfg->slas == NULL || seen == NULL || names == NULL || groups == NULL) {
        c->oom = true;
        goto out;
    }
    cfg->n_slas = n;
    collect_refs(c, root, names, groups);
    for (size_t i = 0; i < n; i++)
        load_sla(c, json_array_get(ss, i), i, seen, names, groups, &cfg->slas[i]);
out:
    json_decref(seen);
    json_decref(names);
    json_decref(groups);
}

/* ---- the API's limits -------------------------------------------------- */

static const struct key_spec api_keys[] = {
    {"threads", K_ALL},           {"max_connections", K_ALL},
    {"max_connections_per_ip", K_ALL}, {"idle_timeout_s", K_ALL},
    {"request_deadline_s", K_ALL}, {"connection_memory_kib", K_ALL},
    {"max_body_bytes", K_ALL},
};

/* "api": {...}: the HTTP server's limits, each with its default. */
static void load_api(struct ctx *c, const json_t *root, struct emp_config *cfg)
{
    struct emp_api_limits *l = &cfg->api;
    *l = (struct emp_api_limits)EMP_API_LIMITS_DEFAULT;
    const json_t *a = json_object_get(root, "api");
    if (a == NULL)
        return;
    if (!json_is_object(a)) {
        report(c, "api", "expected an object of limits, got %s", show(c, a).s);
        return;
    }
    get_int(c, a, "api", "threads", 1, 64, NULL, EMP_DEFAULT_API_THREADS, &l->threads);
    /* MHD divides the connections among its threads: each needs one. */
    if (get_int(c, a, "api", "max_connections", 1, 1000000, NULL,
                EMP_DEFAULT_API_MAX_CONNECTIONS, &l->max_connections) == FIELD_OK &&
        l->max_connections < l->threads)
        report(c, "api.max_connections", "expected at least api.threads (%d), got %d",
               l->threads, l->max_connections);
    get_int(c, a, "api", "max_connections_per_ip", 0, 1000000, NULL,
            EMP_DEFAULT_API_MAX_CONNECTIONS_PER_IP, &l->max_connections_per_ip);
    get_int(c, a, "api", "idle_timeout_s", 1, 3600, NULL, EMP_DEFAULT_API_IDLE_TIMEOUT_S,
            &l->idle_timeout_s);
    get_int(c, a, "api", "request_deadline_s", 1, 3600, NULL,
            EMP_DEFAULT_API_REQUEST_DEADLINE_S, &l->request_deadline_s);
    get_int(c, a, "api", "connection_memory_kib", 16, 16384, NULL,
            EMP_DEFAULT_API_CONNECTION_MEMORY_KIB, &l->connection_memory_kib);
    get_int(c, a, "api", "max_body_bytes", 1024, 16 * 1024 * 1024, NULL,
            EMP_DEFAULT_API_MAX_BODY_BYTES, &l->max_body_bytes);
    check_keys(c, a, "api", api_keys, N_ELEMS(api_keys), -1, "api");
}

/* Validate `root` into a new config. */
static enum emp_err load_root(struct ctx *c, const json_t *root, struct emp_config **out)
{
    if (!json_is_object(root)) {
        report(c, NULL, "expected an object at the top level, got %s", show(c, root).s);
        return c->oom ? EMP_ENOMEM : EMP_ECONFIG;
    }
    struct emp_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        c->oom = true;
        return EMP_ENOMEM;
    }
    cfg->path = dup(c, c->file);
    load_listen(c, root, cfg);
    load_prober(c, root, cfg);
    load_spool(c, root, cfg);
    load_targets(c, root, cfg);
    load_canaries(c, root, cfg);
    load_slas(c, root, cfg);
    load_api(c, root, cfg);
    check_keys(c, root, "", top_keys, N_ELEMS(top_keys), -1, "the top level");
    if (c->oom || c->nerrs > 0) {
        emp_config_free(cfg);
        return c->oom ? EMP_ENOMEM : EMP_ECONFIG;
    }
    *out = cfg;
    return EMP_OK;
}

/* ---- entry points ------------------------------------------------------ */

static void report_json_error(struct ctx *c, const json_error_t *e)
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

/* Load from `text` (when `fp` is NULL) or `fp`, then validate. */
static enum emp_err load(struct ctx *c, const char *text, FILE *fp, struct emp_config **out)
{
    json_error_t e;
    json_t *root = fp != NULL ? json_loadf(fp, JSON_REJECT_DUPLICATES, &e)
                              : json_loads(text, JSON_REJECT_DUPLICATES, &e);
    enum emp_err rc;
    if (root == NULL && fp != NULL && ferror(fp)) {
        report(c, NULL, "cannot read: %s", strerror(errno));
        rc = EMP_ECONFIG;
    } else if (root == NULL) {
        report_json_error(c, &e);
        rc = c->oom ? EMP_ENOMEM : EMP_ECONFIG;
    } else {
        rc = load_root(c, root, out);
    }
    json_decref(root);
    if (c->oom) {
        /* Counted so that a caller printing "N problems" never prints 0. */
        c->nerrs++;
        if (c->errs != NULL)
            fprintf(c->errs, "%s: out of memory\n", c->file);
    }
    return rc;
}

enum emp_err emp_config_load_string(const char *text, const char *path,
                                    struct emp_config **out, FILE *errs, size_t *nerrs)
{
    struct ctx c = {.file = path != NULL ? path : "(string)", .errs = errs};
    enum emp_err rc = EMP_EINVAL;
    if (out != NULL)
        *out = NULL;
    if (text != NULL && out != NULL)
        rc = load(&c, text, NULL, out);
    if (nerrs != NULL)
        *nerrs = c.nerrs;
    return rc;
}

enum emp_err emp_config_load(const char *path, struct emp_config **out, FILE *errs,
                             size_t *nerrs)
{
    struct ctx c = {.file = path, .errs = errs};
    enum emp_err rc = EMP_EINVAL;
    FILE *fp = NULL;
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL)
        goto out;
    fp = fopen(path, "r");
    if (fp == NULL) {
        report(&c, NULL, "cannot read: %s", strerror(errno));
        rc = EMP_ECONFIG;
        goto out;
    }
    rc = load(&c, NULL, fp, out);
out:
    if (fp != NULL)
        fclose(fp);
    if (nerrs != NULL)
        *nerrs = c.nerrs;
    return rc;
}

enum emp_err emp_config_parse_target(const char *text, size_t len, const char *source,
                                     const char *name, struct emp_target_config *out,
                                     FILE *errs, size_t *nerrs)
{
    struct ctx c = {.file = source != NULL ? source : "(target)", .errs = errs};
    json_error_t e;
    json_t *t = NULL, *seen = NULL;
    memset(out, 0, sizeof *out);
    if (text == NULL) {
        report(&c, NULL, "expected a target definition, got nothing");
        goto out;
    }
    t = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (t == NULL) {
        report_json_error(&c, &e);
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

bool emp_config_valid_name(const char *s)
{
    return s != NULL && valid_name(s);
}
