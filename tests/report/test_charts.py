"""Charts: valid SVG, labelled, readable without colour, deterministic, omitted without data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from cerflow.narrative.facts import Facts
from cerflow.report import charts as charts_mod
from cerflow.report.charts import CHART_IDS, OKABE_ITO, draw_charts, make_charts, make_charts_png
from tests.report.conftest import build_facts

SVG_NS = "{http://www.w3.org/2000/svg}"

# Axis labels (with units) each chart must show: (x label, y label).
EXPECTED_LABELS = {
    "monthly_counts": ("Month received by FDA", "Reports (count per month)"),
    "forecast": ("Month", "Reports (count per month)"),
    "anomalies": ("Month received by FDA", "Reports (count per month)"),
    "top_events": ("Reports mentioning the event (count)", None),
    "signal_forest": ("Ratio (log scale; 1 = reported as often as in the background)", None),
    "outcomes": ("Reports (count; of 2,200)", None),
    "recalls_timeline": ("Recall report date", "FDA recall class"),
    "prisma_flow": ("Studies included in review (n = 4)", None),  # boxes, not axes
}


@pytest.fixture(scope="module")
def svgs() -> dict[str, str]:
    return make_charts(build_facts())


@pytest.fixture(scope="module")
def figures() -> dict[str, Figure]:
    return draw_charts(build_facts())


def _svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode())
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG_NS}text")]


def test_every_chart_is_valid_svg_with_title_labels_and_source(svgs: dict[str, str]) -> None:
    assert sorted(svgs) == sorted(CHART_IDS)
    for chart_id, svg in svgs.items():
        root = ET.fromstring(svg.encode())
        assert root.tag == f"{SVG_NS}svg", chart_id
        assert root.get("viewBox"), chart_id
        texts = _svg_texts(svg)
        xlabel, ylabel = EXPECTED_LABELS[chart_id]
        assert xlabel in texts, (chart_id, texts)
        if ylabel is not None:
            assert ylabel in texts, (chart_id, texts)
        source = " ".join(texts)
        if chart_id == "prisma_flow":  # its source is the literature search, not openFDA
            assert "Source: literature search 3 (pubmed, europepmc), 2024-01-10" in source
            assert "<dc:date>" not in svg
            continue
        assert "Source: openfda:device/event, openfda:device/recall" in source, chart_id
        assert "cut-off 2023-12-31" in source, chart_id
        assert "GENERATED SAMPLE" in source, chart_id  # the fixture is generated data
        assert "<dc:date>" not in svg, chart_id  # no creation date: reproducible


def test_svg_text_as_paths_has_no_text_elements(facts: Facts) -> None:
    svg = make_charts(facts, text_as_paths=True)["monthly_counts"]
    root = ET.fromstring(svg.encode())
    assert list(root.iter(f"{SVG_NS}text")) == []
    assert len(list(root.iter(f"{SVG_NS}use"))) > 50  # glyphs drawn as paths


def test_same_facts_same_bytes(facts: Facts, svgs: dict[str, str]) -> None:
    assert make_charts(facts) == svgs
    assert make_charts(facts, text_as_paths=True) == make_charts(facts, text_as_paths=True)


def test_different_facts_different_chart(facts: Facts) -> None:
    before = make_charts(facts)["top_events"]
    facts.top_events[0].count += 1
    assert make_charts(facts)["top_events"] != before


def _signature(handle: object) -> tuple[object, ...]:
    """What distinguishes a legend entry in grey print: marker, line style, hatch."""
    if isinstance(handle, Line2D):
        return ("line", handle.get_marker(), handle.get_linestyle())
    if isinstance(handle, Patch):
        return ("patch", handle.get_hatch())
    if isinstance(handle, PathCollection):
        paths = handle.get_paths()
        return ("points", tuple(map(tuple, np.round(paths[0].vertices, 3))) if paths else ())
    raise AssertionError(f"unexpected legend handle {handle!r}")


@pytest.mark.parametrize("chart_id", ["monthly_counts", "forecast", "anomalies", "signal_forest"])
def test_series_differ_by_more_than_colour(figures: dict[str, Figure], chart_id: str) -> None:
    fig = figures[chart_id]
    legend = fig.axes[0].get_legend()
    assert legend is not None
    handles = legend.legend_handles
    assert len(handles) >= 2
    signatures = [_signature(h) for h in handles]
    assert len(set(signatures)) == len(signatures), signatures


def test_outcome_bars_have_distinct_hatches(figures: dict[str, Figure]) -> None:
    fig = figures["outcomes"]
    for ax in fig.axes:
        hatches = [p.get_hatch() for p in ax.patches]
        assert len(hatches) >= 3
        assert all(hatches), hatches
        assert len(set(hatches)) == len(hatches), hatches


def test_recall_classes_differ_by_marker(figures: dict[str, Figure]) -> None:
    fig = figures["recalls_timeline"]
    collections = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    assert len(collections) == 2  # Class I and Class II in the fixture
    shapes = {tuple(map(tuple, np.round(c.get_paths()[0].vertices, 3))) for c in collections}
    assert len(shapes) == 2
    # 3 recalls, two on the same day: all three drawn, the same-day pair stacked apart.
    offsets = np.vstack([c.get_offsets() for c in collections])
    assert len(offsets) == 3
    assert len({tuple(o) for o in offsets}) == 3


def test_lines_use_the_okabe_ito_palette(figures: dict[str, Figure]) -> None:
    allowed = {c.lower() for c in OKABE_ITO.values()} | {"#666666"}
    for chart_id, fig in figures.items():
        for ax in fig.axes:
            for line in ax.get_lines():
                colour = to_hex(line.get_color()).lower()
                assert colour in allowed, (chart_id, colour)


def test_sen_line_matches_a_hand_computed_line(facts: Facts) -> None:
    # Counts exactly on y = 7 + 2x: Sen's line (slope 2, median intercept) is the data.
    assert facts.trend is not None
    facts.trend.counts = [7 + 2 * i for i in range(len(facts.trend.months))]
    facts.trend.sen_slope = 2.0
    fig = draw_charts(facts)["monthly_counts"]
    sen = next(ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--")
    np.testing.assert_allclose(np.asarray(sen.get_ydata(), dtype=float), facts.trend.counts)
    # With an outlier the intercept is the median of y - slope * x, not the mean.
    facts.trend.counts[5] += 1000
    sen = next(
        ln
        for ln in draw_charts(facts)["monthly_counts"].axes[0].get_lines()
        if ln.get_linestyle() == "--"
    )
    assert float(np.asarray(sen.get_ydata(), dtype=float)[0]) == 7.0


def test_forest_plot_is_log_scaled_with_reference_at_one(
    facts: Facts, figures: dict[str, Figure]
) -> None:
    fig = figures["signal_forest"]
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    refs = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [1.0, 1.0]]
    assert len(refs) == 1
    lo, hi = ax.get_xlim()
    assert facts.signals is not None
    lows = [s.ror_lo for s in facts.signals.signals if s.ror_lo] + [
        s.eb05 for s in facts.signals.signals if s.eb05
    ]
    highs = [s.ror_hi for s in facts.signals.signals if s.ror_hi] + [
        s.eb95 for s in facts.signals.signals if s.eb95
    ]
    assert lo < min(lows) and hi > max(highs)  # every interval fully visible
    by_height = sorted(
        zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True)
    )
    assert by_height[-1][1] == "Occlusion (n=412)"  # first signal on top
    assert by_height[0][1] == "Skin irritation (n=8)"


def test_charts_without_data_are_omitted(sparse_facts: Facts) -> None:
    svgs = make_charts(sparse_facts)
    assert sorted(svgs) == ["outcomes", "top_events"]


def test_png_variant_draws_the_same_charts(facts: Facts) -> None:
    pngs = make_charts_png(facts, dpi=50)
    assert sorted(pngs) == sorted(CHART_IDS)
    for png in pngs.values():
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_p_value_formatting_respects_the_floor(facts: Facts) -> None:
    assert charts_mod._p(0.00001, facts) == "< 0.0001"
    assert charts_mod._p(0.0123, facts) == "= 0.0123"
