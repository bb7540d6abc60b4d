/* A target's history as one vantage point or all of them combined
 * (service/view.h). */
#include "service/view.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The location of `prober_id` in the probers' list, or NULL. */
static const char *location_of(const struct emp_prober_location *pl, size_t n, int64_t prober_id)
{
    for (size_t i = 0; i < n; i++)
        if (pl[i].prober_id == prober_id)
            return pl[i].location;
    return NULL;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The index of `name` in the sorted names[0..n), or -1. */
static long name_index(char (*names)[EMP_LOCATION_MAX + 1], size_t n, const char *name)
{
    if (name == NULL)
        return -1;
    char (*at)[EMP_LOCATION_MAX + 1] = bsearch(name, names, n, sizeof *names, cmp_name);
    return at != NULL ? at - names : -1;
}

/* The index in h->locations of the location of `prober_id` (a prober the
 * list lacks counts as in location ""), or -1. */
static long loc_index(const struct emp_view_history *h, const struct emp_prober_location *pl,
                      size_t npl, int64_t prober_id)
{
    const char *loc = location_of(pl, npl, prober_id);
    return name_index(h->locations, h->n_locations, loc != NULL ? loc : "");
}

/* Keep only the rows recorded in location `want` (spans keep their order). */
static void keep_location(struct emp_view_history *h, const struct emp_prober_location *pl,
                          size_t npl, const char *want)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n_spans; i++) {
        const char *loc = location_of(pl, npl, h->spans[i].prober_id);
        if (loc != NULL && strcmp(loc, want) == 0)
            h->spans[k++] = h->spans[i];
    }
    h->n_spans = k;
    k = 0;
    for (size_t i = 0; i < h->n_outages; i++) {
        const char *loc = location_of(pl, npl, h->outages[i].prober_id);
        if (loc != NULL && strcmp(loc, want) == 0)
            h->outages[k++] = h->outages[i];
    }
    h->n_outages = k;
}

/* The distinct locations of the rows, sorted, into h->locations. */
static enum emp_err collect_locations(struct emp_view_history *h,
                                      const struct emp_prober_location *pl, size_t npl)
{
    size_t cap = h->n_spans + h->n_outages;
    h->locations = calloc(cap > 0 ? cap : 1, sizeof *h->locations);
    if (h->locations == NULL)
        return EMP_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < cap; i++) {
        int64_t p = i < h->n_spans ? h->spans[i].prober_id : h->outages[i - h->n_spans].prober_id;
        const char *loc = location_of(pl, npl, p);
        if (loc == NULL)
            loc = "";
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(h->locations[j], loc) == 0;
        if (!seen)
            memcpy(h->locations[n++], loc, strlen(loc) + 1);
    }
    qsort(h->locations, n, sizeof *h->locations, cmp_name);
    h->n_locations = n;
    return EMP_OK;
}

/* The stretch the combination covers: [from, to), widened to every span
 * and outage read, so that an outage keeps its true start and end. */
static void stretch(const struct emp_view_history *h, int64_t from_us, int64_t to_us,
                    int64_t now_us, int64_t *t0, int64_t *t1)
{
    *t0 = from_us;
    *t1 = to_us;
    for (size_t i = 0; i < h->n_spans; i++) {
        if (h->spans[i].started_at_us < *t0)
            *t0 = h->spans[i].started_at_us;
        if (h->spans[i].ended_at_us + h->spans[i].grace_us > *t1)
            *t1 = h->spans[i].ended_at_us + h->spans[i].grace_us;
    }
    for (size_t i = 0; i < h->n_outages; i++) {
        const struct emp_outage *o = &h->outages[i];
        int64_t end = o->ended_at_us != 0 ? o->ended_at_us : now_us;
        if (o->started_at_us < *t0)
            *t0 = o->started_at_us;
        if (end > *t1)
            *t1 = end;
    }
}

/* The outage of a location that completed the quorum of combined outage
 * `c` (the latest to start by c's start among those overlapping it): its
 * class and message are the combined outage's. */
static void name_cause(struct emp_outage *c, const struct emp_outage *raw, size_t n,
                       int64_t now_us)
{
    const struct emp_outage *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct emp_outage *o = &raw[i];
        int64_t end = o->ended_at_us != 0 ? o->ended_at_us : now_us;
        if (o->started_at_us <= c->started_at_us && end > c->started_at_us &&
            (best == NULL || o->started_at_us > best->started_at_us))
            best = o;
    }
    if (best != NULL) {
        memcpy(c->err_class, best->err_class, sizeof c->err_class);
        memcpy(c->message, best->message, sizeof c->message);
    }
}

