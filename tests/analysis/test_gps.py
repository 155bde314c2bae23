"""GPS prior and posterior against slow references written from DuMouchel (1999) and
against openEBGM's published vignette numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import integrate, optimize, stats

from cerflow.analysis import gps
from cerflow.analysis.gps import GpsPrior

OPENEBGM_THETA = (3.25379356, 0.39988854, 2.02612692, 1.9080797, 0.06534557)  # vignette04


def _slow_negll(theta: tuple[float, ...], n: np.ndarray, e: np.ndarray) -> float:
    """Per-pair loop with scipy's negative binomial, components truncated at zero."""
    a1, b1, a2, b2, p = theta
    total = 0.0
    for k, ex in zip(n, e, strict=True):
        f1 = stats.nbinom.pmf(k, a1, b1 / (b1 + ex)) / stats.nbinom.sf(0, a1, b1 / (b1 + ex))
        f2 = stats.nbinom.pmf(k, a2, b2 / (b2 + ex)) / stats.nbinom.sf(0, a2, b2 / (b2 + ex))
        total -= math.log(p * f1 + (1 - p) * f2)
    return total


def _slow_posterior(theta: tuple[float, ...], k: int, ex: float) -> tuple[float, float, float]:
    """EBGM by numerical integration of log(lambda), quantiles by brentq on the CDF."""
    a1, b1, a2, b2, p = theta

    def log_nb(a: float, b: float) -> float:
        return (
            math.lgamma(a + k)
            - math.lgamma(a)
            - math.lgamma(k + 1)
            + a * math.log(b / (b + ex))
            + k * math.log(ex / (b + ex))
        )

    w1 = p * math.exp(log_nb(a1, b1))
    w2 = (1 - p) * math.exp(log_nb(a2, b2))
    q = w1 / (w1 + w2)
    g1 = stats.gamma(a1 + k, scale=1 / (b1 + ex))
    g2 = stats.gamma(a2 + k, scale=1 / (b2 + ex))

    def elog(g: stats.rv_continuous) -> float:
        lo, hi = g.ppf(1e-14), g.ppf(1 - 1e-14)
        return integrate.quad(lambda x: math.log(x) * g.pdf(x), lo, hi, limit=200)[0]

    ebgm = math.exp(q * elog(g1) + (1 - q) * elog(g2))

    def quant(prob: float) -> float:
        f = lambda x: q * g1.cdf(x) + (1 - q) * g2.cdf(x) - prob  # noqa: E731
        return optimize.brentq(f, 1e-12, 1e4, xtol=1e-14, rtol=1e-13)

    return ebgm, quant(0.05), quant(0.95)


def _caers_pairs(shared_data: Path) -> pl.DataFrame:
    d = pl.read_csv(shared_data / "openebgm/caers.csv")
    n_ids = d["id"].n_unique()
    pairs = d.select("id", "var1", "var2").unique().group_by("var1", "var2").len("n")
    n1 = d.select("id", "var1").unique().group_by("var1").len("n1")
    n2 = d.select("id", "var2").unique().group_by("var2").len("n2")
    return (
        pairs.join(n1, on="var1")
        .join(n2, on="var2")
        .with_columns(e=pl.col("n1") * pl.col("n2") / n_ids)
    )


def test_negative_loglik_matches_slow_reference() -> None:
    rng = np.random.default_rng(7)
    n = rng.integers(1, 30, 200)
    e = rng.gamma(0.5, 2.0, 200) + 1e-3
    theta = (0.7, 0.3, 2.5, 2.0, 0.2)
    assert gps.negative_loglik(theta, n, e) == pytest.approx(_slow_negll(theta, n, e), rel=1e-10)


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(1, 20, 300).astype(float)
    e = rng.gamma(0.5, 2.0, 300) + 1e-3
    pts = gps._Points.of(n, e)
    x = gps._pack((1.3, 0.4, 3.0, 2.5, 0.15))
    _, grad = gps._nll_and_grad(x, pts, True)
    numeric = optimize.approx_fprime(x, lambda z: gps._nll_and_grad(z, pts, True)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4)


