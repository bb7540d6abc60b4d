/* The probers sharing the database: the store's probers and latest runs,
 * judged alive by their heartbeats, with this process's own lag. */
#include "service/probers.h"

#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "ingest/writer.h"
#include "probes/prober.h"

bool emp_probers_alive(const struct emp_run *run, int64_t now_us)
{
    if (run->run_id == 0 || run->stopped_at_us != 0)
        return false;
    int64_t within_us = (int64_t)EMP_PROBER_ALIVE_BEATS * EMP_HEARTBEAT_MS * EMP_US_PER_MS;
    return run->last_beat_at_us >= now_us - within_us;
}

enum emp_err emp_probers_list(struct emp_db *db, int64_t now_us, const char *self_name,
                              struct emp_prober *self, struct emp_prober_view **out, size_t *n,
                              struct emp_error *err)
{
    struct emp_prober_row *rows = NULL;
    *out = NULL;
    *n = 0;
    size_t count = 0;
    enum emp_err rc = emp_db_list_probers(db, &rows, &count, err);
    if (rc != EMP_OK)
        return rc;
    struct emp_prober_view *v = calloc(count > 0 ? count : 1, sizeof *v);
    if (v == NULL) {
        free(rows);
        return emp_error_set(err, EMP_ENOMEM, NULL, "out of memory");
    }
    struct emp_prober_stats st;
    if (self != NULL)
        emp_prober_stats(self, &st);
    for (size_t i = 0; i < count; i++) {
        v[i].row = rows[i];
        v[i].alive = emp_probers_alive(&rows[i].run, now_us);
        v[i].self = self_name != NULL && strcmp(rows[i].name, self_name) == 0;
        if (v[i].self && self != NULL) {
            v[i].has_lag = true;
            v[i].lag_p50_us = st.lag_p50_us;
            v[i].lag_p99_us = st.lag_p99_us;
            v[i].lag_max_us = st.lag_max_us;
        }
    }
    free(rows);
    *out = v;
    *n = count;
    return EMP_OK;
}
