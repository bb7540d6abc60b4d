/* What every fuzz harness shares: libFuzzer's entry point, and a check that
 * stops the run on a broken invariant. A harness builds two ways: with
 * libFuzzer (clang, EMPIRIC_FUZZ) and with driver.c, which replays saved
 * inputs under gcc in the ordinary test builds. */
#ifndef EMP_FUZZ_H
#define EMP_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called once per input; returns 0 (libFuzzer's contract). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the code under test promises. A failure aborts, which both
 * libFuzzer and the replay driver report as a crash with this message. */
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* A NUL-terminated copy of data[0..size) (new; NUL bytes inside stay, so C
 * string functions see the text up to the first). Aborts when out of
 * memory: an input must not be mistaken for a finding. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    for (size_t i = 0; i < size; i++)
        s[i] = (char)data[i];
    s[size] = '\0';
    return s;
}

/* A target name as config.c and import.c make them: 1 to 128 bytes of
 * [A-Za-z0-9._-]. */
static inline bool fuzz_is_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 128 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

#endif
