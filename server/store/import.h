/* Imported history as the store takes it: targets with their observed
 * span, and outages, written by emp_db_import. The CSV reader
 * (ingest/import.h) produces it. */
#ifndef EMP_STORE_IMPORT_H
#define EMP_STORE_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Which time counts as observed for each imported target: the span from the
 * earliest start to the latest end of the rows of its group (a target
 * without a group: of its own rows), of the whole file, or of its own
 * rows. */
enum emp_import_coverage {
    EMP_COVERAGE_GROUP = 0,
    EMP_COVERAGE_FILE,
    EMP_COVERAGE_TARGET,
};

struct emp_import_row {
    size_t target; /* index into emp_import.targets */
    int64_t start_us;
    int64_t end_us;    /* == start_us for a point failure */
    const char *cause; /* owned by the emp_import; "" when none */
    long line;
};

struct emp_import_target {
    const char *name;  /* [A-Za-z0-9._-], 1..128 bytes */
    const char *group; /* "" when none */
    /* The observed span under the chosen coverage; start > end when there
     * is none (a target without rows, observed by no rule): no span. */
    int64_t span_start_us, span_end_us;
};

struct emp_import {
    struct emp_import_row *rows; /* valid, distinct (target, start); file order */
    size_t n_rows;
    struct emp_import_target *targets; /* in order of first appearance */
    size_t n_targets;
    size_t n_read;       /* data records, malformed ones included */
    size_t n_skipped;    /* rejected (reported) */
    size_t n_duplicates; /* same target and start as an earlier row (reported) */
    size_t n_declared;   /* rows naming a target with no outage (start and end
                            empty): a target without failures */
    enum emp_import_coverage coverage;
    struct import_arena *arena; /* the strings */
};

struct emp_db;

struct emp_import_stats {
    size_t outages_new;      /* rows inserted now */
    size_t outages_present;  /* rows already in the database (not changed) */
    size_t targets_new;      /* history targets created */
    size_t targets_existing; /* targets that were already there */
};

/* Name of the prober that imported outages and spans belong to. */
#define EMP_IMPORT_PROBER "import"

/* Write `imp` in one transaction: history targets (kind "history"), the
 * "import" prober, outages (ON CONFLICT DO NOTHING: importing again adds
 * nothing) and coverage spans. Existing targets keep their kind; history
 * targets take the file's group when it names one. On error nothing is
 * written. */
enum emp_err emp_db_import(struct emp_db *db, const struct emp_import *imp,
                           struct emp_import_stats *st, struct emp_error *err);

#endif
