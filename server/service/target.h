/* The targets made through the API, kept in step between the store (their
 * source of truth) and the running prober: loaded at start, then polled.
 * Every prober sharing the database probes the same ones: a change made
 * through any prober's API reaches the others at their next poll. */
#ifndef EMP_SERVICE_TARGET_H
#define EMP_SERVICE_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "store/db.h"
#include "core/err.h"

struct emp_prober;

/* How often the poll asks the store whether the targets made through the
 * API changed (one row read; they are read again only when they did). */
#define EMP_TARGET_SYNC_MS 10000

struct emp_target_sync;

/* A sync of `p` with the store's targets made through the API, under
 * `cfg` (its targets belong to the file: a name the file defines is
 * skipped with a warning; definitions are held to api.target_policy, and
 * one that no longer validates is not probed). Both borrowed; they must
 * outlive the sync. NULL when out of memory. */
struct emp_target_sync *emp_target_sync_new(const struct emp_config *cfg, struct emp_prober *p);

/* Read the targets made through the API from `db` and bring the prober in
 * step: add the new, redefine the changed, remove those gone. Before
 * emp_target_sync_start the prober must not be running (they are put in
 * directly: serve's load at start); after it, from the poll's thread, they
 * are handed to the running prober's queue (emp_prober_submit) without
 * waiting. Reads nothing more than the change counter when it has not
 * moved since the last read that succeeded. `*n_probed` (may be NULL) gets
 * how many targets made through the API the prober has from the sync. */
enum emp_err emp_target_sync_poll(struct emp_target_sync *s, struct emp_db *db,
                                  size_t *n_probed, struct emp_error *err);

/* Poll every `interval_ms` (EMP_TARGET_SYNC_MS in serve) on a thread of
 * its own, with its own connection made from `conninfo`: the probe loop
 * never waits for it. A database that is away is tried again at the next
 * poll (logged once, and once when it is back). */
enum emp_err emp_target_sync_start(struct emp_target_sync *s, const char *conninfo,
                                   int interval_ms, struct emp_error *err);

/* Stop the poll (a call in progress is given up) and free; accepts NULL.
 * Before the prober is freed. */
void emp_target_sync_free(struct emp_target_sync *s);

#endif
