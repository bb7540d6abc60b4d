/* An SLA's definition (config/sla.h): names, ownership, and reading the
 * configuration's "slas", each contract checked against the targets and
 * groups it names. */
#include "config/sla.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/parse.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define PERIOD_EXPECTED "one of \"day\", \"week\", \"month\", \"quarter\", \"year\""
#define RULE_EXPECTED "one of \"outages\", \"minutes\""
#define OBJECTIVE_EXPECTED "a percentage greater than 0 and at most 100"
#define FRACTION_EXPECTED "a number from 0 to less than 1"
#define CREDIT_EXPECTED "a percentage from 0 to 100"

static const struct emp_cfg_key sla_keys[] = {
    {"name", EMP_CFG_ALL_KINDS},    {"objective", EMP_CFG_ALL_KINDS},
    {"period", EMP_CFG_ALL_KINDS},  {"downtime_rule", EMP_CFG_ALL_KINDS},
    {"credits", EMP_CFG_ALL_KINDS}, {"exclude_unknown", EMP_CFG_ALL_KINDS},
    {"targets", EMP_CFG_ALL_KINDS}, {"groups", EMP_CFG_ALL_KINDS},
};
static const struct emp_cfg_key rule_keys[] = {
    {"kind", EMP_CFG_ALL_KINDS},
    {"max_failed_fraction", EMP_CFG_ALL_KINDS},
};
static const struct emp_cfg_key credit_keys[] = {
    {"below", EMP_CFG_ALL_KINDS},
    {"credit_percent", EMP_CFG_ALL_KINDS},
};

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

#define CREDIT_SHAPE "{\"below\": PERCENT, \"credit_percent\": PERCENT}"
#define RULE_SHAPE "{\"kind\": \"outages\"} or {\"kind\": \"minutes\", \"max_failed_fraction\": F}"

/* The target names and non-empty groups written in `targets`, whether or
 * not the rest of each target is valid, so that a mistake in a target is
 * not reported again at every SLA naming it. */
static void collect_refs(struct emp_cfg *c, const json_t *root, json_t *names, json_t *groups)
{
    const json_t *ts = json_object_get(root, "targets");
    size_t i;
    const json_t *t;
    if (!json_is_array(ts))
        return;
    json_array_foreach(ts, i, t)
    {
        const char *n = json_string_value(json_object_get(t, "name"));
        const char *g = json_string_value(json_object_get(t, "group"));
        if (n != NULL && json_object_set_new(names, n, json_true()) != 0)
            c->oom = true;
        if (g != NULL && g[0] != '\0' && json_object_set_new(groups, g, json_true()) != 0)
            c->oom = true;
    }
}

/* The list `key` of `s` into a new array of new strings: every entry must
 * be a key of `known` (else reported with `expected`) and appear once.
 * `what` names an entry in messages ("target"). */
static void load_refs(struct emp_cfg *c, const json_t *s, const char *base, const char *key,
                      const json_t *known, const char *expected, const char *what, char ***out,
                      size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    const json_t *v = json_object_get(s, key);
    if (v == NULL)
        return;
    struct emp_cfg_where w = emp_cfg_at_key(c, base, key);
    if (!json_is_array(v)) {
        emp_cfg_report(c, w.s, "expected an array of %s names, got %s", what, emp_cfg_show(c, v).s);
        return;
    }
    size_t n = json_array_size(v);
    if (n == 0)
        return;
    char **names = calloc(n, sizeof *names);
    json_t *seen = json_object();
    if (names == NULL || seen == NULL) {
        c->oom = true;
        free(names);
        json_decref(seen);
        return;
    }
    size_t i, k = 0;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        struct emp_cfg_where wi = emp_cfg_at_index(w.s, i);
        const char *name = json_string_value(e);
        if (name == NULL || json_object_get(known, name) == NULL) {
            emp_cfg_report(c, wi.s, "expected %s, got %s", expected, emp_cfg_show(c, e).s);
            continue;
        }
        const json_t *first = json_object_get(seen, name);
        if (first != NULL) {
            /* Shown as JSON: the name is the file's, control characters and all. */
            emp_cfg_report(c, wi.s, "duplicate %s %s (first at %s[%lld])", what,
                           emp_cfg_show(c, e).s, w.s, (long long)json_integer_value(first));
            continue;
        }
        if (json_object_set_new(seen, name, json_integer((json_int_t)i)) != 0)
            c->oom = true;
        names[k] = emp_cfg_dup(c, name);
        if (names[k] != NULL)
            k++;
    }
    json_decref(seen);
    *out = names;
    *n_out = k;
}

