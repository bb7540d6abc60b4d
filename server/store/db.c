/* The store's connection handling, migrations, targets, probers and runs,
 * the read queries of the API, and the connection pool. Batched writes of
 * probe results live in db_write.c. Every statement is a named prepared
 * statement with $n parameters; times cross as bigint microseconds through
 * emp_ts()/emp_us() (schema/001_init.sql), exactly. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/db.h"
#include "store/db_int.h"
#include "core/log.h"
#include "service/target.h"

/* pg_advisory_lock key held by `migrate`: "Empiric" in ASCII. */
#define MIGRATE_LOCK_KEY "19542102965905763"
#define MIGRATION_MAX_BYTES (16 * 1024 * 1024)

/* ---- helpers shared with db_write.c ---------------------------------- */

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

static enum emp_err result_error(const PGresult *res, struct emp_db *db,
                                 struct emp_error *err, const char *what)
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
    if (!is_prepared(db, st)) {
        if (db->n_prepared >= DBI_MAX_STMTS)
            return emp_error_set(err, EMP_EINVAL, "too many prepared statements", "%s", what);
        res = PQprepare(db->conn, st->name, st->sql, st->nparams, NULL);
        if (res == NULL || !result_ok(res)) {
            rc = result_error(res, db, err, what);
            PQclear(res);
            return rc;
        }
        PQclear(res);
        db->prepared[db->n_prepared++] = st;
    }
    res = PQexecPrepared(db->conn, st->name, st->nparams, values, NULL, NULL, st->binary);
    if (res == NULL || !result_ok(res)) {
        rc = result_error(res, db, err, what);
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
    PGresult *res = PQexec(db->conn, sql);
    enum emp_err rc = EMP_OK;
    if (res == NULL || !result_ok(res))
        rc = result_error(res, db, err, what);
    PQclear(res);
    return rc;
}

void dbi_rollback(struct emp_db *db)
{
    PGTransactionStatusType ts = PQtransactionStatus(db->conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(db->conn, "ROLLBACK"));
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
    dbi_utf8_copy(dst, size, PQgetvalue(res, row, col));
}

