/* Fuzz target: the API's path and parameter handling as a client reaches
 * it — the router's pattern matching and {name} capture, percent-decoding
 * (libmicrohttpd's), the query parameters each handler reads (from, to,
 * format, window, window_s, group) and the static files' path checks —
 * through the real daemon (emp_api_start) on a loopback port, over one
 * kept-alive connection. The router is static in api.c and reached only
 * through MHD. The first byte picks the method (and whether a body is
 * sent), the rest is the request target; bytes a request line cannot hold
 * raw are sent percent-escaped, so any decoded byte can reach the router.
 * There is no database (a libpq connection to a socket that does not
 * exist fails at once): every reply must be one of the documented
 * statuses, each JSON reply must parse, each error must have the
 * {"error":{"code","message"}} shape, and a file served must be one of the
 * status page's (nothing from outside the web directory). */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "api/api.h"
#include "api/handlers.h"
#include "config/config.h"
#include "store/db.h"
#include "fuzz.h"
#include "core/log.h"
#include "probes/kinds.h"
#include "probes/state.h"
#include "core/timeutil.h"

/* A request without any reply for this long is a failure. */
#define STALL_MS 5000
#define REPLY_MAX (4 << 20)

static const char config_text[] =
    "{\"targets\":["
    "{\"name\":\"web\",\"kind\":\"http\",\"url\":\"http://127.0.0.1:1/\",\"group\":\"front\"},"
    "{\"name\":\"db.main\",\"kind\":\"postgres\",\"conninfo\":\"host=/nonexistent\"},"
    "{\"name\":\"cache_1\",\"kind\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":1,"
    "\"group\":\"front\"}],"
    "\"slas\":[{\"name\":\"gold\",\"objective\":99.9,\"groups\":[\"front\"]}]}";

static const char *const methods[] = {"GET", "GET", "GET", "HEAD", "POST", "DELETE", "OPTIONS",
                                      "PUT"};

#define WEB_FILES_MAX 64

struct web_file {
    char *p;
    size_t n;
};

static struct {
    struct web_file web[WEB_FILES_MAX]; /* the files the daemon may serve */
    size_t n_web;
    struct emp_config *cfg;
    struct emp_state state;
    struct emp_db_pool *pool;
    struct emp_api *api;
    int port;
    int fd; /* the kept-alive connection, or -1 */
    char *reply;
} g = {.fd = -1};

static void stop(void)
{
    if (g.fd >= 0)
        close(g.fd);
    emp_api_stop(g.api);
    emp_db_pool_free(g.pool);
    emp_state_cleanup(&g.state);
    emp_config_free(g.cfg);
    free(g.reply);
    for (size_t i = 0; i < g.n_web; i++)
        free(g.web[i].p);
}

static int add_web_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    FUZZ_CHECK(g.n_web < WEB_FILES_MAX);
    struct web_file *f = &g.web[g.n_web++];
    f->n = (size_t)st->st_size;
    f->p = malloc(f->n + 1);
    FILE *in = fopen(path, "rb");
    FUZZ_CHECK(f->p != NULL && in != NULL && fread(f->p, 1, f->n, in) == f->n);
    fclose(in);
    return 0;
}

static bool is_web_file(const char *body, size_t n)
{
    for (size_t i = 0; i < g.n_web; i++)
        if (g.web[i].n == n && memcmp(g.web[i].p, body, n) == 0)
            return true;
    return false;
}

static void start(void)
{
    /* Failed database calls are logged at error level: one line per
     * request would drown the fuzzer's own output. */
    emp_log_threshold = (enum emp_log_level)(EMP_LOG_ERROR + 1);
    struct emp_error err;
    FUZZ_CHECK(emp_config_load_string(config_text, "fuzz-api.json", &emp_probe_kinds, &g.cfg,
                                      stderr, NULL) == EMP_OK);
    FUZZ_CHECK(emp_state_init(&g.state, g.cfg, NULL) == 0);
    int64_t now = emp_now_us();
    emp_state_update(&g.state, 0, EMP_TS_UP, now - 60 * EMP_US_PER_S, now);
    emp_state_update(&g.state, 1, EMP_TS_DOWN, now - 5 * EMP_US_PER_S, now);
    FUZZ_CHECK(emp_db_pool_new("host=/nonexistent-empiric-fuzz connect_timeout=1", 2, &g.pool,
                               &err) == EMP_OK);
    FUZZ_CHECK(emp_api_start("127.0.0.1", 0, g.cfg, &g.state, g.pool, &g.api, &err) == EMP_OK);
    g.port = emp_api_port(g.api);
    FUZZ_CHECK(g.port > 0);
    g.reply = malloc(REPLY_MAX + 1);
    FUZZ_CHECK(g.reply != NULL);
    char *web = api_static_web_dir(); /* the directory the daemon serves */
    FUZZ_CHECK(web == NULL || nftw(web, add_web_file, 8, FTW_PHYS) == 0);
    free(web);
    atexit(stop);
}

