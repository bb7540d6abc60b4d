/* The empiric command: subcommands migrate, serve, check-config. `serve`
 * runs the probers and the API in one process: the probe loop on the main
 * thread, the database writer and libmicrohttpd on threads of their own. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "config/config.h"
#include "store/db.h"
#include "ingest/events.h"
#include "ingest/import.h"
#include "core/log.h"
#include "probes/loop.h"
#include "api/metrics.h"
#include "probes/prober.h"
#include "service/report.h"
#include "probes/state.h"
#include "service/target.h"
#include "service/token.h"
#include "core/timeutil.h"
#include "ingest/writer.h"

#define EXIT_USAGE 2
#define EVENT_QUEUE_CAP 1000000

struct options {
    const char *config;
    const char *db;
    const char *schema;
};

static void usage(FILE *f)
{
    fputs("usage: empiric [--db CONNINFO] COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  migrate [--schema DIR]           apply schema migrations\n"
          "  serve --config FILE              probe the targets and serve the API\n"
          "  check-config FILE                validate a configuration file\n"
          "  import FILE|- [options]          load outage history from CSV (import --help)\n"
          "  report --target NAME [--from T] [--to T]  print a target's reliability summary\n"
          "  token create|list|revoke [NAME]  the API's bearer tokens (created: shown once)\n"
          "  version                          print the version\n"
          "\n"
          "The database is --db, else EMPIRIC_DB, else the PG* environment.\n"
          "Logs go to stderr; EMPIRIC_LOG_LEVEL=debug|info|warn|error.\n",
          f);
}

static const char *db_conninfo(const struct options *o)
{
    if (o->db != NULL)
        return o->db;
    const char *env = getenv("EMPIRIC_DB");
    return env != NULL ? env : "";
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *schema_dir(const struct options *o)
{
    if (o->schema != NULL)
        return o->schema;
    const char *env = getenv("EMPIRIC_SCHEMA_DIR");
    if (env != NULL)
        return env;
    if (is_dir(EMPIRIC_SOURCE_SCHEMA_DIR))
        return EMPIRIC_SOURCE_SCHEMA_DIR;
    return EMPIRIC_SCHEMA_DIR;
}

static void log_error(const char *what, const struct emp_error *e)
{
    char q1[600], q2[600];
    emp_errorf(what, "error=%s detail=%s", emp_log_quote(q1, sizeof q1, e->msg),
               emp_log_quote(q2, sizeof q2, e->detail));
}

static int cmd_migrate(const struct options *o)
{
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    int applied = 0;
    const char *dir = schema_dir(o);
    if (emp_db_connect(db_conninfo(o), &db, &err) != EMP_OK) {
        log_error("could not connect to database", &err);
        return EXIT_FAILURE;
    }
    int rc = EXIT_SUCCESS;
    if (emp_db_migrate(db, dir, &applied, &err) != EMP_OK) {
        log_error("migration failed", &err);
        rc = EXIT_FAILURE;
    } else {
        emp_info("migrated", "applied=%d schema=%s", applied, dir);
    }
    emp_db_close(db);
    return rc;
}

static int cmd_check_config(const char *path)
{
    struct emp_config *cfg = NULL;
    size_t nerrs = 0;
    if (emp_config_load(path, &cfg, stderr, &nerrs) != EMP_OK) {
        fprintf(stderr, "%s: %zu problem%s\n", path, nerrs, nerrs == 1 ? "" : "s");
        return EXIT_USAGE;
    }
    printf("%s: ok (%zu target%s)\n", path, cfg->n_targets, cfg->n_targets == 1 ? "" : "s");
    emp_config_free(cfg);
    return EXIT_SUCCESS;
}

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
    struct emp_metrics metrics; /* what /metrics reads besides the state */
    bool metrics_ok;
};

static void serve_cleanup(struct serve *s)
{
    emp_api_stop(s->api);
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
        log_error("could not open the spool", &err);
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
        log_error("could not write the spool of an earlier run into the database", &err);
        return -1;
    }
    emp_info("spool of an earlier run written", "path=%s records=%llu written=%llu counted=%llu "
             "already=%llu rejected=%llu", q, (unsigned long long)rec.records,
             (unsigned long long)rec.written, (unsigned long long)rec.counted,
             (unsigned long long)rec.skipped, (unsigned long long)rec.rejected);
    return 0;
}

