/* An open-loop HTTP load driver for the throughput benchmark: issues GETs
 * at a fixed rate, spread evenly in time, over a pool of keep-alive
 * connections to one server (Prometheus blackbox_exporter's /probe, say),
 * cycling the target port that the path names. Open loop means a slow
 * server does not slow the schedule: requests wait for a free connection,
 * new connections are opened up to a cap, and a request still unsent a
 * second after its due time is dropped and counted, so an overloaded server
 * shows as a shortfall instead of a quietly lower rate.
 *
 * Over the measurement window (after the warm-up) it reads the CPU time and
 * peak RSS of a watched process from /proc, so that the server's cost per
 * request comes out of the same window as the request count.
 *
 * usage: bench_driver PORT RATE WARMUP_S SECONDS PATH FIRST_PORT COUNT
 *                     [WATCH_PID=0] [MAX_CONNS=1024] [EXPECT=""]
 * PATH may contain %PORT%, replaced by FIRST_PORT + (request mod COUNT).
 * A response counts as ok when its status is 200 and, with EXPECT, its
 * body contains EXPECT (blackbox answers 200 with "probe_success 0" on a
 * failed probe). Prints one line of key=value figures; exit 0 when it ran. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define RESP_CAP (256 * 1024) /* a blackbox answer is ~2 KiB */
#define DROP_AFTER_NS 1000000000LL

struct conn {
    int fd;
    bool connected, busy;
    int64_t due_ns, sent_ns; /* of the request in flight */
    char *buf;
    size_t len;
};

