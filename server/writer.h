/* The database writer: a thread with its own connection that takes batches
 * of events from the probe loop, writes them in one transaction each, and
 * beats the prober's heartbeat. When the database is away it keeps the batch
 * and retries with backoff; the probe loop never waits for it. */
#ifndef EMP_WRITER_H
#define EMP_WRITER_H

#include <stdint.h>

#include "err.h"
#include "events.h"

struct emp_writer;

#define EMP_HEARTBEAT_MS 5000

/* Start the writer on `events` (borrowed; must outlive the writer). The
 * writer connects with `conninfo`, writes as `prober_id` and beats
 * `run_id`. */
enum emp_err emp_writer_start(const char *conninfo, int64_t prober_id,
                              int64_t run_id, struct emp_events *events,
                              struct emp_writer **out, struct emp_error *err);

/* Failed database operations of the writer since start: connections,
 * batch writes and heartbeats that failed (each retry counts) and events
 * the database rejected. Any thread. */
uint64_t emp_writer_errors(struct emp_writer *w);

/* Drain what is queued (the caller has closed `events`), mark the run
 * stopped, join and free. Gives up on an unreachable database after
 * `drain_ms`. Accepts NULL. */
void emp_writer_stop(struct emp_writer *w, int drain_ms);

#endif
