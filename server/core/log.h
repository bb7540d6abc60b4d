/* logfmt logging to stderr: one line per event,
 * `ts=... level=... msg="..." key=value`. A level below the threshold costs
 * one comparison. */
#ifndef EMP_LOG_H
#define EMP_LOG_H

enum emp_log_level { EMP_LOG_DEBUG = 0, EMP_LOG_INFO, EMP_LOG_WARN, EMP_LOG_ERROR };

/* Current threshold; set once at start-up (from EMPIRIC_LOG_LEVEL). */
extern enum emp_log_level emp_log_threshold;

/* Parse "debug|info|warn|error"; returns -1 when unknown. */
int emp_log_parse_level(const char *s);

/* Write one line. `fmt` holds the key=value pairs after msg (may be NULL or
 * ""); values with spaces should be quoted by the caller with %s of
 * emp_log_quote(). */
void emp_log_write(enum emp_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define emp_log(level, ...)                          \
    do {                                             \
        if ((level) >= emp_log_threshold)            \
            emp_log_write((level), __VA_ARGS__);     \
    } while (0)
#define emp_debug(...) emp_log(EMP_LOG_DEBUG, __VA_ARGS__)
#define emp_info(...) emp_log(EMP_LOG_INFO, __VA_ARGS__)
#define emp_warn(...) emp_log(EMP_LOG_WARN, __VA_ARGS__)
#define emp_errorf(...) emp_log(EMP_LOG_ERROR, __VA_ARGS__)

/* Quote `s` for a logfmt value into `buf` (always NUL-terminated, truncated
 * to `size`); returns buf. */
const char *emp_log_quote(char *buf, unsigned long size, const char *s);

#endif
