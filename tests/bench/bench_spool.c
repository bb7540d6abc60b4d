/* Benchmark: what the spool adds per event on the writer's path. Events
 * (1 in 100 failing, with a message) go through what the writer does with
 * each: numbered, encoded into records of up to 4,096 events, appended to
 * the spool, read back, CRC-checked and decoded, and the spool cleared as
 * the database takes it. The baseline, measured in the same run, is the
 * event queue every event already passed through before the spool existed
 * (emp_events_push + emp_events_pop_all + free). Also the spool's bytes per
 * event, and the cost with fdatasync once a second of events (the default
 * spool.fsync) at 10,000 events/s.
 *
 * usage: bench_spool [--events 2000000] [--dir DIR]
 * Ends with one line `BENCH spool ...`. Needs no database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/events.h"
#include "ingest/journal.h"
#include "ingest/spool.h"
#include "core/timeutil.h"

#define PER_RECORD 256 /* events per gathering: ~20 ms at 10k/s */

static void make_event(struct emp_event *e, long i)
{
    memset(e, 0, sizeof *e);
    e->kind = EMP_EV_RESULT;
    e->target_id = 1 + i % 10000;
    e->interval_ms = 1000;
    e->r.started_at_us = INT64_C(1767225600000000) + i * 100;
    e->r.latency_us = 900 + i % 300;
    if (i % 100 == 0) {
        e->r.status = EMP_STATUS_FAIL;
        strcpy(e->r.err_class, "refused");
        snprintf(e->r.message, sizeof e->r.message,
                 "could not connect to 127.0.0.1:%ld: Connection refused", 1024 + i % 60000);
    }
}

static double queue_ns(long n)
{
    struct emp_events q;
    if (emp_events_init(&q, (size_t)n + 1) != 0)
        return -1;
    struct emp_event e;
    int64_t t0 = emp_mono_us();
    for (long i = 0; i < n; i += PER_RECORD) {
        for (long k = i; k < i + PER_RECORD && k < n; k++) {
            make_event(&e, k);
            emp_events_push(&q, &e);
        }
        size_t got = 0;
        struct emp_event *l = emp_events_pop_all(&q, 0, &got);
        while (l != NULL) {
            struct emp_event *next = l->next;
            free(l);
            l = next;
        }
    }
    double ns = (double)(emp_mono_us() - t0) * 1000.0 / (double)n;
    emp_events_cleanup(&q);
    return ns;
}

/* The spool round trip; `sync_every` events between fdatasyncs (0: none). */
static double spool_ns(const char *path, long n, long sync_every, double *bytes_per_event)
{
    struct emp_spool *sp = NULL;
    struct emp_error err = {0};
    unlink(path);
    if (emp_spool_open(path, 0, &sp, NULL, &err) != EMP_OK) {
        fprintf(stderr, "bench_spool: %s: %s\n", err.msg, err.detail);
        return -1;
    }
    static struct emp_event ev[PER_RECORD];
    static unsigned char buf[1 << 20];
    uint64_t seq = 1, cursor = 0, bytes = 0;
    long since_sync = 0;
    int64_t t0 = emp_mono_us();
    for (long i = 0; i < n; i += PER_RECORD) {
        long m = n - i < PER_RECORD ? n - i : PER_RECORD;
        for (long k = 0; k < m; k++) {
            make_event(&ev[k], i + k);
            ev[k].next = k + 1 < m ? &ev[k + 1] : NULL;
        }
        struct emp_journal_head h = {.prober_id = 1, .run_id = 1, .first_seq = seq};
        size_t len = emp_journal_encode(&h, ev, (uint32_t)m, buf, sizeof buf);
        seq += (uint64_t)m;
        bytes += len + EMP_SPOOL_RECORD_OVERHEAD;
        if (len == 0 || emp_spool_append(sp, buf, len, &err) != EMP_OK)
            return -1;
        since_sync += m;
        if (sync_every > 0 && since_sync >= sync_every) {
            emp_spool_sync(sp, &err);
            since_sync = 0;
        }
        /* The writer reads back and decodes what it writes to the database,
         * and empties the spool once that has it all. */
        const void *p;
        size_t plen;
        while (emp_spool_read(sp, &cursor, &p, &plen, &err) == EMP_OK) {
            struct emp_journal_head got;
            struct emp_event *l = NULL;
            if (emp_journal_decode(p, plen, &got, &l, &err) != EMP_OK)
                return -1;
            while (l != NULL) {
                struct emp_event *next = l->next;
                free(l);
                l = next;
            }
        }
        if (seq % (60 * 10000) < (uint64_t)m) { /* about once a minute at 10k/s */
            emp_spool_clear(sp, &err);
            cursor = 0;
        }
    }
    double ns = (double)(emp_mono_us() - t0) * 1000.0 / (double)n;
    *bytes_per_event = (double)bytes / (double)n;
    emp_spool_close(sp);
    unlink(path);
    return ns;
}

int main(int argc, char **argv)
{
    long n = 2000000;
    const char *dir = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--events") == 0)
            n = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
    }
    if (n < PER_RECORD)
        n = PER_RECORD;
    char path[512];
    snprintf(path, sizeof path, "%s/empiric-bench-%d.spool", dir, (int)getpid());
    double bpe = 0, bpe2 = 0;
    double q = queue_ns(n);
    double s = spool_ns(path, n, 0, &bpe);
    double s_sync = spool_ns(path, n / 10, 10000, &bpe2);
    if (q < 0 || s < 0 || s_sync < 0)
        return 1;
    printf("events: %ld (1%% failing), records of %d events, spool in %s\n", n, PER_RECORD, dir);
    printf("queue (baseline):   %8.0f ns/event\n", q);
    printf("spool round trip:   %8.0f ns/event (%.2f x the queue), %.1f bytes/event\n", s, s / q,
           bpe);
    printf("  with fdatasync every 10,000 events: %8.0f ns/event\n", s_sync);
    printf("at 10,000 events/s the spool costs %.1f ms of CPU a second (%.2f%% of a core)\n",
           s * 10000 / 1e6, s * 10000 / 1e9 * 100);
    printf("BENCH spool events=%ld queue_ns=%.0f spool_ns=%.0f ratio=%.2f bytes_per_event=%.1f "
           "spool_sync_ns=%.0f\n",
           n, q, s, s / q, bpe, s_sync);
    return 0;
}
