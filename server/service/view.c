/* A target's history as one vantage point or all of them combined
 * (service/view.h). Both the reads of one target and the bulk readers
 * (status page, groups) come down to the same step: one target's spans and
 * outage times, each with its prober, combined when they come from more
 * than one location. */
#include "service/view.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef char location_name[EMP_LOCATION_MAX + 1];

struct emp_quorum emp_view_quorum(const struct emp_config *cfg, const char *name)
{
    struct emp_quorum q = EMP_QUORUM_DEFAULT;
    if (cfg == NULL)
        return q;
    q = cfg->quorum;
    int i = name != NULL ? emp_config_find_target(cfg, name) : -1;
    if (i >= 0 && cfg->targets[i].has_quorum) {
        q.rule = cfg->targets[i].quorum.rule;
        q.count = cfg->targets[i].quorum.count;
    }
    return q;
}

/* The location of `prober_id` ("" for a prober the list lacks). */
static const char *location_of(const struct emp_prober_location *pl, size_t n, int64_t prober_id)
{
    for (size_t i = 0; i < n; i++)
        if (pl[i].prober_id == prober_id)
            return pl[i].location;
    return "";
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* One target's rows, each with its prober. */
struct rows {
    const struct emp_span *spans;
    size_t n_spans;
    const struct emp_outage_time *ot;
    size_t n_ot;
};

/* The distinct locations of the rows, sorted, into a new array. */
static enum emp_err collect_locations(const struct rows *r, const struct emp_prober_location *pl,
                                      size_t npl, location_name **out, size_t *n_out)
{
    size_t cap = r->n_spans + r->n_ot;
    location_name *names = calloc(cap > 0 ? cap : 1, sizeof *names);
    if (names == NULL)
        return EMP_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < cap; i++) {
        int64_t p = i < r->n_spans ? r->spans[i].prober_id : r->ot[i - r->n_spans].prober_id;
        const char *loc = location_of(pl, npl, p);
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(names[j], loc) == 0;
        if (!seen)
            memcpy(names[n++], loc, strlen(loc) + 1);
    }
    qsort(names, n, sizeof *names, cmp_name);
    *out = names;
    *n_out = n;
    return EMP_OK;
}

/* The index of the location of `prober_id` among the sorted names. */
static long loc_index(location_name *names, size_t n, const struct emp_prober_location *pl,
                      size_t npl, int64_t prober_id)
{
    location_name *at = bsearch(location_of(pl, npl, prober_id), names, n, sizeof *names,
                                cmp_name);
    return at != NULL ? at - names : -1;
}

/* The stretch a combination covers: [from, to), widened to every row, so
 * that an outage keeps its true start and end. */
static void stretch(const struct rows *r, int64_t from_us, int64_t to_us, int64_t now_us,
                    int64_t *t0, int64_t *t1)
{
    *t0 = from_us;
    *t1 = to_us;
    for (size_t i = 0; i < r->n_spans; i++) {
        if (r->spans[i].started_at_us < *t0)
            *t0 = r->spans[i].started_at_us;
        if (r->spans[i].ended_at_us + r->spans[i].grace_us > *t1)
            *t1 = r->spans[i].ended_at_us + r->spans[i].grace_us;
    }
    for (size_t i = 0; i < r->n_ot; i++) {
        int64_t end = r->ot[i].ended_at_us != 0 ? r->ot[i].ended_at_us : now_us;
        if (r->ot[i].started_at_us < *t0)
            *t0 = r->ot[i].started_at_us;
        if (end > *t1)
            *t1 = end;
    }
}

static int cmp_span_start(const void *a, const void *b)
{
    const struct emp_span *x = a, *y = b;
    return (x->started_at_us > y->started_at_us) - (x->started_at_us < y->started_at_us);
}

/* What combining one target's rows gives. */
struct combined {
    struct emp_vsegment *seg;
    size_t n_seg;
    struct emp_span *spans;
    size_t n_spans;
    struct emp_outage_time *ot; /* oldest first */
    size_t n_ot;
    struct emp_vtotals totals;  /* over [from, to) */
};

static void totals_in(const struct emp_vsegment *seg, size_t n, int64_t from_us, int64_t to_us,
                      struct emp_vtotals *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        int64_t s = seg[i].start_us > from_us ? seg[i].start_us : from_us;
        int64_t e = seg[i].end_us < to_us ? seg[i].end_us : to_us;
        if (s < e) {
            struct emp_vsegment one = seg[i];
            one.start_us = s;
            one.end_us = e;
            struct emp_vtotals t;
            emp_vantage_totals(&one, 1, &t);
            out->unknown_us += t.unknown_us;
            out->up_us += t.up_us;
            out->partial_us += t.partial_us;
            out->down_us += t.down_us;
            out->partial_locations |= t.partial_locations;
        }
    }
}

