/* The live state of each configured target: written by the probe loop, read
 * by the API threads. One mutex; readers take a copy and let go at once. */
#include "probes/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

/* The usual Prometheus spread from 5 ms to 10 s: a LAN probe lands in the
 * first buckets, a timeout in the last. */
const int64_t emp_state_latency_bounds_us[EMP_STATE_LATENCY_BUCKETS - 1] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};

const char *emp_tstate_name(enum emp_tstate s)
{
    switch (s) {
    case EMP_TS_UNKNOWN: return "unknown";
    case EMP_TS_UP: return "up";
    case EMP_TS_DOWN: return "down";
    case EMP_TS_DEGRADED: return "degraded";
    }
    return "unknown";
}

/* ---- the name table ---------------------------------------------------- */

/* FNV-1a: short names, no adversary that could not simply make targets. */
static size_t name_hash(const char *name)
{
    uint64_t h = 14695981039346656037u;
    for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++) {
        h ^= *c;
        h *= 1099511628211u;
    }
    return (size_t)h;
}

struct name_key {
    const struct emp_state *s;
    const char *name;
};

static bool name_is(size_t i, const void *ctx)
{
    const struct name_key *k = ctx;
    return strcmp(k->s->t[i].name, k->name) == 0;
}

/* The slot of `name`, or the empty one where it would go. */
static size_t slot_of(const struct emp_state *s, const char *name)
{
    struct name_key k = {s, name};
    return emp_slots_find(&s->by_name, name_hash(name), name_is, &k);
}

/* Enter every target into the name table anew, first grown for `want`
 * when it is smaller. Returns 0, or -1 when out of memory (the table
 * then as it was); never fails for want <= s->n after a success. */
static int index_names(struct emp_state *s, size_t want)
{
    if (emp_slots_reset(&s->by_name, want) != 0)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        s->by_name.v[slot_of(s, s->t[i].name)] = i + 1;
    return 0;
}

/* What a target's definition gives its status. */
static void define(struct emp_target_status *ts, const struct emp_target_config *tc)
{
    snprintf(ts->name, sizeof ts->name, "%s", tc->name ? tc->name : "");
    snprintf(ts->group, sizeof ts->group, "%s", tc->group ? tc->group : "");
    ts->kind = tc->kind;
    ts->interval_ms = tc->interval_ms;
}

int emp_state_init(struct emp_state *s, const struct emp_config *cfg,
                   const int64_t *ids)
{
    memset(s, 0, sizeof *s);
    size_t n = cfg != NULL ? cfg->n_targets : 0;
    if (n > 0) {
        s->t = calloc(n, sizeof *s->t);
        if (s->t == NULL)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct emp_target_status *ts = &s->t[i];
        define(ts, &cfg->targets[i]);
        ts->db_id = ids != NULL ? ids[i] : 0;
        ts->state = EMP_TS_UNKNOWN;
    }
    s->n = n;
    s->cap = n;
    if (index_names(s, n) != 0 || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s->t);
        emp_slots_free(&s->by_name);
        memset(s, 0, sizeof *s);
        return -1;
    }
    return 0;
}

long emp_state_add(struct emp_state *s, const struct emp_target_config *tc, int64_t db_id)
{
    long i = -1;
    pthread_mutex_lock(&s->mu);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct emp_target_status *t = realloc(s->t, cap * sizeof *t);
        if (t == NULL)
            goto out;
        s->t = t;
        s->cap = cap;
    }
    if (!emp_slots_room(&s->by_name, s->n + 1) && index_names(s, s->n + 1) != 0)
        goto out;
    struct emp_target_status *ts = &s->t[s->n];
    memset(ts, 0, sizeof *ts);
    define(ts, tc);
    ts->db_id = db_id;
    ts->state = EMP_TS_UNKNOWN;
    s->by_name.v[slot_of(s, ts->name)] = s->n + 1;
    i = (long)s->n++;
out:
    pthread_mutex_unlock(&s->mu);
    return i;
}

void emp_state_redefine(struct emp_state *s, size_t i, const struct emp_target_config *tc)
{
    pthread_mutex_lock(&s->mu);
    if (i < s->n) {
        bool renamed = strcmp(s->t[i].name, tc->name != NULL ? tc->name : "") != 0;
        define(&s->t[i], tc);
        /* The prober keeps a target's name; should it not, the table follows. */
        if (renamed)
            index_names(s, s->n);
    }
    pthread_mutex_unlock(&s->mu);
}