static int cmd_serve(const struct options *o)
{
    struct serve s = {0};
    struct emp_error err = {0};
    size_t nerrs = 0;
    int rc = EXIT_FAILURE;
    const char *conninfo = db_conninfo(o);

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
    if (emp_config_load(o->config, &s.cfg, stderr, &nerrs) != EMP_OK) {
        fprintf(stderr, "%s: %zu problem%s; not starting\n", o->config, nerrs,
                nerrs == 1 ? "" : "s");
        return EXIT_USAGE;
    }
    if (emp_db_connect(conninfo, &s.db, &err) != EMP_OK) {
        log_error("could not connect to database", &err);
        goto out;
    }
    s.ids = calloc(s.cfg->n_targets ? s.cfg->n_targets : 1, sizeof *s.ids);
    if (s.ids == NULL)
        goto out;
    if (emp_db_sync_targets(s.db, s.cfg, s.ids, &err) != EMP_OK ||
        emp_db_prober_register(s.db, s.cfg->prober_name, s.cfg->prober_location,
                               &s.prober_id, &err) != EMP_OK) {
        log_error("could not prepare the database (did you run `empiric migrate`?)", &err);
        goto out;
    }
    /* What an earlier run left in the spool goes in before the open
     * outages are read: a closing it holds must not be continued. */
    if (open_spool(s.cfg, s.db, &s.spool) != 0)
        goto out;
    if (emp_db_open_outages(s.db, s.prober_id, &s.open, &s.n_open, &err) != EMP_OK ||
        emp_db_run_start(s.db, s.prober_id, emp_now_us(), &s.run_id, &err) != EMP_OK) {
        log_error("could not prepare the database (did you run `empiric migrate`?)", &err);
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
        log_error("could not start the database writer", &err);
        goto out;
    }
    if (emp_db_pool_new(conninfo, 4, &s.pool, &err) != EMP_OK) {
        log_error("could not create the connection pool", &err);
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
    if (emp_target_load_api(s.db, s.cfg, s.prober, &n_api, &err) != EMP_OK) {
        log_error("could not load the targets made through the API", &err);
        goto out;
    }
    emp_prober_resume(s.prober, s.open, s.n_open);
    /* Before the API starts: its threads read state.metrics unlocked. */
    if (emp_metrics_init(&s.metrics, s.prober, &s.events, s.writer) != 0)
        goto out;
    s.metrics_ok = true;
    s.state.metrics = &s.metrics;
    if (emp_api_start(s.cfg->listen_host, s.cfg->listen_port, s.cfg, &s.state, s.pool, &s.api,
                      &err) != EMP_OK) {
        log_error("could not start the API", &err);
        goto out;
    }
    emp_api_set_prober(s.api, s.prober);
    if (emp_prober_start(s.prober) != 0)
        goto out;
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

/* ---- import ----------------------------------------------------------- */

#define EXIT_SKIPPED 3 /* imported, but some rows were skipped */

static void import_usage(FILE *f)
{
    fputs("usage: empiric import [--db CONNINFO] [options] FILE|-\n"
          "\n"
          "Load outage history from a CSV file with a header row (- reads stdin).\n"
          "  --target-col COLS    target name column(s), joined with '-' (default target)\n"
          "  --start-col COL      outage start (default start)\n"
          "  --end-col COL        outage end; empty = point failure (default end, if present)\n"
          "  --cause-col COLS     cause column(s) (default cause, if present)\n"
          "  --time-format FMT    strptime(3) format (default RFC 3339)\n"
          "  --tz ZONE            IANA zone of times without an offset (default UTC)\n"
          "  --group NAME         group of every target, or\n"
          "  --group-col COLS     group column(s), joined with '-'\n"
          "  --coverage MODE      observed span per group (default), file or target\n"
          "  --strict             write nothing when any row is bad\n"
          "  --dry-run            read and check the file only\n"
          "\n"
          "Exit status: 0 imported, 3 imported but rows were skipped, 1 error\n"
          "(nothing written), 2 usage.\n",
          f);
}

static void import_report(void *arg, long line, const char *msg)
{
    fprintf(stderr, "%s:%ld: %s\n", (const char *)arg, line, msg);
}

/* empiric report --target T [--from TIME] [--to TIME]: the reliability
 * summary of one target as a table. */
static int cmd_report(struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"target", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *target = NULL, *from_s = NULL, *to_s = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 't': target = optarg; break;
        case 'f': from_s = optarg; break;
        case 'T': to_s = optarg; break;
        case 'h':
            puts("usage: empiric [--db CONNINFO] report --target NAME [--from TIME] [--to TIME]\n"
                 "TIME is RFC 3339 or Unix seconds; the default window is the last 30 days.");
            return EXIT_SUCCESS;
        default: return EXIT_USAGE;
        }
    }
    if (target == NULL || optind < argc) {
        fputs("empiric report: --target NAME is required (and nothing else)\n", stderr);
        return EXIT_USAGE;
    }
    int64_t now = emp_now_us(), to = now, from;
    if (to_s != NULL && emp_time_parse(to_s, &to) != EMP_OK) {
        fprintf(stderr, "empiric report: --to: expected an RFC 3339 time or Unix seconds, got \"%s\"\n", to_s);
        return EXIT_USAGE;
    }
    from = to - INT64_C(30) * 86400 * EMP_US_PER_S;
    if (from_s != NULL && emp_time_parse(from_s, &from) != EMP_OK) {
        fprintf(stderr, "empiric report: --from: expected an RFC 3339 time or Unix seconds, got \"%s\"\n", from_s);
        return EXIT_USAGE;
    }
    if (from >= to) {
        fputs("empiric report: --from must be before --to\n", stderr);
        return EXIT_USAGE;
    }
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    if (emp_db_connect(db_conninfo(o), &db, &err) != EMP_OK) {
        log_error("could not connect to database", &err);
        return EXIT_FAILURE;
    }
    struct emp_target_row t;
    struct emp_reliability rel;
    enum emp_err e = emp_report_target(db, target, from, to, now, &t, &rel, &err);
    int rc = EXIT_SUCCESS;
    if (e == EMP_ENOTFOUND) {
        fprintf(stderr, "empiric report: no target called \"%s\"\n", target);
        rc = EXIT_FAILURE;
    } else if (e != EMP_OK) {
        log_error("could not compute the report", &err);
        rc = EXIT_FAILURE;
    } else {
        emp_report_print(stdout, &t, &rel);
    }
    emp_reliability_cleanup(&rel);
    emp_db_close(db);
    return rc;
}

