/* A probe kind: what a target of that kind is (its own keys, parsed into a
 * spec) and how it is probed. Each probes/probe_<kind>.c defines one
 * `const struct emp_probe_kind`, listed in the table of probes/kinds.c and
 * looked up by name; nothing else switches on the kind. The configuration
 * layer uses the definition half (through the table it is given: it cannot
 * reach the probes), the probe loop the running half. */
#ifndef EMP_CONFIG_KIND_H
#define EMP_CONFIG_KIND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct emp_cfg;   /* config/parse.h: a loading in progress */
struct emp_loop;  /* probes/loop.h */
struct emp_probe; /* probes/probe.h */
struct emp_target_policy; /* config/config.h */

struct emp_probe_kind {
    const char *name;        /* as written in a target's "kind" */
    const char *const *keys; /* its own keys of a target, NULL-terminated */

    /* ---- the definition (configuration layer) ---- */
    /* Read the kind's keys of target object `t` (JSON path `base`) into a
     * new spec in `*spec`, reporting each problem through `c`
     * (config/parse.h). `*spec` may be left NULL when something was wrong
     * (then `c` counted it) or memory ran out (then c->oom). */
    void (*parse)(struct emp_cfg *c, const json_t *t, const char *base, void **spec);
    /* Add the kind's keys to `o`, every one given; with `redact`, secrets
     * (a password in a conninfo) left out, for showing. 0, or -1 when out
     * of memory. */
    int (*to_json)(const void *spec, bool redact, json_t *o);
    /* A deep copy (NULL when out of memory), and its release (accepts
     * NULL). */
    void *(*copy)(const void *spec);
    void (*free_spec)(void *spec);
    /* For a target made through the API: report through `c` each thing in
     * the kind's keys of `spec` (JSON path `base`) that `pol` refuses: a
     * literal address it denies, a key that reaches this machine's own
     * files or sockets. Names are checked where they are resolved, at each
     * probe. NULL: the kind has nothing to check. probes/policy.h has the
     * rules every kind applies. */
    void (*police)(struct emp_cfg *c, const void *spec, const char *base,
                   const struct emp_target_policy *pol);

    /* ---- probing (the probe loop's thread) ---- */
    /* What the kind shares among the probes of one loop (curl's multi
     * handle, say): made before the first probe, freed after the last.
     * NULL when it shares nothing. */
    enum emp_err (*loop_new)(struct emp_loop *loop, void **shared);
    void (*loop_free)(void *shared);
    /* Start one probe (probes/probe.h says what is filled and what the
     * kind owes), and abandon one in flight without completing it, freeing
     * pr->kstate. */
    enum emp_err (*start)(struct emp_probe *pr, void *shared);
    void (*cancel)(struct emp_probe *pr, void *shared);
};

/* The kinds a configuration may name (probes/kinds.c has Empiric's). */
struct emp_kinds {
    const struct emp_probe_kind *const *v;
    size_t n; /* at most EMP_KINDS_MAX */
};
#define EMP_KINDS_MAX 32

/* The kind called `name`, or NULL. */
const struct emp_probe_kind *emp_kinds_find(const struct emp_kinds *kinds, const char *name);
/* Index of `kind` in the table, or -1. */
int emp_kinds_index(const struct emp_kinds *kinds, const struct emp_probe_kind *kind);

#endif
