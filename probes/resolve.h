/* Name resolution that never blocks the probe loop. Numeric addresses are
 * answered without a lookup; names go to getaddrinfo on a small pool of
 * worker threads (every signal blocked in them), which wake the loop
 * through an eventfd, so the callback always runs on the loop thread. A
 * lookup can be abandoned at any time (a probe deadline passed, a DNS
 * server that never answers): its state is refcounted between the loop and
 * the worker, and a late completion frees it without calling back. */
#ifndef EMP_RESOLVE_H
#define EMP_RESOLVE_H

#include <netdb.h>
#include <stdbool.h>

#include "probes/loop.h"
#include "probes/sched.h"

/* Called once per successful emp_resolve_start(), on the loop thread and
 * never from inside emp_resolve_start(). On success `ai` is a new list of
 * SOCK_STREAM addresses for host:port in getaddrinfo's preference order;
 * the callee owns it and frees it with freeaddrinfo(). On failure `ai` is
 * NULL and `errmsg` (static text) says why, e.g. "Name or service not
 * known". The handle is inactive when the callback runs: it may be started
 * again from inside the callback. */
typedef void (*emp_resolve_fn)(void *arg, struct addrinfo *ai,
                                const char *errmsg);

struct emp_resolve_req; /* a lookup in flight, shared with a worker thread */

/* A resolver handle, allocated by the caller (libuv style) and zeroed
 * before first use; its fields are private. It may be reused for one
 * lookup after another. */
struct emp_resolve {
    struct emp_loop *loop;
    struct emp_io io;            /* the lookup's eventfd */
    struct emp_timer timer;      /* delivers numeric answers */
    struct emp_resolve_req *req; /* lookup in flight, or NULL */
    struct addrinfo *ai;         /* numeric answer waiting for the timer */
    int gai_err;                 /* its EAI_* code when it failed */
    emp_resolve_fn cb;
    void *arg;
    bool active;
};

/* Start resolving `host` (a name, a numeric IPv4/IPv6 address, or one in
 * brackets like "[::1]") for TCP port `port` (0..65535) on `loop`. `rs`
 * must not be active. The host string is copied. Returns 0, after which
 * exactly one callback or one emp_resolve_cancel() follows; or -1 with
 * errno (EINVAL for a bad argument, ENOMEM, EMFILE, EAGAIN) and no
 * callback to come. */
int emp_resolve_start(struct emp_resolve *rs, struct emp_loop *loop,
                      const char *host, int port, emp_resolve_fn cb,
                      void *arg);

/* Abandon the lookup if one is active: no callback will come. A no-op on
 * an inactive (or zeroed) handle, so cleanup code may always call it. Must
 * run on the loop thread. Memory glibc's worker still uses is freed when
 * that worker finishes. */
void emp_resolve_cancel(struct emp_resolve *rs);

/* True between a successful start and its callback or cancel. */
static inline bool emp_resolve_active(const struct emp_resolve *rs)
{
    return rs->active;
}

/* True when `host` is a numeric IPv4 or IPv6 address (optionally in
 * brackets, optionally with a "%scope"), i.e. resolving it needs no lookup. */
bool emp_resolve_is_numeric(const char *host);

/* Lookups started on the worker threads and not yet freed, in this
 * process, abandoned ones still running included (for tests and metrics). */
long emp_resolve_live(void);

#endif
