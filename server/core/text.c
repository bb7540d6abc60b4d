/* UTF-8 text: what PostgreSQL takes as text (valid UTF-8, no NUL), and
 * copies of untrusted bytes (a target's answer, a file's field) made valid. */
#include "core/text.h"

#include <string.h>

size_t emp_text_utf8_len(const unsigned char *s)
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

bool emp_text_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = s[i] != '\0' ? emp_text_utf8_len((const unsigned char *)s + i) : 0;
        if (n == 0 || n > len - i)
            return false;
        i += n;
    }
    return true;
}

void emp_text_copy(char *dst, size_t size, const char *s)
{
    size_t o = 0;
    if (size == 0)
        return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = emp_text_utf8_len(p);
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
