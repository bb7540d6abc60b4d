"""Two `empiric serve` probers of different names and locations on one
database (issue 14). GET /api/v1/probers lists both, alive, each with its
location and current run, the answering prober's own lag and no other's; a
prober stopped is listed not alive, its run's stopped_at set. Every prober
probes the same targets: a target POSTed to A's API is probed by B within
the poll interval (10 s) and some slack, a PUT through A is applied by B
too, a DELETE through A stops B probing it; A, which made the changes, is
not disturbed when its own poll sees them again. Every wait is bounded."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apilib import bearer, json_body, make_token, request, wait_until  # noqa: E402
from harness import Database, Empiric, FaultTarget, check, fail, parse_args  # noqa: E402

INTERVAL_MS = 400
SYNC_S = 10.0            # EMP_TARGET_SYNC_MS, service/target.h
SLACK_S = 5.0


def http_target(name, fault):
    return {"name": name, "kind": "http", "url": "http://127.0.0.1:%d/" % fault.port,
            "interval_ms": INTERVAL_MS, "timeout_ms": 300, "fail_threshold": 2,
            "recover_threshold": 1}


def probers(emp):
    st, _, raw = request(emp, "GET", "/api/v1/probers")
    if st != 200:
        fail("GET /api/v1/probers: %d %s" % (st, raw[:300]))
    return {p["name"]: p for p in json_body(raw)["probers"]}


def live_state(emp, name):
    """What `emp`'s own prober says of target `name` now (its live state),
    and where the definition comes from."""
    st, _, raw = request(emp, "GET", "/api/v1/targets/" + name)
    if st != 200:
        return None, None
    got = json_body(raw)
    return got["state"], got["source"]


def test_listed(a, b):
    # Both have beaten at least once (a run starts with one) and answer.
    got = wait_until("both probers listed by A", lambda: len(probers(a)) == 2 and probers(a), 10)
    pa, pb = got["paris"], got["ohio"]
    check(pa["location"] == "eu-west" and pb["location"] == "us-east",
          "GET /api/v1/probers on A lists both probers with their locations")
    check(pa["alive"] and pb["alive"], "both alive")
    check(pa["run"]["stopped_at"] is None and pb["run"]["stopped_at"] is None
          and pa["run"]["id"] != pb["run"]["id"], "each with its own current run, not stopped")
    check(pa["last_beat_at"] is not None and pb["last_beat_at"] is not None,
          "each with its last heartbeat")
    check(pa["self"] and not pb["self"], "A marks itself")
    check(isinstance(pa["lag_s"], dict) and pa["lag_s"]["max"] >= pa["lag_s"]["p50"] >= 0,
          "A's own scheduling lag is shown (p50 %.6f s, max %.6f s)"
          % (pa["lag_s"]["p50"], pa["lag_s"]["max"]))
    check(pb["lag_s"] is None, "B's lag is not in the store: null")
    on_b = probers(b)
    check(on_b["ohio"]["self"] and on_b["ohio"]["lag_s"] is not None
          and on_b["paris"]["lag_s"] is None, "B lists the same two, itself with its lag")


def test_shared_targets(a, b, token, up, down):
    # POST through A: A probes it at once, B at its next poll.
    t0 = time.time()
    st, _, raw = request(a, "POST", "/api/v1/targets", body=json.dumps(http_target("shared", up)),
                         headers=bearer(token))
    check(st == 201, "POST /api/v1/targets to A: 201")
    wait_until("A probing the new target", lambda: live_state(a, "shared")[0] == "up", 3)
    wait_until("B probing the target POSTed to A",
               lambda: live_state(b, "shared") == ("up", "api"), SYNC_S + SLACK_S, 0.2)
    check(True, "B probes the target POSTed to A: up after %.1f s (poll every %.0f s)"
          % (time.time() - t0, SYNC_S))

    # PUT through A: B moves to the new definition (a target that fails).
    t0 = time.time()
    st, _, raw = request(a, "PUT", "/api/v1/targets/shared",
                         body=json.dumps(http_target("shared", down)), headers=bearer(token))
    check(st == 200, "PUT /api/v1/targets/shared to A: 200")
    wait_until("A seeing the new definition fail", lambda: live_state(a, "shared")[0] == "down", 5)
    wait_until("B applying the PUT made through A",
               lambda: live_state(b, "shared")[0] == "down", SYNC_S + SLACK_S, 0.2)
    check(True, "B applies the PUT made through A: down after %.1f s" % (time.time() - t0))

    # DELETE through A: B stops probing it.
    t0 = time.time()
    st, _, raw = request(a, "DELETE", "/api/v1/targets/shared", headers=bearer(token))
    check(st == 200, "DELETE /api/v1/targets/shared to A: 200")
    wait_until("B dropping the target deleted through A",
               lambda: live_state(b, "shared") == ("unknown", "store"), SYNC_S + SLACK_S, 0.2)
    time.sleep(1.0)  # a probe in flight at the removal may still land
    n = down.requests
    time.sleep(4 * INTERVAL_MS / 1000)
    check(down.requests == n, "B no longer probes the target deleted through A (%.1f s)"
          % (time.time() - t0))
    # Let A's own poll see every change it made (at least one poll after
    # the last): nothing probed twice, nothing redefined again.
    time.sleep(max(0.0, SYNC_S + 0.5 - (time.time() - t0)))
    for emp, who in ((a, "A"), (b, "B")):
        log = emp.log_text()
        got = [len(re.findall(r'msg="%s" target=shared(?:\s|$)' % what, log, re.M))
               for what in ("target added", "target redefined", "target removed")]
        check(got == [1, 1, 1], "%s's log: shared added, redefined and removed once each "
              "(A by its API, its poll seeing the same again; B by its poll): %s" % (who, got))


def test_stopped(a, b):
    rc = b.stop()
    check(rc == 0, "B stops cleanly")
    got = probers(a)
    check(not got["ohio"]["alive"] and got["ohio"]["run"]["stopped_at"] is not None,
          "B stopped: listed not alive, its run's stopped_at set")
    check(got["paris"]["alive"] and got["paris"]["run"]["stopped_at"] is None, "A still alive")


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    conf_fault, up, down = FaultTarget(), FaultTarget(), FaultTarget()
    down.set("500")
    conf = [http_target("conf", conf_fault)]
    a = Empiric(args.empiric, db, conf, prober="paris",
                extra={"prober": {"name": "paris", "location": "eu-west"}})
    b = Empiric(args.empiric, db, conf, prober="ohio",
                extra={"prober": {"name": "ohio", "location": "us-east"}})
    try:
        token = make_token(args.empiric, db, "ci")
        a.start()
        b.start()
        test_listed(a, b)
        test_shared_targets(a, b, token, up, down)
        test_stopped(a, b)
        check(a.stop() == 0, "A stops cleanly")
    except BaseException:
        for e in (a, b):
            if e.proc is not None:
                e.dump_log()
        raise
    finally:
        a.stop()
        b.stop()
        for f in (conf_fault, up, down):
            f.close()
        db.drop()
    print("PASS")


if __name__ == "__main__":
    main()
