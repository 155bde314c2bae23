"""The CER's charts, drawn from `Facts` alone with matplotlib.

    make_charts(facts) -> {chart_id: svg_text}        (HTML and PDF)
    make_charts_png(facts, dpi=150) -> {chart_id: png_bytes}   (DOCX: Word takes rasters)
    draw_charts(facts) -> {chart_id: Figure}          (both from one drawing)

Why it is shaped like this:
- A chart is a function of `facts.json` only, so a reviewer can redraw it from the file;
  nothing is queried here.
- The output is byte-for-byte reproducible (fixed SVG hash salt, no creation date, text as
  paths so no font lookup differs between machines): the same facts give the same SVG.
- Printed reports are often photocopied in grey: every series differs by marker, line
  style or hatch as well as by colour (Okabe-Ito palette, safe for colour-blind readers).
- Figures are built with `matplotlib.figure.Figure` and never through pyplot, so no global
  backend or figure registry is touched (safe in workers and threads).
- A chart whose data is absent (no recalls, no trend) is not drawn; its id is missing from
  the mapping and the document prints a short "no data" note instead.
"""

from __future__ import annotations

import datetime as dt
import io
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import ScaledTranslation

from cerflow.narrative.facts import Facts, SignalFacts

CHART_IDS = (
    "monthly_counts",
    "forecast",
    "anomalies",
    "top_events",
    "signal_forest",
    "outcomes",
    "recalls_timeline",
    "prisma_flow",
)

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common form of
# colour-vision deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

_RC: dict[Any, Any] = {
    # Text stays text (not glyph paths): WeasyPrint draws a chart 2-3x faster, and chart
    # titles, labels and values are searchable and extractable in the PDF. The SVG bytes
    # are still reproducible; `text_as_paths=True` gives font-independent outlines.
    "svg.fonttype": "none",
    "svg.hashsalt": "cerflow",
    "svg.image_inline": True,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#d0d0d0",
    "grid.linewidth": 0.5,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "hatch.linewidth": 0.6,
    "path.simplify": False,
}

_WIDTH_IN = 6.6  # fits A4 with 2 cm margins
PNG_DPI = 150
_HEIGHT_IN = 3.6


def _month(value: str) -> float:
    """A "YYYY-MM" month as a matplotlib date number (first day of the month)."""
    year, month = value.split("-")[:2]
    return float(date2num(dt.date(int(year), int(month), 1)))


def _day(value: dt.date) -> float:
    return float(date2num(value))


def _source_note(facts: Facts) -> str:
    sources = sorted({p.source for p in facts.provenance if p.role != "identification"})
    where = ", ".join(sources) if sources else "public post-market data"
    cutoff = facts.meta.data_cutoff.isoformat() if facts.meta.data_cutoff else "not stated"
    note = f"Source: {where}; data cut-off {cutoff}; report {facts.meta.report_id}."
    if facts.meta.generated_data:
        note += " GENERATED SAMPLE DATA, not real reports."
    return note


def _new_figure(facts: Facts, height: float = _HEIGHT_IN) -> Figure:
    # Laid out at the PNG resolution: the layout is frozen after one pass (draw_charts),
    # and text extents measured at a lower resolution than the output would clip labels.
    fig = Figure(
        figsize=(_WIDTH_IN, height),
        dpi=PNG_DPI,
        layout=ConstrainedLayoutEngine(h_pad=0.06, w_pad=0.06),
    )
    note = textwrap.fill(_source_note(facts), width=125)
    fig.supxlabel(note, fontsize=6.5, color="#444444", ha="left", x=0.01, linespacing=1.3)
    return fig


def _legend_below(ax: Any, ncols: int = 2) -> None:
    """Legend under the axis label: it never hides a data point (constrained layout makes
    room for it)."""
    below = ax.transAxes + ScaledTranslation(0, -34 / 72, ax.figure.dpi_scale_trans)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncols=ncols)


