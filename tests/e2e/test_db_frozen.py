"""End to end: a frozen database.

Empiric runs on a PostgreSQL cluster of this test's own. Every process of
the cluster is stopped with SIGSTOP: the server neither answers nor closes
anything, so its own statement_timeout cannot fire; only a deadline on
Empiric's side can. While it is frozen:
- requests that need the database, sixteen at once and twice over, are
  each answered (503, or from what is cached) within the API's deadline;
- /healthz, /api/v1/monitor, /metrics and the status page's kept copy,
  which need no database, answer at once all along;
- the writer keeps putting the probes' events into its spool;
- `empiric report` fails within its deadline (EMPIRIC_DB_DEADLINE_S).
After SIGCONT everything answers 200 again. (test_db_restart.py shares
this file's set-up.)"""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from harness import (Empiric, FaultTarget, OwnDatabase, PrivatePostgres, check, fail,
                     parse_args)

DEADLINE_S = 6.0       # API_DB_DEADLINE_MS in server/api/reply.h
SLACK_S = 2.0          # a busy machine, the HTTP round trip
QUICK_S = 1.0          # what needs no database
FROZEN_S = 20.0

DB_PATHS = [
    "/api/v1/targets",
    "/api/v1/targets/web",
    "/api/v1/targets/web/uptime",
    "/api/v1/targets/web/outages",
    "/api/v1/targets/web/sla",
    "/api/v1/targets/web/reliability",
    "/api/v1/groups",
    "/api/v1/groups/site/correlation",
    "/api/v1/groups/site/reliability",
    "/api/v1/status?group=site",
    "/badge/web.svg",
    "/badge/web/state.svg",
    "/api/v1/targets/api/uptime",
    "/api/v1/targets/api/outages",
    "/api/v1/targets/api/reliability",
    "/api/v1/targets/api/sla",
]


def request(port, path, timeout=30.0):
    """(status, seconds, body) of one GET on a connection of its own."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read()
            return r.status, time.monotonic() - t0, body
    except urllib.error.HTTPError as e:
        return e.code, time.monotonic() - t0, e.read()
    except (OSError, socket.timeout) as e:
        return None, time.monotonic() - t0, str(e).encode()


def parallel(port, paths):
    """Each path requested at once from a thread of its own."""
    out = [None] * len(paths)

    def one(i):
        out[i] = request(port, paths[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


class Pinger:
    """Asks `paths` in turn every 0.1 s, noting the slowest answer of each."""

    def __init__(self, port, paths):
        self.port = port
        self.paths = paths
        self.worst = {p: 0.0 for p in paths}
        self.failed = []
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            for p in self.paths:
                st, dt, body = request(self.port, p, timeout=15)
                self.worst[p] = max(self.worst[p], dt)
                self.count += 1
                if st != 200:
                    self.failed.append((p, st, body[:200]))
            time.sleep(0.1)

    def end(self):
        self.stop.set()
        self.thread.join()


def cluster_pids(pg):
    """The postmaster and every process it started."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        main = int(f.readline())
    pids = [main]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == main:
            pids.append(int(d))
    return pids


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def setup(args):
    """A cluster, its database, two targets in a group with an SLA, and
    empiric serve on them (not started)."""
    pg = PrivatePostgres()
    db = OwnDatabase(args.empiric, args.schema, pg)
    web = FaultTarget()
    api = FaultTarget()
    common = {"interval_ms": 250, "timeout_ms": 240, "group": "site"}
    targets = [dict(name="web", kind="http", url="http://127.0.0.1:%d/" % web.port, **common),
               dict(name="api", kind="http", url="http://127.0.0.1:%d/" % api.port, **common)]
    slas = [{"name": "site-sla", "objective": 99.9, "targets": ["web", "api"]}]
    emp = Empiric(args.empiric, db, targets, extra={"slas": slas})
    return pg, emp, [web, api]


def main():
    pg, emp, faults = setup(parse_args())
    frozen = []
    try:
        emp.start()
        frozen_phase(emp, pg, frozen)
    finally:
        signal_all(frozen, signal.SIGCONT)
        emp.stop()
        for f in faults:
            f.close()
        pg.destroy()


