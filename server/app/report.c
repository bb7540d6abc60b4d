/* empiric report: the reliability summary of one target, as a table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "service/report.h"
#include "service/view.h"
#include "store/db.h"

#include "app/app.h"
#include "config/config.h"
#include "probes/kinds.h"

/* empiric report --target T [--from TIME] [--to TIME]: the reliability
 * summary of one target as a table. */
int emp_app_report(struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"target", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'T'},
        {"location", required_argument, NULL, 'l'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *target = NULL, *from_s = NULL, *to_s = NULL;
    struct emp_view view = EMP_VIEW_DEFAULT;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 't': target = optarg; break;
        case 'f': from_s = optarg; break;
        case 'T': to_s = optarg; break;
        case 'l': view.location = optarg; break;
        case 'c': o->config = optarg; break;
        case 'h':
            puts("usage: empiric [--db CONNINFO] report --target NAME [--from TIME] [--to TIME]\n"
                 "                                      [--location NAME] [--config FILE]\n"
                 "TIME is RFC 3339 or Unix seconds; the default window is the last 30 days.\n"
                 "Without --location, every location's verdict combined by quorum: the\n"
                 "target's own or the configuration's (--config), else a majority.");
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
        fprintf(stderr,
                "empiric report: --to: expected an RFC 3339 time or Unix seconds, got \"%s\"\n",
                to_s);
        return EXIT_USAGE;
    }
    from = to - INT64_C(30) * 86400 * EMP_US_PER_S;
    if (from_s != NULL && emp_time_parse(from_s, &from) != EMP_OK) {
        fprintf(stderr,
                "empiric report: --from: expected an RFC 3339 time or Unix seconds, got "
                "\"%s\"\n",
                from_s);
        return EXIT_USAGE;
    }
    if (from >= to) {
        fputs("empiric report: --from must be before --to\n", stderr);
        return EXIT_USAGE;
    }
    /* The quorum of the target: its own or the configuration's, when one is
     * given (--config); else a majority. */
    struct emp_config *cfg = NULL;
    if (o->config != NULL) {
        size_t nerrs = 0;
        if (emp_config_load(o->config, &emp_probe_kinds, &cfg, stderr, &nerrs) != EMP_OK)
            return EXIT_USAGE;
        struct emp_quorum q = emp_view_quorum(cfg, target);
        view.quorum = q;
    }
    struct emp_error err = {0};
    struct emp_db *db = NULL;
    if (emp_app_db_connect(emp_app_db_conninfo(o), &db, &err) != EMP_OK) {
        emp_config_free(cfg);
        emp_app_log_error("could not connect to database", &err);
        return EXIT_FAILURE;
    }
    struct emp_target_row t;
    struct emp_reliability rel;
    enum emp_err e = emp_report_target(db, target, &view, from, to, now, &t, &rel, &err);
    int rc = EXIT_SUCCESS;
    if (e == EMP_ENOTFOUND && view.location != NULL && strstr(err.msg, "location") != NULL) {
        fprintf(stderr, "empiric report: %s\n", err.msg);
        rc = EXIT_FAILURE;
    } else if (e == EMP_ENOTFOUND) {
        fprintf(stderr, "empiric report: no target called \"%s\"\n", target);
        rc = EXIT_FAILURE;
    } else if (e != EMP_OK) {
        emp_app_log_error("could not compute the report", &err);
        rc = EXIT_FAILURE;
    } else {
        emp_report_print(stdout, &t, &rel);
    }
    emp_reliability_cleanup(&rel);
    emp_db_close(db);
    emp_config_free(cfg);
    return rc;
}
