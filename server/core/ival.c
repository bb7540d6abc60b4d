/* Interval arithmetic (core/ival.h). */
#include "core/ival.h"

#include <stdbool.h>
#include <stdlib.h>

int64_t emp_sat_add(int64_t x, int64_t y)
{
    int64_t r;
    if (__builtin_add_overflow(x, y, &r))
        return y > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

int64_t emp_sat_sub(int64_t x, int64_t y)
{
    int64_t r;
    if (__builtin_sub_overflow(x, y, &r))
        return y < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

int emp_ival_cmp(const void *pa, const void *pb)
{
    const struct emp_ival *x = pa, *y = pb;
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    return 0;
}

void emp_ival_sort(struct emp_ival *v, size_t n)
{
    bool asc = true, desc = true;
    for (size_t i = 1; i < n && (asc || desc); i++) {
        int c = emp_ival_cmp(&v[i - 1], &v[i]);
        asc = asc && c <= 0;
        desc = desc && c >= 0;
    }
    if (asc)
        return;
    if (desc) {
        for (size_t i = 0, j = n - 1; i < j; i++, j--) {
            struct emp_ival t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
        return;
    }
    qsort(v, n, sizeof *v, emp_ival_cmp);
}

size_t emp_ival_normalize(struct emp_ival *v, size_t n)
{
    if (n == 0)
        return 0;
    emp_ival_sort(v, n);
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i].a <= v[k].b) {
            if (v[i].b > v[k].b)
                v[k].b = v[i].b;
        } else {
            v[++k] = v[i];
        }
    }
    return k + 1;
}

size_t emp_ival_intersect(const struct emp_ival *x, size_t nx, const struct emp_ival *y, size_t ny,
                          struct emp_ival *out)
{
    size_t i = 0, j = 0, n = 0;
    while (i < nx && j < ny) {
        int64_t a = emp_max64(x[i].a, y[j].a), b = emp_min64(x[i].b, y[j].b);
        if (a < b)
            out[n++] = (struct emp_ival){a, b};
        if (x[i].b < y[j].b)
            i++;
        else
            j++;
    }
    return n;
}

size_t emp_ival_first_after(const struct emp_ival *v, const int64_t *pmax, size_t n, int64_t lo)
{
    size_t l = 0, h = n;
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        int64_t end = pmax != NULL ? pmax[mid] : v[mid].b;
        if (end <= lo)
            l = mid + 1;
        else
            h = mid;
    }
    return l;
}

int64_t emp_ival_measure(const struct emp_ival *v, size_t n, int64_t lo, int64_t hi)
{
    int64_t sum = 0;
    for (size_t i = emp_ival_first_after(v, NULL, n, lo); i < n && v[i].a < hi; i++)
        sum += emp_min64(v[i].b, hi) - emp_max64(v[i].a, lo);
    return sum;
}

void emp_ival_push_clipped(struct emp_ival *v, size_t *n, int64_t a, int64_t b, int64_t lo,
                           int64_t hi)
{
    a = emp_max64(a, lo);
    b = emp_min64(b, hi);
    if (a < b) {
        v[*n].a = a;
        v[*n].b = b;
        (*n)++;
    }
}
