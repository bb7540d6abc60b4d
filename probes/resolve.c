/* Asynchronous name resolution for the probe loop. Numeric addresses are
 * answered through a zero-delay timer; names go to getaddrinfo_a, whose
 * SIGEV_THREAD notification writes an eventfd the loop watches. The lookup
 * state is shared by the loop and glibc's threads and freed by whichever
 * lets go of it last, so abandoning a lookup never races its completion. */
#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* One getaddrinfo_a lookup. Two references while it runs: the loop's
 * (dropped on delivery or cancel) and the completion thread's (dropped
 * after it has written the eventfd, or by the canceller when glibc
 * dequeued the request before it ran, in which case no thread comes). */
struct emp_resolve_req {
    atomic_int refs;
    atomic_bool completed; /* set before the eventfd is written */
    int efd;
    struct gaicb gcb;      /* glibc writes __return and ar_result */
    struct addrinfo hints;
    char service[8];
    char host[];
};

/* A statistic only, read by tests: lookups not yet freed. */
static atomic_long live_reqs;

long emp_resolve_live(void)
{
    return atomic_load(&live_reqs);
}

static void req_release(struct emp_resolve_req *req)
{
    if (atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (req->efd >= 0)
        close(req->efd);
    if (req->gcb.ar_result != NULL)
        freeaddrinfo(req->gcb.ar_result);
    free(req);
    atomic_fetch_sub(&live_reqs, 1);
}

/* Runs on a thread glibc creates for the notification, never on the loop:
 * it may only touch the request, which its reference keeps alive. */
static void on_complete(union sigval sv)
{
    struct emp_resolve_req *req = sv.sival_ptr;
    atomic_store_explicit(&req->completed, true, memory_order_release);
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(req->efd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    req_release(req);
}

/* Copy `host` into `buf` without the brackets of "[::1]". Returns 0, or -1
 * when it is empty or does not fit. */
static int strip_brackets(const char *host, char *buf, size_t size)
{
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= size)
        return -1;
    memcpy(buf, host, len);
    buf[len] = '\0';
    return 0;
}

bool emp_resolve_is_numeric(const char *host)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (host == NULL || strip_brackets(host, buf, sizeof buf) < 0)
        return false;
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, buf, addr) == 1)
        return true;
    char *scope = strchr(buf, '%'); /* fe80::1%eth0: getaddrinfo maps it */
    if (scope != NULL)
        *scope = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

/* Hand the outcome to the callback; `rs` is inactive by then so that the
 * callback may start it again. Takes ownership of `ai`. */
static void deliver(struct emp_resolve *rs, int gai_err, struct addrinfo *ai)
{
    emp_resolve_fn cb = rs->cb;
    void *arg = rs->arg;
    rs->active = false;
    rs->cb = NULL;
    rs->arg = NULL;
    if (gai_err == 0 && ai == NULL)
        gai_err = EAI_NODATA;
    if (gai_err != 0) {
        if (ai != NULL)
            freeaddrinfo(ai);
        cb(arg, NULL, gai_strerror(gai_err));
        return;
    }
    cb(arg, ai, NULL);
}

static void on_timer(struct emp_timer *t)
{
    struct emp_resolve *rs = t->data;
    struct addrinfo *ai = rs->ai;
    rs->ai = NULL;
    deliver(rs, rs->gai_err, ai);
}

static void on_io(struct emp_io *io, uint32_t revents)
{
    (void)revents;
    struct emp_resolve *rs = io->data;
    struct emp_resolve_req *req = rs->req;
    uint64_t v;
    ssize_t n = read(io->fd, &v, sizeof v);
    (void)n;
    /* A wake-up left over from an earlier lookup of this handle, gathered
     * in the same epoll batch in which it was cancelled and restarted. */
    if (req == NULL ||
        !atomic_load_explicit(&req->completed, memory_order_acquire))
        return;
    emp_loop_io_del(rs->loop, &rs->io);
    int rc = gai_error(&req->gcb);
    struct addrinfo *ai = req->gcb.ar_result;
    req->gcb.ar_result = NULL;
    rs->req = NULL;
    req_release(req);
    deliver(rs, rc, ai);
}

/* getaddrinfo_a failed: find out whether glibc still holds the request
 * and whether a notification is coming, and let go of it accordingly. */
