#!/usr/bin/env python3
"""Independent reference answers for tests/unit/test_stats.c.

Python standard library only, and deliberately by other methods than
server/analysis/stats.c, so that agreement means something:
- chi-square quantiles: the CDF by the closed forms (Poisson sum for even
  degrees of freedom, erfc plus a finite series for odd, Abramowitz & Stegun
  §26.4), summed with math.fsum over every term, inverted by plain bisection;
- quantiles: statistics.quantiles(method="inclusive") (Hyndman & Fan type 7);
- Kaplan–Meier / Greenwood: by the definition, counting the risk set afresh at
  each event time;
- Weibull: the censored log-likelihood maximised over the shape by golden-
  section search on the profile likelihood (no score equation), the standard
  error of the shape from a finite-difference Hessian of the full
  log-likelihood in (shape, scale);
- lognormal: statistics.fmean and statistics.pstdev of the logs.

Run:  python3 tests/unit/stats_reference.py > tests/unit/stats_reference.txt
The output is C, included by the test.
"""
import decimal
import math
import random
import statistics


def chi2_upper(x, nu):
    """P(X > x) for X ~ chi-square(nu), nu a positive integer."""
    if x <= 0:
        return 1.0
    if nu % 2 == 0:
        lam = x / 2.0
        terms = [math.exp(-lam + j * math.log(lam) - math.lgamma(j + 1)) for j in range(nu // 2)]
        return math.fsum(terms)
    chi = math.sqrt(x)
    # Q(x|nu) = 2Q(chi) + 2Z(chi) sum_{r=1}^{(nu-1)/2} chi^(2r-1) / (1*3*...*(2r-1))
    log2z = math.log(2.0) - x / 2.0 - 0.5 * math.log(2.0 * math.pi)
    terms = [math.erfc(chi / math.sqrt(2.0))]
    log_odd_fact = 0.0
    for r in range(1, (nu - 1) // 2 + 1):
        log_odd_fact += math.log(2 * r - 1)
        terms.append(math.exp(log2z + (2 * r - 1) * math.log(chi) - log_odd_fact))
    return math.fsum(terms)


def chi2_lower(x, nu):
    return 1.0 - chi2_upper(x, nu)


PI_60 = "3.14159265358979323846264338327950288419716939937510582097494"


def chi2_lower_exact(x, nu):
    """P(X <= x) in high-precision decimal arithmetic, exact to double
    precision even far in the lower tail (where 1 - upper in floating point
    keeps no digits).
    Even nu = 2k: P(Poisson(x/2) >= k), as 1 - the finite sum when lam >= k,
    else by the tail series. Odd nu: the defining series of the regularized
    lower incomplete gamma, P(a, z) = z^a e^-z sum_n z^n / Gamma(a + n + 1)
    (A&S 6.5.29), with Gamma of half-integers exact from Gamma(1/2) = sqrt(pi);
    the working precision grows with z because the terms reach e^z."""
    k = nu // 2
    with decimal.localcontext() as ctx:
        ctx.prec = 60 + int(x / 4.0)
        lam = decimal.Decimal(x) / 2
        if nu % 2 == 0:
            if lam >= k:
                term, total = decimal.Decimal(1), decimal.Decimal(0)
                for j in range(k):
                    if j > 0:
                        term = term * lam / j
                    total += term
                return float(1 - (-lam).exp() * total)
            term = (-lam).exp() * lam ** k / math.factorial(k)
            total, j = decimal.Decimal(0), k
            while term > total * decimal.Decimal("1e-40"):
                total += term
                j += 1
                term = term * lam / j
            return float(total)
        a = decimal.Decimal(nu) / 2
        gamma = decimal.Decimal(PI_60).sqrt()  # Gamma(1/2)
        g = decimal.Decimal(1) / 2
        while g < a + 1:  # up to Gamma(a + 1)
            gamma *= g
            g += 1
        term = decimal.Decimal(1) / gamma
        total, n = decimal.Decimal(0), 0
        while True:
            total += term
            n += 1
            term = term * lam / (a + n)
            if n > lam and term < total * decimal.Decimal("1e-40"):
                break
        return float(total * lam ** k * lam.sqrt() * (-lam).exp())


def chi2_quantile(p, nu):
    """x with P(X <= x) = p, by bisection (the tail with the precision)."""
    lo, hi = 0.0, 1.0
    def below(x):  # True when the quantile is above x
        return chi2_upper(x, nu) > 1.0 - p if p > 0.5 else chi2_lower(x, nu) < p
    while below(hi):
        hi *= 2.0
    for _ in range(400):
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if below(mid):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def km(times, events):
    """Kaplan–Meier with Greenwood SE, by definition."""
    out = []
    s, gw = 1.0, 0.0
    for t in sorted(set(t for t, e in zip(times, events) if e)):
        n = sum(1 for u in times if u >= t)
        d = sum(1 for u, e in zip(times, events) if e and u == t)
        s *= 1.0 - d / n
        if n > d:
            gw += d / (n * (n - d))
        se = s * math.sqrt(gw) if s > 0 else float("nan")
        out.append((t, s, se, n, d))
    return out


def weibull_loglik(k, lam, times, events):
    return sum((math.log(k) - k * math.log(lam) + (k - 1) * math.log(t) if e else 0.0)
               - (t / lam) ** k for t, e in zip(times, events))


def weibull_fit(times, events):
    r = sum(events)
    def scale(k):
        return (sum(t ** k for t in times) / r) ** (1.0 / k)
    def prof(logk):
        k = math.exp(logk)
        return weibull_loglik(k, scale(k), times, events)
    a, b = math.log(0.01), math.log(100.0)
    g = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = prof(c), prof(d)
    for _ in range(200):
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = prof(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = prof(d)
    k = math.exp((a + b) / 2.0)
    lam = scale(k)
    # Observed information by central differences in (k, lam).
    hk, hl = 1e-4 * k, 1e-4 * lam
    f = lambda x, y: weibull_loglik(x, y, times, events)
    f0 = f(k, lam)
    dkk = (f(k + hk, lam) - 2 * f0 + f(k - hk, lam)) / hk ** 2
    dll = (f(k, lam + hl) - 2 * f0 + f(k, lam - hl)) / hl ** 2
    dkl = (f(k + hk, lam + hl) - f(k + hk, lam - hl) - f(k - hk, lam + hl)
           + f(k - hk, lam - hl)) / (4 * hk * hl)
    det = dkk * dll - dkl * dkl
    var_k = -dll / det
    # The 95% interval from the modified profile likelihood (Cox & Reid's
    # adjustment as Yang & Xie give it for the Weibull shape: the profile
    # less ln k): the k where it falls 3.841458820694124/2 (chi-square, 1
    # df, 0.95) below its own maximum (golden section), by bisection on
    # log k on each side.
    def mprof(logk):
        return prof(logk) - logk
    a, b = math.log(k) - 5.0, math.log(k) + 5.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = mprof(c), mprof(d)
    for _ in range(200):
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = mprof(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = mprof(d)
    km = (a + b) / 2.0
    top = mprof(km)
    def below(logk):
        return top - mprof(logk) - 3.841458820694124 / 2.0
    def root(a, b):
        for _ in range(200):
            m = (a + b) / 2.0
            if (below(a) < 0) == (below(m) < 0):
                a = m
            else:
                b = m
        return math.exp((a + b) / 2.0)
    lo = root(km - 5.0, km)
    hi = root(km, km + 5.0)
    return k, lam, math.sqrt(var_k), lo, hi


def c_double(x):
    if isinstance(x, float) and math.isnan(x):
        return "NAN"
    return repr(float(x))


def main():
    print("/* Generated by tests/unit/stats_reference.py (Python %s); do not edit. */"
          % ".".join(map(str, __import__("sys").version_info[:3])))

    # Chi-square quantiles, lower-tail probability p.
    print("static const struct ref_chi2 ref_chi2[] = {")
    for nu in (1, 2, 3, 4, 5, 9, 10, 11, 20, 21, 60, 100, 101, 202, 1000, 2001, 20002):
        for p in (0.005, 0.025, 0.05, 0.5, 0.95, 0.975, 0.995):
            x = chi2_quantile(p, nu)
            print("    {%s, %d, %s}," % (c_double(p), nu, c_double(x)))
    print("};")

    # Chi-square CDF at fixed points, {P, dof, x}, in decimal arithmetic;
    # the floating-point closed forms above (used for the quantiles) must
    # agree to 1e-12 absolute (a check of this script).
    print("static const struct ref_chi2 ref_chi2_cdf[] = {")
    for nu in (1, 2, 3, 7, 10, 25, 100, 333, 1000):
        for x in (0.01, 0.5, 1.0, nu * 0.5, float(nu), nu * 1.5 + 3.0, nu * 3.0 + 20.0):
            p = chi2_lower_exact(x, nu)
            assert abs(p - chi2_lower(x, nu)) < 1e-12, (nu, x)
            print("    {%s, %d, %s}," % (c_double(p), nu, c_double(x)))
    print("};")

    # Exponential intervals: (T, r, time_terminated, lo, hi).
    print("static const struct ref_expci ref_expci[] = {")
    for t, r in ((1000.0, 0), (1000.0, 1), (1000.0, 5), (86400.0 * 365, 37), (5.0, 200)):
        for tt in (1, 0):
            if tt:
                lo = 2 * t / chi2_quantile(0.975, 2 * r + 2)
            else:
                lo = 2 * t / chi2_quantile(0.975, 2 * r) if r else float("nan")
            hi = 2 * t / chi2_quantile(0.025, 2 * r) if r else float("nan")
            print("    {%s, %d, %d, %s, %s}," % (c_double(t), r, tt, c_double(lo), c_double(hi)))
    print("};")

    # Type 7 quantiles of a sample with ties.
    rng = random.Random(7)
    data = sorted(round(rng.expovariate(1 / 300.0), 1) for _ in range(37)) + [0.0, 0.0, 12.5, 12.5]
    data.sort()
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    print("static const double ref_q_data[] = {%s};" % ", ".join(c_double(x) for x in data))
    print("static const struct ref_q ref_q[] = {")
    for pct in (1, 10, 25, 50, 90, 99):
        print("    {%s, %s}," % (c_double(pct / 100.0), c_double(cuts[pct - 1])))
    print("};")

    # Kaplan–Meier: the 6-MP arm of Freireich et al. (1963), weeks of
    # remission, + = censored.
    six_mp = [(6, 1), (6, 1), (6, 1), (6, 0), (7, 1), (9, 0), (10, 1), (10, 0), (11, 0),
              (13, 1), (16, 1), (17, 0), (19, 0), (20, 0), (22, 1), (23, 1), (25, 0),
              (32, 0), (32, 0), (34, 0), (35, 0)]
    print("static const struct emp_period ref_6mp[] = {%s};"
          % ", ".join("{%d, %s}" % (t, "true" if e else "false") for t, e in six_mp))
    print("static const struct ref_km ref_6mp_km[] = {")
    for t, s, se, n, d in km([t for t, _ in six_mp], [e for _, e in six_mp]):
        print("    {%s, %s, %s, %d, %d}," % (c_double(t), c_double(s), c_double(se), n, d))
    print("};")
    # A sample with ties between events and censorings, and S reaching 0.
    tie = [(0, 1), (0, 1), (3, 1), (3, 0), (3, 1), (5, 0), (8, 1), (8, 1)]
    print("static const struct emp_period ref_tie[] = {%s};"
          % ", ".join("{%d, %s}" % (t, "true" if e else "false") for t, e in tie))
    print("static const struct ref_km ref_tie_km[] = {")
    for t, s, se, n, d in km([t for t, _ in tie], [e for _, e in tie]):
        print("    {%s, %s, %s, %d, %d}," % (c_double(t), c_double(s), c_double(se), n, d))
    print("};")

    # Weibull: Lieblein & Zelen's ball bearings (millions of revolutions,
    # complete), the 6-MP remission times (censored), and a sample with
    # zero-length periods counted at 0.5 s.
    bearings = [17.88, 28.92, 33.00, 41.52, 42.12, 45.60, 48.48, 51.84, 51.96, 54.12,
                55.56, 67.80, 68.64, 68.64, 68.88, 84.12, 93.12, 98.64, 105.12, 105.84,
                127.92, 128.04, 173.40]
    zeros = [(0.0, 1), (0.0, 1), (3.0, 1), (40.0, 1), (7.5, 0), (1200.0, 1), (90.0, 1),
             (0.0, 0), (15.0, 1), (600.0, 0)]
    print("static const double ref_bearings[] = {%s};" % ", ".join(c_double(x) for x in bearings))
    print("static const struct emp_period ref_zeros[] = {%s};"
          % ", ".join("{%s, %s}" % (c_double(t), "true" if e else "false") for t, e in zeros))
    print("static const struct ref_weibull ref_weibull[] = {")
    for name, sample in (("bearings", [(t, 1) for t in bearings]), ("6mp", six_mp),
                         ("zeros", zeros)):
        # Zero-length periods count at 0.5 s, as emp_stats_weibull_fit does
        # with a floor of 0.5 s.
        sample = [(t if t > 0 else 0.5, e) for t, e in sample]
        k, lam, se, lo, hi = weibull_fit([float(t) for t, _ in sample], [e for _, e in sample])
        print("    {\"%s\", %s, %s, %s, %s, %s}," % (name, c_double(k), c_double(lam), c_double(se),
                                                  c_double(lo), c_double(hi)))
    print("};")

    # Lognormal of repair times with zeros at 0.5 s.
    rep = [0.0, 12.0, 60.0, 60.0, 95.5, 300.0, 7200.0, 0.0, 45.0]
    logs = [math.log(t if t > 0 else 0.5) for t in rep]
    print("static const double ref_repairs[] = {%s};" % ", ".join(c_double(x) for x in rep))
    print("static const double ref_lognormal[2] = {%s, %s};"
          % (c_double(statistics.fmean(logs)), c_double(statistics.pstdev(logs))))


if __name__ == "__main__":
    main()
