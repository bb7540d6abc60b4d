/* The database writer thread. Events go from the queue into the spool at
 * once (numbered, one record per gathering), and from the spool to the
 * database in batches of one transaction each, at most twice a second; the
 * spool is emptied when the database has everything, rollups included. The
 * database away: connection retries back off from 0.5 s to 30 s while the
 * spool grows. A frozen database (no answer at all): a call is given up
 * after WRITER_CALL_MS, and while one waits the queue keeps going into the
 * spool. Only this thread touches its connection and the spool. */
#include "ingest/writer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/journal.h"
#include "core/log.h"
#include "core/timeutil.h"

#define BACKOFF_MIN_US (500 * EMP_US_PER_MS)
#define BACKOFF_MAX_US (30 * EMP_US_PER_S)
#define POP_WAIT_MS 1000
#define GATHER_MS 20    /* at most 50 spool appends a second */
#define FLUSH_MS 500    /* at most two transactions a second */
#define BATCH_EVENTS 5000
#define RECORD_BYTES_MAX (256u * 1024u)
#define PARTITIONS_EVERY_US (6 * 3600 * EMP_US_PER_S)
/* A call to the database without an answer this long (a frozen server) is
 * given up and the connection made again; meanwhile the spool keeps
 * taking events (while_waiting). Batches take well under a second. */
#define WRITER_CALL_MS (30 * 1000)
/* Once the database has every event, the spool is emptied (its rollups
 * written first) at most this often: sooner only when it is pressed. */
#define CLEAR_EVERY_US (5 * EMP_US_PER_S)

/* A list of events in order, with its counts. */
struct evlist {
    struct emp_event *head, *tail;
    size_t n, n_results;
};

struct emp_writer {
    pthread_t thread;
    pthread_mutex_t mu;      /* guards stopping and deadline */
    pthread_cond_t cv;       /* signalled by emp_writer_stop */
    bool stopping;
    int64_t deadline_mono_us;
    /* Read by emp_writer_stats from any thread. */
    atomic_uint_fast64_t errors, unwritten, spool_bytes, dropped_results, dropped_failures,
        spool_errors, memory_only, lost_before;

    /* Owned by the thread. */
    char *conninfo;
    int64_t prober_id, run_id;
    struct emp_events *q;
    struct emp_write_state *state; /* spans and rollups between batches */
    struct emp_db *db;
    struct emp_spool *sp;     /* NULL: memory only */
    enum emp_fsync fsync;
    bool dirty;               /* appended since the last sync */
    int64_t last_sync_us;
    uint64_t spool_max;       /* bytes */
    uint64_t next_seq;
    uint64_t cursor;          /* spool offset of the first record not written */
    struct evlist direct;     /* events memory alone holds; after every spooled one */
    struct evlist batch;      /* being written */
    uint64_t batch_end;       /* spool offset past the batch's records; 0: from direct */
    bool spool_failing;       /* logged */
    bool spool_pressed;       /* an append failed or had no room: empty it soon */
    uint32_t held_noted;      /* the count the spool's header holds */
    int64_t next_clear_us;    /* monotonic: no rollup flush to empty the spool before */
    bool down;                /* last logged state of the database */
    int64_t backoff_us;
    int64_t next_try_us;      /* monotonic: no connection or write before this */
    int64_t next_flush_us;    /* monotonic: no write before this */
    int64_t next_partitions_us;
    int64_t next_beat_us;
    unsigned char *enc;       /* a record being encoded */
};

/* ---- event lists ------------------------------------------------------- */

static void evlist_push(struct evlist *l, struct emp_event *e)
{
    e->next = NULL;
    if (l->tail != NULL)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->n++;
    if (e->kind == EMP_EV_RESULT)
        l->n_results++;
}

static struct emp_event *evlist_pop(struct evlist *l)
{
    struct emp_event *e = l->head;
    if (e == NULL)
        return NULL;
    l->head = e->next;
    if (l->head == NULL)
        l->tail = NULL;
    l->n--;
    if (e->kind == EMP_EV_RESULT)
        l->n_results--;
    e->next = NULL;
    return e;
}

