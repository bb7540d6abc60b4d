/* Probe scheduling and judging. Each target has a due timer on the loop's
 * heap; due times advance at a fixed rate from a first offset that spreads
 * targets over their interval, so a slow probe never shifts the schedule of
 * another target, and a probe still running at its next due time skips that
 * tick (counted) instead of piling up. Targets are added, redefined and
 * removed at run time by commands other threads queue and an eventfd
 * delivers: only the loop's thread touches targets, timers and probes.
 * Wall times come from the loop's monotonic clock through a clock map
 * (core/timeutil.h), checked against the wall clock at every probe start: a
 * step of the wall clock ends what each target was doing (its span, its
 * outage, its detector's runs) when its next probe begins. */
#include "probes/prober.h"

#include "core/assert.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "probes/detector.h"
#include "core/log.h"
#include "core/slots.h"
#include "probes/kinds.h"
#include "probes/probe.h"
#include "config/target.h"
#include "core/timeutil.h"

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
    int64_t last_result_us;  /* wall time of the last judged probe; 0: none */
    uint64_t segment;        /* the clock segment its last probe began in; 0: none */
    int64_t last_start_us;   /* wall time its last probe began, in that segment */
    bool in_block;           /* one of the configuration's (p->block) */
    bool canary;             /* named in prober.canaries */
    bool canary_failing;     /* a canary whose last result failed */
    struct emp_target_config own; /* the definition of one added at run time */
    void *shared;                 /* what its kind shares in this loop (or NULL) */
};

/* A change queued by emp_prober_submit. */
struct pcmd {
    struct pcmd *next;
    uint64_t seq;
    int64_t db_id;
    bool put;                    /* else remove */
    struct emp_target_config tc; /* owned, for a put */
};

struct emp_prober {
    struct emp_loop *loop;
    const struct emp_config *cfg;
    /* What each kind of probes/kinds.c shares among its probes in this
     * loop (curl's multi handle for http), by index in the table. */
    void *shared[EMP_KINDS_MAX];
    struct emp_events *events;
    struct emp_state *state;
    struct ptarget *block;  /* the configuration's targets */
    struct ptarget **t;     /* every target, index i = the state's i */
    size_t n, cap;
    /* Targets by db id, so that a change made through the API finds its
     * target without a scan of all (index_ids). */
    struct emp_slots by_id;
    bool started;
    int64_t max_lag_us;     /* later than this, a probe's preceding time is unknown */
    struct emp_clockmap clock;      /* wall times of the loop's monotonic ones */
    int64_t (*wall_now)(void *ctx); /* reads the wall clock (emp_now_us) */
    void *wall_ctx;
    size_t n_canaries, n_canaries_failing;
    /* Written by the probe loop, read by emp_prober_stats from any thread
     * (the API's /metrics): both under `mu`, held only for a few
     * instructions by the loop. */
    pthread_mutex_t mu;
    bool mu_ok;
    struct emp_prober_stats st;
    int64_t *lag;  /* ring of the last LAG_RING lags */
    /* Commands from other threads, under cmd_mu; cmd_io's eventfd wakes
     * the loop, which applies them and advances cmd_done. */
    pthread_mutex_t cmd_mu;
    pthread_cond_t cmd_cv;
    bool cmd_ok;
    struct pcmd *cmd_head, *cmd_tail;
    uint64_t cmd_seq, cmd_done;
    struct emp_io cmd_io;
};

static void on_done(struct emp_probe *pr);
static void on_due(struct emp_timer *t);
static void on_cmd(struct emp_io *io, uint32_t revents);

struct id_key {
    const struct emp_prober *p;
    int64_t db_id;
};

static bool id_is(size_t i, const void *ctx)
{
    const struct id_key *k = ctx;
    return k->p->t[i]->db_id == k->db_id;
}

/* The slot of `db_id` in p->by_id, or the empty one where it would go.
 * Fibonacci hashing: the consecutive ids of targets made one after the
 * other spread over the table. */
static size_t id_slot(const struct emp_prober *p, int64_t db_id)
{
    struct id_key k = {p, db_id};
    size_t hash = (size_t)(((uint64_t)db_id * UINT64_C(11400714819323198485)) >> 32);
    return emp_slots_find(&p->by_id, hash, id_is, &k);
}

