/* The database writer thread: pops batches from the event queue, writes
 * each in one transaction, beats the run's heartbeat, and rides out a
 * database that is away by keeping the batch and retrying with backoff
 * (0.5 s doubling to 30 s). Only this thread touches its connection. */
#include "writer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "timeutil.h"

#define BACKOFF_MIN_US (500 * EMP_US_PER_MS)
#define BACKOFF_MAX_US (30 * EMP_US_PER_S)
#define POP_WAIT_MS 1000
#define FLUSH_MS 500 /* at most two transactions a second */
#define PARTITIONS_EVERY_US (6 * 3600 * EMP_US_PER_S)

struct emp_writer {
    pthread_t thread;
    pthread_mutex_t mu;      /* guards stopping and deadline */
    pthread_cond_t cv;       /* signalled by emp_writer_stop */
    bool stopping;
    int64_t deadline_mono_us;
    atomic_uint_fast64_t errors; /* read by emp_writer_errors from any thread */

    /* Owned by the thread. */
    char *conninfo;
    int64_t prober_id, run_id;
    struct emp_events *q;
    struct emp_write_state *state; /* spans and rollups between batches */
    struct emp_db *db;
    struct emp_event *pending, *pending_tail; /* the batch being written */
    size_t n_pending, n_pending_results;
    bool down; /* last logged state of the database */
    int64_t next_flush_us; /* monotonic: no write before this */
    int64_t next_partitions_us; /* monotonic: when to make partitions ahead */
};

static void free_list(struct emp_event *e)
{
    while (e != NULL) {
        struct emp_event *next = e->next;
        free(e);
        e = next;
    }
}

static void log_down(struct emp_writer *w, const char *what, const struct emp_error *err)
{
    if (w->down)
        return;
    char q1[300], q2[600];
    emp_warn("database unavailable; keeping events and retrying",
             "during=%s error=%s detail=%s pending=%zu", what,
             emp_log_quote(q1, sizeof q1, err->msg), emp_log_quote(q2, sizeof q2, err->detail),
             w->n_pending);
    w->down = true;
}

static void log_up(struct emp_writer *w)
{
    if (!w->down)
        return;
    emp_info("database available again", "written=%zu", w->n_pending);
    w->down = false;
}

/* The connection is gone: drop it so that the next round reconnects. */
static void drop_broken(struct emp_writer *w)
{
    if (w->db != NULL && !emp_db_ok(w->db)) {
        emp_db_close(w->db);
        w->db = NULL;
    }
}

/* Sleep `us` (bounded by the stop deadline once stopping), waking early
 * when a stop is requested. */
