/* Names and buckets of the domain types (core/model.h). */
#include "core/model.h"

const char *emp_status_name(enum emp_status s)
{
    switch (s) {
    case EMP_STATUS_OK: return "ok";
    case EMP_STATUS_DEGRADED: return "degraded";
    case EMP_STATUS_FAIL: return "fail";
    case EMP_STATUS_UNKNOWN: return "unknown";
    }
    return "fail";
}

const int emp_hist_bounds_ms[EMP_HIST_BUCKETS - 1] = {1,   2,    5,    10,   20,   50,   100,
                                                      200, 500, 1000, 2000, 5000, 10000};

int emp_hist_bucket(int64_t latency_us)
{
    for (int i = 0; i < EMP_HIST_BUCKETS - 1; i++)
        if (latency_us <= (int64_t)emp_hist_bounds_ms[i] * 1000)
            return i;
    return EMP_HIST_BUCKETS - 1;
}
