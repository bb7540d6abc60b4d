/* The live state of each configured target, written by the probe loop and
 * read by the API threads under a mutex. */
#ifndef EMP_STATE_H
#define EMP_STATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum emp_tstate { EMP_TS_UNKNOWN = 0, EMP_TS_UP, EMP_TS_DOWN, EMP_TS_DEGRADED };

/* "unknown", "up", "down", "degraded". */
const char *emp_tstate_name(enum emp_tstate s);

struct emp_target_status {
    char name[EMP_NAME_MAX + 1];
    char group[EMP_NAME_MAX + 1];
    enum emp_target_kind kind;
    int64_t db_id;
    int interval_ms;
    enum emp_tstate state;
    int64_t since_us;       /* when the state began; 0 if never observed */
    int64_t last_probe_us;  /* wall time of the last result; 0 if none */
};

struct emp_state {
    pthread_mutex_t mu;
    struct emp_target_status *t;
    size_t n;
};

/* Build from the configuration; ids may be NULL. Returns 0 or -1. */
int emp_state_init(struct emp_state *s, const struct emp_config *cfg,
                   const int64_t *ids);
void emp_state_cleanup(struct emp_state *s);

/* Record the state of target i after a result at `last_probe_us`. `since_us`
 * changes only when the state changes. */
void emp_state_update(struct emp_state *s, size_t i, enum emp_tstate st,
                      int64_t since_us, int64_t last_probe_us);

/* Copy all statuses into a new array (caller frees); the state shown is
 * "unknown" for a target not probed within 2 intervals of `now_us`. */
struct emp_target_status *emp_state_snapshot(struct emp_state *s,
                                             int64_t now_us, size_t *n);

#endif
