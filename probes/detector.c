/* The outage state machine. Times are those of the probes that were sent:
 * an outage begins at the first failing probe of the run that confirmed it
 * and ends at the first success of the run that confirmed the recovery. */
#include "probes/detector.h"

#include <stdio.h>
#include <string.h>

void emp_detector_init(struct emp_detector *d, int fail_threshold,
                       int recover_threshold)
{
    memset(d, 0, sizeof *d);
    d->fail_threshold = fail_threshold > 0 ? fail_threshold : 1;
    d->recover_threshold = recover_threshold > 0 ? recover_threshold : 1;
    d->state = EMP_D_UNKNOWN;
}

void emp_detector_restart(struct emp_detector *d)
{
    emp_detector_init(d, d->fail_threshold, d->recover_threshold);
}

void emp_detector_resume_outage(struct emp_detector *d, int64_t started_at_us,
                                const char *err_class, const char *message)
{
    d->state = EMP_D_DOWN;
    d->run = 0;
    d->outage_started_at_us = started_at_us;
    d->since_us = started_at_us;
    d->last_status = EMP_STATUS_FAIL;
    snprintf(d->run_err_class, sizeof d->run_err_class, "%s", err_class ? err_class : "");
    snprintf(d->run_message, sizeof d->run_message, "%s", message ? message : "");
}

/* A failure while UNKNOWN or UP: extend the failing run, maybe confirm. */
static enum emp_transition on_failure(struct emp_detector *d,
                                      const struct emp_result *r,
                                      struct emp_detector_event *ev)
{
    if (d->run == 0) {
        d->run_started_at_us = r->started_at_us;
        snprintf(d->run_err_class, sizeof d->run_err_class, "%s", r->err_class);
        snprintf(d->run_message, sizeof d->run_message, "%s", r->message);
    }
    d->run++;
    if (d->run < d->fail_threshold)
        return EMP_T_NONE;
    d->state = EMP_D_DOWN;
    d->run = 0;
    d->outage_started_at_us = d->run_started_at_us;
    d->since_us = d->run_started_at_us;
    ev->transition = EMP_T_OUTAGE_START;
    ev->outage_started_at_us = d->outage_started_at_us;
    ev->err_class = d->run_err_class;
    ev->message = d->run_message;
    return EMP_T_OUTAGE_START;
}

enum emp_transition emp_detector_observe(struct emp_detector *d,
                                         const struct emp_result *r,
                                         struct emp_detector_event *ev)
{
    bool success = r->status != EMP_STATUS_FAIL;
    memset(ev, 0, sizeof *ev);
    d->last_status = r->status;
    switch (d->state) {
    case EMP_D_UNKNOWN:
        if (success) {
            d->state = EMP_D_UP;
            d->since_us = r->started_at_us;
            d->run = 0;
            return EMP_T_NONE;
        }
        return on_failure(d, r, ev);
    case EMP_D_UP:
        if (success) {
            d->run = 0;
            return EMP_T_NONE;
        }
        return on_failure(d, r, ev);
    case EMP_D_DOWN:
        if (!success) {
            d->run = 0;
            return EMP_T_NONE;
        }
        if (d->run == 0)
            d->run_started_at_us = r->started_at_us;
        d->run++;
        if (d->run < d->recover_threshold)
            return EMP_T_NONE;
        d->state = EMP_D_UP;
        d->run = 0;
        d->since_us = d->run_started_at_us;
        ev->transition = EMP_T_OUTAGE_END;
        ev->outage_started_at_us = d->outage_started_at_us;
        ev->outage_ended_at_us = d->run_started_at_us;
        return EMP_T_OUTAGE_END;
    }
    return EMP_T_NONE;
}
