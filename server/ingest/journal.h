/* The spool's records of events: a run of events from the probe loop as
 * the bytes of one spool record, and back. A record names the prober and
 * run it belongs to and the number (seq) of its first event; the events
 * that follow are numbered on from it. Decoding checks every field, so a
 * record that passed its CRC but was written by a different build (or
 * crafted) is refused, not trusted. */
#ifndef EMP_JOURNAL_H
#define EMP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ingest/events.h"

/* At most this many events per record. */
#define EMP_JOURNAL_MAX_EVENTS 4096

struct emp_journal_head {
    int64_t prober_id;
    int64_t run_id;
    uint64_t first_seq;
    uint32_t count;
};

/* Encoded size of one event. */
size_t emp_journal_event_size(const struct emp_event *ev);

/* Encode `n` events (from `first` along ->next) into `buf` of `cap` bytes,
 * numbering them from `head->first_seq` (head->count is set to n).
 * Returns the bytes used, 0 when they do not fit. */
size_t emp_journal_encode(const struct emp_journal_head *head, const struct emp_event *first,
                          uint32_t n, unsigned char *buf, size_t cap);

/* Decode a record: its head, and its events as a new list (free each node
 * with free()) with their seq set. EMP_EINVAL (with `err`) when the record
 * is malformed, EMP_ENOMEM. */
enum emp_err emp_journal_decode(const void *payload, size_t len, struct emp_journal_head *head,
                                struct emp_event **events, struct emp_error *err);

#endif
