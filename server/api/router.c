/* The HTTP API daemon and router: libmicrohttpd with a thread pool, a static
 * routing table {method, path pattern, handler, where it runs, takes a
 * body, needs a token}, and the limits of docs/configuration.md ("api").
 * libmicrohttpd's threads never wait on the database: a route that needs
 * it is handed to a worker (api/work.h) with its connection suspended, and
 * answered by API_DB_DEADLINE_MS after it was handed over; MHD calls the
 * access handler again once the worker resumed the connection, and the
 * kept reply is queued then. A request without a body is answered on the
 * second call to the access handler (when MHD has all of it, so that the
 * connection can be kept); one with a body for a route that takes one is
 * read (up to the cap, past it 413) and answered on the last call; any
 * other with a body on the first. Nothing outlives the answer but the
 * response buffer, which MHD frees, and the request's call (a body, a
 * worker's reply), freed when MHD says the request is complete. */
#include "api/api.h"
#include "api/deadline.h"
#include "api/handlers.h"
#include "api/work.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/text.h"
#include "core/timeutil.h"

#define CONTENT_TYPE_JSON "application/json; charset=utf-8"

/* Workers answering what needs the store: as many requests ask it at once
 * (each holds one of the pool's connections meanwhile). */
#define API_WORKERS 4

/* ---- routing ---------------------------------------------------------- */

