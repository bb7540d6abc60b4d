/* The probe loop: timers against the timerfd (re-armed without being read,
 * never spinning once the heap is empty), and fairness between a flood of
 * due timers and the sockets waiting to be read. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "probes/loop.h"
#include "core/timeutil.h"

struct stopper {
    struct emp_loop *loop;
    int after_ms;
};

static void *stop_later(void *arg)
{
    struct stopper *s = arg;
    struct timespec ts = {.tv_sec = s->after_ms / 1000,
                          .tv_nsec = (long)(s->after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    emp_loop_stop(s->loop);
    return NULL;
}

struct ticker {
    struct emp_timer t;
    struct emp_loop *loop;
    int fired, times;
    int64_t period_us;
};

static void on_tick(struct emp_timer *t)
{
    struct ticker *k = t->data;
    if (++k->fired < k->times)
        emp_loop_timer_start(k->loop, t, emp_loop_now(k->loop) + k->period_us);
}

/* The timerfd is never read: setting it again is what clears it. A timer
 * that re-arms itself keeps firing on time, and once the heap is empty the
 * loop sleeps instead of returning from epoll_wait on a stale expiry. */
static void test_timerfd_rearms_and_idles(void **state)
{
    (void)state;
    struct emp_loop *loop = emp_loop_new();
    assert_non_null(loop);
    struct ticker k = {.loop = loop, .times = 5, .period_us = 10 * 1000};
    k.t.cb = on_tick;
    k.t.data = &k;
    int64_t t0 = emp_mono_us();
    emp_loop_timer_start(loop, &k.t, t0 + k.period_us);
    struct stopper s = {.loop = loop, .after_ms = 300};
    pthread_t th;
    pthread_create(&th, NULL, stop_later, &s);
    assert_int_equal(emp_loop_run(loop, false), 0);
    pthread_join(th, NULL);
    assert_int_equal(k.fired, 5);
    assert_true(emp_mono_us() - t0 >= 300 * 1000);
    /* Five wakes for the ticks, one for the stop, a few spare: a loop
     * spinning on the expired timerfd would count thousands. */
    assert_true(emp_loop_iterations(loop) <= 12);
    emp_loop_free(loop);
}

static void on_stop_timer(struct emp_timer *t)
{
    struct ticker *k = t->data;
    k->fired++;
    emp_loop_stop(k->loop);
}

struct flood {
    struct emp_timer *timers;
    int n, fired, fired_when_read;
    struct emp_io io;
    struct emp_loop *loop;
    bool read;
};

static void on_flood_timer(struct emp_timer *t)
{
    struct flood *f = t->data;
    if (++f->fired == f->n && f->read)
        emp_loop_stop(f->loop);
}

static void on_readable(struct emp_io *io, uint32_t revents)
{
    (void)revents;
    struct flood *f = io->data;
    uint64_t v;
    ssize_t r = read(io->fd, &v, sizeof v);
    (void)r;
    f->read = true;
    f->fired_when_read = f->fired;
    emp_loop_io_del(f->loop, io);
    if (f->fired == f->n)
        emp_loop_stop(f->loop);
}

/* Thousands of timers due at once (a loop that fell behind) do not keep a
 * readable socket waiting until all of them have run: a pass fires a
 * bounded number, then the loop reads what is ready. */
static void test_due_timers_do_not_starve_sockets(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct emp_loop *loop = emp_loop_new();
    assert_non_null(loop);
    struct flood f = {.n = N, .loop = loop};
    f.timers = calloc(N, sizeof *f.timers);
    assert_non_null(f.timers);
    int64_t now = emp_loop_update_time(loop);
    for (int i = 0; i < N; i++) {
        f.timers[i].cb = on_flood_timer;
        f.timers[i].data = &f;
        assert_int_equal(emp_loop_timer_start(loop, &f.timers[i], now - N + i), 0);
    }
    int efd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); /* readable already */
    assert_true(efd >= 0);
    f.io = (struct emp_io){.fd = efd, .cb = on_readable, .data = &f};
    assert_int_equal(emp_loop_io_set(loop, &f.io, EPOLLIN), 0);
    /* A bound, not expected to fire. */
    struct ticker bound = {.loop = loop, .times = 1};
    bound.t.cb = on_stop_timer;
    bound.t.data = &bound;
    emp_loop_timer_start(loop, &bound.t, now + 5 * 1000 * 1000);
    assert_int_equal(emp_loop_run(loop, false), 0);
    assert_true(f.read);
    assert_int_equal(f.fired, N);
    assert_true(f.fired_when_read > 0);
    assert_true(f.fired_when_read < N / 2);
    close(efd);
    free(f.timers);
    emp_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timerfd_rearms_and_idles),
        cmocka_unit_test(test_due_timers_do_not_starve_sockets),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
