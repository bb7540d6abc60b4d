/* The store's one way to run SQL: named statements prepared on first use
 * per connection, typed parameters, rows fetched into zeroed arrays, and
 * array parameters built as text. Only the store's files use it. */
#include "store/dbi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

const char *dbi_i64s(char *buf, int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

static bool is_prepared(const struct emp_db *db, const struct dbi_stmt *st)
{
    for (size_t i = 0; i < db->n_prepared; i++)
        if (db->prepared[i] == st)
            return true;
    return false;
}

enum emp_err dbi_result_error(const PGresult *res, struct emp_db *db, struct emp_error *err,
                              const char *what)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *detail = res != NULL ? PQresultErrorMessage(res) : "";
    if (detail == NULL || detail[0] == '\0')
        detail = PQerrorMessage(db->conn);
    enum emp_err code = EMP_EDB;
    /* 22: data exception, 23: integrity constraint violation. */
    if (state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
        code = EMP_EINVAL;
    return emp_error_set(err, code, detail, "%s", what);
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

enum emp_err dbi_exec(struct emp_db *db, const struct dbi_stmt *st,
                      const char *const *values, PGresult **out,
                      struct emp_error *err, const char *what)
{
    PGresult *res;
    enum emp_err rc;
    *out = NULL;
    rc = dbi_ready(db, err, what);
    if (rc != EMP_OK)
        return rc;
    if (!is_prepared(db, st)) {
        if (db->n_prepared >= DBI_MAX_STMTS)
            return emp_error_set(err, EMP_EINVAL, "too many prepared statements", "%s", what);
        struct dbi_send prep = {.name = st->name, .sql = st->sql, .nparams = st->nparams,
                                .ready = true};
        res = dbi_call(db, &prep, err, what);
        if (res == NULL)
            return dbi_failed(err);
        if (!result_ok(res)) {
            rc = dbi_result_error(res, db, err, what);
            PQclear(res);
            return rc;
        }
        PQclear(res);
        db->prepared[db->n_prepared++] = st;
    }
    struct dbi_send run = {.name = st->name, .nparams = st->nparams, .values = values,
                           .binary = st->binary, .ready = true};
    res = dbi_call(db, &run, err, what);
    if (res == NULL)
        return dbi_failed(err);
    if (!result_ok(res)) {
        rc = dbi_result_error(res, db, err, what);
        PQclear(res);
        return rc;
    }
    *out = res;
    return EMP_OK;
}

enum emp_err dbi_query_rows(struct emp_db *db, const struct dbi_stmt *st,
                            const char *const *values, size_t elem, void **rows, size_t *n,
                            PGresult **res, struct emp_error *err, const char *what)
{
    *rows = NULL;
    *n = 0;
    enum emp_err rc = dbi_exec(db, st, values, res, err, what);
    if (rc != EMP_OK)
        return rc;
    size_t count = (size_t)PQntuples(*res);
    *rows = calloc(count ? count : 1, elem);
    if (*rows == NULL) {
        PQclear(*res);
        *res = NULL;
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    *n = count;
    return EMP_OK;
}

enum emp_err dbi_exec_cmd(struct emp_db *db, const struct dbi_stmt *st,
                          const char *const *values, struct emp_error *err,
                          const char *what)
{
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, st, values, &res, err, what);
    PQclear(res);
    return rc;
}

enum emp_err dbi_cmd(struct emp_db *db, const char *sql, struct emp_error *err,
                     const char *what)
{
    struct dbi_send s = {.sql = sql};
    PGresult *res = dbi_call(db, &s, err, what);
    if (res == NULL)
        return dbi_failed(err);
    enum emp_err rc = EMP_OK;
    if (!result_ok(res))
        rc = dbi_result_error(res, db, err, what);
    PQclear(res);
    return rc;
}

void dbi_rollback(struct emp_db *db)
{
    if (db->abandoned || PQstatus(db->conn) != CONNECTION_OK)
        return;
    PGTransactionStatusType ts = PQtransactionStatus(db->conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        struct emp_error err;
        emp_error_clear(&err);
        PQclear(dbi_call(db, &(struct dbi_send){.sql = "ROLLBACK"}, &err, "rollback"));
    }
}

int64_t dbi_bin_int64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8)
        return 0;
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

/* PostgreSQL's binary timestamptz counts microseconds from 2000-01-01 UTC. */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

int64_t dbi_bin_time_us(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return dbi_bin_int64(res, row, col) + PG_EPOCH_OFFSET_US;
}

int64_t dbi_int64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    const char *s = PQgetvalue(res, row, col);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return 0;
    return (int64_t)v;
}

void dbi_text(const PGresult *res, int row, int col, char *dst, size_t size)
{
    if (size == 0)
        return;
    if (PQgetisnull(res, row, col)) {
        dst[0] = '\0';
        return;
    }
    emp_text_copy(dst, size, PQgetvalue(res, row, col));
}

/* `s` as a double-quoted array element, escaped, with bytes that are not
 * valid UTF-8 replaced by '?' (so a probe's garbage cannot make a batch
 * fail forever). */