static enum MHD_Result get_healthz(struct api_req *r)
{
    return api_reply(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

/* Where a route's handler runs. */
enum where {
    INLINE, /* on the MHD thread: from memory, never waiting on the store
               (it may api_defer itself to a worker) */
    WORKER, /* on a worker, its connection suspended: it asks the store */
};

struct route {
    const char *method;
    const char *pattern; /* segments; "{name}" captures a target name */
    api_handler handler;
    enum where where;
    bool body;           /* takes a request body (up to limits.max_body_bytes) */
    bool token;          /* needs a bearer token (checked on the worker) */
};

static const struct route routes[] = {
    {"GET", "/healthz", get_healthz, INLINE},
    {"GET", "/api/v1/targets", api_get_targets, WORKER},
    {"POST", "/api/v1/targets", api_post_target, WORKER, true, true},
    {"GET", "/api/v1/targets/{name}", api_get_target, WORKER},
    {"PUT", "/api/v1/targets/{name}", api_put_target, WORKER, true, true},
    {"DELETE", "/api/v1/targets/{name}", api_delete_target, WORKER, false, true},
    {"GET", "/api/v1/targets/{name}/outages", api_get_outages, WORKER},
    {"GET", "/api/v1/targets/{name}/uptime", api_get_uptime, WORKER},
    {"GET", "/api/v1/targets/{name}/sla", api_get_sla, WORKER},
    {"GET", "/api/v1/targets/{name}/reliability", api_get_reliability, WORKER},
    {"GET", "/api/v1/groups", api_get_groups, WORKER},
    {"GET", "/api/v1/groups/{name}/correlation", api_get_correlation, WORKER},
    {"GET", "/api/v1/groups/{name}/reliability", api_get_group_reliability, WORKER},
    {"GET", "/metrics", api_get_metrics, INLINE},
    {"GET", "/api/v1/monitor", api_get_monitor, INLINE},
    {"GET", "/api/v1/probers", api_get_probers, WORKER},
    {"GET", "/api/v1/status", api_get_status, INLINE},
    {"GET", "/api/v1/openapi.json", api_get_openapi, INLINE},
    {"GET", "/badge/{name}.svg", api_get_badge_uptime, WORKER},
    {"GET", "/badge/{name}/state.svg", api_get_badge_state, WORKER},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* What route() serves after the table: the status page's files. Listed for
 * emp_api_route_at only; keep in step with the fallback in route(). */
static const struct {
    const char *method, *pattern;
} page_routes[] = {
    {"GET", "/"},
    {"GET", "/index.html"},
    {"GET", "/static/{path}"},
};
#define N_PAGE_ROUTES (sizeof page_routes / sizeof page_routes[0])

bool emp_api_route_at(size_t i, const char **method, const char **pattern)
{
    if (i < N_ROUTES) {
        *method = routes[i].method;
        *pattern = routes[i].pattern;
        return true;
    }
    if (i - N_ROUTES < N_PAGE_ROUTES) {
        *method = page_routes[i - N_ROUTES].method;
        *pattern = page_routes[i - N_ROUTES].pattern;
        return true;
    }
    return false;
}

enum match { NO_MATCH, MATCH, BAD_NAME };

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* Match `path` against `pattern` segment by segment; "{name}" takes the
 * rest of one path segment less the literal text that follows it in the
 * pattern up to the next '/' ("{name}.svg" takes "web" from "web.svg").
 * What it takes must be non-empty and a valid target name (else
 * BAD_NAME). */
static enum match match_route(const char *pattern, const char *path,
                              char name[EMP_NAME_MAX + 1])
{
    const char *p = pattern, *s = path;
    bool bad = false;
    while (*p != '\0') {
        if (strncmp(p, "{name}", 6) == 0) {
            p += 6;
            const char *suffix = p;
            while (*p != '\0' && *p != '/')
                p++;
            size_t suffix_len = (size_t)(p - suffix);
            const char *seg = s;
            while (*s != '\0' && *s != '/')
                s++;
            size_t seg_len = (size_t)(s - seg);
            if (seg_len <= suffix_len || memcmp(s - suffix_len, suffix, suffix_len) != 0)
                return NO_MATCH;
            size_t len = seg_len - suffix_len;
            bool ok = len <= EMP_NAME_MAX;
            for (size_t i = 0; ok && i < len; i++)
                ok = name_char(seg[i]);
            if (ok) {
                memcpy(name, seg, len);
                name[len] = '\0';
            } else {
                bad = true;
            }
        } else {
            if (*p != *s)
                return NO_MATCH;
            p++;
            s++;
        }
    }
    if (*s != '\0')
        return NO_MATCH;
    return bad ? BAD_NAME : MATCH;
}

/* HEAD is GET without the body (MHD drops it). */
static const char *route_method(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 ? MHD_HTTP_METHOD_GET : method;
}

/* The route serving `method` `path` (its {name} into `name`), or -1. */
static long find_route(const char *method, const char *path, char name[EMP_NAME_MAX + 1])
{
    for (size_t i = 0; i < N_ROUTES; i++)
        if (strcmp(routes[i].method, route_method(method)) == 0 &&
            match_route(routes[i].pattern, path, name) == MATCH)
            return (long)i;
    return -1;
}

/* MHD_KeyValueIteratorN over the query: stop at a key or value the store
 * could not take as text (a NUL, bytes that are not UTF-8). */
static enum MHD_Result query_text_ok(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    bool ok = emp_text_ok(key, key_size) && (value == NULL || emp_text_ok(value, value_size));
    if (!ok)
        *(bool *)cls = false;
    return ok ? MHD_YES : MHD_NO;
}

/* Route the request: answer it here, or name in `*to_worker` the route
 * whose handler must run on a worker (-1: none). */
static enum MHD_Result route(struct api_req *r, long *to_worker)
{
    *to_worker = -1;
    const char *method = route_method(r->method);
    bool query_ok = true;
    MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, query_text_ok, &query_ok);
    if (!query_ok)
        return api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                         "query parameters must be UTF-8 text without NUL bytes");
    char allow[128] = "";
    bool path_known = false;
    for (size_t i = 0; i < N_ROUTES; i++) {
        enum match m = match_route(routes[i].pattern, r->path, r->name);
        if (m == NO_MATCH)
            continue;
        if (m == BAD_NAME)
            return api_error(r, MHD_HTTP_NOT_FOUND, "not_found",
                             "no such target: names are 1 to %d of [A-Za-z0-9._-]",
                             EMP_NAME_MAX);
        path_known = true;
        if (strcmp(routes[i].method, method) == 0) {
            if (routes[i].where == WORKER) {
                *to_worker = (long)i;
                return MHD_YES;
            }
            enum MHD_Result ret = routes[i].handler(r);
            if (r->defer)
                *to_worker = (long)i;
            return ret;
        }
        size_t used = strlen(allow);
        snprintf(allow + used, sizeof allow - used, "%s%s%s", used ? ", " : "",
                 routes[i].method,
                 strcmp(routes[i].method, MHD_HTTP_METHOD_GET) == 0 ? ", HEAD" : "");
    }
    if (path_known)
        return api_error_allow(r, allow, "method %.32s is not allowed here; allowed: %s", r->method,
                               allow);
    /* No API route: the status page's files (api/static.c). */
    if (strcmp(r->path, "/") == 0 || strcmp(r->path, "/index.html") == 0 ||
        strncmp(r->path, "/static/", 8) == 0)
        return api_get_static(r);
    return api_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such resource");
}

/* Markers for *req_cls: the request has been answered; its headers have
 * been seen and it has no body, so the answer comes with the next call.
 * Otherwise *req_cls is a struct call. */
static char answered, headers_seen;

/* A request that outlives one call of the access handler: its body being
 * read, then its answer being made on a worker while MHD holds the
 * connection suspended, then that answer waiting for MHD to call again. */
enum call_state { READING, WAITING, READY, DONE };

struct call {
    struct api_job job;        /* on the workers' queue */
    _Atomic int state;         /* enum call_state */
    long route;                /* index in routes[] */
    char name[EMP_NAME_MAX + 1];
    char *body;                /* NUL-terminated */
    size_t len, cap;
    bool too_large;            /* past the cap: the rest is discarded, then 413 */
    struct api_req req;        /* the request as the worker sees it */
    struct api_out out;        /* the worker's answer */
};

static void call_free(struct call *c)
{
    if (c->out.resp != NULL)
        MHD_destroy_response(c->out.resp);
    free(c->body);
    free(c);
}

/* Whether the request announces a body (Content-Length other than 0, or
 * any Transfer-Encoding). */
static bool has_body(struct MHD_Connection *conn)
{
    const char *len =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len != NULL && strspn(len, "0") != strlen(len))
        return true;
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* MHD_KeyValueIterator over the headers: count Content-Length and
 * Transfer-Encoding. */
static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    (void)value;
    unsigned *n = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        n[0]++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        n[1]++;
    return MHD_YES;
}

