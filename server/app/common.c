/* What the commands share: where the database and the schema are, and
 * how a failure is logged. */
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/log.h"

#include "app/app.h"

const char *emp_app_db_conninfo(const struct options *o)
{
    if (o->db != NULL)
        return o->db;
    const char *env = getenv("EMPIRIC_DB");
    return env != NULL ? env : "";
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
