/* Address blocks in CIDR notation ("169.254.0.0/16", "fe80::/10"): parsed,
 * printed and matched against socket addresses, for the policy that limits
 * where targets made through the API may reach (docs/api.md). */
#ifndef EMP_CIDR_H
#define EMP_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for an IPv6 address as text (INET6_ADDRSTRLEN), "/128" and a NUL. */
#define EMP_CIDR_BUFSZ 56

/* One block: the first `bits` bits of `addr` (4 bytes for IPv4, 16 for
 * IPv6); the bits past the prefix are zero. */
struct emp_cidr {
    bool v6;
    uint8_t bits;     /* 0..32 or 0..128 */
    uint8_t addr[16]; /* network order */
};

/* Parse "ADDRESS/BITS" or a lone address (all its bits) into `out`.
 * Returns 0, or -1 when `s` is not one, or when bits are set past the
 * prefix ("10.0.0.1/8": a typo more often than a meaning). */
int emp_cidr_parse(const char *s, struct emp_cidr *out);

/* `c` as text ("169.254.0.0/16") into `buf` of EMP_CIDR_BUFSZ bytes;
 * returns buf. */
const char *emp_cidr_format(const struct emp_cidr *c, char *buf);

/* Whether `sa` (AF_INET or AF_INET6; the port does not matter) is in `c`.
 * An IPv4-mapped IPv6 address (::ffff:169.254.169.254) is matched as the
 * IPv4 address it carries, since a connection to it reaches that address. */
bool emp_cidr_contains(const struct emp_cidr *c, const struct sockaddr *sa);

#endif
