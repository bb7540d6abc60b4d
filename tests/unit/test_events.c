/* The probe loop -> writer queue: order, cap and drop counting, outage
 * events past the cap, timed waits, close, and pushes from many threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ingest/events.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct emp_event ev(enum emp_event_kind kind, int64_t target, int64_t at)
{
    struct emp_event e = {0};
    e.kind = kind;
    e.target_id = target;
    e.interval_ms = 1000;
    e.r.started_at_us = at;
    return e;
}

static size_t list_len(const struct emp_event *e)
{
    size_t n = 0;
    for (; e != NULL; e = e->next)
        n++;
    return n;
}

static void free_list(struct emp_event *e)
{
    while (e != NULL) {
        struct emp_event *next = e->next;
        free(e);
        e = next;
    }
}

static void test_fifo(void **state)
{
    (void)state;
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 100), 0);
    for (int i = 0; i < 10; i++) {
        struct emp_event e = ev(EMP_EV_RESULT, i, i * 10);
        assert_true(emp_events_push(&q, &e));
    }
    size_t n = 0;
    struct emp_event *list = emp_events_pop_all(&q, 0, &n);
    assert_int_equal(n, 10);
    assert_int_equal(list_len(list), 10);
    int i = 0;
    for (struct emp_event *e = list; e != NULL; e = e->next, i++) {
        assert_int_equal(e->target_id, i);
        assert_int_equal(e->r.started_at_us, i * 10);
    }
    free_list(list);
    /* Empty now: no wait returns NULL at once. */
    assert_null(emp_events_pop_all(&q, 0, &n));
    assert_int_equal(n, 0);
    emp_events_cleanup(&q);
}

static void test_cap_drops_results_not_outages(void **state)
{
    (void)state;
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 3), 0);
    for (int i = 0; i < 3; i++) {
        struct emp_event e = ev(EMP_EV_RESULT, 1, i);
        assert_true(emp_events_push(&q, &e));
    }
    struct emp_event r = ev(EMP_EV_RESULT, 1, 99);
    assert_false(emp_events_push(&q, &r));
    assert_false(emp_events_push(&q, &r));
    assert_int_equal(q.dropped, 2);
    struct emp_event o = ev(EMP_EV_OUTAGE_OPEN, 1, 100);
    struct emp_event c = ev(EMP_EV_OUTAGE_CLOSE, 1, 200);
    c.outage_started_at_us = 100;
    assert_true(emp_events_push(&q, &o));
    assert_true(emp_events_push(&q, &c));
    assert_int_equal(q.dropped, 2);
    size_t n = 0;
    struct emp_event *list = emp_events_pop_all(&q, 0, &n);
    assert_int_equal(n, 5);
    assert_int_equal(list->next->next->next->kind, EMP_EV_OUTAGE_OPEN);
    assert_int_equal(list->next->next->next->next->kind, EMP_EV_OUTAGE_CLOSE);
    assert_int_equal(list->next->next->next->next->outage_started_at_us, 100);
    free_list(list);
    /* Popping makes room again. */
    assert_true(emp_events_push(&q, &r));
    emp_events_cleanup(&q);
}

static void test_cap_zero_keeps_outages(void **state)
{
    (void)state;
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 0), 0);
    struct emp_event r = ev(EMP_EV_RESULT, 1, 1);
    struct emp_event o = ev(EMP_EV_OUTAGE_OPEN, 1, 1);
    assert_false(emp_events_push(&q, &r));
    assert_true(emp_events_push(&q, &o));
    assert_int_equal(q.len, 1);
    assert_int_equal(q.dropped, 1);
    emp_events_cleanup(&q); /* frees the queued outage */
}

static void test_wait_times_out(void **state)
{
    (void)state;
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 10), 0);
    size_t n = 1;
    int64_t t0 = mono_ms();
    assert_null(emp_events_pop_all(&q, 150, &n));
    int64_t took = mono_ms() - t0;
    assert_int_equal(n, 0);
    assert_true(took >= 140);
    assert_true(took < 2000);
    emp_events_cleanup(&q);
}

struct pusher {
    struct emp_events *q;
    int delay_ms;
    int count;
    int64_t target;
};

