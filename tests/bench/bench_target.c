/* A loopback HTTP target for benchmarks: answers every request with 200 and
 * "ok" through libmicrohttpd, for at most the given number of seconds.
 *
 * usage: bench_target PORT [seconds=120] */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_target PORT [seconds]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int seconds = argc > 2 ? atoi(argv[2]) : 120;
    if (port <= 0 || port > 65535 || seconds <= 0 || seconds > 3600) {
        fprintf(stderr, "bench_target: bad port or duration\n");
        return 2;
    }
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, answer,
        NULL, MHD_OPTION_CONNECTION_LIMIT, 8192, MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096,
        MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bench_target: could not listen on port %d\n", port);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct timespec limit = {.tv_sec = seconds};
    sigtimedwait(&set, NULL, &limit);
    MHD_stop_daemon(d);
    return 0;
}
