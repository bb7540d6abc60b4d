/* One call to PostgreSQL with a client-side deadline. PostgreSQL's own
 * statement_timeout cannot fire when the server is frozen (stopped,
 * swapped out, behind a dead network path): libpq would wait for ever, and
 * so would whoever waits for its caller. A connection with a deadline is
 * non-blocking; each call is sent, then its answer awaited with poll(2)
 * until the deadline; past it the statement is cancelled (on a thread of
 * its own: PQcancel itself blocks on a frozen server) and the connection
 * is abandoned, never used again. A connection without a deadline keeps
 * libpq's plain blocking calls.
 *
 * Before each call outside a transaction, a connection that the server has
 * closed while it sat idle (a restart, an administrator's kill) is made
 * again: nothing had been sent on it, so nothing can run twice. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "store/dbi.h"

/* Cancellations under way at once, at most: each holds a thread for as long
 * as the server stays frozen. */
#define MAX_CANCELLING 4

static atomic_int cancelling;

static void *cancel_main(void *arg)
{
    PGcancel *c = arg;
    char msg[256];
    if (!PQcancel(c, msg, sizeof msg))
        emp_debug("could not cancel a statement past its deadline", "detail=%s", msg);
    PQfreeCancel(c);
    atomic_fetch_sub(&cancelling, 1);
    return NULL;
}

/* Ask the server to cancel what `conn` runs, without waiting for it. */
static void cancel_async(PGconn *conn)
{
    if (atomic_fetch_add(&cancelling, 1) >= MAX_CANCELLING) {
        atomic_fetch_sub(&cancelling, 1);
        return; /* the server sees the connection close, and stops there */
    }
    PGcancel *c = PQgetCancel(conn);
    pthread_attr_t attr;
    pthread_t t;
    bool started = false;
    if (c != NULL && pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&t, &attr, cancel_main, c) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) {
        PQfreeCancel(c);
        atomic_fetch_sub(&cancelling, 1);
    }
}

/* Whether calls on `db` go the asynchronous way. */
static bool is_limited(const struct emp_db *db)
{
    return db->call_ms > 0 || db->until_mono_us != 0 || db->waiting != NULL;
}

int64_t dbi_deadline(const struct emp_db *db)
{
    int64_t d = db->call_ms > 0 ? emp_mono_us() + (int64_t)db->call_ms * EMP_US_PER_MS : 0;
    if (db->until_mono_us != 0 && (d == 0 || db->until_mono_us < d))
        d = db->until_mono_us;
    return d;
}

/* The deadline passed: cancel, shut the socket (a server that wakes up
 * finds its client gone) and never use the connection again. */
static void abandon(struct emp_db *db, struct emp_error *err, const char *what)
{
    cancel_async(db->conn);
    int fd = PQsocket(db->conn);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    db->abandoned = true;
    emp_error_set(err, EMP_EDB, "no answer from the database in time; connection dropped",
                  "%s", what);
}

/* Wait until `fd` is ready for `events` or `deadline` (monotonic; 0: none)
 * passes, running the waiting hook meanwhile. 1: ready, 0: deadline,
 * -1: poll failed. */
static int wait_fd(struct emp_db *db, int fd, short events, int64_t deadline)
{
    for (;;) {
        int timeout = -1;
        int64_t now = emp_mono_us();
        if (deadline != 0) {
            if (now >= deadline)
                return 0;
            int64_t left = (deadline - now + EMP_US_PER_MS - 1) / EMP_US_PER_MS;
            timeout = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        if (db->waiting != NULL && (timeout < 0 || timeout > DBI_WAITING_MS))
            timeout = DBI_WAITING_MS;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, timeout);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
        if (db->waiting != NULL && !db->waiting(db->waiting_arg))
            return 0; /* the waiter gives up: as a missed deadline */
    }
}

/* The session's settings, after each (re)connection. */
static enum emp_err setup(struct emp_db *db, struct emp_error *err)
{
    if (db->statement_timeout_ms <= 0)
        return EMP_OK;
    /* The server stops a statement whose client has gone (PostgreSQL 14
     * and later; older ones lack the setting). */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT set_config('statement_timeout', '%d', false),"
             " CASE WHEN current_setting('server_version_num')::int >= 140000"
             " THEN set_config('client_connection_check_interval', '2000', false) END",
             db->statement_timeout_ms);
    struct dbi_send s = {.sql = sql};
    PGresult *res = dbi_call(db, &s, err, "could not set the statement timeout");
    if (res == NULL)
        return dbi_failed(err);
    enum emp_err rc = PQresultStatus(res) == PGRES_TUPLES_OK
                          ? EMP_OK
                          : dbi_result_error(res, db, err, "could not set the statement timeout");
    PQclear(res);
    return rc;
}

/* Drive an asynchronous connection (or reset) to its end. */
static enum emp_err connect_poll(struct emp_db *db, bool reset, int64_t deadline,
                                 struct emp_error *err, const char *what)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED || PQstatus(db->conn) == CONNECTION_BAD)
            return emp_error_set(err, EMP_EDB, PQerrorMessage(db->conn), "%s", what);
        int r = wait_fd(db, PQsocket(db->conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                        deadline);
        if (r == 0) {
            db->abandoned = true;
            return emp_error_set(err, EMP_EDB, "no answer from the database in time", "%s",
                                 what);
        }
        if (r < 0)
            return emp_error_set(err, EMP_EIO, strerror(errno), "%s", what);
        st = reset ? PQresetPoll(db->conn) : PQconnectPoll(db->conn);
    }
    return EMP_OK;
}

