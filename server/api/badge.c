/* GET /badge/{name}.svg (availability over ?window=, default 30 days) and
 * GET /badge/{name}/state.svg (the current state): SVG badges for READMEs
 * and dashboards. Errors (unknown target, bad window, database away) are
 * the API's JSON errors with their usual status. */
#include "api/handlers.h"
#include "service/view.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/badge_svg.h"
#include "analysis/uptime.h"

#define CONTENT_TYPE_SVG "image/svg+xml"
#define DEFAULT_WINDOW_US (INT64_C(30) * 86400 * 1000000)

/* Reply with `svg` (stolen; NULL: out of memory, 500). Badges are
 * fetched through caches (image proxies): revalidate every time. */
static enum MHD_Result reply_svg(struct api_req *r, char *svg)
{
    if (svg == NULL)
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(svg), svg, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(svg);
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_SVG) ==
            MHD_YES &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, max-age=0") ==
            MHD_YES)
        return api_queue(r, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return MHD_NO;
}

/* The target's timeline over [from, to) from the store. Returns true with
 * `*seg` (new array, free()) and `*n` set, or false with a reply queued in
 * `*ret` (404 for an unknown target, 503 without a database). */
static bool load_timeline(struct api_req *r, int64_t from, int64_t to,
                          struct emp_segment **seg, size_t *n, enum MHD_Result *ret)
{
    struct emp_db *db = NULL;
    struct emp_error err;
    emp_error_clear(&err);
    struct emp_view_history h = {0};
    struct emp_view view;
    int64_t id = 0;
    bool ok = false;
    *seg = NULL;
    *n = 0;
    if (!api_view(r, &view, ret) || !api_db_get(r, &db, ret))
        return false;
    enum emp_err e = emp_db_find_target(db, r->name, &id, &err);
    if (e != EMP_OK) {
        *ret = api_db_error(r, db, e, &err, "look up the target");
        goto out;
    }
    e = emp_view_history_load(db, id, from, to, r->now_us, &view, &h, &err);
    if (e != EMP_OK) {
        *ret = api_view_error(r, db, &view, e, &err, "read the target's history");
        goto out;
    }
    if (emp_timeline_build(from, to, r->now_us, h.spans, h.n_spans, h.outages, h.n_outages, seg,
                           n) != EMP_OK) {
        *ret = api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto out;
    }
    ok = true;
out:
    emp_db_pool_put(r->api->pool, db);
    emp_view_history_free(&h);
    return ok;
}

enum MHD_Result api_get_badge_uptime(struct api_req *r)
{
    int64_t window_us = DEFAULT_WINDOW_US;
    char wlabel[EMP_BADGE_WINDOW_LABEL_MAX] = "30d";
    const char *w = api_query(r, "window");
    if (w != NULL && emp_badge_window(w, &window_us, wlabel) != EMP_OK)
        return api_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                         "window: expected hours or days such as 24h, 7d, 30d or 90d, at "
                         "most 3650d");
    int64_t to = r->now_us, from = to - window_us;
    struct emp_segment *seg = NULL;
    size_t n = 0;
    enum MHD_Result ret;
    if (!load_timeline(r, from, to, &seg, &n, &ret))
        return ret;
    struct emp_uptime u;
    emp_uptime_from_timeline(from, to, r->now_us, seg, n, &u);
    free(seg);
    char label[32], value[EMP_BADGE_VALUE_MAX];
    snprintf(label, sizeof label, "uptime %s", wlabel);
    const char *color = emp_badge_availability(u.availability, value);
    return reply_svg(r, emp_badge_svg(label, value, color));
}

/* The state now: from the live state for a configured target; for a target
 * only the store knows (imported history, or no longer configured), what
 * the store observed at this moment — unknown unless a prober is still
 * covering it. */
enum MHD_Result api_get_badge_state(struct api_req *r)
{
    struct emp_target_status live;
    const char *state = emp_state_find(r->api->state, r->name, r->now_us, &live)
                            ? emp_tstate_name(live.state)
                            : NULL;
    if (state == NULL) {
        struct emp_segment *seg = NULL;
        size_t n_seg = 0;
        enum MHD_Result ret;
        /* One second ending now: its last segment is the state now. */
        if (!load_timeline(r, r->now_us - 1000000, r->now_us, &seg, &n_seg, &ret))
            return ret;
        enum emp_seg_state s = n_seg > 0 ? seg[n_seg - 1].state : EMP_SEG_UNKNOWN;
        free(seg);
        state = s == EMP_SEG_UP ? "up" : s == EMP_SEG_DOWN ? "down" : "unknown";
    }
    return reply_svg(r, emp_badge_svg(r->name, state, emp_badge_state_color(state)));
}