def _date_axis(ax: Any) -> None:
    locator = AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _sen_line(counts: list[int], slope: float) -> np.ndarray:
    """Sen's line: slope from Facts, intercept median(y_i - slope * i) (Conover 1980)."""
    y = np.asarray(counts, dtype=float)
    x = np.arange(len(y), dtype=float)
    intercept = float(np.median(y - slope * x))
    return np.asarray(intercept + slope * x)


def _monthly_counts(facts: Facts) -> Figure | None:
    trend = facts.trend
    if trend is None or not trend.months:
        return None
    fig = _new_figure(facts)
    ax = fig.add_subplot()
    x = [_month(m) for m in trend.months]
    ax.plot(
        x,
        trend.counts,
        color=OKABE_ITO["blue"],
        marker="o",
        markersize=3,
        linewidth=1.2,
        linestyle="-",
        label="Reports received per month",
    )
    ax.plot(
        x,
        _sen_line(trend.counts, trend.sen_slope),
        color=OKABE_ITO["vermillion"],
        linestyle="--",
        linewidth=1.6,
        label=(
            f"Sen trend line ({trend.sen_slope:+.2f} per month, change in the monthly "
            f"count; Mann-Kendall: {trend.mk_trend}, p {_p(trend.mk_p, facts)})"
        ),
    )
    _mark_series_periods(ax, facts)
    ax.set_title(f"Monthly reports: {facts.product.display_name}")
    ax.set_xlabel("Month received by FDA")
    ax.set_ylabel("Reports (count per month)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _date_axis(ax)
    _legend_below(ax, ncols=1)
    return fig


def _mark_series_periods(ax: Any, facts: Facts) -> None:
    """Partial months as open markers, isolated outlier months as stars, and the last
    (possibly incomplete, reporting lag) months shaded."""
    trend = facts.trend
    if trend is None:
        return
    by_month = dict(zip(trend.months, trend.counts, strict=True))
    partial = [m for m in trend.partial_months if m in by_month]
    if partial:
        ax.scatter(
            [_month(m) for m in partial],
            [by_month[m] for m in partial],
            s=48,
            marker="o",
            facecolor="white",
            edgecolor=OKABE_ITO["blue"],
            linewidths=1.4,
            zorder=6,
            label="Partial month (period cuts it)",
        )
    outliers = [m for m in trend.outlier_months if m in by_month]
    if outliers:
        ax.scatter(
            [_month(m) for m in outliers],
            [by_month[m] for m in outliers],
            s=80,
            marker="*",
            facecolor=OKABE_ITO["orange"],
            edgecolor="black",
            linewidths=0.6,
            zorder=7,
            label="Isolated outlier month",
        )
    if trend.lag_months:
        start = _month(trend.lag_months[0]) - 15.0
        end = _month(trend.lag_months[-1]) + 15.0
        ax.axvspan(
            start,
            end,
            facecolor="#bbbbbb",
            alpha=0.3,
            hatch="..",
            edgecolor="#888888",
            linewidth=0.0,
            label=f"Last {len(trend.lag_months)} months: may be incomplete (reporting lag)",
        )


def _p(p: float, facts: Facts) -> str:
    floor = facts.methods.p_floor
    return f"< {floor:g}" if p < floor else f"= {p:.4f}"


def _band95(ax: Any, fx: list[float], lo: Sequence[float], hi: Sequence[float], label: str) -> None:
    """The 95% band looks the same for the model and the naive reference (hatched as well as
    coloured, so it survives greyscale printing), so a reader compares like with like."""
    ax.fill_between(
        fx,
        lo,
        hi,
        facecolor=OKABE_ITO["sky"],
        alpha=0.35,
        edgecolor=OKABE_ITO["blue"],
        hatch="////",
        linewidth=0.0,
        label=label,
    )


def _central_line(ax: Any, fx: list[float], y: Sequence[float], label: str) -> None:
    """The forecast's central line and the dotted start-of-forecast marker."""
    ax.plot(
        fx,
        y,
        color=OKABE_ITO["vermillion"],
        linestyle="--",
        marker="D",
        markersize=3,
        linewidth=1.4,
        label=label,
    )
    ax.axvline(fx[0], color="#666666", linestyle=":", linewidth=1.0)


def _forecast(facts: Facts) -> Figure | None:
    fc = facts.forecast
    if fc is None or not fc.months:
        return None
    fig = _new_figure(facts)
    ax = fig.add_subplot()
    if facts.trend is not None and facts.trend.months:
        hx = [_month(m) for m in facts.trend.months]
        ax.plot(
            hx,
            facts.trend.counts,
            color=OKABE_ITO["black"],
            marker="o",
            markersize=2.5,
            linewidth=1.0,
            label="Observed reports per month",
        )
    fx = [_month(m) for m in fc.months]
    if not fc.presented and fc.naive_mean:
        _naive_forecast(ax, fx, facts)
        _legend_below(ax)
        return fig
    _band95(ax, fx, fc.lo95, fc.hi95, "95% prediction interval")
    ax.fill_between(
        fx,
        fc.lo80,
        fc.hi80,
        facecolor=OKABE_ITO["blue"],
        alpha=0.45,
        edgecolor=OKABE_ITO["black"],
        hatch="\\\\\\",
        linewidth=0.0,
        label="80% prediction interval",
    )
    _central_line(ax, fx, fc.mean, f"Forecast mean ({fc.method})")
    ax.set_title(f"{fc.horizon}-month forecast of monthly reports")
    ax.set_xlabel("Month")
    ax.set_ylabel("Reports (count per month)")
    ax.set_ylim(bottom=0)
    _date_axis(ax)
    _legend_below(ax)
    return fig


def _naive_forecast(ax: Any, fx: list[float], facts: Facts) -> None:
    """The naive forecast, shown when the model's backtest MASE is >= 1."""
    fc = facts.forecast
    assert fc is not None
    _band95(ax, fx, fc.naive_lo95, fc.naive_hi95, "95% prediction interval (naive)")
    _central_line(ax, fx, fc.naive_mean, f"Naive forecast ({fc.naive_method})")
    mase = f"{fc.mase:.2f}" if fc.mase is not None else "n/a"
    ax.set_title(
        f"Naive {fc.horizon}-month reference, not a forecast\n"
        f"({fc.method} model not shown: backtest MASE {mase} >= 1)",
        fontsize=9,
    )
    ax.set_xlabel("Month")
    ax.set_ylabel("Reports (count per month)")
    ax.set_ylim(bottom=0)
    _date_axis(ax)


def _anomalies(facts: Facts) -> Figure | None:
    trend = facts.trend
    if trend is None or not trend.months:
        return None
    fig = _new_figure(facts)
    ax = fig.add_subplot()
    x = [_month(m) for m in trend.months]
    ax.plot(
        x,
        trend.counts,
        color=OKABE_ITO["blue"],
        marker=".",
        linewidth=1.0,
        label="Reports per month",
    )
    if facts.anomalies:
        ax_x = [_month(a.month) for a in facts.anomalies]
        ax.scatter(
            ax_x,
            [a.observed for a in facts.anomalies],
            s=60,
            marker="^",
            facecolor=OKABE_ITO["vermillion"],
            edgecolor="black",
            linewidths=0.8,
            zorder=5,
            label="Flagged month (above control limit)",
        )
        ax.scatter(
            ax_x,
            [a.threshold for a in facts.anomalies],
            s=90,
            marker="_",
            color="black",
            linewidths=2.0,
            zorder=4,
            label=f"Upper control limit (tail {facts.methods.anomaly_tail:g})",
        )
        ax.scatter(
            ax_x,
            [a.expected for a in facts.anomalies],
            s=25,
            marker="x",
            color=OKABE_ITO["green"],
            linewidths=1.2,
            zorder=4,
            label="Expected from baseline",
        )
    if facts.outliers:
        ax.scatter(
            [_month(o.month) for o in facts.outliers],
            [o.observed for o in facts.outliers],
            s=110,
            marker="*",
            facecolor=OKABE_ITO["orange"],
            edgecolor="black",
            linewidths=0.6,
            zorder=6,
            label="Isolated outlier month (not a level shift)",
        )
    for i, cp in enumerate(facts.change_points):
        ax.axvline(
            _month(cp.month),
            color=OKABE_ITO["purple"],
            linestyle="-.",
            linewidth=1.2,
            label="Change point" if i == 0 else None,
        )
    if not facts.anomalies and not facts.change_points and not facts.outliers:
        ax.text(
            0.99,
            0.95,
            "No month flagged and no change point detected",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
        )
    ax.set_title("Anomalous months and change points")
    ax.set_xlabel("Month received by FDA")
    ax.set_ylabel("Reports (count per month)")
    ax.set_ylim(bottom=0)
    _date_axis(ax)
    _legend_below(ax)
    return fig


def wrap_label(label: str, width: int = 30, max_lines: int = 3) -> str:
    """A chart label wrapped at word boundaries onto at most `max_lines` lines.

    Long event and problem names ("Insufficient Flow or Under Infusion") are wrapped
    rather than cut, so the reader sees the whole term; a single word longer than `width`
    is broken at a hyphen or, failing that, hard. Only a label that needs more than
    `max_lines` lines loses its tail, and then visibly (an ellipsis on the last line).
    """
    text = " ".join(label.split())
    if len(text) <= width:
        return text
    lines = textwrap.wrap(text, width=width, break_long_words=True, break_on_hyphens=True)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        lines[-1] = (last if len(last) < width else last[: width - 1]) + "\u2026"
    return "\n".join(lines)


def _label_lines(labels: list[str]) -> int:
    return max((label.count("\n") + 1 for label in labels), default=1)


def _top_events(facts: Facts) -> Figure | None:
    events = facts.top_events
    if not events:
        return None
    labels = [wrap_label(e.label) for e in events]
    per_row = 0.16 + 0.10 * _label_lines(labels)  # 0.26 in for one line, 0.46 for three
    fig = _new_figure(facts, height=max(2.4, 0.9 + per_row * len(events)))
    ax = fig.add_subplot()
    y = np.arange(len(events))[::-1]
    bars = ax.barh(
        y,
        [e.count for e in events],
        color=OKABE_ITO["blue"],
        edgecolor="black",
        hatch="//",
        linewidth=0.6,
        height=0.7,
    )
    ax.bar_label(
        bars, labels=[f"{e.count:,} ({e.percent:.1f}%)" for e in events], padding=3, fontsize=7
    )
    ax.set_yticks(y, labels)
    ax.set_xlabel("Reports mentioning the event (count)")
    ax.set_title("Most frequently reported events")
    ax.grid(axis="y", visible=False)
    ax.margins(x=0.18)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def _forest_rows(facts: Facts) -> list[SignalFacts]:
    if facts.signals is None:
        return []
    rows = facts.signals.signals or facts.signals.top_by_ebgm
    # A pair without background reports (c = 0) has ratios only through the 0.5 correction:
    # never plotted as if it were a measured disproportionality (issue 11).
    rows = [r for r in rows if (r.ror is not None or r.ebgm is not None) and r.c > 0]
    rows = [r for r in rows if not r.zero_background]
    return rows[: max(facts.methods.top_n, 1) * 2]


def _ratio_label(value: float, _pos: object = None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _signal_forest(facts: Facts) -> Figure | None:
    rows = _forest_rows(facts)
    if not rows:
        return None
    labels = [f"{wrap_label(r.event, 28)} (n={r.a})" for r in rows]
    per_row = 0.26 + 0.08 * _label_lines(labels)
    fig = _new_figure(facts, height=max(2.6, 1.1 + per_row * len(rows)))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1].astype(float)
    offsets = (0.17, -0.17)
    series = (
        ("ROR (95% CI)", "ror", "ror_lo", "ror_hi", "o", "-", OKABE_ITO["blue"]),
        ("EBGM (EB05-EB95)", "ebgm", "eb05", "eb95", "s", "--", OKABE_ITO["vermillion"]),
    )
    values: list[float] = []
    for (label, est, lo, hi, marker, style, colour), off in zip(series, offsets, strict=True):
        first = True
        for yi, row in zip(y, rows, strict=True):
            v, lo_v, hi_v = getattr(row, est), getattr(row, lo), getattr(row, hi)
            if v is None or v <= 0:
                continue
            values.append(v)
            if lo_v is not None and hi_v is not None and lo_v > 0 and hi_v > 0:
                values.extend((lo_v, hi_v))
                ax.plot(
                    [lo_v, hi_v],
                    [yi + off, yi + off],
                    color=colour,
                    linestyle=style,
                    linewidth=1.3,
                )
            ax.plot(
                [v],
                [yi + off],
                marker=marker,
                color=colour,
                markeredgecolor="black",
                markersize=5,
                linestyle="none",
                label=label if first else None,
            )
            first = False
    ax.axvline(1.0, color="black", linewidth=1.0, linestyle=":", label="No disproportionality (1)")
    ax.set_xscale("log")
    lo_lim = min(min(values, default=1.0), 1.0) / 1.5
    hi_lim = max(max(values, default=1.0), 1.0) * 1.5
    ax.set_xlim(lo_lim, hi_lim)
    # Fewer ticks per decade as the range widens, so tick labels never run together.
    decades = np.log10(hi_lim / lo_lim)
    subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0, 3.0) if decades <= 4 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(_ratio_label))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Ratio (log scale; 1 = reported as often as in the background)")
    ax.set_title("Disproportionality by event: ROR and EBGM with intervals")
    # Below the axis label: every interval line stays visible, and constrained layout
    # makes room for an axes legend (not for a figure legend next to the source note).
    _legend_below(ax, ncols=3)
    return fig


