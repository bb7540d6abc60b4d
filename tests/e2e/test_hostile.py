"""Hostile targets (issue 6): `empiric serve` probes every behaviour of
build/hostile — endless bodies, trickled and huge headers, invalid HTTP, TLS
garbage, a reset mid-response, a hang after accept, a DNS server that never
answers — beside a healthy control target. Each hostile probe must be a
failure of its own error class and nothing else (every failing probe stored
in the database is checked, and none succeeded), the DNS and the slow ones
only after the timeout, the control target must never fail, the probe loop
must not stall (lag max), and the prober's memory must stay
bounded while 100 MB headers and endless bodies keep coming: its peak RSS
over the measured seconds may exceed its RSS at their start by RSS_GROWTH_MAX
at most, and its peak since the start is capped too (RSS_PEAK_MAX).

The DNS cases need root: the prober runs in a private mount namespace
(`unshare -m`) whose /etc/resolv.conf names hostile's silent DNS server on
127.53.N.1:53. Without root they are skipped, and the test says so.

Only loopback is used. Every wait is bounded; the test takes about 15 s."""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Database, Empiric, check, fail, parse_args  # noqa: E402

INTERVAL_MS = 1000
# Half the interval: on a busy machine a deadline may fire late without the
# probe still running at its next tick.
TIMEOUT_MS = 500
WARM_S = 3.0      # every hostile target probed at least twice before measuring
MEASURE_S = 6.0   # then RSS growth and failures over this many seconds
# Growth of the peak RSS over the RSS at the start of the measured seconds,
# and the peak since the start (about 15 MB, 50 MB under AddressSanitizer).
# Headers or a body kept in memory would be 100 MB; the caps are 64 KiB per
# probe. AddressSanitizer keeps freed memory in quarantine, so its growth is
# larger without being a leak.
RSS_GROWTH_MAX_KIB = 4 * 1024
RSS_GROWTH_MAX_ASAN_KIB = 24 * 1024
RSS_PEAK_MAX_KIB = 48 * 1024
RSS_PEAK_MAX_ASAN_KIB = 128 * 1024
# A prober that waited for its resolver thread would stall for about 3.5 s
# (resolv.conf's timeout:4 minus the probe's timeout); a busy machine
# delays the loop by tens of milliseconds.
LAG_MAX_S = 1.0
TLS_MEDIAN_MAX_MS = 15
LATE_MAX_US = 400 * 1000  # how late a deadline may fire on a busy machine
DNS_NAME = "never-answers.hostile.test"


def hostile_targets(ports, dns):
    """(name, target config, expected class, waits for the timeout)."""
    def http(port, path="/", scheme="http", host="127.0.0.1"):
        return {"kind": "http", "url": "%s://%s:%d%s" % (scheme, host, port, path)}
    cases = [
        ("endless-body", http(ports["endless_body"]), "body_too_large", False),
        ("endless-body-declared", http(ports["endless_body"], "/length"), "body_too_large",
         False),
        ("endless-chunked", http(ports["endless_chunked"]), "body_too_large", False),
        ("trickle-headers", http(ports["trickle_headers"]), "timeout", True),
        ("huge-headers", http(ports["huge_headers"]), "headers_too_large", False),
        ("huge-header-line", http(ports["huge_headers"], "/line"), "headers_too_large", False),
        ("invalid-status", http(ports["invalid_http"]), "protocol", False),
        ("invalid-binary", http(ports["invalid_http"], "/binary"), "protocol", False),
        ("invalid-version", http(ports["invalid_http"], "/version"), "protocol", False),
        ("invalid-length", http(ports["invalid_http"], "/length"), "protocol", False),
        ("tls-garbage", http(ports["tls_garbage"], scheme="https"), "tls", False),
        ("rst-mid-response", http(ports["rst_mid"]), "reset", False),
        ("hang-after-accept", http(ports["hang"]), "timeout", True),
    ]
    if dns:
        cases += [
            ("dns-http", http(ports["ok"], host=DNS_NAME), "dns", True),
            ("dns-tcp", {"kind": "tcp", "host": DNS_NAME, "port": ports["ok"]}, "dns", True),
            ("dns-postgres", {"kind": "postgres", "conninfo": "host=%s port=%d user=x dbname=x"
                              % (DNS_NAME, ports["ok"])}, "dns", True),
        ]
    return cases


