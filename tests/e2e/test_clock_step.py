"""End to end: the wall clock is stepped under a running `empiric serve`,
back an hour and then forward two, while a target flaps; the monotonic clock
is untouched, as when NTP or an operator steps the clock.

The steps come from build/libclockshift.so (tests/fault/clockshift.c),
preloaded into empiric: it shifts CLOCK_REALTIME, gettimeofday() and time()
by the offset in a file this test rewrites. Afterwards:

- each step is logged once with its size, and no outage is logged with a
  negative duration;
- every outage lies in one frame of the wall clock (the time before the
  first step, between the steps, after the second), has a positive length,
  and lies inside a span the target really failed (an outage in progress
  across a step ends before it and a new one begins after it);
- no coverage span crosses a step, and the probes after the backward step
  are not ignored: each frame is covered all but its edges, and the API
  shows the time after the step as observed;
- availability over all frames is the truth's, within a probe or two."""

import os
import time

from harness import Database, Empiric, FaultTarget, check, fail, parse_args

INTERVAL_MS = 200
TIMEOUT_MS = 150
TOLERANCE_S = (INTERVAL_MS + TIMEOUT_MS) / 1000.0 + 0.1
BACK_S, FORWARD_S = -3600.0, 7200.0


class Clock:
    """The offset file libclockshift reads; each write is a rename, so that
    the library sees a whole new file."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "clock-offset")
        self.offset = 0.0
        self.write(0.0)

    def write(self, offset):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%.6f\n" % offset)
        os.replace(tmp, self.path)
        self.offset = offset
        return time.time()

    def step(self, by):
        """Step empiric's wall clock by `by` seconds; the real time of it."""
        return self.write(self.offset + by)


def main():
    args = parse_args()
    lib = os.path.join(os.path.dirname(os.path.abspath(args.empiric)), "libclockshift.so")
    if not os.path.exists(lib):
        fail("%s is missing: it is built with the tests (EMPIRIC_TESTS)" % lib)
    db = Database(args.empiric, args.schema)
    flaky, healthy = FaultTarget(), FaultTarget()
    common = {"interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS,
              "fail_threshold": 2, "recover_threshold": 1}
    targets = [
        dict(name="flaky", kind="http", url="http://127.0.0.1:%d/" % flaky.port, **common),
        dict(name="healthy", kind="http", url="http://127.0.0.1:%d/" % healthy.port, **common),
    ]
    emp = Empiric(args.empiric, db, targets)
    clock = Clock(emp.dir)
    asan = os.environ.get("ASAN_OPTIONS", "")
    emp.prefix = ["env", "LD_PRELOAD=" + lib, "EMPIRIC_CLOCKSHIFT_FILE=" + clock.path,
                  "ASAN_OPTIONS=" + ":".join(x for x in (asan, "verify_asan_link_order=0") if x)]
    try:
        run(emp, db, clock, flaky)
    finally:
        emp.stop()
        flaky.close()
        healthy.close()
        db.drop()


def intervals(db, table, target):
    """(start, end) of the target's rows in `table` (outages, spans), in
    empiric's wall time, Unix seconds; an open outage ends at 0."""
    rows = db.query(
        "SELECT extract(epoch FROM x.started_at), coalesce(extract(epoch FROM x.ended_at), 0)"
        " FROM %s x JOIN targets t ON t.id = x.target_id WHERE t.name = '%s'"
        " ORDER BY x.started_at" % (table, target))
    return [tuple(float(v) for v in ln.split("|")) for ln in rows.splitlines()]


def down_for(flaky, seconds, truth, during=None):
    """Fail for `seconds`; `during` (a function) runs 1.2 s in."""
    start = flaky.set("500")
    if during is not None:
        time.sleep(1.2)
        during()
        time.sleep(seconds - 1.2)
    else:
        time.sleep(seconds)
    truth.append((start, flaky.set("ok")))


