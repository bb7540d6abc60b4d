/* Prometheus text exposition (format 0.0.4) of what the process knows: per
 * target the live state and counters (from emp_state), the 30-day
 * availability (from the store, cached), and per prober the scheduling lag,
 * the event queue and the writer's errors. */
#ifndef EMP_METRICS_H
#define EMP_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/prober.h"
#include "store/db.h"
#include "ingest/events.h"
#include "probes/state.h"
#include "ingest/writer.h"

#define EMP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* How long a 30-day availability figure is reused: the store is asked at
 * most once a minute however often Prometheus scrapes (a failed attempt is
 * retried sooner). */
#define EMP_METRICS_CACHE_US (60 * INT64_C(1000000))
#define EMP_METRICS_RETRY_US (5 * INT64_C(1000000))
#define EMP_METRICS_WINDOW_US (30 * INT64_C(86400) * 1000000)

/* The sources of the per-prober figures and the availability cache. Set up
 * by `serve` and hung on emp_state.metrics before the API starts; every
 * pointer is borrowed (may be NULL: that part is left out) and must
 * outlive the API. The cache is guarded by `mu`. */
struct emp_metrics {
    struct emp_prober *prober;
    struct emp_events *events;
    struct emp_writer *writer;

    const struct emp_config *cfg; /* the quorums of the targets (may be NULL) */

    pthread_mutex_t mu;
    int64_t valid_until_mono_us; /* 0: nothing cached */
    bool db_up;                  /* the last refresh reached the store */
    double *availability;        /* per state target, NaN when unobserved */
    size_t n;
    bool refreshing;             /* a refresh is claimed or under way */
    pthread_cond_t refreshed;    /* signalled when that query ends */
};

/* Returns 0, or -1 (nothing to clean up then). */
int emp_metrics_init(struct emp_metrics *m, struct emp_prober *prober,
                     struct emp_events *events, struct emp_writer *writer);
void emp_metrics_cleanup(struct emp_metrics *m);

/* Everything one exposition shows; all pointers borrowed. */
struct emp_metrics_input {
    const struct emp_target_status *targets; /* from emp_state_snapshot */
    size_t n;
    int64_t now_us;
    /* Per target, over the 30 days before now_us; NaN when nothing was
     * observed; NULL when the store could not be asked. */
    const double *availability_30d;
    int database_up;          /* 1, 0, or -1: not shown */
    bool has_prober;
    struct emp_prober_stats prober;
    bool has_queue;
    size_t queue_depth;
    uint64_t events_dropped;
    bool has_writer;
    struct emp_writer_stats writer;
};

/* Fill `in` for the snapshot t[0..n): availability from the cache of `m`
 * (refreshed through `pool` when stale; uncached when m is NULL) into
 * `avail` (caller's array of n), prober, queue and writer figures from m.
 * Blocks on the database at most once per EMP_METRICS_CACHE_US (and before
 * anything is cached). */
void emp_metrics_collect(struct emp_metrics *m, struct emp_db_pool *pool,
                         const struct emp_target_status *t, size_t n, int64_t now_us,
                         double *avail, struct emp_metrics_input *in);

/* The same from memory alone, never waiting: false when nothing is cached
 * for these n targets yet (then emp_metrics_collect, on a thread that may
 * wait). `*claimed` is set when the figures are due for a refresh that
 * nobody had begun: the caller now owes it, emp_metrics_refresh soon and
 * off its own thread. */
bool emp_metrics_collect_cached(struct emp_metrics *m, const struct emp_target_status *t,
                                size_t n, int64_t now_us, double *avail,
                                struct emp_metrics_input *in, bool *claimed);
/* The refresh claimed by emp_metrics_collect_cached: ask the store (within
 * the pool's call deadline) and keep what it said. */
void emp_metrics_refresh(struct emp_metrics *m, struct emp_db_pool *pool,
                         const struct emp_target_status *t, size_t n, int64_t now_us);

/* The exposition text: a new NUL-terminated string (free()), NULL when out
 * of memory. */
char *emp_metrics_format(const struct emp_metrics_input *in);

#endif
