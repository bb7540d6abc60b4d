/* CIDR blocks: parsed with inet_pton, matched bit by bit, with IPv4-mapped
 * IPv6 addresses taken for the IPv4 address they reach. */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The 12 bytes that start an IPv4-mapped IPv6 address (::ffff:0:0/96). */
static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int emp_cidr_parse(const char *s, struct emp_cidr *out)
{
    char text[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    memset(out, 0, sizeof *out);
    int max;
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        max = 32;
    } else if (inet_pton(AF_INET6, text, out->addr) == 1) {
        out->v6 = true;
        max = 128;
    } else {
        return -1;
    }
    int bits = max;
    if (slash != NULL) {
        const char *p = slash + 1;
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        /* Digits only: no sign, no blank, no empty prefix length. */
        if (*p < '0' || *p > '9' || errno != 0 || end == p || *end != '\0' || v < 0 || v > max)
            return -1;
        bits = (int)v;
    }
    out->bits = (uint8_t)bits;
    for (int i = bits; i < max; i++)
        if (out->addr[i / 8] & (0x80u >> (i % 8)))
            return -1;
    return 0;
}

const char *emp_cidr_format(const struct emp_cidr *c, char *buf)
{
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(c->v6 ? AF_INET6 : AF_INET, c->addr, text, sizeof text) == NULL)
        snprintf(text, sizeof text, "?");
    snprintf(buf, EMP_CIDR_BUFSZ, "%s/%u", text, (unsigned)c->bits);
    return buf;
}

/* Whether the first `bits` bits of `a` and `b` are equal. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool emp_cidr_contains(const struct emp_cidr *c, const struct sockaddr *sa)
{
    const uint8_t *addr;
    bool v6;
    if (sa->sa_family == AF_INET) {
        addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        v6 = false;
    } else if (sa->sa_family == AF_INET6) {
        addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        v6 = true;
        if (memcmp(addr, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0 && !c->v6) {
            addr += sizeof v4_mapped_prefix;
            v6 = false;
        }
    } else {
        return false;
    }
    return v6 == c->v6 && prefix_equal(addr, c->addr, c->bits);
}
