/* GET /api/v1/status: everything the status page shows, for every target
 * the store knows (configured or imported) in one call: live state, current
 * streak, availability over 24 h / 7 d / 30 d / 90 d, 90 daily bars (UTC
 * days, with how much of each day was observed), MTTF and MTTR with their
 * 95% intervals over 90 days, recent incidents, and per group the
 * correlation summary. Three queries fetch the rows of all targets; each
 * target's timeline is built once and everything else is derived from it. */
#include "api/api_internal.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/db_status.h"
#include "analysis/stats.h"
#include "analysis/stats_corr.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "analysis/uptime.h"

#define DAY_US (INT64_C(86400) * EMP_US_PER_S)
#define STATUS_DAYS 90
#define STATUS_INCIDENTS 5

/* One target's rows and derived timeline; slices borrowed from struct all. */
struct tgt {
    const struct emp_target_row *row;
    const struct emp_span *spans;
    size_t n_spans;
    const struct emp_outage_time *ot;
    size_t n_ot;
    const struct emp_outage *recent;
    size_t n_recent;
    struct emp_segment *seg; /* owned */
    size_t n_seg;
};

struct all {
    struct emp_target_row *rows;
    size_t n_rows;
    struct emp_span *spans;
    size_t n_spans;
    struct emp_outage_time *ot;
    size_t n_ot;
    struct emp_outage *recent;
    size_t n_recent;
    struct emp_target_status *live;
    size_t n_live;
    struct tgt *t;
    size_t n_t;
    struct emp_outage *scratch;
    size_t scratch_cap;
};

static void all_free(struct all *a)
{
    for (size_t i = 0; a->t != NULL && i < a->n_t; i++)
        free(a->t[i].seg);
    free(a->t);
    free(a->rows);
    free(a->spans);
    free(a->ot);
    free(a->recent);
    free(a->live);
    free(a->scratch);
}

static int cmp_live(const void *pa, const void *pb)
{
    const struct emp_target_status *a = pa, *b = pb;
    return strcmp(a->name, b->name);
}

/* Targets ordered by group (ungrouped last), then name. */
static int cmp_tgt(const void *pa, const void *pb)
{
    const struct tgt *a = pa, *b = pb;
    bool ga = a->row->group[0] != '\0', gb = b->row->group[0] != '\0';
    if (ga != gb)
        return ga ? -1 : 1;
    int c = strcmp(a->row->group, b->row->group);
    return c != 0 ? c : strcmp(a->row->name, b->row->name);
}

/* First index in [0, n) of rows with target_id >= id; rows sorted by it. */
#define LOWER_BOUND(arr, n, id, out)                                                      \
    do {                                                                                  \
        size_t lo_ = 0, hi_ = (n);                                                        \
        while (lo_ < hi_) {                                                               \
            size_t mid_ = lo_ + (hi_ - lo_) / 2;                                          \
            if ((arr)[mid_].target_id < (id))                                             \
                lo_ = mid_ + 1;                                                           \
            else                                                                          \
                hi_ = mid_;                                                               \
        }                                                                                 \
        (out) = lo_;                                                                      \
    } while (0)

/* Up and down time of a timeline inside [a, b). */
static void sum_window(const struct emp_segment *seg, size_t n, int64_t a, int64_t b,
                       int64_t *up, int64_t *down)
{
    *up = *down = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t s = seg[i].start_us > a ? seg[i].start_us : a;
        int64_t e = seg[i].end_us < b ? seg[i].end_us : b;
        if (e <= s)
            continue;
        if (seg[i].state == EMP_SEG_UP)
            *up += e - s;
        else if (seg[i].state == EMP_SEG_DOWN)
            *down += e - s;
    }
}

/* A number, written as an integer when it is one: most daily figures are
 * exactly 0 or 1, and integers serialise several times faster than reals
 * (the page's JSON holds some 135,000 of them for 500 targets). */
