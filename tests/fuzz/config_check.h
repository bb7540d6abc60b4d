/* Checks shared by the configuration harnesses: what emp_config_load*
 * promises about what it accepted, and about how it reports what it
 * refused. */
#ifndef EMP_FUZZ_CONFIG_CHECK_H
#define EMP_FUZZ_CONFIG_CHECK_H

#include <stddef.h>

#include "config/config.h"
#include "probes/kinds.h"

/* Load `text` (`name` in messages) and check the result; aborts on a
 * broken promise. Returns the number of targets accepted (0 when the text
 * was refused). */
size_t fuzz_config_load_and_check(const char *text, const char *name);

/* Check one accepted target definition: bounds, required fields. */
void fuzz_check_target(const struct emp_target_config *t);

/* Check the `len` bytes of messages written for `nerrs` problems: one line
 * each, each starting with "SOURCE:". */
void fuzz_check_messages(const char *msgs, size_t len, const char *source, size_t nerrs);

#endif
