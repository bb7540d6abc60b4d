/* GET /metrics: the Prometheus exposition of the live state, the prober's
 * figures and the cached 30-day availability (formatting in metrics.c).
 * Without the database the live figures are still served, with
 * empiric_database_up 0. */
#include "api_internal.h"

#include <stdlib.h>

#include "metrics.h"

enum MHD_Result api_get_metrics(struct api_req *r)
{
    size_t n = 0;
    struct emp_target_status *st = emp_state_snapshot(r->api->state, r->now_us, &n);
    double *avail = malloc((n > 0 ? n : 1) * sizeof *avail);
    if (st == NULL || avail == NULL) {
        free(st);
        free(avail);
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    }
    struct emp_metrics_input in;
    emp_metrics_collect(r->api->state->metrics, r->api->pool, st, n, r->now_us, avail, &in);
    char *text = emp_metrics_format(&in);
    free(avail);
    free(st);
    return api_reply_text(r, MHD_HTTP_OK, EMP_METRICS_CONTENT_TYPE, text);
}
