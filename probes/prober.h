/* The prober: runs every target on the probe loop at its interval (the
 * configuration's, and those added at run time), feeds results to the
 * detector, publishes the live state and hands results and outage
 * transitions to the writer through the event queue. */
#ifndef EMP_PROBER_H
#define EMP_PROBER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/model.h"
#include "ingest/events.h"
#include "probes/state.h"
#include "probes/loop.h"

struct emp_prober;

/* Create a prober for cfg's targets on `loop`. `ids` are the targets' db
 * ids (may be NULL in tests: ids are then 1..n); `events` and `state` may be
 * NULL. All are borrowed and must outlive the prober. */
struct emp_prober *emp_prober_new(struct emp_loop *loop, const struct emp_config *cfg,
                                  const int64_t *ids, struct emp_events *events,
                                  struct emp_state *state);
/* Abandon in-flight probes and free; accepts NULL. */
void emp_prober_free(struct emp_prober *p);

/* Continue outages left open by a previous run (from emp_db_open_outages). */
void emp_prober_resume(struct emp_prober *p, const struct emp_outage *open, size_t n);

/* Where the prober reads the wall clock (NULL: emp_now_us), restarting its
 * clock map there; for tests that step it. Before emp_prober_start. Results
 * are stamped with monotonic time mapped to wall time, and a step of this
 * clock ends every target's span and outage (see core/timeutil.h,
 * struct emp_clockmap, and docs/measurement.md). */
void emp_prober_set_wall_clock(struct emp_prober *p, int64_t (*wall_now)(void *ctx), void *ctx);

/* Schedule first probes, spread over each interval. Returns 0 or -1. */
int emp_prober_start(struct emp_prober *p);

/* Targets change at run time (made, replaced and removed through the API).
 * A target is known by its db id.
 *
 * emp_prober_put: add `tc` (copied) as target `db_id`, or give the target
 * of that id the new definition: its detector (an ongoing outage, the
 * current run) carries on under the new thresholds, the probe in flight is
 * abandoned, and the next probe runs at once. emp_prober_remove: stop
 * probing `db_id`; an outage it is in is closed at its last probe (after
 * that nobody watched: the time is unknown, not down). Both run on the
 * loop's thread only (or before the loop runs) and keep the live state's
 * indices in step. They return 0, or -1 (no memory; no such target). */
int emp_prober_put(struct emp_prober *p, int64_t db_id, const struct emp_target_config *tc);
int emp_prober_remove(struct emp_prober *p, int64_t db_id);

/* From any thread: have the loop put `tc` (copied now; NULL: remove) as
 * target `db_id`, and wait up to `wait_ms` for it. Returns 0 when applied,
 * 1 when queued but not applied yet (the loop is busy or not running), -1
 * when out of memory. */
int emp_prober_submit(struct emp_prober *p, int64_t db_id, const struct emp_target_config *tc,
                      int wait_ms);

/* How many targets are probed now (loop thread). */
size_t emp_prober_count(const struct emp_prober *p);

struct emp_prober_stats {
    uint64_t probes;      /* completed */
    uint64_t ok, degraded, fail;
    uint64_t skipped;     /* due while the previous probe was still running */
    uint64_t unknown;     /* verdict discarded: the loop stalled while it ran */
    uint64_t late;        /* started more than prober.max_lag_ms late: the time
                             since the target's previous probe is unknown */
    uint64_t unknown_network; /* failures discarded: every canary failed */
    bool network_suspect; /* every canary fails now */
    uint64_t lag_samples;
    int64_t lag_p50_us, lag_p99_us, lag_max_us; /* start time minus due time */
    int64_t lag_sum_us;   /* over all lag_samples */
    uint64_t clock_steps; /* steps of the wall clock (EMP_CLOCK_STEP_US or more
                             from the monotonic clock): empiric_clock_steps_total */
    int64_t clock_step_last_us; /* the last one's size (wall clock minus the
                                   expected time); 0: none yet */
};
/* Figures since start (lag percentiles over the last 65,536 probes). Safe
 * to call from any thread while the prober lives. */
void emp_prober_stats(struct emp_prober *p, struct emp_prober_stats *out);

#endif
