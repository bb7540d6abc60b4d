/* clockshift: an LD_PRELOAD library that steps the wall clock of the process
 * it is loaded into, and nothing else — as NTP or an operator stepping
 * CLOCK_REALTIME does. CLOCK_REALTIME and CLOCK_REALTIME_COARSE (through
 * clock_gettime), gettimeofday() and time() read the real clock plus an
 * offset; the monotonic clocks, and timers armed on them (timerfd, condition
 * variables, epoll timeouts), are left alone. libfaketime moves those too,
 * which a real step never does.
 *
 * The offset is read from the file named by EMPIRIC_CLOCKSHIFT_FILE: a
 * decimal number of seconds ("-3600", "7200.5"); no variable, no file or an
 * empty file: no offset. The file is looked at (stat) on every wall clock
 * read and read again when its inode, size or modification time changed, so
 * a test steps the clock by writing a new file and renaming it over the old
 * one. A file that does not parse keeps the previous offset and says so on
 * stderr once per change.
 *
 * Not covered: timespec_get(), clock_gettime(CLOCK_TAI), and glibc's own
 * internal reads of the clock (they do not go through these symbols). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S INT64_C(1000000000)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *path; /* NULL: no offset, ever */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct stat seen;  /* the file as last read (st_ino 0: none) */
static int64_t offset_ns; /* under mu */

static void init(void)
{
    const char *p = getenv("EMPIRIC_CLOCKSHIFT_FILE");
    path = p != NULL && p[0] != '\0' ? strdup(p) : NULL;
}

/* The real clock, by system call: the vDSO's clock_gettime is not ours to
 * call once this library defines the symbol. */
static int real_gettime(clockid_t id, struct timespec *ts)
{
    return (int)syscall(SYS_clock_gettime, id, ts);
}

/* "[-]seconds[.fraction]" with nothing after it but blanks; false if not. */
static bool parse_offset(const char *s, int64_t *ns)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || fabs(v) > 1e9)
        return false;
    while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
        end++;
    if (*end != '\0')
        return false;
    *ns = (int64_t)llround(v * 1e9);
    return true;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The offset now: the file's, read again if it changed. */
static int64_t current_offset(void)
{
    pthread_once(&once, init);
    if (path == NULL)
        return 0;
    struct stat st;
    bool exists = stat(path, &st) == 0;
    pthread_mutex_lock(&mu);
    if (!exists) {
        memset(&seen, 0, sizeof seen);
        offset_ns = 0;
    } else if (!same_file(&st, &seen)) {
        char buf[64] = {0};
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0)
            close(fd);
        int64_t ns = 0;
        if (n == 0)
            offset_ns = 0;
        else if (n > 0 && parse_offset(buf, &ns))
            offset_ns = ns;
        else
            fprintf(stderr, "clockshift: %s: not a number of seconds; offset stays %.3f s\n",
                    path, (double)offset_ns / 1e9);
        seen = st;
    }
    int64_t off = offset_ns;
    pthread_mutex_unlock(&mu);
    return off;
}

static void shift(struct timespec *ts, int64_t off)
{
    int64_t ns = (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec + off;
    int64_t s = ns / NS_PER_S, r = ns % NS_PER_S;
    if (r < 0) {
        r += NS_PER_S;
        s--;
    }
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)r;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = real_gettime(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        shift(ts, current_offset());
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz; /* obsolete; glibc fills in nothing useful either */
    struct timespec ts;
    if (real_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    shift(&ts, current_offset());
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *t)
{
    struct timespec ts;
    if (real_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    shift(&ts, current_offset());
    if (t != NULL)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
