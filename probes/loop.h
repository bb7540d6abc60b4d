/* The probe loop: one thread, epoll for sockets, one timerfd armed to the
 * earliest timer of a min-heap. Nothing in it blocks: every probe kind
 * registers its sockets and deadlines here and returns at once. */
#ifndef EMP_LOOP_H
#define EMP_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "probes/sched.h"

struct emp_loop;
struct emp_io;

typedef void (*emp_io_fn)(struct emp_io *io, uint32_t revents);

/* A watched file descriptor; the caller owns it and the fd. */
struct emp_io {
    int fd;
    uint32_t events;   /* EPOLLIN | EPOLLOUT currently watched */
    bool added;
    emp_io_fn cb;
    void *data;
};

/* Create a loop. Returns NULL on failure (errno set). */
struct emp_loop *emp_loop_new(void);
/* Free; accepts NULL. Watched fds are not closed. */
void emp_loop_free(struct emp_loop *loop);

/* Watch `io->fd` for `events` (EPOLLIN/EPOLLOUT), adding, modifying or (with
 * 0) removing it. Returns 0 or -1 with errno. */
int emp_loop_io_set(struct emp_loop *loop, struct emp_io *io, uint32_t events);
/* Stop watching (no-op when not added). Call before closing the fd. */
void emp_loop_io_del(struct emp_loop *loop, struct emp_io *io);

/* Arm `t` to fire at monotonic `due_us` (re-arming moves it). */
int emp_loop_timer_start(struct emp_loop *loop, struct emp_timer *t,
                         int64_t due_us);
void emp_loop_timer_stop(struct emp_loop *loop, struct emp_timer *t);

/* Monotonic time cached at the top of each iteration; updated by
 * emp_loop_update_time(). */
int64_t emp_loop_now(const struct emp_loop *loop);
int64_t emp_loop_update_time(struct emp_loop *loop);

/* Run until emp_loop_stop() or a SIGINT/SIGTERM (blocked and read through a
 * signalfd when `handle_signals`). Returns 0, or -1 on an epoll error. */
/* The loop's own stalls: a timer found more than its stall threshold
 * (EMP_LOOP_STALL_US unless set) past its due time means the loop could not
 * run when it should have (starved of CPU, or behind with its own work). A
 * probe in flight then may have timed out, or answered slowly, only because
 * nobody was listening. */
#define EMP_LOOP_STALL_US (50 * 1000)
void emp_loop_set_stall_us(struct emp_loop *loop, int64_t stall_us);
int64_t emp_loop_stall_us(const struct emp_loop *loop);
/* Whether a stall was noticed after monotonic time `since_us`. */
bool emp_loop_stalled_since(const struct emp_loop *loop, int64_t since_us);
/* Stalls noticed since the loop was made (one per late wake-up). */
uint64_t emp_loop_stalls(const struct emp_loop *loop);

int emp_loop_run(struct emp_loop *loop, bool handle_signals);
/* Ask the loop to return after the current iteration; thread-safe. */
void emp_loop_stop(struct emp_loop *loop);

/* Iterations and timer firings so far (for tests and metrics). */
uint64_t emp_loop_iterations(const struct emp_loop *loop);

/* Whether the calling thread may touch what `loop` owns (its timers, its
 * sockets, the prober's targets): the thread that runs it, or any thread
 * before it first runs (setting up). For EMP_ASSERT. */
bool emp_loop_on_thread(const struct emp_loop *loop);

#endif
