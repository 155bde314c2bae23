"""Every exception class cerflow defines has one root, `CerflowError`, with an HTTP status.

The walk imports every module under `cerflow`, so a new error class that forgets the root
fails here rather than reaching a client as a bare 500.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import cerflow
from cerflow.errors import CerflowError, ConflictError, ForbiddenError, NotFoundError


def _cerflow_modules() -> list[str]:
    names = [cerflow.__name__]
    for info in pkgutil.walk_packages(cerflow.__path__, prefix="cerflow."):
        if info.name.endswith("__main__") or ".migrations." in info.name:
            continue  # runs a program on import / Alembic scripts need a context
        names.append(info.name)
    return names


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _cerflow_modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == name:
                found[f"{name}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


EXCEPTIONS = _exception_classes()


def test_the_walk_finds_the_known_errors() -> None:
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"SourceFormatError", "OpenFDAError", "AuthError", "JobConflictError"} <= names
    assert len(EXCEPTIONS) >= 21


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_exception_class_derives_from_cerflow_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, CerflowError), f"{cls.__module__}.{cls.__qualname__}"
    assert 400 <= cls.status_code <= 599


def test_message_and_status() -> None:
    err = CerflowError("bad thing at x; do y", status_code=418)
    assert (str(err), err.message, err.status_code) == (
        "bad thing at x; do y",
        "bad thing at x; do y",
        418,
    )
    assert CerflowError("m").status_code == 400
    assert (NotFoundError("m").status_code, ConflictError("m").status_code) == (404, 409)
    assert ForbiddenError("m").status_code == 403


def test_old_bases_and_constructors_still_work() -> None:
    """Callers that catch ValueError/RuntimeError/LookupError keep catching these."""
    from cerflow.report.facts_builder import ProductNotFoundError
    from cerflow.sources.base import SourceFormatError
    from cerflow.sources.openfda import OpenFDAError

    fmt = SourceFormatError("not a date", location="q1.zip", line=3, field="fda_dt")
    assert isinstance(fmt, ValueError)
    assert str(fmt) == "q1.zip, line 3, field 'fda_dt': not a date"
    assert fmt.status_code == 422

    fda = OpenFDAError("Limit cannot exceed 1000", url="https://x/y?api_key=***", status=400)
    assert isinstance(fda, RuntimeError)
    assert fda.message == "Limit cannot exceed 1000"
    assert str(fda) == "openFDA 400: Limit cannot exceed 1000 (URL: https://x/y?api_key=***)"
    assert fda.status_code == 502

    missing = ProductNotFoundError("no reports for DQA")
    assert isinstance(missing, LookupError) and isinstance(missing, NotFoundError)
    assert missing.status_code == 404
