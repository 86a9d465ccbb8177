"""BG/NBD and Gamma-Gamma: the published likelihoods, fitted by maximum likelihood, and what
they predict per customer. Pure numpy and scipy; nothing here knows the database.

BG/NBD (Fader, Hardie and Lee 2005, "Counting your customers the easy way"): while alive a
customer buys at a Poisson rate λ ~ Gamma(r, α) per week, and after each purchase drops out
with probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie and Lee 2005, "RFM and CLV"):
a customer's purchase amounts are Gamma(p, ν) around a mean that varies by customer,
ν ~ Gamma(q, γ) (γ is written `v` here). Each customer is summarised as `x` repeat purchase
days, `t_x` the week of the last one and `T` the weeks since the first (both measured from
the first purchase), and `m` the mean amount of the repeat purchase days.

Both fits optimise the log-likelihood over the logarithms of the parameters (so they stay
positive) with L-BFGS-B and the analytic gradient; the terms that depend on `x` alone are
computed once per distinct `x`, so a million customers cost a few vector passes per step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

Array = NDArray[np.float64]


class FitError(ValueError):
    """The data cannot be fitted (too few customers or repeat buyers), or the fit did not
    converge: never a set of made-up parameters."""


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float
    log_likelihood: float


def _per_value(x: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64], Array]:
    """The distinct values of `x`, how often each occurs and, per customer, which one it is."""
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return values, inverse, counts.astype(np.float64)


def _start(*guesses: float) -> Array:
    return np.log(np.array(guesses, dtype=np.float64))


def _minimise(name: str, objective, start: Array) -> Array:  # type: ignore[no-untyped-def]
    # Bounds on the logarithms keep every step finite (parameters within e^-12 .. e^12).
    result = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-12.0, 12.0)] * len(start),
        options={"maxiter": 2000, "gtol": 1e-8, "ftol": 1e-14},
    )
    at_bound = np.any(np.abs(result.x) > 11.9)
    # A line search that cannot improve on a point where the gradient is already ~0 has
    # converged too (L-BFGS-B then reports ABNORMAL).
    flat = bool(np.all(np.isfinite(result.jac)) and np.max(np.abs(result.jac)) < 1e-5)
    if not (result.success or flat) or not np.all(np.isfinite(result.x)) or at_bound:
        why = "a parameter ran off to its bound" if at_bound else result.message
        raise FitError(f"the {name} fit did not converge ({why})")
    return np.asarray(result.x, dtype=np.float64)


def bgnbd_fit(x: Array, t_x: Array, T: Array) -> BgNbd:
    """The BG/NBD parameters that maximise the likelihood of (x, t_x, T), in weeks."""
    x = np.asarray(x, dtype=np.float64)
    t_x = np.asarray(t_x, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise FitError("no customers to fit")
    values, inverse, counts = _per_value(x.astype(np.int64))
    xv = values.astype(np.float64)
    repeat = x > 0
    xr, txr = x[repeat], t_x[repeat]
    scale = float(n)

    def objective(theta: Array) -> tuple[float, Array]:
        r, alpha, a, b = np.exp(theta)
        # Terms of x alone, per distinct x.
        a1 = special.gammaln(r + xv) - special.gammaln(r) + r * np.log(alpha)
        a2 = (
            special.gammaln(a + b)
            + special.gammaln(b + xv)
            - special.gammaln(b)
            - special.gammaln(a + b + xv)
        )
        d_a1_r = special.digamma(r + xv) - special.digamma(r) + np.log(alpha)
        d_a2_a = special.digamma(a + b) - special.digamma(a + b + xv)
        d_a2_b = d_a2_a + special.digamma(b + xv) - special.digamma(b)
        # Per customer: log(e^A3 + [x > 0] e^A4).
        log_aT = np.log(alpha + T)
        a3 = -(r + x) * log_aT
        a4 = np.full(n, -np.inf)
        log_atx = np.log(alpha + txr)
        with np.errstate(divide="ignore"):
            a4[repeat] = np.log(a) - np.log(b + xr - 1) - (r + xr) * log_atx
        total = np.logaddexp(a3, a4)
        w4 = np.exp(a4 - total)  # share of the "dropped out after the last purchase" term
        w3 = 1.0 - w4
        ll = float(np.dot(counts, a1 + a2) + total.sum())
        w4r = w4[repeat]
        g_r = np.dot(counts, d_a1_r) + np.sum(w3 * -log_aT) + np.sum(w4r * -log_atx)
        g_alpha = (
            np.dot(counts, np.full_like(xv, r / alpha))
            + np.sum(w3 * -(r + x) / (alpha + T))
            + np.sum(w4r * -(r + xr) / (alpha + txr))
        )
        g_a = np.dot(counts, d_a2_a) + np.sum(w4r) / a
        g_b = np.dot(counts, d_a2_b) + np.sum(w4r * -1.0 / (b + xr - 1))
        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        return -ll / scale, -grad / scale

    del inverse  # only the distinct values and their counts are needed
    theta = _minimise("BG/NBD", objective, _start(1.0, max(float(np.mean(T)), 1.0), 1.0, 1.0))
    r, alpha, a, b = (float(v) for v in np.exp(theta))
    return BgNbd(r, alpha, a, b, -objective(theta)[0] * scale)


def gamma_gamma_fit(x: Array, m: Array) -> GammaGamma:
    """The Gamma-Gamma parameters that maximise the likelihood of the mean amounts `m` of
    customers with `x` > 0 repeat purchase days (others are left out)."""
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    keep = (x > 0) & np.isfinite(m)
    x, m = x[keep], m[keep]
    if np.any(m <= 0):
        raise FitError(
            "the Gamma-Gamma model needs positive amounts; some repeat days sum to 0 or less"
        )
    n = len(x)
    if n == 0:
        raise FitError("no repeat buyers to fit the spend model on")
    log_m, log_x, log_xm = np.log(m), np.log(x), np.log(x * m)
    scale = float(n)

    def objective(theta: Array) -> tuple[float, Array]:
        p, q, v = np.exp(theta)
        px = p * x
        log_xmv = np.log(x * m + v)
        ll_i = (
            special.gammaln(px + q)
            - special.gammaln(px)
            - special.gammaln(q)
            + q * np.log(v)
            + (px - 1) * log_m
            + px * log_x
            - (px + q) * log_xmv
        )
        psi_pxq = special.digamma(px + q)
        g_p = np.sum(x * (psi_pxq - special.digamma(px) + log_xm - log_xmv))
        g_q = np.sum(psi_pxq - special.digamma(q) + np.log(v) - log_xmv)
        g_v = np.sum(q / v - (px + q) / (x * m + v))
        grad = np.array([g_p * p, g_q * q, g_v * v])
        return -float(ll_i.sum()) / scale, -grad / scale

    theta = _minimise("Gamma-Gamma", objective, _start(1.0, 2.0, float(np.mean(m))))
    p, q, v = (float(v) for v in np.exp(theta))
    if q <= 1:
        raise FitError(
            f"the Gamma-Gamma fit gave q = {q:.3f} <= 1: the population's mean spend is "
            "undefined, so no spend can be predicted"
        )
    return GammaGamma(p, q, v, -objective(theta)[0] * scale)


# ---- per-customer predictions ------------------------------------------------------------------


def _log_odds_dropped(model: BgNbd, x: Array, t_x: Array, T: Array) -> Array:
    """log of a/(b+x-1) * ((α+T)/(α+t_x))^(r+x) for x > 0, -inf for x = 0."""
    out = np.full(len(x), -np.inf)
    rep = x > 0
    out[rep] = (
        np.log(model.a)
        - np.log(model.b + x[rep] - 1)
        + (model.r + x[rep]) * (np.log(model.alpha + T[rep]) - np.log(model.alpha + t_x[rep]))
    )
    return out


def p_alive(model: BgNbd, x: Array, t_x: Array, T: Array) -> Array:
    """P(still active at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x))."""
    return np.asarray(special.expit(-_log_odds_dropped(model, x, t_x, T)), dtype=np.float64)


def expected_purchases(model: BgNbd, t: float, x: Array, t_x: Array, T: Array) -> Array:
    """E[purchases in the next `t` weeks | x, t_x, T] (the paper's equation 10):
    (a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))]
    / (1 + [x > 0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x))."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    if t <= 0:
        return np.zeros(len(x))
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    power = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    head = (a + b + x - 1) / (a - 1) * (1 - power * hyp)
    return np.asarray(head * special.expit(-_log_odds_dropped(model, x, t_x, T)), dtype=np.float64)