static bool buf_reserve(struct dbi_buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void dbi_buf_free(struct dbi_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

void dbi_buf_putc(struct dbi_buf *b, char c)
{
    if (!buf_reserve(b, 1))
        return;
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

void dbi_buf_puts(struct dbi_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

void dbi_buf_int64(struct dbi_buf *b, int64_t v)
{
    char tmp[24];
    dbi_buf_puts(b, dbi_i64s(tmp, v));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2; cp = c & 0x1F; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3; cp = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; cp = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

bool emp_db_text_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = s[i] != '\0' ? utf8_len((const unsigned char *)s + i) : 0;
        if (n == 0 || n > len - i)
            return false;
        i += n;
    }
    return true;
}

void dbi_utf8_copy(char *dst, size_t size, const char *s)
{
    size_t o = 0;
    if (size == 0)
        return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = utf8_len(p);
        if (n == 0) {
            if (o + 1 >= size)
                break;
            dst[o++] = '?';
            p++;
            continue;
        }
        if (o + n >= size)
            break;
        memcpy(dst + o, p, n);
        o += n;
        p += n;
    }
    dst[o] = '\0';
}

void dbi_buf_text_elem(struct dbi_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    dbi_buf_putc(b, '"');
    while (*p != '\0') {
        size_t n = utf8_len(p);
        if (n == 0) {
            dbi_buf_putc(b, '?');
            p++;
            continue;
        }
        if (n == 1 && (*p == '"' || *p == '\\'))
            dbi_buf_putc(b, '\\');
        if (buf_reserve(b, n)) {
            memcpy(b->p + b->len, p, n);
            b->len += n;
            b->p[b->len] = '\0';
        }
        p += n;
    }
    dbi_buf_putc(b, '"');
}

/* ---- connection ------------------------------------------------------ */

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

/* ---- migrate --------------------------------------------------------- */

static const struct dbi_stmt st_lock = {
    "emp_migrate_lock", "SELECT pg_advisory_lock($1::bigint)", 1};
static const struct dbi_stmt st_unlock = {
    "emp_migrate_unlock", "SELECT pg_advisory_unlock($1::bigint)", 1};
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
        rc = result_error(res, db, err, what);
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

/* ---- targets --------------------------------------------------------- */

static const struct dbi_stmt st_target_upsert = {
    "emp_target_upsert",
    "INSERT INTO targets AS t (name, kind, grp, spec, interval_ms, timeout_ms,"
    " fail_threshold, recover_threshold, degraded_ms)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)"
    " ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, grp = EXCLUDED.grp,"
    " spec = EXCLUDED.spec, interval_ms = EXCLUDED.interval_ms,"
    " timeout_ms = EXCLUDED.timeout_ms, fail_threshold = EXCLUDED.fail_threshold,"
    " recover_threshold = EXCLUDED.recover_threshold, degraded_ms = EXCLUDED.degraded_ms,"
    " api_definition = NULL,"
    " updated_at = CASE WHEN (t.kind, t.grp, t.spec, t.interval_ms, t.timeout_ms,"
    "   t.fail_threshold, t.recover_threshold, t.degraded_ms, t.api_definition) IS DISTINCT"
    "   FROM (EXCLUDED.kind, EXCLUDED.grp, EXCLUDED.spec, EXCLUDED.interval_ms,"
    "   EXCLUDED.timeout_ms, EXCLUDED.fail_threshold, EXCLUDED.recover_threshold,"
    "   EXCLUDED.degraded_ms, NULL::jsonb) THEN now() ELSE t.updated_at END"
    " RETURNING id",
    9};
static const struct dbi_stmt st_target_find = {
    "emp_target_find", "SELECT id FROM targets WHERE name = $1", 1};

/* A conninfo without its passwords, so that the stored spec can be shown.
 * Returns a new string or NULL. */
char *emp_db_redact_conninfo(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (opts == NULL) {
        PQfreemem(errmsg);
        return NULL;
    }
    struct dbi_buf b = {0};
    dbi_buf_puts(&b, "");
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || strstr(o->keyword, "password") != NULL)
            continue;
        if (b.len > 0)
            dbi_buf_putc(&b, ' ');
        dbi_buf_puts(&b, o->keyword);
        dbi_buf_puts(&b, "='");
        for (const char *s = o->val; *s != '\0'; s++) {
            if (*s == '\'' || *s == '\\')
                dbi_buf_putc(&b, '\\');
            dbi_buf_putc(&b, *s);
        }
        dbi_buf_putc(&b, '\'');
    }
    PQconninfoFree(opts);
    if (b.oom) {
        dbi_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* The target's kind-specific fields as compact JSON (new string, free()):
 * its definition less the name, group and timing, a conninfo without its
 * passwords. */
static char *target_spec(const struct emp_target_config *t)
{
    static const char *const common[] = {"name",           "group",
                                         "interval_ms",    "timeout_ms",
                                         "fail_threshold", "recover_threshold",
                                         "degraded_ms"};
    json_t *o = emp_target_config_json(t, true);
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        json_object_del(o, common[i]);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(o);
    return text;
}

enum emp_err emp_db_sync_targets(struct emp_db *db, const struct emp_config *cfg,
                                 int64_t *ids, struct emp_error *err)
{
    const char *what = "could not store targets";
    enum emp_err rc = dbi_cmd(db, "BEGIN", err, what);
    if (rc != EMP_OK)
        return rc;
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct emp_target_config *t = &cfg->targets[i];
        char b[5][24];
        char *spec = target_spec(t);
        if (spec == NULL) {
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
            goto out;
        }
        const char *vals[] = {
            t->name, emp_kind_name(t->kind), t->group != NULL ? t->group : "", spec,
            dbi_i64s(b[0], t->interval_ms), dbi_i64s(b[1], t->timeout_ms),
            dbi_i64s(b[2], t->fail_threshold), dbi_i64s(b[3], t->recover_threshold),
            dbi_i64s(b[4], t->degraded_ms),
        };
        PGresult *res = NULL;
        rc = dbi_exec(db, &st_target_upsert, vals, &res, err, what);
        free(spec);
        if (rc != EMP_OK)
            goto out;
        ids[i] = dbi_int64(res, 0, 0);
        PQclear(res);
    }
    rc = dbi_cmd(db, "COMMIT", err, what);
out:
    if (rc != EMP_OK)
        dbi_rollback(db);
    return rc;
}

enum emp_err emp_db_find_target(struct emp_db *db, const char *name,
                                int64_t *id, struct emp_error *err)
{
    const char *vals[] = {name};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_target_find, vals, &res, err, "could not look up target");
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no target named \"%s\"", name);
    else
        *id = dbi_int64(res, 0, 0);
    PQclear(res);
    return rc;
}

