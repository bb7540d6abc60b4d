/* The /metrics exposition: the text format for a state with a few targets
 * (HELP and TYPE before every family, escaped label values, absent series
 * for unknown figures), cumulative histogram buckets with +Inf equal to the
 * count, the per-target counters of emp_state_record, and collection
 * without a database. promtool checks the real output in the e2e test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "ingest/events.h"
#include "api/metrics.h"
#include "probes/state.h"
#include "core/timeutil.h"
#include "tests/support/target.h"

#define NOW_US (INT64_C(1700000000) * EMP_US_PER_S)

struct fixture {
    struct emp_target_config tc[3];
    struct emp_config cfg;
    struct emp_state state;
};

static int setup(void **st)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->tc[0] = (struct emp_target_config){
        .name = "api", .kind = test_kind("http"), .group = "web", .interval_ms = 1000};
    /* Names are [A-Za-z0-9._-]; a group is any text: quote, backslash and
     * line feed must be escaped. */
    f->tc[1] = (struct emp_target_config){.name = "db.main",
                                          .kind = test_kind("postgres"),
                                          .group = "we\"ird\\grp\nx",
                                          .interval_ms = 1000};
    f->tc[2] = (struct emp_target_config){
        .name = "never", .kind = test_kind("tcp"), .group = "", .interval_ms = 1000};
    f->cfg.targets = f->tc;
    f->cfg.n_targets = 3;
    int64_t ids[3] = {1, 2, 3};
    assert_int_equal(emp_state_init(&f->state, &f->cfg, ids), 0);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fixture *f = *st;
    emp_state_cleanup(&f->state);
    free(f);
    return 0;
}

/* The sample line starting with `prefix` (up to the value), or NULL. */
static const char *line_of(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, prefix, n) == 0)
            return p;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

/* The value of the sample named exactly `series` (name and labels). */
static double sample(const char *text, const char *series)
{
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s ", series);
    const char *l = line_of(text, prefix);
    if (l == NULL) {
        fail_msg("no sample %s in:\n%s", series, text);
        return NAN;
    }
    return strtod(l + strlen(prefix), NULL);
}

static bool has_series(const char *text, const char *series)
{
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s ", series);
    return line_of(text, prefix) != NULL;
}

/* Every sample's family has "# HELP" and "# TYPE" lines before it, each
 * family's TYPE appears once, and every line ends with '\n'. */
static void check_families(const char *text)
{
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    char *copy = strdup(text);
    assert_non_null(copy);
    char helped[64][80], typed[64][80], types[64][16];
    size_t nh = 0, nt = 0;
    char *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        char name[80], type[16];
        if (sscanf(l, "# HELP %79s", name) == 1) {
            assert_true(nh < 64);
            snprintf(helped[nh++], sizeof helped[0], "%s", name);
            continue;
        }
        if (sscanf(l, "# TYPE %79s %15s", name, type) == 2) {
            for (size_t i = 0; i < nt; i++)
                assert_string_not_equal(typed[i], name);
            assert_true(nt < 64);
            snprintf(typed[nt], sizeof typed[0], "%s", name);
            snprintf(types[nt++], sizeof types[0], "%s", type);
            continue;
        }
        assert_true(l[0] != '#');
        size_t len = strcspn(l, "{ ");
        assert_true(len < sizeof name);
        memcpy(name, l, len);
        name[len] = '\0';
        bool found = false;
        for (size_t i = 0; i < nt && !found; i++) {
            size_t tl = strlen(typed[i]);
            bool hist = strcmp(types[i], "histogram") == 0 || strcmp(types[i], "summary") == 0;
            found = strcmp(name, typed[i]) == 0 ||
                    (hist && strncmp(name, typed[i], tl) == 0 &&
                     (strcmp(name + tl, "_bucket") == 0 || strcmp(name + tl, "_sum") == 0 ||
                      strcmp(name + tl, "_count") == 0));
            if (found) {
                bool h = false;
                for (size_t k = 0; k < nh && !h; k++)
                    h = strcmp(helped[k], typed[i]) == 0;
                assert_true(h);
            }
        }
        if (!found)
            fail_msg("sample without TYPE: %s", l);
    }
    free(copy);
}

