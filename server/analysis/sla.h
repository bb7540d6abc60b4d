/* SLA verification: a contract (objective, calendar period, downtime rule,
 * credit tiers) checked against what Empiric observed, one calendar period
 * (UTC) at a time. Pure: no I/O, no clock — `now` is an argument. */
#ifndef EMP_SLA_H
#define EMP_SLA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/sla.h"
#include "core/err.h"
#include "core/model.h"

/* Earliest and latest instant a period may hold: 1970-01-01 and
 * 9999-12-31T23:59:59.999999Z (labels keep four-digit years). */
#define EMP_SLA_MIN_US INT64_C(0)
#define EMP_SLA_MAX_US INT64_C(253402300799999999)
/* At most this many periods in one computation (ten years of days). */
#define EMP_SLA_MAX_PERIODS 3660
/* Longest label plus NUL: "2026-11-25". */
#define EMP_SLA_LABEL_SIZE 16

/* The period of kind `p` holding instant `t_us`: [*start_us, *end_us).
 * Returns EMP_OK, or EMP_ERANGE when t is outside [EMP_SLA_MIN_US,
 * EMP_SLA_MAX_US]. */
enum emp_err emp_sla_period_bounds(enum emp_sla_period p, int64_t t_us, int64_t *start_us,
                                   int64_t *end_us);

/* Label of the period of kind `p` holding `t_us` into `buf` (at least
 * EMP_SLA_LABEL_SIZE bytes): "2026-11-25", "2026-W48", "2026-11",
 * "2026-Q4", "2026". Returns EMP_OK or EMP_ERANGE. */
enum emp_err emp_sla_period_label(enum emp_sla_period p, int64_t t_us, char *buf);

/* The whole periods that a report over [from, to) covers: the caller loads
 * spans, outages and failures overlapping [*load_from_us, *load_to_us) and
 * passes them to emp_sla_compute. Returns EMP_OK, EMP_EINVAL (to < from) or
 * EMP_ERANGE (outside the supported years). */
enum emp_err emp_sla_bounds(const struct emp_sla *sla, int64_t from_us, int64_t to_us,
                            int64_t *load_from_us, int64_t *load_to_us);

/* A target's observations, all borrowed. Spans oldest first (several
 * probers' spans may overlap); the last one is the live one, observed until
 * min(now, end + grace) as in emp_uptime_compute. Outages in any order,
 * ongoing ones with ended_at_us == 0. Failures in any order: every failing
 * probe result of every prober. `interval_ms` is the target's probe
 * interval (needed by the MINUTES rule). */
struct emp_sla_input {
    const struct emp_span *spans;
    size_t n_spans;
    const struct emp_outage *outages;
    size_t n_outages;
    const struct emp_failure *failures;
    size_t n_failures;
    int64_t interval_ms;
};

/* One calendar period.
 *
 * Times: `elapsed` is [start, min(end, now)); `observed` is the part of it
 * inside coverage spans, `unknown` the rest. `counted` is the time the
 * availability is over: `observed` (exclude_unknown, for MINUTES whole
 * known minutes) or `elapsed` (unknown time counted as up).
 *
 * Absent figures: when nothing of the period was observed, availability_pct
 * and credit_pct are NaN and `met` is false and means nothing — print all
 * three as null (check isnan(availability_pct)). */
struct emp_sla_period_result {
    char label[EMP_SLA_LABEL_SIZE];
    int64_t start_us, end_us;     /* the whole calendar period */
    bool partial;                 /* still in progress: end > now */
    int64_t elapsed_us, observed_us, unknown_us, counted_us;
    int64_t downtime_us;          /* under the contract's rule */
    int64_t allowed_downtime_us;  /* (1 - objective/100) x counted, rounded */
    int64_t down_minutes;         /* MINUTES rule: minutes counted down */
    double availability_pct;      /* 100 (counted - downtime) / counted */
    double objective_pct;
    bool met;                     /* downtime <= allowed, i.e. availability >= objective */
    double credit_pct;            /* 0 when no tier applies */
    const size_t *outages;        /* indices into the input's outages that
                                     overlap [start, end), in input order;
                                     borrowed from the report */
    size_t n_outages;
};

/* Result of emp_sla_compute; release with emp_sla_report_cleanup. */
struct emp_sla_report {
    struct emp_sla_period_result *periods; /* oldest first */
    size_t n_periods;
    size_t *outage_pool;          /* backs every period's `outages` */
};

/* Verify `sla` over every calendar period that overlaps [from, to) and has
 * begun by `now`. Each period is evaluated whole (data outside [from, to)
 * but inside the period counts: load it over emp_sla_bounds). Fills `out`
 * (zeroed first). Returns EMP_OK; EMP_EINVAL for NULL arguments, to < from,
 * or a MINUTES rule without a positive interval; EMP_ERANGE for times
 * outside the supported years or more than EMP_SLA_MAX_PERIODS periods;
 * EMP_ENOMEM (then `out` is empty). */
enum emp_err emp_sla_compute(const struct emp_sla *sla, int64_t from_us, int64_t to_us,
                             int64_t now_us, const struct emp_sla_input *in,
                             struct emp_sla_report *out);

/* Free what `r` holds and zero it; accepts NULL and a zeroed report. */
void emp_sla_report_cleanup(struct emp_sla_report *r);

#endif