/* Whether the body's length is stated more than one way (two
 * Content-Length headers, or one beside Transfer-Encoding): a proxy in
 * front may read it differently, and take what follows the body we see
 * as a request of its own. */
static bool ambiguous_length(struct MHD_Connection *conn)
{
    unsigned n[2] = {0, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, n);
    return n[0] > 1 || (n[0] > 0 && n[1] > 0);
}

/* Whether the announced Content-Length is over `cap` (MHD has rejected one
 * that is not a number). */
static bool announced_over(struct MHD_Connection *conn, size_t cap)
{
    const char *len =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len == NULL)
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long n = strtoull(len, &end, 10);
    return errno != 0 || end == len || n > cap;
}

static enum MHD_Result too_large(struct api_req *r)
{
    return api_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                     "the request body is over %d bytes", r->api->limits.max_body_bytes);
}

/* Keep `n` more bytes of a body, or note that it went past the cap. */
static void upload_add(struct call *u, const char *data, size_t n, size_t cap)
{
    if (u->too_large || n > cap - u->len) {
        u->too_large = true;
        return;
    }
    if (u->len + n + 1 > u->cap) {
        size_t want = u->cap ? u->cap : 4096;
        while (want < u->len + n + 1)
            want *= 2;
        char *p = realloc(u->body, want);
        if (p == NULL) {
            u->too_large = true; /* answered as 413: the server cannot take it */
            return;
        }
        u->body = p;
        u->cap = want;
    }
    memcpy(u->body + u->len, data, n);
    u->len += n;
    u->body[u->len] = '\0';
}

