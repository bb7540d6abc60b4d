/* The postgres probe: libpq's asynchronous API (PQconnectStartParams,
 * PQconnectPoll, PQsendQuery) driven from the loop. libpq would resolve
 * host names with a blocking getaddrinfo, so names are resolved here first
 * and handed to libpq as hostaddr, one entry per address, while host keeps
 * the name for TLS verification and the password file. */
#include <errno.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "config/parse.h"
#include "core/buf.h"
#include "probes/policy.h"
#include "probes/probe.h"
#include "probes/resolve.h"
#include "core/timeutil.h"

/* A postgres target's own keys. */
#define PG_DEFAULT_QUERY "SELECT 1"
struct pg_spec {
    char *conninfo;
    char *query;
};

/* At most this many addresses of one host name go to libpq, which tries
 * them in turn as it would after its own lookup. */
#define PG_MAX_ADDRS_PER_HOST 8

/* libpq's port when the conninfo names none (PGPORT aside). */
#define PG_DEFAULT_PORT 5432

/* Where a target made through the API reads its passwords: nowhere but
 * its conninfo. libpq would otherwise look in this machine's password file
 * for the entry of `host`, and send it to `hostaddr`, which a definition
 * may point anywhere. */
#define PG_POLICY_PASSFILE "/dev/null"

enum pg_phase {
    PG_IDLE = 0,
    PG_STARTING,   /* waiting for the kick timer */
    PG_RESOLVING,  /* host names being resolved */
    PG_CONNECTING, /* PQconnectPoll */
    PG_SENDING,    /* PQflush of the query */
    PG_READING,    /* collecting results */
};

struct pg_state;

/* One element of the conninfo's host list. */
struct pg_host {
    struct pg_state *st;
    char *name;            /* owned */
    char *port;            /* owned; its element of a port list, or NULL */
    int port_num;          /* the port it is reached on (0: not a valid one) */
    bool lookup;           /* a name we resolve */
    struct emp_resolve rs; /* registered with the loop: never moved while active */
    struct addrinfo *ai;   /* owned */
    char err[128];         /* why the lookup failed */
};

/* Lives in pr->kstate from the first probe to pg_cancel(). */
struct pg_state {
    struct emp_probe *pr;
    enum pg_phase phase;
    struct emp_timer kick;     /* runs the first step outside start() */
    PQconninfoOption *opts;    /* the parsed conninfo */
    struct pg_host *hosts;     /* grown only between probes */
    size_t n_hosts, cap_hosts;
    size_t pending;            /* lookups not answered yet */
    PGconn *conn;
    struct emp_io io;          /* PQsocket(conn) */
    bool query_failed;
    char query_err[EMP_ERRMSG_MAX];
};

/* Release what the current probe holds; the state stays for the next. */
static void reset(struct pg_state *st)
{
    struct emp_probe *pr = st->pr;
    emp_loop_timer_stop(pr->loop, &st->kick);
    emp_loop_timer_stop(pr->loop, &pr->deadline);
    for (size_t i = 0; i < st->n_hosts; i++) {
        struct pg_host *h = &st->hosts[i];
        emp_resolve_cancel(&h->rs);
        if (h->ai != NULL)
            freeaddrinfo(h->ai);
        free(h->name);
        free(h->port);
        h->ai = NULL;
        h->name = NULL;
        h->port = NULL;
        h->err[0] = '\0';
    }
    st->n_hosts = 0;
    st->pending = 0;
    emp_loop_io_del(pr->loop, &st->io); /* before PQfinish closes the fd */
    if (st->conn != NULL)
        PQfinish(st->conn);
    st->conn = NULL;
    if (st->opts != NULL)
        PQconninfoFree(st->opts);
    st->opts = NULL;
    st->query_failed = false;
    st->query_err[0] = '\0';
    st->phase = PG_IDLE;
}