/* ---- targets made through the API --------------------------------------- */

/* One statement, so that two writers of the same name cannot both create
 * it: the CTE sees the row as it was before, the conditional DO UPDATE
 * leaves a live one alone for a create ($11). */
static const struct dbi_stmt st_api_target_put = {
    "emp_api_target_put",
    "WITH old AS (SELECT api_definition IS NOT NULL AS live FROM targets WHERE name = $1)"
    " INSERT INTO targets AS t (name, kind, grp, spec, interval_ms, timeout_ms,"
    " fail_threshold, recover_threshold, degraded_ms, api_definition)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10::jsonb)"
    " ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, grp = EXCLUDED.grp,"
    " spec = EXCLUDED.spec, interval_ms = EXCLUDED.interval_ms,"
    " timeout_ms = EXCLUDED.timeout_ms, fail_threshold = EXCLUDED.fail_threshold,"
    " recover_threshold = EXCLUDED.recover_threshold, degraded_ms = EXCLUDED.degraded_ms,"
    " api_definition = EXCLUDED.api_definition, updated_at = now()"
    " WHERE t.api_definition IS NULL OR NOT $11::boolean"
    " RETURNING id, coalesce((SELECT live FROM old), false)",
    11};
static const struct dbi_stmt st_api_target_remove = {
    "emp_api_target_remove",
    "UPDATE targets SET api_definition = NULL, updated_at = now()"
    " WHERE name = $1 AND api_definition IS NOT NULL RETURNING id",
    1};
static const struct dbi_stmt st_api_targets = {
    "emp_api_targets",
    "SELECT id, name, api_definition::text FROM targets WHERE api_definition IS NOT NULL"
    " ORDER BY name",
    0};
static const struct dbi_stmt st_api_target_get = {
    "emp_api_target_get",
    "SELECT id, name, kind, grp, coalesce(interval_ms, 0), api_definition::text"
    " FROM targets WHERE name = $1",
    1};

enum emp_err emp_db_api_target_put(struct emp_db *db, const struct emp_target_config *t,
                                   const char *definition, bool create_only, int64_t *id,
                                   bool *created, struct emp_error *err)
{
    const char *what = "could not store the target";
    char b[5][24];
    char *spec = target_spec(t);
    if (spec == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    const char *vals[] = {
        t->name, emp_kind_name(t->kind), t->group != NULL ? t->group : "", spec,
        dbi_i64s(b[0], t->interval_ms), dbi_i64s(b[1], t->timeout_ms),
        dbi_i64s(b[2], t->fail_threshold), dbi_i64s(b[3], t->recover_threshold),
        dbi_i64s(b[4], t->degraded_ms), definition, create_only ? "true" : "false",
    };
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_api_target_put, vals, &res, err, what);
    free(spec);
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rc = emp_error_set(err, EMP_EEXIST, NULL, "a target called \"%s\" exists", t->name);
    } else {
        *id = dbi_int64(res, 0, 0);
        *created = strcmp(PQgetvalue(res, 0, 1), "t") != 0;
    }
    PQclear(res);
    return rc;
}

