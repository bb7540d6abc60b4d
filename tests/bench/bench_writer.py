"""Benchmark the writer: how many probe results a second it sustains into
PostgreSQL (bench_writer_rate, run first), and proof that a slow database
does not delay any probe. Two `empiric serve` runs of N HTTP targets at 1 s
(served by bench_target on loopback), identical but for a lock: in the
second, another session holds ACCESS EXCLUSIVE locks on the tables the
writer writes (spans, failures, rollups_recent, outages) for 30 s in the
middle, so every write waits. Compared: scheduling lag p99 (over the run's
last 65,536 probes, read from /metrics before stopping) and skipped ticks;
during the lock, the event queue's depth; afterwards, that every probe made
is in the database (rollups) and nothing was dropped.

usage: bench_writer.py --empiric BIN --target BIN --schema DIR
                       [--targets 1000] [--seconds 70] [--lock-s 30] [--quick]
Needs EMPIRIC_TEST_DB (scripts/bench sets it). Ends with one line
`BENCH writer ...`."""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import Database, Empiric, free_port  # noqa: E402

LOCKED = ("spans", "failures", "rollups_recent", "outages")


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else float("nan")


def metrics_within(port, timeout_s):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout_s) as r:
        return r.read().decode()


def serve_run(a, target_port, lock):
    """One serve run; returns its figures."""
    db = Database(a.empiric, a.schema)
    targets = [{"name": "t%d" % i, "kind": "http",
                "url": "http://127.0.0.1:%d/%d" % (target_port, i),
                "interval_ms": 1000, "timeout_ms": 500} for i in range(a.targets)]
    emp = Empiric(a.empiric, db, targets, prober="bench")
    depth_max, lock_proc = 0, None
    asked = unanswered = 0
    out = {}
    try:
        emp.start()
        t0 = time.time()
        lock_at = t0 + (a.seconds - a.lock_s) / 2
        lock_end = lock_at + a.lock_s
        while time.time() < t0 + a.seconds:
            now = time.time()
            if lock and lock_proc is None and now >= lock_at:
                sql = "BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(%d); COMMIT;" % (
                    ", ".join(LOCKED), a.lock_s)
                lock_proc = subprocess.Popen(["psql", db.conninfo, "-qAtc", sql],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if lock_proc is not None and now < lock_end + 1:
                # /metrics reads availability from the database, which the
                # lock holds up: a scrape may wait; count the ones that do.
                asked += 1
                try:
                    text = metrics_within(emp.port, 2.0)
                    depth_max = max(depth_max, int(metric(text, "empiric_event_queue_depth")))
                except OSError:
                    unanswered += 1
            time.sleep(1.0)
        if lock_proc is not None:
            lock_proc.wait(timeout=a.lock_s + 30)
        # Let the writer catch up, then read the lag over the last probes.
        deadline = time.time() + 60
        while time.time() < deadline:
            _, _, text = emp.get_raw("/metrics")
            if metric(text, "empiric_event_queue_depth") < a.targets:
                break
            time.sleep(0.5)
        _, _, text = emp.get_raw("/metrics")
        out["lag_p50_ms"] = 1e3 * metric(text, "empiric_scheduling_lag_seconds", '{quantile="0.5"}')
        out["lag_p99_ms"] = 1e3 * metric(text, "empiric_scheduling_lag_seconds", '{quantile="0.99"}')
        out["lag_max_ms"] = 1e3 * metric(text, "empiric_scheduling_lag_max_seconds")
        out["skipped"] = int(metric(text, "empiric_probes_skipped_total"))
        out["dropped"] = int(metric(text, "empiric_events_dropped_total"))
        out["write_errors"] = int(metric(text, "empiric_database_write_errors_total"))
        out["queue_max"] = depth_max
        out["scrapes_waiting"] = unanswered
        out["scrapes"] = asked
    finally:
        if lock_proc is not None and lock_proc.poll() is None:
            lock_proc.kill()
        emp.stop()
    log = open(os.path.join(emp.dir, "serve.log")).read()
    stopped = re.search(r'msg="stopped" probes=(\d+)', log)
    out["probes"] = int(stopped.group(1)) if stopped else -1
    out["written"] = int(db.query("SELECT coalesce(sum(ok + degraded + fail), 0) FROM rollup_hours"))
    db.drop()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--empiric", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=70)
    ap.add_argument("--lock-s", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="200 targets, 30 s runs, 10 s lock")
    a = ap.parse_args()
    if a.quick:
        a.targets, a.seconds, a.lock_s = 200, 30, 10
    if not (1 <= a.targets <= 10000 and 10 <= a.seconds <= 200 and 1 <= a.lock_s < a.seconds):
        sys.exit("bench_writer: targets 1..10000, seconds 10..200, lock shorter than the run")

    bindir = os.path.dirname(os.path.abspath(a.empiric))
    rate = subprocess.run([os.path.join(bindir, "bench_writer_rate"), "--seconds", "6"],
                          capture_output=True, text=True, timeout=300)
    sys.stdout.write(rate.stdout)
    m = re.search(r"^BENCH writer_rate (.*)$", rate.stdout, re.M)
    rate_kv = dict(kv.split("=", 1) for kv in m.group(1).split()) if m else {}
    if rate.returncode != 0 or not m:
        sys.stderr.write(rate.stderr[-3000:])
        sys.exit("bench_writer: bench_writer_rate failed")

    port = free_port()
    target = subprocess.Popen([a.target, str(port), str(2 * a.seconds + 300)])
    try:
        print("\nslow database: %d HTTP targets at 1 s, two runs of %d s; the second holds"
              " ACCESS EXCLUSIVE locks on %s for %d s in its middle"
              % (a.targets, a.seconds, ", ".join(LOCKED), a.lock_s))
        sys.stdout.flush()
        base = serve_run(a, port, lock=False)
        slow = serve_run(a, port, lock=True)
    finally:
        target.send_signal(signal.SIGTERM)
        target.wait(timeout=30)

    print("\n  %-28s %12s %12s" % ("", "no lock", "lock %d s" % a.lock_s))
    for k, label in (("lag_p50_ms", "lag p50 ms"), ("lag_p99_ms", "lag p99 ms"),
                     ("lag_max_ms", "lag max ms"), ("skipped", "skipped ticks"),
                     ("queue_max", "event queue depth, max"), ("probes", "probes made"),
                     ("written", "probes in the database"), ("dropped", "events dropped"),
                     ("write_errors", "write errors"),
                     ("scrapes_waiting", "/metrics scrapes > 2 s")):
        fmt = "  %-28s %12.2f %12.2f" if isinstance(base[k], float) else "  %-28s %12d %12d"
        print(fmt % (label, base[k], slow[k]))
    lost = slow["probes"] - slow["written"]
    print("\n  every probe of the locked run is in the database: %s (%d missing)"
          % ("yes" if lost == 0 else "NO", lost))
    print("  (/metrics waits for the database when its availability cache is due: %d of %d"
          " scrapes during the lock took over 2 s)"
          % (slow["scrapes_waiting"], slow["scrapes"]))
    print("\nBENCH writer results_per_s=%s targets=%d lock_s=%d lag_p99_ms_base=%.2f"
          " lag_p99_ms_locked=%.2f skipped_locked=%d queue_max=%d probes_missing=%d dropped=%d"
          % (rate_kv.get("best_results_per_s", "nan"), a.targets, a.lock_s, base["lag_p99_ms"],
             slow["lag_p99_ms"], slow["skipped"], slow["queue_max"], lost, slow["dropped"]))


if __name__ == "__main__":
    main()
