/* Asynchronous name resolution for the probe loop. Numeric addresses are
 * answered through a zero-delay timer; names go to a small pool of worker
 * threads of our own that call getaddrinfo and write an eventfd the loop
 * watches. The lookup state is shared by the loop and a worker and freed by
 * whichever lets go of it last, so abandoning a lookup never races its
 * completion.
 *
 * Not getaddrinfo_a: glibc runs its SIGEV_THREAD notifications on threads
 * that unblock every signal, so a SIGTERM pending while the probe loop was
 * busy went to such a thread and killed the process instead of stopping it
 * in order (seen with a DNS server that never answers: a notification
 * every second). Our workers block every signal. */
#include "probes/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Workers at most (glibc's getaddrinfo_a has 20): more lookups wait in
 * the queue. A worker leaves after IDLE_S without work. A lookup of a DNS
 * server that never answers holds its worker until resolv.conf's timeouts
 * give up, whether or not the probe still waits. */
#define MAX_WORKERS 20
#define IDLE_S 1
#define WORKER_STACK (512 * 1024)

/* One lookup. Two references while it is queued or running: the loop's
 * (dropped on delivery or cancel) and the worker's (dropped after it has
 * written the eventfd, or by the canceller when it was still queued). */
struct emp_resolve_req {
    atomic_int refs;
    atomic_bool completed; /* set before the eventfd is written */
    int efd;
    int gai_err;           /* written by the worker before `completed` */
    struct addrinfo *result;
    struct addrinfo hints;
    struct emp_resolve_req *next; /* in the queue */
    bool queued;                  /* under pool.mu */
    char service[8];
    char host[];
};

/* The workers and the lookups waiting for one. Process-wide, like the
 * resolver configuration they read. `idle` counts the waiting workers no
 * lookup has claimed yet: a burst of lookups claims one idle worker each
 * and starts new ones for the rest, rather than queueing behind a worker
 * that may be stuck on a silent DNS server. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct emp_resolve_req *head, *tail;
    int workers, idle, wakeups;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0};

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
    if (req->result != NULL)
        freeaddrinfo(req->result);
    free(req);
    atomic_fetch_sub(&live_reqs, 1);
}

/* Called with pool.mu held: the next queued lookup, waiting up to IDLE_S
 * for one; NULL when the worker should leave (it is then uncounted). */
static struct emp_resolve_req *next_req(void)
{
    while (pool.head == NULL) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += IDLE_S;
        pool.idle++;
        int rc = 0;
        while (pool.wakeups == 0 && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&pool.cv, &pool.mu, &until);
        if (pool.wakeups > 0) {
            pool.wakeups--; /* claimed: enqueue took us off `idle` */
            continue;
        }
        pool.idle--;
        if (pool.head == NULL) {
            pool.workers--;
            return NULL;
        }
    }
    struct emp_resolve_req *req = pool.head;
    pool.head = req->next;
    if (pool.head == NULL)
        pool.tail = NULL;
    req->next = NULL;
    req->queued = false;
    return req;
}

/* A worker: never on the loop, it only touches the requests it took, which
 * their references keep alive. */
static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    struct emp_resolve_req *req;
    while ((req = next_req()) != NULL) {
        pthread_mutex_unlock(&pool.mu);
        req->gai_err = getaddrinfo(req->host, req->service, &req->hints, &req->result);
        atomic_store_explicit(&req->completed, true, memory_order_release);
        uint64_t one = 1;
        ssize_t n;
        do {
            n = write(req->efd, &one, sizeof one);
        } while (n < 0 && errno == EINTR);
        req_release(req);
        pthread_mutex_lock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

/* Start a worker with every signal blocked (it inherits the mask of the
 * thread that creates it). Called with pool.mu held. Returns 0 or an
 * errno value. */
static int add_worker(void)
{
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WORKER_STACK);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    rc = pthread_create(&t, &attr, worker, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        pool.workers++;
    return rc;
}

/* Remove a queued lookup from the queue; pool.mu held. */
static void unlink_locked(struct emp_resolve_req *req)
{
    struct emp_resolve_req **pp = &pool.head, *prev = NULL;
    while (*pp != req) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = req->next;
    if (pool.tail == req)
        pool.tail = prev;
    req->next = NULL;
    req->queued = false;
}

/* Queue a lookup for the workers. Returns 0, or -1 with errno when no
 * worker can take it (none runs and none could be started). */
static int enqueue(struct emp_resolve_req *req)
{
    pthread_mutex_lock(&pool.mu);
    req->queued = true;
    req->next = NULL;
    if (pool.tail != NULL)
        pool.tail->next = req;
    else
        pool.head = req;
    pool.tail = req;
    int rc = 0;
    if (pool.idle > 0) {
        pool.idle--;
        pool.wakeups++;
        pthread_cond_signal(&pool.cv);
    } else if (pool.workers < MAX_WORKERS)
        rc = add_worker();
    if (rc != 0 && pool.workers > 0)
        rc = 0; /* a running worker takes it in turn */
    if (rc != 0)
        unlink_locked(req);
    pthread_mutex_unlock(&pool.mu);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

/* Take a lookup out of the queue if no worker has it yet. Returns true
 * when it was still queued (no worker will ever touch it). */
static bool dequeue(struct emp_resolve_req *req)
{
    pthread_mutex_lock(&pool.mu);
    bool was_queued = req->queued;
    if (was_queued)
        unlink_locked(req);
    pthread_mutex_unlock(&pool.mu);
    return was_queued;
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
    int rc = req->gai_err;
    struct addrinfo *ai = req->result;
    req->result = NULL;
    rs->req = NULL;
    req_release(req);
    deliver(rs, rc, ai);
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
    if (enqueue(req) < 0) {
        int e = errno;
        emp_loop_io_del(loop, &rs->io);
        req_release(req);
        req_release(req);
        errno = e;
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
    /* Still queued: no worker will take it, so its reference is ours to
     * drop. Running or done: the worker drops it, possibly much later (a
     * DNS server that never answers holds the worker until resolv.conf's
     * timeouts). */
    if (dequeue(req))
        req_release(req);
    req_release(req);
}