enum emp_err emp_db_api_target_remove(struct emp_db *db, const char *name, int64_t *id,
                                      struct emp_error *err)
{
    const char *vals[] = {name};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_api_target_remove, vals, &res, err,
                               "could not remove the target");
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no target \"%s\" made through the API",
                           name);
    else
        *id = dbi_int64(res, 0, 0);
    PQclear(res);
    return rc;
}

void emp_db_api_targets_free(struct emp_api_target *t, size_t n)
{
    for (size_t i = 0; t != NULL && i < n; i++)
        free(t[i].definition);
    free(t);
}

/* A new copy of column `col`, or NULL when it is NULL; *oom on failure. */
static char *text_or_null(const PGresult *res, int row, int col, bool *oom)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    char *s = strdup(PQgetvalue(res, row, col));
    if (s == NULL)
        *oom = true;
    return s;
}

enum emp_err emp_db_api_targets(struct emp_db *db, struct emp_api_target **out, size_t *n,
                                struct emp_error *err)
{
    const char *what = "could not list the targets made through the API";
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_api_targets, NULL, sizeof **out, &rows, n, &res,
                                     err, what);
    if (rc != EMP_OK)
        return rc;
    struct emp_api_target *t = rows;
    bool oom = false;
    for (size_t i = 0; i < *n; i++) {
        t[i].id = dbi_int64(res, (int)i, 0);
        dbi_text(res, (int)i, 1, t[i].name, sizeof t[i].name);
        t[i].definition = text_or_null(res, (int)i, 2, &oom);
    }
    PQclear(res);
    if (oom) {
        emp_db_api_targets_free(t, *n);
        *n = 0;
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    *out = t;
    return EMP_OK;
}

enum emp_err emp_db_api_target_get(struct emp_db *db, const char *name,
                                   struct emp_target_row *row, char **definition,
                                   struct emp_error *err)
{
    const char *vals[] = {name};
    PGresult *res = NULL;
    *definition = NULL;
    enum emp_err rc = dbi_exec(db, &st_api_target_get, vals, &res, err,
                               "could not look up the target");
    if (rc != EMP_OK)
        return rc;
    bool oom = false;
    if (PQntuples(res) == 0) {
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no target named \"%s\"", name);
    } else {
        memset(row, 0, sizeof *row);
        row->id = dbi_int64(res, 0, 0);
        dbi_text(res, 0, 1, row->name, sizeof row->name);
        dbi_text(res, 0, 2, row->kind, sizeof row->kind);
        dbi_text(res, 0, 3, row->group, sizeof row->group);
        row->interval_ms = (int)dbi_int64(res, 0, 4);
        *definition = text_or_null(res, 0, 5, &oom);
        if (oom)
            rc = emp_error_set(err, EMP_ENOMEM, NULL, "could not look up the target");
    }
    PQclear(res);
    return rc;
}

/* ---- probers and runs ------------------------------------------------ */

static const struct dbi_stmt st_prober_register = {
    "emp_prober_register",
    "INSERT INTO probers (name, location) VALUES ($1, $2)"
    " ON CONFLICT (name) DO UPDATE SET location = EXCLUDED.location RETURNING id",
    2};
static const struct dbi_stmt st_run_start = {
    "emp_run_start",
    "INSERT INTO prober_runs (prober_id, started_at, last_beat_at, pid, hostname)"
    " VALUES ($1, emp_ts($2), emp_ts($2), $3, $4) RETURNING id",
    4};
static const struct dbi_stmt st_heartbeat = {
    "emp_heartbeat",
    "UPDATE prober_runs SET last_beat_at = greatest(last_beat_at, emp_ts($2))"
    " WHERE id = $1",
    2};
static const struct dbi_stmt st_run_stop = {
    "emp_run_stop",
    "UPDATE prober_runs SET stopped_at = emp_ts($2),"
    " last_beat_at = greatest(last_beat_at, emp_ts($2)) WHERE id = $1",
    2};
static const struct dbi_stmt st_list_runs = {
    "emp_list_runs",
    "SELECT id, prober_id, emp_us(started_at), emp_us(last_beat_at), emp_us(stopped_at)"
    " FROM prober_runs WHERE prober_id = $1 AND started_at < emp_ts($3)"
    " AND greatest(stopped_at, last_beat_at) >= emp_ts($2)"
    " ORDER BY started_at, id",
    3};

