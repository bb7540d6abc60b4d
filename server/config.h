/* The JSON configuration: what to listen on, who this prober is, the
 * targets to probe and the SLAs to verify. Loading reports every problem,
 * each naming the file, the JSON path and what was expected. */
#ifndef EMP_CONFIG_H
#define EMP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "sla.h"

enum emp_target_kind { EMP_KIND_HTTP = 0, EMP_KIND_TCP, EMP_KIND_POSTGRES };

/* Name of a kind as written in the configuration ("http", "tcp", "postgres"). */
const char *emp_kind_name(enum emp_target_kind kind);

/* Defaults, documented in README.md. */
#define EMP_DEFAULT_LISTEN "127.0.0.1:8080"
#define EMP_DEFAULT_PROBER "local"
#define EMP_DEFAULT_INTERVAL_MS 10000
#define EMP_DEFAULT_TIMEOUT_MS 5000 /* or interval_ms when that is smaller */
#define EMP_DEFAULT_FAIL_THRESHOLD 2
#define EMP_DEFAULT_RECOVER_THRESHOLD 1
#define EMP_DEFAULT_DEGRADED_MS 0 /* 0: never degraded */
#define EMP_DEFAULT_QUERY "SELECT 1"
#define EMP_MIN_INTERVAL_MS 100
#define EMP_MAX_INTERVAL_MS 86400000
#define EMP_MIN_TIMEOUT_MS 10
#define EMP_MAX_THRESHOLD 100
#define EMP_MAX_EXPECT_STATUS 16
#define EMP_NAME_MAX 128
#define EMP_DEFAULT_SLA_PERIOD EMP_SLA_MONTH
#define EMP_DEFAULT_SLA_RULE EMP_SLA_RULE_OUTAGES
#define EMP_DEFAULT_EXCLUDE_UNKNOWN true
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

struct emp_target_config {
    char *name;   /* unique; [A-Za-z0-9._-], 1..EMP_NAME_MAX bytes */
    enum emp_target_kind kind;
    char *group;  /* never NULL; "" when not set */
    int interval_ms;
    int timeout_ms;      /* <= interval_ms */
    int fail_threshold;
    int recover_threshold;
    int degraded_ms;     /* 0 = off */
    /* http */
    char *url;           /* http:// or https:// with a host */
    int expect_status[EMP_MAX_EXPECT_STATUS];
    size_t n_expect_status; /* 0 means any 2xx or 3xx */
    bool reuse;          /* keep the connection between probes */
    /* tcp */
    char *host;
    int port;
    /* postgres */
    char *conninfo;
    char *query;
};

struct emp_config {
    char *path;          /* the file it came from */
    char *listen;        /* "host:port"; "[::1]:port" for IPv6 */
    char *listen_host;   /* parsed from listen */
    int listen_port;
    char *prober_name;
    char *prober_location; /* "" when not set */
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
};

/* Load and validate `path`. On success returns EMP_OK and a new config in
 * `*out` (caller frees with emp_config_free). On failure returns
 * EMP_ECONFIG, `*out` is NULL, and every problem found has been written to
 * `errs` (may be NULL) as one line each:
 *   FILE:LINE:COLUMN: TEXT           for JSON syntax errors
 *   FILE: JSON.PATH: TEXT            for everything else, e.g.
 *   demo.json: targets[3].interval_ms: expected an integer from 100 to 86400000, got "5s"
 * `nerrs` (may be NULL) receives the number of problems. */
enum emp_err emp_config_load(const char *path, struct emp_config **out,
                             FILE *errs, size_t *nerrs);

/* Same, from a string; `path` is used only in messages. */
enum emp_err emp_config_load_string(const char *text, const char *path,
                                    struct emp_config **out, FILE *errs,
                                    size_t *nerrs);

/* Free a config; accepts NULL. */
void emp_config_free(struct emp_config *cfg);

/* Index of the target called `name`, or -1. */
int emp_config_find_target(const struct emp_config *cfg, const char *name);

/* Index of the SLA called `name`, or -1. */
int emp_config_find_sla(const struct emp_config *cfg, const char *name);

#endif