/* Each location's timeline over [t0, t1) from its own rows into seg[l]
 * (nl arrays, each new: free()). A location's own outage lasts, for the
 * combination, from its first failing probe to its first success as it
 * recorded them: a gap in its observation inside (a late probe, its writer
 * away) does not end it, nor make it neither confirm nor veto. */
static enum emp_err location_timelines(const struct rows *r, location_name *names, size_t nl,
                                       const struct emp_prober_location *pl, size_t npl,
                                       int64_t target_id, int64_t t0, int64_t t1, int64_t now_us,
                                       struct emp_segment **seg, size_t *nseg)
{
    struct emp_span *ls = malloc((r->n_spans + r->n_ot + 1) * sizeof *ls);
    struct emp_outage_time *lo = malloc((r->n_ot + 1) * sizeof *lo);
    enum emp_err e = ls != NULL && lo != NULL ? EMP_OK : EMP_ENOMEM;
    for (size_t l = 0; l < nl && e == EMP_OK; l++) {
        size_t ns = 0, no = 0;
        for (size_t i = 0; i < r->n_spans; i++)
            if (loc_index(names, nl, pl, npl, r->spans[i].prober_id) == (long)l)
                ls[ns++] = r->spans[i];
        for (size_t i = 0; i < r->n_ot; i++)
            if (loc_index(names, nl, pl, npl, r->ot[i].prober_id) == (long)l)
                lo[no++] = r->ot[i];
        for (size_t i = 0; i < no; i++)
            ls[ns++] = (struct emp_span){
                .started_at_us = lo[i].started_at_us,
                .ended_at_us = lo[i].ended_at_us != 0 ? lo[i].ended_at_us : now_us,
                .target_id = target_id};
        qsort(ls, ns, sizeof *ls, cmp_span_start);
        e = emp_timeline_build_times(t0, t1, now_us, ls, ns, lo, no, &seg[l], &nseg[l]);
    }
    free(ls);
    free(lo);
    return e;
}

/* Each location's timeline from its own rows, combined by `q`. */
static enum emp_err combine_rows(const struct rows *r, location_name *names, size_t nl,
                                 const struct emp_prober_location *pl, size_t npl,
                                 int64_t target_id, int64_t from_us, int64_t to_us,
                                 int64_t now_us, const struct emp_quorum *q, struct combined *c)
{
    memset(c, 0, sizeof *c);
    if (nl > EMP_VANTAGE_MAX)
        return EMP_EINVAL;
    int64_t t0, t1;
    stretch(r, from_us, to_us, now_us, &t0, &t1);
    struct emp_segment **seg = calloc(nl, sizeof *seg);
    size_t *nseg = calloc(nl, sizeof *nseg);
    enum emp_err e = seg != NULL && nseg != NULL
                         ? location_timelines(r, names, nl, pl, npl, target_id, t0, t1, now_us,
                                              seg, nseg)
                         : EMP_ENOMEM;
    if (e == EMP_OK)
        e = emp_vantage_combine(t0, t1, (const struct emp_segment *const *)seg, nseg, nl, q,
                                &c->seg, &c->n_seg);
    struct emp_outage *co = NULL;
    if (e == EMP_OK)
        e = emp_vantage_history(c->seg, c->n_seg, now_us, target_id, &c->spans, &c->n_spans, &co,
                                &c->n_ot);
    if (e == EMP_OK) {
        c->ot = malloc((c->n_ot > 0 ? c->n_ot : 1) * sizeof *c->ot);
        if (c->ot == NULL)
            e = EMP_ENOMEM;
        for (size_t i = 0; c->ot != NULL && i < c->n_ot; i++)
            c->ot[i] = (struct emp_outage_time){co[i].target_id, co[i].started_at_us,
                                                co[i].ended_at_us, 0};
        totals_in(c->seg, c->n_seg, from_us, to_us, &c->totals);
    }
    free(co);
    for (size_t l = 0; seg != NULL && l < nl; l++)
        free(seg[l]);
    free(seg);
    free(nseg);
    if (e != EMP_OK) {
        free(c->seg);
        free(c->spans);
        free(c->ot);
        memset(c, 0, sizeof *c);
    }
    return e;
}

