/* The HTTP API daemon and router: libmicrohttpd with a thread pool, a static
 * routing table {method, path pattern, handler}, JSON replies and errors.
 * A request without a body is answered on the second call to the access
 * handler (when MHD has all of it, so that the connection can be kept), one
 * with a body on the first; nothing outlives the answer but the response
 * buffer, which MHD frees. */
#include "api_internal.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define API_THREADS 4
#define API_CONNECTION_LIMIT 1024
#define API_PER_IP_LIMIT 64
#define API_TIMEOUT_S 10
#define API_MEMORY_LIMIT (64 * 1024)
#define CONTENT_TYPE_JSON "application/json; charset=utf-8"

/* ---- JSON values ------------------------------------------------------ */

json_t *api_json_time(int64_t us)
{
    char buf[EMP_TIME_BUFSZ];
    return json_string(emp_time_format(us, buf));
}

json_t *api_json_seconds(int64_t us)
{
    return json_real((double)us / (double)EMP_US_PER_S);
}

json_t *api_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *api_json_text(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    json_t *j = json_stringn(s, n);
    if (j != NULL)
        return j;
    /* Not UTF-8 (a probe can quote anything a target sent): keep the ASCII
     * and mark the rest. */
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    j = json_stringn(copy, n);
    free(copy);
    return j;
}

/* ---- replies ---------------------------------------------------------- */

/* The headers every reply carries; false when one could not be added. */
static bool add_headers(struct MHD_Response *resp, const char *content_type, const char *allow)
{
    return MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) ==
               MHD_YES &&
           MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") ==
               MHD_YES &&
           (allow == NULL ||
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) == MHD_YES);
}

/* A response of `len` bytes of `text` (stolen) with those headers, or NULL
 * (text freed). */
static struct MHD_Response *response_new(char *text, size_t len, const char *content_type,
                                         const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return NULL;
    }
    if (!add_headers(resp, content_type, allow)) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

/* Bodies from this size on are kept in a memory file rather than a buffer:
 * MHD then sends them with sendfile(2), which hands the kernel the pages
 * instead of copying the body into the socket for every request. */
#define SHARED_FILE_MIN (64 * 1024)

/* A response of the `len` bytes of `text` (borrowed) from a memory file,
 * or NULL. */
