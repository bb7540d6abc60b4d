/* The targets made through the API, kept in step between the store and the
 * prober: what the sync last read of each (by targets.id) is compared with
 * what the store holds now, and only the difference reaches the prober,
 * held to the policy of such targets as when they were made. */
#include "service/target.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/target.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "probes/policy.h"
#include "probes/prober.h"
#include "store/db.h"
#include "probes/kinds.h"

/* A call of the poll's connection without an answer this long is given
 * up (a frozen server); the next poll connects again. */
#define SYNC_CALL_MS 10000

/* What the sync last read of one target made through the API. */
struct known {
    int64_t id;
    char *definition; /* as the store held it (owned) */
    bool probed;      /* the prober has it from the sync */
};

struct emp_target_sync {
    const struct emp_config *cfg;
    struct emp_prober *p;
    struct known *known; /* by id */
    size_t n_known;
    int64_t changes;     /* the store's change counter at the last read */
    bool changes_read;   /* `changes` holds one, and `known` agrees with it */
    bool running;        /* the poll's thread runs: hand changes to the loop */
    /* The poll's thread and its connection. */
    char *conninfo;
    int interval_ms;
    struct emp_db *db;
    bool away;           /* the last poll could not reach the store */
    pthread_t thread;
    bool thread_on;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* on CLOCK_MONOTONIC */
    atomic_bool stop;
};

struct emp_target_sync *emp_target_sync_new(const struct emp_config *cfg, struct emp_prober *p)
{
    struct emp_target_sync *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->cfg = cfg;
    s->p = p;
    atomic_init(&s->stop, false);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    return s;
}

static void known_free(struct known *k, size_t n)
{
    for (size_t i = 0; k != NULL && i < n; i++)
        free(k[i].definition);
    free(k);
}

/* Read `t`'s definition into `tc` (true: to be probed), or say why it is
 * not probed (false; `*oom` when memory ran out). */
static bool usable(const struct emp_target_sync *s, const struct emp_api_target *t,
                   struct emp_target_config *tc, bool *oom)
{
    if (emp_config_find_target(s->cfg, t->name) >= 0) {
        emp_warn("target made through the API is in the configuration file too; "
                 "the file's definition is used",
                 "target=%s", t->name);
        return false;
    }
    char source[EMP_NAME_MAX + 64];
    snprintf(source, sizeof source, "targets.api_definition of %s", t->name);
    size_t nerrs = 0;
    enum emp_err e = emp_config_parse_target(t->definition, strlen(t->definition), source, NULL,
                                             &emp_probe_kinds, tc, stderr, &nerrs);
    bool valid = e == EMP_OK && strcmp(tc->name, t->name) == 0;
    /* Made before the policy was, or under a looser one: not probed now,
     * kept in the store for the operator to see. */
    enum emp_err pe = EMP_OK;
    if (valid) {
        tc->policy = &s->cfg->target_policy;
        pe = emp_policy_check_target(tc, source, stderr, &nerrs);
    }
    if (e == EMP_ENOMEM || pe == EMP_ENOMEM)
        *oom = true;
    else if (!valid)
        emp_warn("target made through the API no longer validates; not probed",
                 "target=%s problems=%zu", t->name, nerrs);
    else if (pe != EMP_OK)
        emp_warn("target made through the API is refused by api.target_policy; not probed",
                 "target=%s problems=%zu", t->name, nerrs);
    if (valid && pe == EMP_OK)
        return true;
    if (e == EMP_OK)
        emp_target_config_cleanup(tc);
    return false;
}

/* Put `tc` (NULL: remove) as target `id`: directly before the loop runs,
 * through its queue after. 0, or -1. */
static int hand_over(struct emp_target_sync *s, int64_t id, const struct emp_target_config *tc)
{
    if (s->running)
        return emp_prober_submit(s->p, id, tc, 0) < 0 ? -1 : 0;
    return tc != NULL ? emp_prober_put(s->p, id, tc) : emp_prober_remove(s->p, id);
}

/* Bring one target (`t` NULL: gone from the store) in step, `k` holding
 * what was known of it (NULL: nothing) and, on return, what is known now.
 * 0, or -1 when it could not be handed over (to be tried again). */
static int sync_one(struct emp_target_sync *s, const struct emp_api_target *t,
                    struct known *k, bool *oom)
{
    if (t != NULL && k->definition != NULL && strcmp(k->definition, t->definition) == 0)
        return 0;
    int rc = 0;
    struct emp_target_config tc;
    bool use = t != NULL && usable(s, t, &tc, oom);
    if (use) {
        rc = hand_over(s, t->id, &tc);
        emp_target_config_cleanup(&tc);
        if (rc == 0)
            k->probed = true;
    } else if (k->probed && !*oom) {
        rc = hand_over(s, k->id, NULL);
        if (rc == 0)
            k->probed = false;
    }
    if (t != NULL && rc == 0 && !*oom) {
        char *def = strdup(t->definition);
        if (def == NULL) {
            *oom = true;
        } else {
            free(k->definition);
            k->definition = def;
        }
    }
    return rc;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const struct emp_api_target *)a)->id, y = ((const struct emp_api_target *)b)->id;
    return (x > y) - (x < y);
}

/* Compare the store's `t` (sorted here by id) with what is known, and
 * bring the prober in step. EMP_OK when every difference was handed over. */