/* Enter every target into p->by_id anew, first grown for `want` when it
 * is smaller. Returns 0, or -1 when out of memory (the table then as it
 * was); never fails for want <= p->n after a success. Costs the number of
 * targets: done when the table grows (doubling) and after a removal. */
static int index_ids(struct emp_prober *p, size_t want)
{
    if (emp_slots_reset(&p->by_id, want) != 0)
        return -1;
    for (size_t i = 0; i < p->n; i++)
        p->by_id.v[id_slot(p, p->t[i]->db_id)] = i + 1;
    return 0;
}

static int64_t system_wall(void *ctx)
{
    (void)ctx;
    return emp_now_us();
}

static void init_target(struct emp_prober *p, struct ptarget *t, size_t index, int64_t db_id,
                        const struct emp_target_config *tc)
{
    t->p = p;
    t->index = index;
    t->db_id = db_id;
    t->probe.loop = p->loop;
    t->probe.cfg = tc;
    t->probe.done = on_done;
    t->probe.owner = t;
    t->due.cb = on_due;
    t->due.data = t;
    int k = emp_kinds_index(&emp_probe_kinds, tc->kind);
    t->shared = k >= 0 ? p->shared[k] : NULL;
    emp_detector_init(&t->det, tc->fail_threshold, tc->recover_threshold);
    t->canary = false;
    for (size_t i = 0; i < p->cfg->n_canaries; i++)
        t->canary |= strcmp(p->cfg->canaries[i], tc->name) == 0;
}

/* Canaries: targets whose failing all at once points at the monitor's own
 * network (its link, its DNS, its firewall) rather than at the targets. */
static void canary_join(struct emp_prober *p, const struct ptarget *t)
{
    if (!t->canary)
        return;
    p->n_canaries++;
    if (t->canary_failing)
        p->n_canaries_failing++;
}

static void canary_leave(struct emp_prober *p, const struct ptarget *t)
{
    if (!t->canary)
        return;
    p->n_canaries--;
    if (t->canary_failing)
        p->n_canaries_failing--;
}

/* Every canary fails: the monitor's network is suspect. */
static bool network_suspect(const struct emp_prober *p)
{
    return p->n_canaries > 0 && p->n_canaries_failing == p->n_canaries;
}

/* For emp_prober_stats, after the canaries changed. */
static void publish_suspect(struct emp_prober *p)
{
    pthread_mutex_lock(&p->mu);
    p->st.network_suspect = network_suspect(p);
    pthread_mutex_unlock(&p->mu);
}

/* The command queue and its eventfd; false when they could not be made. */
static bool cmd_init(struct emp_prober *p)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return false;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    bool cv_ok = pthread_cond_init(&p->cmd_cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv_ok)
        return false;
    if (pthread_mutex_init(&p->cmd_mu, NULL) != 0) {
        pthread_cond_destroy(&p->cmd_cv);
        return false;
    }
    p->cmd_ok = true;
    p->cmd_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->cmd_io.cb = on_cmd;
    p->cmd_io.data = p;
    return p->cmd_io.fd >= 0 && emp_loop_io_set(p->loop, &p->cmd_io, EPOLLIN) == 0;
}

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
    p->cmd_io.fd = -1;
    p->wall_now = system_wall;
    emp_clockmap_init(&p->clock, emp_mono_us(), emp_now_us());
    size_t n = cfg->n_targets;
    p->cap = n > 16 ? n : 16;
    p->block = calloc(n ? n : 1, sizeof *p->block);
    p->t = calloc(p->cap, sizeof *p->t);
    p->lag = calloc(LAG_RING, sizeof *p->lag);
    bool shared_ok = true;
    for (size_t k = 0; k < emp_probe_kinds.n && k < EMP_KINDS_MAX; k++) {
        const struct emp_probe_kind *kind = emp_probe_kinds.v[k];
        if (kind->loop_new != NULL && kind->loop_new(loop, &p->shared[k]) != EMP_OK)
            shared_ok = false;
    }
    p->mu_ok = pthread_mutex_init(&p->mu, NULL) == 0;
    if (p->block == NULL || p->t == NULL || p->lag == NULL || !shared_ok || !p->mu_ok ||
        !cmd_init(p)) {
        emp_prober_free(p);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct ptarget *t = &p->block[i];
        init_target(p, t, i, ids ? ids[i] : (int64_t)i + 1, &cfg->targets[i]);
        t->in_block = true;
        canary_join(p, t);
        p->t[i] = t;
    }
    p->n = n;
    if (index_ids(p, n) != 0) {
        emp_prober_free(p);
        return NULL;
    }
    p->max_lag_us = (int64_t)(cfg->max_lag_ms > 0 ? cfg->max_lag_ms : EMP_DEFAULT_MAX_LAG_MS) *
                    EMP_US_PER_MS;
    emp_loop_set_stall_us(loop, p->max_lag_us);
    return p;
}