static void fill(struct fixture *f)
{
    struct emp_state *s = &f->state;
    /* api: up for a minute; three probes, one of them a 12 s timeout. */
    emp_state_update(s, 0, EMP_TS_UP, NOW_US - 60 * EMP_US_PER_S, NOW_US - EMP_US_PER_S);
    emp_state_record(s, 0, EMP_STATUS_OK, 3000, false);
    emp_state_record(s, 0, EMP_STATUS_DEGRADED, 20000, false);
    emp_state_record(s, 0, EMP_STATUS_FAIL, 12 * EMP_US_PER_S, false);
    /* db.main: down after one failure that started an outage. */
    emp_state_update(s, 1, EMP_TS_DOWN, NOW_US - 5 * EMP_US_PER_S, NOW_US - EMP_US_PER_S);
    emp_state_record(s, 1, EMP_STATUS_FAIL, 5000, true);
    /* never: no result at all. */
}

static void test_format(void **st)
{
    struct fixture *f = *st;
    fill(f);
    size_t n = 0;
    struct emp_target_status *t = emp_state_snapshot(&f->state, NOW_US, &n);
    assert_non_null(t);
    assert_int_equal(n, 3);
    double avail[3] = {0.999, NAN, 0.5};
    struct emp_metrics_input in = {
        .targets = t, .n = n, .now_us = NOW_US, .availability_30d = avail,
        .database_up = 1, .has_prober = true,
        .prober = {.probes = 4, .skipped = 2, .lag_samples = 4, .lag_p50_us = 1500,
                   .lag_p99_us = 250000, .lag_max_us = 300000, .lag_sum_us = 600000},
        .has_queue = true, .queue_depth = 7, .events_dropped = 3,
        .has_writer = true, .writer = {.errors = 5},
    };
    char *text = emp_metrics_format(&in);
    assert_non_null(text);
    check_families(text);

    const char *api = "{target=\"api\",kind=\"http\",group=\"web\"";
    const char *db = "{target=\"db.main\",kind=\"postgres\",group=\"we\\\"ird\\\\grp\\nx\"";
    const char *nv = "{target=\"never\",kind=\"tcp\",group=\"\"";
    char s[512];
#define S(name, labels, extra) (snprintf(s, sizeof s, "%s%s%s}", name, labels, extra), s)

    /* The raw group never appears unescaped. */
    assert_null(strstr(text, "ird\\grp\nx"));

    assert_true(sample(text, S("empiric_target_up", api, "")) == 1);
    assert_true(sample(text, S("empiric_target_up", db, "")) == 0);
    assert_false(has_series(text, S("empiric_target_up", nv, "")));
    assert_true(sample(text, S("empiric_target_state", api, ",state=\"up\"")) == 1);
    assert_true(sample(text, S("empiric_target_state", api, ",state=\"down\"")) == 0);
    assert_true(sample(text, S("empiric_target_state", db, ",state=\"down\"")) == 1);
    assert_true(sample(text, S("empiric_target_state", nv, ",state=\"unknown\"")) == 1);
    assert_true(sample(text, S("empiric_target_state", nv, ",state=\"degraded\"")) == 0);

    assert_true(sample(text, S("empiric_target_streak_seconds", api, "")) == 60);
    assert_true(sample(text, S("empiric_target_streak_seconds", db, "")) == 0);
    assert_true(sample(text, S("empiric_target_streak_seconds", nv, "")) == 0);

    /* Buckets are cumulative, inclusive upper bounds; +Inf is the count. */
    assert_true(sample(text, S("empiric_probe_duration_seconds_bucket", api, ",le=\"0.005\"")) == 1);
    assert_true(sample(text, S("empiric_probe_duration_seconds_bucket", api, ",le=\"0.01\"")) == 1);
    assert_true(sample(text, S("empiric_probe_duration_seconds_bucket", api, ",le=\"0.025\"")) == 2);
    assert_true(sample(text, S("empiric_probe_duration_seconds_bucket", api, ",le=\"10\"")) == 2);
    assert_true(sample(text, S("empiric_probe_duration_seconds_bucket", api, ",le=\"+Inf\"")) == 3);
    assert_true(sample(text, S("empiric_probe_duration_seconds_count", api, "")) == 3);
    assert_true(fabs(sample(text, S("empiric_probe_duration_seconds_sum", api, "")) - 12.023) < 1e-9);
    assert_true(sample(text, S("empiric_probe_duration_seconds_bucket", db, ",le=\"0.005\"")) == 1);
    assert_true(sample(text, S("empiric_probe_duration_seconds_bucket", nv, ",le=\"+Inf\"")) == 0);
    /* Non-decreasing along every target's buckets. */
    for (size_t i = 0; i < n; i++) {
        double prev = 0;
        for (size_t k = 0; k < EMP_STATE_LATENCY_BUCKETS; k++) {
            char le[48];
            if (k < EMP_STATE_LATENCY_BUCKETS - 1)
                snprintf(le, sizeof le, ",le=\"%.15g\"",
                         (double)emp_state_latency_bounds_us[k] / 1e6);
            else
                snprintf(le, sizeof le, ",le=\"+Inf\"");
            const char *labels = i == 0 ? api : i == 1 ? db : nv;
            double v = sample(text, S("empiric_probe_duration_seconds_bucket", labels, le));
            assert_true(v >= prev);
            prev = v;
        }
        assert_true(prev == sample(text, S("empiric_probe_duration_seconds_count",
                                           i == 0 ? api : i == 1 ? db : nv, "")));
    }

    assert_true(sample(text, S("empiric_probes_total", api, ",result=\"ok\"")) == 1);
    assert_true(sample(text, S("empiric_probes_total", api, ",result=\"degraded\"")) == 1);
    assert_true(sample(text, S("empiric_probes_total", api, ",result=\"fail\"")) == 1);
    assert_true(sample(text, S("empiric_probes_total", db, ",result=\"fail\"")) == 1);
    assert_true(sample(text, S("empiric_outages_total", api, "")) == 0);
    assert_true(sample(text, S("empiric_outages_total", db, "")) == 1);

    assert_true(sample(text, S("empiric_target_availability_30d", api, "")) == 0.999);
    assert_false(has_series(text, S("empiric_target_availability_30d", db, "")));
    assert_true(sample(text, S("empiric_target_availability_30d", nv, "")) == 0.5);
#undef S

    assert_true(sample(text, "empiric_database_up") == 1);
    assert_true(sample(text, "empiric_scheduling_lag_seconds{quantile=\"0.5\"}") == 0.0015);
    assert_true(sample(text, "empiric_scheduling_lag_seconds{quantile=\"0.99\"}") == 0.25);
    assert_true(sample(text, "empiric_scheduling_lag_seconds_sum") == 0.6);
    assert_true(sample(text, "empiric_scheduling_lag_seconds_count") == 4);
    assert_true(sample(text, "empiric_scheduling_lag_max_seconds") == 0.3);
    assert_true(sample(text, "empiric_probes_skipped_total") == 2);
    assert_true(sample(text, "empiric_event_queue_depth") == 7);
    assert_true(sample(text, "empiric_events_dropped_total") == 3);
    assert_true(sample(text, "empiric_database_write_errors_total") == 5);
    assert_non_null(strstr(text, "# TYPE empiric_probe_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE empiric_probes_total counter\n"));
    assert_non_null(strstr(text, "# TYPE empiric_scheduling_lag_seconds summary\n"));
    free(text);
    free(t);
}

