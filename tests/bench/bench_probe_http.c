/* Benchmark: N HTTP targets on loopback probed at a fixed interval by one
 * probe loop, a fresh connection per probe. Prints probes per second, the
 * probe loop's CPU per probe, scheduling lag p50/p99/max and peak RSS.
 * The targets are served by libmicrohttpd in this process on other
 * threads, so the loop's CPU is measured with its own thread clock.
 *
 * usage: bench_probe_http [targets=1000] [interval_ms=1000] [seconds=20] */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <curl/curl.h>

#include "config/config.h"
#include "ingest/events.h"
#include "probes/loop.h"
#include "probes/prober.h"
#include "core/timeutil.h"
#include "probes/kinds.h"

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **ptr)
{
    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    (void)upload_size; (void)ptr;
    static const char body[] = "ok\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

struct stopper {
    struct emp_timer t;
    struct emp_loop *loop;
};

static void on_stop(struct emp_timer *t)
{
    struct stopper *s = t->data;
    emp_loop_stop(s->loop);
}

/* Drain the event queue as the writer would, without a database. */
static void *drain(void *arg)
{
    struct emp_events *q = arg;
    for (;;) {
        size_t n;
        struct emp_event *e = emp_events_pop_all(q, 200, &n);
        if (e == NULL && q->closed)
            return NULL;
        while (e != NULL) {
            struct emp_event *next = e->next;
            free(e);
            e = next;
        }
    }
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *d, size_t size, size_t nmemb, void *u)
{
    (void)d;
    (void)u;
    return size * nmemb;
}

/* Baseline: the same requests done one after another with blocking
 * curl_easy_perform, a fresh connection each: the cost of the HTTP work
 * itself, without scheduling, the event loop or the detector. Returns CPU
 * seconds per request of this thread. */
static double baseline_cpu_per_request(int port, int requests)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/0", port);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    double cpu0 = thread_cpu_s();
    int ok = 0;
    for (int i = 0; i < requests; i++)
        ok += curl_easy_perform(e) == CURLE_OK;
    double cpu = thread_cpu_s() - cpu0;
    curl_easy_cleanup(e);
    return ok > 0 ? cpu / ok : 0.0;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int interval_ms = argc > 2 ? atoi(argv[2]) : 1000;
    int seconds = argc > 3 ? atoi(argv[3]) : 20;
    if (n < 1 || n > 100000 || interval_ms < 100 || seconds < 1 || seconds > 600) {
        fprintf(stderr, "usage: bench_probe_http [targets] [interval_ms] [seconds<=600]\n");
        return 2;
    }
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, answer, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, 1, MHD_OPTION_CONNECTION_LIMIT, 4096,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "could not start the target server\n");
        return 1;
    }
    int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;

    size_t cap = (size_t)n * 200 + 1024;
    char *json = malloc(cap);
    size_t o = (size_t)snprintf(json, cap, "{\"targets\":[");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(json + o, cap - o,
                              "%s{\"name\":\"t%d\",\"kind\":\"http\",\"url\":\"http://127.0.0.1:%d/%d\","
                              "\"interval_ms\":%d,\"timeout_ms\":%d}",
                              i ? "," : "", i, port, i, interval_ms, interval_ms / 2);
    snprintf(json + o, cap - o, "]}");
    struct emp_config *cfg = NULL;
    if (emp_config_load_string(json, "bench", &emp_probe_kinds, &cfg, stderr, NULL) != EMP_OK)
        return 1;
    free(json);

    struct emp_events q;
    emp_events_init(&q, 1000000);
    pthread_t drainer;
    pthread_create(&drainer, NULL, drain, &q);
    long rss_before = peak_rss_kib();

    struct emp_loop *loop = emp_loop_new();
    struct emp_prober *p = emp_prober_new(loop, cfg, NULL, &q, NULL);
    struct stopper st = {.loop = loop};
    st.t.cb = on_stop;
    st.t.data = &st;
    emp_prober_start(p);
    emp_loop_timer_start(loop, &st.t, emp_mono_us() + (int64_t)seconds * EMP_US_PER_S);
    double cpu0 = thread_cpu_s();
    int64_t t0 = emp_mono_us();
    emp_loop_run(loop, false);
    double cpu = thread_cpu_s() - cpu0;
    double wall = (double)(emp_mono_us() - t0) / 1e6;

    struct emp_prober_stats s;
    emp_prober_stats(p, &s);
    printf("bench_probe_http: %d targets, interval %d ms, %.1f s\n", n, interval_ms, wall);
    printf("  probes            %llu (ok %llu, fail %llu, skipped ticks %llu)\n",
           (unsigned long long)s.probes, (unsigned long long)s.ok,
           (unsigned long long)s.fail, (unsigned long long)s.skipped);
    printf("  probes/s          %.1f (expected %.1f)\n", (double)s.probes / wall,
           (double)n * 1000.0 / interval_ms);
    printf("  loop CPU          %.1f%% of one core, %.1f us per probe\n", 100.0 * cpu / wall,
           1e6 * cpu / (double)(s.probes ? s.probes : 1));
    printf("  scheduling lag    p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           (double)s.lag_p50_us / 1000.0, (double)s.lag_p99_us / 1000.0,
           (double)s.lag_max_us / 1000.0);
    printf("  peak RSS          %ld KiB (%ld KiB before the prober, +%ld KiB)\n",
           peak_rss_kib(), rss_before, peak_rss_kib() - rss_before);

    double base = baseline_cpu_per_request(port, 2000);
    double per_probe = cpu / (double)(s.probes ? s.probes : 1);
    printf("  baseline          %.1f us CPU per blocking curl_easy_perform (same server, "
           "fresh connection); probe loop / baseline = %.2f\n",
           1e6 * base, base > 0 ? per_probe / base : 0.0);

    emp_prober_free(p);
    emp_loop_free(loop);
    emp_events_close(&q);
    pthread_join(drainer, NULL);
    emp_events_cleanup(&q);
    emp_config_free(cfg);
    MHD_stop_daemon(d);
    curl_global_cleanup();
    return s.fail == 0 ? 0 : 1;
}
