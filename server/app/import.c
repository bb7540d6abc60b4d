/* empiric import: outage history from a CSV file (another monitor's export,
 * a ticket system, published failure data) into the store, all or nothing. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/import.h"
#include "store/db.h"
#include "store/import.h"

#include "app/app.h"

#define EXIT_SKIPPED 3 /* imported, but some rows were skipped */

static void import_usage(FILE *f)
{
    fputs("usage: empiric import [--db CONNINFO] [options] FILE|-\n"
          "\n"
          "Load outage history from a CSV file with a header row (- reads stdin).\n"
          "  --target-col COLS    target name column(s), joined with '-' (default target)\n"
          "  --start-col COL      outage start (default start)\n"
          "  --end-col COL        outage end; empty = point failure (default end, if present)\n"
          "                       (a row with start and end empty names a target without\n"
          "                       outages)\n"
          "  --cause-col COLS     cause column(s) (default cause, if present)\n"
          "  --time-format FMT    strptime(3) format (default RFC 3339)\n"
          "  --tz ZONE            IANA zone of times without an offset (default UTC)\n"
          "  --group NAME         group of every target, or\n"
          "  --group-col COLS     group column(s), joined with '-'\n"
          "  --coverage MODE      observed span per group (default), file or target\n"
          "  --observed-from T    the period every target was observed in (RFC 3339,\n"
          "  --observed-to T      both): its span, whatever the rows; rows outside skipped\n"
          "  --strict             write nothing when any row is bad\n"
          "  --dry-run            read and check the file only\n"
          "\n"
          "A start or end more than 5 min after now refuses the whole file.\n"
          "\n"
          "Exit status: 0 imported, 3 imported but rows were skipped, 1 error\n"
          "(nothing written), 2 usage.\n",
          f);
}

static void import_report(void *arg, long line, const char *msg)
{
    fprintf(stderr, "%s:%ld: %s\n", (const char *)arg, line, msg);
}

int emp_app_import(struct options *o, int argc, char **argv)
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
        {"observed-from", required_argument, NULL, 'O'},
        {"observed-to", required_argument, NULL, 'P'},
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
        case 'O':
        case 'P':
            if (emp_time_parse(optarg, c == 'O' ? &io.observed_from_us : &io.observed_to_us) !=
                EMP_OK) {
                fprintf(stderr, "empiric import: --observed-%s: expected an RFC 3339 time or"
                                " Unix seconds, got \"%s\"\n",
                        c == 'O' ? "from" : "to", optarg);
                return EXIT_USAGE;
            }
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
        if (emp_db_connect(emp_app_db_conninfo(o), &db, &err) != EMP_OK) {
            emp_app_log_error("could not connect to database", &err);
            goto out;
        }
        e = emp_db_import(db, imp, &st, &err);
        if (e == EMP_EAGAIN) { /* another import or session holds a lock */
            emp_app_log_error("import not started; nothing written", &err);
            goto out;
        }
        if (e != EMP_OK) {
            emp_app_log_error("import failed; nothing written (did you run `empiric migrate`?)",
                              &err);
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
           "targets w/o outage %zu\n"
           "coverage           %s%s\n"
           "time               %.3f s\n",
           label, dry_run ? " (dry run: nothing written)" : "", imp->n_read,
           dry_run ? imp->n_rows : st.outages_new, st.outages_present, imp->n_duplicates,
           imp->n_skipped, imp->n_targets, st.targets_new, imp->n_declared,
           io.observed_to_us > io.observed_from_us ? "the given period" : "per ",
           io.observed_to_us > io.observed_from_us ? ""
                                                   : emp_import_coverage_name(imp->coverage),
           (double)(emp_mono_us() - t0) / 1e6);
    rc = imp->n_skipped > 0 ? EXIT_SKIPPED : EXIT_SUCCESS;
out:
    emp_db_close(db);
    emp_import_free(imp);
    return rc;
}
