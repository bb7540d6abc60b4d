/* Name resolution that never blocks the probe loop. Numeric addresses are
 * answered without a lookup; names go to glibc's getaddrinfo_a, whose
 * completion thread wakes the loop through an eventfd, so the callback
 * always runs on the loop thread. A request can be abandoned at any time
 * (a probe deadline passed, a DNS server that never answers): the request
 * is refcounted, and a late completion frees it without calling back. */
#ifndef EMP_RESOLVE_H
#define EMP_RESOLVE_H

#include <netdb.h>
#include <stdbool.h>

#include "loop.h"

struct emp_resolve;

/* Called once, on the loop thread, never from inside emp_resolve_start().
 * On success `ai` is a new list of SOCK_STREAM addresses for host:port, in
 * getaddrinfo's preference order; the callee owns it and frees it with
 * freeaddrinfo(). On failure `ai` is NULL and `errmsg` (borrowed, valid
 * during the call) says why, e.g. "Name or service not known". The request
 * handle is already gone when the callback runs: forget it, do not cancel
 * it. */
typedef void (*emp_resolve_fn)(void *arg, struct addrinfo *ai,
                                const char *errmsg);

/* Start resolving `host` (a name, a numeric IPv4/IPv6 address, or one in
 * brackets like "[::1]") for TCP port `port` (0..65535). The host string
 * is copied. Returns a handle owned by the resolver until the callback
 * runs or emp_resolve_cancel() is called, or NULL (errno set: ENOMEM,
 * EINVAL for a bad argument, EMFILE...) with no callback to come. */
struct emp_resolve *emp_resolve_start(struct emp_loop *loop, const char *host,
                                      int port, emp_resolve_fn cb, void *arg);

/* Abandon a request whose callback has not run yet: no callback will come.
 * Accepts NULL. Memory still referenced by glibc's worker is freed when the
 * worker finishes. Must run on the loop thread. */
void emp_resolve_cancel(struct emp_resolve *req);

/* True when `host` is a numeric IPv4 or IPv6 address (optionally in
 * brackets), i.e. resolving it needs no lookup. */
bool emp_resolve_is_numeric(const char *host);

/* Requests started and not yet freed in this process, including abandoned
 * ones whose lookup is still running (for tests and metrics). */
long emp_resolve_live(void);

#endif