def test_posterior_matches_slow_reference() -> None:
    theta = (0.2, 0.06, 1.4, 1.8, 0.1)  # DuMouchel (1999) table values
    prior = GpsPrior(*theta)
    cases = [(1, 0.01), (1, 2.5), (2, 0.3), (5, 0.1), (12, 3.0), (40, 8.0), (150, 20.0)]
    n = np.array([c[0] for c in cases])
    e = np.array([c[1] for c in cases])
    eb, lo, hi = gps.gps_posterior(n, e, prior)
    for i, (k, ex) in enumerate(cases):
        ref = _slow_posterior(theta, k, ex)
        assert eb[i] == pytest.approx(ref[0], rel=1e-7)
        assert lo[i] == pytest.approx(ref[1], rel=1e-7)
        assert hi[i] == pytest.approx(ref[2], rel=1e-7)


def test_spline_shortcut_agrees_with_exact_quantiles() -> None:
    rng = np.random.default_rng(11)
    n = rng.choice([1, 2, 3, 7], 20_000, p=[0.6, 0.2, 0.15, 0.05])
    e = np.exp(rng.uniform(np.log(1e-5), np.log(50.0), n.size))
    prior = GpsPrior(3.25, 0.4, 2.03, 1.9, 0.065)
    fast = gps.posterior_quantile(n, e, prior, 0.05, spline_above=100)
    exact = gps.posterior_quantile(n, e, prior, 0.05, spline_above=10**9)
    assert np.max(np.abs(fast / exact - 1)) < 1e-5  # far below the 2-decimal reporting


# The prior fitted at 1M reports by benchmarks/scale.py: component 2 is nearly a point
# mass (alpha2 ~ 1e-5), so for each n the posterior weight of component 1 crosses 5 % and
# 95 % within a few hundredths of log E and EB05/EB95 jump there.
STEEP_THETA = (21.950131, 32.194648, 1.2579468e-05, 0.054752135, 0.76660793)


def test_spline_shortcut_follows_steep_quantiles() -> None:
    """The unchecked per-count spline was off by up to x2.5 on EB05 with this prior."""
    rng = np.random.default_rng(17)
    n = rng.choice(np.arange(1, 13), 60_000)
    e = np.exp(rng.uniform(np.log(1e-4), np.log(30.0), n.size))
    prior = GpsPrior(*STEEP_THETA)
    fast = gps.gps_posterior(n, e, prior, spline_above=100)
    exact = gps.gps_posterior(n, e, prior, spline_above=10**9)
    for f, x in zip(fast, exact, strict=True):
        assert np.max(np.abs(f / x - 1)) < 1e-6
    # the steep region is really there: EB05 moves by more than 30 % within 2 % of E
    k = np.full(200, 6)
    grid = np.exp(np.linspace(np.log(0.05), np.log(2.0), 200))
    eb05 = gps.posterior_quantile(k, grid, prior, 0.05, spline_above=10**9)
    assert np.max(np.abs(np.diff(np.log(eb05)))) > np.log(1.3)


def test_fit_and_shrink_equals_fit_then_posterior() -> None:
    rng = np.random.default_rng(5)
    size = 60_000  # squashed fit, and counts shared by more than spline_above pairs
    e = np.exp(rng.normal(-1.0, 1.5, size))
    lam = np.where(rng.random(size) < 0.2, rng.gamma(4.0, 1 / 1.0, size), rng.gamma(2.0, 2.0, size))
    n = rng.poisson(lam * e)
    keep = n >= 1
    n, e = n[keep], e[keep]
    prior, eb, lo, hi = gps.fit_and_shrink(n, e, spline_above=500, grid_points=256)
    alone = gps.fit_gps_prior(n, e)
    assert prior.theta == alone.theta
    assert prior.converged and alone.converged
    # loglik from the splines against the exact sum over all pairs
    assert prior.loglik == pytest.approx(-gps.negative_loglik(prior.theta, n, e), abs=1e-6 * n.size)
    ref = gps.gps_posterior(n, e, prior, spline_above=10**9)
    for got, want in zip((eb, lo, hi), ref, strict=True):
        assert np.max(np.abs(got / want - 1)) < 1e-6
    # a given prior is used as is, without a likelihood
    given = GpsPrior(*OPENEBGM_THETA)
    same, eb2, _, _ = gps.fit_and_shrink(n, e, given)
    assert same is given
    np.testing.assert_allclose(eb2, gps.ebgm(n, e, given), rtol=1e-6)


