/* Import of outage history from other systems: records read by the CSV
 * reader (ingest/csv.h), the mapping of columns to {target, group, start,
 * end, cause}, time parsing (RFC 3339, or strptime with an IANA zone for
 * local times) and row validation. Pure apart from reading the FILE*; the
 * SQL is in store/import.c. */
#ifndef EMP_IMPORT_H
#define EMP_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "ingest/csv.h"
#include "store/import.h"

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
    /* The period every target was observed in, when the file says it
     * (--observed-from/--observed-to): then it is each target's span,
     * whatever `coverage`, and a row outside it is skipped. Both 0: from
     * the rows under `coverage`. */
    int64_t observed_from_us, observed_to_us;
    /* The present (UTC microseconds) for the check below; 0: the clock. */
    int64_t now_us;
    size_t max_record;  /* bytes, 0 for the default */
    /* Called for every skipped or duplicate row (may be NULL); `line` is the
     * physical line where the record starts. */
    void (*report)(void *arg, long line, const char *msg);
    void *report_arg;
};

/* Times later than now plus this are refused: a time that has not come is
 * a placeholder ("9999-12-31" for "not yet") or a mistake, and as observed
 * time it would count the present, which nobody watched, as up. The
 * tolerance is for clocks a little apart. */
#define EMP_IMPORT_FUTURE_TOLERANCE_S 300

/* Read `f` (`name` is only for messages) under `o`. Bad rows are reported
 * through o->report and counted, never fatal; a header without the named
 * columns, a bad option, an unknown zone or a read error is (EMP_EINVAL,
 * EMP_EIO, EMP_ENOMEM) and `*out` stays NULL. So is a file with a row
 * after now plus EMP_IMPORT_FUTURE_TOLERANCE_S (each such row reported,
 * the first one's line in `err`), and an --observed-to after it. On EMP_OK
 * `*out` is new (free with emp_import_free). With o->tz the process's TZ
 * is set while reading and restored after: not for threaded callers. */
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

#endif