void emp_prober_set_wall_clock(struct emp_prober *p, int64_t (*wall_now)(void *ctx), void *ctx)
{
    p->wall_now = wall_now != NULL ? wall_now : system_wall;
    p->wall_ctx = wall_now != NULL ? ctx : NULL;
    emp_clockmap_init(&p->clock, emp_mono_us(), p->wall_now(p->wall_ctx));
}

/* Stop probing `t`, abandoning a probe in flight, and free it unless it
 * lives in the configuration's block. */
static void discard(struct emp_prober *p, struct ptarget *t)
{
    emp_loop_timer_stop(p->loop, &t->due);
    emp_loop_timer_stop(p->loop, &t->probe.deadline);
    t->probe.cfg->kind->cancel(&t->probe, t->shared);
    if (t->in_block)
        return;
    emp_target_config_cleanup(&t->own);
    free(t);
}

static void pcmd_free(struct pcmd *c)
{
    emp_target_config_cleanup(&c->tc);
    free(c);
}

void emp_prober_free(struct emp_prober *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; p->t != NULL && i < p->n; i++)
        discard(p, p->t[i]);
    for (size_t k = 0; k < emp_probe_kinds.n && k < EMP_KINDS_MAX; k++)
        if (p->shared[k] != NULL)
            emp_probe_kinds.v[k]->loop_free(p->shared[k]);
    if (p->cmd_io.fd >= 0) {
        emp_loop_io_del(p->loop, &p->cmd_io);
        close(p->cmd_io.fd);
    }
    if (p->cmd_ok) {
        while (p->cmd_head != NULL) {
            struct pcmd *next = p->cmd_head->next;
            pcmd_free(p->cmd_head);
            p->cmd_head = next;
        }
        pthread_mutex_destroy(&p->cmd_mu);
        pthread_cond_destroy(&p->cmd_cv);
    }
    if (p->mu_ok)
        pthread_mutex_destroy(&p->mu);
    free(p->block);
    free(p->t);
    emp_slots_free(&p->by_id);
    free(p->lag);
    free(p);
}

void emp_prober_resume(struct emp_prober *p, const struct emp_outage *open, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < p->n; i++) {
            struct ptarget *t = p->t[i];
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
    EMP_ASSERT(emp_loop_on_thread(p->loop)); /* only the loop's thread touches targets */
    int64_t now = emp_loop_update_time(p->loop);
    for (size_t i = 0; i < p->n; i++) {
        struct ptarget *t = p->t[i];
        int64_t interval = (int64_t)t->probe.cfg->interval_ms * EMP_US_PER_MS;
        if (emp_loop_timer_start(p->loop, &t->due, now + emp_sched_spread(i, p->n, interval)) < 0)
            return -1;
    }
    p->started = true;
    return 0;
}

size_t emp_prober_count(const struct emp_prober *p)
{
    return p->n;
}

static long find_target(const struct emp_prober *p, int64_t db_id)
{
    size_t k = p->by_id.n > 0 ? p->by_id.v[id_slot(p, db_id)] : 0;
    return k > 0 ? (long)k - 1 : -1;
}

static void push(struct emp_prober *p, enum emp_event_kind kind, struct ptarget *t,
                 const struct emp_result *r, int64_t outage_start);

/* Close the outage `t` is in at `at` (never before it began): it was seen
 * down until then; what came after, nobody saw. Logs `why`. */
