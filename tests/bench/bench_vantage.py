"""Benchmark of the combined verdict: bench_queries' year of history for
1,000 targets, recorded by one prober in each of three locations
(eu-west, us-east, ap-south), and the read API at 16 connections over it,
each figure both as the locations' verdict combined (the default) and as
one location's alone, in the same run.

Each prober keeps its own record, as a real one does:
  spans     24 a target over the year with gaps of up to 30 minutes at
            other times for each prober, a two-day gap in one target of ten
            (at another time for each location), and the last location
            joining a month after the others;
  outages   the target's own (bench_queries' draws: independent, or in one
            of the group's incidents) seen by every location, each from its
            own first failing probe (up to a probe interval apart), one in
            ten missed by one location (a fault on some paths only); and
            outages of one location alone: its network cut off from about
            a third of the targets 40 times a year, and ten lone ones per
            target (a route), which the combination must call partial;
  evidence  the failing probes of each prober's outages, lone failures, and
            each prober's rollups.

So the combination has real work: up to three timelines a target, partial
time, quorum edges where a location is in a gap or not yet there.

Measured (wrk -t2 -c16 for --duration s each, after a warm-up), for each
endpoint the combined figure and the single-location baseline:

  uptime       /api/v1/targets/{name}/uptime; baseline ?location=eu-west
  reliability  /api/v1/targets/{name}/reliability; baseline ?location=eu-west
  status       /api/v1/status, served from the copy a background thread
               refreshes; its ?location= is computed on each request and
               never kept, so its baseline is measured after the three
               probers are moved into one location (the same rows and the
               same path, one vantage point: nothing to combine)

(--only adds outages, sla, group_rel, correlation with ?location=, and
status_group like the status.) Goal
(issue 14): every combined p99 under 50 ms. Prints a table and ends with
one line `BENCH vantage key=value ...`.

  EMPIRIC_TEST_DB=... python3 tests/bench/bench_vantage.py \\
      --empiric build/empiric --target build/bench_target --schema schema \\
      [--quick] [--locations 3] [--duration 15] [--only uptime,status]"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_queries as bq  # noqa: E402
from harness import Database  # noqa: E402

LOCATION_NAMES = ["eu-west", "us-east", "ap-south", "sa-east", "af-south", "ap-east"]
DEFAULT_KINDS = ["uptime", "reliability", "status"]
# Endpoints whose baseline is ?location=; the status page's (kept in a
# copy, which ?location= is not) is one location made of the same probers.
LOCATION_KINDS = ("uptime", "outages", "reliability", "sla", "group_rel", "correlation")
SEED = 0.14


def location_names(n):
    return LOCATION_NAMES[:n]


def prober_of(location):
    return "history-" + location


def synth_locations(conninfo, a, t0, t1):
    """Probers, targets, each prober's spans and outages (see the module's
    text); psql's output ends with the outage count."""
    locs = location_names(a.locations)
    probers = [prober_of(x) for x in locs]
    year = t1 - t0
    return bq.sql(conninfo, """
SELECT setseed(%(seed)f);
INSERT INTO probers (name, location)
SELECT 'history-' || loc, loc FROM unnest(ARRAY[%(locs)s]) WITH ORDINALITY u(loc, l) ORDER BY l;
CREATE TEMP TABLE hp AS
SELECT p.id, u.l::int AS l
FROM unnest(ARRAY[%(names)s]) WITH ORDINALITY u(name, l) JOIN probers p ON p.name = u.name;
%(targets)s
%(spans)s
%(draws)s
-- The target's own outages; one in ten is not seen from one location
-- (`blind`).
CREATE TEMP TABLE own AS
SELECT x.target_id, coalesce(i.at + random() * 60, x.at) AS at, x.dur, x.cls,
       CASE WHEN random() < 0.1 THEN 1 + floor(random() * %(nloc)d)::int ELSE 0 END AS blind
FROM starts x LEFT JOIN incidents i ON i.g = x.g AND i.k = x.k;
-- Each location sees them from its own first failing probe to its own first
-- passing one (each up to a probe interval after the truth).
CREATE TEMP TABLE cand AS
SELECT o.target_id, p.id AS prober_id, o.at + random() * %(iv)d AS s,
       o.at + o.dur + random() * %(iv)d AS e, o.cls
FROM own o JOIN hp p ON p.l <> o.blind;
-- Each location's network: 40 times a year cut off from a third of the
-- targets for a minute plus an exponential of mean 5 min (one in ten 1-3 h).
CREATE TEMP TABLE net AS
SELECT p.id AS prober_id, %(t0)d + random() * (%(year)d - 2 * 86400) AS at,
       CASE WHEN random() < 0.1 THEN 3600 + random() * 2 * 3600
            ELSE 60 - ln(1 - random()) * 300 END AS dur
FROM hp p, generate_series(1, 40);
INSERT INTO cand
SELECT target_id, prober_id, s, s + dur, 0
FROM (SELECT t.id AS target_id, n.prober_id, n.at + random() * 30 AS s, n.dur
      FROM net n, targets t WHERE random() < 0.33) x;
-- And ten lone ones per target and location (a route): resets.
INSERT INTO cand
SELECT target_id, prober_id, s, s + 30 - ln(1 - random()) * 300, 3
FROM (SELECT t.id AS target_id, p.id AS prober_id,
             %(t0)d + random() * (%(year)d - 2 * 86400) AS s
      FROM targets t, hp p, generate_series(1, 10)) x;
-- Nothing before the last location's first span.
DELETE FROM cand c
USING (SELECT s.prober_id, extract(epoch FROM min(s.started_at)) AS since
       FROM spans s JOIN hp p ON p.id = s.prober_id AND p.l = %(nloc)d
       GROUP BY 1) j
WHERE c.prober_id = j.prober_id AND c.s < j.since;
-- One prober's outages do not overlap: each ends before its next starts.
INSERT INTO outages (target_id, prober_id, started_at, ended_at, err_class, message)
SELECT target_id, prober_id, to_timestamp(s),
       greatest(to_timestamp(s), least(to_timestamp(e), to_timestamp(nxt) - interval '1 second')),
       %(classes)s[cls + 1], %(messages)s[cls + 1]
FROM (SELECT target_id, prober_id, s, e, cls,
             lead(s) OVER (PARTITION BY target_id, prober_id ORDER BY s) AS nxt
      FROM cand) c
ORDER BY s
ON CONFLICT DO NOTHING;
DROP TABLE cand;
DROP TABLE net;
DROP TABLE own;
DROP TABLE starts;
DROP TABLE incidents;
DROP TABLE hp;
SELECT count(*) FROM outages;
""" % {"seed": SEED, "locs": bq.names_sql(locs), "names": bq.names_sql(probers),
       "targets": bq.targets_sql(a.targets, a.groups),
       "spans": bq.spans_sql(t0, t1, probers, a.late),
       "draws": bq.draws_sql(a.groups, a.per, t0, t1), "nloc": a.locations,
       "iv": bq.HISTORY_INTERVAL_S, "t0": t0, "year": year, "late": a.late,
       "classes": bq.CLASSES_SQL, "messages": bq.MESSAGES_SQL}, timeout=1200)


