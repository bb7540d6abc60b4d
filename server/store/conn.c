/* Connections to PostgreSQL: one per thread that needs one (libpq allows
 * no sharing), and the API threads' small pool with a statement timeout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "store/dbi.h"

static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    char q[600];
    size_t n = strlen(message);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(n > 0 && message[n - 1] == '\n' ? n - 1 : n),
             message);
    emp_debug("database notice", "notice=%s", emp_log_quote(q, sizeof q, line));
}

/* Connect within `lim` and, when not 0, by `until_mono_us`. */
static enum emp_err connect_until(const char *conninfo, const struct emp_db_limits *lim,
                                  int64_t until_mono_us, struct emp_db **out,
                                  struct emp_error *err)
{
    *out = NULL;
    struct emp_db *db = calloc(1, sizeof *db);
    if (db == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not connect to database");
    if (lim != NULL) {
        db->call_ms = lim->call_ms > 0 ? lim->call_ms : 0;
        db->statement_timeout_ms = lim->statement_timeout_ms > 0 ? lim->statement_timeout_ms : 0;
        db->waiting = lim->waiting;
        db->waiting_arg = lim->waiting_arg;
    }
    db->until_mono_us = until_mono_us;
    /* Defaults first so the caller's conninfo overrides them; our data is
     * UTF-8, so the client encoding comes last and always wins. */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                          "client_encoding", NULL};
    const char *vals[] = {"10", "empiric", conninfo != NULL ? conninfo : "", "UTF8", NULL};
    enum emp_err rc = dbi_open(db, keys, vals, err);
    if (rc != EMP_OK) {
        PQfinish(db->conn);
        free(db);
        return rc;
    }
    PQsetNoticeProcessor(db->conn, notice_to_log, NULL);
    *out = db;
    return EMP_OK;
}

enum emp_err emp_db_connect_limited(const char *conninfo, const struct emp_db_limits *lim,
                                    struct emp_db **out, struct emp_error *err)
{
    return connect_until(conninfo, lim, 0, out, err);
}

enum emp_err emp_db_connect(const char *conninfo, struct emp_db **out, struct emp_error *err)
{
    return emp_db_connect_limited(conninfo, NULL, out, err);
}

void emp_db_set_until(struct emp_db *db, int64_t until_mono_us)
{
    if (db != NULL)
        db->until_mono_us = until_mono_us > 0 ? until_mono_us : 0;
}

void emp_db_close(struct emp_db *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db);
}

bool emp_db_ok(struct emp_db *db)
{
    return db != NULL && db->conn != NULL && !db->abandoned &&
           PQstatus(db->conn) == CONNECTION_OK;
}

struct emp_db_pool {
    pthread_mutex_t mu;
    char *conninfo;
    size_t size;
    struct emp_db **idle;
    size_t n_idle;
    struct emp_db_limits limits; /* of each new connection */
};

enum emp_err emp_db_pool_new(const char *conninfo, size_t size,
                             struct emp_db_pool **out, struct emp_error *err)
{
    *out = NULL;
    struct emp_db_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not create connection pool");
    p->size = size ? size : 1;
    p->limits = (struct emp_db_limits){.call_ms = EMP_DB_POOL_CALL_MS,
                                       .statement_timeout_ms = EMP_DB_POOL_STATEMENT_TIMEOUT_MS};
    p->conninfo = strdup(conninfo != NULL ? conninfo : "");
    p->idle = calloc(p->size, sizeof *p->idle);
    if (p->conninfo == NULL || p->idle == NULL) {
        free(p->conninfo);
        free(p->idle);
        free(p);
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not create connection pool");
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->conninfo);
        free(p->idle);
        free(p);
        return emp_error_set(err, EMP_EIO, NULL, "could not create connection pool");
    }
    *out = p;
    return EMP_OK;
}

void emp_db_pool_free(struct emp_db_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->n_idle; i++)
        emp_db_close(pool->idle[i]);
    pthread_mutex_destroy(&pool->mu);
    free(pool->idle);
    free(pool->conninfo);
    free(pool);
}

enum emp_err emp_db_pool_get_until(struct emp_db_pool *pool, int64_t until_mono_us,
                                   struct emp_db **db, struct emp_error *err)
{
    struct emp_db *c = NULL;
    *db = NULL;
    pthread_mutex_lock(&pool->mu);
    while (c == NULL && pool->n_idle > 0) {
        c = pool->idle[--pool->n_idle];
        if (!emp_db_ok(c)) {
            emp_db_close(c);
            c = NULL;
        }
    }
    struct emp_db_limits lim = pool->limits;
    pthread_mutex_unlock(&pool->mu);
    if (c == NULL) {
        /* Connect outside the lock: it can take a while. */
        if (until_mono_us != 0 && until_mono_us <= emp_mono_us())
            return emp_error_set(err, EMP_EDB, "no time left to reach the database",
                                 "could not connect to database");
        enum emp_err rc = connect_until(pool->conninfo, &lim, until_mono_us, &c, err);
        if (rc != EMP_OK)
            return rc;
    }
    emp_db_set_until(c, until_mono_us);
    *db = c;
    return EMP_OK;
}

enum emp_err emp_db_pool_get(struct emp_db_pool *pool, struct emp_db **db,
                             struct emp_error *err)
{
    return emp_db_pool_get_until(pool, 0, db, err);
}

void emp_db_pool_set_statement_timeout(struct emp_db_pool *pool, int timeout_ms)
{
    pthread_mutex_lock(&pool->mu);
    pool->limits.statement_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    pthread_mutex_unlock(&pool->mu);
}

void emp_db_pool_set_call_ms(struct emp_db_pool *pool, int call_ms)
{
    pthread_mutex_lock(&pool->mu);
    pool->limits.call_ms = call_ms > 0 ? call_ms : 0;
    pthread_mutex_unlock(&pool->mu);
}

void emp_db_pool_put(struct emp_db_pool *pool, struct emp_db *db)
{
    if (db == NULL)
        return;
    /* A broken or abandoned connection, or one left inside a transaction,
     * is not reused. */
    if (!emp_db_ok(db) || PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        emp_db_close(db);
        return;
    }
    db->until_mono_us = 0;
    pthread_mutex_lock(&pool->mu);
    if (pool->n_idle < pool->size) {
        pool->idle[pool->n_idle++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&pool->mu);
    emp_db_close(db);
}