static void close_unseen(struct emp_prober *p, struct ptarget *t, int64_t at, const char *why)
{
    int64_t start = t->det.outage_started_at_us;
    struct emp_result c;
    memset(&c, 0, sizeof c);
    c.status = EMP_STATUS_FAIL;
    c.started_at_us = at > start ? at : start;
    push(p, EMP_EV_OUTAGE_CLOSE, t, &c, start);
    emp_info(why, "target=%s duration_s=%.3f", t->probe.cfg->name,
             (double)(c.started_at_us - start) / 1e6);
}

/* Whether `a` and `b` define the same target (false when out of memory:
 * then it is taken as changed). */
static bool same_definition(const struct emp_target_config *a, const struct emp_target_config *b)
{
    json_t *ja = emp_target_config_json(a, false);
    json_t *jb = emp_target_config_json(b, false);
    bool same = ja != NULL && jb != NULL && json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return same;
}

int emp_prober_put(struct emp_prober *p, int64_t db_id, const struct emp_target_config *tc)
{
    EMP_ASSERT(emp_loop_on_thread(p->loop)); /* only the loop's thread touches targets */
    /* The definition it has: nothing to do (a prober that made a change
     * through its API sees it again from the store's poll, service/target.h). */
    long known = find_target(p, db_id);
    if (known >= 0 && same_definition(p->t[known]->probe.cfg, tc))
        return 0;
    struct ptarget *t = calloc(1, sizeof *t);
    if (t == NULL || emp_target_config_copy(&t->own, tc) != EMP_OK) {
        free(t);
        return -1;
    }
    long i = known;
    if (i >= 0) {
        struct ptarget *old = p->t[i];
        init_target(p, t, (size_t)i, db_id, &t->own);
        /* The same target, defined anew: an outage it is in carries on. */
        t->det = old->det;
        t->det.fail_threshold = tc->fail_threshold > 0 ? tc->fail_threshold : 1;
        t->det.recover_threshold = tc->recover_threshold > 0 ? tc->recover_threshold : 1;
        t->shown = old->shown;
        t->shown_since_us = old->shown_since_us;
        t->last_result_us = old->last_result_us;
        t->segment = old->segment;
        t->last_start_us = old->last_start_us;
        t->canary_failing = t->canary && old->canary_failing;
        canary_leave(p, old);
        canary_join(p, t);
        publish_suspect(p);
        discard(p, old);
        p->t[i] = t;
        if (p->state != NULL)
            emp_state_redefine(p->state, (size_t)i, &t->own);
        emp_info("target redefined", "target=%s kind=%s", t->own.name, t->own.kind->name);
    } else {
        if (p->n == p->cap) {
            struct ptarget **grown = realloc(p->t, 2 * p->cap * sizeof *grown);
            if (grown == NULL)
                goto fail;
            p->t = grown;
            p->cap *= 2;
        }
        if (!emp_slots_room(&p->by_id, p->n + 1) && index_ids(p, p->n + 1) != 0)
            goto fail;
        if (p->state != NULL && emp_state_add(p->state, &t->own, db_id) != (long)p->n)
            goto fail;
        init_target(p, t, p->n, db_id, &t->own);
        canary_join(p, t);
        publish_suspect(p);
        p->t[p->n++] = t;
        p->by_id.v[id_slot(p, db_id)] = p->n;
        emp_info("target added", "target=%s kind=%s", t->own.name, t->own.kind->name);
    }
    /* Before start, emp_prober_start spreads it with the others. */
    if (p->started && emp_loop_timer_start(p->loop, &t->due, emp_loop_update_time(p->loop)) < 0) {
        emp_errorf("could not schedule a target", "target=%s", t->own.name);
        return -1;
    }
    return 0;
fail:
    emp_target_config_cleanup(&t->own);
    free(t);
    return -1;
}

