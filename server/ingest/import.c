/* Import of outage history: the mapping of CSV header columns (read by
 * ingest/csv.c) to outages, time parsing and validation, duplicate removal and the
 * observed span of every target. No SQL here (store/import.c writes), no output
 * (bad rows go to the caller's report callback). */
#include "ingest/import.h"

#include "core/buf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/parse.h"
#include "core/timeutil.h"

#define NAME_MAX_BYTES 128 /* as EMP_NAME_MAX of the configuration */
#define GROUP_MAX_BYTES 128
#define JOINER '-'

/* ---- strings --------------------------------------------------------- */

/* Every string of an import lives in a chain of blocks: stable pointers,
 * one free. */
struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
};

struct import_arena {
    struct arena_block *head;
};

#define ARENA_BLOCK 65536

static char *arena_strndup(struct import_arena *a, const char *s, size_t n)
{
    struct arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

static void arena_free(struct import_arena *a)
{
    if (a == NULL)
        return;
    while (a->head != NULL) {
        struct arena_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    free(a);
}

/* The field without leading and trailing blanks: [*s, *s + *n). */
static void trim(const char *f, const char **s, size_t *n)
{
    size_t len = strlen(f);
    while (len > 0 && (*f == ' ' || *f == '\t')) {
        f++;
        len--;
    }
    while (len > 0 && (f[len - 1] == ' ' || f[len - 1] == '\t'))
        len--;
    *s = f;
    *n = len;
}

/* ---- time ------------------------------------------------------------ */

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* UTC offset (seconds east) of the zone in TZ at instant t. */
static int64_t zone_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL)
        return 0;
    return (int64_t)tm.tm_gmtoff;
}

int64_t emp_import_local_to_utc(int64_t local_s)
{
    /* The offsets two days either side bracket any one transition; an
     * instant t is a reading of local_s when offset(t) is the offset that
     * produced it. Several readings: the earliest; none: the time fell into
     * a gap and is read with the offset before it. */
    int64_t before = zone_offset(local_s - 2 * 86400);
    int64_t cand[3] = {before, zone_offset(local_s + 2 * 86400), zone_offset(local_s)};
    bool found = false;
    int64_t best = 0;
    for (int i = 0; i < 3; i++) {
        int64_t t = local_s - cand[i];
        if (zone_offset(t) == cand[i] && (!found || t < best)) {
            best = t;
            found = true;
        }
    }
    return found ? best : local_s - before;
}

struct timectx {
    const char *format;  /* NULL: RFC 3339 */
    bool format_has_z;   /* offsets come from the text (%z) */
    bool local_tz;       /* TZ is set to the --tz zone */
};

