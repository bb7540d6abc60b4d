#!/usr/bin/env python3
"""Reference figures for test_import.c, computed independently of Empiric's C
and SQL (Python standard library only: csv, lzma, zoneinfo).

Reads the LANL failure data (LA-UR-05-7318; data courtesy of Los Alamos
National Laboratory) and applies the rules that `empiric import` documents
for `--target-col System,nodenum --group-col System --start-col "Prob Started"
--end-col "Prob Fixed" --time-format "%m/%d/%Y %H:%M" --tz America/Denver`:

- a row with an empty target column is skipped (system 17 has no nodenum);
- a target is "System-nodenum", its group the System;
- local times are America/Denver; an ambiguous time (the hour repeated when
  the clock goes back) is the earlier instant (fold=0), as is a time in the
  hour skipped when it goes forward;
- of several rows with the same target and start the first is kept.

Per group (System): targets, outages, the sum and mean of repair times
(MTTR = mean of end - start, seconds), the failure bursts (outages of the
group's members sorted by start; a failure joins the current burst when it
starts less than 120 s after the previous failure's start; a burst has at
least two failures): their number, the failures in them and the largest;
and the observed span (earliest start, latest end; Unix seconds).

Per group also the figures of the reliability statistics ("merged" lines):
outages of one target that overlap are one outage (one starting before the
end of an earlier one belongs to it; one starting exactly at its end is a
new failure); failures = the merged outages, down time = their total
length, MTTR = down time / failures (every one is repaired inside the
group's span).

Usage: lanl_reference.py [PATH.csv.xz] > lanl_reference.txt
"""
import csv
import io
import lzma
import os
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

WINDOW_S = 120
FMT = "%m/%d/%Y %H:%M"


def burst_counts(starts):
    """Bursts (Ford et al.) of sorted failure starts: a failure joins the
    burst when it starts less than WINDOW_S after the previous one; a burst
    has two or more. Returns (bursts, failures in them, largest)."""
    bursts = in_bursts = largest = 0
    size = 1
    for i in range(1, len(starts) + 1):
        if i < len(starts) and starts[i] - starts[i - 1] < WINDOW_S:
            size += 1
            continue
        if size >= 2:
            bursts += 1
            in_bursts += size
            largest = max(largest, size)
        size = 1
    return bursts, in_bursts, largest


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "data", "lanl-failures-1996-2005.csv.xz")
    tz = ZoneInfo("America/Denver")

    def utc(text):
        return int(datetime.strptime(text.strip(), FMT).replace(tzinfo=tz, fold=0).timestamp())

    with lzma.open(path, "rb") as f:
        reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8", newline=""))
        rows = [(reader.line_num, r) for r in reader]
    read = len(rows)
    skipped = 0
    skipped_lines = []
    duplicates = 0
    seen = set()
    outages = []  # (group, target, start, end)
    for line, r in rows:
        system, node = r["System"].strip(), r["nodenum"].strip()
        if not system or not node:
            skipped += 1
            skipped_lines.append(line)
            continue
        target = system + "-" + node
        start = utc(r["Prob Started"])
        fixed = r["Prob Fixed"].strip()
        end = utc(fixed) if fixed else start
        if end < start:
            skipped += 1
            skipped_lines.append(line)
            continue
        if (target, start) in seen:
            duplicates += 1
            continue
        seen.add((target, start))
        outages.append((system, target, start, end))

    groups = {}
    for g, t, s, e in outages:
        groups.setdefault(g, []).append((t, s, e))

    print("# Reference figures for tests/integration/test_import.c, written by")
    print("# lanl_reference.py from lanl-failures-1996-2005.csv.xz (LANL, LA-UR-05-7318).")
    print("rows_read %d" % read)
    print("skipped %d" % skipped)
    print("skipped_lines %d %d" % (min(skipped_lines), max(skipped_lines)))
    print("duplicates %d" % duplicates)
    print("outages %d" % len(outages))
    print("targets %d" % len({t for _, t, _, _ in outages}))
    print("groups %d" % len(groups))
    print("# group targets outages repair_s_sum mttr_s bursts in_bursts largest"
          " span_start span_end")
    for g in sorted(groups, key=int):
        rs = groups[g]
        repair = sum(e - s for _, s, e in rs)
        starts = sorted(s for _, s, _ in rs)
        bursts, in_bursts, largest = burst_counts(starts)
        print("group %s %d %d %d %.6f %d %d %d %d %d" % (
            g, len({t for t, _, _ in rs}), len(rs), repair, repair / len(rs),
            bursts, in_bursts, largest, min(starts), max(e for _, _, e in rs)))

    # A node's overlapping records are one failure (merged), in the
    # statistics and in the correlation alike; bursts over the merged starts.
    print("# merged group failures down_s mttr_s bursts in_bursts largest")
    for g in sorted(groups, key=int):
        per_target = {}
        for t, s, e in groups[g]:
            per_target.setdefault(t, []).append((s, e))
        failures = down = 0
        starts = []
        for rows in per_target.values():
            rows.sort(key=lambda r: (r[0], -r[1]))
            cur_s, cur_e = rows[0]
            for s, e in rows[1:]:
                if s < cur_e:
                    cur_e = max(cur_e, e)
                    continue
                failures += 1
                down += cur_e - cur_s
                starts.append(cur_s)
                cur_s, cur_e = s, e
            failures += 1
            down += cur_e - cur_s
            starts.append(cur_s)
        bursts, in_bursts, largest = burst_counts(sorted(starts))
        print("merged %s %d %d %.6f %d %d %d" % (g, failures, down, down / failures, bursts,
                                                in_bursts, largest))


if __name__ == "__main__":
    main()