def run(emp, db, clock, flaky):
    t_begin = time.time()
    emp.start()
    time.sleep(2.0)
    truth, steps = [], []   # real times: (down, up) of each fault; (time, offset after)

    def step(by):
        steps.append((clock.step(by), clock.offset))

    # Frame A, then back an hour in the middle of an outage.
    down_for(flaky, 2.5, truth, during=lambda: step(BACK_S))
    time.sleep(2.0)
    # The probes after the backward step count: the API sees them.
    now = time.time() + clock.offset
    status, up = emp.get("/api/v1/targets/healthy/uptime?from=%.3f&to=%.3f" % (now - 1.5, now))
    print("healthy, the last 1.5 s after the backward step:", up)
    check(status == 200 and up["up_s"] >= 1.0,
          "results after the backward step are observed time (up_s %.2f of 1.5)"
          % up.get("up_s", 0))
    # Frame B: a whole outage, then forward two hours in another.
    down_for(flaky, 2.0, truth)
    time.sleep(1.5)
    down_for(flaky, 2.5, truth, during=lambda: step(FORWARD_S))
    time.sleep(2.0)
    # Frame C.
    down_for(flaky, 2.0, truth)
    time.sleep(2.0)
    t_end = time.time()
    time.sleep(1.5)  # let the writer flush

    frames = [(t_begin - 1, steps[0][0], 0.0), (steps[0][0], steps[1][0], steps[0][1]),
              (steps[1][0], t_end + 30, steps[1][1])]  # probing goes on past t_end

    def frame_of(wall):
        """The frame whose offset places empiric's wall time `wall` in the
        test's run, and the real time it stands for."""
        for k, (_, _, off) in enumerate(frames):
            real = wall - off
            if t_begin - 5 <= real <= t_end + 5:
                return k, real
        fail("wall time %.3f is in no frame of the test" % wall)

    def in_frame(what, s, e):
        """The frame of an interval that must lie in one, and its real
        start and end."""
        ks, rs = frame_of(s)
        ke, re_ = frame_of(e)
        lo, hi, _ = frames[ks]
        check(ks == ke and lo - 0.05 <= rs and re_ <= hi + 0.05,
              "%s %.2f..%.2f s (real) stays inside frame %d of the clock (%.2f..%.2f)"
              % (what, rs - t_begin, re_ - t_begin, ks, lo - t_begin, hi - t_begin))
        return ks, rs, re_

    log = emp.log_text()
    step_lines = [ln for ln in log.splitlines() if 'msg="wall clock stepped' in ln]
    print("\n".join(step_lines))
    check(len(step_lines) == 2, "each step logged once (%d lines)" % len(step_lines))
    sizes = []
    for ln in step_lines:
        kv = dict(f.split("=", 1) for f in ln.split() if "=" in f)
        sizes.append(float(kv.get("step_s", "nan")))
    check(len(sizes) == 2 and abs(sizes[0] - BACK_S) < 5 and abs(sizes[1] - FORWARD_S) < 5,
          "with their sizes (%s)" % sizes)
    check("duration_s=-" not in log, "no outage logged with a negative duration")
    check(emp.metric("empiric_clock_steps_total") == 2, "empiric_clock_steps_total counts both")
    status, mon = emp.get("/api/v1/monitor")
    check(status == 200 and mon["clock_steps"]["count"] == 2
          and abs(mon["clock_steps"]["last_s"] - FORWARD_S) < 5,
          "/api/v1/monitor shows them, the last with its size (%r)" % mon.get("clock_steps"))

    outages = intervals(db, "outages", "flaky")
    print("outages (wall):", outages)
    covered = [0.0] * len(truth)
    for s, e in outages:
        check(e > s, "outage at %.3f ended after it began (%.3f s)" % (s, e - s))
        _, rs, re_ = in_frame("outage", s, e)
        inside = [i for i, (d, u) in enumerate(truth)
                  if d - TOLERANCE_S <= rs and re_ <= u + TOLERANCE_S]
        check(len(inside) == 1, "outage %.3f..%.3f s (real) lies in a fault (%s)"
              % (rs - t_begin, re_ - t_begin, [(d - t_begin, u - t_begin) for d, u in truth]))
        covered[inside[0]] += re_ - rs
    check(len(outages) == 6, "six outages: two faults cut by a step each, two whole (%d)"
          % len(outages))
    for (d, u), c in zip(truth, covered):
        crossing = any(d < st < u for st, _ in steps)
        # Cut by a step: its time between the last probe before and the
        # first after is unknown.
        lost = 2 * INTERVAL_MS / 1000.0 if crossing else 0.0
        check(c >= (u - d) - lost - TOLERANCE_S,
              "the fault at %.1f s of %.2f s is %.2f s of outages" % (d - t_begin, u - d, c))

    spans = intervals(db, "spans", "healthy")
    print("healthy spans (wall):", spans)
    seen = [0.0] * len(frames)
    for s, e in spans:
        k, rs, re_ = in_frame("span", s, e)
        seen[k] += re_ - rs
    for k, (lo, hi, _) in enumerate(frames):
        length = min(hi, t_end) - max(lo, t_begin)
        # The frame's edges: the start-up, a probe on each side of a step.
        check(seen[k] >= length - 1.0 - 3 * INTERVAL_MS / 1000.0,
              "frame %d (%.1f s) is observed: %.1f s of spans" % (k, length, seen[k]))

    # Availability over every frame: the faults' real time over the time
    # observed, within a probe or two.
    lo = t_begin + min(off for _, _, off in frames) - 60
    hi = t_end + max(off for _, _, off in frames) + 60
    status, fu = emp.get("/api/v1/targets/flaky/uptime?from=%.3f&to=%.3f" % (lo, hi))
    print("flaky uptime:", fu)
    down = sum(u - d for d, u in truth)
    want = 1 - down / (fu["up_s"] + fu["down_s"]) if status == 200 else -1
    check(status == 200 and fu["availability"] is not None
          and abs(fu["availability"] - want) <= 0.06,
          "availability %.3f is the truth's %.3f" % (fu.get("availability") or -1, want))
    check(abs(fu["down_s"] - down) <= 4 * TOLERANCE_S,
          "downtime %.2f s is the truth's %.2f s" % (fu["down_s"], down))
    status, hu = emp.get("/api/v1/targets/healthy/uptime?from=%.3f&to=%.3f" % (lo, hi))
    check(hu["availability"] == 1.0 and hu["down_s"] == 0,
          "the healthy target stays available 1.0 across the steps")


if __name__ == "__main__":
    main()
