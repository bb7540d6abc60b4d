/* The address rules of the targets made through the API, and the check of
 * their definitions. An address is refused when it is in a denied block,
 * when allowed blocks are given and it is in none, or when its port is the
 * API's and the address is this machine's own. */
#include "probes/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "config/parse.h"
#include "core/cidr.h"

/* `sa`'s address as text, without port. */
static void addr_text(const struct sockaddr *sa, char *buf, size_t size)
{
    const void *a = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (inet_ntop(sa->sa_family, a, buf, (socklen_t)size) == NULL)
        snprintf(buf, size, "(unprintable address)");
}

static int port_of(const struct sockaddr *sa)
{
    return ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                          : ((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* Whether `sa` is an address of this machine. Loopback and the
 * unspecified address (a connection to 0.0.0.0 reaches this machine) are
 * known without asking; for the others the kernel says: a socket can be
 * bound to a local address only. When it cannot tell (no socket left),
 * the address is taken for local: refusing a probe is the safer mistake. */
static bool own_address(const struct sockaddr *sa)
{
    static const struct emp_cidr local[] = {
        {.v6 = false, .bits = 8, .addr = {127}},
        {.v6 = false, .bits = 32, .addr = {0}},
        {.v6 = true, .bits = 128, .addr = {[15] = 1}},
        {.v6 = true, .bits = 128, .addr = {0}},
    };
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (emp_cidr_contains(&local[i], sa))
            return true;
    struct sockaddr_storage ss;
    socklen_t len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6);
    memcpy(&ss, sa, len);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
    int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true;
    bool own = bind(fd, (struct sockaddr *)&ss, len) == 0 || errno != EADDRNOTAVAIL;
    close(fd);
    return own;
}

const char *emp_policy_refuses(const struct emp_target_policy *pol, const struct sockaddr *sa,
                               char *why)
{
    if (pol == NULL)
        return NULL;
    char addr[INET6_ADDRSTRLEN];
    char block[EMP_CIDR_BUFSZ];
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
        snprintf(why, EMP_POLICY_WHY_MAX, "an address of family %d is not an IP address",
                 (int)sa->sa_family);
        return why;
    }
    addr_text(sa, addr, sizeof addr);
    for (size_t i = 0; i < pol->n_denied; i++) {
        if (emp_cidr_contains(&pol->denied[i], sa)) {
            snprintf(why, EMP_POLICY_WHY_MAX, "%s is in api.target_policy.denied_cidrs (%s)",
                     addr, emp_cidr_format(&pol->denied[i], block));
            return why;
        }
    }
    bool allowed = pol->n_allowed == 0;
    for (size_t i = 0; i < pol->n_allowed && !allowed; i++)
        allowed = emp_cidr_contains(&pol->allowed[i], sa);
    if (!allowed) {
        snprintf(why, EMP_POLICY_WHY_MAX, "%s is not in api.target_policy.allowed_cidrs", addr);
        return why;
    }
    if (pol->api_port > 0 && port_of(sa) == pol->api_port && own_address(sa)) {
        snprintf(why, EMP_POLICY_WHY_MAX,
                 "%s port %d is this monitor's own API, which its targets may not probe", addr,
                 pol->api_port);
        return why;
    }
    return NULL;
}

const char *emp_policy_refuses_host(const struct emp_target_policy *pol, const char *host,
                                    int port, char *why)
{
    if (pol == NULL || host == NULL)
        return NULL;
    char text[INET6_ADDRSTRLEN + 1];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    size_t addr_len = strcspn(host, "%");
    if (addr_len > len)
        addr_len = len;
    if (addr_len == 0 || addr_len >= sizeof text)
        return NULL;
    memcpy(text, host, addr_len);
    text[addr_len] = '\0';
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, text, &v4.sin_addr) == 1)
        return emp_policy_refuses(pol, (const struct sockaddr *)&v4, why);
    if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1)
        return emp_policy_refuses(pol, (const struct sockaddr *)&v6, why);
    return NULL;
}

bool emp_policy_conninfo_key(const struct emp_target_policy *pol, const char *key)
{
    for (size_t i = 0; pol != NULL && i < pol->n_conninfo_keys; i++)
        if (pol->conninfo_keys[i] != NULL && strcmp(pol->conninfo_keys[i], key) == 0)
            return true;
    return false;
}

enum emp_err emp_policy_check_target(const struct emp_target_config *tc, const char *source,
                                     FILE *errs, size_t *nerrs)
{
    struct emp_cfg c = {.file = source != NULL ? source : "(target)", .errs = errs};
    if (tc->policy != NULL && tc->kind != NULL && tc->kind->police != NULL && tc->spec != NULL)
        tc->kind->police(&c, tc->spec, "", tc->policy);
    if (c.oom) {
        c.nerrs++;
        if (c.errs != NULL)
            fprintf(c.errs, "%s: out of memory\n", c.file);
    }
    if (nerrs != NULL)
        *nerrs = c.nerrs;
    return c.oom ? EMP_ENOMEM : c.nerrs > 0 ? EMP_ECONFIG : EMP_OK;
}
