/* A group's members and their observations (service/group.h): loaded with
 * three queries, each member's timeline built from its slice. */
#include "service/group.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/uptime.h"
#include "service/view.h"

void emp_group_data_free(struct emp_group_data *g)
{
    free(g->targets);
    free(g->spans);
    free(g->outages);
    free(g->span_at);
    free(g->span_n);
    free(g->outage_at);
    free(g->outage_n);
    memset(g, 0, sizeof *g);
}

/* Each member's slice of the arrays (after a sort by target). */
static void slice(struct emp_group_data *g)
{
    size_t s = 0, o = 0;
    for (size_t i = 0; i < g->n; i++) {
        int64_t id = g->targets[i].id;
        while (s < g->n_spans && g->spans[s].target_id < id)
            s++;
        g->span_at[i] = s;
        while (s < g->n_spans && g->spans[s].target_id == id)
            s++;
        g->span_n[i] = s - g->span_at[i];
        while (o < g->n_outages && g->outages[o].target_id < id)
            o++;
        g->outage_at[i] = o;
        while (o < g->n_outages && g->outages[o].target_id == id)
            o++;
        g->outage_n[i] = o - g->outage_at[i];
    }
}

/* Members seen from several locations: their rows become the locations'
 * verdict combined (service/view.h), the arrays rebuilt member by member. */
static enum emp_err combine_members(struct emp_group_data *g,
                                    const struct emp_prober_location *pl, size_t npl,
                                    const struct emp_config *cfg, const char *location,
                                    int64_t from_us, int64_t to_us, int64_t now_us)
{
    struct emp_view_rows *v = calloc(g->n ? g->n : 1, sizeof *v);
    if (v == NULL)
        return EMP_ENOMEM;
    enum emp_err e = EMP_OK;
    bool any = false;
    size_t ns = 0, no = 0;
    for (size_t i = 0; i < g->n && e == EMP_OK; i++) {
        struct emp_quorum q = emp_view_quorum(cfg, g->targets[i].name);
        e = emp_view_rows_combine(pl, npl, &q, location, g->targets[i].id, from_us, to_us,
                                  now_us,
                                  g->spans + g->span_at[i], g->span_n[i],
                                  g->outages + g->outage_at[i], g->outage_n[i], &v[i]);
        any |= v[i].owned_spans != NULL;
        ns += v[i].n_spans;
        no += v[i].n_ot;
    }
    struct emp_span *spans = NULL;
    struct emp_outage_time *ot = NULL;
    if (e == EMP_OK && any) {
        spans = malloc((ns ? ns : 1) * sizeof *spans);
        ot = malloc((no ? no : 1) * sizeof *ot);
        if (spans == NULL || ot == NULL)
            e = EMP_ENOMEM;
    }
    if (e == EMP_OK && any) {
        size_t ks = 0, ko = 0;
        for (size_t i = 0; i < g->n; i++) {
            for (size_t k = 0; k < v[i].n_spans; k++) {
                spans[ks] = v[i].spans[k];
                spans[ks++].target_id = g->targets[i].id;
            }
            for (size_t k = 0; k < v[i].n_ot; k++)
                ot[ko++] = v[i].ot[k];
        }
        free(g->spans);
        free(g->outages);
        g->spans = spans;
        g->n_spans = ns;
        g->outages = ot;
        g->n_outages = no;
        spans = NULL;
        ot = NULL;
        slice(g);
    }
    free(spans);
    free(ot);
    for (size_t i = 0; i < g->n; i++)
        emp_view_rows_free(&v[i]);
    free(v);
    return e;
}

