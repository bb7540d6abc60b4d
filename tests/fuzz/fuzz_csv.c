/* Fuzz target: the CSV importer without a database (emp_csv_next, then
 * emp_import_read). The first byte picks one of a few option sets (the
 * defaults, the LANL file's columns with a local-time format and zone, a
 * %z format, a fixed group, a tiny record cap), the rest is the file. The
 * reader must not crash, loop or leak; every row it keeps must be valid
 * (a named target, start <= end, distinct (target, start)); every row read
 * must be kept, skipped or a duplicate, each of the last two reported once;
 * each target's observed span must hold its rows; and no kept row may lie
 * in the future (such a row fails the whole file). */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "core/timeutil.h"
#include "ingest/import.h"

static const struct emp_import_opts presets[] = {
    {.coverage = EMP_COVERAGE_GROUP},
    {.target_cols = "System,nodenum", .group_cols = "System", .start_col = "Prob Started",
     .end_col = "Prob Fixed",
     .cause_cols = "Facilities,Hardware,Human Error,Network,Undetermined,Software",
     .time_format = "%m/%d/%Y %H:%M", .tz = "America/Denver", .coverage = EMP_COVERAGE_GROUP},
    {.tz = "Europe/Berlin", .coverage = EMP_COVERAGE_FILE},
    {.time_format = "%Y-%m-%d %H:%M:%S %z", .group = "fixed group",
     .coverage = EMP_COVERAGE_TARGET},
    {.max_record = 64, .coverage = EMP_COVERAGE_TARGET},
    {.target_cols = "a, b", .start_col = "s", .end_col = "e", .cause_cols = "c,d",
     .group_cols = "g,a", .coverage = EMP_COVERAGE_GROUP},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

static void count_report(void *arg, long line, const char *msg)
{
    FUZZ_CHECK(line >= 1 && msg[0] != '\0');
    (*(size_t *)arg)++;
}

/* The record reader alone: records are well-formed, in order, within the
 * cap, and the input ends. */
static void check_csv(FILE *f, size_t input_size, size_t max_record)
{
    struct emp_csv *c = emp_csv_new(f, max_record);
    FUZZ_CHECK(c != NULL);
    size_t max = max_record ? max_record : EMP_CSV_DEFAULT_MAX_RECORD;
    long last_line = 0;
    for (size_t i = 0;; i++) {
        FUZZ_CHECK(i <= input_size + 1); /* every record consumes a byte */
        struct emp_csv_rec rec;
        struct emp_error err;
        enum emp_err rc = emp_csv_next(c, &rec, &err);
        FUZZ_CHECK(rc == EMP_OK || rc == EMP_EINVAL);
        FUZZ_CHECK(rec.line > last_line || (rec.line == last_line && rec.eof));
        last_line = rec.line;
        if (rc == EMP_EINVAL) {
            FUZZ_CHECK(err.msg[0] != '\0');
            continue;
        }
        if (rec.eof)
            break;
        FUZZ_CHECK(rec.n >= 1 && rec.n <= EMP_CSV_MAX_FIELDS);
        size_t content = 0;
        for (size_t k = 0; k < rec.n; k++)
            content += strlen(rec.f[k]);
        FUZZ_CHECK(content <= max);
    }
    emp_csv_free(c);
}

static int cmp_row(const void *pa, const void *pb)
{
    const struct emp_import_row *a = pa, *b = pb;
    if (a->target != b->target)
        return a->target < b->target ? -1 : 1;
    return (a->start_us > b->start_us) - (a->start_us < b->start_us);
}

static void check_import(const struct emp_import *imp, const struct emp_import_opts *o,
                         size_t reports)
{
    /* Every record is a row, a skipped one, a duplicate, or one naming a
     * target without an outage. */
    FUZZ_CHECK(imp->n_read == imp->n_rows + imp->n_skipped + imp->n_duplicates +
                                  imp->n_declared);
    FUZZ_CHECK(reports == imp->n_skipped + imp->n_duplicates);
    FUZZ_CHECK(imp->coverage == o->coverage);
    size_t *rows_of = calloc(imp->n_targets + 1, sizeof *rows_of);
    FUZZ_CHECK(rows_of != NULL);
    for (size_t i = 0; i < imp->n_rows; i++) {
        const struct emp_import_row *r = &imp->rows[i];
        FUZZ_CHECK(r->target < imp->n_targets);
        FUZZ_CHECK(r->start_us <= r->end_us && r->cause != NULL && r->line >= 2);
        FUZZ_CHECK(r->end_us <= o->now_us + EMP_IMPORT_FUTURE_TOLERANCE_S * INT64_C(1000000));
        FUZZ_CHECK(i == 0 || r->line > imp->rows[i - 1].line); /* file order */
        const struct emp_import_target *t = &imp->targets[r->target];
        FUZZ_CHECK(t->span_start_us <= r->start_us && r->end_us <= t->span_end_us);
        rows_of[r->target]++;
    }
    size_t without_rows = 0;
    for (size_t t = 0; t < imp->n_targets; t++) {
        const struct emp_import_target *tg = &imp->targets[t];
        FUZZ_CHECK(fuzz_is_name(tg->name));
        without_rows += rows_of[t] == 0;
        FUZZ_CHECK(tg->group != NULL && strlen(tg->group) <= 128);
        for (const char *p = tg->group; *p != '\0'; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
        if (o->group != NULL)
            FUZZ_CHECK(strcmp(tg->group, o->group) == 0);
        for (size_t u = 0; u < t; u++)
            FUZZ_CHECK(strcmp(imp->targets[u].name, tg->name) != 0);
    }
    FUZZ_CHECK(without_rows <= imp->n_declared); /* only named ones have no row */
    free(rows_of);
    if (imp->n_rows > 1) {
        struct emp_import_row *sorted = malloc(imp->n_rows * sizeof *sorted);
        FUZZ_CHECK(sorted != NULL);
        memcpy(sorted, imp->rows, imp->n_rows * sizeof *sorted);
        qsort(sorted, imp->n_rows, sizeof *sorted, cmp_row);
        for (size_t i = 1; i < imp->n_rows; i++)
            FUZZ_CHECK(cmp_row(&sorted[i - 1], &sorted[i]) != 0);
        free(sorted);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct emp_import_opts o = presets[data[0] % N_PRESETS];
    o.now_us = emp_now_us();
    data++;
    size--;
    /* fmemopen wants a buffer it may treat as its own. */
    char *buf = fuzz_strndup(data, size);
    FILE *f = fmemopen(buf, size, "r");
    FUZZ_CHECK(f != NULL);
    check_csv(f, size, o.max_record);
    rewind(f);

    size_t reports = 0;
    o.report = count_report;
    o.report_arg = &reports;
    struct emp_import *imp = NULL;
    struct emp_error err;
    enum emp_err rc = emp_import_read(f, &o, &imp, &err);
    if (rc == EMP_OK) {
        FUZZ_CHECK(imp != NULL);
        check_import(imp, &o, reports);
        emp_import_free(imp);
    } else {
        /* Only the header or a row in the future can fail the whole
         * import. */
        FUZZ_CHECK(rc == EMP_EINVAL && imp == NULL && err.msg[0] != '\0');
    }
    fclose(f);
    free(buf);
    return 0;
}
