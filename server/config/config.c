/* Loads and validates the JSON configuration: its sections (listen,
 * prober, spool, api) here, targets in config/target.c, SLAs in
 * config/sla.c. Validation does not stop at the first problem:
 * check-config lists every one, each as `FILE: JSON.PATH: expected WHAT,
 * got VALUE`, and nothing is returned unless there were none. */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/parse.h"
#include "config/target.h"

#define LISTEN_EXPECTED "\"host:port\" or \"[v6]:port\" with a port from 1 to 65535"
#define FSYNC_EXPECTED "one of \"never\", \"second\", \"always\""
#define PATH_EXPECTED "a file path without control characters"
#define SPOOL_MAX_MB_MAX 1048576

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct emp_cfg_key top_keys[] = {
    {"listen", EMP_CFG_ALL_KINDS}, {"prober", EMP_CFG_ALL_KINDS}, {"targets", EMP_CFG_ALL_KINDS},
    {"slas", EMP_CFG_ALL_KINDS},   {"api", EMP_CFG_ALL_KINDS},    {"spool", EMP_CFG_ALL_KINDS},
    {"vantage", EMP_CFG_ALL_KINDS},
};
static const struct emp_cfg_key vantage_keys[] = {
    {"quorum", EMP_CFG_ALL_KINDS},
    {"min_locations", EMP_CFG_ALL_KINDS},
};
static const struct emp_cfg_key spool_keys[] = {
    {"path", EMP_CFG_ALL_KINDS},
    {"max_mb", EMP_CFG_ALL_KINDS},
    {"fsync", EMP_CFG_ALL_KINDS},
};
static const struct emp_cfg_key api_keys[] = {
    {"threads", EMP_CFG_ALL_KINDS},
    {"max_connections", EMP_CFG_ALL_KINDS},
    {"max_connections_per_ip", EMP_CFG_ALL_KINDS},
    {"idle_timeout_s", EMP_CFG_ALL_KINDS},
    {"request_deadline_s", EMP_CFG_ALL_KINDS},
    {"connection_memory_kib", EMP_CFG_ALL_KINDS},
    {"max_body_bytes", EMP_CFG_ALL_KINDS},
    {"max_targets", EMP_CFG_ALL_KINDS},
    {"target_policy", EMP_CFG_ALL_KINDS},
};
static const struct emp_cfg_key policy_keys[] = {
    {"allowed_cidrs", EMP_CFG_ALL_KINDS},
    {"denied_cidrs", EMP_CFG_ALL_KINDS},
    {"conninfo_keys", EMP_CFG_ALL_KINDS},
};
static const struct emp_cfg_key prober_keys[] = {
    {"name", EMP_CFG_ALL_KINDS},
    {"location", EMP_CFG_ALL_KINDS},
    {"max_lag_ms", EMP_CFG_ALL_KINDS},
    {"canaries", EMP_CFG_ALL_KINDS},
};

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
    struct emp_target_policy *pol = &cfg->target_policy;
    free((void *)pol->allowed);
    free((void *)pol->denied);
    for (size_t i = 0; pol->conninfo_keys != NULL && i < pol->n_conninfo_keys; i++)
        free((void *)pol->conninfo_keys[i]);
    free((void *)pol->conninfo_keys);
    free(cfg);
}

/* ---- value checks ------------------------------------------------------ */

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
        if (host_len > EMP_CFG_HOST_MAX)
            return "host too long";
        for (size_t i = 0; i < host_len; i++)
            if (!emp_cfg_is_name_char(host[i]))
                return "host has a character outside [A-Za-z0-9._-]";
    }
    int port = emp_cfg_parse_port(colon + 1, strlen(colon + 1));
    if (port < 0)
        return "port must be a number from 1 to 65535";
    *host_out = strndup(host, host_len);
    *port_out = port;
    return NULL;
}

/* ---- sections ---------------------------------------------------------- */

static void load_listen(struct emp_cfg *c, const json_t *root, struct emp_config *cfg)
{
    const char *s;
    enum emp_cfg_field f = emp_cfg_get_string(c, root, "", "listen", LISTEN_EXPECTED, &s);
    if (f == EMP_CFG_BAD)
        return;
    if (f == EMP_CFG_ABSENT)
        s = EMP_DEFAULT_LISTEN;
    const char *why = split_listen(s, &cfg->listen_host, &cfg->listen_port);
    if (why != NULL) {
        emp_cfg_report_value(c, root, "", "listen", LISTEN_EXPECTED, why);
        return;
    }
    if (cfg->listen_host == NULL)
        c->oom = true;
    cfg->listen = emp_cfg_dup(c, s);
}