enum emp_err emp_group_load(struct emp_db *db, const char *name, int64_t from_us,
                            int64_t to_us, int64_t now_us, const struct emp_config *cfg,
                            const char *location, struct emp_group_data *g, const char **what,
                            struct emp_error *err)
{
    memset(g, 0, sizeof *g);
    *what = "list group members";
    enum emp_err e = emp_db_group_targets(db, name, &g->targets, &g->n, err);
    if (e == EMP_OK) {
        *what = "list group coverage";
        e = emp_db_group_spans(db, name, from_us, to_us, &g->spans, &g->n_spans, err);
    }
    if (e == EMP_OK) {
        *what = "list group outages";
        e = emp_db_group_outage_times(db, name, from_us, to_us, &g->outages, &g->n_outages,
                                      err);
    }
    if (e != EMP_OK)
        return e;
    *what = NULL;
    g->span_at = calloc(g->n, sizeof *g->span_at);
    g->span_n = calloc(g->n, sizeof *g->span_n);
    g->outage_at = calloc(g->n, sizeof *g->outage_at);
    g->outage_n = calloc(g->n, sizeof *g->outage_n);
    if (g->span_at == NULL || g->span_n == NULL || g->outage_at == NULL || g->outage_n == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
    slice(g);
    struct emp_prober_location *pl = NULL;
    size_t npl = 0;
    *what = "list the probers' locations";
    e = emp_view_locations(db, location, &pl, &npl, err);
    if (e != EMP_OK)
        return e;
    *what = NULL;
    e = combine_members(g, pl, npl, cfg, location, from_us, to_us, now_us);
    free(pl);
    if (e != EMP_OK)
        return emp_error_set(err, e, NULL, "could not combine the locations' verdicts");
    return EMP_OK;
}

/* The timeline of member i over [from, to). */
static enum emp_err member_timeline(const struct emp_group_data *g, size_t i, int64_t from_us,
                                    int64_t to_us, int64_t now_us, struct emp_segment **seg,
                                    size_t *n_seg)
{
    return emp_timeline_build_times(from_us, to_us, now_us, g->spans + g->span_at[i],
                                    g->span_n[i], g->outages + g->outage_at[i],
                                    g->outage_n[i], seg, n_seg);
}

/* Member i's observed and down time and its failure starts, for the
 * correlation. Arrays owned by the member struct (free_member). */
static enum emp_err member_build(const struct emp_group_data *g, size_t i, int64_t from,
                                 int64_t to, int64_t now, struct emp_corr_member *m)
{
    struct emp_segment *seg = NULL;
    size_t n_seg = 0;
    memset(m, 0, sizeof *m);
    enum emp_err e = member_timeline(g, i, from, to, now, &seg, &n_seg);
    if (e != EMP_OK)
        return e;
    struct emp_corr_ival *obs = calloc(n_seg ? n_seg : 1, sizeof *obs);
    struct emp_corr_ival *down = calloc(n_seg ? n_seg : 1, sizeof *down);
    int64_t *starts = calloc(g->outage_n[i] ? g->outage_n[i] : 1, sizeof *starts);
    if (obs == NULL || down == NULL || starts == NULL) {
        free(seg);
        free(obs);
        free(down);
        free(starts);
        return EMP_ENOMEM;
    }
    size_t nobs = 0, nd = 0, nf = 0;
    for (size_t k = 0; k < n_seg; k++) {
        if (seg[k].state == EMP_SEG_UNKNOWN)
            continue;
        obs[nobs++] = (struct emp_corr_ival){seg[k].start_us, seg[k].end_us};
        if (seg[k].state == EMP_SEG_DOWN)
            down[nd++] = (struct emp_corr_ival){seg[k].start_us, seg[k].end_us};
    }
    free(seg);
    /* Its failures: overlapping outages (several probers') are one. */
    if (emp_stats_failure_starts(g->outages + g->outage_at[i], g->outage_n[i], from, to, starts,
                                 &nf) != EMP_OK) {
        free(obs);
        free(down);
        free(starts);
        return EMP_ENOMEM;
    }
    m->observed = obs;
    m->n_observed = nobs;
    m->down = down;
    m->n_down = nd;
    m->failure_starts = starts;
    m->n_failures = nf;
    return EMP_OK;
}

static void free_member(struct emp_corr_member *m)
{
    free((void *)m->observed);
    free((void *)m->down);
    free((void *)m->failure_starts);
}

enum emp_err emp_group_correlation(const struct emp_group_data *g, int64_t from_us,
                                   int64_t to_us, int64_t now_us,
                                   const struct emp_corr_options *opts,
                                   struct emp_corr_result *out, struct emp_error *err)
{
    memset(out, 0, sizeof *out);
    struct emp_corr_member *m = calloc(g->n ? g->n : 1, sizeof *m);
    enum emp_err e = m != NULL ? EMP_OK : EMP_ENOMEM;
    size_t built = 0;
    for (; e == EMP_OK && built < g->n; built++)
        e = member_build(g, built, from_us, to_us, now_us, &m[built]);
    if (e == EMP_OK)
        e = emp_corr_compute(m, g->n, opts, out, err);
    for (size_t i = 0; m != NULL && i < built; i++)
        free_member(&m[i]);
    free(m);
    return e;
}

enum emp_err emp_group_reliability(const struct emp_group_data *g, int64_t from_us,
                                   int64_t to_us, int64_t now_us, struct emp_reliability *out)
{
    memset(out, 0, sizeof *out);
    struct emp_stats_target *st = calloc(g->n ? g->n : 1, sizeof *st);
    enum emp_err e = st != NULL ? EMP_OK : EMP_ENOMEM;
    size_t built = 0;
    for (; e == EMP_OK && built < g->n; built++) {
        size_t i = built;
        struct emp_segment *seg = NULL;
        size_t n_seg = 0;
        e = member_timeline(g, i, from_us, to_us, now_us, &seg, &n_seg);
        st[i].seg = seg;
        st[i].n_seg = n_seg;
        st[i].outage_times = g->outages + g->outage_at[i];
        st[i].n_outages = g->outage_n[i];
        st[i].before = emp_timeline_state_at_times(from_us - 1, now_us, g->spans + g->span_at[i],
                                                   g->span_n[i], g->outages + g->outage_at[i],
                                                   g->outage_n[i]);
    }
    if (e == EMP_OK) {
        struct emp_stats_opts opts;
        emp_stats_opts_default(&opts);
        e = emp_stats_reliability(st, g->n, from_us, to_us, now_us, &opts, out);
    }
    for (size_t i = 0; st != NULL && i < built; i++)
        free((void *)st[i].seg);
    free(st);
    return e;
}
