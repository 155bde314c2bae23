"""A monthly-count bar chart as inline SVG, drawn by the server.

Why not the report's matplotlib charts: they are drawn from a whole facts computation
(seconds), while the product page must answer in milliseconds from the cached product
detail. The report's charts stay one click away in the report itself. The SVG carries a
title and a description with the figures, so a screen reader user gets the data too.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    month: str
    count: int


def monthly_bars(
    months: list[tuple[str, int]], *, width: int = 720, height: int = 180, pad: int = 24
) -> str:
    """An SVG string (escaped labels) with one bar per month; empty string for no data."""
    if not months:
        return ""
    top = max(c for _, c in months) or 1
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    step = inner_w / len(months)
    bars = [
        Bar(
            x=pad + i * step + step * 0.1,
            y=pad + inner_h * (1 - c / top),
            width=max(step * 0.8, 1.0),
            height=inner_h * c / top,
            month=m,
            count=c,
        )
        for i, (m, c) in enumerate(months)
    ]
    first, last = months[0][0], months[-1][0]
    peak_month, peak = max(months, key=lambda mc: mc[1])
    total = sum(c for _, c in months)
    desc = (
        f"{len(months)} months from {first} to {last}; {total:,} reports in all; "
        f"highest month {peak_month} with {peak:,} reports."
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Reports per month</title>',
        f'<desc id="chart-desc">{escape(desc)}</desc>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'class="axis"/>',
    ]
    for b in bars:
        parts.append(
            f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.width:.1f}" height="{b.height:.1f}">'
            f"<title>{escape(b.month)}: {b.count:,}</title></rect>"
        )
    parts.append(f'<text x="{pad}" y="{height - 6}" class="label">{escape(first)}</text>')
    parts.append(
        f'<text x="{width - pad}" y="{height - 6}" class="label end">{escape(last)}</text>'
    )
    parts.append(f'<text x="{pad}" y="{pad - 8}" class="label">max {top:,}</text>')
    parts.append("</svg>")
    return "".join(parts)
