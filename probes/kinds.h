/* Empiric's probe kinds: the table a configuration's "kind" is looked up
 * in (config/kind.h says what a kind is). */
#ifndef EMP_PROBES_KINDS_H
#define EMP_PROBES_KINDS_H

#include "config/kind.h"

/* http, tcp, postgres: each defined by its probes/probe_<kind>.c. */
extern const struct emp_kinds emp_probe_kinds;

#endif
