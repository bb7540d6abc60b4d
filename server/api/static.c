/* The status page's files: GET / serves web/index.html and GET /static/...
 * the files under web/static/. Only regular files that resolve (symlinks
 * followed) to a path inside the web directory are served; any "." or ".."
 * segment is refused before the file system is touched (MHD has already
 * decoded %2e). The Content-Security-Policy keeps the page from loading
 * anything from another host. */
#include "api/handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define STATIC_MAX_BYTES (4 * 1024 * 1024)
#define STATIC_CSP                                                                         \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "       \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static bool is_dir(const char *p)
{
    struct stat st;
    return p != NULL && p[0] != '\0' && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *api_static_web_dir(void)
{
    const char *env = getenv("EMPIRIC_WEB_DIR");
    const char *dir = NULL;
    if (env != NULL && env[0] != '\0')
        dir = env;
#ifdef EMPIRIC_SOURCE_WEB_DIR
    else if (is_dir(EMPIRIC_SOURCE_WEB_DIR))
        dir = EMPIRIC_SOURCE_WEB_DIR;
#endif
#ifdef EMPIRIC_WEB_DIR
    else
        dir = EMPIRIC_WEB_DIR;
#endif
    if (!is_dir(dir))
        return NULL;
    return realpath(dir, NULL);
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".json", "application/json; charset=utf-8"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* True when every segment of `rel` is a plain name: no "", ".", "..", no
 * backslash or control character. */
static bool safe_rel(const char *rel)
{
    const char *s = rel;
    while (*s != '\0') {
        const char *e = strchr(s, '/');
        size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == '\\' || s[i] == 0x7f)
                return false;
        if (e == NULL)
            break;
        s = e + 1;
    }
    return rel[0] != '\0';
}

static enum MHD_Result not_found(struct api_req *r)
{
    return api_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such resource");
}

enum MHD_Result api_get_static(struct api_req *r)
{
    const char *rel;
    if (strcmp(r->path, "/") == 0 || strcmp(r->path, "/index.html") == 0)
        rel = "index.html";
    else if (strncmp(r->path, "/static/", 8) == 0)
        rel = r->path + 1;
    else
        return not_found(r);
    if (strcmp(r->method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(r->method, MHD_HTTP_METHOD_HEAD) != 0) {
        return api_error_header(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                                MHD_HTTP_HEADER_ALLOW, "GET, HEAD", "%s is not allowed on %s",
                                r->method, r->path);
    }
    const char *root = r->api->web_dir;
    if (root == NULL || !safe_rel(rel))
        return not_found(r);
    char joined[PATH_MAX];
    if (snprintf(joined, sizeof joined, "%s/%s", root, rel) >= (int)sizeof joined)
        return not_found(r);
    char *real = realpath(joined, NULL);
    size_t rl = strlen(root);
    if (real == NULL || strncmp(real, root, rl) != 0 || real[rl] != '/') {
        free(real);
        return not_found(r);
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    free(real);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_BYTES) {
        if (fd >= 0)
            close(fd);
        return not_found(r);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size ? size : 1);
    size_t got = 0;
    while (buf != NULL && got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (buf == NULL || got != size) {
        free(buf);
        return api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "could not read file");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(size, buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(buf);
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(rel)) ==
            MHD_YES &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") == MHD_YES &&
        MHD_add_response_header(resp, "Content-Security-Policy", STATIC_CSP) == MHD_YES &&
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES &&
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") == MHD_YES)
        return api_queue(r, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return MHD_NO;
}