void emp_state_remove(struct emp_state *s, size_t i)
{
    pthread_mutex_lock(&s->mu);
    if (i < s->n) {
        memmove(&s->t[i], &s->t[i + 1], (s->n - i - 1) * sizeof *s->t);
        s->n--;
        index_names(s, s->n); /* no larger than it is: cannot fail */
    }
    pthread_mutex_unlock(&s->mu);
}

void emp_state_cleanup(struct emp_state *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->t);
    emp_slots_free(&s->by_name);
    s->t = NULL;
    s->n = 0;
    s->cap = 0;
}

void emp_state_update(struct emp_state *s, size_t i, enum emp_tstate st,
                      int64_t since_us, int64_t last_probe_us)
{
    pthread_mutex_lock(&s->mu);
    if (i < s->n) {
        struct emp_target_status *ts = &s->t[i];
        bool was_up = ts->state == EMP_TS_UP || ts->state == EMP_TS_DEGRADED;
        bool is_up = st == EMP_TS_UP || st == EMP_TS_DEGRADED;
        /* Degraded is still up for the streak: only down or unknown
         * breaks it. */
        if (!is_up)
            ts->up_since_us = 0;
        else if (!was_up || ts->up_since_us == 0)
            ts->up_since_us = since_us;
        if (ts->state != st || ts->since_us == 0) {
            ts->state = st;
            ts->since_us = since_us;
        }
        ts->last_probe_us = last_probe_us;
    }
    pthread_mutex_unlock(&s->mu);
}

void emp_state_record(struct emp_state *s, size_t i, enum emp_status status,
                      int64_t latency_us, bool outage_started)
{
    size_t b = 0;
    while (b < EMP_STATE_LATENCY_BUCKETS - 1 && latency_us > emp_state_latency_bounds_us[b])
        b++;
    if (latency_us < 0)
        latency_us = 0;
    pthread_mutex_lock(&s->mu);
    if (i < s->n) {
        struct emp_target_status *ts = &s->t[i];
        if ((unsigned)status < 3)
            ts->probes[status]++;
        if (outage_started)
            ts->outages++;
        ts->latency_hist[b]++;
        ts->latency_sum_us += latency_us;
    }
    pthread_mutex_unlock(&s->mu);
}

/* A status as shown at `now_us`: "unknown" when it has no result, or
 * none for two intervals (and a second of slack): the prober is gone or
 * behind, so we no longer know. Unknown since the last result we had. */
static void as_shown(struct emp_target_status *ts, int64_t now_us)
{
    int64_t stale_us = 2 * (int64_t)ts->interval_ms * EMP_US_PER_MS + EMP_US_PER_S;
    if (ts->last_probe_us == 0) {
        ts->state = EMP_TS_UNKNOWN;
        ts->since_us = 0;
        ts->up_since_us = 0;
    } else if (now_us - ts->last_probe_us > stale_us) {
        ts->state = EMP_TS_UNKNOWN;
        ts->since_us = ts->last_probe_us;
        ts->up_since_us = 0;
    }
}

size_t emp_state_count(struct emp_state *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool emp_state_find(struct emp_state *s, const char *name, int64_t now_us,
                    struct emp_target_status *out)
{
    bool found = false;
    pthread_mutex_lock(&s->mu);
    if (s->by_name.n > 0) {
        size_t k = s->by_name.v[slot_of(s, name)];
        if (k != 0) {
            *out = s->t[k - 1];
            found = true;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (found)
        as_shown(out, now_us);
    return found;
}

struct emp_target_status *emp_state_snapshot(struct emp_state *s,
                                             int64_t now_us, size_t *n)
{
    pthread_mutex_lock(&s->mu);
    size_t count = s->n;
    /* At least one element, so that NULL means only "out of memory". */
    struct emp_target_status *copy = malloc((count > 0 ? count : 1) * sizeof *copy);
    if (copy != NULL && count > 0)
        memcpy(copy, s->t, count * sizeof *copy);
    pthread_mutex_unlock(&s->mu);
    *n = 0;
    if (copy == NULL)
        return NULL;
    *n = count;
    for (size_t i = 0; i < count; i++)
        as_shown(&copy[i], now_us);
    return copy;
}
