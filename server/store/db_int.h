/* Internals shared by the store's files (db.c, db_write.c): the connection
 * handle, named prepared statements and text-array builders. Only db*.c
 * include this header (it pulls in libpq-fe.h). */
#ifndef EMP_DB_INT_H
#define EMP_DB_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "core/err.h"

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
};

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
enum emp_err dbi_exec_cmd(struct emp_db *db, const struct dbi_stmt *st,
                          const char *const *values, struct emp_error *err,
                          const char *what);

/* dbi_exec, then one zeroed element of `elem` bytes per row in `*rows`
 * (at least one, so that an empty result is still a free()-able pointer);
 * `*n` rows. On EMP_OK the caller PQclear()s `*res` and owns `*rows`. */
enum emp_err dbi_query_rows(struct emp_db *db, const struct dbi_stmt *st,
                            const char *const *values, size_t elem, void **rows, size_t *n,
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
/* Copy column text into `dst` of `size` bytes, truncating. */
void dbi_text(const PGresult *res, int row, int col, char *dst, size_t size);

/* A growable string that remembers a failed allocation: check `oom` once at
 * the end instead of after every append. */
struct dbi_buf {
    char *p;
    size_t len, cap;
    bool oom;
};
void dbi_buf_free(struct dbi_buf *b);
void dbi_buf_putc(struct dbi_buf *b, char c);
void dbi_buf_puts(struct dbi_buf *b, const char *s);
void dbi_buf_int64(struct dbi_buf *b, int64_t v);
/* Append `s` as a double-quoted array element, escaped, with bytes that
 * are not valid UTF-8 replaced by '?' (so a probe's garbage cannot make a
 * batch fail forever). */
void dbi_buf_text_elem(struct dbi_buf *b, const char *s);
/* Copy `s` into `dst` (`size` bytes) as valid UTF-8, truncating at a
 * character boundary. */
void dbi_utf8_copy(char *dst, size_t size, const char *s);

/* An array parameter (bigint[], text[], ...) in text form, built element
 * by element; dbi_arr_end closes it and returns the literal (NULL when an
 * allocation failed). */
struct dbi_arr {
    struct dbi_buf b;
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
