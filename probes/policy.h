/* The policy of the targets made through the API (config/config.h, struct
 * emp_target_policy, says what it holds), as the probes apply it: the
 * address rules, on literal addresses when a target is defined and on
 * every resolved address before a probe connects; and the check of a
 * definition, which each kind does of its own keys (config/kind.h,
 * `police`). A refused probe fails with the error class "policy". */
#ifndef EMP_POLICY_H
#define EMP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "config/config.h"
#include "core/err.h"

/* Size of the text of a refusal. */
#define EMP_POLICY_WHY_MAX 192

/* The error class of a probe the policy refused. */
#define EMP_POLICY_CLASS "policy"

/* Whether `pol` refuses a connection to `sa` (AF_INET or AF_INET6, its
 * port included): NULL when it is allowed (always, when `pol` is NULL);
 * else `why`, filled (EMP_POLICY_WHY_MAX bytes) with the address and the
 * rule, e.g. "169.254.169.254 is in api.target_policy.denied_cidrs
 * (169.254.0.0/16)". The API port rule asks the kernel whether the
 * address is this machine's (a bind to it): loopback, the unspecified
 * address and every local interface's address are. */
const char *emp_policy_refuses(const struct emp_target_policy *pol, const struct sockaddr *sa,
                               char *why);

/* The same for `host` as a definition writes it, with `port`: a numeric
 * IPv4 or IPv6 address (in brackets or not, with a %scope or not) is
 * checked; a name is not (NULL): its addresses are checked when it is
 * resolved. */
const char *emp_policy_refuses_host(const struct emp_target_policy *pol, const char *host,
                                    int port, char *why);

/* Whether a postgres conninfo of a target bound by `pol` may set `key`. */
bool emp_policy_conninfo_key(const struct emp_target_policy *pol, const char *key);

/* Check the definition `tc` against tc->policy (nothing to check when it
 * is NULL), through its kind's `police`. Each problem is written to `errs`
 * (may be NULL) as `SOURCE: JSON.PATH: TEXT`, their number to `*nerrs`
 * (may be NULL). Returns EMP_OK, EMP_ECONFIG or EMP_ENOMEM. */
enum emp_err emp_policy_check_target(const struct emp_target_config *tc, const char *source,
                                     FILE *errs, size_t *nerrs);

#endif
