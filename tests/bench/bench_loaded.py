"""Outage measurement under load: the faults of bench_accuracy.py (30 of each
kind rather than 54) while stress-ng keeps both cores busy and the same `empiric serve`
process also probes 2,000 healthy HTTP targets (bench_target on loopback).

Expected: no false outage, on the fault targets or the healthy ones; where
the prober ran late, the time it did not observe is unknown (coverage
spans, the uptime API's unknown_s), never down. Reported besides the
figures of bench_accuracy: failing probes and outages of the healthy
targets, their unknown seconds (total, per target, longest gap), the
prober's scheduling lag and skipped probes (from /metrics at the end, still
under load, and from the line empiric logs when it stops: both over the
last 65,536 probes; the maximum and the skipped count since start), the
process's CPU and how busy the machine was. A witness (this script, one
request every 200 ms) times bench_target meanwhile, and failing probes
whose timeout fired well after it was due (latency > 1.5 x timeout) are
counted: together they tell a slow target from a late prober. Only the
live state of fault-slow is sampled (a badge request copies the state of
every target), unless --sample-all.

usage: bench_loaded.py --empiric BIN --target BIN --schema DIR
           [--quick] [--healthy 2000] [--healthy-interval-ms 1000]
           [--stress-cpus 2] [--long 20] [--short 6] [--mid 2] [--seed 1]
           [the timing options of bench_accuracy.py]
Needs EMPIRIC_TEST_DB (scripts/bench sets it) and stress-ng; faultd is taken
from the directory of --empiric. About 2 minutes with the defaults, 1 with
--quick (4 long, 2 short, 1 mid faults per kind). The last line is
`BENCH loaded key=value ...`; the exit status is non-zero only when the
bench could not run."""

import argparse
import os
import shutil
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import fnum, pct  # noqa: E402


class Witness(threading.Thread):
    """A second, independent client of bench_target: one request every
    period_s with its own timeout, so that a slow target can be told from
    a late prober."""

    def __init__(self, port, period_s=0.2, timeout_s=2.0):
        super().__init__(daemon=True)
        self.url = "http://127.0.0.1:%d/witness" % port
        self.period_s, self.timeout_s = period_s, timeout_s
        self.obs = []  # (t, latency s or None)
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set() and len(self.obs) < 100000:
            t = time.time()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout_s) as r:
                    r.read()
                self.obs.append((t, time.time() - t))
            except OSError:
                self.obs.append((t, None))
            self.stop_ev.wait(max(0.0, self.period_s - (time.time() - t)))

    def stop(self):
        self.stop_ev.set()
        self.join(10)

    def figures(self, t_from, t_to):
        o = [x for x in self.obs if t_from <= x[0] < t_to]
        lat = [x[1] for x in o if x[1] is not None]
        return {"n": len(o), "failed": len(o) - len(lat), "lat": lat}


