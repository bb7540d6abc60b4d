"""End to end under valgrind memcheck: a 60 s `empiric serve` session with
outages beginning and ending, the API and /metrics asked meanwhile, then a
clean stop. Valgrind must report no invalid access, no use of
uninitialised memory and no leak (definitely or indirectly lost).

Skipped (exit 77) on the AddressSanitizer build: the two cannot run
together, and that build checks the same under ASan."""

import os
import shutil
import signal
import subprocess
import sys
import time

from harness import Database, Empiric, FaultTarget, check, fail, parse_args

SECONDS = float(os.environ.get("EMPIRIC_MEMCHECK_SECONDS", "60"))


def asan_build(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return "libasan" in out or "libubsan" in out


def main():
    args = parse_args()
    if asan_build(args.empiric):
        print("skipped: the sanitizer build is checked by the sanitizers", flush=True)
        sys.exit(77)
    if shutil.which("valgrind") is None:
        fail("valgrind is not installed (scripts/lib.sh installs it)")
    db = Database(args.empiric, args.schema)
    flaky, healthy = FaultTarget(), FaultTarget()
    common = {"interval_ms": 200, "timeout_ms": 150, "fail_threshold": 2}
    targets = [
        dict(name="flaky", kind="http", url="http://127.0.0.1:%d/" % flaky.port, group="g",
             **common),
        dict(name="healthy", kind="http", url="http://127.0.0.1:%d/" % healthy.port, group="g",
             **common),
        dict(name="closed", kind="tcp", host="127.0.0.1", port=flaky.port + 1 if flaky.port
             < 65535 else 1, **common),
        dict(name="pg", kind="postgres", conninfo=db.conninfo, **common),
    ]
    emp = Empiric(args.empiric, db, targets)
    vlog = os.path.join(emp.dir, "valgrind.log")
    emp.prefix = ["valgrind", "--tool=memcheck", "--leak-check=full",
                  "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
                  "--track-origins=yes", "--error-exitcode=99", "--log-file=" + vlog]
    try:
        run(emp, flaky)
    finally:
        if emp.proc is not None:
            emp.proc.kill()
        flaky.close()
        healthy.close()
        db.drop()
    with open(vlog) as f:
        report = f.read()
    summary = [l for l in report.splitlines() if "ERROR SUMMARY" in l or "lost:" in l]
    print("\n".join(summary), flush=True)
    check("ERROR SUMMARY: 0 errors" in report, "valgrind found no memory error and no leak")
    check("definitely lost:" not in report or "definitely lost: 0 bytes" in report,
          "nothing definitely lost")


def run(emp, flaky):
    emp.start_timeout = emp.stop_timeout = 120
    emp.start()
    t_end = time.time() + SECONDS
    modes = ["500", "ok", "refused", "ok"]
    i = 0
    while time.time() < t_end:
        flaky.set(modes[i % len(modes)])
        i += 1
        for path in ("/api/v1/status", "/api/v1/targets/flaky/outages",
                     "/api/v1/targets/flaky/reliability", "/api/v1/groups/g/correlation",
                     "/api/v1/targets/flaky/uptime"):
            emp.get(path)
        emp.get_raw("/metrics")
        time.sleep(min(3.0, max(0.0, t_end - time.time())))
    flaky.set("ok")
    rc = emp.stop(signal.SIGTERM)
    check(rc == 0, "serve stopped cleanly under valgrind (exit %d; 99 = valgrind errors)" % rc)


if __name__ == "__main__":
    main()
