/* Probe scheduling and judging. Each target has a due timer on the loop's
 * heap; due times advance at a fixed rate from a first offset that spreads
 * targets over their interval, so a slow probe never shifts the schedule of
 * another target, and a probe still running at its next due time skips that
 * tick (counted) instead of piling up. */
#include "prober.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "detector.h"
#include "log.h"
#include "probe.h"
#include "timeutil.h"

#define LAG_RING 65536

struct ptarget {
    struct emp_probe probe;
    struct emp_timer due;
    struct emp_prober *p;
    size_t index;
    int64_t db_id;
    struct emp_detector det;
    enum emp_tstate shown;
    int64_t shown_since_us;
};

struct emp_prober {
    struct emp_loop *loop;
    const struct emp_config *cfg;
    struct emp_http *http;
    struct emp_events *events;
    struct emp_state *state;
    struct ptarget *t;
    size_t n;
    /* Written by the probe loop, read by emp_prober_stats from any thread
     * (the API's /metrics): both under `mu`, held only for a few
     * instructions by the loop. */
    pthread_mutex_t mu;
    bool mu_ok;
    struct emp_prober_stats st;
    int64_t *lag;  /* ring of the last LAG_RING lags */
};

static void on_done(struct emp_probe *pr);
static void on_due(struct emp_timer *t);

struct emp_prober *emp_prober_new(struct emp_loop *loop, const struct emp_config *cfg,
                                  const int64_t *ids, struct emp_events *events,
                                  struct emp_state *state)
{
    struct emp_prober *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->loop = loop;
    p->cfg = cfg;
    p->events = events;
    p->state = state;
    p->n = cfg->n_targets;
    p->t = calloc(p->n ? p->n : 1, sizeof *p->t);
    p->lag = calloc(LAG_RING, sizeof *p->lag);
    p->http = emp_http_new(loop);
    p->mu_ok = pthread_mutex_init(&p->mu, NULL) == 0;
    if (p->t == NULL || p->lag == NULL || p->http == NULL || !p->mu_ok) {
        emp_prober_free(p);
        return NULL;
    }
    for (size_t i = 0; i < p->n; i++) {
        struct ptarget *t = &p->t[i];
        const struct emp_target_config *tc = &cfg->targets[i];
        t->p = p;
        t->index = i;
        t->db_id = ids ? ids[i] : (int64_t)i + 1;
        t->probe.loop = loop;
        t->probe.cfg = tc;
        t->probe.done = on_done;
        t->probe.owner = t;
        t->due.cb = on_due;
        t->due.data = t;
        emp_detector_init(&t->det, tc->fail_threshold, tc->recover_threshold);
    }
    return p;
}

static void cleanup_kind(struct emp_prober *p, struct ptarget *t)
{
    switch (t->probe.cfg->kind) {
    case EMP_KIND_HTTP: emp_probe_http_cleanup(p->http, &t->probe); break;
    case EMP_KIND_TCP: emp_probe_tcp_cleanup(&t->probe); break;
    case EMP_KIND_POSTGRES: emp_probe_pg_cleanup(&t->probe); break;
    }
}

void emp_prober_free(struct emp_prober *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; p->t != NULL && i < p->n; i++) {
        emp_loop_timer_stop(p->loop, &p->t[i].due);
        emp_loop_timer_stop(p->loop, &p->t[i].probe.deadline);
        cleanup_kind(p, &p->t[i]);
    }
    emp_http_free(p->http);
    if (p->mu_ok)
        pthread_mutex_destroy(&p->mu);
    free(p->t);
    free(p->lag);
    free(p);
}

void emp_prober_resume(struct emp_prober *p, const struct emp_outage *open, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < p->n; i++) {
            struct ptarget *t = &p->t[i];
            if (t->db_id != open[k].target_id)
                continue;
            emp_detector_resume_outage(&t->det, open[k].started_at_us,
                                       open[k].err_class, open[k].message);
            emp_info("continuing open outage", "target=%s", t->probe.cfg->name);
        }
    }
}

