/* Uptime arithmetic over a window: pure, no I/O. Observed time comes from
 * coverage spans; down time is outage time that was observed; everything not
 * observed is unknown — never up, never down. */
#ifndef EMP_UPTIME_H
#define EMP_UPTIME_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

struct emp_uptime {
    int64_t from_us, to_us;
    int64_t up_us, down_us, unknown_us;  /* sum to to - from */
    double availability;   /* up / (up + down); NaN when nothing observed */
    double coverage;       /* (up + down) / (to - from) */
    int64_t streak_current_us; /* up time running without break to the end of
                                  the observed time, 0 when down or unknown
                                  at the end */
    int64_t streak_longest_us;
};

/* Compute over [from, to) given `now` (for the live span and ongoing
 * outages). Spans oldest first; outages in any order; ongoing outages have
 * ended_at_us == 0. The last span is observed until min(now, end + grace).
 * Nothing after min(to, now) is observed. to - from must fit in int64.
 * Returns EMP_OK, or EMP_ENOMEM (then `out` says all unknown). */
enum emp_err emp_uptime_compute(int64_t from_us, int64_t to_us, int64_t now_us,
                                const struct emp_span *spans, size_t n_spans,
                                const struct emp_outage *outages, size_t n_outages,
                                struct emp_uptime *out);

#endif