/* The first line of a libpq message, without surrounding blanks. */
static void first_line(const char *msg, char *buf, size_t size)
{
    if (msg == NULL)
        msg = "";
    while (*msg == ' ' || *msg == '\t' || *msg == '\n' || *msg == '\r')
        msg++;
    size_t n = strcspn(msg, "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, msg, n);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
}

static void release(void *st)
{
    reset(st);
}

/* Error class of a failed connection from libpq's text (libpq gives no
 * SQLSTATE for it). Expects untranslated messages: the C locale. */
static const char *classify(const char *msg)
{
    if (strstr(msg, "Connection refused") != NULL)
        return "refused";
    if (strstr(msg, "authentication failed") != NULL ||
        strstr(msg, "no password supplied") != NULL ||
        strstr(msg, "password is required") != NULL ||
        strstr(msg, "pg_hba.conf") != NULL)
        return "auth";
    if (strstr(msg, "timeout expired") != NULL)
        return "timeout";
    if (strstr(msg, "could not translate host name") != NULL)
        return "dns";
    return "connect";
}

static void fail_conn(struct pg_state *st)
{
    const char *msg = st->conn ? PQerrorMessage(st->conn) : "";
    char line[EMP_ERRMSG_MAX];
    first_line(msg, line, sizeof line);
    if (line[0] == '\0')
        snprintf(line, sizeof line, "connection failed");
    emp_probe_finish_fail(st->pr, release, st, classify(msg), "%s", line);
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* libpq would print them to stderr */
}

static void on_io(struct emp_io *io, uint32_t revents);

/* Watch libpq's socket afresh: during the connection it may be closed and
 * another opened, possibly under the same number, which epoll forgot. */
static bool watch_new_socket(struct pg_state *st, uint32_t events)
{
    struct emp_loop *loop = st->pr->loop;
    int fd = PQsocket(st->conn);
    emp_loop_io_del(loop, &st->io);
    if (fd < 0) {
        fail_conn(st);
        return false;
    }
    st->io = (struct emp_io){.fd = fd, .cb = on_io, .data = st};
    if (emp_loop_io_set(loop, &st->io, events) < 0) {
        int e = errno;
        emp_probe_finish_fail(st->pr, release, st, "internal", "could not watch socket: %s",
                              strerror(e));
        return false;
    }
    return true;
}

static void drain(struct pg_state *st)
{
    while (!PQisBusy(st->conn)) {
        PGresult *res = PQgetResult(st->conn);
        if (res == NULL) {
            if (st->query_failed)
                emp_probe_finish_fail(st->pr, release, st, "query", "%s", st->query_err);
            else
                emp_probe_finish_ok(st->pr, release, st);
            return;
        }
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
            /* libpq would hand out this result forever. */
            PQclear(res);
            emp_probe_finish_fail(st->pr, release, st, "query",
                                  "COPY is not supported in a probe query");
            return;
        }
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK && !st->query_failed) {
            st->query_failed = true;
            first_line(PQresultErrorMessage(res), st->query_err, sizeof st->query_err);
            if (st->query_err[0] == '\0')
                snprintf(st->query_err, sizeof st->query_err, "query returned %s",
                         PQresStatus(s));
        }
        PQclear(res);
    }
}

/* Push the query out; then wait for its results. */
static void flush_step(struct pg_state *st)
{
    int r = PQflush(st->conn);
    if (r < 0) {
        fail_conn(st);
        return;
    }
    uint32_t events = r == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN;
    if (emp_loop_io_set(st->pr->loop, &st->io, events) < 0) {
        int e = errno;
        emp_probe_finish_fail(st->pr, release, st, "internal", "could not watch socket: %s",
                              strerror(e));
        return;
    }
    if (r == 0) {
        st->phase = PG_READING;
        drain(st); /* results may already sit in libpq's buffer */
    }
}

static void send_query(struct pg_state *st)
{
    const struct pg_spec *sp = st->pr->cfg->spec;
    const char *query = sp->query ? sp->query : PG_DEFAULT_QUERY;
    if (PQsetnonblocking(st->conn, 1) != 0 || PQsendQuery(st->conn, query) == 0) {
        fail_conn(st);
        return;
    }
    st->phase = PG_SENDING;
    flush_step(st);
}

