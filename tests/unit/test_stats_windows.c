/* Splitting a window never loses an event: over random histories (spans
 * with gaps, outages overlapping, touching, of zero length, ongoing) and
 * random split points (often an event's very instant), the failures,
 * repairs and the up, down and unknown time of [a, c) are those of [a, b)
 * plus those of [b, c). Each window sees what the store gives it (outages
 * with start < to and end >= from, spans reaching from) and the state in
 * the instant before it, as service/report.c computes them. Fixed seed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "analysis/stats.h"
#include "analysis/uptime.h"

#define S INT64_C(1000000)
#define H 600 /* history length, seconds */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t pick(int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1));
}

struct history {
    struct emp_span spans[8];
    size_t n_spans;
    struct emp_outage outages[12];
    size_t n_outages;
    int64_t now;
};

static void make_history(struct history *h)
{
    memset(h, 0, sizeof *h);
    int64_t t = pick(0, 60);
    while (h->n_spans < 8 && t < H) {
        int64_t len = pick(20, 200);
        struct emp_span *sp = &h->spans[h->n_spans++];
        sp->started_at_us = t * S;
        sp->ended_at_us = (t + len < H ? t + len : H) * S;
        sp->grace_us = pick(0, 2) * S;
        t += len + pick(0, 40); /* a gap (unknown time), sometimes none */
    }
    size_t n = (size_t)pick(0, 12);
    for (size_t i = 0; i < n; i++) {
        struct emp_outage *o = &h->outages[h->n_outages++];
        int64_t s;
        if (i > 0 && next() % 4 == 0) /* touching or overlapping the previous */
            s = h->outages[i - 1].ended_at_us != 0 ? h->outages[i - 1].ended_at_us / S
                                                   : h->outages[i - 1].started_at_us / S;
        else
            s = pick(0, H - 1);
        int kind = (int)(next() % 8);
        int64_t e = kind == 0 ? s : s + pick(1, 60); /* a point failure, or a stretch */
        o->target_id = 1;
        o->started_at_us = s * S;
        o->ended_at_us = kind == 7 && i + 1 == n ? 0 : (e < H ? e : H) * S; /* ongoing */
    }
    h->now = (next() % 4 == 0 ? pick(H / 2, H) : H + 100) * S;
}

struct figures {
    size_t failures, repairs;
    int64_t up, down, unknown;
};

/* [from, to) as the store and service/report.c would give it. */
static struct figures window(const struct history *h, int64_t from, int64_t to)
{
    struct emp_span spans[8];
    struct emp_outage outages[12];
    size_t ns = 0, no = 0;
    for (size_t i = 0; i < h->n_spans; i++)
        if (h->spans[i].started_at_us < to &&
            h->spans[i].ended_at_us + h->spans[i].grace_us >= from)
            spans[ns++] = h->spans[i];
    for (size_t i = 0; i < h->n_outages; i++) {
        const struct emp_outage *o = &h->outages[i];
        if (o->started_at_us < to && (o->ended_at_us == 0 || o->ended_at_us >= from))
            outages[no++] = *o;
    }
    struct emp_segment *seg = NULL;
    size_t nseg = 0;
    assert_int_equal(emp_timeline_build(from, to, h->now, spans, ns, outages, no, &seg, &nseg),
                     EMP_OK);
    struct emp_stats_target st = {
        .seg = seg, .n_seg = nseg, .outages = outages, .n_outages = no,
        .before = emp_timeline_state_at(from - 1, h->now, spans, ns, outages, no)};
    struct emp_periods p;
    memset(&p, 0, sizeof p);
    assert_int_equal(emp_stats_periods(&st, 1, from, to, &p), EMP_OK);
    struct emp_uptime u;
    emp_uptime_from_timeline(from, to, h->now, seg, nseg, &u);
    struct figures f = {p.failures, p.repairs, u.up_us, u.down_us, u.unknown_us};
    emp_periods_cleanup(&p);
    free(seg);
    return f;
}

/* An instant inside (a, c): often one where an outage starts or ends. */
static int64_t split_point(const struct history *h, int64_t a, int64_t c)
{
    if (next() % 2 == 0 && h->n_outages > 0) {
        const struct emp_outage *o = &h->outages[next() % h->n_outages];
        int64_t x = next() % 2 == 0 || o->ended_at_us == 0 ? o->started_at_us : o->ended_at_us;
        if (x > a && x < c)
            return x;
    }
    return pick(a / S + 1, c / S - 1) * S;
}

static void test_split_windows_add_up(void **state)
{
    (void)state;
    size_t checked = 0, at_event = 0;
    for (int iter = 0; iter < 5000; iter++) {
        struct history h;
        make_history(&h);
        int64_t a = pick(0, H - 20) * S, c = pick(a / S + 2, H + 50) * S;
        int64_t b = split_point(&h, a, c);
        struct figures w = window(&h, a, c), x = window(&h, a, b), y = window(&h, b, c);
        for (size_t i = 0; i < h.n_outages; i++)
            at_event += h.outages[i].started_at_us == b || h.outages[i].ended_at_us == b;
        if (w.failures != x.failures + y.failures || w.repairs != x.repairs + y.repairs ||
            w.up != x.up + y.up || w.down != x.down + y.down ||
            w.unknown != x.unknown + y.unknown) {
            print_message("iteration %d: [%lld, %lld) split at %lld: failures %zu vs %zu + %zu,"
                          " repairs %zu vs %zu + %zu, up %lld vs %lld + %lld, down %lld vs"
                          " %lld + %lld\n",
                          iter, (long long)(a / S), (long long)(c / S), (long long)(b / S),
                          w.failures, x.failures, y.failures, w.repairs, x.repairs, y.repairs,
                          (long long)w.up, (long long)x.up, (long long)y.up, (long long)w.down,
                          (long long)x.down, (long long)y.down);
            for (size_t i = 0; i < h.n_outages; i++)
                print_message("  outage [%lld, %lld]\n",
                              (long long)(h.outages[i].started_at_us / S),
                              (long long)(h.outages[i].ended_at_us / S));
            for (size_t i = 0; i < h.n_spans; i++)
                print_message("  span [%lld, %lld] grace %lld\n",
                              (long long)(h.spans[i].started_at_us / S),
                              (long long)(h.spans[i].ended_at_us / S),
                              (long long)(h.spans[i].grace_us / S));
            fail();
        }
        checked++;
    }
    print_message("%zu splits checked, %zu at an outage's start or end\n", checked, at_event);
    assert_true(at_event > 500); /* the edges were exercised */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_windows_add_up),
    };
    return cmocka_run_group_tests_name("stats_windows", tests, NULL, NULL);
}
