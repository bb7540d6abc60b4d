/* A target's history as one vantage point, or all of them combined: what
 * every report reads before its statistics. The store gives each span and
 * outage with the prober that recorded it; probers of one location are one
 * vantage point. Asked for one location, its own record; with one location
 * in the window, that location's record as it is; with several, their
 * verdict combined by quorum (analysis/vantage.h), as spans and outages the
 * statistics take like any target's. */
#ifndef EMP_VIEW_H
#define EMP_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/vantage.h"
#include "core/err.h"
#include "core/model.h"
#include "store/db.h"

struct emp_view {
    const char *location;     /* one vantage point alone; NULL: combined */
    struct emp_quorum quorum; /* how locations combine */
};

#define EMP_VIEW_DEFAULT {NULL, EMP_QUORUM_DEFAULT}

/* The quorum for target `name`: its own ("quorum" in its definition), else
 * the configuration's (vantage), else a majority; min_locations is the
 * configuration's. `cfg` may be NULL. */
struct emp_quorum emp_view_quorum(const struct emp_config *cfg, const char *name);

struct emp_view_history {
    struct emp_span *spans;      /* oldest first */
    size_t n_spans;
    struct emp_outage *outages;  /* newest first, as the store gives them */
    size_t n_outages;
    /* When several locations were combined (n_locations > 1): their names
     * (bit i of the masks: locations[i]) and the combined timeline, over a
     * stretch holding [from, to) and every outage read. */
    size_t n_locations;
    char (*locations)[EMP_LOCATION_MAX + 1]; /* sorted */
    struct emp_vsegment *seg;
    size_t n_seg;
    /* Over [from, to) alone: partial time and who was down in it. */
    struct emp_vtotals totals;
};

/* The probers' locations into `*pl` (a new array: free()); EMP_ENOTFOUND,
 * naming it, when `location` is not NULL and no prober is there. */
enum emp_err emp_view_locations(struct emp_db *db, const char *location,
                                struct emp_prober_location **pl, size_t *npl,
                                struct emp_error *err);

/* Read target `target_id`'s spans and outages over [from, to) and make
 * them the view `v` asks for. EMP_ENOTFOUND when v->location names no
 * prober's location (err says so). Free with emp_view_history_free. */
enum emp_err emp_view_history_load(struct emp_db *db, int64_t target_id, int64_t from_us,
                                   int64_t to_us, int64_t now_us, const struct emp_view *v,
                                   struct emp_view_history *out, struct emp_error *err);
void emp_view_history_free(struct emp_view_history *h);

/* One target's rows as the bulk readers (status page, groups) fetch
 * them, each with its prober, combined when they come from more than one
 * location (as emp_view_history_load combines), or those of `location`
 * alone when it is not NULL: spans and outage times the reader uses in
 * place of its own. */
struct emp_view_rows {
    const struct emp_span *spans;          /* the input's, or owned_spans */
    size_t n_spans;
    const struct emp_outage_time *ot;      /* the input's, or owned_ot (oldest first) */
    size_t n_ot;
    size_t n_locations;                    /* of the input rows */
    struct emp_vtotals totals;             /* over [from, to), when combined */
    struct emp_span *owned_spans;          /* NULL unless combined */
    struct emp_outage_time *owned_ot;
    struct emp_vsegment *seg;              /* owned when combined: the verdict, */
    size_t n_seg;                          /* partial time included */
};
enum emp_err emp_view_rows_combine(const struct emp_prober_location *pl, size_t npl,
                                   const struct emp_quorum *q, const char *location,
                                   int64_t target_id,
                                   int64_t from_us, int64_t to_us, int64_t now_us,
                                   const struct emp_span *spans, size_t n_spans,
                                   const struct emp_outage_time *ot, size_t n_ot,
                                   struct emp_view_rows *out);
void emp_view_rows_free(struct emp_view_rows *r);
/* The newest `max` of combined outage times `ot` (oldest first) as
 * outages, newest first, each named by the location outage among `raw`
 * that completed its quorum. `*out` is a new array (free()). */
enum emp_err emp_view_name_outages(const struct emp_outage_time *ot, size_t n_ot,
                                   const struct emp_outage *raw, size_t n_raw, int64_t now_us,
                                   size_t max, struct emp_outage **out, size_t *n);

/* The probe-level rows of view `v` for rules that count probes (an SLA's
 * minutes rule): the spans and failing probes of the location asked for,
 * or of every location pooled (a minute's failed share is over all their
 * probes; a quorum of locations applies to outages, not to probes).
 * New arrays (free()); EMP_ENOTFOUND for a location no prober is in. */
enum emp_err emp_view_probe_rows(struct emp_db *db, int64_t target_id, int64_t from_us,
                                 int64_t to_us, const struct emp_view *v,
                                 struct emp_span **spans, size_t *n_spans,
                                 struct emp_failure **failures, size_t *n_failures,
                                 struct emp_error *err);

/* Each location's state of a target now, and their verdict: what a
 * target's page shows. Looks back EMP_VIEW_NOW_LOOKBACK_US. */
#define EMP_VIEW_NOW_LOOKBACK_US (INT64_C(7) * 86400 * 1000000)
struct emp_location_now {
    char location[EMP_LOCATION_MAX + 1];
    enum emp_seg_state state;
    int64_t since_us; /* 0: since before the lookback */
};
struct emp_view_now {
    struct emp_location_now *loc; /* by name; free() */
    size_t n;
    enum emp_vstate verdict;
    int64_t since_us;             /* of the verdict; 0: before the lookback */
    int observing, down, needed;  /* locations observing, down, and the quorum */
};
enum emp_err emp_view_now_load(struct emp_db *db, int64_t target_id, int64_t now_us,
                               const struct emp_quorum *q, struct emp_view_now *out,
                               struct emp_error *err);

/* The locations down during a combined outage (a mask of
 * h->locations), 0 when nothing was combined. */
uint64_t emp_view_outage_locations(const struct emp_view_history *h,
                                   const struct emp_outage *o, int64_t now_us);

#endif
