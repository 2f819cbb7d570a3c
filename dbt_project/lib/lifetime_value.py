"""Customer lifetime value: BG/NBD for repeat purchases and Gamma-Gamma for spend.

References: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
Pareto/NBD model" (BG/NBD), and Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for
customer base analysis" (Gamma-Gamma spend model). Hardie's notes "Implementing the BG/NBD model
for customer base analysis in Excel" and "The Gamma-Gamma model of monetary value" give the
log-likelihoods in the form used here.

Inputs per customer, all over a calibration period:
    x    number of repeat purchases (distinct purchase days - 1)
    t_x  time of the last purchase, from the first one (weeks)
    T    time from the first purchase to the end of the calibration period (weeks)
    zbar mean spend of the repeat purchases (0 when x = 0)

Fits are maximum likelihood over the logarithms of the parameters (all parameters are positive).
A fit that cannot be trusted comes back with `converged=False` and no parameters, so callers can
fall back (e.g. report historical value only) instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

Array = NDArray[np.float64]

# Below this many customers (BG/NBD) or repeat buyers (Gamma-Gamma) a fit says more about noise
# than about the customer base.
MIN_SAMPLE = 10
# A parameter that ends this many e-folds away from its (scale-aware) start has diverged: the
# likelihood has no interior optimum (e.g. nobody ever drops out). Treat it as a failed fit rather
# than report 1e9 or 1e-9.
MAX_LOG_DISTANCE = 15.0
# Weeks in an average calendar month: horizons are in months, the model clock in weeks.
WEEKS_PER_MONTH = 365.25 / 12 / 7


@dataclass(frozen=True)
class BgNbdFit:
    r: float | None
    alpha: float | None
    a: float | None
    b: float | None
    log_likelihood: float | None
    n: int
    converged: bool


@dataclass(frozen=True)
class GammaGammaFit:
    p: float | None
    q: float | None
    gamma: float | None
    log_likelihood: float | None
    n: int
    converged: bool


def _arrays(*values: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.asarray(v, dtype=np.float64) for v in values)


def _maximise(negative_ll: Callable[[Array], float], start: Array) -> tuple[Array, float, bool]:
    """Minimise a negative log-likelihood over log-parameters; return (parameters, log-lik, ok)."""
    with np.errstate(all="ignore"):
        # Nelder-Mead does not need gradients and is robust to the flat ridges these likelihoods
        # have; a second run from its optimum confirms it did not stall on a simplex collapse.
        options = {"xatol": 1e-10, "fatol": 1e-10, "maxiter": 5_000, "maxfev": 5_000}
        result = minimize(negative_ll, start, method="Nelder-Mead", options=options)
        result = minimize(negative_ll, result.x, method="Nelder-Mead", options=options)
    ok = bool(
        result.success
        and np.isfinite(result.fun)
        and np.all(np.isfinite(result.x))
        and np.all(np.abs(result.x - start) < MAX_LOG_DISTANCE)
    )
    return np.exp(result.x), -float(result.fun), ok


# --- BG/NBD ---------------------------------------------------------------------------------------


def _distinct(values: Array) -> tuple[Array, NDArray[np.intp]]:
    """The distinct values (or rows) and, per element, the position of its value among them."""
    distinct, positions = np.unique(values, axis=0 if values.ndim > 1 else None, return_inverse=True)
    return distinct, positions.reshape(-1)


# A fit evaluates its likelihood thousands of times. Customers share summaries (the clock is in
# days: a few thousand distinct (x, t_x, T) for 10,000 customers, and the special functions need
# only the distinct x), so the classes below compute each term once per distinct value and
# gather it per customer. Each customer's value is the same arithmetic on the same numbers as
# the element-wise formula, so the likelihoods, their sums and the fits are identical to it.


@dataclass(frozen=True)
class _BgNbdData:
    """Distinct (x, t_x, T) rows: x, and t_x and T as their distinct values plus positions."""

    x: Array
    xs: Array
    x_at: NDArray[np.intp]
    t_xs: Array
    t_x_at: NDArray[np.intp]
    Ts: Array
    T_at: NDArray[np.intp]
    row_at: NDArray[np.intp]  # per customer, the row of its summary

    @classmethod
    def of(cls, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> _BgNbdData:
        rows, row_at = _distinct(np.column_stack(np.broadcast_arrays(*_arrays(x, t_x, T))))
        x, t_x, T = (np.ascontiguousarray(column) for column in rows.T)
        return cls(x, *_distinct(x), *_distinct(t_x), *_distinct(T), row_at)

    def log_likelihood(self, r: float, alpha: float, a: float, b: float) -> Array:
        xs, x_at = self.xs, self.x_at
        common = (gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xs) - betaln(a, b))[x_at]
        # Still alive at T ...
        alive = (-(r + xs))[x_at] * np.log(alpha + self.Ts)[self.T_at]
        # ... or dropped out right after the last purchase (only possible after a repeat purchase);
        # B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1). Rows with x = 0 are computed, then discarded.
        with np.errstate(divide="ignore", invalid="ignore"):
            dropped = np.where(
                self.x > 0,
                (np.log(a) - np.log(b + xs - 1))[x_at]
                - (r + xs)[x_at] * np.log(alpha + self.t_xs)[self.t_x_at],
                -np.inf,
            )
        return (common + np.logaddexp(alive, dropped))[self.row_at]


def bg_nbd_log_likelihood(
    r: float, alpha: float, a: float, b: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> Array:
    """Per-customer BG/NBD log-likelihood (FHL 2005, eq. 6)."""
    return _BgNbdData.of(x, t_x, T).log_likelihood(r, alpha, a, b)


def fit_bg_nbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, min_sample: int = MIN_SAMPLE) -> BgNbdFit:
    """Maximum-likelihood BG/NBD parameters (r, alpha, a, b)."""
    x, t_x, T = _arrays(x, t_x, T)
    n = int(x.size)
    # Without repeat buyers the dropout process is not identified.
    if n < min_sample or not np.any(x > 0):
        return BgNbdFit(None, None, None, None, None, n, False)

    data = _BgNbdData.of(x, t_x, T)

    def negative_ll(log_params: Array) -> float:
        value = -np.sum(data.log_likelihood(*np.exp(log_params)))
        return float(value) if np.isfinite(value) else np.inf

    # Start where the purchase rate matches the sample: E[rate] = r / alpha.
    rate = max(float(np.sum(x) / np.sum(T)), 1e-6) if np.sum(T) > 0 else 1.0
    start = np.log([1.0, 1.0 / rate, 1.0, 1.0])
    (r, alpha, a, b), ll, ok = _maximise(negative_ll, start)
    if not ok:
        return BgNbdFit(None, None, None, None, None, n, False)
    return BgNbdFit(float(r), float(alpha), float(a), float(b), ll, n, True)


def _dropout_odds(fit: BgNbdFit, x: Array, t_x: Array, T: Array) -> Array:
    """Odds that a customer dropped out after the last purchase rather than being still alive."""
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds = a / (b + x - 1) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(x > 0, odds, 0.0)


def probability_alive(fit: BgNbdFit, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """P(alive | x, t_x, T) at the end of the calibration period (FHL 2005, eq. 11)."""
    x, t_x, T = _arrays(x, t_x, T)
    return 1.0 / (1.0 + _dropout_odds(fit, x, t_x, T))


def expected_purchases(fit: BgNbdFit, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t weeks (FHL 2005, eq. 10)."""
    t, x, t_x, T = _arrays(t, x, t_x, T)
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    hypergeometric = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    growth = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hypergeometric
    return (a + b + x - 1) / (a - 1) * growth / (1.0 + _dropout_odds(fit, x, t_x, T))


