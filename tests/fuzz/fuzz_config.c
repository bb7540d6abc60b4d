/* Fuzz target: a whole configuration file (emp_config_load_string, the
 * parser `serve` and `check-config` use). Whatever the text, loading must
 * not crash or leak, must return a configuration inside every documented
 * bound or nothing, and must report each problem as one line naming the
 * file (config_check.c). */
#include "config_check.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* jansson reads up to the first NUL: so does a file read as text. */
    char *text = fuzz_strndup(data, size);
    fuzz_config_load_and_check(text, "fuzz.json");
    free(text);
    return 0;
}
