/* The probe loop: epoll over sockets, one timerfd armed to the earliest timer
 * of the heap, and (optionally) a signalfd for SIGINT/SIGTERM so that Ctrl-C
 * stops it between iterations. An eventfd lets other threads stop it. */
#include "probes/loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"

struct emp_loop {
    int epfd;
    int tfd;            /* timerfd, armed to the heap's top */
    int efd;            /* eventfd: wake-up for emp_loop_stop */
    int sfd;            /* signalfd while running with signals, else -1 */
    int64_t armed_us;   /* what tfd is armed to; INT64_MAX when disarmed */
    int64_t now_us;
    struct emp_sched timers;
    atomic_bool stop;
    uint64_t iterations;
    struct emp_io tio, eio, sio;
    int64_t stall_at_us; /* monotonic time the last stall was noticed; 0: none */
    uint64_t stalls;
    int64_t stall_us;    /* threshold */
    /* The thread that runs the loop (the last to call emp_loop_run): the
     * only one that may touch what the loop owns. */
    pthread_t runner;
    bool has_runner;
};

static void on_noop(struct emp_io *io, uint32_t revents)
{
    (void)revents;
    uint64_t v;
    ssize_t r = read(io->fd, &v, sizeof v);
    (void)r;
}

struct emp_loop *emp_loop_new(void)
{
    struct emp_loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    loop->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    loop->sfd = -1;
    loop->armed_us = INT64_MAX;
    loop->stall_us = EMP_LOOP_STALL_US;
    emp_sched_init(&loop->timers);
    if (loop->epfd < 0 || loop->tfd < 0 || loop->efd < 0)
        goto fail;
    loop->tio = (struct emp_io){.fd = loop->tfd, .cb = on_noop};
    loop->eio = (struct emp_io){.fd = loop->efd, .cb = on_noop};
    if (emp_loop_io_set(loop, &loop->tio, EPOLLIN) < 0 ||
        emp_loop_io_set(loop, &loop->eio, EPOLLIN) < 0)
        goto fail;
    loop->now_us = emp_mono_us();
    return loop;
fail:
    emp_loop_free(loop);
    return NULL;
}

void emp_loop_free(struct emp_loop *loop)
{
    if (loop == NULL)
        return;
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->tfd >= 0)
        close(loop->tfd);
    if (loop->efd >= 0)
        close(loop->efd);
    emp_sched_cleanup(&loop->timers);
    free(loop);
}

int emp_loop_io_set(struct emp_loop *loop, struct emp_io *io, uint32_t events)
{
    EMP_ASSERT(emp_loop_on_thread(loop));
    if (events == 0) {
        emp_loop_io_del(loop, io);
        return 0;
    }
    if (io->added && io->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    int op = io->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, io->fd, &ev) < 0) {
        /* libpq and curl may close and reopen a socket under the same
         * number; epoll then no longer knows it. */
        if (op == EPOLL_CTL_MOD && errno == ENOENT)
            op = EPOLL_CTL_ADD;
        else if (op == EPOLL_CTL_ADD && errno == EEXIST)
            op = EPOLL_CTL_MOD;
        else
            return -1;
        if (epoll_ctl(loop->epfd, op, io->fd, &ev) < 0)
            return -1;
    }
    io->added = true;
    io->events = events;
    return 0;
}