enum emp_err emp_db_prober_register(struct emp_db *db, const char *name,
                                    const char *location, int64_t *prober_id,
                                    struct emp_error *err)
{
    const char *vals[] = {name, location != NULL ? location : ""};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_prober_register, vals, &res, err,
                               "could not register prober");
    if (rc != EMP_OK)
        return rc;
    *prober_id = dbi_int64(res, 0, 0);
    PQclear(res);
    return EMP_OK;
}

enum emp_err emp_db_run_start(struct emp_db *db, int64_t prober_id,
                              int64_t now_us, int64_t *run_id,
                              struct emp_error *err)
{
    char b[3][24];
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    char safe_host[256];
    dbi_utf8_copy(safe_host, sizeof safe_host, host);
    const char *vals[] = {dbi_i64s(b[0], prober_id), dbi_i64s(b[1], now_us),
                          dbi_i64s(b[2], (int64_t)getpid()), safe_host};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_run_start, vals, &res, err, "could not record prober run");
    if (rc != EMP_OK)
        return rc;
    *run_id = dbi_int64(res, 0, 0);
    PQclear(res);
    return EMP_OK;
}

static enum emp_err run_update(struct emp_db *db, const struct dbi_stmt *st,
                               int64_t run_id, int64_t now_us, struct emp_error *err,
                               const char *what)
{
    char b[2][24];
    const char *vals[] = {dbi_i64s(b[0], run_id), dbi_i64s(b[1], now_us)};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, st, vals, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    if (strcmp(PQcmdTuples(res), "0") == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "%s: no run %lld", what,
                           (long long)run_id);
    PQclear(res);
    return rc;
}

enum emp_err emp_db_heartbeat(struct emp_db *db, int64_t run_id, int64_t now_us,
                              struct emp_error *err)
{
    return run_update(db, &st_heartbeat, run_id, now_us, err, "could not write heartbeat");
}

enum emp_err emp_db_run_stop(struct emp_db *db, int64_t run_id, int64_t now_us,
                             struct emp_error *err)
{
    return run_update(db, &st_run_stop, run_id, now_us, err, "could not record run stop");
}

/* Run a window query with (id, from, to) parameters. */
static enum emp_err window_query(struct emp_db *db, const struct dbi_stmt *st, int64_t id,
                                 int64_t from_us, int64_t to_us, PGresult **res,
                                 struct emp_error *err, const char *what)
{
    char b[3][24];
    const char *vals[] = {dbi_i64s(b[0], id), dbi_i64s(b[1], from_us), dbi_i64s(b[2], to_us)};
    return dbi_exec(db, st, vals, res, err, what);
}

/* A zeroed array for the rows of `res` (at least one element so that an
 * empty result is still a valid free()-able pointer). */
static void *rows_alloc(const PGresult *res, size_t elem, size_t *n)
{
    *n = (size_t)PQntuples(res);
    return calloc(*n ? *n : 1, elem);
}

