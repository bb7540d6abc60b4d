"""End to end: the monitor doubts itself.

1. Canaries: while the canary target fails, the app target's failures are
   unknown (no outage, its time unknown in /uptime), /metrics and
   /api/v1/monitor say the network is suspect; once the canary answers, the
   app's failures count and its outage opens.
2. Lag: the process is frozen (SIGSTOP) for less than prober.max_lag_ms and
   nothing is marked late; frozen for longer, the probes that start late
   make the frozen time unknown for a healthy target (coverage drops, no
   outage), and /api/v1/monitor counts them."""

import datetime
import signal
import time

from harness import Database, Empiric, FaultTarget, check, fail, parse_args

INTERVAL_MS = 200
MAX_LAG_MS = 500


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    gateway, app, healthy = FaultTarget(), FaultTarget(), FaultTarget()
    common = {"interval_ms": INTERVAL_MS, "timeout_ms": 150, "fail_threshold": 2}
    targets = [
        dict(name="gateway", kind="http", url="http://127.0.0.1:%d/" % gateway.port, **common),
        dict(name="app", kind="http", url="http://127.0.0.1:%d/" % app.port, **common),
        dict(name="healthy", kind="http", url="http://127.0.0.1:%d/" % healthy.port, **common),
    ]
    emp = Empiric(args.empiric, db, targets,
                  extra={"prober": {"name": "e2e", "canaries": ["gateway"],
                                    "max_lag_ms": MAX_LAG_MS}})
    try:
        emp.start()
        time.sleep(1.0)
        canaries(emp, db, gateway, app)
        lag(emp, db)
    finally:
        emp.stop()
        for t in (gateway, app, healthy):
            t.close()
        db.drop()


def canaries(emp, db, gateway, app):
    t0 = gateway.set("refused")
    app.set("500")
    time.sleep(3.0)
    status, mon = emp.get("/api/v1/monitor")
    check(status == 200 and mon["network_suspect"] is True and mon["canaries"] == ["gateway"],
          "/api/v1/monitor: the network is suspect while the canary fails")
    check(mon["unknown"]["network"] >= 10,
          "the app's failures meanwhile are unknown (%d)" % mon["unknown"]["network"])
    check(emp.metric("empiric_network_suspect") == 1.0, "/metrics: empiric_network_suspect 1")
    t1 = gateway.set("ok")
    time.sleep(2.0)
    app.set("ok")
    time.sleep(1.0)
    status, mon = emp.get("/api/v1/monitor")
    check(mon["network_suspect"] is False, "the canary answers: no longer suspect")

    status, body = emp.get("/api/v1/targets/app/outages?from=%s" % rfc3339(t0 - 5))
    outs = body["outages"]
    check(len(outs) == 1, "one outage for the app: %d" % len(outs))
    start = datetime.datetime.fromisoformat(outs[0]["start"].replace("Z", "+00:00")).timestamp()
    check(t1 - 0.05 <= start <= t1 + 0.6,
          "it begins when the canary answered (%.2f s after), not when the app began failing"
          % (start - t1))
    status, up = emp.get("/api/v1/targets/app/uptime?from=%s&to=%s"
                         % (rfc3339(t0 + 0.5), rfc3339(t1 - 0.5)))
    check(up["down_s"] == 0 and up["unknown_s"] > 1.5,
          "while the network was suspect the app's time is unknown (%.1f s), not down"
          % up["unknown_s"])
    status, up = emp.get("/api/v1/targets/gateway/outages?from=%s" % rfc3339(t0 - 5))
    check(len(up["outages"]) == 1, "the canary's own outage is recorded")


def freeze(emp, seconds):
    emp.proc.send_signal(signal.SIGSTOP)
    time.sleep(seconds)
    emp.proc.send_signal(signal.SIGCONT)
    time.sleep(1.0)


def lag(emp, db):
    before = emp.get("/api/v1/monitor")[1]["late"]
    freeze(emp, 0.25)
    after_short = emp.get("/api/v1/monitor")[1]["late"]
    check(after_short == before,
          "frozen 0.25 s, under max_lag_ms = %d: no probe is late (%d)" % (MAX_LAG_MS,
                                                                          after_short - before))
    t0 = time.time()
    freeze(emp, 2.0)
    t1 = time.time()
    mon = emp.get("/api/v1/monitor")[1]
    check(mon["late"] >= 3, "frozen 2 s: the probes that started late are counted (%d)"
          % (mon["late"] - after_short))
    check(mon["lag_s"]["max"] >= 1.5, "the largest lag shows it (%.2f s)" % mon["lag_s"]["max"])
    status, up = emp.get("/api/v1/targets/healthy/uptime?from=%s&to=%s"
                         % (rfc3339(t0 - 1), rfc3339(t1 - 1)))
    check(up["down_s"] == 0 and up["unknown_s"] >= 1.2,
          "the frozen time is unknown for a healthy target (%.2f s of %.2f), never down"
          % (up["unknown_s"], t1 - t0))
    status, outs = emp.get("/api/v1/targets/healthy/outages")
    check(outs["outages"] == [], "no false outage")


if __name__ == "__main__":
    main()
