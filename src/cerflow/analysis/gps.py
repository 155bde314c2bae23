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
    n_arr: FloatArray,
    e_arr: FloatArray,
    log_e_all: FloatArray | None,
    bin_width: float,
    keep_below: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`squash` of checked arrays, reusing ``log E`` when the caller has it."""
    if n_arr.size == 0:
        return n_arr, e_arr, np.ones(0)
    n_int = n_arr.astype(np.int64)
    per_n = np.bincount(n_int)
    squashable = per_n[n_int] >= keep_below
    exact = ~squashable
    log_e = np.log(e_arr[squashable]) if log_e_all is None else log_e_all[squashable]
    lo = float(log_e.min()) if log_e.size else 0.0
    bins = np.floor((log_e - lo) / bin_width).astype(np.int64)
    n_bins = int(bins.max()) + 1 if bins.size else 1
    groups = np.flatnonzero(per_n >= keep_below)
    group_of_n = np.full(per_n.size, -1, dtype=np.int64)
    group_of_n[groups] = np.arange(groups.size)
    key = group_of_n[n_int[squashable]] * n_bins + bins
    weight = np.bincount(key, minlength=groups.size * n_bins).astype(np.float64)
    e_sum = np.bincount(key, weights=e_arr[squashable], minlength=groups.size * n_bins)
    used = np.flatnonzero(weight > 0)
    n_sq = groups[used // n_bins].astype(np.float64)
    e_sq = e_sum[used] / weight[used]
    return (
        np.r_[n_sq, n_arr[exact]],
        np.r_[e_sq, e_arr[exact]],
        np.r_[weight[used], np.ones(int(exact.sum()))],
    )


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
    n_arr: FloatArray,
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
        n_fit, e_fit, w_fit = n_arr, e_arr, np.ones_like(n_arr)
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
    pts: _Points, prior: GpsPrior, probs: Sequence[float], with_loglik: bool
) -> list[FloatArray]:
    """log EBGM, log of each quantile and (with_loglik) the log-likelihood of each point."""
    post = _posterior(pts, prior)
    cols = [np.log(_ebgm(pts, prior, post))]
    for prob in probs:
        cols.append(
            np.log(_mixture_quantile_exact(post.q, post.a1, post.b1, post.a2, post.b2, prob))
        )
    if with_loglik:
        cols.append(_pair_loglik(pts, prior))
    return cols


# A spline interval whose value at its midpoint is off the exact value by more than this
# (absolute, on log EBGM / log quantile / log-likelihood), or whose neighbour's is, is not
# used: the pairs that fall in it are computed exactly instead.
_SPLINE_CHECK = 1e-7
_CHUNK = 32_768


def _shrink(
    pts: _Points,
    prior: GpsPrior,
    probs: Sequence[float],
    spline_above: int,
    grid_points: int,
    *,
    with_loglik: bool = False,
) -> tuple[FloatArray, list[FloatArray], float]:
    """EBGM, the ``probs`` quantiles and the summed log-likelihood (``n >= 1`` only; 0.0
    unless ``with_loglik``) of every point.

    For fixed ``n`` all of them are smooth functions of ``log E`` almost everywhere.
    Counts shared by more than ``spline_above`` pairs (at 1M reports they hold 99 % of the
    pairs) are solved exactly on one grid of ``grid_points`` values of ``log E`` spanning
    those pairs and read off cubic splines; the rest are solved exactly pair by pair.
    Where a component's posterior weight crosses the quantile's probability, a quantile
    can move by a factor 2 within a few hundredths of ``log E`` (seen with the prior
    fitted at 1M reports), which no spline on a fixed grid follows: so every spline
    interval is checked against the exact values at its midpoint, where a cubic spline's
    error peaks, and pairs in an interval that fails the check (or next to one) are solved
    exactly too.
    """
    for prob in probs:
        if not 0.0 < prob < 1.0:
            raise ValueError(f"quantile probabilities must be strictly in (0, 1), got {prob}")
    size = pts.n.size
    n_cols = 1 + len(probs) + int(with_loglik)
    out = [np.empty(size) for _ in range(n_cols)]
    if size == 0:
        return out[0], out[1 : 1 + len(probs)], 0.0
    n_int = pts.n.astype(np.int64)
    counts = np.bincount(n_int)
    big = np.flatnonzero(counts > spline_above)
    loglik = 0.0
    if big.size:
        exact_mask = _splined(pts, prior, probs, big, n_int, grid_points, with_loglik, out)
        if with_loglik:
            keep = ~exact_mask & (n_int >= 1)
            loglik += float(out[-1][keep].sum())
        exact = np.flatnonzero(exact_mask)
    else:
        exact = None
    if exact is None or exact.size:
        sub = pts if exact is None else _Points.of(pts.n[exact], pts.e[exact])
        cols = _exact_columns(sub, prior, probs, with_loglik)
        for dst, col in zip(out, cols, strict=True):
            if exact is None:
                dst[:] = col
            else:
                dst[exact] = col
        if with_loglik:
            loglik += float(cols[-1][sub.n >= 1].sum())
    n_exp = 1 + len(probs)
    for dst in out[:n_exp]:
        np.exp(dst, out=dst)
    return out[0], out[1:n_exp], loglik


def _splined(
    pts: _Points,
    prior: GpsPrior,
    probs: Sequence[float],
    big: IntArray,
    n_int: IntArray,
    grid_points: int,
    with_loglik: bool,
    out: list[FloatArray],
) -> NDArray[np.bool_]:
    """Fill ``out`` (log values) from splines on one shared log-E grid; returns the mask
    of pairs left to the exact path (rarer counts, whose ``out`` values are placeholders,
    and pairs in intervals that failed the midpoint check)."""
    group = np.full(n_int.max() + 1, big.size, dtype=np.int64)  # big.size: "not splined"
    group[big] = np.arange(big.size)
    g = group[n_int]
    splined = g < big.size
    log_e = pts.log_e
    lo, hi = float(log_e[splined].min()), float(log_e[splined].max())
    if hi - lo < 1e-9:
        lo, hi = lo - 1e-3, hi + 1e-3
    grid = np.linspace(lo, hi, grid_points)
    step = (hi - lo) / (grid_points - 1)
    mid = grid[:-1] + 0.5 * step
    # All counts x (grid, midpoints) in one batch: one set of Newton iterations.
    both = np.r_[grid, mid]
    n_b = np.repeat(big.astype(np.float64), both.size)
    gpts = _Points.of(n_b, np.exp(np.tile(both, big.size)))
    exact_cols = _exact_columns(gpts, prior, probs, with_loglik)
    # Interval of each pair, as a row of a (grid - 1) x (groups + 1) table whose last
    # column (pairs of rarer counts) holds zeros; pairs outside [lo, hi] are rarer counts.
    k = ((log_e - lo) * (1.0 / step)).astype(np.int64)
    np.clip(k, 0, grid_points - 2, out=k)
    dx = log_e - grid[k]
    pos = k * (big.size + 1) + g
    bad = np.zeros((grid_points - 1, big.size + 1), dtype=bool)
    half = 0.5 * step
    # Coefficients of every column side by side per interval, so that each pair reads one
    # contiguous row (128 bytes for 4 columns) instead of 16 scattered values.
    table = np.zeros(((grid_points - 1) * (big.size + 1), len(out), 4))
    for j, col in enumerate(exact_cols):
        values = col.reshape(big.size, both.size)
        coef = np.zeros((4, grid_points - 1, big.size + 1))
        coef[:, :, :-1] = CubicSpline(grid, values[:, :grid_points], axis=1).c
        at_mid = ((coef[0] * half + coef[1]) * half + coef[2]) * half + coef[3]
        bad[:, :-1] |= ~(np.abs(at_mid[:, :-1] - values[:, grid_points:].T) <= _SPLINE_CHECK)
        table[:, j, :] = coef.reshape(4, -1).T
    for start in range(0, pos.size, _CHUNK):  # chunks keep the temporaries in cache
        rows = table[pos[start : start + _CHUNK]]
        x = dx[start : start + _CHUNK, None]
        val = rows[:, :, 0] * x
        for i in (1, 2, 3):
            val += rows[:, :, i]
            if i < 3:
                val *= x
        for j, dst in enumerate(out):
            dst[start : start + _CHUNK] = val[:, j]
    bad[:, -1] = True
    if bad[:, :-1].any():
        bad[1:, :-1] |= bad[:-1, :-1].copy()  # and the neighbours of a failed interval
        bad[:-1, :-1] |= bad[1:, :-1].copy()
    return cast(NDArray[np.bool_], bad.ravel()[pos])


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
    return _shrink(_Points.of(n_arr, e_arr), prior, [prob], spline_above, grid_points)[1][0]


def gps_posterior(
    n: ArrayLikeInt,
    e: ArrayLikeFloat,
    prior: GpsPrior,
    *,
    lower: float = 0.05,
    upper: float = 0.95,
    spline_above: int = 2048,
    grid_points: int = 768,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(EBGM, lower quantile, upper quantile) for each pair, EB05/EB95 by default."""
    n_arr, e_arr = _as_arrays(n, e)
    eb, (lo, hi), _ = _shrink(
        _Points.of(n_arr, e_arr), prior, [lower, upper], spline_above, grid_points
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
) -> tuple[GpsPrior, FloatArray, FloatArray, FloatArray]:
    """The prior (fitted as :func:`fit_gps_prior` unless given), then EBGM and the two
    quantiles of every pair, as :func:`gps_posterior`.

    The fitted prior's ``loglik`` on all pairs comes out of the same per-count pass as
    the posterior (read off the splines like EBGM for counts shared by more than
    ``spline_above`` pairs; the tests bound its difference to :func:`negative_loglik`)
    instead of a second pass over every pair.
    """
    n_arr, e_arr = _as_arrays(n, e)
    pts = _Points.of(n_arr, e_arr)
    fitted = prior
    if fitted is None:
        keep = n_arr >= 1
        if keep.all():
            fitted = _fit(n_arr, e_arr, 50_000, 0.04, DEFAULT_STARTS, pts.log_e)
        else:
            fitted = _fit(n_arr[keep], e_arr[keep], 50_000, 0.04, DEFAULT_STARTS)
    eb, (lo, hi), loglik = _shrink(
        pts, fitted, [lower, upper], spline_above, grid_points, with_loglik=prior is None
    )
    if prior is None:
        fitted = replace(fitted, loglik=loglik)
    return fitted, eb, lo, hi