# --- Gamma-Gamma ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GammaGammaData:
    """Distinct (x, zbar) rows: x as its distinct values plus positions, and what does not depend
    on the parameters computed once."""

    xs: Array
    x_at: NDArray[np.intp]
    log_zbar: Array
    log_x: Array
    spend: Array
    row_at: NDArray[np.intp]  # per customer, the row of its summary

    @classmethod
    def of(cls, x: ArrayLike, zbar: ArrayLike) -> _GammaGammaData:
        rows, row_at = _distinct(np.column_stack(np.broadcast_arrays(*_arrays(x, zbar))))
        x, zbar = (np.ascontiguousarray(column) for column in rows.T)
        with np.errstate(divide="ignore", invalid="ignore"):
            return cls(*_distinct(x), np.log(zbar), np.log(x), x * zbar, row_at)

    def log_likelihood(self, p: float, q: float, gamma: float) -> Array:
        xs, x_at = self.xs, self.x_at
        px = (p * xs)[x_at]
        return (
            (gammaln(p * xs + q) - gammaln(p * xs) - gammaln(q) + q * np.log(gamma))[x_at]
            + (p * xs - 1)[x_at] * self.log_zbar
            + px * self.log_x
            - (p * xs + q)[x_at] * np.log(gamma + self.spend)
        )[self.row_at]


