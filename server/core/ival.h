/* Interval arithmetic on [a, b) of int64 (microseconds, in practice):
 * saturating sums, sorting, merging, intersecting and measuring lists of
 * intervals. Pure; the analysis layer's uptime, timelines and SLA minutes
 * are built on it. */
#ifndef EMP_IVAL_H
#define EMP_IVAL_H

#include <stddef.h>
#include <stdint.h>

struct emp_ival {
    int64_t a, b; /* [a, b) */
};

static inline int64_t emp_min64(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

static inline int64_t emp_max64(int64_t x, int64_t y)
{
    return x > y ? x : y;
}

/* x + y and x - y, clamped to INT64_MIN..INT64_MAX instead of overflowing. */
int64_t emp_sat_add(int64_t x, int64_t y);
int64_t emp_sat_sub(int64_t x, int64_t y);

/* qsort order: by start, then end. */
int emp_ival_cmp(const void *pa, const void *pb);

/* Sort by start then end. Rows from the store arrive oldest or newest
 * first, so those orders are checked before paying for qsort. */
void emp_ival_sort(struct emp_ival *v, size_t n);

/* Sort, and merge overlapping or touching intervals in place; returns the
 * new count (a "normalized" list). */
size_t emp_ival_normalize(struct emp_ival *v, size_t n);

/* Intersection of two normalized lists into `out` (room for nx + ny);
 * returns its length, normalized. */
size_t emp_ival_intersect(const struct emp_ival *x, size_t nx, const struct emp_ival *y, size_t ny,
                          struct emp_ival *out);

/* First index of a list sorted by start, whose prefix maximum of ends is
 * `pmax` (NULL for a normalized list: its own ends), that may overlap
 * [lo, ...): the first whose (prefix max) end is after lo. */
size_t emp_ival_first_after(const struct emp_ival *v, const int64_t *pmax, size_t n, int64_t lo);

/* Total length of a normalized list inside [lo, hi). */
int64_t emp_ival_measure(const struct emp_ival *v, size_t n, int64_t lo, int64_t hi);

/* Clip [a, b) to [lo, hi) and append it to v[*n] when something is left. */
void emp_ival_push_clipped(struct emp_ival *v, size_t *n, int64_t a, int64_t b, int64_t lo,
                           int64_t hi);

#endif
