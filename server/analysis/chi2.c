/* The chi-square distribution: its CDF and quantile (analysis/stats.h),
 * from the regularized incomplete gamma function, for the exact intervals
 * of MTTF and MTTR under the exponential assumption. Pure; each formula
 * names its source. */
#include <float.h>
#include <math.h>

#include "analysis/stats.h"

/* ln Γ(x) for x > 0. Stirling's asymptotic series (Abramowitz & Stegun,
 * Handbook of Mathematical Functions, §6.1, 6.1.40–6.1.41, Bernoulli
 * coefficients 1/12, -1/360, 1/1260, -1/1680, 1/1188) after shifting x to
 * at least 10 with Γ(x + 1) = xΓ(x) (A&S 6.1.15); the truncation error is
 * below 1e-15 relative there. Our own because lgamma() writes the global
 * signgam and the API calls this from several threads. */
static double log_gamma(double x)
{
    double shift = 0.0;
    while (x < 10.0) {
        shift += log(x);
        x += 1.0;
    }
    double r = 1.0 / x, r2 = r * r;
    double series = r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 +
                    r2 * (-1.0 / 1680 + r2 * (1.0 / 1188)))));
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 /* ln √(2π) */
           + series - shift;
}

/* Poisson log-probability ln(e^-λ λ^j / j!), λ > 0. */
static double log_poisson(double j, double lambda)
{
    return -lambda + j * log(lambda) - log_gamma(j + 1.0);
}

/* Both tails of the chi-square distribution with 2k degrees of freedom at
 * x = 2λ, by the closed form for even degrees of freedom:
 *   Q(χ² | 2k) = Σ_{j=0}^{k-1} e^{-λ} λ^j / j!   (A&S §26.4, 26.4.21: the
 *   upper tail is a Poisson cumulative probability).
 * The smaller tail is summed directly — the terms decrease away from the
 * start in both directions chosen here, so the sum stops once they are
 * negligible (O(√k) terms) — and the other is its complement. */
static void chi2_tails_even(double k, double lambda, double *lower, double *upper)
{
    if (lambda <= 0.0) {
        *lower = 0.0;
        *upper = 1.0;
        return;
    }
    double sum = 0.0;
    if (lambda < k) {
        /* lower = P(Poisson(λ) >= k) = Σ_{j>=k}; term ratio λ/(j+1) < 1. */
        double j = k, term = exp(log_poisson(k, lambda));
        while (term > 0.0) {
            sum += term;
            if (term < sum * 1e-17)
                break;
            term *= lambda / (j + 1.0);
            j += 1.0;
        }
        *lower = sum;
        *upper = 1.0 - sum;
    } else {
        /* upper = P(Poisson(λ) <= k - 1), downward from k - 1; ratio j/λ < 1. */
        double j = k - 1.0, term = exp(log_poisson(k - 1.0, lambda));
        while (term > 0.0) {
            sum += term;
            if (term < sum * 1e-17 || j <= 0.0)
                break;
            term *= j / lambda;
            j -= 1.0;
        }
        *upper = sum;
        *lower = 1.0 - sum;
    }
}

/* Regularized incomplete gamma P(a, z) and Q(a, z) = 1 - P, for any a > 0:
 * the power series P(a,z) = z^a e^{-z} Σ z^n / Γ(a + n + 1) for z < a + 1
 * (A&S §6.5, 6.5.29), otherwise the continued fraction
 * Γ(a,z) = e^{-z} z^a (1/(z+1-a-) 1(1-a)/(z+3-a-) 2(2-a)/(z+5-a-) …)
 * (A&S 6.5.31) evaluated by the modified Lentz method (Numerical Recipes,
 * 3rd ed., §5.2 and §6.2). */
static void gamma_tails(double a, double z, double *lower, double *upper)
{
    if (z <= 0.0) {
        *lower = 0.0;
        *upper = 1.0;
        return;
    }
    double log_pre = -z + a * log(z) - log_gamma(a);
    if (z < a + 1.0) {
        double term = 1.0 / a, sum = term, ap = a;
        for (int i = 0; i < 100000; i++) {
            ap += 1.0;
            term *= z / ap;
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-17)
                break;
        }
        *lower = sum * exp(log_pre);
        *upper = 1.0 - *lower;
        return;
    }
    const double tiny = 1e-300;
    double b = z + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-16)
            break;
    }
    *upper = exp(log_pre) * h;
    *lower = 1.0 - *upper;
}

