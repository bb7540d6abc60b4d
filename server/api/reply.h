/* What every handler of the API sees: the server's context, the request,
 * and the reply helpers and query-window parser (api/reply.c). The router
 * (api/router.c) and the handlers (api/handlers.h) build on this; it
 * depends on neither. Not a public header. */
#ifndef EMP_API_REPLY_H
#define EMP_API_REPLY_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "store/db.h"
#include "probes/state.h"

struct emp_prober;
struct api_deadline;
struct api_work;

struct emp_api {
    struct MHD_Daemon *daemon;
    atomic_bool running;       /* set once the daemon has started */
    const struct emp_config *cfg; /* borrowed; may be NULL */
    struct emp_api_limits limits; /* cfg's, or the defaults */
    /* Where target changes go (borrowed; NULL until emp_api_set_prober:
     * then the write endpoints answer 503). */
    struct emp_prober *_Atomic prober;
    /* One target change at a time, so that the store and the prober see
     * changes in the same order. */
    pthread_mutex_t write_mu;
    struct api_deadline *deadline; /* owned (api/deadline.c) */
    struct api_work *work;         /* owned: what may wait on the store runs there */
    struct emp_state *state;       /* borrowed */
    struct emp_db_pool *pool;      /* borrowed */
    char *web_dir;                 /* owned: realpath of the status page's files, or NULL */
    /* GET /api/v1/status (all groups, and each group) as sent, reused for a
     * few seconds: one response queued for every request that it answers
     * (MHD counts its users), so the body is neither copied nor rebuilt
     * per request. */
    pthread_mutex_t status_mu;
    struct api_status_copy *status_copy; /* owned, or NULL (api/status.c) */
    int64_t status_at_us;
    /* Its refresher thread (api/status.c), under status_mu. */
    pthread_t status_thread;
    pthread_cond_t status_cv;
    bool status_thread_on, status_stop, status_busy;
    bool status_warm;          /* compute once now, wanted or not */
    bool status_store_away;    /* the last computation could not reach the store */
    int64_t status_wanted_us;  /* last time someone asked; 0: never */
    int64_t status_tried_us;   /* last computation started; 0: never */
};

/* A reply kept for MHD to send once it calls again (the request was
 * answered on a worker while its connection was suspended). */
struct api_out {
    struct MHD_Response *resp; /* our reference; NULL: none yet */
    unsigned status;
};

/* How long a request that needs the store may take, from its arrival: a
 * frozen database meets it with 503 in this time. */
#define API_DB_DEADLINE_MS EMP_DB_POOL_CALL_MS

/* One request, on the stack of the MHD thread that serves it, or kept
 * with its suspended connection while a worker answers it. */
struct api_req {
    struct emp_api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    char name[EMP_NAME_MAX + 1]; /* the {name} path segment, validated */
    int64_t now_us;              /* wall clock when the request arrived */
    unsigned status;             /* of the reply, for the access log */
    const char *body;            /* the request body of a route that takes
                                    one (borrowed), or NULL */
    size_t body_len;
    bool authorized;             /* a valid bearer token was presented */
    /* Answered on a worker (api/work.h): the reply goes to `out`, and the
     * store must answer by until_mono_us (emp_mono_us time). */
    bool on_worker;
    struct api_out *out;
    int64_t until_mono_us;
    bool defer;                  /* set by api_defer */
    bool retried;                /* back on the MHD thread after a worker
                                    deferred it: it may not defer again */
};

typedef enum MHD_Result (*api_handler)(struct api_req *r);

/* On an MHD thread: ask for the request to be answered on a worker, the
 * handler called again there (r->on_worker set): for a handler that could
 * answer from memory and found it must ask the store. On a worker: ask for
 * the handler to be called once more on the MHD thread (r->retried set),
 * to serve what the worker prepared and only that thread may queue. */
enum MHD_Result api_defer(struct api_req *r);

/* Queue `resp` (the caller's reference, taken: NULL means "could not
 * build it") with `status`; on a worker it is kept in r->out. */