int emp_prober_remove(struct emp_prober *p, int64_t db_id)
{
    EMP_ASSERT(emp_loop_on_thread(p->loop)); /* only the loop's thread touches targets */
    long i = find_target(p, db_id);
    if (i < 0)
        return -1;
    struct ptarget *t = p->t[i];
    if (t->det.state == EMP_D_DOWN)
        close_unseen(p, t, t->last_result_us, "outage closed: target removed");
    emp_info("target removed", "target=%s", t->probe.cfg->name);
    canary_leave(p, t);
    publish_suspect(p);
    discard(p, t);
    memmove(&p->t[i], &p->t[i + 1], (p->n - (size_t)i - 1) * sizeof *p->t);
    p->n--;
    for (size_t k = (size_t)i; k < p->n; k++)
        p->t[k]->index = k;
    index_ids(p, p->n); /* no larger than it is: cannot fail */
    if (p->state != NULL)
        emp_state_remove(p->state, (size_t)i);
    return 0;
}

/* The eventfd fired: apply what other threads queued, in order. */
static void on_cmd(struct emp_io *io, uint32_t revents)
{
    (void)revents;
    struct emp_prober *p = io->data;
    uint64_t count;
    while (read(io->fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&p->cmd_mu);
    struct pcmd *c = p->cmd_head;
    p->cmd_head = p->cmd_tail = NULL;
    pthread_mutex_unlock(&p->cmd_mu);
    uint64_t last = 0;
    while (c != NULL) {
        struct pcmd *next = c->next;
        int rc = c->put ? emp_prober_put(p, c->db_id, &c->tc) : emp_prober_remove(p, c->db_id);
        if (rc != 0 && c->put)
            emp_errorf("could not add a target", "target=%s", c->tc.name);
        last = c->seq;
        pcmd_free(c);
        c = next;
    }
    pthread_mutex_lock(&p->cmd_mu);
    if (last > p->cmd_done)
        p->cmd_done = last;
    pthread_cond_broadcast(&p->cmd_cv);
    pthread_mutex_unlock(&p->cmd_mu);
}

int emp_prober_submit(struct emp_prober *p, int64_t db_id, const struct emp_target_config *tc,
                      int wait_ms)
{
    struct pcmd *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->db_id = db_id;
    c->put = tc != NULL;
    if (tc != NULL && emp_target_config_copy(&c->tc, tc) != EMP_OK) {
        free(c);
        return -1;
    }
    pthread_mutex_lock(&p->cmd_mu);
    uint64_t seq = c->seq = ++p->cmd_seq;
    if (p->cmd_tail != NULL)
        p->cmd_tail->next = c;
    else
        p->cmd_head = c;
    p->cmd_tail = c;
    pthread_mutex_unlock(&p->cmd_mu);
    /* EAGAIN: the counter is already set, the loop will wake anyway. */
    uint64_t one = 1;
    while (write(p->cmd_io.fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->cmd_mu);
    while (wait_ms > 0 && p->cmd_done < seq &&
           pthread_cond_timedwait(&p->cmd_cv, &p->cmd_mu, &until) == 0) {
    }
    bool applied = p->cmd_done >= seq;
    pthread_mutex_unlock(&p->cmd_mu);
    return applied ? 0 : 1;
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
    EMP_ASSERT(emp_loop_on_thread(p->loop));
    EMP_ASSERT(!pr->in_flight); /* emp_probe_done cleared it: done() once per start */
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
                    (r->status == EMP_STATUS_FAIL &&
                     (pr->deadline_passed || strcmp(r->err_class, "timeout") == 0));
    if (doubtful && emp_loop_stalled_since(p->loop, pr->started_mono_us)) {
        r->status = EMP_STATUS_UNKNOWN;
        pthread_mutex_lock(&p->mu);
        p->st.unknown++;
        pthread_mutex_unlock(&p->mu);
        push(p, EMP_EV_RESULT, t, r, 0);
        return;
    }
    /* A canary's verdict first; then, while every canary fails, another
     * target's failure more likely says the monitor is cut off than that
     * the target is down: unknown, like a stall's. */
    if (t->canary) {
        bool failing = r->status == EMP_STATUS_FAIL;
        if (failing != t->canary_failing) {
            bool was = network_suspect(p);
            if (failing)
                p->n_canaries_failing++;
            else
                p->n_canaries_failing--;
            t->canary_failing = failing;
            publish_suspect(p);
            if (network_suspect(p) != was)
                emp_log(was ? EMP_LOG_INFO : EMP_LOG_WARN,
                        was ? "a canary answers again; failures count again"
                            : "every canary fails: the monitor's network is suspect; other "
                              "targets' failures are unknown until one answers",
                        "canary=%s", tc->name);
        }
    } else if (r->status == EMP_STATUS_FAIL && network_suspect(p)) {
        r->status = EMP_STATUS_UNKNOWN;
        pthread_mutex_lock(&p->mu);
        p->st.unknown_network++;
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

    t->last_result_us = r->started_at_us;
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

/* The wall time of the loop's monotonic `now`, checked against the wall
 * clock: a step found here starts a new segment, is logged and counted,
 * and each target crosses it when its next probe begins (cross_step). */
static int64_t wall_at(struct emp_prober *p, int64_t now)
{
    uint64_t segment = p->clock.segment;
    int64_t wall = emp_clockmap_map(&p->clock, now, p->wall_now(p->wall_ctx));
    if (p->clock.segment == segment)
        return wall;
    pthread_mutex_lock(&p->mu);
    p->st.clock_steps++;
    p->st.clock_step_last_us = p->clock.step_us;
    pthread_mutex_unlock(&p->mu);
    char from[EMP_TIME_BUFSZ], to[EMP_TIME_BUFSZ];
    emp_warn("wall clock stepped; the time of the step is unknown",
             "step_s=%.3f last_before=%s first_after=%s", (double)p->clock.step_us / 1e6,
             emp_time_format(p->clock.step_from_us, from), emp_time_format(wall, to));
    return wall;
}

/* The wall clock stepped since t's last probe began: that probe's time is
 * an earlier segment's. What t was doing ends where that segment was last
 * vouched for: its span (an unknown mark), an outage it is in, its
 * detector's runs. Its live state is unknown until the probe beginning now
 * (at `wall`) is judged, and an outage still going on opens again from its
 * first failing probe after the step: no outage spans a step, and none
 * ends before it began. */
static void cross_step(struct emp_prober *p, struct ptarget *t, int64_t wall)
{
    int64_t end = t->last_start_us;
    if (t->segment + 1 == p->clock.segment && p->clock.step_from_us > end)
        end = p->clock.step_from_us;
    struct emp_result mark;
    memset(&mark, 0, sizeof mark);
    mark.status = EMP_STATUS_UNKNOWN;
    mark.started_at_us = end;
    push(p, EMP_EV_RESULT, t, &mark, 0);
    if (t->det.state == EMP_D_DOWN)
        close_unseen(p, t, end > t->last_result_us ? end : t->last_result_us,
                     "outage closed: the wall clock stepped");
    emp_detector_restart(&t->det);
    t->shown = EMP_TS_UNKNOWN;
    t->shown_since_us = wall;
    if (p->state != NULL)
        emp_state_update(p->state, t->index, EMP_TS_UNKNOWN, wall, t->last_result_us);
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
    int64_t wall = wall_at(p, now);
    bool crossed = t->segment != 0 && t->segment != p->clock.segment;
    if (crossed)
        cross_step(p, t, wall);
    if (now - due > p->max_lag_us) {
        /* Probed later than promised: the time since the last probe was not
         * watched at the target's rate. An unknown mark at the due time
         * ends the target's span there (a step ended it already); this
         * probe begins a new one. */
        struct emp_result late;
        memset(&late, 0, sizeof late);
        late.status = EMP_STATUS_UNKNOWN;
        late.started_at_us = emp_clockmap_at(&p->clock, due);
        if (!crossed)
            push(p, EMP_EV_RESULT, t, &late, 0);
        pthread_mutex_lock(&p->mu);
        p->st.late++;
        pthread_mutex_unlock(&p->mu);
    }
    memset(&pr->r, 0, sizeof pr->r);
    pr->deadline_passed = false;
    t->segment = p->clock.segment;
    t->last_start_us = wall;
    pr->r.started_at_us = wall;
    pr->started_mono_us = now;
    pr->in_flight = true;
    enum emp_err rc = tc->kind->start(pr, t->shared);
    if (rc != EMP_OK && pr->in_flight) {
        emp_probe_fail(pr, "internal", "could not start probe: %s", emp_strerror(rc));
        emp_probe_done(pr);
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