static json_t *num_json(double v)
{
    if (v == (double)(json_int_t)v && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *avail_json(int64_t up, int64_t down)
{
    return up + down > 0 ? num_json((double)up / (double)(up + down)) : json_null();
}

/* The 90 daily bars, from `day0` (a UTC midnight) to `now`, by one sweep
 * over the segments: parallel arrays, one element per day. */
static json_t *days_json(const struct tgt *t, int64_t day0, int64_t now)
{
    int64_t up[STATUS_DAYS] = {0}, down[STATUS_DAYS] = {0};
    int64_t outages[STATUS_DAYS] = {0};
    for (size_t i = 0; i < t->n_seg; i++) {
        const struct emp_segment *s = &t->seg[i];
        if (s->state == EMP_SEG_UNKNOWN || s->end_us <= day0)
            continue;
        int64_t a = s->start_us > day0 ? s->start_us : day0;
        int64_t e = s->end_us < now ? s->end_us : now;
        while (a < e) {
            int64_t d = (a - day0) / DAY_US;
            if (d >= STATUS_DAYS)
                break;
            int64_t de = day0 + (d + 1) * DAY_US;
            int64_t x = e < de ? e : de;
            if (s->state == EMP_SEG_UP)
                up[d] += x - a;
            else
                down[d] += x - a;
            a = x;
        }
    }
    for (size_t i = 0; i < t->n_ot; i++) {
        int64_t s = t->ot[i].started_at_us;
        if (s >= day0 && s < now && (s - day0) / DAY_US < STATUS_DAYS)
            outages[(s - day0) / DAY_US]++;
    }
    json_t *av = json_array(), *cov = json_array(), *dn = json_array(), *no = json_array();
    int bad = av == NULL || cov == NULL || dn == NULL || no == NULL;
    for (int d = 0; d < STATUS_DAYS && !bad; d++) {
        int64_t ds = day0 + d * DAY_US;
        int64_t de = ds + DAY_US < now ? ds + DAY_US : now;
        double span = de > ds ? (double)(de - ds) : 1.0;
        bad |= json_array_append_new(av, avail_json(up[d], down[d]));
        bad |= json_array_append_new(cov, num_json((double)(up[d] + down[d]) / span));
        bad |= json_array_append_new(dn, num_json((double)down[d] / 1e6));
        bad |= json_array_append_new(no, json_integer(outages[d]));
    }
    if (bad) {
        json_decref(av);
        json_decref(cov);
        json_decref(dn);
        json_decref(no);
        return NULL;
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o}", "start", api_json_time(day0), "availability", av,
                     "coverage", cov, "down_s", dn, "outages", no);
}

static json_t *estimate_json(const struct emp_estimate *e)
{
    return json_pack("{s:o,s:[o,o]}", "estimate", api_json_real(e->estimate), "ci95",
                     api_json_real(e->lo), api_json_real(e->hi));
}

static json_t *incidents_json(const struct tgt *t, int64_t now)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < t->n_recent; i++) {
        const struct emp_outage *o = &t->recent[i];
        int64_t end = o->ended_at_us != 0 ? o->ended_at_us : now;
        int64_t dur = end > o->started_at_us ? end - o->started_at_us : 0;
        json_t *item = json_pack(
            "{s:o,s:o,s:o,s:{s:o,s:o}}", "start", api_json_time(o->started_at_us), "end",
            o->ended_at_us != 0 ? api_json_time(o->ended_at_us) : json_null(), "duration_s",
            api_json_seconds(dur), "cause", "class",
            api_json_text(o->err_class, sizeof o->err_class), "message",
            api_json_text(o->message, sizeof o->message));
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* Build the timeline of t over [from, now). */
static enum emp_err build_timeline(struct all *a, struct tgt *t, int64_t from, int64_t now)
{
    if (t->n_ot > a->scratch_cap) {
        struct emp_outage *sc = realloc(a->scratch, t->n_ot * sizeof *sc);
        if (sc == NULL)
            return EMP_ENOMEM;
        a->scratch = sc;
        a->scratch_cap = t->n_ot;
    }
    for (size_t k = 0; k < t->n_ot; k++) {
        a->scratch[k].target_id = t->ot[k].target_id;
        a->scratch[k].started_at_us = t->ot[k].started_at_us;
        a->scratch[k].ended_at_us = t->ot[k].ended_at_us;
    }
    return emp_timeline_build(from, now, now, t->spans, t->n_spans, a->scratch, t->n_ot,
                              &t->seg, &t->n_seg);
}

static json_t *target_json(struct all *a, struct tgt *t, int64_t from, int64_t day0,
                           int64_t now, enum emp_err *e)
{
    const struct emp_target_row *row = t->row;
    struct emp_target_status key;
    memset(&key, 0, sizeof key);
    snprintf(key.name, sizeof key.name, "%s", row->name);
    const struct emp_target_status *live =
        a->n_live > 0 ? bsearch(&key, a->live, a->n_live, sizeof *a->live, cmp_live) : NULL;

    struct emp_uptime u;
    emp_uptime_from_timeline(from, now, now, t->seg, t->n_seg, &u);
    int64_t up1, dn1, up7, dn7, up30, dn30;
    sum_window(t->seg, t->n_seg, now - DAY_US, now, &up1, &dn1);
    sum_window(t->seg, t->n_seg, now - 7 * DAY_US, now, &up7, &dn7);
    sum_window(t->seg, t->n_seg, now - 30 * DAY_US, now, &up30, &dn30);

    struct emp_stats_target st = {.seg = t->seg, .n_seg = t->n_seg, .outage_times = t->ot,
                                  .n_outages = t->n_ot};
    struct emp_stats_opts opts;
    emp_stats_opts_default(&opts);
    opts.survival_max_points = 2;
    struct emp_reliability rel;
    memset(&rel, 0, sizeof rel);
    *e = emp_stats_reliability(&st, 1, from, now, now, &opts, &rel);
    if (*e != EMP_OK)
        return NULL;
    json_t *rj = json_pack("{s:o,s:o,s:o,s:I,s:I}", "mttf_s", estimate_json(&rel.mttf_s),
                           "mttr_s", estimate_json(&rel.mttr_s), "mtbf_s",
                           api_json_real(rel.mtbf_s), "failures", (json_int_t)rel.failures,
                           "repairs", (json_int_t)rel.repairs);
    emp_reliability_cleanup(&rel);

    json_t *o = json_object();
    int bad = o == NULL || rj == NULL;
    bad |= json_object_set_new(o, "name", api_json_text(row->name, sizeof row->name));
    bad |= json_object_set_new(o, "kind",
                               live != NULL ? json_string(emp_kind_name(live->kind))
                                            : api_json_text(row->kind, sizeof row->kind));
    bad |= json_object_set_new(o, "group", row->group[0] != '\0'
                                               ? api_json_text(row->group, sizeof row->group)
                                               : json_null());
    bad |= json_object_set_new(o, "configured", json_boolean(live != NULL));
    bad |= json_object_set_new(o, "state", json_string(live != NULL
                                                           ? emp_tstate_name(live->state)
                                                           : "unknown"));
    bad |= json_object_set_new(o, "since", live != NULL && live->since_us != 0
                                               ? api_json_time(live->since_us)
                                               : json_null());
    bad |= json_object_set_new(o, "streak_s", api_json_seconds(u.streak_current_us));
    bad |= json_object_set_new(o, "streak_longest_s", api_json_seconds(u.streak_longest_us));
    bad |= json_object_set_new(
        o, "availability",
        json_pack("{s:o,s:o,s:o,s:o}", "24h", avail_json(up1, dn1), "7d", avail_json(up7, dn7),
                  "30d", avail_json(up30, dn30), "90d", avail_json(u.up_us, u.down_us)));
    bad |= json_object_set_new(o, "coverage_90d", api_json_real(u.coverage));
    bad |= json_object_set_new(o, "days", days_json(t, day0, now));
    bad |= json_object_set_new(o, "reliability", rj);
    bad |= json_object_set_new(o, "incidents", incidents_json(t, now));
    if (bad) {
        json_decref(o);
        *e = EMP_ENOMEM;
        return NULL;
    }
    return o;
}

/* The correlation summary of the members t[lo..hi) over [from, now). */
static json_t *group_json(const struct tgt *t, size_t lo, size_t hi, int64_t from, int64_t now,
                          enum emp_err *e)
{
    size_t n = hi - lo;
    struct emp_corr_member *m = calloc(n, sizeof *m);
    struct emp_corr_ival *iv = NULL;
    int64_t *starts = NULL;
    size_t n_iv = 0, n_starts = 0;
    for (size_t i = lo; i < hi; i++) {
        n_iv += 2 * t[i].n_seg;
        n_starts += t[i].n_ot;
    }
    iv = calloc(n_iv ? n_iv : 1, sizeof *iv);
    starts = calloc(n_starts ? n_starts : 1, sizeof *starts);
    json_t *members = json_array();
    json_t *out = NULL;
    struct emp_corr_result c;
    memset(&c, 0, sizeof c);
    *e = EMP_ENOMEM;
    if (m == NULL || iv == NULL || starts == NULL || members == NULL)
        goto out;
    size_t vi = 0, si = 0;
    for (size_t k = 0; k < n; k++) {
        const struct tgt *x = &t[lo + k];
        struct emp_corr_ival *obs = iv + vi;
        size_t nobs = 0;
        for (size_t q = 0; q < x->n_seg; q++)
            if (x->seg[q].state != EMP_SEG_UNKNOWN)
                obs[nobs++] = (struct emp_corr_ival){x->seg[q].start_us, x->seg[q].end_us};
        vi += nobs;
        struct emp_corr_ival *dn = iv + vi;
        size_t nd = 0;
        for (size_t q = 0; q < x->n_seg; q++)
            if (x->seg[q].state == EMP_SEG_DOWN)
                dn[nd++] = (struct emp_corr_ival){x->seg[q].start_us, x->seg[q].end_us};
        vi += nd;
        int64_t *fs = starts + si;
        size_t nf = 0;
        for (size_t q = 0; q < x->n_ot; q++) {
            int64_t s = x->ot[q].started_at_us;
            if (s >= from && s < now)
                fs[nf++] = s;
        }
        si += nf;
        m[k] = (struct emp_corr_member){obs, nobs, dn, nd, fs, nf};
        if (json_array_append_new(members, api_json_text(x->row->name, sizeof x->row->name)))
            goto out;
    }
    struct emp_error err;
    emp_error_clear(&err);
    *e = emp_corr_compute(m, n, NULL, &c, &err);
    if (*e != EMP_OK)
        goto out;
    out = json_pack("{s:o,s:O,s:I,s:I,s:I,s:o,s:o,s:o,s:o}", "name",
                    api_json_text(t[lo].row->group, sizeof t[lo].row->group), "members",
                    members, "failures", (json_int_t)c.n_failures, "bursts",
                    (json_int_t)c.n_bursts, "largest_burst", (json_int_t)c.largest_burst,
                    "common_observed_s", api_json_seconds(c.common_observed_us),
                    "all_down_observed", api_json_real(c.observed_at_least[n]),
                    "all_down_independent", api_json_real(c.independent_at_least[n]),
                    "all_down_ratio", api_json_real(c.all_down_ratio));
    if (out == NULL)
        *e = EMP_ENOMEM;
out:
    emp_corr_result_cleanup(&c);
    json_decref(members);
    free(m);
    free(iv);
    free(starts);
    return out;
}

/* `v` (stolen) as the reply writes it: compact, reals to 15 digits. */
static char *dump_json(json_t *v)
{
    char *text = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    return text;
}

/* The reply `head,"groups":[g[g0..g1)],"targets":[t[t0..t1)]}` from dumped
 * pieces, `head` being the dumped {"now":..,"days":..,"refresh_s":..}
 * without its closing brace: byte for byte what dumping the whole object
 * gives (jansson writes an object's keys in the order they were added,
 * compactly). A new string, or NULL. */
static char *assemble(const char *head, char *const *g, size_t g0, size_t g1,
                      char *const *t, size_t t0, size_t t1)
{
    struct emp_buf b = {0};
    emp_buf_puts(&b, head);
    emp_buf_puts(&b, ",\"groups\":[");
    for (size_t i = g0; i < g1; i++) {
        if (i > g0)
            emp_buf_put(&b, ",", 1);
        emp_buf_puts(&b, g[i]);
    }
    emp_buf_puts(&b, "],\"targets\":[");
    for (size_t i = t0; i < t1; i++) {
        if (i > t0)
            emp_buf_put(&b, ",", 1);
        emp_buf_puts(&b, t[i]);
    }
    emp_buf_puts(&b, "]}");
    if (b.oom) {
        emp_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* Fetch everything from the store. Returns true, or false with a reply
 * queued in *ret. */
/* Why a status could not be built, for the reply. */
struct build_err {
    int status;            /* HTTP status */
    const char *code;      /* "unavailable", "not_found", "internal" */
    char message[160];
};

static void build_fail(struct build_err *be, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void build_fail(struct build_err *be, int status, const char *code, const char *fmt, ...)
{
    be->status = status;
    be->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->message, sizeof be->message, fmt, ap);
    va_end(ap);
}

/* A store failure: 503 when the database is away, else 500; the detail goes
 * to the log only. */
static void build_db_fail(struct build_err *be, struct emp_db *db, enum emp_err e,
                          const struct emp_error *err, const char *what)
{
    char q1[300], q2[600];
    bool away = db == NULL || !emp_db_ok(db) || e == EMP_EAGAIN;
    emp_log(away ? EMP_LOG_WARN : EMP_LOG_ERROR,
            away ? "database unavailable" : "database query failed",
            "path=/api/v1/status op=%s error=%s detail=%s", what,
            emp_log_quote(q1, sizeof q1, err->msg), emp_log_quote(q2, sizeof q2, err->detail));
    if (away)
        build_fail(be, 503, "unavailable", "the database is unavailable; try again later");
    else
        build_fail(be, 500, "internal", "could not %s", what);
}

static bool load(struct emp_api *api, struct all *a, const char *group, int64_t from,
                 int64_t now, struct build_err *be)
{
    struct emp_db *db = NULL;
    struct emp_error err;
    emp_error_clear(&err);
    enum emp_err e = emp_db_pool_get(api->pool, &db, &err);
    if (e != EMP_OK || db == NULL) {
        build_db_fail(be, NULL, e != EMP_OK ? e : EMP_EDB, &err, "connect to the database");
        return false;
    }
    const char *what = "list targets";
    e = emp_db_list_targets(db, &a->rows, &a->n_rows, &err);
    if (e == EMP_OK) {
        what = "list coverage";
        e = emp_db_status_spans(db, group, from, now, &a->spans, &a->n_spans, &err);
    }
    if (e == EMP_OK) {
        what = "list outages";
        e = emp_db_status_outage_times(db, group, from, now, &a->ot, &a->n_ot, &err);
    }
    if (e == EMP_OK) {
        what = "list recent outages";
        e = emp_db_status_recent_outages(db, group, now, STATUS_INCIDENTS, &a->recent,
                                         &a->n_recent, &err);
    }
    if (e != EMP_OK) {
        build_db_fail(be, db, e, &err, what);
        emp_db_pool_put(api->pool, db);
        return false;
    }
    emp_db_pool_put(api->pool, db);
    return true;
}

#define STATUS_CACHE_US (INT64_C(5) * EMP_US_PER_S)
#define CONTENT_TYPE_JSON "application/json; charset=utf-8"

/* A copy past STATUS_CACHE_US is still served, up to this age, while the
 * refresher runs: the next copy is at most a computation away, and a
 * request computing its own beside it would only slow both. */
#define STATUS_STALE_US (INT64_C(10) * EMP_US_PER_S)

/* Whether the cached reply may answer at `now`: within STATUS_CACHE_US, or
 * within STATUS_STALE_US while the refresher keeps it (the caller has just
 * marked the status as wanted). Under status_mu. */
static bool cache_usable(const struct emp_api *api, int64_t now)
{
    if (api->status_copy == NULL || now < api->status_at_us)
        return false;
    int64_t age = now - api->status_at_us;
    return age < STATUS_CACHE_US || (api->status_thread_on && age < STATUS_STALE_US);
}

/* What status_build makes. */
struct status_out {
    char *text;         /* the reply */
    size_t n_groups;    /* for all groups: each group's own reply, */
    char **group_names; /* in the order of the names (strcmp) */
    char **group_texts;
};

static void status_out_free(struct status_out *o)
{
    for (size_t k = 0; k < o->n_groups; k++) {
        free(o->group_names[k]);
        free(o->group_texts[k]);
    }
    free(o->group_names);
    free(o->group_texts);
    free(o->text);
    memset(o, 0, sizeof *o);
}

/* The replies kept for all groups and for each group. */
struct api_status_copy {
    struct MHD_Response *all;     /* our reference */
    size_t n_groups;
    char **names;                 /* sorted (strcmp) */
    struct MHD_Response **groups; /* our references; NULL: build it afresh */
};

static void copy_free(struct api_status_copy *c)
{
    if (c == NULL)
        return;
    if (c->all != NULL)
        MHD_destroy_response(c->all);
    for (size_t k = 0; k < c->n_groups; k++) {
        free(c->names[k]);
        if (c->groups[k] != NULL)
            MHD_destroy_response(c->groups[k]);
    }
    free(c->names);
    free(c->groups);
    free(c);
}

void api_status_copy_free(struct emp_api *api)
{
    copy_free(api->status_copy);
    api->status_copy = NULL;
}

/* A copy of what `o` holds (its texts stolen), or NULL. A group whose reply
 * could not be made is left to be built afresh when asked for. */
static struct api_status_copy *copy_new(struct status_out *o)
{
    struct api_status_copy *c = calloc(1, sizeof *c);
    if (c == NULL) {
        status_out_free(o);
        return NULL;
    }
    c->all = api_response_new(o->text, CONTENT_TYPE_JSON);
    o->text = NULL;
    if (o->n_groups > 0) {
        c->names = calloc(o->n_groups, sizeof *c->names);
        c->groups = calloc(o->n_groups, sizeof *c->groups);
    }
    if (c->all == NULL || (o->n_groups > 0 && (c->names == NULL || c->groups == NULL))) {
        status_out_free(o);
        copy_free(c);
        return NULL;
    }
    for (size_t k = 0; k < o->n_groups; k++) {
        c->names[k] = o->group_names[k];
        o->group_names[k] = NULL;
        c->groups[k] = api_response_new(o->group_texts[k], CONTENT_TYPE_JSON);
        o->group_texts[k] = NULL;
        c->n_groups = k + 1;
    }
    status_out_free(o);
    return c;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* The kept reply for `group` (NULL: all groups), or NULL. Under status_mu. */
static struct MHD_Response *copy_find(const struct api_status_copy *c, const char *group)
{
    if (c == NULL)
        return NULL;
    if (group == NULL)
        return c->all;
    char *const *at = c->n_groups > 0 ? bsearch(group, c->names, c->n_groups,
                                                 sizeof *c->names, cmp_name)
                                      : NULL;
    return at != NULL ? c->groups[at - c->names] : NULL;
}

/* Replace the kept replies by `c`; requests still sending the old ones
 * keep them alive (MHD counts their users) until they are done. */
static void cache_put(struct emp_api *api, int64_t now, struct api_status_copy *c)
{
    pthread_mutex_lock(&api->status_mu);
    struct api_status_copy *old = api->status_copy;
    api->status_copy = c;
    api->status_at_us = now;
    pthread_mutex_unlock(&api->status_mu);
    copy_free(old);
}

/* Keep the status fresh in the background while someone looks at it: one
 * computation for all targets gives the reply for all groups and, cut from
 * the same pieces, each group's reply. A request then never waits for the
 * computation (about 70 ms for 500 targets), and the figures are at most
 * STATUS_REFRESH_US old (STATUS_STALE_US when a computation runs late).
 * The refresher sleeps when nobody asked for STATUS_INTEREST_US. */
#define STATUS_REFRESH_US (INT64_C(4) * EMP_US_PER_S)
#define STATUS_INTEREST_US (INT64_C(120) * EMP_US_PER_S)

static bool status_build(struct emp_api *api, const char *group, int64_t now,
                         struct status_out *out, struct build_err *be);

static void *refresher(void *arg)
{
    struct emp_api *api = arg;
    pthread_mutex_lock(&api->status_mu);
    while (!api->status_stop) {
        int64_t now = emp_now_us();
        bool wanted = api->status_wanted_us != 0 &&
                      now - api->status_wanted_us < STATUS_INTEREST_US;
        /* Counted from the last attempt, so that a store that is away is
         * retried every STATUS_REFRESH_US, not in a spin. */
        bool stale = api->status_tried_us == 0 || now - api->status_tried_us >= STATUS_REFRESH_US;
        if ((wanted && stale) || api->status_warm) {
            api->status_warm = false;
            api->status_tried_us = now;
            api->status_busy = true;
            pthread_mutex_unlock(&api->status_mu);
            struct build_err be = {0};
            struct status_out o;
            struct api_status_copy *c = status_build(api, NULL, now, &o, &be) ? copy_new(&o) : NULL;
            if (c != NULL)
                cache_put(api, now, c);
            pthread_mutex_lock(&api->status_mu);
            api->status_busy = false;
            pthread_cond_broadcast(&api->status_cv); /* requests waiting for it */
            continue;
        }
        /* Sleep until the next refresh is due, or a second when nobody is
         * looking (a request wakes the thread). */
        int64_t wait_us = wanted ? api->status_tried_us + STATUS_REFRESH_US - now : EMP_US_PER_S;
        if (wait_us < 1000)
            wait_us = 1000;
        if (wait_us > EMP_US_PER_S)
            wait_us = EMP_US_PER_S;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + wait_us * 1000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&api->status_cv, &api->status_mu, &ts);
    }
    pthread_mutex_unlock(&api->status_mu);
    return NULL;
}

int api_status_start(struct emp_api *api)
{
    api->status_stop = false;
    if (pthread_cond_init(&api->status_cv, NULL) != 0)
        return -1;
    if (pthread_create(&api->status_thread, NULL, refresher, api) != 0) {
        pthread_cond_destroy(&api->status_cv);
        return -1;
    }
    api->status_thread_on = true;
    return 0;
}

void api_status_stop(struct emp_api *api)
{
    if (!api->status_thread_on)
        return;
    pthread_mutex_lock(&api->status_mu);
    api->status_stop = true;
    pthread_cond_signal(&api->status_cv);
    pthread_mutex_unlock(&api->status_mu);
    pthread_join(api->status_thread, NULL);
    pthread_cond_destroy(&api->status_cv);
    api->status_thread_on = false;
}

void emp_api_warm_status(struct emp_api *api)
{
    if (api == NULL || !api->status_thread_on)
        return;
    /* Once: the refresher keeps it fresh only while someone asks. */
    pthread_mutex_lock(&api->status_mu);
    api->status_warm = true;
    pthread_cond_signal(&api->status_cv);
    pthread_mutex_unlock(&api->status_mu);
}

/* Served from the copy the refresher keeps, for all groups or for one
 * (when there is none fresh enough, or the group is not in it, computed
 * here). Asking for either keeps the refresher going. */
enum MHD_Result api_get_status(struct api_req *r)
{
    const char *group = api_query(r, "group");
    struct emp_api *api = r->api;
    pthread_mutex_lock(&api->status_mu);
    bool first = api->status_wanted_us == 0;
    api->status_wanted_us = r->now_us;
    if (first && api->status_thread_on)
        pthread_cond_broadcast(&api->status_cv);
    /* The refresher is computing it: without a copy to serve meanwhile,
     * wait for that rather than do the same work beside it (bounded; then
     * compute here). A copy that is usable is served at once: waiting
     * would hold every request for as long as a computation takes. */
    if (api->status_busy && !cache_usable(api, r->now_us)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 2;
        while (api->status_busy &&
               pthread_cond_timedwait(&api->status_cv, &api->status_mu, &ts) == 0) {
        }
    }
    /* Queued under the lock, so that the refresher cannot drop the
     * response between the check and MHD taking its reference. */
    struct MHD_Response *kept =
        cache_usable(api, emp_now_us()) ? copy_find(api->status_copy, group) : NULL;
    enum MHD_Result ret = kept != NULL ? api_reply_shared(r, MHD_HTTP_OK, kept) : MHD_NO;
    pthread_mutex_unlock(&api->status_mu);
    if (kept != NULL)
        return ret;

    struct build_err be = {0};
    struct status_out o;
    if (!status_build(r->api, group, r->now_us, &o, &be))
        return api_error(r, (unsigned)be.status, be.code, "%s", be.message);
    if (group != NULL) {
        char *text = o.text;
        o.text = NULL;
        status_out_free(&o);
        return api_reply_text(r, MHD_HTTP_OK, CONTENT_TYPE_JSON, text);
    }
    struct api_status_copy *c = copy_new(&o);
    if (c == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    ret = api_reply_shared(r, MHD_HTTP_OK, c->all);
    cache_put(r->api, r->now_us, c);
    return ret;
}

/* The status of all groups (group NULL) or one into *out (free with
 * status_out_free): the reply, and for all groups each group's own reply
 * too. Returns false with *be filled. */
static bool status_build(struct emp_api *api, const char *group, int64_t now,
                         struct status_out *out, struct build_err *be)
{
    memset(out, 0, sizeof *out);
    int64_t from = now - STATUS_DAYS * DAY_US;
    int64_t today = now >= 0 ? now / DAY_US * DAY_US : -((-now + DAY_US - 1) / DAY_US) * DAY_US;
    int64_t day0 = today - (STATUS_DAYS - 1) * DAY_US;
    struct all a;
    memset(&a, 0, sizeof a);
    int64_t t_load = emp_mono_us();
    if (!load(api, &a, group, from, now, be)) {
        all_free(&a);
        return false;
    }
    a.live = emp_state_snapshot(api->state, now, &a.n_live);
    a.t = calloc(a.n_rows ? a.n_rows : 1, sizeof *a.t);
    if (a.live == NULL || a.t == NULL) {
        all_free(&a);
        build_fail(be, 500, "internal", "out of memory");
        return false;
    }
    qsort(a.live, a.n_live, sizeof *a.live, cmp_live);
    for (size_t i = 0; i < a.n_rows; i++) {
        const struct emp_target_row *row = &a.rows[i];
        if (group != NULL && strcmp(row->group, group) != 0)
            continue;
        struct tgt *t = &a.t[a.n_t++];
        t->row = row;
        size_t s0, s1, o0, o1, r0, r1;
        LOWER_BOUND(a.spans, a.n_spans, row->id, s0);
        LOWER_BOUND(a.spans, a.n_spans, row->id + 1, s1);
        LOWER_BOUND(a.ot, a.n_ot, row->id, o0);
        LOWER_BOUND(a.ot, a.n_ot, row->id + 1, o1);
        LOWER_BOUND(a.recent, a.n_recent, row->id, r0);
        LOWER_BOUND(a.recent, a.n_recent, row->id + 1, r1);
        t->spans = a.spans + s0;
        t->n_spans = s1 - s0;
        t->ot = a.ot + o0;
        t->n_ot = o1 - o0;
        t->recent = a.recent + r0;
        t->n_recent = r1 - r0;
    }
    if (group != NULL && a.n_t == 0) {
        all_free(&a);
        build_fail(be, 404, "not_found", "no such group: %.64s", group);
        return false;
    }
    qsort(a.t, a.n_t, sizeof *a.t, cmp_tgt);

    /* Each target and group is dumped as soon as it is built: the reply is
     * assembled from the pieces (assemble), and so are the replies of the
     * single groups. */
    int64_t t_targets = emp_mono_us();
    enum emp_err e = EMP_OK;
    size_t n_t = a.n_t, n_g = 0;
    char **tt = calloc(n_t ? n_t : 1, sizeof *tt), **gt = calloc(n_t ? n_t : 1, sizeof *gt);
    char **gname = calloc(n_t ? n_t : 1, sizeof *gname);
    size_t *glo = calloc(n_t ? n_t : 1, sizeof *glo), *ghi = calloc(n_t ? n_t : 1, sizeof *ghi);
    if (tt == NULL || gt == NULL || gname == NULL || glo == NULL || ghi == NULL)
        e = EMP_ENOMEM;
    for (size_t i = 0; e == EMP_OK && i < n_t; i++) {
        e = build_timeline(&a, &a.t[i], from, now);
        if (e != EMP_OK)
            break;
        json_t *o = target_json(&a, &a.t[i], from, day0, now, &e);
        if (o != NULL && (tt[i] = dump_json(o)) == NULL)
            e = EMP_ENOMEM;
    }
    int64_t t_groups = emp_mono_us();
    for (size_t lo = 0; e == EMP_OK && lo < n_t && a.t[lo].row->group[0] != '\0';) {
        size_t hi = lo + 1;
        while (hi < n_t && strcmp(a.t[hi].row->group, a.t[lo].row->group) == 0)
            hi++;
        json_t *g = group_json(a.t, lo, hi, from, now, &e);
        if (g != NULL) {
            gt[n_g] = dump_json(g);
            gname[n_g] = strdup(a.t[lo].row->group);
            glo[n_g] = lo;
            ghi[n_g] = hi;
            if (gt[n_g++] == NULL || gname[n_g - 1] == NULL)
                e = EMP_ENOMEM;
        }
        lo = hi;
    }
    all_free(&a);
    int64_t t_dump = emp_mono_us();
    char *head = NULL;
    if (e == EMP_OK) {
        /* {"now":...,"days":90,"refresh_s":30} less its closing brace. */
        head = dump_json(json_pack("{s:o,s:I,s:I}", "now", api_json_time(now), "days",
                                   (json_int_t)STATUS_DAYS, "refresh_s", (json_int_t)30));
        if (head == NULL)
            e = EMP_ENOMEM;
        else
            head[strlen(head) - 1] = '\0';
    }
    if (e == EMP_OK && (out->text = assemble(head, gt, 0, n_g, tt, 0, n_t)) == NULL)
        e = EMP_ENOMEM;
    if (e == EMP_OK && group == NULL && n_g > 0) {
        out->group_names = calloc(n_g, sizeof *out->group_names);
        out->group_texts = calloc(n_g, sizeof *out->group_texts);
        if (out->group_names == NULL || out->group_texts == NULL)
            e = EMP_ENOMEM;
        for (size_t k = 0; e == EMP_OK && k < n_g; k++) {
            out->group_names[k] = gname[k];
            gname[k] = NULL;
            out->n_groups = k + 1;
            out->group_texts[k] = assemble(head, gt, k, k + 1, tt, glo[k], ghi[k]);
            if (out->group_texts[k] == NULL)
                e = EMP_ENOMEM;
        }
    }
    for (size_t i = 0; tt != NULL && i < n_t; i++)
        free(tt[i]);
    for (size_t k = 0; gt != NULL && k < n_g; k++) {
        free(gt[k]);
        free(gname[k]);
    }
    free(tt);
    free(gt);
    free(gname);
    free(glo);
    free(ghi);
    free(head);
    if (e != EMP_OK) {
        status_out_free(out);
        if (e == EMP_ENOMEM)
            build_fail(be, 500, "internal", "out of memory");
        else
            build_fail(be, 500, "internal", "could not compute the status: %s", emp_strerror(e));
        return false;
    }
    emp_debug("status computed",
              "targets=%zu load_ms=%.1f targets_ms=%.1f groups_ms=%.1f dump_ms=%.1f", n_t,
              (double)(t_targets - t_load) / 1e3, (double)(t_groups - t_targets) / 1e3,
              (double)(t_dump - t_groups) / 1e3, (double)(emp_mono_us() - t_dump) / 1e3);
    return true;
}
