/* A growable NUL-terminated string that remembers a failed allocation, so
 * that a builder appends freely and checks `oom` once at the end (curl's
 * dynbuf habit). The caller owns `p` (free it, or emp_buf_free). */
#ifndef EMP_BUF_H
#define EMP_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct emp_buf {
    char *p;      /* NULL until the first append */
    size_t len, cap;
    bool oom;     /* an allocation failed: the content is incomplete */
};

void emp_buf_put(struct emp_buf *b, const char *s, size_t n);
void emp_buf_putc(struct emp_buf *b, char c);
void emp_buf_puts(struct emp_buf *b, const char *s);
/* printf-style; a line longer than 1 KiB counts as a failure (oom). */
void emp_buf_printf(struct emp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empty it, keeping the memory. */
void emp_buf_reset(struct emp_buf *b);
/* Free and zero; accepts a zeroed buffer. */
void emp_buf_free(struct emp_buf *b);

#endif