static int cmd_import(struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"target-col", required_argument, NULL, 'T'},
        {"start-col", required_argument, NULL, 'S'},
        {"end-col", required_argument, NULL, 'E'},
        {"cause-col", required_argument, NULL, 'C'},
        {"time-format", required_argument, NULL, 'F'},
        {"tz", required_argument, NULL, 'Z'},
        {"group", required_argument, NULL, 'g'},
        {"group-col", required_argument, NULL, 'G'},
        {"coverage", required_argument, NULL, 'V'},
        {"strict", no_argument, NULL, 'x'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct emp_import_opts io = {0};
    struct emp_import *imp = NULL;
    struct emp_import_stats st = {0};
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    bool strict = false, dry_run = false;
    int c, cov, rc = EXIT_FAILURE;
    /* 0, not 1: glibc then starts afresh and lets options follow FILE
     * (the first pass stopped at the command with "+"). */
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'T': io.target_cols = optarg; break;
        case 'S': io.start_col = optarg; break;
        case 'E': io.end_col = optarg; break;
        case 'C': io.cause_cols = optarg; break;
        case 'F': io.time_format = optarg; break;
        case 'Z': io.tz = optarg; break;
        case 'g': io.group = optarg; break;
        case 'G': io.group_cols = optarg; break;
        case 'V':
            cov = emp_import_coverage_parse(optarg);
            if (cov < 0) {
                fprintf(stderr, "empiric import: --coverage: expected group, file or target\n");
                return EXIT_USAGE;
            }
            io.coverage = (enum emp_import_coverage)cov;
            break;
        case 'x': strict = true; break;
        case 'n': dry_run = true; break;
        case 'h': import_usage(stdout); return EXIT_SUCCESS;
        default: import_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        import_usage(stderr);
        return EXIT_USAGE;
    }
    const char *path = argv[optind];
    const char *label = strcmp(path, "-") == 0 ? "<stdin>" : path;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "empiric import: could not open \"%s\": %s\n", path, strerror(errno));
        return EXIT_FAILURE;
    }
    io.report = import_report;
    io.report_arg = (void *)label;
    int64_t t0 = emp_mono_us();
    enum emp_err e = emp_import_read(f, &io, &imp, &err);
    if (f != stdin)
        fclose(f);
    if (e != EMP_OK) {
        fprintf(stderr, "empiric import: %s: %s%s%s\n", label, err.msg,
                err.detail[0] ? ": " : "", err.detail);
        goto out;
    }
    if (strict && imp->n_skipped > 0) {
        fprintf(stderr, "empiric import: %s: %zu bad row%s; nothing written (--strict)\n", label,
                imp->n_skipped, imp->n_skipped == 1 ? "" : "s");
        goto out;
    }
    if (!dry_run) {
        if (emp_db_connect(db_conninfo(o), &db, &err) != EMP_OK) {
            log_error("could not connect to database", &err);
            goto out;
        }
        if (emp_db_import(db, imp, &st, &err) != EMP_OK) {
            log_error("import failed; nothing written (did you run `empiric migrate`?)", &err);
            goto out;
        }
    }
    printf("file               %s%s\n"
           "rows read          %zu\n"
           "outages imported   %zu\n"
           "already present    %zu\n"
           "duplicate rows     %zu\n"
           "skipped rows       %zu\n"
           "targets            %zu (%zu new)\n"
           "coverage           per %s\n"
           "time               %.3f s\n",
           label, dry_run ? " (dry run: nothing written)" : "", imp->n_read,
           dry_run ? imp->n_rows : st.outages_new, st.outages_present, imp->n_duplicates,
           imp->n_skipped, imp->n_targets, st.targets_new,
           emp_import_coverage_name(imp->coverage), (double)(emp_mono_us() - t0) / 1e6);
    rc = imp->n_skipped > 0 ? EXIT_SKIPPED : EXIT_SUCCESS;