/* Local seconds (as if UTC) of calendar fields, or false when out of range. */
static bool civil_seconds(int64_t y, int mon, int d, int h, int mi, int s, int64_t *out)
{
    if (y < 0 || y > 9999 || mon < 1 || mon > 12 || d < 1 || d > days_in_month(y, mon) ||
        h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
        return false;
    *out = emp_days_from_civil(y, mon, d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

static int64_t local_to_utc(const struct timectx *t, int64_t local_s)
{
    return t->local_tz ? emp_import_local_to_utc(local_s) : local_s;
}

static bool dig(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

/* "YYYY-MM-DD[T ]HH:MM[:SS[.f]]" without an offset. 1: parsed, 0: not this
 * form, -1: this form but out of range. */
static int parse_local_iso(const char *s, int64_t *local_us)
{
    int y, mo, d, h, mi, sec = 0;
    if (!dig(s, 4, &y) || s[4] != '-' || !dig(s + 5, 2, &mo) || s[7] != '-' ||
        !dig(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !dig(s + 11, 2, &h) || s[13] != ':' || !dig(s + 14, 2, &mi))
        return 0;
    const char *p = s + 16;
    int64_t frac = 0;
    if (*p == ':') {
        if (!dig(p + 1, 2, &sec))
            return 0;
        p += 3;
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9')
                return 0;
            int n = 0;
            for (; *p >= '0' && *p <= '9'; p++, n++)
                if (n < 6)
                    frac = frac * 10 + (*p - '0');
            for (; n < 6; n++)
                frac *= 10;
        }
    }
    if (*p != '\0')
        return 0;
    int64_t secs;
    if (!civil_seconds(y, mo, d, h, mi, sec, &secs))
        return -1;
    *local_us = secs * EMP_US_PER_S + frac;
    return 1;
}

/* Parse a trimmed time into UTC microseconds; false with `why` filled. */
static bool parse_time(const struct timectx *t, const char *s, int64_t *us, char *why,
                       size_t why_size)
{
    if (t->format == NULL) {
        int64_t local_us;
        int r = parse_local_iso(s, &local_us);
        if (r > 0) {
            int64_t frac = local_us % EMP_US_PER_S;
            *us = local_to_utc(t, local_us / EMP_US_PER_S) * EMP_US_PER_S + frac;
            return true;
        }
        if (r == 0 && emp_time_parse(s, us) == EMP_OK)
            return true;
        snprintf(why, why_size, "is not an RFC 3339 time (give --time-format?)");
        return false;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_mday = 1;
    const char *end = strptime(s, t->format, &tm);
    if (end == NULL) {
        snprintf(why, why_size, "does not match --time-format \"%s\"", t->format);
        return false;
    }
    if (*end != '\0') {
        snprintf(why, why_size, "has text after the time of --time-format \"%s\"", t->format);
        return false;
    }
    int64_t secs;
    if (!civil_seconds((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec, &secs)) {
        snprintf(why, why_size, "is not a valid date and time");
        return false;
    }
    if (t->format_has_z)
        secs -= (int64_t)tm.tm_gmtoff;
    else
        secs = local_to_utc(t, secs);
    *us = secs * EMP_US_PER_S;
    return true;
}

/* Accept only names that resolve to a TZif file of the zone database (glibc
 * would silently take an unknown zone for UTC). */
static enum emp_err check_zone(const char *tz, struct emp_error *err)
{
    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/usr/share/zoneinfo";
    bool ok = tz[0] != '\0' && tz[0] != '/' && strstr(tz, "..") == NULL;
    for (const char *p = tz; ok && *p != '\0'; p++)
        ok = isalnum((unsigned char)*p) || strchr("/_+-", *p) != NULL;
    if (!ok)
        return emp_error_set(err, EMP_EINVAL, "expected an IANA zone name such as America/Denver",
                             "unknown time zone \"%s\"", tz);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, tz);
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    bool tzif = f != NULL && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    if (f != NULL)
        fclose(f);
    if (!tzif) {
        char detail[4200];
        snprintf(detail, sizeof detail, "%s is not a zone file (is tzdata installed?)", path);
        return emp_error_set(err, EMP_EINVAL, detail, "unknown time zone \"%s\"", tz);
    }
    return EMP_OK;
}

/* ---- column mapping -------------------------------------------------- */

#define MAX_COLS 32

struct colset {
    size_t n;
    size_t idx[MAX_COLS];
    const char *name[MAX_COLS]; /* as given (in `names`) */
    char *names;                /* the comma-separated list, split in place */
};

static void colset_free(struct colset *cs)
{
    free(cs->names);
    cs->names = NULL;
    cs->n = 0;
}

static void header_list(const struct emp_csv_rec *h, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < h->n && o + 1 < size; i++) {
        int w = snprintf(buf + o, size - o, "%s\"%s\"", i ? ", " : "", h->f[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (o >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

/* Resolve the comma-separated `list` (what: the option, for messages)
 * against the header. `required`: a missing column is an error, else the
 * set is left empty. */
static enum emp_err colset_resolve(struct colset *cs, const char *list, const char *what,
                                   bool required, const struct emp_csv_rec *h,
                                   struct emp_error *err)
{
    memset(cs, 0, sizeof *cs);
    cs->names = strdup(list);
    if (cs->names == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not read the header");
    char *save = NULL;
    for (char *tok = strtok_r(cs->names, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        const char *s;
        size_t n;
        trim(tok, &s, &n);
        tok = (char *)s;
        tok[n] = '\0';
        if (n == 0)
            continue;
        if (cs->n == MAX_COLS)
            return emp_error_set(err, EMP_EINVAL, NULL, "%s: more than %d columns", what,
                                 MAX_COLS);
        size_t found = SIZE_MAX;
        for (size_t i = 0; i < h->n; i++) {
            const char *hs;
            size_t hn;
            trim(h->f[i], &hs, &hn);
            if (hn != n || memcmp(hs, tok, n) != 0)
                continue;
            if (found != SIZE_MAX)
                return emp_error_set(err, EMP_EINVAL, NULL,
                                     "column \"%s\" appears more than once in the header", tok);
            found = i;
        }
        if (found == SIZE_MAX) {
            if (!required) {
                cs->n = 0;
                return EMP_OK;
            }
            char cols[400];
            header_list(h, cols, sizeof cols);
            char detail[512];
            snprintf(detail, sizeof detail, "the header has %s", cols);
            return emp_error_set(err, EMP_EINVAL, detail, "%s: no column \"%s\" in the header",
                                 what, tok);
        }
        cs->name[cs->n] = tok;
        cs->idx[cs->n++] = found;
    }
    if (cs->n == 0 && required)
        return emp_error_set(err, EMP_EINVAL, NULL, "%s: no column named", what);
    return EMP_OK;
}

/* ---- the import ------------------------------------------------------ */

/* name -> target index, open addressing over indices + 1. */
struct tmap {
    size_t *slot;
    size_t cap; /* power of two */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

struct reader {
    const struct emp_import_opts *o;
    struct emp_import *imp;
    struct timectx tc;
    struct colset target, start, end, cause, group;
    size_t header_n;
    struct tmap map;
    size_t rows_cap, targets_cap;
    struct emp_buf name, grp, cause_text;
    int64_t latest_us;           /* now plus the tolerance: later is refused */
    size_t n_future;             /* rows later than that (reported) */
    long first_future_line;
    char first_future[EMP_TIME_BUFSZ + 8]; /* "start 9999-12-31T00:00:00Z" */
};

static void report(struct reader *r, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct reader *r, long line, const char *fmt, ...)
{
    if (r->o->report == NULL)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->o->report(r->o->report_arg, line, msg);
}

/* Index of target `name`, or SIZE_MAX when there is none yet; `*slot` gets
 * where it would go. */
static size_t tmap_find(const struct reader *r, const char *name, size_t *slot)
{
    size_t mask = r->map.cap - 1;
    for (size_t i = hash_str(name) & mask;; i = (i + 1) & mask) {
        size_t v = r->map.slot[i];
        if (v == 0) {
            *slot = i;
            return SIZE_MAX;
        }
        if (strcmp(r->imp->targets[v - 1].name, name) == 0)
            return v - 1;
    }
}

static bool tmap_grow(struct reader *r)
{
    size_t cap = r->map.cap ? r->map.cap * 2 : 1024;
    size_t *slot = calloc(cap, sizeof *slot);
    if (slot == NULL)
        return false;
    for (size_t t = 0; t < r->imp->n_targets; t++) {
        size_t i = hash_str(r->imp->targets[t].name) & (cap - 1);
        while (slot[i] != 0)
            i = (i + 1) & (cap - 1);
        slot[i] = t + 1;
    }
    free(r->map.slot);
    r->map.slot = slot;
    r->map.cap = cap;
    return true;
}

/* The target called r->name.p in group r->grp.p: its index, created when
 * new. SIZE_MAX - 1 when out of memory; SIZE_MAX (with *other_group) when
 * the target was met before in another group. */
static size_t target_get(struct reader *r, const char **other_group)
{
    struct emp_import *imp = r->imp;
    if ((imp->n_targets + 1) * 2 > r->map.cap && !tmap_grow(r))
        return SIZE_MAX - 1;
    size_t slot;
    size_t t = tmap_find(r, r->name.p, &slot);
    if (t != SIZE_MAX) {
        if (strcmp(imp->targets[t].group, r->grp.p) != 0) {
            *other_group = imp->targets[t].group;
            return SIZE_MAX;
        }
        return t;
    }
    if (imp->n_targets == r->targets_cap) {
        size_t cap = r->targets_cap ? r->targets_cap * 2 : 256;
        struct emp_import_target *a = realloc(imp->targets, cap * sizeof *a);
        if (a == NULL)
            return SIZE_MAX - 1;
        imp->targets = a;
        r->targets_cap = cap;
    }
    struct emp_import_target *nt = &imp->targets[imp->n_targets];
    memset(nt, 0, sizeof *nt);
    nt->name = arena_strndup(imp->arena, r->name.p, r->name.len);
    nt->group = arena_strndup(imp->arena, r->grp.p, r->grp.len);
    if (nt->name == NULL || nt->group == NULL)
        return SIZE_MAX - 1;
    r->map.slot[slot] = ++imp->n_targets;
    return imp->n_targets - 1;
}

/* Build the target name; false (reported) when the row has none. */
static bool row_target(struct reader *r, const struct emp_csv_rec *rec)
{
    emp_buf_reset(&r->name);
    for (size_t k = 0; k < r->target.n; k++) {
        const char *s;
        size_t n;
        trim(rec->f[r->target.idx[k]], &s, &n);
        if (n == 0) {
            report(r, rec->line, "target column \"%s\" is empty; row skipped",
                   r->target.name[k]);
            return false;
        }
        if (k > 0) {
            char j = JOINER;
            emp_buf_put(&r->name, &j, 1);
        }
        size_t at = r->name.len;
        emp_buf_put(&r->name, s, n);
        /* Names are [A-Za-z0-9._-]: anything else becomes '_'. */
        for (size_t i = at; !r->name.oom && i < r->name.len; i++)
            if (!emp_cfg_is_name_char(r->name.p[i]))
                r->name.p[i] = '_';
    }
    if (!r->name.oom && r->name.len > NAME_MAX_BYTES) {
        report(r, rec->line, "target name \"%.40s...\" is longer than %d bytes; row skipped",
               r->name.p, NAME_MAX_BYTES);
        return false;
    }
    return true;
}

static bool row_group(struct reader *r, const struct emp_csv_rec *rec)
{
    emp_buf_reset(&r->grp);
    emp_buf_puts(&r->grp, "");
    if (r->o->group != NULL) {
        emp_buf_puts(&r->grp, r->o->group);
        return true;
    }
    for (size_t k = 0; k < r->group.n; k++) {
        const char *s;
        size_t n;
        trim(rec->f[r->group.idx[k]], &s, &n);
        if (n == 0)
            continue;
        if (r->grp.len > 0) {
            char j = JOINER;
            emp_buf_put(&r->grp, &j, 1);
        }
        emp_buf_put(&r->grp, s, n);
    }
    if (r->grp.oom)
        return true; /* caught by the caller */
    if (r->grp.len > GROUP_MAX_BYTES) {
        report(r, rec->line, "group \"%.40s...\" is longer than %d bytes; row skipped",
               r->grp.p, GROUP_MAX_BYTES);
        return false;
    }
    for (size_t i = 0; i < r->grp.len; i++) {
        unsigned char ch = (unsigned char)r->grp.p[i];
        if (ch < 0x20 || ch == 0x7f) {
            report(r, rec->line, "group has a control character; row skipped");
            return false;
        }
    }
    return true;
}

static void row_cause(struct reader *r, const struct emp_csv_rec *rec)
{
    emp_buf_reset(&r->cause_text);
    emp_buf_puts(&r->cause_text, "");
    for (size_t k = 0; k < r->cause.n; k++) {
        const char *s;
        size_t n;
        trim(rec->f[r->cause.idx[k]], &s, &n);
        if (n == 0)
            continue;
        if (r->cause_text.len > 0)
            emp_buf_puts(&r->cause_text, "; ");
        /* Several cause columns (one per category): say which one. */
        if (r->cause.n > 1) {
            emp_buf_puts(&r->cause_text, r->cause.name[k]);
            emp_buf_puts(&r->cause_text, ": ");
        }
        emp_buf_put(&r->cause_text, s, n);
    }
}

/* Parse the time in column `col` of `rec`; false (reported) when bad. */
static bool row_time(struct reader *r, const struct emp_csv_rec *rec, const struct colset *cs,
                     const char *what, int64_t *us)
{
    const char *s;
    size_t n;
    char why[200];
    trim(rec->f[cs->idx[0]], &s, &n);
    char text[128];
    if (n >= sizeof text) {
        report(r, rec->line, "%s is too long to be a time; row skipped", what);
        return false;
    }
    memcpy(text, s, n);
    text[n] = '\0';
    if (!parse_time(&r->tc, text, us, why, sizeof why)) {
        report(r, rec->line, "%s \"%s\" %s; row skipped", what, text, why);
        return false;
    }
    return true;
}

/* The row's target, created when new, in `*t`; SIZE_MAX when the row is
 * skipped for naming it in another group (reported, counted). */
static enum emp_err row_target_index(struct reader *r, const struct emp_csv_rec *rec,
                                     size_t *t)
{
    const char *other = NULL;
    *t = target_get(r, &other);
    if (*t == SIZE_MAX - 1)
        return EMP_ENOMEM;
    if (*t == SIZE_MAX) {
        report(r, rec->line, "target \"%s\" is in group \"%s\" on an earlier row, here in \"%s\";"
               " row skipped", r->name.p, other, r->grp.p);
        r->imp->n_skipped++;
    }
    return EMP_OK;
}

/* A row naming a target and no outage: the target, created when new. */
static enum emp_err declare_target(struct reader *r, const struct emp_csv_rec *rec)
{
    size_t t;
    enum emp_err e = row_target_index(r, rec, &t);
    if (e == EMP_OK && t != SIZE_MAX)
        r->imp->n_declared++;
    return e;
}

/* A row with a time after r->latest_us (`what`: "start" or "end"): reported
 * and counted; the file is refused once it has all been read. */
static void future_row(struct reader *r, long line, const char *what, int64_t us)
{
    char a[EMP_TIME_BUFSZ];
    emp_time_format(us, a);
    if (r->n_future++ == 0) {
        r->first_future_line = line;
        snprintf(r->first_future, sizeof r->first_future, "%s %s", what, a);
    }
    report(r, line, "%s %s is in the future; the file is refused", what, a);
}

/* One data record: a row, or a report. EMP_ENOMEM is the only failure. */

static enum emp_err add_row(struct reader *r, const struct emp_csv_rec *rec)
{
    struct emp_import *imp = r->imp;
    if (rec->n != r->header_n) {
        report(r, rec->line, "%zu field%s where the header has %zu; row skipped", rec->n,
               rec->n == 1 ? "" : "s", r->header_n);
        imp->n_skipped++;
        return EMP_OK;
    }
    if (!row_target(r, rec) || !row_group(r, rec)) {
        imp->n_skipped++;
        return EMP_OK;
    }
    if (r->name.oom || r->grp.oom)
        return EMP_ENOMEM;
    const char *s;
    size_t n;
    trim(rec->f[r->start.idx[0]], &s, &n);
    if (n == 0) {
        /* Nothing but the target (start, end and cause empty): the
         * target, without an outage, so that one that never failed can be
         * imported. A cause without a start is a bad row. */
        size_t rest = 0;
        const char *e;
        size_t ne;
        if (r->end.n > 0) {
            trim(rec->f[r->end.idx[0]], &e, &ne);
            rest += ne;
        }
        for (size_t k = 0; k < r->cause.n; k++) {
            trim(rec->f[r->cause.idx[k]], &e, &ne);
            rest += ne;
        }
        if (rest == 0)
            return declare_target(r, rec);
        report(r, rec->line, "start (column \"%s\") is empty; row skipped", r->start.name[0]);
        imp->n_skipped++;
        return EMP_OK;
    }
    int64_t start_us, end_us;
    if (!row_time(r, rec, &r->start, "start", &start_us)) {
        imp->n_skipped++;
        return EMP_OK;
    }
    end_us = start_us;
    if (r->end.n > 0) {
        trim(rec->f[r->end.idx[0]], &s, &n);
        if (n > 0 && !row_time(r, rec, &r->end, "end", &end_us)) {
            imp->n_skipped++;
            return EMP_OK;
        }
    }
    if (start_us > r->latest_us || end_us > r->latest_us) {
        bool start = start_us > r->latest_us;
        future_row(r, rec->line, start ? "start" : "end", start ? start_us : end_us);
        return EMP_OK;
    }
    if (end_us < start_us) {
        char a[EMP_TIME_BUFSZ], b[EMP_TIME_BUFSZ];
        report(r, rec->line, "end %s is before start %s; row skipped",
               emp_time_format(end_us, b), emp_time_format(start_us, a));
        imp->n_skipped++;
        return EMP_OK;
    }
    if (r->o->observed_to_us > r->o->observed_from_us &&
        (start_us < r->o->observed_from_us || end_us > r->o->observed_to_us)) {
        char a[EMP_TIME_BUFSZ], b[EMP_TIME_BUFSZ];
        report(r, rec->line, "outside the observed period (%s to %s); row skipped",
               emp_time_format(r->o->observed_from_us, a),
               emp_time_format(r->o->observed_to_us, b));
        imp->n_skipped++;
        return EMP_OK;
    }
    size_t t;
    enum emp_err e = row_target_index(r, rec, &t);
    if (e != EMP_OK || t == SIZE_MAX)
        return e;
    row_cause(r, rec);
    if (r->cause_text.oom)
        return EMP_ENOMEM;
    if (imp->n_rows == r->rows_cap) {
        size_t cap = r->rows_cap ? r->rows_cap * 2 : 1024;
        struct emp_import_row *a = realloc(imp->rows, cap * sizeof *a);
        if (a == NULL)
            return EMP_ENOMEM;
        imp->rows = a;
        r->rows_cap = cap;
    }
    struct emp_import_row *row = &imp->rows[imp->n_rows];
    row->target = t;
    row->start_us = start_us;
    row->end_us = end_us;
    row->line = rec->line;
    row->cause = arena_strndup(imp->arena, r->cause_text.p, r->cause_text.len);
    if (row->cause == NULL)
        return EMP_ENOMEM;
    imp->n_rows++;
    return EMP_OK;
}

static int cmp_key(const void *pa, const void *pb)
{
    const struct emp_import_row *a = *(const struct emp_import_row *const *)pa;
    const struct emp_import_row *b = *(const struct emp_import_row *const *)pb;
    if (a->target != b->target)
        return a->target < b->target ? -1 : 1;
    if (a->start_us != b->start_us)
        return a->start_us < b->start_us ? -1 : 1;
    return (a->line > b->line) - (a->line < b->line);
}

struct dup {
    long line, kept;
};

static int cmp_dup(const void *pa, const void *pb)
{
    const struct dup *a = pa, *b = pb;
    return (a->line > b->line) - (a->line < b->line);
}

/* Keep the first row (in file order) of each (target, start): the store
 * keys outages so, and a second row would be dropped there anyway, but
 * which one would depend on the order of the batch. */
static enum emp_err drop_duplicates(struct reader *r)
{
    struct emp_import *imp = r->imp;
    if (imp->n_rows < 2)
        return EMP_OK;
    struct emp_import_row **ix = malloc(imp->n_rows * sizeof *ix);
    struct dup *dups = NULL;
    size_t n_dups = 0;
    if (ix == NULL)
        return EMP_ENOMEM;
    for (size_t i = 0; i < imp->n_rows; i++)
        ix[i] = &imp->rows[i];
    qsort(ix, imp->n_rows, sizeof *ix, cmp_key);
    for (size_t i = 1; i < imp->n_rows; i++)
        if (ix[i]->target == ix[i - 1]->target && ix[i]->start_us == ix[i - 1]->start_us)
            n_dups++;
    if (n_dups == 0) {
        free(ix);
        return EMP_OK;
    }
    dups = malloc(n_dups * sizeof *dups);
    if (dups == NULL) {
        free(ix);
        return EMP_ENOMEM;
    }
    n_dups = 0;
    long kept = 0;
    for (size_t i = 0; i < imp->n_rows; i++) {
        if (i > 0 && ix[i]->target == ix[i - 1]->target && ix[i]->start_us == ix[i - 1]->start_us) {
            dups[n_dups].line = ix[i]->line;
            dups[n_dups++].kept = kept;
            ix[i]->line = -ix[i]->line; /* marked; restored below */
        } else {
            kept = ix[i]->line;
        }
    }
    free(ix);
    size_t o = 0;
    for (size_t i = 0; i < imp->n_rows; i++)
        if (imp->rows[i].line > 0)
            imp->rows[o++] = imp->rows[i];
    imp->n_rows = o;
    imp->n_duplicates = n_dups;
    qsort(dups, n_dups, sizeof *dups, cmp_dup);
    for (size_t i = 0; i < n_dups; i++)
        report(r, dups[i].line, "same target and start as line %ld; row ignored", dups[i].kept);
    free(dups);
    return EMP_OK;
}

static int cmp_group(const void *pa, const void *pb)
{
    const struct emp_import_target *a = *(const struct emp_import_target *const *)pa;
    const struct emp_import_target *b = *(const struct emp_import_target *const *)pb;
    return strcmp(a->group, b->group);
}

/* The observed span of every target: the period the file gave, else under
 * imp->coverage from the rows. A target's own rows always count; under
 * "group" so do those of the other members of its group, under "file" all
 * rows. A target without rows (named only) under "target", or without a
 * group under "group", or of a group none of whose members has one, gets
 * none: start after end. */
static enum emp_err compute_spans(struct emp_import *imp, int64_t observed_from_us,
                                  int64_t observed_to_us)
{
    if (observed_to_us > observed_from_us) { /* the file said when */
        for (size_t t = 0; t < imp->n_targets; t++) {
            imp->targets[t].span_start_us = observed_from_us;
            imp->targets[t].span_end_us = observed_to_us;
        }
        return EMP_OK;
    }
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t t = 0; t < imp->n_targets; t++) {
        imp->targets[t].span_start_us = INT64_MAX;
        imp->targets[t].span_end_us = INT64_MIN;
    }
    for (size_t i = 0; i < imp->n_rows; i++) {
        const struct emp_import_row *row = &imp->rows[i];
        struct emp_import_target *t = &imp->targets[row->target];
        if (row->start_us < t->span_start_us)
            t->span_start_us = row->start_us;
        if (row->end_us > t->span_end_us)
            t->span_end_us = row->end_us;
        if (row->start_us < lo)
            lo = row->start_us;
        if (row->end_us > hi)
            hi = row->end_us;
    }
    if (imp->coverage == EMP_COVERAGE_FILE) {
        for (size_t t = 0; t < imp->n_targets; t++) {
            imp->targets[t].span_start_us = lo;
            imp->targets[t].span_end_us = hi;
        }
        return EMP_OK;
    }
    if (imp->coverage == EMP_COVERAGE_TARGET || imp->n_targets == 0)
        return EMP_OK;
    /* Per group: the members' spans joined. No group is no group of one's
     * own: another target's rows say nothing of when this one was watched
     * (a row far in the past or future would lend it all that time). */
    struct emp_import_target **ix = malloc(imp->n_targets * sizeof *ix);
    if (ix == NULL)
        return EMP_ENOMEM;
    for (size_t t = 0; t < imp->n_targets; t++)
        ix[t] = &imp->targets[t];
    qsort(ix, imp->n_targets, sizeof *ix, cmp_group);
    for (size_t i = 0; i < imp->n_targets;) {
        size_t j = i + 1;
        while (j < imp->n_targets && strcmp(ix[j]->group, ix[i]->group) == 0)
            j++;
        if (ix[i]->group[0] == '\0') {
            i = j; /* each its own rows' span */
            continue;
        }
        int64_t a = INT64_MAX, b = INT64_MIN;
        for (size_t k = i; k < j; k++) {
            if (ix[k]->span_start_us < a)
                a = ix[k]->span_start_us;
            if (ix[k]->span_end_us > b)
                b = ix[k]->span_end_us;
        }
        for (; i < j; i++) {
            ix[i]->span_start_us = a;
            ix[i]->span_end_us = b;
        }
    }
    free(ix);
    return EMP_OK;
}

int emp_import_coverage_parse(const char *s)
{
    if (strcmp(s, "group") == 0)
        return EMP_COVERAGE_GROUP;
    if (strcmp(s, "file") == 0)
        return EMP_COVERAGE_FILE;
    if (strcmp(s, "target") == 0)
        return EMP_COVERAGE_TARGET;
    return -1;
}

const char *emp_import_coverage_name(enum emp_import_coverage c)
{
    switch (c) {
    case EMP_COVERAGE_GROUP: return "group";
    case EMP_COVERAGE_FILE: return "file";
    case EMP_COVERAGE_TARGET: return "target";
    }
    return "?";
}

void emp_import_free(struct emp_import *imp)
{
    if (imp == NULL)
        return;
    free(imp->rows);
    free(imp->targets);
    arena_free(imp->arena);
    free(imp);
}

static enum emp_err check_opts(const struct emp_import_opts *o, struct emp_error *err)
{
    if (o->group != NULL && o->group_cols != NULL)
        return emp_error_set(err, EMP_EINVAL, NULL, "give --group or --group-col, not both");
    if (o->group != NULL) {
        size_t n = strlen(o->group);
        bool ctl = false;
        for (size_t i = 0; i < n; i++)
            ctl |= (unsigned char)o->group[i] < 0x20 || o->group[i] == 0x7f;
        if (n > GROUP_MAX_BYTES || ctl)
            return emp_error_set(err, EMP_EINVAL, NULL,
                                 "--group: expected at most %d bytes without control characters",
                                 GROUP_MAX_BYTES);
    }
    if (o->time_format != NULL && o->time_format[0] == '\0')
        return emp_error_set(err, EMP_EINVAL, NULL, "--time-format is empty");
    if ((unsigned)o->coverage > EMP_COVERAGE_TARGET)
        return emp_error_set(err, EMP_EINVAL, NULL, "unknown coverage mode");
    if ((o->observed_from_us != 0 || o->observed_to_us != 0) &&
        !(o->observed_to_us > o->observed_from_us))
        return emp_error_set(err, EMP_EINVAL, NULL,
                             "--observed-from and --observed-to: both, the first before the"
                             " second");
    return EMP_OK;
}

static void reader_cleanup(struct reader *r)
{
    colset_free(&r->target);
    colset_free(&r->start);
    colset_free(&r->end);
    colset_free(&r->cause);
    colset_free(&r->group);
    free(r->map.slot);
    free(r->name.p);
    free(r->grp.p);
    free(r->cause_text.p);
}

/* Set TZ to `tz` (saving the old value in *saved) or restore it. */
static enum emp_err tz_set(const char *tz, char **saved, bool *had, struct emp_error *err)
{
    const char *old = getenv("TZ");
    *had = old != NULL;
    *saved = old != NULL ? strdup(old) : NULL;
    if (old != NULL && *saved == NULL)
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not set the time zone");
    char val[300];
    snprintf(val, sizeof val, ":%s", tz); /* ':' = a file of the zone database */
    if (setenv("TZ", val, 1) != 0) {
        free(*saved);
        *saved = NULL;
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not set the time zone");
    }
    tzset();
    return EMP_OK;
}

static void tz_restore(char *saved, bool had)
{
    if (had)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
}

enum emp_err emp_import_read(FILE *f, const struct emp_import_opts *o,
                             struct emp_import **out, struct emp_error *err)
{
    struct reader r;
    struct emp_csv *csv = NULL;
    struct emp_csv_rec rec;
    char *tz_saved = NULL;
    bool tz_had = false, tz_on = false;
    enum emp_err rc;

    *out = NULL;
    memset(&r, 0, sizeof r);
    r.o = o;
    rc = check_opts(o, err);
    if (rc != EMP_OK)
        return rc;
    /* In whole seconds, as messages show it. */
    r.latest_us = ((o->now_us != 0 ? o->now_us : emp_now_us()) / EMP_US_PER_S +
                   EMP_IMPORT_FUTURE_TOLERANCE_S) * EMP_US_PER_S;
    if (o->observed_to_us > r.latest_us) {
        char a[EMP_TIME_BUFSZ], detail[120];
        snprintf(detail, sizeof detail,
                 "an observed period must have ended (at most %d min from now)",
                 EMP_IMPORT_FUTURE_TOLERANCE_S / 60);
        return emp_error_set(err, EMP_EINVAL, detail, "--observed-to %s is in the future",
                             emp_time_format(o->observed_to_us, a));
    }
    if (o->tz != NULL) {
        rc = check_zone(o->tz, err);
        if (rc != EMP_OK)
            return rc;
    }
    r.imp = calloc(1, sizeof *r.imp);
    csv = emp_csv_new(f, o->max_record);
    if (r.imp == NULL || csv == NULL) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "could not start the import");
        goto out;
    }
    r.imp->coverage = o->coverage;
    r.imp->arena = calloc(1, sizeof *r.imp->arena);
    if (r.imp->arena == NULL) {
        rc = emp_error_set(err, EMP_ENOMEM, NULL, "could not start the import");
        goto out;
    }
    r.tc.format = o->time_format;
    r.tc.format_has_z = o->time_format != NULL && strstr(o->time_format, "%z") != NULL;
    if (o->tz != NULL) {
        rc = tz_set(o->tz, &tz_saved, &tz_had, err);
        if (rc != EMP_OK)
            goto out;
        tz_on = true;
        r.tc.local_tz = true;
    }

    /* The header: the first record, which must be well-formed. */
    struct emp_error herr;
    emp_error_clear(&herr);
    rc = emp_csv_next(csv, &rec, &herr);
    if (rc == EMP_EINVAL)
        rc = emp_error_set(err, EMP_EINVAL, herr.msg, "malformed header on line %ld", rec.line);
    else if (rc != EMP_OK)
        emp_error_set(err, rc, herr.detail, "%s", herr.msg);
    if (rc != EMP_OK)
        goto out;
    if (rec.eof) {
        rc = emp_error_set(err, EMP_EINVAL, "expected a header row naming the columns",
                           "the file is empty");
        goto out;
    }
    r.header_n = rec.n;
    bool dflt_end = o->end_col == NULL, dflt_cause = o->cause_cols == NULL;
    rc = colset_resolve(&r.target, o->target_cols ? o->target_cols : "target", "--target-col",
                        true, &rec, err);
    if (rc == EMP_OK)
        rc = colset_resolve(&r.start, o->start_col ? o->start_col : "start", "--start-col",
                            true, &rec, err);
    if (rc == EMP_OK)
        rc = colset_resolve(&r.end, dflt_end ? "end" : o->end_col, "--end-col", !dflt_end,
                            &rec, err);
    if (rc == EMP_OK)
        rc = colset_resolve(&r.cause, dflt_cause ? "cause" : o->cause_cols, "--cause-col",
                            !dflt_cause, &rec, err);
    if (rc == EMP_OK && o->group_cols != NULL)
        rc = colset_resolve(&r.group, o->group_cols, "--group-col", true, &rec, err);
    if (rc == EMP_OK && (r.start.n > 1 || r.end.n > 1))
        rc = emp_error_set(err, EMP_EINVAL, NULL, "--start-col and --end-col take one column");
    if (rc != EMP_OK)
        goto out;

    for (;;) {
        struct emp_error rerr;
        emp_error_clear(&rerr);
        rc = emp_csv_next(csv, &rec, &rerr);
        if (rc == EMP_EINVAL) {
            r.imp->n_read++;
            r.imp->n_skipped++;
            report(&r, rec.line, "%s; row skipped", rerr.msg);
            continue;
        }
        if (rc != EMP_OK) {
            emp_error_set(err, rc, rerr.detail, "%s", rerr.msg);
            goto out;
        }
        if (rec.eof)
            break;
        r.imp->n_read++;
        rc = add_row(&r, &rec);
        if (rc != EMP_OK) {
            emp_error_set(err, rc, NULL, "could not read line %ld", rec.line);
            goto out;
        }
    }
    if (r.n_future > 0) {
        char latest[EMP_TIME_BUFSZ], detail[160];
        snprintf(detail, sizeof detail,
                 "%zu row%s after %s (now + %d min); nothing was imported", r.n_future,
                 r.n_future == 1 ? "" : "s", emp_time_format(r.latest_us, latest),
                 EMP_IMPORT_FUTURE_TOLERANCE_S / 60);
        rc = emp_error_set(err, EMP_EINVAL, detail, "line %ld: %s is in the future",
                           r.first_future_line, r.first_future);
        goto out;
    }
    rc = drop_duplicates(&r);
    if (rc == EMP_OK)
        rc = compute_spans(r.imp, o->observed_from_us, o->observed_to_us);
    if (rc != EMP_OK)
        emp_error_set(err, rc, NULL, "could not read the file");
out:
    if (tz_on)
        tz_restore(tz_saved, tz_had);
    emp_csv_free(csv);
    reader_cleanup(&r);
    if (rc != EMP_OK) {
        emp_import_free(r.imp);
        return rc;
    }
    *out = r.imp;
    return EMP_OK;
}
