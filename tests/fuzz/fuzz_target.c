/* Fuzz target: one target definition as a request body carries it
 * (POST /api/v1/targets), parsed by emp_config_parse_target, with and
 * without a name from the path. What it accepts must be within every bound
 * (config_check.c), its messages one line each; and it must agree with the
 * configuration file's parser: a body accepted alone is accepted as
 * {"targets":[BODY]} with the same fields, and a body that is one JSON
 * value accepted there is accepted alone. */
#include <jansson.h>
#include <string.h>

#include "config_check.h"
#include "fuzz.h"

#define SOURCE "body"

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_target(const struct emp_target_config *a, const struct emp_target_config *b)
{
    return same_str(a->name, b->name) && a->kind == b->kind && same_str(a->group, b->group) &&
           a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
           a->fail_threshold == b->fail_threshold &&
           a->recover_threshold == b->recover_threshold && a->degraded_ms == b->degraded_ms &&
           same_str(a->url, b->url) && a->n_expect_status == b->n_expect_status &&
           memcmp(a->expect_status, b->expect_status, sizeof a->expect_status) == 0 &&
           a->reuse == b->reuse && same_str(a->host, b->host) && a->port == b->port &&
           same_str(a->conninfo, b->conninfo) && same_str(a->query, b->query);
}

/* Parse and check; true when accepted (then *out is filled). */
static bool parse(const uint8_t *data, size_t size, const char *name,
                  struct emp_target_config *out)
{
    char *msgs = NULL;
    size_t msgs_len = 0, nerrs = 12345;
    FILE *errs = open_memstream(&msgs, &msgs_len);
    FUZZ_CHECK(errs != NULL);
    enum emp_err rc =
        emp_config_parse_target((const char *)data, size, SOURCE, name, out, errs, &nerrs);
    FUZZ_CHECK(fclose(errs) == 0);
    fuzz_check_messages(msgs, msgs_len, SOURCE, nerrs);
    free(msgs);
    if (rc != EMP_OK) {
        FUZZ_CHECK((rc == EMP_ECONFIG || rc == EMP_ENOMEM) && nerrs > 0);
        FUZZ_CHECK(out->name == NULL && out->group == NULL && out->url == NULL);
        return false;
    }
    FUZZ_CHECK(nerrs == 0);
    fuzz_check_target(out);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct emp_target_config t, named;
    bool ok = parse(data, size, NULL, &t);
    if (parse(data, size, "from-path", &named)) {
        /* The path's name is a default: the body's own name wins. */
        FUZZ_CHECK(!ok || strcmp(named.name, t.name) == 0);
        emp_target_config_cleanup(&named);
    }

    /* The same text where a configuration file has its targets. A NUL
     * ends the text there, so only inputs without one compare. */
    if (memchr(data, '\0', size) == NULL) {
        static const char before[] = "{\"targets\":[", after[] = "]}";
        char *text = malloc(sizeof before + size + sizeof after);
        FUZZ_CHECK(text != NULL);
        memcpy(text, before, sizeof before - 1);
        memcpy(text + sizeof before - 1, data, size);
        memcpy(text + sizeof before - 1 + size, after, sizeof after);
        struct emp_config *cfg = NULL;
        enum emp_err rc = emp_config_load_string(text, "config", &cfg, NULL, NULL);
        if (ok) {
            FUZZ_CHECK(rc == EMP_OK && cfg->n_targets == 1);
            FUZZ_CHECK(same_target(&t, &cfg->targets[0]));
        } else if (rc == EMP_OK && cfg->n_targets == 1) {
            json_t *one = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
            FUZZ_CHECK(one == NULL); /* accepted there: then not one value */
        }
        emp_config_free(cfg);
        free(text);
    }
    if (ok)
        emp_target_config_cleanup(&t);
    return 0;
}
