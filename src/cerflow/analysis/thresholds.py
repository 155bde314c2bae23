"""Signal thresholds as one value object, so every caller flags pairs the same way.

Defaults are the textbook rules (Evans 2001 for PRR; ROR025 > 1; IC025 > 0 as the WHO-UMC
uses; EB05 >= 2 as in FDA data mining). Production callers build it from
``cerflow.config.Settings.signal_*`` with :meth:`SignalThresholds.from_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# The method names live here, beside the criteria, so the CLI can list them without
# importing the statistics (scipy) it needs only when a command runs.
Method = Literal["prr", "ror", "ic", "ebgm"]
ALL_METHODS: tuple[Method, ...] = ("prr", "ror", "ic", "ebgm")


@dataclass(frozen=True)
class SignalThresholds:
    """Thresholds for the four standard flags.

    * Evans: ``prr >= prr_min`` and ``chi2 >= chi2_min`` and ``a >= min_count``; the
      chi-squared is Yates-corrected, as Evans et al. (2001) used, unless ``chi2_yates``
      is False.
    * ROR: ``ror_lo > ror025_min`` (and ``a >= ror_min_count``, 1 by default).
    * IC: ``ic025 > ic025_min``.
    * EBGM: ``eb05 >= eb05_min``.
    """

    prr_min: float = 2.0
    chi2_min: float = 4.0
    min_count: int = 3
    ror025_min: float = 1.0
    ic025_min: float = 0.0
    eb05_min: float = 2.0
    chi2_yates: bool = True
    ror_min_count: int = 1

    def __post_init__(self) -> None:
        if self.min_count < 1 or self.ror_min_count < 1:
            raise ValueError("min_count and ror_min_count must be at least 1")
        if self.prr_min <= 0 or self.eb05_min <= 0 or self.ror025_min <= 0:
            raise ValueError("prr_min, ror025_min and eb05_min must be positive")
        if self.chi2_min < 0:
            raise ValueError("chi2_min must be non-negative")

    @classmethod
    def from_settings(cls, settings: Any) -> SignalThresholds:
        """Read ``signal_prr_min`` ... ``signal_eb05_min`` from a ``Settings`` object."""
        return cls(
            prr_min=float(settings.signal_prr_min),
            chi2_min=float(settings.signal_chi2_min),
            min_count=int(settings.signal_min_count),
            ror025_min=float(settings.signal_ror025_min),
            ic025_min=float(settings.signal_ic025_min),
            eb05_min=float(settings.signal_eb05_min),
        )