struct driver {
    int epfd, port;
    double rate;
    const char *path, *expect;
    int first_port, count;
    struct conn *conns;
    int n_conns, n_connecting, max_conns;
    int *idle, n_idle;   /* stack of connected connections without a request */
    int64_t start_ns, w0_ns, w1_ns, end_ns;
    uint64_t next_req;   /* requests [next_req, due) are waiting to be sent */
    /* figures over the window */
    uint64_t done, ok, fail, dropped, conn_errors;
    int64_t *lag, *lat;  /* per completed request in the window, ns */
    char *scratch;       /* a de-chunked body */
    size_t n_samples, cap_samples;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_self_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of `pid` in seconds, or -1 when it cannot be read. */
static double cpu_of_s(long pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command name may hold spaces: fields count from the last ')'. */
    char *p = strrchr(text, ')');
    if (p == NULL)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long hwm_kib(long pid)
{
    char path[64], line[256];
    long kib = 0;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int64_t due_of(const struct driver *d, uint64_t k)
{
    return d->start_ns + (int64_t)((double)k * 1e9 / d->rate);
}

static void idle_push(struct driver *d, struct conn *c)
{
    d->idle[d->n_idle++] = (int)(c - d->conns);
}

static void idle_remove(struct driver *d, struct conn *c)
{
    int i = (int)(c - d->conns);
    for (int k = 0; k < d->n_idle; k++) {
        if (d->idle[k] == i) {
            d->idle[k] = d->idle[--d->n_idle];
            return;
        }
    }
}

static void conn_close(struct driver *d, struct conn *c)
{
    if (c->fd < 0)
        return;
    close(c->fd); /* leaves the epoll set with it */
    c->fd = -1;
    if (c->connected && !c->busy)
        idle_remove(d, c);
    if (!c->connected)
        d->n_connecting--;
    c->connected = false;
    c->busy = false;
    c->len = 0;
    d->n_conns--;
}

static int conn_open(struct driver *d, struct conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->connected = false;
    c->busy = false;
    c->len = 0;
    d->n_conns++;
    d->n_connecting++;
    return 0;
}

static bool in_window(const struct driver *d, int64_t t)
{
    return t >= d->w0_ns && t < d->w1_ns;
}

static void send_request(struct driver *d, struct conn *c, uint64_t k, int64_t now)
{
    char path[512], req[1024];
    char port[16];
    snprintf(port, sizeof port, "%d", d->first_port + (int)(k % (uint64_t)d->count));
    /* Substitute %PORT% (at most a few times; the template is ours). */
    const char *s = d->path;
    size_t o = 0;
    while (*s != '\0' && o + 16 < sizeof path) {
        if (strncmp(s, "%PORT%", 6) == 0) {
            o += (size_t)snprintf(path + o, sizeof path - o, "%s", port);
            s += 6;
        } else {
            path[o++] = *s++;
        }
    }
    path[o] = '\0';
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "User-Agent: empiric-bench-driver\r\nAccept: */*\r\n\r\n",
                     path, d->port);
    c->busy = true;
    c->due_ns = due_of(d, k);
    c->sent_ns = now;
    c->len = 0;
    /* A request of a few hundred bytes fits an empty socket buffer. */
    if (write(c->fd, req, (size_t)n) != n) {
        if (in_window(d, now))
            d->fail++;
        conn_close(d, c);
    }
}

/* A complete response in c->buf? Returns its length, 0 when more is needed,
 * -1 when it cannot be parsed. Sets *status, *close_after, and *hlen and
 * *chunked for body_contains(). */
static long response_length(const struct conn *c, int *status, bool *close_after,
                            size_t *hlen_out, bool *chunked_out)
{
    const char *b = c->buf;
    const char *eoh = memmem(b, c->len, "\r\n\r\n", 4);
    if (eoh == NULL)
        return c->len >= RESP_CAP ? -1 : 0;
    size_t hlen = (size_t)(eoh - b) + 4;
    if (sscanf(b, "HTTP/1.%*d %d", status) != 1)
        return -1;
    *close_after = false;
    long clen = -1;
    bool chunked = false;
    for (const char *l = strstr(b, "\r\n") + 2; l < eoh; l = strstr(l, "\r\n") + 2) {
        const char *eol = strstr(l, "\r\n");
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            clen = strtol(l + 15, NULL, 10);
        else if (strncasecmp(l, "Transfer-Encoding:", 18) == 0 && strstr(l, "chunked") != NULL &&
                 strstr(l, "chunked") < eol)
            chunked = true;
        else if (strncasecmp(l, "Connection:", 11) == 0 && strstr(l, "close") != NULL &&
                 strstr(l, "close") < eol)
            *close_after = true;
    }
    *hlen_out = hlen;
    *chunked_out = chunked;
    if (!chunked) {
        if (clen < 0)
            return -1; /* no keep-alive framing we can use */
        return c->len >= hlen + (size_t)clen ? (long)(hlen + (size_t)clen) : 0;
    }
    size_t p = hlen;
    for (;;) {
        const char *e = memmem(b + p, c->len - p, "\r\n", 2);
        if (e == NULL)
            return 0;
        long sz = strtol(b + p, NULL, 16);
        if (sz < 0)
            return -1;
        p = (size_t)(e - b) + 2;
        if (sz == 0) /* no trailers from the servers we drive */
            return c->len >= p + 2 ? (long)(p + 2) : 0;
        if (c->len < p + (size_t)sz + 2)
            return 0;
        p += (size_t)sz + 2;
    }
}

/* Whether the body of the complete response (len bytes) contains `needle`,
 * chunks joined first: a needle may straddle a chunk boundary. */
static bool body_contains(const struct conn *c, size_t hlen, size_t len, bool chunked,
                          const char *needle, char *scratch)
{
    const char *body = c->buf + hlen;
    size_t blen = len - hlen;
    if (chunked) {
        size_t p = hlen, o = 0;
        while (p < len) {
            const char *e = memmem(c->buf + p, len - p, "\r\n", 2);
            if (e == NULL)
                break;
            long sz = strtol(c->buf + p, NULL, 16);
            p = (size_t)(e - c->buf) + 2;
            if (sz <= 0 || p + (size_t)sz > len)
                break;
            memcpy(scratch + o, c->buf + p, (size_t)sz);
            o += (size_t)sz;
            p += (size_t)sz + 2;
        }
        body = scratch;
        blen = o;
    }
    return memmem(body, blen, needle, strlen(needle)) != NULL;
}

static void on_readable(struct driver *d, struct conn *c, int64_t now)
{
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, RESP_CAP - c->len);
        if (r > 0) {
            c->len += (size_t)r;
            c->buf[c->len] = '\0'; /* the parser uses string functions */
            if (c->len < RESP_CAP)
                continue;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && errno == EAGAIN) {
            break;
        }
        if (r <= 0 || c->len >= RESP_CAP) {
            /* Closed, failed or oversized: whatever was in flight failed. */
            if (c->busy && in_window(d, now))
                d->fail++;
            if (r < 0)
                d->conn_errors++;
            conn_close(d, c); /* EOF on an idle one: the server's keep-alive ended */
            return;
        }
    }
    if (!c->busy)
        return;
    int status = 0;
    bool close_after = false, chunked = false;
    size_t hlen = 0;
    long len = response_length(c, &status, &close_after, &hlen, &chunked);
    if (len == 0)
        return;
    bool ok = len > 0 && status == 200 &&
              (d->expect[0] == '\0' ||
               body_contains(c, hlen, (size_t)len, chunked, d->expect, d->scratch));
    if (in_window(d, now)) {
        d->done++;
        if (ok)
            d->ok++;
        else
            d->fail++;
        if (d->n_samples < d->cap_samples) {
            d->lag[d->n_samples] = c->sent_ns - c->due_ns;
            d->lat[d->n_samples] = now - c->sent_ns;
            d->n_samples++;
        }
    }
    if (len < 0 || close_after) {
        conn_close(d, c);
        return;
    }
    c->busy = false;
    c->len = 0; /* no pipelining: nothing follows the response */
    idle_push(d, c);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(int64_t *v, size_t n, int p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_i64);
    return (double)v[(n - 1) * (size_t)p / 100] / 1e6;
}

