"""Hostile input everywhere on a running `empiric serve`: strings meant to
break SQL (`'; DROP TABLE outages; --`, `1 OR 1=1`, quotes), NUL, huge
strings, Unicode, CRLF and path tricks in every path segment and every
query parameter of every GET that server/api/openapi.json describes, and in
every string field and path name of the write endpoints (with a valid
token). Each answer must be a proper 200 or 4xx, errors as JSON; the
tables must be intact after (same tables, same rows where nothing should
change; what a POST made holds the string verbatim). Time ranges that are
garbage, reversed, empty or overflowing get 400 with a JSON error on every
endpoint that takes them. Static files come only from the web directory:
`..`, %2e%2e (also double-encoded, overlong UTF-8, backslashes) and
symlinks out of it (to a file, a directory, /etc/passwd) are refused.
Every request is bounded (15 s); the test takes about a minute."""

import json
import os
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apilib import (bearer, json_body, make_token, request, run, spool_extra,  # noqa: E402
                    store_shape)
from harness import Database, Empiric, FaultTarget, check, fail, parse_args  # noqa: E402

INJECTIONS = [
    "'; DROP TABLE outages; --",
    "1 OR 1=1",
    "' OR '1'='1' --",
    "1); DELETE FROM targets; --",
    "1; SELECT pg_sleep(30) --",
    "\"", "'", "\\", "%", "%25", "_", "*", "$1", "''",
    "\x00", "a\x00b", "%00",
    "x" * 8000,
    "é", "☃", "𝄞", "\u202e", "\ufeff",
    "\r\nX-Injected: 1", "<script>alert(1)</script>", "../../../etc/passwd",
    "{name}", "null", "-1", "9" * 40, " ", "",
]

# Valid values of the path parameters, for varying the query.
VALID = {"name": "web", "group": "g", "path": "app.js"}
GOOD_STATUS = {200, 400, 404}


def q(s):
    return urllib.parse.quote(s, safe="")


def resolve(doc, node):
    while "$ref" in node:
        at = doc
        for part in node["$ref"][2:].split("/"):
            at = at[part]
        node = at
    return node


def described_gets(doc):
    """(template, [path params], [query params]) of every described GET."""
    out = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None:
            continue
        params = [resolve(doc, p) for p in op.get("parameters", [])]
        out.append((path, [p["name"] for p in params if p["in"] == "path"],
                    [p["name"] for p in params if p["in"] == "query"]))
    return out


def check_answer(emp, method, path, st, h, raw, allowed=GOOD_STATUS):
    what = "%s %s" % (method, path[:120])
    if st not in allowed:
        fail("%s: status %d %r" % (what, st, raw[:300]))
    ct = h.get("content-type", "")
    if st >= 400:
        if not ct.startswith("application/json"):
            fail("%s: a %d that is not JSON (%s)" % (what, st, ct))
        err = json_body(raw).get("error", {})
        if not isinstance(err.get("code"), str) or not isinstance(err.get("message"), str):
            fail("%s: a %d without error.code and error.message: %r" % (what, st, raw[:300]))
    elif ct.startswith("application/json"):
        json_body(raw)
    if "x-injected" in h:
        fail("%s: a header was injected" % what)


def test_gets(emp, doc):
    n = 0
    for template, path_params, query_params in described_gets(doc):
        # Every path parameter at once, then each query parameter alone.
        if path_params:
            for s in INJECTIONS:
                path = template
                for p in path_params:
                    path = path.replace("{%s}" % p, q(s))
                st, h, raw = request(emp, "GET", path)
                check_answer(emp, "GET", path, st, h, raw)
                n += 1
        base = template
        for p in path_params:
            base = base.replace("{%s}" % p, VALID[p])
        for param in query_params + ["x"]:
            for s in INJECTIONS:
                path = "%s?%s=%s" % (base, q(param), q(s))
                st, h, raw = request(emp, "GET", path)
                check_answer(emp, "GET", path, st, h, raw)
                n += 1
    check(True, "%d GETs with hostile path segments and query parameters: every answer a "
                "200 or a JSON 400/404" % n)


