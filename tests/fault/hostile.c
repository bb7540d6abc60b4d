/* hostile: a target that misbehaves on purpose, for Empiric's tests and
 * benchmark of hostile targets (issue 6). Each behaviour has its own port on
 * 127.0.0.1; a DNS server that never answers can listen on a loopback
 * address's port 53 (for a prober run in a mount namespace whose
 * resolv.conf names it). Nothing leaves loopback.
 *
 * Usage: hostile [--max-seconds N] [--max-conns N] [--conn-max-ms N]
 *                [--dns-addr auto|A.B.C.D]
 *
 * Once listening it prints one line, `ok=PORT endless_body=PORT ... dns=ADDR`
 * (dns=none without --dns-addr), and it stops by itself after --max-seconds
 * (default 60) or on SIGTERM/SIGINT, printing `stopped` with what it served.
 * Behaviours, after reading the request head:
 *   ok               200 "ok"; GET /stats answers the counts so far as JSON
 *   endless_body     200 with a body that never ends (no length: read to
 *                    close); /length declares Content-Length: 1 TB instead
 *   endless_chunked  200 with a chunked body that never ends
 *   trickle_headers  the response head one byte a second, never finished
 *   huge_headers     100 MB of header lines (about 1 KB each), then a body;
 *                    /line sends them as one 100 MB header line
 *   invalid_http     not HTTP: a broken status line; /binary sends binary
 *                    junk, /version "HTTP/9.7", /length a negative
 *                    Content-Length
 *   tls_garbage      reads the TLS ClientHello, answers 16 KiB of random
 *                    bytes
 *   rst_mid          a 200 head promising 50,000 bytes (under a probe's
 *                    64 KiB cap), 16 KiB of them, then a TCP RST
 *   hang             accepts, reads the request, never answers
 *   dns (UDP, TCP)   reads queries and never answers
 * Every connection ends within --conn-max-ms (default 30000) or at the stop,
 * whichever is first; at most --max-conns (default 512) at once, more are
 * reset. One thread per connection; the main thread owns the listeners. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "faultio.h"

#define REQ_MAX 16384
#define REQ_TIMEOUT_MS 5000
#define HUGE_HEADER_BYTES (100LL * 1000 * 1000)
#define RST_BODY_SENT (16 * 1024)
#define GARBAGE_BYTES (16 * 1024)
#define CONN_STACK (256 * 1024)

enum behaviour {
    B_OK, B_ENDLESS_BODY, B_ENDLESS_CHUNKED, B_TRICKLE_HEADERS, B_HUGE_HEADERS,
    B_INVALID_HTTP, B_TLS_GARBAGE, B_RST_MID, B_HANG, B_DNS_TCP, B_COUNT
};

/* Listeners with a port of their own, in the printed order (DNS apart). */
#define B_PORTS B_DNS_TCP

static const char *const names[B_COUNT] = {
    "ok", "endless_body", "endless_chunked", "trickle_headers", "huge_headers",
    "invalid_http", "tls_garbage", "rst_mid", "hang", "dns_tcp",
};

/* Shared by the main thread and the connection threads; only atomics
 * change after start. */
struct ctx {
    atomic_int stopping;
    atomic_int conns;
    atomic_long accepted[B_COUNT];
    atomic_long reset_over_limit;
    atomic_long dns_queries;
    int64_t conn_max_ns;
};

/* One accepted connection; owned and freed by its thread. */
struct conn {
    struct ctx *ctx;
    int fd;
    enum behaviour b;
    int64_t deadline_ns; /* monotonic: the connection ends by then */
};

static bool over(const struct conn *c)
{
    return atomic_load(&c->ctx->stopping) || fault_mono_ns() >= c->deadline_ns;
}

/* Sleep up to ms unless the connection must end. */
static void pause_ms(const struct conn *c, int ms)
{
    int64_t until = fault_mono_ns() + (int64_t)ms * 1000000;
    fault_wait_until(&c->ctx->stopping, until < c->deadline_ns ? until : c->deadline_ns);
}

