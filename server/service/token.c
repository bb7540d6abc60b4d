/* Bearer tokens: random bytes from getrandom(2) in base64url, SHA-256 by
 * OpenSSL's EVP interface, CRYPTO_memcmp for the constant-time compare. */
#include "service/token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* RFC 4648 section 5 (base64url), without padding: OpenSSL's base64 with
 * its two symbols swapped and the padding cut. `in` is the token's random
 * bytes; `out` gets ceil(4n/3) characters and a NUL. */
static void base64url(const unsigned char in[EMP_TOKEN_RANDOM_BYTES], char *out)
{
    unsigned char b64[4 * ((EMP_TOKEN_RANDOM_BYTES + 2) / 3) + 1];
    int len = EVP_EncodeBlock(b64, in, EMP_TOKEN_RANDOM_BYTES);
    while (len > 0 && b64[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[len > 0 ? len : 0] = '\0';
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
    base64url(raw, out + sizeof EMP_TOKEN_PREFIX - 1);
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
