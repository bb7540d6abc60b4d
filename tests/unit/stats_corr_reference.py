#!/usr/bin/env python3
"""Independent answers for tests/unit/test_stats_corr.c.

Brute force, in exact rational arithmetic, sharing nothing with
server/analysis/stats_corr.c: every elementary segment between interval endpoints is
tested against every member's intervals directly; P(K >= k) under
independence by enumerating all 2^N subsets (not the recursion); phi from
the 2x2 table as (ad - bc) / sqrt((a+b)(c+d)(a+c)(b+d)); bursts by walking
the sorted failure starts.

Writes stats_corr_reference.inc (C initializers) beside this file:
    python3 tests/unit/stats_corr_reference.py
Python 3 standard library only; the output is committed.
"""
import itertools
import math
import os
import random
from fractions import Fraction

US = 1_000_000


def covers(ivals, t):
    return any(s <= t < e for s, e in ivals)


def reference(members, window_us):
    n = len(members)
    points = sorted({t for m in members for key in ("observed", "down")
                     for iv in m[key] for t in iv})
    common = 0
    down = [0] * n
    at_least = [0] * (n + 1)  # time with >= k down
    both = {}
    for a, b in zip(points, points[1:]):
        if n == 0 or not all(covers(m["observed"], a) for m in members):
            continue
        common += b - a
        dset = [i for i, m in enumerate(members) if covers(m["down"], a)]
        for i in dset:
            down[i] += b - a
        for k in range(len(dset) + 1):
            at_least[k] += b - a
        for i, j in itertools.combinations(dset, 2):
            both[(i, j)] = both.get((i, j), 0) + b - a

    out = {"n": n, "common_us": common, "down_us": down}
    if common == 0:
        out["p"] = out["observed"] = out["independent"] = None
        out["ratio"] = out["log10_ratio"] = None
        out["pairs"] = []
    else:
        p = [Fraction(d, common) for d in down]
        indep = [Fraction(0)] * (n + 1)
        for bits in itertools.product((0, 1), repeat=n):
            pr = Fraction(1)
            for i, bit in enumerate(bits):
                pr *= p[i] if bit else 1 - p[i]
            for k in range(sum(bits) + 1):
                indep[k] += pr
        obs = [Fraction(x, common) for x in at_least]
        out["p"], out["observed"], out["independent"] = p, obs, indep
        if n == 0 or indep[n] == 0:
            out["ratio"] = out["log10_ratio"] = None
        else:
            r = obs[n] / indep[n]
            out["ratio"] = r
            out["log10_ratio"] = math.log10(r) if r > 0 else None
        pairs = []
        for (i, j), a in sorted(both.items()):
            bb = down[i] - a          # i only
            c = down[j] - a           # j only
            d = common - a - bb - c   # neither
            lift = Fraction(a * common, down[i] * down[j])
            den = (a + bb) * (c + d) * (a + c) * (bb + d)
            phi = (a * d - bb * c) / math.sqrt(den) if den else None
            pairs.append((i, j, a, Fraction(a, common), lift, phi))
        out["pairs"] = pairs

    starts = sorted(t for m in members for t in m["failures"])
    sizes = {}
    run = 1
    for k in range(1, len(starts) + 1):
        if k < len(starts) and starts[k] - starts[k - 1] < window_us:
            run += 1
            continue
        if run >= 2:
            sizes[run] = sizes.get(run, 0) + 1
        run = 1
    out["n_failures"] = len(starts)
    out["bursts"] = sum(sizes.values())
    out["largest"] = max(sizes) if sizes else 0
    out["in_bursts"] = sum(s * c for s, c in sizes.items())
    out["in_bursts_10"] = sum(s * c for s, c in sizes.items() if s >= 10)
    out["sizes"] = sorted(sizes.items())
    return out


