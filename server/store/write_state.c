/* The writer's state between batches (store/write_state.h): its maps, and
 * counting results into the held rollups. */
#include "store/write_state.h"

#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

int64_t ws_floor_hour(int64_t us)
{
    int64_t r = us % US_PER_HOUR;
    return r < 0 ? us - r - US_PER_HOUR : us - r;
}



static size_t hash_key(int64_t a, int64_t b)
{
    uint64_t x = (uint64_t)a ^ ((uint64_t)b * UINT64_C(0x9e3779b97f4a7c15));
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x;
}

void *ws_map_find(const struct slot_map *m, int64_t id, int64_t hour)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = hash_key(id, hour) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct slot_key *k = ws_slot_at(m, i);
        if (!k->used)
            return NULL;
        if (k->target_id == id && k->hour_us == hour)
            return k;
    }
}

/* Make room for `extra` more entries at a load of at most 1/2. */
bool ws_map_reserve(struct slot_map *m, size_t extra)
{
    if ((m->n + extra) * 2 <= m->cap)
        return true;
    size_t cap = m->cap ? m->cap : 16;
    while ((m->n + extra) * 2 > cap)
        cap *= 2;
    unsigned char *slots = calloc(cap, m->size);
    if (slots == NULL)
        return false;
    for (size_t j = 0; j < m->cap; j++) {
        const struct slot_key *k = ws_slot_at(m, j);
        if (!k->used)
            continue;
        size_t i = hash_key(k->target_id, k->hour_us) & (cap - 1);
        while (((struct slot_key *)(void *)(slots + i * m->size))->used)
            i = (i + 1) & (cap - 1);
        memcpy(slots + i * m->size, k, m->size);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

/* The entry for the key, inserted (zeroed) when missing; NULL when out of
 * memory. Pointers die at the next insertion that grows the map. */
void *ws_map_put(struct slot_map *m, int64_t id, int64_t hour, bool *created)
{
    void *f = ws_map_find(m, id, hour);
    *created = false;
    if (f != NULL)
        return f;
    if (!ws_map_reserve(m, 1))
        return NULL;
    size_t i = hash_key(id, hour) & (m->cap - 1);
    while (ws_slot_at(m, i)->used)
        i = (i + 1) & (m->cap - 1);
    struct slot_key *k = ws_slot_at(m, i);
    memset(k, 0, m->size);
    k->used = true;
    k->target_id = id;
    k->hour_us = hour;
    m->n++;
    *created = true;
    return k;
}

void ws_map_clear(struct slot_map *m)
{
    if (m->cap > 0)
        memset(m->slots, 0, m->cap * m->size);
    m->n = 0;
}

void ws_map_free(struct slot_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}




struct emp_write_state *emp_write_state_new(void)
{
    struct emp_write_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->spans.size = sizeof(struct span_ent);
    st->rolls.size = sizeof(struct roll_ent);
    st->flush_us = EMP_ROLLUP_FLUSH_MS * EMP_US_PER_MS;
    return st;
}

void emp_write_state_set_rollup_flush(struct emp_write_state *st, int64_t flush_ms)
{
    st->flush_us = flush_ms > 0 ? flush_ms * EMP_US_PER_MS : 0;
}

void emp_write_state_set_run(struct emp_write_state *st, int64_t run_id)
{
    st->run_id = run_id;
}

size_t emp_write_state_pending_rollups(const struct emp_write_state *st)
{
    return st->rolls.n;
}

void emp_write_state_free(struct emp_write_state *st)
{
    if (st == NULL)
        return;
    ws_map_free(&st->spans);
    ws_map_free(&st->rolls);
    free(st);
}

/* Count the RESULT events of `events` into `m` (of struct roll_ent). */
bool ws_count_results(struct slot_map *m, const struct emp_event *events)
{
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        if (ev->kind != EMP_EV_RESULT)
            continue;
        const struct emp_result *r = &ev->r;
        if (r->status == EMP_STATUS_UNKNOWN)
            continue; /* not an observation */
        bool created;
        struct roll_ent *acc = ws_map_put(m, ev->target_id, ws_floor_hour(r->started_at_us), &created);
        if (acc == NULL)
            return false;
        if (r->status == EMP_STATUS_FAIL) {
            acc->fail++;
            continue;
        }
        if (r->status == EMP_STATUS_DEGRADED)
            acc->degraded++;
        else
            acc->ok++;
        int64_t lat = r->latency_us > 0 ? r->latency_us : 0;
        acc->sum += lat;
        if (lat > acc->max)
            acc->max = lat;
        acc->hist[emp_hist_bucket(lat)]++;
    }
    return true;
}

/* Count events and results, and raise `*max_seq`, `*first_us` (down) and
 * `*last_us` (up) to the events' numbers and result times. */
void ws_scan(const struct emp_event *events, size_t *n_all, size_t *n_res, uint64_t *max_seq,
                 int64_t *first_us, int64_t *last_us)
{
    for (const struct emp_event *ev = events; ev != NULL; ev = ev->next) {
        (*n_all)++;
        if (ev->seq > *max_seq)
            *max_seq = ev->seq;
        if (ev->kind != EMP_EV_RESULT)
            continue;
        (*n_res)++;
        if (ev->r.started_at_us < *first_us)
            *first_us = ev->r.started_at_us;
        if (ev->r.started_at_us > *last_us)
            *last_us = ev->r.started_at_us;
    }
}

bool ws_map_copy(struct slot_map *dst, const struct slot_map *src)
{
    *dst = (struct slot_map){.size = src->size};
    if (src->cap == 0)
        return true;
    dst->slots = malloc(src->cap * src->size);
    if (dst->slots == NULL)
        return false;
    memcpy(dst->slots, src->slots, src->cap * src->size);
    dst->cap = src->cap;
    dst->n = src->n;
    return true;
}

bool emp_write_state_count(struct emp_write_state *st, const struct emp_event *events)
{
    int64_t first_us = INT64_MAX, last_us = INT64_MIN;
    uint64_t seq = st->counted_seq;
    size_t n_all = 0, n_res = 0;
    ws_scan(events, &n_all, &n_res, &seq, &first_us, &last_us);
    if (!ws_map_reserve(&st->rolls, n_res))
        return false;
    ws_count_results(&st->rolls, events); /* room was made: cannot fail */
    if (n_res > 0) {
        if (st->last_flush_us == 0)
            st->last_flush_us = first_us;
        if (last_us > st->latest_us)
            st->latest_us = last_us;
    }
    st->counted_seq = seq;
    return true;
}
