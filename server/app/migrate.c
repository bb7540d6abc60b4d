/* empiric migrate: apply the schema migrations; empiric check-config: validate
 * a configuration file without running it. */
#include <stdio.h>
#include <stdlib.h>

#include "config/config.h"
#include "core/log.h"
#include "store/db.h"

#include "app/app.h"
#include "probes/kinds.h"

int emp_app_migrate(const struct options *o)
{
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    int applied = 0;
    const char *dir = emp_app_schema_dir(o);
    if (emp_db_connect(emp_app_db_conninfo(o), &db, &err) != EMP_OK) {
        emp_app_log_error("could not connect to database", &err);
        return EXIT_FAILURE;
    }
    int rc = EXIT_SUCCESS;
    if (emp_db_migrate(db, dir, &applied, &err) != EMP_OK) {
        emp_app_log_error("migration failed", &err);
        rc = EXIT_FAILURE;
    } else {
        emp_info("migrated", "applied=%d schema=%s", applied, dir);
    }
    emp_db_close(db);
    return rc;
}

int emp_app_check_config(const char *path)
{
    struct emp_config *cfg = NULL;
    size_t nerrs = 0;
    if (emp_config_load(path, &emp_probe_kinds, &cfg, stderr, &nerrs) != EMP_OK) {
        fprintf(stderr, "%s: %zu problem%s\n", path, nerrs, nerrs == 1 ? "" : "s");
        return EXIT_USAGE;
    }
    printf("%s: ok (%zu target%s)\n", path, cfg->n_targets, cfg->n_targets == 1 ? "" : "s");
    emp_config_free(cfg);
    return EXIT_SUCCESS;
}
