"""Benchmark of the read API over a year of history: 1,000 targets in 20
groups of 50, each with about 110 outages (over 100,000 in all), the failing
probe results that are their evidence, hourly rollups (in the layout the
schema has) and coverage spans with gaps, synthesized in PostgreSQL by
set-based SQL. `empiric serve` then
runs on that database with the same 1,000 targets configured (probing
bench_target on loopback once an hour, so the probes cost nothing), and wrk
measures each endpoint at 16 connections, every request asking for another
target, group or window:

  uptime         /api/v1/targets/{name}/uptime
  outages        /api/v1/targets/{name}/outages (JSON, one in ten CSV)
  reliability    /api/v1/targets/{name}/reliability (the status page's plots
                 ask for the last 90 days; other windows too)
  group_rel      /api/v1/groups/{group}/reliability
  correlation    /api/v1/groups/{group}/correlation
  sla            /api/v1/targets/{name}/sla (a monthly SLA under the outages
                 rule and a quarterly one under the minutes rule)
  status         /api/v1/status (what the status page fetches)
  status_group   /api/v1/status?group=...

Goal (issue 6): p99 under 50 ms for each. Prints a table and ends with one
line `BENCH queries key=value ...`.

  EMPIRIC_TEST_DB=... python3 tests/bench/bench_queries.py \\
      --empiric build/empiric --target build/bench_target --schema schema \\
      [--quick] [--duration 15] [--connections 16] [--only uptime,status]"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import Database, Empiric, free_port  # noqa: E402

LUA = os.path.join(HERE, "bench_queries.lua")
DAY = 86400
GOAL_P99_MS = 50.0
# The prober that "recorded" the synthesized history; the serve process
# probes as another one, so nothing it does touches the history, in the same
# location, so that the figures are one vantage point's.
HISTORY_PROBER = "history"
HISTORY_LOCATION = "synthesized history"
SERVE_PROBER = "bench"
HISTORY_INTERVAL_S = 60  # the probe interval the history pretends to

ENDPOINTS = ["uptime", "outages", "reliability", "group_rel", "correlation", "sla",
             "status", "status_group"]
# Their names in the BENCH line.
KEYS = {"uptime": "uptime", "outages": "outages", "reliability": "reliability",
        "group_rel": "group_reliability", "correlation": "correlation", "sla": "sla",
        "status": "status", "status_group": "status_group"}


def log(msg):
    print(msg, flush=True)


def sql(conninfo, text, timeout=600):
    """Run SQL text through psql, stopping at the first error; returns
    stdout."""
    out = subprocess.run(["psql", conninfo, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"],
                         input="SET TimeZone = 'UTC';\n" + text, capture_output=True,
                         text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("psql failed: %s" % out.stderr.strip()[-2000:])
    return out.stdout.strip()


def columns(conninfo, table):
    rows = sql(conninfo, "SELECT column_name || ':' || data_type FROM information_schema.columns"
               " WHERE table_schema = 'public' AND table_name = '%s'"
               " ORDER BY ordinal_position;" % table)
    return dict(r.split(":", 1) for r in rows.splitlines() if r)


# ---- synthesis ------------------------------------------------------------

def names_sql(names):
    """An SQL list of quoted names: 'a', 'b'."""
    return ", ".join("'%s'" % n.replace("'", "''") for n in names)


def name_of(i):
    return "svc-%04d" % i


def group_of(i, groups):
    return "grp-%02d" % (1 + (i - 1) % groups)


# The error classes and messages of synthesized outages, by class number.
CLASSES_SQL = "(ARRAY['timeout', 'refused', 'http_status', 'reset'])"
MESSAGES_SQL = ("(ARRAY['no answer within 2000 ms', 'connection refused by 127.0.0.1',"
                " 'HTTP 503 (expected 2xx or 3xx)', 'connection reset by peer'])")


def targets_sql(n, groups):
    """SQL inserting targets svc-0001.. (n), dealt to grp-01.. in turn."""
    return """
