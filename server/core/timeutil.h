/* Clocks and timestamps. Stored and reported times are UTC microseconds since
 * the Unix epoch (timestamptz resolution); scheduling uses the monotonic
 * clock. */
#ifndef EMP_TIMEUTIL_H
#define EMP_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define EMP_US_PER_S INT64_C(1000000)
#define EMP_US_PER_MS INT64_C(1000)

/* Wall clock, microseconds since the epoch. */
int64_t emp_now_us(void);

/* Monotonic clock, microseconds since an arbitrary start. */
int64_t emp_mono_us(void);

/* Wall times measured on the monotonic clock. Within a segment, a wall time
 * is the segment's wall base plus the monotonic time since its monotonic
 * base, so durations and order are the monotonic clock's whatever the wall
 * clock does. Each mapping is checked against the wall clock read at the
 * same moment:
 * - a disagreement of more than EMP_CLOCK_STEP_US is a step of the wall
 *   clock (NTP or an operator setting it, a suspend, which stops the
 *   monotonic clock): a new segment begins at the wall clock's time and the
 *   time of the step is unknown;
 * - a smaller one (a leap second, a small NTP step) is absorbed gradually:
 *   the mapping moves toward the wall clock by at most EMP_CLOCK_SLEW_PPM
 *   of the monotonic time elapsed, so that mapped times never go backwards
 *   and durations are off by at most that rate. */
#define EMP_CLOCK_STEP_US (2 * EMP_US_PER_S)
#define EMP_CLOCK_SLEW_PPM 10000 /* 1 % */

struct emp_clockmap {
    int64_t mono_us, wall_us; /* the last mapping: mono_us is wall_us */
    uint64_t segment;         /* 1 for the first, one more per step */
    int64_t step_us;          /* the last step: wall clock minus mapped time */
    int64_t step_from_us;     /* the last step: the last mapped time before it,
                                 in the previous segment's time */
};

/* Begin the first segment: `wall_us` is the wall clock at monotonic
 * `mono_us`. */
void emp_clockmap_init(struct emp_clockmap *c, int64_t mono_us, int64_t wall_us);

/* The wall time of monotonic `mono_us`, given `wall_us`, the wall clock read
 * at the same moment. Starts a new segment when the two disagree by more
 * than EMP_CLOCK_STEP_US (c->segment, step_us and step_from_us tell), and
 * otherwise never returns less than the previous call did. A `mono_us`
 * before the previous call's counts as the previous call's. */
int64_t emp_clockmap_map(struct emp_clockmap *c, int64_t mono_us, int64_t wall_us);

/* The wall time of monotonic `mono_us` in the current segment, unchecked
 * (for an instant just past, such as a due time). */
int64_t emp_clockmap_at(const struct emp_clockmap *c, int64_t mono_us);

/* Format `us` as RFC 3339 UTC ("2026-11-25T20:40:26Z", with ".ffffff" only
 * when the fraction is not zero) into `buf` of at least EMP_TIME_BUFSZ bytes.
 * Returns buf. */
#define EMP_TIME_BUFSZ 40
char *emp_time_format(int64_t us, char *buf);

/* Parse RFC 3339 ("2026-11-25T20:40:26Z", "...26.5+01:00", lower-case t/z
 * accepted) or integer/decimal Unix seconds ("1764103226", "1764103226.25")
 * into `*us`. Rejects trailing garbage, out-of-range fields and values that
 * do not fit in int64 microseconds. Returns EMP_OK or EMP_EINVAL/EMP_ERANGE. */
enum emp_err emp_time_parse(const char *s, int64_t *us);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d, and back
 * (H. Hinnant's days_from_civil / civil_from_days). */
int64_t emp_days_from_civil(int64_t y, int m, int d);
void emp_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
