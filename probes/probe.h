/* One probe in flight, as the probe kinds see it. The prober fills `cfg`,
 * `loop`, `done`, `r.started_at_us` and `started_mono_us`, then calls the
 * kind's start. The kind watches its sockets on the loop, arms `deadline`
 * for its timeout, and calls done() exactly once with r.status OK or FAIL
 * (err_class and message set on FAIL); the prober measures the latency and
 * judges "degraded". `kstate` belongs to the kind and lives across probes
 * (a kept connection, for example) until the kind's cleanup. */
#ifndef EMP_PROBE_H
#define EMP_PROBE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "config/kind.h"
#include "core/err.h"
#include "probes/loop.h"
#include "core/model.h"

struct emp_probe;
typedef void (*emp_probe_done_fn)(struct emp_probe *pr);

struct emp_probe {
    struct emp_loop *loop;
    const struct emp_target_config *cfg;
    emp_probe_done_fn done;
    void *owner;             /* the prober's */
    bool in_flight;
    int64_t started_mono_us;
    struct emp_result r;
    struct emp_timer deadline; /* free for the kind to use */
    /* Set by the kind when it failed the probe because its timeout passed,
     * whatever the class ("timeout", or "dns" for a lookup that never
     * finished): such a failure may be the prober's own lateness. The
     * prober clears it at each start. */
    bool deadline_passed;
    void *kstate;
};

/* Fill pr->r as a failure with class and printf-style message. */
void emp_probe_fail(struct emp_probe *pr, const char *err_class,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fill pr->r as a failure from a va_list. */
void emp_probe_vfail(struct emp_probe *pr, const char *err_class, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));

/* Call pr->done(), the probe no longer in flight: exactly once per start
 * (checked where invariants are), on the loop's thread. Every completion
 * goes through here. */
void emp_probe_done(struct emp_probe *pr);

/* Complete the probe: mark it OK, or a failure with class and message, and
 * call done(). The caller has released its own resources first (done may
 * free or restart the probe); the message is formatted before that call by
 * the kind's wrapper, so it may point into them. */
void emp_probe_complete_ok(struct emp_probe *pr);

/* Complete the probe after `release(kstate)` has let go of what the probe
 * held: OK, or a failure whose message is formatted first (its arguments
 * may point into kstate). What every kind's completion does, in one place. */
typedef void (*emp_probe_release_fn)(void *kstate);
void emp_probe_finish_ok(struct emp_probe *pr, emp_probe_release_fn release, void *kstate);
void emp_probe_finish_fail(struct emp_probe *pr, emp_probe_release_fn release, void *kstate,
                           const char *err_class, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
