/* The table of probe kinds. A new kind is one file, probes/probe_<kind>.c,
 * defining its `const struct emp_probe_kind`, and one line here. */
#include "probes/kinds.h"

extern const struct emp_probe_kind emp_kind_http;     /* probes/probe_http.c */
extern const struct emp_probe_kind emp_kind_tcp;      /* probes/probe_tcp.c */
extern const struct emp_probe_kind emp_kind_postgres; /* probes/probe_pg.c */

static const struct emp_probe_kind *const kinds[] = {
    &emp_kind_http,
    &emp_kind_tcp,
    &emp_kind_postgres,
};

const struct emp_kinds emp_probe_kinds = {kinds, sizeof kinds / sizeof kinds[0]};
