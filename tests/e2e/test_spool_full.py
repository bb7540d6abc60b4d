"""End to end: the spool on a full file system, the database away, kill -9.

The spool lives on a 64 KiB tmpfs of the test's own (root: mount), on a
PostgreSQL cluster of the test's own.
1. With the database there, the spool is emptied within seconds of the
   database having its events (not once a minute with the rollups): its
   size falls back while probes go on.
2. The database is stopped; failing targets fill the file system; then a
   target goes down. That outage's start can only be held in memory: the
   writer says so (a warning, empiric_spool_memory_only_transitions).
3. kill -9, the database back, start again: the new run says what the
   previous one could not keep (a warning naming the count,
   empiric_spool_lost_transitions) instead of nothing.
The tmpfs is unmounted whatever happens."""

import os
import subprocess
import tempfile
import time

from harness import (Empiric, FaultTarget, OwnDatabase, PrivatePostgres, check, fail,
                     parse_args)


def wait_for(what, cond, timeout_s, emp):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.25)
    emp.dump_log()
    fail("%s: not within %.0f s" % (what, timeout_s))


def main():
    args = parse_args()
    if os.geteuid() != 0:
        print("SKIP: mounting a tmpfs needs root")
        raise SystemExit(77)
    fsdir = tempfile.mkdtemp(prefix="empiric-spoolfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", fsdir],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(fsdir)
        print("SKIP: could not mount a tmpfs here: %s" % r.stderr.strip())
        raise SystemExit(77)
    pg = faulty = flaky = emp = None
    try:
        pg = PrivatePostgres()
        db = OwnDatabase(args.empiric, args.schema, pg)
        faulty = FaultTarget()
        flaky = FaultTarget()
        common = {"interval_ms": 100, "timeout_ms": 90, "fail_threshold": 1,
                  "recover_threshold": 1}
        targets = [dict(name="flaky", kind="http", url="http://127.0.0.1:%d/" % flaky.port,
                        **common)]
        targets += [dict(name="filler%d" % i, kind="http",
                         url="http://127.0.0.1:%d/f%d" % (faulty.port, i), **common)
                    for i in range(16)]
        emp = Empiric(args.empiric, db, targets,
                      extra={"spool": {"path": os.path.join(fsdir, "e2e.spool")}})
        emp.start()
        run(emp, pg, faulty, flaky)
    finally:
        if emp is not None:
            emp.stop()
        for t in (faulty, flaky):
            if t is not None:
                t.close()
        if pg is not None:
            pg.destroy()
        subprocess.run(["umount", "-l", fsdir])
        os.rmdir(fsdir)


def run(emp, pg, faulty, flaky):
    # 1. Emptied soon after the database has the events.
    sizes = []
    t_end = time.time() + 14
    while time.time() < t_end:
        sizes.append(emp.metric("empiric_spool_bytes") or 0.0)
        time.sleep(0.5)
    fell = [i for i in range(2, len(sizes)) if sizes[i] < sizes[i - 1]]
    print("spool sizes with the database there: %s" % [int(s) for s in sizes])
    check(fell, "the spool was emptied within 14 s of start while probes went on "
          "(its size fell back %d times)" % len(fell))

    # 2. The database away, the file system full, then an outage begins.
    pg.stop()
    faulty.set("500")
    wait_for("the spool's file system filled (empiric_spool_errors_total > 0)",
             lambda: (emp.metric("empiric_spool_errors_total") or 0) > 0, 60, emp)
    flaky.set("500")
    held = wait_for("the outage's start held in memory alone",
                    lambda: emp.metric("empiric_spool_memory_only_transitions"), 20, emp)
    check(held >= 1, "empiric_spool_memory_only_transitions = %d" % held)
    check("outage transitions held in memory alone" in emp.log_text(),
          "the writer warned that a crash now loses them")

    # 3. kill -9, the database back, start again.
    emp.kill()
    pg.start()
    emp.start()
    lost = wait_for("the new run reports what the previous one lost",
                    lambda: emp.metric("empiric_spool_lost_transitions"), 20, emp)
    check(lost >= 1, "empiric_spool_lost_transitions = %d after the restart" % lost)
    log = emp.log_text()
    check("the previous run ended holding outage transitions in memory alone" in log,
          "the restart warned about the lost transitions")


if __name__ == "__main__":
    main()