def test_fit_recovers_simulated_hyperparameters() -> None:
    """Seed 2024: 30,000 cells simulated from a known prior; the fit finds it again."""
    rng = np.random.default_rng(2024)
    truth = (8.0, 1.0, 3.0, 3.0, 0.1)
    size = 30_000
    e = np.exp(rng.normal(-0.5, 1.2, size))
    comp1 = rng.random(size) < truth[4]
    lam = np.where(
        comp1, rng.gamma(truth[0], 1 / truth[1], size), rng.gamma(truth[2], 1 / truth[3], size)
    )
    n = rng.poisson(lam * e)
    keep = n >= 1
    fit = gps.fit_gps_prior(n[keep], e[keep], squash_above=10**9)
    assert fit.converged
    assert fit.alpha1 / fit.beta1 == pytest.approx(8.0, rel=0.1)
    assert fit.alpha2 / fit.beta2 == pytest.approx(1.0, rel=0.05)
    # openEBGM's model truncates each component at zero, so P is not the simulated share
    # of all cells (0.1) but lies between it and the observed share (~0.18).
    assert 0.08 < fit.p < 0.2
    assert fit.loglik is not None
    assert fit.loglik >= -gps.negative_loglik(truth, n[keep], e[keep])


def test_squashing_keeps_the_fit(shared_data: Path) -> None:
    pairs = _caers_pairs(shared_data)
    n, e = pairs["n"].to_numpy(), pairs["e"].to_numpy()
    full = gps.fit_gps_prior(n, e, squash_above=10**9)
    squashed = gps.fit_gps_prior(n, e, squash_above=100)
    assert squashed.n_points < full.n_points / 10
    assert full.loglik is not None and squashed.loglik is not None
    assert squashed.loglik == pytest.approx(full.loglik, abs=0.01)


def test_openebgm_likelihood_and_fit(shared_data: Path) -> None:
    expected = json.loads((shared_data / "openebgm/openebgm_vignette_expected.json").read_text())
    hyp = expected["hyperparameters"]["autoHyper_full_unsquashed_nlminb"]
    pairs = _caers_pairs(shared_data)
    n, e = pairs["n"].to_numpy(), pairs["e"].to_numpy()
    theta = (hyp["alpha1"], hyp["beta1"], hyp["alpha2"], hyp["beta2"], hyp["P"])
    # Our likelihood is openEBGM's negLL: same value at autoHyper's optimum.
    assert gps.negative_loglik(theta, n, e) == pytest.approx(hyp["negLL_minimum"], abs=1e-3)
    fit = gps.fit_gps_prior(n, e)
    assert fit.converged
    assert fit.loglik is not None
    # At least as likely as openEBGM's optimum. The surface is flat: our optimum
    # (alpha1 ~ 20.96, beta1 ~ 1.658, alpha2 ~ 1.738, beta2 ~ 1.564, P ~ 0.0349) has a
    # negative log-likelihood of ~4162.181 < 4162.456.
    assert -fit.loglik <= hyp["negLL_minimum"] + 1e-3
    assert -fit.loglik == pytest.approx(4162.1808, abs=0.01)


def test_openebgm_posterior_numbers(shared_data: Path) -> None:
    expected = json.loads((shared_data / "openebgm/openebgm_vignette_expected.json").read_text())
    block = expected["processRaw_caers_unstratified"]
    pairs = _caers_pairs(shared_data)
    prior = GpsPrior(*OPENEBGM_THETA)
    eb, lo, hi = gps.gps_posterior(pairs["n"].to_numpy(), pairs["e"].to_numpy(), prior)
    pairs = pairs.with_columns(ebgm=eb, q05=lo, q95=hi)
    checked = 0
    for row in block["rows"]:
        hit = pairs.filter((pl.col("var1") == row["var1"]) & (pl.col("var2") == row["var2"]))
        if hit.height == 0:  # the vignette prints long product names truncated
            hit = pairs.filter(
                pl.col("var1").str.starts_with(row["var1"])
                & (pl.col("var2") == row["var2"])
                & (pl.col("n") == row["N"])
            )
        assert hit.height == 1, row
        got = hit.row(0, named=True)
        assert got["n"] == row["N"]
        assert got["e"] == pytest.approx(row["E"], rel=1e-7)
        # openEBGM prints 2 decimals and its quantBisect stops within ~0.005.
        assert got["ebgm"] == pytest.approx(row["ebgm"], abs=0.0051)
        if "QUANT_05" in row:
            assert got["q05"] == pytest.approx(row["QUANT_05"], abs=0.0101)
            assert got["q95"] == pytest.approx(row["QUANT_95"], abs=0.0101)
        checked += 1
    assert checked == 13
    # openEBGM rounds to 2 decimals before comparing.
    assert int((np.round(lo, 2) >= 2).sum()) == block["n_pairs_QUANT_05_ge_2"] == 131
    assert int((np.round(eb, 2) > 3).sum()) == block["n_pairs_EBGM_gt_3"] == 556


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="alpha1"):
        GpsPrior(0.0, 1.0, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match=r"GpsPrior.p"):
        GpsPrior(1.0, 1.0, 1.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="no product-event pair"):
        gps.fit_gps_prior([], [])
    with pytest.raises(ValueError, match="positive finite"):
        gps.fit_gps_prior([1, 2], [0.0, 1.0])
    with pytest.raises(ValueError, match="strictly"):
        gps.posterior_quantile([1], [1.0], GpsPrior(1, 1, 1, 1, 0.5), 1.0)


