"""Several vantage points (issue 14), end to end in network namespaces of
the test's own (netns.py): an HTTP target in namespace T, three `empiric
serve` probers in A, B and C (prober.name p-A, p-B, p-C, prober.location A,
B, C; one PostgreSQL in the root namespace, each its own spool and API
port), and the truth the test enacts, in wall times:

  1. A's link cut for 10 s;
  2. the target stopped (connections refused) for 8 s;
  3. A's and B's links cut for 8 s;
  4. B's prober killed (SIGKILL) for 10 s, then started again.

Checked today, in the store: each prober records its own outages. A has one
covering its cut and B and C none; all three one for the target's stop; A
and B one for their cut and C none; none for B's death; start and end of
each within interval + timeout of the truth. B observed nothing while dead
(its spans leave that time out), A and C observed all of it.

Then, through the API of one prober, the combined verdict (quorum 2):
A's cut alone is partial time with location A, not downtime; the
target's stop and the cut of A and B are one combined outage each, with
the locations that saw them, start and end within tolerance of the truth;
while B is dead the verdict is made by A and C, and B's own record is
unknown; ?location=A is A's own three outages; the target's page shows
each location up now and the verdict; /api/v1/probers lists the three.
Needs root; exits 77 otherwise. About 60 s."""

import math
import re
import subprocess
import time
from types import SimpleNamespace
from urllib.parse import quote

import netns
from harness import Empiric, OwnDatabase, PrivatePostgres, check, fail, parse_args

INTERVAL_MS = 500
TIMEOUT_MS = 400
TOLERANCE_S = (INTERVAL_MS + TIMEOUT_MS) / 1000.0
LOCATIONS = ["A", "B", "C"]
TARGET_NS = "T"
CUT_A_S = 10.0
STOP_S = 8.0
CUT_AB_S = 8.0
KILL_B_S = 10.0
# After a cut: the prober's connection to PostgreSQL retransmits with
# backoff, so its spooled results reach the store a few seconds later.
SETTLE_S = 4.0


def main():
    args = parse_args()
    netns.require()
    with netns.Network([TARGET_NS] + LOCATIONS) as net:
        pg = PrivatePostgres(listen=[net.cidr])
        probers = {}
        web = None
        try:
            db = OwnDatabase(args.empiric, args.schema, pg)
            web = netns.HttpTarget(net, TARGET_NS)
            # The probers reach PostgreSQL at the root namespace's address.
            remote = SimpleNamespace(conninfo="host=%s port=%d user=postgres dbname=empiric" %
                                     (net.root, pg.port))
            targets = [dict(name="svc", kind="http", url=web.url, interval_ms=INTERVAL_MS,
                            timeout_ms=TIMEOUT_MS, fail_threshold=2, recover_threshold=1)]
            for loc in LOCATIONS:
                probers[loc] = Empiric(
                    args.empiric, remote, targets, prober="p-" + loc,
                    extra={"prober": {"name": "p-" + loc, "location": loc},
                           "vantage": {"quorum": 2}},
                    host=net.addr(loc),
                    spawn=lambda argv, loc=loc, **kw: net.run(loc, argv, **kw))
            run(net, db, web, probers)
        finally:
            for emp in probers.values():
                if emp.proc is not None:
                    emp.stop()
            if web is not None:
                web.close()
            pg.destroy()


def run(net, db, web, probers):
    t_begin = time.time()
    for emp in probers.values():
        emp.start()
    time.sleep(3.0)
    truth = {}

    start = net.cut("A")
    time.sleep(CUT_A_S)
    truth["cut A"] = (start, net.restore("A"))
    time.sleep(SETTLE_S)

    start = web.stop()
    time.sleep(STOP_S)
    truth["target stopped"] = (start, web.start())
    time.sleep(SETTLE_S)

    start = net.cut("A")
    net.cut("B")
    time.sleep(CUT_AB_S)
    net.restore("A")
    truth["cut A and B"] = (start, net.restore("B"))
    time.sleep(SETTLE_S)

    probers["B"].kill()
    start = time.time()
    time.sleep(KILL_B_S)
    truth["B killed"] = (start, time.time())
    probers["B"].start()
    time.sleep(3.0)
    t_end = time.time()
    print("run: %.3f .. %.3f" % (t_begin, t_end), flush=True)
    for name, (s, e) in truth.items():
        print("truth: %-15s %.3f .. %.3f (%.2f s)" % (name, s, e, e - s), flush=True)

    check_own_outages(db, truth)
    check_own_spans(db, truth)
    check_combined(probers["C"], truth, t_begin, t_end)


