"""faultd, the fault-injecting target: each mode behaves as specified while
its window is on, the ground-truth file lists every window within 50 ms of
the schedule, the process stops by itself and on SIGTERM.

Only loopback is used. Every wait is bounded."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, fail, parse_args  # noqa: E402

# (offset_ms, duration_ms, mode, param_ms or None)
SCHEDULE = [
    (600, 500, "http500", None),
    (1200, 500, "refuse", None),
    (1800, 600, "hang", None),
    (2500, 500, "garbage", None),
    (3100, 600, "endless", None),
    (3800, 700, "slow", 400),
    (4600, 500, "reset", None),
    (5200, 800, "flap", 100),
]
MARGIN_MS = 500
# How far from the schedule a switch may land: a busy machine (CI, a
# benchmark beside it) delays faultd's thread; the truth file records when
# the switch really happened, which is what consumers compare against.
TOLERANCE_US = 150000


def start(faultd, truth, windows, extra=()):
    args = [faultd, "--truth", truth, "--margin-ms", str(MARGIN_MS)]
    for w in windows:
        args += ["--window", " ".join(str(x) for x in w if x is not None)]
    proc = subprocess.Popen(args + list(extra), stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    fields = dict(kv.split("=", 1) for kv in line.split())
    if "http_port" not in fields:
        proc.kill()
        fail("faultd printed no ports: %r" % line)
    return proc, int(fields["http_port"]), int(fields["tcp_port"]), int(fields["t0_us"])


def sleep_until(t0_us, offset_ms):
    left = t0_us / 1e6 + offset_ms / 1000 - time.time()
    if left > 0:
        time.sleep(left)


def get(port, timeout=2.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def raw(port, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return s


def main():
    args = parse_args()
    faultd = os.path.join(os.path.dirname(args.empiric), "faultd")
    check(os.access(faultd, os.X_OK), "faultd is built next to empiric")
    tmp = tempfile.mkdtemp(prefix="faultd-")
    truth = os.path.join(tmp, "truth.jsonl")

    proc, hport, tport, t0 = start(faultd, truth, SCHEDULE)
    try:
        # Before the first window: 200 on HTTP, a banner on TCP.
        sleep_until(t0, 200)
        check(get(hport) == 200, "outside windows HTTP answers 200")
        with socket.create_connection(("127.0.0.1", tport), timeout=2) as s:
            check(s.recv(16) == b"ok\n", "outside windows TCP sends its banner")

        sleep_until(t0, 700)
        check(get(hport) == 500, "http500 window answers 500")

        sleep_until(t0, 1300)
        for port, what in ((hport, "HTTP"), (tport, "TCP")):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                fail("refuse window: %s connect succeeded" % what)
            except ConnectionRefusedError:
                check(True, "refuse window refuses %s connections" % what)

        sleep_until(t0, 1900)
        s = raw(hport, 0.3)
        try:
            s.recv(1)
            fail("hang window answered")
        except socket.timeout:
            check(True, "hang window accepts and does not answer")
        s.settimeout(1.5)
        data = s.recv(1)
        closed_at = time.time()
        s.close()
        check(data == b"" and closed_at * 1e6 >= t0 + 2400000 - TOLERANCE_US,
              "hang connection is closed at the window end")

        sleep_until(t0, 2600)
        with raw(hport, 2) as s:
            data = s.recv(4096)
        check(len(data) > 0 and not data.startswith(b"HTTP/"), "garbage window is not HTTP")
        try:
            get(hport)
            fail("garbage window parsed as HTTP")
        except (http.client.HTTPException, ConnectionError):
            check(True, "http.client rejects the garbage answer")

        sleep_until(t0, 3200)
        s = raw(hport, 1)
        got = b""
        until = time.time() + 0.3
        while time.time() < until and len(got) < 1 << 20:
            got += s.recv(65536)
        check(got.startswith(b"HTTP/1.1 200") and b"chunked" in got.split(b"\r\n\r\n")[0]
              and len(got) > 10000, "endless window streams a chunked body (%d bytes)" % len(got))
        s.settimeout(2)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
        ended = time.time()
        s.close()
        check(not got.endswith(b"0\r\n\r\n") and ended * 1e6 >= t0 + 3700000 - TOLERANCE_US,
              "endless body never terminates; cut at the window end")

        sleep_until(t0, 3900)
        began = time.time()
        status = get(hport)
        took = time.time() - began
        check(status == 200 and 0.38 <= took < 1.0, "slow window answers 200 after %.3f s" % took)

        sleep_until(t0, 4700)
        try:
            with raw(hport, 1) as s:
                s.recv(16)
            fail("reset window answered")
        except ConnectionResetError:
            check(True, "reset window resets the connection")

        sleep_until(t0, 5250)
        seen = set()
        while time.time() * 1e6 < t0 + 5950000:
            seen.add(get(hport))
            time.sleep(0.02)
        check(seen == {200, 500}, "flap window alternates 200 and 500: %s" % sorted(seen))

        sleep_until(t0, 6100)
        check(get(hport) == 200, "after the last window HTTP answers 200")

        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            fail("faultd did not exit after the schedule")
        check(rc == 0, "faultd exits by itself with 0 after the schedule")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    with open(truth) as f:
        rows = [json.loads(line) for line in f]
    check([r["mode"] for r in rows] == [w[2] for w in SCHEDULE], "truth lists every window")
    for r, (off, dur, mode, _) in zip(rows, SCHEDULE):
        ds = r["start_us"] - (t0 + off * 1000)
        de = r["end_us"] - (t0 + (off + dur) * 1000)
        check(abs(ds) < TOLERANCE_US and abs(de) < TOLERANCE_US and not r["cut_short"],
              "truth %s: start %+d us, end %+d us" % (mode, ds, de))
        check(r["start"].endswith("Z") and len(r["start"]) == 27, "truth %s has RFC 3339 times" % mode)

    # Many concurrent connections, then SIGTERM in the middle of a hang window.
    truth2 = os.path.join(tmp, "truth2.jsonl")
    proc, hport, tport, t0 = start(faultd, truth2, [(1500, 60000, "hang", None)],
                                   ["--max-seconds", "30"])
    try:
        results = []
        lock = threading.Lock()

        def one():
            try:
                st = get(hport, timeout=5)
            except Exception as e:  # noqa: BLE001 - counted as a failure
                st = repr(e)
            with lock:
                results.append(st)

        threads = [threading.Thread(target=one) for _ in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        check(results.count(200) == 200, "200 concurrent requests all answered 200 (%d)"
              % results.count(200))
        sleep_until(t0, 1700)
        held = [raw(hport, 5) for _ in range(50)]
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            fail("faultd did not stop on SIGTERM")
        check(rc == 0, "faultd stops on SIGTERM with 50 connections held")
        for s in held:
            s.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with open(truth2) as f:
        rows = [json.loads(line) for line in f]
    check(len(rows) == 1 and rows[0]["mode"] == "hang" and rows[0]["cut_short"],
          "truth records the window cut short by SIGTERM")
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
