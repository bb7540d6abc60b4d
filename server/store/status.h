/* Store reads for the status page: the coverage spans and outages of every
 * target (or of every member of one group) over a window, each in one round
 * trip with binary results, and the most recent outages of each with their
 * causes. `group` NULL means all targets. */
#ifndef EMP_STORE_STATUS_H
#define EMP_STORE_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "core/err.h"

/* Spans of all targets overlapping [from, to) (with grace, as the group
 * query), ordered by target_id then start, target_id filled. `*out` is a
 * new array (free()), never NULL on EMP_OK. */
enum emp_err emp_db_status_spans(struct emp_db *db, const char *group, int64_t from_us,
                                 int64_t to_us, struct emp_span **out, size_t *n,
                                 struct emp_error *err);

/* Outage times of all targets overlapping [from, to), ordered by target_id
 * (within a target, by end). `*out` is a new array (free()), never NULL on
 * EMP_OK. */
enum emp_err emp_db_status_outage_times(struct emp_db *db, const char *group, int64_t from_us,
                                        int64_t to_us, struct emp_outage_time **out,
                                        size_t *n, struct emp_error *err);

/* Up to `per_target` most recent outages of every target starting before
 * `to` (newest first within a target), ordered by target_id. `*out` is a
 * new array (free()), never NULL on EMP_OK. */
enum emp_err emp_db_status_recent_outages(struct emp_db *db, const char *group, int64_t to_us,
                                          int per_target, struct emp_outage **out, size_t *n,
                                          struct emp_error *err);

#endif
