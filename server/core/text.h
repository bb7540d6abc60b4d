/* UTF-8 text: validation and valid copies of untrusted bytes. */
#ifndef EMP_TEXT_H
#define EMP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at `s` (1 to 4), or 0 when it is not
 * one (overlong forms, surrogates and code points past U+10FFFF are not). */
size_t emp_text_utf8_len(const unsigned char *s);

/* Whether the `len` bytes at `s` are text PostgreSQL takes: valid UTF-8
 * without NUL bytes. */
bool emp_text_ok(const char *s, size_t len);

/* Copy `s` into `dst` (`size` bytes) as valid UTF-8, each invalid byte
 * replaced by '?', truncating at a character boundary. */
void emp_text_copy(char *dst, size_t size, const char *s);

#endif
