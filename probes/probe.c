/* Helpers shared by the probe kinds. */
#include "probes/probe.h"

#include "core/assert.h"

#include <stdarg.h>
#include <stdio.h>

void emp_probe_vfail(struct emp_probe *pr, const char *err_class, const char *fmt, va_list ap)
{
    pr->r.status = EMP_STATUS_FAIL;
    snprintf(pr->r.err_class, sizeof pr->r.err_class, "%s", err_class);
    vsnprintf(pr->r.message, sizeof pr->r.message, fmt, ap);
}

void emp_probe_fail(struct emp_probe *pr, const char *err_class, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emp_probe_vfail(pr, err_class, fmt, ap);
    va_end(ap);
}

void emp_probe_done(struct emp_probe *pr)
{
    /* done() exactly once per start: a probe that is not in flight has
     * completed already (or was never started). */
    EMP_ASSERT(pr->in_flight);
    EMP_ASSERT(emp_loop_on_thread(pr->loop));
    pr->in_flight = false;
    pr->done(pr);
}

void emp_probe_complete_ok(struct emp_probe *pr)
{
    pr->r.status = EMP_STATUS_OK;
    pr->r.err_class[0] = '\0';
    pr->r.message[0] = '\0';
    emp_probe_done(pr);
}

void emp_probe_finish_ok(struct emp_probe *pr, emp_probe_release_fn release, void *kstate)
{
    release(kstate);
    emp_probe_complete_ok(pr); /* may free or restart the probe: touch nothing after */
}

void emp_probe_finish_fail(struct emp_probe *pr, emp_probe_release_fn release, void *kstate,
                           const char *err_class, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emp_probe_vfail(pr, err_class, fmt, ap); /* before release: args may point into kstate */
    va_end(ap);
    release(kstate);
    emp_probe_done(pr);
}
