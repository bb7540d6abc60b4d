"""End to end: `empiric serve` against a target the test takes down for known
spans (connection refused, HTTP 500, a hang past the timeout). Exactly one
outage per span, start and end within one interval + timeout of the truth; a
healthy target beside it keeps availability 1.0; a restart of empiric in the
middle shows up as unknown time, never as uptime or downtime."""

import csv
import io
import time

from harness import Database, Empiric, FaultTarget, check, fail, parse_args

INTERVAL_MS = 200
TIMEOUT_MS = 150
TOLERANCE_S = (INTERVAL_MS + TIMEOUT_MS) / 1000.0
SPAN_S = 2.0


def parse_time(s):
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    flaky = FaultTarget(hang_s=1.0)
    healthy = FaultTarget()
    common = {"interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS,
              "fail_threshold": 2, "recover_threshold": 1}
    targets = [
        dict(name="flaky", kind="http", url="http://127.0.0.1:%d/health" % flaky.port,
             group="e2e", **common),
        dict(name="healthy", kind="http", url="http://127.0.0.1:%d/health" % healthy.port,
             group="e2e", **common),
    ]
    sla = {"slas": [{"name": "gold", "objective": 99.0, "period": "day",
                     "groups": ["e2e"], "credits": [{"below": 99.0, "credit_percent": 10}]}]}
    emp = Empiric(args.empiric, db, targets, extra=sla)
    try:
        run(emp, db, flaky, healthy)
    finally:
        emp.stop()
        flaky.close()
        healthy.close()
        db.drop()


