/* What the commands share: where the database and the schema are, and
 * how a failure is logged. */
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/log.h"

#include "app/app.h"
#include "store/db.h"

const char *emp_app_db_conninfo(const struct options *o)
{
    if (o->db != NULL)
        return o->db;
    const char *env = getenv("EMPIRIC_DB");
    return env != NULL ? env : "";
}

enum emp_err emp_app_db_connect(const char *conninfo, struct emp_db **db, struct emp_error *err)
{
    int seconds = EMP_APP_DB_DEADLINE_S;
    const char *env = getenv("EMPIRIC_DB_DEADLINE_S");
    if (env != NULL && env[0] != '\0') {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (*end != '\0' || v < 0 || v > 86400)
            emp_warn("EMPIRIC_DB_DEADLINE_S: expected whole seconds from 0 to 86400; using the "
                     "default", "got=%.32s default_s=%d", env, EMP_APP_DB_DEADLINE_S);
        else
            seconds = (int)v;
    }
    struct emp_db_limits lim = {.call_ms = seconds * 1000};
    return emp_db_connect_limited(conninfo, &lim, db, err);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *emp_app_schema_dir(const struct options *o)
{
    if (o->schema != NULL)
        return o->schema;
    const char *env = getenv("EMPIRIC_SCHEMA_DIR");
    if (env != NULL)
        return env;
    if (is_dir(EMPIRIC_SOURCE_SCHEMA_DIR))
        return EMPIRIC_SOURCE_SCHEMA_DIR;
    return EMPIRIC_SCHEMA_DIR;
}

void emp_app_log_error(const char *what, const struct emp_error *e)
{
    char q1[600], q2[600];
    emp_errorf(what, "error=%s detail=%s", emp_log_quote(q1, sizeof q1, e->msg),
               emp_log_quote(q2, sizeof q2, e->detail));
}
