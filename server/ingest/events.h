/* The bounded hand-off from the probe loop to the database writer. The loop
 * pushes without ever waiting on the database; the writer pops batches.
 * Outage transitions are never dropped; plain results are dropped (and
 * counted) only when the queue is over its cap. */
#ifndef EMP_EVENTS_H
#define EMP_EVENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"



struct emp_events {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct emp_event *head, *tail;
    size_t len;
    size_t cap;            /* results beyond this are dropped */
    uint64_t dropped;      /* results dropped since start */
    bool closed;
};

/* Initialise with a cap on queued results. Returns 0 or -1. */
int emp_events_init(struct emp_events *q, size_t cap);
/* Free anything still queued. */
void emp_events_cleanup(struct emp_events *q);

/* Push a copy of `ev` (the queue allocates). Never blocks on I/O. Returns
 * false when the event was dropped and counted: a RESULT when the queue
 * holds `cap` events or is closed, any event when out of memory. Outage
 * events are accepted past the cap and after close. */
bool emp_events_push(struct emp_events *q, const struct emp_event *ev);

/* Take everything queued, waiting up to `wait_ms` for the first item. Returns
 * the list (caller frees each node with free()) or NULL; `*n` gets the count.
 * Returns NULL at once when the queue is closed and empty. */
struct emp_event *emp_events_pop_all(struct emp_events *q, int wait_ms, size_t *n);

/* How many events are queued now and how many results were dropped since
 * start (any thread). */
void emp_events_counts(struct emp_events *q, size_t *len, uint64_t *dropped);

/* No more pushes; wakes the writer so it can drain and stop. */
void emp_events_close(struct emp_events *q);

/* True when the queue is closed and empty: the writer may stop. */
bool emp_events_done(struct emp_events *q);

#endif
