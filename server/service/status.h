/* The status page's figures for every target the store knows (configured
 * or imported) over the last EMP_STATUS_DAYS days: three queries fetch the
 * rows of all targets, each target's timeline is built once, and every
 * figure (availability windows, daily bars, MTTF and MTTR, a group's
 * correlation) is derived from it. The API turns them into its reply
 * (api/status.c); nothing here knows HTTP or JSON. */
#ifndef EMP_SERVICE_STATUS_H
#define EMP_SERVICE_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/stats.h"
#include "analysis/stats_corr.h"
#include "analysis/uptime.h"
#include "core/err.h"
#include "core/model.h"
#include "service/view.h"
#include "store/db.h"

#define EMP_STATUS_DAYS 90
#define EMP_STATUS_INCIDENTS 5 /* most recent outages per target */
#define EMP_DAY_US (INT64_C(86400) * INT64_C(1000000))

/* One target's rows (slices of struct emp_status_page's) and its timeline. */
struct emp_status_target {
    const struct emp_target_row *row;
    const struct emp_span *spans;
    size_t n_spans;
    const struct emp_outage_time *ot;
    size_t n_ot;
    const struct emp_outage *recent; /* newest first, at most EMP_STATUS_INCIDENTS */
    size_t n_recent;
    struct emp_segment *seg;         /* owned; after emp_status_timeline */
    size_t n_seg;
    /* Seen from several locations: the rows above are their verdict
     * combined (owned here), and the partial time in the window. */
    struct emp_view_rows view;
    struct emp_outage *own_recent;
    size_t n_locations;
    struct emp_vtotals vantage;
};

struct emp_status_page {
    int64_t from_us, now_us; /* the window: [now - EMP_STATUS_DAYS days, now) */
    int64_t day0_us;         /* the UTC midnight the first daily bar starts at */
    struct emp_target_row *rows;
    size_t n_rows;
    struct emp_span *spans;
    size_t n_spans;
    struct emp_outage_time *ot;
    size_t n_ot;
    struct emp_outage *recent;
    size_t n_recent;
    /* The targets shown, ordered by group (ungrouped last), then name:
     * the members of a group are neighbours. */
    struct emp_status_target *t;
    size_t n_t;
};

/* Load the rows of every target (of `group` only when not NULL) for the
 * window ending at `now_us`, as every location's verdict combined by each
 * target's quorum (emp_view_quorum of `cfg`), or as `location` alone when
 * not NULL (EMP_ENOTFOUND when no prober is there). EMP_ENOTFOUND when `group` has no target; a
 * store failure returns its code with `*what` naming the query that
 * failed. Free with emp_status_cleanup (also after a failure). */
enum emp_err emp_status_load(struct emp_db *db, const char *group, const char *location,
                             int64_t now_us, const struct emp_config *cfg,
                             struct emp_status_page *out, const char **what,
                             struct emp_error *err);
void emp_status_cleanup(struct emp_status_page *s);

/* Build the timeline of target i over the window (once, before its
 * figures). */
enum emp_err emp_status_timeline(struct emp_status_page *s, size_t i);

/* What the page shows of one target, from its timeline. */
struct emp_status_figures {
    struct emp_uptime window;           /* the whole window (90 days) */
    int64_t up_us[3], down_us[3];       /* the last 24 h, 7 d, 30 d */
    int64_t day_up_us[EMP_STATUS_DAYS]; /* the daily bars from day0 */
    int64_t day_down_us[EMP_STATUS_DAYS];
    int64_t day_outages[EMP_STATUS_DAYS]; /* outages started that day */
    /* Seen from several locations: time some of them, fewer than the
     * quorum, saw the target down (part of the up time above). */
    int64_t day_partial_us[EMP_STATUS_DAYS];
    struct emp_estimate mttf_s, mttr_s;
    double mtbf_s;
    size_t failures, repairs;
};
enum emp_err emp_status_figures(const struct emp_status_page *s, const struct emp_status_target *t,
                                struct emp_status_figures *out);

/* The correlation of the `n` members at `t` (neighbours in s->t) over the
 * window; free with emp_corr_result_cleanup. */
enum emp_err emp_status_group(const struct emp_status_page *s, const struct emp_status_target *t,
                              size_t n, struct emp_corr_result *out);

#endif
