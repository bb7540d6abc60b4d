/* The API's bearer tokens: made from getrandom(2), shown once, stored and
 * compared only as SHA-256 hashes (OpenSSL's libcrypto), in constant time.
 * A token is "emp_" and 43 base64url characters (32 random bytes). */
#ifndef EMP_TOKEN_H
#define EMP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "store/db.h"
#include "core/err.h"

#define EMP_TOKEN_RANDOM_BYTES 32
#define EMP_TOKEN_PREFIX "emp_"
#define EMP_TOKEN_LEN (sizeof EMP_TOKEN_PREFIX - 1 + 43)
/* Longer presented tokens are not even hashed. */
#define EMP_TOKEN_PRESENTED_MAX 512

/* A new token into `out` (EMP_TOKEN_LEN characters and a NUL). Returns
 * EMP_OK, or EMP_EIO when the kernel gave no randomness. */
enum emp_err emp_token_new(char out[EMP_TOKEN_LEN + 1]);

/* SHA-256 of the `len` bytes at `token`. Returns EMP_OK or EMP_EIO. */
enum emp_err emp_token_hash(const char *token, size_t len,
                            unsigned char out[EMP_TOKEN_HASH_BYTES]);

/* Whether two hashes are equal, in time that does not depend on where they
 * differ. */
bool emp_token_hash_equal(const unsigned char a[EMP_TOKEN_HASH_BYTES],
                          const unsigned char b[EMP_TOKEN_HASH_BYTES]);

/* Index of the row of `rows` whose hash is `hash`, or -1: every row is
 * compared, whichever matches. */
long emp_token_find(const struct emp_token_row *rows, size_t n,
                    const unsigned char hash[EMP_TOKEN_HASH_BYTES]);

/* The token of an Authorization header value "Bearer TOKEN" (scheme in any
 * case, spaces around the token allowed): true with `*token` (borrowed
 * from `header`) and `*len` set; false when `header` is NULL, another
 * scheme, empty, or longer than EMP_TOKEN_PRESENTED_MAX. */
bool emp_token_from_header(const char *header, const char **token, size_t *len);


#endif
