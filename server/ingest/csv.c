/* The RFC 4180 CSV reader (ingest/csv.h). */
#include "ingest/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct emp_csv {
    FILE *f;
    size_t max;         /* content bytes per record */
    char *buf;          /* the record's fields, each NUL-terminated */
    size_t len, cap;
    size_t *off;        /* where each field starts in buf */
    const char **ptrs;  /* the fields handed out */
    size_t n, off_cap;
    long line;          /* physical line of the next character */
    bool at_start;      /* nothing read yet: a byte-order mark may follow */
    int pb[3];          /* pushed-back characters (a stack) */
    int npb;
    bool oom;
};

struct emp_csv *emp_csv_new(FILE *f, size_t max_record)
{
    struct emp_csv *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->f = f;
    c->max = max_record ? max_record : EMP_CSV_DEFAULT_MAX_RECORD;
    c->line = 1;
    c->at_start = true;
    return c;
}

void emp_csv_free(struct emp_csv *c)
{
    if (c == NULL)
        return;
    free(c->buf);
    free(c->off);
    free(c->ptrs);
    free(c);
}

static int csv_getc(struct emp_csv *c)
{
    if (c->npb > 0)
        return c->pb[--c->npb];
    return getc_unlocked(c->f);
}

static void csv_ungetc(struct emp_csv *c, int ch)
{
    if (ch != EOF && c->npb < 3)
        c->pb[c->npb++] = ch;
}

/* Append a byte of content (or a field's NUL). Past the cap the byte is
 * dropped and *too_long set, so that parsing still finds the record's end. */
static void csv_put(struct emp_csv *c, char ch, bool *too_long)
{
    if (c->len >= c->max + EMP_CSV_MAX_FIELDS) {
        *too_long = true;
        return;
    }
    if (c->len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        char *p = realloc(c->buf, cap);
        if (p == NULL) {
            c->oom = true;
            *too_long = true;
            return;
        }
        c->buf = p;
        c->cap = cap;
    }
    c->buf[c->len++] = ch;
}

/* Start a field at the current end of the buffer. */
static void csv_field(struct emp_csv *c, bool *too_many)
{
    if (c->n >= EMP_CSV_MAX_FIELDS) {
        *too_many = true;
        return;
    }
    if (c->n == c->off_cap) {
        size_t cap = c->off_cap ? c->off_cap * 2 : 32;
        size_t *o = realloc(c->off, cap * sizeof *o);
        if (o == NULL) {
            c->oom = true;
            *too_many = true;
            return;
        }
        c->off = o;
        const char **p = realloc(c->ptrs, cap * sizeof *p);
        if (p == NULL) {
            c->oom = true;
            *too_many = true;
            return;
        }
        c->ptrs = p;
        c->off_cap = cap;
    }
    c->off[c->n++] = c->len;
}

/* Consume the rest of a line end whose first byte `ch` was read. */
static void csv_eol(struct emp_csv *c, int ch)
{
    if (ch == '\r') {
        int nx = csv_getc(c);
        if (nx != '\n')
            csv_ungetc(c, nx);
    }
    if (ch != EOF)
        c->line++;
}

/* Skip to the end of the physical line (after a malformed quote). */
static void csv_skip_line(struct emp_csv *c)
{
    int ch;
    do {
        ch = csv_getc(c);
    } while (ch != EOF && ch != '\n' && ch != '\r');
    csv_eol(c, ch);
}

enum emp_err emp_csv_next(struct emp_csv *c, struct emp_csv_rec *rec,
                          struct emp_error *err)
{
    bool too_long = false, too_many = false, has_nul = false;
    const char *bad = NULL;
    long quote_line = 0;
    int ch;

    memset(rec, 0, sizeof *rec);
    c->len = 0;
    c->n = 0;
    if (c->at_start) {
        c->at_start = false;
        int b0 = csv_getc(c);
        if (b0 == 0xEF) {
            int b1 = csv_getc(c);
            int b2 = b1 == 0xBB ? csv_getc(c) : EOF;
            if (b1 != 0xBB || b2 != 0xBF) {
                csv_ungetc(c, b2);
                csv_ungetc(c, b1);
                csv_ungetc(c, b0);
            }
        } else {
            csv_ungetc(c, b0);
        }
    }
    /* Empty lines separate nothing: skip them. */
    for (;;) {
        ch = csv_getc(c);
        if (ch != '\n' && ch != '\r')
            break;
        csv_eol(c, ch);
    }
    rec->line = c->line;
    if (ch == EOF) {
        if (ferror(c->f))
            return emp_error_set(err, EMP_EIO, strerror(errno), "could not read line %ld",
                                 c->line);
        rec->eof = true;
        return EMP_OK;
    }
    for (;;) {
        csv_field(c, &too_many);
        if (ch == '"') {
            quote_line = c->line;
            for (;;) {
                ch = csv_getc(c);
                if (ch == EOF) {
                    bad = "quoted field not closed";
                    break;
                }
                if (ch == '"') {
                    ch = csv_getc(c);
                    if (ch != '"')
                        break;
                } else if (ch == '\n' || ch == '\r') {
                    /* A line end inside quotes is content; CRLF stays CRLF. */
                    if (ch == '\r') {
                        int nx = csv_getc(c);
                        csv_put(c, '\r', &too_long);
                        if (nx != '\n') {
                            csv_ungetc(c, nx);
                            c->line++;
                            continue;
                        }
                        ch = '\n';
                    }
                    c->line++;
                } else if (ch == '\0') {
                    has_nul = true;
                    continue;
                }
                csv_put(c, (char)ch, &too_long);
            }
            if (bad == NULL && ch != ',' && ch != '\n' && ch != '\r' && ch != EOF) {
                bad = "text after the closing quote of a field";
                csv_skip_line(c);
                ch = EOF; /* the line is consumed */
            }
        } else {
            /* Unquoted: a stray quote inside is kept as text. */
            while (ch != ',' && ch != '\n' && ch != '\r' && ch != EOF) {
                if (ch == '\0')
                    has_nul = true;
                else
                    csv_put(c, (char)ch, &too_long);
                ch = csv_getc(c);
            }
        }
        csv_put(c, '\0', &too_long);
        if (ch != ',' || bad != NULL)
            break;
        ch = csv_getc(c);
    }
    if (bad == NULL)
        csv_eol(c, ch);
    if (c->oom)
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not read line %ld", rec->line);
    if (ferror(c->f))
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not read line %ld",
                             rec->line);
    if (bad != NULL) {
        if (quote_line != rec->line && strcmp(bad, "quoted field not closed") == 0)
            return emp_error_set(err, EMP_EINVAL, NULL, "%s (opened on line %ld)", bad,
                                 quote_line);
        return emp_error_set(err, EMP_EINVAL, NULL, "%s", bad);
    }
    if (too_long)
        return emp_error_set(err, EMP_EINVAL, NULL, "record longer than %zu bytes", c->max);
    if (too_many)
        return emp_error_set(err, EMP_EINVAL, NULL, "record with more than %d fields",
                             EMP_CSV_MAX_FIELDS);
    if (has_nul)
        return emp_error_set(err, EMP_EINVAL, NULL, "NUL byte in a field");
    /* Content bytes are len minus the NULs, one per field. */
    if (c->len - c->n > c->max)
        return emp_error_set(err, EMP_EINVAL, NULL, "record longer than %zu bytes", c->max);
    for (size_t i = 0; i < c->n; i++)
        c->ptrs[i] = c->buf + c->off[i];
    rec->n = c->n;
    rec->f = c->ptrs;
    return EMP_OK;
}
