"""End to end: PostgreSQL restarted under a running Empiric.

The API's pool holds a connection per request that ran at once; the
cluster is restarted (fast shutdown, then start), which closes every one of
them while they sit idle. The first request on each must still be answered
200: a connection the server closed while idle is made again before the
call, and a dead one never goes back into the pool. (The writer, too, finds
its way back: its events reach the database.)"""

from harness import check, fail, parse_args
from test_db_frozen import DB_PATHS, parallel, setup, wait_ready


def main():
    pg, emp, faults = setup(parse_args())
    try:
        emp.start()
        wait_ready(emp)
        for round_ in (1, 2):
            # Fill the pool: as many connections as requests at once.
            answers = parallel(emp.port, DB_PATHS[:8])
            check(all(a[0] == 200 for a in answers),
                  "round %d: before the restart every request answers 200" % round_)
            pg.stop()
            pg.start()
            answers = parallel(emp.port, DB_PATHS[:8])
            bad = [(p, a[0], a[2][:200]) for p, a in zip(DB_PATHS, answers) if a[0] != 200]
            if bad:
                emp.dump_log()
                fail("round %d: after a restart of PostgreSQL, first requests failed: %r"
                     % (round_, bad))
            print("ok: round %d: after a restart of PostgreSQL, the first request on each "
                  "pooled connection answers 200" % round_)
        wait_ready(emp)
    finally:
        emp.stop()
        for f in faults:
            f.close()
        pg.destroy()


if __name__ == "__main__":
    main()
