/* A group's members with what the store observed of them over a window,
 * and what is computed from it for the CLI and the API: the correlation of
 * their failures, and their reliability pooled. */
#ifndef EMP_SERVICE_GROUP_H
#define EMP_SERVICE_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/stats.h"
#include "analysis/stats_corr.h"
#include "core/err.h"
#include "core/model.h"
#include "store/db.h"

/* Everything owned; free with emp_group_data_free. */
struct emp_group_data {
    struct emp_target_row *targets; /* the members, by id */
    size_t n;
    struct emp_span *spans;         /* ordered by target id, as the members */
    size_t n_spans;
    struct emp_outage_time *outages; /* ordered by target id */
    size_t n_outages;
    /* Per member: its slice of spans and of outages. */
    size_t *span_at, *span_n, *outage_at, *outage_n;
};

/* Load the group `name` over [from, to), each member's rows as every
 * location's verdict combined by its quorum (emp_view_quorum of `cfg`,
 * which may be NULL: a majority; see service/view.h). EMP_ENOTFOUND when it has no member; a store failure
 * returns its code with `*what` naming the query (NULL: memory ran out
 * after the queries). Free with emp_group_data_free (also after a
 * failure). */
enum emp_err emp_group_load(struct emp_db *db, const char *name, int64_t from_us,
                            int64_t to_us, int64_t now_us, const struct emp_config *cfg,
                            const char *location, struct emp_group_data *g, const char **what,
                            struct emp_error *err);
void emp_group_data_free(struct emp_group_data *g);

/* The correlation of the members' failures over [from, to) (`opts` NULL
 * for the defaults); free with emp_corr_result_cleanup. */
enum emp_err emp_group_correlation(const struct emp_group_data *g, int64_t from_us,
                                   int64_t to_us, int64_t now_us,
                                   const struct emp_corr_options *opts,
                                   struct emp_corr_result *out, struct emp_error *err);

/* The members pooled: their up and down time summed, their up periods and
 * repairs taken together. Free with emp_reliability_cleanup. */
enum emp_err emp_group_reliability(const struct emp_group_data *g, int64_t from_us,
                                   int64_t to_us, int64_t now_us, struct emp_reliability *out);

#endif
