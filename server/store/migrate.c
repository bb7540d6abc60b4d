/* Migrations: schema/NNN_*.sql applied in order, each once and in its own
 * transaction, under an advisory lock so that two runners never collide. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store/dbi.h"

/* pg_advisory_lock key held by `migrate`: "Empiric" in ASCII. */
#define MIGRATE_LOCK_KEY "19542102965905763"
#define MIGRATION_MAX_BYTES (16 * 1024 * 1024)

static const struct dbi_stmt st_lock = {"emp_migrate_lock", "SELECT pg_advisory_lock($1::bigint)",
                                        1};
static const struct dbi_stmt st_unlock = {"emp_migrate_unlock",
                                          "SELECT pg_advisory_unlock($1::bigint)", 1};
static const struct dbi_stmt st_applied = {
    "emp_migrate_applied", "SELECT version FROM schema_migrations ORDER BY version", 0};
static const struct dbi_stmt st_record = {
    "emp_migrate_record",
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())", 2};

struct migration {
    int version;
    char *name;
};

static int migration_cmp(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Version of "NNN_anything.sql", or -1 when the name does not match. */
static int migration_version(const char *name)
{
    size_t n = strlen(name);
    size_t d = strspn(name, "0123456789");
    if (d == 0 || name[d] != '_' || n < d + 1 + 4 || strcmp(name + n - 4, ".sql") != 0)
        return -1;
    errno = 0;
    char *end = NULL;
    long v = strtol(name, &end, 10);
    if (errno != 0 || end != name + d || v <= 0 || v > INT_MAX)
        return -1;
    return (int)v;
}

static void migrations_free(struct migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].name);
    free(m);
}

static enum emp_err list_migrations(const char *dir, struct migration **out, size_t *n_out,
                                    struct emp_error *err)
{
    struct migration *m = NULL;
    size_t n = 0, cap = 0;
    enum emp_err rc = EMP_OK;
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return emp_error_set(err, EMP_EIO, strerror(errno),
                             "could not open schema directory \"%s\"", dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int v = migration_version(de->d_name);
        if (v < 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct migration *nm = realloc(m, ncap * sizeof *nm);
            if (nm == NULL) {
                rc = emp_error_set(err, EMP_ENOMEM, NULL, "could not list migrations");
                goto out;
            }
            m = nm;
            cap = ncap;
        }
        m[n].version = v;
        m[n].name = strdup(de->d_name);
        if (m[n].name == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "could not list migrations");
            goto out;
        }
        n++;
    }
    if (n > 0)
        qsort(m, n, sizeof *m, migration_cmp);
    for (size_t i = 1; i < n; i++) {
        if (m[i].version == m[i - 1].version) {
            rc = emp_error_set(err, EMP_EINVAL, NULL,
                               "two migrations with version %d: \"%s\" and \"%s\"",
                               m[i].version, m[i - 1].name, m[i].name);
            goto out;
        }
    }
out:
    closedir(d);
    if (rc != EMP_OK) {
        migrations_free(m, n);
        return rc;
    }
    *out = m;
    *n_out = n;
    return EMP_OK;
}

static enum emp_err read_file(const char *dir, const char *name, char **out,
                              struct emp_error *err)
{
    char path[4096];
    *out = NULL;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return emp_error_set(err, EMP_EINVAL, NULL, "migration path too long: \"%s\"", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not open migration \"%s\"",
                             path);
    enum emp_err rc = EMP_OK;
    char *text = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || st.st_size > MIGRATION_MAX_BYTES) {
        rc = emp_error_set(err, EMP_EIO, "not a regular file of at most 16 MiB",
                           "could not read migration \"%s\"", path);
        goto out;
    }
    text = malloc((size_t)st.st_size + 1);
    if (text == NULL) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "could not read migration \"%s\"", path);
        goto out;
    }
    size_t got = fread(text, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        rc = emp_error_set(err, EMP_EIO, strerror(errno), "could not read migration \"%s\"",
                           path);
        goto out;
    }
    text[got] = '\0';
out:
    fclose(f);
    if (rc != EMP_OK) {
        free(text);
        return rc;
    }
    *out = text;
    return EMP_OK;
}

static bool version_in(const PGresult *res, int version)
{
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        if (dbi_int64(res, i, 0) == version)
            return true;
    return false;
}

/* Apply one file and record it, in one transaction. */
static enum emp_err apply_migration(struct emp_db *db, const char *dir,
                                    const struct migration *m, struct emp_error *err)
{
    char what[320];
    char vbuf[24];
    char *text = NULL;
    snprintf(what, sizeof what, "could not apply migration \"%s\"", m->name);
    enum emp_err rc = read_file(dir, m->name, &text, err);
    if (rc != EMP_OK)
        return rc;
    rc = dbi_cmd(db, "BEGIN", err, what);
    if (rc != EMP_OK)
        goto out;
    /* The simple-query protocol runs the whole file, several statements. */
    PGresult *res = PQexec(db->conn, text);
    ExecStatusType s = PQresultStatus(res);
    if (res == NULL || (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY)) {
        rc = dbi_result_error(res, db, err, what);
        PQclear(res);
        goto out;
    }
    PQclear(res);
    if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS) {
        rc = emp_error_set(err, EMP_EINVAL, "migrations must not contain BEGIN, COMMIT or ROLLBACK",
                           "%s", what);
        goto out;
    }
    const char *vals[] = {dbi_i64s(vbuf, m->version), m->name};
    rc = dbi_exec_cmd(db, &st_record, vals, err, what);
    if (rc != EMP_OK)
        goto out;
    rc = dbi_cmd(db, "COMMIT", err, what);
out:
    if (rc != EMP_OK)
        dbi_rollback(db);
    free(text);
    return rc;
}

enum emp_err emp_db_migrate(struct emp_db *db, const char *schema_dir,
                            int *applied, struct emp_error *err)
{
    struct migration *m = NULL;
    size_t n = 0;
    PGresult *done = NULL;
    bool locked = false;
    int count = 0;
    const char *key[] = {MIGRATE_LOCK_KEY};
    if (applied != NULL)
        *applied = 0;

    enum emp_err rc = list_migrations(schema_dir, &m, &n, err);
    if (rc != EMP_OK)
        return rc;
    rc = dbi_exec_cmd(db, &st_lock, key, err, "could not take the migration lock");
    if (rc != EMP_OK)
        goto out;
    locked = true;
    rc = dbi_cmd(db,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version int PRIMARY KEY,"
                 " name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 err, "could not create schema_migrations");
    if (rc != EMP_OK)
        goto out;
    rc = dbi_exec(db, &st_applied, NULL, &done, err, "could not read schema_migrations");
    if (rc != EMP_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (version_in(done, m[i].version))
            continue;
        rc = apply_migration(db, schema_dir, &m[i], err);
        if (rc != EMP_OK)
            goto out;
        emp_info("migration applied", "version=%d file=%s", m[i].version, m[i].name);
        count++;
    }
out:
    if (locked && emp_db_ok(db))
        dbi_exec_cmd(db, &st_unlock, key, NULL, "could not release the migration lock");
    PQclear(done);
    migrations_free(m, n);
    if (applied != NULL)
        *applied = count;
    return rc;
}
