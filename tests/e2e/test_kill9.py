"""End to end: `empiric serve` killed with SIGKILL at random moments, 20
times, while a target goes down and up on its own schedule.

After each restart no outage is lost, doubled or left open; outages start
and end only at times a live Empiric probed; the time between a kill and
the next start is unknown (no coverage span crosses it), never uptime or
downtime; and the rollups never count a probe twice. Some restarts find a
torn record at the end of the spool (as a kill in the middle of a write
leaves it): it is cut and logged, and the rest is written."""

import os
import random
import re
import struct
import threading
import time

from harness import Database, Empiric, FaultTarget, check, fail, parse_args

INTERVAL_MS = 200
TIMEOUT_MS = 150
KILLS = int(os.environ.get("EMPIRIC_KILL9_KILLS", "20"))
SEED = int(os.environ.get("EMPIRIC_KILL9_SEED", str(int(time.time()))))


class Flapper:
    """Switches the target between 500 and ok every 2 to 4 s, recording the
    truth, until stopped."""

    def __init__(self, target, rng):
        self.target, self.rng = target, rng
        self.windows = []   # (down, up); up None while down
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.wait(self.rng.uniform(2.0, 4.0)):
            if self.target.mode == "ok":
                self.windows.append([self.target.set("500"), None])
            else:
                self.windows[-1][1] = self.target.set("ok")

    def stop(self):
        self.stopping.set()
        self.thread.join()
        if self.target.mode != "ok":
            self.windows[-1][1] = self.target.set("ok")


def tear(path, rng):
    """Append the start of a record that was never finished: a length, a
    CRC, and fewer bytes than the length says."""
    with open(path, "ab") as f:
        f.write(struct.pack("<II", 200, 0xDEADBEEF) + os.urandom(rng.randint(0, 150)))


def main():
    args = parse_args()
    print("seed %d (EMPIRIC_KILL9_SEED repeats it)" % SEED, flush=True)
    rng = random.Random(SEED)
    db = Database(args.empiric, args.schema)
    target = FaultTarget()
    targets = [dict(name="flapping", kind="http", url="http://127.0.0.1:%d/" % target.port,
                    interval_ms=INTERVAL_MS, timeout_ms=TIMEOUT_MS, fail_threshold=2,
                    recover_threshold=1)]
    emp = Empiric(args.empiric, db, targets)
    flapper = None
    try:
        flapper = Flapper(target, rng)
        run(emp, db, target, flapper, rng)
    finally:
        if flapper is not None:
            flapper.stop()
        emp.stop()
        target.close()
        db.drop()


def run(emp, db, target, flapper, rng):
    alive = []      # (start, end) of each life
    torn = 0
    for i in range(KILLS):
        t_start = time.time()
        emp.start()
        time.sleep(rng.uniform(1.0, 4.0))
        emp.kill()
        alive.append((t_start, time.time()))
        if i % 4 == 1:
            tear(emp.spool_path(), rng)
            torn += 1
        time.sleep(rng.uniform(0.0, 1.5))
    t_start = time.time()
    emp.start()
    time.sleep(2.0)
    flapper.stop()
    time.sleep(2.0)   # up for a while: the last outage closes
    requests = target.requests
    first = alive[0][0]
    status, up = emp.get("/api/v1/targets/flapping/uptime?from=%d&to=%d"
                         % (int(first) + 1, int(time.time())))
    dead = sum(c - b for (_, b), (c, _) in zip(alive, alive[1:]))
    check(status == 200 and 0.5 < up["coverage"] < 1.0 and up["unknown_s"] >= 0.8 * dead,
          "the dead time is unknown: coverage %.3f, %.1f s unknown for %.1f s dead"
          % (up["coverage"], up["unknown_s"], dead))
    emp.stop()
    alive.append((t_start, time.time()))
    log = emp.log_text()
    check(log.count("torn record") >= torn, "every torn spool record was noticed and cut (%d)"
          % torn)
    check("level=error" not in log, "no error logged")
    recovered = [tuple(int(x) for x in m) for m in
                 re.findall(r'spool of an earlier run written.* written=(\d+) counted=(\d+)', log)]
    check(len(recovered) >= KILLS // 2 and sum(c for _, c in recovered) > 0,
          "restarts wrote what the killed runs left in the spool: %d restarts, %d events "
          "written, %d counted into rollups held when killed" %
          (len(recovered), sum(w for w, _ in recovered), sum(c for _, c in recovered)))

    tid = db.query("SELECT id FROM targets WHERE name = 'flapping'")
    rows = db.query("SELECT extract(epoch FROM started_at), extract(epoch FROM ended_at)"
                    " FROM outages WHERE target_id = %s ORDER BY started_at" % tid)
    outages = [tuple(float(x) if x else None for x in r.split("|")) for r in rows.splitlines()]
    check(outages and all(e is not None for _, e in outages),
          "no outage left open (%d outages)" % len(outages))
    for (s1, e1), (s2, _) in zip(outages, outages[1:]):
        if s2 < e1:
            fail("outages overlap: %.2f..%.2f and one from %.2f" % (s1, e1, s2))
    check(True, "no outage doubled (none overlaps another)")

    def live(t):
        return any(a <= t <= b for a, b in alive)
    bad = [(s, e) for s, e in outages if not (live(s) and live(e))]
    check(not bad, "every outage starts and ends at a time a live Empiric probed")

    # A fault window that a live Empiric watched for long enough to confirm
    # it (threshold probes plus slack) must be part of an outage.
    need = 2 * INTERVAL_MS / 1000.0 + TIMEOUT_MS / 1000.0 + 0.3
    watched = 0
    for d, u in flapper.windows:
        seen = max((min(u, b) - max(d, a) for a, b in alive), default=0)
        if seen < need:
            continue
        watched += 1
        if not any(s <= u and e >= d for s, e in outages):
            fail("the fault %.2f..%.2f, watched for %.1f s, has no outage" % (d, u, seen))
    check(watched >= min(5, KILLS // 4), "every watched fault has its outage (%d of %d faults watched)"
          % (watched, len(flapper.windows)))

    # The dead time between a kill and the next start is unknown.
    spans = db.query("SELECT extract(epoch FROM started_at), extract(epoch FROM ended_at)"
                     " FROM spans WHERE target_id = %s" % tid)
    spans = [tuple(map(float, r.split("|"))) for r in spans.splitlines()]
    for (a, b), (c, _) in zip(alive, alive[1:]):
        mid = (b + c) / 2
        for s, e in spans:
            if s < mid < e:
                fail("a span %.2f..%.2f covers the dead time %.2f..%.2f" % (s, e, b, c))
    check(len(spans) >= KILLS, "no coverage span crosses the %d dead times" % KILLS)

    # Rollups: never a probe twice; at most the probes in flight at a kill
    # (and in the writer's queue, ~20 ms) are lost.
    total = int(db.query("SELECT coalesce(sum(ok + degraded + fail), 0) FROM rollup_hours"
                         " WHERE target_id = %s" % tid))
    check(requests - 4 * (KILLS + 1) <= total <= requests,
          "rollups count %d probes of the %d the target answered (none twice)"
          % (total, requests))


if __name__ == "__main__":
    main()
