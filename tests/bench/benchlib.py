"""Shared pieces of the fault benchmarks (bench_accuracy.py, bench_loaded.py):
fault schedules for faultd, the processes of a run (faultd instances,
`empiric serve`, load), a sampler of the live target states, and the
comparison of what Empiric recorded with the truth faultd wrote.

Only loopback is used. Every process started here is in its own process
group and is stopped by Run.close(); every wait is bounded."""

import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import Database, free_port  # noqa: E402,F401

FAULT_KINDS = ("refuse", "reset", "http500", "hang", "slow", "garbage", "endless", "flap")
# Kinds whose windows should become outages (slow is a degraded period,
# flap is judged probe by probe).
FAILING_KINDS = ("refuse", "reset", "http500", "hang", "garbage", "endless")


class BenchError(Exception):
    """The bench itself could not run (as opposed to a missed goal)."""


# ---------------------------------------------------------------- numbers

def pct(values, q):
    """Nearest-rank percentile q (0..100) of values; None when empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def fnum(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    return "%.*f" % (digits, x)


def parse_rfc3339(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def table(headers, rows, title=None):
    """A plain text table; every cell is str()-ed."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    out = []
    if title:
        out.append(title)
    out.append("  ".join(h.rjust(w) if i else h.ljust(w)
                         for i, (h, w) in enumerate(zip(headers, widths))))
    out.append("  ".join("-" * w for w in widths))
    for r in cells:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


# ---------------------------------------------------------------- schedules

class Timing:
    """The probe timing every fault target shares, and the fault-duration
    classes that follow from it:
      short: at most fail_threshold - 1 probes can start inside the window,
             so it must NOT become an outage;
      long:  at least fail_threshold probes start inside it (with a margin
             for scheduling lag), so it must become exactly one outage;
      mid:   in between, where either answer is right."""

    def __init__(self, interval_ms, timeout_ms, fail_threshold, recover_threshold,
                 degraded_ms, slow_ms):
        self.interval_ms = interval_ms
        self.timeout_ms = timeout_ms
        self.fail_threshold = fail_threshold
        self.recover_threshold = recover_threshold
        self.degraded_ms = degraded_ms
        self.slow_ms = slow_ms
        i = interval_ms
        self.short_max_ms = (fail_threshold - 1) * i - i // 8
        self.long_min_ms = fail_threshold * i + i // 4
        self.tol_s = (interval_ms + timeout_ms) / 1000.0

    def duration_class(self, ms):
        if ms <= self.short_max_ms:
            return "short"
        if ms >= self.long_min_ms:
            return "long"
        return "mid"

    def check(self):
        if not (100 <= self.interval_ms and 10 <= self.timeout_ms <= self.interval_ms):
            raise BenchError("interval >= 100 ms and 10 <= timeout <= interval")
        if not (0 < self.degraded_ms < self.slow_ms < self.timeout_ms):
            raise BenchError("need 0 < degraded_ms < slow_ms < timeout_ms (a slow answer is "
                             "degraded, not a failure)")