static enum emp_err sync_all(struct emp_target_sync *s, struct emp_api_target *t, size_t n,
                             struct emp_error *err)
{
    qsort(t, n, sizeof *t, by_id);
    struct known *next = calloc(n > 0 ? n : 1, sizeof *next);
    if (next == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
    size_t i = 0, j = 0, m = 0;
    bool oom = false;
    int failed = 0;
    /* Both sorted by id: walk them together. */
    while (i < n || j < s->n_known) {
        bool in_store = i < n && t[i].definition != NULL;
        if (i < n && !in_store) {
            i++;
            continue;
        }
        if (j < s->n_known && (i == n || s->known[j].id < t[i].id)) {
            /* Gone from the store. */
            struct known *k = &s->known[j++];
            if (sync_one(s, NULL, k, &oom) != 0) {
                /* Kept, to be removed at the next read. */
                next[m++] = (struct known){.id = k->id, .probed = k->probed};
                failed++;
            }
            continue;
        }
        struct known k = {.id = t[i].id};
        if (j < s->n_known && s->known[j].id == t[i].id) {
            k = s->known[j];
            s->known[j++].definition = NULL;
        }
        if (sync_one(s, &t[i], &k, &oom) != 0)
            failed++;
        next[m++] = k;
        i++;
    }
    known_free(s->known, s->n_known);
    s->known = next;
    s->n_known = m;
    if (oom)
        return emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
    if (failed > 0)
        return emp_error_set(err, EMP_ENOMEM, NULL,
                             "could not hand %d target change%s to the prober", failed,
                             failed == 1 ? "" : "s");
    return EMP_OK;
}

enum emp_err emp_target_sync_poll(struct emp_target_sync *s, struct emp_db *db,
                                  size_t *n_probed, struct emp_error *err)
{
    int64_t changes = 0;
    /* The counter first: a change committed after it was read moves it
     * again, so the next poll reads the targets once more. */
    enum emp_err rc = emp_db_api_target_changes(db, &changes, err);
    if (rc == EMP_OK && !(s->changes_read && changes == s->changes)) {
        struct emp_api_target *t = NULL;
        size_t n = 0;
        rc = emp_db_api_targets(db, &t, &n, err);
        if (rc == EMP_OK)
            rc = sync_all(s, t, n, err);
        emp_db_api_targets_free(t, n);
        /* After a failure the targets are read again at the next poll. */
        s->changes_read = rc == EMP_OK;
        s->changes = changes;
    }
    if (n_probed != NULL) {
        *n_probed = 0;
        for (size_t i = 0; i < s->n_known; i++)
            *n_probed += s->known[i].probed;
    }
    return rc;
}

/* ---- the poll's thread ------------------------------------------------ */

static bool keep_waiting(void *arg)
{
    return !atomic_load(&((struct emp_target_sync *)arg)->stop);
}

static void poll_once(struct emp_target_sync *s)
{
    struct emp_error err = {0};
    enum emp_err rc = EMP_OK;
    if (s->db != NULL && !emp_db_ok(s->db)) {
        emp_db_close(s->db);
        s->db = NULL;
    }
    if (s->db == NULL) {
        struct emp_db_limits lim = {.call_ms = SYNC_CALL_MS,
                                    .statement_timeout_ms = SYNC_CALL_MS / 2,
                                    .waiting = keep_waiting,
                                    .waiting_arg = s};
        rc = emp_db_connect_limited(s->conninfo, &lim, &s->db, &err);
    }
    if (rc == EMP_OK)
        rc = emp_target_sync_poll(s, s->db, NULL, &err);
    if (atomic_load(&s->stop))
        return;
    char q[300], q2[600];
    if (rc == EMP_EDB && !s->away)
        emp_warn("could not read the targets made through the API; trying again at the next "
                 "poll",
                 "every_ms=%d error=%s detail=%s", s->interval_ms,
                 emp_log_quote(q, sizeof q, err.msg), emp_log_quote(q2, sizeof q2, err.detail));
    else if (rc != EMP_OK && rc != EMP_EDB)
        emp_errorf("could not bring the targets made through the API in step; trying again at "
                   "the next poll",
                   "error=%s", emp_log_quote(q, sizeof q, err.msg));
    else if (rc == EMP_OK && s->away)
        emp_info("reading the targets made through the API again", NULL);
    s->away = rc == EMP_EDB;
}

static void *sync_main(void *arg)
{
    struct emp_target_sync *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stop)) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += s->interval_ms / 1000;
        until.tv_nsec += (long)(s->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!atomic_load(&s->stop) &&
               pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
        }
        if (atomic_load(&s->stop))
            break;
        pthread_mutex_unlock(&s->mu);
        poll_once(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

enum emp_err emp_target_sync_start(struct emp_target_sync *s, const char *conninfo,
                                   int interval_ms, struct emp_error *err)
{
    s->conninfo = strdup(conninfo != NULL ? conninfo : "");
    if (s->conninfo == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
    s->interval_ms = interval_ms > 0 ? interval_ms : EMP_TARGET_SYNC_MS;
    s->running = true;
    if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        s->running = false;
        return emp_error_set(err, EMP_ENOMEM, NULL,
                             "could not start the poll of the targets made through the API");
    }
    s->thread_on = true;
    return EMP_OK;
}

void emp_target_sync_free(struct emp_target_sync *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, true);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_on)
        pthread_join(s->thread, NULL);
    emp_db_close(s->db);
    known_free(s->known, s->n_known);
    free(s->conninfo);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
