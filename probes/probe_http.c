/* HTTP probes through one libcurl multi handle driven by the probe loop with
 * curl_multi_socket_action: curl tells us which sockets to watch and when
 * its next timeout is; we never call a blocking curl function. Each target
 * keeps its easy handle across probes; a fresh connection per probe unless
 * the target sets "reuse". Name resolution uses curl's threaded resolver. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "config/parse.h"
#include "core/log.h"
#include "probes/policy.h"
#include "probes/probe.h"

/* Body and header bytes read per probe before it is failed: a health check
 * never needs more, and a hostile endless body must not cost memory or
 * time. */
#define BODY_CAP (64 * 1024)
#define HEADER_CAP (64 * 1024)

/* An http target's own keys. */
#define HTTP_MAX_EXPECT_STATUS 16
#define STATUS_MIN 100
#define STATUS_MAX 599
#define URL_EXPECTED "an http:// or https:// URL with a host"
struct http_spec {
    char *url; /* http:// or https:// with a host */
    int expect_status[HTTP_MAX_EXPECT_STATUS];
    size_t n_expect_status; /* 0 means any 2xx or 3xx */
    bool reuse;             /* keep the connection between probes */
};

struct sock {
    struct emp_io io;
    struct emp_http *h;
};

struct emp_http {
    struct emp_loop *loop;
    CURLM *multi;
    struct emp_timer timer;
    struct sock **socks;   /* by fd; kept until emp_http_free so that a stale
                              epoll event never touches freed memory */
    size_t n_socks;
    struct done_msg *done; /* completed transfers taken from curl, not yet
                              finished (check_done) */
    size_t done_cap;
    bool finishing;
    bool env_proxy;        /* the environment names a proxy (env_names_proxy) */
    bool drop_capath;      /* libcurl has a CA bundle and a CA directory (setup_easy) */
};

struct done_msg {
    CURL *easy;
    CURLcode rc;
};

struct easy_state {
    CURL *easy;
    CURLU *url;            /* parsed once; CURLOPT_URL is parsed again per probe */
    CURLSH *dns;           /* this target's own DNS cache (setup_easy) */
    struct emp_http *h;
    struct emp_probe *pr;
    size_t body_bytes, header_bytes;
    const char *over_cap;  /* "body_too_large" / "headers_too_large" */
    char errbuf[CURL_ERROR_SIZE];
    char refused[EMP_POLICY_WHY_MAX]; /* why the policy refused an address ("": none) */
};

static struct sock *sock_for(struct emp_http *h, int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= h->n_socks) {
        size_t n = h->n_socks ? h->n_socks : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct sock **s = realloc(h->socks, n * sizeof *s);
        if (s == NULL)
            return NULL;
        memset(s + h->n_socks, 0, (n - h->n_socks) * sizeof *s);
        h->socks = s;
        h->n_socks = n;
    }
    if (h->socks[fd] == NULL) {
        h->socks[fd] = calloc(1, sizeof(struct sock));
        if (h->socks[fd] == NULL)
            return NULL;
        h->socks[fd]->h = h;
    }
    return h->socks[fd];
}

static void check_done(struct emp_http *h);

static void on_sock(struct emp_io *io, uint32_t revents)
{
    struct sock *s = io->data;
    int mask = 0;
    if (revents & EPOLLIN)
        mask |= CURL_CSELECT_IN;
    if (revents & EPOLLOUT)
        mask |= CURL_CSELECT_OUT;
    if (revents & (EPOLLERR | EPOLLHUP))
        mask |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(s->h->multi, io->fd, mask, &running);
    check_done(s->h);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct emp_http *h = userp;
    struct sock *s = sock_for(h, fd);
    if (s == NULL)
        return -1;
    s->io.fd = fd;
    s->io.cb = on_sock;
    s->io.data = s;
    uint32_t ev = 0;
    switch (what) {
    case CURL_POLL_IN: ev = EPOLLIN; break;
    case CURL_POLL_OUT: ev = EPOLLOUT; break;
    case CURL_POLL_INOUT: ev = EPOLLIN | EPOLLOUT; break;
    case CURL_POLL_REMOVE: ev = 0; break;
    }
    if (ev == 0) {
        emp_loop_io_del(h->loop, &s->io);
        return 0;
    }
    return emp_loop_io_set(h->loop, &s->io, ev) == 0 ? 0 : -1;
}