/* ---- the rows of the bulk readers ---------------------------------------- */

/* The rows of `location` alone, copied into out's own arrays. */
static enum emp_err keep_rows(const struct emp_prober_location *pl, size_t npl,
                              const char *location, const struct emp_span *spans,
                              size_t n_spans, const struct emp_outage_time *ot, size_t n_ot,
                              struct emp_view_rows *out)
{
    out->owned_spans = malloc((n_spans + 1) * sizeof *out->owned_spans);
    out->owned_ot = malloc((n_ot + 1) * sizeof *out->owned_ot);
    if (out->owned_spans == NULL || out->owned_ot == NULL)
        return EMP_ENOMEM;
    size_t ns = 0, no = 0;
    for (size_t i = 0; i < n_spans; i++)
        if (strcmp(location_of(pl, npl, spans[i].prober_id), location) == 0)
            out->owned_spans[ns++] = spans[i];
    for (size_t i = 0; i < n_ot; i++)
        if (strcmp(location_of(pl, npl, ot[i].prober_id), location) == 0)
            out->owned_ot[no++] = ot[i];
    out->spans = out->owned_spans;
    out->n_spans = ns;
    out->ot = out->owned_ot;
    out->n_ot = no;
    out->n_locations = ns + no > 0 ? 1 : 0;
    return EMP_OK;
}

enum emp_err emp_view_rows_combine(const struct emp_prober_location *pl, size_t npl,
                                   const struct emp_quorum *q, const char *location,
                                   int64_t target_id, int64_t from_us, int64_t to_us,
                                   int64_t now_us, const struct emp_span *spans, size_t n_spans,
                                   const struct emp_outage_time *ot, size_t n_ot,
                                   struct emp_view_rows *out)
{
    memset(out, 0, sizeof *out);
    out->spans = spans;
    out->n_spans = n_spans;
    out->ot = ot;
    out->n_ot = n_ot;
    if (location != NULL)
        return keep_rows(pl, npl, location, spans, n_spans, ot, n_ot, out);
    struct rows r = {spans, n_spans, ot, n_ot};
    location_name *names = NULL;
    size_t nl = 0;
    enum emp_err e = collect_locations(&r, pl, npl, &names, &nl);
    out->n_locations = nl;
    if (e == EMP_OK && nl > 1) {
        struct combined c;
        e = combine_rows(&r, names, nl, pl, npl, target_id, from_us, to_us, now_us, q, &c);
        if (e == EMP_OK) {
            out->seg = c.seg;
            out->n_seg = c.n_seg;
            out->owned_spans = c.spans;
            out->owned_ot = c.ot;
            out->spans = c.spans;
            out->n_spans = c.n_spans;
            out->ot = c.ot;
            out->n_ot = c.n_ot;
            out->totals = c.totals;
        }
    }
    free(names);
    return e;
}

void emp_view_rows_free(struct emp_view_rows *r)
{
    free(r->owned_spans);
    free(r->owned_ot);
    free(r->seg);
    memset(r, 0, sizeof *r);
}

/* ---- one target's history -------------------------------------------------- */

/* Keep only the rows recorded in location `want` (spans keep their order). */
static void keep_location(struct emp_view_history *h, const struct emp_prober_location *pl,
                          size_t npl, const char *want)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n_spans; i++)
        if (strcmp(location_of(pl, npl, h->spans[i].prober_id), want) == 0)
            h->spans[k++] = h->spans[i];
    h->n_spans = k;
    k = 0;
    for (size_t i = 0; i < h->n_outages; i++)
        if (strcmp(location_of(pl, npl, h->outages[i].prober_id), want) == 0)
            h->outages[k++] = h->outages[i];
    h->n_outages = k;
}

/* The class and message of combined outage `c`: those of the location
 * outage that completed the quorum (the latest to start by c's start among
 * those going on then). */
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
    memcpy(c->err_class, best != NULL ? best->err_class : "quorum",
           best != NULL ? sizeof c->err_class : sizeof "quorum");
    if (best != NULL)
        memcpy(c->message, best->message, sizeof c->message);
}

enum emp_err emp_view_name_outages(const struct emp_outage_time *ot, size_t n_ot,
                                   const struct emp_outage *raw, size_t n_raw, int64_t now_us,
                                   size_t max, struct emp_outage **out, size_t *n)
{
    size_t k = n_ot < max ? n_ot : max;
    *out = calloc(k > 0 ? k : 1, sizeof **out);
    *n = 0;
    if (*out == NULL)
        return EMP_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        const struct emp_outage_time *t = &ot[n_ot - 1 - i];
        struct emp_outage *o = &(*out)[i];
        o->target_id = t->target_id;
        o->started_at_us = t->started_at_us;
        o->ended_at_us = t->ended_at_us;
        name_cause(o, raw, n_raw, now_us);
    }
    *n = k;
    return EMP_OK;
}