def _outcomes(facts: Facts) -> Figure | None:
    v = facts.volumes
    if v.total_reports <= 0:
        return None

    def share(count: int) -> float:
        return round(100.0 * count / v.total_reports, 1)

    # Percentages Facts states are used as stated, so the chart and the text agree.
    outcomes = [
        ("Serious", v.serious, v.serious_percent),
        ("Death", v.deaths, v.death_percent),
        ("Hospitalization", v.hospitalizations, share(v.hospitalizations)),
        ("Life-threatening", v.life_threatening, share(v.life_threatening)),
        ("Disability", v.disability, share(v.disability)),
    ]
    panels = 2 if v.by_event_type else 1
    fig = _new_figure(facts, height=_HEIGHT_IN if panels == 2 else 2.8)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    # Line hatches only: dot and circle hatches multiply the SVG size and PDF drawing time.
    hatches = ("//", "\\\\", "xx", "--", "++", "||", "/", "\\")
    colours = list(OKABE_ITO.values())[1:]

    def bars(ax: Any, items: list[tuple[str, int, float]], title: str) -> None:
        y = np.arange(len(items))[::-1]
        for i, (yi, (_, count, share)) in enumerate(zip(y, items, strict=True)):
            ax.barh(
                yi,
                count,
                color=colours[i % len(colours)],
                hatch=hatches[i % len(hatches)],
                edgecolor="black",
                linewidth=0.6,
                height=0.65,
            )
            ax.annotate(
                f"{count:,} ({share:.1f}%)",
                (count, yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        ax.set_yticks(y, [label for label, _, _ in items])
        ax.set_xlabel(f"Reports (count; of {v.total_reports:,})")
        ax.set_title(title)
        ax.grid(axis="y", visible=False)
        ax.set_xlim(0, max([c for _, c, _ in items] + [1]) * 1.45)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))

    bars(axes[0], outcomes, "Seriousness and outcomes")
    if panels == 2:
        bars(axes[1], [(e.label, e.count, e.percent) for e in v.by_event_type], "Device event type")
    return fig