static void on_timer(struct emp_timer *t)
{
    struct emp_http *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct emp_http *h = userp;
    if (timeout_ms < 0) {
        emp_loop_timer_stop(h->loop, &h->timer);
        return 0;
    }
    int64_t due = emp_loop_update_time(h->loop) + (int64_t)timeout_ms * 1000;
    return emp_loop_timer_start(h->loop, &h->timer, due) == 0 ? 0 : -1;
}

/* Whether the environment names a proxy that libcurl would use for an
 * http or https URL (it ignores HTTP_PROXY, but reading it too only means
 * falling back to libcurl's own rules). Empty values count as unset, as
 * libcurl counts them. */
static bool env_names_proxy(void)
{
    static const char *const names[] = {"http_proxy", "HTTP_PROXY", "https_proxy",
                                        "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v != NULL && v[0] != '\0')
            return true;
    }
    return false;
}

static struct emp_http *http_new(struct emp_loop *loop)
{
    struct emp_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->loop = loop;
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        free(h);
        return NULL;
    }
    h->timer.cb = on_timer;
    h->timer.data = h;
    h->env_proxy = env_names_proxy();
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    h->drop_capath = vi->age >= CURLVERSION_SEVENTH && vi->cainfo != NULL && vi->capath != NULL;
    /* Without an asynchronous resolver, curl would look names up inside
     * the loop and a slow DNS server would stall every probe. */
    if (!(vi->features & CURL_VERSION_ASYNCHDNS))
        emp_warn("libcurl has no asynchronous resolver; use IP addresses in http targets",
                 "curl=%s", vi->version);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return h;
}

