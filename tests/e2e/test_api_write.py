"""The write endpoints on a running `empiric serve`, with tokens made by the
CLI: without a token, with a malformed, unknown, wrong or revoked one, every
write gets the same 401 (WWW-Authenticate: Bearer) and changes nothing; a
POSTed target is probed within its interval, a PUT moves probing to the new
definition at once, a DELETEd target is no longer probed and its open outage
is closed, its history kept; the configuration file's targets are refused
(409); definitions are checked as the configuration's, errors naming the
JSON path; targets made through the API are probed again after a restart;
the store holds only the token's SHA-256. Every wait is bounded."""

import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apilib import (bearer, cli, json_body, make_token, request, run, spool_extra,  # noqa: E402
                    wait_until)
from harness import Database, Empiric, FaultTarget, check, fail, parse_args  # noqa: E402

INTERVAL_MS = 400


def http_target(name, fault, **kw):
    t = {"name": name, "kind": "http", "url": "http://127.0.0.1:%d/" % fault.port,
         "interval_ms": INTERVAL_MS, "timeout_ms": 300}
    t.update(kw)
    return t


def requests_settle(fault, quiet_s):
    """Whether `fault` gets no request for `quiet_s` (one in flight may
    still arrive at the start)."""
    time.sleep(0.3)
    n = fault.requests
    time.sleep(quiet_s)
    return fault.requests == n


def test_refused(emp, db, token, fault):
    n_targets = db.query("SELECT count(*) FROM targets")
    body = json.dumps(http_target("sneaky", fault))
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    headers = [None, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"},
               {"Authorization": "Bearer " + "emp_" + "x" * 43}, bearer(wrong),
               bearer(token + "x"), bearer(token[:10]), {"Authorization": token}]
    first = None
    for h in headers:
        for method, path, b in (("POST", "/api/v1/targets", body),
                                ("PUT", "/api/v1/targets/sneaky", body),
                                ("DELETE", "/api/v1/targets/sneaky", None),
                                ("DELETE", "/api/v1/targets/conf", None)):
            st, hd, raw = request(emp, method, path, body=b, headers=h)
            if st != 401 or hd.get("www-authenticate") != 'Bearer realm="empiric"':
                fail("%s %s with %s: %d %s" % (method, path, h, st, raw[:200]))
            first = first or raw
            if raw != first:
                fail("401 bodies differ: %r vs %r" % (raw, first))
    check(json_body(first)["error"]["code"] == "unauthorized",
          "no token, another scheme, a malformed, unknown, wrong or truncated token: the "
          "same 401 with WWW-Authenticate: Bearer, for POST, PUT and DELETE")
    check(db.query("SELECT count(*) FROM targets") == n_targets, "and nothing was written")


def test_create(emp, db, token, b):
    body = json.dumps(http_target("made", b, group="api-made"))
    t0 = time.time()
    n0 = b.requests
    st, hd, raw = request(emp, "POST", "/api/v1/targets", body=body, headers=bearer(token))
    got = json_body(raw)
    check(st == 201 and hd.get("location") == "/api/v1/targets/made",
          "POST /api/v1/targets: 201, Location /api/v1/targets/made")
    check(got["source"] == "api" and got["definition"]["url"].endswith(":%d/" % b.port)
          and got["group"] == "api-made", "the reply shows the stored definition")
    wait_until("the new target's first probe", lambda: b.requests > n0,
               (INTERVAL_MS + 600) / 1000)
    check(True, "the POSTed target is probed within its interval (%.2f s)" % (time.time() - t0))
    wait_until("its next probes", lambda: b.requests >= n0 + 3, 3 * INTERVAL_MS / 1000 + 1.5)
    check(True, "and then at its interval")
    st, _, raw = request(emp, "GET", "/api/v1/targets/made")
    got = json_body(raw)
    check(st == 200 and got["source"] == "api" and got["state"] == "up",
          "GET /api/v1/targets/made: made through the API, up")
    listed = {t["name"]: t for t in json_body(request(emp, "GET", "/api/v1/targets")[2])["targets"]}
    check(listed.get("made", {}).get("state") == "up", "listed among the targets, up")
    check(db.query("SELECT api_definition->>'url' FROM targets WHERE name = 'made'")
          == "http://127.0.0.1:%d/" % b.port, "the store holds the definition")
    st, _, raw = request(emp, "POST", "/api/v1/targets", body=body, headers=bearer(token))
    check(st == 409 and json_body(raw)["error"]["code"] == "conflict",
          "POST of an existing name: 409 conflict")