enum emp_err emp_db_list_runs(struct emp_db *db, int64_t prober_id,
                              int64_t from_us, int64_t to_us,
                              struct emp_run **out, size_t *n,
                              struct emp_error *err)
{
    const char *what = "could not list prober runs";
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    enum emp_err rc = window_query(db, &st_list_runs, prober_id, from_us, to_us, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    size_t rows;
    struct emp_run *a = rows_alloc(res, sizeof *a, &rows);
    if (a == NULL) {
        PQclear(res);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    for (size_t i = 0; i < rows; i++) {
        int r = (int)i;
        a[i].run_id = dbi_int64(res, r, 0);
        a[i].prober_id = dbi_int64(res, r, 1);
        a[i].started_at_us = dbi_int64(res, r, 2);
        a[i].last_beat_at_us = dbi_int64(res, r, 3);
        a[i].stopped_at_us = dbi_int64(res, r, 4);
    }
    PQclear(res);
    *out = a;
    *n = rows;
    return EMP_OK;
}

/* ---- outages, spans, rollups, failures ------------------------------- */

static const struct dbi_stmt st_open_outages = {
    "emp_open_outages",
    "SELECT target_id, emp_us(started_at), err_class, message FROM outages"
    " WHERE prober_id = $1 AND ended_at IS NULL ORDER BY started_at, target_id",
    1};
/* The reads of a window: bounds are written (SELECT emp_ts($n)), computed
 * once per query, where emp_ts($n) in a filter is computed again for every
 * row (timestamptz arithmetic is only STABLE, so it is not folded). An
 * outage overlaps [from, to) when started_at < to and
 * coalesce(ended_at, 'infinity') > from: ongoing ones never end. Spelled
 * so, the end reaches outages_target_end_idx (schema 004), which starts
 * the walk at the window rather than at the target's first outage. */
static const struct dbi_stmt st_list_outages = {
    "emp_list_outages",
    "SELECT target_id, started_at, ended_at, err_class, message"
    " FROM outages WHERE target_id = $1 AND started_at < (SELECT emp_ts($3))"
    " AND coalesce(ended_at, 'infinity') > (SELECT emp_ts($2))"
    " ORDER BY started_at DESC, prober_id",
    3, 1};
/* grace_ms is at most 2 * EMP_MAX_INTERVAL_MS (2 days): the first ended_at
 * bound lets the index find candidates, the second is exact. */
static const struct dbi_stmt st_list_spans = {
    "emp_list_spans",
    "SELECT started_at, ended_at, grace_ms::bigint * 1000 FROM spans"
    " WHERE target_id = $1 AND started_at < (SELECT emp_ts($3))"
    " AND ended_at >= (SELECT emp_ts($2) - interval '2 days')"
    " AND ended_at + grace_ms * interval '1 millisecond' >= (SELECT emp_ts($2))"
    " ORDER BY started_at, prober_id",
    3, 1};
static const struct dbi_stmt st_list_rollups = {
    "emp_list_rollups",
    "SELECT emp_us(hour), sum(ok)::bigint, sum(degraded)::bigint, sum(fail)::bigint,"
    " sum(latency_sum_us)::bigint, max(latency_max_us), emp_hist_sum(hist::bigint[])"
    " FROM rollup_hours WHERE target_id = $1 AND hour < emp_ts($3)"
    " AND hour > emp_ts($2) - interval '1 hour'"
    " AND day >= (emp_ts($2) AT TIME ZONE 'UTC')::date - 1"
    " AND day <= (emp_ts($3) AT TIME ZONE 'UTC')::date"
    " GROUP BY hour ORDER BY hour",
    3};
/* A NULL message repeats the previous one of the target and prober in the
 * month (db_write.c): carried forward within the window (grp counts the
 * messages so far), and from before the window for its first rows. */
static const struct dbi_stmt st_list_failures = {
    "emp_list_failures",
    "SELECT emp_us(at), latency_us, err_class,"
    " coalesce(message, first_value(message) OVER (PARTITION BY prober_id, grp ORDER BY at),"
    "  (SELECT p.message FROM failures p WHERE p.target_id = $1 AND p.prober_id = w.prober_id"
    "   AND p.at < emp_ts($2) AND p.message IS NOT NULL"
    "   AND p.at >= date_trunc('month', emp_ts($2) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    "   ORDER BY p.at DESC LIMIT 1), '')"
    " FROM (SELECT f.*, count(message) OVER (PARTITION BY prober_id ORDER BY at) AS grp"
    "  FROM failures f WHERE target_id = $1 AND at >= emp_ts($2) AND at < emp_ts($3)) AS w"
    " ORDER BY at, prober_id",
    3};

/* Only when the failures happened (an SLA's minutes rule needs no more):
 * the key alone, no message to carry forward. */
static const struct dbi_stmt st_list_failure_times = {
    "emp_list_failure_times",
    "SELECT at FROM failures WHERE target_id = $1 AND at >= emp_ts($2) AND at < emp_ts($3)"
    " ORDER BY at, prober_id",
    3, 1};

