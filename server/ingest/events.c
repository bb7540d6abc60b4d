/* The bounded hand-off from the probe loop to the writer: a linked list
 * under a mutex, a condition variable on the monotonic clock for the
 * writer's timed wait. Pushing allocates outside the lock and never waits
 * for anything but the (short) critical section. */
#include "ingest/events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int emp_events_init(struct emp_events *q, size_t cap)
{
    pthread_condattr_t ca;
    memset(q, 0, sizeof *q);
    q->cap = cap;
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        return -1;
    if (pthread_condattr_init(&ca) != 0)
        goto fail_mu;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&q->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail_mu;
    }
    pthread_condattr_destroy(&ca);
    return 0;
fail_mu:
    pthread_mutex_destroy(&q->mu);
    return -1;
}

void emp_events_cleanup(struct emp_events *q)
{
    struct emp_event *e = q->head;
    while (e != NULL) {
        struct emp_event *next = e->next;
        free(e);
        e = next;
    }
    q->head = q->tail = NULL;
    q->len = 0;
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

bool emp_events_push(struct emp_events *q, const struct emp_event *ev)
{
    struct emp_event *e = malloc(sizeof *e);
    if (e != NULL) {
        *e = *ev;
        e->next = NULL;
    }
    pthread_mutex_lock(&q->mu);
    /* Outage transitions are kept even past the cap (they are few and the
     * record of an outage must not be lost); results are not. */
    bool drop = e == NULL ||
                (ev->kind == EMP_EV_RESULT && (q->len >= q->cap || q->closed));
    if (drop) {
        q->dropped++;
    } else {
        /* The writer waits only on an empty queue: wake it on the first
         * event, not on every one. */
        if (q->tail != NULL) {
            q->tail->next = e;
        } else {
            q->head = e;
            pthread_cond_signal(&q->cv);
        }
        q->tail = e;
        q->len++;
    }
    pthread_mutex_unlock(&q->mu);
    if (drop) {
        free(e);
        return false;
    }
    return true;
}

struct emp_event *emp_events_pop_all(struct emp_events *q, int wait_ms, size_t *n)
{
    struct timespec deadline;
    struct emp_event *list;
    if (wait_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += wait_ms / 1000;
        deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&q->mu);
    while (wait_ms > 0 && q->head == NULL && !q->closed) {
        if (pthread_cond_timedwait(&q->cv, &q->mu, &deadline) == ETIMEDOUT)
            break;
    }
    list = q->head;
    *n = q->len;
    q->head = q->tail = NULL;
    q->len = 0;
    pthread_mutex_unlock(&q->mu);
    return list;
}

void emp_events_close(struct emp_events *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

bool emp_events_done(struct emp_events *q)
{
    pthread_mutex_lock(&q->mu);
    bool done = q->closed && q->head == NULL;
    pthread_mutex_unlock(&q->mu);
    return done;
}

void emp_events_counts(struct emp_events *q, size_t *len, uint64_t *dropped)
{
    pthread_mutex_lock(&q->mu);
    *len = q->len;
    *dropped = q->dropped;
    pthread_mutex_unlock(&q->mu);
}