def expected_spend(model: GammaGamma, x: Array, m: Array) -> Array:
    """E[amount of a purchase | x, m]: (q-1)/(px+q-1) · pv/(q-1) + px/(px+q-1) · m; the
    population mean pv/(q-1) for customers without repeat purchases."""
    p, q, v = model.p, model.q, model.v
    population = p * v / (q - 1)
    m = np.where(x > 0, np.nan_to_num(m, nan=0.0), 0.0)
    weight = p * x / (p * x + q - 1)
    return np.asarray((1 - weight) * population + weight * m, dtype=np.float64)


def weekly_rate(annual_rate: float) -> float:
    """The weekly discount rate equivalent to `annual_rate`: (1 + annual)^(1/52) - 1."""
    return float((1 + annual_rate) ** (1 / 52) - 1)


def expected_value(
    bgnbd: BgNbd,
    spend: Array,
    *,
    horizon_weeks: int,
    annual_rate: float,
    x: Array,
    t_x: Array,
    T: Array,
) -> Array:
    """Discounted expected value over the next `horizon_weeks`: the purchases expected in
    each week k, E[Y(k)] - E[Y(k-1)], times the expected spend, over (1 + d)^k, summed; d is
    the weekly rate equivalent to `annual_rate`."""
    d = weekly_rate(annual_rate)
    # Customers with the same history have the same expected purchases: work them out once
    # per distinct (x, t_x, T) (histories counted in whole days repeat a lot: every one-time
    # buyer of a day shares one).
    histories, inverse = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_inverse=True)
    hx, htx, hT = histories[:, 0], histories[:, 1], histories[:, 2]
    total = np.zeros(len(histories))
    before = np.zeros(len(histories))
    for k in range(1, horizon_weeks + 1):
        now = expected_purchases(bgnbd, float(k), hx, htx, hT)
        total += (now - before) / (1 + d) ** k
        before = now
    return np.asarray(total[inverse.ravel()] * spend, dtype=np.float64)


