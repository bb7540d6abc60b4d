"""End to end: PostgreSQL stopped for 60 s while outages begin and end.

Empiric runs on a PostgreSQL cluster of this test's own. The database is
stopped while one outage is in progress; more begin and end while it is
away; it comes back while another is in progress. Afterwards every outage
is in the database once, with its true start and end; every failing probe
is there once; the rollups count every probe the target answered, none
twice; and the API answered (from what it had, or with a JSON error) within
its statement timeout all along."""

import os
import time

from harness import (Empiric, FaultTarget, OwnDatabase, PrivatePostgres, check, fail,
                     parse_args)

INTERVAL_MS = 250
TIMEOUT_MS = 240  # the targets are Python: slow on a busy machine
TOLERANCE_S = (INTERVAL_MS + TIMEOUT_MS) / 1000.0 + 0.1
AWAY_S = float(os.environ.get("EMPIRIC_DB_AWAY_S", "60"))
DOWN_S, UP_S = 4.0, 5.0


def main():
    args = parse_args()
    pg = PrivatePostgres()
    db = OwnDatabase(args.empiric, args.schema, pg)
    flaky = FaultTarget()
    healthy = FaultTarget()
    common = {"interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS,
              "fail_threshold": 2, "recover_threshold": 1}
    targets = [
        dict(name="flaky", kind="http", url="http://127.0.0.1:%d/" % flaky.port, **common),
        dict(name="healthy", kind="http", url="http://127.0.0.1:%d/" % healthy.port, **common),
    ]
    emp = Empiric(args.empiric, db, targets)
    try:
        run(emp, db, pg, flaky, healthy)
    finally:
        emp.stop()
        flaky.close()
        healthy.close()
        pg.destroy()


def poll_api(emp, answers):
    """One round of API requests; each must answer, quickly, in JSON."""
    for path in ("/api/v1/status", "/api/v1/targets", "/api/v1/targets/flaky/uptime",
                 "/metrics"):
        t0 = time.time()
        try:
            if path == "/metrics":
                status, _, _ = emp.get_raw(path)
            else:
                status, body = emp.get(path)
                if not isinstance(body, (dict, list)):
                    fail("%s answered %d without a JSON body while the database was away"
                         % (path, status))
        except OSError as e:
            fail("%s did not answer while the database was away: %s" % (path, e))
        answers.append((path, status, time.time() - t0))


def run(emp, db, pg, flaky, healthy):
    emp.start()
    time.sleep(2.0)
    truth = []          # (down, up) wall times of each fault
    answers = []

    down = flaky.set("500")
    time.sleep(2.0)
    pg.stop()
    t_stop = time.time()
    print("database stopped", flush=True)
    deadline = t_stop + AWAY_S
    # Faults begin and end while the database is away.
    state_until = down + DOWN_S
    while time.time() < deadline:
        now = time.time()
        if now >= state_until:
            if flaky.mode == "500":
                truth.append((down, flaky.set("ok")))
                state_until = time.time() + UP_S
            else:
                down = flaky.set("500")
                state_until = down + DOWN_S
        poll_api(emp, answers)
        time.sleep(0.5)
    unwritten = emp.metric("empiric_events_unwritten")
    spool = emp.metric("empiric_spool_bytes")
    check(unwritten is not None and unwritten > 0.6 * 2 * AWAY_S * 1000 / INTERVAL_MS,
          "events wait for the database while it is away (%s unwritten)" % unwritten)
    check(spool is not None and spool > 16, "they are in the spool (%s bytes)" % spool)
    if flaky.mode != "500":
        down = flaky.set("500")
    pg.start()
    t_back = time.time()
    print("database started after %.1f s" % (t_back - t_stop), flush=True)
    time.sleep(2.0)
    truth.append((down, flaky.set("ok")))
    time.sleep(1.5)

    # The backlog drains.
    drained = None
    for _ in range(120):
        unwritten = emp.metric("empiric_events_unwritten")
        if unwritten is not None and unwritten < 20:
            drained = time.time()
            break
        time.sleep(0.5)
    check(drained is not None, "the backlog was written within 60 s of the database's return")
    requests_flaky, requests_healthy = flaky.requests, healthy.requests
    emp.stop()
    check(emp.log_text().count("level=error") == 0, "no error logged")

    slow = [a for a in answers if a[2] > 6.0]
    check(len(answers) >= 3 * AWAY_S and not slow,
          "the API answered all %d requests while the database was away, none slower than 6 s"
          % len(answers))
    codes = sorted(set((a[0], a[1]) for a in answers))
    print("answers while away: %s" % codes, flush=True)
    check(any(a[0] == "/api/v1/status" and a[1] == 200 for a in answers),
          "the status page answered from what it had")

    tid = db.query("SELECT id FROM targets WHERE name = 'flaky'")
    rows = db.query("SELECT extract(epoch FROM started_at), extract(epoch FROM ended_at)"
                    " FROM outages WHERE target_id = %s ORDER BY started_at" % tid)
    outages = [tuple(float(x) if x else None for x in r.split("|")) for r in rows.splitlines()]
    print("truth:   %s" % [(round(a, 1), round(b, 1)) for a, b in truth], flush=True)
    print("outages: %s" % [(round(a, 1), round(b or 0, 1)) for a, b in outages], flush=True)
    check(len(outages) == len(truth),
          "one outage per fault: %d outages for %d faults" % (len(outages), len(truth)))
    for (d, u), (s, e) in zip(truth, outages):
        if e is None:
            fail("an outage was left open")
        if not (d - 0.05 <= s <= d + TOLERANCE_S and u - 0.05 <= e <= u + TOLERANCE_S):
            fail("outage %.2f..%.2f does not match the fault %.2f..%.2f" % (s, e, d, u))
    check(True, "every outage starts and ends within one interval + timeout of the truth, "
          "%d of them while the database was away" %
          sum(1 for d, u in truth if t_stop < d and u < t_back))

    fails, distinct = db.query("SELECT count(*), count(DISTINCT at) FROM failures"
                               " WHERE target_id = %s" % tid).split("|")
    check(int(fails) == int(distinct) and int(fails) > 0,
          "every failing probe stored once (%s)" % fails)
    # Every probe the targets answered is counted once in the rollups (a
    # probe or two may have been in flight at the end).
    for name, requests in (("flaky", requests_flaky), ("healthy", requests_healthy)):
        total = int(db.query("SELECT coalesce(sum(ok + degraded + fail), 0) FROM rollup_hours"
                             " r JOIN targets t ON t.id = r.target_id WHERE t.name = '%s'"
                             % name))
        check(requests - 3 <= total <= requests + 3,
              "%s: rollups count %d probes, the target answered %d" % (name, total, requests))
    status, up = emp_uptime_after_restart(emp, t_stop, t_back)
    check(status == 200 and up["coverage"] > 0.95,
          "the time the database was away is observed time (coverage %.3f)" % up["coverage"])


def emp_uptime_after_restart(emp, t_stop, t_back):
    """Uptime of the healthy target over the away window, from a fresh serve."""
    emp.start()
    try:
        import datetime
        f = datetime.datetime.fromtimestamp(t_stop + 1, datetime.timezone.utc)
        t = datetime.datetime.fromtimestamp(t_back - 1, datetime.timezone.utc)
        q = "?from=%s&to=%s" % (f.strftime("%Y-%m-%dT%H:%M:%SZ"), t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return emp.get("/api/v1/targets/healthy/uptime" + q)
    finally:
        emp.stop()


if __name__ == "__main__":
    main()
