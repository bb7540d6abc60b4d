/* The domain types every layer speaks: what one probe observed, the events
 * the probe loop hands to the writer, and the records the store keeps and
 * the analysis reads (runs, spans, outages, failures, rollups, targets).
 * Plain data, no behaviour beyond naming and bucketing; times are Unix
 * microseconds (UTC) unless a name says otherwise. */
#ifndef EMP_MODEL_H
#define EMP_MODEL_H

#include <stdint.h>

/* A name of a target, group, SLA, prober or token: 1 to EMP_NAME_MAX bytes
 * of [A-Za-z0-9._-] (emp_config_valid_name). */
#define EMP_NAME_MAX 128

/* ---- one probe's observation ---------------------------------------- */

/* UNKNOWN: the probe's verdict cannot be trusted because the prober itself
 * stalled while it ran (a timeout or a slow answer may be the prober's own
 * lateness). It is not an observation: no rollup, no evidence, not fed to
 * the detector, and it ends the target's span, so its time is unknown. */
enum emp_status { EMP_STATUS_OK = 0, EMP_STATUS_DEGRADED, EMP_STATUS_FAIL, EMP_STATUS_UNKNOWN };

/* Text for a status: "ok", "degraded", "fail", "unknown". */
const char *emp_status_name(enum emp_status s);

/* Error classes (short, stable strings stored in the database):
 * "refused", "timeout", "dns", "connect", "reset", "tls", "http_status",
 * "protocol", "body_too_large", "headers_too_large", "auth", "query",
 * "internal". "dns" covers a name that does not resolve and a DNS server
 * that did not answer within the probe's timeout; "timeout" is a target
 * that did not answer (or not completely: headers trickled byte by byte)
 * within it; "body_too_large" and "headers_too_large" are responses over
 * the http probe's caps (endless bodies, endless headers). */
#define EMP_ERRCLASS_MAX 24
#define EMP_ERRMSG_MAX 256

struct emp_result {
    int64_t started_at_us;  /* wall clock when the probe was sent */
    int64_t latency_us;     /* monotonic duration of the probe */
    enum emp_status status;
    char err_class[EMP_ERRCLASS_MAX]; /* "" unless FAIL */
    char message[EMP_ERRMSG_MAX];     /* "" unless FAIL; human text */
};

/* ---- what the probe loop hands to the writer ------------------------- */

enum emp_event_kind {
    EMP_EV_RESULT = 0,   /* one probe result (rollups, coverage, evidence) */
    EMP_EV_OUTAGE_OPEN,  /* detector confirmed an outage */
    EMP_EV_OUTAGE_CLOSE, /* detector saw it recover */
};

struct emp_event {
    struct emp_event *next;
    enum emp_event_kind kind;
    int64_t target_id;     /* targets.id in the database */
    int32_t interval_ms;   /* of the target, for coverage */
    struct emp_result r;   /* RESULT: the result; OPEN: first failing probe
                              (r.started_at_us = outage start, r.err_class,
                              r.message); CLOSE: r.started_at_us = end */
    int64_t outage_started_at_us; /* CLOSE: which outage */
    uint64_t seq;          /* the writer's number for it within its run
                              (1, 2, ...; 0 until the writer takes it) */
};

/* ---- what the store keeps -------------------------------------------- */

/* One prober process lifetime; its heartbeats (last_beat_at) bound the time
 * it was alive. */
struct emp_run {
    int64_t run_id;
    int64_t prober_id;
    int64_t started_at_us;
    int64_t last_beat_at_us;
    int64_t stopped_at_us; /* 0 while running (or killed) */
};

/* An outage: from the first failing probe of the run that confirmed it to
 * the first success of the run that ended it. */
struct emp_outage {
    int64_t target_id;
    int64_t started_at_us;
    int64_t ended_at_us;   /* 0 while ongoing */
    char err_class[EMP_ERRCLASS_MAX];
    char message[EMP_ERRMSG_MAX];
    int64_t prober_id;     /* who saw it (filled by the target's window
                              reads; 0 otherwise) */
};

/* An outage's times alone, what the correlation and group statistics need. */
struct emp_outage_time {
    int64_t target_id;
    int64_t started_at_us;
    int64_t ended_at_us;   /* 0 while ongoing */
    int64_t prober_id;     /* who saw it (0 where the read does not say) */
};

/* A span of continuous observation of a target by a prober: probes at most
 * grace apart from start to end. Outside spans the target's state is
 * unknown. */
struct emp_span {
    int64_t started_at_us;
    int64_t ended_at_us;   /* time of the last probe so far */
    int64_t grace_us;      /* how far past the end observation may be assumed:
                              the store gives it only to the live span (a
                              prober's last), 0 to the others */
    int64_t target_id;     /* filled by the group queries */
    int64_t prober_id;     /* who observed (filled by the target's window
                              reads; 0 otherwise) */
};

/* A raw failing probe result: the evidence. */
struct emp_failure {
    int64_t target_id;
    int64_t at_us;
    int64_t latency_us;
    char err_class[EMP_ERRCLASS_MAX];
    char message[EMP_ERRMSG_MAX];
    int64_t prober_id;     /* filled by emp_db_list_failure_times; 0 otherwise */
};

/* Hourly rollups. Latency buckets in ms (upper bounds, the last is +inf). */
#define EMP_HIST_BUCKETS 14
extern const int emp_hist_bounds_ms[EMP_HIST_BUCKETS - 1];
struct emp_rollup {
    int64_t target_id;
    int64_t hour_us;       /* start of the hour, UTC */
    int64_t ok, degraded, fail;
    int64_t latency_sum_us; /* over ok and degraded probes */
    int64_t latency_max_us;
    int64_t hist[EMP_HIST_BUCKETS];
};
/* Bucket index for a latency: the first bucket whose bound (inclusive)
 * holds it, the last for anything above 10 s. Latency max, sum and
 * histogram cover ok and degraded probes only. */
int emp_hist_bucket(int64_t latency_us);

/* A target as the store knows it (configured, made through the API, or
 * imported history). */
struct emp_target_row {
    int64_t id;
    char name[EMP_NAME_MAX + 1];
    char kind[16];            /* a probe kind's name, or "history" */
    char group[EMP_NAME_MAX + 1];
    int interval_ms;
};

/* A group: targets sharing a non-empty group name. */
struct emp_group_row {
    char name[EMP_NAME_MAX + 1];
    int64_t members;
};

#endif
