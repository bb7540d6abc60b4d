/* The JSON configuration: what to listen on, who this prober is, the
 * targets to probe and the SLAs to verify. Loading reports every problem,
 * each naming the file, the JSON path and what was expected. */
#ifndef EMP_CONFIG_H
#define EMP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/cidr.h"
#include "core/err.h"
#include "core/model.h"
#include "config/kind.h"
#include "config/sla.h"

/* Defaults, documented in docs/configuration.md. */
#define EMP_DEFAULT_LISTEN "127.0.0.1:8080"
#define EMP_DEFAULT_PROBER "local"
#define EMP_DEFAULT_INTERVAL_MS 10000
#define EMP_DEFAULT_TIMEOUT_MS 5000 /* or interval_ms when that is smaller */
#define EMP_DEFAULT_FAIL_THRESHOLD 2
#define EMP_DEFAULT_RECOVER_THRESHOLD 1
#define EMP_DEFAULT_DEGRADED_MS 0 /* 0: never degraded */
#define EMP_MIN_INTERVAL_MS 100
#define EMP_MAX_INTERVAL_MS 86400000
#define EMP_MIN_TIMEOUT_MS 10
#define EMP_MAX_THRESHOLD 100
/* The API's limits (the "api" object); docs/api.md gives their reasons. */
#define EMP_DEFAULT_API_THREADS 4
#define EMP_DEFAULT_API_MAX_CONNECTIONS 1024
#define EMP_DEFAULT_API_MAX_CONNECTIONS_PER_IP 64
#define EMP_DEFAULT_API_IDLE_TIMEOUT_S 10
#define EMP_DEFAULT_API_REQUEST_DEADLINE_S 30
#define EMP_DEFAULT_API_CONNECTION_MEMORY_KIB 64
#define EMP_DEFAULT_API_MAX_BODY_BYTES 65536
#define EMP_DEFAULT_API_MAX_TARGETS 1000
#define EMP_MAX_API_MAX_TARGETS 1000000
#define EMP_API_LIMITS_DEFAULT                                                             \
    {EMP_DEFAULT_API_THREADS,           EMP_DEFAULT_API_MAX_CONNECTIONS,                  \
     EMP_DEFAULT_API_MAX_CONNECTIONS_PER_IP, EMP_DEFAULT_API_IDLE_TIMEOUT_S,              \
     EMP_DEFAULT_API_REQUEST_DEADLINE_S, EMP_DEFAULT_API_CONNECTION_MEMORY_KIB,           \
     EMP_DEFAULT_API_MAX_BODY_BYTES,    EMP_DEFAULT_API_MAX_TARGETS}
#define EMP_DEFAULT_SLA_PERIOD EMP_SLA_MONTH
#define EMP_DEFAULT_SLA_RULE EMP_SLA_RULE_OUTAGES
#define EMP_DEFAULT_EXCLUDE_UNKNOWN true
#define EMP_DEFAULT_MAX_LAG_MS 50
#define EMP_MAX_CANARIES 16
#define EMP_DEFAULT_SPOOL_MAX_MB 256
#define EMP_DEFAULT_SPOOL_FSYNC EMP_FSYNC_SECOND

/* When the spool is flushed to the disk (fdatasync). Every record reaches
 * the kernel at once, so a killed process loses nothing in any mode; these
 * bound what a machine that loses power can lose. */
enum emp_fsync {
    EMP_FSYNC_NEVER = 0, /* the kernel writes back when it likes (~30 s) */
    EMP_FSYNC_SECOND,    /* at most once a second */
    EMP_FSYNC_ALWAYS,    /* after every append */
};

/* What the API server allows each client (see docs/api.md, "API limits"). */
struct emp_api_limits {
    int threads;                /* request threads */
    int max_connections;        /* in all; divided among the threads */
    int max_connections_per_ip; /* 0: no limit */
    int idle_timeout_s;         /* a connection silent this long is closed */
    int request_deadline_s;     /* a request not answered this long after it
                                   began (or after the connection's previous
                                   request) is cut, however busy the client */
    int connection_memory_kib;  /* per connection: request line and headers */
    int max_body_bytes;         /* larger request bodies get 413 */
    int max_targets;            /* targets made through the API at most (the
                                   configuration file's do not count); a
                                   create past it gets 409 */
};

/* Where a target made through the API may reach (api.target_policy; see
 * docs/api.md, "What a target made through the API may reach"). The
 * configuration file's targets are the operator's and bound by nothing.
 * An address is refused when it is in a denied block, when allowed blocks
 * are given and it is in none, or when it is one of this machine's own
 * addresses and the port is the API's. A postgres conninfo may set only
 * the listed keywords. */
struct emp_target_policy {
    const struct emp_cidr *allowed; /* empty: every address not denied */
    size_t n_allowed;
    const struct emp_cidr *denied;
    size_t n_denied;
    const char *const *conninfo_keys; /* the libpq keywords allowed */
    size_t n_conninfo_keys;
    int api_port;             /* the API's own port (listen); 0: none */
};

/* How the verdicts of several locations (vantage points) combine: DOWN when
 * at least the quorum of the locations observing are down (see
 * analysis/vantage.h). */
enum emp_quorum_rule {
    EMP_QUORUM_MAJORITY = 0, /* more than half of those observing (the default) */
    EMP_QUORUM_ANY,          /* one */
    EMP_QUORUM_ALL,          /* every one observing */
    EMP_QUORUM_COUNT,        /* `count` of them */
};