int emp_prober_start(struct emp_prober *p)
{
    int64_t now = emp_loop_update_time(p->loop);
    for (size_t i = 0; i < p->n; i++) {
        struct ptarget *t = &p->t[i];
        int64_t interval = (int64_t)t->probe.cfg->interval_ms * EMP_US_PER_MS;
        if (emp_loop_timer_start(p->loop, &t->due, now + emp_sched_spread(i, p->n, interval)) < 0)
            return -1;
    }
    return 0;
}

static void publish(struct ptarget *t, const struct emp_result *r, bool outage_started)
{
    struct emp_prober *p = t->p;
    enum emp_tstate st = EMP_TS_UNKNOWN;
    int64_t since = t->shown_since_us;
    switch (t->det.state) {
    case EMP_D_UNKNOWN: st = EMP_TS_UNKNOWN; break;
    case EMP_D_DOWN: st = EMP_TS_DOWN; break;
    case EMP_D_UP:
        st = r->status == EMP_STATUS_DEGRADED ? EMP_TS_DEGRADED : EMP_TS_UP;
        break;
    }
    if (st != t->shown) {
        /* Down and up begin when the detector says (first probe of the
         * run); degraded begins with this probe. */
        if (st == EMP_TS_DOWN || (st == EMP_TS_UP && t->shown != EMP_TS_DEGRADED))
            since = t->det.since_us;
        else
            since = r->started_at_us;
        t->shown = st;
        t->shown_since_us = since;
    }
    if (p->state != NULL) {
        emp_state_update(p->state, t->index, st, since, r->started_at_us);
        emp_state_record(p->state, t->index, r->status, r->latency_us, outage_started);
    }
}

static void push(struct emp_prober *p, enum emp_event_kind kind, struct ptarget *t,
                 const struct emp_result *r, int64_t outage_start)
{
    if (p->events == NULL)
        return;
    struct emp_event ev = {
        .kind = kind,
        .target_id = t->db_id,
        .interval_ms = t->probe.cfg->interval_ms,
        .r = *r,
        .outage_started_at_us = outage_start,
    };
    emp_events_push(p->events, &ev);
}

