/* Uptime arithmetic over a window: pure, no I/O. Observed time comes from
 * coverage spans; down time is outage time that was observed; everything not
 * observed is unknown — never up, never down. */
#ifndef EMP_UPTIME_H
#define EMP_UPTIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "core/err.h"

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

/* The state of a target over a stretch of time. */
enum emp_seg_state {
    EMP_SEG_UNKNOWN = 0, /* no prober observed it (or it is after `now`) */
    EMP_SEG_UP = 1,      /* observed, and not inside any outage */
    EMP_SEG_DOWN = 2,    /* observed, and inside an outage */
};

struct emp_segment {
    int64_t start_us, end_us; /* [start, end), start < end */
    enum emp_seg_state state;
};

/* The timeline of one target over [from, to): segments sorted by time,
 * non-empty, contiguous (seg[i].end_us == seg[i+1].start_us), adjacent
 * segments in different states, together covering exactly [from, to).
 * Observed time is the union of the spans (each observed until
 * min(now, end + grace), as in emp_uptime_compute), clipped to
 * [from, min(to, now)); DOWN is observed time inside an outage (an ongoing
 * one lasts until `now`; a zero-length outage covers no time; one ending
 * before it starts is ignored); UP is the rest of observed time; everything
 * else — including [now, to) when now < to — is UNKNOWN. Spans oldest first,
 * outages in any order. `*out` is a new array (free()), NULL when `*n` is 0,
 * which happens only when to <= from. Returns EMP_OK or EMP_ENOMEM (then
 * *out = NULL, *n = 0). */
enum emp_err emp_timeline_build(int64_t from_us, int64_t to_us, int64_t now_us,
                                const struct emp_span *spans, size_t n_spans,
                                const struct emp_outage *outages, size_t n_outages,
                                struct emp_segment **out, size_t *n);

/* The same from outages' times alone (struct emp_outage_time, as the
 * group and status queries fetch them). */
enum emp_err emp_timeline_build_times(int64_t from_us, int64_t to_us, int64_t now_us,
                                      const struct emp_span *spans, size_t n_spans,
                                      const struct emp_outage_time *outages, size_t n_outages,
                                      struct emp_segment **out, size_t *n);

/* The state of the target in the instant [t, t + 1 µs), as a timeline over
 * any window holding it would show (same spans, outages and `now`): what
 * the statistics of a window starting at t + 1 need to know of the instant
 * before it. EMP_SEG_UNKNOWN also when memory ran out. */
enum emp_seg_state emp_timeline_state_at(int64_t t_us, int64_t now_us,
                                         const struct emp_span *spans, size_t n_spans,
                                         const struct emp_outage *outages, size_t n_outages);
enum emp_seg_state emp_timeline_state_at_times(int64_t t_us, int64_t now_us,
                                               const struct emp_span *spans, size_t n_spans,
                                               const struct emp_outage_time *outages,
                                               size_t n_outages);

/* Summarise a timeline built by emp_timeline_build with the same from, to
 * and now into `out` (the same figures emp_uptime_compute gives). */
void emp_uptime_from_timeline(int64_t from_us, int64_t to_us, int64_t now_us,
                              const struct emp_segment *seg, size_t n,
                              struct emp_uptime *out);

/* Compute over [from, to) given `now` (for the live span and ongoing
 * outages). Spans oldest first; outages in any order; ongoing outages have
 * ended_at_us == 0. A span is observed until min(now, end + grace): the
 * store gives a grace only to a prober's last span, the live one.
 * Nothing after min(to, now) is observed. to - from must fit in int64.
 * Returns EMP_OK, or EMP_ENOMEM (then `out` says all unknown). */
enum emp_err emp_uptime_compute(int64_t from_us, int64_t to_us, int64_t now_us,
                                const struct emp_span *spans, size_t n_spans,
                                const struct emp_outage *outages, size_t n_outages,
                                struct emp_uptime *out);

#endif
