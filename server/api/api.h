/* The HTTP API on libmicrohttpd: a static routing table of
 * {method, path, handler}; every response is JSON, errors are
 * {"error":{"code","message"}} with the right status. */
#ifndef EMP_API_H
#define EMP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "core/err.h"
#include "probes/state.h"

struct emp_api;

/* Listen on host:port (host "127.0.0.1", "::1", "0.0.0.0", ...). `cfg` (may
 * be NULL: no SLAs, no configured targets, the default limits), `state` and
 * `pool` are borrowed and must outlive the API. */
enum emp_err emp_api_start(const char *host, int port, const struct emp_config *cfg,
                           struct emp_state *state,
                           struct emp_db_pool *pool, struct emp_api **out,
                           struct emp_error *err);

/* Where the write endpoints send target changes (borrowed; must outlive
 * the API). Until it is set they answer 503. */
struct emp_prober;
void emp_api_set_prober(struct emp_api *api, struct emp_prober *prober);

/* The port actually bound (useful after asking for port 0), or -1. */
int emp_api_port(const struct emp_api *api);

/* Compute the status page's figures once now, so that a visitor soon after
 * start does not wait (serve calls it at start); they are kept fresh only
 * while someone asks for them. */
void emp_api_warm_status(struct emp_api *api);

/* Stop serving and free; accepts NULL. */
void emp_api_stop(struct emp_api *api);

/* Route i of the routing table: its method and path pattern (static
 * strings; "{name}" marks the captured name). False past the last route.
 * For tests that compare the table with the OpenAPI description. */
bool emp_api_route_at(size_t i, const char **method, const char **pattern);

#endif