static void load_rule(struct emp_cfg *c, const json_t *s, const char *base, struct emp_sla *out)
{
    out->rule = EMP_DEFAULT_SLA_RULE;
    out->max_failed_fraction = 0.0;
    const json_t *r = json_object_get(s, "downtime_rule");
    if (r == NULL)
        return;
    struct emp_cfg_where w = emp_cfg_at_key(c, base, "downtime_rule");
    if (!json_is_object(r)) {
        emp_cfg_report(c, w.s, "expected %s, got %s", RULE_SHAPE, emp_cfg_show(c, r).s);
        return;
    }
    const char *kind;
    int rule = -1;
    enum emp_cfg_field f = emp_cfg_get_string(c, r, w.s, "kind", RULE_EXPECTED, &kind);
    if (f == EMP_CFG_ABSENT)
        emp_cfg_report_missing(c, w.s, "kind", RULE_EXPECTED);
    else if (f == EMP_CFG_OK && strcmp(kind, emp_sla_rule_name(EMP_SLA_RULE_OUTAGES)) == 0)
        rule = EMP_SLA_RULE_OUTAGES;
    else if (f == EMP_CFG_OK && strcmp(kind, emp_sla_rule_name(EMP_SLA_RULE_MINUTES)) == 0)
        rule = EMP_SLA_RULE_MINUTES;
    else if (f == EMP_CFG_OK)
        emp_cfg_report_value(c, r, w.s, "kind", RULE_EXPECTED, NULL);
    if (rule >= 0)
        out->rule = (enum emp_sla_rule)rule;

    double x;
    f = emp_cfg_get_number(c, r, w.s, "max_failed_fraction", FRACTION_EXPECTED, 0.0, &x);
    if (f == EMP_CFG_OK && rule == EMP_SLA_RULE_OUTAGES)
        emp_cfg_report(c, emp_cfg_at_key(c, w.s, "max_failed_fraction").s,
                       "not valid for kind outages (only for minutes)");
    else if (f == EMP_CFG_OK && !(x >= 0.0 && x < 1.0))
        emp_cfg_report_value(c, r, w.s, "max_failed_fraction", FRACTION_EXPECTED, NULL);
    else if (f == EMP_CFG_OK)
        out->max_failed_fraction = x;
    emp_cfg_check_keys(c, r, w.s, rule_keys, N_ELEMS(rule_keys), -1, "downtime_rule");
}

struct tier {
    double below, credit;
    size_t idx; /* in credits[] */
    const json_t *obj;
};

