/* Bearer tokens for the write endpoints. The presented token is hashed
 * (SHA-256) and compared with every stored hash in constant time; tokens
 * are read from the store at each write, so a revoked one stops working at
 * once. Whatever is wrong with a token, the reply is the same 401. */
#include "api/reply.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "service/token.h"

static enum MHD_Result unauthorized(struct api_req *r)
{
    return api_error_header(r, MHD_HTTP_UNAUTHORIZED, "unauthorized", "WWW-Authenticate",
                            "Bearer realm=\"empiric\"",
                            "a valid bearer token is required (empiric token create NAME)");
}

bool api_authorize(struct api_req *r, enum MHD_Result *ret)
{
    const char *header = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token;
    size_t len;
    unsigned char hash[EMP_TOKEN_HASH_BYTES];
    if (!emp_token_from_header(header, &token, &len) || emp_token_hash(token, len, hash) != EMP_OK) {
        *ret = unauthorized(r);
        return false;
    }
    struct emp_db *db;
    if (!api_db_get(r, &db, ret))
        return false;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_token_row *rows = NULL;
    size_t n = 0;
    enum emp_err e = emp_db_token_list(db, &rows, &n, &err);
    if (e != EMP_OK) {
        *ret = api_db_error(r, db, e, &err, "read the tokens");
        emp_db_pool_put(r->api->pool, db);
        return false;
    }
    long found = emp_token_find(rows, n, hash);
    if (found >= 0) {
        /* Bookkeeping only: a failure here does not refuse the request. */
        if (emp_db_token_touch(db, rows[found].id, &err) != EMP_OK)
            emp_warn("could not note a token's use", "token=%s", rows[found].name);
        emp_info("token accepted", "token=%s method=%.16s", rows[found].name, r->method);
    }
    emp_db_pool_put(r->api->pool, db);
    free(rows);
    if (found < 0) {
        *ret = unauthorized(r);
        return false;
    }
    r->authorized = true;
    return true;
}
