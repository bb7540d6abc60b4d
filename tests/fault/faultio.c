/* Clock, argument and socket helpers of faultd and hostile: every wait in
 * ticks of FAULT_TICK_MS, so that a stop is noticed within one tick. */
#include "faultio.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t fault_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool fault_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int fault_listen(int type, in_addr_t addr, int *port)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port),
                             .sin_addr.s_addr = addr};
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        (type == SOCK_STREAM && listen(fd, 1024) < 0) ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

void fault_close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static bool over(const atomic_int *stopping, int64_t deadline_ns)
{
    return atomic_load(stopping) || fault_mono_ns() >= deadline_ns;
}

void fault_wait_until(const atomic_int *stopping, int64_t deadline_ns)
{
    while (!atomic_load(stopping)) {
        int64_t left = deadline_ns - fault_mono_ns();
        if (left <= 0)
            break;
        int64_t step = left < FAULT_TICK_MS * 1000000LL ? left : FAULT_TICK_MS * 1000000LL;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step};
        nanosleep(&ts, NULL);
    }
}

bool fault_send_all(int fd, const void *buf, size_t len, const atomic_int *stopping,
                    int64_t deadline_ns)
{
    const char *p = buf;
    while (len > 0) {
        if (over(stopping, deadline_ns))
            return false;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                return false;
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, FAULT_TICK_MS);
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool fault_read_request(int fd, char *buf, size_t size, const atomic_int *stopping,
                        int timeout_ms)
{
    size_t got = 0;
    int64_t deadline = fault_mono_ns() + (int64_t)timeout_ms * 1000000;
    buf[0] = '\0';
    while (got + 1 < size && !over(stopping, deadline)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, FAULT_TICK_MS);
        if (r < 0 && errno != EINTR)
            return false;
        if (r <= 0)
            continue;
        ssize_t n = recv(fd, buf + got, size - 1 - got, MSG_DONTWAIT);
        if (n == 0)
            return false;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return false;
        }
        /* Look for the blank line from a little before the new bytes. */
        size_t from = got > 3 ? got - 3 : 0;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf + from, "\r\n\r\n") != NULL || strstr(buf + from, "\n\n") != NULL)
            return true;
    }
    return got > 0 && !atomic_load(stopping);
}

void fault_hold_silent(int fd, const atomic_int *stopping, int64_t until_ns)
{
    char buf[2048];
    while (!over(stopping, until_ns)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, FAULT_TICK_MS) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return;
    }
}

int fault_signalfd(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

bool fault_stop_signalled(int sfd)
{
    bool stop = false;
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            stop = true;
    return stop;
}

int fault_thread_attr(pthread_attr_t *attr, size_t stack)
{
    int rc = pthread_attr_init(attr);
    if (rc != 0)
        return rc;
    pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(attr, stack);
    return 0;
}

bool fault_start_thread(const pthread_attr_t *attr, void *(*fn)(void *), void *arg,
                        atomic_int *conns)
{
    atomic_fetch_add(conns, 1);
    pthread_t t;
    if (pthread_create(&t, attr, fn, arg) == 0)
        return true;
    atomic_fetch_sub(conns, 1);
    return false;
}

void fault_wait_conns(const atomic_int *conns)
{
    for (int i = 0; i < 200 && atomic_load(conns) > 0; i++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10000000L};
        nanosleep(&ts, NULL);
    }
}
