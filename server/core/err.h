/* One error type for all of Empiric: negative codes, with a caller-owned
 * detail buffer for humans. Functions return enum emp_err and, when given a
 * struct emp_error, fill it with what failed and why. */
#ifndef EMP_ERR_H
#define EMP_ERR_H

#include <stddef.h>

enum emp_err {
    EMP_OK = 0,
    EMP_ENOMEM = -1,     /* allocation failed */
    EMP_EINVAL = -2,     /* bad argument or input */
    EMP_EIO = -3,        /* system call or file failed */
    EMP_EDB = -4,        /* database error */
    EMP_ENOTFOUND = -5,  /* no such object */
    EMP_ECONFIG = -6,    /* configuration rejected */
    EMP_EAGAIN = -7,     /* try again later */
    EMP_ERANGE = -8,     /* value out of range */
    EMP_EEXIST = -9,     /* already exists */
};

/* Detail for humans. `msg` is the primary line ("could not connect to
 * database"), `detail` says why (e.g. libpq's message). */
struct emp_error {
    enum emp_err code;
    char msg[256];
    char detail[512];
};

/* Static text for an error code; never NULL. */
const char *emp_strerror(enum emp_err code);

/* Fill `e` (may be NULL) with code, primary message and optional detail,
 * printf style for the message. Returns `code` so callers can
 * `return emp_error_set(...)`. */
enum emp_err emp_error_set(struct emp_error *e, enum emp_err code,
                           const char *detail, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clear `e` (may be NULL) to EMP_OK with empty messages. */
void emp_error_clear(struct emp_error *e);

#endif