enum emp_err dbi_open(struct emp_db *db, const char *const *keys, const char *const *vals,
                      struct emp_error *err)
{
    const char *what = "could not connect to database";
    bool limited = is_limited(db);
    db->conn = limited ? PQconnectStartParams(keys, vals, 1) : PQconnectdbParams(keys, vals, 1);
    if (db->conn == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    enum emp_err rc = EMP_OK;
    if (limited)
        rc = connect_poll(db, false, dbi_deadline(db), err, what);
    else if (PQstatus(db->conn) != CONNECTION_OK)
        rc = emp_error_set(err, EMP_EDB, PQerrorMessage(db->conn), "%s", what);
    if (rc == EMP_OK && limited && PQsetnonblocking(db->conn, 1) != 0)
        rc = emp_error_set(err, EMP_EDB, PQerrorMessage(db->conn), "%s", what);
    if (rc == EMP_OK)
        rc = setup(db, err);
    return rc;
}

/* Make the connection again (its statements are gone with it). */
static enum emp_err revive(struct emp_db *db, struct emp_error *err)
{
    const char *what = "could not reconnect to the database";
    db->n_prepared = 0;
    bool limited = is_limited(db);
    enum emp_err rc = EMP_OK;
    if (limited) {
        if (!PQresetStart(db->conn))
            return emp_error_set(err, EMP_EDB, PQerrorMessage(db->conn), "%s", what);
        rc = connect_poll(db, true, dbi_deadline(db), err, what);
        if (rc == EMP_OK && PQsetnonblocking(db->conn, 1) != 0)
            rc = emp_error_set(err, EMP_EDB, PQerrorMessage(db->conn), "%s", what);
    } else {
        PQreset(db->conn);
        if (PQstatus(db->conn) != CONNECTION_OK)
            rc = emp_error_set(err, EMP_EDB, PQerrorMessage(db->conn), "%s", what);
    }
    if (rc == EMP_OK)
        rc = setup(db, err);
    if (rc == EMP_OK)
        emp_info("database connection made again: the server had closed it", NULL);
    return rc;
}

/* Before a call: a connection left idle that the server closed meanwhile
 * (its socket readable with nothing asked) is made again. */
enum emp_err dbi_ready(struct emp_db *db, struct emp_error *err, const char *what)
{
    if (db->abandoned)
        return emp_error_set(err, EMP_EDB, "connection dropped after a missed deadline", "%s",
                             what);
    if (PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        if (PQstatus(db->conn) == CONNECTION_BAD)
            return emp_error_set(err, EMP_EDB, PQerrorMessage(db->conn), "%s", what);
        return EMP_OK; /* inside a transaction: a new connection would lose it */
    }
    /* Whatever waits is read: a notice or a parameter change leaves the
     * connection as it was; the server's farewell (FATAL, taken by libpq as
     * a notice when idle) is followed by the end of the stream. */
    for (int i = 0; i < 8 && PQstatus(db->conn) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(db->conn), .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return EMP_OK;
        if (!PQconsumeInput(db->conn))
            break;
    }
    if (PQstatus(db->conn) == CONNECTION_OK)
        return EMP_OK; /* still talking: a stream of notices */
    return revive(db, err);
}

static int send_call(struct emp_db *db, const struct dbi_send *s)
{
    if (s->name == NULL)
        return PQsendQuery(db->conn, s->sql);
    if (s->sql != NULL)
        return PQsendPrepare(db->conn, s->name, s->sql, s->nparams, NULL);
    return PQsendQueryPrepared(db->conn, s->name, s->nparams, s->values, NULL, NULL, s->binary);
}

static PGresult *sync_call(struct emp_db *db, const struct dbi_send *s)
{
    if (s->name == NULL)
        return PQexec(db->conn, s->sql);
    if (s->sql != NULL)
        return PQprepare(db->conn, s->name, s->sql, s->nparams, NULL);
    return PQexecPrepared(db->conn, s->name, s->nparams, s->values, NULL, NULL, s->binary);
}

PGresult *dbi_call(struct emp_db *db, const struct dbi_send *s, struct emp_error *err,
                   const char *what)
{
    if (!s->ready && dbi_ready(db, err, what) != EMP_OK)
        return NULL;
    bool limited = is_limited(db);
    if (!limited) {
        PGresult *res = sync_call(db, s);
        if (res == NULL)
            dbi_result_error(NULL, db, err, what);
        return res;
    }
    int64_t deadline = dbi_deadline(db);
    if (!send_call(db, s)) {
        dbi_result_error(NULL, db, err, what);
        return NULL;
    }
    /* Like PQexec: the last result, or the first that failed. */
    PGresult *keep = NULL;
    for (;;) {
        int f = PQflush(db->conn);
        if (f < 0)
            break;
        if (f == 0 && !PQisBusy(db->conn)) {
            PGresult *r = PQgetResult(db->conn);
            if (r == NULL)
                break;
            ExecStatusType st = PQresultStatus(r);
            bool bad = st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
            bool keep_bad = keep != NULL && PQresultStatus(keep) != PGRES_COMMAND_OK &&
                            PQresultStatus(keep) != PGRES_TUPLES_OK;
            if (keep_bad && !bad) {
                PQclear(r);
            } else {
                PQclear(keep);
                keep = r;
            }
            continue;
        }
        int w = wait_fd(db, PQsocket(db->conn), f == 1 ? POLLIN | POLLOUT : POLLIN, deadline);
        if (w == 0) {
            PQclear(keep);
            abandon(db, err, what);
            return NULL;
        }
        if (w < 0 || !PQconsumeInput(db->conn))
            break;
    }
    if (keep == NULL || PQstatus(db->conn) == CONNECTION_BAD) {
        dbi_result_error(keep, db, err, what);
        PQclear(keep);
        return NULL;
    }
    return keep;
}
