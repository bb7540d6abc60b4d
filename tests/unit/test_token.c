/* Bearer tokens: their form and randomness, SHA-256 against the FIPS 180-2
 * test vectors, the constant-time compare (equal, and unequal at the first
 * and at the last byte), the search over every stored hash, and reading
 * the Authorization header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "service/token.h"

static void hex(const unsigned char *h, char out[2 * EMP_TOKEN_HASH_BYTES + 1])
{
    for (size_t i = 0; i < EMP_TOKEN_HASH_BYTES; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        unsigned char h[EMP_TOKEN_HASH_BYTES];
        char got[2 * EMP_TOKEN_HASH_BYTES + 1];
        assert_int_equal(emp_token_hash(v[i].in, strlen(v[i].in), h), EMP_OK);
        hex(h, got);
        assert_string_equal(got, v[i].hex);
    }
    /* The length counts, not a NUL. */
    unsigned char a[EMP_TOKEN_HASH_BYTES], b[EMP_TOKEN_HASH_BYTES];
    assert_int_equal(emp_token_hash("abc\0x", 5, a), EMP_OK);
    assert_int_equal(emp_token_hash("abc", 3, b), EMP_OK);
    assert_false(emp_token_hash_equal(a, b));
}

static void test_new_tokens(void **state)
{
    (void)state;
    char t1[EMP_TOKEN_LEN + 1], t2[EMP_TOKEN_LEN + 1];
    assert_int_equal(emp_token_new(t1), EMP_OK);
    assert_int_equal(emp_token_new(t2), EMP_OK);
    assert_int_equal(strlen(t1), EMP_TOKEN_LEN);
    assert_int_equal(strlen(t1), 47);
    assert_memory_equal(t1, "emp_", 4);
    assert_int_equal(strspn(t1 + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_"),
                     43);
    assert_string_not_equal(t1, t2);
    /* 256 random bits: every byte value turns up across a few tokens. */
    int seen[64] = {0};
    for (int k = 0; k < 64; k++) {
        char t[EMP_TOKEN_LEN + 1];
        assert_int_equal(emp_token_new(t), EMP_OK);
        for (size_t i = 4; i < EMP_TOKEN_LEN - 1; i++) {
            const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            seen[strchr(alpha, t[i]) - alpha]++;
        }
    }
    for (int c = 0; c < 64; c++)
        assert_true(seen[c] > 0);
}

static void test_compare(void **state)
{
    (void)state;
    unsigned char a[EMP_TOKEN_HASH_BYTES], b[EMP_TOKEN_HASH_BYTES];
    assert_int_equal(emp_token_hash("emp_x", 5, a), EMP_OK);
    memcpy(b, a, sizeof b);
    assert_true(emp_token_hash_equal(a, b));
    b[0] ^= 1;
    assert_false(emp_token_hash_equal(a, b));
    b[0] ^= 1;
    b[EMP_TOKEN_HASH_BYTES - 1] ^= 0x80;
    assert_false(emp_token_hash_equal(a, b));

    struct emp_token_row rows[3];
    memset(rows, 0, sizeof rows);
    assert_int_equal(emp_token_hash("one", 3, rows[0].hash), EMP_OK);
    assert_int_equal(emp_token_hash("two", 3, rows[1].hash), EMP_OK);
    assert_int_equal(emp_token_hash("three", 5, rows[2].hash), EMP_OK);
    unsigned char h[EMP_TOKEN_HASH_BYTES];
    assert_int_equal(emp_token_hash("two", 3, h), EMP_OK);
    assert_int_equal(emp_token_find(rows, 3, h), 1);
    assert_int_equal(emp_token_hash("three", 5, h), EMP_OK);
    assert_int_equal(emp_token_find(rows, 3, h), 2);
    assert_int_equal(emp_token_hash("four", 4, h), EMP_OK);
    assert_int_equal(emp_token_find(rows, 3, h), -1);
    assert_int_equal(emp_token_find(rows, 0, h), -1);
}

static void test_header(void **state)
{
    (void)state;
    const char *t;
    size_t n;
    assert_true(emp_token_from_header("Bearer emp_abc", &t, &n));
    assert_int_equal(n, 7);
    assert_memory_equal(t, "emp_abc", 7);
    assert_true(emp_token_from_header("bearer  emp_abc  ", &t, &n));
    assert_int_equal(n, 7);
    assert_true(emp_token_from_header("BEARER\temp_abc", &t, &n));
    assert_int_equal(n, 7);
    static const char *bad[] = {"", "Bearer", "Bearer ", "Bearer   ", "Basic emp_abc",
                                "Bearerx emp_abc", "emp_abc", "Token emp_abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(emp_token_from_header(bad[i], &t, &n));
    assert_false(emp_token_from_header(NULL, &t, &n));
    char huge[EMP_TOKEN_PRESENTED_MAX + 16];
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'a', sizeof huge - 8);
    huge[sizeof huge - 1] = '\0';
    assert_false(emp_token_from_header(huge, &t, &n));
    huge[7 + EMP_TOKEN_PRESENTED_MAX] = '\0';
    assert_true(emp_token_from_header(huge, &t, &n));
    assert_int_equal(n, EMP_TOKEN_PRESENTED_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_new_tokens),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_header),
    };
    return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
