/* The absolute deadline of each API request, kept by a watchdog thread
 * (api/deadline.c); the router starts and feeds it. */
#ifndef EMP_API_DEADLINE_H
#define EMP_API_DEADLINE_H

#include "api/reply.h"

/* Absolute deadline of each request (api/deadline.c): MHD's connection
 * timeout only counts silence, so a client trickling a byte now and then
 * would hold a connection forever. A watchdog thread shuts down (shutdown
 * (2), MHD then closes it) a connection whose request is not answered
 * within `deadline_s` of the connection's start or of the end of its
 * previous request. _start before the daemon, _stop after it. */
int api_deadline_start(struct emp_api *api, int deadline_s);
void api_deadline_stop(struct emp_api *api);
/* MHD_OPTION_NOTIFY_CONNECTION (cls: the api). */
void api_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);
/* A request of `conn` is complete: the next one gets a fresh deadline. */
void api_deadline_restart(struct emp_api *api, struct MHD_Connection *conn);

#endif