static void log_request(const struct api_req *r, int64_t t0)
{
    if (emp_log_threshold <= EMP_LOG_DEBUG) {
        char qp[300];
        emp_debug("http request", "method=%.16s path=%s status=%u duration_ms=%.3f%s",
                  r->method, emp_log_quote(qp, sizeof qp, r->path), r->status,
                  (double)(emp_mono_us() - t0) / 1000.0, r->on_worker ? " worker=1" : "");
    }
}

/* On a worker: check the token when the route needs one, run the handler
 * (its reply kept in c->out), and give the connection back to MHD, which
 * then calls the access handler again to send it. A request that waited
 * past its deadline for a worker is not started. */
static void run_call(struct api_job *job)
{
    struct call *c = (struct call *)job;
    struct api_req *r = &c->req;
    int64_t t0 = emp_mono_us();
    enum MHD_Result ret;
    if (t0 >= r->until_mono_us)
        api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                  "the database did not answer in time; try again later");
    else if (!routes[c->route].token || r->authorized || api_authorize(r, &ret))
        routes[c->route].handler(r);
    log_request(r, t0);
    atomic_store(&c->state, READY);
    MHD_resume_connection(r->conn);
}

/* Suspend the connection and hand the request to a worker; `c` is the
 * request's call when it has one (a body was read). */
static enum MHD_Result hand_over(struct api_req *r, long i, void **req_cls, struct call *c)
{
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            *req_cls = &answered;
            return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        }
    }
    *req_cls = c;
    c->route = i;
    c->req = *r;
    c->req.defer = false;
    c->req.on_worker = true;
    c->req.out = &c->out;
    c->req.until_mono_us = emp_mono_us() + (int64_t)API_DB_DEADLINE_MS * EMP_US_PER_MS;
    c->job.run = run_call;
    atomic_store(&c->state, WAITING);
    MHD_suspend_connection(r->conn);
    if (r->api->work == NULL || !api_work_submit(r->api->work, &c->job)) {
        api_error(&c->req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                  "the server is stopping");
        atomic_store(&c->state, READY);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

/* Answer here, or hand over to a worker. */
static enum MHD_Result answer(struct api_req *r, void **req_cls, struct call *c)
{
    int64_t t0 = emp_mono_us();
    long w;
    enum MHD_Result ret = route(r, &w);
    if (w >= 0)
        return hand_over(r, w, req_cls, c);
    log_request(r, t0);
    return ret;
}

/* MHD calls again after a worker answered: send what it made, or run the
 * handler once more here when the worker asked for that. */
static enum MHD_Result send_answer(struct call *c)
{
    atomic_store(&c->state, DONE);
    if (c->out.resp != NULL) {
        enum MHD_Result ret = MHD_queue_response(c->req.conn, c->out.status, c->out.resp);
        MHD_destroy_response(c->out.resp);
        c->out.resp = NULL;
        return ret;
    }
    if (!c->req.defer)
        return MHD_NO; /* nothing could be made: MHD closes the connection */
    struct api_req r = c->req;
    r.on_worker = false;
    r.out = NULL;
    r.defer = false;
    r.retried = true;
    int64_t t0 = emp_mono_us();
    enum MHD_Result ret = routes[c->route].handler(&r);
    if (r.defer)
        ret = api_error(&r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                        "the server is busy; try again");
    log_request(&r, t0);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    struct emp_api *api = cls;
    if (*req_cls == &answered) {
        /* A body we did not ask for: discard it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct api_req r = {
        .api = api,
        .conn = conn,
        .method = method != NULL ? method : "",
        .path = url != NULL ? url : "",
        .now_us = emp_now_us(),
    };
    size_t cap = (size_t)api->limits.max_body_bytes;
    if (*req_cls != NULL && *req_cls != &headers_seen) {
        struct call *c = *req_cls;
        switch (atomic_load(&c->state)) {
        case READING:
            if (*upload_data_size > 0) {
                upload_add(c, upload_data, *upload_data_size, cap);
                *upload_data_size = 0;
                return MHD_YES;
            }
            /* The whole body is in (the call stays until MHD's completion
             * callback frees it). */
            atomic_store(&c->state, DONE);
            if (c->too_large)
                return too_large(&r);
            memcpy(r.name, c->name, sizeof r.name);
            r.body = c->body != NULL ? c->body : "";
            r.body_len = c->len;
            return answer(&r, req_cls, c);
        case READY:
            return send_answer(c);
        default:
            *upload_data_size = 0;
            return MHD_YES;
        }
    }
    if (*req_cls == NULL) {
        /* The headers are in. A body whose length is stated twice, or over
         * the cap, is refused before it is read, whatever the route. */
        if (ambiguous_length(conn)) {
            *req_cls = &answered;
            return api_error(&r, MHD_HTTP_BAD_REQUEST, "bad_request",
                             "the body's length is stated more than once (Content-Length "
                             "twice, or with Transfer-Encoding)");
        }
        if (announced_over(conn, cap)) {
            *req_cls = &answered;
            return too_large(&r);
        }
        /* A response queued on the first call, while MHD still counts the
         * request as being received, makes MHD close the connection after
         * it. Without a body, answer on the second call instead, once the
         * request is complete, so that the client may keep the connection
         * for the next request (a browser's page and its calls, a load
         * test). */
        if (!has_body(conn)) {
            *req_cls = &headers_seen;
            return MHD_YES;
        }
        long i = find_route(r.method, r.path, r.name);
        if (i >= 0 && routes[i].body) {
            /* Read it (up to the cap); the token is checked with the rest
             * of the request, on a worker. */
            struct call *c = calloc(1, sizeof *c);
            if (c == NULL) {
                *req_cls = &answered;
                return api_error(&r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                 "out of memory");
            }
            atomic_init(&c->state, READING);
            c->route = i;
            memcpy(c->name, r.name, sizeof c->name);
            *req_cls = c;
            return MHD_YES;
        }
        /* A body nobody reads: answered at once. */
    }
    *req_cls = &answered;
    return answer(&r, req_cls, NULL);
}

