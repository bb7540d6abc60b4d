/* One probe of one kind on a real loop, as the prober drives it: the
 * harness the probe kinds' tests share. It makes the loop and what the kind
 * shares in it, a target whose kind-specific keys come from JSON read by
 * the kind itself (problems ignored: a probe must cope with whatever it
 * is given), starts probes, runs the loop until done() or a guard timer,
 * and at the end checks that the kind let go of its state, its resolver
 * lookups and every file descriptor. Header-only; include once per test. */
#ifndef EMP_TEST_PROBE_HARNESS_H
#define EMP_TEST_PROBE_HARNESS_H

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/parse.h"
#include "core/timeutil.h"
#include "probes/kinds.h"
#include "probes/loop.h"
#include "probes/probe.h"
#include "probes/resolve.h"

struct probe_harness {
    struct emp_loop *loop;
    const struct emp_probe_kind *kind;
    void *shared;                 /* the kind's, for this loop */
    struct emp_target_config cfg; /* name "t"; the spec owned here */
    struct emp_probe pr;
    int done_calls;
    struct emp_timer guard;
    bool guard_fired;
    int fds_at_setup;
};

static inline void probe_harness_on_done(struct emp_probe *pr)
{
    struct probe_harness *h = pr->owner;
    h->done_calls++;
    pr->in_flight = false;
    emp_loop_stop(h->loop);
}

static inline void probe_harness_on_guard(struct emp_timer *t)
{
    struct probe_harness *h = t->data;
    h->guard_fired = true;
    emp_loop_stop(h->loop);
}

/* Open file descriptors of the process, to catch leaked sockets. */
static inline int probe_harness_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* A harness for the kind called `kind`: 0, or -1 when something could not
 * be made. The target times out after 5 s unless the test changes
 * h->cfg.timeout_ms; its own keys are set by probe_harness_spec. */
static inline int probe_harness_init(struct probe_harness *h, const char *kind)
{
    memset(h, 0, sizeof *h);
    h->fds_at_setup = probe_harness_count_fds();
    h->loop = emp_loop_new();
    h->kind = emp_kinds_find(&emp_probe_kinds, kind);
    if (h->fds_at_setup < 0 || h->loop == NULL || h->kind == NULL)
        return -1;
    if (h->kind->loop_new != NULL && h->kind->loop_new(h->loop, &h->shared) != EMP_OK)
        return -1;
    h->cfg.name = "t";
    h->cfg.kind = h->kind;
    h->cfg.group = "";
    h->cfg.interval_ms = 10000;
    h->cfg.timeout_ms = 5000;
    h->cfg.fail_threshold = 1;
    h->cfg.recover_threshold = 1;
    h->pr.loop = h->loop;
    h->pr.cfg = &h->cfg;
    h->pr.done = probe_harness_on_done;
    h->pr.owner = h;
    h->guard.cb = probe_harness_on_guard;
    h->guard.data = h;
    return 0;
}

/* The target's own keys from the JSON object `o` (stolen), replacing the
 * last ones; the kind's state for the probe stays, as between a
 * prober's probes. */
static inline void probe_harness_spec_json(struct probe_harness *h, json_t *o)
{
    if (o == NULL)
        fail_msg("probe harness: no JSON object for the target");
    struct emp_cfg c = {.file = "probe harness", .errs = NULL, .kinds = &emp_probe_kinds};
    void *spec = NULL;
    h->kind->parse(&c, o, "", &spec);
    json_decref(o);
    if (spec == NULL)
        fail_msg("probe harness: the %s kind made no spec", h->kind->name);
    h->kind->free_spec(h->cfg.spec);
    h->cfg.spec = spec;
}

/* The same from printf-formatted JSON text. */
static inline void probe_harness_spec(struct probe_harness *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void probe_harness_spec(struct probe_harness *h, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);
    if (o == NULL)
        fail_msg("probe harness: %s: %s", text, e.text);
    probe_harness_spec_json(h, o);
}

/* Start a probe now, as the prober would. */
static inline void probe_harness_start(struct probe_harness *h)
{
    memset(&h->pr.r, 0, sizeof h->pr.r);
    h->pr.started_mono_us = emp_loop_update_time(h->loop);
    h->pr.r.started_at_us = emp_now_us();
    h->pr.deadline_passed = false;
    h->pr.in_flight = true;
    h->done_calls = 0;
    assert_int_equal(h->kind->start(&h->pr, h->shared), EMP_OK);
    assert_int_equal(h->done_calls, 0); /* never from inside start */
}

/* Run the loop until the probe is done (or `ms` pass). */
static inline void probe_harness_run(struct probe_harness *h, int ms)
{
    h->guard_fired = false;
    emp_loop_timer_start(h->loop, &h->guard, emp_loop_update_time(h->loop) + ms * EMP_US_PER_MS);
    assert_int_equal(emp_loop_run(h->loop, false), 0);
    emp_loop_timer_stop(h->loop, &h->guard);
}

/* Abandon a probe in flight (or nothing), as the prober does when a target
 * is removed: the kind must free its state without calling done(). */
static inline void probe_harness_cancel(struct probe_harness *h)
{
    h->kind->cancel(&h->pr, h->shared);
    assert_null(h->pr.kstate);
}

/* Cancel, free, and check that nothing is left: no kind state, no lookup
 * in flight, no file descriptor beyond those open at init. */
static inline void probe_harness_cleanup(struct probe_harness *h)
{
    probe_harness_cancel(h);
    h->kind->free_spec(h->cfg.spec);
    h->cfg.spec = NULL;
    if (h->shared != NULL)
        h->kind->loop_free(h->shared);
    emp_loop_free(h->loop);
    /* Abandoned lookups hold an eventfd until glibc finishes them. */
    for (int i = 0; i < 500 && emp_resolve_live() > 0; i++)
        usleep(10000);
    assert_int_equal(emp_resolve_live(), 0);
    /* The resolver's worker threads may still hold a file (ld.so.cache,
     * /etc/hosts, a resolver socket) for a moment after the lookup itself
     * is done; on a busy machine that moment passed 1 s once. */
    for (int i = 0; i < 500 && probe_harness_count_fds() != h->fds_at_setup; i++)
        usleep(10000);
    assert_int_equal(probe_harness_count_fds(), h->fds_at_setup);
}

#endif
