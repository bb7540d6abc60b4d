/* Fuzz target: one target definition as a request body carries it
 * (POST /api/v1/targets), parsed by emp_config_parse_target, with and
 * without a name from the path. What it accepts must be within every bound
 * (config_check.c), its messages one line each; and it must agree with the
 * configuration file's parser: a body accepted alone is accepted as
 * {"targets":[BODY]} with the same fields, and a body that is one JSON
 * value accepted there is accepted alone. */
#include <jansson.h>
#include <string.h>

#include "config/target.h"
#include "config_check.h"
#include "fuzz.h"

#define SOURCE "body"

/* Equal definitions: the same JSON form, every field given (the kind's
 * own fields included). */
static bool same_target(const struct emp_target_config *a, const struct emp_target_config *b)
{
    json_t *ja = emp_target_config_json(a, false), *jb = emp_target_config_json(b, false);
    FUZZ_CHECK(ja != NULL && jb != NULL);
    bool same = a->kind == b->kind && json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return same;
}

/* Parse and check; true when accepted (then *out is filled). */
static bool parse(const uint8_t *data, size_t size, const char *name,
                  struct emp_target_config *out)
{
    char *msgs = NULL;
    size_t msgs_len = 0, nerrs = 12345;
    FILE *errs = open_memstream(&msgs, &msgs_len);
    FUZZ_CHECK(errs != NULL);
    enum emp_err rc = emp_config_parse_target((const char *)data, size, SOURCE, name,
                                              &emp_probe_kinds, out, errs, &nerrs);
    FUZZ_CHECK(fclose(errs) == 0);
    fuzz_check_messages(msgs, msgs_len, SOURCE, nerrs);
    free(msgs);
    if (rc != EMP_OK) {
        FUZZ_CHECK((rc == EMP_ECONFIG || rc == EMP_ENOMEM) && nerrs > 0);
        FUZZ_CHECK(out->name == NULL && out->group == NULL && out->spec == NULL);
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
        enum emp_err rc =
            emp_config_load_string(text, "config", &emp_probe_kinds, &cfg, NULL, NULL);
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