def test_bad_definitions(emp, token, a):
    cases = [
        ({"name": "x", "kind": "http", "url": "http://h/", "interval_ms": "5s"},
         "request body: interval_ms: expected an integer from 100 to 86400000"),
        ({"name": "x", "kind": "tcp", "host": "h", "port": 1, "url": "http://h/"},
         "request body: url: not valid for kind tcp"),
        ({"name": "x", "kind": "ftp"}, "request body: kind: expected one of"),
        ({"kind": "tcp", "host": "h", "port": 1}, "request body: name: required"),
        ({"name": "x", "kind": "tcp", "host": "h", "port": 1, "bogus": True},
         "request body: bogus: unknown key"),
    ]
    for body, want in cases:
        st, _, raw = request(emp, "POST", "/api/v1/targets", body=json.dumps(body),
                             headers=bearer(token))
        err = json_body(raw)["error"]
        if st != 400 or err["code"] != "bad_request" or want not in err["message"]:
            fail("POST %s: %d %s (wanted 400 with %r)" % (body, st, raw, want))
    check(True, "bad definitions: 400 naming the JSON path, as check-config would")
    for raw_body in (b"", b"{", b"[]", b"null", b"{\"name\":\"x\",\"name\":\"y\"}",
                     b"\xff\xfe", b"{\"name\":\"a\\u0000b\",\"kind\":\"tcp\"}"):
        st, _, raw = request(emp, "POST", "/api/v1/targets", body=raw_body,
                             headers=bearer(token))
        if st != 400 or json_body(raw)["error"]["code"] != "bad_request":
            fail("POST body %r: %d %s" % (raw_body, st, raw))
    check(True, "bodies that are not a JSON object (empty, cut, duplicate keys, not UTF-8, "
                "NUL): 400")
    st, _, raw = request(emp, "PUT", "/api/v1/targets/x",
                         body=json.dumps({"name": "y", "kind": "tcp", "host": "h", "port": 1}),
                         headers=bearer(token))
    check(st == 400 and "as in the path" in json_body(raw)["error"]["message"],
          "PUT with another name in the body: 400")
    for method, path, body in (("POST", "/api/v1/targets", json.dumps(http_target("conf", a))),
                               ("PUT", "/api/v1/targets/conf", json.dumps(http_target("conf", a))),
                               ("DELETE", "/api/v1/targets/conf", None)):
        st, _, raw = request(emp, method, path, body=body, headers=bearer(token))
        if st != 409 or "configuration file" not in json_body(raw)["error"]["message"]:
            fail("%s %s: %d %s" % (method, path, st, raw))
    check(True, "the configuration file's target: POST, PUT and DELETE get 409")


def test_replace(emp, db, token, b, c):
    nc = c.requests
    st, _, raw = request(emp, "PUT", "/api/v1/targets/made",
                         body=json.dumps({"kind": "http", "url": "http://127.0.0.1:%d/" % c.port,
                                          "interval_ms": INTERVAL_MS, "timeout_ms": 300,
                                          "fail_threshold": 2}),
                         headers=bearer(token))
    check(st == 200 and json_body(raw)["source"] == "api", "PUT of an existing target: 200")
    wait_until("probes of the new definition", lambda: c.requests > nc, 1.5)
    check(requests_settle(b, 1.2), "PUT: the new URL is probed at once, the old one no more")
    check(json_body(request(emp, "GET", "/api/v1/targets/made")[2])["group"] is None,
          "the new definition replaced the old one whole (no group)")
    st, hd, raw = request(emp, "PUT", "/api/v1/targets/made2",
                          body=json.dumps({"kind": "http", "url": "http://127.0.0.1:%d/" % b.port,
                                           "interval_ms": INTERVAL_MS}), headers=bearer(token))
    check(st == 201 and hd.get("location") == "/api/v1/targets/made2", "PUT of a new name: 201")


