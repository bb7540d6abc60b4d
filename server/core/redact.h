/* Secrets in what a definition shows: a URL's userinfo and the values of
 * credential headers, replaced by one marker wherever a definition is shown
 * (API replies, the store's copy for display, logs). What is probed keeps
 * them; only their display is redacted. */
#ifndef EMP_REDACT_H
#define EMP_REDACT_H

#include <stdbool.h>

#include "core/buf.h"

/* What stands where a secret was. */
#define EMP_REDACTED "***"

/* Append `s` to `b` with the secret of a URL's userinfo replaced by
 * EMP_REDACTED: `http://admin:***@host/` (the user name kept), or the
 * whole userinfo when it has no ':' (a lone user name is often a token:
 * `https://TOKEN@host/` shows "***" before the '@'); an empty password
 * (`http://admin:@host/`) hides nothing and stays. The authority is what follows "//" up to the first '/',
 * '?' or '#'; its userinfo ends at its LAST '@', so that an unencoded '@' in
 * a password hides as much as any parser could take for userinfo. A string
 * that does not start with `scheme://`, or has no '@' in its authority, is
 * appended unchanged ('@' in a path or query is no userinfo). Returns
 * whether something was replaced; check b->oom. */
bool emp_redact_url(struct emp_buf *b, const char *s);

/* Whether a header of this name carries a credential, its value then shown
 * as EMP_REDACTED. The rule, case-insensitive: the name contains "auth"
 * (Authorization, Proxy-Authorization, X-Auth-Token), "token", "secret",
 * "key" (X-Api-Key), "pass" (X-Password), "cookie" (Cookie, Set-Cookie),
 * "session", "signature" or "credential". A false positive hides a value
 * that was harmless; a false negative would publish a secret. */
bool emp_redact_header(const char *name);

#endif