# Which probers must have an outage of their own in each phase.
EXPECTED_DOWN = {
    "cut A": {"A"},
    "target stopped": {"A", "B", "C"},
    "cut A and B": {"A", "B"},
    "B killed": set(),
}


def own_outages(db):
    """{location: [(start, end or None), ...]} of target svc, by start."""
    rows = db.query(
        "SELECT p.location, extract(epoch FROM o.started_at), "
        "coalesce(extract(epoch FROM o.ended_at)::text, '') "
        "FROM outages o JOIN probers p ON p.id = o.prober_id "
        "JOIN targets t ON t.id = o.target_id WHERE t.name = 'svc' "
        "ORDER BY p.location, o.started_at")
    out = {loc: [] for loc in LOCATIONS}
    for line in rows.splitlines():
        loc, s, e = line.split("|")
        out.setdefault(loc, []).append((float(s), float(e) if e else None))
    return out


def check_own_outages(db, truth):
    want = {loc: sum(loc in d for d in EXPECTED_DOWN.values()) for loc in LOCATIONS}
    deadline = time.time() + 30
    while True:
        got = own_outages(db)
        done = all(len(got[loc]) >= want[loc] and all(e is not None for _, e in got[loc])
                   for loc in LOCATIONS)
        if done or time.time() > deadline:
            break
        time.sleep(0.5)
    for loc in LOCATIONS:
        print("p-%s outages: %s" % (loc, ["%.3f .. %s" % (s, "%.3f" % e if e else "open")
                                          for s, e in got[loc]]), flush=True)
    check(set(got) == set(LOCATIONS), "the probers are p-A, p-B, p-C in locations A, B, C")
    for loc in LOCATIONS:
        check(len(got[loc]) == want[loc] and all(e is not None for _, e in got[loc]),
              "p-%s recorded %d outages, all ended (got %d)" % (loc, want[loc], len(got[loc])))
    for phase, (ts, te) in truth.items():
        for loc in LOCATIONS:
            seen = [(s, e) for s, e in got[loc] if s < te + TOLERANCE_S and e > ts - TOLERANCE_S]
            if loc not in EXPECTED_DOWN[phase]:
                check(not seen, "%s: p-%s has no outage" % (phase, loc))
                continue
            check(len(seen) == 1, "%s: p-%s has one outage (%d)" % (phase, loc, len(seen)))
            s, e = seen[0]
            check(abs(s - ts) <= TOLERANCE_S and abs(e - te) <= TOLERANCE_S,
                  "%s: p-%s's outage starts %+.2f s and ends %+.2f s from the truth "
                  "(at most %.2f s)" % (phase, loc, s - ts, e - te, TOLERANCE_S))


def own_spans(db, loc):
    rows = db.query(
        "SELECT extract(epoch FROM s.started_at), extract(epoch FROM s.ended_at) "
        "FROM spans s JOIN probers p ON p.id = s.prober_id "
        "JOIN targets t ON t.id = s.target_id WHERE t.name = 'svc' AND p.location = '%s' "
        "ORDER BY s.started_at" % loc)
    return [tuple(float(x) for x in line.split("|")) for line in rows.splitlines()]


def uncovered(spans, ts, te):
    """Seconds of [ts, te] between one prober's spans (disjoint, sorted)."""
    cut = [x for s, e in spans if s < te and e > ts for x in (max(s, ts), min(e, te))]
    edges = [ts] + cut + [te]
    return sum(max(0.0, b - a) for a, b in zip(edges[0::2], edges[1::2]))