static void http_free(void *shared)
{
    struct emp_http *h = shared;
    if (h == NULL)
        return;
    emp_loop_timer_stop(h->loop, &h->timer);
    curl_multi_cleanup(h->multi);
    for (size_t i = 0; i < h->n_socks; i++) {
        if (h->socks[i] != NULL)
            emp_loop_io_del(h->loop, &h->socks[i]->io);
        free(h->socks[i]);
    }
    free(h->socks);
    free(h->done);
    free(h);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    (void)data;
    struct easy_state *es = userp;
    size_t n = size * nmemb;
    es->body_bytes += n;
    if (es->body_bytes > BODY_CAP) {
        es->over_cap = "body_too_large";
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    (void)data;
    struct easy_state *es = userp;
    size_t n = size * nmemb;
    es->header_bytes += n;
    if (es->header_bytes > HEADER_CAP) {
        es->over_cap = "headers_too_large";
        return 0;
    }
    return n;
}

static bool status_expected(const struct http_spec *sp, long code)
{
    if (sp->n_expect_status == 0)
        return code >= 200 && code < 400;
    for (size_t i = 0; i < sp->n_expect_status; i++)
        if (sp->expect_status[i] == code)
            return true;
    return false;
}

/* Map a failed transfer to an error class and message. */
static void judge_failure(struct easy_state *es, CURLcode rc)
{
    struct emp_probe *pr = es->pr;
    const char *msg = es->errbuf[0] ? es->errbuf : curl_easy_strerror(rc);
    long os_errno = 0;
    curl_off_t lookup_us = -1;
    char *ip = NULL;
    switch (rc) {
    case CURLE_WRITE_ERROR:
        if (es->over_cap != NULL) {
            emp_probe_fail(pr, es->over_cap, "response over %d KiB cap",
                           (es->over_cap[0] == 'b' ? BODY_CAP : HEADER_CAP) / 1024);
            return;
        }
        emp_probe_fail(pr, "internal", "%s", msg);
        return;
    case CURLE_FILESIZE_EXCEEDED: /* a Content-Length over BODY_CAP */
        emp_probe_fail(pr, "body_too_large", "response over %d KiB cap", BODY_CAP / 1024);
        return;
    case CURLE_OUT_OF_MEMORY:
        /* libcurl refuses a single header line over CURL_MAX_HTTP_HEADER
         * (100 KiB) before the header callback sees it, and 7.88 says only
         * "Out of memory". After the status line and before any body, that
         * is what it means (a real allocation failure there would be
         * misnamed, a rare and harmless mistake). */
        if (es->header_bytes > 0 && es->body_bytes == 0) {
            emp_probe_fail(pr, "headers_too_large",
                           "a response header line over libcurl's %d KiB limit",
                           CURL_MAX_HTTP_HEADER / 1024);
            return;
        }
        emp_probe_fail(pr, "internal", "%s", msg);
        return;
    case CURLE_OPERATION_TIMEDOUT:
        pr->deadline_passed = true;
        /* No name-lookup time and no address tried (a kept connection has
         * one): the DNS never answered within the timeout. */
        if (curl_easy_getinfo(es->easy, CURLINFO_NAMELOOKUP_TIME_T, &lookup_us) == CURLE_OK &&
            curl_easy_getinfo(es->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
            lookup_us == 0 && (ip == NULL || ip[0] == '\0')) {
            emp_probe_fail(pr, "dns", "%s", msg);
            return;
        }
        emp_probe_fail(pr, "timeout", "%s", msg);
        return;
    case CURLE_COULDNT_RESOLVE_HOST:
        emp_probe_fail(pr, "dns", "%s", msg);
        return;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(es->easy, CURLINFO_OS_ERRNO, &os_errno);
        /* A listener closing during the handshake resets instead. */
        emp_probe_fail(pr,
                       os_errno == ECONNREFUSED  ? "refused"
                       : os_errno == ECONNRESET ? "reset"
                                                : "connect",
                       "%s", msg);
        return;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        emp_probe_fail(pr, "tls", "%s", msg);
        return;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        emp_probe_fail(pr, "reset", "%s", msg);
        return;
    case CURLE_UNSUPPORTED_PROTOCOL: /* "Received HTTP/0.9 when not allowed" */
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
        emp_probe_fail(pr, "protocol", "%s", msg);
        return;
    default:
        emp_probe_fail(pr, "internal", "%s", msg);
        return;
    }
}

static void finish(struct emp_http *h, CURL *easy, CURLcode rc)
{
    struct easy_state *es = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&es);
    curl_multi_remove_handle(h->multi, easy);
    struct emp_probe *pr = es->pr;
    pr->r.status = EMP_STATUS_OK;
    if (es->refused[0] != '\0') {
        /* Even when another address answered: the name led to a refused
         * one, which the operator should hear of. */
        char *host = NULL;
        curl_url_get(es->url, CURLUPART_HOST, &host, 0);
        emp_probe_fail(pr, EMP_POLICY_CLASS, "%s: %s", host != NULL ? host : "", es->refused);
        curl_free(host);
    } else if (rc != CURLE_OK) {
        judge_failure(es, rc);
    } else {
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        if (!status_expected(pr->cfg->spec, code))
            emp_probe_fail(pr, "http_status", "HTTP status %ld", code);
    }
    emp_probe_done(pr);
}

/* Finish every completed transfer. All of curl's messages are taken
 * before any transfer is finished: curl_multi_remove_handle searches the
 * messages still queued for the handle's own, so finishing them one by
 * one would cost the square of a burst (a thousand probes timing out in
 * the same millisecond). A done callback may start probes, never finish
 * other transfers, so the batch stays valid while it runs. */
static void check_done(struct emp_http *h)
{
    if (h->finishing)
        return; /* the outer call reads curl's queue again */
    h->finishing = true;
    for (;;) {
        size_t n = 0;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            if (n == h->done_cap) {
                size_t cap = h->done_cap ? h->done_cap * 2 : 64;
                struct done_msg *d = realloc(h->done, cap * sizeof *d);
                if (d == NULL) {
                    /* Without room, finish it now: slower, still right. */
                    finish(h, msg->easy_handle, msg->data.result);
                    continue;
                }
                h->done = d;
                h->done_cap = cap;
            }
            h->done[n++] = (struct done_msg){msg->easy_handle, msg->data.result};
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++)
            finish(h, h->done[i].easy, h->done[i].rc);
    }
    h->finishing = false;
}

