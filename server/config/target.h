/* Target definitions apart from loading a file: deep copies and their JSON
 * form (as written in a configuration's "targets"). */
#ifndef EMP_CONFIG_TARGET_H
#define EMP_CONFIG_TARGET_H

#include <jansson.h>
#include <stdbool.h>

#include "config/config.h"
#include "core/err.h"

struct emp_cfg;

/* Copy `src` into `dst` (which owns the copies, its spec included; free
 * with emp_target_config_cleanup). Returns EMP_OK or EMP_ENOMEM (`dst` then
 * zeroed). */
enum emp_err emp_target_config_copy(struct emp_target_config *dst,
                                    const struct emp_target_config *src);

/* The definition as a configuration file writes it, every field given (a
 * new object, or NULL when out of memory). With `redact`, for showing it
 * (API replies, the store's copy for display, logs): the kind leaves out
 * its secrets (the passwords of a postgres conninfo), and in every kind's
 * keys a URL's userinfo and credential headers' values become "***"
 * (core/redact.h says which). What is probed is kept whole: store it
 * unredacted. */
json_t *emp_target_config_json(const struct emp_target_config *t, bool redact);

/* The configuration's "targets" (config.c's sections use it). */
void emp_cfg_load_targets(struct emp_cfg *c, const json_t *root, struct emp_config *cfg);

#endif
