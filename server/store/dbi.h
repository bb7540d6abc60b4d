/* Internals shared by the store's files (store/dbi.c implements them): the
 * connection handle, named prepared statements, the one way rows are
 * fetched, and array parameters. Only store/ includes this header (it pulls
 * in libpq-fe.h). */
#ifndef EMP_DBI_H
#define EMP_DBI_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/db.h"

/* A span's grace as the timeline takes it (analysis/uptime.h): the stored
 * grace for the live span, a prober's last (no later span of its target
 * and prober), 0 for every other, whatever window is read. For spans
 * aliased `s`; the primary key (target_id, started_at, prober_id) finds
 * the next span. */
#define LIVE_GRACE_MS                                                                       \
    "(CASE WHEN EXISTS (SELECT 1 FROM spans n WHERE n.target_id = s.target_id"            \
    " AND n.started_at > s.started_at AND n.prober_id = s.prober_id) THEN 0"              \
    " ELSE s.grace_ms END)"

/* One named statement: prepared on a connection the first time it is used. */
struct dbi_stmt {
    const char *name;
    const char *sql;
    int nparams;
    int binary;  /* 1: results in binary format (read with dbi_bin_*) */
};

#define DBI_MAX_STMTS 64

struct emp_db {
    PGconn *conn;
    const struct dbi_stmt *prepared[DBI_MAX_STMTS]; /* already on `conn` */
    size_t n_prepared;
    /* Client-side deadlines (store/call.c); none of them: blocking libpq. */
    int call_ms;               /* each call answered within this; 0: none */
    int64_t until_mono_us;     /* and none past this instant; 0: none */
    int statement_timeout_ms;  /* set on each (re)connection; 0: the server's */
    bool abandoned;            /* a call missed its deadline: never used again */
    bool (*waiting)(void *);   /* run every DBI_WAITING_MS while a call waits;
                                  false: give up the call */
    void *waiting_arg;
};

/* How often the waiting hook runs while a call waits (ms). */
#define DBI_WAITING_MS 100

/* What one call sends: a query (`name` NULL: `sql`, simple protocol), a
 * statement to prepare (`name` and `sql`), or a prepared statement to run
 * (`name`, `sql` NULL, the parameters and result format). */
struct dbi_send {
    const char *name;
    const char *sql;
    int nparams;
    const char *const *values;
    int binary;
    bool ready; /* dbi_ready was just called: dbi_call skips it */
};

/* Send `s` and wait for its result within the connection's deadlines
 * (store/call.c): the result (caller PQclear()s; it may be a failed
 * one), or NULL with `err` set (`what` as its message). A connection the
 * server closed while idle is made again first. */
PGresult *dbi_call(struct emp_db *db, const struct dbi_send *s, struct emp_error *err,
                   const char *what);
/* Before a call: EMP_OK when `db` can take one. A connection that the
 * server closed while it sat idle (outside a transaction) is made again
 * here, its prepared statements gone with it; one that missed a deadline
 * or broke inside a transaction cannot (EMP_EDB). dbi_call does this
 * first unless told it was just done (dbi_send.ready); callers that prepare
 * statements do it before looking at which are prepared. */
enum emp_err dbi_ready(struct emp_db *db, struct emp_error *err, const char *what);
/* The code of a failed dbi_call (`err` may be NULL). */
static inline enum emp_err dbi_failed(const struct emp_error *err)
{
    return err != NULL && err->code != EMP_OK ? err->code : EMP_EDB;
}
/* Open db->conn with libpq's keywords, within db's deadlines, and set up
 * the session (store/call.c). On failure db->conn may be set: PQfinish
 * it. */
enum emp_err dbi_open(struct emp_db *db, const char *const *keys, const char *const *vals,
                      struct emp_error *err);
/* The instant (monotonic us) a call starting now must be answered by; 0:
 * none. */
int64_t dbi_deadline(const struct emp_db *db);

/* Run `st` with text parameters `values` (nparams of them, NULL = SQL
 * NULL), preparing it first when needed. On EMP_OK `*res` is the result
 * (caller PQclear()s); otherwise `*res` is NULL and `err` holds `what` with
 * libpq's message as detail. The code is EMP_EINVAL when PostgreSQL rejected
 * the data itself (SQLSTATE classes 22 and 23: retrying cannot help),
 * EMP_EDB otherwise. */
