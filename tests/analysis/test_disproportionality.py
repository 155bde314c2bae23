"""All-pairs disproportionality against hand calculations, vigipy, SciPy, openEBGM's
published numbers and a seeded signal-recovery experiment."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import vigipy
from scipy import stats

from cerflow.analysis.disproportionality import (
    SignalResult,
    disproportionality,
    disproportionality_from_counts,
    for_product,
)
from cerflow.analysis.gps import GpsPrior
from cerflow.analysis.thresholds import SignalThresholds
from cerflow.config import Settings

Z = 1.959963984540054


def _frames(reports: list[tuple[list[str], list[str]]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    prod = [(i, p) for i, (ps, _) in enumerate(reports) for p in ps]
    ev = [(i, e) for i, (_, es) in enumerate(reports) for e in es]
    return (
        pl.DataFrame(prod, schema=["report_id", "product"], orient="row"),
        pl.DataFrame(ev, schema=["report_id", "event"], orient="row"),
    )


def _small() -> tuple[pl.DataFrame, pl.DataFrame]:
    reports = (
        [(["X", "X"], ["Y"])]  # duplicated product row: counted once
        + [(["X"], ["Y"])] * 2
        + [(["X"], ["Z"])] * 2
        + [(["W"], ["Y"])]
        + [(["W"], ["Z"])] * 4
        + [(["X"], [])]  # no event: cannot be cross-classified, left out of N
    )
    return _frames(reports)


def _row(result: SignalResult, product: str, event: str) -> dict[str, object]:
    rows = result.table.filter((pl.col("product") == product) & (pl.col("event") == event))
    assert rows.height == 1
    return rows.row(0, named=True)


def test_hand_calculation_small_table() -> None:
    products, events = _small()
    result = disproportionality(products, events, prior=GpsPrior(0.2, 0.06, 1.4, 1.8, 0.1))
    assert result.n_reports == 10
    r = _row(result, "X", "Y")
    assert (r["a"], r["b"], r["c"], r["d"]) == (3, 2, 1, 4)
    assert r["expected"] == pytest.approx(5 * 4 / 10)
    assert r["prr"] == pytest.approx((3 / 5) / (1 / 5))
    se = math.sqrt(1 / 3 - 1 / 5 + 1 / 1 - 1 / 5)
    assert r["prr_lo"] == pytest.approx(3.0 * math.exp(-Z * se))
    assert r["prr_hi"] == pytest.approx(3.0 * math.exp(Z * se))
    assert r["ror"] == pytest.approx(3 * 4 / (2 * 1))
    se = math.sqrt(1 / 3 + 1 / 2 + 1 / 1 + 1 / 4)
    assert r["ror_lo"] == pytest.approx(6.0 * math.exp(-Z * se))
    assert r["chi2"] == pytest.approx(10 * (12 - 2) ** 2 / (5 * 5 * 4 * 6))
    assert r["chi2_yates"] == pytest.approx(10 * (10 - 5) ** 2 / (5 * 5 * 4 * 6))
    assert r["ic"] == pytest.approx(math.log2(3.5 / 2.5))
    assert r["ic025"] == pytest.approx(math.log2(stats.gamma.ppf(0.025, 3.5) / 2.5))
    assert r["ic975"] == pytest.approx(math.log2(stats.gamma.ppf(0.975, 3.5) / 2.5))
    assert r["zero_cell_corrected"] is False
    assert r["flag_evans"] is False  # chi2 (Yates) 0.42 < 4


@pytest.mark.parametrize("seed", [1, 2])
def test_chi2_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reports = [
        (list(rng.choice(list("ABCDE"), rng.integers(1, 3))), list(rng.choice(list("vwxyz"), 2)))
        for _ in range(300)
    ]
    result = disproportionality(*_frames(reports), methods=["prr"])
    for r in result.table.iter_rows(named=True):
        table = np.array([[r["a"], r["b"]], [r["c"], r["d"]]])
        if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
            continue
        plain = stats.chi2_contingency(table, correction=False).statistic
        yates = stats.chi2_contingency(table, correction=True).statistic
        assert r["chi2"] == pytest.approx(plain, rel=1e-9, abs=1e-12)
        assert r["chi2_yates"] == pytest.approx(yates, rel=1e-9, abs=1e-12)


def test_zero_cells_use_haldane_and_stay_finite() -> None:
    # "RARE" seen once (c = 0); product "SOLO" in one report only (b = 0).
    reports = [(["SOLO"], ["RARE"])] + [(["P"], ["Q"])] * 5 + [(["P"], ["R"])] * 3
    result = disproportionality(*_frames(reports))
    r = _row(result, "SOLO", "RARE")
    assert (r["a"], r["b"], r["c"], r["d"]) == (1, 0, 0, 8)
    assert r["zero_cell_corrected"] is True
    ah, bh, ch, dh = 1.5, 0.5, 0.5, 8.5
    assert r["prr"] == pytest.approx((ah / (ah + bh)) / (ch / (ch + dh)))
    assert r["ror"] == pytest.approx(ah * dh / (bh * ch))
    floats = [c for c, t in result.table.schema.items() if t == pl.Float64]
    assert result.table.select(pl.all_horizontal(pl.col(floats).is_finite()).all()).item()
    assert result.table.null_count().sum_horizontal().item() == 0


def test_product_in_every_report_has_chi2_zero() -> None:
    reports = [(["P"], ["Q"])] * 3 + [(["P"], ["R"])] * 2
    r = _row(disproportionality(*_frames(reports)), "P", "Q")
    assert (r["c"], r["d"]) == (0, 0)
    assert r["chi2"] == 0.0 and r["chi2_yates"] == 0.0
    assert math.isfinite(r["prr"]) and math.isfinite(r["ror_hi"])


def test_degenerate_inputs() -> None:
    empty_p = pl.DataFrame(schema={"report_id": pl.Int64, "product": pl.String})
    empty_e = pl.DataFrame(schema={"report_id": pl.Int64, "event": pl.String})
    result = disproportionality(empty_p, empty_e)
    assert result.n_reports == 0 and result.n_pairs == 0 and result.prior is None
    assert "nothing to analyse" in result.notes[0]
    # A product whose reports carry no event: no pair, for_product gives an empty frame.
    products, events = _frames([(["ALONE"], []), (["P"], ["Q"]), (["P"], ["R"])])
    result = disproportionality(products, events)
    assert result.n_reports == 2
    assert for_product(result, "ALONE").height == 0
    # One report only.
    one = disproportionality(*_frames([(["P"], ["Q"])]))
    assert one.n_pairs == 1
    assert one.table.select(pl.col("ebgm", "eb05", "prr", "ror").is_finite().all()).row(0) == (
        True,
        True,
        True,
        True,
    )


def test_bad_frames_are_refused_clearly() -> None:
    products, events = _small()
    with pytest.raises(ValueError, match=r"products frame lacks column\(s\) \['product'\]"):
        disproportionality(products.rename({"product": "drug"}), events)
    with pytest.raises(ValueError, match="null"):
        disproportionality(pl.DataFrame({"report_id": [1, 2], "product": ["A", None]}), events)
    with pytest.raises(ValueError, match="methods"):
        disproportionality(products, events, methods=["xyz"])  # type: ignore[list-item]
    strata = pl.DataFrame({"report_id": [0, 0], "stratum": ["F", "M"]})
    with pytest.raises(ValueError, match="exactly one stratum"):
        disproportionality(products, events, strata=strata)


def test_stratified_expected_is_summed_over_strata() -> None:
    products, events = _small()
    strata = pl.DataFrame({"report_id": list(range(11)), "stratum": ["F"] * 4 + ["M"] * 6 + ["F"]})
    result = disproportionality(products, events, strata=strata)
    r = _row(result, "X", "Y")
    # Stratum F = reports 0-3 (X+Y x3, X+Z), stratum M = reports 4-9.
    e_f = 4 * 3 / 4  # n_X,F = 4, n_Y,F = 3, N_F = 4
    e_m = 1 * 1 / 6  # n_X,M = 1 (report 4), n_Y,M = 1 (report 5)
    assert r["expected"] == pytest.approx(e_f + e_m)
    assert r["prr"] == pytest.approx(3.0)  # PRR stays crude
    assert result.n_strata == 2


def test_thresholds_come_from_settings() -> None:
    settings = Settings(signal_prr_min=3.0, signal_eb05_min=2.5)
    thresholds = SignalThresholds.from_settings(settings)
    assert thresholds.prr_min == 3.0 and thresholds.eb05_min == 2.5
    assert thresholds.min_count == settings.signal_min_count


def _vigipy_frame(table: pl.DataFrame) -> pd.DataFrame:
    renamed = table.rename({"product": "name", "event": "AE", "a": "count"})
    return pd.DataFrame(renamed.to_dict(as_series=False))


def _from_pandas(frame: pd.DataFrame, columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame({c: frame[c].tolist() for c in columns})


def _assert_matches_vigipy(ours: SignalResult, table: pl.DataFrame) -> None:
    container = vigipy.convert(_vigipy_frame(table))
    kw = {"min_events": 1, "decision_metric": "rank", "decision_thres": 1.0}
    prr = vigipy.prr(container, **kw).all_signals
    ror = vigipy.ror(container, **kw).all_signals
    ic = vigipy.bcpnn(container, min_events=1, ranking_statistic="quantile").all_signals
    keyed = ours.table.select(
        "product", "event", "prr", "prr_lo", "prr_hi", "ror", "ror_lo", "ror_hi", "ic025"
    )
    for frame, cols in (
        (prr, {"PRR": "prr", "CI Lower": "prr_lo", "CI Upper": "prr_hi"}),
        (ror, {"ROR": "ror", "CI Lower": "ror_lo", "CI Upper": "ror_hi"}),
        (ic, {"quantile": "ic025"}),
    ):
        theirs = _from_pandas(frame, ["Product", "Adverse Event", *cols]).rename(
            {
                "Product": "product",
                "Adverse Event": "event",
                **{k: f"v_{v}" for k, v in cols.items()},
            }
        )
        joined = keyed.join(theirs, on=["product", "event"], how="inner")
        assert joined.height == keyed.height == len(frame)
        for col in cols.values():
            np.testing.assert_allclose(
                joined[col].to_numpy(), joined[f"v_{col}"].to_numpy(), rtol=1e-9
            )


def test_vigipy_agrees_on_report_level_data_with_one_item_per_report() -> None:
    """With one product and one event per report, unique-report margins equal vigipy's
    pair-count sums, so PRR, ROR and (ic_method="bcpnn") IC025 must agree exactly."""
    rng = np.random.default_rng(5)
    prods = rng.choice([f"P{i}" for i in range(12)], 3000, p=np.r_[0.3, np.full(11, 0.7 / 11)])
    evs = np.where(
        (prods == "P0") & (rng.random(3000) < 0.3),
        "E0",
        rng.choice([f"E{i}" for i in range(15)], 3000),
    )
    products = pl.DataFrame({"report_id": np.arange(3000), "product": prods})
    events = pl.DataFrame({"report_id": np.arange(3000), "event": evs})
    ours = disproportionality(products, events, ic_method="bcpnn")
    table = ours.table.select("product", "event", "a")
    _assert_matches_vigipy(ours, table)


def test_vigipy_mapping_on_multi_item_reports() -> None:
    """vigipy's margins are sums of pair counts (a report with 2 products and 3 events
    adds 3 to each product's margin); ours are unique reports. Given the same margins
    (disproportionality_from_counts without totals) the statistics are identical."""
    rng = np.random.default_rng(9)
    reports = [
        (
            list(rng.choice(list("ABCDEFG"), rng.integers(1, 4))),
            list(rng.choice(list("pqrstuvw"), rng.integers(1, 4))),
        )
        for _ in range(2000)
    ]
    products, events = _frames(reports)
    unique_margins = disproportionality(products, events)
    table = unique_margins.table.select("product", "event", "a")
    ours = disproportionality_from_counts(table, ic_method="bcpnn")
    _assert_matches_vigipy(ours, table)
    # ...and the unique-report version really differs (that is the definition change).
    assert ours.n_reports > unique_margins.n_reports
    assert not np.allclose(ours.table["prr"].to_numpy(), unique_margins.table["prr"].to_numpy())


def _statin(shared_data: Path, name: str) -> pl.DataFrame:
    wide = pl.read_csv(shared_data / f"mddc/{name}.csv")
    return wide.unpivot(index="AE", variable_name="product", value_name="a").select(
        "product", pl.col("AE").alias("event"), pl.col("a").cast(pl.Int64)
    )


@pytest.mark.parametrize("name", ["statin49", "statin101"])
def test_statin_tables_match_vigipy(shared_data: Path, name: str) -> None:
    table = _statin(shared_data, name)
    ours = disproportionality_from_counts(table, ic_method="bcpnn")
    _assert_matches_vigipy(ours, table.filter(pl.col("a") > 0))
    if name == "statin49":
        r = _row(ours, "Atorvastatin", "Rhabdomyolysis")
        assert r["a"] == 2041
        assert r["a"] + r["b"] == 197_390  # column total in the MDDC documentation
        assert r["prr"] > 10 and r["flag_evans"] and r["flag_ror"]


def test_ebgm_with_fixed_prior_matches_vigipy_gps(shared_data: Path) -> None:
    table = _statin(shared_data, "statin49").filter(pl.col("a") > 0)
    theta = (0.2041, 0.05816, 1.415, 1.838, 0.0969)
    ours = disproportionality_from_counts(table, methods=["ebgm"], prior=GpsPrior(*theta))
    res = vigipy.gps(
        vigipy.convert(_vigipy_frame(table)),
        min_events=1,
        prior_param=list(theta),
        decision_metric="rank",
        decision_thres=0.0,
    ).all_signals
    theirs = _from_pandas(res, ["Product", "Adverse Event", "EBGM", "LowerBound"]).rename(
        {"Product": "product", "Adverse Event": "event"}
    )
    joined = ours.table.join(theirs, on=["product", "event"])
    assert joined.height == table.height
    np.testing.assert_allclose(joined["ebgm"], joined["EBGM"], rtol=1e-6)
    # vigipy bisects the CDF to |F - 0.05| < 1e-5 only.
    np.testing.assert_allclose(joined["eb05"], joined["LowerBound"], rtol=2e-3)


def test_openebgm_caers_counts_and_posterior(shared_data: Path) -> None:
    expected = json.loads((shared_data / "openebgm/openebgm_vignette_expected.json").read_text())
    block = expected["processRaw_caers_unstratified"]
    raw = pl.read_csv(shared_data / "openebgm/caers.csv")
    products = raw.select("id", pl.col("var1").alias("product"))
    events = raw.select("id", pl.col("var2").alias("event"))
    hyp = expected["hyperparameters"]["autoHyper_squashed2_vignette04"]
    prior = GpsPrior(hyp["alpha1"], hyp["beta1"], hyp["alpha2"], hyp["beta2"], hyp["P"])
    result = disproportionality(products, events, report_col="id", prior=prior)
    assert result.n_pairs == block["n_pairs"] == 17_189
    assert result.n_reports == block["n_unique_ids"] == 3_356
    for row in block["rows"][:6]:
        r = _row(result, row["var1"], row["var2"])
        assert r["expected"] == pytest.approx(row["E"], rel=1e-7)
        assert r["ebgm"] == pytest.approx(row["ebgm"], abs=0.0051)
        if row["PRR"] == "Inf":  # c = 0: openEBGM prints Inf, we apply Haldane's +0.5
            assert r["zero_cell_corrected"] and math.isfinite(r["prr"])
        elif not r["zero_cell_corrected"]:
            assert r["prr"] == pytest.approx(row["PRR"], abs=0.0051)
    top = _row(result, "REUMOFAN PLUS", "WEIGHT INCREASED")
    assert top["a"] == 16
    # openEBGM prints 2 decimals; its quantile bisection stops within ~0.005.
    assert top["ebgm"] == pytest.approx(23.26, abs=0.0051)
    assert top["eb05"] == pytest.approx(15.68, abs=0.0101)
    assert top["eb95"] == pytest.approx(33.48, abs=0.0101)
    assert result.table.filter(pl.col("eb05").round(2) >= 2).height == 131
    # Our own fit: a likelihood above autoHyper's, and nearly the same signal counts.
    fitted = disproportionality(products, events, report_col="id", methods=["ebgm"])
    assert fitted.prior is not None and fitted.prior.converged
    assert fitted.prior.loglik is not None and -fitted.prior.loglik <= 4162.456
    assert fitted.table.filter(pl.col("eb05").round(2) >= 2).height == 128
    assert fitted.table.filter(pl.col("ebgm").round(2) > 3).height == 542


def test_stratified_caers_matches_per_stratum_sum(shared_data: Path) -> None:
    raw = pl.read_csv(shared_data / "openebgm/caers.csv")
    products = raw.select(pl.col("id").alias("report_id"), pl.col("var1").alias("product"))
    events = raw.select(pl.col("id").alias("report_id"), pl.col("var2").alias("event"))
    strata = raw.select(pl.col("id").alias("report_id"), pl.col("strat1").alias("stratum")).unique()
    result = disproportionality(products, events, strata=strata, methods=["ic", "ebgm"])
    # Straightforward per-stratum E computed here with group-bys.
    u = raw.select("id", "var1", "var2", "strat1")
    n_s = u.group_by("strat1").agg(pl.col("id").n_unique().alias("ns"))
    n1 = u.select("id", "var1", "strat1").unique().group_by("var1", "strat1").len("n1")
    n2 = u.select("id", "var2", "strat1").unique().group_by("var2", "strat1").len("n2")
    e_ref = (
        n1.join(n2, on="strat1")
        .join(n_s, on="strat1")
        .group_by("var1", "var2")
        .agg((pl.col("n1") * pl.col("n2") / pl.col("ns")).sum().alias("e"))
    )
    joined = result.table.join(
        e_ref.rename({"var1": "product", "var2": "event"}), on=["product", "event"]
    )
    assert joined.height == result.n_pairs == 17_189
    np.testing.assert_allclose(joined["expected"], joined["e"], rtol=1e-10)
    assert result.n_strata == raw["strat1"].n_unique()


def test_subset_min_count_methods_and_for_product() -> None:
    products, events = _small()
    result = disproportionality(products, events, methods=["ror", "prr"], min_count=2)
    assert set(result.table["a"].to_list()) >= {3, 4}
    assert result.table["a"].min() >= 2
    assert "ebgm" not in result.table.columns and result.prior is None
    x = for_product(result, "X")
    assert x["product"].unique().to_list() == ["X"]
    # Peer subset: the same function on a subset of reports.
    peer = disproportionality(
        products.filter(pl.col("report_id") < 5),
        events.filter(pl.col("report_id") < 5),
        methods=["prr"],
    )
    assert peer.n_reports == 5


def _recovery_data(seed: int) -> tuple[pl.DataFrame, pl.DataFrame, list[tuple[str, str]]]:
    """40,000 reports, 120 products and 250 events with Zipf-like popularity in 6
    clusters (a report draws 30 % of its items from its own cluster, so the background
    is heterogeneous as in real data: in-cluster pairs have RR ~1.45), 1-3 products and
    1-4 events per report, plus 20 injected pairs with reporting ratios 4 ... 10
    (linspace): a report naming product P_k gets event E_k with probability
    (RR_k - 1) * rate(E_k)."""
    rng = np.random.default_rng(seed)
    n_rep, n_p, n_e = 40_000, 120, 250
    wp = 1 / np.arange(1, n_p + 1) ** 0.8
    we = 1 / np.arange(1, n_e + 1) ** 0.8
    kp = rng.integers(1, 4, n_rep)
    ke = rng.integers(1, 5, n_rep)
    p_rep = np.repeat(np.arange(n_rep), kp)
    e_rep = np.repeat(np.arange(n_rep), ke)
    cluster = rng.integers(0, 6, n_rep)
    p_cl, e_cl = np.arange(n_p) % 6, np.arange(n_e) % 6

    def draw(rep: np.ndarray, w: np.ndarray, item_cluster: np.ndarray) -> np.ndarray:
        item = rng.choice(w.size, rep.size, p=w / w.sum())
        local = rng.random(rep.size) < 0.3
        for c in range(6):
            sel = local & (cluster[rep] == c)
            wc = np.where(item_cluster == c, w, 0.0)
            item[sel] = rng.choice(w.size, int(sel.sum()), p=wc / wc.sum())
        return item

    p_item = draw(p_rep, wp, p_cl)
    e_item = draw(e_rep, we, e_cl)
    sig_p = rng.choice(np.arange(5, 60), 20, replace=False)
    sig_e = np.array([rng.choice([e for e in range(10, 120) if e % 6 != p % 6]) for p in sig_p])
    rate = np.array([np.unique(e_rep[e_item == e]).size for e in sig_e]) / n_rep
    extra_rep, extra_item = [], []
    for p, e, rr, r in zip(sig_p, sig_e, np.linspace(4, 10, 20), rate, strict=True):
        reps = np.unique(p_rep[p_item == p])
        hit = reps[rng.random(reps.size) < (rr - 1) * r]
        extra_rep.append(hit)
        extra_item.append(np.full(hit.size, e))
    e_rep = np.concatenate([e_rep, *extra_rep])
    e_item = np.concatenate([e_item, *extra_item])
    products = pl.DataFrame({"report_id": p_rep, "product": [f"P{i}" for i in p_item]})
    events = pl.DataFrame({"report_id": e_rep, "event": [f"E{i}" for i in e_item]})
    return products, events, [(f"P{p}", f"E{e}") for p, e in zip(sig_p, sig_e, strict=True)]


def test_signal_recovery_seeded() -> None:
    """Seed 20240917: EB05 >= 2 finds >= 18 of the 20 injected signals and flags <= 5 of
    1,000 null pairs (co-reported pairs without injected excess, drawn with the seed)."""
    seed = 20240917
    products, events, injected = _recovery_data(seed)
    result = disproportionality(products, events)
    assert result.prior is not None and result.prior.converged
    table = result.table.with_columns(
        injected=pl.concat_str("product", "event", separator="|").is_in(
            [f"{p}|{e}" for p, e in injected]
        )
    )
    hits = table.filter(pl.col("injected"))
    assert hits.height == 20
    recovered = int(hits["flag_ebgm"].sum())
    nulls = table.filter(~pl.col("injected")).sample(1000, seed=seed)
    false_pos = int(nulls["flag_ebgm"].sum())
    assert recovered >= 18, (recovered, hits.select("product", "event", "a", "expected", "eb05"))
    assert false_pos <= 5, false_pos
