/* Helpers shared by the probe kinds. */
#include "probes/probe.h"

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

void emp_probe_complete_ok(struct emp_probe *pr)
{
    pr->r.status = EMP_STATUS_OK;
    pr->r.err_class[0] = '\0';
    pr->r.message[0] = '\0';
    pr->done(pr);
}