def can_use_namespaces():
    if os.geteuid() != 0:
        return False, "not root"
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return False, "unshare -m failed: %s" % r.stderr.strip()
    return True, ""


def start_hostile(binary, dns):
    args = [binary, "--max-seconds", "50", "--conn-max-ms", "20000"]
    if dns:
        args += ["--dns-addr", "auto"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    if "ok" not in fields:
        proc.kill()
        proc.wait()
        fail("hostile printed no ports: %r" % line)
    ports = {k: int(v) for k, v in fields.items() if k != "dns"}
    return proc, ports, fields.get("dns")


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def uses_asan(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def metric(body, name, target=None, result=None):
    labels = ""
    if target is not None:
        labels = r'\{target="%s"[^}]*result="%s"\}' % (re.escape(target), result)
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), labels), body, re.M)
    return float(m.group(1)) if m else None


def main():
    args = parse_args()
    binary = os.path.join(os.path.dirname(args.empiric), "hostile")
    check(os.access(binary, os.X_OK), "hostile is built next to empiric")
    dns, why = can_use_namespaces()
    if not dns:
        print("skip: the DNS cases need root and unshare -m (%s)" % why, flush=True)
    hostile, ports, dns_addr = start_hostile(binary, dns)
    db = Database(args.empiric, args.schema)
    tmp = tempfile.mkdtemp(prefix="empiric-hostile-")
    prefix = None
    if dns:
        resolv = os.path.join(tmp, "resolv.conf")
        with open(resolv, "w") as f:
            # timeout:4: a lookup outlives the probe's deadline, so that a
            # prober waiting for its resolver thread would stall visibly.
            f.write("nameserver %s\noptions timeout:4 attempts:1\n" % dns_addr)
        prefix = ["unshare", "-m", "sh", "-c",
                  'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv]
    cases = hostile_targets(ports, dns)
    common = {"interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS, "fail_threshold": 2,
              "recover_threshold": 1}
    targets = [dict(name="control", kind="http", url="http://127.0.0.1:%d/" % ports["ok"],
                    **common)]
    targets += [dict(name=n, **spec, **common) for n, spec, _, _ in cases]
    emp = Empiric(args.empiric, db, targets, prefix=prefix)
    try:
        run(emp, db, hostile, ports, cases, dns)
    finally:
        emp.stop()
        if hostile.poll() is None:
            hostile.kill()
        hostile.wait()
        db.drop()


def run(emp, db, hostile, ports, cases, dns):
    emp.start()
    pid = emp.proc.pid
    time.sleep(WARM_S)
    asan = uses_asan(pid)
    before = proc_status(pid)
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")  # the peak (VmHWM) starts again from the current RSS
    time.sleep(MEASURE_S)
    after = proc_status(pid)
    status, _, body = emp.get_raw("/metrics")
    check(status == 200 and emp.proc.poll() is None, "empiric serve still runs and answers "
          "/metrics")
    rc = emp.stop()
    check(rc == 0, "empiric serve stops cleanly (exit %d)" % rc)

    limit = RSS_GROWTH_MAX_ASAN_KIB if asan else RSS_GROWTH_MAX_KIB
    growth = after["VmHWM"] - before["VmRSS"]
    print("prober RSS: %d KiB after %.0f s (peak so far %d KiB); peak over the next %.0f s "
          "%d KiB (%+d KiB)%s" % (before["VmRSS"], WARM_S, before["VmHWM"], MEASURE_S,
                                  after["VmHWM"], growth, ", AddressSanitizer" if asan else ""),
          flush=True)
    check(growth <= limit, "the prober's peak RSS grew by %d KiB (at most %d) while hostile "
          "targets were probed" % (growth, limit))
    peak_max = RSS_PEAK_MAX_ASAN_KIB if asan else RSS_PEAK_MAX_KIB
    peak = max(before["VmHWM"], after["VmHWM"])
    check(peak <= peak_max, "the prober's peak RSS since its start is %d KiB (at most %d)"
          % (peak, peak_max))

    lag_max = metric(body, "empiric_scheduling_lag_max_seconds")
    skipped = metric(body, "empiric_probes_skipped_total")
    check(lag_max is not None and lag_max < LAG_MAX_S,
          "the probe loop never stalled: lag max %.1f ms (%s ticks skipped)"
          % (1000 * (lag_max or -1), skipped))

    ok = metric(body, "empiric_probes_total", "control", "ok")
    bad = metric(body, "empiric_probes_total", "control", "fail")
    check(ok is not None and ok >= WARM_S + MEASURE_S - 1 and bad == 0,
          "the control target answered every probe (%s ok, %s failed)" % (ok, bad))

    rows = db.query("SELECT t.name, f.err_class, count(*), min(f.latency_us), "
                    "max(f.latency_us) FROM failures f JOIN targets t ON t.id = f.target_id "
                    "GROUP BY 1, 2 ORDER BY 1, 2")
    got = {}
    for line in rows.splitlines():
        name, cls, n, lo, hi = line.split("|")
        got.setdefault(name, []).append((cls, int(n), int(lo), int(hi)))
    check("control" not in got, "no failure stored for the control target")
    for name, _, want, slow in cases:
        seen = got.get(name, [])
        classes = ", ".join("%s x%d" % (c, n) for c, n, _, _ in seen) or "none"
        check(len(seen) == 1 and seen[0][0] == want and seen[0][1] >= 3,
              "%s: every failing probe is %s (stored: %s)" % (name, want, classes))
        oks = metric(body, "empiric_probes_total", name, "ok")
        fails = metric(body, "empiric_probes_total", name, "fail")
        check(oks == 0 and fails is not None and fails >= 3,
              "%s: no probe succeeded (%s ok, %s failed)" % (name, oks, fails))
        lo, hi = seen[0][2], seen[0][3]
        if slow:
            check(lo >= 0.95 * TIMEOUT_MS * 1000 and hi < TIMEOUT_MS * 1000 + LATE_MAX_US,
                  "%s: failed at its timeout (%.0f..%.0f ms)" % (name, lo / 1000, hi / 1000))
        else:
            check(hi < TIMEOUT_MS * 1000, "%s: failed before its timeout (at most %.0f ms)"
                  % (name, hi / 1000))

    # libcurl rebuilds its CA store for every TLS connection unless the
    # store can be cached (probe_http.c): 20-50 ms on the loop each time.
    median = db.query("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY f.latency_us) "
                      "FROM failures f JOIN targets t ON t.id = f.target_id "
                      "WHERE t.name = 'tls-garbage'")
    check(int(median) < TLS_MEDIAN_MAX_MS * 1000,
          "tls-garbage: a TLS failure costs %.1f ms (median; the CA store is not rebuilt "
          "per probe)" % (int(median) / 1000))

    hostile.terminate()
    try:
        out, _ = hostile.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        fail("hostile did not stop on SIGTERM")
    check(hostile.returncode == 0, "hostile stops on SIGTERM")
    counts = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    for b in ("endless_body", "endless_chunked", "trickle_headers", "huge_headers",
              "invalid_http", "tls_garbage", "rst_mid", "hang"):
        check(int(counts.get(b, 0)) >= 3, "hostile served %s to the prober (%s connections)"
              % (b, counts.get(b)))
    if dns:
        check(int(counts.get("dns_queries", 0)) >= 3,
              "the lookups reached hostile's silent DNS server (%s queries)"
              % counts.get("dns_queries"))
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