def test_time_ranges(emp, doc):
    bad = [
        "from=garbage", "to=garbage", "from=yesterday&to=now",
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",        # reversed
        "from=1767225600&to=1767225600",                           # empty
        "from=99999999999999999999",                               # overflows int64
        "from=9223372036854775807", "to=-9223372036854775808",
        "to=-99999999999",                                         # before year 0
        "from=10000-01-01T00:00:00Z", "from=2026-02-30T00:00:00Z",
        "from=2026-01-01T25:00:00Z", "from=1e9", "from=0x10", "from=NaN", "to=inf",
        "from=2026-01-01T00:00:00Z%00", "from=" + "9" * 5000,
    ]
    n = 0
    for template, path_params, query_params in described_gets(doc):
        if "from" not in query_params:
            continue
        base = template
        for p in path_params:
            base = base.replace("{%s}" % p, VALID[p])
        for b in bad:
            st, h, raw = request(emp, "GET", base + "?" + b)
            check_answer(emp, "GET", base + "?" + b, st, h, raw, allowed={400})
            msg = json_body(raw)["error"]["message"]
            if json_body(raw)["error"]["code"] != "bad_request" or not (
                    "from" in msg or "to" in msg):
                fail("GET %s?%s: %s" % (base, b, msg))
            n += 1
    for w in ("99999999d", "-1d", "1e9h", "0h", "3651d", "NaN"):
        st, h, raw = request(emp, "GET", "/badge/web.svg?window=" + w)
        check_answer(emp, "GET", "/badge/web.svg?window=" + w, st, h, raw, allowed={400})
        n += 1
    for w in ("nan", "inf", "-1", "0", "1e300", "2592001"):
        st, h, raw = request(emp, "GET", "/api/v1/groups/g/correlation?window_s=" + w)
        check_answer(emp, "GET", "window_s=" + w, st, h, raw, allowed={400})
        n += 1
    check(True, "%d garbage, reversed, empty and overflowing time ranges and windows: "
                "400 with a JSON error" % n)


def base_target(kind, name):
    if kind == "http":
        return {"name": name, "kind": "http", "url": "http://127.0.0.1:9/", "interval_ms": 60000}
    if kind == "tcp":
        return {"name": name, "kind": "tcp", "host": "127.0.0.1", "port": 9, "interval_ms": 60000}
    return {"name": name, "kind": "postgres", "conninfo": "host=127.0.0.1 port=9",
            "interval_ms": 60000, "query": "SELECT 1"}


def test_writes(emp, db, token):
    """Every string field of a definition, and the path name, hostile. What
    is accepted is stored and shown verbatim; the rest is refused."""
    fields = [("http", "name"), ("http", "group"), ("http", "url"), ("tcp", "host"),
              ("postgres", "conninfo"), ("postgres", "query")]
    made = set()
    n = 0
    for kind, field in fields:
        for i, s in enumerate(INJECTIONS):
            name = "inj-%s-%d" % (field, i)
            body = base_target(kind, name)
            body[field] = s
            if field == "name":
                name = s
            st, h, raw = request(emp, "POST", "/api/v1/targets", body=json.dumps(body),
                                 headers=bearer(token))
            check_answer(emp, "POST", "%s=%r" % (field, s[:40]), st, h, raw,
                         allowed={201, 400})
            n += 1
            if st != 201:
                continue
            made.add(name)
            got = json_body(request(emp, "GET", "/api/v1/targets/" + q(name))[2])
            shown = got["definition"].get(field)
            if field == "group":
                shown = got["group"] or ""
            if field != "conninfo" and shown != s:
                fail("%s %r stored as %r" % (field, s[:60], shown))
            st, h, raw = request(emp, "DELETE", "/api/v1/targets/" + q(name),
                                 headers=bearer(token))
            check_answer(emp, "DELETE", name, st, h, raw, allowed={200})
    body = json.dumps({"kind": "tcp", "host": "127.0.0.1", "port": 9, "interval_ms": 60000})
    for s in INJECTIONS:
        for method in ("PUT", "DELETE", "GET"):
            path = "/api/v1/targets/" + q(s)
            st, h, raw = request(emp, method, path, body=body if method == "PUT" else None,
                                 headers=bearer(token))
            check_answer(emp, method, path, st, h, raw, allowed={200, 201, 400, 404})
            n += 1
            if method == "PUT" and st == 201:
                made.add(s)
                request(emp, "DELETE", path, headers=bearer(token))
    for raw_body in (b"\x00", b"{\"name\":\"a\x00\"}", "{\"name\":\"\u00e9\"}".encode("latin-1"),
                     b"{" * 10000, b"[" * 3000 + b"]" * 3000):
        st, h, raw = request(emp, "POST", "/api/v1/targets", body=raw_body, headers=bearer(token))
        check_answer(emp, "POST", repr(raw_body[:20]), st, h, raw, allowed={400, 413})
        n += 1
    check(True, "%d writes with hostile names, fields and bodies: 201 stored verbatim, or a "
                "JSON 400/404 (%d accepted, then deleted)" % (n, len(made)))
    return made