/* Every socket curl opens for a target made through the API: refused
 * (curl then tries the next address, or fails the transfer) when the
 * policy refuses its address; the probe then fails (finish). */
static curl_socket_t open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    struct easy_state *es = userp;
    char why[EMP_POLICY_WHY_MAX];
    if (emp_policy_refuses(es->pr->cfg->policy, &a->addr, why) != NULL) {
        if (es->refused[0] == '\0')
            snprintf(es->refused, sizeof es->refused, "%s", why);
        return CURL_SOCKET_BAD;
    }
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

static enum emp_err setup_easy(struct easy_state *es, const struct emp_target_config *cfg)
{
    const struct http_spec *sp = cfg->spec;
    CURL *e = es->easy;
    long timeout = cfg->timeout_ms;
    /* The URL parsed once, with the flags http_parse validated it with;
     * given as text, libcurl would parse and print it again per probe. */
    es->url = curl_url();
    if (es->url == NULL)
        return EMP_ENOMEM;
    if (curl_url_set(es->url, CURLUPART_URL, sp->url, 0) != CURLUE_OK ||
        curl_easy_setopt(e, CURLOPT_CURLU, es->url) != CURLE_OK)
        return EMP_EINVAL;
    /* A DNS cache per target. The multi handle's shared cache is keyed by
     * host and port, so it holds an entry per target, and libcurl 7.x
     * walks all of it for expired entries at the end of every transfer:
     * at 10,000 targets that walk was most of a probe's CPU. Lookups and
     * their expiry stay as they were, per target instead of per process. */
    es->dns = curl_share_init();
    if (es->dns == NULL)
        return EMP_ENOMEM;
    if (curl_share_setopt(es->dns, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_easy_setopt(e, CURLOPT_SHARE, es->dns) != CURLE_OK)
        return EMP_ENOMEM;
    /* libcurl looks for proxy variables in the environment on every
     * transfer; when there are none, saying so once is the same. */
    if (!es->h->env_proxy) {
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    }
    /* A 4 KiB read buffer instead of libcurl's 16: each transfer in flight
     * holds one (a thousand at once when targets answer slowly), and a
     * health check's answer is small; a large one is read in more,
     * smaller pieces, against the same caps. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, es);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    /* Certificates from the CA bundle only, not also from the CA
     * directory: libcurl caches the store it builds from a bundle alone
     * (CURLOPT_CA_CACHE_TIMEOUT, per multi handle), but with a directory
     * as well (Debian's build names both) it parses the whole bundle again
     * for every TLS connection, 20-50 ms on the loop per https probe. The
     * bundle holds the directory's certificates (update-ca-certificates
     * writes both). */
    if (es->h->drop_capath)
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    /* A body declared over the cap fails at its head, unread. */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)BODY_CAP);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* When a lookup times out, forget its resolver thread instead of
     * joining it: without this, libcurl waits inside
     * curl_multi_socket_action until getaddrinfo gives up (resolv.conf's
     * timeouts, 5 s and more), and a DNS server that never answers stalls
     * every probe of the loop. The thread then ends on its own. */
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
#else
#warning "libcurl < 7.87 joins resolver threads: a silent DNS server stalls the probe loop"
#endif
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, es);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, es);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, es->errbuf);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "empiric-probe/" "0.1");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    if (!sp->reuse) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    if (cfg->policy != NULL) {
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, es);
    }
    return EMP_OK;
}

