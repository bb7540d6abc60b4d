"""The statistics endpoints on history with known answers: imported outages
(`empiric import`), then reliability, group reliability, correlation and
outages over an empty window, a single failure, an outage still open at the
window edge and an unknown gap. Undefined figures must be null, never NaN."""

import os
import subprocess
import tempfile

from harness import Database, Empiric, check, parse_args

T0 = 1767225600  # 2026-01-01T00:00:00Z


def iso(s):
    import datetime
    return datetime.datetime.fromtimestamp(T0 + s, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def near(a, b, tol=1e-6):
    return a is not None and abs(a - b) <= tol


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    rows = [("a", 100, 200), ("b", 150, 250), ("c", 500, None), ("a", 1000, 1100),
            ("e", 300, 700)]
    d = tempfile.mkdtemp(prefix="empiric-stats-")
    path = os.path.join(d, "history.csv")
    with open(path, "w") as f:
        f.write("target,start,end,cause,group\n")
        for name, s, e in rows:
            f.write("%s,%s,%s,test,%s\n" % (name, iso(s), iso(e) if e is not None else "",
                                             "h" if name == "e" else "g"))
    r = subprocess.run([args.empiric, "--db", db.conninfo, "import", path, "--group-col",
                        "group"], capture_output=True, text=True, timeout=60)
    print(r.stdout, r.stderr)
    check(r.returncode == 0, "import of the crafted history")
    # Target e: observed [0, 400] and [600, 1000] only; its outage crosses
    # the gap.
    db.query("DELETE FROM spans WHERE target_id = (SELECT id FROM targets WHERE name = 'e');"
             "INSERT INTO spans (target_id, prober_id, started_at, ended_at, grace_ms)"
             " SELECT t.id, p.id, to_timestamp(%d), to_timestamp(%d), 0"
             " FROM targets t, probers p WHERE t.name = 'e' AND p.name = 'import'"
             " UNION ALL SELECT t.id, p.id, to_timestamp(%d), to_timestamp(%d), 0"
             " FROM targets t, probers p WHERE t.name = 'e' AND p.name = 'import'"
             % (T0, T0 + 400, T0 + 600, T0 + 1000))
    emp = Empiric(args.empiric, db, [])
    try:
        emp.start()
        run(emp)
    finally:
        emp.stop()
        db.drop()


def window(a, b):
    return "?from=%d&to=%d" % (T0 + a, T0 + b)


def run(emp):
    # Group g is observed from its first start to its last end: [100, 1100].
    st, a = emp.get("/api/v1/targets/a/reliability" + window(0, 2000))
    print("a:", {k: a[k] for k in ("up_s", "down_s", "unknown_s", "failures", "repairs")})
    check(st == 200, "GET reliability answers 200")
    check(near(a["up_s"], 800) and near(a["down_s"], 200) and near(a["unknown_s"], 1000),
          "a: 800 s up, 200 s down, 1000 s unknown")
    check(a["failures"] == 2 and a["repairs"] == 2, "a: two failures, two repairs")
    check(near(a["mttf_s"]["estimate"], 400) and near(a["mttr_s"]["estimate"], 100) and
          near(a["mtbf_s"], 500), "a: MTTF 400 s, MTTR 100 s, MTBF 500 s")
    lo, hi = a["mttf_s"]["ci95"]
    check(lo is not None and hi is not None and lo < 400 < hi, "a: MTTF interval around it")
    print("a ttr:", a["ttr"])
    check(near(a["ttr"]["p50"], 100) and a["ttr"]["completed"] + a["ttr"]["censored"] == 2,
          "a: repairs took 100 s")

    st, a2 = emp.get("/api/v1/targets/a/reliability" + window(0, 1050))
    check(a2["failures"] == 2 and a2["repairs"] == 1 and near(a2["down_s"], 150),
          "an outage open at the window edge: a failure, no repair, its part is down")
    check(a2["mttr_time_terminated"] is True, "MTTR then uses the time-terminated interval")

    st, e = emp.get("/api/v1/targets/e/reliability" + window(0, 1000))
    print("e:", {k: e[k] for k in ("up_s", "down_s", "unknown_s", "failures", "repairs")})
    check(near(e["down_s"], 200) and near(e["up_s"], 600) and near(e["unknown_s"], 200),
          "an outage across an unknown gap: only its observed part is down")
    check(e["failures"] == 1 and e["repairs"] == 1 and e["ttr"]["completed"] == 0,
          "it is a failure and a repair, but no repair time (its middle was not seen)")

    st, c = emp.get("/api/v1/targets/c/reliability" + window(0, 2000))
    check(c["failures"] == 1 and c["repairs"] == 1 and near(c["mttr_s"]["estimate"], 0),
          "a point failure: one failure, repaired at once")

    st, z = emp.get("/api/v1/targets/a/reliability" + window(5000, 6000))
    check(st == 200 and z["failures"] == 0 and z["availability"] is None and
          z["mttf_s"]["estimate"] is None and z["mttr_s"]["estimate"] is None and
          z["mtbf_s"] is None and z["weibull"]["shape"] is None,
          "an empty window: nothing made up, every undefined figure null")
    st, o = emp.get("/api/v1/targets/a/outages" + window(5000, 6000))
    check(st == 200 and o["outages"] == [], "no outages in an empty window")

    st, g = emp.get("/api/v1/groups/g/reliability" + window(0, 2000))
    check(st == 200 and g["targets"] == 3 and g["failures"] == 4 and
          near(g["down_s"], 300), "group g pooled: 3 targets, 4 failures, 300 s down")
    st, cor = emp.get("/api/v1/groups/g/correlation" + window(0, 2000))
    print("correlation:", {k: cor[k] for k in ("members", "failures", "bursts", "pairs")})
    check(cor["bursts"]["count"] == 1 and cor["bursts"]["largest"] == 2 and
          cor["bursts"]["sizes"] == {"2": 1}, "the failures of a and b 50 s apart: one burst")
    check(near(cor["bursts"]["fraction_in_bursts"], 0.5), "half the failures are in bursts")
    pair = [p for p in cor["pairs"] if {p["a"], p["b"]} == {"a", "b"}]
    check(len(pair) == 1 and near(pair[0]["both_down_s"], 50), "a and b were down together 50 s")
    st, cor = emp.get("/api/v1/groups/g/correlation" + window(0, 2000) + "&window_s=10")
    check(cor["bursts"]["count"] == 0, "with window_s=10 they are not a burst")
    st, cor = emp.get("/api/v1/groups/g/correlation" + window(5000, 6000))
    check(st == 200 and cor["all_down_ratio"] is None and cor["failures"] == 0,
          "correlation over an empty window: null ratio")
    st, body = emp.get("/api/v1/targets/a/sla")
    check(st == 404, "sla of a target no SLA covers -> 404")
    st, body = emp.get("/api/v1/targets/nope/reliability")
    check(st == 404, "reliability of an unknown target -> 404")
    st, body = emp.get("/api/v1/groups/g/reliability?from=x")
    check(st == 400, "bad time -> 400")


if __name__ == "__main__":
    main()
