/* Clock, argument and socket helpers shared by the misbehaving targets of
 * the tests and benchmarks (faultd, hostile). Blocking calls, each bounded by
 * a deadline and by a `stopping` flag that another thread may set. */
#ifndef EMP_FAULTIO_H
#define EMP_FAULTIO_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Waits are sliced into ticks of this length to notice `stopping`. */
#define FAULT_TICK_MS 20

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t fault_mono_ns(void);

/* Parse a decimal integer in [min, max] (the whole string); false if not. */
bool fault_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* A non-blocking socket of `type` (SOCK_STREAM: listening, backlog 1024;
 * SOCK_DGRAM: bound) on addr (network order):*port; a 0 port is replaced
 * by the one chosen. Returns the fd, or -1 with errno. */
int fault_listen(int type, in_addr_t addr, int *port);

/* Close with SO_LINGER 0, so that the peer gets a TCP reset. */
void fault_close_rst(int fd);

/* Sleep until deadline_ns (monotonic) or until *stopping. */
void fault_wait_until(const atomic_int *stopping, int64_t deadline_ns);

/* Send all of buf; false when the peer went, *stopping, or deadline_ns
 * passed first. */
bool fault_send_all(int fd, const void *buf, size_t len, const atomic_int *stopping,
                    int64_t deadline_ns);

/* Read a request head into buf (NUL-terminated) until a blank line, a full
 * buffer, or timeout_ms. True when the head ended or filled the buffer, or
 * the time ran out after some bytes; false on EOF, an error, *stopping, or
 * nothing read in time. */
bool fault_read_request(int fd, char *buf, size_t size, const atomic_int *stopping,
                        int timeout_ms);

/* Keep the connection open and silent, draining what comes, until the peer
 * closes, *stopping, or until_ns. */
void fault_hold_silent(int fd, const atomic_int *stopping, int64_t until_ns);

/* Block SIGTERM, SIGINT and SIGPIPE in the calling thread (and so in the
 * threads it starts afterwards); returns a non-blocking signalfd for them,
 * or -1 with errno. */
int fault_signalfd(void);

/* Read every signal waiting in the signalfd; true if one was SIGTERM or
 * SIGINT. */
bool fault_stop_signalled(int sfd);

/* Attributes of a detached thread with a stack of `stack` bytes; 0 or an
 * errno value. */
int fault_thread_attr(pthread_attr_t *attr, size_t stack);

/* Start fn(arg) on a thread of `attr`, counted in *conns (the thread
 * uncounts itself when it ends); false, uncounted, when it could not. */
bool fault_start_thread(const pthread_attr_t *attr, void *(*fn)(void *), void *arg,
                        atomic_int *conns);

/* Wait, up to 2 s, until *conns falls to 0: connection threads notice a
 * stop within a tick. */
void fault_wait_conns(const atomic_int *conns);

#endif
