/* The probers sharing the database, as GET /api/v1/probers shows them:
 * each one's location, latest run and last heartbeat, whether it is alive,
 * and the scheduling lag of the prober of this process (the store holds no
 * other prober's lag). */
#ifndef EMP_SERVICE_PROBERS_H
#define EMP_SERVICE_PROBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

struct emp_prober;

/* A prober is alive while its latest run is not stopped and its last
 * heartbeat is at most this many heartbeat intervals (EMP_HEARTBEAT_MS,
 * ingest/writer.h) old: one late or lost beat is not death. */
#define EMP_PROBER_ALIVE_BEATS 3

struct emp_prober_view {
    struct emp_prober_row row;
    bool alive;
    bool self;    /* the prober of this process (its name) */
    bool has_lag; /* the lag figures below are known: only for self */
    int64_t lag_p50_us, lag_p99_us, lag_max_us;
};

/* Whether a prober whose latest run is `run` is alive at `now_us`. A beat
 * ahead of `now_us` (another machine's clock) counts as recent. */
bool emp_probers_alive(const struct emp_run *run, int64_t now_us);

/* Every prober the store knows, by name, seen at `now_us`. `self_name` (may
 * be NULL) names this process's prober, and `self` (may be NULL) gives its
 * lag. `*out` is a new array (free()). */
enum emp_err emp_probers_list(struct emp_db *db, int64_t now_us, const char *self_name,
                              struct emp_prober *self, struct emp_prober_view **out, size_t *n,
                              struct emp_error *err);

#endif
