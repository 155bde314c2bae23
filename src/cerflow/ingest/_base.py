"""What every import shares: the progress callback type and the errors it raises.

Kept apart from the per-source modules so they, and their callers, can name these without
importing one another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cerflow.errors import CerflowError

# progress(step, n, total): `n` more units of `step` are done (0 only announces the step or
# its size); `total` is the step's size when known, else None. Steps are named for people
# ("drug events", "faers_ascii_2024q1.zip: loading"), one bar per name.
ProgressCallback = Callable[[str, int, int | None], None]


class IngestError(CerflowError):
    """An import stopped; the message says what failed and what was or was not stored.

    `done` holds the results of the parts (datasets, files) that were stored before the
    failure, so a caller can still show them; its items are whatever the import returns
    per part.
    """

    def __init__(
        self, message: str, *, done: Sequence[Any] = (), status_code: int | None = None
    ) -> None:
        super().__init__(message, status_code)
        self.done = list(done)


class IngestInputError(CerflowError, ValueError):
    """The import was asked for something it cannot do (bad product name, option clash).

    Also a ValueError, so callers that validate input by catching ValueError keep working.
    """

    status_code = 422


def step_advance(
    progress: ProgressCallback | None, step: str, total: int | None = None
) -> Callable[[int], None]:
    """A loader-style `advance(n)` that reports to `progress` under `step` (no-op without)."""
    if progress is None:
        return lambda _n: None
    progress(step, 0, total)
    return lambda n: progress(step, n, total)
