/* logfmt lines to stderr, written with one fputs so that lines from the
 * probe loop, the writer and the API threads do not interleave. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum emp_log_level emp_log_threshold = EMP_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

int emp_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

const char *emp_log_quote(char *buf, unsigned long size, const char *s)
{
    size_t o = 0;
    if (size < 3) {
        if (size > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; *s && o + 3 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20) {
            buf[o++] = ' ';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void emp_log_write(enum emp_log_level level, const char *msg, const char *fmt, ...)
{
    char line[2048];
    char qmsg[512];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     level_names[level], emp_log_quote(qmsg, sizeof qmsg, msg));
    if (n < 0)
        return;
    if (fmt != NULL && fmt[0] != '\0' && (size_t)n + 1 < sizeof line) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    line[n] = '\0';
    fputs(line, stderr);
}
