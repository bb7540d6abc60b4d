/* The database writer: a thread with its own connection that takes the
 * probe loop's events, keeps them in the local spool until the database
 * has them, writes them in batches of one transaction each, and beats the
 * prober's heartbeat. The probe loop never waits for it. When the database
 * is away, events pile up in the spool (bounded: plain results are dropped
 * first, then failures, outage transitions never) and drain in order when
 * it is back; a process that dies leaves them there for the next start
 * (emp_writer_recover). */
#ifndef EMP_WRITER_H
#define EMP_WRITER_H

#include <stdint.h>

#include "config/config.h"
#include "store/db.h"
#include "core/err.h"
#include "ingest/events.h"
#include "ingest/spool.h"

struct emp_writer;

#define EMP_HEARTBEAT_MS 5000

struct emp_writer_opts {
    struct emp_spool *spool;  /* taken over (closed at stop); NULL: events
                                 wait in memory only, as many as the queue's
                                 cap */
    enum emp_fsync fsync;
};

/* Start the writer on `events` (borrowed; must outlive the writer). The
 * writer connects with `conninfo`, writes as `prober_id` and beats
 * `run_id`. `opts` may be NULL (no spool). */
enum emp_err emp_writer_start(const char *conninfo, int64_t prober_id,
                              int64_t run_id, struct emp_events *events,
                              const struct emp_writer_opts *opts,
                              struct emp_writer **out, struct emp_error *err);

/* Figures for /metrics (any thread). */
struct emp_writer_stats {
    uint64_t errors;          /* failed connections, batch writes, heartbeats
                                 (each retry counts) and events rejected */
    uint64_t unwritten;       /* events taken from the queue, not yet in the
                                 database */
    uint64_t spool_bytes;     /* size of the spool file (0 without one) */
    uint64_t dropped_results; /* dropped because the spool was full: */
    uint64_t dropped_failures;
    uint64_t spool_errors;    /* spool writes or syncs that failed */
    uint64_t memory_only_transitions; /* outage transitions memory alone holds
                                         now (the spool full or failing) */
    uint64_t lost_transitions_before; /* those the previous run held so when it
                                         ended: lost */
};
void emp_writer_stats(struct emp_writer *w, struct emp_writer_stats *out);
uint64_t emp_writer_errors(struct emp_writer *w);

/* Write what is queued (the caller has closed `events`), mark the run
 * stopped, join and free. Gives up on an unreachable database after
 * `drain_ms`: what is in the spool stays there for the next start, what
 * only memory held is lost (and logged). Accepts NULL. */
void emp_writer_stop(struct emp_writer *w, int drain_ms);

/* What emp_writer_recover did. */
struct emp_recovery {
    uint64_t records;   /* spool records read */
    uint64_t written;   /* events written now */
    uint64_t counted;   /* events whose rollups alone were missing */
    uint64_t skipped;   /* events the database had whole already */
    uint64_t rejected;  /* events the database refused (logged) */
};

/* Before a new run starts: write whatever earlier runs left in `sp` (in
 * order, each event at most once: see schema/005_spool_progress.sql), then
 * empty it. On error the spool keeps its records. */
enum emp_err emp_writer_recover(struct emp_db *db, struct emp_spool *sp,
                                struct emp_recovery *out, struct emp_error *err);

#endif
