/* The API's bearer tokens in the store (schema/006_api_tokens.sql): names
 * and SHA-256 hashes only, never a token itself. Hashes cross as hex text
 * (bytea's '\x...' input, encode(..., 'hex') output). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/dbi.h"

static const struct dbi_stmt st_token_create = {
    "emp_token_create",
    "INSERT INTO api_tokens (name, hash) VALUES ($1, $2::bytea)"
    " ON CONFLICT (name) DO NOTHING RETURNING id",
    2};
static const struct dbi_stmt st_token_list = {
    "emp_token_list",
    "SELECT id, name, encode(hash, 'hex'), emp_us(created_at), emp_us(last_used_at)"
    " FROM api_tokens ORDER BY name",
    0};
static const struct dbi_stmt st_token_revoke = {
    "emp_token_revoke", "DELETE FROM api_tokens WHERE name = $1 RETURNING id", 1};
static const struct dbi_stmt st_token_touch = {
    "emp_token_touch", "UPDATE api_tokens SET last_used_at = now() WHERE id = $1", 1};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

enum emp_err emp_db_token_create(struct emp_db *db, const char *name,
                                 const unsigned char hash[EMP_TOKEN_HASH_BYTES],
                                 struct emp_error *err)
{
    char hex[2 + 2 * EMP_TOKEN_HASH_BYTES + 1] = "\\x";
    for (size_t i = 0; i < EMP_TOKEN_HASH_BYTES; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02x", hash[i]);
    const char *vals[] = {name, hex};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_token_create, vals, &res, err, "could not store the token");
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = emp_error_set(err, EMP_EEXIST, NULL, "a token called \"%s\" exists", name);
    PQclear(res);
    return rc;
}

enum emp_err emp_db_token_list(struct emp_db *db, struct emp_token_row **out, size_t *n,
                               struct emp_error *err)
{
    const char *what = "could not list the tokens";
    PGresult *res = NULL;
    void *rows;
    enum emp_err rc = dbi_query_rows(db, &st_token_list, NULL, sizeof **out, &rows, n, &res, err,
                                     what);
    if (rc != EMP_OK)
        return rc;
    struct emp_token_row *t = rows;
    bool bad = false;
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        t[i].id = dbi_int64(res, r, 0);
        dbi_text(res, r, 1, t[i].name, sizeof t[i].name);
        const char *hex = PQgetvalue(res, r, 2);
        bad |= strlen(hex) != 2 * EMP_TOKEN_HASH_BYTES;
        for (size_t k = 0; !bad && k < EMP_TOKEN_HASH_BYTES; k++) {
            int hi = hex_digit(hex[2 * k]), lo = hex_digit(hex[2 * k + 1]);
            bad |= hi < 0 || lo < 0;
            t[i].hash[k] = (unsigned char)(hi << 4 | lo);
        }
        t[i].created_at_us = dbi_int64(res, r, 3);
        t[i].last_used_at_us = dbi_int64(res, r, 4);
    }
    PQclear(res);
    if (bad) {
        free(t);
        *n = 0;
        return emp_error_set(err, EMP_EDB, "a stored hash is not 32 bytes", "%s", what);
    }
    *out = t;
    return EMP_OK;
}

enum emp_err emp_db_token_revoke(struct emp_db *db, const char *name, struct emp_error *err)
{
    const char *vals[] = {name};
    PGresult *res = NULL;
    enum emp_err rc = dbi_exec(db, &st_token_revoke, vals, &res, err, "could not revoke the token");
    if (rc != EMP_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = emp_error_set(err, EMP_ENOTFOUND, NULL, "no token called \"%s\"", name);
    PQclear(res);
    return rc;
}

enum emp_err emp_db_token_touch(struct emp_db *db, int64_t id, struct emp_error *err)
{
    char b[24];
    const char *vals[] = {dbi_i64s(b, id)};
    return dbi_exec_cmd(db, &st_token_touch, vals, err, "could not note the token's use");
}