static void connect_step(struct pg_state *st)
{
    switch (PQconnectPoll(st->conn)) {
    case PGRES_POLLING_READING:
        watch_new_socket(st, EPOLLIN);
        return;
    case PGRES_POLLING_OK:
        send_query(st);
        return;
    case PGRES_POLLING_FAILED:
        fail_conn(st);
        return;
    default: /* PGRES_POLLING_WRITING (and the unused ACTIVE) */
        watch_new_socket(st, EPOLLOUT);
        return;
    }
}

static void on_io(struct emp_io *io, uint32_t revents)
{
    struct pg_state *st = io->data;
    switch (st->phase) {
    case PG_CONNECTING:
        connect_step(st);
        return;
    case PG_SENDING:
        if ((revents & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !PQconsumeInput(st->conn)) {
            fail_conn(st);
            return;
        }
        flush_step(st);
        return;
    case PG_READING:
        if (!PQconsumeInput(st->conn)) {
            fail_conn(st);
            return;
        }
        drain(st);
        return;
    default:
        return;
    }
}

static const char *opt_value(const PQconninfoOption *opts, const char *keyword)
{
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, keyword) == 0)
            return o->val;
    return NULL;
}

static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* The host, hostaddr and port lists handed to libpq after resolution. */
struct host_lists {
    char *host, *hostaddr, *port; /* malloc'd, comma-separated */
    bool has_port;                /* the conninfo gave a port per host */
    size_t entries;               /* 0: every name failed to resolve */
    const struct pg_host *dns_failed; /* the first that did */
    const struct pg_host *refused;    /* the first name the policy refused */
    char why[EMP_POLICY_WHY_MAX];     /* and why */
};

/* Append `s` to a comma-separated list being written to `f`. */
static void list_add(FILE *f, size_t n, const char *s)
{
    if (n > 0)
        fputc(',', f);
    fputs(s, f);
}

/* One entry per resolved address of each name (so libpq tries them all,
 * as it would have after its own lookup), the others as they were.
 * Returns 0, or -1 when out of memory. */
static int build_host_lists(const struct pg_state *st, struct host_lists *out)
{
    size_t len;
    int rc = -1;
    FILE *fh = open_memstream(&out->host, &len);
    FILE *fa = open_memstream(&out->hostaddr, &len);
    FILE *fp = open_memstream(&out->port, &len);
    if (fh == NULL || fa == NULL || fp == NULL)
        goto out;
    for (size_t i = 0; i < st->n_hosts; i++) {
        const struct pg_host *h = &st->hosts[i];
        const char *port = h->port ? h->port : "";
        out->has_port = out->has_port || h->port != NULL;
        if (!h->lookup) {
            /* A numeric host is its own hostaddr; a socket directory or an
             * empty element keeps an empty one. */
            list_add(fh, out->entries, h->name);
            list_add(fa, out->entries, emp_resolve_is_numeric(h->name) ? h->name : "");
            list_add(fp, out->entries, port);
            out->entries++;
            continue;
        }
        if (h->ai == NULL) {
            if (out->dns_failed == NULL)
                out->dns_failed = h;
            continue; /* libpq too skips a host it cannot resolve */
        }
        char seen[PG_MAX_ADDRS_PER_HOST][NI_MAXHOST];
        size_t n_seen = 0;
        for (const struct addrinfo *a = h->ai; a != NULL && n_seen < PG_MAX_ADDRS_PER_HOST;
             a = a->ai_next) {
            if (out->refused == NULL &&
                emp_policy_refuses(st->pr->cfg->policy, a->ai_addr, out->why) != NULL)
                out->refused = h;
            char addr[NI_MAXHOST];
            if (getnameinfo(a->ai_addr, a->ai_addrlen, addr, sizeof addr, NULL, 0,
                            NI_NUMERICHOST) != 0)
                continue;
            bool dup = false;
            for (size_t k = 0; k < n_seen && !dup; k++)
                dup = strcmp(seen[k], addr) == 0;
            if (dup)
                continue;
            snprintf(seen[n_seen++], sizeof seen[0], "%s", addr);
            list_add(fh, out->entries, h->name);
            list_add(fa, out->entries, addr);
            list_add(fp, out->entries, port);
            out->entries++;
        }
    }
    rc = 0;
out:
    /* fclose writes the final buffer and its NUL; a failure there is an
     * allocation failure. */
    if (fh != NULL && fclose(fh) != 0)
        rc = -1;
    if (fa != NULL && fclose(fa) != 0)
        rc = -1;
    if (fp != NULL && fclose(fp) != 0)
        rc = -1;
    return rc;
}

