/* The per-(target, prober) outage state machine of DESIGN.md: DOWN after
 * fail_threshold consecutive failures, UP after recover_threshold consecutive
 * successes. An outage starts at the FIRST failing probe of the failing run
 * and ends at the FIRST success of the recovering run. Degraded results are
 * successes for the state machine and are only shown. */
#ifndef EMP_DETECTOR_H
#define EMP_DETECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"

enum emp_dstate { EMP_D_UNKNOWN = 0, EMP_D_UP, EMP_D_DOWN };

struct emp_detector {
    int fail_threshold;
    int recover_threshold;
    enum emp_dstate state;
    int run;                    /* length of the current run against the state */
    int64_t run_started_at_us;  /* first probe of that run */
    int64_t outage_started_at_us; /* while DOWN */
    int64_t since_us;           /* when the state began (outage start, recovery) */
    enum emp_status last_status;
    char run_err_class[EMP_ERRCLASS_MAX]; /* first error of the failing run */
    char run_message[EMP_ERRMSG_MAX];
};

/* What one observation changed. */
enum emp_transition { EMP_T_NONE = 0, EMP_T_OUTAGE_START, EMP_T_OUTAGE_END };

struct emp_detector_event {
    enum emp_transition transition;
    int64_t outage_started_at_us; /* for START and END */
    int64_t outage_ended_at_us;   /* for END */
    const char *err_class;        /* for START: first error of the run (borrowed) */
    const char *message;
};

void emp_detector_init(struct emp_detector *d, int fail_threshold,
                       int recover_threshold);

/* Continue an outage left open by a previous run: state DOWN since
 * `started_at_us`. */
void emp_detector_resume_outage(struct emp_detector *d, int64_t started_at_us,
                                const char *err_class, const char *message);

/* Start afresh after time nobody can vouch for (a step of the wall clock):
 * UNKNOWN, no run in progress, the thresholds kept. An outage it was in
 * must have been closed by the caller. */
void emp_detector_restart(struct emp_detector *d);

/* Feed one result; fills `ev` (borrowing strings from `d`) and returns the
 * transition. */
enum emp_transition emp_detector_observe(struct emp_detector *d,
                                         const struct emp_result *r,
                                         struct emp_detector_event *ev);

#endif