static void wait_us(struct emp_writer *w, int64_t us)
{
    pthread_mutex_lock(&w->mu);
    bool was_stopping = w->stopping;
    int64_t until = emp_mono_us() + us;
    if (w->stopping && w->deadline_mono_us < until)
        until = w->deadline_mono_us;
    for (;;) {
        int64_t now = emp_mono_us();
        if (now >= until || w->stopping != was_stopping)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t left = until - now;
        ts.tv_sec += (time_t)(left / EMP_US_PER_S);
        ts.tv_nsec += (long)(left % EMP_US_PER_S) * 1000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
}

static void backoff(struct emp_writer *w, int64_t *backoff_us)
{
    wait_us(w, *backoff_us);
    *backoff_us = *backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : *backoff_us * 2;
}

static void append(struct emp_writer *w, struct emp_event *list)
{
    for (struct emp_event *e = list; e != NULL; e = e->next) {
        w->n_pending++;
        if (e->kind == EMP_EV_RESULT)
            w->n_pending_results++;
        if (e->next == NULL) {
            if (w->pending_tail != NULL)
                w->pending_tail->next = list;
            else
                w->pending = list;
            w->pending_tail = e;
            break;
        }
    }
}

static void clear_pending(struct emp_writer *w)
{
    free_list(w->pending);
    w->pending = w->pending_tail = NULL;
    w->n_pending = w->n_pending_results = 0;
}

static const char *kind_name(enum emp_event_kind k)
{
    switch (k) {
    case EMP_EV_RESULT: return "result";
    case EMP_EV_OUTAGE_OPEN: return "outage_open";
    case EMP_EV_OUTAGE_CLOSE: return "outage_close";
    }
    return "unknown";
}

/* The database rejected the batch's data (e.g. a target deleted meanwhile):
 * write the events one by one and drop, loudly, only those rejected.
 * Returns EMP_OK when every event was written or dropped, else the error
 * that stopped it (the rest stays pending). */
static enum emp_err write_one_by_one(struct emp_writer *w, struct emp_error *err)
{
    while (w->pending != NULL) {
        struct emp_event *e = w->pending;
        struct emp_event *next = e->next;
        e->next = NULL;
        enum emp_err rc = emp_db_write_batch(w->db, w->prober_id, w->state, e, err);
        e->next = next;
        if (rc != EMP_OK && rc != EMP_EINVAL)
            return rc;
        if (rc == EMP_EINVAL) {
            atomic_fetch_add(&w->errors, 1);
            char q[600];
            emp_errorf("event rejected by the database; dropped",
                       "kind=%s target_id=%lld at_us=%lld detail=%s", kind_name(e->kind),
                       (long long)e->target_id, (long long)e->r.started_at_us,
                       emp_log_quote(q, sizeof q, err->detail));
        }
        w->pending = next;
        if (next == NULL)
            w->pending_tail = NULL;
        w->n_pending--;
        if (e->kind == EMP_EV_RESULT)
            w->n_pending_results--;
        free(e);
    }
    return EMP_OK;
}

static enum emp_err write_pending(struct emp_writer *w)
{
    struct emp_error err = {0};
    enum emp_err rc = emp_db_write_batch(w->db, w->prober_id, w->state, w->pending, &err);
    if (rc == EMP_EINVAL)
        rc = write_one_by_one(w, &err);
    if (rc == EMP_OK) {
        log_up(w);
        clear_pending(w);
        return EMP_OK;
    }
    atomic_fetch_add(&w->errors, 1);
    log_down(w, "write", &err);
    drop_broken(w);
    return rc;
}

static void heartbeat(struct emp_writer *w)
{
    struct emp_error err = {0};
    if (emp_db_heartbeat(w->db, w->run_id, emp_now_us(), &err) == EMP_OK) {
        log_up(w);
        return;
    }
    atomic_fetch_add(&w->errors, 1);
    log_down(w, "heartbeat", &err);
    drop_broken(w);
}

/* The rollups still held, at stop: one try, as the run's end is recorded. */
static void flush_rollups(struct emp_writer *w)
{
    size_t held = emp_write_state_pending_rollups(w->state);
    if (held == 0)
        return;
    struct emp_error err = {0};
    if (w->db != NULL && emp_db_ok(w->db) &&
        emp_db_flush_rollups(w->db, w->prober_id, w->state, &err) == EMP_OK)
        return;
    atomic_fetch_add(&w->errors, 1);
    char q[600];
    emp_errorf("writer stopping with unwritten rollups; their counts are lost",
               "hours=%zu detail=%s", held, emp_log_quote(q, sizeof q, err.detail));
}

/* The time partitions of the coming weeks, made ahead of the rows. Rows
 * without a partition land in the DEFAULT one, so a failure here costs
 * nothing but a warning. */
static void ensure_partitions(struct emp_writer *w)
{
    struct emp_error err = {0};
    int64_t now = emp_now_us();
    if (emp_db_ensure_partitions(w->db, now - 24 * 3600 * EMP_US_PER_S,
                                 now + 40 * 24 * 3600 * EMP_US_PER_S, &err) == EMP_OK)
        return;
    char q[600];
    emp_warn("could not create the coming time partitions", "detail=%s",
             emp_log_quote(q, sizeof q, err.detail));
    drop_broken(w);
}

static bool connect_db(struct emp_writer *w)
{
    struct emp_error err = {0};
    if (emp_db_connect(w->conninfo, &w->db, &err) == EMP_OK) {
        ensure_partitions(w);
        w->next_partitions_us = emp_mono_us() + PARTITIONS_EVERY_US;
        return w->db != NULL;
    }
    atomic_fetch_add(&w->errors, 1);
    log_down(w, "connect", &err);
    return false;
}

static void *writer_main(void *arg)
{
    struct emp_writer *w = arg;
    int64_t backoff_us = BACKOFF_MIN_US;
    int64_t next_beat = emp_mono_us() + EMP_HEARTBEAT_MS * EMP_US_PER_MS;

    for (;;) {
        pthread_mutex_lock(&w->mu);
        bool stopping = w->stopping;
        int64_t deadline = w->deadline_mono_us;
        pthread_mutex_unlock(&w->mu);
        bool done = emp_events_done(w->q);
        if (stopping && done && w->pending == NULL)
            break;
        if (stopping && emp_mono_us() >= deadline) {
            /* Bounded drain: the database stayed away. */
            size_t left = 0;
            struct emp_event *rest = emp_events_pop_all(w->q, 0, &left);
            free_list(rest);
            emp_errorf("writer stopping with unwritten events; they are lost",
                       "pending=%zu queued=%zu", w->n_pending, left);
            clear_pending(w);
            break;
        }
        if (w->db == NULL && !connect_db(w)) {
            backoff(w, &backoff_us);
            continue;
        }
        /* Results beyond the queue's cap stay in the queue, which drops
         * (and counts) the excess: the writer's memory stays bounded. */
        /* Gather for FLUSH_MS between writes: one transaction carries a
         * second's worth of results instead of one per wake-up. */
        if (!stopping && w->pending == NULL && emp_mono_us() < w->next_flush_us)
            wait_us(w, w->next_flush_us - emp_mono_us());
        if (w->n_pending_results < w->q->cap) {
            int64_t now = emp_mono_us();
            int wait_ms = 0;
            if (w->pending == NULL) {
                int64_t to_beat = (next_beat - now) / EMP_US_PER_MS;
                wait_ms = to_beat < 0 ? 0 : to_beat > POP_WAIT_MS ? POP_WAIT_MS : (int)to_beat;
            }
            if (done) {
                /* Closed and empty: nothing more will come but a stop. */
                if (w->pending == NULL && !stopping)
                    wait_us(w, (int64_t)wait_ms * EMP_US_PER_MS);
            } else {
                size_t n = 0;
                append(w, emp_events_pop_all(w->q, wait_ms, &n));
            }
        }
        if (w->pending != NULL) {
            if (write_pending(w) != EMP_OK) {
                backoff(w, &backoff_us);
                continue;
            }
            backoff_us = BACKOFF_MIN_US;
            w->next_flush_us = emp_mono_us() + (int64_t)FLUSH_MS * EMP_US_PER_MS;
        }
        if (w->db != NULL && emp_mono_us() >= w->next_partitions_us) {
            w->next_partitions_us = emp_mono_us() + PARTITIONS_EVERY_US;
            ensure_partitions(w);
        }
        if (w->db != NULL && emp_mono_us() >= next_beat) {
            next_beat = emp_mono_us() + EMP_HEARTBEAT_MS * EMP_US_PER_MS;
            heartbeat(w);
        }
    }

    flush_rollups(w);
    if (w->db != NULL && emp_db_ok(w->db)) {
        struct emp_error err = {0};
        if (emp_db_run_stop(w->db, w->run_id, emp_now_us(), &err) != EMP_OK) {
            char q[600];
            emp_warn("could not record the end of the run", "detail=%s",
                     emp_log_quote(q, sizeof q, err.detail));
        }
    }
    emp_db_close(w->db);
    w->db = NULL;
    return NULL;
}

static void writer_free(struct emp_writer *w)
{
    clear_pending(w);
    emp_write_state_free(w->state);
    emp_db_close(w->db);
    free(w->conninfo);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

enum emp_err emp_writer_start(const char *conninfo, int64_t prober_id,
                              int64_t run_id, struct emp_events *events,
                              struct emp_writer **out, struct emp_error *err)
{
    const char *what = "could not start the database writer";
    *out = NULL;
    struct emp_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    pthread_condattr_t ca;
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return emp_error_set(err, EMP_EIO, NULL, "%s", what);
    }
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return emp_error_set(err, EMP_EIO, NULL, "%s", what);
    }
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return emp_error_set(err, EMP_EIO, strerror(rc), "%s", what);
    }
    w->conninfo = strdup(conninfo != NULL ? conninfo : "");
    w->state = emp_write_state_new();
    w->prober_id = prober_id;
    w->run_id = run_id;
    w->q = events;
    atomic_init(&w->errors, 0);
    if (w->conninfo == NULL || w->state == NULL) {
        writer_free(w);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        writer_free(w);
        return emp_error_set(err, EMP_EIO, strerror(rc), "%s", what);
    }
    *out = w;
    return EMP_OK;
}

uint64_t emp_writer_errors(struct emp_writer *w)
{
    return atomic_load(&w->errors);
}

void emp_writer_stop(struct emp_writer *w, int drain_ms)
{
    if (w == NULL)
        return;
    emp_events_close(w->q);
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    w->deadline_mono_us = emp_mono_us() + (int64_t)(drain_ms > 0 ? drain_ms : 0) * EMP_US_PER_MS;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    writer_free(w);
}
