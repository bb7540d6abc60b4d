/* The absolute deadline of each request. libmicrohttpd's connection timeout
 * counts only silence: a client that sends one header byte every few
 * seconds (slowloris), or reads the reply as slowly, would hold a
 * connection and its memory forever. Every connection is listed here with
 * the time its current request began (the connection's start, then the end
 * of its previous request); the list is in that order, so a watchdog thread
 * looks only at its head, sleeping until the head's deadline. A connection
 * past it is shutdown(2): MHD sees the socket end and closes it as usual.
 * MHD tells of a closed connection before it closes the socket, under the
 * same lock, so a descriptor shut down here is never one reused since. */
#include "api/deadline.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/timeutil.h"

struct api_conn {
    struct api_conn *prev, *next;
    int fd;
    int64_t began_us;   /* monotonic */
    bool listed;        /* in the list (not yet cut) */
};

struct api_deadline {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool stop;
    int64_t deadline_us;
    struct api_conn *head, *tail; /* oldest request first */
};

static void unlink_conn(struct api_deadline *d, struct api_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        d->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        d->tail = c->prev;
    c->prev = c->next = NULL;
    c->listed = false;
}

/* Append `c` as the newest request; wakes the watchdog when the list was
 * empty (it then waits without a timeout). */
static void append_conn(struct api_deadline *d, struct api_conn *c)
{
    bool was_empty = d->head == NULL;
    c->began_us = emp_mono_us();
    c->prev = d->tail;
    c->next = NULL;
    if (d->tail != NULL)
        d->tail->next = c;
    else
        d->head = c;
    d->tail = c;
    c->listed = true;
    if (was_empty)
        pthread_cond_signal(&d->cv);
}

static void *watchdog(void *arg)
{
    struct api_deadline *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stop) {
        int64_t now = emp_mono_us();
        while (d->head != NULL && d->head->began_us + d->deadline_us <= now) {
            struct api_conn *c = d->head;
            unlink_conn(d, c);
            shutdown(c->fd, SHUT_RDWR);
            emp_debug("request deadline passed; connection closed", "fd=%d deadline_s=%.0f",
                      c->fd, (double)d->deadline_us / 1e6);
        }
        if (d->head == NULL) {
            pthread_cond_wait(&d->cv, &d->mu);
            continue;
        }
        int64_t until = d->head->began_us + d->deadline_us;
        struct timespec ts = {.tv_sec = (time_t)(until / EMP_US_PER_S),
                              .tv_nsec = (long)(until % EMP_US_PER_S) * 1000};
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int api_deadline_start(struct emp_api *api, int deadline_s)
{
    struct api_deadline *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -1;
    d->deadline_us = (int64_t)deadline_s * EMP_US_PER_S;
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        /* emp_mono_us() is CLOCK_MONOTONIC: wait on the same clock. */
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        ok = pthread_cond_init(&d->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&d->mu, NULL) != 0) {
        pthread_cond_destroy(&d->cv);
        ok = false;
    }
    if (ok && pthread_create(&d->thread, NULL, watchdog, d) != 0) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        ok = false;
    }
    if (!ok) {
        free(d);
        return -1;
    }
    api->deadline = d;
    return 0;
}

void api_deadline_stop(struct emp_api *api)
{
    struct api_deadline *d = api->deadline;
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    /* The daemon is gone: nothing is listed any more. */
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    api->deadline = NULL;
}

void api_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
    struct emp_api *api = cls;
    struct api_deadline *d = api->deadline;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct api_conn *c = info != NULL ? calloc(1, sizeof *c) : NULL;
        *socket_context = c;
        if (c == NULL) {
            emp_warn("connection without a request deadline", "reason=%s",
                     info == NULL ? "no descriptor" : "out of memory");
            return;
        }
        c->fd = info->connect_fd;
        pthread_mutex_lock(&d->mu);
        append_conn(d, c);
        pthread_mutex_unlock(&d->mu);
        return;
    }
    struct api_conn *c = *socket_context;
    if (c == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    if (c->listed)
        unlink_conn(d, c);
    pthread_mutex_unlock(&d->mu);
    free(c);
    *socket_context = NULL;
}

void api_deadline_restart(struct emp_api *api, struct MHD_Connection *conn)
{
    struct api_deadline *d = api->deadline;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct api_conn *c = info != NULL ? info->socket_context : NULL;
    if (c == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    /* A connection already cut stays cut. */
    if (c->listed) {
        unlink_conn(d, c);
        append_conn(d, c);
    }
    pthread_mutex_unlock(&d->mu);
}
