"""What one hostile target does to the others: `empiric serve` probes 500
healthy HTTP targets (bench_target on loopback) alone, then with one hostile
target of build/hostile beside them, for each kind in turn (endless body,
endless chunked body, headers trickled a byte a second, 100 MB of headers,
invalid HTTP, TLS garbage, a reset mid-response, a hang after accept, a DNS
server that never answers). Each kind is a pair of runs, alone then with
the hostile target, one fresh process each, so that what else the machine
does at the time weighs on both runs of a pair alike.

Reported per run: the scheduling lag p50 / p99 / max of the process (from
/metrics at the end of the run: every probe since the start, the hostile
target's own one in 500 included); per kind, the p99 with the hostile
target minus the p99 of its pair's alone run (goal: under 10 ms); skipped
ticks, failures of the healthy targets (expected none), the hostile
target's failing probes and their error classes (expected: only its own
class), the process's peak RSS (VmHWM) and CPU, and how much of the
machine other work took (all CPU time but the bench's own processes'):
other work shows up as lag in every run, hostile or not, so a pair in
which it took more than --quiet-pct is run again (--retries times, within
--budget-s) and the least disturbed attempt is reported.

The DNS case needs root: every run's `empiric serve` then runs in a private
mount namespace (`unshare -m`) whose /etc/resolv.conf names hostile's
silent DNS server on 127.53.N.1 (options timeout:3 attempts:1); without
root that case is left out and the report says so.

usage: bench_hostile.py --empiric BIN --target BIN --schema DIR
           [--healthy 500] [--interval-ms 1000] [--timeout-ms 800]
           [--run-s 12] [--kinds k1,k2,...] [--quiet-pct 20] [--retries 2]
           [--budget-s 300] [--nice 0]
Needs EMPIRIC_TEST_DB (scripts/bench sets it); hostile is taken from the
directory of --empiric. About 4 minutes with the defaults on a quiet machine,
at most about 6 on a busy one. Loopback only.
The last line is `BENCH hostile key=value ...`; the exit status is non-zero
only when the bench could not run."""

import argparse
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import fnum  # noqa: E402

# kind -> (hostile's port name, path or None, scheme, expected class)
KINDS = {
    "endless_body": ("endless_body", "/", "http", "body_too_large"),
    "endless_chunked": ("endless_chunked", "/", "http", "body_too_large"),
    "trickle_headers": ("trickle_headers", "/", "http", "timeout"),
    "huge_headers": ("huge_headers", "/", "http", "headers_too_large"),
    "invalid_http": ("invalid_http", "/", "http", "protocol"),
    "tls_garbage": ("tls_garbage", "/", "https", "tls"),
    "rst_mid": ("rst_mid", "/", "http", "reset"),
    "hang": ("hang", "/", "http", "timeout"),
    "dns": ("ok", "/", "http", "dns"),
}
DNS_NAME = "never-answers.hostile.test"
GOAL_MS = 10.0


def namespaces_ok():
    if os.geteuid() != 0:
        return "not root"
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, timeout=10)
    return "" if r.returncode == 0 else "unshare -m failed: %s" % r.stderr.strip()


def start_hostile(run, binary, dns, seconds):
    args = [binary, "--max-seconds", str(seconds), "--conn-max-ms", "10000"]
    if dns:
        args += ["--dns-addr", "auto"]
    p = run.spawn("hostile", args, stdout=subprocess.PIPE)
    line = p.stdout.readline().decode()
    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    if "ok" not in fields:
        raise benchlib.BenchError("hostile printed no ports (%r); see %s" %
                                  (line, run.log_path("hostile.log")))
    return {k: v if k == "dns" else int(v) for k, v in fields.items()}


def hostile_target(kind, ports, a):
    port_name, path, scheme, _ = KINDS[kind]
    host = DNS_NAME if kind == "dns" else "127.0.0.1"
    return {"name": "hostile-" + kind, "kind": "http", "group": "hostile",
            "url": "%s://%s:%d%s" % (scheme, host, ports[port_name], path),
            "interval_ms": a.interval_ms, "timeout_ms": a.timeout_ms}