def hand_cases():
    """The cases test_stats_corr.c also checks by hand."""
    a = [{"observed": [(0, 100 * US)],
          "down": [(10 * US, 30 * US), (50 * US, 60 * US)],
          "failures": [10 * US, 50 * US]},
         {"observed": [(0, 100 * US)],
          "down": [(20 * US, 40 * US), (55 * US, 70 * US)],
          "failures": [20 * US, 55 * US]}]
    b = [{"observed": [(0, 100 * US)],
          "down": [(10 * US, 20 * US), (40 * US, 60 * US)],
          "failures": [10 * US, 40 * US]},
         {"observed": [(0, 50 * US), (60 * US, 100 * US)],
          "down": [(15 * US, 25 * US), (45 * US, 50 * US), (70 * US, 80 * US)],
          "failures": [15 * US, 45 * US, 70 * US]},
         {"observed": [(5 * US, 100 * US)],
          "down": [(0, 3 * US), (18 * US, 22 * US), (45 * US, 65 * US),
                   (75 * US, 90 * US)],
          "failures": [18 * US, 45 * US, 75 * US]}]
    return [("hand_two", a, 120 * US), ("hand_three_gaps", b, 120 * US)]


def random_member(rng, horizon):
    def ivals(lo, hi, count):
        cuts = sorted(rng.sample(range(lo, hi + 1), 2 * count))
        return [(cuts[2 * i], cuts[2 * i + 1]) for i in range(count)
                if cuts[2 * i] < cuts[2 * i + 1]]
    obs = ivals(0, horizon, rng.randint(1, 3))
    down = []
    for s, e in obs:
        if e - s >= 4 and rng.random() < 0.9:
            down += ivals(s, e, rng.randint(1, max(1, (e - s) // 4)))
    if rng.random() < 0.2 and down:  # some down time outside observed
        down = sorted(down + [(horizon + 1, horizon + 3)])
    fails = [s for s, _ in down] + [rng.randint(0, horizon) for _ in range(rng.randint(0, 2))]
    rng.shuffle(fails)
    scale = lambda v: v * US
    return {"observed": [(scale(s), scale(e)) for s, e in obs],
            "down": [(scale(s), scale(e)) for s, e in down],
            "failures": [scale(t) for t in fails]}


def random_cases(seed=20240601, count=40):
    rng = random.Random(seed)
    cases = []
    for c in range(count):
        n = rng.randint(1, 6)
        horizon = rng.choice((40, 200, 1000))
        members = [random_member(rng, horizon) for _ in range(n)]
        cases.append((f"random_{c}", members, rng.choice((1, 5, 30, 120)) * US))
    return cases


def c_double(x):
    if x is None:
        return "NAN"
    return repr(float(x))


def c_array(ctype, items):
    if not items:
        return "NULL"
    return "(const %s[]){%s}" % (ctype, ", ".join(items))


def emit(cases):
    lines = ["/* Generated by stats_corr_reference.py; do not edit. */"]
    for name, members, window in cases:
        r = reference(members, window)
        n = len(members)
        mem = []
        for m in members:
            mem.append("{%s, %d, %s, %d, %s, %d}" % (
                c_array("struct emp_corr_ival",
                        ["{%d, %d}" % iv for iv in m["observed"]]), len(m["observed"]),
                c_array("struct emp_corr_ival",
                        ["{%d, %d}" % iv for iv in m["down"]]), len(m["down"]),
                c_array("int64_t", ["%d" % t for t in m["failures"]]), len(m["failures"])))
        p = r["p"] or [None] * n
        obs = r["observed"] or [None] * (n + 1)
        ind = r["independent"] or [None] * (n + 1)
        pairs = ["{%d, %d, %d, %s, %s, %s}" % (i, j, a, c_double(pb), c_double(li),
                                               c_double(ph))
                 for i, j, a, pb, li, ph in r["pairs"]]
        lines.append("{\"%s\", %d, %d, %s, %d, %s, %s, %s, %s, %s, %s," % (
            name, n, window, c_array("struct emp_corr_member", mem), r["common_us"],
            c_array("double", [c_double(x) for x in p]),
            c_array("double", [c_double(x) for x in obs]),
            c_array("double", [c_double(x) for x in ind]),
            c_double(r["ratio"]), c_double(r["log10_ratio"]),
            c_array("struct ref_pair", pairs)))
        lines.append("  %d, %d, %d, %d, %d, %d, %d, %s}," % (
            len(r["pairs"]), r["n_failures"], r["bursts"], r["largest"], r["in_bursts"],
            r["in_bursts_10"], len(r["sizes"]),
            c_array("struct emp_corr_burst_size",
                    ["{%d, %d}" % sc for sc in r["sizes"]])))
    return "\n".join(lines) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    text = emit(hand_cases() + random_cases())
    with open(os.path.join(here, "stats_corr_reference.inc"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
