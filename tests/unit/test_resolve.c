/* Tests for probes/resolve: answers arrive on the loop thread and never
 * inside start, cancelled lookups never call back and are freed when their
 * worker finishes them, a pending stop signal is left to the loop.
 * Loopback and local names only: nothing here needs DNS. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probes/loop.h"
#include "probes/resolve.h"
#include "core/timeutil.h"

/* This test's getaddrinfo: SLOW_NAME takes SLOW_MS to fail, as with a DNS
 * server that does not answer; every other name goes to the real one. */
#define SLOW_NAME "slow.invalid"
#define SLOW_MS 1000

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static _Atomic(gai_fn) real;
    if (node != NULL && strcmp(node, SLOW_NAME) == 0) {
        usleep(SLOW_MS * 1000);
        return EAI_AGAIN;
    }
    gai_fn f = atomic_load(&real);
    if (f == NULL) {
        *(void **)&f = dlsym(RTLD_NEXT, "getaddrinfo");
        atomic_store(&real, f);
    }
    return f(node, service, hints, res);
}

/* gettid, not pthread_self: <pthread.h> pulls in <sched.h>, which
 * probes/sched.h shadows when probes/ is given with -I (CMake uses -iquote). */
static pid_t main_thread;

struct answer {
    struct emp_loop *loop;
    int calls;
    bool in_start;         /* set around emp_resolve_start */
    bool called_in_start;
    bool on_loop_thread;
    int n_addrs;
    int family[16];
    int port;
    bool all_loopback;
    char err[128];
    bool stop_on_answer;
};

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
    }
    return false;
}

static void on_answer(void *arg, struct addrinfo *ai, const char *errmsg)
{
    struct answer *a = arg;
    a->calls++;
    a->called_in_start = a->called_in_start || a->in_start;
    a->on_loop_thread = gettid() == main_thread;
    a->all_loopback = ai != NULL;
    a->n_addrs = 0;
    for (struct addrinfo *p = ai; p != NULL; p = p->ai_next) {
        if (a->n_addrs < 16)
            a->family[a->n_addrs] = p->ai_family;
        a->n_addrs++;
        if (!is_loopback(p->ai_addr))
            a->all_loopback = false;
        if (p->ai_family == AF_INET)
            a->port = ntohs(((struct sockaddr_in *)p->ai_addr)->sin_port);
        else if (p->ai_family == AF_INET6)
            a->port = ntohs(((struct sockaddr_in6 *)p->ai_addr)->sin6_port);
    }
    snprintf(a->err, sizeof a->err, "%s", errmsg ? errmsg : "");
    if (ai != NULL)
        freeaddrinfo(ai);
    if (a->stop_on_answer)
        emp_loop_stop(a->loop);
}

/* Run the loop until something calls emp_loop_stop or `ms` pass. Returns
 * true when the guard fired. */
struct guard {
    struct emp_timer t;
    struct emp_loop *loop;
    bool fired;
};

static void on_guard(struct emp_timer *t)
{
    struct guard *g = t->data;
    g->fired = true;
    emp_loop_stop(g->loop);
}

static bool run_for(struct emp_loop *loop, int ms)
{
    struct guard g = {.loop = loop};
    g.t.cb = on_guard;
    g.t.data = &g;
    assert_int_equal(emp_loop_timer_start(loop, &g.t,
                                          emp_loop_update_time(loop) + ms * EMP_US_PER_MS), 0);
    assert_int_equal(emp_loop_run(loop, false), 0);
    emp_loop_timer_stop(loop, &g.t);
    return g.fired;
}

/* Poll until every lookup of the process has been freed. */
struct drain {
    struct emp_timer t;
    struct emp_loop *loop;
};

static void on_drain(struct emp_timer *t)
{
    struct drain *d = t->data;
    if (emp_resolve_live() == 0) {
        emp_loop_stop(d->loop);
        return;
    }
    emp_loop_timer_start(d->loop, t, emp_loop_now(d->loop) + 5 * EMP_US_PER_MS);
}