/* Highest threshold first; the order of the file among equals. */
static int cmp_tier(const void *pa, const void *pb)
{
    const struct tier *x = pa, *y = pb;
    if (x->below != y->below)
        return x->below > y->below ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Credit tiers, stored highest threshold first. Thresholds are distinct
 * and at most the objective (`objective` is the JSON value, or NULL when
 * it is missing or bad: then 100), and a lower threshold never owes a
 * smaller credit: a worse availability must not cost the vendor less. */
static void load_credits(struct emp_cfg *c, const json_t *s, const char *base,
                         const json_t *objective, struct emp_sla *out)
{
    const json_t *v = json_object_get(s, "credits");
    if (v == NULL)
        return;
    struct emp_cfg_where w = emp_cfg_at_key(c, base, "credits");
    if (!json_is_array(v)) {
        emp_cfg_report(c, w.s, "expected an array of %s, got %s", CREDIT_SHAPE,
                       emp_cfg_show(c, v).s);
        return;
    }
    size_t n = json_array_size(v);
    if (n == 0)
        return;
    struct tier *tiers = calloc(n, sizeof *tiers);
    if (tiers == NULL) {
        c->oom = true;
        return;
    }
    double max_below = objective != NULL ? json_number_value(objective) : 100.0;
    char below_expected[128];
    snprintf(below_expected, sizeof below_expected,
             "a percentage greater than 0 and at most the objective (%s)",
             objective != NULL ? emp_cfg_show(c, objective).s : "100");

    size_t i, k = 0;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        struct emp_cfg_where wi = emp_cfg_at_index(w.s, i);
        if (!json_is_object(e)) {
            emp_cfg_report(c, wi.s, "expected %s, got %s", CREDIT_SHAPE, emp_cfg_show(c, e).s);
            continue;
        }
        double below, credit;
        bool ok = true;
        enum emp_cfg_field f = emp_cfg_get_number(c, e, wi.s, "below", below_expected, 0.0, &below);
        if (f == EMP_CFG_ABSENT)
            emp_cfg_report_missing(c, wi.s, "below", below_expected);
        else if (f == EMP_CFG_OK && !(below > 0.0 && below <= max_below))
            emp_cfg_report_value(c, e, wi.s, "below", below_expected, NULL);
        ok = f == EMP_CFG_OK && below > 0.0 && below <= max_below;
        f = emp_cfg_get_number(c, e, wi.s, "credit_percent", CREDIT_EXPECTED, 0.0, &credit);
        if (f == EMP_CFG_ABSENT)
            emp_cfg_report_missing(c, wi.s, "credit_percent", CREDIT_EXPECTED);
        else if (f == EMP_CFG_OK && !(credit >= 0.0 && credit <= 100.0))
            emp_cfg_report_value(c, e, wi.s, "credit_percent", CREDIT_EXPECTED, NULL);
        ok = ok && f == EMP_CFG_OK && credit >= 0.0 && credit <= 100.0;
        emp_cfg_check_keys(c, e, wi.s, credit_keys, N_ELEMS(credit_keys), -1, "a credit tier");
        if (ok)
            tiers[k++] = (struct tier){below, credit, i, e};
    }

    qsort(tiers, k, sizeof *tiers, cmp_tier);
    size_t m = 0;
    for (size_t j = 0; j < k; j++) {
        const struct tier *t = &tiers[j];
        struct emp_cfg_where wt = emp_cfg_at_index(w.s, t->idx);
        if (m > 0 && t->below == tiers[m - 1].below) {
            emp_cfg_report(
                c, emp_cfg_at_key(c, wt.s, "below").s, "duplicate tier below %s (first at %s[%zu])",
                emp_cfg_show(c, json_object_get(t->obj, "below")).s, w.s, tiers[m - 1].idx);
            continue;
        }
        if (m > 0 && t->credit < tiers[m - 1].credit) {
            const struct tier *up = &tiers[m - 1];
            emp_cfg_report(c, emp_cfg_at_key(c, wt.s, "credit_percent").s,
                           "expected at least %s, the credit below %s at %s[%zu] (a lower "
                           "availability may not owe less), got %s",
                           emp_cfg_show(c, json_object_get(up->obj, "credit_percent")).s,
                           emp_cfg_show(c, json_object_get(up->obj, "below")).s, w.s, up->idx,
                           emp_cfg_show(c, json_object_get(t->obj, "credit_percent")).s);
            continue;
        }
        tiers[m++] = *t;
    }
    if (m > 0) {
        out->credits = calloc(m, sizeof *out->credits);
        if (out->credits == NULL) {
            c->oom = true;
            m = 0;
        }
    }
    for (size_t j = 0; j < m; j++)
        out->credits[j] = (struct emp_sla_credit){tiers[j].below, tiers[j].credit};
    out->n_credits = m;
    free(tiers);
}

/* Fill `out` from slas[i]. `seen` maps each valid SLA name so far to its
 * index; `names` and `groups` are the targets' names and groups. */