static enum emp_err http_start(struct emp_probe *pr, void *shared)
{
    struct emp_http *h = shared;
    struct easy_state *es = pr->kstate;
    if (es == NULL) {
        es = calloc(1, sizeof *es);
        if (es == NULL)
            return EMP_ENOMEM;
        es->easy = curl_easy_init();
        es->h = h;
        es->pr = pr;
        if (es->easy == NULL || setup_easy(es, pr->cfg) != EMP_OK) {
            if (es->easy)
                curl_easy_cleanup(es->easy);
            curl_share_cleanup(es->dns);
            curl_url_cleanup(es->url);
            free(es);
            return EMP_EINVAL;
        }
        pr->kstate = es;
    }
    es->body_bytes = 0;
    es->header_bytes = 0;
    es->over_cap = NULL;
    es->errbuf[0] = '\0';
    es->refused[0] = '\0';
    if (curl_multi_add_handle(h->multi, es->easy) != CURLM_OK)
        return EMP_EINVAL;
    pr->in_flight = true;
    return EMP_OK;
}

static void http_cancel(struct emp_probe *pr, void *shared)
{
    struct emp_http *h = shared;
    struct easy_state *es = pr->kstate;
    if (es == NULL)
        return;
    if (pr->in_flight)
        curl_multi_remove_handle(h->multi, es->easy);
    pr->in_flight = false;
    curl_easy_cleanup(es->easy);
    curl_share_cleanup(es->dns);
    curl_url_cleanup(es->url);
    free(es);
    pr->kstate = NULL;
}

/* ---- the kind ---------------------------------------------------------- */

/* Why `s` is not an acceptable probe URL, or NULL when it is. */
static const char *url_problem(struct emp_cfg *c, const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return "contains a space or control character";
    size_t skip = strncasecmp(s, "http://", 7) == 0    ? 7
                  : strncasecmp(s, "https://", 8) == 0 ? 8
                                                       : 0;
    if (skip == 0)
        return "scheme must be http:// or https://";
    /* curl reads "http:///x" as host "x"; we want the host where it is
     * written: between "//" (after any user@) and the first "/?#" or ":". */
    const char *auth = s + skip;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', auth_len);
    const char *host_at = at != NULL ? at + 1 : auth;
    if (host_at == auth + auth_len || *host_at == ':')
        return "missing host";
    CURLU *u = curl_url();
    if (u == NULL) {
        c->oom = true;
        return NULL;
    }
    const char *why = NULL;
    char *host = NULL, *port = NULL;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, s, 0);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        c->oom = true;
        goto out;
    }
    if (rc != CURLUE_OK) {
        why = curl_url_strerror(rc);
        goto out;
    }
    rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        c->oom = true;
        goto out;
    }
    if (rc != CURLUE_OK || host == NULL || host[0] == '\0') {
        why = "missing host";
        goto out;
    }
    rc = curl_url_get(u, CURLUPART_PORT, &port, 0);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        c->oom = true;
        goto out;
    }
    if (rc == CURLUE_OK && emp_cfg_parse_port(port, strlen(port)) < 0)
        why = "port must be from 1 to 65535";
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return why;
}

