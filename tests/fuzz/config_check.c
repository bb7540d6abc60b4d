/* What a loaded configuration must look like whatever the input: every
 * value inside the bounds docs/configuration.md documents, names valid and
 * unique, each kind's required fields present; and a refusal that reports each
 * problem as one line naming the file, and returns nothing. */
#include "config_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "tests/support/target.h"

void fuzz_check_target(const struct emp_target_config *t)
{
    FUZZ_CHECK(t->name != NULL && fuzz_is_name(t->name));
    FUZZ_CHECK(t->group != NULL && strlen(t->group) <= EMP_NAME_MAX);
    for (const char *p = t->group; *p != '\0'; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
    FUZZ_CHECK(t->interval_ms >= EMP_MIN_INTERVAL_MS && t->interval_ms <= EMP_MAX_INTERVAL_MS);
    FUZZ_CHECK(t->timeout_ms >= EMP_MIN_TIMEOUT_MS && t->timeout_ms <= t->interval_ms);
    FUZZ_CHECK(t->fail_threshold >= 1 && t->fail_threshold <= EMP_MAX_THRESHOLD);
    FUZZ_CHECK(t->recover_threshold >= 1 && t->recover_threshold <= EMP_MAX_THRESHOLD);
    FUZZ_CHECK(t->degraded_ms >= 0 && t->degraded_ms <= t->timeout_ms);
    /* The kind's own fields, read through its JSON form (a spec is
     * private to its probe file). */
    FUZZ_CHECK(t->kind != NULL && emp_kinds_find(&emp_probe_kinds, t->kind->name) == t->kind);
    FUZZ_CHECK(t->spec != NULL);
    char s[2048];
    if (strcmp(t->kind->name, "http") == 0) {
        const char *url = test_target_str(t, "url", s, sizeof s);
        FUZZ_CHECK(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
        json_t *es = test_target_field(t, "expect_status");
        FUZZ_CHECK(json_is_array(es) && json_array_size(es) <= 16);
        size_t k;
        json_t *v;
        json_array_foreach(es, k, v)
            FUZZ_CHECK(json_integer_value(v) >= 100 && json_integer_value(v) <= 599);
        json_decref(es);
    } else if (strcmp(t->kind->name, "tcp") == 0) {
        FUZZ_CHECK(test_target_str(t, "host", s, sizeof s)[0] != '\0');
        long long port = test_target_int(t, "port");
        FUZZ_CHECK(port >= 1 && port <= 65535);
    } else if (strcmp(t->kind->name, "postgres") == 0) {
        FUZZ_CHECK(test_target_str(t, "conninfo", s, sizeof s)[0] != '\0');
        FUZZ_CHECK(test_target_str(t, "query", s, sizeof s)[0] != '\0');
    } else {
        FUZZ_CHECK(!"unknown kind");
    }
}

static void check_sla(const struct emp_config *cfg, size_t i)
{
    const struct emp_sla *s = &cfg->slas[i];
    FUZZ_CHECK(s->name != NULL && fuzz_is_name(s->name));
    FUZZ_CHECK(emp_config_find_sla(cfg, s->name) == (int)i);
    FUZZ_CHECK(s->objective_pct > 0.0 && s->objective_pct <= 100.0);
    FUZZ_CHECK(s->max_failed_fraction >= 0.0 && s->max_failed_fraction < 1.0);
    FUZZ_CHECK(s->n_targets + s->n_groups > 0);
    for (size_t k = 0; k < s->n_credits; k++) {
        const struct emp_sla_credit *c = &s->credits[k];
        FUZZ_CHECK(c->below_pct > 0.0 && c->below_pct <= s->objective_pct);
        FUZZ_CHECK(c->credit_pct >= 0.0 && c->credit_pct <= 100.0);
        /* Highest threshold first, thresholds distinct, and a lower
         * availability never owes less. */
        if (k > 0) {
            FUZZ_CHECK(c->below_pct < s->credits[k - 1].below_pct);
            FUZZ_CHECK(c->credit_pct >= s->credits[k - 1].credit_pct);
        }
    }
    for (size_t k = 0; k < s->n_targets; k++) {
        int t = emp_config_find_target(cfg, s->targets[k]);
        FUZZ_CHECK(t >= 0);
        FUZZ_CHECK(emp_sla_covers(s, s->targets[k], cfg->targets[t].group));
    }
    for (size_t k = 0; k < s->n_groups; k++) {
        bool found = false;
        for (size_t t = 0; t < cfg->n_targets && !found; t++)
            found = strcmp(cfg->targets[t].group, s->groups[k]) == 0;
        FUZZ_CHECK(found);
    }
}

void fuzz_check_messages(const char *msgs, size_t len, const char *source, size_t nerrs)
{
    size_t lines = 0, source_len = strlen(source);
    const char *p = msgs, *end = msgs + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        FUZZ_CHECK(nl != NULL);
        FUZZ_CHECK((size_t)(nl - p) > source_len && memcmp(p, source, source_len) == 0 &&
                   p[source_len] == ':');
        lines++;
        p = nl + 1;
    }
    FUZZ_CHECK(lines == nerrs);
}

size_t fuzz_config_load_and_check(const char *text, const char *name)
{
    char *msgs = NULL;
    size_t msgs_len = 0;
    FILE *errs = open_memstream(&msgs, &msgs_len);
    FUZZ_CHECK(errs != NULL);
    struct emp_config *cfg = (struct emp_config *)1;
    size_t nerrs = 12345;
    enum emp_err rc = emp_config_load_string(text, name, &emp_probe_kinds, &cfg, errs, &nerrs);
    FUZZ_CHECK(fclose(errs) == 0);
    fuzz_check_messages(msgs, msgs_len, name, nerrs);
    free(msgs);

    size_t n = 0;
    if (rc != EMP_OK) {
        FUZZ_CHECK(rc == EMP_ECONFIG || rc == EMP_ENOMEM);
        FUZZ_CHECK(cfg == NULL && nerrs > 0);
        return 0;
    }
    FUZZ_CHECK(cfg != NULL && nerrs == 0);
    FUZZ_CHECK(cfg->path != NULL && strcmp(cfg->path, name) == 0);
    FUZZ_CHECK(cfg->listen != NULL && cfg->listen_host != NULL && cfg->listen_host[0] != '\0');
    FUZZ_CHECK(cfg->listen_port >= 1 && cfg->listen_port <= 65535);
    FUZZ_CHECK(cfg->prober_name != NULL && fuzz_is_name(cfg->prober_name));
    FUZZ_CHECK(cfg->prober_location != NULL);
    FUZZ_CHECK((cfg->n_targets == 0) == (cfg->targets == NULL));
    for (size_t i = 0; i < cfg->n_targets; i++) {
        fuzz_check_target(&cfg->targets[i]);
        FUZZ_CHECK(emp_config_find_target(cfg, cfg->targets[i].name) == (int)i);
    }
    for (size_t i = 0; i < cfg->n_slas; i++)
        check_sla(cfg, i);
    FUZZ_CHECK(cfg->spool_path != NULL && cfg->spool_path[0] != '\0');
    FUZZ_CHECK(cfg->spool_max_mb >= 1 && cfg->spool_max_mb <= 1048576);
    FUZZ_CHECK(cfg->spool_fsync >= EMP_FSYNC_NEVER && cfg->spool_fsync <= EMP_FSYNC_ALWAYS);
    FUZZ_CHECK(cfg->max_lag_ms >= 1 && cfg->max_lag_ms <= 60000);
    FUZZ_CHECK(cfg->n_canaries <= EMP_MAX_CANARIES);
    for (size_t i = 0; i < cfg->n_canaries; i++) {
        FUZZ_CHECK(emp_config_find_target(cfg, cfg->canaries[i]) >= 0);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(cfg->canaries[k], cfg->canaries[i]) != 0);
    }
    n = cfg->n_targets;
    emp_config_free(cfg);
    return n;
}