static void abandon_failed_start(struct emp_resolve_req *req, int rc)
{
    if (rc == EAI_SYSTEM) {
        /* Not enqueued; glibc notifies anyway (our thread drops its
         * reference). */
        req_release(req);
        return;
    }
    /* EAI_AGAIN: enqueued but with no notification attached. */
    int c = gai_cancel(&req->gcb);
    if (c == EAI_NOTCANCELED) {
        /* A worker is running it and will write into it with nobody to
         * tell us when: leaking these bytes is the only safe choice. The
         * eventfd can go; only the completion thread would write it. */
        close(req->efd);
        req->efd = -1;
        return;
    }
    req_release(req);
    req_release(req);
}

static int start_lookup(struct emp_resolve *rs, struct emp_loop *loop,
                        const char *name, const char *service,
                        const struct addrinfo *hints)
{
    size_t len = strlen(name);
    struct emp_resolve_req *req = calloc(1, sizeof *req + len + 1);
    if (req == NULL)
        return -1;
    memcpy(req->host, name, len + 1);
    snprintf(req->service, sizeof req->service, "%s", service);
    req->hints = *hints;
    req->gcb.ar_name = req->host;
    req->gcb.ar_service = req->service;
    req->gcb.ar_request = &req->hints;
    atomic_init(&req->refs, 2);
    atomic_init(&req->completed, false);
    req->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (req->efd < 0) {
        int e = errno;
        free(req);
        errno = e;
        return -1;
    }
    rs->io = (struct emp_io){.fd = req->efd, .cb = on_io, .data = rs};
    if (emp_loop_io_set(loop, &rs->io, EPOLLIN) < 0) {
        int e = errno;
        close(req->efd);
        free(req);
        errno = e;
        return -1;
    }
    atomic_fetch_add(&live_reqs, 1);

    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = on_complete;
    sev.sigev_value.sival_ptr = req;
    struct gaicb *list[1] = {&req->gcb};
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &sev);
    if (rc != 0) {
        emp_loop_io_del(loop, &rs->io);
        abandon_failed_start(req, rc);
        errno = EAGAIN;
        return -1;
    }
    rs->req = req;
    return 0;
}

int emp_resolve_start(struct emp_resolve *rs, struct emp_loop *loop,
                      const char *host, int port, emp_resolve_fn cb,
                      void *arg)
{
    char name[NI_MAXHOST];
    if (rs == NULL || loop == NULL || host == NULL || cb == NULL ||
        port < 0 || port > 65535 || rs->active ||
        strip_brackets(host, name, sizeof name) < 0) {
        errno = EINVAL;
        return -1;
    }
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV,
    };
    rs->loop = loop;
    rs->cb = cb;
    rs->arg = arg;
    rs->req = NULL;
    rs->ai = NULL;
    rs->gai_err = 0;

    if (emp_resolve_is_numeric(name)) {
        /* AI_NUMERICHOST: parsed in place, no lookup, so no waiting. */
        hints.ai_flags |= AI_NUMERICHOST;
        rs->gai_err = getaddrinfo(name, service, &hints, &rs->ai);
        rs->timer.cb = on_timer;
        rs->timer.data = rs;
        if (emp_loop_timer_start(loop, &rs->timer, emp_loop_now(loop)) < 0) {
            if (rs->ai != NULL)
                freeaddrinfo(rs->ai);
            rs->ai = NULL;
            errno = ENOMEM;
            return -1;
        }
    } else if (start_lookup(rs, loop, name, service, &hints) < 0) {
        return -1;
    }
    rs->active = true;
    return 0;
}

void emp_resolve_cancel(struct emp_resolve *rs)
{
    if (rs == NULL || !rs->active)
        return;
    rs->active = false;
    rs->cb = NULL;
    rs->arg = NULL;
    struct emp_resolve_req *req = rs->req;
    if (req == NULL) {
        emp_loop_timer_stop(rs->loop, &rs->timer);
        if (rs->ai != NULL)
            freeaddrinfo(rs->ai);
        rs->ai = NULL;
        return;
    }
    rs->req = NULL;
    emp_loop_io_del(rs->loop, &rs->io);
    /* Still queued: glibc forgets it and no completion thread will come,
     * so its reference is ours to drop. Running or done: the completion
     * thread drops it, possibly much later (a DNS server that never
     * answers holds a glibc worker until resolv.conf's timeouts). */
    if (gai_cancel(&req->gcb) == EAI_CANCELED)
        req_release(req);
    req_release(req);
}