static struct MHD_Response *file_response_new(const char *text, size_t len,
                                              const char *content_type)
{
    int fd = memfd_create("empiric-reply", MFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    struct MHD_Response *resp = done == len ? MHD_create_response_from_fd64(len, fd) : NULL;
    if (resp == NULL) {
        close(fd);
        return NULL;
    }
    if (!add_headers(resp, content_type, NULL)) {
        MHD_destroy_response(resp); /* closes fd */
        return NULL;
    }
    return resp;
}

struct MHD_Response *api_response_new(char *text, const char *content_type)
{
    if (text == NULL)
        return NULL;
    size_t len = strlen(text);
    struct MHD_Response *resp =
        len >= SHARED_FILE_MIN ? file_response_new(text, len, content_type) : NULL;
    if (resp != NULL) {
        free(text);
        return resp;
    }
    return response_new(text, len, content_type, NULL);
}

enum MHD_Result api_reply_shared(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    if (ret == MHD_YES)
        r->status = status;
    return ret;
}

static enum MHD_Result send_typed(struct api_req *r, unsigned status, char *text,
                                  const char *content_type, const char *allow)
{
    struct MHD_Response *resp = response_new(text, strlen(text), content_type, allow);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    r->status = status;
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_body(struct api_req *r, unsigned status, char *text,
                                 const char *allow)
{
    return send_typed(r, status, text, CONTENT_TYPE_JSON, allow);
}

enum MHD_Result api_reply_text(struct api_req *r, unsigned status, const char *content_type,
                               char *text)
{
    if (text == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    return send_typed(r, status, text, content_type, NULL);
}

const char *api_query(struct api_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Reals with 15 significant digits (DBL_DIG): exact to the microsecond for
 * durations up to 31 years, without binary noise such as 6000.0029320000003. */
static enum MHD_Result reply_full(struct api_req *r, unsigned status, json_t *body,
                                  const char *allow)
{
    char *text =
        body != NULL ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(body);
    if (text == NULL) {
        emp_errorf("could not build response", "path=%s", r->path);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        allow = NULL;
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        text = strdup(fallback);
        if (text == NULL)
            return MHD_NO;
    }
    return send_body(r, status, text, allow);
}

enum MHD_Result api_reply(struct api_req *r, unsigned status, json_t *body)
{
    return reply_full(r, status, body, NULL);
}

static enum MHD_Result verror(struct api_req *r, unsigned status, const char *code,
                              const char *allow, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *body = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message",
                             api_json_text(msg, sizeof msg));
    return reply_full(r, status, body, allow);
}

enum MHD_Result api_error(struct api_req *r, unsigned status, const char *code,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = verror(r, status, code, NULL, fmt, ap);
    va_end(ap);
    return ret;
}

static enum MHD_Result error_allow(struct api_req *r, const char *allow,
                                   const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result error_allow(struct api_req *r, const char *allow,
                                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret =
        verror(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", allow, fmt, ap);
    va_end(ap);
    return ret;
}

enum MHD_Result api_db_error(struct api_req *r, struct emp_db *db, enum emp_err code,
                             const struct emp_error *err, const char *what)
{
    char q1[300], q2[600];
    const char *msg = err != NULL ? err->msg : "";
    const char *detail = err != NULL ? err->detail : "";
    if (code == EMP_ENOTFOUND)
        return api_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such target: %s", r->name);
    if (db == NULL || !emp_db_ok(db) || code == EMP_EAGAIN) {
        emp_warn("database unavailable", "path=%s op=%s error=%s detail=%s", r->path, what,
                 emp_log_quote(q1, sizeof q1, msg), emp_log_quote(q2, sizeof q2, detail));
        return api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                         "the database is unavailable; try again later");
    }
    emp_errorf("database query failed", "path=%s op=%s error=%s detail=%s", r->path, what,
               emp_log_quote(q1, sizeof q1, msg), emp_log_quote(q2, sizeof q2, detail));
    return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "could not %s", what);
}

/* ---- the query window ------------------------------------------------- */

/* Years 0000..9999, what RFC 3339 can write: keeps window arithmetic far
 * from int64 limits. */
#define TIME_MIN_US (INT64_C(-62167219200) * EMP_US_PER_S)
#define TIME_MAX_US (INT64_C(253402300800) * EMP_US_PER_S)

/* 1 when `key` was given (its value in *us), 0 when absent, -1 when bad. */
static int time_arg(struct api_req *r, const char *key, int64_t *us, char *msg,
                    size_t msgsz)
{
    const char *v = NULL;
    size_t len = 0;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
                                      &len) != MHD_YES)
        return 0;
    char buf[64];
    if (v == NULL || len == 0 || len >= sizeof buf || memchr(v, '\0', len) != NULL) {
        snprintf(msg, msgsz, "%s: expected an RFC 3339 time or Unix seconds", key);
        return -1;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    /* An unescaped '+' in a query string arrives as a space: read a space in
     * the offset part ("...:00 01:00") as the '+' it was. */
    for (size_t i = 19; i < len; i++)
        if (buf[i] == ' ')
            buf[i] = '+';
    enum emp_err e = emp_time_parse(buf, us);
    if (e == EMP_OK && (*us < TIME_MIN_US || *us >= TIME_MAX_US))
        e = EMP_ERANGE;
    if (e != EMP_OK) {
        char q[80];
        snprintf(msg, msgsz, "%s: expected an RFC 3339 time or Unix seconds%s, got %s", key,
                 e == EMP_ERANGE ? " in years 0000 to 9999" : "",
                 emp_log_quote(q, sizeof q, buf));
        return -1;
    }
    return 1;
}

int api_window(struct api_req *r, int64_t *from_us, int64_t *to_us, char *msg,
               size_t msgsz)
{
    int64_t from = 0, to = 0;
    int has_to = time_arg(r, "to", &to, msg, msgsz);
    if (has_to < 0)
        return -1;
    int has_from = time_arg(r, "from", &from, msg, msgsz);
    if (has_from < 0)
        return -1;
    if (has_to == 0)
        to = r->now_us;
    if (has_from == 0)
        from = to - API_DEFAULT_WINDOW_US;
    if (from >= to) {
        char a[EMP_TIME_BUFSZ], b[EMP_TIME_BUFSZ];
        snprintf(msg, msgsz, "from (%s) must be before to (%s)", emp_time_format(from, a),
                 emp_time_format(to, b));
        return -1;
    }
    *from_us = from;
    *to_us = to;
    return 0;
}

/* ---- routing ---------------------------------------------------------- */

static enum MHD_Result get_healthz(struct api_req *r)
{
    return api_reply(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

struct route {
    const char *method;
    const char *pattern; /* segments; "{name}" captures a target name */
    api_handler handler;
};

static const struct route routes[] = {
    {"GET", "/healthz", get_healthz},
    {"GET", "/api/v1/targets", api_get_targets},
    {"GET", "/api/v1/targets/{name}/outages", api_get_outages},
    {"GET", "/api/v1/targets/{name}/uptime", api_get_uptime},
    {"GET", "/api/v1/targets/{name}/sla", api_get_sla},
    {"GET", "/api/v1/targets/{name}/reliability", api_get_reliability},
    {"GET", "/api/v1/groups", api_get_groups},
    {"GET", "/api/v1/groups/{name}/correlation", api_get_correlation},
    {"GET", "/api/v1/groups/{name}/reliability", api_get_group_reliability},
    {"GET", "/metrics", api_get_metrics},
    {"GET", "/api/v1/status", api_get_status},
    {"GET", "/api/v1/openapi.json", api_get_openapi},
    {"GET", "/badge/{name}.svg", api_get_badge_uptime},
    {"GET", "/badge/{name}/state.svg", api_get_badge_state},
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

static enum MHD_Result route(struct api_req *r)
{
    /* HEAD is GET without the body (MHD drops it). */
    const char *method = strcmp(r->method, MHD_HTTP_METHOD_HEAD) == 0 ? MHD_HTTP_METHOD_GET
                                                                       : r->method;
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
        if (strcmp(routes[i].method, method) == 0)
            return routes[i].handler(r);
        size_t used = strlen(allow);
        snprintf(allow + used, sizeof allow - used, "%s%s%s", used ? ", " : "",
                 routes[i].method,
                 strcmp(routes[i].method, MHD_HTTP_METHOD_GET) == 0 ? ", HEAD" : "");
    }
    if (path_known)
        return error_allow(r, allow, "method %.32s is not allowed here; allowed: %s",
                           r->method, allow);
    /* No API route: the status page's files (api_static.c). */
    if (strcmp(r->path, "/") == 0 || strcmp(r->path, "/index.html") == 0 ||
        strncmp(r->path, "/static/", 8) == 0)
        return api_get_static(r);
    return api_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such resource");
}

/* Markers for *req_cls: the request has been answered; its headers have
 * been seen and it has no body, so the answer comes with the next call. */
static char answered, headers_seen;

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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    (void)upload_data;
    if (*req_cls == &answered) {
        /* A body we did not ask for: discard it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* A response queued on the first call, while MHD still counts the
     * request as being received, makes MHD close the connection after it.
     * Without a body, answer on the second call instead, once the request
     * is complete, so that the client may keep the connection for the next
     * request (a browser's page and its calls, a load test). A request with
     * a body is still answered at once: nothing here reads bodies. */
    if (*req_cls == NULL && !has_body(conn)) {
        *req_cls = &headers_seen;
        return MHD_YES;
    }
    *req_cls = &answered;
    struct api_req r = {
        .api = cls,
        .conn = conn,
        .method = method != NULL ? method : "",
        .path = url != NULL ? url : "",
        .now_us = emp_now_us(),
    };
    int64_t t0 = emp_mono_us();
    enum MHD_Result ret = route(&r);
    if (emp_log_threshold <= EMP_LOG_DEBUG) {
        char qp[300];
        emp_debug("http request", "method=%.16s path=%s status=%u duration_ms=%.3f",
                  r.method, emp_log_quote(qp, sizeof qp, r.path), r.status,
                  (double)(emp_mono_us() - t0) / 1000.0);
    }
    return ret;
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
    api->state = state;
    api->pool = pool;
    atomic_init(&api->running, false);
    api->web_dir = api_static_web_dir(); /* NULL: no page, the API still serves */
    pthread_mutex_init(&api->status_mu, NULL);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
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
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)API_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONNECTION_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)API_PER_IP_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_MEMORY_LIMIT,
        MHD_OPTION_END);
    if (api->daemon == NULL) {
        int e = errno;
        free(api->web_dir);
        pthread_mutex_destroy(&api->status_mu);
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
    if (api->daemon != NULL)
        MHD_stop_daemon(api->daemon);
    api_status_stop(api);
    free(api->web_dir);
    pthread_mutex_destroy(&api->status_mu);
    api_status_copy_free(api);
    free(api);
}
