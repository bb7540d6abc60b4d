/* Clocks and RFC 3339 / Unix-seconds timestamps. Calendar arithmetic is done
 * by hand (days from civil, proleptic Gregorian) so that neither the locale
 * nor TZ nor timegm() can change what a timestamp means. */
#include "core/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

int64_t emp_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * EMP_US_PER_S + ts.tv_nsec / 1000;
}

int64_t emp_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * EMP_US_PER_S + ts.tv_nsec / 1000;
}

void emp_clockmap_init(struct emp_clockmap *c, int64_t mono_us, int64_t wall_us)
{
    *c = (struct emp_clockmap){.mono_us = mono_us, .wall_us = wall_us, .segment = 1};
}

int64_t emp_clockmap_at(const struct emp_clockmap *c, int64_t mono_us)
{
    return c->wall_us + (mono_us - c->mono_us);
}

int64_t emp_clockmap_map(struct emp_clockmap *c, int64_t mono_us, int64_t wall_us)
{
    int64_t elapsed = mono_us > c->mono_us ? mono_us - c->mono_us : 0;
    int64_t mapped = c->wall_us + elapsed;
    int64_t off = wall_us - mapped;
    if (off > EMP_CLOCK_STEP_US || off < -EMP_CLOCK_STEP_US) {
        c->step_us = off;
        c->step_from_us = c->wall_us;
        c->segment++;
        mapped = wall_us;
    } else {
        /* Slew: at most EMP_CLOCK_SLEW_PPM of the time elapsed, less than
         * all of it, so the mapped time still advances. */
        int64_t room = elapsed / (1000000 / EMP_CLOCK_SLEW_PPM);
        mapped += off > room ? room : off < -room ? -room : off;
    }
    c->mono_us = mono_us > c->mono_us ? mono_us : c->mono_us;
    c->wall_us = mapped;
    return mapped;
}

#define US_PER_DAY (INT64_C(86400) * EMP_US_PER_S)

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). From Howard Hinnant,
 * "chrono-Compatible Low-Level Date Algorithms", days_from_civil. */
int64_t emp_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil (same source, civil_from_days). */
void emp_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

char *emp_time_format(int64_t us, char *buf)
{
    /* Floor division so that times before 1970 format correctly. */
    int64_t days = us / US_PER_DAY;
    int64_t rem = us % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days -= 1;
    }
    int64_t y;
    int m, d;
    emp_civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / EMP_US_PER_S;
    int64_t frac = rem % EMP_US_PER_S;
    int hh = (int)(secs / 3600), mm = (int)(secs / 60 % 60), ss = (int)(secs % 60);
    int n = snprintf(buf, EMP_TIME_BUFSZ, "%04lld-%02d-%02dT%02d:%02d:%02d",
                     (long long)y, m, d, hh, mm, ss);
    if (n < 0 || n >= EMP_TIME_BUFSZ) {
        buf[0] = '\0';
        return buf;
    }
    /* Always six digits when present: some RFC 3339 readers (Python < 3.11)
     * take only 3 or 6. */
    if (frac != 0)
        n += snprintf(buf + n, (size_t)(EMP_TIME_BUFSZ - n), ".%06lld", (long long)frac);
    snprintf(buf + n, (size_t)(EMP_TIME_BUFSZ - n), "Z");
    return buf;
}

static bool isdig(char c)
{
    return c >= '0' && c <= '9';
}

/* Exactly `n` digits at *p into *v; advances *p. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdig((*p)[i]))
            return false;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* Consume the character `c` at *p, if it is there. */
static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* ".ddd..." at *p (the '.' included): microseconds, further digits are
 * truncated. At least one digit is required. Advances *p. */
static bool fraction(const char **p, int64_t *us)
{
    const char *s = *p;
    if (*s != '.')
        return false;
    s++;
    if (!isdig(*s))
        return false;
    int64_t v = 0;
    int n = 0;
    for (; isdig(*s); s++, n++)
        if (n < 6)
            v = v * 10 + (*s - '0');
    for (; n < 6; n++)
        v *= 10;
    *p = s;
    *us = v;
    return true;
}

static enum emp_err parse_rfc3339(const char *s, int64_t *out)
{
    int year, mon, day, hh, mi, ss;
    if (!digits(&s, 4, &year) || !expect(&s, '-') || !digits(&s, 2, &mon) ||
        !expect(&s, '-') || !digits(&s, 2, &day))
        return EMP_EINVAL;
    /* RFC 3339 section 5.6 allows a space in place of 'T'. */
    if (*s != 'T' && *s != 't' && *s != ' ')
        return EMP_EINVAL;
    s++;
    if (!digits(&s, 2, &hh) || !expect(&s, ':') || !digits(&s, 2, &mi) ||
        !expect(&s, ':') || !digits(&s, 2, &ss))
        return EMP_EINVAL;
    int64_t frac = 0;
    if (*s == '.' && !fraction(&s, &frac))
        return EMP_EINVAL;
    int64_t off_s = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1;
        int oh, om;
        s++;
        if (!digits(&s, 2, &oh) || !expect(&s, ':') || !digits(&s, 2, &om))
            return EMP_EINVAL;
        if (oh > 23 || om > 59)
            return EMP_ERANGE;
        off_s = sign * (oh * 3600 + om * 60);
    } else {
        return EMP_EINVAL;
    }
    if (*s != '\0')
        return EMP_EINVAL;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon))
        return EMP_ERANGE;
    /* Second 60 is a leap second (RFC 3339 5.7); like PostgreSQL it is read
     * as the first second of the next minute. */
    if (hh > 23 || mi > 59 || ss > 60)
        return EMP_ERANGE;
    /* Years 0000..9999 keep every term far from int64 limits. */
    int64_t secs = emp_days_from_civil(year, mon, day) * 86400 + hh * 3600 + mi * 60 +
                   ss - off_s;
    *out = secs * EMP_US_PER_S + frac;
    return EMP_OK;
}

static enum emp_err parse_unix(const char *s, int64_t *out)
{
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (!isdig(*s))
        return EMP_EINVAL;
    int64_t secs = 0;
    bool overflow = false;
    for (; isdig(*s); s++) {
        if (!overflow && (__builtin_mul_overflow(secs, 10, &secs) ||
                          __builtin_add_overflow(secs, *s - '0', &secs)))
            overflow = true;
    }
    int64_t frac = 0;
    if (*s == '.' && !fraction(&s, &frac))
        return EMP_EINVAL;
    if (*s != '\0')
        return EMP_EINVAL;
    int64_t us;
    if (overflow || __builtin_mul_overflow(secs, EMP_US_PER_S, &us) ||
        __builtin_add_overflow(us, frac, &us))
        return EMP_ERANGE;
    *out = neg ? -us : us; /* -us cannot overflow: us >= 0 */
    return EMP_OK;
}

enum emp_err emp_time_parse(const char *s, int64_t *us)
{
    if (s == NULL || us == NULL)
        return EMP_EINVAL;
    /* "YYYY-" can only start an RFC 3339 date; anything else is read as
     * Unix seconds. */
    if (isdig(s[0]) && isdig(s[1]) && isdig(s[2]) && isdig(s[3]) && s[4] == '-')
        return parse_rfc3339(s, us);
    return parse_unix(s, us);
}
