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

#include "config/parse.h"
#include "probes/policy.h"
#include "probes/probe.h"
#include "probes/resolve.h"
#include "core/timeutil.h"

/* "[v6addr%scope]:port" */
#define ADDR_MAX (INET6_ADDRSTRLEN + 40)

/* A tcp target's own keys. */
struct tcp_spec {
    char *host;
    int port;
};

static const char *tcp_host(const struct emp_probe *pr)
{
    const struct tcp_spec *sp = pr->cfg->spec;
    return sp->host;
}

enum tcp_phase { TCP_IDLE = 0, TCP_RESOLVING, TCP_CONNECTING };

/* Lives in pr->kstate from the first probe to tcp_cancel(). */
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

static void release(void *st)
{
    reset(st);
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
            emp_probe_finish_ok(st->pr, release, st);
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
            emp_probe_finish_fail(st->pr, release, st, "internal", "could not watch socket: %s",
                                  strerror(e));
            return;
        }
        st->phase = TCP_CONNECTING;
        return;
    }
    int e = st->err ? st->err : EADDRNOTAVAIL;
    emp_probe_finish_fail(st->pr, release, st, errno_class(e), "could not connect to %s: %s",
                          st->err_addr[0] ? st->err_addr : tcp_host(pr), strerror(e));
}

static void on_io(struct emp_io *io, uint32_t revents)
{
    struct tcp_state *st = io->data;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0 && (revents & EPOLLOUT)) {
        emp_probe_finish_ok(st->pr, release, st);
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
        emp_probe_finish_fail(st->pr, release, st, "dns", "could not resolve %s: %s",
                              tcp_host(st->pr), errmsg);
        return;
    }
    st->ai_list = ai;
    st->ai_next = ai;
    /* A target made through the API connects to none of its addresses
     * when the policy refuses any of them. */
    char why[EMP_POLICY_WHY_MAX];
    for (const struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        if (emp_policy_refuses(st->pr->cfg->policy, a->ai_addr, why) != NULL) {
            emp_probe_finish_fail(st->pr, release, st, EMP_POLICY_CLASS, "%s: %s",
                                  tcp_host(st->pr), why);
            return;
        }
    }
    try_next(st);
}

static void on_deadline(struct emp_timer *t)
{
    struct tcp_state *st = t->data;
    const struct emp_target_config *cfg = st->pr->cfg;
    const struct tcp_spec *sp = cfg->spec;
    st->pr->deadline_passed = true;
    if (st->phase == TCP_RESOLVING)
        emp_probe_finish_fail(st->pr, release, st, "dns",
                              "resolving %s did not finish within %d ms", sp->host,
                              cfg->timeout_ms);
    else
        emp_probe_finish_fail(st->pr, release, st, "timeout",
                              "connecting to %s did not finish within %d ms",
                              st->addr[0] ? st->addr : sp->host, cfg->timeout_ms);
}

static enum emp_err tcp_start(struct emp_probe *pr, void *shared)
{
    (void)shared;
    const struct emp_target_config *cfg = pr->cfg;
    const struct tcp_spec *sp = cfg->spec;
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
    if (emp_resolve_start(&st->rs, pr->loop, sp->host ? sp->host : "", sp->port, on_resolved, st) <
        0) {
        int e = errno;
        reset(st);
        emp_probe_fail(pr, "internal", "could not start resolving %s: %s",
                       sp->host ? sp->host : "(no host)", strerror(e));
        return e == ENOMEM ? EMP_ENOMEM : e == EINVAL ? EMP_EINVAL : EMP_EIO;
    }
    st->phase = TCP_RESOLVING;
    return EMP_OK;
}

static void tcp_cancel(struct emp_probe *pr, void *shared)
{
    (void)shared;
    struct tcp_state *st = pr->kstate;
    if (st == NULL)
        return;
    reset(st);
    free(st);
    pr->kstate = NULL;
}

/* ---- the kind ---------------------------------------------------------- */

static void tcp_parse(struct emp_cfg *c, const json_t *t, const char *base, void **spec)
{
    struct tcp_spec *out = calloc(1, sizeof *out);
    if (out == NULL) {
        c->oom = true;
        return;
    }
    *spec = out;
    const char *s;
    enum emp_cfg_field f = emp_cfg_get_string(c, t, base, "host", EMP_CFG_HOST_EXPECTED, &s);
    if (f == EMP_CFG_ABSENT)
        emp_cfg_report_missing(c, base, "host", EMP_CFG_HOST_EXPECTED);
    else if (f == EMP_CFG_OK && !emp_cfg_valid_host(s))
        emp_cfg_report_value(c, t, base, "host", EMP_CFG_HOST_EXPECTED, NULL);
    else if (f == EMP_CFG_OK)
        out->host = emp_cfg_dup(c, s);

    if (emp_cfg_get_int(c, t, base, "port", 1, EMP_CFG_PORT_MAX, NULL, 0, &out->port) ==
        EMP_CFG_ABSENT)
        emp_cfg_report_missing(c, base, "port", "an integer from 1 to 65535");
}

static void tcp_police(struct emp_cfg *c, const void *spec, const char *base,
                       const struct emp_target_policy *pol)
{
    const struct tcp_spec *sp = spec;
    char why[EMP_POLICY_WHY_MAX];
    if (emp_policy_refuses_host(pol, sp->host, sp->port, why) != NULL)
        emp_cfg_report(c, emp_cfg_at_key(c, base, "host").s, "refused by the target policy: %s",
                       why);
}

static int tcp_to_json(const void *spec, bool redact, json_t *o)
{
    (void)redact;
    const struct tcp_spec *sp = spec;
    int bad = json_object_set_new(o, "host", json_string(sp->host != NULL ? sp->host : ""));
    bad |= json_object_set_new(o, "port", json_integer(sp->port));
    return bad ? -1 : 0;
}

static void tcp_free_spec(void *spec)
{
    struct tcp_spec *sp = spec;
    if (sp == NULL)
        return;
    free(sp->host);
    free(sp);
}

static void *tcp_copy(const void *spec)
{
    const struct tcp_spec *src = spec;
    struct tcp_spec *sp = malloc(sizeof *sp);
    if (sp == NULL)
        return NULL;
    *sp = *src;
    sp->host = src->host != NULL ? strdup(src->host) : NULL;
    if (src->host != NULL && sp->host == NULL) {
        free(sp);
        return NULL;
    }
    return sp;
}

static const char *const tcp_keys[] = {"host", "port", NULL};

const struct emp_probe_kind emp_kind_tcp = {
    .name = "tcp",
    .keys = tcp_keys,
    .parse = tcp_parse,
    .to_json = tcp_to_json,
    .copy = tcp_copy,
    .free_spec = tcp_free_spec,
    .police = tcp_police,
    .start = tcp_start,
    .cancel = tcp_cancel,
};
