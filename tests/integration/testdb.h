/* Scratch databases for integration tests. EMPIRIC_TEST_DB is a libpq
 * connection string (keywords or URI) to a server where the tests may
 * CREATE DATABASE; each testdb_create() makes a fresh empiric_t_<pid>_<n>
 * and testdb_drop() removes it. Without EMPIRIC_TEST_DB the tests FAIL:
 * an integration run that silently tested nothing would lie. */
#ifndef EMP_TESTDB_H
#define EMP_TESTDB_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/db.h"

struct testdb {
    char name[64];
    char *conninfo; /* of the new database; malloc'd */
};

/* Append `v` to `out` as a single-quoted conninfo value. */
static inline void testdb_quote(char *out, size_t size, const char *v)
{
    size_t o = strlen(out);
    if (o + 1 < size)
        out[o++] = '\'';
    for (; *v != '\0' && o + 3 < size; v++) {
        if (*v == '\'' || *v == '\\')
            out[o++] = '\\';
        out[o++] = *v;
    }
    if (o + 1 < size)
        out[o++] = '\'';
    out[o] = '\0';
}

/* The EMPIRIC_TEST_DB connection string with dbname replaced: a new string
 * (free()) or NULL. */
static inline char *testdb_conninfo_for(const char *dbname)
{
    const char *base = getenv("EMPIRIC_TEST_DB");
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(base != NULL ? base : "", &errmsg);
    if (opts == NULL) {
        fprintf(stderr, "testdb: EMPIRIC_TEST_DB is not a valid connection string: %s",
                errmsg != NULL ? errmsg : "(no detail)\n");
        PQfreemem(errmsg);
        return NULL;
    }
    size_t size = 4096;
    char *out = calloc(1, size);
    if (out == NULL) {
        PQconninfoFree(opts);
        return NULL;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;
        if (v == NULL)
            continue;
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s=", n ? " " : "", o->keyword);
        testdb_quote(out, size, v);
    }
    PQconninfoFree(opts);
    return out;
}

static inline void testdb_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Run one administrative command on the EMPIRIC_TEST_DB database. */
static inline int testdb_admin(const char *verb, const char *name, const char *suffix)
{
    const char *base = getenv("EMPIRIC_TEST_DB");
    PGconn *c = PQconnectdb(base);
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "testdb: could not connect with EMPIRIC_TEST_DB: %s",
                PQerrorMessage(c));
        goto out;
    }
    PQsetNoticeProcessor(c, testdb_quiet, NULL);
    char *ident = PQescapeIdentifier(c, name, strlen(name));
    if (ident == NULL)
        goto out;
    char sql[256];
    snprintf(sql, sizeof sql, "%s %s%s", verb, ident, suffix);
    PQfreemem(ident);
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        rc = 0;
    else
        fprintf(stderr, "testdb: %s failed: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
out:
    PQfinish(c);
    return rc;
}

/* Create a fresh database. Returns 0, or -1 after saying why on stderr. */
static inline int testdb_create(struct testdb *t)
{
    static int counter;
    memset(t, 0, sizeof *t);
    const char *base = getenv("EMPIRIC_TEST_DB");
    if (base == NULL || base[0] == '\0') {
        fprintf(stderr,
                "\n*** EMPIRIC_TEST_DB is not set: integration tests need a PostgreSQL.\n"
                "*** Set it to a libpq connection string of a server where a database\n"
                "*** may be created, e.g.\n"
                "***   EMPIRIC_TEST_DB='host=127.0.0.1 port=5432 user=postgres dbname=postgres'\n\n");
        return -1;
    }
    snprintf(t->name, sizeof t->name, "empiric_t_%ld_%d", (long)getpid(), counter++);
    if (testdb_admin("DROP DATABASE IF EXISTS", t->name, "") != 0 ||
        testdb_admin("CREATE DATABASE", t->name, " TEMPLATE template0 ENCODING 'UTF8'") != 0)
        return -1;
    t->conninfo = testdb_conninfo_for(t->name);
    if (t->conninfo == NULL) {
        testdb_admin("DROP DATABASE IF EXISTS", t->name, "");
        return -1;
    }
    return 0;
}

/* A fresh database with the schema of `schema_dir` applied, and the store's
 * connection to it in `*db`. Returns 0, or -1 after saying why on
 * stderr. */
static inline int testdb_create_migrated(struct testdb *t, const char *schema_dir,
                                         struct emp_db **db)
{
    struct emp_error err = {0};
    *db = NULL;
    if (testdb_create(t) != 0)
        return -1;
    if (emp_db_connect(t->conninfo, db, &err) != EMP_OK ||
        emp_db_migrate(*db, schema_dir, NULL, &err) != EMP_OK) {
        fprintf(stderr, "%s: %s\n", err.msg, err.detail);
        return -1;
    }
    return 0;
}

/* Drop the database (closing any session left in it) and free. */
static inline void testdb_drop(struct testdb *t)
{
    if (t->name[0] != '\0' &&
        testdb_admin("DROP DATABASE IF EXISTS", t->name, " WITH (FORCE)") != 0)
        testdb_admin("DROP DATABASE IF EXISTS", t->name, "");
    free(t->conninfo);
    memset(t, 0, sizeof *t);
}

/* Open a plain libpq connection to the test database, for checks the
 * store's API does not offer. */
static inline PGconn *testdb_pq(const struct testdb *t)
{
    PGconn *c = PQconnectdb(t->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "testdb: could not connect to %s: %s", t->name, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* First column of the first row of `sql` as an integer (-1 on error). */
static inline long long testdb_scalar(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "testdb: %s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    return v;
}

#endif