def gamma_gamma_log_likelihood(p: float, q: float, gamma: float, x: ArrayLike, zbar: ArrayLike) -> Array:
    """Per-customer Gamma-Gamma log-likelihood of the mean repeat spend zbar over x purchases."""
    return _GammaGammaData.of(x, zbar).log_likelihood(p, q, gamma)


def fit_gamma_gamma(x: ArrayLike, zbar: ArrayLike, min_sample: int = MIN_SAMPLE) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma parameters (p, q, gamma) on repeat buyers only."""
    x, zbar = _arrays(x, zbar)
    # The model describes the spend of repeat purchases: one-time buyers carry no zbar.
    repeat = (x > 0) & (zbar > 0)
    x, zbar = x[repeat], zbar[repeat]
    n = int(x.size)
    if n < min_sample:
        return GammaGammaFit(None, None, None, None, n, False)

    data = _GammaGammaData.of(x, zbar)

    def negative_ll(log_params: Array) -> float:
        value = -np.sum(data.log_likelihood(*np.exp(log_params)))
        return float(value) if np.isfinite(value) else np.inf

    # Start with a mean spend equal to the sample's: E[M] = p * gamma / (q - 1).
    start = np.log([1.0, 2.0, float(np.mean(zbar))])
    (p, q, gamma), ll, ok = _maximise(negative_ll, start)
    # With q <= 1 the population mean spend is infinite: no usable model.
    if not ok or q <= 1:
        return GammaGammaFit(None, None, None, None, n, False)
    return GammaGammaFit(float(p), float(q), float(gamma), ll, n, True)


def observed_average_spend(x: ArrayLike, zbar: ArrayLike) -> Array:
    """Fallback when Gamma-Gamma cannot be fitted (e.g. fixed subscription prices leave no spread
    to model): the customer's own mean repeat spend, or the repeat buyers' mean without one."""
    x, zbar = _arrays(x, zbar)
    repeat = (x > 0) & (zbar > 0)
    population = float(np.mean(zbar[repeat])) if np.any(repeat) else np.nan
    return np.where(repeat, zbar, population)


def expected_average_spend(fit: GammaGammaFit, x: ArrayLike, zbar: ArrayLike) -> Array:
    """E[M | x, zbar]: a weighted mean of the population mean and the customer's own mean spend."""
    x, zbar = _arrays(x, zbar)
    p, q, gamma = fit.p, fit.q, fit.gamma
    # zbar means nothing without repeat purchases: such customers get the population mean.
    return np.where(x > 0, p * (gamma + x * zbar) / (p * x + q - 1), p * gamma / (q - 1))


# --- Value ----------------------------------------------------------------------------------------


def discounted_expected_value(
    bg_nbd: BgNbdFit,
    spend: ArrayLike,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    horizon_months: int,
    annual_discount_rate: float,
) -> Array:
    """Expected spend over the next `horizon_months`, each month's purchases discounted to today.

    Month m contributes (E[Y(t_m)] - E[Y(t_{m-1})]) * spend / (1 + d)^m, with t_m in weeks and d
    the monthly rate equivalent to the annual one.
    """
    spend, x, t_x, T = _arrays(spend, x, t_x, T)
    monthly_rate = (1.0 + annual_discount_rate) ** (1.0 / 12.0) - 1.0
    value = np.zeros(np.broadcast(spend, x, t_x, T).shape)
    previous = np.zeros_like(value)
    for month in range(1, horizon_months + 1):
        cumulative = expected_purchases(bg_nbd, month * WEEKS_PER_MONTH, x, t_x, T)
        value += (cumulative - previous) * spend / (1.0 + monthly_rate) ** month
        previous = cumulative
    return value