out:
    emp_db_close(db);
    emp_import_free(imp);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"schema", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *lvl = getenv("EMPIRIC_LOG_LEVEL");
    if (lvl != NULL && emp_log_parse_level(lvl) >= 0)
        emp_log_threshold = (enum emp_log_level)emp_log_parse_level(lvl);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stderr, NULL, _IOLBF, 0);

    int c;
    while ((c = getopt_long(argc, argv, "+d:c:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'c': o.config = optarg; break;
        case 's': o.schema = optarg; break;
        case 'h': usage(stdout); return EXIT_SUCCESS;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    /* Options may also follow the command. */
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    /* import has options of its own. */
    if (strcmp(cmd, "import") == 0)
        return cmd_import(&o, sub_argc, sub_argv);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(&o, sub_argc, sub_argv);
    optind = 0; /* 0, not 1: glibc re-reads the option string (no "+" mode now) */
    while ((c = getopt_long(sub_argc, sub_argv, "d:c:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'c': o.config = optarg; break;
        case 's': o.schema = optarg; break;
        case 'h': usage(stdout); return EXIT_SUCCESS;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    const char *arg = optind < sub_argc ? sub_argv[optind] : NULL;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("empiric: could not initialise libcurl\n", stderr);
        return EXIT_FAILURE;
    }
    int rc;
    if (strcmp(cmd, "migrate") == 0) {
        rc = cmd_migrate(&o);
    } else if (strcmp(cmd, "serve") == 0) {
        rc = cmd_serve(&o);
    } else if (strcmp(cmd, "check-config") == 0) {
        const char *path = arg ? arg : o.config;
        if (path == NULL) {
            fputs("empiric check-config: FILE is required\n", stderr);
            rc = EXIT_USAGE;
        } else {
            rc = cmd_check_config(path);
        }
    } else if (strcmp(cmd, "token") == 0) {
        rc = emp_token_cli(db_conninfo(&o), sub_argc - optind, sub_argv + optind);
    } else if (strcmp(cmd, "version") == 0) {
        printf("empiric %s\n", EMPIRIC_VERSION);
        rc = EXIT_SUCCESS;
    } else {
        fprintf(stderr, "empiric: unknown command \"%s\"\n", cmd);
        usage(stderr);
        rc = EXIT_USAGE;
    }
    curl_global_cleanup();
    return rc;
}