/* Start libpq's connection. With `rewrite`, host and hostaddr (and port
 * when it is a list) are replaced by the lists built from the lookups. */
static void start_connect(struct pg_state *st, bool rewrite)
{
    struct host_lists hl = {0};
    const char **kw = NULL, **val = NULL;
    const char *fail_class = NULL;
    char fail_msg[EMP_ERRMSG_MAX] = "out of memory";

    size_t n_opts = 0;
    for (const PQconninfoOption *o = st->opts; o->keyword != NULL; o++)
        n_opts++;
    kw = calloc(n_opts + 5, sizeof *kw);
    val = calloc(n_opts + 5, sizeof *val);
    if (kw == NULL || val == NULL || (rewrite && build_host_lists(st, &hl) < 0)) {
        fail_class = "internal";
        goto out;
    }
    if (rewrite && hl.refused != NULL) {
        fail_class = EMP_POLICY_CLASS;
        snprintf(fail_msg, sizeof fail_msg, "%s: %s", hl.refused->name, hl.why);
        goto out;
    }
    if (rewrite && hl.entries == 0) {
        fail_class = "dns";
        snprintf(fail_msg, sizeof fail_msg, "could not resolve %s: %s",
                 hl.dns_failed ? hl.dns_failed->name : "",
                 hl.dns_failed ? hl.dns_failed->err : "no addresses");
        goto out;
    }
    size_t k = 0;
    for (const PQconninfoOption *o = st->opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (rewrite && (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
                        (hl.has_port && strcmp(o->keyword, "port") == 0)))
            continue;
        kw[k] = o->keyword;
        val[k++] = o->val;
    }
    if (st->pr->cfg->policy != NULL && !is_set(opt_value(st->opts, "passfile"))) {
        kw[k] = "passfile";
        val[k++] = PG_POLICY_PASSFILE;
    }
    if (rewrite) {
        kw[k] = "host";
        val[k++] = hl.host;
        kw[k] = "hostaddr";
        val[k++] = hl.hostaddr;
        if (hl.has_port) {
            kw[k] = "port";
            val[k++] = hl.port;
        }
    }
    kw[k] = NULL;
    val[k] = NULL;
    st->conn = PQconnectStartParams(kw, val, 0); /* copies what it keeps */
    if (st->conn == NULL)
        fail_class = "internal";
out:
    free(kw);
    free(val);
    free(hl.host);
    free(hl.hostaddr);
    free(hl.port);
    if (fail_class != NULL) {
        emp_probe_finish_fail(st->pr, release, st, fail_class, "%s", fail_msg);
        return;
    }
    PQsetNoticeProcessor(st->conn, quiet_notices, NULL);
    if (PQstatus(st->conn) == CONNECTION_BAD) {
        fail_conn(st);
        return;
    }
    st->phase = PG_CONNECTING;
    /* Before the first PQconnectPoll, act as if it asked for writing. */
    watch_new_socket(st, EPOLLOUT);
}

static void on_host_resolved(void *arg, struct addrinfo *ai, const char *errmsg)
{
    struct pg_host *h = arg;
    struct pg_state *st = h->st;
    h->ai = ai;
    if (ai == NULL)
        snprintf(h->err, sizeof h->err, "%s", errmsg ? errmsg : "lookup failed");
    if (--st->pending == 0)
        start_connect(st, true);
}

