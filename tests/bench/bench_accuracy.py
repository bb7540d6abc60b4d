"""How accurately `empiric serve` measures outages: faultd enacts known
fault windows of eight kinds (refuse, reset, http500, hang, slow, garbage,
endless, flap), one faultd per kind each probed by one HTTP target, all in
parallel, and what Empiric stored (outages, failing probes, coverage spans)
and showed (the live state and its `since`, probe counts in /metrics, the
uptime API) is compared with the truth faultd wrote.

Reported: per kind, faults long enough to be outages that were detected,
missed, split in several outages; false outages (no fault, a slow answer,
or on the two control targets that probe a faultd without faults); the
error of each outage's start and end against the truth (min/p50/p99/max,
in seconds and in probe intervals: expected 0 to 1 interval, at most
interval + timeout); the downtime error; faults too short to be outages
(at most fail_threshold - 1 probes fit in them) that were reported anyway;
flap windows (ok / HTTP 500 alternating each probe interval, so failures
never reach fail_threshold in a row: no outage expected) that became
outages; slow windows (an answer after degraded_ms, before the timeout)
shown as degraded periods, with their start and end errors; failing probes
that no fault explains; coverage (unknown time) per target.

usage: bench_accuracy.py --empiric BIN --schema DIR [--target BIN]
           [--quick] [--long 36] [--short 12] [--mid 6] [--seed 1]
           [--interval-ms 400] [--timeout-ms 300] [--degraded-ms 100]
           [--slow-ms 180] [--fail-threshold 2] [--recover-threshold 1]
Needs EMPIRIC_TEST_DB (scripts/bench sets it); faultd is taken from the
directory of --empiric. About 3 minutes with the defaults, 1 with --quick
(6 long, 3 short, 1 mid faults per kind).
The last line is `BENCH accuracy key=value ...`; the exit status is non-zero
only when the bench could not run."""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="Outage measurement accuracy against faultd.")
    benchlib.add_args(ap, long_n=36, short_n=12, mid_n=6, lead_ms=5000)
    a = ap.parse_args()
    x = benchlib.Experiment(a, "bench_accuracy").run()
    t = x["setup"].timing
    print("bench_accuracy: interval %d ms, timeout %d ms, fail_threshold %d, "
          "recover_threshold %d, degraded_ms %d, slow answers after %d ms; "
          "short <= %d ms < mid < %d ms <= long; wall %.0f s" % (
              t.interval_ms, t.timeout_ms, t.fail_threshold, t.recover_threshold,
              t.degraded_ms, t.slow_ms, t.short_max_ms, t.long_min_ms, x["wall_s"]))
    benchlib.print_common(x)
    pairs = benchlib.headline(x["res"])
    pairs.append(("unknown_s", benchlib.fnum(sum(
        benchlib.unknown_s(x["store"]["spans"].get(n, []), x["t_from"], x["t_to"])
        for n in list(x["setup"].windows) + x["setup"].controls), 1)))
    pairs.append(("wall_s", "%.0f" % x["wall_s"]))
    print()
    print(benchlib.bench_line("accuracy", pairs), flush=True)


if __name__ == "__main__":
    benchlib.main_guard(main)
