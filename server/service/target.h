/* The targets made through the API, loaded from the store into the prober
 * at start (the store is their source of truth). */
#ifndef EMP_SERVICE_TARGET_H
#define EMP_SERVICE_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "store/db.h"
#include "core/err.h"

struct emp_prober;

/* Add the targets made through the API (from the store) to `p` before it
 * starts. A definition the configuration file also has, or one that no
 * longer validates, is skipped with a warning. `*n_loaded` (may be NULL)
 * gets how many were added. */
enum emp_err emp_target_load_api(struct emp_db *db, const struct emp_config *cfg,
                                 struct emp_prober *p, size_t *n_loaded,
                                 struct emp_error *err);

#endif
