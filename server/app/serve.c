/* empiric serve: the probers and the API in one process. The probe loop
 * runs on the main thread, the database writer, libmicrohttpd and the poll
 * of the targets made through the API on threads of their own; everything
 * started is released in reverse order. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/api.h"
#include "api/metrics.h"
#include "config/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/events.h"
#include "ingest/spool.h"
#include "ingest/writer.h"
#include "probes/loop.h"
#include "probes/prober.h"
#include "probes/state.h"
#include "service/target.h"
#include "store/db.h"

#include "app/app.h"
#include "probes/kinds.h"

#define EVENT_QUEUE_CAP 1000000

/* Everything `serve` holds, released in reverse order by serve_cleanup. */
struct serve {
    struct emp_config *cfg;
    struct emp_db *db;
    int64_t *ids;
    int64_t prober_id, run_id;
    struct emp_outage *open;
    size_t n_open;
    struct emp_state state;
    bool state_ok;
    struct emp_events events;
    bool events_ok;
    struct emp_spool *spool; /* until the writer takes it */
    struct emp_writer *writer;
    struct emp_db_pool *pool;
    struct emp_api *api;
    struct emp_loop *loop;
    struct emp_prober *prober;
    struct emp_target_sync *sync; /* the targets made through the API */
    struct emp_metrics metrics; /* what /metrics reads besides the state */
    bool metrics_ok;
};

static void serve_cleanup(struct serve *s)
{
    emp_api_stop(s->api);
    emp_target_sync_free(s->sync);
    if (s->metrics_ok)
        emp_metrics_cleanup(&s->metrics);
    emp_prober_free(s->prober);
    emp_loop_free(s->loop);
    if (s->events_ok)
        emp_events_close(&s->events);
    /* The writer drains what the probes produced, then marks the run
     * stopped; open outages stay open for the next run to continue. */
    emp_writer_stop(s->writer, 10000);
    emp_spool_close(s->spool);
    if (s->events_ok)
        emp_events_cleanup(&s->events);
    emp_db_pool_free(s->pool);
    if (s->state_ok)
        emp_state_cleanup(&s->state);
    free(s->open);
    free(s->ids);
    emp_db_close(s->db);
    emp_config_free(s->cfg);
}

/* Open the configured spool and write into the database what an earlier
 * run left in it. Returns 0, or -1 after logging why serve cannot start
 * (the spool keeps its records). */
static int open_spool(const struct emp_config *cfg, struct emp_db *db, struct emp_spool **out)
{
    struct emp_error err = {0};
    struct emp_spool_info info;
    uint64_t max = (uint64_t)cfg->spool_max_mb * 1024 * 1024;
    if (emp_spool_open(cfg->spool_path, max, out, &info, &err) != EMP_OK) {
        emp_app_log_error("could not open the spool", &err);
        return -1;
    }
    char q[600];
    emp_log_quote(q, sizeof q, cfg->spool_path);
    if (info.cut_bytes > 0)
        emp_warn("spool ended in a torn record (the process died writing it); cut",
                 "path=%s bytes=%llu", q, (unsigned long long)info.cut_bytes);
    if (info.records == 0)
        return 0;
    struct emp_recovery rec;
    if (emp_writer_recover(db, *out, &rec, &err) != EMP_OK) {
        emp_app_log_error("could not write the spool of an earlier run into the database", &err);
        return -1;
    }
    emp_info("spool of an earlier run written", "path=%s records=%llu written=%llu counted=%llu "
             "already=%llu rejected=%llu", q, (unsigned long long)rec.records,
             (unsigned long long)rec.written, (unsigned long long)rec.counted,
             (unsigned long long)rec.skipped, (unsigned long long)rec.rejected);
    return 0;
}

