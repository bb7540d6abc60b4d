"""The command line: check-config reports every problem and exits 2, serve
refuses the same configuration, migrate is idempotent, and an outage that is
ongoing when empiric stops is continued by the next run and closed by its
first success, with the gap between the runs unknown."""

import json
import os
import subprocess
import tempfile
import time

from harness import Database, Empiric, FaultTarget, check, parse_args


def check_config(args):
    d = tempfile.mkdtemp(prefix="empiric-cli-")
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write(json.dumps({
            "listen": "127.0.0.1:99999",
            "targets": [
                {"name": "web", "kind": "http", "url": "ftp://x", "interval_ms": "5s"},
                {"name": "web", "kind": "tcp", "host": "127.0.0.1", "port": 6379, "colour": 1},
                {"name": "db", "kind": "postgres"},
                {"name": "q", "kind": "smtp"},
            ]}, indent=2))
    r = subprocess.run([args.empiric, "check-config", bad], capture_output=True, text=True,
                       timeout=30)
    print(r.stderr)
    check(r.returncode == 2, "check-config exits 2 on a bad file")
    lines = r.stderr.splitlines()
    for path in ("listen", "targets[0].url", "targets[0].interval_ms", "targets[1].name",
                 "targets[1].colour", "targets[2].conninfo", "targets[3].kind"):
        check(any(l.startswith(bad + ": " + path + ":") for l in lines),
              "the problem at %s is reported with file and JSON path" % path)

    syntax = os.path.join(d, "syntax.json")
    with open(syntax, "w") as f:
        f.write('{\n  "targets": [\n    {"name": "a",}\n  ]\n}\n')
    r = subprocess.run([args.empiric, "check-config", syntax], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 2 and (syntax + ":3:") in r.stderr,
          "a JSON syntax error gives file:line:column")

    r = subprocess.run([args.empiric, "--db", "host=127.0.0.1 port=1", "serve", "--config", bad],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "targets[0].interval_ms" in r.stderr,
          "serve refuses to start on the same problems")

    good = os.path.join(d, "good.json")
    with open(good, "w") as f:
        json.dump({"targets": []}, f)
    r = subprocess.run([args.empiric, "check-config", good], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0, "an empty target list is valid")


def outage_across_restart(args):
    db = Database(args.empiric, args.schema)
    target = FaultTarget()
    emp = Empiric(args.empiric, db, [dict(
        name="t", kind="http", url="http://127.0.0.1:%d/" % target.port,
        interval_ms=200, timeout_ms=150, fail_threshold=2)])
    try:
        r = subprocess.run([args.empiric, "--db", db.conninfo, "migrate", "--schema",
                            args.schema], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and "applied=0" in r.stderr, "a second migrate applies nothing")

        emp.start()
        time.sleep(1.0)
        down_at = target.set("500")
        time.sleep(1.5)
        emp.stop()
        stopped = time.time()
        open_rows = db.query("SELECT count(*) FROM outages WHERE ended_at IS NULL")
        check(open_rows == "1", "the outage stays open while empiric is stopped")
        time.sleep(1.5)
        emp.start()
        restarted = time.time()  # the new run probes from about now
        time.sleep(1.0)
        up_at = target.set("ok")
        time.sleep(1.5)
        status, body = emp.get("/api/v1/targets/t/outages?from=%d" % (int(down_at) - 5))
        outages = body["outages"]
        print(outages)
        check(len(outages) == 1, "one outage across the restart, not two")
        o = outages[0]
        check(o["end"] is not None, "the next run closed it with its first success")
        from datetime import datetime
        s = datetime.fromisoformat(o["start"].replace("Z", "+00:00")).timestamp()
        e = datetime.fromisoformat(o["end"].replace("Z", "+00:00")).timestamp()
        check(abs(s - down_at) < 0.35 and abs(e - up_at) < 0.35,
              "start and end match the truth (%.3f, %.3f)" % (s - down_at, e - up_at))
        status, up = emp.get("/api/v1/targets/t/uptime?from=%d" % (int(down_at) - 5))
        print(up)
        # Not observed: from the stop until the new run answered (longer than
        # the 1.5 s sleep when the machine is busy).
        gap = restarted - stopped
        check(up["unknown_s"] >= 1.5, "the stopped time is unknown (%.2f s)" % up["unknown_s"])
        truth_down = (up_at - down_at) - gap
        check(abs(up["down_s"] - truth_down) < 1.0,
              "down time excludes the gap (%.2f s, truth about %.2f s)" %
              (up["down_s"], truth_down))
        del stopped
    finally:
        emp.stop()
        target.close()
        db.drop()


def serve_once(args, db, config):
    """Run serve expecting it to refuse to start: (exit status, stderr)."""
    r = subprocess.run([args.empiric, "--db", db.conninfo, "serve", "--config", config],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stderr


def spool_refusals(args):
    """serve does not start on a spool it cannot have, and says why."""
    db = Database(args.empiric, args.schema)
    emp = Empiric(args.empiric, db, [dict(name="t", kind="tcp", host="127.0.0.1", port=9)])
    try:
        emp.start()
        rc, err = serve_once(args, db, emp.config)
        check(rc != 0 and "could not open the spool" in err and "in use" in err,
              "a second serve on the same spool refuses to start")
        emp.stop()

        path = emp.spool_path()
        with open(path, "w") as f:
            f.write("somebody's notes\n")
        rc, err = serve_once(args, db, emp.config)
        with open(path) as f:
            kept = f.read()
        check(rc != 0 and "is not an Empiric spool" in err and kept == "somebody's notes\n",
              "a file that is not a spool is refused and left as it was")

        with open(emp.config) as f:
            cfg = json.load(f)
        cfg["spool"]["path"] = os.path.join(emp.dir, "no-such-dir", "x.spool")
        with open(emp.config, "w") as f:
            json.dump(cfg, f)
        rc, err = serve_once(args, db, emp.config)
        check(rc != 0 and "could not open spool" in err and "no-such-dir" in err,
              "an unusable spool path is named")
    finally:
        emp.stop()
        db.drop()


def main():
    args = parse_args()
    check_config(args)
    outage_across_restart(args)
    spool_refusals(args)


if __name__ == "__main__":
    main()
