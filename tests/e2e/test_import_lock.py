"""`empiric import` beside another import, and after a kill -9: a second
import does not queue behind the first but is refused within seconds with a
message that says why; the database notices a killed import's connection
within seconds and ends its statement, so that its locks go and the next
import runs. A trigger that sleeps a little per outage row keeps the first
import in its INSERT long enough to be caught there."""

import os
import signal
import subprocess
import tempfile
import time

from harness import Database, check, fail, parse_args

ROWS = 3000  # at 10 ms a row: 30 s in the outages INSERT
SLOW = ("CREATE FUNCTION e2e_slow_row() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END$$;"
        "CREATE TRIGGER e2e_slow BEFORE INSERT ON outages FOR EACH ROW"
        " EXECUTE FUNCTION e2e_slow_row()")
ACTIVE_INSERT = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                 " AND state = 'active' AND query LIKE 'INSERT INTO outages%%' AND pid = %s")


def write_files(d):
    big = os.path.join(d, "big.csv")
    with open(big, "w") as f:
        f.write("target,start,end\n")
        for i in range(ROWS):
            f.write("slow,%d,%d\n" % (1735689600 + 3600 * i, 1735689600 + 3600 * i + 60))
    small = os.path.join(d, "small.csv")
    with open(small, "w") as f:
        f.write("target,start,end\nquick,2025-01-01T00:00:00Z,2025-01-01T00:01:00Z\n")
    return big, small


def import_cmd(args, db, path):
    return [args.empiric, "--db", db.conninfo, "import", path]


def wait_for_insert(db, proc):
    """The pid of the backend running the import's outages INSERT."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail("the slow import ended before its INSERT was seen (exit %d)" % proc.returncode)
        pid = db.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                       " AND state = 'active' AND query LIKE 'INSERT INTO outages%'")
        if pid:
            return int(pid.splitlines()[0])
        time.sleep(0.1)
    fail("the slow import's INSERT never showed in pg_stat_activity")


def run_timed(cmd, limit_s):
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        fail("%s still waiting after %d s" % (" ".join(cmd[3:]), limit_s))
    return r, time.monotonic() - t0


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    slow = None
    try:
        db.query(SLOW)
        big, small = write_files(tempfile.mkdtemp(prefix="empiric-import-lock-"))
        slow = subprocess.Popen(import_cmd(args, db, big), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        backend = wait_for_insert(db, slow)
        print("the slow import's backend %d is in its INSERT" % backend, flush=True)

        # A second import while the first holds the import lock.
        r, took = run_timed(import_cmd(args, db, small), 20)
        print(r.stderr.strip(), flush=True)
        check(r.returncode == 1, "a second import meanwhile exits 1 (got %d)" % r.returncode)
        check("another import" in r.stderr and "try again" in r.stderr,
              "its message says another import is running, try again")
        check(took < 10, "it is refused within the lock timeout, not queued (%.1f s)" % took)

        # kill -9 the first: its backend must notice and end the INSERT.
        slow.send_signal(signal.SIGKILL)
        slow.wait(timeout=10)
        t0 = time.monotonic()
        while db.query(ACTIVE_INSERT % backend) and time.monotonic() - t0 < 20:
            time.sleep(0.1)
        gone = time.monotonic() - t0
        check(not db.query(ACTIVE_INSERT % backend),
              "the killed import's INSERT ends in the database")
        check(gone < 6, "within seconds of the kill (%.1f s; connection checked every 2 s)"
              % gone)
        check(db.query("SELECT count(*) FROM outages") == "0" and
              db.query("SELECT count(*) FROM targets") == "0",
              "neither import wrote anything")

        r, took = run_timed(import_cmd(args, db, small), 20)
        check(r.returncode == 0, "the next import runs (exit %d, %.1f s)" % (r.returncode, took))
        check(db.query("SELECT count(*) FROM outages") == "1", "and writes its outage")
    finally:
        if slow is not None and slow.poll() is None:
            slow.kill()
            slow.wait()
        db.drop()


if __name__ == "__main__":
    main()
