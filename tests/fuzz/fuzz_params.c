/* Fuzz target: the pure parsers and quoters behind the API's query
 * parameters and replies, each on the same text: emp_time_parse (from=,
 * to=, the CLI's --from/--to; a time it accepts must format and parse back
 * to itself), emp_badge_window (window=; what it accepts is its own
 * canonical label), the names of levels, periods and coverage modes, the
 * badge SVG (text must come out escaped), api_json_text (any bytes become
 * a valid JSON string) and emp_log_quote (a logfmt value that cannot end a
 * log line or its quotes early). Also emp_time_format on any 64-bit time. */
#include <string.h>

#include "api/handlers.h"
#include "api/badge_svg.h"
#include "fuzz.h"
#include "ingest/import.h"
#include "core/log.h"
#include "analysis/sla.h"
#include "core/timeutil.h"

/* Years 0000..9999, what RFC 3339 can write (as api.c bounds from/to). */
#define TIME_MIN_US (INT64_C(-62167219200) * EMP_US_PER_S)
#define TIME_MAX_US (INT64_C(253402300800) * EMP_US_PER_S)

static void check_time(const char *s)
{
    int64_t us = 0;
    enum emp_err rc = emp_time_parse(s, &us);
    FUZZ_CHECK(rc == EMP_OK || rc == EMP_EINVAL || rc == EMP_ERANGE);
    if (rc != EMP_OK || us < TIME_MIN_US || us >= TIME_MAX_US)
        return;
    char buf[EMP_TIME_BUFSZ];
    int64_t back = 0;
    emp_time_format(us, buf);
    FUZZ_CHECK(emp_time_parse(buf, &back) == EMP_OK && back == us);
}

static void check_time_format(const uint8_t *data, size_t size)
{
    if (size < 8)
        return;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | data[i];
    char buf[EMP_TIME_BUFSZ];
    emp_time_format((int64_t)u, buf);
    FUZZ_CHECK(memchr(buf, '\0', sizeof buf) != NULL);
}

static void check_window(const char *s)
{
    int64_t us = 0;
    char label[EMP_BADGE_WINDOW_LABEL_MAX];
    if (emp_badge_window(s, &us, label) != EMP_OK)
        return;
    FUZZ_CHECK(us >= INT64_C(3600000000) && us <= INT64_C(3650) * 86400 * 1000000);
    FUZZ_CHECK(strcmp(label, s) == 0);
}

static void check_names(const char *s)
{
    int level = emp_log_parse_level(s);
    FUZZ_CHECK(level >= -1 && level <= EMP_LOG_ERROR);
    int period = emp_sla_period_parse(s);
    FUZZ_CHECK(period == -1 || strcmp(emp_sla_period_name((enum emp_sla_period)period), s) == 0);
    int cov = emp_import_coverage_parse(s);
    FUZZ_CHECK(cov == -1 ||
               strcmp(emp_import_coverage_name((enum emp_import_coverage)cov), s) == 0);
}

static size_t count_markup(const char *svg)
{
    size_t n = 0;
    for (const char *p = svg; *p != '\0'; p++) {
        n += *p == '<' || *p == '>' || *p == '"';
        FUZZ_CHECK((unsigned char)*p >= 0x20 || *p == '\n');
    }
    return n;
}

static void check_badge(const char *s)
{
    static size_t markup = 0;
    if (markup == 0) {
        char *empty = emp_badge_svg("", "", EMP_BADGE_GREY);
        FUZZ_CHECK(empty != NULL);
        markup = count_markup(empty);
        free(empty);
    }
    char *svg = emp_badge_svg(s, s, EMP_BADGE_RED);
    FUZZ_CHECK(svg != NULL);
    FUZZ_CHECK(count_markup(svg) == markup);
    free(svg);
    FUZZ_CHECK(emp_badge_text_width_dpx(s) >= 0);
}

static void check_json_text(const char *s, size_t max)
{
    json_t *j = api_json_text(s, max);
    FUZZ_CHECK(j != NULL && json_is_string(j));
    FUZZ_CHECK(json_string_length(j) <= max && json_string_length(j) <= strlen(s));
    char *dump = json_dumps(j, JSON_ENCODE_ANY);
    FUZZ_CHECK(dump != NULL);
    json_t *back = json_loads(dump, JSON_DECODE_ANY, NULL);
    FUZZ_CHECK(back != NULL && json_equal(back, j));
    json_decref(back);
    free(dump);
    json_decref(j);
}

static void check_log_quote(const char *s, size_t size)
{
    char buf[96];
    size = 3 + size % (sizeof buf - 3);
    const char *q = emp_log_quote(buf, size, s);
    size_t n = strlen(q);
    FUZZ_CHECK(q == buf && n < size && n >= 2 && q[0] == '"' && q[n - 1] == '"');
    for (size_t i = 1; i + 1 < n; i++) {
        FUZZ_CHECK((unsigned char)q[i] >= 0x20);
        if (q[i] == '\\') {
            FUZZ_CHECK(q[i + 1] == '\\' || q[i + 1] == '"');
            FUZZ_CHECK(i + 2 < n); /* never the closing quote's escape */
            i++;
        } else {
            FUZZ_CHECK(q[i] != '"');
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    check_time(s);
    check_time_format(data, size);
    check_window(s);
    check_names(s);
    check_badge(s);
    check_json_text(s, size % 64);
    check_json_text(s, size);
    check_log_quote(s, size);
    free(s);
    return 0;
}