INSERT INTO targets (name, kind, grp, spec, interval_ms, timeout_ms, fail_threshold,
                     recover_threshold, degraded_ms)
SELECT 'svc-' || lpad(i::text, 4, '0'), 'http',
       'grp-' || lpad((1 + (i - 1) %% %(groups)d)::text, 2, '0'),
       '{"kind":"http"}', 3600000, 2000, 2, 1, 0
FROM generate_series(1, %(n)d) i;
""" % {"n": n, "groups": groups}


def spans_sql(t0, t1, probers, late=0):
    """SQL inserting the coverage of every target by each prober of
    `probers` (names; the l-th from 1): 24 spans a target over the year (a
    restart every ~15 days), gaps of up to 30 minutes between them, and in
    one target of ten a gap of two days after span 4 + 3 l. The last span
    ends a minute before now; the last prober's first `late` spans are
    missing (it started later). Rows go in in time order, as the writer
    appends them (a target's rows spread over the table, not side by
    side)."""
    return """
INSERT INTO spans (target_id, prober_id, started_at, ended_at, grace_ms)
SELECT t.id, p.id,
       to_timestamp(%(t0)d + k * %(year)d / 24.0
                    + CASE WHEN k = 0 THEN 0
                           WHEN k = 4 + 3 * u.l AND t.id %% 10 = 3 THEN 2 * 86400
                           ELSE floor(random() * 1800) END),
       to_timestamp(CASE WHEN k = 23 THEN %(t1)d - 60
                         ELSE %(t0)d + (k + 1) * %(year)d / 24.0 - 60 END),
       %(grace)d
FROM targets t, generate_series(0, 23) k,
     unnest(ARRAY[%(names)s]) WITH ORDINALITY u(name, l) JOIN probers p ON p.name = u.name
WHERE u.l < %(n)d OR k >= %(late)d
ORDER BY k, t.id, u.l;
""" % {"t0": t0, "t1": t1, "year": t1 - t0, "grace": 2 * HISTORY_INTERVAL_S * 1000,
       "names": names_sql(probers), "n": len(probers), "late": late}


def draws_sql(groups, per, t0, t1):
    """SQL making the temporary tables incidents and starts: `per` outage
    draws per target, seven in ten at independent random times (`at`),
    three in ten in one of 150 incidents (g, k) of the target's group (a
    minute from each other), so that the correlation has bursts to find.
    Durations: 30 s plus an exponential of mean 8 min, one in fifty 1-8 h;
    cls, the class (CLASSES_SQL)."""
    return """
CREATE TEMP TABLE incidents AS
SELECT g, k, %(t0)d + random() * (%(year)d - 2 * 86400) AS at
FROM generate_series(1, %(groups)d) g, generate_series(1, 150) k;
CREATE TEMP TABLE starts AS
SELECT t.id AS target_id, split_part(t.grp, '-', 2)::int AS g,
       CASE WHEN random() < 0.3 THEN 1 + floor(random() * 150)::int END AS k,
       %(t0)d + random() * (%(year)d - 2 * 86400) AS at,
       CASE WHEN random() < 0.02 THEN 3600 + random() * 7 * 3600
            ELSE 30 - ln(1 - random()) * 480 END AS dur,
       floor(random() * 4)::int AS cls
FROM targets t, generate_series(1, %(per)d);
""" % {"t0": t0, "year": t1 - t0, "groups": groups, "per": per}


def synth_base(conninfo, n, groups, per, t0, t1, seed):
    """Targets, coverage spans and outages: the tables whose shape stays."""
    return sql(conninfo, """
SELECT setseed(%(seed)f);
INSERT INTO probers (name, location) VALUES ('%(hp)s', '%(loc)s');
%(targets)s
%(spans)s
%(draws)s
-- An outage ends before the next one of its target starts.
INSERT INTO outages (target_id, prober_id, started_at, ended_at, err_class, message)
SELECT target_id, (SELECT id FROM probers WHERE name = '%(hp)s'), s,
       greatest(s, least(s + dur * interval '1 second', nxt - interval '1 second')),
       %(classes)s[cls + 1], %(messages)s[cls + 1]