def simulate(
    n: int, *, r: float, alpha: float, a: float, b: float, T_max: float, seed: int = 0
) -> tuple[Array, Array, Array]:
    """(x, t_x, T) of `n` customers drawn from the BG/NBD model, each first seen at a uniform
    time so their ages T run from 0 to `T_max` weeks (for benches and tests)."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(1.0, T_max, n)
    lam = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        t[idx] += rng.exponential(1 / np.maximum(lam[idx], 1e-12))
        bought = t[idx] < T[idx]
        done = idx[~bought]
        alive[done] = False
        idx = idx[bought]
        x[idx] += 1
        t_x[idx] = t[idx]
        # After each purchase the customer drops out with probability p.
        alive[idx[rng.random(len(idx)) < drop[idx]]] = False
    return x, t_x, T


def simulate_spend(x: Array, *, p: float, q: float, v: float, seed: int = 0) -> Array:
    """Mean amounts of each customer's `x` repeat purchases under the Gamma-Gamma model
    (NaN where x = 0)."""
    rng = np.random.default_rng(seed + 1)
    nu = rng.gamma(q, 1 / v, len(x))
    m = np.full(len(x), np.nan)
    rep = x > 0
    # The sum of x Gamma(p, ν) amounts is Gamma(p·x, ν).
    m[rep] = rng.gamma(p * x[rep], 1 / nu[rep]) / x[rep]
    return m
