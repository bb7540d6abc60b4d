"""Throughput benchmark: how many HTTP probes a second `empiric serve`
sustains and what each costs, against Prometheus blackbox_exporter doing the
same probes at the same rate.

For each size N (100, 1,000, 5,000, 10,000), N local HTTP targets on
distinct loopback ports (one nginx, our own configuration, `return 200`)
are probed once a second each, a fresh connection per probe:

- empiric: the whole `empiric serve` process (probe loop, writer into the
  real PostgreSQL, API) with N http targets at interval 1 s. Probes a second
  from its /metrics counters, CPU from /proc/PID/stat over the measured
  window, scheduling lag p50/p99 from /metrics (the last 65,536 probes),
  peak RSS (VmHWM).
- blackbox_exporter: module http_2xx, driven by bench_driver (C, open loop,
  keep-alive connections to the exporter) with GET /probe?target=... at N a
  second spread evenly. The exporter's CPU and peak RSS come from its own
  /proc entries over the driver's window; the driver's and nginx's CPU are
  shown but not charged to either side.

The ratio is empiric's CPU per probe over blackbox's at the same size; the
headline ratio is at the largest size where both kept the schedule (>= 95%
of the scheduled probes), since an overloaded exporter's CPU per probe is
not its cost at that rate.

usage: bench_throughput.py --empiric BIN --target BIN --schema DIR
                           [--quick] [--sizes 100,1000] [--seconds 25]
                           [--warmup 5] [--base-port 20000]
Needs EMPIRIC_TEST_DB (a libpq conninfo; a scratch database is made and
dropped). --target (bench_target) serves the targets on one port when nginx
is missing. Ends with one line `BENCH throughput key=value ...`. Every
process it starts runs in its own process group and is stopped on the way
out; everything listens on loopback only."""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from harness import Database, free_port  # noqa: E402
from benchlib import peak_rss_kib, proc_cpu_s  # noqa: E402

NGINX = "/usr/sbin/nginx"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
INTERVAL_MS = 1000
SIZES = [100, 1000, 5000, 10000]
KEPT_UP = 0.95          # achieved / scheduled to count as keeping the schedule
GOAL_US = 100.0         # CPU per probe
GOAL_LAG_P99_MS = 50.0  # at 10,000 targets
GOAL_RSS_MB = 200.0     # at 10,000 targets


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return kids