struct emp_quorum {
    enum emp_quorum_rule rule;
    int count;          /* EMP_QUORUM_COUNT: 1 .. EMP_QUORUM_MAX */
    int min_locations;  /* fewer observing: the verdict is unknown (1 .. EMP_QUORUM_MAX) */
};

#define EMP_QUORUM_DEFAULT {EMP_QUORUM_MAJORITY, 0, 1}
#define EMP_QUORUM_MAX 64

struct emp_target_config {
    char *name;   /* unique; [A-Za-z0-9._-], 1..EMP_NAME_MAX bytes */
    const struct emp_probe_kind *kind; /* from the kinds table (config/kind.h) */
    void *spec;                        /* the kind's own keys, parsed; owned (kind->free_spec) */
    char *group;  /* never NULL; "" when not set */
    int interval_ms;
    int timeout_ms;      /* <= interval_ms */
    int fail_threshold;
    int recover_threshold;
    int degraded_ms;     /* 0 = off */
    /* How the locations' verdicts on this target combine ("quorum"), when
     * it says; else the configuration's (vantage.quorum). */
    bool has_quorum;
    struct emp_quorum quorum;
    /* The policy a target made through the API is held to, at definition
     * and at every probe (borrowed from the configuration, which outlives
     * every target); NULL for the configuration file's own targets. */
    const struct emp_target_policy *policy;
};


struct emp_config {
    char *path;          /* the file it came from */
    char *listen;        /* "host:port"; "[::1]:port" for IPv6 */
    char *listen_host;   /* parsed from listen */
    int listen_port;
    struct emp_api_limits api; /* the "api" object, or its defaults */
    struct emp_target_policy target_policy; /* api.target_policy, or its defaults */
    char *prober_name;
    char *prober_location; /* "" when not set */
    /* The monitor's doubt of itself: a probe loop later than max_lag_ms
     * makes the time it could not vouch for unknown; while every canary
     * target fails, other targets' failures are unknown (the monitor's own
     * network is the likelier cause). */
    int max_lag_ms;
    char **canaries;     /* target names */
    size_t n_canaries;
    /* The local spool of events the database has not taken yet. */
    char *spool_path;    /* default "<prober>.spool", relative to the working directory */
    int spool_max_mb;
    enum emp_fsync spool_fsync;
    struct emp_target_config *targets;
    size_t n_targets;
    /* SLAs, each naming the targets and groups it covers (every name checked
     * against `targets`); see emp_sla_covers. */
    struct emp_sla *slas;
    size_t n_slas;
    /* "vantage": how several locations' verdicts combine, or the default. */
    struct emp_quorum quorum;
};

/* Load and validate `path`. On success returns EMP_OK and a new config in
 * `*out` (caller frees with emp_config_free). On failure returns
 * EMP_ECONFIG, `*out` is NULL, and every problem found has been written to
 * `errs` (may be NULL) as one line each:
 *   FILE:LINE:COLUMN: TEXT           for JSON syntax errors
 *   FILE: JSON.PATH: TEXT            for everything else, e.g.
 *   demo.json: targets[3].interval_ms: expected an integer from 100 to 86400000, got "5s"
 * `nerrs` (may be NULL) receives the number of problems. A target's "kind"
 * names one of `kinds` (probes/kinds.h has Empiric's: emp_probe_kinds). */
enum emp_err emp_config_load(const char *path, const struct emp_kinds *kinds,
                             struct emp_config **out, FILE *errs, size_t *nerrs);

/* Same, from a string; `path` is used only in messages. */
enum emp_err emp_config_load_string(const char *text, const char *path,
                                    const struct emp_kinds *kinds, struct emp_config **out,
                                    FILE *errs, size_t *nerrs);

/* Free a config; accepts NULL. */
void emp_config_free(struct emp_config *cfg);

/* Index of the target called `name`, or -1. */
int emp_config_find_target(const struct emp_config *cfg, const char *name);

/* The policy of a target made through the API when no configuration says
 * (api.target_policy's defaults, the API port unknown): static, never
 * freed. */
const struct emp_target_policy *emp_target_policy_default(void);

/* Index of the SLA called `name`, or -1. */
int emp_config_find_sla(const struct emp_config *cfg, const char *name);

/* Parse one target definition, `len` bytes of JSON text in the form of an
 * element of the configuration's "targets", with the same checks. `name`
 * (may be NULL) is used when the object has no "name". On success returns
 * EMP_OK with `*out` filled (free with emp_target_config_cleanup). On
 * failure returns EMP_ECONFIG (or EMP_ENOMEM), `*out` zeroed, and every
 * problem written to `errs` (may be NULL) as `SOURCE: JSON.PATH: TEXT`
 * (the path relative to the object, e.g. "interval_ms") or
 * `SOURCE:LINE:COLUMN: TEXT` for JSON syntax; `nerrs` (may be NULL) gets
 * their number. */
enum emp_err emp_config_parse_target(const char *text, size_t len, const char *source,
                                     const char *name, const struct emp_kinds *kinds,
                                     struct emp_target_config *out, FILE *errs, size_t *nerrs);

/* Whether `s` is a valid name of a target (or of an SLA, prober, token):
 * 1 to EMP_NAME_MAX of [A-Za-z0-9._-]. */
bool emp_config_valid_name(const char *s);

/* Free what a target definition owns (not `t` itself); accepts a zeroed
 * one. */
void emp_target_config_cleanup(struct emp_target_config *t);

#endif
