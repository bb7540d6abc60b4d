/* Names and ownership of an SLA's definition (config/sla.h). */
#include "config/sla.h"

#include <stdlib.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const period_names[] = {"day", "week", "month", "quarter", "year"};
static const char *const rule_names[] = {"outages", "minutes"};

const char *emp_sla_period_name(enum emp_sla_period p)
{
    if ((unsigned)p < N_ELEMS(period_names))
        return period_names[p];
    return "unknown";
}

int emp_sla_period_parse(const char *s)
{
    for (size_t i = 0; s != NULL && i < N_ELEMS(period_names); i++)
        if (strcmp(s, period_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *emp_sla_rule_name(enum emp_sla_rule r)
{
    if ((unsigned)r < N_ELEMS(rule_names))
        return rule_names[r];
    return "unknown";
}

bool emp_sla_covers(const struct emp_sla *sla, const char *name, const char *group)
{
    if (sla == NULL)
        return false;
    for (size_t i = 0; name != NULL && i < sla->n_targets; i++)
        if (strcmp(sla->targets[i], name) == 0)
            return true;
    for (size_t i = 0; group != NULL && group[0] != '\0' && i < sla->n_groups; i++)
        if (strcmp(sla->groups[i], group) == 0)
            return true;
    return false;
}

void emp_sla_cleanup(struct emp_sla *sla)
{
    if (sla == NULL)
        return;
    free(sla->name);
    free(sla->credits);
    for (size_t i = 0; i < sla->n_targets; i++)
        free(sla->targets[i]);
    free(sla->targets);
    for (size_t i = 0; i < sla->n_groups; i++)
        free(sla->groups[i]);
    free(sla->groups);
    memset(sla, 0, sizeof *sla);
}
