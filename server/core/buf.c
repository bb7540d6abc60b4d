/* Growable strings for the builders of replies, metrics and messages. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void emp_buf_put(struct emp_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void emp_buf_putc(struct emp_buf *b, char c)
{
    emp_buf_put(b, &c, 1);
}

void emp_buf_puts(struct emp_buf *b, const char *s)
{
    emp_buf_put(b, s, strlen(s));
}

void emp_buf_printf(struct emp_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->oom = true;
        return;
    }
    emp_buf_put(b, tmp, (size_t)n);
}

void emp_buf_reset(struct emp_buf *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

void emp_buf_free(struct emp_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