def with_location(path, location):
    sep = "&" if "?" in path else "?"
    return path + sep + "location=" + urllib.parse.quote(location)


def get_json(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=60) as r:
        return json.loads(r.read())


def check_combination(port, a, t0, t1, base):
    """That the figures really are combined from every location, with
    partial time to report, and a line about it: over the year, for the
    first 20 targets, the combined outages and partial time beside each
    location's own outages."""
    n_targets = min(20, a.targets)
    locs = location_names(a.locations)
    combined = partial = 0
    own = {x: 0 for x in locs}
    seen = set()
    for i in range(1, n_targets + 1):
        q = "/api/v1/targets/%s/%%s?from=%d&to=%d" % (bq.name_of(i), t0, t1)
        u = get_json(port, q % "uptime")
        seen.update(u.get("locations") or [])
        partial += u.get("partial_s") or 0
        combined += len(get_json(port, q % "outages")["outages"])
        for x in locs:
            own[x] += len(get_json(port, with_location(q % "outages", x))["outages"])
    if sorted(seen) != sorted(locs) or partial <= 0:
        raise RuntimeError("the figures are not combined from %s: /uptime gave locations %s, "
                           "partial_s %.0f" % (",".join(locs), sorted(seen), partial))
    bq.log("combination, over the year for %d targets: %d combined outages, %.1f h partial;"
           " each location's own outages: %s; baseline location %s"
           % (n_targets, combined, partial / 3600.0,
              ", ".join("%s %d" % (x, own[x]) for x in locs), base))


def one_location(db, base, emp):
    """Move every history prober into location `base`: the same rows, one
    vantage point. Waits until the status page says so (its copy is
    refreshed every few seconds)."""
    bq.sql(db.conninfo, "UPDATE probers SET location = '%s' WHERE name LIKE 'history-%%';"
           % base.replace("'", "''"))
    deadline = time.time() + 60
    while time.time() < deadline:
        st = get_json(emp.port, "/api/v1/status?group=grp-01")
        if st["targets"] and all(t["locations"] <= 1 for t in st["targets"]):
            return
        time.sleep(1)
    raise RuntimeError("the status page still combined locations 60 s after the probers "
                       "were moved into one")