/* Wait until g.fd has `events` (POLLIN, POLLOUT), up to `ms`; false when
 * the time ran out. libFuzzer's SIGALRM (its -timeout clock) interrupts
 * system calls: that is not the server being slow. */
static bool wait_for(short events, int ms)
{
    int64_t until = emp_mono_us() + (int64_t)ms * EMP_US_PER_MS;
    for (;;) {
        struct pollfd p = {.fd = g.fd, .events = events};
        int64_t left_ms = (until - emp_mono_us()) / EMP_US_PER_MS;
        int r = poll(&p, 1, left_ms > 0 ? (int)left_ms : 0);
        if (r > 0)
            return true;
        if (r == 0 || errno != EINTR)
            return false;
    }
}

static void connect_api(void)
{
    g.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(g.fd >= 0);
    int one = 1;
    setsockopt(g.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Closed with a reset, not FIN: thousands of closes a second would
     * otherwise leave every local port in TIME_WAIT. */
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(g.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(g.fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc != 0 && errno == EINTR) {
        /* Interrupted, the connection goes on being made: wait for it. */
        int err = 0;
        socklen_t n = sizeof err;
        rc = wait_for(POLLOUT, STALL_MS) &&
                     getsockopt(g.fd, SOL_SOCKET, SO_ERROR, &err, &n) == 0 && err == 0
                 ? 0
                 : -1;
        errno = err != 0 ? err : ETIMEDOUT;
    }
    if (rc != 0) {
        fprintf(stderr, "could not connect to the API: %s\n", strerror(errno));
        FUZZ_CHECK(!"connected");
    }
}

/* False when the server has closed the connection. */
static bool send_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = send(g.fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

enum got { GOT_REPLY, GOT_CLOSED, GOT_NOTHING };

/* Read more of the reply into g.reply at *len: GOT_REPLY when some came,
 * GOT_CLOSED when the server closed the connection, GOT_NOTHING when it
 * said nothing for STALL_MS. */
static enum got recv_more(size_t *len)
{
    if (!wait_for(POLLIN, STALL_MS))
        return GOT_NOTHING;
    FUZZ_CHECK(*len < REPLY_MAX);
    ssize_t k = recv(g.fd, g.reply + *len, REPLY_MAX - *len, 0);
    if (k < 0 && errno == EINTR)
        return GOT_REPLY; /* nothing yet: the caller asks again */
    if (k <= 0)
        return GOT_CLOSED;
    *len += (size_t)k;
    g.reply[*len] = '\0';
    return GOT_REPLY;
}

/* The value of header `name` in the head [head, end), or NULL; *n its length. */
static const char *header(const char *head, const char *end, const char *name, size_t *n)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL && p + 2 < end;
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) != 0 || line[nl] != ':')
            continue;
        const char *v = line + nl + 1;
        while (*v == ' ')
            v++;
        const char *e = strstr(v, "\r\n");
        *n = (size_t)(e - v);
        return v;
    }
    return NULL;
}

static void check_error_body(const json_t *body)
{
    const json_t *e = json_object_get(body, "error");
    FUZZ_CHECK(json_is_object(e) && json_object_size(e) == 2);
    FUZZ_CHECK(json_is_string(json_object_get(e, "code")));
    FUZZ_CHECK(json_is_string(json_object_get(e, "message")));
}

/* Read one reply to a request made with `method` and check it. Returns
 * GOT_CLOSED or GOT_NOTHING when none of it came (the caller decides),
 * else GOT_REPLY. */