/* Without the store: no availability family, database_up 0; without
 * prober, queue or writer: their families are left out. */
static void test_database_down(void **st)
{
    struct fixture *f = *st;
    fill(f);
    size_t n = 0;
    struct emp_target_status *t = emp_state_snapshot(&f->state, NOW_US, &n);
    assert_non_null(t);
    struct emp_metrics_input in = {.targets = t, .n = n, .now_us = NOW_US,
                                   .availability_30d = NULL, .database_up = 0};
    char *text = emp_metrics_format(&in);
    assert_non_null(text);
    check_families(text);
    assert_null(strstr(text, "empiric_target_availability_30d"));
    assert_true(sample(text, "empiric_database_up") == 0);
    assert_null(strstr(text, "empiric_scheduling_lag"));
    assert_null(strstr(text, "empiric_event_queue_depth"));
    assert_null(strstr(text, "empiric_database_write_errors_total"));
    free(text);
    free(t);
}

/* No targets at all: still a valid exposition. */
static void test_empty(void **st)
{
    (void)st;
    struct emp_metrics_input in = {.now_us = NOW_US, .database_up = -1};
    char *text = emp_metrics_format(&in);
    assert_non_null(text);
    check_families(text);
    assert_null(strstr(text, "empiric_database_up"));
    free(text);
}