def cpu_of(pids):
    return sum(benchlib.proc_cpu_s(p) or 0.0 for p in pids)


def one_run(run, a, label, prober, targets, prefix, helpers):
    """Start empiric as `prober`, let it probe for run_s, gather its
    figures, stop it. helpers: pids of the bench's other processes (the
    targets), whose CPU is not counted as other work on the machine."""
    emp, api = benchlib.start_empiric(run, a.empiric, targets, prober=prober, prefix=prefix)
    cpu0, t0 = benchlib.proc_cpu_s(emp.pid), time.time()
    m0, h0 = benchlib.machine_cpu_times(), cpu_of(helpers)
    benchlib.sleep_until(t0 + a.run_s)
    m1, h1 = benchlib.machine_cpu_times(), cpu_of(helpers)
    if emp.poll() is not None:
        raise benchlib.BenchError("empiric serve exited during run %s; see %s" %
                                  (label, run.log_path("empiric.log")))
    cpu1, t1 = benchlib.proc_cpu_s(emp.pid), time.time()
    busy = 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    ours = 100.0 * (cpu1 - cpu0 + h1 - h0) / ((t1 - t0) * (os.cpu_count() or 1))
    rss = benchlib.peak_rss_kib(emp.pid)
    text = api.text("/metrics", timeout=30)
    rc = run.stop(emp, wait_s=60)
    m = benchlib.parse_metrics(text)
    counts = benchlib.probe_counts(text)
    healthy = [counts.get(t["name"], (0, 0, 0)) for t in targets if t["group"] == "healthy"]
    return {"label": label, "rc": rc, "rss_kib": rss,
            "cpu_pct": 100.0 * (cpu1 - cpu0) / (t1 - t0),
            "busy_pct": busy, "others_pct": max(0.0, busy - ours),
            "p50_ms": 1000 * m.get("lag_p50_s", 0), "p99_ms": 1000 * m.get("lag_p99_s", 0),
            "max_ms": 1000 * m.get("lag_max_s", 0), "skipped": int(m.get("skipped", 0)),
            "samples": int(m.get("lag_count", 0)),
            "healthy_ok": sum(c[0] for c in healthy),
            "healthy_bad": sum(c[1] + c[2] for c in healthy),
            "hostile": counts.get("hostile-" + label, (0, 0, 0))}


def classes(db, kind, prober):
    """Error classes of the hostile target's failing probes in one run."""
    out = {}
    for line in db.query("SELECT f.err_class, count(*) FROM failures f JOIN targets t "
                         "ON t.id = f.target_id JOIN probers p ON p.id = f.prober_id "
                         "WHERE t.name = 'hostile-%s' AND p.name = '%s' GROUP BY 1"
                         % (kind, prober)).splitlines():
        cls, n = line.split("|")
        out[cls] = int(n)
    return out


