/* Open addressing over the owner's indices: growth by doubling, linear
 * probing from the owner's hash. */
#include "core/slots.h"

#include <stdlib.h>
#include <string.h>

bool emp_slots_room(const struct emp_slots *t, size_t want)
{
    return t->n >= 16 && t->n >= 2 * want;
}

int emp_slots_reset(struct emp_slots *t, size_t want)
{
    if (!emp_slots_room(t, want)) {
        size_t n = 16;
        while (n < 2 * want)
            n *= 2;
        size_t *v = calloc(n, sizeof *v);
        if (v == NULL)
            return -1;
        free(t->v);
        t->v = v;
        t->n = n;
        return 0;
    }
    memset(t->v, 0, t->n * sizeof *t->v);
    return 0;
}

size_t emp_slots_find(const struct emp_slots *t, size_t hash,
                      bool (*is_key)(size_t index, const void *ctx), const void *ctx)
{
    size_t mask = t->n - 1;
    size_t i = hash & mask;
    while (t->v[i] != 0 && !is_key(t->v[i] - 1, ctx))
        i = (i + 1) & mask;
    return i;
}

void emp_slots_free(struct emp_slots *t)
{
    free(t->v);
    t->v = NULL;
    t->n = 0;
}
