/* Bearer tokens: random bytes from getrandom(2) in base64url, SHA-256 by
 * OpenSSL's EVP interface, CRYPTO_memcmp for the constant-time compare. */
#include "token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* RFC 4648 section 5, without padding. */
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encode `n` bytes; `out` gets ceil(4n/3) characters and a NUL. */
static void base64url(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
}

enum emp_err emp_token_new(char out[EMP_TOKEN_LEN + 1])
{
    unsigned char raw[EMP_TOKEN_RANDOM_BYTES];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t k = getrandom(raw + got, sizeof raw - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return EMP_EIO;
        got += (size_t)k;
    }
    memcpy(out, EMP_TOKEN_PREFIX, sizeof EMP_TOKEN_PREFIX - 1);
    base64url(raw, sizeof raw, out + sizeof EMP_TOKEN_PREFIX - 1);
    OPENSSL_cleanse(raw, sizeof raw);
    return EMP_OK;
}

enum emp_err emp_token_hash(const char *token, size_t len,
                            unsigned char out[EMP_TOKEN_HASH_BYTES])
{
    unsigned int n = 0;
    if (EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) != 1 || n != EMP_TOKEN_HASH_BYTES)
        return EMP_EIO;
    return EMP_OK;
}

bool emp_token_hash_equal(const unsigned char a[EMP_TOKEN_HASH_BYTES],
                          const unsigned char b[EMP_TOKEN_HASH_BYTES])
{
    return CRYPTO_memcmp(a, b, EMP_TOKEN_HASH_BYTES) == 0;
}

long emp_token_find(const struct emp_token_row *rows, size_t n,
                    const unsigned char hash[EMP_TOKEN_HASH_BYTES])
{
    long found = -1;
    for (size_t i = 0; i < n; i++) {
        /* No early exit, no branch on the secret-derived result besides
         * remembering the index. */
        bool eq = emp_token_hash_equal(rows[i].hash, hash);
        found = eq ? (long)i : found;
    }
    return found;
}

bool emp_token_from_header(const char *header, const char **token, size_t *len)
{
    if (header == NULL || strncasecmp(header, "Bearer", 6) != 0 ||
        (header[6] != ' ' && header[6] != '\t'))
        return false;
    const char *s = header + 6;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n > EMP_TOKEN_PRESENTED_MAX)
        return false;
    *token = s;
    *len = n;
    return true;
}
