/* An RFC 4180 CSV reader for imported history: records of fields, quoted
 * or not, with a cap on a record's size and field count so that a hostile
 * file costs bounded memory. */
#ifndef EMP_CSV_H
#define EMP_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

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

#endif