static void on_done(struct emp_probe *pr)
{
    struct ptarget *t = pr->owner;
    struct emp_prober *p = t->p;
    const struct emp_target_config *tc = pr->cfg;
    emp_loop_timer_stop(p->loop, &pr->deadline);
    pr->in_flight = false;
    struct emp_result *r = &pr->r;
    r->latency_us = emp_mono_us() - pr->started_mono_us;
    if (r->status == EMP_STATUS_OK && tc->degraded_ms > 0 &&
        r->latency_us > (int64_t)tc->degraded_ms * EMP_US_PER_MS)
        r->status = EMP_STATUS_DEGRADED;
    /* A timeout or a slow answer while the loop itself stalled may be the
     * prober's lateness, not the target's: the probe is no observation. Its
     * time becomes unknown (the writer ends the span), the detector does
     * not see it. Answers that were wrong (refused, 500, ...) stand. */
    bool doubtful = r->status == EMP_STATUS_DEGRADED ||
                    (r->status == EMP_STATUS_FAIL && strcmp(r->err_class, "timeout") == 0);
    if (doubtful && emp_loop_stalled_since(p->loop, pr->started_mono_us)) {
        r->status = EMP_STATUS_UNKNOWN;
        pthread_mutex_lock(&p->mu);
        p->st.unknown++;
        pthread_mutex_unlock(&p->mu);
        push(p, EMP_EV_RESULT, t, r, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->st.probes++;
    if (r->status == EMP_STATUS_OK)
        p->st.ok++;
    else if (r->status == EMP_STATUS_DEGRADED)
        p->st.degraded++;
    else
        p->st.fail++;
    pthread_mutex_unlock(&p->mu);

    struct emp_detector_event ev;
    enum emp_transition tr = emp_detector_observe(&t->det, r, &ev);
    push(p, EMP_EV_RESULT, t, r, 0);
    char q[300];
    if (tr == EMP_T_OUTAGE_START) {
        struct emp_result o = *r;
        o.started_at_us = ev.outage_started_at_us;
        snprintf(o.err_class, sizeof o.err_class, "%s", ev.err_class);
        snprintf(o.message, sizeof o.message, "%s", ev.message);
        push(p, EMP_EV_OUTAGE_OPEN, t, &o, ev.outage_started_at_us);
        emp_warn("outage started", "target=%s class=%s error=%s", tc->name, o.err_class,
                 emp_log_quote(q, sizeof q, o.message));
    } else if (tr == EMP_T_OUTAGE_END) {
        struct emp_result c = *r;
        c.started_at_us = ev.outage_ended_at_us;
        push(p, EMP_EV_OUTAGE_CLOSE, t, &c, ev.outage_started_at_us);
        emp_info("outage ended", "target=%s duration_s=%.3f", tc->name,
                 (double)(ev.outage_ended_at_us - ev.outage_started_at_us) / 1e6);
    }
    publish(t, r, tr == EMP_T_OUTAGE_START);
}

static void record_lag(struct emp_prober *p, int64_t lag)
{
    pthread_mutex_lock(&p->mu);
    p->lag[p->st.lag_samples % LAG_RING] = lag;
    p->st.lag_samples++;
    p->st.lag_sum_us += lag;
    if (lag > p->st.lag_max_us)
        p->st.lag_max_us = lag;
    pthread_mutex_unlock(&p->mu);
}

static void on_due(struct emp_timer *timer)
{
    struct ptarget *t = timer->data;
    struct emp_prober *p = t->p;
    struct emp_probe *pr = &t->probe;
    const struct emp_target_config *tc = pr->cfg;
    int64_t interval = (int64_t)tc->interval_ms * EMP_US_PER_MS;
    int64_t now = emp_loop_update_time(p->loop);
    int64_t due = timer->due_us;

    /* Fixed rate: the next due time does not depend on how late this one
     * ran. Ticks missed entirely (a stalled loop) are skipped, and the gap
     * they leave shows up as unknown time in coverage. */
    int64_t next = due + interval;
    uint64_t missed = 0;
    while (next <= now) {
        next += interval;
        missed++;
    }
    emp_loop_timer_start(p->loop, timer, next);

    if (pr->in_flight || missed > 0) {
        pthread_mutex_lock(&p->mu);
        p->st.skipped += missed + (pr->in_flight ? 1 : 0);
        pthread_mutex_unlock(&p->mu);
    }
    if (pr->in_flight)
        return;
    record_lag(p, now - due);
    memset(&pr->r, 0, sizeof pr->r);
    pr->r.started_at_us = emp_now_us();
    pr->started_mono_us = now;
    pr->in_flight = true;
    enum emp_err rc = EMP_EINVAL;
    switch (tc->kind) {
    case EMP_KIND_HTTP: rc = emp_probe_http_start(p->http, pr); break;
    case EMP_KIND_TCP: rc = emp_probe_tcp_start(pr); break;
    case EMP_KIND_POSTGRES: rc = emp_probe_pg_start(pr); break;
    }
    if (rc != EMP_OK && pr->in_flight) {
        emp_probe_fail(pr, "internal", "could not start probe: %s", emp_strerror(rc));
        on_done(pr);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void emp_prober_stats(struct emp_prober *p, struct emp_prober_stats *out)
{
    /* Allocate before taking the lock: the probe loop waits on it. */
    int64_t *copy = malloc(LAG_RING * sizeof *copy);
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    size_t n = p->st.lag_samples < LAG_RING ? (size_t)p->st.lag_samples : LAG_RING;
    if (copy != NULL && n > 0)
        memcpy(copy, p->lag, n * sizeof *copy);
    pthread_mutex_unlock(&p->mu);
    if (n == 0 || copy == NULL) {
        free(copy);
        return;
    }
    qsort(copy, n, sizeof *copy, cmp_i64);
    out->lag_p50_us = copy[(n - 1) / 2];
    out->lag_p99_us = copy[(n - 1) * 99 / 100];
    free(copy);
}