/* Combine the rows of several locations into h's spans and outages. */
static enum emp_err combine(struct emp_view_history *h, const struct emp_prober_location *pl,
                            size_t npl, int64_t target_id, int64_t from_us, int64_t to_us,
                            int64_t now_us, const struct emp_quorum *q)
{
    size_t nl = h->n_locations;
    if (nl > EMP_VANTAGE_MAX)
        return EMP_EINVAL;
    int64_t t0, t1;
    stretch(h, from_us, to_us, now_us, &t0, &t1);
    struct emp_span *ls = malloc((h->n_spans > 0 ? h->n_spans : 1) * sizeof *ls);
    struct emp_outage *lo = malloc((h->n_outages > 0 ? h->n_outages : 1) * sizeof *lo);
    struct emp_segment **seg = calloc(nl, sizeof *seg);
    size_t *nseg = calloc(nl, sizeof *nseg);
    enum emp_err e = ls != NULL && lo != NULL && seg != NULL && nseg != NULL ? EMP_OK
                                                                              : EMP_ENOMEM;
    for (size_t l = 0; l < nl && e == EMP_OK; l++) {
        size_t ns = 0, no = 0;
        for (size_t i = 0; i < h->n_spans; i++)
            if (loc_index(h, pl, npl, h->spans[i].prober_id) == (long)l)
                ls[ns++] = h->spans[i];
        for (size_t i = 0; i < h->n_outages; i++)
            if (loc_index(h, pl, npl, h->outages[i].prober_id) == (long)l)
                lo[no++] = h->outages[i];
        e = emp_timeline_build(t0, t1, now_us, ls, ns, lo, no, &seg[l], &nseg[l]);
    }
    if (e == EMP_OK)
        e = emp_vantage_combine(t0, t1, (const struct emp_segment *const *)seg, nseg, nl, q,
                                &h->seg, &h->n_seg);
    struct emp_span *cs = NULL;
    struct emp_outage *co = NULL;
    size_t ncs = 0, nco = 0;
    if (e == EMP_OK)
        e = emp_vantage_history(h->seg, h->n_seg, now_us, target_id, &cs, &ncs, &co, &nco);
    if (e == EMP_OK) {
        for (size_t i = 0; i < nco; i++)
            name_cause(&co[i], h->outages, h->n_outages, now_us);
        /* Newest first, as the store gives outages. */
        for (size_t i = 0; i < nco / 2; i++) {
            struct emp_outage t = co[i];
            co[i] = co[nco - 1 - i];
            co[nco - 1 - i] = t;
        }
        free(h->spans);
        free(h->outages);
        h->spans = cs;
        h->n_spans = ncs;
        h->outages = co;
        h->n_outages = nco;
        /* Totals over the window alone. */
        struct emp_vsegment *w = malloc((h->n_seg > 0 ? h->n_seg : 1) * sizeof *w);
        size_t nw = 0;
        for (size_t i = 0; w != NULL && i < h->n_seg; i++) {
            int64_t s = h->seg[i].start_us > from_us ? h->seg[i].start_us : from_us;
            int64_t t = h->seg[i].end_us < to_us ? h->seg[i].end_us : to_us;
            if (s < t) {
                w[nw] = h->seg[i];
                w[nw].start_us = s;
                w[nw].end_us = t;
                nw++;
            }
        }
        if (w == NULL)
            e = EMP_ENOMEM;
        else
            emp_vantage_totals(w, nw, &h->totals);
        free(w);
    }
    for (size_t l = 0; seg != NULL && l < nl; l++)
        free(seg[l]);
    free(seg);
    free(nseg);
    free(ls);
    free(lo);
    return e;
}

enum emp_err emp_view_history_load(struct emp_db *db, int64_t target_id, int64_t from_us,
                                   int64_t to_us, int64_t now_us, const struct emp_view *v,
                                   struct emp_view_history *out, struct emp_error *err)
{
    memset(out, 0, sizeof *out);
    enum emp_err e = emp_db_list_spans(db, target_id, from_us, to_us, &out->spans,
                                       &out->n_spans, err);
    if (e == EMP_OK)
        e = emp_db_list_outages(db, target_id, from_us, to_us, &out->outages, &out->n_outages,
                                err);
    if (e != EMP_OK || (out->n_spans == 0 && out->n_outages == 0 && v->location == NULL))
        return e;
    struct emp_prober_location *pl = NULL;
    size_t npl = 0;
    e = emp_db_prober_locations(db, &pl, &npl, err);
    if (e == EMP_OK && v->location != NULL) {
        bool known = false;
        for (size_t i = 0; i < npl && !known; i++)
            known = strcmp(pl[i].location, v->location) == 0;
        if (!known)
            e = emp_error_set(err, EMP_ENOTFOUND, NULL, "no prober is in location %.128s",
                              v->location);
        else
            keep_location(out, pl, npl, v->location);
    } else if (e == EMP_OK) {
        e = collect_locations(out, pl, npl);
        if (e == EMP_OK && out->n_locations > 1)
            e = combine(out, pl, npl, target_id, from_us, to_us, now_us, &v->quorum);
        if (e != EMP_OK)
            emp_error_set(err, e, NULL, "could not combine the locations' verdicts");
    }
    free(pl);
    return e;
}

void emp_view_history_free(struct emp_view_history *h)
{
    free(h->spans);
    free(h->outages);
    free(h->locations);
    free(h->seg);
    memset(h, 0, sizeof *h);
}

uint64_t emp_view_outage_locations(const struct emp_view_history *h,
                                   const struct emp_outage *o, int64_t now_us)
{
    uint64_t mask = 0;
    int64_t end = o->ended_at_us != 0 ? o->ended_at_us : now_us;
    for (size_t i = 0; i < h->n_seg; i++)
        if (h->seg[i].state == EMP_V_DOWN && h->seg[i].start_us < end &&
            h->seg[i].end_us > o->started_at_us)
            mask |= h->seg[i].down;
    return mask;
}
