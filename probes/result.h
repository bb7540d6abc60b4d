/* What one probe observed. Produced by the probe kinds, judged by the
 * detector, carried to the writer. */
#ifndef EMP_RESULT_H
#define EMP_RESULT_H

#include <stdint.h>

/* UNKNOWN: the probe's verdict cannot be trusted because the prober itself
 * stalled while it ran (a timeout or a slow answer may be the prober's own
 * lateness). It is not an observation: no rollup, no evidence, not fed to
 * the detector, and it ends the target's span, so its time is unknown. */
enum emp_status { EMP_STATUS_OK = 0, EMP_STATUS_DEGRADED, EMP_STATUS_FAIL, EMP_STATUS_UNKNOWN };

/* Text for a status: "ok", "degraded", "fail", "unknown". */
const char *emp_status_name(enum emp_status s);

/* Error classes (short, stable strings stored in the database):
 * "refused", "timeout", "dns", "connect", "reset", "tls", "http_status",
 * "protocol", "body_too_large", "headers_too_large", "auth", "query",
 * "internal". "dns" covers a name that does not resolve and a DNS server
 * that did not answer within the probe's timeout; "timeout" is a target
 * that did not answer (or not completely: headers trickled byte by byte)
 * within it; "body_too_large" and "headers_too_large" are responses over
 * the http probe's caps (endless bodies, endless headers). */
#define EMP_ERRCLASS_MAX 24
#define EMP_ERRMSG_MAX 256

struct emp_result {
    int64_t started_at_us;  /* wall clock when the probe was sent */
    int64_t latency_us;     /* monotonic duration of the probe */
    enum emp_status status;
    char err_class[EMP_ERRCLASS_MAX]; /* "" unless FAIL */
    char message[EMP_ERRMSG_MAX];     /* "" unless FAIL; human text */
};

#endif
