/* An SLA as the configuration defines it: objective, calendar period,
 * downtime rule, credit tiers and what it covers. Data only; the verdict of
 * a contract over observed time is computed by analysis/sla.h. */
#ifndef EMP_CONFIG_SLA_H
#define EMP_CONFIG_SLA_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

/* Calendar periods, all in UTC. A week is an ISO 8601 week: Monday 00:00
 * to the next Monday, labelled with its ISO week-year. */
enum emp_sla_period { EMP_SLA_DAY = 0, EMP_SLA_WEEK, EMP_SLA_MONTH, EMP_SLA_QUARTER,
                      EMP_SLA_YEAR };

/* How downtime is counted.
 * OUTAGES: observed outage time is downtime.
 * MINUTES: a minute is down when the fraction of its probes that failed
 *          exceeds max_failed_fraction (0: any failed probe). */
enum emp_sla_rule { EMP_SLA_RULE_OUTAGES = 0, EMP_SLA_RULE_MINUTES };

/* One service-credit tier: `credit_pct` percent is owed when availability is
 * strictly below `below_pct` percent. */
struct emp_sla_credit {
    double below_pct;
    double credit_pct;
};

/* A contract as configured. Every pointer is owned by the struct
 * (emp_sla_cleanup frees them). */
struct emp_sla {
    char *name;
    double objective_pct;         /* (0, 100] */
    enum emp_sla_period period;
    enum emp_sla_rule rule;
    double max_failed_fraction;   /* [0, 1), MINUTES only */
    struct emp_sla_credit *credits; /* sorted by below_pct, highest first */
    size_t n_credits;
    bool exclude_unknown;         /* true: availability over observed time only */
    char **targets;               /* target names covered */
    size_t n_targets;
    char **groups;                /* groups covered: every target of the group */
    size_t n_groups;
};

/* Name as written in the configuration ("day", "week", "month", "quarter",
 * "year"), or "unknown". */
const char *emp_sla_period_name(enum emp_sla_period p);
/* The period called `s`; returns -1 when there is none. */
int emp_sla_period_parse(const char *s);
/* "outages" or "minutes", or "unknown". */
const char *emp_sla_rule_name(enum emp_sla_rule r);

/* Whether `sla` covers the target `name` in `group` ("" or NULL: none). */
bool emp_sla_covers(const struct emp_sla *sla, const char *name, const char *group);

/* Free what `sla` owns and zero it; accepts NULL. */
void emp_sla_cleanup(struct emp_sla *sla);

struct emp_cfg;
struct emp_config;
/* The configuration's "slas", after its targets (config.c uses it). */
void emp_cfg_load_slas(struct emp_cfg *c, const json_t *root, struct emp_config *cfg);

#endif
