/* Connections to PostgreSQL: one per thread that needs one (libpq allows
 * no sharing), and the API threads' small pool with a statement timeout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
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

enum emp_err emp_db_connect(const char *conninfo, struct emp_db **out,
                            struct emp_error *err)
{
    *out = NULL;
    struct emp_db *db = calloc(1, sizeof *db);
    if (db == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not connect to database");
    /* Defaults first so the caller's conninfo overrides them; our data is
     * UTF-8, so the client encoding comes last and always wins. */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                          "client_encoding", NULL};
    const char *vals[] = {"10", "empiric", conninfo != NULL ? conninfo : "", "UTF8", NULL};
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (db->conn == NULL) {
        free(db);
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not connect to database");
    }
    if (PQstatus(db->conn) != CONNECTION_OK) {
        emp_error_set(err, EMP_EDB, PQerrorMessage(db->conn), "could not connect to database");
        PQfinish(db->conn);
        free(db);
        return EMP_EDB;
    }
    PQsetNoticeProcessor(db->conn, notice_to_log, NULL);
    *out = db;
    return EMP_OK;
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
    return db != NULL && db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

struct emp_db_pool {
    pthread_mutex_t mu;
    char *conninfo;
    size_t size;
    struct emp_db **idle;
    size_t n_idle;
    int statement_timeout_ms; /* set on each new connection; 0: none */
};

enum emp_err emp_db_pool_new(const char *conninfo, size_t size,
                             struct emp_db_pool **out, struct emp_error *err)
{
    *out = NULL;
    struct emp_db_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not create connection pool");
    p->size = size ? size : 1;
    p->statement_timeout_ms = EMP_DB_POOL_STATEMENT_TIMEOUT_MS;
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

enum emp_err emp_db_pool_get(struct emp_db_pool *pool, struct emp_db **db,
                             struct emp_error *err)
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
    pthread_mutex_unlock(&pool->mu);
    if (c != NULL) {
        *db = c;
        return EMP_OK;
    }
    /* Connect outside the lock: it can take a while. */
    enum emp_err rc = emp_db_connect(pool->conninfo, &c, err);
    if (rc != EMP_OK)
        return rc;
    pthread_mutex_lock(&pool->mu);
    int timeout_ms = pool->statement_timeout_ms;
    pthread_mutex_unlock(&pool->mu);
    if (timeout_ms > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET statement_timeout = %d", timeout_ms);
        rc = dbi_cmd(c, sql, err, "could not set the statement timeout");
        if (rc != EMP_OK) {
            emp_db_close(c);
            return rc;
        }
    }
    *db = c;
    return EMP_OK;
}

void emp_db_pool_set_statement_timeout(struct emp_db_pool *pool, int timeout_ms)
{
    pthread_mutex_lock(&pool->mu);
    pool->statement_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    pthread_mutex_unlock(&pool->mu);
}

void emp_db_pool_put(struct emp_db_pool *pool, struct emp_db *db)
{
    if (db == NULL)
        return;
    /* A broken connection, or one left inside a transaction, is not reused. */
    if (!emp_db_ok(db) || PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        emp_db_close(db);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    if (pool->n_idle < pool->size) {
        pool->idle[pool->n_idle++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&pool->mu);
    emp_db_close(db);
}
