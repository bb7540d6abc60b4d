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
