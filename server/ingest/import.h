/* Import of outage history from other systems: an RFC 4180 CSV reader, the
 * mapping of columns to {target, group, start, end, cause}, time parsing
 * (RFC 3339, or strptime with an IANA zone for local times) and row
 * validation. Pure apart from reading the FILE*; the SQL is in db_import.c. */
#ifndef EMP_IMPORT_H
#define EMP_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

/* ---- CSV reader ------------------------------------------------------ */

/* Records are capped so that a file without line ends (or with a quote that
 * never closes) cannot take all memory. */
#define EMP_CSV_DEFAULT_MAX_RECORD (1024 * 1024)
#define EMP_CSV_MAX_FIELDS 4096

struct emp_csv;

/* One record, borrowed from the reader until the next emp_csv_next(). */
struct emp_csv_rec {
    long line;            /* physical line (1-based) on which the record starts */
    size_t n;             /* number of fields */
    const char *const *f; /* f[0..n-1], NUL-terminated */
    bool eof;             /* no record: the input is exhausted */
};

/* A reader of `f` (not owned: the caller closes it). `max_record` bytes per
 * record, 0 for EMP_CSV_DEFAULT_MAX_RECORD. NULL when out of memory. */
struct emp_csv *emp_csv_new(FILE *f, size_t max_record);
/* Accepts NULL. */
void emp_csv_free(struct emp_csv *c);

/* The next record. Fields may be quoted ("a ""b"", c" holds a quote, a comma
 * and may hold line ends); records end with CRLF, LF or a lone CR; a UTF-8
 * byte-order mark before the first field is dropped; empty lines are
 * skipped. Returns EMP_OK (rec->eof tells the end), EMP_EINVAL when this
 * record is malformed (err says why, rec->line where; the reader has skipped
 * it and can go on), EMP_EIO on a read error, EMP_ENOMEM. */
enum emp_err emp_csv_next(struct emp_csv *c, struct emp_csv_rec *rec,
                          struct emp_error *err);

/* ---- rows ------------------------------------------------------------ */

/* Which time counts as observed for each imported target: the span from the
 * earliest start to the latest end of the rows of its group (targets without
 * a group: of the whole file), of the whole file, or of its own rows. */
enum emp_import_coverage {
    EMP_COVERAGE_GROUP = 0,
    EMP_COVERAGE_FILE,
    EMP_COVERAGE_TARGET,
};

/* Parse "group" | "file" | "target"; -1 when unknown. */
int emp_import_coverage_parse(const char *s);
const char *emp_import_coverage_name(enum emp_import_coverage c);

struct emp_import_opts {
    /* Comma-separated header names; several are joined with '-'. NULL for
     * the defaults: target columns "target", start "start", end "end" (used
     * when present), cause "cause" (used when present). */
    const char *target_cols;
    const char *start_col;
    const char *end_col;
    const char *cause_cols;
    /* strptime(3) format of start and end; NULL: RFC 3339 (or Unix
     * seconds), or "YYYY-MM-DD HH:MM[:SS[.f]]" without an offset. */
    const char *time_format;
    /* IANA zone of times written without an offset; NULL for UTC. */
    const char *tz;
    /* One group for every target, or the columns holding it (not both). */
    const char *group;
    const char *group_cols;
    enum emp_import_coverage coverage;
    size_t max_record;  /* bytes, 0 for the default */
    /* Called for every skipped or duplicate row (may be NULL); `line` is the
     * physical line where the record starts. */
    void (*report)(void *arg, long line, const char *msg);
    void *report_arg;
};

struct emp_import_row {
    size_t target;      /* index into emp_import.targets */
    int64_t start_us;
    int64_t end_us;     /* == start_us for a point failure */
    const char *cause;  /* owned by the emp_import; "" when none */
    long line;
};

struct emp_import_target {
    const char *name;   /* [A-Za-z0-9._-], 1..128 bytes */
    const char *group;  /* "" when none */
    /* The observed span under the chosen coverage. */
    int64_t span_start_us, span_end_us;
};

struct emp_import {
    struct emp_import_row *rows;       /* valid, distinct (target, start); file order */
    size_t n_rows;
    struct emp_import_target *targets; /* in order of first appearance */
    size_t n_targets;
    size_t n_read;       /* data records, malformed ones included */
    size_t n_skipped;    /* rejected (reported) */
    size_t n_duplicates; /* same target and start as an earlier row (reported) */
    enum emp_import_coverage coverage;
    struct import_arena *arena; /* the strings */
};

/* Read `f` (`name` is only for messages) under `o`. Bad rows are reported
 * through o->report and counted, never fatal; a header without the named
 * columns, a bad option, an unknown zone or a read error is (EMP_EINVAL,
 * EMP_EIO, EMP_ENOMEM) and `*out` stays NULL. On EMP_OK `*out` is new (free
 * with emp_import_free). With o->tz the process's TZ is set while reading
 * and restored after: not for threaded callers. */
enum emp_err emp_import_read(FILE *f, const struct emp_import_opts *o,
                             struct emp_import **out, struct emp_error *err);
/* Accepts NULL. */
void emp_import_free(struct emp_import *imp);

/* Local wall time `local_s` (seconds since 1970-01-01 as if it were UTC) in
 * the zone set in TZ to UTC seconds. An ambiguous time (a clock set back)
 * is the earlier instant; a time skipped by a clock set forward is read
 * with the offset in force before the change (as PostgreSQL and Python's
 * fold=0 do). Exposed for tests. */
int64_t emp_import_local_to_utc(int64_t local_s);

/* ---- the store (db_import.c) ------------------------------------------ */

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