/* Send all of buf; false when the peer went, or the connection must end. */
static bool send_all(const struct conn *c, const void *buf, size_t len)
{
    return fault_send_all(c->fd, buf, len, &c->ctx->stopping, c->deadline_ns);
}

static bool send_str(const struct conn *c, const char *s)
{
    return send_all(c, s, strlen(s));
}

/* Read up to `len` bytes, waiting at most REQ_TIMEOUT_MS; returns the
 * count, 0 at EOF or when the connection must end. */
static size_t recv_some(const struct conn *c, void *buf, size_t len)
{
    int64_t until = fault_mono_ns() + REQ_TIMEOUT_MS * 1000000LL;
    while (!over(c) && fault_mono_ns() < until) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, FAULT_TICK_MS) <= 0)
            continue;
        ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);
        if (n > 0)
            return (size_t)n;
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            return 0;
    }
    return 0;
}

/* The request's path ("/" when it has none we can read). */
static void request_path(const char *req, char *path, size_t size)
{
    const char *sp = strchr(req, ' ');
    snprintf(path, size, "/");
    if (sp == NULL)
        return;
    size_t n = strcspn(sp + 1, " \r\n");
    if (n == 0 || n >= size)
        return;
    memcpy(path, sp + 1, n);
    path[n] = '\0';
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void serve_ok(const struct conn *c, const char *path)
{
    char body[1024];
    if (strcmp(path, "/stats") == 0) {
        struct ctx *x = c->ctx;
        int n = snprintf(body, sizeof body, "{");
        for (int b = 0; b < B_COUNT; b++)
            n += snprintf(body + n, sizeof body - (size_t)n, "\"%s\":%ld,", names[b],
                          atomic_load(&x->accepted[b]));
        snprintf(body + n, sizeof body - (size_t)n,
                 "\"dns_queries\":%ld,\"reset_over_limit\":%ld}\n",
                 atomic_load(&x->dns_queries), atomic_load(&x->reset_over_limit));
    } else {
        snprintf(body, sizeof body, "ok\n");
    }
    char head[160];
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n", strlen(body));
    if (send_str(c, head))
        send_str(c, body);
}

static void serve_endless_body(const struct conn *c, const char *path)
{
    bool declared = strcmp(path, "/length") == 0;
    if (!send_str(c, declared ? "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n"
                              : "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"))
        return;
    char chunk[16384];
    memset(chunk, 'x', sizeof chunk);
    while (send_all(c, chunk, sizeof chunk))
        ;
}

static void serve_endless_chunked(const struct conn *c)
{
    if (!send_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
        return;
    char chunk[8192 + 16];
    int n = snprintf(chunk, sizeof chunk, "2000\r\n");
    memset(chunk + n, 'x', 8192);
    memcpy(chunk + n + 8192, "\r\n", 2);
    while (send_all(c, chunk, (size_t)n + 8192 + 2))
        ;
}

static void serve_trickle(const struct conn *c)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nX-Trickle: ";
    for (size_t i = 0; !over(c); i++) {
        char byte = i < sizeof head - 1 ? head[i] : 'a';
        if (!send_all(c, &byte, 1))
            return;
        pause_ms(c, 1000);
    }
}

static void serve_huge_headers(const struct conn *c, const char *path)
{
    if (!send_str(c, "HTTP/1.1 200 OK\r\n"))
        return;
    bool one_line = strcmp(path, "/line") == 0;
    /* A block of whole header lines, or of one line's filler. */
    char block[64 * 1000];
    size_t len = 0;
    if (one_line) {
        if (!send_str(c, "X-Huge: "))
            return;
        memset(block, 'h', sizeof block);
        len = sizeof block;
    } else {
        for (int i = 0; len + 1000 <= sizeof block; i++) {
            int n = snprintf(block + len, sizeof block - len, "X-Filler-%04d: ", i);
            memset(block + len + (size_t)n, 'h', 1000 - (size_t)n - 2);
            memcpy(block + len + 998, "\r\n", 2);
            len += 1000;
        }
    }
    for (int64_t sent = 0; sent < HUGE_HEADER_BYTES; sent += (int64_t)len)
        if (!send_all(c, block, len))
            return;
    send_str(c, one_line ? "\r\nContent-Length: 3\r\n\r\nok\n" : "Content-Length: 3\r\n\r\nok\n");
}

static void serve_invalid(const struct conn *c, const char *path)
{
    if (strcmp(path, "/binary") == 0) {
        uint64_t s = (uint64_t)fault_mono_ns() | 1;
        unsigned char junk[4096];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (unsigned char)(xorshift(&s) & 0xff);
        junk[0] = 0; /* never a letter a parser could take for "HTTP" */
        send_all(c, junk, sizeof junk);
    } else if (strcmp(path, "/version") == 0) {
        send_str(c, "HTTP/9.7 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    } else if (strcmp(path, "/length") == 0) {
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nok\n");
    } else {
        send_str(c, "HTTP/1.1 two hundred OK\r\nContent-Length: 3\r\n\r\nok\n");
    }
}

/* Read one TLS record (the ClientHello), then answer random bytes. The
 * record is read whole: closing with unread input would reset the
 * connection, which is another behaviour. */
static void serve_tls_garbage(const struct conn *c)
{
    unsigned char rec[5 + 16384 + 2048];
    size_t got = 0, want = 5;
    while (got < want) {
        size_t n = recv_some(c, rec + got, want - got);
        if (n == 0)
            return;
        got += n;
        if (got == 5 && want == 5)
            want = 5 + (((size_t)rec[3] << 8) | rec[4]);
        if (want > sizeof rec)
            return;
    }
    uint64_t s = (uint64_t)fault_mono_ns() ^ ((uint64_t)(uintptr_t)c << 1) ^ 0x9e3779b97f4a7c15ULL;
    unsigned char junk[GARBAGE_BYTES];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(xorshift(&s) & 0xff);
    send_all(c, junk, sizeof junk);
}

/* Returns true when it closed the connection itself (with a reset). */
static bool serve_rst_mid(const struct conn *c)
{
    if (!send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n"))
        return false;
    char part[RST_BODY_SENT];
    memset(part, 'r', sizeof part);
    if (!send_all(c, part, sizeof part))
        return false;
    pause_ms(c, 50); /* let the client read what came before the reset */
    fault_close_rst(c->fd);
    return true;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct ctx *ctx = c->ctx;
    char req[REQ_MAX];
    char path[256] = "/";
    bool closed = false;
    bool http = c->b != B_TLS_GARBAGE && c->b != B_DNS_TCP;
    if (http && !fault_read_request(c->fd, req, sizeof req, &ctx->stopping, REQ_TIMEOUT_MS))
        goto out;
    if (http)
        request_path(req, path, sizeof path);
    switch (c->b) {
    case B_OK: serve_ok(c, path); break;
    case B_ENDLESS_BODY: serve_endless_body(c, path); break;
    case B_ENDLESS_CHUNKED: serve_endless_chunked(c); break;
    case B_TRICKLE_HEADERS: serve_trickle(c); break;
    case B_HUGE_HEADERS: serve_huge_headers(c, path); break;
    case B_INVALID_HTTP: serve_invalid(c, path); break;
    case B_TLS_GARBAGE: serve_tls_garbage(c); break;
    case B_RST_MID: closed = serve_rst_mid(c); break;
    case B_HANG: case B_DNS_TCP: fault_hold_silent(c->fd, &ctx->stopping, c->deadline_ns); break;
    case B_COUNT: break;
    }
out:
    if (!closed) {
        /* An orderly close: what the client still sends is drained, so
         * that the close is a FIN, not a reset. */
        shutdown(c->fd, SHUT_WR);
        int64_t until = fault_mono_ns() + 1000000000LL;
        fault_hold_silent(c->fd, &ctx->stopping, until < c->deadline_ns ? until : c->deadline_ns);
        close(c->fd);
    }
    free(c);
    atomic_fetch_sub(&ctx->conns, 1);
    return NULL;
}

/* The DNS listeners (UDP and TCP port 53) on `want`, or with "auto" on the
 * first free address of 127.53.N.1, N counted from the pid. Fills addr
 * (text). Returns 0, or -1 with a message printed. */
static int open_dns(const char *want, int fds[2], char *addr, size_t size)
{
    bool any = strcmp(want, "auto") == 0;
    int tries = any ? 256 : 1;
    int e = 0;
    for (int i = 0; i < tries; i++) {
        struct in_addr a;
        if (any)
            snprintf(addr, size, "127.53.%d.1", (int)((getpid() + i) % 256));
        else
            snprintf(addr, size, "%s", want);
        if (inet_pton(AF_INET, addr, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
            fprintf(stderr, "hostile: --dns-addr: expected a 127.x.y.z address, got \"%s\"\n",
                    want);
            return -1;
        }
        int port = 53;
        fds[0] = fault_listen(SOCK_DGRAM, a.s_addr, &port);
        if (fds[0] < 0) {
            e = errno;
            continue;
        }
        port = 53;
        fds[1] = fault_listen(SOCK_STREAM, a.s_addr, &port);
        if (fds[1] >= 0)
            return 0;
        e = errno;
        close(fds[0]);
        fds[0] = -1;
    }
    fprintf(stderr, "hostile: could not listen on %s port 53: %s\n", any ? "127.53.*.1" : want,
            strerror(e));
    return -1;
}

static void accept_some(struct ctx *ctx, int lfd, enum behaviour b, int max_conns,
                        const pthread_attr_t *attr)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return;
        atomic_fetch_add(&ctx->accepted[b], 1);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = NULL;
        if (atomic_load(&ctx->conns) >= max_conns || (c = malloc(sizeof *c)) == NULL) {
            atomic_fetch_add(&ctx->reset_over_limit, 1);
            fault_close_rst(fd);
            continue;
        }
        *c = (struct conn){.ctx = ctx, .fd = fd, .b = b,
                           .deadline_ns = fault_mono_ns() + ctx->conn_max_ns};
        if (!fault_start_thread(attr, conn_main, c, &ctx->conns)) {
            free(c);
            fault_close_rst(fd);
        }
    }
}

static void drop_queries(struct ctx *ctx, int ufd)
{
    char buf[1500];
    while (recv(ufd, buf, sizeof buf, MSG_DONTWAIT) >= 0)
        atomic_fetch_add(&ctx->dns_queries, 1);
}

static void usage(void)
{
    fprintf(stderr, "usage: hostile [--max-seconds N] [--max-conns N] [--conn-max-ms N]\n"
                    "               [--dns-addr auto|A.B.C.D]\n");
}

int main(int argc, char **argv)
{
    static struct ctx ctx;
    int rc = 1;
    int64_t max_seconds = 60, max_conns = 512, conn_max_ms = 30000;
    const char *dns_want = NULL;
    int lfd[B_PORTS + 1]; /* + the DNS TCP listener */
    int port[B_PORTS];
    int ufd = -1, sfd = -1;
    char dns_addr[32] = "none";
    pthread_attr_t attr;
    bool attr_ok = false;
    for (int b = 0; b <= B_PORTS; b++)
        lfd[b] = -1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "hostile: %s: missing value\n", a);
            usage();
            return 2;
        }
        i++;
        bool ok = true;
        if (strcmp(a, "--max-seconds") == 0)
            ok = fault_parse_i64(v, 1, 3600, &max_seconds);
        else if (strcmp(a, "--max-conns") == 0)
            ok = fault_parse_i64(v, 1, 4096, &max_conns);
        else if (strcmp(a, "--conn-max-ms") == 0)
            ok = fault_parse_i64(v, 100, 3600000, &conn_max_ms);
        else if (strcmp(a, "--dns-addr") == 0)
            dns_want = v;
        else {
            fprintf(stderr, "hostile: unknown option %s\n", a);
            usage();
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "hostile: %s: out of range or not an integer: \"%s\"\n", a, v);
            return 2;
        }
    }
    atomic_init(&ctx.stopping, 0);
    ctx.conn_max_ns = conn_max_ms * 1000000LL;

    /* Signals come through a signalfd; connection threads inherit the mask
     * (SIGPIPE included, though every send says MSG_NOSIGNAL). */
    sfd = fault_signalfd();
    if (sfd < 0 || fault_thread_attr(&attr, CONN_STACK) != 0) {
        fprintf(stderr, "hostile: could not set up: %s\n", strerror(errno));
        goto out;
    }
    attr_ok = true;

    for (int b = 0; b < B_PORTS; b++) {
        port[b] = 0;
        lfd[b] = fault_listen(SOCK_STREAM, htonl(INADDR_LOOPBACK), &port[b]);
        if (lfd[b] < 0) {
            fprintf(stderr, "hostile: could not listen on 127.0.0.1: %s\n", strerror(errno));
            goto out;
        }
    }
    if (dns_want != NULL) {
        int fds[2];
        if (open_dns(dns_want, fds, dns_addr, sizeof dns_addr) < 0) {
            rc = 3;
            goto out;
        }
        ufd = fds[0];
        lfd[B_PORTS] = fds[1];
    }
    for (int b = 0; b < B_PORTS; b++)
        printf("%s=%d ", names[b], port[b]);
    printf("dns=%s\n", dns_addr);
    fflush(stdout);

    int64_t stop_ns = fault_mono_ns() + max_seconds * 1000000000LL;
    bool signalled = false;
    while (!signalled) {
        int64_t left = stop_ns - fault_mono_ns();
        if (left <= 0)
            break;
        struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        struct pollfd p[B_PORTS + 3];
        p[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = ufd, .events = POLLIN};
        for (int b = 0; b <= B_PORTS; b++)
            p[2 + b] = (struct pollfd){.fd = lfd[b], .events = POLLIN};
        int r = ppoll(p, B_PORTS + 3, &ts, NULL);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "hostile: poll failed: %s\n", strerror(errno));
            goto out;
        }
        if (r <= 0)
            continue;
        if ((p[0].revents & POLLIN) && fault_stop_signalled(sfd))
            signalled = true;
        if (p[1].revents & POLLIN)
            drop_queries(&ctx, ufd);
        for (int b = 0; b <= B_PORTS; b++)
            if (p[2 + b].revents & POLLIN)
                accept_some(&ctx, lfd[b], b == B_PORTS ? B_DNS_TCP : (enum behaviour)b,
                            (int)max_conns, &attr);
    }
    printf("stopped");
    for (int b = 0; b < B_COUNT; b++)
        printf(" %s=%ld", names[b], atomic_load(&ctx.accepted[b]));
    printf(" dns_queries=%ld reset_over_limit=%ld\n", atomic_load(&ctx.dns_queries),
           atomic_load(&ctx.reset_over_limit));
    fflush(stdout);
    rc = 0;

out:
    atomic_store(&ctx.stopping, 1);
    for (int b = 0; b <= B_PORTS; b++)
        if (lfd[b] >= 0)
            close(lfd[b]);
    if (ufd >= 0)
        close(ufd);
    fault_wait_conns(&ctx.conns);
    if (attr_ok)
        pthread_attr_destroy(&attr);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