static void load_sla(struct emp_cfg *c, const json_t *s, size_t i, json_t *seen,
                     const json_t *names, const json_t *groups, struct emp_sla *out)
{
    struct emp_cfg_where base = emp_cfg_at_index("slas", i);
    out->period = EMP_DEFAULT_SLA_PERIOD;
    out->rule = EMP_DEFAULT_SLA_RULE;
    out->exclude_unknown = EMP_DEFAULT_EXCLUDE_UNKNOWN;
    if (!json_is_object(s)) {
        emp_cfg_report(c, base.s, "expected an object, got %s", emp_cfg_show(c, s).s);
        return;
    }

    const char *str;
    enum emp_cfg_field f = emp_cfg_get_string(c, s, base.s, "name", EMP_CFG_NAME_EXPECTED, &str);
    if (f == EMP_CFG_ABSENT) {
        emp_cfg_report_missing(c, base.s, "name", EMP_CFG_NAME_EXPECTED);
    } else if (f == EMP_CFG_OK && !emp_config_valid_name(str)) {
        emp_cfg_report_value(c, s, base.s, "name", EMP_CFG_NAME_EXPECTED, NULL);
    } else if (f == EMP_CFG_OK) {
        const json_t *first = json_object_get(seen, str);
        if (first != NULL)
            emp_cfg_report(c, emp_cfg_at_key(c, base.s, "name").s,
                           "duplicate SLA name \"%s\" (first at slas[%lld])", str,
                           (long long)json_integer_value(first));
        else if (json_object_set_new(seen, str, json_integer((json_int_t)i)) != 0)
            c->oom = true;
        out->name = emp_cfg_dup(c, str);
    }

    double objective;
    const json_t *objective_ok = NULL;
    f = emp_cfg_get_number(c, s, base.s, "objective", OBJECTIVE_EXPECTED, 0.0, &objective);
    if (f == EMP_CFG_ABSENT)
        emp_cfg_report_missing(c, base.s, "objective", OBJECTIVE_EXPECTED);
    else if (f == EMP_CFG_OK && !(objective > 0.0 && objective <= 100.0))
        emp_cfg_report_value(c, s, base.s, "objective", OBJECTIVE_EXPECTED, NULL);
    else if (f == EMP_CFG_OK)
        objective_ok = json_object_get(s, "objective");
    out->objective_pct = objective_ok != NULL ? objective : 100.0;

    f = emp_cfg_get_string(c, s, base.s, "period", PERIOD_EXPECTED, &str);
    int period = f == EMP_CFG_OK ? emp_sla_period_parse(str) : -1;
    if (f == EMP_CFG_OK && period < 0)
        emp_cfg_report_value(c, s, base.s, "period", PERIOD_EXPECTED, NULL);
    else if (period >= 0)
        out->period = (enum emp_sla_period)period;

    load_rule(c, s, base.s, out);
    load_credits(c, s, base.s, objective_ok, out);
    emp_cfg_get_bool(c, s, base.s, "exclude_unknown", EMP_DEFAULT_EXCLUDE_UNKNOWN,
                     &out->exclude_unknown);
    load_refs(c, s, base.s, "targets", names, "the name of a configured target", "target",
              &out->targets, &out->n_targets);
    load_refs(c, s, base.s, "groups", groups, "the group of a configured target", "group",
              &out->groups, &out->n_groups);

    /* An SLA that covers nothing is a mistake, not a way to switch it off. */
    const json_t *tv = json_object_get(s, "targets"), *gv = json_object_get(s, "groups");
    bool no_targets = tv == NULL || (json_is_array(tv) && json_array_size(tv) == 0);
    bool no_groups = gv == NULL || (json_is_array(gv) && json_array_size(gv) == 0);
    if (no_targets && no_groups)
        emp_cfg_report(c, base.s,
                       "expected \"targets\" or \"groups\" naming what the SLA covers, "
                       "got neither");
    emp_cfg_check_keys(c, s, base.s, sla_keys, N_ELEMS(sla_keys), -1, "an SLA");
}

void emp_cfg_load_slas(struct emp_cfg *c, const json_t *root, struct emp_config *cfg)
{
    const json_t *ss = json_object_get(root, "slas");
    if (ss == NULL)
        return;
    if (!json_is_array(ss)) {
        emp_cfg_report(c, "slas", "expected an array of SLA objects, got %s",
                       emp_cfg_show(c, ss).s);
        return;
    }
    size_t n = json_array_size(ss);
    if (n == 0)
        return;
    cfg->slas = calloc(n, sizeof *cfg->slas);
    json_t *seen = json_object(), *names = json_object(), *groups = json_object();
    if (cfg->slas == NULL || seen == NULL || names == NULL || groups == NULL) {
        c->oom = true;
        goto out;
    }
    cfg->n_slas = n;
    collect_refs(c, root, names, groups);
    for (size_t i = 0; i < n; i++)
        load_sla(c, json_array_get(ss, i), i, seen, names, groups, &cfg->slas[i]);
out:
    json_decref(seen);
    json_decref(names);
    json_decref(groups);
}
