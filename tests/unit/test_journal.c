/* The spool's event records: every field survives the round trip, and a
 * record cut short, lengthened or with any byte changed is refused or
 * decodes to well-formed events, never read out of bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ingest/journal.h"

static void chain(struct emp_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ev[i].next = i + 1 < n ? &ev[i + 1] : NULL;
}

static size_t sample(struct emp_event ev[4])
{
    memset(ev, 0, 4 * sizeof *ev);
    ev[0] = (struct emp_event){.kind = EMP_EV_RESULT, .target_id = 7, .interval_ms = 1000};
    ev[0].r = (struct emp_result){.started_at_us = INT64_C(1764103226123457), .latency_us = 1234,
                                  .status = EMP_STATUS_OK};
    ev[1] = (struct emp_event){.kind = EMP_EV_RESULT, .target_id = 7, .interval_ms = 1000};
    ev[1].r = (struct emp_result){.started_at_us = -5, .latency_us = INT64_MAX,
                                  .status = EMP_STATUS_FAIL};
    strcpy(ev[1].r.err_class, "timeout");
    memset(ev[1].r.message, 'm', EMP_ERRMSG_MAX - 1); /* the longest message */
    ev[2] = (struct emp_event){.kind = EMP_EV_OUTAGE_OPEN, .target_id = INT64_MAX};
    ev[2].r.started_at_us = 42;
    strcpy(ev[2].r.err_class, "refused");
    strcpy(ev[2].r.message, "connection refused \xc3\xa9");
    ev[3] = (struct emp_event){.kind = EMP_EV_OUTAGE_CLOSE, .target_id = 9,
                               .outage_started_at_us = 41};
    ev[3].r.started_at_us = 43;
    chain(ev, 4);
    return 4;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct emp_event ev[4];
    size_t n = sample(ev);
    unsigned char buf[4096];
    struct emp_journal_head h = {.prober_id = 3, .run_id = 99, .first_seq = 1000};
    size_t len = emp_journal_encode(&h, ev, (uint32_t)n, buf, sizeof buf);
    assert_true(len > 0);
    size_t want = 32;
    for (size_t i = 0; i < n; i++)
        want += emp_journal_event_size(&ev[i]);
    assert_int_equal(len, want);

    struct emp_journal_head got;
    struct emp_event *list = NULL;
    struct emp_error err = {0};
    assert_int_equal(emp_journal_decode(buf, len, &got, &list, &err), EMP_OK);
    assert_int_equal(got.prober_id, 3);
    assert_int_equal(got.run_id, 99);
    assert_int_equal(got.first_seq, 1000);
    assert_int_equal(got.count, n);
    size_t i = 0;
    for (struct emp_event *e = list; e != NULL; e = e->next, i++) {
        assert_int_equal(e->seq, 1000 + i);
        assert_int_equal(e->kind, ev[i].kind);
        assert_int_equal(e->target_id, ev[i].target_id);
        assert_int_equal(e->interval_ms, ev[i].interval_ms);
        assert_int_equal(e->r.started_at_us, ev[i].r.started_at_us);
        assert_int_equal(e->r.latency_us, ev[i].r.latency_us);
        assert_int_equal(e->r.status, ev[i].r.status);
        assert_string_equal(e->r.err_class, ev[i].r.err_class);
        assert_string_equal(e->r.message, ev[i].r.message);
        assert_int_equal(e->outage_started_at_us, ev[i].outage_started_at_us);
    }
    assert_int_equal(i, n);
    while (list != NULL) {
        struct emp_event *next = list->next;
        free(list);
        list = next;
    }
    /* Too small a buffer: nothing, not a partial record. */
    assert_int_equal(emp_journal_encode(&h, ev, (uint32_t)n, buf, len - 1), 0);
}

static void free_list(struct emp_event *e)
{
    while (e != NULL) {
        struct emp_event *next = e->next;
        free(e);
        e = next;
    }
}

/* Every cut and every single-byte change: refused, or decoded into events
 * whose texts are terminated (ASan watches the reads). */
static void test_damage_is_refused(void **state)
{
    (void)state;
    struct emp_event ev[4];
    size_t n = sample(ev);
    unsigned char buf[4096], bad[4097];
    struct emp_journal_head h = {.prober_id = 3, .run_id = 99, .first_seq = 1};
    size_t len = emp_journal_encode(&h, ev, (uint32_t)n, buf, sizeof buf);
    struct emp_journal_head got;
    struct emp_event *list = NULL;
    struct emp_error err = {0};
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
        memcpy(copy, buf, cut);
        assert_int_equal(emp_journal_decode(copy, cut, &got, &list, &err), EMP_EINVAL);
        assert_null(list);
        free(copy);
    }
    memcpy(bad, buf, len);
    bad[len] = 0;
    assert_int_equal(emp_journal_decode(bad, len + 1, &got, &list, &err), EMP_EINVAL);
    size_t refused = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, buf, len);
        bad[i] ^= 0x80;
        enum emp_err rc = emp_journal_decode(bad, len, &got, &list, &err);
        if (rc != EMP_OK) {
            assert_int_equal(rc, EMP_EINVAL);
            refused++;
            continue;
        }
        for (struct emp_event *e = list; e != NULL; e = e->next) {
            assert_true(strlen(e->r.err_class) < EMP_ERRCLASS_MAX);
            assert_true(strlen(e->r.message) < EMP_ERRMSG_MAX);
            assert_true(e->kind <= EMP_EV_OUTAGE_CLOSE);
        }
        free_list(list);
    }
    /* Changes to lengths, kinds and the head are caught by structure. */
    assert_true(refused > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage_is_refused),
    };
    return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
