"""Helpers of the API hardening tests (test_api_*.py): requests with any
method, headers and body; tokens made through the CLI; bounded waits; the
row counts that show the store intact."""

import http.client
import json
import os
import socket
import subprocess
import tempfile
import time

from harness import check, fail


def request(emp, method, path, body=None, headers=None, timeout=15):
    """(status, headers dict, raw body bytes). `path` is sent as is."""
    conn = http.client.HTTPConnection("127.0.0.1", emp.port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def json_body(raw):
    def bad(c):
        fail("the API sent %s, which is not JSON" % c)
    return json.loads(raw, parse_constant=bad)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def cli(binary, db, *words, timeout=30):
    """Run `empiric --db DB WORDS`; (exit status, stdout, stderr)."""
    r = subprocess.run([binary, "--db", db.conninfo] + list(words), capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def make_token(binary, db, name):
    rc, out, err = cli(binary, db, "token", "create", name)
    if rc != 0:
        fail("empiric token create %s: exit %d: %s" % (name, rc, err))
    return out.strip()


def wait_until(what, cond, timeout_s, step_s=0.05):
    """Poll `cond` until it returns a true value (returned) or fail."""
    deadline = time.time() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.time() >= deadline:
            fail("%s: not within %.1f s" % (what, timeout_s))
        time.sleep(step_s)


def spool_extra():
    """A spool path of the test's own (the default is in the working
    directory)."""
    return {"spool": {"path": os.path.join(tempfile.mkdtemp(prefix="empiric-spool-"),
                                           "e2e.spool")}}


STORE_TABLES = ["targets", "outages", "probers", "prober_runs", "api_tokens",
                "schema_migrations"]


def store_shape(db):
    """The tables and the rows of those that do not grow by themselves."""
    tables = db.query("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
                      " WHERE schemaname = 'public'")
    counts = {t: db.query("SELECT count(*) FROM %s" % t) for t in STORE_TABLES}
    return tables, counts


def raw_connect(emp, timeout=5):
    s = socket.create_connection(("127.0.0.1", emp.port), timeout=timeout)
    return s


def closed_by_peer(sock, wait_s):
    """True when the server closes `sock` within `wait_s` (EOF or reset);
    what it sends meanwhile is read and dropped."""
    deadline = time.time() + wait_s
    while time.time() < deadline:
        sock.settimeout(max(0.05, min(0.5, deadline - time.time())))
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def run(emp, db, body, closers=()):
    """Run `body()` (which starts `emp`), then stop `emp` and check it
    exited 0; on a failure show its log. In the end stop it, close
    `closers` and drop the database, whatever happened."""
    try:
        body()
        rc = emp.stop()
        check(rc == 0, "serve stops cleanly (exit %d)" % rc)
    except BaseException:
        emp.dump_log()
        raise
    finally:
        emp.stop()
        for c in closers:
            c.close()
        db.drop()
    print("PASS")
