"""Benchmark target creation through the write API: POST /api/v1/targets
against a running `empiric serve` until N targets exist, timing batches of
creates. Prints creates per second and server CPU per create at about 100
and at about N existing targets, and their ratio: near 1 when a create's
cost does not grow with the number of targets. Then times one
`GET /api/v1/targets` page and the whole list.

The targets are tcp targets of a local listening socket that never accepts
(the kernel completes the handshake), probed once a day: the first probe of
each runs at once, then nothing, so what is measured is the create.

usage: scripts/bench api_create [--targets 5000] [--batch 200], or
bench_api_create.py --empiric BIN --schema DIR [--targets 5000] [--batch 200]
Needs EMPIRIC_TEST_DB."""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import Database, free_port  # noqa: E402
from benchlib import peak_rss_kib, proc_cpu_s  # noqa: E402


class Client:
    """One kept-alive connection to the API."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        return r.status, r.read()


def wait_healthy(port, proc):
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("bench_api_create: empiric serve exited with %d" % proc.returncode)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("bench_api_create: empiric serve did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--empiric", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--target", help="unused (scripts/bench passes bench_target to all)")
    ap.add_argument("--targets", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=200)
    a = ap.parse_args()
    if not (500 <= a.targets <= 100000 and 10 <= a.batch <= a.targets // 4):
        sys.exit("bench_api_create: targets 500..100000, batch 10..targets/4")

    db = Database(a.empiric, a.schema)
    sink = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sink.bind(("127.0.0.1", 0))
    sink.listen(4096)
    sink_port = sink.getsockname()[1]
    d = tempfile.mkdtemp(prefix="empiric-bench-")
    cfg = os.path.join(d, "bench.json")
    port = free_port()
    with open(cfg, "w") as f:
        json.dump({"listen": "127.0.0.1:%d" % port, "prober": {"name": "bench"},
                   "spool": {"path": os.path.join(d, "bench.spool")},
                   "api": {"max_targets": a.targets + 10}}, f)
    token = subprocess.run([a.empiric, "--db", db.conninfo, "token", "create", "bench"],
                           check=True, capture_output=True, text=True,
                           timeout=30).stdout.strip()
    log = open(os.path.join(d, "serve.log"), "w+")
    proc = subprocess.Popen([a.empiric, "--db", db.conninfo, "serve", "--config", cfg],
                            stderr=log, stdout=log)
    try:
        wait_healthy(port, proc)
        c = Client(port)
        auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

        def create(i):
            body = json.dumps({"name": "t%06d" % i, "kind": "tcp", "host": "127.0.0.1",
                               "port": sink_port, "interval_ms": 86400000,
                               "timeout_ms": 1000})
            st, raw = c.call("POST", "/api/v1/targets", body, auth)
            if st != 201:
                sys.exit("bench_api_create: POST %d: %d %s" % (i, st, raw[:300]))

        def batch(start):
            cpu0, t0 = proc_cpu_s(proc.pid), time.time()
            for i in range(start, start + a.batch):
                create(i)
            return a.batch / (time.time() - t0), (proc_cpu_s(proc.pid) - cpu0) / a.batch

        for i in range(100):
            create(i)
        low = batch(100)
        for i in range(100 + a.batch, a.targets - a.batch):
            create(i)
        high = batch(a.targets - a.batch)

        t0 = time.time()
        st, raw = c.call("GET", "/api/v1/targets?limit=100")
        page_s = time.time() - t0
        t0 = time.time()
        listed, after = 0, None
        while True:
            path = "/api/v1/targets?limit=1000" + ("&after=" + after if after else "")
            st, raw = c.call("GET", path)
            if st != 200:
                sys.exit("bench_api_create: GET %s: %d %s" % (path, st, raw[:300]))
            got = json.loads(raw)
            listed += len(got["targets"])
            after = got.get("next")
            if not after:
                break
        list_s = time.time() - t0
        rss = peak_rss_kib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        sink.close()
        db.drop()

    print("creates at ~100 targets:  %7.1f /s, %.3f ms server CPU each" % (low[0], low[1] * 1e3))
    print("creates at ~%d targets: %7.1f /s, %.3f ms server CPU each"
          % (a.targets, high[0], high[1] * 1e3))
    print("ratio (rate at %d / rate at 100): %.2f" % (a.targets, high[0] / low[0]))
    print("GET /api/v1/targets?limit=100: %.1f ms; all %d in pages of 1000: %.1f ms"
          % (page_s * 1e3, listed, list_s * 1e3))
    print("peak RSS: %.1f MiB" % (rss / 1024))


if __name__ == "__main__":
    main()
