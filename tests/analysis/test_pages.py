"""The huge-page switch around the all-pairs statistics: off inside, restored after."""

from __future__ import annotations

import inspect
import threading

import numpy as np
import pytest

from cerflow.analysis import _pages
from cerflow.analysis._pages import small_pages


def _advice() -> bool:
    setter = _pages._setter()
    assert setter is not None
    current = setter(False)
    setter(current)
    return bool(current)


@pytest.mark.parametrize("before", [True, False])
def test_switched_off_inside_and_restored_after_nesting(before: bool) -> None:
    setter = _pages._setter()
    assert setter is not None  # the NumPy in use has the switch
    setter(before)
    try:
        with small_pages():
            assert _advice() is False
            with small_pages():
                assert _advice() is False
            assert _advice() is False  # the inner block does not restore early
        assert _advice() is before
    finally:
        setter(True)


def test_overlapping_blocks_in_threads_restore_once_at_the_end() -> None:
    setter = _pages._setter()
    assert setter is not None
    setter(True)
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with small_pages():
            inside.set()
            leave.wait(5)

    worker = threading.Thread(target=other)
    with small_pages():
        worker.start()
        inside.wait(5)
    assert _advice() is False  # the other thread's block is still open
    leave.set()
    worker.join(5)
    assert _advice() is True


def test_values_do_not_depend_on_the_switch() -> None:
    from cerflow.analysis import disproportionality
    from tests.analysis.test_out_of_core import _frames

    products, events = _frames(7)
    counts = disproportionality.count_pairs(products, events)
    switched = disproportionality.compute_signals(counts).table  # advice off inside
    setter = _pages._setter()
    assert setter is not None
    previous = setter(True)
    try:  # the same computation with the advice left on
        plain = inspect.unwrap(disproportionality.compute_signals)(counts).table
    finally:
        setter(previous)
    assert switched.equals(plain)
    assert np.isfinite(switched["eb05"].to_numpy()).all()
