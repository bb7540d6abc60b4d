/* The tcp probe: resolve the host without blocking the loop, then a
 * non-blocking connect to each resolved address in turn (all families, in
 * getaddrinfo's order, like curl and libpq) until one accepts; OK once
 * connected, then the socket is closed. One deadline covers it all. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probes/probe.h"
#include "probes/resolve.h"
#include "core/timeutil.h"

/* "[v6addr%scope]:port" */
#define ADDR_MAX (INET6_ADDRSTRLEN + 40)

enum tcp_phase { TCP_IDLE = 0, TCP_RESOLVING, TCP_CONNECTING };

/* Lives in pr->kstate from the first probe to emp_probe_tcp_cleanup(). */
struct tcp_state {
    struct emp_probe *pr;
    enum tcp_phase phase;
    struct emp_resolve rs;
    struct emp_io io;          /* the connecting socket */
    int fd;
    struct addrinfo *ai_list;  /* owned */
    struct addrinfo *ai_next;  /* next address to try */
    char addr[ADDR_MAX];        /* the address being tried */
    int err;                   /* errno worth reporting, 0 if none yet */
    char err_addr[ADDR_MAX];
};

/* Release what the current probe holds; the state stays for the next. */
static void reset(struct tcp_state *st)
{
    struct emp_probe *pr = st->pr;
    emp_loop_timer_stop(pr->loop, &pr->deadline);
    emp_resolve_cancel(&st->rs);
    if (st->fd >= 0) {
        emp_loop_io_del(pr->loop, &st->io);
        close(st->fd);
        st->fd = -1;
    }
    if (st->ai_list != NULL)
        freeaddrinfo(st->ai_list);
    st->ai_list = NULL;
    st->ai_next = NULL;
    st->err = 0;
    st->addr[0] = '\0';
    st->err_addr[0] = '\0';
    st->phase = TCP_IDLE;
}

static void finish_ok(struct tcp_state *st)
{
    struct emp_probe *pr = st->pr;
    reset(st);
    emp_probe_complete_ok(pr); /* may free or restart us: touch nothing after */
}

static void finish_fail(struct tcp_state *st, const char *err_class,
                        const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void finish_fail(struct tcp_state *st, const char *err_class,
                        const char *fmt, ...)
{
    struct emp_probe *pr = st->pr;
    va_list ap;
    va_start(ap, fmt);
    emp_probe_vfail(pr, err_class, fmt, ap); /* before reset: args may point into st */
    va_end(ap);
    reset(st);
    pr->done(pr);
}

/* "127.0.0.1:80" or "[::1]:80". */
static void format_addr(const struct addrinfo *a, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN + 20]; /* with a %scope */
    char serv[8];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof host, serv,
                    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, size, "(unprintable address)");
        return;
    }
    if (a->ai_family == AF_INET6)
        snprintf(buf, size, "[%s]:%s", host, serv);
    else
        snprintf(buf, size, "%s:%s", host, serv);
}

static const char *errno_class(int e)
{
    switch (e) {
    case ECONNREFUSED: return "refused";
    case ETIMEDOUT: return "timeout";
    case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM: return "internal";
    default: return "connect";
    }
}

/* Errors that only say this address family is unusable here (no IPv6 on
 * the host, say): a later address's error tells the operator more. */
static bool weak_errno(int e)
{
    return e == EAFNOSUPPORT || e == EADDRNOTAVAIL || e == ENETUNREACH ||
           e == EPROTONOSUPPORT;
}

static void note_error(struct tcp_state *st, int e)
{
    if (st->err == 0 || (weak_errno(st->err) && !weak_errno(e))) {
        st->err = e;
        snprintf(st->err_addr, sizeof st->err_addr, "%s", st->addr);
    }
}

static void on_io(struct emp_io *io, uint32_t revents);

/* Try addresses from ai_next on until one is connecting or connected;
 * finishes the probe when the list runs out. */
