/* The import's pure half: the RFC 4180 reader (quotes, embedded commas,
 * quotes and line ends, CRLF and lone CR, byte-order mark, empty lines, line
 * numbers, malformed records and resynchronisation, the size cap), then the
 * mapping of columns to outages: names, groups, causes, time formats and
 * zones across both DST transitions, bad rows, duplicates and coverage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/import.h"
#include "core/timeutil.h"

#define S INT64_C(1000000)

/* ---- CSV ------------------------------------------------------------- */

struct csv_fx {
    FILE *f;
    struct emp_csv *c;
    struct emp_csv_rec rec;
    struct emp_error err;
};

static void csv_open(struct csv_fx *x, const char *text, size_t len, size_t max)
{
    memset(x, 0, sizeof *x);
    x->f = fmemopen((void *)text, len, "r");
    assert_non_null(x->f);
    x->c = emp_csv_new(x->f, max);
    assert_non_null(x->c);
}

static void csv_close(struct csv_fx *x)
{
    emp_csv_free(x->c);
    fclose(x->f);
}

/* The next record must be `n` fields `want` starting on `line`. */
static void expect_rec(struct csv_fx *x, long line, size_t n, const char *const *want)
{
    enum emp_err rc = emp_csv_next(x->c, &x->rec, &x->err);
    if (rc != EMP_OK)
        fail_msg("expected a record on line %ld, got %d: %s", line, (int)rc, x->err.msg);
    assert_false(x->rec.eof);
    assert_int_equal(x->rec.line, line);
    assert_int_equal(x->rec.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(x->rec.f[i], want[i]);
}

static void expect_bad(struct csv_fx *x, long line, const char *msg_part)
{
    enum emp_err rc = emp_csv_next(x->c, &x->rec, &x->err);
    assert_int_equal(rc, EMP_EINVAL);
    assert_int_equal(x->rec.line, line);
    if (strstr(x->err.msg, msg_part) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", x->err.msg, msg_part);
}

static void expect_eof(struct csv_fx *x)
{
    assert_int_equal(emp_csv_next(x->c, &x->rec, &x->err), EMP_OK);
    assert_true(x->rec.eof);
    /* And stays there. */
    assert_int_equal(emp_csv_next(x->c, &x->rec, &x->err), EMP_OK);
    assert_true(x->rec.eof);
}

#define REC(x, line, ...)                                                          \
    do {                                                                           \
        static const char *const w_[] = {__VA_ARGS__};                             \
        expect_rec((x), (line), sizeof w_ / sizeof w_[0], w_);                     \
    } while (0)

static void csv_str(struct csv_fx *x, const char *text)
{
    csv_open(x, text, strlen(text), 0);
}

static void test_csv_plain(void **state)
{
    (void)state;
    struct csv_fx x;
    csv_str(&x, "a,b,c\n1,2,3\n,,\nlast,row");
    REC(&x, 1, "a", "b", "c");
    REC(&x, 2, "1", "2", "3");
    REC(&x, 3, "", "", "");
    REC(&x, 4, "last", "row"); /* no line end at the end of the file */
    expect_eof(&x);
    csv_close(&x);
}

static void test_csv_quoted(void **state)
{
    (void)state;
    struct csv_fx x;
    csv_str(&x, "\"x, y\",\"he said \"\"hi\"\"\",\"line1\nline2\",plain\r\n"
                "\"\",\"a\r\nb\",\"\"\"\"\r\n"
                "next,\"MPI, PVM, Array services\",No\n");
    REC(&x, 1, "x, y", "he said \"hi\"", "line1\nline2", "plain");
    /* The record after one with a line end inside quotes starts on line 3. */
    REC(&x, 3, "", "a\r\nb", "\"");
    REC(&x, 5, "next", "MPI, PVM, Array services", "No");
    expect_eof(&x);
    csv_close(&x);
}

static void test_csv_line_ends(void **state)
{
    (void)state;
    struct csv_fx x;
    /* LF, CRLF, lone CR; empty lines (of every kind) are skipped. */
    csv_str(&x, "a,b\r\n\r\n\nc,d\re,f\r\r\ng,\"h\rh\"\n\n");
    REC(&x, 1, "a", "b");
    REC(&x, 4, "c", "d");
    REC(&x, 5, "e", "f");
    REC(&x, 7, "g", "h\rh");
    expect_eof(&x);
    csv_close(&x);

    csv_str(&x, "");
    expect_eof(&x);
    csv_close(&x);
    csv_str(&x, "\n\r\n");
    expect_eof(&x);
    csv_close(&x);
}

static void test_csv_bom(void **state)
{
    (void)state;
    struct csv_fx x;
    csv_str(&x, "\xEF\xBB\xBFtarget,start\nx,1\n");
    REC(&x, 1, "target", "start");
    REC(&x, 2, "x", "1");
    expect_eof(&x);
    csv_close(&x);
    /* Not a whole mark: the bytes are data. */
    csv_str(&x, "\xEF\xBBz,\xEF\n");
    REC(&x, 1, "\xEF\xBBz", "\xEF");
    expect_eof(&x);
    csv_close(&x);
}

static void test_csv_stray_quote(void **state)
{
    (void)state;
    struct csv_fx x;
    /* A quote inside an unquoted field is kept as text. */
    csv_str(&x, "5\" disk,ok\n");
    REC(&x, 1, "5\" disk", "ok");
    expect_eof(&x);
    csv_close(&x);
}

static void test_csv_malformed(void **state)
{
    (void)state;
    struct csv_fx x;
    /* Text after a closing quote: the line is skipped, reading goes on. */
    csv_str(&x, "h1,h2\n\"a\"b,c\nx,y\n");
    REC(&x, 1, "h1", "h2");
    expect_bad(&x, 2, "after the closing quote");
    REC(&x, 3, "x", "y");
    expect_eof(&x);
    csv_close(&x);

    /* A quote that never closes swallows the rest: one bad record. */
    csv_str(&x, "h1,h2\nx,\"open\nmore\nlines\n");
    REC(&x, 1, "h1", "h2");
    expect_bad(&x, 2, "quoted field not closed");
    expect_eof(&x);
    csv_close(&x);
    csv_str(&x, "h1,h2\n\nx,y\n\n\nz,\"open\n");
    REC(&x, 1, "h1", "h2");
    REC(&x, 3, "x", "y");
    expect_bad(&x, 6, "not closed");
    expect_eof(&x);
    csv_close(&x);

    /* A NUL byte. */
    static const char nul[] = "a,b\nc\0d,e\nf,g\n";
    csv_open(&x, nul, sizeof nul - 1, 0);
    REC(&x, 1, "a", "b");
    expect_bad(&x, 2, "NUL");
    REC(&x, 3, "f", "g");
    expect_eof(&x);
    csv_close(&x);
}

static void test_csv_too_long(void **state)
{
    (void)state;
    struct csv_fx x;
    const char *text = "ab,cd\n0123456789,0123456789\n\"quoted\nlong 0123456789\",x\nok,1\n";
    csv_open(&x, text, strlen(text), 16);
    REC(&x, 1, "ab", "cd");
    expect_bad(&x, 2, "longer than 16 bytes");
    /* The cap does not lose the record's end, even inside quotes. */
    expect_bad(&x, 3, "longer than 16 bytes");
    REC(&x, 5, "ok", "1");
    expect_eof(&x);
    csv_close(&x);

    /* Exactly at the cap is fine. */
    csv_open(&x, "0123456789abcdef\n", 17, 16);
    REC(&x, 1, "0123456789abcdef");
    expect_eof(&x);
    csv_close(&x);

    /* A line of commas: too many fields. */
    size_t n = EMP_CSV_MAX_FIELDS + 10;
    char *commas = malloc(n + 4);
    assert_non_null(commas);
    memset(commas, ',', n);
    memcpy(commas + n, "\na\n", 4);
    csv_open(&x, commas, n + 3, 0);
    expect_bad(&x, 1, "more than");
    REC(&x, 2, "a");
    expect_eof(&x);
    csv_close(&x);
    free(commas);
}

/* ---- import ---------------------------------------------------------- */

struct imp_fx {
    struct emp_import *imp;
    struct emp_error err;
    char reports[8192];
    size_t n_reports;
};

static void collect(void *arg, long line, const char *msg)
{
    struct imp_fx *x = arg;
    size_t o = strlen(x->reports);
    snprintf(x->reports + o, sizeof x->reports - o, "%ld: %s\n", line, msg);
    x->n_reports++;
}

static enum emp_err run_import(struct imp_fx *x, const char *text, struct emp_import_opts o)
{
    memset(x, 0, sizeof *x);
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    o.report = collect;
    o.report_arg = x;
    enum emp_err rc = emp_import_read(f, &o, &x->imp, &x->err);
    fclose(f);
    if (rc == EMP_OK)
        assert_non_null(x->imp);
    else
        assert_null(x->imp);
    return rc;
}

static void imp_done(struct imp_fx *x)
{
    emp_import_free(x->imp);
    x->imp = NULL;
}

static void has_report(const struct imp_fx *x, const char *part)
{
    if (strstr(x->reports, part) == NULL)
        fail_msg("no report says \"%s\"; reports:\n%s", part, x->reports);
}

static int64_t t(const char *rfc3339)
{
    int64_t us = 0;
    assert_int_equal(emp_time_parse(rfc3339, &us), EMP_OK);
    return us;
}

static const struct emp_import_target *target_of(const struct imp_fx *x, size_t row)
{
    return &x->imp->targets[x->imp->rows[row].target];
}

static void test_import_defaults(void **state)
{
    (void)state;
    struct imp_fx x;
    struct emp_import_opts o = {0};
    const char *csv =
        "target,start,end,cause\n"
        "web,2025-01-01T00:00:00Z,2025-01-01T00:10:00Z,\"timeout, then 502\"\n"
        "web server/1,2025-01-02T00:00:00+01:00,,disk\n"       /* point failure */
        "db,1735776000,1735776060.5,\n"                           /* Unix seconds */
        "db,2025-01-03T00:00:00Z,2025-01-02T00:00:00Z,x\n"      /* end before start */
        "db,yesterday,,x\n"
        "db,2025-01-04 12:00,2025-01-04 12:30:15.25,local UTC\n" /* no offset: UTC */
        ",2025-01-05T00:00:00Z,,x\n"
        "db,,,x\n"
        "db,2025-01-05T00:00:00Z\n";
    assert_int_equal(run_import(&x, csv, o), EMP_OK);
    struct emp_import *imp = x.imp;
    assert_int_equal(imp->n_read, 9);
    assert_int_equal(imp->n_rows, 4);
    assert_int_equal(imp->n_skipped, 5);
    assert_int_equal(imp->n_duplicates, 0);
    assert_int_equal(x.n_reports, 5);
    has_report(&x, "5: end 2025-01-02T00:00:00Z is before start 2025-01-03T00:00:00Z");
    has_report(&x, "6: start \"yesterday\" is not an RFC 3339 time");
    has_report(&x, "8: target column \"target\" is empty");
    has_report(&x, "9: start (column \"start\") is empty");
    has_report(&x, "10: 2 fields where the header has 4");

    assert_string_equal(target_of(&x, 0)->name, "web");
    assert_int_equal(imp->rows[0].start_us, t("2025-01-01T00:00:00Z"));
    assert_int_equal(imp->rows[0].end_us, t("2025-01-01T00:10:00Z"));
    assert_string_equal(imp->rows[0].cause, "timeout, then 502");
    assert_int_equal(imp->rows[0].line, 2);
    /* Sanitised name; a point failure ends where it starts. */
    assert_string_equal(target_of(&x, 1)->name, "web_server_1");
    assert_int_equal(imp->rows[1].start_us, t("2025-01-01T23:00:00Z"));
    assert_int_equal(imp->rows[1].end_us, imp->rows[1].start_us);
    assert_int_equal(imp->rows[2].start_us, 1735776000 * S);
    assert_int_equal(imp->rows[2].end_us, 1735776060 * S + 500000);
    assert_string_equal(imp->rows[2].cause, "");
    assert_int_equal(imp->rows[3].start_us, t("2025-01-04T12:00:00Z"));
    assert_int_equal(imp->rows[3].end_us, t("2025-01-04T12:30:15.25Z"));
    assert_int_equal(imp->n_targets, 3);
    /* No groups: every target is observed over its own rows. */
    for (size_t i = 0; i < imp->n_targets; i++)
        assert_string_equal(imp->targets[i].group, "");
    assert_int_equal(target_of(&x, 0)->span_start_us, t("2025-01-01T00:00:00Z"));
    assert_int_equal(target_of(&x, 0)->span_end_us, t("2025-01-01T00:10:00Z"));
    assert_int_equal(target_of(&x, 1)->span_start_us, t("2025-01-01T23:00:00Z"));
    assert_int_equal(target_of(&x, 1)->span_end_us, t("2025-01-01T23:00:00Z"));
    assert_int_equal(target_of(&x, 2)->span_start_us, 1735776000 * S);
    assert_int_equal(target_of(&x, 2)->span_end_us, t("2025-01-04T12:30:15.25Z"));
    imp_done(&x);

    /* Only target and start are required by default. */
    assert_int_equal(run_import(&x, "start,target\n2025-01-01T00:00:00Z,a\n", o), EMP_OK);
    assert_int_equal(x.imp->n_rows, 1);
    assert_int_equal(x.imp->rows[0].end_us, x.imp->rows[0].start_us);
    imp_done(&x);
}

static void test_import_columns(void **state)
{
    (void)state;
    struct imp_fx x;
    struct emp_import_opts o = {
        .target_cols = "System, nodenum",
        .group_cols = "System",
        .start_col = "Prob Started",
        .end_col = "Prob Fixed",
        .cause_cols = "Hardware,Software",
    };
    const char *csv =
        "System,nodenum,Prob Started,Prob Fixed,Hardware,Software\n"
        "2,0,2005-06-21T16:54:00Z,2005-06-21T17:00:00Z,Graphics Accel Hdwr,\n"
        "2,1,2005-06-21T16:55:00Z,2005-06-21T17:00:00Z,CPU,Kernel\n"
        "17,,1997-01-08T15:40:00Z,1997-01-08T15:50:00Z,Other,\n"
        "2,0,2005-06-21T16:54:00Z,2005-06-21T18:00:00Z,,dup\n"
        "3,0,2005-06-22T00:00:00Z,2005-06-22T00:00:00Z,,\n";
    assert_int_equal(run_import(&x, csv, o), EMP_OK);
    struct emp_import *imp = x.imp;
    assert_int_equal(imp->n_read, 5);
    assert_int_equal(imp->n_rows, 3);
    assert_int_equal(imp->n_skipped, 1);
    assert_int_equal(imp->n_duplicates, 1);
    has_report(&x, "4: target column \"nodenum\" is empty; row skipped");
    has_report(&x, "5: same target and start as line 2; row ignored");
    assert_string_equal(target_of(&x, 0)->name, "2-0");
    assert_string_equal(target_of(&x, 0)->group, "2");
    /* The first of the duplicates is kept. */
    assert_int_equal(imp->rows[0].end_us, t("2005-06-21T17:00:00Z"));
    assert_string_equal(imp->rows[0].cause, "Hardware: Graphics Accel Hdwr");
    assert_string_equal(imp->rows[1].cause, "Hardware: CPU; Software: Kernel");
    assert_string_equal(imp->rows[2].cause, "");
    assert_string_equal(target_of(&x, 2)->name, "3-0");
    assert_string_equal(target_of(&x, 2)->group, "3");
    /* Coverage per group: group 2 from 16:54 to 17:00; group 3 a point. */
    assert_int_equal(target_of(&x, 1)->span_start_us, t("2005-06-21T16:54:00Z"));
    assert_int_equal(target_of(&x, 1)->span_end_us, t("2005-06-21T17:00:00Z"));
    assert_int_equal(target_of(&x, 0)->span_start_us, t("2005-06-21T16:54:00Z"));
    assert_int_equal(target_of(&x, 2)->span_start_us, t("2005-06-22T00:00:00Z"));
    assert_int_equal(target_of(&x, 2)->span_end_us, t("2005-06-22T00:00:00Z"));
    imp_done(&x);

    /* Coverage per target and per file. */
    o.coverage = EMP_COVERAGE_TARGET;
    assert_int_equal(run_import(&x, csv, o), EMP_OK);
    assert_int_equal(target_of(&x, 1)->span_start_us, t("2005-06-21T16:55:00Z"));
    assert_int_equal(target_of(&x, 1)->span_end_us, t("2005-06-21T17:00:00Z"));
    imp_done(&x);
    o.coverage = EMP_COVERAGE_FILE;
    assert_int_equal(run_import(&x, csv, o), EMP_OK);
    for (size_t i = 0; i < x.imp->n_targets; i++) {
        assert_int_equal(x.imp->targets[i].span_start_us, t("2005-06-21T16:54:00Z"));
        assert_int_equal(x.imp->targets[i].span_end_us, t("2005-06-22T00:00:00Z"));
    }
    imp_done(&x);
    o.coverage = EMP_COVERAGE_GROUP;

    /* A fixed group; a target met in two groups. */
    struct emp_import_opts g = {.group = "lab"};
    assert_int_equal(run_import(&x, "target,start\na,2025-01-01T00:00:00Z\n", g), EMP_OK);
    assert_string_equal(x.imp->targets[0].group, "lab");
    imp_done(&x);
    struct emp_import_opts gc = {.group_cols = "g"};
    assert_int_equal(run_import(&x,
                                "target,start,g\n"
                                "a,2025-01-01T00:00:00Z,x\n"
                                "a,2025-01-02T00:00:00Z,y\n"
                                "b,2025-01-02T00:00:00Z,\n",
                                gc),
                     EMP_OK);
    assert_int_equal(x.imp->n_rows, 2);
    has_report(&x, "3: target \"a\" is in group \"x\" on an earlier row, here in \"y\"");
    /* An empty group column: no group, so its own rows' span. */
    assert_string_equal(x.imp->targets[1].group, "");
    assert_int_equal(x.imp->targets[1].span_start_us, t("2025-01-02T00:00:00Z"));
    assert_int_equal(x.imp->targets[0].span_end_us, t("2025-01-01T00:00:00Z"));
    imp_done(&x);
}

static void test_import_header_errors(void **state)
{
    (void)state;
    struct imp_fx x;
    struct emp_import_opts o = {0};
    assert_int_equal(run_import(&x, "", o), EMP_EINVAL);
    assert_string_equal(x.err.msg, "the file is empty");
    assert_int_equal(run_import(&x, "host,start\n", o), EMP_EINVAL);
    assert_string_equal(x.err.msg, "--target-col: no column \"target\" in the header");
    assert_non_null(strstr(x.err.detail, "\"host\", \"start\""));
    o.end_col = "stop";
    assert_int_equal(run_import(&x, "target,start,end\n", o), EMP_EINVAL);
    assert_string_equal(x.err.msg, "--end-col: no column \"stop\" in the header");
    o.end_col = NULL;
    assert_int_equal(run_import(&x, "target,start,target\n", o), EMP_EINVAL);
    assert_string_equal(x.err.msg, "column \"target\" appears more than once in the header");
    assert_int_equal(run_import(&x, "\"target,start\n", o), EMP_EINVAL);
    assert_non_null(strstr(x.err.msg, "malformed header on line 1"));
    o.group = "a";
    o.group_cols = "b";
    assert_int_equal(run_import(&x, "target,start\n", o), EMP_EINVAL);
    o.group_cols = NULL;
    o.group = "bad\tgroup";
    assert_int_equal(run_import(&x, "target,start\n", o), EMP_EINVAL);
    o.group = NULL;
    o.start_col = "a,b";
    assert_int_equal(run_import(&x, "target,a,b\n", o), EMP_EINVAL);
    o.start_col = NULL;
    /* A header alone is an empty import, not an error. */
    assert_int_equal(run_import(&x, "target,start\n", o), EMP_OK);
    assert_int_equal(x.imp->n_read, 0);
    assert_int_equal(x.imp->n_rows, 0);
    imp_done(&x);
    /* Header cells are matched without surrounding blanks. */
    assert_int_equal(run_import(&x, " target , start \nx,2025-01-01T00:00:00Z\n", o), EMP_OK);
    assert_int_equal(x.imp->n_rows, 1);
    imp_done(&x);
}

static void test_import_bad_values(void **state)
{
    (void)state;
    struct imp_fx x;
    struct emp_import_opts o = {.time_format = "%m/%d/%Y %H:%M"};
    char longname[200];
    memset(longname, 'n', 129);
    longname[129] = '\0';
    char csv[1024];
    snprintf(csv, sizeof csv,
             "target,start,end\n"
             "a,2/30/2005 10:00,\n"
             "a,6/21/2005 10:54 extra,\n"
             "a,2005-06-21T10:54:00Z,\n"
             "a,6/21/2005 24:00,\n"
             "%s,6/21/2005 10:00,\n"
             "a,6/21/2005 10:00,6/21/2005 9:00\n"
             "a,6/21/2005 10:00,6/21/2005 10:00\n",
             longname);
    assert_int_equal(run_import(&x, csv, o), EMP_OK);
    assert_int_equal(x.imp->n_skipped, 6);
    assert_int_equal(x.imp->n_rows, 1);
    has_report(&x, "2: start \"2/30/2005 10:00\" is not a valid date and time");
    has_report(&x, "3: start \"6/21/2005 10:54 extra\" has text after the time");
    has_report(&x, "4: start \"2005-06-21T10:54:00Z\" does not match --time-format");
    has_report(&x, "5: start \"6/21/2005 24:00\"");
    has_report(&x, "6: target name \"nnnn");
    has_report(&x, "is longer than 128 bytes");
    has_report(&x, "7: end 2005-06-21T09:00:00Z is before start 2005-06-21T10:00:00Z");
    imp_done(&x);
}

/* America/Denver: MST (UTC-7) and MDT (UTC-6). In 2024 the clock went
 * forward on 10 March at 02:00 MST and back on 3 November at 02:00 MDT. */
static void test_import_tz(void **state)
{
    (void)state;
    struct imp_fx x;
    struct emp_import_opts o = {.time_format = "%m/%d/%Y %H:%M", .tz = "America/Denver"};
    setenv("TZ", "Europe/Paris", 1);
    const char *csv =
        "target,start,end\n"
        "a,3/10/2024 1:59,3/10/2024 3:00\n"   /* one minute across the gap */
        "b,3/10/2024 2:30,\n"                 /* in the gap */
        "c,11/3/2024 1:30,11/3/2024 1:45\n"   /* ambiguous: the earlier */
        "d,11/3/2024 0:30,11/3/2024 3:30\n"   /* 4 hours across the fold */
        "e,11/3/2024 2:00,\n"
        "f,7/1/2024 12:00,12/1/2024 12:00\n"
        "g,1/1/1998 10:28,\n";
    assert_int_equal(run_import(&x, csv, o), EMP_OK);
    assert_string_equal(getenv("TZ"), "Europe/Paris"); /* restored */
    struct emp_import *imp = x.imp;
    assert_int_equal(imp->n_rows, 7);
    assert_int_equal(imp->rows[0].start_us, t("2024-03-10T08:59:00Z"));
    assert_int_equal(imp->rows[0].end_us, t("2024-03-10T09:00:00Z"));
    /* The offset before the change (MST), as PostgreSQL and Python do. */
    assert_int_equal(imp->rows[1].start_us, t("2024-03-10T09:30:00Z"));
    assert_int_equal(imp->rows[2].start_us, t("2024-11-03T07:30:00Z"));
    assert_int_equal(imp->rows[2].end_us, t("2024-11-03T07:45:00Z"));
    assert_int_equal(imp->rows[3].start_us, t("2024-11-03T06:30:00Z"));
    assert_int_equal(imp->rows[3].end_us, t("2024-11-03T10:30:00Z"));
    assert_int_equal(imp->rows[4].start_us, t("2024-11-03T09:00:00Z"));
    assert_int_equal(imp->rows[5].start_us, t("2024-07-01T18:00:00Z"));
    assert_int_equal(imp->rows[5].end_us, t("2024-12-01T19:00:00Z"));
    assert_int_equal(imp->rows[6].start_us, t("1998-01-01T17:28:00Z"));
    imp_done(&x);

    /* Default format: a time without an offset is in the zone; one with
     * an offset is what it says. */
    struct emp_import_opts d = {.tz = "America/Denver"};
    assert_int_equal(run_import(&x,
                                "target,start,end\n"
                                "a,2024-11-03 01:30,2024-11-03T01:30:00-07:00\n"
                                "b,2024-07-01T12:00:00.5,\n",
                                d),
                     EMP_OK);
    assert_int_equal(x.imp->rows[0].start_us, t("2024-11-03T07:30:00Z"));
    assert_int_equal(x.imp->rows[0].end_us, t("2024-11-03T08:30:00Z"));
    assert_int_equal(x.imp->rows[1].start_us, t("2024-07-01T18:00:00.5Z"));
    imp_done(&x);

    /* %z: the offset comes from the text. */
    struct emp_import_opts z = {.time_format = "%Y-%m-%d %H:%M %z", .tz = "America/Denver"};
    assert_int_equal(run_import(&x, "target,start\na,2024-07-01 12:00 +0200\n", z), EMP_OK);
    assert_int_equal(x.imp->rows[0].start_us, t("2024-07-01T10:00:00Z"));
    imp_done(&x);

    unsetenv("TZ");
    assert_int_equal(run_import(&x, "target,start\na,2024-07-01 12:00\n", d), EMP_OK);
    assert_null(getenv("TZ"));
    imp_done(&x);

    /* Unknown zones are refused, not taken for UTC. */
    struct emp_import_opts bad = {.tz = "Mars/Olympus_Mons"};
    assert_int_equal(run_import(&x, "target,start\n", bad), EMP_EINVAL);
    assert_string_equal(x.err.msg, "unknown time zone \"Mars/Olympus_Mons\"");
    bad.tz = "../../etc/passwd";
    assert_int_equal(run_import(&x, "target,start\n", bad), EMP_EINVAL);
    bad.tz = "/etc/localtime";
    assert_int_equal(run_import(&x, "target,start\n", bad), EMP_EINVAL);
    bad.tz = "";
    assert_int_equal(run_import(&x, "target,start\n", bad), EMP_EINVAL);
}

static void test_import_bad_records(void **state)
{
    (void)state;
    struct imp_fx x;
    struct emp_import_opts o = {.max_record = 64};
    assert_int_equal(run_import(&x,
                                "target,start\n"
                                "a,\"2025-01-01T00:00:00Z\"x\n"
                                "b,\"0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
                                "c,2025-01-01T00:00:00Z\n",
                                o),
                     EMP_OK);
    assert_int_equal(x.imp->n_read, 3);
    assert_int_equal(x.imp->n_skipped, 2);
    assert_int_equal(x.imp->n_rows, 1);
    has_report(&x, "2: text after the closing quote of a field; row skipped");
    has_report(&x, "3: record longer than 64 bytes; row skipped");
    assert_string_equal(x.imp->targets[0].name, "c");
    imp_done(&x);
}

/* A time after now (plus a small tolerance for clocks) is a placeholder
 * ("9999-12-31" for "not yet") or a mistake, and as an observed span it
 * would count time nobody watched as up: the whole file is refused, each
 * such row reported with its line. */
static void test_import_future(void **state)
{
    (void)state;
    struct imp_fx x;
    struct emp_import_opts o = {0};
    const char *csv = "target,start,end\n"
                      "a,2025-01-01T00:00:00Z,2025-01-01T00:10:00Z\n"
                      "b,2025-01-02T00:00:00Z,\n"
                      "b,9999-12-31T00:00:00Z,\n"
                      "c,2025-01-03T00:00:00Z,9999-12-31T23:59:59Z\n";
    assert_int_equal(run_import(&x, csv, o), EMP_EINVAL);
    assert_non_null(strstr(x.err.msg, "line 4"));
    assert_non_null(strstr(x.err.msg, "in the future"));
    assert_non_null(strstr(x.err.detail, "2 rows"));
    has_report(&x, "4: start 9999-12-31T00:00:00Z is in the future");
    has_report(&x, "5: end 9999-12-31T23:59:59Z is in the future");
    /* Refused under every option that would otherwise keep the row. */
    o.coverage = EMP_COVERAGE_TARGET;
    assert_int_equal(run_import(&x, csv, o), EMP_EINVAL);
    o.group = "g";
    assert_int_equal(run_import(&x, csv, o), EMP_EINVAL);

    /* "Now" as the caller gives it: up to 5 minutes later is a clock
     * apart, not the future. */
    struct emp_import_opts n = {.now_us = t("2025-06-01T12:00:00Z")};
    assert_int_equal(run_import(&x,
                                "target,start,end\n"
                                "a,2025-06-01T11:00:00Z,2025-06-01T12:05:00Z\n"
                                "b,2025-06-01T12:04:59Z,\n",
                                n),
                     EMP_OK);
    assert_int_equal(x.imp->n_rows, 2);
    assert_int_equal(x.n_reports, 0);
    imp_done(&x);
    assert_int_equal(run_import(&x,
                                "target,start,end\n"
                                "a,2025-06-01T11:00:00Z,2025-06-01T12:05:01Z\n",
                                n),
                     EMP_EINVAL);
    assert_string_equal(x.err.msg, "line 2: end 2025-06-01T12:05:01Z is in the future");
    assert_string_equal(x.err.detail,
                        "1 row after 2025-06-01T12:05:00Z (now + 5 min); nothing was imported");
    /* So is a stated period that has not ended. */
    n.observed_from_us = t("2025-01-01T00:00:00Z");
    n.observed_to_us = t("2025-07-01T00:00:00Z");
    assert_int_equal(run_import(&x, "target,start\nquiet,\n", n), EMP_EINVAL);
    assert_string_equal(x.err.msg, "--observed-to 2025-07-01T00:00:00Z is in the future");
    n.observed_to_us = t("2025-06-01T00:00:00Z");
    assert_int_equal(run_import(&x, "target,start\nquiet,\n", n), EMP_OK);
    assert_int_equal(x.imp->targets[0].span_end_us, n.observed_to_us);
    imp_done(&x);
}

/* Each target without a group is observed over its own rows: one target's
 * late row says nothing of when another was watched. A target named
 * without a row and without a group has no span (its time unknown). */
static void test_import_own_period(void **state)
{
    (void)state;
    struct imp_fx x;
    struct emp_import_opts o = {0};
    const char *csv = "target,start,end,g\n"
                      "early,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,\n"
                      "early,2025-01-10T00:00:00Z,2025-01-10T00:05:00Z,\n"
                      "late,2025-03-01T00:00:00Z,2025-03-02T00:00:00Z,\n"
                      "m1,2025-02-01T00:00:00Z,,grp\n"
                      "m2,2025-02-03T00:00:00Z,,grp\n"
                      "quiet,,,\n";
    o.group_cols = "g";
    assert_int_equal(run_import(&x, csv, o), EMP_OK);
    struct emp_import *imp = x.imp;
    assert_int_equal(imp->n_targets, 5);
    assert_true(imp->targets[4].span_start_us > imp->targets[4].span_end_us);
    assert_int_equal(imp->targets[0].span_start_us, t("2025-01-01T00:00:00Z"));
    assert_int_equal(imp->targets[0].span_end_us, t("2025-01-10T00:05:00Z"));
    assert_int_equal(imp->targets[1].span_start_us, t("2025-03-01T00:00:00Z"));
    assert_int_equal(imp->targets[1].span_end_us, t("2025-03-02T00:00:00Z"));
    /* Members of a group still share the group's period. */
    for (size_t i = 2; i < 4; i++) {
        assert_int_equal(imp->targets[i].span_start_us, t("2025-02-01T00:00:00Z"));
        assert_int_equal(imp->targets[i].span_end_us, t("2025-02-03T00:00:00Z"));
    }
    imp_done(&x);
}

static void test_coverage_names(void **state)
{
    (void)state;
    assert_int_equal(emp_import_coverage_parse("group"), EMP_COVERAGE_GROUP);
    assert_int_equal(emp_import_coverage_parse("file"), EMP_COVERAGE_FILE);
    assert_int_equal(emp_import_coverage_parse("target"), EMP_COVERAGE_TARGET);
    assert_int_equal(emp_import_coverage_parse("all"), -1);
    assert_string_equal(emp_import_coverage_name(EMP_COVERAGE_FILE), "file");
    emp_import_free(NULL);
    emp_csv_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_plain),          cmocka_unit_test(test_csv_quoted),
        cmocka_unit_test(test_csv_line_ends),      cmocka_unit_test(test_csv_bom),
        cmocka_unit_test(test_csv_stray_quote),    cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_csv_too_long),       cmocka_unit_test(test_import_defaults),
        cmocka_unit_test(test_import_columns),     cmocka_unit_test(test_import_header_errors),
        cmocka_unit_test(test_import_bad_values),  cmocka_unit_test(test_import_tz),
        cmocka_unit_test(test_import_bad_records), cmocka_unit_test(test_coverage_names),
        cmocka_unit_test(test_import_future),      cmocka_unit_test(test_import_own_period),
    };
    return cmocka_run_group_tests_name("import_csv", tests, NULL, NULL);
}
