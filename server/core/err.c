/* Error codes and the human-readable detail that travels with them. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *emp_strerror(enum emp_err code)
{
    switch (code) {
    case EMP_OK: return "success";
    case EMP_ENOMEM: return "out of memory";
    case EMP_EINVAL: return "invalid argument";
    case EMP_EIO: return "input/output error";
    case EMP_EDB: return "database error";
    case EMP_ENOTFOUND: return "not found";
    case EMP_ECONFIG: return "configuration error";
    case EMP_EAGAIN: return "temporarily unavailable";
    case EMP_ERANGE: return "value out of range";
    case EMP_EEXIST: return "already exists";
    }
    return "unknown error";
}

enum emp_err emp_error_set(struct emp_error *e, enum emp_err code,
                           const char *detail, const char *fmt, ...)
{
    if (e == NULL)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    snprintf(e->detail, sizeof e->detail, "%s", detail ? detail : "");
    /* libpq messages end with a newline; one-line logs want none. */
    size_t n = strlen(e->detail);
    while (n > 0 && (e->detail[n - 1] == '\n' || e->detail[n - 1] == ' '))
        e->detail[--n] = '\0';
    return code;
}

void emp_error_clear(struct emp_error *e)
{
    if (e == NULL)
        return;
    e->code = EMP_OK;
    e->msg[0] = '\0';
    e->detail[0] = '\0';
}