def wait_ready(emp):
    """Until the targets' figures are served from the database."""
    deadline = time.time() + 30
    while time.time() < deadline:
        st, _, body = request(emp.port, "/api/v1/targets/web/uptime")
        if st == 200 and json.loads(body).get("up_s", 0) > 0:
            return
        time.sleep(0.3)
    emp.dump_log()
    fail("the targets' uptime was not served within 30 s")


def cli_deadline(emp):
    """`empiric report` on the frozen database fails within its deadline
    (EMPIRIC_DB_DEADLINE_S), naming why, instead of waiting for ever."""
    env = dict(os.environ, EMPIRIC_DB_DEADLINE_S="2")
    t0 = time.monotonic()
    try:
        r = subprocess.run([emp.binary, "--db", emp.db.conninfo, "report", "--target", "web"],
                           env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        fail("empiric report on a frozen database was still waiting after 30 s")
    dt = time.monotonic() - t0
    check(r.returncode != 0 and dt < 2 + SLACK_S + 1,
          "empiric report on a frozen database failed after %.1f s (deadline 2 s), exit %d"
          % (dt, r.returncode))
    check("in time" in r.stderr, "and said why: %s" % r.stderr.strip().splitlines()[-1][:200])


def frozen_phase(emp, pg, frozen):
    wait_ready(emp)
    # Warm what is kept in memory: the status page's copy and /metrics.
    for p in ("/api/v1/status", "/metrics"):
        st, _, _ = request(emp.port, p)
        check(st == 200, "%s answered 200 before the freeze" % p)
    spool_before = emp.metric("empiric_spool_bytes") or 0.0

    frozen.extend(cluster_pids(pg))
    signal_all(frozen, signal.SIGSTOP)
    t_frozen = time.monotonic()
    pinger = Pinger(emp.port, ["/healthz", "/api/v1/monitor", "/metrics", "/api/v1/status"])
    try:
        for wave in (1, 2):
            answers = parallel(emp.port, DB_PATHS)
            for path, (st, dt, body) in zip(DB_PATHS, answers):
                if st is None:
                    fail("frozen database, wave %d: %s got no answer (%s after %.1f s)"
                         % (wave, path, body.decode(errors="replace"), dt))
                if dt > DEADLINE_S + SLACK_S:
                    fail("frozen database, wave %d: %s answered %d after %.1f s, past the "
                         "%.0f s deadline" % (wave, path, st, dt, DEADLINE_S))
                if st not in (200, 503):
                    fail("frozen database, wave %d: %s answered %d: %s"
                         % (wave, path, st, body[:300]))
                if not path.startswith("/badge/"):
                    json.loads(body)  # JSON, whatever the status
            slowest = max(a[1] for a in answers)
            n503 = sum(1 for a in answers if a[0] == 503)
            print("frozen database, wave %d: %d requests answered within %.1f s (%d with 503)"
                  % (wave, len(answers), slowest, n503))
            check(n503 > 0, "wave %d: the database's absence was reported (503)" % wave)
        cli_deadline(emp)
        left = FROZEN_S - (time.monotonic() - t_frozen)
        if left > 0:
            time.sleep(left)
    finally:
        pinger.end()
    for p, worst in pinger.worst.items():
        print("frozen database: %s at worst %.3f s over %d rounds" % (p, worst, pinger.count // 4))
        check(worst < QUICK_S, "%s answered within %.0f s all along (at worst %.2f s)"
              % (p, QUICK_S, worst))
    if pinger.failed:
        fail("while frozen, answers other than 200 from memory: %r" % pinger.failed[:5])
    spool_frozen = emp.metric("empiric_spool_bytes") or 0.0
    check(spool_frozen > spool_before,
          "the writer kept spooling while the database was frozen (%.0f -> %.0f bytes)"
          % (spool_before, spool_frozen))

    signal_all(frozen, signal.SIGCONT)
    del frozen[:]
    deadline = time.time() + 30
    while True:
        answers = parallel(emp.port, DB_PATHS)
        bad = [(p, a[0]) for p, a in zip(DB_PATHS, answers) if a[0] != 200]
        if not bad:
            break
        if time.time() > deadline:
            emp.dump_log()
            fail("30 s after the database woke up, still: %r" % bad)
        time.sleep(0.5)
    print("after SIGCONT every request answers 200")


if __name__ == "__main__":
    main()