static void try_next(struct tcp_state *st)
{
    struct emp_probe *pr = st->pr;
    while (st->ai_next != NULL) {
        struct addrinfo *a = st->ai_next;
        st->ai_next = a->ai_next;
        format_addr(a, st->addr, sizeof st->addr);
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        if (fd < 0) {
            note_error(st, errno);
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            close(fd);
            finish_ok(st);
            return;
        }
        if (errno != EINPROGRESS) {
            note_error(st, errno);
            close(fd);
            continue;
        }
        st->fd = fd;
        st->io = (struct emp_io){.fd = fd, .cb = on_io, .data = st};
        if (emp_loop_io_set(pr->loop, &st->io, EPOLLOUT) < 0) {
            int e = errno;
            finish_fail(st, "internal", "could not watch socket: %s", strerror(e));
            return;
        }
        st->phase = TCP_CONNECTING;
        return;
    }
    int e = st->err ? st->err : EADDRNOTAVAIL;
    finish_fail(st, errno_class(e), "could not connect to %s: %s",
                st->err_addr[0] ? st->err_addr : pr->cfg->host, strerror(e));
}

static void on_io(struct emp_io *io, uint32_t revents)
{
    struct tcp_state *st = io->data;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0 && (revents & EPOLLOUT)) {
        finish_ok(st);
        return;
    }
    if (err == 0 && !(revents & (EPOLLERR | EPOLLHUP)))
        return; /* not yet: keep waiting */
    if (err == 0)
        err = ECONNRESET; /* hung up without saying why */
    note_error(st, err);
    emp_loop_io_del(st->pr->loop, &st->io);
    close(st->fd);
    st->fd = -1;
    try_next(st);
}

static void on_resolved(void *arg, struct addrinfo *ai, const char *errmsg)
{
    struct tcp_state *st = arg;
    if (ai == NULL) {
        finish_fail(st, "dns", "could not resolve %s: %s", st->pr->cfg->host,
                    errmsg);
        return;
    }
    st->ai_list = ai;
    st->ai_next = ai;
    try_next(st);
}

static void on_deadline(struct emp_timer *t)
{
    struct tcp_state *st = t->data;
    const struct emp_target_config *cfg = st->pr->cfg;
    st->pr->deadline_passed = true;
    if (st->phase == TCP_RESOLVING)
        finish_fail(st, "dns", "resolving %s did not finish within %d ms",
                    cfg->host, cfg->timeout_ms);
    else
        finish_fail(st, "timeout", "connecting to %s did not finish within %d ms",
                    st->addr[0] ? st->addr : cfg->host, cfg->timeout_ms);
}

enum emp_err emp_probe_tcp_start(struct emp_probe *pr)
{
    const struct emp_target_config *cfg = pr->cfg;
    struct tcp_state *st = pr->kstate;
    if (st == NULL) {
        st = calloc(1, sizeof *st);
        if (st == NULL) {
            emp_probe_fail(pr, "internal", "out of memory");
            return EMP_ENOMEM;
        }
        st->pr = pr;
        st->fd = -1;
        pr->kstate = st;
    }
    reset(st);
    pr->deadline.cb = on_deadline;
    pr->deadline.data = st;
    int64_t due = pr->started_mono_us + (int64_t)cfg->timeout_ms * EMP_US_PER_MS;
    if (emp_loop_timer_start(pr->loop, &pr->deadline, due) < 0) {
        emp_probe_fail(pr, "internal", "out of memory");
        return EMP_ENOMEM;
    }
    if (emp_resolve_start(&st->rs, pr->loop, cfg->host ? cfg->host : "",
                          cfg->port, on_resolved, st) < 0) {
        int e = errno;
        reset(st);
        emp_probe_fail(pr, "internal", "could not start resolving %s: %s",
                       cfg->host ? cfg->host : "(no host)", strerror(e));
        return e == ENOMEM ? EMP_ENOMEM : e == EINVAL ? EMP_EINVAL : EMP_EIO;
    }
    st->phase = TCP_RESOLVING;
    return EMP_OK;
}

void emp_probe_tcp_cleanup(struct emp_probe *pr)
{
    struct tcp_state *st = pr->kstate;
    if (st == NULL)
        return;
    reset(st);
    free(st);
    pr->kstate = NULL;
}
