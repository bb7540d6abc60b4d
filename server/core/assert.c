/* The end of a broken invariant (core/assert.h). */
#include "core/assert.h"

#include <stdio.h>
#include <stdlib.h>

void emp_assert_fail(const char *cond, const char *file, int line, const char *func)
{
    fprintf(stderr, "empiric: invariant broken: %s (%s:%d, %s)\n", cond, file, line, func);
    fflush(stderr);
    abort();
}
