/* The empiric command's subcommands, one file each (app/<command>.c), and
 * what they share. Each returns the process's exit status: EXIT_SUCCESS,
 * EXIT_FAILURE, or EXIT_USAGE for a bad command line or configuration. */
#ifndef EMP_APP_H
#define EMP_APP_H

#include "core/err.h"

#define EXIT_USAGE 2

/* The options every command takes (given before or after the command). */
struct options {
    const char *config;
    const char *db;
    const char *schema;
};

int emp_app_migrate(const struct options *o);
int emp_app_check_config(const char *path);
int emp_app_serve(const struct options *o);
int emp_app_import(struct options *o, int argc, char **argv);
int emp_app_report(struct options *o, int argc, char **argv);
/* empiric token create|list|revoke [NAME]: argv[0] is the subcommand. */
int emp_app_token(const char *conninfo, int argc, char **argv);

/* Connect for a command: each call answered within EMPIRIC_DB_DEADLINE_S
 * seconds (default EMP_APP_DB_DEADLINE_S; 0: wait for ever), else it fails
 * and the command with it, rather than wait on a frozen server. migrate and
 * import connect without it (their statements may rightly take long). */
#define EMP_APP_DB_DEADLINE_S 60
struct emp_db;
enum emp_err emp_app_db_connect(const char *conninfo, struct emp_db **db, struct emp_error *err);

/* --db, else EMPIRIC_DB, else "" (the PG* environment). */
const char *emp_app_db_conninfo(const struct options *o);
/* --schema, else EMPIRIC_SCHEMA_DIR, else the source tree's schema/ when it
 * is there, else the installed one. */
const char *emp_app_schema_dir(const struct options *o);
/* One log line: `what`, with the error's message and detail. */
void emp_app_log_error(const char *what, const struct emp_error *e);

#endif
