/* The live state's lookup by name (issue 13, item 7: a create through the
 * API looked its target up by copying the whole state): emp_state_find
 * agrees with the snapshot after targets are added, redefined and removed,
 * across the name table's growth, and a missing name is not found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "probes/state.h"
#include "tests/support/target.h"

#define N 3000

static struct emp_target_config named(char *name, const char *group)
{
    return (struct emp_target_config){.name = name, .kind = test_kind("tcp"),
                                      .group = (char *)group, .interval_ms = 1000};
}

/* Whether every target of the snapshot is found as it is there, and
 * `absent` is not. */
static void expect_agrees(struct emp_state *s, int64_t now, const char *absent)
{
    size_t n = 0;
    struct emp_target_status *all = emp_state_snapshot(s, now, &n);
    assert_non_null(all);
    for (size_t i = 0; i < n; i++) {
        struct emp_target_status one;
        if (!emp_state_find(s, all[i].name, now, &one))
            fail_msg("%s (index %zu of %zu) not found", all[i].name, i, n);
        assert_memory_equal(&one, &all[i], sizeof one);
    }
    free(all);
    struct emp_target_status none;
    assert_false(emp_state_find(s, absent, now, &none));
}

static void test_find(void **state)
{
    (void)state;
    char names[N][16];
    struct emp_target_config first[2] = {named("conf-a", "g"), named("conf-b", "")};
    struct emp_config cfg = {.targets = first, .n_targets = 2};
    int64_t ids[2] = {1, 2};
    struct emp_state s;
    assert_int_equal(emp_state_init(&s, &cfg, ids), 0);
    int64_t now = 1000 * EMP_US_PER_S;
    expect_agrees(&s, now, "api-0");
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "api-%d", i);
        struct emp_target_config tc = named(names[i], "");
        assert_int_equal(emp_state_add(&s, &tc, 100 + i), 2 + i);
    }
    emp_state_update(&s, 7, EMP_TS_DOWN, now - 5 * EMP_US_PER_S, now - EMP_US_PER_S);
    expect_agrees(&s, now, "api-3000");
    struct emp_target_status one;
    assert_true(emp_state_find(&s, "api-5", now, &one));
    assert_int_equal(one.state, EMP_TS_DOWN);
    assert_int_equal(one.db_id, 105);
    /* Shown as the snapshot shows it: stale long after its last result. */
    assert_true(emp_state_find(&s, "api-5", now + 3600 * EMP_US_PER_S, &one));
    assert_int_equal(one.state, EMP_TS_UNKNOWN);

    /* Redefined: found with its new group. */
    struct emp_target_config re = named(names[10], "grp");
    emp_state_redefine(&s, 12, &re);
    assert_true(emp_state_find(&s, "api-10", now, &one));
    assert_string_equal(one.group, "grp");

    /* Removed, from the front, the middle and the end: the others move and
     * are still found. */
    emp_state_remove(&s, 0);
    emp_state_remove(&s, 1000);
    emp_state_remove(&s, s.n - 1);
    assert_false(emp_state_find(&s, "conf-a", now, &one));
    assert_false(emp_state_find(&s, "api-2999", now, &one));
    expect_agrees(&s, now, "api-999");
    assert_true(emp_state_find(&s, "api-5", now, &one));
    assert_int_equal(one.state, EMP_TS_DOWN);
    emp_state_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