def test_static(emp, web):
    st, h, raw = request(emp, "GET", "/static/app.js")
    check(st == 200 and raw == b"1;", "/static/app.js is served from the web directory")
    bad = ["/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/%2E%2E%2Fsecret.txt",
           "/static/..%2F..%2F..%2Fetc%2Fpasswd", "/static/%252e%252e/secret.txt",
           "/static/%c0%ae%c0%ae/secret.txt", "/static/..%5csecret.txt", "/static/..\\secret.txt",
           "/static/linkdir/x.css", "/static/evil.css", "/static/passwd", "/static/app.js%00.css",
           "/static/./app.js", "/static//etc/passwd", "/static/" + "../" * 40 + "etc/passwd",
           "/static/" + "%2e%2e/" * 40 + "etc/passwd", "/%2e%2e/secret.txt", "/secret.txt",
           "/static%2F..%2Fsecret.txt", "/index.html/../secret.txt", "/..%2Fsecret.txt",
           "/static/linkdir%2Fx.css", "/static/" + "a" * 5000]
    for p in bad:
        st, h, raw = request(emp, "GET", p)
        if st != 404 or not h.get("content-type", "").startswith("application/json") \
                or b"outside" in raw or b"root:" in raw or b"not under" in raw:
            fail("%s: %d %r" % (p, st, raw[:200]))
    check(True, "%d traversal attempts (.., %%2e%%2e, double-encoded, overlong UTF-8, "
                "backslash, symlinks out to a file, a directory and /etc/passwd): JSON 404, "
                "nothing from outside" % len(bad))


def make_web():
    web = tempfile.mkdtemp(prefix="empiric-web-")
    outside = tempfile.mkdtemp(prefix="empiric-outside-")
    os.makedirs(os.path.join(web, "static"))
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!doctype html><title>t</title>")
    with open(os.path.join(web, "static", "app.js"), "w") as f:
        f.write("1;")
    with open(os.path.join(web, "secret.txt"), "w") as f:
        f.write("not under static")
    with open(os.path.join(outside, "x.css"), "w") as f:
        f.write("outside")
    os.symlink(os.path.join(outside, "x.css"), os.path.join(web, "static", "evil.css"))
    os.symlink(outside, os.path.join(web, "static", "linkdir"))
    os.symlink("/etc/passwd", os.path.join(web, "static", "passwd"))
    return web


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    fault = FaultTarget()
    web = make_web()
    os.environ["EMPIRIC_WEB_DIR"] = web
    target = {"name": "web", "kind": "http", "url": "http://127.0.0.1:%d/" % fault.port,
              "interval_ms": 500, "group": "g"}
    emp = Empiric(args.empiric, db, [target], extra=spool_extra())
    src = os.path.join(os.path.dirname(os.path.abspath(args.schema)), "server", "api", "openapi.json")
    with open(src) as f:
        doc = json.load(f)

    def body():
        emp.start()
        token = make_token(args.empiric, db, "inj")
        time.sleep(1.0)
        before = store_shape(db)
        t0 = time.time()
        test_gets(emp, doc)
        test_time_ranges(emp, doc)
        test_static(emp, web)
        check(store_shape(db) == before, "after the GETs: the same tables, the same rows "
                                         "(%.0f s)" % (time.time() - t0))
        tables, counts = before
        made = test_writes(emp, db, token)
        tables_after, counts_after = store_shape(db)
        check(tables_after == tables, "after the writes: the same tables")
        check(int(counts_after["targets"]) == int(counts["targets"]) + len(made),
              "targets: only those made (and deleted, their rows kept as history)")
        check(counts_after["outages"] == counts["outages"]
              and counts_after["api_tokens"] == counts["api_tokens"]
              and counts_after["schema_migrations"] == counts["schema_migrations"],
              "outages, tokens and migrations untouched")
        check(db.query("SELECT count(*) FROM targets WHERE api_definition IS NOT NULL") == "0",
              "nothing left live through the API")
        st, _, raw = request(emp, "GET", "/healthz")
        check(st == 200, "the server still answers")

    run(emp, db, body, closers=[fault])


if __name__ == "__main__":
    main()
