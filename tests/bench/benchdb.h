/* Shared by the benchmarks that write through the store directly. */
#ifndef EMP_BENCHDB_H
#define EMP_BENCHDB_H

#include <stdio.h>
#include <stdlib.h>

#include "config/config.h"
#include "store/db.h"
#include "tests/support/target.h"

/* Create (or update) N HTTP targets svc-00000.. with the given interval;
 * their ids in `ids`. 0 on success. */
static inline int bench_sync_targets(struct emp_db *db, size_t n, int interval_ms,
                                     int fail_threshold, int64_t *ids, struct emp_error *err)
{
    struct emp_target_config *tc = calloc(n, sizeof *tc);
    char(*names)[32] = calloc(n, sizeof *names);
    /* One http spec that every target borrows. */
    struct emp_target_config http = test_target(
        "{\"name\": \"x\", \"kind\": \"http\", \"url\": \"https://svc.example.internal/healthz\"}");
    int rc = -1;
    if (tc == NULL || names == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "svc-%05zu", i);
        tc[i].name = names[i];
        tc[i].kind = test_kind("http");
        tc[i].group = (char *)"bench";
        tc[i].interval_ms = interval_ms;
        tc[i].timeout_ms = interval_ms / 2 < 10000 ? interval_ms / 2 : 10000;
        tc[i].fail_threshold = fail_threshold;
        tc[i].recover_threshold = 1;
        tc[i].spec = http.spec;
    }
    struct emp_config cfg = {.targets = tc, .n_targets = n};
    rc = emp_db_sync_targets(db, &cfg, ids, err) == EMP_OK ? 0 : -1;
out:
    emp_target_config_cleanup(&http);
    free(tc);
    free(names);
    return rc;
}

#endif
