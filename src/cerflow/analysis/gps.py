"""Gamma-Poisson Shrinker (GPS): the empirical-Bayes prior behind EBGM, EB05 and EB95.

DuMouchel (1999) models the observed count ``n`` of a product-event pair as Poisson with
mean ``lambda * E`` and puts a two-component gamma mixture on ``lambda``::

    lambda ~ P * Gamma(alpha1, beta1) + (1 - P) * Gamma(alpha2, beta2)      (rate form)

so that ``n`` is a mixture of two negative binomials. The five hyperparameters are fitted by
maximum likelihood on every pair that was actually observed (``n >= 1``). Pairs with
``n = 0`` are never enumerated, so each negative-binomial component is truncated at zero
before mixing, ``P f1(n)/(1 - f1(0)) + (1 - P) f2(n)/(1 - f2(0))``: exactly openEBGM's
``negLL``/``negLLsquash`` with ``N_star = 1`` (DuMouchel & Pregibon 2001), so our
log-likelihood values equal openEBGM's. The fitted prior then shrinks each pair:

* ``EBGM = exp(E[log lambda | n])``, the posterior geometric mean;
* ``EB05`` / ``EB95``: the 5 % / 95 % points of the posterior, itself a gamma mixture
  ``Q_n * Gamma(alpha1 + n, beta1 + E) + (1 - Q_n) * Gamma(alpha2 + n, beta2 + E)``,
  found by safeguarded Newton iterations on the mixture CDF (bracketed by the two
  component quantiles). For counts ``n`` shared by many pairs, EBGM and the quantiles are
  solved on a grid of ``log E`` and read off cubic splines; every spline interval is
  checked at its midpoint against the exact value and pairs in intervals that fail
  (steep regions, where a component's weight crosses the quantile level) are solved
  exactly, so the result stays within ~1e-7 of the exact path (tested on the prior fitted
  at 1M reports, where an unchecked spline was off by up to a factor 2.5).

Why it is fitted here instead of using published hyperparameters: a prior that does not
describe the data (or that sits on an optimiser bound, as vigipy's Nelder-Mead fit often
does) mis-shrinks every pair, and EB05 >= 2 then misses real signals.

Fitting method: the negative log-likelihood (with analytic gradient) is minimised over
``(log alpha1, log beta1, log alpha2, log beta2, logit P)`` by BFGS (quasi-Newton) from six
starting points (20 iterations each), the best one then run to convergence; the transform
keeps ``alpha, beta > 0`` and ``0 < P < 1``, and a result within 1e-3 of the sanity
limits (``1e-5 .. 1e5``, logit ``+-15``) is reported as not converged. With more than
50,000 pairs the data are first *squashed* (DuMouchel & Pregibon 2001, as openEBGM's
``squashData``): within each count ``n`` seen at least 50 times, pairs whose ``log E``
falls in the same 0.04-wide bin become one point at their mean ``E`` weighted by their
number. ``GpsPrior.loglik`` is always evaluated on the full, unsquashed pairs.

Conventions: component 1 is reported as the one with the larger prior mean
``alpha / beta`` (the "signal" component in DuMouchel's and openEBGM's published fits); the
log-likelihood includes the ``log n!`` constants, like R's ``dnbinom`` in openEBGM's
``negLL``, so values are directly comparable with openEBGM's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from typing import cast

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special
from scipy.interpolate import CubicSpline

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Bounds of the transformed parameters (log alpha, log beta, logit P). Wide enough for any
# sensible prior; a fit on a bound is reported as not converged.
_LOG_BOUND = (np.log(1e-5), np.log(1e5))
_LOGIT_BOUND = (-15.0, 15.0)
_BOUNDS = [_LOG_BOUND, _LOG_BOUND, _LOG_BOUND, _LOG_BOUND, _LOGIT_BOUND]
_LO = np.array([b[0] for b in _BOUNDS])
_HI = np.array([b[1] for b in _BOUNDS])

# Starting points (alpha1, beta1, alpha2, beta2, P): DuMouchel's published FDA prior, the
# kind of starts openEBGM's vignettes use, and a few spread-out ones.
DEFAULT_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.2, 0.06, 1.4, 1.8, 0.1),
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (1.0, 0.2, 1.0, 1.0, 0.1),
    (5.0, 1.0, 1.0, 1.0, 0.05),
    (0.5, 0.3, 12.0, 12.0, 0.8),
)


@dataclass(frozen=True)
class GpsPrior:
    """The five GPS hyperparameters and how they were obtained.

    ``loglik`` is the zero-truncated log-likelihood on all fitted pairs (``None`` when the
    prior was given rather than fitted); ``converged`` is False when the optimiser failed or
    ended on a parameter bound, in which case EB05-based flags deserve scepticism.
    """

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float
    loglik: float | None = None
    converged: bool = True
    method: str = "given"
    n_pairs: int = 0
    n_points: int = 0

    def __post_init__(self) -> None:
        for name in ("alpha1", "beta1", "alpha2", "beta2"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"GpsPrior.{name} must be a positive finite number, got {value}")
        if not (0.0 <= self.p <= 1.0):
            raise ValueError(f"GpsPrior.p must be in [0, 1], got {self.p}")

    @property
    def theta(self) -> tuple[float, float, float, float, float]:
        """(alpha1, beta1, alpha2, beta2, P), the order openEBGM and vigipy use."""
        return (self.alpha1, self.beta1, self.alpha2, self.beta2, self.p)


def _as_arrays(n: ArrayLikeInt, e: ArrayLikeFloat) -> tuple[FloatArray, FloatArray]:
    n_arr = np.asarray(n, dtype=np.float64)
    e_arr = np.asarray(e, dtype=np.float64)
    if n_arr.shape != e_arr.shape or n_arr.ndim != 1:
        raise ValueError("n and e must be one-dimensional arrays of the same length")
    if n_arr.size and (np.any(n_arr < 0) or np.any(n_arr != np.floor(n_arr))):
        raise ValueError("n must hold non-negative whole counts")
    if e_arr.size and not np.all(np.isfinite(e_arr) & (e_arr > 0)):
        raise ValueError("every expected count e must be a positive finite number")
    return n_arr, e_arr


ArrayLikeInt = Sequence[int] | NDArray[np.integer] | NDArray[np.floating]


def _as_counts(n: ArrayLikeInt, e: ArrayLikeFloat) -> tuple[IntArray, FloatArray]:
    """As :func:`_as_arrays`, but the counts as integers: an integer array is used as it
    is, and the checks are reductions (no temporary of the pairs' size)."""
    n_given = np.asarray(n)
    if not np.issubdtype(n_given.dtype, np.integer):
        n_float, e_arr = _as_arrays(n, e)
        return n_float.astype(np.int64), e_arr
    n_arr = n_given.astype(np.int64, copy=False)
    e_arr = np.asarray(e, dtype=np.float64)
    if n_arr.shape != e_arr.shape or n_arr.ndim != 1:
        raise ValueError("n and e must be one-dimensional arrays of the same length")
    if n_arr.size and int(n_arr.min()) < 0:
        raise ValueError("n must hold non-negative whole counts")
    # min > 0 is False for NaN; a finite maximum rules out +inf
    if e_arr.size and not (float(e_arr.min()) > 0 and np.isfinite(e_arr.max())):
        raise ValueError("every expected count e must be a positive finite number")
    return n_arr, e_arr


ArrayLikeFloat = Sequence[float] | NDArray[np.floating]


class _Points:
    """Counts and expected counts with what every likelihood evaluation reuses (the
    per-count tables are built on first use: the spline path over all pairs needs only
    ``n`` and ``log E``)."""

    def __init__(
        self, n: FloatArray, e: FloatArray, w: FloatArray | None, log_e: FloatArray
    ) -> None:
        self.n = n
        self.e = e
        self._w = w
        self.log_e = log_e

    @classmethod
    def of(
        cls,
        n: FloatArray,
        e: FloatArray,
        w: FloatArray | None = None,
        log_e: FloatArray | None = None,
    ) -> _Points:
        return cls(n, e, w, np.log(e) if log_e is None else log_e)

    @cached_property
    def w(self) -> FloatArray:
        return np.ones_like(self.n) if self._w is None else self._w

    @cached_property
    def _by_count(self) -> tuple[FloatArray, IntArray]:
        n_int = self.n.astype(np.int64)
        present = np.bincount(n_int) > 0 if n_int.size else np.zeros(0, dtype=bool)
        uniq = np.flatnonzero(present).astype(np.float64)
        inv = (np.cumsum(present) - 1)[n_int] if n_int.size else n_int
        return uniq, inv

    @property
    def uniq(self) -> FloatArray:  # distinct n values
        return self._by_count[0]

    @property
    def inv(self) -> IntArray:  # index of each n in uniq
        return self._by_count[1]

    @cached_property
    def lgn1(self) -> FloatArray:  # log n!
        return cast(FloatArray, special.gammaln(self.uniq + 1.0)[self.inv])

    def gammaln_shift(self, alpha: float) -> FloatArray:
        return cast(FloatArray, special.gammaln(alpha + self.uniq)[self.inv])

    def digamma_shift(self, alpha: float) -> FloatArray:
        return cast(FloatArray, special.digamma(alpha + self.uniq)[self.inv])


def _component_terms(
    pts: _Points, alpha: float, beta: float, *, with_zero: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """log NB(n), 1 - NB(0) and log(beta + e) for one gamma component."""
    log_be = np.log(beta + pts.e)
    log_b = np.log(beta)
    log_f = (
        pts.gammaln_shift(alpha)
        - special.gammaln(alpha)
        - pts.lgn1
        + alpha * (log_b - log_be)
        + pts.n * (pts.log_e - log_be)
    )
    # 1 - (beta/(beta+e))^alpha, accurate for tiny e.
    one_minus_f0 = -np.expm1(alpha * (log_b - log_be)) if with_zero else log_be
    return log_f, one_minus_f0, log_be


def _unpack(x: FloatArray) -> tuple[float, float, float, float, float]:
    a1, b1, a2, b2 = (float(v) for v in np.exp(x[:4]))
    p = float(special.expit(x[4]))
    return a1, b1, a2, b2, p


def _pack(theta: Sequence[float]) -> FloatArray:
    a1, b1, a2, b2, p = theta
    p = min(max(p, 1e-6), 1 - 1e-6)
    return np.array([np.log(a1), np.log(b1), np.log(a2), np.log(b2), special.logit(p)])


def _nll_and_grad(x: FloatArray, pts: _Points, truncated: bool) -> tuple[float, FloatArray]:
    """Weighted negative log-likelihood and its gradient in the transformed parameters."""
    a1, b1, a2, b2, p = _unpack(x)
    n, e, w = pts.n, pts.e, pts.w
    lf1, om1, lbe1 = _component_terms(pts, a1, b1)
    lf2, om2, lbe2 = _component_terms(pts, a2, b2)
    # d log f / d alpha, d log f / d beta for each component.
    da1 = pts.digamma_shift(a1) - special.digamma(a1) + np.log(b1) - lbe1
    db1 = a1 / b1 - (a1 + n) / (b1 + e)
    da2 = pts.digamma_shift(a2) - special.digamma(a2) + np.log(b2) - lbe2
    db2 = a2 / b2 - (a2 + n) / (b2 + e)
    if truncated:
        # Each component conditioned on n >= 1: f* = f / (1 - f(0)); log f(0) = alpha *
        # log(beta / (beta + e)), so d log(1 - f0) = -f0 * d log f0 / (1 - f0).
        lf1 = lf1 - np.log(om1)
        lf2 = lf2 - np.log(om2)
        c1 = (1.0 - om1) / om1
        c2 = (1.0 - om2) / om2
        da1 = da1 + c1 * (np.log(b1) - lbe1)
        db1 = db1 + c1 * (a1 / b1 - a1 / (b1 + e))
        da2 = da2 + c2 * (np.log(b2) - lbe2)
        db2 = db2 + c2 * (a2 / b2 - a2 / (b2 + e))
    l1 = np.log(p) + lf1
    l2 = np.log1p(-p) + lf2
    ll = np.logaddexp(l1, l2)
    r1 = np.exp(l1 - ll)  # posterior weight of component 1
    r2 = 1.0 - r1
    nll = -float(np.sum(w * (ll)))
    grad = -np.array(
        [
            a1 * float(np.sum(w * (r1 * da1))),
            b1 * float(np.sum(w * (r1 * db1))),
            a2 * float(np.sum(w * (r2 * da2))),
            b2 * float(np.sum(w * (r2 * db2))),
            p * (1.0 - p) * float(np.sum(w * (r1 / p - r2 / (1.0 - p)))),
        ]
    )
    return nll, grad


def negative_loglik(
    theta: Sequence[float],
    n: ArrayLikeInt,
    e: ArrayLikeFloat,
    weights: ArrayLikeFloat | None = None,
    *,
    truncated: bool = True,
) -> float:
    """Negative log-likelihood of the two-negative-binomial mixture at ``theta``.

    ``theta`` is (alpha1, beta1, alpha2, beta2, P). ``truncated`` conditions on ``n >= 1``
    (the default, because zero cells are never enumerated); ``weights`` are squash weights.
    """
    n_arr, e_arr = _as_arrays(n, e)
    w = np.ones_like(n_arr) if weights is None else np.asarray(weights, dtype=np.float64)
    nll, _ = _nll_and_grad(_pack(theta), _Points.of(n_arr, e_arr, w), truncated)
    if not np.isfinite(nll):
        raise ValueError("the log-likelihood is not finite at these hyperparameters")
    return nll


def squash(
    n: ArrayLikeInt,
    e: ArrayLikeFloat,
    *,
    bin_width: float = 0.04,
    keep_below: int = 50,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Collapse pairs with the same ``n`` and nearly the same ``E`` into weighted points.

    Returns ``(n, e, weight)``. Within each count ``n`` seen at least ``keep_below`` times,
    pairs whose ``log E`` falls in the same bin of width ``bin_width`` (4 % of E by
    default) become one point at their mean ``E``, weighted by how many they are; rarer
    counts are kept exactly. The likelihood is smooth in ``E``, so the fit barely moves
    (the tests compare squashed and unsquashed fits).
    """
    n_arr, e_arr = _as_arrays(n, e)
    return _squash(n_arr, e_arr, None, bin_width, keep_below)


def _squash(
    n_arr: NDArray[np.number],
    e_arr: FloatArray,
    log_e_all: FloatArray | None,
    bin_width: float,
    keep_below: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`squash` of checked arrays (``n`` of any numeric dtype holding whole counts),
    reusing ``log E`` when the caller has it.

    Two passes over the pairs in chunks (the range of ``log E``, then the per-bin sums),
    so that no temporary of the pairs' size is made."""
    if n_arr.size == 0:
        return n_arr.astype(np.float64), e_arr, np.ones(0)
    n_int = n_arr.astype(np.int64, copy=False)
    per_n = np.bincount(n_int)
    squash_n = per_n >= keep_below
    lo, hi = np.inf, -np.inf
    exact_parts: list[IntArray] = []
    for start in range(0, n_int.size, _SQUASH_CHUNK):
        part = slice(start, start + _SQUASH_CHUNK)
        mask = squash_n[n_int[part]]
        if mask.any():
            log_e = (np.log(e_arr[part]) if log_e_all is None else log_e_all[part])[mask]
            lo, hi = min(lo, float(log_e.min())), max(hi, float(log_e.max()))
        if not mask.all():
            exact_parts.append(np.flatnonzero(~mask) + start)
    exact = np.concatenate(exact_parts) if exact_parts else np.zeros(0, dtype=np.int64)
    groups = np.flatnonzero(squash_n)
    if groups.size == 0:
        lo = hi = 0.0
    n_bins = int(np.floor((hi - lo) / bin_width)) + 1
    group_of_n = np.full(per_n.size, -1, dtype=np.int64)
    group_of_n[groups] = np.arange(groups.size)
    size = groups.size * n_bins
    weight = np.zeros(size)
    e_sum = np.zeros(size)
    if groups.size:
        for start in range(0, n_int.size, _SQUASH_CHUNK):
            part = slice(start, start + _SQUASH_CHUNK)
            n_part = n_int[part]
            mask = squash_n[n_part]
            if not mask.any():
                continue
            e_part = e_arr[part][mask]
            log_e = (np.log(e_arr[part]) if log_e_all is None else log_e_all[part])[mask]
            log_e -= lo
            log_e /= bin_width
            key = np.floor(log_e).astype(np.int64)
            key += group_of_n[n_part[mask]] * n_bins
            # in pair order, as one bincount over all pairs would add them (same sums)
            np.add.at(weight, key, 1.0)
            np.add.at(e_sum, key, e_part)
    used = np.flatnonzero(weight > 0)
    n_sq = groups[used // n_bins].astype(np.float64)
    e_sq = e_sum[used] / weight[used]
    return (
        np.r_[n_sq, n_int[exact].astype(np.float64)],
        np.r_[e_sq, e_arr[exact]],
        np.r_[weight[used], np.ones(exact.size)],
    )


_SQUASH_CHUNK = 65_536


def _coarsen(
    n: FloatArray, e: FloatArray, w: FloatArray, bin_width: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted points merged again within (n, ``bin_width``-wide bin of log E): the
    weighted mean E, the summed weight. Only for ranking starting points."""
    log_e = np.log(e)
    bins = np.floor((log_e - log_e.min()) / bin_width).astype(np.int64)
    n_int = n.astype(np.int64)
    key = n_int * (int(bins.max()) + 1) + bins
    _, inv = np.unique(key, return_inverse=True)
    weight = np.bincount(inv, weights=w).astype(np.float64)
    e_mean = np.bincount(inv, weights=w * e) / weight
    n_out = np.bincount(inv, weights=n * w) / weight  # every member has the same n
    return np.rint(n_out).astype(np.float64), e_mean.astype(np.float64), weight


def fit_gps_prior(
    n: ArrayLikeInt,
    e: ArrayLikeFloat,
    *,
    squash_above: int = 50_000,
    bin_width: float = 0.04,
    starts: Sequence[Sequence[float]] = DEFAULT_STARTS,
) -> GpsPrior:
    """Maximum-likelihood GPS prior for observed pairs (``n >= 1``) with expected counts ``e``.

    Data are squashed first when there are more than ``squash_above`` pairs. Raises
    ``ValueError`` when there is nothing to fit (no pair with ``n >= 1``).
    """
    n_arr, e_arr = _as_arrays(n, e)
    keep = n_arr >= 1
    fitted = _fit(n_arr[keep], e_arr[keep], squash_above, bin_width, starts)
    full_nll = negative_loglik(fitted.theta, n_arr[keep], e_arr[keep])
    return replace(fitted, loglik=-full_nll)


def _fit(
    n_arr: NDArray[np.number],
    e_arr: FloatArray,
    squash_above: int,
    bin_width: float,
    starts: Sequence[Sequence[float]],
    log_e: FloatArray | None = None,
) -> GpsPrior:
    """The fitted prior of pairs with ``n >= 1``, without its log-likelihood on all pairs
    (callers evaluate it where they already have the per-pair terms)."""
    if n_arr.size == 0:
        raise ValueError(
            "cannot fit the GPS prior: there is no product-event pair with a count >= 1"
        )
    squashed = n_arr.size > squash_above
    if squashed:
        n_fit, e_fit, w_fit = _squash(n_arr, e_arr, log_e, bin_width, 50)
        how = f"squashed {n_arr.size} pairs to {n_fit.size} points"
    else:
        n_fit, e_fit = n_arr.astype(np.float64), e_arr
        w_fit = np.ones_like(n_fit)
        how = f"{n_arr.size} pairs, unsquashed"
    pts = _Points.of(n_fit, e_fit, w_fit)
    # Scouting only ranks the starts, so on squashed data it runs on a 5x coarser squash
    # (a few thousand points); the chosen start is then run to convergence on ``pts``.
    scout_pts = _Points.of(*_coarsen(n_fit, e_fit, w_fit, 5 * bin_width)) if squashed else pts

    def objective_on(x: FloatArray, on: _Points) -> tuple[float, FloatArray]:
        with np.errstate(all="ignore"):
            value, grad = _nll_and_grad(x, on, True)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros(5)
        if np.any(x < _LO) or np.any(x > _HI):  # outside the sane region: push back
            return 1e300, np.where(x < _LO, -1.0, np.where(x > _HI, 1.0, 0.0))
        return value, grad

    def objective(x: FloatArray) -> tuple[float, FloatArray]:
        return objective_on(x, pts)

    def scout_objective(x: FloatArray) -> tuple[float, FloatArray]:
        return objective_on(x, scout_pts)

    # Every start gets a short run (20 iterations); the most promising one is then run
    # to a tight tolerance. BFGS on the transformed parameters keeps alpha, beta > 0 and
    # 0 < P < 1 without explicit bounds (and, unlike L-BFGS-B, makes no BLAS calls, which
    # cost more than the 5-parameter algebra itself on a busy machine).
    def run(
        x0: FloatArray, maxiter: int, gtol: float, fn: Callable[..., tuple[float, FloatArray]]
    ) -> optimize.OptimizeResult:
        return optimize.minimize(
            fn, x0, jac=True, method="BFGS", options={"maxiter": maxiter, "gtol": gtol}
        )

    # Gradient tolerance relative to the number of pairs: the log-likelihood is a sum.
    gtol = 1e-6 * max(1.0, float(w_fit.sum()))
    scouts = [run(_pack(st), 20, gtol, scout_objective) for st in starts]
    best = min(scouts, key=lambda r: r.fun)
    if squashed:  # the scouts' values are on other points: re-evaluate before comparing
        best = optimize.OptimizeResult(
            x=best.x, fun=objective(best.x)[0], jac=objective(best.x)[1], success=False
        )
    final = run(best.x, 500, gtol, objective)
    if final.fun <= best.fun:
        best = final
    small_gradient = bool(np.max(np.abs(best.jac)) < 100 * gtol)
    x = np.asarray(best.x, dtype=np.float64)
    on_bound = bool(np.any((x - _LO < 1e-3) | (_HI - x < 1e-3)))
    a1, b1, a2, b2, p = _unpack(x)
    if a1 / b1 < a2 / b2:  # canonical order: component 1 has the larger prior mean
        a1, b1, a2, b2, p = a2, b2, a1, b1, 1.0 - p
    return GpsPrior(
        alpha1=a1,
        beta1=b1,
        alpha2=a2,
        beta2=b2,
        p=p,
        loglik=None,
        converged=(bool(best.success) or small_gradient) and not on_bound,
        method=f"ML (BFGS, {len(starts)} starts, zero-truncated), {how}"
        + ("; optimum on a parameter bound" if on_bound else ""),
        n_pairs=int(n_arr.size),
        n_points=int(n_fit.size),
    )


@dataclass(frozen=True)
class _Posterior:
    q: FloatArray  # posterior weight of component 1
    a1: FloatArray
    b1: FloatArray
    a2: FloatArray
    b2: FloatArray


def _posterior(pts: _Points, prior: GpsPrior) -> _Posterior:
    lf1, _, _ = _component_terms(pts, prior.alpha1, prior.beta1, with_zero=False)
    lf2, _, _ = _component_terms(pts, prior.alpha2, prior.beta2, with_zero=False)
    with np.errstate(divide="ignore"):
        l1 = np.log(prior.p) + lf1
        l2 = np.log1p(-prior.p) + lf2
    q = special.expit(l1 - l2)
    n, e = pts.n, pts.e
    return _Posterior(q, prior.alpha1 + n, prior.beta1 + e, prior.alpha2 + n, prior.beta2 + e)


def _ebgm(pts: _Points, prior: GpsPrior, post: _Posterior | None = None) -> FloatArray:
    post = post if post is not None else _posterior(pts, prior)
    elog = post.q * (pts.digamma_shift(prior.alpha1) - np.log(post.b1)) + (1.0 - post.q) * (
        pts.digamma_shift(prior.alpha2) - np.log(post.b2)
    )
    return np.exp(elog)


def ebgm(n: ArrayLikeInt, e: ArrayLikeFloat, prior: GpsPrior) -> FloatArray:
    """Posterior geometric mean exp(E[log lambda | n, E]) for each pair."""
    n_arr, e_arr = _as_arrays(n, e)
    return _ebgm(_Points.of(n_arr, e_arr), prior)


def _by_value(fn: Callable[[FloatArray], FloatArray], a: FloatArray) -> FloatArray:
    """fn(a) evaluated once per distinct value (shapes alpha + n repeat a lot)."""
    if a.size == 0:
        return a.copy()
    if np.all(a == a[0]):
        return np.full_like(a, fn(a[:1])[0])
    uniq, inv = np.unique(a, return_inverse=True)
    return fn(uniq)[inv]


def _gammaincinv(a: FloatArray, prob: float) -> FloatArray:
    return _by_value(lambda v: special.gammaincinv(v, prob), a)


def _uniform_spline(grid: FloatArray, values: FloatArray, x: FloatArray) -> FloatArray:
    """Evaluate a cubic spline on a uniform grid: the interval index is arithmetic, so
    this avoids the binary search of the generic evaluator."""
    coef = CubicSpline(grid, values).c
    step = (grid[-1] - grid[0]) / (grid.size - 1)
    idx = np.clip(((x - grid[0]) / step).astype(np.int64), 0, grid.size - 2)
    dx = x - grid[idx]
    out = ((coef[0, idx] * dx + coef[1, idx]) * dx + coef[2, idx]) * dx + coef[3, idx]
    return cast(FloatArray, out)


def _mixture_quantile_exact(
    q: FloatArray, a1: FloatArray, b1: FloatArray, a2: FloatArray, b2: FloatArray, prob: float
) -> FloatArray:
    """Root of Q*G(x; a1, b1) + (1-Q)*G(x; a2, b2) = prob by safeguarded Newton on log x.

    The root lies between the two component quantiles (the mixture CDF is a convex
    combination), which gives a bracket that is kept throughout.
    """
    x1 = _gammaincinv(a1, prob) / b1
    x2 = _gammaincinv(a2, prob) / b2
    lo = np.log(np.minimum(x1, x2))
    hi = np.log(np.maximum(x1, x2))
    u = q * np.log(x1) + (1.0 - q) * np.log(x2)
    u = np.clip(u, lo, hi)
    # When one component carries all but 1e-12 of the posterior weight, its own quantile
    # is the answer to within ~1e-12 in probability: skip the iterations.
    u = np.where(q < 1e-12, np.log(x2), np.where(q > 1.0 - 1e-12, np.log(x1), u))
    active = np.flatnonzero((hi - lo > 1e-13) & (q >= 1e-12) & (q <= 1.0 - 1e-12))
    lg1 = _by_value(special.gammaln, a1)
    lg2 = _by_value(special.gammaln, a2)
    for _ in range(100):
        if active.size == 0:
            break
        ua, qa = u[active], q[active]
        x = np.exp(ua)
        ya1, ya2 = b1[active] * x, b2[active] * x
        f = qa * special.gammainc(a1[active], ya1) + (1.0 - qa) * special.gammainc(a2[active], ya2)
        f -= prob
        # dF/du = x * pdf(x) = sum w * exp(a log y - y - lgamma(a))
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            d = qa * np.exp(a1[active] * np.log(ya1) - ya1 - lg1[active]) + (1.0 - qa) * np.exp(
                a2[active] * np.log(ya2) - ya2 - lg2[active]
            )
        lo_a = np.where(f < 0, ua, lo[active])
        hi_a = np.where(f > 0, ua, hi[active])
        lo[active], hi[active] = lo_a, hi_a
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = f / d
        new = ua - step
        bad = ~np.isfinite(new) | (new <= lo_a) | (new >= hi_a)
        new = np.where(bad, 0.5 * (lo_a + hi_a), new)
        u[active] = new
        # Newton converges quadratically: once a Newton step is below 1e-8 the next one
        # would be below ~1e-15, so the point is accepted now instead of after one more
        # evaluation of both incomplete gamma functions (a third of the work at 1M pairs).
        done = (np.abs(new - ua) < 1e-12) | (hi_a - lo_a < 1e-12) | (f == 0)
        done |= ~bad & (np.abs(step) < 1e-8)
        active = active[~done]
    return np.exp(u)


def _pair_loglik(pts: _Points, prior: GpsPrior) -> FloatArray:
    """Zero-truncated log-likelihood of each point (the terms of ``-negative_loglik``)."""
    lf1, om1, _ = _component_terms(pts, prior.alpha1, prior.beta1)
    lf2, om2, _ = _component_terms(pts, prior.alpha2, prior.beta2)
    with np.errstate(divide="ignore"):
        l1 = np.log(prior.p) + lf1 - np.log(om1)
        l2 = np.log1p(-prior.p) + lf2 - np.log(om2)
    return cast(FloatArray, np.logaddexp(l1, l2))


def _exact_columns(
    pts: _Points, prior: GpsPrior, probs: Sequence[float], with_loglik: bool, threads: int = 1
) -> list[FloatArray]:
    """log EBGM, log of each quantile and (with_loglik) the log-likelihood of each point.

    With ``threads`` > 1 the columns are computed side by side (each quantile is its own
    root-finding, and NumPy/SciPy release the GIL in their loops); every column is the
    same computation as on one thread, so the values are identical."""
    post = _posterior(pts, prior)  # also fills the per-count tables the tasks share

    def quantile(prob: float) -> Callable[[], FloatArray]:
        return lambda: np.log(
            _mixture_quantile_exact(post.q, post.a1, post.b1, post.a2, post.b2, prob)
        )

    tasks: list[Callable[[], FloatArray]] = [lambda: np.log(_ebgm(pts, prior, post))]
    tasks += [quantile(prob) for prob in probs]
    if with_loglik:
        tasks.append(lambda: _pair_loglik(pts, prior))
    if threads > 1 and pts.n.size >= _THREAD_POINTS_ABOVE:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            # the quantiles (the root-finding, most of the work) first
            order = sorted(range(len(tasks)), key=lambda i: not 0 < i <= len(probs))
            jobs = {i: pool.submit(tasks[i]) for i in order}
            return [jobs[i].result() for i in range(len(tasks))]
    return [task() for task in tasks]


# Fewer points than this are not worth a second thread.
_THREAD_POINTS_ABOVE = 4_096

# A spline interval whose value at its midpoint is off the exact value by more than this
# (absolute, on log EBGM / log quantile / log-likelihood), or whose neighbour's is, is not
# used: the pairs that fall in it are computed exactly instead.
_SPLINE_CHECK = 1e-7
# Pairs are read off the splines this many at a time: every temporary (2 MB of spline
# rows at most) is reused, instead of a fresh array of the pairs' size per step (fresh
# memory is page-faulted and zeroed by the kernel, which cost more than the arithmetic).
_CHUNK = 16_384


def _shrink(
    n: NDArray[np.number],
    e: FloatArray,
    prior: GpsPrior,
    probs: Sequence[float],
    spline_above: int,
    grid_points: int,
    *,
    with_loglik: bool = False,
    threads: int = 1,
) -> tuple[FloatArray, list[FloatArray], float]:
    """EBGM, the ``probs`` quantiles and the summed log-likelihood (``n >= 1`` only; 0.0
    unless ``with_loglik``) of every pair (counts ``n``, whole numbers of any dtype).

    For fixed ``n`` all of them are smooth functions of ``log E`` almost everywhere.
    Counts shared by more than ``spline_above`` pairs (at 1M reports they hold 99 % of the
    pairs) are solved exactly on one grid of ``grid_points`` values of ``log E`` spanning
    those pairs and read off cubic splines; the rest are solved exactly pair by pair.
    Where a component's posterior weight crosses the quantile's probability, a quantile
    can move by a factor 2 within a few hundredths of ``log E`` (seen with the prior
    fitted at 1M reports), which no spline on a fixed grid follows: so every spline
    interval is checked against the exact values at its midpoint, where a cubic spline's
    error peaks, and pairs in an interval that fails the check (or next to one) are solved
    exactly too. ``threads`` > 1 splits the work (the pairs' halves, the quantiles) over
    that many threads with identical results.
    """
    for prob in probs:
        if not 0.0 < prob < 1.0:
            raise ValueError(f"quantile probabilities must be strictly in (0, 1), got {prob}")
    n_int = n.astype(np.int64, copy=False)
    size = n_int.size
    n_exp = 1 + len(probs)
    out = [np.empty(size) for _ in range(n_exp)]
    if size == 0:
        return out[0], out[1:], 0.0
    counts = np.bincount(n_int)
    big = np.flatnonzero(counts > spline_above)
    loglik = 0.0
    exact: IntArray | None = None
    if big.size:
        splines = _Splines(n_int, e, prior, probs, big, grid_points, with_loglik, threads)
        exact, loglik = splines.read(n_int, e, out, threads)
    if exact is None or exact.size:
        n_sub = n_int.astype(np.float64) if exact is None else n_int[exact].astype(np.float64)
        sub = _Points.of(n_sub, e if exact is None else e[exact])
        cols = _exact_columns(sub, prior, probs, with_loglik, threads)
        for dst, col in zip(out, cols, strict=False):
            if exact is None:
                np.exp(col, out=dst)
            else:
                dst[exact] = np.exp(col)
        if with_loglik:
            loglik += float(cols[-1][n_sub >= 1].sum())
    return out[0], out[1:], loglik


class _Splines:
    """Checked cubic splines in ``log E`` of every column, one per count in ``big``, on
    one shared grid spanning those counts' pairs."""

    def __init__(
        self,
        n_int: IntArray,
        e: FloatArray,
        prior: GpsPrior,
        probs: Sequence[float],
        big: IntArray,
        grid_points: int,
        with_loglik: bool,
        threads: int,
    ) -> None:
        n_groups = big.size
        group = np.full(int(n_int.max()) + 1, n_groups, dtype=np.int64)  # n_groups: exact
        group[big] = np.arange(n_groups)
        lo, hi = np.inf, -np.inf
        for start in range(0, n_int.size, _SQUASH_CHUNK):
            part = slice(start, start + _SQUASH_CHUNK)
            splined = group[n_int[part]] < n_groups
            if splined.any():
                log_e = np.log(e[part][splined])
                lo, hi = min(lo, float(log_e.min())), max(hi, float(log_e.max()))
        if hi - lo < 1e-9:
            lo, hi = lo - 1e-3, hi + 1e-3
        grid = np.linspace(lo, hi, grid_points)
        step = (hi - lo) / (grid_points - 1)
        mid = grid[:-1] + 0.5 * step
        # All counts x (grid, midpoints) in one batch: one set of Newton iterations.
        both = np.r_[grid, mid]
        n_b = np.repeat(big.astype(np.float64), both.size)
        gpts = _Points.of(n_b, np.exp(np.tile(both, n_groups)))
        exact_cols = _exact_columns(gpts, prior, probs, with_loglik, threads)
        # Coefficients of every column side by side per (interval, count): each pair reads
        # one contiguous row (128 bytes for 4 columns) instead of 16 scattered values. The
        # last count column (pairs of rarer counts) holds zeros and is marked bad.
        n_cols = len(exact_cols)
        table = np.zeros(((grid_points - 1) * (n_groups + 1), n_cols, 4))
        bad = np.zeros((grid_points - 1, n_groups + 1), dtype=bool)
        half = 0.5 * step
        for j, col in enumerate(exact_cols):
            values = col.reshape(n_groups, both.size)
            coef = np.zeros((4, grid_points - 1, n_groups + 1))
            coef[:, :, :-1] = CubicSpline(grid, values[:, :grid_points], axis=1).c
            at_mid = ((coef[0] * half + coef[1]) * half + coef[2]) * half + coef[3]
            bad[:, :-1] |= ~(np.abs(at_mid[:, :-1] - values[:, grid_points:].T) <= _SPLINE_CHECK)
            table[:, j, :] = coef.reshape(4, -1).T
        bad[:, -1] = True
        if bad[:, :-1].any():
            bad[1:, :-1] |= bad[:-1, :-1].copy()  # and the neighbours of a failed interval
            bad[:-1, :-1] |= bad[1:, :-1].copy()
        self.group, self.n_groups, self.grid, self.lo, self.step = group, n_groups, grid, lo, step
        self.table, self.bad = table, bad.ravel()
        self.with_loglik = with_loglik

    def read(
        self, n_int: IntArray, e: FloatArray, out: list[FloatArray], threads: int
    ) -> tuple[IntArray, float]:
        """Fill ``out`` (EBGM and quantiles) from the splines; returns the pairs left to
        the exact path (rarer counts, whose ``out`` values are placeholders, and pairs in
        intervals that failed the midpoint check) and the summed log-likelihood of the
        others (pairs with ``n >= 1``)."""
        size = n_int.size
        n_chunks = -(-size // _CHUNK)
        exact: list[IntArray | None] = [None] * n_chunks
        loglik = [0.0] * n_chunks
        if threads > 1 and n_chunks > 1:
            cut = (n_chunks + 1) // 2
            with ThreadPoolExecutor(max_workers=2) as pool:
                jobs = [
                    pool.submit(self._read, n_int, e, out, first, last, exact, loglik)
                    for first, last in ((0, cut), (cut, n_chunks))
                ]
                for job in jobs:
                    job.result()
        else:
            self._read(n_int, e, out, 0, n_chunks, exact, loglik)
        parts = [x for x in exact if x is not None]
        indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return indices, float(sum(loglik))  # summed in chunk order: same on any threads

    def _read(
        self,
        n_int: IntArray,
        e: FloatArray,
        out: list[FloatArray],
        first: int,
        last: int,
        exact: list[IntArray | None],
        loglik: list[float],
    ) -> None:
        """Chunks ``first`` to ``last`` (exclusive) of :meth:`read`."""
        n_cols = self.table.shape[1]
        rows = np.empty((_CHUNK, n_cols, 4))
        ll = np.empty(_CHUNK)
        grid_last = self.grid.size - 2
        inv_step = 1.0 / self.step
        stride = self.n_groups + 1
        for c in range(first, last):
            part = slice(c * _CHUNK, min((c + 1) * _CHUNK, n_int.size))
            n_part = n_int[part]
            m = n_part.size
            log_e = np.log(e[part])
            k = ((log_e - self.lo) * inv_step).astype(np.int64)
            np.clip(k, 0, grid_last, out=k)
            dx = log_e - self.grid[k]
            k *= stride
            k += self.group[n_part]
            coef = np.take(self.table, k, axis=0, out=rows[:m], mode="clip")  # unbuffered
            columns = [dst[part] for dst in out]
            if self.with_loglik:
                columns.append(ll[:m])
            for j, dst in enumerate(columns):
                np.multiply(coef[:, j, 0], dx, out=dst)
                for i in (1, 2, 3):
                    dst += coef[:, j, i]
                    if i < 3:
                        dst *= dx
            for dst in columns[: len(out)]:
                np.exp(dst, out=dst)
            bad = self.bad[k]
            if self.with_loglik:
                keep = ~bad
                keep &= n_part >= 1
                loglik[c] = float(ll[:m][keep].sum())
            if bad.any():
                exact[c] = np.flatnonzero(bad) + part.start


def posterior_quantile(
    n: ArrayLikeInt,
    e: ArrayLikeFloat,
    prior: GpsPrior,
    prob: float,
    *,
    spline_above: int = 2048,
    grid_points: int = 768,
) -> FloatArray:
    """The ``prob`` quantile of each pair's posterior of lambda (EB05 for 0.05).

    Exact root-finding for every pair, except that counts ``n`` shared by more than
    ``spline_above`` pairs are solved exactly on ``grid_points`` values of ``log E`` and
    read off checked cubic splines (see ``_shrink``; the tests bound the difference to
    the exact path). A very large ``spline_above`` forces the exact path.
    """
    n_arr, e_arr = _as_arrays(n, e)
    return _shrink(n_arr, e_arr, prior, [prob], spline_above, grid_points)[1][0]


def gps_posterior(
    n: ArrayLikeInt,
    e: ArrayLikeFloat,
    prior: GpsPrior,
    *,
    lower: float = 0.05,
    upper: float = 0.95,
    spline_above: int = 2048,
    grid_points: int = 768,
    threads: int = 1,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(EBGM, lower quantile, upper quantile) for each pair, EB05/EB95 by default.
    ``threads`` > 1 computes on that many threads (identical values)."""
    n_arr, e_arr = _as_arrays(n, e)
    eb, (lo, hi), _ = _shrink(
        n_arr, e_arr, prior, [lower, upper], spline_above, grid_points, threads=threads
    )
    return eb, lo, hi


def fit_and_shrink(
    n: ArrayLikeInt,
    e: ArrayLikeFloat,
    prior: GpsPrior | None = None,
    *,
    lower: float = 0.05,
    upper: float = 0.95,
    spline_above: int = 2048,
    grid_points: int = 768,
    threads: int = 1,
) -> tuple[GpsPrior, FloatArray, FloatArray, FloatArray]:
    """The prior (fitted as :func:`fit_gps_prior` unless given), then EBGM and the two
    quantiles of every pair, as :func:`gps_posterior` (``threads`` as there).

    The fitted prior's ``loglik`` on all pairs comes out of the same per-count pass as
    the posterior (read off the splines like EBGM for counts shared by more than
    ``spline_above`` pairs; the tests bound its difference to :func:`negative_loglik`)
    instead of a second pass over every pair. Integer counts are used as they are (no
    float copy of the pairs).
    """
    n_arr, e_arr = _as_counts(n, e)
    fitted = prior
    if fitted is None:
        if n_arr.size and int(n_arr.min()) >= 1:
            fitted = _fit(n_arr, e_arr, 50_000, 0.04, DEFAULT_STARTS)
        else:
            keep = n_arr >= 1
            fitted = _fit(n_arr[keep], e_arr[keep], 50_000, 0.04, DEFAULT_STARTS)
    eb, (lo, hi), loglik = _shrink(
        n_arr,
        e_arr,
        fitted,
        [lower, upper],
        spline_above,
        grid_points,
        with_loglik=prior is None,
        threads=threads,
    )
    if prior is None:
        fitted = replace(fitted, loglik=loglik)
    return fitted, eb, lo, hi