static void load_prober(struct emp_cfg *c, const json_t *root, struct emp_config *cfg)
{
    const char *name = EMP_DEFAULT_PROBER, *location = "";
    const json_t *p = json_object_get(root, "prober");
    if (p != NULL && !json_is_object(p)) {
        emp_cfg_report(c, "prober", "expected an object with \"name\" and \"location\", got %s",
                       emp_cfg_show(c, p).s);
    } else if (p != NULL) {
        const char *s;
        enum emp_cfg_field f =
            emp_cfg_get_string(c, p, "prober", "name", EMP_CFG_NAME_EXPECTED, &s);
        if (f == EMP_CFG_OK && !emp_config_valid_name(s))
            emp_cfg_report_value(c, p, "prober", "name", EMP_CFG_NAME_EXPECTED, NULL);
        else if (f == EMP_CFG_OK)
            name = s;
        if (emp_cfg_get_string(c, p, "prober", "location", "a string", &s) == EMP_CFG_OK)
            location = s;
        emp_cfg_check_keys(c, p, "prober", prober_keys, N_ELEMS(prober_keys), -1, "prober");
    }
    cfg->prober_name = emp_cfg_dup(c, name);
    cfg->prober_location = emp_cfg_dup(c, location);
    cfg->max_lag_ms = EMP_DEFAULT_MAX_LAG_MS;
    if (p != NULL && json_is_object(p))
        emp_cfg_get_int(c, p, "prober", "max_lag_ms", 1, 60000, NULL, EMP_DEFAULT_MAX_LAG_MS,
                        &cfg->max_lag_ms);
}

/* "vantage": {"quorum", "min_locations"}. */
static void load_vantage(struct emp_cfg *c, const json_t *root, struct emp_config *cfg)
{
    cfg->quorum = (struct emp_quorum)EMP_QUORUM_DEFAULT;
    const json_t *v = json_object_get(root, "vantage");
    if (v == NULL)
        return;
    if (!json_is_object(v)) {
        emp_cfg_report(c, "vantage", "expected an object with \"quorum\" and "
                                     "\"min_locations\", got %s",
                       emp_cfg_show(c, v).s);
        return;
    }
    emp_cfg_get_quorum(c, v, "vantage", "quorum", &cfg->quorum);
    emp_cfg_get_int(c, v, "vantage", "min_locations", 1, EMP_QUORUM_MAX, NULL, 1,
                    &cfg->quorum.min_locations);
    emp_cfg_check_keys(c, v, "vantage", vantage_keys, N_ELEMS(vantage_keys), -1, "vantage");
}

#define CANARIES_EXPECTED "a list of at most 16 target names"

/* prober.canaries: names of configured targets, each once; after
 * load_targets. */
static void load_canaries(struct emp_cfg *c, const json_t *root, struct emp_config *cfg)
{
    const json_t *p = json_object_get(root, "prober");
    const json_t *v = json_is_object(p) ? json_object_get(p, "canaries") : NULL;
    if (v == NULL)
        return;
    if (!json_is_array(v) || json_array_size(v) > EMP_MAX_CANARIES) {
        emp_cfg_report_value(c, p, "prober", "canaries", CANARIES_EXPECTED, NULL);
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
        struct emp_cfg_where w = emp_cfg_at_index("prober.canaries", i);
        const char *name = json_string_value(e);
        if (name == NULL || emp_config_find_target(cfg, name) < 0) {
            emp_cfg_report(c, w.s, "expected the name of a configured target, got %s",
                           emp_cfg_show(c, e).s);
            continue;
        }
        bool seen = false;
        for (size_t k = 0; k < cfg->n_canaries; k++)
            seen |= strcmp(cfg->canaries[k], name) == 0;
        if (seen) {
            emp_cfg_report(c, w.s, "target %s is named twice", emp_cfg_show(c, e).s);
            continue;
        }
        cfg->canaries[cfg->n_canaries] = emp_cfg_dup(c, name);
        if (cfg->canaries[cfg->n_canaries] != NULL)
            cfg->n_canaries++;
    }
}

/* "spool": {"path", "max_mb", "fsync"}; after load_prober (the default
 * path names the prober). */
