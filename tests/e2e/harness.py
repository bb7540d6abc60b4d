"""Shared pieces of the end-to-end tests: a fresh database, a fault-injecting
HTTP target, and an `empiric serve` process with its API.

Only loopback is used, unless a test asks for a network of its own
(netns.py). Every wait is bounded."""

import argparse
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--empiric", required=True)
    ap.add_argument("--schema", required=True)
    return ap.parse_args()


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strict_json(text):
    def bad(c):
        fail("the API sent %s, which is not JSON" % c)
    return json.loads(text, parse_constant=bad)


def psql(conninfo, sql):
    out = subprocess.run(["psql", conninfo, "-XtAc", sql], check=True,
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


class Database:
    """A database of its own on the server named by EMPIRIC_TEST_DB."""

    def __init__(self, empiric, schema):
        admin = os.environ.get("EMPIRIC_TEST_DB")
        if not admin:
            fail("EMPIRIC_TEST_DB is not set (scripts/test sets it)")
        self.admin = admin
        self.name = "empiric_e2e_%d" % os.getpid()
        psql(admin, "DROP DATABASE IF EXISTS %s" % self.name)
        psql(admin, "CREATE DATABASE %s" % self.name)
        self.conninfo = admin + " dbname=" + self.name
        subprocess.run([empiric, "--db", self.conninfo, "migrate", "--schema", schema],
                       check=True, timeout=60)

    def query(self, sql):
        return psql(self.conninfo, sql)

    def drop(self):
        try:
            psql(self.admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
        except Exception as e:  # leave it for a human to see, do not mask the result
            print("note: could not drop %s: %s" % (self.name, e))


class FaultTarget:
    """An HTTP target whose behaviour the test switches: "ok" (200), "500",
    "hang" (answers nothing for hang_s), "refused" (listening socket
    closed)."""

    def __init__(self, hang_s=2.0):
        self.port = free_port()
        self.mode = "ok"
        self.hang_s = hang_s
        self.requests = 0
        self.server = None
        self.lock = threading.Lock()
        self.count_lock = threading.Lock()
        self._listen()

    def _handler(self):
        target = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                with target.count_lock:  # handlers run on threads of their own
                    target.requests += 1
                mode = target.mode
                if mode == "hang":
                    time.sleep(target.hang_s)
                    return
                code = 500 if mode == "500" else 200
                body = b"fault\n" if code != 200 else b"ok\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return H

    def _listen(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, mode):
        """Switch behaviour; returns the wall time of the switch."""
        with self.lock:
            if mode == "refused" and self.mode != "refused":
                self.server.shutdown()
                self.server.server_close()
            elif mode != "refused" and self.mode == "refused":
                self._listen()
            self.mode = mode
            return time.time()

    def close(self):
        if self.mode != "refused":
            self.server.shutdown()
            self.server.server_close()


class Empiric:
    """`empiric serve` with a generated configuration; `prefix` (a list) runs
    it through another command, such as `unshare`, that execs it in the end
    (so that the process's pid is empiric's). `host`: the address its API
    listens on and is asked at (127.0.0.1); `spawn`: what starts it, called
    as subprocess.Popen is (a network namespace's run(), say)."""

    def __init__(self, binary, db, targets, prober="e2e", extra=None, prefix=None,
                 host="127.0.0.1", spawn=subprocess.Popen):
        self.binary = binary
        self.prefix = list(prefix or [])
        self.db = db
        self.host = host
        self.spawn = spawn
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="empiric-e2e-")
        self.config = os.path.join(self.dir, "config.json")
        with open(self.config, "w") as f:
            cfg = {"listen": "%s:%d" % (host, self.port),
                   "prober": {"name": prober}, "targets": targets,
                   "spool": {"path": os.path.join(self.dir, prober + ".spool")}}
            cfg.update(extra or {})
            json.dump(cfg, f)
        self.proc = None
        self.start_timeout = self.stop_timeout = 20
        self.log = open(os.path.join(self.dir, "serve.log"), "ab")

    def start(self):
        self.proc = self.spawn(self.prefix + [self.binary, "--db", self.db.conninfo,
                                              "serve", "--config", self.config],
                               stdout=self.log, stderr=self.log)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.dump_log()
                fail("empiric serve exited with %d" % self.proc.returncode)
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.dump_log()
        fail("empiric serve did not answer /healthz within %d s" % self.start_timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=self.stop_timeout + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.dump_log()
            fail("empiric serve did not stop within 30 s of %s" % sig.name)
        self.proc = None
        return rc

    def get(self, path):
        """(status, parsed JSON body). NaN and Infinity are not JSON: a
        response holding them fails the test."""
        url = "http://%s:%d%s" % (self.host, self.port, path)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, strict_json(r.read() or b"null")
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return e.code, strict_json(body)
            except ValueError:
                return e.code, body

    def get_raw(self, path):
        """(status, content type, body text)."""
        url = "http://%s:%d%s" % (self.host, self.port, path)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def dump_log(self):
        self.log.flush()
        with open(os.path.join(self.dir, "serve.log"), "rb") as f:
            sys.stdout.write(f.read().decode(errors="replace")[-6000:])

    def kill(self):
        """SIGKILL: no clean-up of any kind, as a crash or the OOM killer."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc = None

    def spool_path(self):
        with open(self.config) as f:
            return json.load(f)["spool"]["path"]

    def metric(self, name):
        """The value of an unlabelled sample of /metrics, or None."""
        status, _, text = self.get_raw("/metrics")
        if status != 200:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def log_text(self):
        self.log.flush()
        with open(os.path.join(self.dir, "serve.log"), "rb") as f:
            return f.read().decode(errors="replace")


def pg_bindir():
    """The newest installed PostgreSQL's bin directory (Debian layout)."""
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        fail("no PostgreSQL server binaries under /usr/lib/postgresql")
    return os.path.dirname(found[-1])


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own on a loopback port, which the
    test may stop and start (the shared one serves other tests meanwhile).
    Run as the postgres user when we are root. `listen`: more addresses to
    listen on besides 127.0.0.1, each as ADDRESS/PREFIX ("10.213.5.1/24"),
    whose network is trusted as loopback is (a test network's own)."""

    def __init__(self, listen=()):
        self.listen = [a.split("/")[0] for a in listen]
        self.bindir = pg_bindir()
        self.dir = tempfile.mkdtemp(prefix="empiric-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            os.chmod(self.dir, 0o755)
            subprocess.run(["chown", "postgres:", self.dir], check=True)
        self._run(["initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-locale"])
        if listen:
            with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                for a in listen:
                    f.write("host all all %s trust\n" % ipaddress.ip_interface(a).network)
        self.conninfo = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.port
        self.start()

    def _run(self, argv, timeout=120, check=True):
        cmd = [os.path.join(self.bindir, argv[0])] + argv[1:]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0 and check:
            fail("%s failed: %s%s" % (argv[0], r.stdout[-2000:], r.stderr[-2000:]))

    def start(self):
        self._run(["pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w",
                   "-t", "60", "-o",
                   "-c listen_addresses=%s -p %d -k %s -c fsync=off" %
                   (",".join(["127.0.0.1"] + self.listen), self.port, self.dir),
                   "start"])

    def stop(self):
        self._run(["pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])

    def destroy(self):
        self._run(["pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"], check=False)
        subprocess.run(["rm", "-rf", self.dir])


class OwnDatabase(Database):
    """Database's interface over a PrivatePostgres."""

    def __init__(self, empiric, schema, pg):
        self.admin = pg.conninfo
        self.name = "empiric"
        psql(self.admin, "CREATE DATABASE empiric")
        self.conninfo = "host=127.0.0.1 port=%d user=postgres dbname=empiric" % pg.port
        subprocess.run([empiric, "--db", self.conninfo, "migrate", "--schema", schema],
                       check=True, timeout=60)

    def drop(self):
        pass
