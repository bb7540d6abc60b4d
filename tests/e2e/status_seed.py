"""Seeded history for the status page tests and benchmark: outages imported
with `empiric import` relative to now, then coverage rewritten in SQL so that
each target is observed for the last 95 days but for one cut-out stretch
(a grey day). Not a test itself (no test_ prefix)."""

import datetime
import os
import subprocess
import tempfile
import time

DAY = 86400


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def midnight(t):
    return int(t) // DAY * DAY


def seed(empiric, db, rows, names, grey_days_ago=12):
    """rows: (target, start, end or None, cause, group); names: every
    target. Returns (now, grey day's midnight)."""
    d = tempfile.mkdtemp(prefix="empiric-status-")
    path = os.path.join(d, "history.csv")
    with open(path, "w") as f:
        f.write("target,start,end,cause,group\n")
        for name, s, e, cause, group in rows:
            f.write("%s,%s,%s,%s,%s\n" % (name, iso(s), iso(e) if e is not None else "",
                                           cause, group))
    r = subprocess.run([empiric, "--db", db.conninfo, "import", path, "--group-col", "group"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("import failed: %s %s" % (r.stdout, r.stderr))
    now = int(time.time())
    grey = midnight(now) - grey_days_ago * DAY
    # Observed from 95 days ago until now (the live span's 10 min grace
    # reaches past the requests), except [grey + 2 h, grey + 20 h).
    db.query("DELETE FROM spans;"
             "INSERT INTO spans (target_id, prober_id, started_at, ended_at, grace_ms)"
             " SELECT t.id, p.id, to_timestamp(%d), to_timestamp(%d), 0"
             " FROM targets t, probers p WHERE p.name = 'import'"
             " UNION ALL SELECT t.id, p.id, to_timestamp(%d), to_timestamp(%d), 600000"
             " FROM targets t, probers p WHERE p.name = 'import'"
             % (now - 95 * DAY, grey + 2 * 3600, grey + 20 * 3600, now))
    return now, grey


def crafted(now):
    """A small history: groups web (a, b) and db (c); a and b fail together
    once (a burst), c has an outage still open."""
    m = midnight(now)
    rows = [
        ("a", m - 30 * DAY + 3600, m - 30 * DAY + 3600 + 600, "timeout", "web"),
        ("b", m - 30 * DAY + 3630, m - 30 * DAY + 3630 + 1200, "http_5xx", "web"),
        ("a", m - 5 * DAY + 7200, m - 5 * DAY + 7200 + 300, "connect", "web"),
        ("a", m - 60 * DAY + 100, m - 60 * DAY + 100 + 60, "dns", "web"),
        ("c", m - 2 * DAY + 50, m - 2 * DAY + 50 + 1800, "auth", "db"),
    ]
    return rows, ["a", "b", "c"]


def many(now, n_targets, per_target=20, groups=10):
    """n_targets targets, each with per_target outages spread over 90 days."""
    rows = []
    names = []
    for i in range(n_targets):
        name = "t%04d" % i
        names.append(name)
        g = "g%02d" % (i % groups)
        for k in range(per_target):
            s = now - 89 * DAY + (k * 4 * DAY) + (i * 37) % 7200
            rows.append((name, s, s + 60 + (i + k) % 900, "timeout", g))
    return rows, names