def main():
    ap = argparse.ArgumentParser(description="One hostile target among 500 healthy ones.")
    ap.add_argument("--empiric", required=True)
    ap.add_argument("--target", required=True, help="bench_target (the healthy targets)")
    ap.add_argument("--schema", required=True)
    ap.add_argument("--healthy", type=int, default=500)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--timeout-ms", type=int, default=800)
    ap.add_argument("--run-s", type=float, default=12.0, help="seconds of probing per run")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--quiet-pct", type=float, default=20.0,
                    help="other work on the machine (%% of all cores) above which a pair of "
                    "runs is disturbed and run again")
    ap.add_argument("--retries", type=int, default=2, help="times a disturbed pair is run again")
    ap.add_argument("--budget-s", type=float, default=300.0,
                    help="no pair is run again past this much time")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the bench and what it starts at this nice value (negative, as "
                    "root: ahead of other work on a shared machine)")
    a = ap.parse_args()
    kinds = [k for k in a.kinds.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not (1 <= a.healthy <= 20000 and 5 <= a.run_s <= 600 and
                   10 <= a.timeout_ms <= a.interval_ms):
        raise benchlib.BenchError("--kinds from %s; --healthy 1..20000; --run-s 5..600; "
                                  "timeout <= interval" % ",".join(KINDS))
    hostile_bin = os.path.join(os.path.dirname(os.path.abspath(a.empiric)), "hostile")
    for b in (a.empiric, a.target, hostile_bin):
        if not os.access(b, os.X_OK):
            raise benchlib.BenchError("no executable %s (build it)" % b)
    no_ns = namespaces_ok() if "dns" in kinds else "not asked for"
    if no_ns and "dns" in kinds:
        print("note: the dns case is left out (%s)" % no_ns)
        kinds.remove("dns")

    if a.nice != 0:
        os.setpriority(os.PRIO_PROCESS, 0, a.nice)  # inherited by every process started
    t_begin = time.time()
    budget_s = int(max(a.budget_s, 2 * len(kinds) * (a.run_s + 15)) + 60)
    run = benchlib.Run("empiric-bench-hostile-")
    results = []
    try:
        run.db = benchlib.Database(a.empiric, a.schema)
        port = benchlib.free_port()
        run.spawn("bench_target", [a.target, str(port), str(min(3600, budget_s))])
        deadline = time.time() + 10
        while True:
            try:
                benchlib.Api(port).raw("/h", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise benchlib.BenchError("bench_target did not answer on port %d" % port)
                time.sleep(0.05)
        ports = start_hostile(run, hostile_bin, not no_ns, min(3600, budget_s))
        prefix = []
        if not no_ns:
            resolv = run.log_path("resolv.conf")
            with open(resolv, "w") as f:
                f.write("nameserver %s\noptions timeout:3 attempts:1\n" % ports["dns"])
            prefix = ["unshare", "-m", "sh", "-c",
                      'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv]
        healthy = [{"name": "h%d" % i, "kind": "http", "group": "healthy",
                    "url": "http://127.0.0.1:%d/%d" % (port, i),
                    "interval_ms": a.interval_ms, "timeout_ms": a.timeout_ms}
                   for i in range(a.healthy)]
        print("bench_hostile: %d healthy targets at %d ms (timeout %d ms), %.0f s per run, "
              "alone then with: %s; files in %s" % (a.healthy, a.interval_ms, a.timeout_ms,
                                                    a.run_s, ", ".join(kinds), run.dir),
              flush=True)
        helpers = [p.pid for name, p in run.procs if name in ("bench_target", "hostile")]
        pair_s = 2 * (a.run_s + 3)
        for i, kind in enumerate(kinds):
            best = None
            for attempt in range(1 + a.retries):
                pair = []
                for label in ("alone", kind):
                    targets = healthy + ([hostile_target(kind, ports, a)] if label != "alone"
                                         else [])
                    prober = "bench-%s-%s-%d" % (kind, label, attempt + 1)
                    r = one_run(run, a, label, prober, targets, prefix, helpers)
                    r["classes"] = classes(run.db, kind, prober) if label != "alone" else {}
                    r["attempt"] = attempt + 1
                    pair.append(r)
                    print("  %-16s lag p50/p99/max %6.2f / %6.2f / %7.1f ms, skipped %d, "
                          "peak RSS %.1f MB, CPU %.0f%%, other work %.0f%% of the machine%s" % (
                              label, r["p50_ms"], r["p99_ms"], r["max_ms"], r["skipped"],
                              r["rss_kib"] / 1024, r["cpu_pct"], r["others_pct"],
                              "" if label == "alone" else ", hostile: " + (",".join(
                                  "%s:%d" % kv for kv in sorted(r["classes"].items()))
                                  or "none")), flush=True)
                disturbed = max(r["others_pct"] for r in pair)
                if best is None or disturbed < best[0]:
                    best = (disturbed, pair)
                left_s = (len(kinds) - i - 1) * pair_s
                if disturbed <= a.quiet_pct or time.time() - t_begin + pair_s + left_s > \
                        a.budget_s:
                    break
                print("  (other work took %.0f%% of the machine: the pair again)" % disturbed,
                      flush=True)
            results.extend(best[1])
    finally:
        run.close()

    alone = [r for r in results if r["label"] == "alone"]
    pairs_r = [(results[i], results[i + 1]) for i in range(0, len(results), 2)]
    rows = []
    worst = None
    classes_ok = 0
    for base, r in pairs_r:
        diff = r["p99_ms"] - base["p99_ms"]
        exp = KINDS[r["label"]][3]
        right = set(r["classes"]) == {exp} and r["hostile"][0] == 0
        classes_ok += right
        r["diff_ms"] = diff
        if worst is None or diff > worst[1]:
            worst = (r["label"], diff)
        rows.append([r["label"], "%s / %s" % (fnum(base["p50_ms"], 2), fnum(r["p50_ms"], 2)),
                     "%s / %s" % (fnum(base["p99_ms"], 2), fnum(r["p99_ms"], 2)),
                     "%+.2f" % diff,
                     "%s / %s" % (fnum(base["max_ms"], 1), fnum(r["max_ms"], 1)),
                     base["skipped"] + r["skipped"],
                     "%d/%d" % (r["healthy_ok"], r["healthy_bad"] + base["healthy_bad"]),
                     "%s %s" % (",".join("%s:%d" % kv for kv in sorted(r["classes"].items()))
                                or "none", "ok" if right else "WRONG (want %s)" % exp),
                     "%s / %s" % (fnum(base["rss_kib"] / 1024, 1), fnum(r["rss_kib"] / 1024, 1)),
                     "%s / %s" % (fnum(base["others_pct"], 0), fnum(r["others_pct"], 0)),
                     r["attempt"]])
    print()
    print(benchlib.table(["hostile kind", "lag p50 ms alone / with", "p99 ms alone / with",
                          "p99 difference", "max ms alone / with", "skipped",
                          "healthy ok/failed", "hostile's failures", "peak RSS MB",
                          "other work %", "attempt"], rows,
                         "Healthy targets' scheduling lag, alone and with one hostile target "
                         "beside them (pairs of runs)"))
    p99s = sorted(r["p99_ms"] for r in alone)
    peak = max(r["rss_kib"] for r in results)
    healthy_bad = sum(r["healthy_bad"] for r in results)
    print()
    print("worst p99 difference: %s %+.2f ms (goal < %.0f ms: %s); alone runs' p99 %.2f .. "
          "%.2f ms (median %.2f); healthy failures %d; hostile classes right %d of %d; peak "
          "RSS %.1f MB (alone at most %.1f MB); wall %.0f s" % (
              worst[0], worst[1], GOAL_MS, "met" if worst[1] < GOAL_MS else "MISSED",
              p99s[0], p99s[-1], p99s[len(p99s) // 2], healthy_bad, classes_ok, len(pairs_r),
              peak / 1024, max(r["rss_kib"] for r in alone) / 1024, time.time() - t_begin))
    pairs = [("healthy", a.healthy), ("kinds", len(pairs_r)),
             ("lag_p99_alone_median_ms", fnum(p99s[len(p99s) // 2], 2)),
             ("lag_p99_alone_max_ms", fnum(p99s[-1], 2)),
             ("lag_p99_diff_max_ms", fnum(worst[1], 2)), ("worst", worst[0])]
    pairs += [("diff_%s_ms" % r["label"], "%.2f" % r["diff_ms"]) for _, r in pairs_r]
    pairs += [("nice", a.nice), ("healthy_failures", healthy_bad),
              ("classes_ok", "%d/%d" % (classes_ok, len(pairs_r))),
              ("skipped", sum(r["skipped"] for r in results)),
              ("peak_rss_mb", fnum(peak / 1024, 1)),
              ("peak_rss_alone_mb", fnum(max(r["rss_kib"] for r in alone) / 1024, 1)),
              ("others_max_pct", fnum(max(r["others_pct"] for r in results), 0)),
              ("dns", "yes" if not no_ns else "no"),
              ("wall_s", "%.0f" % (time.time() - t_begin))]
    print()
    print(benchlib.bench_line("hostile", pairs), flush=True)


if __name__ == "__main__":
    benchlib.main_guard(main)