static void wait_all_freed(struct emp_loop *loop)
{
    struct drain d = {.loop = loop};
    d.t.cb = on_drain;
    d.t.data = &d;
    emp_loop_timer_start(loop, &d.t, emp_loop_update_time(loop));
    bool timed_out = run_for(loop, 10000);
    emp_loop_timer_stop(loop, &d.t);
    assert_false(timed_out);
    assert_int_equal(emp_resolve_live(), 0);
}

static int setup(void **state)
{
    main_thread = gettid();
    struct emp_loop *loop = emp_loop_new();
    if (loop == NULL)
        return -1;
    *state = loop;
    return 0;
}

static int teardown(void **state)
{
    emp_loop_free(*state);
    return 0;
}

static void resolve_one(struct emp_loop *loop, const char *host, int port,
                        struct answer *a)
{
    struct emp_resolve rs = {0};
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->stop_on_answer = true;
    a->in_start = true;
    assert_int_equal(emp_resolve_start(&rs, loop, host, port, on_answer, a), 0);
    a->in_start = false;
    assert_true(emp_resolve_active(&rs));
    assert_int_equal(a->calls, 0);
    assert_false(run_for(loop, 30000));
    assert_false(emp_resolve_active(&rs));
    emp_resolve_cancel(&rs); /* no-op once answered */
}

static void test_numeric_v4(void **state)
{
    struct answer a;
    long live = emp_resolve_live();
    resolve_one(*state, "127.0.0.1", 8080, &a);
    assert_int_equal(emp_resolve_live(), live); /* no lookup thread used */
    assert_int_equal(a.calls, 1);
    assert_false(a.called_in_start);
    assert_true(a.on_loop_thread);
    assert_int_equal(a.n_addrs, 1);
    assert_int_equal(a.family[0], AF_INET);
    assert_int_equal(a.port, 8080);
    assert_string_equal(a.err, "");
}

static void test_numeric_v6(void **state)
{
    struct answer a;
    resolve_one(*state, "::1", 5432, &a);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.n_addrs, 1);
    assert_int_equal(a.family[0], AF_INET6);
    assert_int_equal(a.port, 5432);
    assert_true(a.all_loopback);

    resolve_one(*state, "[::1]", 0, &a);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.family[0], AF_INET6);
    assert_int_equal(a.port, 0);
}

static void test_localhost(void **state)
{
    struct emp_loop *loop = *state;
    struct emp_resolve rs = {0};
    struct answer a = {.loop = loop, .stop_on_answer = true};
    long live = emp_resolve_live();
    a.in_start = true;
    assert_int_equal(emp_resolve_start(&rs, loop, "localhost", 65535, on_answer, &a), 0);
    a.in_start = false;
    assert_int_equal(emp_resolve_live(), live + 1); /* a real lookup */
    assert_false(run_for(loop, 30000));
    assert_int_equal(a.calls, 1);
    assert_false(a.called_in_start);
    assert_true(a.on_loop_thread);
    assert_true(a.n_addrs >= 1);
    assert_true(a.all_loopback);
    assert_int_equal(a.port, 65535);
    wait_all_freed(loop);
}

static void test_lookup_failure(void **state)
{
    /* An empty label makes the resolver reject the name before sending a
     * query, so this fails the same way with or without a network. */
    struct answer a;
    resolve_one(*state, "a..invalid", 80, &a);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.n_addrs, 0);
    assert_true(a.on_loop_thread);
    assert_true(strlen(a.err) > 0);
    wait_all_freed(*state);
}