static void load_spool(struct emp_cfg *c, const json_t *root, struct emp_config *cfg)
{
    static const char *const fsyncs[] = {"never", "second", "always"};
    const char *path = NULL;
    cfg->spool_max_mb = EMP_DEFAULT_SPOOL_MAX_MB;
    cfg->spool_fsync = EMP_DEFAULT_SPOOL_FSYNC;
    const json_t *sp = json_object_get(root, "spool");
    if (sp != NULL && !json_is_object(sp)) {
        emp_cfg_report(c, "spool",
                       "expected an object with \"path\", \"max_mb\", \"fsync\", got %s",
                       emp_cfg_show(c, sp).s);
    } else if (sp != NULL) {
        const char *s;
        enum emp_cfg_field f = emp_cfg_get_string(c, sp, "spool", "path", PATH_EXPECTED, &s);
        if (f == EMP_CFG_OK && (s[0] == '\0' || emp_cfg_has_control(s)))
            emp_cfg_report_value(c, sp, "spool", "path", PATH_EXPECTED, NULL);
        else if (f == EMP_CFG_OK)
            path = s;
        emp_cfg_get_int(c, sp, "spool", "max_mb", 1, SPOOL_MAX_MB_MAX, NULL,
                        EMP_DEFAULT_SPOOL_MAX_MB, &cfg->spool_max_mb);
        if (emp_cfg_get_string(c, sp, "spool", "fsync", FSYNC_EXPECTED, &s) == EMP_CFG_OK) {
            size_t i = 0;
            while (i < N_ELEMS(fsyncs) && strcmp(s, fsyncs[i]) != 0)
                i++;
            if (i < N_ELEMS(fsyncs))
                cfg->spool_fsync = (enum emp_fsync)i;
            else
                emp_cfg_report_value(c, sp, "spool", "fsync", FSYNC_EXPECTED, NULL);
        }
        emp_cfg_check_keys(c, sp, "spool", spool_keys, N_ELEMS(spool_keys), -1, "spool");
    }
    if (path != NULL) {
        cfg->spool_path = emp_cfg_dup(c, path);
    } else if (cfg->prober_name != NULL) {
        size_t n = strlen(cfg->prober_name) + sizeof ".spool";
        cfg->spool_path = malloc(n);
        if (cfg->spool_path == NULL)
            c->oom = true;
        else
            snprintf(cfg->spool_path, n, "%s.spool", cfg->prober_name);
    }
}

/* ---- the API's limits and its targets' policy -------------------------- */

/* Where targets made through the API may not reach unless the operator
 * says otherwise: link-local addresses, where clouds serve instance
 * metadata and credentials (169.254.169.254, fe80::/10), and AWS's IPv6
 * metadata address. */
static const struct emp_cidr default_denied[] = {
    {.v6 = false, .bits = 16, .addr = {169, 254}},
    {.v6 = true, .bits = 10, .addr = {0xfe, 0x80}},
    {.v6 = true, .bits = 128, .addr = {0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54}},
};

/* The libpq keywords a target made through the API may set: where to
 * connect, as whom, and how, but nothing that reads a file of this machine
 * (sslkey, sslcert, sslrootcert, sslcrl, passfile, service, servicefile)
 * or uses its identity (krbsrvname, gsslib). */
static const char *const default_conninfo_keys[] = {
    "host",           "hostaddr",        "port",
    "dbname",         "user",            "password",
    "connect_timeout", "application_name", "options",
    "sslmode",        "channel_binding", "require_auth",
    "target_session_attrs", "keepalives", "keepalives_idle",
    "keepalives_interval", "keepalives_count", "tcp_user_timeout",
};

#define CIDRS_MAX 256
#define CIDRS_EXPECTED "a list of at most 256 address blocks such as \"10.0.0.0/8\" or \"fd00::/8\""
#define CIDR_EXPECTED "an IPv4 or IPv6 address block such as \"10.0.0.0/8\" (no bits set past the prefix)"
#define KEYS_MAX 64
#define KEYS_EXPECTED "a list of at most 64 libpq connection keywords"
#define KEY_EXPECTED "a libpq connection keyword: 1 to 64 of [a-z_]"

const struct emp_target_policy *emp_target_policy_default(void)
{
    static const struct emp_target_policy dflt = {
        .denied = default_denied,
        .n_denied = N_ELEMS(default_denied),
        .conninfo_keys = default_conninfo_keys,
        .n_conninfo_keys = N_ELEMS(default_conninfo_keys),
    };
    return &dflt;
}

/* `key` of `pol` (a list of CIDR blocks, path api.target_policy.KEY) into
 * a new array; `dflt` (n_dflt) when absent. */
