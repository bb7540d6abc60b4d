"""End to end: GET /metrics of `empiric serve` probing a healthy and a
failing target. The figures match what happened (probes counted, the failing
target down with one outage, the healthy one up with availability 1), and
`promtool check metrics` (Debian's prometheus package) accepts the body;
without promtool the test fails."""

import re
import shutil
import subprocess
import time

from harness import Database, Empiric, FaultTarget, check, fail, parse_args

INTERVAL_MS = 200
TIMEOUT_MS = 150
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(body):
    """{(name, frozenset of (label, value))): value} of every sample."""
    out = {}
    for line in body.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        if m is None:
            fail("not a sample line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def get(samples, name, **labels):
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    if len(found) != 1:
        fail("expected one sample %s%s, found %d" % (name, labels, len(found)))
    return found[0]


def absent(samples, name, **labels):
    want = set(labels.items())
    return not any(n == name and want <= set(ls) for (n, ls) in samples)


def promtool_check(body):
    promtool = shutil.which("promtool")
    if promtool is None:
        fail("promtool not found (Debian package prometheus; scripts/test installs it)")
    r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=60)
    print(r.stdout + r.stderr, end="")
    check(r.returncode == 0 and (r.stdout + r.stderr).strip() == "",
          "promtool check metrics accepts the body without a lint warning")


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    good = FaultTarget()
    bad = FaultTarget()
    common = {"interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS,
              "fail_threshold": 2, "recover_threshold": 1}
    targets = [
        dict(name="good", kind="http", url="http://127.0.0.1:%d/" % good.port,
             group="e2e", **common),
        dict(name="bad", kind="http", url="http://127.0.0.1:%d/" % bad.port,
             group="e2e", **common),
    ]
    emp = Empiric(args.empiric, db, targets)
    try:
        run(emp, db, good, bad)
    finally:
        emp.stop()
        good.close()
        bad.close()
        db.drop()


def run(emp, db, good, bad):
    emp.start()
    time.sleep(1.0)
    bad.set("500")
    time.sleep(3.0)

    status, ctype, body = emp.get_raw("/metrics")
    check(status == 200, "GET /metrics answers 200")
    check(ctype == CONTENT_TYPE, "content type is the 0.0.4 text format (%s)" % ctype)
    promtool_check(body)
    s = parse(body)

    for name in ("good", "bad"):
        probes = sum(get(s, "empiric_probes_total", target=name, result=r)
                     for r in ("ok", "degraded", "fail"))
        count = get(s, "empiric_probe_duration_seconds_count", target=name)
        inf = get(s, "empiric_probe_duration_seconds_bucket", target=name, le="+Inf")
        check(probes >= 15, "%s: probes counted (%d in 4 s at 5/s)" % (name, probes))
        check(count == probes == inf, "%s: histogram count = +Inf bucket = probes" % name)
        check(get(s, "empiric_probes_total", target=name, kind="http", group="e2e",
                  result="ok") >= 1, "%s: kind and group labels" % name)
    check(get(s, "empiric_probes_total", target="good", result="fail") == 0,
          "good: no failed probes")
    check(get(s, "empiric_probes_total", target="bad", result="fail") >= 10,
          "bad: failed probes counted")

    check(get(s, "empiric_target_up", target="good") == 1, "good is up")
    check(get(s, "empiric_target_up", target="bad") == 0, "bad is down")
    check(get(s, "empiric_target_state", target="bad", state="down") == 1 and
          get(s, "empiric_target_state", target="bad", state="up") == 0,
          "bad's state series: down 1, up 0")
    check(get(s, "empiric_outages_total", target="bad") == 1, "bad: outages_total 1")
    check(get(s, "empiric_outages_total", target="good") == 0, "good: outages_total 0")
    streak = get(s, "empiric_target_streak_seconds", target="good")
    check(3.0 <= streak <= 6.0, "good: streak since its first probe (%.3f s)" % streak)
    check(get(s, "empiric_target_streak_seconds", target="bad") == 0, "bad: streak 0")

    check(get(s, "empiric_database_up") == 1, "database_up 1")
    check(get(s, "empiric_target_availability_30d", target="good") == 1.0,
          "good: availability over 30 days 1")
    avail_bad = get(s, "empiric_target_availability_30d", target="bad")
    check(0.0 <= avail_bad < 1.0, "bad: availability over 30 days below 1 (%.3f)" % avail_bad)

    check(get(s, "empiric_scheduling_lag_seconds", quantile="0.99") < 1.0,
          "scheduling lag p99 under a second")
    check(get(s, "empiric_scheduling_lag_seconds_count") >= 30, "lag samples counted")
    check(get(s, "empiric_event_queue_depth") >= 0, "queue depth shown")
    check(get(s, "empiric_events_dropped_total") == 0, "no events dropped")
    check(get(s, "empiric_database_write_errors_total") == 0, "no write errors")
    check(get(s, "empiric_probes_skipped_total") >= 0, "skipped probes shown")

    # A second scrape (availability from the cache now) is just as valid.
    status, ctype, body2 = emp.get_raw("/metrics")
    check(status == 200, "a second scrape answers 200")
    s2 = parse(body2)
    check(get(s2, "empiric_target_availability_30d", target="good") == 1.0,
          "good: availability again 1 (cached)")
    check(absent(s2, "empiric_target_up", target="nosuch"), "no series for unknown targets")

if __name__ == "__main__":
    main()
