/* A table that finds entries of an array its owner keeps, by a key the
 * owner hashes and compares: open addressing with linear probing, each
 * slot an index + 1 (0: empty), at least twice as many slots as entries,
 * so that a lookup reads a few slots whatever the number of entries. The
 * owner fills it, and fills it anew when its indices move. Not
 * thread-safe. */
#ifndef EMP_SLOTS_H
#define EMP_SLOTS_H

#include <stdbool.h>
#include <stddef.h>

struct emp_slots {
    size_t *v;
    size_t n; /* a power of two, or 0 before the first reset */
};

/* Empty `t`, first grown to at least twice `want` slots (16 at least)
 * when it has fewer. Returns 0, or -1 when out of memory (`t` then as it
 * was). */
int emp_slots_reset(struct emp_slots *t, size_t want);

/* Whether `t` has room for `want` entries without a reset. */
bool emp_slots_room(const struct emp_slots *t, size_t want);

/* The slot holding the entry for which `is_key(index, ctx)` is true,
 * searched from `hash`, or the empty slot where it would go. `t` has been
 * reset at least once. */
size_t emp_slots_find(const struct emp_slots *t, size_t hash,
                      bool (*is_key)(size_t index, const void *ctx), const void *ctx);

/* Free the slots; accepts a zeroed table. */
void emp_slots_free(struct emp_slots *t);

#endif