def make_schedule(rng, kind, timing, n_long, n_short, n_mid, lead_ms, gap_ms):
    """Windows (offset_ms, duration_ms, mode, param_ms) for one faultd.
    flap windows are all of one shape (half-period = the probe interval, so
    that probes alternate ok / fail and never reach a threshold of 2)."""
    i = timing.interval_ms
    durs = []
    if kind == "flap":
        durs = [rng.randint(4 * i, 10 * i) for _ in range(n_long)]
    else:
        durs += [rng.randint(timing.long_min_ms + i // 8, timing.long_min_ms + 6 * i)
                 for _ in range(n_long)]
        if timing.short_max_ms >= 40:
            durs += [rng.randint(max(20, i // 8), timing.short_max_ms - i // 8)
                     for _ in range(n_short)]
        lo, hi = timing.short_max_ms + i // 8, timing.long_min_ms - i // 8
        if hi > lo:
            durs += [rng.randint(lo, hi) for _ in range(n_mid)]
    rng.shuffle(durs)
    param = {"slow": timing.slow_ms, "flap": i}.get(kind)
    out = []
    t = lead_ms
    for d in durs:
        out.append((t, d, kind, param))
        t += d + rng.randint(gap_ms[0], gap_ms[1])
    return out


def schedule_text(windows):
    lines = ["# offset_ms duration_ms mode [param_ms]"]
    for off, dur, mode, param in windows:
        lines.append("%d %d %s%s" % (off, dur, mode, "" if param is None else " %d" % param))
    return "\n".join(lines) + "\n"


def read_truth(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


# ---------------------------------------------------------------- processes

class Run:
    """The processes and files of one bench run. close() stops every process
    it started (SIGTERM to the group, then SIGKILL), and drops the database."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.procs = []  # (name, Popen)
        self.db = None
        self.files = []
        self.keep_db = False

    def log_path(self, name):
        return os.path.join(self.dir, name)

    def spawn(self, name, args, stdout=None, stderr=None):
        if stdout is None or stderr is None:
            log = open(self.log_path(name + ".log"), "ab")
            self.files.append(log)
            stdout = log if stdout is None else stdout
            stderr = log if stderr is None else stderr
        p = subprocess.Popen(args, stdout=stdout, stderr=stderr, start_new_session=True)
        self.procs.append((name, p))
        return p

    def stop(self, p, sig=signal.SIGTERM, wait_s=10.0):
        """Signal one process (its group on escalation); returns its status."""
        if p.poll() is not None:
            return p.returncode
        try:
            p.send_signal(sig)
            return p.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            return p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.time() + 10
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    print("note: %s (pid %d) would not die" % (name, p.pid))
            if p.stdout:
                p.stdout.close()
        for f in self.files:
            f.close()
        if self.db is not None and not self.keep_db:
            self.db.drop()
            self.db = None
        elif self.db is not None:
            print("note: database kept: %s" % self.db.conninfo)


def start_faultd(run, faultd, name, windows, margin_ms, max_seconds):
    """Start one faultd; returns (Popen, http_port, t0_us, truth_path)."""
    sched = run.log_path(name + ".schedule")
    truth = run.log_path(name + ".truth.jsonl")
    with open(sched, "w") as f:
        f.write(schedule_text(windows))
    args = [faultd, "--truth", truth, "--margin-ms", str(margin_ms),
            "--max-seconds", str(max_seconds)]
    if windows:
        args += ["--schedule", sched]
    log = open(run.log_path(name + ".log"), "ab")
    run.files.append(log)
    p = run.spawn(name, args, stdout=subprocess.PIPE, stderr=log)
    ready, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline().decode() if ready else ""
    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    if "http_port" not in fields:
        raise BenchError("%s printed no ports (%r)" % (name, line))
    return p, int(fields["http_port"]), int(fields["t0_us"]), truth


class Api:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def raw(self, path, timeout=10):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
            return r.status, r.read()

    def json(self, path, timeout=10):
        status, body = self.raw(path, timeout)
        return json.loads(body)

    def text(self, path, timeout=10):
        return self.raw(path, timeout)[1].decode(errors="replace")


def start_empiric(run, empiric, targets, prober="bench", ready_s=60, prefix=()):
    """`empiric serve` of `targets`; `prefix` runs it through a command that
    execs it in the end (such as `unshare`)."""
    port = free_port()
    cfg = run.log_path("empiric.json")
    with open(cfg, "w") as f:
        json.dump({"listen": "127.0.0.1:%d" % port, "prober": {"name": prober},
                   "spool": {"path": run.log_path(prober + ".spool")},
                   "targets": targets}, f)
    p = run.spawn("empiric", list(prefix) + [empiric, "--db", run.db.conninfo, "serve",
                                             "--config", cfg])
    api = Api(port)
    deadline = time.time() + ready_s
    while time.time() < deadline:
        if p.poll() is not None:
            raise BenchError("empiric serve exited with %d; see %s" %
                             (p.returncode, run.log_path("empiric.log")))
        try:
            if api.raw("/healthz", timeout=2)[0] == 200:
                return p, api
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError("empiric serve did not answer /healthz within %d s" % ready_s)


def proc_cpu_s(pid):
    """utime + stime of pid in seconds; None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_times():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def peak_rss_kib(pid):
    """VmHWM of pid in KiB (0 when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sleep_until(t, deadline_check=None):
    """Sleep until wall time t, in bounded steps; deadline_check() may raise."""
    while True:
        left = t - time.time()
        if left <= 0:
            return
        if deadline_check:
            deadline_check()
        time.sleep(min(left, 1.0))


# ---------------------------------------------------------------- live states

class StateSampler(threading.Thread):
    """Polls the live state of some targets and keeps every distinct
    (state, since) it saw, with the wall time of the sample.

    source "list": GET /api/v1/targets (exact `since` times);
    source "badge": GET /badge/{name}/state.svg per target (state only: a
    period then begins at the first sample that showed it)."""

    STATES = ("degraded", "unknown", "down", "up")

    def __init__(self, api, names, period_s, source="list"):
        super().__init__(daemon=True)
        self.api = api
        self.names = list(names)
        self.period_s = period_s
        self.source = source
        self.seen = {n: [] for n in self.names}  # name -> [(sample_t, state, since)]
        self.stop_ev = threading.Event()
        self.samples = 0
        self.errors = 0
        self.latency = []

    def _record(self, name, t, state, since):
        seq = self.seen[name]
        if seq and seq[-1][1] == state and (self.source == "badge" or seq[-1][2] == since):
            return
        seq.append((t, state, since if since is not None else t))

    def _poll(self):
        t0 = time.time()
        if self.source == "list":
            body = self.api.json("/api/v1/targets", timeout=5)
            t = time.time()
            for o in body.get("targets", []):
                if o["name"] in self.seen:
                    since = parse_rfc3339(o["since"]) if o.get("since") else None
                    self._record(o["name"], t, o["state"], since)
        else:
            for name in self.names:
                svg = self.api.text("/badge/%s/state.svg" % name, timeout=5)
                t = time.time()
                state = next((s for s in self.STATES if ">%s<" % s in svg), "unknown")
                self._record(name, t, state, None)
        self.latency.append(time.time() - t0)

    def run(self):
        while not self.stop_ev.is_set() and self.samples + self.errors < 100000:
            t = time.time()
            try:
                self._poll()
                self.samples += 1
            except (OSError, ValueError):
                self.errors += 1
            self.stop_ev.wait(max(0.0, self.period_s - (time.time() - t)))

    def stop(self):
        self.stop_ev.set()
        self.join(10)

    def periods(self, name, state, end_t):
        """[(start, end)] of `state` for one target, end_t closing a last one."""
        seq = self.seen.get(name, [])
        out = []
        for k, (_, st, since) in enumerate(seq):
            if st != state:
                continue
            end = seq[k + 1][2] if k + 1 < len(seq) else end_t
            out.append((since, end))
        return out


# ---------------------------------------------------------------- database

def rows(db, sql):
    text = db.query(sql)
    return [line.split("|") for line in text.splitlines() if line]


def load_store(db, names=None):
    """Outages, failures and spans per target name (times in seconds).
    names: restrict failures and spans to these targets. Probe counts
    ("probes") come from /metrics instead (probe_counts)."""
    filt = ""
    if names is not None:
        filt = " AND t.name IN (%s)" % ",".join("'%s'" % n for n in names)
    out = {"outages": {}, "failures": {}, "spans": {}, "probes": {}}
    for name, s, e, cls in rows(db, "SELECT t.name, emp_us(o.started_at), "
                                    "coalesce(emp_us(o.ended_at), -1), o.err_class "
                                    "FROM outages o JOIN targets t ON t.id = o.target_id "
                                    "ORDER BY 1, 2"):
        out["outages"].setdefault(name, []).append(
            (int(s) / 1e6, None if e == "-1" else int(e) / 1e6, cls))
    for name, at, lat, cls in rows(db, "SELECT t.name, emp_us(f.at), f.latency_us, f.err_class "
                                       "FROM failures f JOIN targets t ON t.id = f.target_id "
                                       "WHERE true" + filt + " ORDER BY 1, 2"):
        out["failures"].setdefault(name, []).append((int(at) / 1e6, int(lat) / 1e6, cls))
    for name, s, e in rows(db, "SELECT t.name, emp_us(s.started_at), emp_us(s.ended_at) "
                               "FROM spans s JOIN targets t ON t.id = s.target_id "
                               "WHERE true" + filt + " ORDER BY 1, 2"):
        out["spans"].setdefault(name, []).append((int(s) / 1e6, int(e) / 1e6))
    return out


def unknown_s(spans, t_from, t_to):
    """Seconds of [t_from, t_to) outside every span (spans disjoint, sorted)."""
    covered = 0.0
    last = t_from
    for s, e in spans:
        s, e = max(s, last), min(e, t_to)
        if e > s:
            covered += e - s
            last = e
    return (t_to - t_from) - covered


def longest_gap_s(spans, t_from, t_to):
    gaps = []
    last = t_from
    for s, e in spans:
        if s > last:
            gaps.append(min(s, t_to) - last)
        last = max(last, e)
        if last >= t_to:
            break
    if last < t_to:
        gaps.append(t_to - last)
    return max(gaps) if gaps else 0.0


# ---------------------------------------------------------------- metrics, logs

def parse_metrics(text):
    """The per-process figures of /metrics."""
    want = {
        'empiric_scheduling_lag_seconds{quantile="0.5"}': "lag_p50_s",
        'empiric_scheduling_lag_seconds{quantile="0.99"}': "lag_p99_s",
        "empiric_scheduling_lag_max_seconds": "lag_max_s",
        "empiric_scheduling_lag_seconds_count": "lag_count",
        "empiric_scheduling_lag_seconds_sum": "lag_sum_s",
        "empiric_probes_skipped_total": "skipped",
        "empiric_events_dropped_total": "events_dropped",
        "empiric_database_write_errors_total": "db_write_errors",
    }
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, val = line.rsplit(" ", 1)
        if key in want:
            try:
                out[want[key]] = float(val)
            except ValueError:
                pass
    return out


def probe_counts(text):
    """target -> (ok, degraded, fail) from empiric_probes_total in /metrics
    (counted by this process since it started)."""
    out = {}
    idx = {"ok": 0, "degraded": 1, "fail": 2}
    for m in re.finditer(r'^empiric_probes_total\{target="([^"]*)"[^}]*result="(\w+)"\} (\d+)$',
                         text, re.M):
        c = out.setdefault(m.group(1), [0, 0, 0])
        if m.group(2) in idx:
            c[idx[m.group(2)]] = int(m.group(3))
    return {k: tuple(v) for k, v in out.items()}


def parse_stopped(log_text):
    m = re.search(r'msg="stopped" probes=(\d+) fail=(\d+) skipped=(\d+) lag_p99_ms=([\d.]+)',
                  log_text)
    if not m:
        return None
    return {"probes": int(m.group(1)), "fail": int(m.group(2)), "skipped": int(m.group(3)),
            "lag_p99_ms": float(m.group(4))}


# ---------------------------------------------------------------- the experiment

class FaultSetup:
    """One faultd per fault kind, one HTTP target of Empiric probing each,
    plus control targets probing a faultd without faults."""

    def __init__(self, run, faultd, timing, counts, lead_ms, gap_ms, seed, controls=2,
                 max_seconds=900):
        self.run = run
        self.timing = timing
        rng = random.Random(seed)
        self.windows = {}   # target name -> planned windows
        self.truth_path = {}
        self.ports = {}
        self.t0 = {}
        end_ms = 0
        for kind in FAULT_KINDS:
            w = make_schedule(rng, kind, timing, counts[0], counts[1], counts[2], lead_ms, gap_ms)
            self.windows["fault-" + kind] = w
            end_ms = max(end_ms, w[-1][0] + w[-1][1] if w else 0)
        self.end_ms = end_ms
        margin = 600000  # faultd keeps serving "ok" after its schedule; we stop it
        for name, w in self.windows.items():
            _, port, t0, truth = start_faultd(run, faultd, "faultd-" + name[6:], w, margin,
                                              max_seconds)
            self.ports[name], self.t0[name], self.truth_path[name] = port, t0, truth
        self.controls = []
        if controls:
            _, port, t0, truth = start_faultd(run, faultd, "faultd-control", [], margin,
                                              max_seconds)
            for k in range(controls):
                name = "control-%d" % k
                self.controls.append(name)
                self.ports[name] = port
        self.first_start = min(self.t0[n] / 1e6 + w[0][0] / 1000.0
                               for n, w in self.windows.items() if w)
        self.last_end = max(self.t0[n] / 1e6 + w[-1][0] / 1000.0 + w[-1][1] / 1000.0
                            for n, w in self.windows.items() if w)

    def targets(self):
        t = self.timing
        out = []
        for name in list(self.windows) + self.controls:
            out.append({"name": name, "kind": "http", "group": "faults",
                        "url": "http://127.0.0.1:%d/%s" % (self.ports[name], name),
                        "interval_ms": t.interval_ms, "timeout_ms": t.timeout_ms,
                        "fail_threshold": t.fail_threshold,
                        "recover_threshold": t.recover_threshold,
                        "degraded_ms": t.degraded_ms})
        return out

    def truth(self):
        """target name -> enacted windows as dicts with start, end (s), mode,
        param_ms, dur_ms, cls."""
        out = {}
        for name, path in self.truth_path.items():
            ws = []
            for r in read_truth(path):
                dur_ms = (r["end_us"] - r["start_us"]) / 1000.0
                mode = r["mode"]
                cls = mode if mode in ("flap",) else self.timing.duration_class(dur_ms)
                ws.append({"start": r["start_us"] / 1e6, "end": r["end_us"] / 1e6,
                           "mode": mode, "param_ms": r["param_ms"], "dur_ms": dur_ms,
                           "cls": cls, "cut_short": r["cut_short"]})
            out[name] = ws
        return out


def match_outages(windows, outages, tol, t_to):
    """Relate outages to fault windows: an outage belongs to every window it
    overlaps; one that overlaps none belongs to the window it overlaps most
    once windows are widened by tol on both sides (an outage confirmed just
    after a fault). Returns (per-window lists of outages, outages that
    belong to no window, outages that belong to several: merged faults)."""
    per = [[] for _ in windows]
    unmatched, merged = [], []
    for o in outages:
        s, e = o[0], (o[1] if o[1] is not None else t_to)
        over = [k for k, w in enumerate(windows) if min(e, w["end"]) - max(s, w["start"]) > 0]
        if not over:
            best, best_ov = None, -1.0
            for k, w in enumerate(windows):
                ov = min(e, w["end"] + tol) - max(s, w["start"] - tol)
                if ov >= 0 and ov > best_ov:
                    best, best_ov = k, ov
            over = [] if best is None else [best]
        if not over:
            unmatched.append(o)
        if len(over) > 1:
            merged.append((o, [windows[k] for k in over]))
        for k in over:
            per[k].append(o)
    return per, unmatched, merged


def failure_in_window(at, windows, before_s, after_s):
    for w in windows:
        if w["start"] - before_s <= at <= w["end"] + after_s:
            return w
    return None


def flap_phase_ok(at, w, slack_s):
    """True when a failing probe at `at` fell in (or within slack of) a fail
    half-period of flap window w (ok first, then http500, alternating)."""
    half = w["param_ms"] / 1000.0
    x = (at - w["start"]) % (2 * half)
    return half - slack_s <= x <= 2 * half + slack_s or x <= slack_s


def analyse(setup, store, sampler, t_from, t_to, lag_slack_s=0.05):
    """Compare the store (and the sampled live states) with the truth.
    Returns a dict of per-kind rows and totals."""
    timing = setup.timing
    iv = timing.interval_ms / 1000.0
    to_s = timing.timeout_ms / 1000.0
    tol = timing.tol_s
    truth = setup.truth()
    res = {"kinds": {}, "false_outages": [], "short_reported": [], "flap_outages": [],
           "split": [], "missed": [], "over_tol": [], "false_failures": [],
           "start_err": [], "end_err": [], "truth_down": 0.0, "found_down": 0.0,
           "deg_start_err": [], "deg_end_err": [], "false_degraded": [],
           "open_outages": 0, "merged": [], "missed_observed": 0}
    for name, ws in truth.items():
        kind = name[6:]
        outs = store["outages"].get(name, [])
        res["open_outages"] += sum(1 for o in outs if o[1] is None)
        per, unmatched, merged = match_outages(ws, outs, tol, t_to)
        if kind == "slow":  # a slow answer is a success: every outage is false
            unmatched, per, merged = outs, [[] for _ in ws], []
        for o, mws in merged:
            res["merged"].append((name, o, mws))
        k = {"windows": len(ws), "long": 0, "short": 0, "mid": 0, "flap": 0,
             "detected": 0, "missed": 0, "false": len(unmatched), "split": 0,
             "merged": len(merged),
             "short_reported": 0, "short_hit": 0, "mid_reported": 0, "flap_outages": 0,
             "start_err": [], "end_err": [], "truth_down": 0.0, "found_down": 0.0,
             "classes": {}, "deg_expected": 0, "deg_found": 0, "deg_probes": None,
             "deg_probes_expected": 0, "cut_short": 0}
        for o in unmatched:
            res["false_outages"].append((name, o, "slow answers (degraded) taken for an "
                                         "outage" if kind == "slow" else
                                         "no fault window near it"))
        single = set(id(o) for o in outs) - set(id(o) for o, _ in merged)
        fails = store["failures"].get(name, [])
        deg_periods = sampler.periods(name, "degraded", t_to) if sampler else []
        for w, os_ in zip(ws, per):
            k[w["cls"]] = k.get(w["cls"], 0) + 1
            k["cut_short"] += 1 if w["cut_short"] else 0
            hit = any(w["start"] - to_s - lag_slack_s <= f[0] <= w["end"] + lag_slack_s
                      for f in fails)
            if kind == "slow":
                if w["dur_ms"] >= timing.interval_ms + timing.interval_ms // 8:
                    k["deg_expected"] += 1
                    k["deg_probes_expected"] += int(w["dur_ms"] // timing.interval_ms)
                    found = [p for p in deg_periods
                             if min(p[1], w["end"] + tol) - max(p[0], w["start"] - tol) > 0]
                    if found:
                        k["deg_found"] += 1
                        res["deg_start_err"].append(found[0][0] - w["start"])
                        res["deg_end_err"].append(found[-1][1] - w["end"])
                continue
            if w["cls"] == "flap":
                k["flap_outages"] += len(os_)
                for o in os_:
                    res["flap_outages"].append((name, o, w))
                continue
            own = [o for o in os_ if id(o) in single]  # not merged with another fault
            if w["cls"] == "short":
                k["short_hit"] += 1 if hit else 0
                if own:
                    k["short_reported"] += 1
                    res["short_reported"].append((name, own[0], w))
                continue
            if w["cls"] == "mid":
                k["mid_reported"] += 1 if own else 0
                continue
            # long: exactly one outage expected
            dur = w["end"] - w["start"]
            k["truth_down"] += dur
            if not os_:
                # Missed: was the fault's time observed (then shown as up,
                # which is wrong) or unknown (the prober was not looking)?
                unk = unknown_s(store["spans"].get(name, []), w["start"], w["end"])
                n_fail = sum(1 for f in fails if w["start"] - to_s <= f[0] <= w["end"])
                observed = (w["end"] - w["start"]) - unk
                k["missed"] += 1
                if observed >= timing.fail_threshold * iv:
                    res["missed_observed"] += 1
                res["missed"].append((name, w, unk, n_fail))
                continue
            k["detected"] += 1
            if len(os_) > 1:
                k["split"] += len(os_) - 1
                res["split"].append((name, w, os_))
            s = os_[0][0]
            e = os_[-1][1] if os_[-1][1] is not None else t_to
            k["found_down"] += sum(min(o[1] if o[1] is not None else t_to, w["end"] + tol)
                                   - max(o[0], w["start"] - tol) for o in os_)
            k["start_err"].append(s - w["start"])
            k["end_err"].append(e - w["end"])
            cls = os_[0][2]
            k["classes"][cls] = k["classes"].get(cls, 0) + 1
            if abs(s - w["start"]) > tol or abs(e - w["end"]) > tol:
                res["over_tol"].append((name, w, s - w["start"], e - w["end"]))
        # Failing probes that no fault explains.
        for f in fails:
            w = failure_in_window(f[0], ws, to_s + lag_slack_s, lag_slack_s)
            if w is None:
                res["false_failures"].append((name, f, "outside every fault window"))
            elif w["mode"] == "slow":
                res["false_failures"].append((name, f, "in a slow window"))
            elif w["mode"] == "flap" and not flap_phase_ok(f[0], w, lag_slack_s):
                res["false_failures"].append((name, f, "in an ok half-period of a flap"))
        # Degraded periods where no slow window was.
        for p in deg_periods:
            if kind == "slow" and any(min(p[1], w["end"] + tol) - max(p[0], w["start"] - tol) > 0
                                      for w in ws):
                continue
            res["false_degraded"].append((name, p))
        roll = store["probes"].get(name)
        k["deg_probes"] = roll[1] if roll else 0
        res["start_err"] += k["start_err"]
        res["end_err"] += k["end_err"]
        res["truth_down"] += k["truth_down"]
        res["found_down"] += k["found_down"]
        res["kinds"][kind] = k
    # Control targets: nothing at all is expected.
    res["controls"] = {}
    for name in setup.controls:
        outs = store["outages"].get(name, [])
        fails = store["failures"].get(name, [])
        for o in outs:
            res["false_outages"].append((name, o, "control target (no faults)"))
        for f in fails:
            res["false_failures"].append((name, f, "control target (no faults)"))
        for p in (sampler.periods(name, "degraded", t_to) if sampler else []):
            res["false_degraded"].append((name, p))
        roll = store["probes"].get(name, (0, 0, 0))
        res["controls"][name] = {"outages": len(outs), "failures": len(fails),
                                 "degraded_probes": roll[1]}
    # Degraded probes where no slow window was (/metrics counts every probe,
    # sampled or not), and failing probes whose timeout fired late: the
    # deadline is a timer on the probe loop, so a latency well past the
    # timeout means the loop itself was behind.
    res["degraded_elsewhere"] = sum(store["probes"].get(n, (0, 0, 0))[1]
                                    for n in list(truth) + setup.controls if n != "fault-slow")
    res["late_timeouts"] = sum(1 for n in list(truth) + setup.controls
                               for f in store["failures"].get(n, [])
                               if f[2] == "timeout" and f[1] > to_s * 1.5)
    res["iv"] = iv
    return res


def spread(v):
    """p50/p99/max of v."""
    return "%s/%s/%s" % (fnum(pct(v, 50)), fnum(pct(v, 99)), fnum(max(v) if v else None))


def fault_table(res, timing):
    iv = timing.interval_ms / 1000.0
    hdr = ["kind", "faults", "long", "mid", "short", "detected", "missed", "false", "split",
           "merged",
           "mid->out", "short->out", "start p50/p99/max s", "end p50/p99/max s",
           "down truth/found s", "cause"]
    body = []
    for kind in FAULT_KINDS:
        k = res["kinds"].get(kind)
        if k is None:
            continue
        se, ee = k["start_err"], k["end_err"]
        if kind == "slow":
            extra = "degraded %d/%d found" % (k["deg_found"], k["deg_expected"])
        elif kind == "flap":
            extra = "%d outage(s)" % k["flap_outages"]
        else:
            extra = ",".join("%s:%d" % kv for kv in sorted(k["classes"].items()))
        long_n = k["long"] if kind not in ("slow", "flap") else 0
        body.append([kind, k["windows"], k["long"] if kind != "flap" else "-",
                     k["mid"] if kind != "flap" else "-",
                     k["short"] if kind != "flap" else "-",
                     k["detected"] if long_n else "-", k["missed"] if long_n else "-",
                     k["false"], k["split"], k["merged"],
                     k["mid_reported"] if kind not in ("slow", "flap") else "-",
                     ("%d (%d hit)" % (k["short_reported"], k["short_hit"]))
                     if kind not in ("slow", "flap") else "-",
                     spread(se), spread(ee),
                     "%.1f/%.1f" % (k["truth_down"], k["found_down"]) if long_n else "-",
                     extra])
    legend = ("long: must be one outage; short: must not be one (n hit: faults a failing "
              "probe saw); mid: either is right;\nmerged: one outage over several faults; "
              "start/end: Empiric minus truth; down: summed over the long faults")
    return table(hdr, body, "Faults by kind (interval %.3f s)" % iv) + "\n" + legend


def error_table(res, timing):
    iv = timing.interval_ms / 1000.0
    hdr = ["error", "n", "min s", "p50 s", "p99 s", "max s", "p50 iv", "p99 iv", "max iv",
           "within iv+timeout"]
    body = []
    tol = timing.tol_s
    for label, v in (("outage start", res["start_err"]), ("outage end", res["end_err"]),
                     ("degraded start", res["deg_start_err"]),
                     ("degraded end", res["deg_end_err"])):
        if not v:
            body.append([label, 0] + ["-"] * 8)
            continue
        body.append([label, len(v), fnum(min(v)), fnum(pct(v, 50)), fnum(pct(v, 99)),
                     fnum(max(v)), fnum(pct(v, 50) / iv, 2), fnum(pct(v, 99) / iv, 2),
                     fnum(max(v) / iv, 2),
                     "%d/%d" % (sum(1 for x in v if abs(x) <= tol), len(v))])
    return table(hdr, body, "Start and end errors (iv = probe intervals; expected 0 <= error "
                 "<= 1 iv, limit iv + timeout = %.3f s)" % tol)


def headline(res):
    """The key=value figures every fault bench reports."""
    kinds = res["kinds"]
    failing = [kinds[k] for k in FAILING_KINDS if k in kinds]
    slow = kinds.get("slow", {})
    flap = kinds.get("flap", {})
    faults = sum(k["windows"] for k in kinds.values())
    se, ee = res["start_err"], res["end_err"]
    down_err = (100.0 * (res["found_down"] - res["truth_down"]) / res["truth_down"]
                if res["truth_down"] > 0 else None)
    return [
        ("faults", faults),
        ("long", sum(k["long"] for k in failing)),
        ("detected", sum(k["detected"] for k in failing)),
        ("missed", sum(k["missed"] for k in failing)),
        ("missed_observed", res["missed_observed"]),
        ("false", len(res["false_outages"])),
        ("split", sum(k["split"] for k in failing)),
        ("merged", len(res["merged"])),
        ("short", sum(k["short"] for k in failing)),
        ("short_reported", sum(k["short_reported"] for k in failing)),
        ("mid", sum(k["mid"] for k in failing)),
        ("mid_reported", sum(k["mid_reported"] for k in failing)),
        ("flap", flap.get("windows", 0)),
        ("flap_outages", flap.get("flap_outages", 0)),
        ("start_err_p50_s", fnum(pct(se, 50))),
        ("start_err_p99_s", fnum(pct(se, 99))),
        ("start_err_max_s", fnum(max(se) if se else None)),
        ("end_err_p50_s", fnum(pct(ee, 50))),
        ("end_err_p99_s", fnum(pct(ee, 99))),
        ("end_err_max_s", fnum(max(ee) if ee else None)),
        ("start_err_p99_iv", fnum(pct(se, 99) / res["iv"], 2) if se else "-"),
        ("end_err_p99_iv", fnum(pct(ee, 99) / res["iv"], 2) if ee else "-"),
        ("over_tolerance", len(res["over_tol"])),
        ("downtime_err_pct", fnum(down_err, 2)),
        ("degraded_expected", slow.get("deg_expected", 0)),
        ("degraded_found", slow.get("deg_found", 0)),
        ("false_degraded", len(res["false_degraded"])),
        ("degraded_probes_elsewhere", res["degraded_elsewhere"]),
        ("false_failures", len(res["false_failures"])),
        ("late_timeouts", res["late_timeouts"]),
        ("open_outages", res["open_outages"]),
    ]


def details(res, limit=12):
    """Lines naming each miss, false outage, split, short outage, flap
    outage and unexplained failing probe (at most `limit` of each)."""
    out = []

    def ts(t):
        return "-" if t is None else datetime.utcfromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]

    def show(title, items, fmt):
        if not items:
            return
        out.append("%s (%d):" % (title, len(items)))
        for it in items[:limit]:
            out.append("  " + fmt(it))
        if len(items) > limit:
            out.append("  ... %d more" % (len(items) - limit))

    show("missed long faults", res["missed"],
         lambda it: "%s %s %s..%s (%.0f ms): %.2f s of it unknown, %d failing probe(s) in it" % (
             it[0], it[1]["mode"], ts(it[1]["start"]), ts(it[1]["end"]), it[1]["dur_ms"],
             it[2], it[3]))
    show("false outages", res["false_outages"],
         lambda it: "%s outage %s..%s class=%s: %s" % (it[0], ts(it[1][0]), ts(it[1][1]),
                                                      it[1][2], it[2]))
    show("split faults (several outages for one fault)", res["split"],
         lambda it: "%s %s %s..%s: %s" % (it[0], it[1]["mode"], ts(it[1]["start"]),
                                          ts(it[1]["end"]),
                                          ", ".join("%s..%s" % (ts(o[0]), ts(o[1]))
                                                    for o in it[2])))
    show("outages spanning several faults (the time between them not seen as up)",
         res["merged"],
         lambda it: "%s outage %s..%s over %s" % (
             it[0], ts(it[1][0]), ts(it[1][1]),
             ", ".join("%s %s..%s" % (w["mode"], ts(w["start"]), ts(w["end"]))
                       for w in it[2])))
    show("errors beyond interval + timeout", res["over_tol"],
         lambda it: "%s %s %s..%s start %+.3f s end %+.3f s" % (
             it[0], it[1]["mode"], ts(it[1]["start"]), ts(it[1]["end"]), it[2], it[3]))
    show("short faults reported as outages", res["short_reported"],
         lambda it: "%s %s %s (%.0f ms): outage %s..%s" % (
             it[0], it[2]["mode"], ts(it[2]["start"]), it[2]["dur_ms"], ts(it[1][0]),
             ts(it[1][1])))
    show("flap outages", res["flap_outages"],
         lambda it: "%s flap %s..%s: outage %s..%s" % (it[0], ts(it[2]["start"]),
                                                       ts(it[2]["end"]), ts(it[1][0]),
                                                       ts(it[1][1])))
    show("failing probes no fault explains", res["false_failures"],
         lambda it: "%s probe at %s (%.3f s, %s): %s" % (it[0], ts(it[1][0]), it[1][1],
                                                        it[1][2], it[2]))
    show("degraded periods outside slow windows", res["false_degraded"],
         lambda it: "%s %s..%s" % (it[0], ts(it[1][0]), ts(it[1][1])))
    return out


# ---------------------------------------------------------------- the driver

def add_args(ap, long_n, short_n, mid_n, lead_ms, quick=(6, 3, 1)):
    ap.add_argument("--empiric", required=True, help="the empiric binary")
    ap.add_argument("--target", help="the bench_target binary")
    ap.add_argument("--schema", required=True, help="the migrations directory")
    ap.add_argument("--faultd", help="the faultd binary (default: next to --empiric)")
    ap.add_argument("--quick", action="store_true",
                    help="%d long, %d short, %d mid faults per kind (about a minute)" % quick)
    ap.add_argument("--seed", type=int, default=1, help="of the fault schedules")
    ap.add_argument("--long", type=int, default=long_n,
                    help="faults per kind long enough to be outages")
    ap.add_argument("--short", type=int, default=short_n,
                    help="faults per kind too short to be outages")
    ap.add_argument("--mid", type=int, default=mid_n,
                    help="faults per kind in between (either answer is right)")
    ap.add_argument("--interval-ms", type=int, default=400)
    ap.add_argument("--timeout-ms", type=int, default=300)
    ap.add_argument("--fail-threshold", type=int, default=2)
    ap.add_argument("--recover-threshold", type=int, default=1)
    ap.add_argument("--degraded-ms", type=int, default=100)
    ap.add_argument("--slow-ms", type=int, default=180,
                    help="faultd's delay in slow windows (degraded-ms < slow-ms < timeout-ms)")
    ap.add_argument("--gap-ms", type=int, nargs=2, default=(1200, 2000), metavar=("MIN", "MAX"),
                    help="fault-free time between two faults of one faultd")
    ap.add_argument("--lead-ms", type=int, default=lead_ms,
                    help="fault-free time before the first fault (Empiric starts in it)")
    ap.add_argument("--sample-ms", type=int, default=100,
                    help="how often the live states are sampled")
    ap.add_argument("--budget-s", type=int, default=540,
                    help="refuse schedules that would run longer than this")
    ap.add_argument("--keep-db", action="store_true",
                    help="leave the scratch database behind (its name is printed)")
    ap.set_defaults(quick_counts=quick)


def timing_from(a):
    t = Timing(a.interval_ms, a.timeout_ms, a.fail_threshold, a.recover_threshold,
               a.degraded_ms, a.slow_ms)
    t.check()
    return t


def install_signal_exit():
    """SIGTERM / SIGHUP end the bench through its finally blocks."""
    def bye(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGHUP, bye)


class Experiment:
    """Runs faults against `empiric serve` and gathers what it recorded.
    `load` (optional) has start(run) before Empiric starts, targets(),
    begin(run, emp, api) once Empiric serves, end(run, emp, api) when the
    faults are over (returns a dict of figures) and stop(run) once Empiric
    has stopped."""

    def __init__(self, a, bench, load=None, sampler_source="list", sample_names=None):
        self.a = a
        self.bench = bench
        self.load = load
        self.sampler_source = sampler_source
        self.sample_names = sample_names
        if a.quick:
            a.long, a.short, a.mid = a.quick_counts
        self.timing = timing_from(a)
        self.faultd = a.faultd or os.path.join(os.path.dirname(os.path.abspath(a.empiric)),
                                               "faultd")
        if not os.access(self.faultd, os.X_OK):
            raise BenchError("no faultd at %s (build it, or pass --faultd)" % self.faultd)
        if not os.access(a.empiric, os.X_OK):
            raise BenchError("no empiric at %s" % a.empiric)

    def run(self):
        a, timing = self.a, self.timing
        t_begin = time.time()
        run = Run("empiric-%s-" % self.bench)
        run.keep_db = a.keep_db
        self.dir = run.dir
        out = {"dir": run.dir}
        try:
            run.db = Database(a.empiric, a.schema)
            if self.load:
                self.load.start(run)
            setup = FaultSetup(run, self.faultd, timing, (a.long, a.short, a.mid), a.lead_ms,
                               tuple(a.gap_ms), a.seed)
            planned = setup.last_end - time.time()
            if planned > a.budget_s:
                raise BenchError("the schedule would run %.0f s (over --budget-s %d); "
                                 "use fewer faults" % (planned, a.budget_s))
            names = list(setup.windows) + setup.controls
            targets = setup.targets() + (self.load.targets() if self.load else [])
            emp, api = start_empiric(run, a.empiric, targets)
            t_ready = time.time()
            first_probe_slack = max([timing.interval_ms / 1000.0] +
                                    [t["interval_ms"] / 1000.0 for t in targets]) + 0.5
            t_from = int(setup.first_start - 1.0)
            if t_ready + first_probe_slack > t_from:
                raise BenchError("empiric was ready %.1f s before the first fault; raise "
                                 "--lead-ms" % (setup.first_start - t_ready))
            t_to = int(setup.last_end + timing.tol_s + 2.0) + 1
            sampled = names if self.sample_names is None else self.sample_names
            sampler = StateSampler(api, sampled, a.sample_ms / 1000.0, self.sampler_source)
            if a.sample_ms > 0:
                sampler.start()
            if self.load:
                self.load.begin(run, emp, api)
            cpu0, w0 = proc_cpu_s(emp.pid), time.time()

            def alive():
                if emp.poll() is not None:
                    raise BenchError("empiric serve exited with %d during the run; see %s" %
                                     (emp.returncode, run.log_path("empiric.log")))
                if time.time() - t_begin > a.budget_s + 120:
                    raise BenchError("over the time budget")

            print("%s: %d fault windows on %d faultd, %d targets; faults from %s to %s "
                  "(%.0f s); files in %s" % (
                      self.bench, sum(len(w) for w in setup.windows.values()),
                      len(setup.windows), len(targets),
                      time.strftime("%H:%M:%S", time.localtime(setup.first_start)),
                      time.strftime("%H:%M:%S", time.localtime(setup.last_end)),
                      setup.last_end - setup.first_start, run.dir), flush=True)
            sleep_until(t_to + 1.0, alive)
            cpu1, w1 = proc_cpu_s(emp.pid), time.time()
            if sampler.is_alive():
                sampler.stop()
            extra = self.load.end(run, emp, api) if self.load else {}
            uptime = {}
            for n in names:
                try:
                    uptime[n] = api.json("/api/v1/targets/%s/uptime?from=%d&to=%d" %
                                         (n, t_from, t_to), timeout=30)
                except (OSError, ValueError) as e:
                    print("note: uptime of %s: %s" % (n, e))
            try:
                text = api.text("/metrics", timeout=60)
                metrics, counts = parse_metrics(text), probe_counts(text)
            except OSError as e:
                print("note: /metrics: %s" % e)
                metrics, counts = {}, {}
            rc = run.stop(emp, signal.SIGTERM, wait_s=60)
            if self.load:
                self.load.stop(run)
            with open(run.log_path("empiric.log"), errors="replace") as f:
                log = f.read()
            stopped = parse_stopped(log)
            store = load_store(run.db)
            store["probes"] = counts
            res = analyse(setup, store, sampler, t_from, t_to)
            out.update(res=res, setup=setup, store=store, sampler=sampler, uptime=uptime,
                       metrics=metrics, stopped=stopped, rc=rc, extra=extra,
                       t_from=t_from, t_to=t_to, t_ready=t_ready,
                       cpu_pct=(100.0 * (cpu1 - cpu0) / (w1 - w0)) if cpu0 is not None
                       and cpu1 is not None else None,
                       warnings=log.count("level=warn"), errors=log.count("level=error"),
                       wall_s=time.time() - t_begin)
            return out
        finally:
            run.close()


def coverage_table(x):
    res, store, uptime = x["res"], x["store"], x["uptime"]
    t_from, t_to = x["t_from"], x["t_to"]
    hdr = ["target", "up s", "down s", "unknown s", "coverage", "unknown (spans) s",
           "longest gap s", "probes ok/degraded/fail (/metrics)"]
    body = []
    setup = x["setup"]
    for n in list(setup.windows) + setup.controls:
        u = uptime.get(n, {})
        spans = store["spans"].get(n, [])
        roll = store["probes"].get(n, (0, 0, 0))
        body.append([n, fnum(u.get("up_s"), 1), fnum(u.get("down_s"), 1),
                     fnum(u.get("unknown_s"), 1), fnum(u.get("coverage"), 4),
                     fnum(unknown_s(spans, t_from, t_to), 1),
                     fnum(longest_gap_s(spans, t_from, t_to), 2), "%d/%d/%d" % roll])
    return table(hdr, body, "Per target over the measured window (%d s; uptime API and spans)"
                 % (t_to - t_from))


def print_common(x):
    res, timing = x["res"], x["setup"].timing
    print()
    print(fault_table(res, timing))
    print()
    print(error_table(res, timing))
    print()
    print(coverage_table(x))
    print()
    for line in details(res):
        print(line)
    s = x["stopped"]
    print()
    print("empiric: exit %s, %s; %d warn / %d error log lines; CPU %s%% of one core" % (
        x["rc"], "probes=%d fail=%d skipped=%d lag_p99_ms=%.3f" % (
            s["probes"], s["fail"], s["skipped"], s["lag_p99_ms"]) if s else "no stop line",
        x["warnings"], x["errors"], fnum(x["cpu_pct"], 1)))
    m = x["metrics"]
    if m:
        print("/metrics at the end: lag p50 %s ms, p99 %s ms, max %s ms (count %d), "
              "skipped %d, events dropped %d, db write errors %d" % (
                  fnum(m.get("lag_p50_s", 0) * 1000, 2), fnum(m.get("lag_p99_s", 0) * 1000, 2),
                  fnum(m.get("lag_max_s", 0) * 1000, 2), m.get("lag_count", 0),
                  m.get("skipped", 0), m.get("events_dropped", 0), m.get("db_write_errors", 0)))


def bench_line(bench, pairs):
    return "BENCH %s %s" % (bench, " ".join("%s=%s" % (k, v) for k, v in pairs))


def main_guard(fn):
    """Run fn(); a BenchError (the bench could not run) exits 1."""
    install_signal_exit()
    try:
        fn()
    except BenchError as e:
        print("could not run: %s" % e, flush=True)
        sys.exit(1)
    except subprocess.CalledProcessError as e:
        print("could not run: %s" % e, flush=True)
        sys.exit(1)
