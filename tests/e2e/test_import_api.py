"""End to end with real history: `empiric import` of the LANL failure data
(tests/data), then the API over it: the groups, and per System the
failure bursts of /api/v1/groups/{group}/correlation equal to the figures an
independent script computed (tests/integration/lanl_reference.txt)."""

import os
import subprocess
import tempfile

from harness import Database, Empiric, check, fail, parse_args

HERE = os.path.dirname(os.path.abspath(__file__))
LANL = os.path.join(HERE, "..", "data", "lanl-failures-1996-2005.csv.xz")
REFERENCE = os.path.join(HERE, "..", "integration", "lanl_reference.txt")


def reference():
    groups = {}
    with open(REFERENCE) as f:
        for line in f:
            p = line.split()
            if p and p[0] == "group":
                groups[p[1]] = dict(targets=int(p[2]), outages=int(p[3]), mttr=float(p[5]),
                                    bursts=int(p[6]), in_bursts=int(p[7]), largest=int(p[8]))
            elif p and p[0] == "merged":
                groups[p[1]].update(failures=int(p[2]), down_s=int(p[3]), merged_mttr=float(p[4]),
                                    merged_bursts=int(p[5]), merged_in_bursts=int(p[6]),
                                    merged_largest=int(p[7]))
    return groups


def main():
    args = parse_args()
    if not os.path.exists(LANL):
        fail("the LANL data is missing: %s" % LANL)
    db = Database(args.empiric, args.schema)
    tmp = tempfile.mkdtemp(prefix="empiric-lanl-")
    csv = os.path.join(tmp, "lanl.csv")
    with open(csv, "wb") as out:
        subprocess.run(["xz", "-dc", LANL], stdout=out, check=True, timeout=60)
    emp = Empiric(args.empiric, db, [])
    try:
        r = subprocess.run([args.empiric, "--db", db.conninfo, "import", csv,
                            "--tz", "America/Denver", "--target-col", "System,nodenum",
                            "--group-col", "System", "--start-col", "Prob Started",
                            "--end-col", "Prob Fixed", "--time-format", "%m/%d/%Y %H:%M"],
                           capture_output=True, text=True, timeout=120)
        print(r.stdout)
        check(r.returncode == 3, "import exits 3: imported, with rows skipped (got %d)" %
              r.returncode)
        ref = reference()
        emp.start()
        status, body = emp.get("/api/v1/groups")
        got = {g["name"]: g["members"] for g in body["groups"]}
        check(status == 200 and got == {k: v["targets"] for k, v in ref.items()},
              "GET /api/v1/groups: the %d Systems with their node counts" % len(ref))
        status, body = emp.get("/api/v1/targets")
        check(status == 200 and len(body["targets"]) == sum(v["targets"] for v in ref.values()),
              "imported targets are listed")
        check(all(t["kind"] == "history" and t["state"] == "unknown" for t in body["targets"]),
              "as history targets of unknown state")
        window = "from=1990-01-01T00:00:00Z&to=2010-01-01T00:00:00Z"
        for name, want in sorted(ref.items(), key=lambda kv: int(kv[0])):
            status, c = emp.get("/api/v1/groups/%s/correlation?%s" % (name, window))
            if status != 200:
                fail("correlation of System %s: HTTP %d %s" % (name, status, c))
            b = c["bursts"]
            in_bursts = round((b["fraction_in_bursts"] or 0) * c["failures"])
            # A node's overlapping records are one failure, as in its
            # reliability: the reference merges them the same way.
            ok = (c["members"] == want["targets"] and c["failures"] == want["failures"] and
                  b["count"] == want["merged_bursts"] and b["largest"] == want["merged_largest"]
                  and in_bursts == want["merged_in_bursts"])
            check(ok, "System %s: %d failures, %d bursts, largest %d, %d in bursts "
                      "(reference %d, %d, %d, %d)" %
                  (name, c["failures"], b["count"], b["largest"], in_bursts,
                   want["failures"], want["merged_bursts"], want["merged_largest"],
                   want["merged_in_bursts"]))
        for name, want in sorted(ref.items(), key=lambda kv: int(kv[0])):
            status, rel = emp.get("/api/v1/groups/%s/reliability?%s" % (name, window))
            mttr = rel["mttr_s"]["estimate"]
            ok = (status == 200 and rel["failures"] == want["failures"] and
                  rel["repairs"] == want["failures"] and abs(rel["down_s"] - want["down_s"]) < 1e-6
                  and mttr is not None and abs(mttr - want["merged_mttr"]) < 1e-4)
            check(ok, "System %s reliability: %d failures, MTTR %.3f s (reference %d, %.3f s)" %
                  (name, rel["failures"], mttr or -1, want["failures"], want["merged_mttr"]))
        status, c = emp.get("/api/v1/groups/2/correlation?%s&window_s=0" % window)
        check(status == 400, "window_s=0 -> 400")
        status, c = emp.get("/api/v1/groups/nope/correlation")
        check(status == 404, "unknown group -> 404")
    finally:
        emp.stop()
        db.drop()


if __name__ == "__main__":
    main()