/* MHD_OPTION_NOTIFY_COMPLETED: free the request's call, and give the
 * connection's next request a deadline of its own. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    if (*req_cls != NULL && *req_cls != &answered && *req_cls != &headers_seen)
        call_free(*req_cls);
    *req_cls = NULL;
    api_deadline_restart(cls, conn);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* MHD_OPTION_UNESCAPE_CALLBACK: percent-decoding as MHD's own, except that
 * %00 stays as written. A NUL would cut the path or a query value short
 * and make it another one ("/api/v1/targets/x%00y/uptime" would be served
 * as "/api/v1/targets/x"). */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    const char *r = s;
    while (*r != '\0') {
        int hi = r[0] == '%' ? hex_value(r[1]) : -1;
        int lo = hi >= 0 ? hex_value(r[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* MHD's messages. While starting they explain a failure (warn); once
 * running they are mostly about misbehaving clients (debug), which must not
 * be able to flood the log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct emp_api *api = cls;
    enum emp_log_level level = atomic_load(&api->running) ? EMP_LOG_DEBUG : EMP_LOG_WARN;
    if (level < emp_log_threshold)
        return;
    char line[512], q[600];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    emp_log_write(level, "http server", "detail=%s", emp_log_quote(q, sizeof q, line));
}

/* ---- start / stop ----------------------------------------------------- */

enum emp_err emp_api_start(const char *host, int port, const struct emp_config *cfg,
                           struct emp_state *state,
                           struct emp_db_pool *pool, struct emp_api **out,
                           struct emp_error *err)
{
    /* The statistics endpoints build tens of megabytes per request (the
     * status of 500 targets, a 1,000-member correlation). Keep freed memory
     * in the process instead of returning it to the kernel each time, and
     * let the request threads share one arena besides the main thread's, so
     * that a request reuses warm pages: on this kind of VM a fresh page
     * costs ~17 us, which doubled their latency. Process-wide, and harmless
     * for the rest: the probe loop keeps the main arena. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_ARENA_MAX, 2);
    *out = NULL;
    if (port < 0 || port > 65535)
        return emp_error_set(err, EMP_EINVAL, NULL, "port %d out of range", port);
    /* Accept "[::1]" as well as "::1"; empty means every IPv4 address. */
    char h[256];
    snprintf(h, sizeof h, "%s", host != NULL && host[0] != '\0' ? host : "0.0.0.0");
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        memmove(h, h + 1, hl - 2);
        h[hl - 2] = '\0';
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(h, portstr, &hints, &ai);
    if (gai != 0)
        return emp_error_set(err, EMP_EINVAL, gai_strerror(gai),
                             "could not resolve listen address %s", h);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen <= sizeof ss ? ai->ai_addrlen : sizeof ss);
    int family = ai->ai_family;
    freeaddrinfo(ai);

    struct emp_api *api = calloc(1, sizeof *api);
    if (api == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
    api->cfg = cfg;
    api->limits = cfg != NULL ? cfg->api : (struct emp_api_limits)EMP_API_LIMITS_DEFAULT;
    api->state = state;
    api->pool = pool;
    atomic_init(&api->running, false);
    atomic_init(&api->prober, NULL);
    api->web_dir = api_static_web_dir(); /* NULL: no page, the API still serves */
    pthread_mutex_init(&api->status_mu, NULL);
    pthread_mutex_init(&api->write_mu, NULL);
    const struct emp_api_limits *lim = &api->limits;
    if (api_deadline_start(api, lim->request_deadline_s) != 0) {
        free(api->web_dir);
        pthread_mutex_destroy(&api->status_mu);
        pthread_mutex_destroy(&api->write_mu);
        free(api);
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not start the request watchdog");
    }

    api->work = api_work_start(API_WORKERS);
    if (api->work == NULL) {
        api_deadline_stop(api);
        free(api->web_dir);
        pthread_mutex_destroy(&api->status_mu);
        pthread_mutex_destroy(&api->write_mu);
        free(api);
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not start the API's workers");
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        /* "::" is meant as "everything": take IPv4 too. */
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        if (memcmp(&s6->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0)
            flags |= MHD_USE_DUAL_STACK;
    }
    errno = 0;
    api->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, api,
        /* First, so that MHD's own complaints about options reach it. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, api,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)lim->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)lim->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)lim->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)lim->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)lim->connection_memory_kib * 1024,
        MHD_OPTION_NOTIFY_CONNECTION, api_deadline_notify, api,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_END);
    if (api->daemon == NULL) {
        int e = errno;
        api_work_free(api->work);
        api_deadline_stop(api);
        free(api->web_dir);
        pthread_mutex_destroy(&api->status_mu);
        pthread_mutex_destroy(&api->write_mu);
        free(api);
        return emp_error_set(err, EMP_EIO, e != 0 ? strerror(e) : NULL,
                             "could not listen on %s port %d", h, port);
    }
    atomic_store(&api->running, true);
    if (api_status_start(api) != 0)
        emp_warn("could not start the status refresher; /api/v1/status computes on demand", NULL);
    *out = api;
    return EMP_OK;
}

void emp_api_warm_status(struct emp_api *api)
{
    api_status_warm(api);
}

void emp_api_set_prober(struct emp_api *api, struct emp_prober *prober)
{
    if (api != NULL)
        atomic_store(&api->prober, prober);
}

int emp_api_port(const struct emp_api *api)
{
    if (api == NULL || api->daemon == NULL)
        return -1;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info != NULL ? (int)info->port : -1;
}

void emp_api_stop(struct emp_api *api)
{
    if (api == NULL)
        return;
    /* The workers first: each answers its request and resumes its
     * connection (MHD must not stop with one suspended); requests handed
     * over from now on are refused at once. */
    api_work_close(api->work);
    if (api->daemon != NULL)
        MHD_stop_daemon(api->daemon);
    api_work_free(api->work);
    /* After the daemon: it has closed (and told of) every connection. */
    api_deadline_stop(api);
    api_status_stop(api);
    free(api->web_dir);
    pthread_mutex_destroy(&api->status_mu);
    pthread_mutex_destroy(&api->write_mu);
    api_status_copy_free(api);
    free(api);
}
