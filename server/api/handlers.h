/* The API's handlers, one file per resource (api/<resource>.c), each
 * taking a request and queueing its reply through api/reply.h. The router
 * (api/router.c) maps methods and paths to them. */
#ifndef EMP_API_HANDLERS_H
#define EMP_API_HANDLERS_H

#include "api/reply.h"

/* Free the kept status replies (at stop). */
void api_status_copy_free(struct emp_api *api);

/* Handlers of one target and its changes (api/targets_write.c): GET shows the
 * definition; POST, PUT and DELETE need a bearer token and reach the
 * running prober. */
enum MHD_Result api_get_target(struct api_req *r);
enum MHD_Result api_post_target(struct api_req *r);
enum MHD_Result api_put_target(struct api_req *r);
enum MHD_Result api_delete_target(struct api_req *r);

/* Handlers (api/targets.c). */
enum MHD_Result api_get_targets(struct api_req *r);
enum MHD_Result api_get_outages(struct api_req *r);
enum MHD_Result api_get_uptime(struct api_req *r);

/* Handlers (api/reliability.c), and the JSON of a reliability summary
 * (a new object; NULL on allocation failure). */
struct emp_reliability;
enum MHD_Result api_get_reliability(struct api_req *r);
json_t *api_reliability_json(const struct emp_reliability *rel);

/* The status refresher: started with the daemon, stopped before it is
 * freed (api/status.c). */
int api_status_start(struct emp_api *api);
void api_status_stop(struct emp_api *api);
/* Compute the status once now, wanted or not (emp_api_warm_status). */
void api_status_warm(struct emp_api *api);

/* Handlers (api/sla.c). */
enum MHD_Result api_get_sla(struct api_req *r);

/* Handlers (api/groups.c). */
enum MHD_Result api_get_groups(struct api_req *r);
enum MHD_Result api_get_correlation(struct api_req *r);
enum MHD_Result api_get_group_reliability(struct api_req *r);
enum MHD_Result api_get_metrics(struct api_req *r); /* api/metrics.c */
enum MHD_Result api_get_monitor(struct api_req *r); /* api/metrics.c */

/* Handler (api/probers.c): the probers sharing the database. */
enum MHD_Result api_get_probers(struct api_req *r);

/* Handlers (api/badge.c): SVG badges of a target's uptime and state. */
enum MHD_Result api_get_badge_uptime(struct api_req *r);
enum MHD_Result api_get_badge_state(struct api_req *r);

/* Handler (api/openapi.c), and the OpenAPI description it serves:
 * server/api/openapi.json embedded at build time (cmake/embed.cmake),
 * NUL-terminated, api_openapi_json_len bytes before the NUL. */
enum MHD_Result api_get_openapi(struct api_req *r);
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

/* Handler (api/status.c): everything the status page shows, in one call. */
enum MHD_Result api_get_status(struct api_req *r);

/* Handler (api/static.c): "/", "/index.html" and "/static/..." from the web
 * directory; and that directory (a new string from realpath(), or NULL when
 * there is none): $EMPIRIC_WEB_DIR, else the source tree's web/, else the
 * installed share/empiric/web. */
enum MHD_Result api_get_static(struct api_req *r);
char *api_static_web_dir(void);

#endif
