"""NumPy's transparent-huge-page advice, switched off while the all-pairs statistics run.

NumPy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every
array of 4 MB or more. With the kernel's usual ``defrag=madvise`` setting each such page
fault may compact memory synchronously to find a free 2 MB page. The all-pairs counting
and statistics make a few hundred such arrays at full-history scale (the output columns
alone are 15 arrays of the pairs' size); measured on the 2-core benchmark machine, the
kernel's share of their CPU fell by about a third with the advice off, and user time did
not rise. The switch is process-wide in NumPy, so it is counted: the first caller turns
the advice off, the last one restores what was there before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

import numpy as np

_lock = threading.Lock()
_depth = 0
_saved = True


def _setter() -> Callable[[bool], bool] | None:
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    return cast(Callable[[bool], bool] | None, setter)


@contextmanager
def small_pages() -> Iterator[None]:
    """Within the block, new NumPy arrays get no huge-page advice (nested and concurrent
    blocks share one switch; values are not affected, only how pages are obtained)."""
    global _depth, _saved
    setter = _setter()
    if setter is None:  # a NumPy without the switch: nothing to do
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = bool(setter(False))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                setter(_saved)
