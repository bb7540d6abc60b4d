/* The writer's state between batches (store/write.c): the span each target
 * is in and the rollups counted but not yet written, in small open-
 * addressing hash maps keyed by (target, hour). Internal to the store. */
#ifndef EMP_STORE_WRITE_STATE_H
#define EMP_STORE_WRITE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "store/db.h"

#define US_PER_HOUR INT64_C(3600000000)

/* A map of fixed-size slots, each starting with its key. Spans are keyed by
 * target (hour 0), rollups by target and hour. */
/* A small open-addressing hash map of fixed-size slots, each starting with
 * its key. Spans are keyed by target (hour 0), rollups by target and hour. */
struct slot_key {
    int64_t target_id, hour_us;
    bool used;
};

struct slot_map {
    unsigned char *slots;
    size_t cap, n; /* cap is 0 or a power of two */
    size_t size;   /* bytes per slot, a struct starting with struct slot_key */
};

/* What the writer remembers of a target: the span it is in, and which
 * failure it stored last (so a repeated message is stored once). */
struct span_ent {
    struct slot_key k;
    int64_t start_us, end_us, grace_us;
    bool has_span; /* start/end are meaningful */
    bool has_fail; /* fail_hash and fail_month are meaningful */
    uint64_t fail_hash; /* of the last failure's class and message */
    int64_t fail_month; /* UTC month (months since 1970) of that failure */
};

/* A target's counts for one hour not yet written. */
struct roll_ent {
    struct slot_key k;
    int64_t ok, degraded, fail, sum, max;
    int64_t hist[EMP_HIST_BUCKETS];
};

struct emp_write_state {
    struct slot_map spans;  /* of struct span_ent */
    struct slot_map rolls;  /* of struct roll_ent: counted, not yet written */
    int64_t flush_us;       /* rollups are written at least this often */
    int64_t last_flush_us;  /* result time of the last write (0: none yet) */
    int64_t latest_us;      /* latest result time counted */
    int64_t compacted_day;  /* days before this one (since the epoch) are compacted */
    int64_t run_id;         /* 0: events carry no numbers, no progress kept */
    uint64_t counted_seq;   /* the held rollups count every result up to this */
};

/* The start of the UTC hour holding `us`. */
int64_t ws_floor_hour(int64_t us);

/* Slot i of the map (used or not). */
static inline struct slot_key *ws_slot_at(const struct slot_map *m, size_t i)
{
    return (struct slot_key *)(void *)(m->slots + i * m->size);
}
/* The entry for (id, hour), or NULL. */
void *ws_map_find(const struct slot_map *m, int64_t id, int64_t hour);
/* Make room for `extra` more entries at a load of at most 1/2. */
bool ws_map_reserve(struct slot_map *m, size_t extra);
/* The entry for (id, hour), made zeroed when missing (`*created`); NULL
 * when out of memory. */
void *ws_map_put(struct slot_map *m, int64_t id, int64_t hour, bool *created);
void ws_map_clear(struct slot_map *m);
void ws_map_free(struct slot_map *m);
/* `dst` := a copy of `src`; false when out of memory. */
bool ws_map_copy(struct slot_map *dst, const struct slot_map *src);

/* Count the RESULT events of `events` into `m` (of struct roll_ent); false
 * when out of memory. */
bool ws_count_results(struct slot_map *m, const struct emp_event *events);
/* Count events and results, and raise `*max_seq`, `*first_us` (down) and
 * `*last_us` (up) to the events' numbers and result times. */
void ws_scan(const struct emp_event *events, size_t *n_all, size_t *n_res, uint64_t *max_seq,
             int64_t *first_us, int64_t *last_us);

#endif