static void test_record_buckets(void **st)
{
    struct fixture *f = *st;
    struct emp_state *s = &f->state;
    emp_state_record(s, 0, EMP_STATUS_OK, 5000, false);   /* bound: inclusive */
    emp_state_record(s, 0, EMP_STATUS_OK, 5001, false);   /* next bucket */
    emp_state_record(s, 0, EMP_STATUS_OK, 10 * EMP_US_PER_S, false);
    emp_state_record(s, 0, EMP_STATUS_OK, 10 * EMP_US_PER_S + 1, false); /* above 10 s */
    emp_state_record(s, 0, EMP_STATUS_OK, -7, false);     /* clock oddity: 0 */
    emp_state_record(s, 99, EMP_STATUS_OK, 1, true);      /* no such target: ignored */
    emp_state_record(s, 1, EMP_STATUS_FAIL, 1, true);
    emp_state_record(s, 1, EMP_STATUS_FAIL, 1, false);
    size_t n = 0;
    struct emp_target_status *t = emp_state_snapshot(&f->state, NOW_US, &n);
    assert_non_null(t);
    assert_int_equal(t[0].latency_hist[0], 2);
    assert_int_equal(t[0].latency_hist[1], 1);
    assert_int_equal(t[0].latency_hist[EMP_STATE_LATENCY_BUCKETS - 2], 1);
    assert_int_equal(t[0].latency_hist[EMP_STATE_LATENCY_BUCKETS - 1], 1);
    assert_int_equal(t[0].probes[EMP_STATUS_OK], 5);
    assert_int_equal(t[0].latency_sum_us, 5000 + 5001 + 2 * 10 * EMP_US_PER_S + 1);
    assert_int_equal(t[0].outages, 0);
    assert_int_equal(t[1].probes[EMP_STATUS_FAIL], 2);
    assert_int_equal(t[1].outages, 1);
    free(t);
}

/* The streak: degraded keeps it, down ends it, a stale target shows 0. */
static void test_up_since(void **st)
{
    struct fixture *f = *st;
    struct emp_state *s = &f->state;
    int64_t t0 = NOW_US - 100 * EMP_US_PER_S;
    emp_state_update(s, 0, EMP_TS_UP, t0, t0);
    emp_state_update(s, 0, EMP_TS_DEGRADED, t0 + 10 * EMP_US_PER_S, t0 + 10 * EMP_US_PER_S);
    emp_state_update(s, 0, EMP_TS_UP, t0 + 20 * EMP_US_PER_S, NOW_US - EMP_US_PER_S);
    emp_state_update(s, 1, EMP_TS_UP, t0, t0);
    emp_state_update(s, 1, EMP_TS_DOWN, t0 + 30 * EMP_US_PER_S, t0 + 30 * EMP_US_PER_S);
    emp_state_update(s, 1, EMP_TS_UP, t0 + 50 * EMP_US_PER_S, NOW_US - EMP_US_PER_S);
    emp_state_update(s, 2, EMP_TS_UP, t0, t0); /* then silent: stale */
    size_t n = 0;
    struct emp_target_status *t = emp_state_snapshot(&f->state, NOW_US, &n);
    assert_non_null(t);
    assert_int_equal(t[0].up_since_us, t0);
    assert_int_equal(t[1].up_since_us, t0 + 50 * EMP_US_PER_S);
    assert_int_equal(t[2].state, EMP_TS_UNKNOWN);
    assert_int_equal(t[2].up_since_us, 0);
    free(t);
}

/* Collection with no pool: the store counts as down; the queue's figures
 * come through. */
static void test_collect_without_database(void **st)
{
    struct fixture *f = *st;
    fill(f);
    struct emp_events q;
    assert_int_equal(emp_events_init(&q, 1), 0);
    struct emp_event ev = {.kind = EMP_EV_RESULT, .target_id = 1};
    assert_true(emp_events_push(&q, &ev));
    assert_false(emp_events_push(&q, &ev)); /* over the cap: dropped */
    struct emp_metrics m;
    assert_int_equal(emp_metrics_init(&m, NULL, &q, NULL), 0);
    size_t n = 0;
    struct emp_target_status *t = emp_state_snapshot(&f->state, NOW_US, &n);
    assert_non_null(t);
    double avail[3];
    struct emp_metrics_input in;
    for (int round = 0; round < 2; round++) { /* the second from the cache */
        emp_metrics_collect(&m, NULL, t, n, NOW_US, avail, &in);
        assert_int_equal(in.database_up, 0);
        assert_null(in.availability_30d);
        assert_true(in.has_queue);
        assert_int_equal(in.queue_depth, 1);
        assert_int_equal(in.events_dropped, 1);
        assert_false(in.has_prober);
        assert_false(in.has_writer);
    }
    emp_metrics_collect(NULL, NULL, t, n, NOW_US, avail, &in);
    assert_int_equal(in.database_up, 0);
    assert_false(in.has_queue);
    free(t);
    emp_metrics_cleanup(&m);
    emp_events_cleanup(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_up_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_without_database, setup, teardown),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
