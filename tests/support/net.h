/* Loopback sockets for the prober's tests: a port that accepts connections
 * and never answers, and a port where nothing listens. Header-only; include
 * after <cmocka.h> (failures end the test). */
#ifndef EMP_TEST_SUPPORT_NET_H
#define EMP_TEST_SUPPORT_NET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A listening socket on 127.0.0.1 that never accepts: connects succeed (the
 * kernel completes the handshake) and an HTTP request is never answered.
 * Returns the descriptor (the caller closes it); `*port` gets its port. */
static inline int test_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 512), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A loopback port nothing listens on (one was, a moment ago): connects are
 * refused. */
static inline int test_closed_port(void)
{
    int port;
    int fd = test_listener(&port);
    close(fd);
    return port;
}

#endif
