"""Deterministic building blocks: seeded draws, month arithmetic, reproducible zip files.

Byte-identical output for the same seed needs: one `random.Random` per section seeded from
the master seed and the section name (adding a section never shifts another's draws); no
wall-clock time anywhere (zip entries carry a fixed date); sorted, explicit ordering.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import random
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Zip entries carry this timestamp, never "now".
ZIP_DATE = (2026, 1, 1, 0, 0, 0)


def section_rng(seed: int, section: str) -> random.Random:
    """An independent stream per section, stable across Python versions (str seeds hash)."""
    digest = hashlib.sha256(f"{seed}:{section}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw from uniform variates only (Knuth for small means, normal above 60)."""
    if lam <= 0:
        return 0
    if lam > 60:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def zipf_weights(n: int, exponent: float = 0.9) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, n + 1)]


def weighted(rng: random.Random, items: Sequence[T], cum_weights: Sequence[float]) -> T:
    return rng.choices(items, cum_weights=cum_weights, k=1)[0]


def cumulative(weights: Sequence[float]) -> list[float]:
    total = 0.0
    out: list[float] = []
    for w in weights:
        total += w
        out.append(total)
    return out


def month_range(start: dt.date, months: int) -> list[dt.date]:
    out = []
    year, month = start.year, start.month
    for _ in range(months):
        out.append(dt.date(year, month, 1))
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


def days_in_month(month: dt.date) -> int:
    nxt = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return (nxt - month).days


def quarter_of(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def write_zip(path: Path, members: Sequence[tuple[str, bytes]]) -> None:
    """A zip whose bytes depend only on the member names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compresslevel=9)
    path.write_bytes(buffer.getvalue())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