FROM (SELECT target_id, s, dur, cls,
             lead(s) OVER (PARTITION BY target_id ORDER BY s) AS nxt
      FROM (SELECT DISTINCT ON (x.target_id, s) x.target_id, x.dur, x.cls,
                   to_timestamp(coalesce(i.at + random() * 60, x.at)) AS s
            FROM starts x LEFT JOIN incidents i ON i.g = x.g AND i.k = x.k
            ORDER BY x.target_id, s) d) o
ORDER BY s
ON CONFLICT DO NOTHING;
DROP TABLE starts;
DROP TABLE incidents;
SELECT count(*) FROM outages;
""" % {"seed": seed, "hp": HISTORY_PROBER, "loc": HISTORY_LOCATION,
       "targets": targets_sql(n, groups),
       "spans": spans_sql(t0, t1, [HISTORY_PROBER]), "draws": draws_sql(groups, per, t0, t1),
       "classes": CLASSES_SQL, "messages": MESSAGES_SQL})


def synth_failures(conninfo, t0, t1, probers=(HISTORY_PROBER,)):
    """The evidence: one failing result per probe interval through each
    outage, and about a hundred lone failures per target and prober of
    `probers` (a failing probe that no outage confirmed), in time order.
    Kept apart so that it is easy to adapt to the failures table: where its
    message may be NULL (schema 003: "the same as the previous failure's of
    this target and prober in the same UTC month"), a repeated message is
    stored as NULL, as the writer does."""
    nullable = sql(conninfo, "SELECT is_nullable FROM information_schema.columns"
                   " WHERE table_schema = 'public' AND table_name = 'failures'"
                   " AND column_name = 'message';") == "YES"
    message = ("CASE WHEN message IS NOT DISTINCT FROM lag(message) OVER ("
               "PARTITION BY target_id, prober_id, date_trunc('month', at AT TIME ZONE 'UTC')"
               " ORDER BY at) THEN NULL ELSE message END" if nullable else "message")
    return sql(conninfo, """
CREATE TEMP TABLE evidence AS
SELECT o.target_id, o.prober_id, f.at,
       CASE o.err_class WHEN 'timeout' THEN 2000000 ELSE 300 + (random() * 2000)::int END
           AS latency_us,
       o.err_class, o.message
FROM outages o,
     LATERAL generate_series(o.started_at, o.ended_at - interval '1 microsecond',
                             interval '%(iv)d seconds') f(at);
INSERT INTO evidence
SELECT t.id, p.id,
       to_timestamp(%(t0)d + floor(random() * (%(t1)d - %(t0)d - 3600) / %(iv)d) * %(iv)d),
       2000000, 'timeout', 'no answer within 2000 ms'
FROM targets t, probers p, generate_series(1, 100)
WHERE p.name IN (%(hp)s);
INSERT INTO failures (target_id, prober_id, at, latency_us, err_class, message)
SELECT target_id, prober_id, at, latency_us, err_class, %(message)s
FROM (SELECT DISTINCT ON (target_id, at, prober_id) * FROM evidence
      ORDER BY target_id, at, prober_id) e
ORDER BY at;
DROP TABLE evidence;
SELECT count(*) FROM failures;
""" % {"iv": HISTORY_INTERVAL_S, "t0": t0, "t1": t1, "hp": names_sql(probers),
       "message": message})


# Latency histogram of an ordinary hour (14 buckets, emp_hist_bounds_ms).
HIST = [0, 0, 4, 22, 26, 6, 2, 0, 0, 0, 0, 0, 0, 0]


def ensure_partitions(conninfo, t0, t1):
    """Monthly partitions over the history, where the schema has them (what
    anything writing history does first)."""
    if sql(conninfo, "SELECT to_regproc('emp_ensure_partitions') IS NOT NULL;") == "t":
        sql(conninfo, "SELECT emp_ensure_partitions(to_timestamp(%d), to_timestamp(%d));"
            % (t0 - DAY, t1 + DAY))


def synth_rollups(conninfo, t0, t1, days, probers=(HISTORY_PROBER,)):
    """Probe counts per target, prober of `probers` and hour (60 an hour,
    the failing ones from the failures table), latency sum and max, a
    latency histogram, over the last `days` days. The layout of this table
    is changing; this function alone knows it: hourly rows (schema 001), or
    one row per UTC day with the hours in arrays (schema 003). Returns the
    row count, or a note when the table has a shape it does not know."""
    cols = columns(conninfo, "rollups")
    lo = max(t0, t1 - days * DAY) // DAY * DAY
    hi = (t1 - 3600) // 3600 * 3600
    fail_hours = """
CREATE TEMP TABLE fail_hours AS
SELECT target_id, prober_id, date_trunc('hour', at) AS hour, count(*)::int AS n
FROM failures WHERE at >= to_timestamp(%(lo)d) AND at < to_timestamp(%(hi)d)
GROUP BY 1, 2, 3;
""" % {"lo": lo, "hi": hi}
    v = {"lo": lo, "hi": hi, "hp": names_sql(probers), "iv": HISTORY_INTERVAL_S,
         "per_hour": 3600 // HISTORY_INTERVAL_S,
         "hist": "{" + ",".join(map(str, HIST)) + "}",
         "hist24": "{" + ",".join(map(str, HIST * 24)) + "}"}
    if "hour" in cols and "hist" in cols:
        return sql(conninfo, fail_hours + """
CREATE INDEX ON fail_hours (target_id, hour);
INSERT INTO rollups (target_id, prober_id, hour, ok, degraded, fail, latency_sum_us,
                     latency_max_us, hist)
SELECT t.id, p.id, h, %(per_hour)d - coalesce(f.n, 0), 0, coalesce(f.n, 0),
       (%(per_hour)d - coalesce(f.n, 0)) * 1800, 9000, '%(hist)s'
FROM targets t CROSS JOIN probers p
     CROSS JOIN generate_series(to_timestamp(%(lo)d), to_timestamp(%(hi)d),
                                interval '1 hour') h
     LEFT JOIN fail_hours f ON f.target_id = t.id AND f.prober_id = p.id AND f.hour = h
WHERE p.name IN (%(hp)s)
ORDER BY h, t.id;
DROP TABLE fail_hours;
SELECT count(*) FROM rollups;
""" % v)
    if "day" in cols and "hist" in cols:
        # Days without failures share one set of arrays; a day with some
        # gets its fail counts hour by hour (scattered from the hours that
        # had any). The latency histogram and figures are those of an
        # ordinary day either way.
        return sql(conninfo, fail_hours + """
CREATE TEMP TABLE fail_days AS
SELECT target_id, prober_id, (hour AT TIME ZONE 'UTC')::date AS day,
       array_agg(extract(hour FROM hour AT TIME ZONE 'UTC')::int) AS hs,
       array_agg(n) AS ns
FROM fail_hours GROUP BY 1, 2, 3;
CREATE INDEX ON fail_days (target_id, day);
INSERT INTO rollups (target_id, prober_id, day, ok, degraded, fail, latency_sum_us,
                     latency_max_us, hist)
SELECT t.id, p.id, d::date,
       ARRAY(SELECT greatest(0, %(per_hour)d - coalesce(f.ns[array_position(f.hs, g)], 0))
             FROM generate_series(0, 23) g ORDER BY g),
       array_fill(0, ARRAY[24]),
       ARRAY(SELECT coalesce(f.ns[array_position(f.hs, g)], 0)
             FROM generate_series(0, 23) g ORDER BY g),
       array_fill((%(per_hour)d * 1800)::bigint, ARRAY[24]),
       array_fill(9000, ARRAY[24]),
       '%(hist24)s'
FROM targets t CROSS JOIN probers p
     CROSS JOIN generate_series(to_timestamp(%(lo)d), to_timestamp(%(hi)d),
                                interval '1 day') d
     LEFT JOIN fail_days f ON f.target_id = t.id AND f.prober_id = p.id AND f.day = d::date
WHERE p.name IN (%(hp)s)
ORDER BY d, t.id;
DROP TABLE fail_days;
DROP TABLE fail_hours;
SELECT count(*) FROM rollups;
""" % v)
    return "skipped (rollups has columns %s)" % ",".join(sorted(cols))


def synthesize(db, a, now, base=None, probers=(HISTORY_PROBER,)):
    """A year (a.days) of history up to `now`: base(conninfo, t0, t1) makes
    the probers, targets, spans and outages (synth_base by default) and
    returns psql's output ending with the outage count; the failures and
    rollups of `probers` follow. Returns (t0, t1, outages)."""
    t1 = now
    t0 = t1 - a.days * DAY
    t = time.time()
    if base is None:
        out = synth_base(db.conninfo, a.targets, a.groups, a.per, t0, t1, 0.42)
    else:
        out = base(db.conninfo, t0, t1)
    n_out = int(out.splitlines()[-1])
    t_base = time.time()
    ensure_partitions(db.conninfo, t0, t1)
    n_fail = synth_failures(db.conninfo, t0, t1, probers).splitlines()[-1]
    t_fail = time.time()
    n_roll = synth_rollups(db.conninfo, t0, t1, a.rollup_days, probers).splitlines()[-1]
    t_roll = time.time()
    # What autovacuum would have done to a store this old: statistics for
    # the planner and the visibility map for index-only scans.
    sql(db.conninfo, "VACUUM ANALYZE targets, spans, outages, failures, rollups;")
    # The writes of the synthesis reach the data files now, not while
    # requests are being timed.
    sql(db.conninfo, "CHECKPOINT;")
    t_vac = time.time()
    size = sql(db.conninfo, "SELECT pg_size_pretty(pg_database_size(current_database()));")
    log("synthesized %d targets in %d groups, %d outages (%.1f s), failures %s (%.1f s),"
        " rollups %s (%.1f s), vacuum %.1f s; %.1f s in all, database %s"
        % (a.targets, a.groups, n_out, t_base - t, n_fail, t_fail - t_base, n_roll,
           t_roll - t_fail, t_vac - t_roll, t_vac - t, size))
    return t0, t1, n_out


# ---- request paths ----------------------------------------------------------

WINDOWS = [(DAY, 2), (7 * DAY, 3), (30 * DAY, 3), (90 * DAY, 3), (365 * DAY, 1)]


def window(rng, t0, t1):
    spans = [w for w, k in WINDOWS for _ in range(k)]
    w = rng.choice(spans)
    w = min(w, t1 - t0)
    to = rng.randint(t0 + w, t1)
    return to - w, to


def paths_for(kind, rng, a, t0, t1, count):
    names = [name_of(i) for i in range(1, a.targets + 1)]
    groups = sorted({group_of(i, a.groups) for i in range(1, a.targets + 1)})
    out = []
    for _ in range(count):
        name = rng.choice(names)
        group = rng.choice(groups)
        f, t = window(rng, t0, t1)
        if kind == "uptime":
            q = "" if rng.random() < 0.1 else "?from=%d&to=%d" % (f, t)
            out.append("/api/v1/targets/%s/uptime%s" % (name, q))
        elif kind == "outages":
            fmt = "&format=csv" if rng.random() < 0.1 else ""
            out.append("/api/v1/targets/%s/outages?from=%d&to=%d%s" % (name, f, t, fmt))
        elif kind == "reliability":
            # Half as the status page asks (the last 90 days up to now).
            if rng.random() < 0.5:
                f, t = t1 - 90 * DAY, t1
            out.append("/api/v1/targets/%s/reliability?from=%d&to=%d" % (name, f, t))
        elif kind == "group_rel":
            out.append("/api/v1/groups/%s/reliability?from=%d&to=%d" % (group, f, t))
        elif kind == "correlation":
            ws = rng.choice(["", "&window_s=60", "&window_s=300"])
            out.append("/api/v1/groups/%s/correlation?from=%d&to=%d%s" % (group, f, t, ws))
        elif kind == "sla":
            w = rng.choice([30, 60, 90]) * DAY
            to = rng.randint(t0 + w, t1)
            out.append("/api/v1/targets/%s/sla?from=%d&to=%d" % (name, to - w, to))
        elif kind == "status":
            out.append("/api/v1/status")
        elif kind == "status_group":
            out.append("/api/v1/status?group=%s" % group)
        else:
            raise ValueError(kind)
    return out


# ---- measurement ------------------------------------------------------------

def check_paths(port, paths):
    """Every kind of request answers 200 before it is timed."""
    for p in paths:
        url = "http://127.0.0.1:%d%s" % (port, p)
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                body = r.read()
                if r.status != 200:
                    return "%s: HTTP %d" % (p, r.status)
                if "format=csv" not in p:
                    json.loads(body)
        except urllib.error.HTTPError as e:
            return "%s: HTTP %d %s" % (p, e.code, e.read()[:300])
        except (OSError, ValueError) as e:
            return "%s: %s" % (p, e)
    return None


def run_wrk(a, port, path_file, seconds):
    cmd = [a.wrk, "-t%d" % a.threads, "-c%d" % a.connections, "-d%ds" % seconds,
           "--timeout", "10s", "--latency", "-s", LUA, "http://127.0.0.1:%d" % port,
           "--", path_file]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^RESULT (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or m is None:
        raise RuntimeError("wrk failed (%d): %s %s" % (out.returncode, out.stdout[-1500:],
                                                        out.stderr[-1500:]))
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return r


def cpu_s(pid):
    """User and system CPU seconds of a process (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def backends(db):
    """Process ids of the server's connections to the database (the API's
    pool, the writer), for their CPU time."""
    out = sql(db.conninfo, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
              " AND pid <> pg_backend_pid();")
    return [int(x) for x in out.split()]


def cpu_of(pids):
    """CPU seconds of each process, by pid."""
    return {p: cpu_s(p) for p in pids}


def cpu_spent(before, after):
    """CPU seconds spent between two cpu_of() readings by the processes
    still there at the second."""
    return sum(max(0.0, after[p] - before[p]) for p in before if after.get(p, 0.0) > 0.0)


def start_serve(a, db, prober=None):
    """bench_target, and `empiric serve` with the a.targets targets probing
    it once an hour and two SLAs over every group; `prober` is the
    configuration's "prober" object (SERVE_PROBER in the history's
    location by default: one vantage point, nothing to combine). Returns (the target's Popen, the Empiric)."""
    tport = free_port()
    target = subprocess.Popen([a.target, str(tport), "3600"])
    targets = [{"name": name_of(i), "kind": "http", "group": group_of(i, a.groups),
                "url": "http://127.0.0.1:%d/%d" % (tport, i),
                "interval_ms": 3600000, "timeout_ms": 2000}
               for i in range(1, a.targets + 1)]
    groups = sorted({t["group"] for t in targets})
    slas = [{"name": "monthly-outages", "objective": 99.9, "period": "month",
             "credits": [{"below": 99.9, "credit_percent": 10},
                         {"below": 99.0, "credit_percent": 25}],
             "groups": groups},
            {"name": "quarterly-minutes", "objective": 99.5, "period": "quarter",
             "downtime_rule": {"kind": "minutes", "max_failed_fraction": 0.0},
             "groups": groups}]
    emp = Empiric(a.empiric, db, targets, prober=SERVE_PROBER,
                  extra={"slas": slas, "prober": prober or {"name": SERVE_PROBER,
                                                            "location": HISTORY_LOCATION}})
    try:
        emp.start()
    except BaseException:
        stop_target(target)
        raise
    time.sleep(2)  # serve computes the status once at start
    return target, emp


def measure(a, emp, db, tmp, label, paths):
    """wrk at a.connections over `paths` (after a warm-up of a.warmup s),
    each kind of request checked first; the figures with the CPU per
    request of empiric (cpu_ms) and of its PostgreSQL connections (pg_ms)."""
    problem = check_paths(emp.port, sorted(set(paths))[:3] + paths[:5])
    if problem is not None:
        raise RuntimeError("%s: %s" % (label, problem))
    pf = os.path.join(tmp, label + ".paths")
    with open(pf, "w") as f:
        f.write("\n".join(paths) + "\n")
    if a.warmup > 0:
        run_wrk(a, emp.port, pf, a.warmup)
    pids = backends(db)
    c0, g0 = cpu_s(emp.proc.pid), cpu_of(pids)
    r = run_wrk(a, emp.port, pf, a.duration)
    n = max(1, r["requests"])
    r["cpu_ms"] = (cpu_s(emp.proc.pid) - c0) * 1000 / n
    r["pg_ms"] = cpu_spent(g0, cpu_of(pids)) * 1000 / n
    return r


def stop_target(target):
    target.send_signal(signal.SIGTERM)
    try:
        target.wait(timeout=30)
    except subprocess.TimeoutExpired:
        target.kill()
        target.wait(timeout=10)


def stop_all(emp, target, db, tmp):
    """Stop what start_serve started, drop the database, remove tmp."""
    try:
        if emp is not None:
            emp.stop()
    finally:
        if target is not None:
            stop_target(target)
        if db is not None:
            db.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def add_args(ap, default_kinds):
    """The arguments of this bench, which bench_vantage takes too."""
    ap.add_argument("--empiric", required=True)
    ap.add_argument("--target", required=True, help="bench_target, probed once an hour")
    ap.add_argument("--schema", required=True)
    ap.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--groups", type=int, default=20)
    ap.add_argument("--per", type=int, default=110, help="outages drawn per target")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--rollup-days", type=int, default=365)
    ap.add_argument("--duration", type=int, default=15, help="seconds of wrk per measurement")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of wrk before each")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated endpoints (default: %s)"
                    % ",".join(default_kinds))
    ap.add_argument("--quick", action="store_true",
                    help="200 targets, 5 s per measurement: for development")


def parse_args(ap, bench, default_kinds, more_ok=True, more_text=""):
    """ap's arguments (add_args and the bench's own), checked: exits with
    what is wrong, naming `bench`; more_ok(a) checks the bench's own, and
    more_text says their ranges. Returns (arguments, endpoints)."""
    a = ap.parse_args()
    if a.quick:
        a.targets = min(a.targets, 200)
        a.groups = min(a.groups, 4)
        a.duration = min(a.duration, 5)
        a.warmup = min(a.warmup, 1)
    kinds = [k for k in a.only.split(",") if k] or default_kinds
    bad = [k for k in kinds if k not in ENDPOINTS]
    if bad:
        sys.exit("%s: unknown endpoint %s (known: %s)" % (bench, ",".join(bad),
                                                         ",".join(ENDPOINTS)))
    if not (10 <= a.targets <= 5000 and 1 <= a.groups <= min(99, a.targets)
            and 1 <= a.per <= 1000
            and 7 <= a.days <= 3650 and 0 <= a.rollup_days and 1 <= a.duration <= 120
            and 0 <= a.warmup <= 30 and 1 <= a.connections <= 256
            and 1 <= a.threads <= a.connections and (more_ok is True or more_ok(a))):
        sys.exit("%s: a parameter is out of range (--targets 10 to 5000, --groups 1 to 99,"
                 " --per 1 to 1000, --days 7 to 3650, --duration 1 to 120, --warmup 0 to 30,"
                 " --connections 1 to 256, --threads 1 to --connections%s)" % (bench, more_text))
    if not os.access(a.wrk, os.X_OK):
        sys.exit("%s: wrk not found (%s)" % (bench, a.wrk))
    return a, kinds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_args(ap, ENDPOINTS)
    a, kinds = parse_args(ap, "bench_queries", ENDPOINTS)

    started = time.time()
    rng = random.Random(6)
    now = int(time.time()) // 60 * 60
    tmp = tempfile.mkdtemp(prefix="empiric-bench-queries-")
    db = target = emp = None
    results = {}
    error = None
    n_outages = 0
    try:
        db = Database(a.empiric, a.schema)
        t0, t1, n_outages = synthesize(db, a, now)

        target, emp = start_serve(a, db)
        log("empiric serve on port %d: %d targets configured, each probed once an hour"
            " (%.0f s since start)" % (emp.port, a.targets, time.time() - started))

        for kind in kinds:
            paths = paths_for(kind, rng, a, t0, t1, 4000)
            r = results[kind] = measure(a, emp, db, tmp, kind, paths)
            log("  %-13s %7.1f req/s  p50 %7.2f ms  p99 %7.2f ms  (%s)"
                % (kind, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3, paths[0]))
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        error = str(e)
        log("bench_queries: %s" % error)
    except SystemExit as e:  # the harness gave up (and said why)
        error = "exit %s" % e.code
    finally:
        stop_all(emp, target, db, tmp)

    done = [k for k in kinds if k in results]
    log("")
    log("%d targets, %d groups, %d outages over %d days; wrk -t%d -c%d -d%ds per endpoint;"
        " cpu: milliseconds of CPU per request, empiric / its PostgreSQL connections"
        % (a.targets, a.groups, n_outages, a.days, a.threads, a.connections, a.duration))
    log("%-13s %8s %8s %8s %8s %8s %8s %7s %12s" % (
        "endpoint", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-2xx", "errors",
        "cpu ms/req"))
    over = []
    for kind in done:
        r = results[kind]
        p99 = r["p99_us"] / 1e3
        if p99 >= GOAL_P99_MS or r["status"] or r["errors"]:
            over.append(kind)
        log("%-13s %8.1f %8.2f %8.2f %8.2f %8.1f %8d %7d %5.2f / %4.2f%s"
            % (kind, r["rps"], r["p50_us"] / 1e3, r["p90_us"] / 1e3, p99, r["max_us"] / 1e3,
               r["status"], r["errors"], r["cpu_ms"], r["pg_ms"],
               "" if p99 < GOAL_P99_MS else "  over the goal"))
    missing = [k for k in kinds if k not in results]
    verdict = "met" if not over else "missed by " + ", ".join(over)
    if missing:
        verdict += "; not measured: " + ", ".join(missing)
    log("goal: p99 < %.0f ms for each: %s" % (GOAL_P99_MS, verdict))
    log("%.0f s in all" % (time.time() - started))
    fields = ["targets=%d" % a.targets, "outages_total=%d" % n_outages]
    for kind in done:
        r = results[kind]
        k = KEYS[kind]
        fields.append("%s_p50_ms=%.2f" % (k, r["p50_us"] / 1e3))
        fields.append("%s_p99_ms=%.2f" % (k, r["p99_us"] / 1e3))
        fields.append("%s_rps=%.0f" % (k, r["rps"]))
    fields.append("non2xx=%d" % sum(results[k]["status"] for k in done))
    fields.append("errors=%d" % sum(results[k]["errors"] for k in done))
    fields.append("goal_met=%d" % (0 if over or missing else 1))
    if error is not None:
        fields.append("failed=1")
    print("BENCH queries " + " ".join(fields), flush=True)
    return 1 if error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
