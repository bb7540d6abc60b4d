/* Helpers shared by the probe kinds. */
#include "probe.h"

#include <stdarg.h>
#include <stdio.h>

const char *emp_status_name(enum emp_status s)
{
    switch (s) {
    case EMP_STATUS_OK: return "ok";
    case EMP_STATUS_DEGRADED: return "degraded";
    case EMP_STATUS_FAIL: return "fail";
    }
    return "fail";
}

void emp_probe_fail(struct emp_probe *pr, const char *err_class, const char *fmt, ...)
{
    pr->r.status = EMP_STATUS_FAIL;
    snprintf(pr->r.err_class, sizeof pr->r.err_class, "%s", err_class);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pr->r.message, sizeof pr->r.message, fmt, ap);
    va_end(ap);
}