/* The times (and probers) of outages: a new array (free()), or NULL. */
static struct emp_outage_time *times_of(const struct emp_outage *o, size_t n)
{
    struct emp_outage_time *ot = malloc((n + 1) * sizeof *ot);
    for (size_t i = 0; ot != NULL && i < n; i++)
        ot[i] = (struct emp_outage_time){o[i].target_id, o[i].started_at_us, o[i].ended_at_us,
                                         o[i].prober_id};
    return ot;
}

/* Combine h's rows `r` (of several locations; r->ot the times of
 * h->outages) into its spans and outages. */
static enum emp_err combine_history(struct emp_view_history *h, const struct rows *r,
                                    const struct emp_prober_location *pl, size_t npl,
                                    int64_t target_id, int64_t from_us, int64_t to_us,
                                    int64_t now_us, const struct emp_quorum *q)
{
    struct combined c;
    enum emp_err e = combine_rows(r, h->locations, h->n_locations, pl, npl, target_id, from_us,
                                  to_us, now_us, q, &c);
    if (e != EMP_OK)
        return e;
    struct emp_outage *co = calloc(c.n_ot > 0 ? c.n_ot : 1, sizeof *co);
    if (co == NULL) {
        free(c.seg);
        free(c.spans);
        free(c.ot);
        return EMP_ENOMEM;
    }
    /* Newest first, as the store gives outages. */
    for (size_t i = 0; i < c.n_ot; i++) {
        struct emp_outage *o = &co[c.n_ot - 1 - i];
        o->target_id = target_id;
        o->started_at_us = c.ot[i].started_at_us;
        o->ended_at_us = c.ot[i].ended_at_us;
        name_cause(o, h->outages, h->n_outages, now_us);
    }
    free(c.ot);
    free(h->spans);
    free(h->outages);
    h->spans = c.spans;
    h->n_spans = c.n_spans;
    h->outages = co;
    h->n_outages = c.n_ot;
    h->seg = c.seg;
    h->n_seg = c.n_seg;
    h->totals = c.totals;
    return EMP_OK;
}