def fmt_row(label, r):
    if r is None:
        return "%-22s %8s %8s %8s %8s %12s" % (label, "-", "-", "-", "-", "-")
    return "%-22s %8.1f %8.2f %8.2f %8.2f %5.2f / %4.2f" % (
        label, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3, r["max_us"] / 1e3, r["cpu_ms"],
        r["pg_ms"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bq.add_args(ap, DEFAULT_KINDS)
    ap.add_argument("--locations", type=int, default=3)
    ap.add_argument("--late", type=int, default=2,
                    help="spans (of 24 in the year) the last location misses at the start")
    a, kinds = bq.parse_args(
        ap, "bench_vantage", DEFAULT_KINDS,
        lambda a: 2 <= a.locations <= len(LOCATION_NAMES) and 0 <= a.late <= 12,
        ", --locations 2 to %d, --late 0 to 12" % len(LOCATION_NAMES))

    started = time.time()
    rng = random.Random(14)
    now = int(time.time()) // 60 * 60
    locs = location_names(a.locations)
    base = locs[0]
    tmp = tempfile.mkdtemp(prefix="empiric-bench-vantage-")
    db = target = emp = None
    combined, single = {}, {}
    error = None
    n_outages = 0
    try:
        db = Database(a.empiric, a.schema)
        t0, t1, n_outages = bq.synthesize(
            db, a, now, base=lambda c, f, t: synth_locations(c, a, f, t),
            probers=[prober_of(x) for x in locs])
        # The serving process is one more prober, in the baseline location
        # (it probes each target once, at its start).
        target, emp = bq.start_serve(a, db, {"name": bq.SERVE_PROBER, "location": base})
        bq.log("empiric serve on port %d: %d targets seen from %d locations (%s)"
               " (%.0f s since start)" % (emp.port, a.targets, a.locations, ", ".join(locs),
                                          time.time() - started))
        check_combination(emp.port, a, t0, t1, base)

        paths = {k: bq.paths_for(k, rng, a, t0, t1, 4000) for k in kinds}
        for kind in kinds:
            r = combined[kind] = bq.measure(a, emp, db, tmp, kind, paths[kind])
            bq.log("  %-13s combined %7.1f req/s  p50 %7.2f ms  p99 %7.2f ms  (%s)"
                   % (kind, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3, paths[kind][0]))
            if kind not in LOCATION_KINDS:
                continue
            lp = [with_location(p, base) for p in paths[kind]]
            r = single[kind] = bq.measure(a, emp, db, tmp, kind + "-single", lp)
            bq.log("  %-13s single   %7.1f req/s  p50 %7.2f ms  p99 %7.2f ms  (%s)"
                   % (kind, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3, lp[0]))
        rest = [k for k in kinds if k not in LOCATION_KINDS]
        if rest:
            one_location(db, base, emp)
            bq.log("every history prober moved into %s" % base)
            for kind in rest:
                r = single[kind] = bq.measure(a, emp, db, tmp, kind + "-one", paths[kind])
                bq.log("  %-13s single   %7.1f req/s  p50 %7.2f ms  p99 %7.2f ms  (one location)"
                       % (kind, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3))
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        error = str(e)
        bq.log("bench_vantage: %s" % error)
    except SystemExit as e:  # the harness gave up (and said why)
        error = "exit %s" % e.code
    finally:
        bq.stop_all(emp, target, db, tmp)

    bq.log("")
    bq.log("%d targets, %d groups, %d locations, %d outages (all probers) over %d days;"
           " wrk -t%d -c%d -d%ds per measurement; single: ?location=%s, or (status)"
           " the probers moved into one location; cpu: milliseconds of CPU per request,"
           " empiric / its PostgreSQL connections"
           % (a.targets, a.groups, a.locations, n_outages, a.days, a.threads, a.connections,
              a.duration, base))
    bq.log("%-22s %8s %8s %8s %8s %12s" % ("endpoint", "req/s", "p50 ms", "p99 ms", "max ms",
                                          "cpu ms/req"))
    over = []
    fields = ["targets=%d" % a.targets, "locations=%d" % a.locations,
              "outages_total=%d" % n_outages]
    for kind in kinds:
        c, s = combined.get(kind), single.get(kind)
        ratio = c["p99_us"] / s["p99_us"] if c and s and s["p99_us"] else None
        bq.log(fmt_row(kind + " combined", c))
        bq.log(fmt_row(kind + " single", s) + (
            "" if ratio is None else "   combined/single p99 %.2f" % ratio))
        if c is None or c["p99_us"] / 1e3 >= bq.GOAL_P99_MS or c["status"] or c["errors"]:
            over.append(kind)
        k = bq.KEYS[kind]
        for suffix, r in (("", c), ("_single", s)):
            if r is not None:
                fields.append("%s%s_p50_ms=%.2f" % (k, suffix, r["p50_us"] / 1e3))
                fields.append("%s%s_p99_ms=%.2f" % (k, suffix, r["p99_us"] / 1e3))
                fields.append("%s%s_rps=%.0f" % (k, suffix, r["rps"]))
        if ratio is not None:
            fields.append("%s_p99_ratio=%.2f" % (k, ratio))
    done = list(combined.values()) + list(single.values())
    verdict = "met" if not over else "missed by " + ", ".join(over)
    bq.log("goal: combined p99 < %.0f ms for each: %s" % (bq.GOAL_P99_MS, verdict))
    bq.log("%.0f s in all" % (time.time() - started))
    fields.append("non2xx=%d" % sum(r["status"] for r in done))
    fields.append("errors=%d" % sum(r["errors"] for r in done))
    fields.append("goal_met=%d" % (0 if over else 1))
    if error is not None:
        fields.append("failed=1")
    print("BENCH vantage " + " ".join(fields), flush=True)
    return 1 if error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
