/* Timers in a binary min-heap keyed by monotonic due time: O(log n) start,
 * stop and pop, O(1) peek. The caller allocates each timer (libuv style); a
 * timer knows its heap slot so stopping it needs no search. */
#ifndef EMP_SCHED_H
#define EMP_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct emp_timer;
typedef void (*emp_timer_fn)(struct emp_timer *t);

struct emp_timer {
    int64_t due_us;     /* monotonic */
    uint64_t seq;       /* insertion order: ties fire first-in first-out */
    size_t slot;        /* index in the heap + 1; 0 when not scheduled */
    emp_timer_fn cb;
    void *data;
};

/* A heap slot holds the timer's key beside the pointer: sifting compares
 * neighbouring slots in one array instead of following a pointer per
 * comparison into timers spread over every target's memory (at 10,000
 * targets those misses were a visible share of a probe's CPU). */
struct emp_sched_slot {
    int64_t due_us;
    uint64_t seq;
    struct emp_timer *t;
};

struct emp_sched {
    struct emp_sched_slot *heap;
    size_t n, cap;
    uint64_t seq;
};

void emp_sched_init(struct emp_sched *s);
void emp_sched_cleanup(struct emp_sched *s);

/* Schedule (or reschedule) `t` at `due_us`. Returns 0 or -1 (no memory). */
int emp_sched_add(struct emp_sched *s, struct emp_timer *t, int64_t due_us);
/* Unschedule `t` if scheduled. */
void emp_sched_remove(struct emp_sched *s, struct emp_timer *t);
/* The earliest timer without removing it, or NULL. */
struct emp_timer *emp_sched_peek(const struct emp_sched *s);
/* Remove and return the earliest timer if due at `now_us`, else NULL. */
struct emp_timer *emp_sched_pop_due(struct emp_sched *s, int64_t now_us);

static inline bool emp_timer_active(const struct emp_timer *t)
{
    return t->slot != 0;
}

/* First-probe offset of target i of n sharing `interval_us`: spreads them
 * evenly over the interval so that they do not fire in the same
 * millisecond. */
int64_t emp_sched_spread(size_t i, size_t n, int64_t interval_us);

#endif