enum emp_err emp_view_locations(struct emp_db *db, const char *location,
                                struct emp_prober_location **pl, size_t *npl,
                                struct emp_error *err)
{
    enum emp_err e = emp_db_prober_locations(db, pl, npl, err);
    bool known = location == NULL;
    for (size_t i = 0; e == EMP_OK && i < *npl && !known; i++)
        known = strcmp((*pl)[i].location, location) == 0;
    if (e == EMP_OK && !known) {
        free(*pl);
        *pl = NULL;
        *npl = 0;
        e = emp_error_set(err, EMP_ENOTFOUND, NULL, "no prober is in location %.128s",
                          location);
    }
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
    e = emp_view_locations(db, v->location, &pl, &npl, err);
    if (e == EMP_OK && v->location != NULL) {
        keep_location(out, pl, npl, v->location);
    } else if (e == EMP_OK) {
        struct emp_outage_time *ot = times_of(out->outages, out->n_outages);
        struct rows r = {out->spans, out->n_spans, ot, out->n_outages};
        e = ot != NULL ? collect_locations(&r, pl, npl, &out->locations, &out->n_locations)
                       : EMP_ENOMEM;
        if (e == EMP_OK && out->n_locations > 1)
            e = combine_history(out, &r, pl, npl, target_id, from_us, to_us, now_us,
                                &v->quorum);
        free(ot);
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

/* ---- probe-level rows ------------------------------------------------------- */

enum emp_err emp_view_probe_rows(struct emp_db *db, int64_t target_id, int64_t from_us,
                                 int64_t to_us, const struct emp_view *v,
                                 struct emp_span **spans, size_t *n_spans,
                                 struct emp_failure **failures, size_t *n_failures,
                                 struct emp_error *err)
{
    *spans = NULL;
    *failures = NULL;
    *n_spans = *n_failures = 0;
    enum emp_err e = emp_db_list_spans(db, target_id, from_us, to_us, spans, n_spans, err);
    if (e == EMP_OK)
        e = emp_db_list_failure_times(db, target_id, from_us, to_us, failures, n_failures, err);
    if (e != EMP_OK || v->location == NULL)
        return e;
    struct emp_prober_location *pl = NULL;
    size_t npl = 0;
    e = emp_view_locations(db, v->location, &pl, &npl, err);
    if (e == EMP_OK) {
        size_t k = 0;
        for (size_t i = 0; i < *n_spans; i++)
            if (strcmp(location_of(pl, npl, (*spans)[i].prober_id), v->location) == 0)
                (*spans)[k++] = (*spans)[i];
        *n_spans = k;
        k = 0;
        for (size_t i = 0; i < *n_failures; i++)
            if (strcmp(location_of(pl, npl, (*failures)[i].prober_id), v->location) == 0)
                (*failures)[k++] = (*failures)[i];
        *n_failures = k;
    }
    free(pl);
    return e;
}

/* ---- each location now ------------------------------------------------------ */

static int popcount64(uint64_t v)
{
    int n = 0;
    for (; v != 0; v &= v - 1)
        n++;
    return n;
}

enum emp_err emp_view_now_load(struct emp_db *db, int64_t target_id, int64_t now_us,
                               const struct emp_quorum *q, struct emp_view_now *out,
                               struct emp_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t from = now_us - EMP_VIEW_NOW_LOOKBACK_US;
    struct emp_span *spans = NULL;
    struct emp_outage *outages = NULL;
    struct emp_outage_time *ot = NULL;
    struct emp_prober_location *pl = NULL;
    location_name *names = NULL;
    struct emp_segment **seg = NULL;
    size_t *nseg = NULL, n_spans = 0, n_outages = 0, npl = 0, nl = 0;
    struct emp_vsegment *v = NULL;
    size_t nv = 0;
    enum emp_err e = emp_db_list_spans(db, target_id, from, now_us, &spans, &n_spans, err);
    if (e == EMP_OK)
        e = emp_db_list_outages(db, target_id, from, now_us, &outages, &n_outages, err);
    if (e == EMP_OK)
        e = emp_db_prober_locations(db, &pl, &npl, err);
    if (e == EMP_OK) {
        ot = times_of(outages, n_outages);
        e = ot != NULL ? EMP_OK : EMP_ENOMEM;
    }
    struct rows r = {spans, n_spans, ot, n_outages};
    if (e == EMP_OK)
        e = collect_locations(&r, pl, npl, &names, &nl);
    if (e == EMP_OK && nl > EMP_VANTAGE_MAX)
        nl = EMP_VANTAGE_MAX;
    if (e == EMP_OK && nl > 0) {
        seg = calloc(nl, sizeof *seg);
        nseg = calloc(nl, sizeof *nseg);
        out->loc = calloc(nl, sizeof *out->loc);
        e = seg != NULL && nseg != NULL && out->loc != NULL
                ? location_timelines(&r, names, nl, pl, npl, target_id, from, now_us, now_us,
                                     seg, nseg)
                : EMP_ENOMEM;
        for (size_t l = 0; l < nl && e == EMP_OK; l++) {
            const struct emp_segment *last = &seg[l][nseg[l] - 1];
            memcpy(out->loc[l].location, names[l], sizeof names[l]);
            out->loc[l].state = last->state;
            out->loc[l].since_us = last->start_us > from ? last->start_us : 0;
        }
        out->n = e == EMP_OK ? nl : 0;
    }
    if (e == EMP_OK && nl > 0)
        e = emp_vantage_combine(from, now_us, (const struct emp_segment *const *)seg, nseg, nl,
                                q, &v, &nv);
    if (e == EMP_OK && nv > 0) {
        /* The verdict since it last changed (who observes or is down may
         * change under it). */
        size_t k = nv - 1;
        while (k > 0 && v[k - 1].state == v[nv - 1].state)
            k--;
        out->verdict = v[nv - 1].state;
        out->since_us = v[k].start_us > from ? v[k].start_us : 0;
        out->observing = popcount64(v[nv - 1].observing);
        out->down = popcount64(v[nv - 1].down);
        out->needed = emp_quorum_needed(q, out->observing);
    }
    for (size_t l = 0; seg != NULL && l < nl; l++)
        free(seg[l]);
    free(seg);
    free(nseg);
    free(v);
    free(names);
    free(pl);
    free(ot);
    free(spans);
    free(outages);
    if (e != EMP_OK) {
        free(out->loc);
        memset(out, 0, sizeof *out);
        if (e == EMP_ENOMEM)
            emp_error_set(err, e, NULL, "out of memory");
    }
    return e;
}
