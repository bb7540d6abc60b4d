/* Several vantage points, one verdict: the timelines of a target seen from
 * several locations combined into one, by quorum. Pure, no I/O.
 *
 * At each instant a location is UNKNOWN (none of its probers observed the
 * target), UP or DOWN (emp_timeline_build of its own spans and outages).
 * Of the locations observing, the verdict is DOWN when at least the quorum
 * are down, PARTIAL when some are but fewer (not downtime: reported apart),
 * UP when none is, UNKNOWN when fewer than min_locations observe. */
#ifndef EMP_VANTAGE_H
#define EMP_VANTAGE_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/uptime.h"
#include "config/config.h"
#include "core/err.h"
#include "core/model.h"

/* Locations one combination takes at most (a bit each in a mask). */
#define EMP_VANTAGE_MAX 64

/* struct emp_quorum (how many down locations make the verdict DOWN) is a
 * configuration item: config/config.h. */

/* How many down locations make the verdict DOWN when `observing` observe
 * (at least 1). */
int emp_quorum_needed(const struct emp_quorum *q, int observing);

enum emp_vstate {
    EMP_V_UNKNOWN = 0,
    EMP_V_UP = 1,
    EMP_V_PARTIAL = 2, /* some locations down, fewer than the quorum */
    EMP_V_DOWN = 3,
};

/* A stretch of the combined verdict, with who observed and who was down
 * (bit i: location i). */
struct emp_vsegment {
    int64_t start_us, end_us; /* [start, end), start < end */
    enum emp_vstate state;
    uint64_t observing;
    uint64_t down;
};

/* Combine the timelines loc[0..n_loc) (each built by emp_timeline_build
 * over the same [from, to) and now: contiguous, covering exactly [from,
 * to)) into `*out`: contiguous segments covering [from, to), adjacent ones
 * differing in state or in who observed or was down. n_loc at most
 * EMP_VANTAGE_MAX. `*out` is a new array (free()), NULL when `*n` is 0
 * (to <= from or no location). EMP_EINVAL when a timeline does not cover
 * [from, to) contiguously or there are too many locations; EMP_ENOMEM. */
enum emp_err emp_vantage_combine(int64_t from_us, int64_t to_us,
                                 const struct emp_segment *const *loc, const size_t *n_seg,
                                 size_t n_loc, const struct emp_quorum *q,
                                 struct emp_vsegment **out, size_t *n);

/* The combined verdict as one target's history, for the statistics that
 * take spans and outages: a span for each stretch observed (not UNKNOWN;
 * no grace: the locations' own graces are in their timelines already), an
 * outage for each stretch DOWN (an UNKNOWN, UP or PARTIAL stretch ends it;
 * one reaching the end of the segments is ongoing, ended_at_us 0, when
 * that end is `now` or later). `*spans` and `*outages` are new arrays
 * (free()); err_class "quorum" and an empty message on each outage. */
enum emp_err emp_vantage_history(const struct emp_vsegment *seg, size_t n, int64_t now_us,
                                 int64_t target_id, struct emp_span **spans, size_t *n_spans,
                                 struct emp_outage **outages, size_t *n_outages);

/* Time in each state over the segments, and the locations down in PARTIAL
 * time (a mask). */
struct emp_vtotals {
    int64_t unknown_us, up_us, partial_us, down_us;
    uint64_t partial_locations;
};
void emp_vantage_totals(const struct emp_vsegment *seg, size_t n, struct emp_vtotals *out);

#endif
