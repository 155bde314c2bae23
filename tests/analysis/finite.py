"""Test helper: walk any result (dataclass, dict, list, frame) and fail on NaN or inf."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import polars as pl


def assert_finite(obj: Any, path: str = "result") -> None:
    """Every float reachable from `obj` is finite; the failure names where it is."""
    if isinstance(obj, float):
        assert math.isfinite(obj), f"{path} is {obj}"
    elif isinstance(obj, np.floating | np.ndarray):
        arr = np.asarray(obj, dtype=np.float64)
        assert np.all(np.isfinite(arr)), f"{path} has non-finite values: {arr}"
    elif isinstance(obj, pl.DataFrame):
        for name in obj.columns:
            if obj[name].dtype.is_float():
                assert_finite(obj[name].drop_nulls().to_numpy(), f"{path}.{name}")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            assert_finite(getattr(obj, f.name), f"{path}.{f.name}")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            assert_finite(value, f"{path}[{key!r}]")
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            assert_finite(value, f"{path}[{i}]")