static bool needs_lookup(const char *name)
{
    /* Empty: libpq's default; '/' a socket directory; '@' an abstract
     * socket (PostgreSQL 16). */
    return name[0] != '\0' && name[0] != '/' && name[0] != '@' &&
           !emp_resolve_is_numeric(name);
}

static size_t count_elements(const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

/* Copy element `i` of a comma-separated list; NULL when out of memory. */
static char *element(const char *list, size_t i)
{
    const char *s = list;
    for (; i > 0; i--)
        s = strchr(s, ',') + 1;
    return strndup(s, strcspn(s, ","));
}

/* The port of element `i` of the host list: of `port` (a list of
 * `n_ports`, one port, or none); 0 when it is not a valid port, or memory
 * ran out. */
static int element_port(const char *port, size_t n_ports, size_t i)
{
    if (!is_set(port))
        return PG_DEFAULT_PORT;
    char *own = n_ports > 1 ? element(port, i) : NULL;
    const char *s = n_ports > 1 ? own : port;
    int v = s != NULL ? emp_cfg_parse_port(s, strlen(s)) : -1;
    free(own);
    return v > 0 ? v : 0;
}

/* Why `pol` refuses where `opts` connects, into `why` (NULL when it does
 * not): no host at all (libpq would take it from this machine's
 * environment, or use its local socket), an empty element or a
 * Unix-domain socket in the host list, a hostaddr element that is no
 * numeric address, or a numeric address the policy denies. Names are
 * checked once resolved (build_host_lists). `*oom` is set when memory ran
 * out. */
static const char *hosts_refused(const struct emp_target_policy *pol,
                                 const PQconninfoOption *opts, char *why, bool *oom)
{
    const char *host = opt_value(opts, "host");
    const char *hostaddr = opt_value(opts, "hostaddr");
    const char *port = opt_value(opts, "port");
    if (!is_set(host) && !is_set(hostaddr)) {
        snprintf(why, EMP_POLICY_WHY_MAX,
                 "host or hostaddr is required (without them libpq would use this machine's "
                 "environment or local socket)");
        return why;
    }
    bool by_addr = is_set(hostaddr);
    const char *list = by_addr ? hostaddr : host;
    size_t n = count_elements(list);
    size_t n_ports = is_set(port) ? count_elements(port) : 0;
    bool refused = false;
    for (size_t i = 0; i < n && !refused; i++) {
        char *e = element(list, i);
        if (e == NULL) {
            *oom = true;
            return NULL;
        }
        refused = true;
        if (e[0] == '\0' && by_addr)
            snprintf(why, EMP_POLICY_WHY_MAX,
                     "hostaddr element %zu is empty (libpq would resolve its host itself)", i + 1);
        else if (e[0] == '\0')
            snprintf(why, EMP_POLICY_WHY_MAX,
                     "host element %zu is empty (libpq would use this machine's local socket)",
                     i + 1);
        else if (!by_addr && (e[0] == '/' || e[0] == '@'))
            snprintf(why, EMP_POLICY_WHY_MAX, "host \"%s\" is a Unix-domain socket of this machine",
                     e);
        else if (by_addr && !emp_resolve_is_numeric(e))
            snprintf(why, EMP_POLICY_WHY_MAX, "hostaddr \"%s\" is not a numeric address", e);
        else
            refused = emp_policy_refuses_host(pol, e, element_port(port, n_ports, i), why) != NULL;
        free(e);
    }
    return refused ? why : NULL;
}

/* Parse the conninfo, resolve what needs it, then connect. */
static void begin(struct pg_state *st)
{
    const struct pg_spec *sp = st->pr->cfg->spec;
    char *perr = NULL;
    st->opts = PQconninfoParse(sp->conninfo ? sp->conninfo : "", &perr);
    if (st->opts == NULL) {
        char line[EMP_ERRMSG_MAX];
        first_line(perr ? perr : "out of memory", line, sizeof line);
        PQfreemem(perr);
        emp_probe_finish_fail(st->pr, release, st, "internal", "invalid conninfo: %s", line);
        return;
    }
    const struct emp_target_policy *pol = st->pr->cfg->policy;
    char why[EMP_POLICY_WHY_MAX];
    bool oom = false;
    if (pol != NULL && hosts_refused(pol, st->opts, why, &oom) != NULL) {
        emp_probe_finish_fail(st->pr, release, st, EMP_POLICY_CLASS, "%s", why);
        return;
    }
    if (oom) {
        emp_probe_finish_fail(st->pr, release, st, "internal", "out of memory");
        return;
    }
    const char *host = opt_value(st->opts, "host");
    const char *hostaddr = opt_value(st->opts, "hostaddr");
    const char *port = opt_value(st->opts, "port");
    /* libpq falls back on these when the conninfo is silent. A host that
     * comes from a service file (service=...) is not seen here: libpq
     * resolves that one itself, blocking. */
    if (!is_set(host) && !is_set(hostaddr)) {
        host = getenv("PGHOST");
        hostaddr = getenv("PGHOSTADDR");
    }
    if (!is_set(host) || is_set(hostaddr)) {
        start_connect(st, false);
        return;
    }

    size_t n = count_elements(host);
    size_t n_ports = is_set(port) ? count_elements(port) : 0;
    if (n_ports > 1 && n_ports != n) {
        emp_probe_finish_fail(st->pr, release, st, "connect",
                              "could not match %zu port numbers to %zu hosts", n_ports, n);
        return;
    }
    if (n > st->cap_hosts) {
        /* Safe to move: no lookup is active between probes. */
        struct pg_host *hs = realloc(st->hosts, n * sizeof *hs);
        if (hs == NULL) {
            emp_probe_finish_fail(st->pr, release, st, "internal", "out of memory");
            return;
        }
        memset(hs + st->cap_hosts, 0, (n - st->cap_hosts) * sizeof *hs);
        st->hosts = hs;
        st->cap_hosts = n;
    }
    size_t lookups = 0;
    for (size_t i = 0; i < n; i++) {
        struct pg_host *h = &st->hosts[i];
        h->st = st;
        h->name = element(host, i);
        h->port = n_ports > 1 ? element(port, i) : NULL;
        h->port_num = element_port(port, n_ports, i);
        st->n_hosts = i + 1;
        if (h->name == NULL || (n_ports > 1 && h->port == NULL)) {
            emp_probe_finish_fail(st->pr, release, st, "internal", "out of memory");
            return;
        }
        h->lookup = needs_lookup(h->name);
        lookups += h->lookup;
    }
    if (lookups == 0) {
        start_connect(st, false);
        return;
    }
    st->phase = PG_RESOLVING;
    for (size_t i = 0; i < st->n_hosts; i++) {
        struct pg_host *h = &st->hosts[i];
        if (!h->lookup)
            continue;
        /* The port only goes into the addresses, for the policy. */
        if (emp_resolve_start(&h->rs, st->pr->loop, h->name, h->port_num, on_host_resolved, h) <
            0) {
            int e = errno;
            emp_probe_finish_fail(st->pr, release, st, "internal",
                                  "could not start resolving %s: %s", h->name, strerror(e));
            return;
        }
        st->pending++;
    }
}

static void on_kick(struct emp_timer *t)
{
    begin(t->data);
}

static void on_deadline(struct emp_timer *t)
{
    struct pg_state *st = t->data;
    int ms = st->pr->cfg->timeout_ms;
    const char *host = "";
    st->pr->deadline_passed = true;
    switch (st->phase) {
    case PG_RESOLVING:
        for (size_t i = 0; i < st->n_hosts; i++)
            if (emp_resolve_active(&st->hosts[i].rs)) {
                host = st->hosts[i].name;
                break;
            }
        emp_probe_finish_fail(st->pr, release, st, "dns",
                              "resolving %s did not finish within %d ms", host, ms);
        return;
    case PG_CONNECTING:
        host = PQhost(st->conn);
        emp_probe_finish_fail(
            st->pr, release, st, "timeout", "connecting to %s port %s did not finish within %d ms",
            host ? host : "(default)", PQport(st->conn) ? PQport(st->conn) : "", ms);
        return;
    case PG_SENDING:
    case PG_READING:
        emp_probe_finish_fail(st->pr, release, st, "timeout", "query did not finish within %d ms",
                              ms);
        return;
    default:
        emp_probe_finish_fail(st->pr, release, st, "timeout", "probe did not start within %d ms",
                              ms);
        return;
    }
}

static enum emp_err pg_start(struct emp_probe *pr, void *shared)
{
    (void)shared;
    struct pg_state *st = pr->kstate;
    if (st == NULL) {
        st = calloc(1, sizeof *st);
        if (st == NULL) {
            emp_probe_fail(pr, "internal", "out of memory");
            return EMP_ENOMEM;
        }
        st->pr = pr;
        st->kick.cb = on_kick;
        st->kick.data = st;
        pr->kstate = st;
    }
    reset(st);
    pr->deadline.cb = on_deadline;
    pr->deadline.data = st;
    int64_t due = pr->started_mono_us + (int64_t)pr->cfg->timeout_ms * EMP_US_PER_MS;
    /* The work starts from a zero-delay timer so that done() is never
     * called from inside start. */
    if (emp_loop_timer_start(pr->loop, &pr->deadline, due) < 0 ||
        emp_loop_timer_start(pr->loop, &st->kick, emp_loop_now(pr->loop)) < 0) {
        reset(st);
        emp_probe_fail(pr, "internal", "out of memory");
        return EMP_ENOMEM;
    }
    st->phase = PG_STARTING;
    return EMP_OK;
}

static void pg_cancel(struct emp_probe *pr, void *shared)
{
    (void)shared;
    struct pg_state *st = pr->kstate;
    if (st == NULL)
        return;
    reset(st);
    free(st->hosts);
    free(st);
    pr->kstate = NULL;
}

/* ---- the kind ---------------------------------------------------------- */

/* A conninfo without its passwords, for showing. A new string or NULL. */
static char *redact_conninfo(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (opts == NULL) {
        PQfreemem(errmsg);
        return NULL;
    }
    struct emp_buf b = {0};
    emp_buf_puts(&b, "");
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || strstr(o->keyword, "password") != NULL)
            continue;
        if (b.len > 0)
            emp_buf_putc(&b, ' ');
        emp_buf_puts(&b, o->keyword);
        emp_buf_puts(&b, "='");
        for (const char *v = o->val; *v != '\0'; v++) {
            if (*v == '\'' || *v == '\\')
                emp_buf_putc(&b, '\\');
            emp_buf_putc(&b, *v);
        }
        emp_buf_putc(&b, '\'');
    }
    PQconninfoFree(opts);
    if (b.oom) {
        emp_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* What was written is kept even when it is reported (the configuration is
 * refused then), so that a test can give a probe what no configuration
 * would: the probe copes with any conninfo and query. */
static void pg_parse(struct emp_cfg *c, const json_t *t, const char *base, void **spec)
{
    struct pg_spec *out = calloc(1, sizeof *out);
    if (out == NULL) {
        c->oom = true;
        return;
    }
    *spec = out;
    static const char expected[] = "a libpq connection string";
    const char *s;
    enum emp_cfg_field f = emp_cfg_get_string(c, t, base, "conninfo", expected, &s);
    if (f == EMP_CFG_ABSENT) {
        emp_cfg_report_missing(c, base, "conninfo", expected);
    } else if (f == EMP_CFG_OK && s[0] == '\0') {
        emp_cfg_report_value(c, t, base, "conninfo", expected, NULL);
    } else if (f == EMP_CFG_OK) {
        char *msg = NULL;
        PQconninfoOption *opts = PQconninfoParse(s, &msg);
        if (opts == NULL && msg == NULL) {
            c->oom = true;
        } else if (opts == NULL) {
            /* libpq's text ends in a newline. The value is not echoed: it
             * may hold a password. */
            size_t n = strlen(msg);
            while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                msg[--n] = '\0';
            for (char *p = msg; *p != '\0'; p++)
                if (*p == '\n')
                    *p = ' ';
            emp_cfg_report(c, emp_cfg_at_key(c, base, "conninfo").s, "expected %s: %s", expected,
                           msg);
        }
        PQconninfoFree(opts);
        PQfreemem(msg);
    }
    if (f == EMP_CFG_OK)
        out->conninfo = emp_cfg_dup(c, s);

    f = emp_cfg_get_string(c, t, base, "query", "a non-empty SQL query", &s);
    if (f == EMP_CFG_OK && s[0] == '\0')
        emp_cfg_report_value(c, t, base, "query", "a non-empty SQL query", NULL);
    if (f != EMP_CFG_BAD)
        out->query = emp_cfg_dup(c, f == EMP_CFG_OK ? s : PG_DEFAULT_QUERY);
}

static void pg_police(struct emp_cfg *c, const void *spec, const char *base,
                      const struct emp_target_policy *pol)
{
    const struct pg_spec *sp = spec;
    struct emp_cfg_where w = emp_cfg_at_key(c, base, "conninfo");
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(sp->conninfo != NULL ? sp->conninfo : "", &msg);
    if (opts == NULL) {
        /* pg_parse has said what is wrong with it. */
        c->oom |= msg == NULL;
        PQfreemem(msg);
        return;
    }
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL && !emp_policy_conninfo_key(pol, o->keyword))
            emp_cfg_report(c, w.s,
                           "refused by the target policy: key \"%s\" is not in "
                           "api.target_policy.conninfo_keys",
                           o->keyword);
    char why[EMP_POLICY_WHY_MAX];
    bool oom = false;
    if (hosts_refused(pol, opts, why, &oom) != NULL)
        emp_cfg_report(c, w.s, "refused by the target policy: %s", why);
    c->oom |= oom;
    PQconninfoFree(opts);
}