def group_cpu_s(pid):
    """CPU of pid and its children (nginx's master and workers)."""
    total = 0.0
    for p in [pid] + children_of(pid):
        total += proc_cpu_s(p) or 0.0
    return total


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def wait_http(url, proc, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d" % (what, proc.returncode))
        try:
            if http_get(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("%s did not answer %s within %d s" % (what, url, seconds))


class Procs:
    """Children, each in its own process group, stopped in reverse order."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=30):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)
        # Workers left behind by a group leader that died first.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_all(self):
        for p in reversed(list(self.procs)):
            try:
                self.stop(p, timeout=15)
            except Exception as e:  # keep stopping the others
                log("note: could not stop pid %d: %s" % (p.pid, e))


def start_nginx(procs, d, base, n, workers):
    """nginx listening on base .. base+n-1, answering 200 "ok"."""
    conf = os.path.join(d, "nginx.conf")
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with open(conf, "w") as f:
        f.write("worker_processes %d;\n" % workers)
        f.write("worker_rlimit_nofile %d;\n" % min(nofile, n + 8192))
        f.write("daemon off;\npid %s/nginx.pid;\nerror_log %s/error.log crit;\n" % (d, d))
        # Listening sockets take connection slots in every worker.
        f.write("events { worker_connections %d; }\n" % (n + 4096))
        f.write("http {\n  access_log off;\n  keepalive_timeout 5s;\n")
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            f.write("  %s_temp_path %s/%s_temp;\n" % (kind, d, kind))
        f.write("  server {\n")
        for port in range(base, base + n):
            f.write("    listen 127.0.0.1:%d;\n" % port)
        f.write('    location / { return 200 "ok"; }\n  }\n}\n')
    out = open(os.path.join(d, "nginx.out"), "w")
    p = procs.start([NGINX, "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf],
                    stdout=out, stderr=out)
    for port in (base, base + n - 1):
        wait_http("http://127.0.0.1:%d/" % port, p, 30, "nginx")
    return p


def start_single_target(procs, target, d):
    port = free_port()
    out = open(os.path.join(d, "target.out"), "w")
    p = procs.start([target, str(port), "3600"], stdout=out, stderr=out)
    wait_http("http://127.0.0.1:%d/" % port, p, 10, "bench_target")
    return p, port


def target_port(a, i):
    return a.single_port if a.single_port else a.base_port + i


def parse_metrics(text):
    probes = 0.0
    m = {}
    for line in text.splitlines():
        if line.startswith("empiric_probes_total{"):
            probes += float(line.rsplit(" ", 1)[1])
        elif line.startswith('empiric_scheduling_lag_seconds{quantile="0.5"}'):
            m["lag_p50_ms"] = float(line.rsplit(" ", 1)[1]) * 1e3
        elif line.startswith('empiric_scheduling_lag_seconds{quantile="0.99"}'):
            m["lag_p99_ms"] = float(line.rsplit(" ", 1)[1]) * 1e3
        elif line.startswith("empiric_probes_skipped_total "):
            m["skipped"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("empiric_events_dropped_total "):
            m["events_dropped"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("empiric_event_queue_depth "):
            m["queue_depth"] = float(line.rsplit(" ", 1)[1])
    m["probes"] = probes
    return m


def run_empiric(a, procs, db, d, n, nginx):
    api = free_port()
    cfg = os.path.join(d, "empiric-%d.json" % n)
    with open(cfg, "w") as f:
        json.dump({"listen": "127.0.0.1:%d" % api, "prober": {"name": "bench-%d" % n},
                   "spool": {"path": os.path.join(d, "bench-%d.spool" % n)},
                   "targets": [{"name": "t%d" % i, "kind": "http",
                                "url": "http://127.0.0.1:%d/" % target_port(a, i),
                                "interval_ms": INTERVAL_MS} for i in range(n)]}, f)
    logf = open(os.path.join(d, "serve-%d.log" % n), "w+")
    p = procs.start([a.empiric, "--db", db.conninfo, "serve", "--config", cfg],
                    stdout=logf, stderr=logf)
    base = "http://127.0.0.1:%d" % api
    r = {"n": n}
    try:
        wait_http(base + "/healthz", p, 120, "empiric serve")
        # The API answers before the probe loop runs (the status page is
        # warmed first): the warm-up counts from the "serving" line.
        deadline = time.time() + 120
        while True:
            with open(logf.name) as f:
                if 'msg="serving"' in f.read():
                    break
            if time.time() > deadline or p.poll() is not None:
                raise RuntimeError("empiric serve did not start probing")
            time.sleep(0.1)
        time.sleep(a.warmup)
        m0 = parse_metrics(http_get(base + "/metrics", 60)[1])
        ts0 = time.time()
        cpu0, nx0, tc0 = proc_cpu_s(p.pid), group_cpu_s(nginx.pid), time.time()
        time.sleep(a.seconds)
        cpu1, nx1, tc1 = proc_cpu_s(p.pid), group_cpu_s(nginx.pid), time.time()
        m1 = parse_metrics(http_get(base + "/metrics", 60)[1])
        ts1 = time.time()
        r["rss_mb"] = peak_rss_kib(p.pid) / 1024.0
    finally:
        procs.stop(p, timeout=60)
    rate = (m1["probes"] - m0["probes"]) / (ts1 - ts0)
    r["probes_s"] = rate
    r["sched_s"] = n * 1000.0 / INTERVAL_MS
    probes_in_window = max(rate * (tc1 - tc0), 1.0)
    r["cpu_pct"] = 100.0 * (cpu1 - cpu0) / (tc1 - tc0)
    r["us_per_probe"] = 1e6 * (cpu1 - cpu0) / probes_in_window
    r["nginx_us_per_req"] = 1e6 * (nx1 - nx0) / probes_in_window
    r["lag_p50_ms"] = m1.get("lag_p50_ms", float("nan"))
    r["lag_p99_ms"] = m1.get("lag_p99_ms", float("nan"))
    r["skipped"] = m1.get("skipped", 0) - m0.get("skipped", 0)
    r["events_dropped"] = m1.get("events_dropped", 0)
    r["queue_depth"] = m1.get("queue_depth", 0)
    logf.seek(0)
    text = logf.read()
    fails = re.search(r'msg="stopped" .*?\bfail=(\d+)', text)
    r["fail"] = int(fails.group(1)) if fails else -1
    return r


def run_blackbox(a, procs, d, n, nginx):
    port = free_port()
    cfg = os.path.join(d, "blackbox.yml")
    with open(cfg, "w") as f:
        f.write("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
                "    http:\n      preferred_ip_protocol: ip4\n")
    out = open(os.path.join(d, "blackbox-%d.log" % n), "w")
    p = procs.start([BLACKBOX, "--config.file=" + cfg, "--log.level=warn",
                     "--web.listen-address=127.0.0.1:%d" % port], stdout=out, stderr=out)
    r = {"n": n}
    try:
        wait_http("http://127.0.0.1:%d/-/healthy" % port, p, 30, "blackbox_exporter")
        first = a.single_port or a.base_port
        count = 1 if a.single_port else n
        path = "/probe?module=http_2xx&target=http://127.0.0.1:%PORT%/"
        nx0 = group_cpu_s(nginx.pid)
        t0 = time.time()
        res = subprocess.run([a.driver, str(port), str(n), str(a.warmup), str(a.seconds), path,
                              str(first), str(count), str(p.pid), "2048", "probe_success 1"],
                             capture_output=True, text=True, timeout=a.warmup + a.seconds + 60)
        nx1 = group_cpu_s(nginx.pid)
        t1 = time.time()
        if res.returncode != 0 or not res.stdout.startswith("driver "):
            raise RuntimeError("bench_driver failed: %s %s" % (res.stdout, res.stderr))
    finally:
        procs.stop(p, timeout=30)
    f = dict(kv.split("=", 1) for kv in res.stdout.split()[1:])
    window = float(f["window_s"])
    ok = int(f["ok"])
    r["probes_s"] = int(f["done"]) / window
    r["ok_s"] = ok / window
    r["sched_s"] = float(n)
    r["us_per_probe"] = 1e6 * float(f["watched_cpu_s"]) / max(int(f["done"]), 1)
    r["cpu_pct"] = 100.0 * float(f["watched_cpu_s"]) / window
    r["rss_mb"] = int(f["watched_hwm_kib"]) / 1024.0
    r["driver_us_per_req"] = 1e6 * float(f["driver_cpu_s"]) / max(int(f["done"]), 1)
    # nginx was sampled around the whole driver run, warm-up included.
    r["nginx_us_per_req"] = 1e6 * (nx1 - nx0) / max(n * (t1 - t0), 1.0)
    r["lag_p99_ms"] = float(f["lag_p99_ms"])
    r["latency_p99_ms"] = float(f["latency_p99_ms"])
    r["dropped"] = int(f["dropped"])
    r["fail"] = int(f["fail"])
    return r


def run_loop_reference(a, n):
    """The probe loop alone (bench_probe_http: in-process targets)."""
    binary = os.path.join(os.path.dirname(a.empiric), "bench_probe_http")
    if not os.access(binary, os.X_OK):
        return None
    res = subprocess.run([binary, str(n), str(INTERVAL_MS), "10"], capture_output=True,
                         text=True, timeout=120)
    m = re.search(r"([\d.]+) us per probe", res.stdout)
    b = re.search(r"([\d.]+) us CPU per blocking", res.stdout)
    if not m:
        return None
    return {"us_per_probe": float(m.group(1)), "baseline_us": float(b.group(1)) if b else 0.0}


def build_driver(a, d):
    """bench_driver next to empiric (CMake builds every tests/bench/bench_*.c),
    else compiled here."""
    near = os.path.join(os.path.dirname(a.empiric), "bench_driver")
    if os.access(near, os.X_OK):
        return near
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_driver.c")
    out = os.path.join(d, "bench_driver")
    subprocess.run(["cc", "-std=c11", "-O2", "-o", out, src], check=True, timeout=120)
    return out


def fmt(v, spec="%.1f"):
    if v is None or v != v:
        return "-"
    return spec % v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--empiric", required=True)
    ap.add_argument("--target", required=True, help="bench_target, used when nginx is missing")
    ap.add_argument("--schema", required=True)
    ap.add_argument("--quick", action="store_true", help="sizes 100 and 1,000 only")
    ap.add_argument("--sizes", help="comma-separated target counts")
    ap.add_argument("size", nargs="*", type=int,
                    help="target counts, as --sizes (scripts/bench throughput 1000)")
    ap.add_argument("--seconds", type=int, default=25, help="measured window per run")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--base-port", type=int, default=20000)
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--no-blackbox", action="store_true")
    ap.add_argument("--no-loop-ref", action="store_true")
    a = ap.parse_args()
    # SIGTERM (a CI timeout, say) must still run the clean-up below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sizes = [100, 1000] if a.quick else SIZES
    if a.sizes:
        sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    if a.size:
        sizes = a.size
    if not sizes or min(sizes) < 1 or max(sizes) > 12000:
        sys.exit("bench_throughput: sizes from 1 to 12000")
    if not (5 <= a.seconds <= 120 and 1 <= a.warmup <= 60):
        sys.exit("bench_throughput: --seconds 5..120, --warmup 1..60")
    if a.base_port < 1024 or a.base_port + max(sizes) > 32768:
        sys.exit("bench_throughput: target ports must lie in 1024..32767 (below the "
                 "ephemeral range)")
    # Every probe in flight holds a socket, and nginx holds one per port.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < max(sizes) + 2048:
        log("note: RLIMIT_NOFILE %d is tight for %d targets" % (hard, max(sizes)))

    have_nginx = os.access(NGINX, os.X_OK)
    have_bb = os.access(BLACKBOX, os.X_OK) and not a.no_blackbox
    a.single_port = 0
    d = tempfile.mkdtemp(prefix="empiric-throughput-")
    procs = Procs()
    results = []
    loop_ref = None
    db = None
    t_start = time.time()
    try:
        a.driver = build_driver(a, d) if have_bb else None
        if have_nginx:
            nginx = start_nginx(procs, d, a.base_port, max(sizes), a.nginx_workers)
            where = "nginx (%d worker%s), ports %d..%d" % (
                a.nginx_workers, "" if a.nginx_workers == 1 else "s", a.base_port,
                a.base_port + max(sizes) - 1)
        else:
            log("note: no nginx; all targets share one bench_target port")
            nginx, a.single_port = start_single_target(procs, a.target, d)
            where = "bench_target on port %d" % a.single_port
        db = Database(a.empiric, a.schema)
        for n in sizes:
            log("empiric serve, %d targets ..." % n)
            e = run_empiric(a, procs, db, d, n, nginx)
            b = None
            if have_bb:
                log("blackbox_exporter, %d probes/s ..." % n)
                b = run_blackbox(a, procs, d, n, nginx)
            results.append((n, e, b))
        if not a.no_loop_ref and 1000 in sizes:
            log("probe loop alone (bench_probe_http), 1000 targets ...")
            loop_ref = run_loop_reference(a, 1000)
    finally:
        procs.stop_all()
        if db is not None:
            db.drop()
        shutil.rmtree(d, ignore_errors=True)

    print("bench_throughput: HTTP targets at %d ms, a fresh connection per probe; targets: %s; "
          "%d s measured after %d s warm-up (%.0f s in all)" %
          (INTERVAL_MS, where, a.seconds, a.warmup, time.time() - t_start))
    print()
    print("%7s | %-52s | %-38s | %s" % ("", "empiric serve (whole process)",
                                          "blackbox_exporter (http_2xx, driven)", "ratio"))
    print("%7s | %9s %8s %15s %7s %8s | %9s %8s %7s %9s | %s" %
          ("targets", "probes/s", "us/probe", "lag p50/p99 ms", "RSS MB", "nginx us",
           "probes/s", "us/probe", "RSS MB", "driver us", "emp/bb"))
    kv = [("sizes", ",".join(str(n) for n, _, _ in results))]
    best = None
    for n, e, b in results:
        ratio = e["us_per_probe"] / b["us_per_probe"] if b and b["us_per_probe"] > 0 else None
        both_kept = (e["probes_s"] >= KEPT_UP * e["sched_s"] and b is not None and
                     b["ok_s"] >= KEPT_UP * b["sched_s"])
        if both_kept and ratio is not None:
            best = (n, b["us_per_probe"], ratio)
        print("%7d | %9.1f %8.1f %7s/%-7s %7.1f %8.1f | %9s %8s %7s %9s | %s%s" % (
            n, e["probes_s"], e["us_per_probe"], fmt(e["lag_p50_ms"], "%.2f"),
            fmt(e["lag_p99_ms"], "%.2f"), e["rss_mb"], e["nginx_us_per_req"],
            fmt(b and b["ok_s"]), fmt(b and b["us_per_probe"]), fmt(b and b["rss_mb"]),
            fmt(b and b["driver_us_per_req"]), fmt(ratio, "%.3f"),
            "" if b is None or both_kept else "  (blackbox behind schedule)"))
        kv += [("probes_s_%d" % n, "%.1f" % e["probes_s"]),
               ("us_per_probe_%d" % n, "%.1f" % e["us_per_probe"]),
               ("lag_p50_ms_%d" % n, fmt(e["lag_p50_ms"], "%.3f")),
               ("lag_p99_ms_%d" % n, fmt(e["lag_p99_ms"], "%.3f")),
               ("rss_mb_%d" % n, "%.1f" % e["rss_mb"]),
               ("skipped_%d" % n, "%d" % e["skipped"]),
               ("queue_%d" % n, "%d" % e["queue_depth"]),
               ("fail_%d" % n, "%d" % e["fail"])]
        if b is not None:
            kv += [("bb_probes_s_%d" % n, "%.1f" % b["ok_s"]),
                   ("bb_us_per_probe_%d" % n, "%.1f" % b["us_per_probe"]),
                   ("bb_rss_mb_%d" % n, "%.1f" % b["rss_mb"]),
                   ("ratio_%d" % n, fmt(ratio, "%.3f"))]
    print()
    for n, e, b in results:
        notes = []
        if e["skipped"]:
            notes.append("empiric skipped %d ticks" % e["skipped"])
        if e["fail"] > 0:
            notes.append("%d empiric probes failed over the run" % e["fail"])
        if e["events_dropped"]:
            notes.append("writer queue dropped %d results" % e["events_dropped"])
        if e["queue_depth"] > e["sched_s"]:
            # Results waiting for the database: memory the writer holds.
            notes.append("writer queue %d results deep at the end (%.1f s of probes)" %
                         (e["queue_depth"], e["queue_depth"] / e["sched_s"]))
        if b is not None and (b["dropped"] or b["fail"]):
            notes.append("blackbox: %d requests dropped unsent (>1 s late), %d failed; "
                         "driver lag p99 %.1f ms, latency p99 %.1f ms" %
                         (b["dropped"], b["fail"], b["lag_p99_ms"], b["latency_p99_ms"]))
        if notes:
            print("  %d targets: %s" % (n, "; ".join(notes)))
    if loop_ref:
        print("  probe loop alone (bench_probe_http, 1000 targets, 10 s): %.1f us per probe "
              "(loop thread); a blocking curl_easy_perform: %.1f us" %
              (loop_ref["us_per_probe"], loop_ref["baseline_us"]))
        kv.append(("loop_us_per_probe_1000", "%.1f" % loop_ref["us_per_probe"]))
    print("  us/probe: CPU (user+system) of the process over the window / probes done; "
          "nginx us: nginx's CPU per request, charged to neither")
    if best:
        print("  headline ratio at %d targets (largest size where both kept the schedule): "
              "empiric %.3fx blackbox's CPU per probe" % (best[0], best[2]))
        kv += [("blackbox_us_per_probe", "%.1f" % best[1]), ("ratio", "%.3f" % best[2]),
               ("ratio_at", "%d" % best[0])]
    big = [x for x in results if x[0] == max(sizes)][0][1]
    goals = {"goal_cpu": big["us_per_probe"] <= GOAL_US,
             "goal_lag": big["lag_p99_ms"] < GOAL_LAG_P99_MS,
             "goal_rss": big["rss_mb"] < GOAL_RSS_MB,
             "goal_rate": big["probes_s"] >= KEPT_UP * big["sched_s"]}
    print("  goals at %d targets: CPU <= %.0f us/probe %s, lag p99 < %.0f ms %s, "
          "RSS < %.0f MB %s, rate kept %s" %
          (max(sizes), GOAL_US, "met" if goals["goal_cpu"] else "MISSED", GOAL_LAG_P99_MS,
           "met" if goals["goal_lag"] else "MISSED", GOAL_RSS_MB,
           "met" if goals["goal_rss"] else "MISSED", "yes" if goals["goal_rate"] else "NO"))
    kv += [(k, "yes" if v else "no") for k, v in goals.items()]
    print("BENCH throughput " + " ".join("%s=%s" % x for x in kv))


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print("bench_throughput: %s" % e)
        print('BENCH throughput error="%s"' % str(e).replace('"', "'"))
        sys.exit(1)
