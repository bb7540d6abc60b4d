/* The API's replies: JSON bodies and errors ({"error": {"code", "message"}}
 * with the right status), shared responses, database failures as 503 or
 * 500, and the query window (from, to) every reading endpoint takes. */
#include "api/reply.h"

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

#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "service/view.h"

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

/* One more header of a reply (Allow, WWW-Authenticate, Location), or
 * none. */
struct header {
    const char *name, *value;
};
static const struct header no_header = {NULL, NULL};

/* The headers every reply carries; false when one could not be added. */
static bool add_headers(struct MHD_Response *resp, const char *content_type, struct header h)
{
    return MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) ==
               MHD_YES &&
           MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") ==
               MHD_YES &&
           (h.name == NULL || MHD_add_response_header(resp, h.name, h.value) == MHD_YES);
}

/* A response of `len` bytes of `text` (stolen) with those headers, or NULL
 * (text freed). */
static struct MHD_Response *response_new(char *text, size_t len, const char *content_type,
                                         struct header h)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return NULL;
    }
    if (!add_headers(resp, content_type, h)) {
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
    if (!add_headers(resp, content_type, no_header)) {
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
    return response_new(text, len, content_type, no_header);
}

enum MHD_Result api_reply_shared(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
    EMP_ASSERT(r->out == NULL);
    if (r->out != NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    if (ret == MHD_YES)
        r->status = status;
    return ret;
}

enum MHD_Result api_queue(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
    if (resp == NULL)
        return MHD_NO;
    r->status = status;
    if (r->out != NULL) {
        if (r->out->resp != NULL)
            MHD_destroy_response(r->out->resp);
        r->out->resp = resp;
        r->out->status = status;
        return MHD_YES;
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result api_defer(struct api_req *r)
{
    r->defer = true;
    return MHD_YES;
}

static enum MHD_Result send_typed(struct api_req *r, unsigned status, char *text,
                                  const char *content_type, struct header h)
{
    return api_queue(r, status, response_new(text, strlen(text), content_type, h));
}

static enum MHD_Result send_body(struct api_req *r, unsigned status, char *text,
                                 struct header h)
{
    return send_typed(r, status, text, CONTENT_TYPE_JSON, h);
}

enum MHD_Result api_reply_text(struct api_req *r, unsigned status, const char *content_type,
                               char *text)
{
    if (text == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    return send_typed(r, status, text, content_type, no_header);
}

const char *api_query(struct api_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Reals with 15 significant digits (DBL_DIG): exact to the microsecond for
 * durations up to 31 years, without binary noise such as 6000.0029320000003. */
static enum MHD_Result reply_full(struct api_req *r, unsigned status, json_t *body,
                                  struct header h)
{
    char *text =
        body != NULL ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(body);
    if (text == NULL) {
        emp_errorf("could not build response", "path=%s", r->path);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        h = no_header;
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        text = strdup(fallback);
        if (text == NULL)
            return MHD_NO;
    }
    return send_body(r, status, text, h);
}

enum MHD_Result api_reply(struct api_req *r, unsigned status, json_t *body)
{
    return reply_full(r, status, body, no_header);
}

enum MHD_Result api_reply_header(struct api_req *r, unsigned status, json_t *body,
                                 const char *name, const char *value)
{
    return reply_full(r, status, body, (struct header){name, value});
}

static enum MHD_Result verror(struct api_req *r, unsigned status, const char *code,
                              struct header h, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *body = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message",
                             api_json_text(msg, sizeof msg));
    return reply_full(r, status, body, h);
}

enum MHD_Result api_error_header(struct api_req *r, unsigned status, const char *code,
                                 const char *name, const char *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = verror(r, status, code, (struct header){name, value}, fmt, ap);
    va_end(ap);
    return ret;
}

enum MHD_Result api_error(struct api_req *r, unsigned status, const char *code,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = verror(r, status, code, no_header, fmt, ap);
    va_end(ap);
    return ret;
}

enum MHD_Result api_error_allow(struct api_req *r, const char *allow, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = verror(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                                 (struct header){MHD_HTTP_HEADER_ALLOW, allow}, fmt, ap);
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

bool api_db_get(struct api_req *r, struct emp_db **db, enum MHD_Result *ret)
{
    struct emp_error err;
    emp_error_clear(&err);
    *db = NULL;
    enum emp_err e = emp_db_pool_get_until(r->api->pool, r->until_mono_us, db, &err);
    if (e == EMP_OK && *db != NULL)
        return true;
    *db = NULL;
    *ret = api_db_error(r, NULL, e != EMP_OK ? e : EMP_EDB, &err, "connect to the database");
    return false;
}

/* ---- the vantage point ------------------------------------------------ */

bool api_view(struct api_req *r, struct emp_view *v, enum MHD_Result *ret)
{
    *v = (struct emp_view)EMP_VIEW_DEFAULT;
    v->quorum = emp_view_quorum(r->api->cfg, r->name[0] != '\0' ? r->name : NULL);
    const char *loc = api_query(r, "location");
    if (loc == NULL)
        return true;
    size_t n = strlen(loc);
    if (n == 0 || n > EMP_LOCATION_MAX) {
        *ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                         "location: expected 1 to %d bytes, the location of a prober",
                         EMP_LOCATION_MAX);
        return false;
    }
    v->location = loc;
    return true;
}

enum MHD_Result api_view_error(struct api_req *r, struct emp_db *db, const struct emp_view *v,
                               enum emp_err code, const struct emp_error *err,
                               const char *what)
{
    if (code == EMP_ENOTFOUND && v->location != NULL)
        return api_error(r, MHD_HTTP_NOT_FOUND, "not_found", "%s", err->msg);
    return api_db_error(r, db, code, err, what);
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
