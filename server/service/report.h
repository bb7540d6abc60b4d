/* Reliability of one target over a window, from the store: the shared path
 * of the API's reliability endpoint and of `empiric report`, and the
 * readable table the latter prints. */
#ifndef EMP_REPORT_H
#define EMP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "service/view.h"
#include "store/db.h"
#include "core/err.h"
#include "analysis/stats.h"

/* Load target `name` (its row into *target), its spans and outages over
 * [from, to) as view `v` sees them (NULL: every location combined; see
 * service/view.h), and compute its reliability into *out (release with
 * emp_reliability_cleanup, also on failure). EMP_ENOTFOUND for no such
 * target; EMP_EDB / EMP_ENOMEM otherwise, with `err` filled. */
enum emp_err emp_report_target(struct emp_db *db, const char *name, const struct emp_view *v,
                               int64_t from_us, int64_t to_us, int64_t now_us,
                               struct emp_target_row *target, struct emp_reliability *out,
                               struct emp_error *err);

/* Print `rel` of `target` as a table a person reads. */
void emp_report_print(FILE *f, const struct emp_target_row *target,
                      const struct emp_reliability *rel);

/* A duration for people: "42.0 s", "12.5 min", "3.2 h", "4.1 d", "n/a"
 * (NaN). Returns buf (at least 32 bytes). */
const char *emp_report_duration(double s, char *buf, size_t size);

#endif