static void text_elem(struct emp_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    emp_buf_putc(b, '"');
    while (*p != '\0') {
        size_t n = emp_text_utf8_len(p);
        if (n == 0) {
            emp_buf_putc(b, '?');
            p++;
            continue;
        }
        if (n == 1 && (*p == '"' || *p == '\\'))
            emp_buf_putc(b, '\\');
        emp_buf_put(b, (const char *)p, n);
        p += n;
    }
    emp_buf_putc(b, '"');
}

static void dbi_arr_sep(struct dbi_arr *a)
{
    emp_buf_putc(&a->b, a->n++ == 0 ? '{' : ',');
}

void dbi_arr_i64(struct dbi_arr *a, int64_t v)
{
    dbi_arr_sep(a);
    char tmp[24];
    emp_buf_puts(&a->b, dbi_i64s(tmp, v));
}

void dbi_arr_null(struct dbi_arr *a)
{
    dbi_arr_sep(a);
    emp_buf_puts(&a->b, "NULL");
}

void dbi_arr_text(struct dbi_arr *a, const char *s)
{
    dbi_arr_sep(a);
    text_elem(&a->b, s);
}

const char *dbi_arr_end(struct dbi_arr *a)
{
    if (a->n == 0)
        emp_buf_putc(&a->b, '{');
    emp_buf_putc(&a->b, '}');
    return a->b.oom ? NULL : a->b.p;
}

void dbi_arrs_free(struct dbi_arr *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        emp_buf_free(&a[i].b);
}

enum emp_err dbi_window_rows(struct emp_db *db, const struct dbi_stmt *st, int64_t id,
                             int64_t from_us, int64_t to_us, size_t elem, void **rows, size_t *n,
                             PGresult **res, struct emp_error *err, const char *what)
{
    char b[3][24];
    const char *vals[] = {dbi_i64s(b[0], id), dbi_i64s(b[1], from_us), dbi_i64s(b[2], to_us)};
    return dbi_query_rows(db, st, vals, elem, rows, n, res, err, what);
}

void dbi_outage_bin(const PGresult *res, int row, struct emp_outage *o)
{
    o->target_id = dbi_bin_int64(res, row, 0);
    o->started_at_us = dbi_bin_time_us(res, row, 1);
    o->ended_at_us = dbi_bin_time_us(res, row, 2);
    /* Binary text is the bytes themselves; libpq NUL-terminates. */
    dbi_text(res, row, 3, o->err_class, sizeof o->err_class);
    dbi_text(res, row, 4, o->message, sizeof o->message);
    o->prober_id = PQnfields(res) > 5 ? dbi_bin_int64(res, row, 5) : 0;
}

void dbi_outage_time_bin(const PGresult *res, int row, struct emp_outage_time *o)
{
    o->target_id = dbi_bin_int64(res, row, 0);
    o->started_at_us = dbi_bin_time_us(res, row, 1);
    o->ended_at_us = dbi_bin_time_us(res, row, 2);
    o->prober_id = PQnfields(res) > 3 ? dbi_bin_int64(res, row, 3) : 0;
}

void dbi_span_bin(const PGresult *res, int row, struct emp_span *s)
{
    s->target_id = dbi_bin_int64(res, row, 0);
    s->started_at_us = dbi_bin_time_us(res, row, 1);
    s->ended_at_us = dbi_bin_time_us(res, row, 2);
    s->grace_us = dbi_bin_int64(res, row, 3);
    s->prober_id = PQnfields(res) > 4 ? dbi_bin_int64(res, row, 4) : 0;
}

/* The rows of `st` decoded by `decode` into an array of `elem`-byte
 * elements. */
static enum emp_err query_decoded(struct emp_db *db, const struct dbi_stmt *st,
                                  const char *const *values, size_t elem,
                                  void (*decode)(const PGresult *, int, void *), void **out,
                                  size_t *n, struct emp_error *err, const char *what)
{
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, st, values, elem, &rows, n, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    for (size_t i = 0; i < *n; i++)
        decode(res, (int)i, (char *)rows + i * elem);
    PQclear(res);
    *out = rows;
    return EMP_OK;
}

static void decode_outage(const PGresult *res, int row, void *p)
{
    dbi_outage_bin(res, row, p);
}

static void decode_outage_time(const PGresult *res, int row, void *p)
{
    dbi_outage_time_bin(res, row, p);
}

static void decode_span(const PGresult *res, int row, void *p)
{
    dbi_span_bin(res, row, p);
}

enum emp_err dbi_query_outages(struct emp_db *db, const struct dbi_stmt *st,
                               const char *const *values, struct emp_outage **out, size_t *n,
                               struct emp_error *err, const char *what)
{
    return query_decoded(db, st, values, sizeof **out, decode_outage, (void **)out, n, err,
                         what);
}

enum emp_err dbi_query_outage_times(struct emp_db *db, const struct dbi_stmt *st,
                                    const char *const *values, struct emp_outage_time **out,
                                    size_t *n, struct emp_error *err, const char *what)
{
    return query_decoded(db, st, values, sizeof **out, decode_outage_time, (void **)out, n,
                         err, what);
}

enum emp_err dbi_query_spans(struct emp_db *db, const struct dbi_stmt *st,
                             const char *const *values, struct emp_span **out, size_t *n,
                             struct emp_error *err, const char *what)
{
    return query_decoded(db, st, values, sizeof **out, decode_span, (void **)out, n, err,
                         what);
}