def test_delete(emp, db, token, c):
    c.set("500")
    wait_until("the outage of made", lambda: json_body(
        request(emp, "GET", "/api/v1/targets/made")[2])["state"] == "down", 5)
    wait_until("the outage in the store", lambda: db.query(
        "SELECT count(*) FROM outages o JOIN targets t ON t.id = o.target_id"
        " WHERE t.name = 'made' AND o.ended_at IS NULL") == "1", 5)
    check(True, "made is down, its outage open in the store")
    st, _, raw = request(emp, "DELETE", "/api/v1/targets/made", headers=bearer(token))
    check(st == 200 and json_body(raw) == {"name": "made", "deleted": True},
          "DELETE /api/v1/targets/made: 200")
    t_del = time.time()
    check(requests_settle(c, 1.5), "a DELETEd target is no longer probed")
    wait_until("its outage closed", lambda: db.query(
        "SELECT count(*) FROM outages o JOIN targets t ON t.id = o.target_id"
        " WHERE t.name = 'made' AND o.ended_at IS NOT NULL") == "1", 5)
    ended = float(db.query("SELECT extract(epoch FROM o.ended_at) FROM outages o JOIN targets t"
                           " ON t.id = o.target_id WHERE t.name = 'made'"))
    check(ended <= t_del + 0.5, "its open outage is closed at its last probe, not left open "
                                "(ended %.1f s before the DELETE)" % (t_del - ended))
    got = json_body(request(emp, "GET", "/api/v1/targets/made")[2])
    check(got["source"] == "store" and got["state"] == "unknown" and got["definition"] is None,
          "GET: now a target only the store knows")
    st, _, raw = request(emp, "GET", "/api/v1/targets/made/outages")
    check(st == 200 and len(json_body(raw)["outages"]) == 1, "its history stays")
    st, _, raw = request(emp, "DELETE", "/api/v1/targets/made", headers=bearer(token))
    check(st == 404 and json_body(raw)["error"]["code"] == "not_found", "DELETE again: 404")
    st, _, raw = request(emp, "DELETE", "/api/v1/targets/never", headers=bearer(token))
    check(st == 404, "DELETE of an unknown target: 404")


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    a, b, c = FaultTarget(), FaultTarget(), FaultTarget()
    conf = {"name": "conf", "kind": "http", "url": "http://127.0.0.1:%d/" % a.port,
            "interval_ms": 1000}
    emp = Empiric(args.empiric, db, [conf], extra=spool_extra())

    def body():
        rc, out, err = cli(args.empiric, db, "token", "create", "bad name")
        check(rc == 2, "token create with a bad name: usage (exit %d)" % rc)
        token = make_token(args.empiric, db, "ci")
        check(token.startswith("emp_") and len(token) == 47, "token create prints a token")
        rc, out, err = cli(args.empiric, db, "token", "create", "ci")
        check(rc == 1 and "exists" in err, "a second token called ci is refused")
        check(db.query("SELECT count(*) FROM api_tokens t WHERE strpos(t::text, '%s') > 0"
                       % token) == "0"
              and db.query("SELECT encode(hash, 'hex') FROM api_tokens WHERE name = 'ci'")
              == hashlib.sha256(token.encode()).hexdigest(),
              "the store holds the token's SHA-256 only")
        emp.start()
        test_refused(emp, db, token, b)
        test_create(emp, db, token, b)
        test_bad_definitions(emp, token, a)
        test_replace(emp, db, token, b, c)
        test_delete(emp, db, token, c)
        rc, out, err = cli(args.empiric, db, "token", "list")
        check(rc == 0 and "ci" in out and "never" not in out.splitlines()[1],
              "token list shows ci and when it was last used")

        # A restart: made2 (through the API) is probed again, made is not.
        emp.stop()
        c.set("ok")
        nb, nc = b.requests, c.requests
        emp.start()
        wait_until("made2 probed after the restart", lambda: b.requests > nb + 1, 3)
        got = json_body(request(emp, "GET", "/api/v1/targets/made2")[2])
        check(got["source"] == "api", "after a restart the API's target is probed again")
        check(c.requests == nc, "and the deleted one is not")

        rc, out, err = cli(args.empiric, db, "token", "revoke", "ci")
        check(rc == 0, "token revoke ci")
        st, _, _ = request(emp, "DELETE", "/api/v1/targets/made2", headers=bearer(token))
        check(st == 401, "a revoked token gets 401 at once")
        rc, out, err = cli(args.empiric, db, "token", "revoke", "ci")
        check(rc == 1, "revoking it again: exit 1")

    run(emp, db, body, closers=[a, b, c])


if __name__ == "__main__":
    main()
