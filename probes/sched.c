/* A binary min-heap of caller-owned timers keyed by (due time, insertion
 * order). Each timer remembers its slot, so removal is O(log n). */
#include "probes/sched.h"

#include <stdlib.h>

static bool before(const struct emp_sched_slot *a, const struct emp_sched_slot *b)
{
    if (a->due_us != b->due_us)
        return a->due_us < b->due_us;
    return a->seq < b->seq;
}

static void place(struct emp_sched *s, size_t i, struct emp_sched_slot e)
{
    s->heap[i] = e;
    e.t->slot = i + 1;
}

static void sift_up(struct emp_sched *s, size_t i)
{
    struct emp_sched_slot e = s->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &s->heap[parent]))
            break;
        place(s, i, s->heap[parent]);
        i = parent;
    }
    place(s, i, e);
}

static void sift_down(struct emp_sched *s, size_t i)
{
    struct emp_sched_slot e = s->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= s->n)
            break;
        if (child + 1 < s->n && before(&s->heap[child + 1], &s->heap[child]))
            child++;
        if (!before(&s->heap[child], &e))
            break;
        place(s, i, s->heap[child]);
        i = child;
    }
    place(s, i, e);
}

void emp_sched_init(struct emp_sched *s)
{
    s->heap = NULL;
    s->n = 0;
    s->cap = 0;
    s->seq = 0;
}

void emp_sched_cleanup(struct emp_sched *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->heap[i].t->slot = 0;
    free(s->heap);
    emp_sched_init(s);
}

void emp_sched_remove(struct emp_sched *s, struct emp_timer *t)
{
    if (t->slot == 0)
        return;
    size_t i = t->slot - 1;
    t->slot = 0;
    s->n--;
    if (i == s->n)
        return;
    struct emp_sched_slot last = s->heap[s->n];
    place(s, i, last);
    if (i > 0 && before(&last, &s->heap[(i - 1) / 2]))
        sift_up(s, i);
    else
        sift_down(s, i);
}

int emp_sched_add(struct emp_sched *s, struct emp_timer *t, int64_t due_us)
{
    emp_sched_remove(s, t);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct emp_sched_slot *heap = realloc(s->heap, cap * sizeof *heap);
        if (heap == NULL)
            return -1;
        s->heap = heap;
        s->cap = cap;
    }
    t->due_us = due_us;
    t->seq = s->seq++;
    s->heap[s->n] = (struct emp_sched_slot){.due_us = due_us, .seq = t->seq, .t = t};
    s->n++;
    sift_up(s, s->n - 1);
    return 0;
}

struct emp_timer *emp_sched_peek(const struct emp_sched *s)
{
    return s->n ? s->heap[0].t : NULL;
}

struct emp_timer *emp_sched_pop_due(struct emp_sched *s, int64_t now_us)
{
    if (s->n == 0 || s->heap[0].due_us > now_us)
        return NULL;
    struct emp_timer *t = s->heap[0].t;
    emp_sched_remove(s, t);
    return t;
}

int64_t emp_sched_spread(size_t i, size_t n, int64_t interval_us)
{
    if (n == 0 || interval_us <= 0)
        return 0;
    /* i * interval / n without overflow for any realistic n and interval
     * (interval <= 1 day in microseconds, n <= 1e6). */
    return (int64_t)(((__int128)i * interval_us) / (__int128)n);
}