void emp_loop_io_del(struct emp_loop *loop, struct emp_io *io)
{
    EMP_ASSERT(emp_loop_on_thread(loop));
    if (!io->added)
        return;
    /* ENOENT/EBADF when the fd was already closed: nothing left to do. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->added = false;
    io->events = 0;
}

int emp_loop_timer_start(struct emp_loop *loop, struct emp_timer *t, int64_t due_us)
{
    EMP_ASSERT(emp_loop_on_thread(loop));
    return emp_sched_add(&loop->timers, t, due_us);
}

void emp_loop_timer_stop(struct emp_loop *loop, struct emp_timer *t)
{
    EMP_ASSERT(emp_loop_on_thread(loop));
    emp_sched_remove(&loop->timers, t);
}

int64_t emp_loop_now(const struct emp_loop *loop)
{
    return loop->now_us;
}

int64_t emp_loop_update_time(struct emp_loop *loop)
{
    loop->now_us = emp_mono_us();
    return loop->now_us;
}

uint64_t emp_loop_iterations(const struct emp_loop *loop)
{
    return loop->iterations;
}

void emp_loop_stop(struct emp_loop *loop)
{
    atomic_store(&loop->stop, true);
    uint64_t one = 1;
    ssize_t r = write(loop->efd, &one, sizeof one);
    (void)r;
}

/* Arm the timerfd to the earliest timer; only touch it when that changed.
 * The timerfd is never read: once expired it stays readable until it is
 * set again, which clears it. By then the timer that fired has run and the
 * earliest due time has changed, so it is set again here; while it has
 * not (a pass cut short by its budget), staying readable is what we want:
 * the loop comes straight back for the rest. */
static void arm_timer(struct emp_loop *loop)
{
    struct emp_timer *t = emp_sched_peek(&loop->timers);
    int64_t due = t ? t->due_us : INT64_MAX;
    /* Wake on whole milliseconds: timers due within the same millisecond
     * share one wake instead of one each (at thousands of probes a second,
     * a wake per probe was a context switch per probe). Probe schedules
     * are in milliseconds and curl's timeouts too; what is already due
     * is not delayed. */
    if (due != INT64_MAX && due > loop->now_us)
        due = (due + EMP_US_PER_MS - 1) / EMP_US_PER_MS * EMP_US_PER_MS;
    if (due == loop->armed_us)
        return;
    struct itimerspec its = {0};
    if (due != INT64_MAX) {
        if (due < 1)
            due = 1; /* zero would disarm */
        its.it_value.tv_sec = due / EMP_US_PER_S;
        its.it_value.tv_nsec = (long)(due % EMP_US_PER_S) * 1000;
    }
    if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        loop->armed_us = due;
}

/* Timers fired per pass before the loop looks at its sockets again. A
 * probe's start is one timer, its completion three or four socket events
 * (epoll_wait returns at most 256): a pass that could start more probes
 * than an iteration can finish lets the number in flight grow whenever the
 * loop is behind, and libcurl's cost per connection grows with it. */
#define TIMER_BUDGET 64

static void run_timers(struct emp_loop *loop)
{
    /* Fire what is due now; timers started by callbacks for "now" run in
     * this pass too, which is what a zero-delay timer means. When the loop
     * falls behind (thousands of probes due at once after a stall, or more
     * due each second than one core can start), what is still due waits
     * for the next pass and the answers already waiting on sockets are
     * read first: a pass that drained the heap would let those probes
     * time out, reporting our own backlog as the targets' failures. A late
     * start is counted as lag instead, a tick missed entirely as skipped. */
    size_t budget = TIMER_BUDGET;
    struct emp_timer *t;
    while (budget-- > 0 && (t = emp_sched_pop_due(&loop->timers, loop->now_us)) != NULL)
        t->cb(t);
}

static void on_signal(struct emp_io *io, uint32_t revents)
{
    (void)revents;
    struct signalfd_siginfo si;
    struct emp_loop *loop = io->data;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        emp_info("stopping", "signal=%s", strsignal((int)si.ssi_signo));
        atomic_store(&loop->stop, true);
    }
}

/* After every wake-up, before any callback: is the earliest timer more
 * than the stall threshold overdue? Callbacks of this wake-up then see it. */
static void check_stall(struct emp_loop *loop)
{
    const struct emp_timer *t = emp_sched_peek(&loop->timers);
    if (t != NULL && loop->now_us - t->due_us > loop->stall_us) {
        loop->stall_at_us = loop->now_us;
        loop->stalls++;
    }
}

void emp_loop_set_stall_us(struct emp_loop *loop, int64_t stall_us)
{
    loop->stall_us = stall_us > 0 ? stall_us : EMP_LOOP_STALL_US;
}

int64_t emp_loop_stall_us(const struct emp_loop *loop)
{
    return loop->stall_us;
}

bool emp_loop_stalled_since(const struct emp_loop *loop, int64_t since_us)
{
    return loop->stall_at_us > since_us;
}

uint64_t emp_loop_stalls(const struct emp_loop *loop)
{
    return loop->stalls;
}

int emp_loop_run(struct emp_loop *loop, bool handle_signals)
{
    sigset_t mask, old;
    int rc = 0;
    loop->runner = pthread_self();
    loop->has_runner = true;
    atomic_store(&loop->stop, false);
    if (handle_signals) {
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &mask, &old);
        loop->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (loop->sfd >= 0) {
            loop->sio = (struct emp_io){.fd = loop->sfd, .cb = on_signal, .data = loop};
            emp_loop_io_set(loop, &loop->sio, EPOLLIN);
        }
    }
    struct epoll_event evs[256];
    while (!atomic_load(&loop->stop)) {
        emp_loop_update_time(loop);
        check_stall(loop);
        run_timers(loop);
        if (atomic_load(&loop->stop))
            break;
        arm_timer(loop);
        int n = epoll_wait(loop->epfd, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            emp_errorf("epoll_wait failed", "error=\"%s\"", strerror(errno));
            rc = -1;
            break;
        }
        loop->iterations++;
        emp_loop_update_time(loop);
        check_stall(loop);
        for (int i = 0; i < n; i++) {
            struct emp_io *io = evs[i].data.ptr;
            /* An earlier callback of this batch may have stopped watching
             * it (curl closing a socket, say); its memory stays valid. */
            if (!io->added)
                continue;
            if (io == &loop->tio)
                continue; /* see arm_timer */
            io->cb(io, evs[i].events);
        }
    }
    if (loop->sfd >= 0) {
        emp_loop_io_del(loop, &loop->sio);
        close(loop->sfd);
        loop->sfd = -1;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return rc;
}

bool emp_loop_on_thread(const struct emp_loop *loop)
{
    return !loop->has_runner || pthread_equal(loop->runner, pthread_self());
}