static void load_cidrs(struct emp_cfg *c, const json_t *pol, const char *key,
                       const struct emp_cidr *dflt, size_t n_dflt, const struct emp_cidr **out,
                       size_t *n_out)
{
    const json_t *v = pol != NULL ? json_object_get(pol, key) : NULL;
    struct emp_cfg_where w = emp_cfg_at_key(c, "api.target_policy", key);
    size_t n = v != NULL ? json_array_size(v) : n_dflt;
    if (v != NULL && (!json_is_array(v) || n > CIDRS_MAX)) {
        emp_cfg_report(c, w.s, "expected %s, got %s", CIDRS_EXPECTED, emp_cfg_show(c, v).s);
        return;
    }
    struct emp_cidr *a = calloc(n > 0 ? n : 1, sizeof *a);
    if (a == NULL) {
        c->oom = true;
        return;
    }
    if (v == NULL && n_dflt > 0)
        memcpy(a, dflt, n_dflt * sizeof *a);
    for (size_t i = 0; v != NULL && i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e) || emp_cidr_parse(json_string_value(e), &a[i]) != 0)
            emp_cfg_report(c, emp_cfg_at_index(w.s, i).s, "expected %s, got %s", CIDR_EXPECTED,
                           emp_cfg_show(c, e).s);
    }
    *out = a;
    *n_out = n;
}

static bool valid_conninfo_key(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return false;
    return true;
}

/* api.target_policy.conninfo_keys into a new array of new strings. */
static void load_conninfo_keys(struct emp_cfg *c, const json_t *pol, struct emp_target_policy *p)
{
    const json_t *v = pol != NULL ? json_object_get(pol, "conninfo_keys") : NULL;
    const char *w = "api.target_policy.conninfo_keys";
    size_t n = v != NULL ? json_array_size(v) : N_ELEMS(default_conninfo_keys);
    if (v != NULL && (!json_is_array(v) || n > KEYS_MAX)) {
        emp_cfg_report(c, w, "expected %s, got %s", KEYS_EXPECTED, emp_cfg_show(c, v).s);
        return;
    }
    char **keys = calloc(n > 0 ? n : 1, sizeof *keys);
    if (keys == NULL) {
        c->oom = true;
        return;
    }
    p->conninfo_keys = (const char *const *)keys;
    p->n_conninfo_keys = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = v != NULL ? json_array_get(v, i) : NULL;
        const char *key = v != NULL ? json_string_value(e) : default_conninfo_keys[i];
        if (key == NULL || !valid_conninfo_key(key))
            emp_cfg_report(c, emp_cfg_at_index(w, i).s, "expected %s, got %s", KEY_EXPECTED,
                           emp_cfg_show(c, e).s);
        else
            keys[i] = emp_cfg_dup(c, key);
    }
}

/* "api.target_policy": {"allowed_cidrs", "denied_cidrs", "conninfo_keys"},
 * each with its default; after load_listen (the API's port is refused). */
static void load_target_policy(struct emp_cfg *c, const json_t *a, struct emp_config *cfg)
{
    struct emp_target_policy *p = &cfg->target_policy;
    p->api_port = cfg->listen_port;
    const json_t *pol = json_is_object(a) ? json_object_get(a, "target_policy") : NULL;
    if (pol != NULL && !json_is_object(pol)) {
        emp_cfg_report(c, "api.target_policy",
                       "expected an object with \"allowed_cidrs\", \"denied_cidrs\", "
                       "\"conninfo_keys\", got %s",
                       emp_cfg_show(c, pol).s);
        pol = NULL;
    }
    load_cidrs(c, pol, "allowed_cidrs", NULL, 0, &p->allowed, &p->n_allowed);
    load_cidrs(c, pol, "denied_cidrs", default_denied, N_ELEMS(default_denied), &p->denied,
               &p->n_denied);
    load_conninfo_keys(c, pol, p);
    if (pol != NULL)
        emp_cfg_check_keys(c, pol, "api.target_policy", policy_keys, N_ELEMS(policy_keys), -1,
                           "api.target_policy");
}

/* "api": {...}: the HTTP server's limits, each with its default, and the
 * policy of the targets made through it. */