static void *push_later(void *arg)
{
    struct pusher *p = arg;
    struct timespec ts = {p->delay_ms / 1000, (long)(p->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    for (int i = 0; i < p->count; i++) {
        struct emp_event e = ev(EMP_EV_RESULT, p->target, i);
        emp_events_push(p->q, &e);
    }
    return NULL;
}

static void test_wait_wakes_on_push(void **state)
{
    (void)state;
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 10), 0);
    struct pusher p = {&q, 50, 1, 7};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, push_later, &p), 0);
    size_t n = 0;
    int64_t t0 = mono_ms();
    struct emp_event *list = emp_events_pop_all(&q, 5000, &n);
    int64_t took = mono_ms() - t0;
    pthread_join(th, NULL);
    assert_non_null(list);
    assert_int_equal(n, 1);
    assert_int_equal(list->target_id, 7);
    assert_true(took < 4000);
    free_list(list);
    emp_events_cleanup(&q);
}

static void *close_later(void *arg)
{
    struct emp_events *q = arg;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    emp_events_close(q);
    return NULL;
}

static void test_close(void **state)
{
    (void)state;
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 10), 0);
    assert_false(emp_events_done(&q));
    /* Close wakes a waiting writer at once. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, close_later, &q), 0);
    size_t n = 0;
    int64_t t0 = mono_ms();
    assert_null(emp_events_pop_all(&q, 10000, &n));
    assert_true(mono_ms() - t0 < 5000);
    pthread_join(th, NULL);
    assert_true(emp_events_done(&q));

    /* Closed: results are refused and counted; outages still queue. */
    struct emp_event r = ev(EMP_EV_RESULT, 1, 1);
    struct emp_event c = ev(EMP_EV_OUTAGE_CLOSE, 1, 2);
    assert_false(emp_events_push(&q, &r));
    assert_int_equal(q.dropped, 1);
    assert_true(emp_events_push(&q, &c));
    assert_false(emp_events_done(&q));
    /* Closed and not empty: pop returns the rest without waiting. */
    struct emp_event *list = emp_events_pop_all(&q, 10000, &n);
    assert_int_equal(n, 1);
    assert_int_equal(list->kind, EMP_EV_OUTAGE_CLOSE);
    free_list(list);
    assert_true(emp_events_done(&q));
    /* Closed and empty: NULL at once even with a long wait. */
    t0 = mono_ms();
    assert_null(emp_events_pop_all(&q, 10000, &n));
    assert_true(mono_ms() - t0 < 1000);
    emp_events_cleanup(&q);
}

static void test_concurrent_pushers(void **state)
{
    (void)state;
    enum { THREADS = 4, EACH = 5000 };
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 1000000), 0);
    pthread_t th[THREADS];
    struct pusher p[THREADS];
    for (int i = 0; i < THREADS; i++) {
        p[i] = (struct pusher){&q, 0, EACH, i};
        assert_int_equal(pthread_create(&th[i], NULL, push_later, &p[i]), 0);
    }
    size_t total = 0;
    int64_t next[THREADS] = {0};
    int64_t t0 = mono_ms();
    while (total < THREADS * EACH && mono_ms() - t0 < 20000) {
        size_t n = 0;
        struct emp_event *list = emp_events_pop_all(&q, 100, &n);
        assert_int_equal(list_len(list), n);
        for (struct emp_event *e = list; e != NULL; e = e->next) {
            /* Per producer, order is kept. */
            assert_int_equal(e->r.started_at_us, next[e->target_id]);
            next[e->target_id]++;
        }
        total += n;
        free_list(list);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(total, THREADS * EACH);
    assert_int_equal(q.dropped, 0);
    emp_events_cleanup(&q);
}

static void test_cleanup_frees_queued(void **state)
{
    (void)state;
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 10), 0);
    for (int i = 0; i < 5; i++) {
        struct emp_event e = ev(EMP_EV_RESULT, 1, i);
        assert_true(emp_events_push(&q, &e));
    }
    emp_events_close(&q);
    emp_events_cleanup(&q); /* leak checkers would complain otherwise */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_cap_drops_results_not_outages),
        cmocka_unit_test(test_cap_zero_keeps_outages),
        cmocka_unit_test(test_wait_times_out),
        cmocka_unit_test(test_wait_wakes_on_push),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_concurrent_pushers),
        cmocka_unit_test(test_cleanup_frees_queued),
    };
    return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