def check_own_spans(db, truth):
    ts, te = truth["B killed"]
    spans = own_spans(db, "B")
    inside = [(s, e) for s, e in spans if s < te and e > ts + 0.05]
    check(not inside, "B killed: p-B observed nothing from its death to its restart (%s)" %
          inside)
    check(any(s >= te for s, _ in spans), "p-B observes again after its restart")
    for loc in ("A", "C"):
        gap = uncovered(own_spans(db, loc), ts, te)
        check(gap <= 2 * INTERVAL_MS / 1000.0,
              "B killed: p-%s observed it all (%.2f s not covered)" % (loc, gap))


# ---- the combined verdict (issue 14), through the API -----------------------
#
# `api` is any prober's Empiric (they share the database), `truth` as built
# by run().

def window(ts, te, inner=True):
    """?from=&to= in whole seconds: inside [ts, te] (inner) or around it."""
    if inner:
        return "?from=%d&to=%d" % (math.ceil(ts), math.floor(te))
    return "?from=%d&to=%d" % (math.floor(ts) - 1, math.ceil(te) + 1)


def parse_time(s):
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def get_ok(api, path):
    status, body = api.get(path)
    if status != 200:
        fail("GET %s answered %d: %s" % (path, status, body))
    return body


def check_outages_match(outages, phases, truth, what):
    outages = sorted(outages, key=lambda o: o["start"])
    check(len(outages) == len(phases), "%s: %d outages (got %d: %s)" %
          (what, len(phases), len(outages), outages))
    for phase, o in zip(phases, outages):
        ts, te = truth[phase]
        check(o["end"] is not None, "%s: the outage of %s ended" % (what, phase))
        s, e = parse_time(o["start"]), parse_time(o["end"])
        check(abs(s - ts) <= TOLERANCE_S and abs(e - te) <= TOLERANCE_S,
              "%s: %s starts %+.2f s and ends %+.2f s from the truth (at most %.2f s)" %
              (what, phase, s - ts, e - te, TOLERANCE_S))
    return outages