int main(int argc, char **argv)
{
    long port, rate, warmup, seconds, first, count, watch = 0, max_conns = 1024;
    if (argc < 8 || !parse_long(argv[1], 1, 65535, &port) ||
        !parse_long(argv[2], 1, 1000000, &rate) || !parse_long(argv[3], 0, 600, &warmup) ||
        !parse_long(argv[4], 1, 600, &seconds) || !parse_long(argv[6], 1, 65535, &first) ||
        !parse_long(argv[7], 1, 65535, &count) ||
        (argc > 8 && !parse_long(argv[8], 0, 1L << 22, &watch)) ||
        (argc > 9 && !parse_long(argv[9], 1, 65536, &max_conns))) {
        fprintf(stderr, "usage: bench_driver PORT RATE WARMUP_S SECONDS PATH FIRST_PORT COUNT "
                        "[WATCH_PID] [MAX_CONNS] [EXPECT]\n");
        return 2;
    }
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
        if ((rlim_t)max_conns + 16 > nofile.rlim_cur)
            max_conns = (long)nofile.rlim_cur - 16;
    }
    struct driver d = {
        .port = (int)port, .rate = (double)rate, .path = argv[5], .expect = argc > 10 ? argv[10] : "",
        .first_port = (int)first, .count = (int)count, .max_conns = (int)max_conns,
    };
    d.epfd = epoll_create1(EPOLL_CLOEXEC);
    d.conns = calloc((size_t)max_conns, sizeof *d.conns);
    d.idle = calloc((size_t)max_conns, sizeof *d.idle);
    d.scratch = malloc(RESP_CAP);
    d.cap_samples = (size_t)rate * (size_t)seconds + 1024;
    d.lag = malloc(d.cap_samples * sizeof *d.lag);
    d.lat = malloc(d.cap_samples * sizeof *d.lat);
    if (d.epfd < 0 || d.conns == NULL || d.idle == NULL || d.scratch == NULL || d.lag == NULL || d.lat == NULL) {
        perror("bench_driver");
        return 1;
    }
    for (long i = 0; i < max_conns; i++) {
        d.conns[i].fd = -1;
        d.conns[i].buf = NULL;
    }
    d.start_ns = mono_ns();
    d.w0_ns = d.start_ns + warmup * 1000000000LL;
    d.w1_ns = d.w0_ns + seconds * 1000000000LL;
    d.end_ns = d.w1_ns;
    double cpu0 = 0, wcpu0 = 0, cpu1 = 0, wcpu1 = 0;
    bool in_w = false;
    struct epoll_event evs[256];

    for (;;) {
        int64_t now = mono_ns();
        if (!in_w && now >= d.w0_ns) {
            in_w = true;
            cpu0 = cpu_self_s();
            wcpu0 = watch ? cpu_of_s(watch) : 0;
        }
        if (now >= d.end_ns)
            break;
        /* Requests due by now: drop those waiting too long, send the rest
         * on idle connections, open connections for what is left. */
        uint64_t due_n = (uint64_t)((double)(now - d.start_ns) * d.rate / 1e9) + 1;
        while (d.next_req < due_n && now - due_of(&d, d.next_req) > DROP_AFTER_NS) {
            if (in_window(&d, due_of(&d, d.next_req)))
                d.dropped++;
            d.next_req++;
        }
        while (d.next_req < due_n && d.n_idle > 0)
            send_request(&d, &d.conns[d.idle[--d.n_idle]], d.next_req++, now);
        long want = (long)(due_n - d.next_req) - d.n_connecting;
        for (int i = 0; i < d.max_conns && want > 0 && d.n_conns < d.max_conns; i++) {
            struct conn *c = &d.conns[i];
            if (c->fd >= 0)
                continue;
            if (c->buf == NULL && (c->buf = malloc(RESP_CAP + 1)) == NULL)
                break;
            if (conn_open(&d, c) < 0) {
                d.conn_errors++;
                break;
            }
            want--;
        }
        int64_t next_due = due_of(&d, due_n);
        int64_t wait = next_due - mono_ns();
        if (d.next_req < due_n) /* waiting for connections: poll often */
            wait = wait < 1000000 ? wait : 1000000;
        if (wait < 0)
            wait = 0;
        struct timespec to = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
        int n = epoll_pwait2(d.epfd, evs, 256, &to, NULL);
        if (n < 0 && errno != EINTR) {
            perror("epoll_pwait2");
            return 1;
        }
        now = mono_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (!c->connected && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                    d.conn_errors++;
                    conn_close(&d, c);
                    continue;
                }
                c->connected = true;
                d.n_connecting--;
                idle_push(&d, c);
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(&d, c, now);
        }
    }
    cpu1 = cpu_self_s();
    wcpu1 = watch ? cpu_of_s(watch) : 0;
    double window = (double)(d.w1_ns - d.w0_ns) / 1e9;
    size_t ns = d.n_samples;
    double lag50 = pct_ms(d.lag, ns, 50), lag99 = pct_ms(d.lag, ns, 99);
    double lat50 = pct_ms(d.lat, ns, 50), lat99 = pct_ms(d.lat, ns, 99);
    printf("driver window_s=%.3f scheduled=%.0f done=%llu ok=%llu fail=%llu dropped=%llu "
           "conn_errors=%llu conns=%d lag_p50_ms=%.3f lag_p99_ms=%.3f latency_p50_ms=%.3f "
           "latency_p99_ms=%.3f driver_cpu_s=%.3f watched_cpu_s=%.3f watched_hwm_kib=%ld\n",
           window, d.rate * window, (unsigned long long)d.done, (unsigned long long)d.ok,
           (unsigned long long)d.fail, (unsigned long long)d.dropped,
           (unsigned long long)d.conn_errors, d.n_conns, lag50, lag99, lat50, lat99, cpu1 - cpu0,
           watch ? wcpu1 - wcpu0 : 0.0, watch ? hwm_kib(watch) : 0L);
    for (long i = 0; i < max_conns; i++) {
        if (d.conns[i].fd >= 0)
            close(d.conns[i].fd);
        free(d.conns[i].buf);
    }
    free(d.conns);
    free(d.idle);
    free(d.scratch);
    free(d.lag);
    free(d.lat);
    close(d.epfd);
    return 0;
}
