/* The API's workers (api/work.h): one queue under a mutex, a few threads
 * taking jobs from it. The queue needs no bound of its own: each job is a
 * suspended connection (bounded by the API's connection limit) or the one
 * refresh of the /metrics figures under way. */
#include "api/work.h"

#include <pthread.h>
#include <stdlib.h>

struct api_work {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct api_job *head, *tail;
    bool stopping;
    bool joined;
    size_t n_threads;
    pthread_t threads[];
};

static void *worker(void *arg)
{
    struct api_work *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->head == NULL && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        struct api_job *job = w->head;
        if (job == NULL)
            break; /* stopping, and nothing left */
        w->head = job->next;
        if (w->head == NULL)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        job->next = NULL;
        job->run(job);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct api_work *api_work_start(size_t threads)
{
    if (threads == 0)
        threads = 1;
    struct api_work *w = calloc(1, sizeof *w + threads * sizeof w->threads[0]);
    if (w == NULL)
        return NULL;
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return NULL;
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    for (; w->n_threads < threads; w->n_threads++)
        if (pthread_create(&w->threads[w->n_threads], NULL, worker, w) != 0)
            break;
    if (w->n_threads == 0) {
        api_work_free(w);
        return NULL;
    }
    return w;
}

bool api_work_submit(struct api_work *w, struct api_job *job)
{
    pthread_mutex_lock(&w->mu);
    bool ok = !w->stopping;
    if (ok) {
        job->next = NULL;
        if (w->tail != NULL)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

void api_work_close(struct api_work *w)
{
    if (w == NULL || w->joined)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    w->joined = true;
}

void api_work_free(struct api_work *w)
{
    if (w == NULL)
        return;
    api_work_close(w);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
