/* Event records of the spool: see journal.h. Little-endian, fixed-width
 * fields, texts with their lengths; no padding, no pointers. */
#include "ingest/journal.h"

#include <stdlib.h>
#include <string.h>

#define FORMAT 1u
#define HEAD_BYTES 32
#define EVENT_FIXED 36 /* kind, status, class length, 0, message length,
                          interval, target, started, latency */

static void put_le(unsigned char *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *b, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static bool carries_text(const struct emp_event *ev)
{
    return ev->kind == EMP_EV_OUTAGE_OPEN ||
           (ev->kind == EMP_EV_RESULT && ev->r.status == EMP_STATUS_FAIL);
}

/* Lengths of the texts as stored: bounded by their fields. */
static void text_lens(const struct emp_event *ev, size_t *cls, size_t *msg)
{
    *cls = *msg = 0;
    if (!carries_text(ev))
        return;
    *cls = strnlen(ev->r.err_class, EMP_ERRCLASS_MAX - 1);
    *msg = strnlen(ev->r.message, EMP_ERRMSG_MAX - 1);
}

size_t emp_journal_event_size(const struct emp_event *ev)
{
    size_t cls, msg;
    text_lens(ev, &cls, &msg);
    return EVENT_FIXED + (ev->kind == EMP_EV_OUTAGE_CLOSE ? 8 : 0) + cls + msg;
}

size_t emp_journal_encode(const struct emp_journal_head *head, const struct emp_event *first,
                          uint32_t n, unsigned char *buf, size_t cap)
{
    if (cap < HEAD_BYTES || n > EMP_JOURNAL_MAX_EVENTS)
        return 0;
    unsigned char *p = buf;
    put_le(p, FORMAT, 1);
    put_le(p + 1, 0, 3);
    put_le(p + 4, n, 4);
    put_le(p + 8, (uint64_t)head->prober_id, 8);
    put_le(p + 16, (uint64_t)head->run_id, 8);
    put_le(p + 24, head->first_seq, 8);
    size_t used = HEAD_BYTES;
    const struct emp_event *ev = first;
    for (uint32_t i = 0; i < n; i++, ev = ev->next) {
        if (ev == NULL)
            return 0;
        size_t need = emp_journal_event_size(ev), cls, msg;
        if (need > cap - used)
            return 0;
        text_lens(ev, &cls, &msg);
        p = buf + used;
        put_le(p, (uint64_t)ev->kind, 1);
        put_le(p + 1, (uint64_t)ev->r.status, 1);
        put_le(p + 2, cls, 1);
        put_le(p + 3, 0, 1);
        put_le(p + 4, msg, 2);
        put_le(p + 6, (uint64_t)(uint32_t)ev->interval_ms, 4);
        put_le(p + 10, (uint64_t)ev->target_id, 8);
        put_le(p + 18, (uint64_t)ev->r.started_at_us, 8);
        put_le(p + 26, (uint64_t)ev->r.latency_us, 8);
        /* p + 34: two bytes kept zero (room for flags) */
        put_le(p + 34, 0, 2);
        p += EVENT_FIXED;
        if (ev->kind == EMP_EV_OUTAGE_CLOSE) {
            put_le(p, (uint64_t)ev->outage_started_at_us, 8);
            p += 8;
        }
        memcpy(p, ev->r.err_class, cls);
        memcpy(p + cls, ev->r.message, msg);
        used += need;
    }
    return used;
}

static void free_events(struct emp_event *e)
{
    while (e != NULL) {
        struct emp_event *next = e->next;
        free(e);
        e = next;
    }
}

enum emp_err emp_journal_decode(const void *payload, size_t len, struct emp_journal_head *head,
                                struct emp_event **events, struct emp_error *err)
{
    const unsigned char *b = payload;
    const char *bad = NULL;
    struct emp_event *list = NULL, **tail = &list;
    *events = NULL;
    if (len < HEAD_BYTES || get_le(b, 1) != FORMAT || get_le(b + 1, 3) != 0) {
        bad = "not an event record of format 1";
        goto out;
    }
    head->count = (uint32_t)get_le(b + 4, 4);
    head->prober_id = (int64_t)get_le(b + 8, 8);
    head->run_id = (int64_t)get_le(b + 16, 8);
    head->first_seq = get_le(b + 24, 8);
    if (head->count == 0 || head->count > EMP_JOURNAL_MAX_EVENTS || head->first_seq == 0 ||
        head->first_seq > UINT64_MAX - head->count) {
        bad = "event count or numbering out of range";
        goto out;
    }
    size_t off = HEAD_BYTES;
    for (uint32_t i = 0; i < head->count; i++) {
        if (len - off < EVENT_FIXED) {
            bad = "record ends inside an event";
            goto out;
        }
        const unsigned char *p = b + off;
        uint64_t kind = get_le(p, 1), status = get_le(p + 1, 1);
        size_t cls = (size_t)get_le(p + 2, 1), msg = (size_t)get_le(p + 4, 2);
        size_t extra = kind == EMP_EV_OUTAGE_CLOSE ? 8 : 0;
        if (kind > EMP_EV_OUTAGE_CLOSE || status > EMP_STATUS_UNKNOWN || p[3] != 0 ||
            get_le(p + 34, 2) != 0 || cls >= EMP_ERRCLASS_MAX || msg >= EMP_ERRMSG_MAX) {
            bad = "event field out of range";
            goto out;
        }
        if (len - off - EVENT_FIXED < extra + cls + msg) {
            bad = "record ends inside an event";
            goto out;
        }
        struct emp_event *ev = calloc(1, sizeof *ev);
        if (ev == NULL) {
            free_events(list);
            return emp_error_set(err, EMP_ENOMEM, NULL, "could not decode a spool record");
        }
        ev->kind = (enum emp_event_kind)kind;
        ev->r.status = (enum emp_status)status;
        ev->interval_ms = (int32_t)(uint32_t)get_le(p + 6, 4);
        ev->target_id = (int64_t)get_le(p + 10, 8);
        ev->r.started_at_us = (int64_t)get_le(p + 18, 8);
        ev->r.latency_us = (int64_t)get_le(p + 26, 8);
        p += EVENT_FIXED;
        if (extra != 0) {
            ev->outage_started_at_us = (int64_t)get_le(p, 8);
            p += 8;
        }
        memcpy(ev->r.err_class, p, cls);
        memcpy(ev->r.message, p + cls, msg);
        ev->seq = head->first_seq + i;
        *tail = ev;
        tail = &ev->next;
        off += EVENT_FIXED + extra + cls + msg;
        if (memchr(ev->r.err_class, '\0', cls) != NULL || memchr(ev->r.message, '\0', msg) != NULL) {
            bad = "text holds a NUL byte";
            goto out;
        }
    }
    if (off != len)
        bad = "bytes after the last event";
out:
    if (bad != NULL) {
        free_events(list);
        return emp_error_set(err, EMP_EINVAL, bad, "malformed spool record");
    }
    *events = list;
    return EMP_OK;
}