enum emp_err dbi_exec(struct emp_db *db, const struct dbi_stmt *st,
                      const char *const *values, PGresult **res,
                      struct emp_error *err, const char *what);
/* Same, discarding the result. */
enum emp_err dbi_exec_cmd(struct emp_db *db, const struct dbi_stmt *st, const char *const *values,
                          struct emp_error *err, const char *what);
/* `err` set from a failed result (`res` may be NULL: then the connection's
 * message): EMP_EINVAL when PostgreSQL rejected the data itself (SQLSTATE
 * classes 22 and 23), EMP_EDB otherwise. Returns the code. */
enum emp_err dbi_result_error(const PGresult *res, struct emp_db *db, struct emp_error *err,
                              const char *what);

/* dbi_exec, then one zeroed element of `elem` bytes per row in `*rows`
 * (at least one, so that an empty result is still a free()-able pointer);
 * `*n` rows. On EMP_OK the caller PQclear()s `*res` and owns `*rows`. */
enum emp_err dbi_query_rows(struct emp_db *db, const struct dbi_stmt *st, const char *const *values,
                            size_t elem, void **rows, size_t *n, PGresult **res,
                            struct emp_error *err, const char *what);

/* dbi_query_rows of a window statement whose parameters are ($1 id, $2
 * from, $3 to), all bigint (times in microseconds). */
enum emp_err dbi_window_rows(struct emp_db *db, const struct dbi_stmt *st, int64_t id,
                             int64_t from_us, int64_t to_us, size_t elem, void **rows, size_t *n,
                             PGresult **res, struct emp_error *err, const char *what);

/* Run a parameterless command (BEGIN, COMMIT, ...). */
enum emp_err dbi_cmd(struct emp_db *db, const char *sql, struct emp_error *err,
                     const char *what);

/* Roll back when a transaction is open or failed; no-op otherwise. */
void dbi_rollback(struct emp_db *db);

/* Parse column `col` of row `row` as int64 (0 when NULL or malformed). */
int64_t dbi_int64(const PGresult *res, int row, int col);
/* Binary-format columns: int8, and timestamptz as Unix microseconds (0 when
 * NULL). */
int64_t dbi_bin_int64(const PGresult *res, int row, int col);
int64_t dbi_bin_time_us(const PGresult *res, int row, int col);
/* Rows of the common shapes, in binary format: an outage (target_id,
 * started_at, ended_at, err_class, message), an outage's times (target_id,
 * started_at, ended_at), a span (target_id, started_at, ended_at,
 * grace in microseconds). */
void dbi_outage_bin(const PGresult *res, int row, struct emp_outage *o);
void dbi_outage_time_bin(const PGresult *res, int row, struct emp_outage_time *o);
void dbi_span_bin(const PGresult *res, int row, struct emp_span *s);
/* dbi_query_rows of statements whose rows have those shapes, decoded:
 * `*out` a new array (free()). */
enum emp_err dbi_query_outages(struct emp_db *db, const struct dbi_stmt *st,
                               const char *const *values, struct emp_outage **out, size_t *n,
                               struct emp_error *err, const char *what);
enum emp_err dbi_query_outage_times(struct emp_db *db, const struct dbi_stmt *st,
                                    const char *const *values, struct emp_outage_time **out,
                                    size_t *n, struct emp_error *err, const char *what);
enum emp_err dbi_query_spans(struct emp_db *db, const struct dbi_stmt *st,
                             const char *const *values, struct emp_span **out, size_t *n,
                             struct emp_error *err, const char *what);
/* Copy column text into `dst` of `size` bytes, truncating. */
void dbi_text(const PGresult *res, int row, int col, char *dst, size_t size);

/* An array parameter (bigint[], text[], ...) in text form, built element
 * by element; dbi_arr_end closes it and returns the literal (NULL when an
 * allocation failed). */
struct dbi_arr {
    struct emp_buf b;
    size_t n;
};
void dbi_arr_i64(struct dbi_arr *a, int64_t v);
void dbi_arr_text(struct dbi_arr *a, const char *s);
void dbi_arr_null(struct dbi_arr *a);
const char *dbi_arr_end(struct dbi_arr *a);
void dbi_arrs_free(struct dbi_arr *a, size_t n);

/* Integer to text for a parameter; `buf` must hold 24 bytes. */
const char *dbi_i64s(char *buf, int64_t v);

#endif
