/* Target definitions outside the configuration file: deep copies for the
 * prober, their JSON form (as written in a configuration's "targets"),
 * and the targets made through the API, loaded from the store at start. */
#ifndef EMP_TARGET_H
#define EMP_TARGET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "store/db.h"
#include "core/err.h"

struct emp_prober;

/* Copy `src` into `dst` (which owns the copies; free with
 * emp_target_config_cleanup). Returns EMP_OK or EMP_ENOMEM (`dst` then
 * zeroed). */
enum emp_err emp_target_config_copy(struct emp_target_config *dst,
                                    const struct emp_target_config *src);

/* The definition as a configuration file writes it, every field given (a
 * new object, or NULL when out of memory). With `redact`, the passwords of
 * a postgres conninfo are left out, for showing it. */
json_t *emp_target_config_json(const struct emp_target_config *t, bool redact);

/* Add the targets made through the API (from the store) to `p` before it
 * starts. A definition the configuration file also has, or one that no
 * longer validates, is skipped with a warning. `*n_loaded` (may be NULL)
 * gets how many were added. */
enum emp_err emp_target_load_api(struct emp_db *db, const struct emp_config *cfg,
                                 struct emp_prober *p, size_t *n_loaded,
                                 struct emp_error *err);

#endif
