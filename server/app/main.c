/* The empiric command: reads the options and runs one subcommand
 * (app/<command>.c). */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/log.h"

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
          "The database is --db, else EMPIRIC_DB, else the PG* environment; a call to it\n"
          "without an answer in EMPIRIC_DB_DEADLINE_S seconds (60; 0: none) fails the\n"
          "command (migrate and import wait as long as their statements take).\n"
          "Logs go to stderr; EMPIRIC_LOG_LEVEL=debug|info|warn|error.\n",
          f);
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
        return emp_app_import(&o, sub_argc, sub_argv);
    if (strcmp(cmd, "report") == 0)
        return emp_app_report(&o, sub_argc, sub_argv);
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
        rc = emp_app_migrate(&o);
    } else if (strcmp(cmd, "serve") == 0) {
        rc = emp_app_serve(&o);
    } else if (strcmp(cmd, "check-config") == 0) {
        const char *path = arg ? arg : o.config;
        if (path == NULL) {
            fputs("empiric check-config: FILE is required\n", stderr);
            rc = EXIT_USAGE;
        } else {
            rc = emp_app_check_config(path);
        }
    } else if (strcmp(cmd, "token") == 0) {
        rc = emp_app_token(emp_app_db_conninfo(&o), sub_argc - optind, sub_argv + optind);
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
