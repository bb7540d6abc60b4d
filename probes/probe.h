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

/* Complete the probe: mark it OK, or a failure with class and message, and
 * call done(). The caller has released its own resources first (done may
 * free or restart the probe); the message is formatted before that call by
 * the kind's wrapper, so it may point into them. */
void emp_probe_complete_ok(struct emp_probe *pr);

/* tcp: non-blocking connect to host:port (host resolved without blocking
 * the loop); OK once connected. */
enum emp_err emp_probe_tcp_start(struct emp_probe *pr);
/* Abandon an in-flight probe without calling done() and free kstate. */
void emp_probe_tcp_cleanup(struct emp_probe *pr);

/* postgres: PQconnectStart/PQconnectPoll then PQsendQuery of cfg->query;
 * OK when the query returns without error. */
enum emp_err emp_probe_pg_start(struct emp_probe *pr);
void emp_probe_pg_cleanup(struct emp_probe *pr);

/* http: through the shared libcurl multi handle of the loop. */
struct emp_http;
struct emp_http *emp_http_new(struct emp_loop *loop);
void emp_http_free(struct emp_http *h);
enum emp_err emp_probe_http_start(struct emp_http *h, struct emp_probe *pr);
void emp_probe_http_cleanup(struct emp_http *h, struct emp_probe *pr);

#endif