int emp_app_serve(const struct options *o)
{
    struct serve s = {0};
    struct emp_error err = {0};
    size_t nerrs = 0;
    int rc = EXIT_FAILURE;
    const char *conninfo = emp_app_db_conninfo(o);

    if (o->config == NULL) {
        fputs("empiric serve: --config FILE is required\n", stderr);
        return EXIT_USAGE;
    }
    /* Block SIGINT/SIGTERM before any thread starts so that they reach only
     * the probe loop's signalfd and every thread stops in order. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    /* Every probe in flight holds a socket: allow as many as we may. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (emp_config_load(o->config, &emp_probe_kinds, &s.cfg, stderr, &nerrs) != EMP_OK) {
        fprintf(stderr, "%s: %zu problem%s; not starting\n", o->config, nerrs,
                nerrs == 1 ? "" : "s");
        return EXIT_USAGE;
    }
    if (emp_app_db_connect(conninfo, &s.db, &err) != EMP_OK) {
        emp_app_log_error("could not connect to database", &err);
        goto out;
    }
    s.ids = calloc(s.cfg->n_targets ? s.cfg->n_targets : 1, sizeof *s.ids);
    if (s.ids == NULL)
        goto out;
    if (emp_db_sync_targets(s.db, s.cfg, s.ids, &err) != EMP_OK ||
        emp_db_prober_register(s.db, s.cfg->prober_name, s.cfg->prober_location, &s.prober_id,
                               &err) != EMP_OK) {
        emp_app_log_error("could not prepare the database (did you run `empiric migrate`?)", &err);
        goto out;
    }
    /* What an earlier run left in the spool goes in before the open
     * outages are read: a closing it holds must not be continued. */
    if (open_spool(s.cfg, s.db, &s.spool) != 0)
        goto out;
    if (emp_db_open_outages(s.db, s.prober_id, &s.open, &s.n_open, &err) != EMP_OK ||
        emp_db_run_start(s.db, s.prober_id, emp_now_us(), &s.run_id, &err) != EMP_OK) {
        emp_app_log_error("could not prepare the database (did you run `empiric migrate`?)", &err);
        goto out;
    }
    if (emp_state_init(&s.state, s.cfg, s.ids) != 0)
        goto out;
    s.state_ok = true;
    if (emp_events_init(&s.events, EVENT_QUEUE_CAP) != 0)
        goto out;
    s.events_ok = true;
    struct emp_writer_opts wopts = {.spool = s.spool, .fsync = s.cfg->spool_fsync};
    s.spool = NULL; /* the writer's now, even when it fails to start */
    if (emp_writer_start(conninfo, s.prober_id, s.run_id, &s.events, &wopts, &s.writer, &err) !=
        EMP_OK) {
        emp_app_log_error("could not start the database writer", &err);
        goto out;
    }
    if (emp_db_pool_new(conninfo, 4, &s.pool, &err) != EMP_OK) {
        emp_app_log_error("could not create the connection pool", &err);
        goto out;
    }
    s.loop = emp_loop_new();
    if (s.loop == NULL)
        goto out;
    s.prober = emp_prober_new(s.loop, s.cfg, s.ids, &s.events, &s.state);
    if (s.prober == NULL)
        goto out;
    /* Targets made through the API, before open outages are continued. */
    size_t n_api = 0;
    s.sync = emp_target_sync_new(s.cfg, s.prober);
    if (s.sync == NULL)
        goto out;
    if (emp_target_sync_poll(s.sync, s.db, &n_api, &err) != EMP_OK) {
        emp_app_log_error("could not load the targets made through the API", &err);
        goto out;
    }
    emp_prober_resume(s.prober, s.open, s.n_open);
    /* Before the API starts: its threads read state.metrics unlocked. */
    if (emp_metrics_init(&s.metrics, s.prober, &s.events, s.writer) != 0)
        goto out;
    s.metrics_ok = true;
    s.metrics.cfg = s.cfg;
    s.state.metrics = &s.metrics;
    if (emp_api_start(s.cfg->listen_host, s.cfg->listen_port, s.cfg, &s.state, s.pool, &s.api,
                      &err) != EMP_OK) {
        emp_app_log_error("could not start the API", &err);
        goto out;
    }
    emp_api_set_prober(s.api, s.prober);
    if (emp_prober_start(s.prober) != 0)
        goto out;
    /* From now on, changes made through any prober's API reach this one. */
    if (emp_target_sync_start(s.sync, conninfo, EMP_TARGET_SYNC_MS, &err) != EMP_OK) {
        emp_app_log_error("could not start the poll of the targets made through the API", &err);
        goto out;
    }
    emp_api_warm_status(s.api);
    emp_info("serving", "listen=%s targets=%zu api_targets=%zu prober=%s run=%lld",
             s.cfg->listen, s.cfg->n_targets, n_api, s.cfg->prober_name, (long long)s.run_id);
    if (emp_loop_run(s.loop, true) == 0)
        rc = EXIT_SUCCESS;
    struct emp_prober_stats st;
    emp_prober_stats(s.prober, &st);
    emp_info("stopped", "probes=%llu fail=%llu skipped=%llu lag_p99_ms=%.3f unknown=%llu",
             (unsigned long long)st.probes, (unsigned long long)st.fail,
             (unsigned long long)st.skipped, (double)st.lag_p99_us / 1000.0,
             (unsigned long long)st.unknown);
out:
    serve_cleanup(&s);
    return rc;
}