class Load:
    """bench_target serving the healthy targets, and stress-ng."""

    def __init__(self, a):
        self.a = a
        self.port = None
        self.stress = None
        self.cpu0 = None
        self.figures = {}

    def start(self, run):
        if not self.a.target or not os.access(self.a.target, os.X_OK):
            raise benchlib.BenchError("no bench_target (pass --target BIN)")
        self.stress_bin = shutil.which("stress-ng")
        if self.stress_bin is None and self.a.stress_cpus > 0:
            raise benchlib.BenchError("stress-ng is not installed")
        self.port = benchlib.free_port()
        seconds = min(3600, self.a.budget_s + 300)
        run.spawn("bench_target", [self.a.target, str(self.port), str(seconds)])
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                benchlib.Api(self.port).raw("/h", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise benchlib.BenchError("bench_target did not answer on port %d" % self.port)

    def targets(self):
        a = self.a
        return [{"name": "h%d" % i, "kind": "http", "group": "healthy",
                 "url": "http://127.0.0.1:%d/%d" % (self.port, i),
                 "interval_ms": a.healthy_interval_ms,
                 "timeout_ms": a.healthy_timeout_ms} for i in range(a.healthy)]

    def begin(self, run, emp, api):
        if self.a.stress_cpus > 0:
            seconds = min(3600, self.a.budget_s + 120)
            self.stress = run.spawn("stress-ng", [self.stress_bin, "--cpu",
                                                  str(self.a.stress_cpus), "--timeout",
                                                  "%ds" % seconds, "--quiet"])
        self.cpu0 = benchlib.machine_cpu_times()
        self.t0 = time.time()
        self.witness = Witness(self.port)
        self.witness.start()

    def end(self, run, emp, api):
        c1 = benchlib.machine_cpu_times()
        busy = (c1[0] - self.cpu0[0]) / max(1, c1[1] - self.cpu0[1])
        alive = self.stress is None or self.stress.poll() is None
        self.witness.stop()
        self.figures = {"machine_busy_pct": 100.0 * busy, "stress_alive": alive,
                        "stress_s": time.time() - self.t0}
        return self.figures

    def stop(self, run):
        if self.stress is not None:
            run.stop(self.stress, wait_s=10)


def healthy_report(x, names):
    store, t_from, t_to = x["store"], x["t_from"], x["t_to"]
    outs = [(n, o) for n in names for o in store["outages"].get(n, [])]
    all_fails = [(n, f) for n in names for f in store["failures"].get(n, [])]
    fails = [(n, f) for n, f in all_fails if t_from <= f[0] < t_to]
    fail_secs = {}
    for _, f in fails:
        fail_secs[int(f[0])] = fail_secs.get(int(f[0]), 0) + 1
    unk = [benchlib.unknown_s(store["spans"].get(n, []), t_from, t_to) for n in names]
    gaps = [benchlib.longest_gap_s(store["spans"].get(n, []), t_from, t_to) for n in names]
    classes = {}
    for _, f in fails:
        classes[f[2]] = classes.get(f[2], 0) + 1
    # Outages of many targets starting in the same second: the prober, not
    # the targets (each has its own URL on one server that kept answering).
    per_sec = {}
    for _, o in outs:
        per_sec[int(o[0])] = per_sec.get(int(o[0]), 0) + 1
    timeout_s = x["healthy_timeout_s"]
    roll = [store["probes"].get(n, (0, 0, 0)) for n in names]
    return {"targets": len(names), "outages": outs, "failures": fails, "classes": classes,
            "unknown": unk, "gaps": gaps, "ok": sum(r[0] for r in roll),
            "degraded": sum(r[1] for r in roll), "fail": sum(r[2] for r in roll),
            "with_unknown": sum(1 for u in unk if u > 0.0005),
            "open": sum(1 for _, o in outs if o[1] is None),
            "burst_max": max(per_sec.values()) if per_sec else 0,
            "burst_secs": len(per_sec),
            "late_timeouts": sum(1 for _, f in fails
                                 if f[2] == "timeout" and f[1] > 1.5 * timeout_s),
            "fail_latency": [f[1] for _, f in fails],
            "fails_before": sum(1 for _, f in all_fails if f[0] < t_from),
            "fails_after": sum(1 for _, f in all_fails if f[0] >= t_to),
            "fail_secs": len(fail_secs),
            "fail_burst": max(fail_secs.values()) if fail_secs else 0}


def main():
    ap = argparse.ArgumentParser(description="Outage measurement under CPU load and 2,000 "
                                 "other targets.")
    benchlib.add_args(ap, long_n=22, short_n=6, mid_n=2, lead_ms=15000, quick=(4, 2, 1))
    ap.add_argument("--healthy", type=int, default=2000, help="healthy targets besides")
    ap.add_argument("--healthy-interval-ms", type=int, default=1000)
    ap.add_argument("--healthy-timeout-ms", type=int, default=500)
    ap.add_argument("--stress-cpus", type=int, default=2, help="stress-ng --cpu N (0: none)")
    ap.add_argument("--sampler", choices=("badge", "list"), default="badge",
                    help="how live states are sampled (list: GET /api/v1/targets, exact "
                    "but costly with many targets)")
    ap.add_argument("--sample-all", action="store_true",
                    help="sample the live state of every fault target, not only fault-slow "
                    "(each badge request copies the state of all targets)")
    ap.set_defaults(sample_ms=250)
    a = ap.parse_args()
    if not (0 <= a.healthy <= 20000 and 0 <= a.stress_cpus <= 64):
        raise benchlib.BenchError("--healthy 0..20000, --stress-cpus 0..64")
    load = Load(a)
    x = benchlib.Experiment(a, "bench_loaded", load=load, sampler_source=a.sampler,
                            sample_names=None if a.sample_all else ["fault-slow"]).run()
    t = x["setup"].timing
    print("bench_loaded: %d healthy targets at %d ms (timeout %d ms), stress-ng --cpu %d; "
          "fault targets at %d ms (timeout %d ms, fail_threshold %d, degraded_ms %d, slow "
          "answers after %d ms); states sampled by %s every %d ms; wall %.0f s" % (
              a.healthy, a.healthy_interval_ms, a.healthy_timeout_ms, a.stress_cpus,
              t.interval_ms, t.timeout_ms, t.fail_threshold, t.degraded_ms, t.slow_ms,
              a.sampler, a.sample_ms, x["wall_s"]))
    benchlib.print_common(x)

    names = ["h%d" % i for i in range(a.healthy)]
    x["healthy_timeout_s"] = a.healthy_timeout_ms / 1000.0
    h = healthy_report(x, names)
    f = load.figures
    m = x["metrics"]
    s = x["stopped"] or {}
    span = x["t_to"] - x["t_from"]
    wit = load.witness.figures(x["t_from"], x["t_to"])
    print()
    rows = [
        ["healthy targets", h["targets"]],
        ["measured window s", span],
        ["false outages (healthy)", "%d (%d still open at the end)" % (len(h["outages"]),
                                                                        h["open"])],
        ["  started in distinct seconds / most in one second", "%d / %d" % (
            h["burst_secs"], h["burst_max"])],
        ["failing probes (healthy, in the window)", "%d %s" % (len(h["failures"]), ",".join(
            "%s:%d" % kv for kv in sorted(h["classes"].items())))],
        ["  in distinct seconds / most in one second", "%d / %d" % (h["fail_secs"],
                                                                   h["fail_burst"])],
        ["  before the window (start-up) / after it", "%d / %d" % (h["fails_before"],
                                                                  h["fails_after"])],
        ["  timeouts fired late (> 1.5 x timeout)", h["late_timeouts"]],
        ["  failing probe latency p50/p99/max s", "%s/%s/%s" % (
            fnum(pct(h["fail_latency"], 50)), fnum(pct(h["fail_latency"], 99)),
            fnum(max(h["fail_latency"]) if h["fail_latency"] else None))],
        ["probes ok/degraded/fail (/metrics, whole run)",
         "%d/%d/%d" % (h["ok"], h["degraded"], h["fail"])],
        ["unknown s, all healthy", fnum(sum(h["unknown"]), 1)],
        ["targets with unknown time", h["with_unknown"]],
        ["unknown s per target p50/p99/max", "%s/%s/%s" % (
            fnum(pct(h["unknown"], 50), 2), fnum(pct(h["unknown"], 99), 2),
            fnum(max(h["unknown"]) if h["unknown"] else None, 2))],
        ["longest gap s p99/max", "%s/%s" % (fnum(pct(h["gaps"], 99), 2),
                                             fnum(max(h["gaps"]) if h["gaps"] else None, 2))],
        ["coverage, all healthy", fnum(1 - sum(h["unknown"]) / max(1e-9, span * len(names)), 5)
         if names else "-"],
        ["bench_target to a witness: answers, failed", "%d, %d" % (wit["n"] - wit["failed"],
                                                                  wit["failed"])],
        ["  its latency p50/p99/max ms", "%s/%s/%s" % (
            fnum(1000 * (pct(wit["lat"], 50) or 0), 1), fnum(1000 * (pct(wit["lat"], 99) or 0), 1),
            fnum(1000 * max(wit["lat"]) if wit["lat"] else None, 1))],
        ["lag p50/p99 ms (/metrics, last 65,536)", "%s/%s" % (
            fnum(m.get("lag_p50_s", 0) * 1000, 2), fnum(m.get("lag_p99_s", 0) * 1000, 2))],
        ["lag max ms (since start)", fnum(m.get("lag_max_s", 0) * 1000, 1)],
        ["lag mean ms (since start)", fnum(1000 * m.get("lag_sum_s", 0) /
                                           max(1, m.get("lag_count", 0)), 2)
         if "lag_sum_s" in m else "-"],
        ["skipped probes (/metrics; log)", "%d; %s" % (m.get("skipped", 0),
                                                       s.get("skipped", "-"))],
        ["lag p99 ms (log at stop)", s.get("lag_p99_ms", "-")],
        ["probes (log at stop)", s.get("probes", "-")],
        ["events dropped / db write errors", "%d / %d" % (m.get("events_dropped", 0),
                                                         m.get("db_write_errors", 0))],
        ["empiric CPU % of one core", fnum(x["cpu_pct"], 1)],
        ["machine busy % (both cores)", fnum(f.get("machine_busy_pct"), 1)],
        ["stress-ng ran throughout", f.get("stress_alive")],
        ["state samples / errors / p99 ms", "%d / %d / %s" % (
            x["sampler"].samples, x["sampler"].errors,
            fnum(1000 * (pct(x["sampler"].latency, 99) or 0), 1))],
    ]
    print(benchlib.table(["under load", "value"], rows, "Healthy targets and the prober"))
    if h["outages"]:
        print("false outages on healthy targets (first 10):")
        def ts(t):
            return "-" if t is None else time.strftime("%H:%M:%S", time.gmtime(t)) + \
                ".%03d" % int((t % 1) * 1000)
        for n, o in h["outages"][:10]:
            print("  %s %s..%s %s" % (n, ts(o[0]), ts(o[1]), o[2]))
    fault_unknown = sum(benchlib.unknown_s(x["store"]["spans"].get(n, []), x["t_from"],
                                           x["t_to"])
                        for n in list(x["setup"].windows) + x["setup"].controls)
    pairs = benchlib.headline(x["res"])
    pairs += [
        ("healthy", h["targets"]),
        ("healthy_false", len(h["outages"])),
        ("healthy_failures", len(h["failures"])),
        ("healthy_late_timeouts", h["late_timeouts"]),
        ("witness_p99_ms", fnum(1000 * (pct(wit["lat"], 99) or 0), 1)),
        ("witness_failed", wit["failed"]),
        ("unknown_s", fnum(sum(h["unknown"]) + fault_unknown, 1)),
        ("unknown_fault_s", fnum(fault_unknown, 1)),
        ("targets_with_unknown", h["with_unknown"]),
        ("lag_p50_ms", fnum(m.get("lag_p50_s", 0) * 1000, 2)),
        ("lag_p99_ms", fnum(m.get("lag_p99_s", 0) * 1000, 2)),
        ("lag_max_ms", fnum(m.get("lag_max_s", 0) * 1000, 1)),
        ("skipped", int(m.get("skipped", s.get("skipped", 0)))),
        ("cpu_pct", fnum(x["cpu_pct"], 1)),
        ("busy_pct", fnum(f.get("machine_busy_pct"), 1)),
        ("wall_s", "%.0f" % x["wall_s"]),
    ]
    print()
    print(benchlib.bench_line("loaded", pairs), flush=True)


if __name__ == "__main__":
    benchlib.main_guard(main)