def check_combined(api, truth, t_begin, t_end):
    all_q = window(t_begin, t_end, inner=False)
    svc = "/api/v1/targets/svc"

    # Cut A alone: no combined outage; that time is partial, with A.
    ts, te = truth["cut A"]
    q = window(ts + TOLERANCE_S, te - TOLERANCE_S)
    up = get_ok(api, svc + "/uptime" + q)
    span = up["up_s"] + up["down_s"] + up["unknown_s"]
    check(up["down_s"] == 0 and abs(up["partial_s"] - span) < 0.01,
          "cut A: all partial, no downtime (%s)" % up)
    check(up["partial_locations"] == ["A"], "cut A: partial with location A (%s)" %
          up["partial_locations"])
    check(sorted(up["locations"]) == LOCATIONS, "cut A: A, B and C observed")
    up = get_ok(api, svc + "/uptime" + all_q)
    check(abs(up["partial_s"] - CUT_A_S) <= 2 * TOLERANCE_S + 4 * INTERVAL_MS / 1000.0,
          "the whole run: partial_s %.2f is A's cut (%.1f s) and the edges of the others" %
          (up["partial_s"], CUT_A_S))

    # The target stopped, then A and B cut with quorum 2: one combined
    # outage each, with the locations that saw them.
    body = get_ok(api, svc + "/outages" + all_q)
    outages = check_outages_match(body["outages"], ["target stopped", "cut A and B"], truth,
                                  "combined")
    check(sorted(outages[0]["locations"]) == ["A", "B", "C"],
          "the target's stop was seen by A, B and C (%s)" % outages[0]["locations"])
    check(sorted(outages[1]["locations"]) == ["A", "B"],
          "the cut of A and B: locations A and B (%s)" % outages[1]["locations"])

    # B's prober dead: B unknown; the verdict made by A and C (up).
    ts, te = truth["B killed"]
    q = window(ts + 2 * TOLERANCE_S, te - TOLERANCE_S)
    up = get_ok(api, svc + "/uptime" + q)
    span = up["up_s"] + up["down_s"] + up["unknown_s"]
    check(up["unknown_s"] < 0.01 and up["down_s"] == 0 and up["partial_s"] == 0,
          "B killed: the combined verdict is up, made by A and C (%s)" % up)
    check(sorted(up["locations"]) == ["A", "C"], "B killed: A and C observed (%s)" %
          up["locations"])
    up_b = get_ok(api, svc + "/uptime" + q + "&location=B")
    check(abs(up_b["unknown_s"] - span) < 0.01, "B killed: B's own time is unknown (%s)" % up_b)

    # ?location=A: A's own record.
    body = get_ok(api, svc + "/outages" + all_q + "&location=" + quote("A"))
    check_outages_match(body["outages"], ["cut A", "target stopped", "cut A and B"], truth,
                        "?location=A")
    up_a = get_ok(api, svc + "/uptime" + all_q + "&location=A")
    truth_down = sum(truth[p][1] - truth[p][0] for p in ("cut A", "target stopped",
                                                         "cut A and B"))
    check(up_a["location"] == "A" and up_a["partial_s"] == 0
          and abs(up_a["down_s"] - truth_down) <= 6 * TOLERANCE_S,
          "?location=A: A's downtime %.2f s is its three outages (truth %.2f s)" %
          (up_a["down_s"], truth_down))
    status, _ = api.get(svc + "/uptime" + all_q + "&location=nowhere")
    check(status == 404, "?location= of no prober -> 404")

    # Now: every location up, all three observing, the configured quorum.
    body = get_ok(api, svc)
    v = body["vantage"]
    check(v["verdict"]["state"] == "up" and v["verdict"]["observing"] == 3
          and v["verdict"]["down"] == 0 and v["verdict"]["quorum"] == 2,
          "GET %s: up, 3 observing, 0 down, quorum 2 (%s)" % (svc, v["verdict"]))
    check(sorted((loc["location"], loc["state"]) for loc in v["locations"])
          == [(loc, "up") for loc in LOCATIONS],
          "GET %s: A, B and C each up (%s)" % (svc, v["locations"]))

    # The status page and the group's figures: combined, and A's own.
    def incidents(path):
        body = get_ok(api, path)
        t = [x for x in body["targets"] if x["name"] == "svc"][0]
        return t
    whole = get_ok(api, svc + "/uptime" + all_q)
    t = incidents("/api/v1/status")
    check(t["locations"] == 3 and len(t["incidents"]) == 2
          and abs(t["partial_s_90d"] - whole["partial_s"]) < 0.5,
          "status: svc seen from 3 locations, 2 incidents, its partial time (%d, %d, %.2f)" %
          (t["locations"], len(t["incidents"]), t["partial_s_90d"]))
    t = incidents("/api/v1/status?location=A")
    check(len(t["incidents"]) == 3 and t["partial_s_90d"] == 0,
          "status?location=A: A's own 3 incidents (%d)" % len(t["incidents"]))
    status, _ = api.get("/api/v1/status?location=nowhere")
    check(status == 404, "status?location= of no prober -> 404")

    # empiric report: the combined verdict, and --location A.
    def report(*extra):
        r = subprocess.run([api.binary, "--db", api.db.conninfo, "report", "--target", "svc",
                            "--from", str(int(t_begin) - 1), "--to", str(int(t_end) + 1),
                            "--config", api.config] + list(extra),
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            fail("empiric report %s: exit %d: %s" % (" ".join(extra), r.returncode, r.stderr))
        m = re.search(r"Events\s+(\d+) failures", r.stdout)
        if m is None:
            fail("empiric report %s printed no Events line:\n%s" % (" ".join(extra), r.stdout))
        return int(m.group(1))
    check(report() == 2, "empiric report: 2 failures, the combined outages")
    check(report("--location", "A") == 3, "empiric report --location A: A's own 3 failures")

    # The probers, from any of them.
    body = get_ok(api, "/api/v1/probers")
    got = sorted((p["name"], p["location"], p["alive"]) for p in body["probers"])
    check(got == [("p-A", "A", True), ("p-B", "B", True), ("p-C", "C", True)],
          "GET /api/v1/probers: p-A, p-B, p-C alive in A, B, C (%s)" % got)


if __name__ == "__main__":
    main()
