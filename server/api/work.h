/* The API's workers: threads that run what may wait on the database, so
 * that libmicrohttpd's threads never do. A request that needs the store is
 * suspended on its MHD thread and handed here (api/router.c); a refresh of
 * cached figures is too. Jobs run in the order given. */
#ifndef EMP_API_WORK_H
#define EMP_API_WORK_H

#include <stdbool.h>
#include <stddef.h>

struct api_job {
    struct api_job *next;
    void (*run)(struct api_job *job); /* owns the job from then on */
};

struct api_work;

/* Start `threads` workers; NULL when they could not be started. */
struct api_work *api_work_start(size_t threads);

/* Queue `job`; false once stopping has begun (the job is not run: the
 * caller still owns it). */
bool api_work_submit(struct api_work *w, struct api_job *job);

/* Refuse new jobs from now on, run every queued one and join the workers;
 * accepts NULL. Submitting stays possible (and is refused) until
 * api_work_free. */
void api_work_close(struct api_work *w);
/* Close when not closed yet, and free; accepts NULL. */
void api_work_free(struct api_work *w);

#endif
