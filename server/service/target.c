/* The targets made through the API, loaded from the store into the prober
 * at start, held to the policy of such targets as when they were made. */
#include "service/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/target.h"
#include "core/log.h"
#include "probes/policy.h"
#include "probes/prober.h"
#include "store/db.h"
#include "probes/kinds.h"

enum emp_err emp_target_load_api(struct emp_db *db, const struct emp_config *cfg,
                                 struct emp_prober *p, size_t *n_loaded,
                                 struct emp_error *err)
{
    struct emp_api_target *t = NULL;
    size_t n = 0, loaded = 0;
    if (n_loaded != NULL)
        *n_loaded = 0;
    enum emp_err rc = emp_db_api_targets(db, &t, &n, err);
    if (rc != EMP_OK)
        return rc;
    for (size_t i = 0; i < n && rc == EMP_OK; i++) {
        if (emp_config_find_target(cfg, t[i].name) >= 0) {
            emp_warn("target made through the API is in the configuration file too; "
                     "the file's definition is used",
                     "target=%s", t[i].name);
            continue;
        }
        char source[EMP_NAME_MAX + 64];
        snprintf(source, sizeof source, "targets.api_definition of %s", t[i].name);
        struct emp_target_config tc;
        size_t nerrs = 0;
        enum emp_err e = emp_config_parse_target(t[i].definition, strlen(t[i].definition), source,
                                                 NULL, &emp_probe_kinds, &tc, stderr, &nerrs);
        bool valid = e == EMP_OK && strcmp(tc.name, t[i].name) == 0;
        /* Made before the policy was, or under a looser one: not probed
         * now, kept in the store for the operator to see. */
        enum emp_err pe = EMP_OK;
        if (valid) {
            tc.policy = &cfg->target_policy;
            pe = emp_policy_check_target(&tc, source, stderr, &nerrs);
        }
        if (e == EMP_ENOMEM || pe == EMP_ENOMEM)
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
        else if (!valid)
            emp_warn("target made through the API no longer validates; not probed",
                     "target=%s problems=%zu", t[i].name, nerrs);
        else if (pe != EMP_OK)
            emp_warn("target made through the API is refused by api.target_policy; not probed",
                     "target=%s problems=%zu", t[i].name, nerrs);
        else if (emp_prober_put(p, t[i].id, &tc) != 0)
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
        else
            loaded++;
        emp_target_config_cleanup(&tc);
    }
    emp_db_api_targets_free(t, n);
    if (n_loaded != NULL)
        *n_loaded = loaded;
    return rc;
}