static void test_bad_arguments(void **state)
{
    struct emp_loop *loop = *state;
    struct emp_resolve rs = {0};
    struct answer a = {.loop = loop};
    errno = 0;
    assert_int_equal(emp_resolve_start(&rs, loop, "127.0.0.1", -1, on_answer, &a), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(emp_resolve_start(&rs, loop, "127.0.0.1", 65536, on_answer, &a), -1);
    assert_int_equal(emp_resolve_start(&rs, loop, "", 80, on_answer, &a), -1);
    assert_int_equal(emp_resolve_start(&rs, loop, "[]", 80, on_answer, &a), -1);
    assert_int_equal(emp_resolve_start(&rs, loop, NULL, 80, on_answer, &a), -1);
    assert_int_equal(emp_resolve_start(&rs, loop, "localhost", 80, NULL, &a), -1);
    assert_false(emp_resolve_active(&rs));
    emp_resolve_cancel(&rs);
    emp_resolve_cancel(NULL);

    /* A handle already in use is refused. */
    assert_int_equal(emp_resolve_start(&rs, loop, "127.0.0.1", 1, on_answer, &a), 0);
    assert_int_equal(emp_resolve_start(&rs, loop, "127.0.0.1", 1, on_answer, &a), -1);
    assert_int_equal(errno, EINVAL);
    emp_resolve_cancel(&rs);
    run_for(loop, 20);
    assert_int_equal(a.calls, 0);
}

static void test_is_numeric(void **state)
{
    (void)state;
    assert_true(emp_resolve_is_numeric("127.0.0.1"));
    assert_true(emp_resolve_is_numeric("::1"));
    assert_true(emp_resolve_is_numeric("[::1]"));
    assert_true(emp_resolve_is_numeric("fe80::1%lo"));
    assert_true(emp_resolve_is_numeric("::ffff:10.0.0.1"));
    assert_false(emp_resolve_is_numeric("localhost"));
    assert_false(emp_resolve_is_numeric("example.com"));
    assert_false(emp_resolve_is_numeric("1.2.3.4.example"));
    assert_false(emp_resolve_is_numeric(""));
    assert_false(emp_resolve_is_numeric("[]"));
    assert_false(emp_resolve_is_numeric(NULL));
}

static void test_cancel_numeric(void **state)
{
    struct emp_loop *loop = *state;
    struct emp_resolve rs = {0};
    struct answer a = {.loop = loop, .stop_on_answer = true};
    assert_int_equal(emp_resolve_start(&rs, loop, "127.0.0.1", 80, on_answer, &a), 0);
    emp_resolve_cancel(&rs);
    assert_false(emp_resolve_active(&rs));
    assert_true(run_for(loop, 50)); /* only the guard stops the loop */
    assert_int_equal(a.calls, 0);
}

#define N_LOOKUPS 48

/* Many lookups at once, every other one abandoned at once: the others are
 * answered, the abandoned ones never call back, and all are freed. */
static void test_cancel_lookups(void **state)
{
    struct emp_loop *loop = *state;
    static struct emp_resolve rs[N_LOOKUPS];
    static struct answer a[N_LOOKUPS];
    memset(rs, 0, sizeof rs);
    memset(a, 0, sizeof a);
    for (int i = 0; i < N_LOOKUPS; i++) {
        a[i].loop = loop;
        assert_int_equal(emp_resolve_start(&rs[i], loop, "localhost", 1000 + i,
                                           on_answer, &a[i]), 0);
    }
    for (int i = 0; i < N_LOOKUPS; i += 2)
        emp_resolve_cancel(&rs[i]);
    wait_all_freed(loop);
    /* The answers of the kept lookups may still sit in their eventfds. */
    run_for(loop, 100);
    for (int i = 0; i < N_LOOKUPS; i++) {
        if (i % 2 == 0) {
            assert_int_equal(a[i].calls, 0);
        } else {
            assert_int_equal(a[i].calls, 1);
            assert_int_equal(a[i].port, 1000 + i);
            assert_true(a[i].on_loop_thread);
        }
        assert_false(emp_resolve_active(&rs[i]));
    }
}

/* A lookup abandoned while a worker is still on it: the completion
 * comes later, finds nobody, and frees the request. */
static void test_abandon_then_late_completion(void **state)
{
    struct emp_loop *loop = *state;
    struct emp_resolve rs = {0};
    struct answer a = {.loop = loop};
    assert_int_equal(emp_resolve_start(&rs, loop, "localhost", 80, on_answer, &a), 0);
    assert_true(emp_resolve_live() >= 1);
    emp_resolve_cancel(&rs);
    /* Reuse the handle at once for another lookup. */
    struct answer b = {.loop = loop, .stop_on_answer = true};
    assert_int_equal(emp_resolve_start(&rs, loop, "localhost", 81, on_answer, &b), 0);
    assert_false(run_for(loop, 30000));
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.port, 81);
    wait_all_freed(loop);
}

