/* The live state of each probed target, written by the probe loop and read
 * by the API threads under a mutex. Targets are those of the configuration
 * file, then those the prober adds at run time (made through the API);
 * index i is the prober's target i. */
#ifndef EMP_STATE_H
#define EMP_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "core/slots.h"
#include "config/config.h"

enum emp_tstate { EMP_TS_UNKNOWN = 0, EMP_TS_UP, EMP_TS_DOWN, EMP_TS_DEGRADED };

/* Upper bounds of the probe latency buckets (inclusive), 5 ms to 10 s; one
 * more bucket holds everything above. */
#define EMP_STATE_LATENCY_BUCKETS 12
extern const int64_t emp_state_latency_bounds_us[EMP_STATE_LATENCY_BUCKETS - 1];

/* "unknown", "up", "down", "degraded". */
const char *emp_tstate_name(enum emp_tstate s);

struct emp_target_status {
    char name[EMP_NAME_MAX + 1];
    char group[EMP_NAME_MAX + 1];
    const struct emp_probe_kind *kind;
    int64_t db_id;
    int interval_ms;
    enum emp_tstate state;
    int64_t since_us;       /* when the state began; 0 if never observed */
    int64_t last_probe_us;  /* wall time of the last result; 0 if none */
    int64_t up_since_us;    /* start of the current run of up or degraded
                               (the detector's judgement); 0 otherwise */

    /* Counters since this process started (emp_state_record), for
     * /metrics. The latency histogram covers every result, failures
     * included (a timeout counts as its full duration); hist[k] counts
     * latencies <= emp_state_latency_bounds_us[k] and above the previous
     * bound (not cumulative); the last bucket is everything above 10 s. */
    uint64_t probes[3];     /* indexed by enum emp_status */
    uint64_t outages;       /* outages started (not those resumed) */
    uint64_t latency_hist[EMP_STATE_LATENCY_BUCKETS];
    int64_t latency_sum_us;
};

struct emp_metrics; /* metrics.h */

struct emp_state {
    pthread_mutex_t mu;
    struct emp_target_status *t;
    size_t n, cap;
    /* Target names to indices, so that one target is found without a scan
     * of all (state.c). */
    struct emp_slots by_name;
    /* Where /metrics finds the prober, queue and writer: borrowed, may be
     * NULL (then only per-target figures are shown). Set before the API
     * starts and never changed while it runs. */
    struct emp_metrics *metrics;
};

/* Build from the configuration; ids may be NULL. Returns 0 or -1. */
int emp_state_init(struct emp_state *s, const struct emp_config *cfg,
                   const int64_t *ids);
void emp_state_cleanup(struct emp_state *s);

/* Append a target as `db_id`, its state unknown (the probe loop, when a
 * target is added at run time). Returns its index, or -1 when out of
 * memory. */
long emp_state_add(struct emp_state *s, const struct emp_target_config *tc, int64_t db_id);
/* Target i has a new definition: its group, kind and interval change, its
 * live state and counters stay. */
void emp_state_redefine(struct emp_state *s, size_t i, const struct emp_target_config *tc);
/* Forget target i; the targets after it move down one index (the name
 * table is rebuilt: a removal costs the number of targets, as the move
 * does). */
void emp_state_remove(struct emp_state *s, size_t i);

/* Record the state of target i after a result at `last_probe_us`. `since_us`
 * changes only when the state changes. */
void emp_state_update(struct emp_state *s, size_t i, enum emp_tstate st,
                      int64_t since_us, int64_t last_probe_us);

/* Count one probe result of target i: its status, its duration, and
 * whether it started an outage. */
void emp_state_record(struct emp_state *s, size_t i, enum emp_status status,
                      int64_t latency_us, bool outage_started);

/* How many targets there are. */
size_t emp_state_count(struct emp_state *s);

/* The status of the target called `name`, as emp_state_snapshot would
 * show it at `now_us`, into `*out`: true, or false when no target of
 * that name is probed here. Constant time in the number of targets. */
bool emp_state_find(struct emp_state *s, const char *name, int64_t now_us,
                    struct emp_target_status *out);

/* Copy all statuses into a new array (caller frees); the state shown is
 * "unknown" (and up_since_us 0) for a target not probed within 2 intervals
 * of `now_us`. */
struct emp_target_status *emp_state_snapshot(struct emp_state *s,
                                             int64_t now_us, size_t *n);

#endif
