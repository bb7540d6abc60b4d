/* Reading a configuration's JSON with every problem reported, one line
 * each: `FILE: JSON.PATH: expected WHAT, got VALUE`. Used by the
 * configuration's sections and by each probe kind's parse (config/kind.h);
 * nothing stops at the first problem, so check-config lists them all. */
#ifndef EMP_CONFIG_PARSE_H
#define EMP_CONFIG_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "config/kind.h"

#define EMP_CFG_SHOW_MAX 60   /* bytes of a bad value quoted in a message */
#define EMP_CFG_WHERE_MAX 256 /* bytes of a JSON path in a message */
#define EMP_CFG_HOST_MAX 253  /* longest DNS name */
#define EMP_CFG_PORT_MAX 65535
#define EMP_CFG_NAME_EXPECTED "a name of 1 to 128 characters from [A-Za-z0-9._-]"
#define EMP_CFG_HOST_EXPECTED "a host name or IP address (no brackets, no port)"

/* A loading in progress. */
struct emp_cfg {
    const char *file; /* names the source in every message */
    FILE *errs;       /* may be NULL */
    size_t nerrs;
    bool oom;                      /* an allocation failed: EMP_ENOMEM */
    const struct emp_kinds *kinds; /* what a target's "kind" may name */
};

/* A JSON path or a shown value, returned by value so that messages can use
 * them inline; a temporary lives until the end of the full expression. */
struct emp_cfg_where {
    char s[EMP_CFG_WHERE_MAX];
};
struct emp_cfg_shown {
    char s[EMP_CFG_SHOW_MAX + 1];
};

enum emp_cfg_field { EMP_CFG_ABSENT, EMP_CFG_OK, EMP_CFG_BAD };

/* One problem, one line: `FILE: WHERE: TEXT` (`where` NULL or "": no
 * path). */
void emp_cfg_report(struct emp_cfg *c, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A JSON syntax error as `FILE:LINE:COLUMN: TEXT` (or out of memory). */
void emp_cfg_report_json_error(struct emp_cfg *c, const json_error_t *e);
/* "required, expected WHAT" at base.key. */
void emp_cfg_report_missing(struct emp_cfg *c, const char *base, const char *key,
                            const char *expected);
/* "expected WHAT, got VALUE[ (WHY)]" at base.key, VALUE from `obj`. */
void emp_cfg_report_value(struct emp_cfg *c, const json_t *obj, const char *base, const char *key,
                          const char *expected, const char *why);

/* Compact JSON text of `v`, cut to EMP_CFG_SHOW_MAX bytes. */
struct emp_cfg_shown emp_cfg_show(struct emp_cfg *c, const json_t *v);
/* `base.key`, or `base["odd key"]` when the key is not an identifier. */
struct emp_cfg_where emp_cfg_at_key(struct emp_cfg *c, const char *base, const char *key);
/* `base[i]`. */
struct emp_cfg_where emp_cfg_at_index(const char *base, size_t i);
struct emp_cfg_where emp_cfg_where_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A key an object may hold, and for a target which kinds take it (a bit
 * per index in the kinds table; EMP_CFG_ALL_KINDS for every kind). */
struct emp_cfg_key {
    const char *key;
    unsigned kinds;
};
#define EMP_CFG_ALL_KINDS (~0u)
/* Report every key of `obj` that `keys` does not allow for the kind at
 * index `kind` of c->kinds (-1 when there is none or it is unknown: then
 * only keys no kind takes are reported), with a suggestion within two
 * edits or the list of valid keys. `holder` names the object in messages
 * ("a tcp target"). */
void emp_cfg_check_keys(struct emp_cfg *c, const json_t *obj, const char *base,
                        const struct emp_cfg_key *keys, size_t n_keys, int kind,
                        const char *holder);

/* strdup that notes a failure in c->oom (then NULL). */
char *emp_cfg_dup(struct emp_cfg *c, const char *s);

/* Field readers: each reports a value of the wrong type or range itself.
 * Integer `key` of `obj` in [min, max] into *out, or `dflt` when absent;
 * `max_from` names the field the upper bound comes from, or is NULL. */
enum emp_cfg_field emp_cfg_get_int(struct emp_cfg *c, const json_t *obj, const char *base,
                                   const char *key, long long min, long long max,
                                   const char *max_from, int dflt, int *out);
/* String `key` into *out (borrowed from `obj`); a value that is not a
 * string is reported with `expected`. */
enum emp_cfg_field emp_cfg_get_string(struct emp_cfg *c, const json_t *obj, const char *base,
                                      const char *key, const char *expected, const char **out);
/* Number (integer or real) `key` into *out, or `dflt`; the range is the
 * caller's to check. */
enum emp_cfg_field emp_cfg_get_number(struct emp_cfg *c, const json_t *obj, const char *base,
                                      const char *key, const char *expected, double dflt,
                                      double *out);
/* A quorum (`"majority"`, `"any"`, `"all"` or a number of locations) into
 * *out's rule and count; *out untouched when absent. */
enum emp_cfg_field emp_cfg_get_quorum(struct emp_cfg *c, const json_t *obj, const char *base,
                                      const char *key, struct emp_quorum *out);
/* The JSON of a quorum, as the configuration writes it (a new value). */
json_t *emp_quorum_json(const struct emp_quorum *q);
/* Boolean `key` into *out, or `dflt` when absent. */
enum emp_cfg_field emp_cfg_get_bool(struct emp_cfg *c, const json_t *obj, const char *base,
                                    const char *key, bool dflt, bool *out);

/* Value checks. */
bool emp_cfg_is_name_char(char ch);
bool emp_cfg_has_control(const char *s);
/* A host name or IP address: 1..253 of [A-Za-z0-9._-:%]. */
bool emp_cfg_valid_host(const char *s);
/* A decimal port 1..65535 spanning all of s[0..n), or -1. */
int emp_cfg_parse_port(const char *s, size_t n);

#endif