static void http_parse(struct emp_cfg *c, const json_t *t, const char *base, void **spec)
{
    struct http_spec *out = calloc(1, sizeof *out);
    if (out == NULL) {
        c->oom = true;
        return;
    }
    *spec = out;
    const char *s;
    enum emp_cfg_field f = emp_cfg_get_string(c, t, base, "url", URL_EXPECTED, &s);
    if (f == EMP_CFG_ABSENT) {
        emp_cfg_report_missing(c, base, "url", URL_EXPECTED);
    } else if (f == EMP_CFG_OK) {
        const char *why = url_problem(c, s);
        if (why != NULL)
            emp_cfg_report_value(c, t, base, "url", URL_EXPECTED, why);
        else
            out->url = emp_cfg_dup(c, s);
    }

    const json_t *es = json_object_get(t, "expect_status");
    if (es != NULL && !json_is_array(es)) {
        emp_cfg_report(c, emp_cfg_at_key(c, base, "expect_status").s,
                       "expected an array of at most %d status codes from %d to %d, got %s",
                       HTTP_MAX_EXPECT_STATUS, STATUS_MIN, STATUS_MAX, emp_cfg_show(c, es).s);
    } else if (es != NULL) {
        struct emp_cfg_where w = emp_cfg_at_key(c, base, "expect_status");
        size_t n = json_array_size(es);
        if (n > HTTP_MAX_EXPECT_STATUS)
            emp_cfg_report(c, w.s, "expected at most %d status codes, got %zu",
                           HTTP_MAX_EXPECT_STATUS, n);
        size_t i;
        const json_t *v;
        json_array_foreach(es, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) < STATUS_MIN ||
                json_integer_value(v) > STATUS_MAX) {
                emp_cfg_report(c, emp_cfg_at_index(w.s, i).s,
                               "expected an integer from %d to %d, got %s", STATUS_MIN, STATUS_MAX,
                               emp_cfg_show(c, v).s);
            } else if (i < HTTP_MAX_EXPECT_STATUS) {
                out->expect_status[i] = (int)json_integer_value(v);
            }
        }
        out->n_expect_status = n < HTTP_MAX_EXPECT_STATUS ? n : HTTP_MAX_EXPECT_STATUS;
    }

    const json_t *reuse = json_object_get(t, "reuse");
    if (reuse != NULL && !json_is_boolean(reuse))
        emp_cfg_report(c, emp_cfg_at_key(c, base, "reuse").s, "expected true or false, got %s",
                       emp_cfg_show(c, reuse).s);
    out->reuse = reuse != NULL && json_is_true(reuse);
}

static void http_police(struct emp_cfg *c, const void *spec, const char *base,
                        const struct emp_target_policy *pol)
{
    const struct http_spec *sp = spec;
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    if (u == NULL) {
        c->oom = true;
        return;
    }
    /* http_parse has taken the URL: what curl makes of its host (a
     * numeric IPv4 address normalised, 0xA9FEA9FE as 169.254.169.254) is
     * what it will connect to. */
    if (sp->url != NULL && curl_url_set(u, CURLUPART_URL, sp->url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        char why[EMP_POLICY_WHY_MAX];
        int n = emp_cfg_parse_port(port, strlen(port));
        if (emp_policy_refuses_host(pol, host, n > 0 ? n : 0, why) != NULL)
            emp_cfg_report(c, emp_cfg_at_key(c, base, "url").s,
                           "refused by the target policy: %s", why);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static int http_to_json(const void *spec, bool redact, json_t *o)
{
    (void)redact;
    const struct http_spec *sp = spec;
    int bad = json_object_set_new(o, "url", json_string(sp->url != NULL ? sp->url : ""));
    /* Empty means any 2xx or 3xx, as an absent key does. */
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < sp->n_expect_status; i++)
        bad |= json_array_append_new(a, json_integer(sp->expect_status[i]));
    bad |= json_object_set_new(o, "expect_status", a);
    bad |= json_object_set_new(o, "reuse", json_boolean(sp->reuse));
    return bad ? -1 : 0;
}

static void http_free_spec(void *spec)
{
    struct http_spec *sp = spec;
    if (sp == NULL)
        return;
    free(sp->url);
    free(sp);
}

static void *http_copy(const void *spec)
{
    const struct http_spec *src = spec;
    struct http_spec *sp = malloc(sizeof *sp);
    if (sp == NULL)
        return NULL;
    *sp = *src;
    sp->url = src->url != NULL ? strdup(src->url) : NULL;
    if (src->url != NULL && sp->url == NULL) {
        free(sp);
        return NULL;
    }
    return sp;
}

static enum emp_err http_loop_new(struct emp_loop *loop, void **shared)
{
    *shared = http_new(loop);
    return *shared != NULL ? EMP_OK : EMP_ENOMEM;
}

static const char *const http_keys[] = {"url", "expect_status", "reuse", NULL};

const struct emp_probe_kind emp_kind_http = {
    .name = "http",
    .keys = http_keys,
    .parse = http_parse,
    .to_json = http_to_json,
    .copy = http_copy,
    .free_spec = http_free_spec,
    .police = http_police,
    .loop_new = http_loop_new,
    .loop_free = http_free,
    .start = http_start,
    .cancel = http_cancel,
};
