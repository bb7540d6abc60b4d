/* `empiric token`: create (the token is printed once, only its hash is
 * stored), list (names and when they were made and last used) and revoke
 * the API's bearer tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/timeutil.h"
#include "service/token.h"
#include "store/db.h"

static int usage(void)
{
    fputs("usage: empiric [--db CONNINFO] token create NAME\n"
          "       empiric [--db CONNINFO] token list\n"
          "       empiric [--db CONNINFO] token revoke NAME\n"
          "NAME: 1 to 128 of [A-Za-z0-9._-]. The new token is printed once; only its\n"
          "SHA-256 is stored. Write requests send it as \"Authorization: Bearer TOKEN\".\n",
          stderr);
    return EXIT_USAGE;
}

static int fail(const char *what, const struct emp_error *err)
{
    fprintf(stderr, "empiric token: %s%s%s\n", what, err->detail[0] != '\0' ? ": " : "",
            err->detail);
    return EXIT_FAILURE;
}

static int create(struct emp_db *db, const char *name)
{
    char token[EMP_TOKEN_LEN + 1];
    unsigned char hash[EMP_TOKEN_HASH_BYTES];
    struct emp_error err = {0};
    if (emp_token_new(token) != EMP_OK || emp_token_hash(token, strlen(token), hash) != EMP_OK) {
        fputs("empiric token: could not make a random token (getrandom)\n", stderr);
        return EXIT_FAILURE;
    }
    enum emp_err e = emp_db_token_create(db, name, hash, &err);
    if (e == EMP_EEXIST) {
        fprintf(stderr, "empiric token: a token called \"%s\" exists; revoke it first\n", name);
        return EXIT_FAILURE;
    }
    if (e != EMP_OK)
        return fail(err.msg, &err);
    printf("%s\n", token);
    fprintf(stderr, "token \"%s\" created; it is shown this once and cannot be shown again\n",
            name);
    return EXIT_SUCCESS;
}

static int list(struct emp_db *db)
{
    struct emp_token_row *rows = NULL;
    size_t n = 0;
    struct emp_error err = {0};
    if (emp_db_token_list(db, &rows, &n, &err) != EMP_OK)
        return fail(err.msg, &err);
    printf("%-32s %-28s %s\n", "NAME", "CREATED", "LAST USED");
    for (size_t i = 0; i < n; i++) {
        char a[EMP_TIME_BUFSZ], b[EMP_TIME_BUFSZ];
        printf("%-32s %-28s %s\n", rows[i].name, emp_time_format(rows[i].created_at_us, a),
               rows[i].last_used_at_us != 0 ? emp_time_format(rows[i].last_used_at_us, b)
                                            : "never");
    }
    free(rows);
    return EXIT_SUCCESS;
}

static int revoke(struct emp_db *db, const char *name)
{
    struct emp_error err = {0};
    enum emp_err e = emp_db_token_revoke(db, name, &err);
    if (e == EMP_ENOTFOUND) {
        fprintf(stderr, "empiric token: no token called \"%s\"\n", name);
        return EXIT_FAILURE;
    }
    if (e != EMP_OK)
        return fail(err.msg, &err);
    fprintf(stderr, "token \"%s\" revoked\n", name);
    return EXIT_SUCCESS;
}

int emp_app_token(const char *conninfo, int argc, char **argv)
{
    if (argc < 1)
        return usage();
    const char *verb = argv[0];
    bool named = strcmp(verb, "create") == 0 || strcmp(verb, "revoke") == 0;
    if (named && (argc != 2 || !emp_config_valid_name(argv[1])))
        return usage();
    if (!named && (strcmp(verb, "list") != 0 || argc != 1))
        return usage();
    struct emp_db *db = NULL;
    struct emp_error err = {0};
    if (emp_app_db_connect(conninfo, &db, &err) != EMP_OK)
        return fail("could not connect to database", &err);
    int rc;
    if (strcmp(verb, "create") == 0)
        rc = create(db, argv[1]);
    else if (strcmp(verb, "revoke") == 0)
        rc = revoke(db, argv[1]);
    else
        rc = list(db);
    emp_db_close(db);
    return rc;
}