def test_two_threads_and_chunks_give_identical_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quantiles on two threads, the pairs read off the splines in two halves and in
    chunks of any size are the same computations as on one thread: identical values,
    including the fitted prior and its log-likelihood (summed in chunk order)."""
    rng = np.random.default_rng(23)
    size = 70_000
    e = np.exp(rng.normal(-1.0, 1.8, size))
    lam = np.where(rng.random(size) < 0.15, rng.gamma(5.0, 1.0, size), rng.gamma(1.5, 1.5, size))
    n = rng.poisson(lam * e)
    keep = n >= 1
    n, e = n[keep], e[keep]
    monkeypatch.setattr(gps, "_THREAD_POINTS_ABOVE", 0)
    one = gps.fit_and_shrink(n, e, spline_above=300, grid_points=256, threads=1)
    two = gps.fit_and_shrink(n, e, spline_above=300, grid_points=256, threads=2)
    assert one[0] == two[0]  # theta, loglik, method: all equal
    for a, b in zip(one[1:], two[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(gps, "_CHUNK", 1000)  # many chunks, a short last one
    monkeypatch.setattr(gps, "_SQUASH_CHUNK", 777)
    chunked = gps.fit_and_shrink(n, e, spline_above=300, grid_points=256, threads=2)
    assert chunked[0].theta == one[0].theta
    assert chunked[0].loglik == pytest.approx(one[0].loglik, rel=1e-12)
    for a, b in zip(one[1:], chunked[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    # and the squash in chunks equals the squash as one pass (the fit's input)
    whole = gps.squash(n, e)
    for a, b in zip(whole, gps.squash(n.astype(np.float64), e), strict=True):
        np.testing.assert_array_equal(a, b)


def test_squash_matches_a_direct_grouping() -> None:
    """Independent oracle: Polars groups pairs by (n, bin of log E) for counts seen at
    least ``keep_below`` times; rarer counts stay as they are."""
    rng = np.random.default_rng(31)
    n = rng.choice([1, 2, 3, 9, 40], 20_000, p=[0.6, 0.25, 0.13, 0.0195, 0.0005])
    e = np.exp(rng.uniform(-6, 3, n.size))
    got_n, got_e, got_w = gps.squash(n, e, bin_width=0.1, keep_below=50)
    frame = pl.DataFrame({"n": n, "e": e, "log_e": np.log(e)})
    per_n = frame.group_by("n").len()
    frame = frame.join(per_n, on="n")
    big = frame.filter(pl.col("len") >= 50)
    lo = big["log_e"].min()
    grouped = (
        big.with_columns(bin=((pl.col("log_e") - lo) / 0.1).floor())
        .group_by("n", "bin")
        .agg(e=pl.col("e").mean(), w=pl.len())
    )
    rare = frame.filter(pl.col("len") < 50)
    want = sorted(
        [(float(r["n"]), r["e"], float(r["w"])) for r in grouped.iter_rows(named=True)]
        + [(float(r["n"]), r["e"], 1.0) for r in rare.iter_rows(named=True)]
    )
    got = sorted(zip(got_n.tolist(), got_e.tolist(), got_w.tolist(), strict=True))
    assert len(got) == len(want) > rare.height
    for (gn, ge, gw), (wn, we, ww) in zip(got, want, strict=True):
        assert (gn, gw) == (wn, ww)
        assert ge == pytest.approx(we, rel=1e-12)
