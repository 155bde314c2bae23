"""The report job's `background` parameter (issue 11, 1b): API schema and job resolution."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import ValidationError

from cerflow.config import Settings
from cerflow.jobs.context import JobContext
from cerflow.jobs.errors import PermanentJobError
from cerflow.reports.schemas import ReportCreate
from cerflow.reports.tasks import _background


def test_schema_accepts_the_two_backgrounds() -> None:
    assert ReportCreate(product_ref="metformin").background is None
    assert ReportCreate(product_ref="metformin", background="openfda").background == "openfda"
    with pytest.raises(ValidationError, match="background"):
        ReportCreate(product_ref="metformin", background=cast(Any, "faers"))


def _ctx(params: dict[str, Any], **settings: Any) -> JobContext:
    return cast(JobContext, SimpleNamespace(params=params, settings=Settings(**settings)))


def test_job_background_from_params_or_settings() -> None:
    store = _background(_ctx({}))
    assert store == {"background": "store", "background_counts": None}
    chosen = _background(_ctx({}, signal_background="openfda"))
    assert chosen["background"] == "openfda" and callable(chosen["background_counts"])
    asked = _background(_ctx({"background": "OpenFDA"}))
    assert asked["background"] == "openfda"
    with pytest.raises(PermanentJobError, match="'store'"):
        _background(_ctx({"background": "faers"}))
