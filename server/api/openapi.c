/* GET /api/v1/openapi.json: the OpenAPI 3.0 description of every route,
 * kept in server/openapi.json and embedded at build time, so that an
 * installed binary needs no file to serve it. tests/unit/test_api_openapi.c
 * checks it against the routing table both ways. */
#include "api/handlers.h"

#include <stdlib.h>
#include <string.h>

enum MHD_Result api_get_openapi(struct api_req *r)
{
    char *text = malloc(api_openapi_json_len + 1);
    if (text != NULL)
        memcpy(text, api_openapi_json, api_openapi_json_len + 1);
    return api_reply_text(r, MHD_HTTP_OK, "application/json; charset=utf-8", text);
}