enum emp_err emp_db_open_outages(struct emp_db *db, int64_t prober_id,
                                 struct emp_outage **out, size_t *n,
                                 struct emp_error *err)
{
    const char *what = "could not list open outages";
    char b[24];
    const char *vals[] = {dbi_i64s(b, prober_id)};
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_open_outages, vals, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    size_t rows;
    struct emp_outage *a = rows_alloc(res, sizeof *a, &rows);
    if (a == NULL) {
        PQclear(res);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    for (size_t i = 0; i < rows; i++) {
        int r = (int)i;
        a[i].target_id = dbi_int64(res, r, 0);
        a[i].started_at_us = dbi_int64(res, r, 1);
        a[i].ended_at_us = 0;
        dbi_text(res, r, 2, a[i].err_class, sizeof a[i].err_class);
        dbi_text(res, r, 3, a[i].message, sizeof a[i].message);
    }
    PQclear(res);
    *out = a;
    *n = rows;
    return EMP_OK;
}

enum emp_err emp_db_list_outages(struct emp_db *db, int64_t target_id,
                                 int64_t from_us, int64_t to_us,
                                 struct emp_outage **out, size_t *n,
                                 struct emp_error *err)
{
    const char *what = "could not list outages";
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    enum emp_err rc = window_query(db, &st_list_outages, target_id, from_us, to_us, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    size_t rows;
    struct emp_outage *a = rows_alloc(res, sizeof *a, &rows);
    if (a == NULL) {
        PQclear(res);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    for (size_t i = 0; i < rows; i++) {
        int r = (int)i;
        a[i].target_id = dbi_bin_int64(res, r, 0);
        a[i].started_at_us = dbi_bin_time_us(res, r, 1);
        a[i].ended_at_us = dbi_bin_time_us(res, r, 2);
        /* Binary text is the bytes themselves; libpq NUL-terminates. */
        dbi_text(res, r, 3, a[i].err_class, sizeof a[i].err_class);
        dbi_text(res, r, 4, a[i].message, sizeof a[i].message);
    }
    PQclear(res);
    *out = a;
    *n = rows;
    return EMP_OK;
}

enum emp_err emp_db_list_spans(struct emp_db *db, int64_t target_id,
                               int64_t from_us, int64_t to_us,
                               struct emp_span **out, size_t *n,
                               struct emp_error *err)
{
    const char *what = "could not list coverage spans";
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    enum emp_err rc = window_query(db, &st_list_spans, target_id, from_us, to_us, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    size_t rows;
    struct emp_span *a = rows_alloc(res, sizeof *a, &rows);
    if (a == NULL) {
        PQclear(res);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    for (size_t i = 0; i < rows; i++) {
        int r = (int)i;
        a[i].started_at_us = dbi_bin_time_us(res, r, 0);
        a[i].ended_at_us = dbi_bin_time_us(res, r, 1);
        a[i].grace_us = dbi_bin_int64(res, r, 2);
    }
    PQclear(res);
    *out = a;
    *n = rows;
    return EMP_OK;
}

/* Parse a bigint[] in text form ("{1,2,3}") into hist. */
static void parse_hist(const char *s, int64_t hist[EMP_HIST_BUCKETS])
{
    memset(hist, 0, sizeof(int64_t) * EMP_HIST_BUCKETS);
    if (*s == '{')
        s++;
    for (int i = 0; i < EMP_HIST_BUCKETS && *s != '\0' && *s != '}'; i++) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno != 0)
            return;
        hist[i] = (int64_t)v;
        s = end;
        if (*s == ',')
            s++;
    }
}

enum emp_err emp_db_list_rollups(struct emp_db *db, int64_t target_id,
                                 int64_t from_us, int64_t to_us,
                                 struct emp_rollup **out, size_t *n,
                                 struct emp_error *err)
{
    const char *what = "could not list rollups";
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    enum emp_err rc = window_query(db, &st_list_rollups, target_id, from_us, to_us, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    size_t rows;
    struct emp_rollup *a = rows_alloc(res, sizeof *a, &rows);
    if (a == NULL) {
        PQclear(res);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    for (size_t i = 0; i < rows; i++) {
        int r = (int)i;
        a[i].target_id = target_id;
        a[i].hour_us = dbi_int64(res, r, 0);
        a[i].ok = dbi_int64(res, r, 1);
        a[i].degraded = dbi_int64(res, r, 2);
        a[i].fail = dbi_int64(res, r, 3);
        a[i].latency_sum_us = dbi_int64(res, r, 4);
        a[i].latency_max_us = dbi_int64(res, r, 5);
        parse_hist(PQgetvalue(res, r, 6), a[i].hist);
    }
    PQclear(res);
    *out = a;
    *n = rows;
    return EMP_OK;
}

enum emp_err emp_db_list_failures(struct emp_db *db, int64_t target_id,
                                  int64_t from_us, int64_t to_us,
                                  struct emp_failure **out, size_t *n,
                                  struct emp_error *err)
{
    const char *what = "could not list failures";
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    enum emp_err rc = window_query(db, &st_list_failures, target_id, from_us, to_us, &res, err, what);
    if (rc != EMP_OK)
        return rc;
    size_t rows;
    struct emp_failure *a = rows_alloc(res, sizeof *a, &rows);
    if (a == NULL) {
        PQclear(res);
        return emp_error_set(err, EMP_ENOMEM, NULL, "%s", what);
    }
    for (size_t i = 0; i < rows; i++) {
        int r = (int)i;
        a[i].target_id = target_id;
        a[i].at_us = dbi_int64(res, r, 0);
        a[i].latency_us = dbi_int64(res, r, 1);
        dbi_text(res, r, 2, a[i].err_class, sizeof a[i].err_class);
        dbi_text(res, r, 3, a[i].message, sizeof a[i].message);
    }
    PQclear(res);
    *out = a;
    *n = rows;
    return EMP_OK;
}

enum emp_err emp_db_list_failure_times(struct emp_db *db, int64_t target_id,
                                       int64_t from_us, int64_t to_us,
                                       struct emp_failure **out, size_t *n,
                                       struct emp_error *err)
{
    PGresult *res = NULL;
    void *rows;
    char b[3][24];
    const char *vals[] = {dbi_i64s(b[0], target_id), dbi_i64s(b[1], from_us),
                          dbi_i64s(b[2], to_us)};
    enum emp_err rc = dbi_query_rows(db, &st_list_failure_times, vals, sizeof **out, &rows, n,
                                     &res, err, "could not list failures");
    if (rc != EMP_OK)
        return rc;
    struct emp_failure *a = rows;
    for (size_t i = 0; i < *n; i++) {
        a[i].target_id = target_id;
        a[i].at_us = dbi_bin_time_us(res, (int)i, 0);
    }
    PQclear(res);
    *out = a;
    return EMP_OK;
}

/* ---- pool ------------------------------------------------------------ */

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

/* ---- array parameters ------------------------------------------------ */

static void dbi_arr_sep(struct dbi_arr *a)
{
    dbi_buf_putc(&a->b, a->n++ == 0 ? '{' : ',');
}

void dbi_arr_i64(struct dbi_arr *a, int64_t v)
{
    dbi_arr_sep(a);
    dbi_buf_int64(&a->b, v);
}

void dbi_arr_null(struct dbi_arr *a)
{
    dbi_arr_sep(a);
    dbi_buf_puts(&a->b, "NULL");
}

void dbi_arr_text(struct dbi_arr *a, const char *s)
{
    dbi_arr_sep(a);
    dbi_buf_text_elem(&a->b, s);
}

const char *dbi_arr_end(struct dbi_arr *a)
{
    if (a->n == 0)
        dbi_buf_putc(&a->b, '{');
    dbi_buf_putc(&a->b, '}');
    return a->b.oom ? NULL : a->b.p;
}

void dbi_arrs_free(struct dbi_arr *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dbi_buf_free(&a[i].b);
}
