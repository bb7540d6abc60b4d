/* Secrets redacted for display: a URL's userinfo (RFC 3986 §3.2.1, which
 * itself deprecates "user:password" in URLs and asks that what follows the
 * first ':' not be shown) and credential headers. */
#include "core/redact.h"

#include <ctype.h>
#include <string.h>

/* Length of `scheme://` at the start of `s` (RFC 3986 §3.1: a letter, then
 * letters, digits, '+', '-', '.'), or 0 when `s` does not start so. */
static size_t scheme_len(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return 0;
    size_t n = 1;
    while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.')
        n++;
    return strncmp(s + n, "://", 3) == 0 ? n + 3 : 0;
}

bool emp_redact_url(struct emp_buf *b, const char *s)
{
    size_t start = scheme_len(s);
    size_t auth_len = start > 0 ? strcspn(s + start, "/?#") : 0;
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
        if (s[start + i] == '@')
            at = s + start + i;
    size_t info_len = at != NULL ? (size_t)(at - (s + start)) : 0;
    if (info_len == 0) {
        emp_buf_puts(b, s);
        return false;
    }
    const char *colon = memchr(s + start, ':', info_len);
    /* Keep the user name before a ':'; an empty password hides nothing. */
    size_t keep = colon != NULL ? (size_t)(colon - s) + 1 : start;
    if (colon != NULL && colon + 1 == at) {
        emp_buf_puts(b, s);
        return false;
    }
    emp_buf_put(b, s, keep);
    emp_buf_puts(b, EMP_REDACTED);
    emp_buf_puts(b, at);
    return true;
}

/* Whether `needle` (lower case) occurs in `s`, case-insensitively. */
static bool contains_nocase(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s != '\0'; s++) {
        size_t i = 0;
        while (i < n && s[i] != '\0' && tolower((unsigned char)s[i]) == needle[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

bool emp_redact_header(const char *name)
{
    static const char *const words[] = {"auth",    "token",     "secret",    "key",  "pass",
                                        "cookie",  "session",   "signature", "credential"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (contains_nocase(name, words[i]))
            return true;
    return false;
}
