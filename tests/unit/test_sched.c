/* The timer heap: order, ties, removal from the middle, spreading of first
 * probes, against a brute-force reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "probes/sched.h"

static void test_pops_in_due_order(void **state)
{
    (void)state;
    struct emp_sched s;
    emp_sched_init(&s);
    struct emp_timer t[5] = {0};
    int64_t due[5] = {50, 10, 40, 20, 30};
    for (int i = 0; i < 5; i++)
        assert_int_equal(emp_sched_add(&s, &t[i], due[i]), 0);
    assert_null(emp_sched_pop_due(&s, 9));
    int64_t last = -1;
    for (int i = 0; i < 5; i++) {
        struct emp_timer *x = emp_sched_pop_due(&s, 100);
        assert_non_null(x);
        assert_true(x->due_us > last);
        assert_false(emp_timer_active(x));
        last = x->due_us;
    }
    assert_null(emp_sched_peek(&s));
    emp_sched_cleanup(&s);
}

static void test_ties_fire_in_insertion_order(void **state)
{
    (void)state;
    struct emp_sched s;
    emp_sched_init(&s);
    struct emp_timer t[100] = {0};
    for (int i = 0; i < 100; i++)
        emp_sched_add(&s, &t[i], 7);
    for (int i = 0; i < 100; i++)
        assert_ptr_equal(emp_sched_pop_due(&s, 7), &t[i]);
    emp_sched_cleanup(&s);
}

static void test_remove_and_reschedule_against_reference(void **state)
{
    (void)state;
    enum { N = 2000 };
    struct emp_sched s;
    emp_sched_init(&s);
    struct emp_timer *t = calloc(N, sizeof *t);
    assert_non_null(t);
    srand(42);
    for (int i = 0; i < N; i++)
        emp_sched_add(&s, &t[i], rand() % 100000);
    /* Remove a third, move a third. */
    for (int i = 0; i < N; i += 3)
        emp_sched_remove(&s, &t[i]);
    for (int i = 1; i < N; i += 3)
        emp_sched_add(&s, &t[i], rand() % 100000);
    emp_sched_remove(&s, &t[0]); /* already removed: no-op */
    size_t expect = 0;
    for (int i = 0; i < N; i++)
        expect += emp_timer_active(&t[i]);
    assert_int_equal(s.n, expect);
    int64_t last = -1;
    size_t popped = 0;
    struct emp_timer *x;
    while ((x = emp_sched_pop_due(&s, INT64_MAX)) != NULL) {
        assert_true(x->due_us >= last);
        last = x->due_us;
        popped++;
    }
    assert_int_equal(popped, expect);
    emp_sched_cleanup(&s);
    free(t);
}

static void test_spread_covers_interval_evenly(void **state)
{
    (void)state;
    /* 1,000 targets at 10 s: first probes 10 ms apart, none in the same
     * millisecond, all inside the first interval. */
    const int64_t interval = 10 * 1000000;
    int64_t prev = -1;
    for (size_t i = 0; i < 1000; i++) {
        int64_t off = emp_sched_spread(i, 1000, interval);
        assert_true(off >= 0 && off < interval);
        if (prev >= 0)
            assert_int_equal(off - prev, 10000);
        prev = off;
    }
    assert_int_equal(emp_sched_spread(0, 0, interval), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pops_in_due_order),
        cmocka_unit_test(test_ties_fire_in_insertion_order),
        cmocka_unit_test(test_remove_and_reschedule_against_reference),
        cmocka_unit_test(test_spread_covers_interval_evenly),
    };
    return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