static void evlist_splice(struct evlist *dst, struct emp_event *list)
{
    while (list != NULL) {
        struct emp_event *next = list->next;
        evlist_push(dst, list);
        list = next;
    }
}

static void evlist_free(struct evlist *l)
{
    struct emp_event *e = l->head;
    while (e != NULL) {
        struct emp_event *next = e->next;
        free(e);
        e = next;
    }
    *l = (struct evlist){0};
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

/* Write `l` as one batch, emptying it. When PostgreSQL rejects the data
 * (e.g. a target deleted meanwhile), the events go one by one and only
 * those rejected are dropped, loudly (counted in `*rejected`). On another
 * error the events not written stay in `l`: retry later. */
static enum emp_err write_list(struct emp_db *db, int64_t prober_id, struct emp_write_state *st,
                               struct evlist *l, uint64_t *rejected, struct emp_error *err)
{
    enum emp_err rc = emp_db_write_batch(db, prober_id, st, l->head, err);
    if (rc == EMP_OK) {
        evlist_free(l);
        return EMP_OK;
    }
    if (rc != EMP_EINVAL)
        return rc;
    while (l->head != NULL) {
        struct emp_event *e = l->head;
        struct emp_event *next = e->next;
        e->next = NULL;
        rc = emp_db_write_batch(db, prober_id, st, e, err);
        e->next = next;
        if (rc != EMP_OK && rc != EMP_EINVAL)
            return rc;
        if (rc == EMP_EINVAL) {
            (*rejected)++;
            char q[600];
            emp_errorf("event rejected by the database; dropped",
                       "kind=%s target_id=%lld at_us=%lld detail=%s", kind_name(e->kind),
                       (long long)e->target_id, (long long)e->r.started_at_us,
                       emp_log_quote(q, sizeof q, err->detail));
        }
        free(evlist_pop(l));
    }
    return EMP_OK;
}

/* ---- logging and waiting ------------------------------------------------ */

static void log_down(struct emp_writer *w, const char *what, const struct emp_error *err)
{
    if (w->down)
        return;
    char q1[300], q2[600];
    emp_warn("database unavailable; keeping events in the spool and retrying",
             "during=%s error=%s detail=%s unwritten=%llu", what,
             emp_log_quote(q1, sizeof q1, err->msg), emp_log_quote(q2, sizeof q2, err->detail),
             (unsigned long long)atomic_load(&w->unwritten));
    w->down = true;
}

static void log_up(struct emp_writer *w)
{
    if (!w->down)
        return;
    emp_info("database available again", "unwritten=%llu",
             (unsigned long long)atomic_load(&w->unwritten));
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

static void retry_later(struct emp_writer *w)
{
    w->next_try_us = emp_mono_us() + w->backoff_us;
    w->backoff_us = w->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : w->backoff_us * 2;
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

/* ---- into the spool ----------------------------------------------------- */

static void count_drop(struct emp_writer *w, const struct emp_event *e)
{
    if (e->kind == EMP_EV_RESULT && e->r.status == EMP_STATUS_FAIL)
        atomic_fetch_add(&w->dropped_failures, 1);
    else
        atomic_fetch_add(&w->dropped_results, 1);
}

/* Memory holds `e` alone (no spool, or the spool failed or is full). Its
 * results are bounded by the queue's cap; transitions are always kept. */
static void to_direct(struct emp_writer *w, struct emp_event *e)
{
    if (e->kind == EMP_EV_RESULT && w->direct.n_results >= w->q->cap) {
        count_drop(w, e);
        free(e);
        return;
    }
    evlist_push(&w->direct, e);
    atomic_fetch_add(&w->unwritten, 1);
}

/* Outage transitions (every event but a plain result) that memory alone
 * holds: counted for /metrics, logged when they begin and end, and noted
 * in the spool's header, so that the next start can say what a crash
 * lost. */
static void note_held(struct emp_writer *w)
{
    uint64_t held = (w->direct.n - w->direct.n_results) +
                    (w->batch_end == 0 ? w->batch.n - w->batch.n_results : 0);
    uint64_t before = atomic_exchange(&w->memory_only, held);
    if (held > 0 && before == 0)
        emp_warn("outage transitions held in memory alone (the spool is full or failing): "
                 "a crash now loses them", "events=%llu", (unsigned long long)held);
    else if (held == 0 && before > 0)
        emp_info("no outage transition is held in memory alone any more", NULL);
    uint32_t n = held > UINT32_MAX ? UINT32_MAX : (uint32_t)held;
    if (w->sp == NULL || n == w->held_noted)
        return;
    struct emp_error err = {0};
    if (emp_spool_set_held(w->sp, n, &err) == EMP_OK)
        w->held_noted = n;
    else
        atomic_fetch_add(&w->spool_errors, 1);
}

/* How full the spool may be for `e` to go in: plain results give way
 * first (at 3/4), then failures (at 9/10); transitions may fill it. */
static uint64_t spool_room_for(const struct emp_writer *w, const struct emp_event *e)
{
    if (e->kind != EMP_EV_RESULT)
        return w->spool_max;
    if (e->r.status == EMP_STATUS_OK || e->r.status == EMP_STATUS_DEGRADED)
        return w->spool_max / 4 * 3;
    return w->spool_max / 10 * 9;
}

/* Append the events of `chunk` as one record; on failure memory keeps
 * them (and every event after them, to keep the order). */
static void append_chunk(struct emp_writer *w, struct evlist *chunk)
{
    if (chunk->n == 0)
        return;
    struct emp_journal_head h = {.prober_id = w->prober_id, .run_id = w->run_id,
                                 .first_seq = chunk->head->seq};
    size_t len = emp_journal_encode(&h, chunk->head, (uint32_t)chunk->n, w->enc,
                                    RECORD_BYTES_MAX + 4096);
    struct emp_error err = {0};
    enum emp_err rc = len == 0 ? emp_error_set(&err, EMP_EINVAL, NULL, "record did not encode")
                               : emp_spool_append(w->sp, w->enc, len, &err);
    if (rc == EMP_OK) {
        atomic_fetch_add(&w->unwritten, chunk->n);
        atomic_store(&w->spool_bytes, emp_spool_bytes(w->sp));
        w->dirty = true;
        w->spool_failing = false;
        evlist_free(chunk);
        return;
    }
    w->spool_pressed = true;
    if (rc != EMP_ERANGE) {
        atomic_fetch_add(&w->spool_errors, 1);
        if (!w->spool_failing) {
            char q[600];
            char q2[600];
            emp_errorf("could not write to the spool; holding events in memory",
                       "error=%s detail=%s", emp_log_quote(q, sizeof q, err.msg),
                       emp_log_quote(q2, sizeof q2, err.detail));
            w->spool_failing = true;
        }
    }
    struct emp_event *e;
    while ((e = evlist_pop(chunk)) != NULL)
        to_direct(w, e);
}

/* Number the events of `list` and put them into the spool, dropping
 * (and counting) what a full spool has no room for. */
static void spool_events(struct emp_writer *w, struct emp_event *list)
{
    struct evlist chunk = {0};
    size_t chunk_bytes = 0;
    while (list != NULL) {
        struct emp_event *e = list;
        list = list->next;
        e->next = NULL;
        e->seq = w->next_seq++;
        if (w->sp == NULL || w->direct.n > 0) {
            to_direct(w, e);
            continue;
        }
        size_t size = emp_journal_event_size(e);
        uint64_t after = emp_spool_bytes(w->sp) + EMP_SPOOL_RECORD_OVERHEAD + 32 + chunk_bytes +
                         size;
        if (after > spool_room_for(w, e)) {
            w->spool_pressed = true;
            if (e->kind != EMP_EV_RESULT) {
                append_chunk(w, &chunk);
                chunk_bytes = 0;
                to_direct(w, e);
            } else {
                count_drop(w, e);
                free(e);
            }
            continue;
        }
        if (chunk.n == EMP_JOURNAL_MAX_EVENTS || chunk_bytes + size > RECORD_BYTES_MAX) {
            append_chunk(w, &chunk);
            chunk_bytes = 0;
            if (w->direct.n > 0) {
                to_direct(w, e);
                continue;
            }
        }
        evlist_push(&chunk, e);
        chunk_bytes += size;
    }
    append_chunk(w, &chunk);
    note_held(w);
}

static void sync_spool(struct emp_writer *w, bool now)
{
    if (w->sp == NULL || !w->dirty || w->fsync == EMP_FSYNC_NEVER)
        return;
    int64_t t = emp_mono_us();
    if (!now && w->fsync == EMP_FSYNC_SECOND && t - w->last_sync_us < EMP_US_PER_S)
        return;
    struct emp_error err = {0};
    if (emp_spool_sync(w->sp, &err) != EMP_OK) {
        atomic_fetch_add(&w->spool_errors, 1);
        char q[600];
        emp_errorf("could not sync the spool", "detail=%s",
                   emp_log_quote(q, sizeof q, err.detail));
    }
    w->dirty = false;
    w->last_sync_us = t;
}

/* ---- out of the spool ---------------------------------------------------- */

static bool spool_behind(const struct emp_writer *w)
{
    return w->sp != NULL && w->cursor < emp_spool_bytes(w->sp);
}

static bool has_unwritten(const struct emp_writer *w)
{
    return w->batch.n > 0 || w->direct.n > 0 || spool_behind(w);
}

/* The next batch: spooled records first, then what memory alone holds. */
static void build_batch(struct emp_writer *w)
{
    if (w->batch.n > 0)
        return;
    w->batch_end = 0;
    if (spool_behind(w)) {
        uint64_t off = w->cursor;
        while (w->batch.n < BATCH_EVENTS) {
            const void *p;
            size_t len;
            struct emp_error err = {0};
            enum emp_err rc = emp_spool_read(w->sp, &off, &p, &len, &err);
            if (rc == EMP_ENOTFOUND)
                break;
            if (rc != EMP_OK) {
                char q[600], q2[600];
                atomic_fetch_add(&w->spool_errors, 1);
                emp_errorf("could not read the spool; its unread records are lost",
                           "error=%s detail=%s", emp_log_quote(q, sizeof q, err.msg),
                           emp_log_quote(q2, sizeof q2, err.detail));
                off = emp_spool_bytes(w->sp);
                break;
            }
            struct emp_journal_head h;
            struct emp_event *events = NULL;
            rc = emp_journal_decode(p, len, &h, &events, &err);
            if (rc == EMP_OK && (h.prober_id != w->prober_id || h.run_id != w->run_id)) {
                evlist_free(&(struct evlist){.head = events});
                rc = emp_error_set(&err, EMP_EINVAL, "another run's record", "foreign record");
            }
            if (rc != EMP_OK) {
                atomic_fetch_add(&w->spool_errors, 1);
                emp_errorf("spool record dropped", "detail=%s", err.detail);
                continue;
            }
            evlist_splice(&w->batch, events);
        }
        w->batch_end = off;
        if (w->batch.n > 0 || off != w->cursor)
            return;
    }
    while (w->batch.n < BATCH_EVENTS && w->direct.n > 0)
        evlist_push(&w->batch, evlist_pop(&w->direct));
}

/* Everything written and every rollup with it: the spool starts over.
 * Rollups held for their next minute are written first, at most every
 * CLEAR_EVERY_US, or at once when the spool is past a quarter of its bound
 * or an append found no room: a spool on a small disk must not fill with
 * what the database already has. */
static void maybe_clear(struct emp_writer *w)
{
    if (w->sp == NULL || has_unwritten(w) || emp_spool_records(w->sp) == 0)
        return;
    struct emp_error err = {0};
    if (emp_write_state_pending_rollups(w->state) > 0) {
        if (emp_spool_bytes(w->sp) < w->spool_max / 4 && !w->spool_pressed &&
            emp_mono_us() < w->next_clear_us)
            return;
        if (emp_db_flush_rollups(w->db, w->prober_id, w->state, &err) != EMP_OK) {
            atomic_fetch_add(&w->errors, 1);
            drop_broken(w);
            return;
        }
    }
    if (emp_spool_clear(w->sp, &err) != EMP_OK) {
        atomic_fetch_add(&w->spool_errors, 1);
        char q[600];
        emp_errorf("could not clear the spool", "detail=%s",
                   emp_log_quote(q, sizeof q, err.detail));
        return;
    }
    w->cursor = EMP_SPOOL_HEADER_BYTES;
    w->spool_pressed = false;
    w->next_clear_us = emp_mono_us() + CLEAR_EVERY_US;
    atomic_store(&w->spool_bytes, emp_spool_bytes(w->sp));
}

/* Write one batch. False when the database failed (the batch is kept). */
static bool write_some(struct emp_writer *w)
{
    build_batch(w);
    size_t n = w->batch.n;
    struct emp_error err = {0};
    uint64_t rejected = 0;
    enum emp_err rc = write_list(w->db, w->prober_id, w->state, &w->batch, &rejected, &err);
    atomic_fetch_add(&w->errors, rejected);
    atomic_fetch_sub(&w->unwritten, n - w->batch.n);
    if (rc != EMP_OK) {
        atomic_fetch_add(&w->errors, 1);
        log_down(w, "write", &err);
        drop_broken(w);
        return false;
    }
    log_up(w);
    if (w->batch_end != 0)
        w->cursor = w->batch_end;
    note_held(w);
    maybe_clear(w);
    return true;
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

/* While a call waits on the database: keep taking the queue's events into
 * the spool (the probes do not wait, and a crash meanwhile loses nothing
 * that was spooled); give the call up once a stop's deadline has passed. */
static bool while_waiting(void *arg)
{
    struct emp_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    bool give_up = w->stopping && emp_mono_us() >= w->deadline_mono_us;
    pthread_mutex_unlock(&w->mu);
    if (give_up)
        return false;
    size_t n = 0;
    struct emp_event *list = emp_events_pop_all(w->q, 0, &n);
    if (list != NULL) {
        spool_events(w, list);
        sync_spool(w, w->fsync == EMP_FSYNC_ALWAYS);
    }
    return true;
}

static bool connect_db(struct emp_writer *w)
{
    struct emp_error err = {0};
    struct emp_db_limits lim = {.call_ms = WRITER_CALL_MS, .waiting = while_waiting,
                                .waiting_arg = w};
    if (emp_db_connect_limited(w->conninfo, &lim, &w->db, &err) == EMP_OK) {
        ensure_partitions(w);
        w->next_partitions_us = emp_mono_us() + PARTITIONS_EVERY_US;
        return w->db != NULL;
    }
    atomic_fetch_add(&w->errors, 1);
    log_down(w, "connect", &err);
    return false;
}

/* At stop: the held rollups (one try), then the spool is emptied when the
 * database has it all. Rollups that could not be written are not lost:
 * their events stay in the spool for the next start to count. */
static void finish(struct emp_writer *w)
{
    struct emp_error err = {0};
    size_t held = emp_write_state_pending_rollups(w->state);
    bool ok = w->db != NULL && emp_db_ok(w->db);
    if (held > 0 && ok && emp_db_flush_rollups(w->db, w->prober_id, w->state, &err) == EMP_OK)
        held = 0;
    if (held > 0) {
        atomic_fetch_add(&w->errors, 1);
        char q[600];
        if (w->sp != NULL)
            emp_warn("writer stopping with unwritten rollups; the next start counts them "
                     "from the spool", "hours=%zu detail=%s", held,
                     emp_log_quote(q, sizeof q, err.detail));
        else
            emp_errorf("writer stopping with unwritten rollups; their counts are lost",
                       "hours=%zu detail=%s", held, emp_log_quote(q, sizeof q, err.detail));
    }
    if (ok)
        maybe_clear(w);
    sync_spool(w, true);
    if (ok) {
        if (emp_db_run_stop(w->db, w->run_id, emp_now_us(), &err) != EMP_OK) {
            char q[600];
            emp_warn("could not record the end of the run", "detail=%s",
                     emp_log_quote(q, sizeof q, err.detail));
        }
    }
}

/* The stop deadline passed with the database away. */
static void give_up(struct emp_writer *w)
{
    size_t left = 0;
    struct emp_event *rest = emp_events_pop_all(w->q, 0, &left);
    spool_events(w, rest);
    uint64_t lost = w->direct.n + (w->batch_end == 0 ? w->batch.n : 0);
    uint64_t kept = atomic_load(&w->unwritten) - lost;
    if (kept > 0)
        emp_warn("writer stopping with unwritten events; they stay in the spool for the next "
                 "start", "events=%llu", (unsigned long long)kept);
    if (lost > 0)
        emp_errorf("writer stopping with events only memory held; they are lost",
                   "events=%llu", (unsigned long long)lost);
    if (w->batch_end == 0)
        evlist_free(&w->batch);
    evlist_free(&w->direct);
}

static void *writer_main(void *arg)
{
    struct emp_writer *w = arg;
    w->backoff_us = BACKOFF_MIN_US;
    w->next_beat_us = emp_mono_us() + EMP_HEARTBEAT_MS * EMP_US_PER_MS;

    for (;;) {
        pthread_mutex_lock(&w->mu);
        bool stopping = w->stopping;
        int64_t deadline = w->deadline_mono_us;
        pthread_mutex_unlock(&w->mu);
        bool done = emp_events_done(w->q);
        if (stopping && done && !has_unwritten(w))
            break;
        if (stopping && emp_mono_us() >= deadline) {
            give_up(w);
            break;
        }

        /* When the database is next worth a try, or the heartbeat due. */
        int64_t now = emp_mono_us();
        int64_t wake = w->next_beat_us;
        if (has_unwritten(w) || w->db == NULL) {
            int64_t t = w->next_try_us;
            if (w->db != NULL && !stopping && w->next_flush_us > t)
                t = w->next_flush_us;
            if (t < wake)
                wake = t;
        }
        int64_t sleep_us = wake > now ? wake - now : 0;
        if (!done) {
            int wait_ms = (int)(sleep_us / EMP_US_PER_MS);
            size_t n = 0;
            struct emp_event *list =
                emp_events_pop_all(w->q, wait_ms > POP_WAIT_MS ? POP_WAIT_MS : wait_ms, &n);
            spool_events(w, list);
            sync_spool(w, w->fsync == EMP_FSYNC_ALWAYS);
        } else if (sleep_us > 0) {
            wait_us(w, sleep_us > POP_WAIT_MS * EMP_US_PER_MS ? POP_WAIT_MS * EMP_US_PER_MS
                                                             : sleep_us);
        }

        now = emp_mono_us();
        if (now < w->next_try_us)
            continue;
        if (w->db == NULL && !connect_db(w)) {
            retry_later(w);
            continue;
        }
        bool wrote = false;
        if (has_unwritten(w) && (stopping || now >= w->next_flush_us)) {
            if (!write_some(w)) {
                retry_later(w);
                continue;
            }
            wrote = true;
            w->backoff_us = BACKOFF_MIN_US;
            /* A backlog (the database was away) drains batch after batch. */
            bool backlog = atomic_load(&w->unwritten) >= BATCH_EVENTS;
            w->next_flush_us = emp_mono_us() + (backlog ? 0 : (int64_t)FLUSH_MS * EMP_US_PER_MS);
        }
        if (w->db != NULL && !has_unwritten(w))
            maybe_clear(w);
        if (w->db != NULL && emp_mono_us() >= w->next_partitions_us) {
            w->next_partitions_us = emp_mono_us() + PARTITIONS_EVERY_US;
            ensure_partitions(w);
        }
        if (w->db != NULL && emp_mono_us() >= w->next_beat_us) {
            w->next_beat_us = emp_mono_us() + EMP_HEARTBEAT_MS * EMP_US_PER_MS;
            heartbeat(w);
        }
        if (w->db == NULL)
            retry_later(w);
        /* Let events gather: one spool record and one transaction carry
         * many of them. */
        if (!stopping && !wrote)
            wait_us(w, GATHER_MS * EMP_US_PER_MS);
    }

    finish(w);
    emp_db_close(w->db);
    w->db = NULL;
    return NULL;
}

static void writer_free(struct emp_writer *w)
{
    evlist_free(&w->batch);
    evlist_free(&w->direct);
    emp_write_state_free(w->state);
    emp_db_close(w->db);
    emp_spool_close(w->sp);
    free(w->enc);
    free(w->conninfo);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

enum emp_err emp_writer_start(const char *conninfo, int64_t prober_id,
                              int64_t run_id, struct emp_events *events,
                              const struct emp_writer_opts *opts,
                              struct emp_writer **out, struct emp_error *err)
{
    const char *what = "could not start the database writer";
    *out = NULL;
    struct emp_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        if (opts != NULL)
            emp_spool_close(opts->spool);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    if (opts != NULL) {
        w->sp = opts->spool;
        w->fsync = opts->fsync;
    }
    pthread_condattr_t ca;
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        emp_spool_close(w->sp);
        free(w);
        return emp_error_set(err, EMP_EIO, NULL, "%s", what);
    }
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&w->mu);
        emp_spool_close(w->sp);
        free(w);
        return emp_error_set(err, EMP_EIO, NULL, "%s", what);
    }
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        pthread_mutex_destroy(&w->mu);
        emp_spool_close(w->sp);
        free(w);
        return emp_error_set(err, EMP_EIO, strerror(rc), "%s", what);
    }
    w->conninfo = strdup(conninfo != NULL ? conninfo : "");
    w->state = emp_write_state_new();
    w->prober_id = prober_id;
    w->run_id = run_id;
    w->q = events;
    w->next_seq = 1;
    w->cursor = EMP_SPOOL_HEADER_BYTES;
    w->spool_max = w->sp != NULL && emp_spool_max_bytes(w->sp) > 0 ? emp_spool_max_bytes(w->sp)
                                                                  : UINT64_MAX;
    w->enc = w->sp != NULL ? malloc(RECORD_BYTES_MAX + 4096) : NULL;
    atomic_init(&w->errors, 0);
    atomic_init(&w->unwritten, 0);
    atomic_init(&w->spool_bytes, w->sp != NULL ? emp_spool_bytes(w->sp) : 0);
    atomic_init(&w->dropped_results, 0);
    atomic_init(&w->dropped_failures, 0);
    atomic_init(&w->spool_errors, 0);
    atomic_init(&w->memory_only, 0);
    atomic_init(&w->lost_before, 0);
    if (w->conninfo == NULL || w->state == NULL || (w->sp != NULL && w->enc == NULL)) {
        writer_free(w);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    if (w->sp != NULL && emp_spool_records(w->sp) > 0) {
        writer_free(w);
        return emp_error_set(err, EMP_EINVAL, "recover it first (emp_writer_recover)",
                             "%s: the spool holds an earlier run's events", what);
    }
    /* What the previous run held in memory alone when it ended is lost:
     * say so (once), and start counting afresh. */
    uint32_t lost = w->sp != NULL ? emp_spool_held(w->sp) : 0;
    if (lost > 0) {
        emp_warn("the previous run ended holding outage transitions in memory alone (its "
                 "spool was full or failing); they are lost, and the outages they began or "
                 "ended may be missing", "transitions=%u", lost);
        atomic_store(&w->lost_before, lost);
        struct emp_error e2 = {0};
        if (emp_spool_set_held(w->sp, 0, &e2) != EMP_OK)
            atomic_fetch_add(&w->spool_errors, 1);
    }
    emp_write_state_set_run(w->state, run_id);
    rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        writer_free(w);
        return emp_error_set(err, EMP_EIO, strerror(rc), "%s", what);
    }
    *out = w;
    return EMP_OK;
}

void emp_writer_stats(struct emp_writer *w, struct emp_writer_stats *out)
{
    out->errors = atomic_load(&w->errors);
    out->unwritten = atomic_load(&w->unwritten);
    out->spool_bytes = atomic_load(&w->spool_bytes);
    out->dropped_results = atomic_load(&w->dropped_results);
    out->dropped_failures = atomic_load(&w->dropped_failures);
    out->spool_errors = atomic_load(&w->spool_errors);
    out->memory_only_transitions = atomic_load(&w->memory_only);
    out->lost_transitions_before = atomic_load(&w->lost_before);
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

/* ---- recovery ----------------------------------------------------------- */

/* One earlier run's events being recovered. */
struct recover_run {
    int64_t prober_id, run_id;  /* 0: none yet */
    bool known;                 /* the run's row exists */
    uint64_t written, rolled;   /* its progress in the database */
    struct emp_write_state *st;
    struct evlist todo;         /* events the database has not had */
};

static enum emp_err recover_flush(struct emp_db *db, struct recover_run *r,
                                  struct emp_recovery *out, struct emp_error *err)
{
    if (r->st == NULL)
        return EMP_OK;
    size_t n = r->todo.n;
    enum emp_err rc = write_list(db, r->prober_id, r->st, &r->todo, &out->rejected, err);
    out->written += n - r->todo.n;
    return rc;
}

static enum emp_err recover_end_run(struct emp_db *db, struct recover_run *r,
                                    struct emp_recovery *out, struct emp_error *err)
{
    enum emp_err rc = recover_flush(db, r, out, err);
    if (rc == EMP_OK && r->st != NULL)
        rc = emp_db_flush_rollups(db, r->prober_id, r->st, err);
    evlist_free(&r->todo);
    emp_write_state_free(r->st);
    *r = (struct recover_run){0};
    return rc;
}

static enum emp_err recover_begin_run(struct emp_db *db, struct recover_run *r,
                                      const struct emp_journal_head *h, struct emp_error *err)
{
    r->prober_id = h->prober_id;
    r->run_id = h->run_id;
    r->st = emp_write_state_new();
    if (r->st == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not recover the spool");
    emp_write_state_set_run(r->st, h->run_id);
    enum emp_err rc = emp_db_run_progress(db, h->run_id, &r->written, &r->rolled, err);
    r->known = rc == EMP_OK;
    if (rc == EMP_ENOTFOUND) {
        emp_errorf("spool holds events of a run the database does not know; dropped",
                   "run=%lld", (long long)h->run_id);
        return EMP_OK;
    }
    return rc;
}

enum emp_err emp_writer_recover(struct emp_db *db, struct emp_spool *sp,
                                struct emp_recovery *out, struct emp_error *err)
{
    struct recover_run r = {0};
    uint64_t off = EMP_SPOOL_HEADER_BYTES;
    enum emp_err rc = EMP_OK;
    *out = (struct emp_recovery){0};
    for (;;) {
        const void *p;
        size_t len;
        rc = emp_spool_read(sp, &off, &p, &len, err);
        if (rc == EMP_ENOTFOUND) {
            rc = EMP_OK;
            break;
        }
        if (rc != EMP_OK)
            goto out;
        out->records++;
        struct emp_journal_head h;
        struct emp_event *events = NULL;
        struct emp_error derr = {0};
        rc = emp_journal_decode(p, len, &h, &events, &derr);
        if (rc == EMP_ENOMEM)
            goto out;
        if (rc != EMP_OK) {
            emp_errorf("spool record dropped", "detail=%s", derr.detail);
            rc = EMP_OK;
            continue;
        }
        if (r.st == NULL || h.run_id != r.run_id || h.prober_id != r.prober_id) {
            rc = recover_end_run(db, &r, out, err);
            if (rc == EMP_OK)
                rc = recover_begin_run(db, &r, &h, err);
            if (rc != EMP_OK) {
                evlist_free(&(struct evlist){.head = events});
                goto out;
            }
        }
        struct evlist count = {0};
        while (events != NULL) {
            struct emp_event *e = events;
            events = e->next;
            e->next = NULL;
            if (!r.known) {
                out->rejected++;
                free(e);
            } else if (e->seq <= r.rolled) {
                out->skipped++;
                free(e);
            } else if (e->seq <= r.written) {
                evlist_push(&count, e);
            } else {
                evlist_push(&r.todo, e);
            }
        }
        out->counted += count.n;
        bool counted = emp_write_state_count(r.st, count.head);
        evlist_free(&count);
        if (!counted) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "could not recover the spool");
            goto out;
        }
        if (r.todo.n >= BATCH_EVENTS && (rc = recover_flush(db, &r, out, err)) != EMP_OK)
            goto out;
    }
    rc = recover_end_run(db, &r, out, err);
    if (rc == EMP_OK)
        rc = emp_spool_clear(sp, err);
out:
    evlist_free(&r.todo);
    emp_write_state_free(r.st);
    return rc;
}
