"""Table column widths estimated from the content (no layout engine needed).

Used by the DOCX writer (fixed column widths) and to decide which tables need a landscape
page at all (a table whose words fit a portrait page stays portrait, in every format).
The estimate is deliberately generous: where Calibri is missing, the fallback fonts
(DejaVu Sans, Carlito) are wider.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

TOKEN_CHUNK = 32  # a long unbroken token (checksum, file name) wraps at this many characters
_CELL_TEXT_CAP = 60  # a cell longer than this wraps anyway; it does not claim more width
# Word's default cell margins are 1.9 mm each side; LibreOffice's are similar. Generous
# estimates: where Calibri is missing, the fallback (DejaVu Sans, Carlito) is wider.
_CELL_PADDING_MM = 4.2
_CHAR_EM = 0.66  # average advance of a proportional font (DejaVu Sans ~0.6), in ems
_BOLD_EM = 0.74  # header cells are bold
_MONO_EM = 0.62  # DejaVu Sans Mono / Consolas advance (0.6) plus rounding, in ems
_LONG_TOKEN = re.compile(r"\S{25,}")


def text_width_mm(text: str, size_pt: float, *, mono: bool = False, bold: bool = False) -> float:
    """Approximate width of `text` on one line at `size_pt` (average glyph advance)."""
    em = _MONO_EM if mono else _BOLD_EM if bold else _CHAR_EM
    return len(text) * size_pt * em * 25.4 / 72


def _longest_word(text: str, chunk: int = TOKEN_CHUNK) -> str:
    words = text.split() or [""]
    return max((w[:chunk] for w in words), key=len)


def is_token(text: str) -> bool:
    """A cell that is one long unbroken token: checksum, file name or URL."""
    return bool(_LONG_TOKEN.search(text))


def column_widths_mm(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    available_mm: float,
    size_pt: float,
) -> list[float]:
    """Column widths from content, filling `available_mm` (CSS automatic layout, simply).

    Minimum width: the longest word of the column (header included; long tokens count as
    at most `TOKEN_CHUNK` characters). Preferred width: the longest cell on one line
    (capped at `_CELL_TEXT_CAP` characters). If the preferred widths fit, the spare width
    is shared in proportion to them; otherwise every column gets its minimum and the rest
    goes in proportion to (preferred - minimum); if even the minima do not fit, they are
    scaled down together.
    """
    n = len(columns)
    if n == 0:
        return []
    minima, preferred = _column_bounds(columns, rows, size_pt, TOKEN_CHUNK)
    if sum(minima) > available_mm:  # tokens wrap in shorter pieces before anything else
        minima, preferred = _column_bounds(columns, rows, size_pt, TOKEN_CHUNK // 2)
    total_min, total_pref = sum(minima), sum(preferred)
    if total_pref <= available_mm:
        return [p * available_mm / total_pref for p in preferred]
    if total_min <= available_mm:
        spare = available_mm - total_min
        extra = [p - m for p, m in zip(preferred, minima, strict=True)]
        total_extra = sum(extra) or 1.0
        return [m + spare * e / total_extra for m, e in zip(minima, extra, strict=True)]
    return [m * available_mm / total_min for m in minima]


def _column_bounds(
    columns: Sequence[str], rows: Sequence[Sequence[str]], size_pt: float, chunk: int
) -> tuple[list[float], list[float]]:
    minima: list[float] = []
    preferred: list[float] = []
    for j, name in enumerate(columns):
        cells = [name] + [row[j] for row in rows if j < len(row)]
        lo = 0.0
        hi = 0.0
        for k, cell in enumerate(cells):
            header = k == 0
            mono = not header and is_token(cell)
            word = _longest_word(cell, chunk)
            lo = max(lo, text_width_mm(word, size_pt, mono=mono, bold=header))
            line = cell[:chunk] if mono else cell[:_CELL_TEXT_CAP]
            hi = max(hi, text_width_mm(line, size_pt, mono=mono, bold=header))
        minima.append(lo + _CELL_PADDING_MM)
        preferred.append(max(hi, lo) + _CELL_PADDING_MM)
    return minima, preferred


def fits_width(
    columns: Sequence[str], rows: Sequence[Sequence[str]], available_mm: float, size_pt: float
) -> bool:
    """Whether every column gets at least its longest word within `available_mm`."""
    minima, _ = _column_bounds(columns, rows, size_pt, TOKEN_CHUNK)
    return sum(minima) <= available_mm


__all__ = ["TOKEN_CHUNK", "column_widths_mm", "fits_width", "is_token", "text_width_mm"]