static enum got read_reply(const char *method)
{
    size_t len = 0;
    char *end = NULL;
    g.reply[0] = '\0';
    while (end == NULL) {
        enum got got = recv_more(&len);
        if (got != GOT_REPLY) {
            FUZZ_CHECK(len == 0); /* never half a reply */
            return got;
        }
        end = strstr(g.reply, "\r\n\r\n");
    }
    end += 4;
    unsigned status = 0;
    FUZZ_CHECK(sscanf(g.reply, "HTTP/1.1 %3u ", &status) == 1);
    size_t n = 0;
    const char *cl = header(g.reply, end, "Content-Length", &n);
    FUZZ_CHECK(cl != NULL);
    size_t body_len = strtoul(cl, NULL, 10);
    bool head = strcmp(method, "HEAD") == 0;
    size_t want = (size_t)(end - g.reply) + (head ? 0 : body_len);
    FUZZ_CHECK(want <= REPLY_MAX);
    while (len < want)
        FUZZ_CHECK(recv_more(&len) == GOT_REPLY);
    FUZZ_CHECK(len == want); /* nothing after the reply: one request, one reply */

    const char *conn = header(g.reply, end, "Connection", &n);
    bool closing = conn != NULL && strncasecmp(conn, "close", 5) == 0;
    switch (status) {
    case 200: case 201: case 400: case 401: case 404: case 405: case 409: case 503:
        break;
    case 413: case 414: case 431: case 501: case 505:
        /* Refused before the router (by MHD, or a body over the cap). */
        FUZZ_CHECK(closing);
        break;
    default:
        fprintf(stderr, "unexpected status %u:\n%s\n", status, g.reply);
        FUZZ_CHECK(!"unexpected status");
    }
    if (status == 405)
        FUZZ_CHECK(header(g.reply, end, "Allow", &n) != NULL);
    const char *ct = header(g.reply, end, "Content-Type", &n);
    bool is_json = ct != NULL && strncmp(ct, "application/json", 16) == 0;
    if (is_json && !head) {
        json_error_t je;
        json_t *body = json_loadb(end, body_len, 0, &je);
        if (body == NULL)
            fprintf(stderr, "not JSON (%s):\n%s\n", je.text, g.reply);
        FUZZ_CHECK(body != NULL);
        if (status >= 400)
            check_error_body(body);
        json_decref(body);
    }
    /* A 200 that is not the API's own (JSON, a badge, the metrics) is a
     * file of the status page. */
    if (status == 200 && !is_json && !head && ct != NULL &&
        strncmp(ct, "image/svg+xml", 13) != 0 && strncmp(ct, "text/plain; version=0.0.4", 25) != 0)
        FUZZ_CHECK(is_web_file(end, body_len));
    /* Errors from the router are JSON; MHD's own refusals are not, nor is
     * the static files' 405 (an empty body with its Allow). */
    if (status == 400 || status == 401 || status == 404 || status == 409 || status == 503)
        FUZZ_CHECK(is_json || closing);
    if (closing) {
        close(g.fd);
        g.fd = -1;
    }
    return GOT_REPLY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g.api == NULL)
        start();
    if (size == 0)
        return 0;
    const char *method = methods[data[0] & 7];
    bool body = (data[0] & 8) != 0 && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
    data++;
    size--;

    /* Request line and headers; the target percent-escapes what a request
     * line cannot carry raw. */
    char *req = malloc(3 * size + 256);
    FUZZ_CHECK(req != NULL);
    size_t o = (size_t)sprintf(req, "%s ", method);
    if (size == 0)
        req[o++] = '/';
    for (size_t i = 0; i < size; i++) {
        if (data[i] <= 0x20 || data[i] == 0x7f)
            o += (size_t)sprintf(req + o, "%%%02X", data[i]);
        else
            req[o++] = (char)data[i];
    }
    o += (size_t)sprintf(req + o, " HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n%s",
                         body ? "Content-Type: application/json\r\nContent-Length: 2\r\n" : "",
                         body ? "{}" : "");
    bool fresh = false;
    for (;;) {
        if (g.fd < 0) {
            connect_api();
            fresh = true;
        }
        enum got got = send_all(req, o) ? read_reply(method) : GOT_CLOSED;
        if (got == GOT_REPLY)
            break;
        if (got == GOT_NOTHING) {
            fprintf(stderr, "no reply in %d ms on %s connection to: %.*s\n", STALL_MS,
                    fresh ? "a new" : "a kept", (int)strcspn(req, "\r"), req);
            FUZZ_CHECK(!"a request left without a reply");
        }
        /* Closed without a reply: normal for a kept connection the server
         * had closed; on a new one, a handler gave up (MHD_NO). */
        FUZZ_CHECK(!fresh);
        close(g.fd);
        g.fd = -1;
    }
    free(req);
    return 0;
}