_CLASS_STYLE = {
    "Class I": ("o", OKABE_ITO["vermillion"], 3),
    "Class II": ("s", OKABE_ITO["orange"], 2),
    "Class III": ("^", OKABE_ITO["blue"], 1),
    "Not classified": ("x", OKABE_ITO["black"], 0),
}


def _recall_class(value: str | None) -> str:
    text = (value or "").strip().upper().replace("CLASS", "").strip()
    return {
        "I": "Class I",
        "II": "Class II",
        "III": "Class III",
        "1": "Class I",
        "2": "Class II",
        "3": "Class III",
    }.get(text, "Not classified")


def _recalls_timeline(facts: Facts) -> Figure | None:
    dated = [r for r in facts.recalls.items if r.report_date is not None]
    if not dated:
        return None
    fig = _new_figure(facts, height=2.6)
    ax = fig.add_subplot()
    groups: dict[str, list[float]] = {}
    for r in dated:
        assert r.report_date is not None
        groups.setdefault(_recall_class(r.classification), []).append(_day(r.report_date))
    for name, (marker, colour, level) in _CLASS_STYLE.items():
        dates = sorted(groups.get(name, []))
        if not dates:
            continue
        # Recalls posted on the same day are stacked so each one stays visible.
        seen: dict[float, int] = {}
        ys = []
        for d in dates:
            ys.append(level + 0.12 * seen.get(d, 0))
            seen[d] = seen.get(d, 0) + 1
        ax.scatter(
            dates,
            ys,
            marker=marker,
            s=45,
            facecolor=colour,
            edgecolor="black",
            linewidths=0.7,
            label=f"{name} ({len(dates)})",
            zorder=3,
        )
    ax.set_yticks([3, 2, 1, 0], ["Class I", "Class II", "Class III", "Not classified"])
    ax.set_ylim(-0.6, 3.8)
    ax.set_xlabel("Recall report date")
    ax.set_ylabel("FDA recall class")
    ax.set_title(f"Recalls and field actions over time ({len(dated)} dated)")
    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    days = {_day(r.report_date) for r in dated if r.report_date is not None}
    if len(days) == 1:  # one date: give the axis a year around it
        only = days.pop()
        ax.set_xlim(only - 180, only + 180)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _box(
    ax: Any, x: float, y: float, w: float, h: float, text: str, *, fill: str, pad: float
) -> None:
    """A PRISMA box: (x, y) is its top-left corner (x in 0-100, y in inches down)."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x, y - h),
            w,
            h,
            boxstyle="square,pad=0",
            facecolor=fill,
            edgecolor="black",
            linewidth=0.8,
        )
    )
    ax.text(x + 1.2, y - pad, text, va="top", ha="left", fontsize=6.8, linespacing=1.35)


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 0.8, "shrinkA": 0, "shrinkB": 0},
    )


def _reason_lines(reasons: list[Any], width: int = 34) -> list[str]:
    """One line per reason; a long reason text is shortened, its count never."""
    return [
        f"  {r.code} {textwrap.shorten(r.text, width=width, placeholder='...')}: {r.count:,}"
        for r in reasons
    ]


def _prisma_flow(facts: Facts) -> Figure | None:
    """The PRISMA 2020 flow diagram (databases only): boxes and arrows, counts from facts."""
    lit = facts.literature
    if lit is None or lit.prisma is None or lit.search is None:
        return None
    x, search = lit.prisma, lit.search
    per_db = [
        f"  {d.database}: {d.identified:,}" + (" (capped)" if d.capped else "")
        for d in search.databases
    ]
    screened = [f"Records screened (n = {x.screened:,})"]
    if x.awaiting_screening:
        screened.append(f"  awaiting screening: {x.awaiting_screening:,}")
    rows: list[tuple[str, list[str], list[str] | None]] = [
        ("Identification", [f"Records identified (n = {x.identified:,}):", *per_db],
         ["Records removed before screening:", f"  duplicates (n = {x.duplicates_removed:,})"]),
        ("Screening", screened,
         [f"Records excluded (n = {x.excluded_title_abstract:,}):",
          *_reason_lines(x.excluded_title_abstract_reasons)]),
        ("Screening", [f"Reports sought for retrieval (n = {x.sought_full_text:,})"],
         [f"Reports awaiting full-text decision (n = {x.awaiting_full_text:,})"]),
        ("Screening", [f"Reports assessed for eligibility (n = {x.full_text_assessed:,})"],
         [f"Reports excluded (n = {x.excluded_full_text:,}):",
          *_reason_lines(x.excluded_full_text_reasons)]),
        ("Included", [f"Studies included in review (n = {x.included:,})"], None),
    ]  # fmt: skip
    line, pad, gap = 0.135, 0.09, 0.26  # inches
    heights = [max(len(left), len(right or [])) * line + 2 * pad for _, left, right in rows]
    total = sum(heights) + gap * (len(rows) - 1)
    fig = _new_figure(facts, height=total + 1.2)
    when = search.finished_at.date().isoformat()
    note = (
        f"Source: literature search {search.search_id} "
        f"({', '.join(d.database for d in search.databases)}), {when}; "
        f"report {facts.meta.report_id}."
    )
    if search.synthetic:
        note += " SYNTHETIC literature set (demo)."
    fig.supxlabel(note, fontsize=6.5, color="#444444", ha="left", x=0.01)
    ax = fig.add_subplot()
    ax.set_xlim(0, 100)
    ax.set_ylim(-total - 0.05, 0.05)
    ax.axis("off")
    ax.set_title(f"PRISMA 2020 flow diagram (search {search.search_id})")
    main, side = OKABE_ITO["sky"] + "33", "#f2f2f2"
    lx, lw, rx, rw = 4.0, 48.0, 58.0, 41.0
    top = 0.0
    stages: dict[str, list[float]] = {}
    for i, ((stage, left, right), h) in enumerate(zip(rows, heights, strict=True)):
        _box(ax, lx, top, lw, h, "\n".join(left), fill=main, pad=pad)
        if right is not None:
            _box(ax, rx, top, rw, h, "\n".join(right), fill=side, pad=pad)
            _arrow(ax, (lx + lw, top - h / 2), (rx, top - h / 2))
        if i + 1 < len(rows):
            _arrow(ax, (lx + lw / 2, top - h), (lx + lw / 2, top - h - gap))
        stages.setdefault(stage, []).extend([top, top - h])
        top -= h + gap
    for stage, ys in stages.items():
        ax.text(2.0, (max(ys) + min(ys)) / 2, stage, rotation=90, va="center", ha="center",
                fontsize=7, fontweight="bold")  # fmt: skip
    return fig


_DRAWERS: dict[str, Callable[[Facts], Figure | None]] = {
    "monthly_counts": _monthly_counts,
    "forecast": _forecast,
    "anomalies": _anomalies,
    "top_events": _top_events,
    "signal_forest": _signal_forest,
    "outcomes": _outcomes,
    "recalls_timeline": _recalls_timeline,
    "prisma_flow": _prisma_flow,
}


def draw_charts(facts: Facts) -> dict[str, Figure]:
    """Every chart the facts support, as matplotlib figures (absent data: no entry)."""
    out: dict[str, Figure] = {}
    with matplotlib.rc_context(_RC):
        for chart_id, draw in _DRAWERS.items():
            fig = draw(facts)
            if fig is not None:
                # Lay out once, then freeze: the SVG and the PNG share one layout, and the
                # constrained-layout solver (the slow part) does not run for every save.
                fig.draw_without_rendering()
                fig.set_layout_engine("none")
                out[chart_id] = fig
    return out


def figure_svg(fig: Figure, *, text_as_paths: bool = False) -> str:
    buf = io.StringIO()
    rc = {**_RC, "svg.fonttype": "path"} if text_as_paths else _RC
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "cerflow"})
    return buf.getvalue()


def figure_png(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": "cerflow"})
    return buf.getvalue()


def make_charts(facts: Facts, *, text_as_paths: bool = False) -> dict[str, str]:
    """Chart id -> SVG text, deterministic for the same facts."""
    figures = draw_charts(facts)
    return {cid: figure_svg(fig, text_as_paths=text_as_paths) for cid, fig in figures.items()}


def make_charts_png(facts: Facts, dpi: int = PNG_DPI) -> dict[str, bytes]:
    """Chart id -> PNG bytes, for DOCX (Word does not take SVG from python-docx)."""
    return {cid: figure_png(fig, dpi) for cid, fig in draw_charts(facts).items()}


__all__ = [
    "CHART_IDS",
    "OKABE_ITO",
    "draw_charts",
    "figure_png",
    "figure_svg",
    "make_charts",
    "make_charts_png",
    "wrap_label",
]