/* P(X <= x) and P(X > x) for X ~ χ²(dof): A&S 26.4.19, P(χ²|ν) is the
 * regularized incomplete gamma P(ν/2, χ²/2); even ν use the Poisson sum. */
static void chi2_tails(double x, double dof, double *lower, double *upper)
{
    double half = dof / 2.0;
    if (half == floor(half) && half <= 1e9)
        chi2_tails_even(half, x / 2.0, lower, upper);
    else
        gamma_tails(half, x / 2.0, lower, upper);
}

/* Density of χ²(dof) at x > 0: x^{ν/2-1} e^{-x/2} / (2^{ν/2} Γ(ν/2))
 * (A&S 26.4.1). */
static double chi2_pdf(double x, double dof)
{
    double a = dof / 2.0;
    return exp((a - 1.0) * log(x) - x / 2.0 - a * 0.69314718055994530942 - log_gamma(a));
}

double emp_stats_chi2_cdf(double x, double dof)
{
    if (isnan(x) || !(dof > 0.0) || isinf(dof))
        return NAN;
    if (x <= 0.0)
        return 0.0;
    if (isinf(x))
        return 1.0;
    double lo, up;
    chi2_tails(x, dof, &lo, &up);
    return lo;
}

/* Standard normal quantile, rational approximation of A&S 26.2.23
 * (|error| < 4.5e-4): only a starting point for the Newton iteration. */
static double normal_quantile_rough(double p)
{
    double q = p < 0.5 ? p : 1.0 - p;
    double t = sqrt(-2.0 * log(q));
    double z = t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                   (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
    return p < 0.5 ? -z : z;
}

/* F(x) increasing in x, zero at the quantile. Near p = 1 the upper tail
 * carries the precision, so it is compared there. */
static double chi2_root_fn(double x, double dof, double p)
{
    double lo, up;
    chi2_tails(x, dof, &lo, &up);
    return p > 0.5 ? (1.0 - p) - up : lo - p;
}

double emp_stats_chi2_quantile(double p, double dof)
{
    if (!(p > 0.0 && p < 1.0) || !(dof > 0.0) || isinf(dof))
        return NAN;
    /* Start from Wilson & Hilferty's cube-root normal approximation
     * (Wilson & Hilferty 1931, PNAS 17:684; A&S 26.4.17), or for a small
     * lower tail from P(χ² <= x) ≈ (x/2)^{ν/2} / Γ(ν/2 + 1). */
    double z = normal_quantile_rough(p), v = 2.0 / (9.0 * dof);
    double c = 1.0 - v + z * sqrt(v);
    double x = dof * c * c * c;
    if (!(x > 0.0))
        x = 2.0 * exp((log(p) + log_gamma(dof / 2.0 + 1.0)) / (dof / 2.0));
    /* Bracket [lo, hi] with F(lo) < 0 < F(hi). */
    double lo = x, hi = x;
    for (int i = 0; i < 2000 && chi2_root_fn(lo, dof, p) > 0.0; i++)
        lo /= 2.0;
    for (int i = 0; i < 2000 && chi2_root_fn(hi, dof, p) < 0.0; i++)
        hi *= 2.0;
    /* Newton's method safeguarded by bisection (Numerical Recipes, 3rd
     * ed., §9.4): a step leaving the bracket is replaced by bisection. */
    x = (lo + hi) / 2.0;
    if (x == lo || x == hi)
        return x;
    for (int i = 0; i < 200; i++) {
        double f = chi2_root_fn(x, dof, p);
        if (f == 0.0)
            return x;
        if (f < 0.0)
            lo = x;
        else
            hi = x;
        double d = chi2_pdf(x, dof);
        double nx = d > 0.0 ? x - f / d : NAN;
        if (!(nx > lo && nx < hi))
            nx = (lo + hi) / 2.0;
        if (fabs(nx - x) <= 4.0 * DBL_EPSILON * nx || hi - lo <= 4.0 * DBL_EPSILON * hi)
            return nx;
        x = nx;
    }
    return x;
}
