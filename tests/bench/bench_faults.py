"""Benchmark (soak): the fault tests of the suite, longer. test_kill9 with
100 kills (the suite runs 20) and test_db_away with PostgreSQL stopped for
5 minutes (the suite: 60 s), each asserting what it asserts in the suite:
nothing lost, doubled or left open, dead time unknown, rollups exact.

usage: scripts/bench faults [--kills 100] [--away-s 300]
Ends with one line `BENCH faults ...`."""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(name, script, env, args):
    t0 = time.time()
    p = subprocess.run([sys.executable, os.path.join(HERE, "..", "e2e", script),
                        "--empiric", args.empiric, "--schema", args.schema],
                       env=env, capture_output=True, text=True, timeout=3600)
    lines = [l for l in p.stdout.splitlines() if l.startswith(("ok:", "FAIL:", "seed"))]
    print("\n".join("  " + l for l in lines), flush=True)
    ok = p.returncode == 0
    print("%s: %s in %.0f s" % (name, "passed" if ok else "FAILED", time.time() - t0), flush=True)
    if not ok:
        print(p.stdout[-3000:] + p.stderr[-3000:])
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--empiric", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--target")  # passed by scripts/bench to every bench; unused
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--away-s", type=float, default=300)
    args = ap.parse_args()
    env = dict(os.environ, EMPIRIC_KILL9_KILLS=str(args.kills),
               EMPIRIC_DB_AWAY_S=str(args.away_s))
    k = run("kill9 x%d" % args.kills, "test_kill9.py", env, args)
    d = run("database away %.0f s" % args.away_s, "test_db_away.py", env, args)
    print("BENCH faults kills=%d kill9=%s away_s=%.0f db_away=%s"
          % (args.kills, "pass" if k else "fail", args.away_s, "pass" if d else "fail"))
    sys.exit(0 if k and d else 1)


if __name__ == "__main__":
    main()
