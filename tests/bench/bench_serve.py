"""Benchmark the whole `empiric serve` process: N HTTP targets on loopback
(served by bench_target) at a fixed interval, writing to the real
PostgreSQL. Prints probes per second (counted in the database's rollups),
process CPU per probe (all threads: probe loop, writer, API), scheduling lag
as the process reports it on exit, and peak RSS.

usage: bench_serve.py --empiric BIN --target BIN --schema DIR
                      [--targets 1000] [--interval-ms 1000] [--seconds 30]
Needs EMPIRIC_TEST_DB (scripts/bench sets it)."""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import Database, free_port  # noqa: E402
from benchlib import peak_rss_kib, proc_cpu_s  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--empiric", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=30)
    a = ap.parse_args()
    if not (1 <= a.targets <= 20000 and 100 <= a.interval_ms and 5 <= a.seconds <= 600):
        sys.exit("bench_serve: targets 1..20000, interval >= 100 ms, seconds 5..600")

    db = Database(a.empiric, a.schema)
    port = free_port()
    target = subprocess.Popen([a.target, str(port), str(a.seconds + 60)])
    d = tempfile.mkdtemp(prefix="empiric-bench-")
    cfg = os.path.join(d, "bench.json")
    api = free_port()
    with open(cfg, "w") as f:
        json.dump({"listen": "127.0.0.1:%d" % api, "prober": {"name": "bench"},
                   "spool": {"path": os.path.join(d, "bench.spool")},
                   "targets": [{"name": "t%d" % i, "kind": "http",
                                "url": "http://127.0.0.1:%d/%d" % (port, i),
                                "interval_ms": a.interval_ms,
                                "timeout_ms": a.interval_ms // 2} for i in range(a.targets)]}, f)
    log = open(os.path.join(d, "serve.log"), "w+")
    proc = subprocess.Popen([a.empiric, "--db", db.conninfo, "serve", "--config", cfg],
                            stderr=log, stdout=log)
    try:
        time.sleep(2)  # start-up: connect, sync targets
        cpu0, t0 = proc_cpu_s(proc.pid), time.time()
        time.sleep(a.seconds)
        cpu1, t1 = proc_cpu_s(proc.pid), time.time()
        rss = peak_rss_kib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        target.send_signal(signal.SIGTERM)
        target.wait(timeout=30)
    log.seek(0)
    text = log.read()
    stopped = re.search(r'msg="stopped" probes=(\d+) fail=(\d+) skipped=(\d+) lag_p99_ms=([\d.]+)', text)
    probes = int(db.query("SELECT coalesce(sum(ok + degraded + fail), 0) FROM rollup_hours"))
    fails = int(db.query("SELECT coalesce(sum(fail), 0) FROM rollup_hours"))
    wall = t1 - t0
    # Probing runs from the "serving" line to the "stopping" line of the log.
    span = [time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + float(ts[19:-1] or 0)
            for ts, what in re.findall(r'ts=(\S+) level=info msg="(serving|stopping)"', text)]
    total_wall = span[-1] - span[0] if len(span) >= 2 else wall
    db.drop()
    sys.stdout.flush()
    print("bench_serve: %d HTTP targets at %d ms, measured %.1f s" % (a.targets, a.interval_ms, wall))
    print("  probes written     %d (%d failed) over the run" % (probes, fails))
    if stopped:
        print("  probes/s           %.1f (expected %.1f)" %
              (int(stopped.group(1)) / max(total_wall, 1e-9), a.targets * 1000.0 / a.interval_ms))
        print("  scheduling lag p99 %s ms, skipped ticks %s" % (stopped.group(4), stopped.group(3)))
    cpu = cpu1 - cpu0
    rate = a.targets * 1000.0 / a.interval_ms
    print("  process CPU        %.1f%% of one core, %.1f us per probe (all threads)" %
          (100 * cpu / wall, 1e6 * cpu / (rate * wall)))
    print("  peak RSS           %d KiB" % rss)


if __name__ == "__main__":
    main()