struct chain {
    struct emp_resolve rs;
    struct emp_loop *loop;
    int calls;
    bool failed_restart;
};

static void on_chain(void *arg, struct addrinfo *ai, const char *errmsg)
{
    (void)errmsg;
    struct chain *c = arg;
    c->calls++;
    if (ai != NULL)
        freeaddrinfo(ai);
    if (c->calls == 1) {
        /* The handle is free again inside its own callback. */
        if (emp_resolve_start(&c->rs, c->loop, "localhost", 2, on_chain, c) < 0)
            c->failed_restart = true;
        return;
    }
    if (c->calls == 2) {
        if (emp_resolve_start(&c->rs, c->loop, "::1", 3, on_chain, c) < 0)
            c->failed_restart = true;
        return;
    }
    emp_loop_stop(c->loop);
}

static void test_restart_from_callback(void **state)
{
    struct chain c = {.loop = *state};
    assert_int_equal(emp_resolve_start(&c.rs, c.loop, "127.0.0.1", 1, on_chain, &c), 0);
    assert_false(run_for(c.loop, 30000));
    assert_false(c.failed_restart);
    assert_int_equal(c.calls, 3);
    wait_all_freed(c.loop);
}

/* Lookups that come together while a worker is idle take one worker each:
 * a fast one does not wait behind a slow one (a silent DNS server) that
 * claimed the idle worker just before it. */
static void test_burst_does_not_queue_behind_slow_lookup(void **state)
{
    struct emp_loop *loop = *state;
    struct answer warm;
    resolve_one(loop, "localhost", 80, &warm); /* leaves a worker idle */
    wait_all_freed(loop);
    struct emp_resolve slow_rs = {0}, fast_rs = {0};
    struct answer slow = {.loop = loop};
    struct answer fast = {.loop = loop, .stop_on_answer = true};
    int64_t t0 = emp_mono_us();
    assert_int_equal(emp_resolve_start(&slow_rs, loop, SLOW_NAME, 80, on_answer, &slow), 0);
    assert_int_equal(emp_resolve_start(&fast_rs, loop, "localhost", 81, on_answer, &fast), 0);
    assert_false(run_for(loop, 5000));
    int64_t took_ms = (emp_mono_us() - t0) / EMP_US_PER_MS;
    assert_int_equal(fast.calls, 1);
    assert_int_equal(fast.port, 81);
    assert_int_equal(slow.calls, 0);
    assert_true(took_ms < SLOW_MS / 2);
    emp_resolve_cancel(&slow_rs);
    wait_all_freed(loop);
    assert_int_equal(slow.calls, 0);
    /* The slow lookup really was slow (this file's getaddrinfo took it). */
    assert_true((emp_mono_us() - t0) / EMP_US_PER_MS >= SLOW_MS);
}

/* A SIGTERM that arrives while the loop is busy stays pending until the
 * loop's signalfd reads it: no resolver thread may take it (empiric blocks
 * it everywhere and stops in order on it). glibc's getaddrinfo_a ran its
 * notifications on threads that unblock every signal, and the pending
 * signal killed the process there; this test then dies of SIGTERM. */
static void test_pending_stop_signal_stays_pending(void **state)
{
    struct emp_loop *loop = *state;
    sigset_t term, old, pending;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    assert_int_equal(sigprocmask(SIG_BLOCK, &term, &old), 0);
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    for (int i = 0; i < 8; i++) {
        struct answer a;
        resolve_one(loop, "localhost", 80 + i, &a);
        assert_int_equal(a.calls, 1);
    }
    wait_all_freed(loop);
    assert_int_equal(sigpending(&pending), 0);
    assert_true(sigismember(&pending, SIGTERM));
    struct timespec now = {0};
    assert_int_equal(sigtimedwait(&term, NULL, &now), SIGTERM);
    assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_numeric_v4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numeric_v6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localhost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test(test_is_numeric),
        cmocka_unit_test_setup_teardown(test_cancel_numeric, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon_then_late_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_does_not_queue_behind_slow_lookup, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pending_stop_signal_stays_pending, setup, teardown),
    };
    return cmocka_run_group_tests_name("resolve", tests, NULL, NULL);
}