enum MHD_Result api_queue(struct api_req *r, unsigned status, struct MHD_Response *resp);

/* Reply with `body` (stolen; NULL means "could not build it": 500). */
enum MHD_Result api_reply(struct api_req *r, unsigned status, json_t *body);

/* Reply with `text` (stolen, NUL-terminated; NULL means out of memory:
 * 500) as `content_type`. */
enum MHD_Result api_reply_text(struct api_req *r, unsigned status, const char *content_type,
                               char *text);

/* A response of `text` (stolen; NULL gives NULL) as `content_type`, with
 * the headers of every reply, to be queued any number of times with
 * api_reply_shared; MHD_destroy_response drops the caller's reference. */
struct MHD_Response *api_response_new(char *text, const char *content_type);

/* Queue `resp` (borrowed: MHD takes a reference of its own). Only on an
 * MHD thread: a worker cannot take a reference. */
enum MHD_Result api_reply_shared(struct api_req *r, unsigned status, struct MHD_Response *resp);

/* The value of query parameter `key`, or NULL (borrowed from MHD). */
const char *api_query(struct api_req *r, const char *key);

/* Reply {"error":{"code","message"}}. */
enum MHD_Result api_error(struct api_req *r, unsigned status, const char *code,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* api_reply and api_error with one more header (`name`: `value`). */
enum MHD_Result api_reply_header(struct api_req *r, unsigned status, json_t *body,
                                 const char *name, const char *value);
enum MHD_Result api_error_header(struct api_req *r, unsigned status, const char *code,
                                 const char *name, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Reply for a failed store call: 404 for EMP_ENOTFOUND, 503 when the
 * database is unreachable (db NULL or broken), 500 otherwise. Logs the
 * detail; never shows it to the client. */
/* 405 with `Allow: allow`. */
enum MHD_Result api_error_allow(struct api_req *r, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum MHD_Result api_db_error(struct api_req *r, struct emp_db *db, enum emp_err code,
                             const struct emp_error *err, const char *what);

/* A connection from the pool into `*db` (give it back with
 * emp_db_pool_put): true, or false after queueing 503 (500 when out of
 * memory) in `*ret`. */
bool api_db_get(struct api_req *r, struct emp_db **db, enum MHD_Result *ret);

/* Which vantage point a figure is for: ?location=NAME (1 to
 * EMP_LOCATION_MAX bytes) alone, else every location combined by the
 * configured quorum. True, or false after queueing 400 in `*ret`. */
struct emp_view;
bool api_view(struct api_req *r, struct emp_view *v, enum MHD_Result *ret);
/* api_db_error for emp_view_history_load: a location no prober is in is
 * 404 naming it. */
enum MHD_Result api_view_error(struct api_req *r, struct emp_db *db, const struct emp_view *v,
                               enum emp_err code, const struct emp_error *err,
                               const char *what);

/* The [from, to) window from the query string: RFC 3339 or Unix seconds,
 * `to` defaults to now and `from` to `to` - 30 days. Returns 0, or -1 with
 * a message for a 400 in `msg`. */
#define API_DEFAULT_WINDOW_US (INT64_C(30) * 86400 * 1000000)
int api_window(struct api_req *r, int64_t *from_us, int64_t *to_us, char *msg,
               size_t msgsz);

/* New JSON values (new references; NULL on allocation failure). */
json_t *api_json_time(int64_t us);          /* RFC 3339 string */
json_t *api_json_seconds(int64_t us);       /* real seconds */
json_t *api_json_real(double v);            /* null when not finite */
json_t *api_json_text(const char *s, size_t max); /* at most max bytes,
                                                     invalid UTF-8 replaced */

/* Bearer-token check of a write request (api/auth.c): true when the
 * request carries a valid token (r->authorized set); else a reply has been
 * queued in `*ret`: 401 with `WWW-Authenticate: Bearer`, the same for a
 * missing, malformed, unknown or wrong token; 503 when the store that
 * holds the tokens is unreachable. */
bool api_authorize(struct api_req *r, enum MHD_Result *ret);

#endif