static void load_api(struct emp_cfg *c, const json_t *root, struct emp_config *cfg)
{
    struct emp_api_limits *l = &cfg->api;
    *l = (struct emp_api_limits)EMP_API_LIMITS_DEFAULT;
    const json_t *a = json_object_get(root, "api");
    load_target_policy(c, a, cfg);
    if (a == NULL)
        return;
    if (!json_is_object(a)) {
        emp_cfg_report(c, "api", "expected an object of limits, got %s", emp_cfg_show(c, a).s);
        return;
    }
    emp_cfg_get_int(c, a, "api", "threads", 1, 64, NULL, EMP_DEFAULT_API_THREADS, &l->threads);
    /* MHD divides the connections among its threads: each needs one. */
    if (emp_cfg_get_int(c, a, "api", "max_connections", 1, 1000000, NULL,
                        EMP_DEFAULT_API_MAX_CONNECTIONS, &l->max_connections) == EMP_CFG_OK &&
        l->max_connections < l->threads)
        emp_cfg_report(c, "api.max_connections", "expected at least api.threads (%d), got %d",
                       l->threads, l->max_connections);
    emp_cfg_get_int(c, a, "api", "max_connections_per_ip", 0, 1000000, NULL,
                    EMP_DEFAULT_API_MAX_CONNECTIONS_PER_IP, &l->max_connections_per_ip);
    emp_cfg_get_int(c, a, "api", "idle_timeout_s", 1, 3600, NULL, EMP_DEFAULT_API_IDLE_TIMEOUT_S,
                    &l->idle_timeout_s);
    emp_cfg_get_int(c, a, "api", "request_deadline_s", 1, 3600, NULL,
                    EMP_DEFAULT_API_REQUEST_DEADLINE_S, &l->request_deadline_s);
    emp_cfg_get_int(c, a, "api", "connection_memory_kib", 16, 16384, NULL,
                    EMP_DEFAULT_API_CONNECTION_MEMORY_KIB, &l->connection_memory_kib);
    emp_cfg_get_int(c, a, "api", "max_body_bytes", 1024, 16 * 1024 * 1024, NULL,
                    EMP_DEFAULT_API_MAX_BODY_BYTES, &l->max_body_bytes);
    emp_cfg_get_int(c, a, "api", "max_targets", 0, EMP_MAX_API_MAX_TARGETS, NULL,
                    EMP_DEFAULT_API_MAX_TARGETS, &l->max_targets);
    emp_cfg_check_keys(c, a, "api", api_keys, N_ELEMS(api_keys), -1, "api");
}

/* Validate `root` into a new config. */
static enum emp_err load_root(struct emp_cfg *c, const json_t *root, struct emp_config **out)
{
    if (!json_is_object(root)) {
        emp_cfg_report(c, NULL, "expected an object at the top level, got %s",
                       emp_cfg_show(c, root).s);
        return c->oom ? EMP_ENOMEM : EMP_ECONFIG;
    }
    struct emp_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        c->oom = true;
        return EMP_ENOMEM;
    }
    cfg->path = emp_cfg_dup(c, c->file);
    load_listen(c, root, cfg);
    load_prober(c, root, cfg);
    load_spool(c, root, cfg);
    load_vantage(c, root, cfg);
    emp_cfg_load_targets(c, root, cfg);
    load_canaries(c, root, cfg);
    emp_cfg_load_slas(c, root, cfg);
    load_api(c, root, cfg);
    emp_cfg_check_keys(c, root, "", top_keys, N_ELEMS(top_keys), -1, "the top level");
    if (c->oom || c->nerrs > 0) {
        emp_config_free(cfg);
        return c->oom ? EMP_ENOMEM : EMP_ECONFIG;
    }
    *out = cfg;
    return EMP_OK;
}

/* ---- entry points ------------------------------------------------------ */

/* Load from `text` (when `fp` is NULL) or `fp`, then validate. */
static enum emp_err load(struct emp_cfg *c, const char *text, FILE *fp, struct emp_config **out)
{
    json_error_t e;
    json_t *root = fp != NULL ? json_loadf(fp, JSON_REJECT_DUPLICATES, &e)
                              : json_loads(text, JSON_REJECT_DUPLICATES, &e);
    enum emp_err rc;
    if (root == NULL && fp != NULL && ferror(fp)) {
        emp_cfg_report(c, NULL, "cannot read: %s", strerror(errno));
        rc = EMP_ECONFIG;
    } else if (root == NULL) {
        emp_cfg_report_json_error(c, &e);
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
                                    const struct emp_kinds *kinds, struct emp_config **out,
                                    FILE *errs, size_t *nerrs)
{
    struct emp_cfg c = {.file = path != NULL ? path : "(string)", .errs = errs, .kinds = kinds};
    enum emp_err rc = EMP_EINVAL;
    if (out != NULL)
        *out = NULL;
    if (text != NULL && out != NULL)
        rc = load(&c, text, NULL, out);
    if (nerrs != NULL)
        *nerrs = c.nerrs;
    return rc;
}

enum emp_err emp_config_load(const char *path, const struct emp_kinds *kinds,
                             struct emp_config **out, FILE *errs, size_t *nerrs)
{
    struct emp_cfg c = {.file = path, .errs = errs, .kinds = kinds};
    enum emp_err rc = EMP_EINVAL;
    FILE *fp = NULL;
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL)
        goto out;
    fp = fopen(path, "r");
    if (fp == NULL) {
        emp_cfg_report(&c, NULL, "cannot read: %s", strerror(errno));
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