def run(emp, db, flaky, healthy):
    t_begin = time.time()
    emp.start()
    time.sleep(1.5)
    truth = []
    for mode in ("refused", "500", "hang"):
        start = flaky.set(mode)
        time.sleep(SPAN_S)
        end = flaky.set("ok")
        truth.append((mode, start, end))
        time.sleep(1.5)

    status, body = emp.get("/api/v1/targets")
    check(status == 200, "GET /api/v1/targets answers 200")
    states = {t["name"]: t for t in body["targets"]}
    check(set(states) == {"flaky", "healthy"}, "both targets listed")
    check(states["healthy"]["state"] == "up", "healthy target is up")
    check(states["flaky"]["kind"] == "http" and states["flaky"]["group"] == "e2e",
          "kind and group reported")

    # Restart in the middle: the gap must be unknown time.
    rc = emp.stop()
    check(rc == 0, "SIGTERM stops empiric cleanly (exit 0)")
    gap_start = time.time()
    time.sleep(2.0)
    gap_end = time.time()
    emp.start()
    time.sleep(2.0)
    t_end = time.time()
    time.sleep(1.5)  # let the writer flush

    q = "?from=%d&to=%d" % (int(t_begin) - 1, int(t_end) + 1)
    status, body = emp.get("/api/v1/targets/flaky/outages" + q)
    check(status == 200, "GET outages answers 200")
    outages = sorted(body["outages"], key=lambda o: o["start"])
    print("outages:", outages)
    check(len(outages) == 3, "exactly one outage per fault span (got %d)" % len(outages))
    for (mode, start, end), o in zip(truth, outages):
        s = parse_time(o["start"])
        check(o["end"] is not None, "%s outage ended" % mode)
        e = parse_time(o["end"])
        check(abs(s - start) <= TOLERANCE_S,
              "%s outage starts within %.2f s of the truth (off by %.3f s)" %
              (mode, TOLERANCE_S, s - start))
        check(abs(e - end) <= TOLERANCE_S,
              "%s outage ends within %.2f s of the truth (off by %.3f s)" %
              (mode, TOLERANCE_S, e - end))
        check(abs(o["duration_s"] - (e - s)) < 0.01, "%s duration_s = end - start" % mode)
    # The cause is the first failing probe's error: a probe caught in flight
    # when the listener closed sees a reset, the later ones a refusal.
    classes = [o["cause"]["class"] for o in outages]
    check(classes[0] in ("refused", "reset") and classes[1:] == ["http_status", "timeout"],
          "error classes refused|reset, http_status, timeout (got %s)" % classes)
    n_refused = int(db.query("SELECT count(*) FROM failures WHERE err_class = 'refused'"))
    check(n_refused >= 2, "refused probes recorded as evidence (%d)" % n_refused)

    status, ctype, text = emp.get_raw("/api/v1/targets/flaky/outages" + q + "&format=csv")
    rows = list(csv.reader(io.StringIO(text)))
    check(status == 200 and ctype.startswith("text/csv"), "outages as CSV with ?format=csv")
    check(rows[0] == ["start", "end", "duration_s", "class", "message"] and len(rows) == 4,
          "CSV has a header and one row per outage")
    check([r[0] for r in rows[1:]] == [o["start"] for o in reversed(outages)],
          "CSV rows match the JSON outages, newest first")
    status, body = emp.get("/api/v1/targets/flaky/outages?format=xml")
    check(status == 400, "an unknown format -> 400")
    status, body = emp.get("/api/v1/groups")
    check(status == 200 and body["groups"] == [{"name": "e2e", "members": 2}],
          "GET /api/v1/groups lists the group with its members")

    status, up = emp.get("/api/v1/targets/healthy/uptime" + q)
    check(status == 200, "GET uptime answers 200")
    print("healthy uptime:", up)
    check(up["availability"] == 1.0, "healthy target keeps availability 1.0")
    check(up["down_s"] == 0, "healthy target has no downtime")
    gap = gap_end - gap_start
    check(up["unknown_s"] >= gap - 0.5,
          "the restart gap (%.2f s) is unknown time (unknown_s %.2f)" % (gap, up["unknown_s"]))
    check(up["coverage"] < 1.0, "coverage below 1 across the restart")
    total = up["up_s"] + up["down_s"] + up["unknown_s"]
    window = (int(t_end) + 1) - (int(t_begin) - 1)
    check(abs(total - window) < 0.01, "up + down + unknown = window")
    check(up["streak_longest_s"] <= (gap_start - t_begin) + 1,
          "the longest streak is broken by the restart")

    status, fu = emp.get("/api/v1/targets/flaky/uptime" + q)
    print("flaky uptime:", fu)
    truth_down = sum(e - s for _, s, e in truth)
    check(abs(fu["down_s"] - truth_down) <= 3 * TOLERANCE_S * 2,
          "flaky downtime %.2f s matches the truth %.2f s" % (fu["down_s"], truth_down))
    check(fu["availability"] < 1.0, "flaky availability below 1")

    # The SLA, judged on the same evidence.
    status, body = emp.get("/api/v1/targets/flaky/sla")
    print("flaky sla:", [p for p in body.get("periods", []) if p["availability"] is not None])
    check(all(p["met"] is None and p["availability"] is None for p in body["periods"]
              if p["end"] <= body["periods"][-1]["start"]),
          "days before the test were not observed: availability and met are null")
    check(status == 200 and len(body["periods"]) >= 1, "GET sla answers with periods")
    down = sum(p["downtime_s"] for p in body["periods"])
    check(abs(down - fu["down_s"]) < 0.5, "SLA downtime is the observed outage time")
    check(any(p["met"] is False and p["credit_percent"] == 10 for p in body["periods"]),
          "the flaky target breaches a 99% objective and is owed a 10% credit")
    check(sum(len(p["outages"]) for p in body["periods"]) >= 3, "the outages are the evidence")
    status, body = emp.get("/api/v1/targets/healthy/sla")
    judged = [p for p in body["periods"] if p["met"] is not None]
    check(status == 200 and judged and all(p["met"] is True and p["credit_percent"] == 0
                                           for p in judged), "the healthy target meets it")

    # The evidence and the heartbeats are in the database.
    n_fail = int(db.query("SELECT count(*) FROM failures f JOIN targets t ON t.id = f.target_id "
                          "WHERE t.name = 'flaky'"))
    check(n_fail >= 3 * 2, "failing probe results stored as evidence (%d)" % n_fail)
    runs = int(db.query("SELECT count(*) FROM prober_runs"))
    check(runs == 2, "two prober runs recorded (%d)" % runs)
    ok = int(db.query("SELECT coalesce(sum(ok), 0) FROM rollup_hours r JOIN targets t "
                      "ON t.id = r.target_id WHERE t.name = 'healthy'"))
    check(ok > 30, "rollups count the healthy target's probes (%d)" % ok)

    status, body = emp.get("/api/v1/targets/nope/uptime")
    check(status == 404 and body["error"]["code"] == "not_found", "unknown target -> 404")
    status, body = emp.get("/api/v1/targets/flaky/uptime?from=20&to=10")
    check(status == 400 and "error" in body, "reversed window -> 400")


if __name__ == "__main__":
    main()
