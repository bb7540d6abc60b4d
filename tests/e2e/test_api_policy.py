"""Targets made through the API are held to api.target_policy and counted
against api.max_targets (issue 13, items 6 and 7), on a running `empiric
serve` whose configuration denies loopback to such targets:

- a postgres conninfo with a key that reads a file of the monitor's machine
  (sslkey, passfile, service), a Unix-domain socket, or an http URL to the
  link-local metadata address: 400 (code policy), naming the JSON path and
  the rule, nothing stored;
- a name that resolves to a denied address (localhost): accepted, and its
  probes fail with the class "policy", visible in its outages and state;
- the configuration file's own target on the same loopback is probed as
  before: the operator's file is not restricted;
- past api.max_targets a create gets 409 too_many_targets; a replacement
  does not count, a deletion makes room;
- GET /api/v1/targets?limit=2 pages through every target with `after`, by
  name, each once, the last page's `next` null; bad paging parameters 400;
- after a restart under a stricter policy, a stored target it refuses is
  not probed (and the log says why)."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apilib import bearer, json_body, make_token, request, run, spool_extra, wait_until  # noqa: E402
from harness import Database, Empiric, FaultTarget, check, fail, parse_args  # noqa: E402

MAX_TARGETS = 4
POLICY = {"denied_cidrs": ["169.254.0.0/16", "fe80::/10", "127.0.0.0/8", "::1/128"]}


def post(emp, token, body):
    st, _, raw = request(emp, "POST", "/api/v1/targets", body=json.dumps(body),
                         headers=bearer(token))
    return st, json_body(raw)


def far(name, n):
    """A tcp target of TEST-NET-1 (never answers), probed once a day."""
    return {"name": name, "kind": "tcp", "host": "192.0.2.%d" % n, "port": 5432,
            "interval_ms": 86400000, "timeout_ms": 1000}


def test_refused_definitions(emp, db, token):
    cases = [
        ({"name": "pg-key", "kind": "postgres",
          "conninfo": "host=db.example.com sslkey=/etc/ssl/private/monitor.key"},
         "request body: conninfo: refused by the target policy: key \"sslkey\" is not in "
         "api.target_policy.conninfo_keys"),
        ({"name": "pg-pass", "kind": "postgres",
          "conninfo": "host=db.example.com passfile=/root/.pgpass"}, "key \"passfile\""),
        ({"name": "pg-svc", "kind": "postgres", "conninfo": "service=prod"},
         "key \"service\""),
        ({"name": "pg-sock", "kind": "postgres", "conninfo": "host=/var/run/postgresql"},
         "is a Unix-domain socket of this machine"),
        ({"name": "imds", "kind": "http", "url": "http://169.254.169.254/latest/meta-data/"},
         "request body: url: refused by the target policy: 169.254.169.254 is in "
         "api.target_policy.denied_cidrs (169.254.0.0/16)"),
        ({"name": "imds-hex", "kind": "http", "url": "http://0xA9FEA9FE/"},
         "169.254.169.254 is in api.target_policy.denied_cidrs"),
        ({"name": "loop", "kind": "tcp", "host": "127.0.0.1", "port": emp.port},
         "request body: host: refused by the target policy: 127.0.0.1 is in "
         "api.target_policy.denied_cidrs (127.0.0.0/8)"),
    ]
    for body, want in cases:
        st, got = post(emp, token, body)
        err = got.get("error", {})
        if st != 400 or err.get("code") != "policy" or want not in err.get("message", ""):
            fail("POST %s: %d %s (wanted 400 policy with %r)" % (body, st, got, want))
    check(True, "definitions reaching the monitor's own machine (file keys, a socket, the "
                "metadata address, loopback here): 400 policy naming the path and the rule")
    check(db.query("SELECT count(*) FROM targets WHERE api_definition IS NOT NULL") == "0",
          "and none of them was stored")
    st, _, raw = request(emp, "PUT", "/api/v1/targets/imds",
                         body=json.dumps({"kind": "tcp", "host": "169.254.169.254",
                                          "port": 80}),
                         headers=bearer(token))
    check(st == 400 and json_body(raw)["error"]["code"] == "policy", "PUT too: 400 policy")


def test_name_resolved(emp, token):
    st, got = post(emp, token, {"name": "named", "kind": "tcp", "host": "localhost",
                                "port": 5432, "interval_ms": 500, "timeout_ms": 400,
                                "fail_threshold": 1})
    check(st == 201, "a name is accepted at definition (its addresses are checked when "
                     "resolved)")

    def policy_outage():
        st, _, raw = request(emp, "GET", "/api/v1/targets/named/outages")
        if st != 200:
            return None
        for o in json_body(raw)["outages"]:
            if o["cause"]["class"] == "policy":
                return o
        return None
    o = wait_until("an outage of class policy", policy_outage, 15)
    check("localhost: " in o["cause"]["message"]
          and "is in api.target_policy.denied_cidrs" in o["cause"]["message"],
          "its probes fail with the class policy, the message naming the name, the address "
          "and the rule: %r" % o["cause"]["message"])
    check(json_body(request(emp, "GET", "/api/v1/targets/named")[2])["state"] == "down",
          "and the target is down")


def test_config_unrestricted(emp, fault):
    wait_until("the configuration's loopback target up",
               lambda: json_body(request(emp, "GET", "/api/v1/targets/conf")[2])["state"]
               == "up", 10)
    check(fault.requests > 0, "the configuration file's target on 127.0.0.1 is probed: the "
                              "policy binds only targets made through the API")


def test_max_targets(emp, db, token):
    for i in range(1, MAX_TARGETS):
        st, got = post(emp, token, far("far%d" % i, i))
        if st != 201:
            fail("POST far%d: %d %s" % (i, st, got))
    st, got = post(emp, token, far("one-too-many", 9))
    err = got.get("error", {})
    check(st == 409 and err.get("code") == "too_many_targets"
          and "api.max_targets" in err.get("message", ""),
          "past api.max_targets (%d): 409 too_many_targets naming the limit" % MAX_TARGETS)
    check(db.query("SELECT count(*) FROM targets WHERE name = 'one-too-many'") == "0",
          "and nothing stored")
    st, _, raw = request(emp, "PUT", "/api/v1/targets/far1", body=json.dumps(far("far1", 11)),
                         headers=bearer(token))
    check(st == 200, "a replacement does not count against the limit")
    st, _, raw = request(emp, "PUT", "/api/v1/targets/put-new", body=json.dumps(far("put-new", 12)),
                         headers=bearer(token))
    check(st == 409 and json_body(raw)["error"]["code"] == "too_many_targets",
          "a PUT of a new name does")
    st, _, _ = request(emp, "DELETE", "/api/v1/targets/far3", headers=bearer(token))
    check(st == 200, "DELETE one")
    st, got = post(emp, token, far("one-too-many", 9))
    check(st == 201, "and there is room for another")


def test_paging(emp):
    st, _, raw = request(emp, "GET", "/api/v1/targets")
    whole = json_body(raw)
    check(st == 200 and whole["next"] is None, "GET /api/v1/targets: one page, next null")
    want = sorted(t["name"] for t in whole["targets"])
    check(len(want) >= 6 and [t["name"] for t in whole["targets"]] == want,
          "every target, by name (%d)" % len(want))
    seen, after, pages = [], None, 0
    while True:
        path = "/api/v1/targets?limit=2" + ("&after=" + after if after else "")
        st, _, raw = request(emp, "GET", path)
        got = json_body(raw)
        if st != 200 or len(got["targets"]) > 2:
            fail("GET %s: %d %s" % (path, st, raw[:300]))
        seen += [t["name"] for t in got["targets"]]
        pages += 1
        after = got["next"]
        if after is None:
            break
        if pages > 50:
            fail("paging does not end")
    check(seen == want, "?limit=2 with after=next pages through all %d targets, each once, "
                        "in %d pages" % (len(want), pages))
    named = [t for t in whole["targets"] if t["name"] == "named"][0]
    check(named["state"] == "down" and named["kind"] == "tcp",
          "a paged target carries its live state")
    for q in ("limit=0", "limit=10001", "limit=x", "limit=", "after=bad%20name", "after="):
        st, _, raw = request(emp, "GET", "/api/v1/targets?" + q)
        if st != 400 or json_body(raw)["error"]["code"] != "bad_request":
            fail("GET /api/v1/targets?%s: %d %s" % (q, st, raw[:200]))
    check(True, "bad limit or after: 400")


def test_stricter_restart(emp, db):
    emp.stop()
    with open(emp.config) as f:
        cfg = json.load(f)
    cfg["api"]["target_policy"]["denied_cidrs"].append("192.0.2.0/24")
    with open(emp.config, "w") as f:
        json.dump(cfg, f)
    emp.start()
    wait_until("the refusal in the log",
               lambda: "refused by api.target_policy; not probed" in emp.log_text(), 10)
    log = emp.log_text()
    check("target=far1" in log and "192.0.2.11 is in api.target_policy.denied_cidrs" in log,
          "after a restart under a stricter policy, a stored target it refuses is not probed, "
          "and the log says why")
    st, _, raw = request(emp, "GET", "/api/v1/targets/far1")
    check(st == 200 and json_body(raw)["state"] == "unknown",
          "it is still listed (its history kept), state unknown")


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    fault = FaultTarget()
    conf = {"name": "conf", "kind": "http", "url": "http://127.0.0.1:%d/" % fault.port,
            "interval_ms": 500}
    extra = spool_extra()
    extra["api"] = {"max_targets": MAX_TARGETS, "target_policy": POLICY}
    emp = Empiric(args.empiric, db, [conf], extra=extra)

    def body():
        token = make_token(args.empiric, db, "ci")
        emp.start()
        test_refused_definitions(emp, db, token)
        test_name_resolved(emp, token)
        test_config_unrestricted(emp, fault)
        test_max_targets(emp, db, token)
        test_paging(emp)
        test_stricter_restart(emp, db)

    run(emp, db, body, closers=[fault])


if __name__ == "__main__":
    main()
