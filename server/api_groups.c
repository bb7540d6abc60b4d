/* Handlers of /api/v1/groups: the groups the store knows (targets sharing a
 * non-empty group, configured or imported) and their sizes. */
#include "api_internal.h"

#include <stdlib.h>

enum MHD_Result api_get_groups(struct api_req *r)
{
    struct emp_db *db = NULL;
    struct emp_error err;
    emp_error_clear(&err);
    enum emp_err e = emp_db_pool_get(r->api->pool, &db, &err);
    if (e != EMP_OK || db == NULL)
        return api_db_error(r, NULL, e != EMP_OK ? e : EMP_EDB, &err, "connect to the database");
    struct emp_group_row *g = NULL;
    size_t n = 0;
    e = emp_db_list_groups(db, &g, &n, &err);
    if (e != EMP_OK) {
        enum MHD_Result ret = api_db_error(r, db, e, &err, "list groups");
        emp_db_pool_put(r->api->pool, db);
        return ret;
    }
    emp_db_pool_put(r->api->pool, db);
    json_t *list = json_array();
    int bad = list == NULL;
    for (size_t i = 0; i < n && !bad; i++) {
        json_t *o = json_object();
        bad |= json_object_set_new(o, "name", api_json_text(g[i].name, sizeof g[i].name));
        bad |= json_object_set_new(o, "members", json_integer(g[i].members));
        bad |= json_array_append_new(list, o);
    }
    free(g);
    json_t *body = NULL;
    if (!bad)
        body = json_pack("{s:o}", "groups", list);
    else
        json_decref(list);
    return api_reply(r, MHD_HTTP_OK, body);
}