static int pg_to_json(const void *spec, bool redact, json_t *o)
{
    const struct pg_spec *sp = spec;
    const char *conninfo = sp->conninfo != NULL ? sp->conninfo : "";
    char *shown = redact ? redact_conninfo(conninfo) : NULL;
    int bad = json_object_set_new(o, "conninfo",
                                  json_string(redact ? (shown != NULL ? shown : "") : conninfo));
    free(shown);
    bad |= json_object_set_new(o, "query", json_string(sp->query != NULL ? sp->query : ""));
    return bad ? -1 : 0;
}

static void pg_free_spec(void *spec)
{
    struct pg_spec *sp = spec;
    if (sp == NULL)
        return;
    free(sp->conninfo);
    free(sp->query);
    free(sp);
}

static void *pg_copy(const void *spec)
{
    const struct pg_spec *src = spec;
    struct pg_spec *sp = calloc(1, sizeof *sp);
    if (sp == NULL)
        return NULL;
    sp->conninfo = src->conninfo != NULL ? strdup(src->conninfo) : NULL;
    sp->query = src->query != NULL ? strdup(src->query) : NULL;
    if ((src->conninfo != NULL && sp->conninfo == NULL) ||
        (src->query != NULL && sp->query == NULL)) {
        pg_free_spec(sp);
        return NULL;
    }
    return sp;
}

static const char *const pg_keys[] = {"conninfo", "query", NULL};

const struct emp_probe_kind emp_kind_postgres = {
    .name = "postgres",
    .keys = pg_keys,
    .parse = pg_parse,
    .to_json = pg_to_json,
    .copy = pg_copy,
    .free_spec = pg_free_spec,
    .police = pg_police,
    .start = pg_start,
    .cancel = pg_cancel,
};
